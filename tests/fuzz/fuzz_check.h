/*
 * fuzz_check.h: the fuzz targets' one assertion. It aborts even under
 * NDEBUG, so a broken property is a crash libFuzzer keeps.
 */
#ifndef APX_FUZZ_CHECK_H
#define APX_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            abort();                                                         \
        }                                                                    \
    } while (0)

#endif
