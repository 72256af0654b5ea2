/*
 * detectors: the registry of a generation's detectors, in priority order,
 * with their patterns compiled (PCRE2, UTF mode, JIT) and their samples
 * checked. The scrubber stage reaches it through apx_host.detector_*.
 */
#ifndef APX_DETECTORS_H
#define APX_DETECTORS_H

#include <stddef.h>

#include <anthropic-proxy/plugin.h>

struct detector {
    struct apx_detector pub;    /* name, label, tier, priority */
    struct apx_detector_spec spec;
    void *state;                /* the plugin's */
    void *code;                 /* pcre2_code_8 *, or NULL with spec.find */
    unsigned secret_group;      /* capture group named "secret", or 0 */
};

/* Compile `d->spec.pattern` (if any). 0, or -1 with err naming the
 * detector and PCRE2's message and offset. */
int detector_compile(struct detector *d, char *err, size_t errlen);
void detector_release(struct detector *d);

/* Next match in text[start..len): 1 with [*ms, *me), 0 none, -1 error. */
int detector_find(const struct detector *d, const char *text, size_t len, size_t start,
                  size_t *ms, size_t *me);

/* Run the detector's samples: each must_match sample must be found, no
 * must_not_match sample may be. 0, or -1 with err quoting the sample. */
int detector_check_samples(const struct detector *d, char *err, size_t errlen);

/* Free the calling thread's match data (a worker thread about to end). */
void detectors_thread_exit(void);

/* Sort by priority (stable: equal priorities keep pipeline order). */
void detectors_sort(struct detector **v, size_t n);

#endif
