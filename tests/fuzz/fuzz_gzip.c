/*
 * fuzz_gzip: arbitrary bytes through usage_gunzip, the metrics stage's way
 * into gzip- or zlib-encoded JSON answers, then through usage_from_json as
 * the stage reads the inflated body.
 *
 * Checked on every input, even under NDEBUG:
 * - a success never returns more than max_out bytes, and is the same
 *   output however often it is asked (no state kept between calls);
 * - the limit is a limit, not a guess: the same input with a limit below
 *   the output's length is refused, with one byte to spare it is accepted
 *   with the same bytes;
 * - a refusal leaves *out untouched (the caller frees nothing).
 * Independent of metrics.c: it links usage.c alone.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* Small enough that bombs hit it quickly, large enough for real answers. */
#define MAX_OUT (256 * 1024)

static uint8_t sentinel;

static int inflate_into(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                        size_t *outlen)
{
    *out = &sentinel;
    *outlen = (size_t)-1;
    int rv = usage_gunzip(in, len, max_out, out, outlen);
    CHECK(rv == 0 || rv == -1);
    if (rv == 0)
        CHECK(*out != &sentinel && *outlen <= max_out);
    else
        CHECK(*out == &sentinel && *outlen == (size_t)-1);
    return rv;
}

static void check_limit(const uint8_t *in, size_t len, const uint8_t *want, size_t want_len)
{
    uint8_t *out;
    size_t outlen;

    if (want_len > 0)
        CHECK(inflate_into(in, len, want_len - 1, &out, &outlen) == -1);
    CHECK(inflate_into(in, len, want_len + 1, &out, &outlen) == 0);
    CHECK(outlen == want_len && memcmp(out, want, want_len) == 0);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so a read past the end is seen */
    uint8_t *in = malloc(size ? size : 1);
    uint8_t *out, *again;
    size_t outlen, again_len;

    CHECK(in != NULL);
    if (size)
        memcpy(in, data, size);
    if (inflate_into(in, size, MAX_OUT, &out, &outlen) == 0) {
        CHECK(inflate_into(in, size, MAX_OUT, &again, &again_len) == 0);
        CHECK(again_len == outlen && memcmp(again, out, outlen) == 0);
        free(again);
        check_limit(in, size, out, outlen);

        struct usage u;
        memset(&u, 0, sizeof u);
        usage_from_json((const char *)out, outlen, &u);
        CHECK(memchr(u.model, '\0', sizeof u.model) != NULL);
        free(out);
    }
    free(in);
    return 0;
}
