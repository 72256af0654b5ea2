/*
 * detectors: pattern compilation, matching and the sample checks.
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "detectors.h"

int detector_compile(struct detector *d, char *err, size_t errlen)
{
    if (!d->spec.pattern) {
        if (!d->spec.find) {
            snprintf(err, errlen, "detector %s has neither a pattern nor a find function",
                     d->pub.name);
            return -1;
        }
        return 0;
    }
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)d->spec.pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &offset, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, errlen, "detector %s: pattern does not compile at offset %zu: %s",
                 d->pub.name, (size_t)offset, (const char *)msg);
        return -1;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    int group = pcre2_substring_number_from_name(re, (PCRE2_SPTR) "secret");
    d->secret_group = group > 0 ? (unsigned)group : 0;
    d->code = re;
    return 0;
}

void detector_release(struct detector *d)
{
    if (d->code)
        pcre2_code_free(d->code);
    d->code = NULL;
}

/* Match data big enough for any pattern with up to this many groups; one
 * per thread, so a scan does not allocate per call (find() may run on a
 * worker thread). */
enum { SHARED_PAIRS = 64 };

static _Thread_local pcre2_match_data *shared;
/* Patterns that repeat a group per line (a PEM block, an Ansible vault)
 * need JIT stack in proportion to the block: PCRE2's default 32 KiB gives
 * out near a thousand lines. Reserved up to JIT_STACK_MAX, used as needed. */
#define JIT_STACK_MAX (16 * 1024 * 1024)
static _Thread_local pcre2_jit_stack *jit_stack;
static _Thread_local pcre2_match_context *match_ctx;

void detectors_thread_exit(void)
{
    pcre2_match_data_free(shared);
    pcre2_match_context_free(match_ctx);
    pcre2_jit_stack_free(jit_stack);
    shared = NULL;
    match_ctx = NULL;
    jit_stack = NULL;
}

/* This thread's match context with its big JIT stack; NULL (PCRE2's
 * defaults) if it cannot be made. */
static pcre2_match_context *thread_match_context(void)
{
    if (!match_ctx) {
        jit_stack = pcre2_jit_stack_create(64 * 1024, JIT_STACK_MAX, NULL);
        match_ctx = pcre2_match_context_create(NULL);
        if (jit_stack && match_ctx)
            pcre2_jit_stack_assign(match_ctx, NULL, jit_stack);
    }
    return match_ctx;
}

static pcre2_match_data *thread_match_data(const struct detector *d, bool *own)
{
    uint32_t groups = 0;
    pcre2_pattern_info(d->code, PCRE2_INFO_CAPTURECOUNT, &groups);
    *own = groups + 1 > SHARED_PAIRS;
    if (*own)
        return pcre2_match_data_create_from_pattern(d->code, NULL);
    if (!shared)
        shared = pcre2_match_data_create(SHARED_PAIRS, NULL); /* lives with the thread */
    return shared;
}

/* One pattern match from `start`. */
static int pattern_find(const struct detector *d, const char *text, size_t len, size_t start,
                        size_t *ms, size_t *me)
{
    bool own;
    pcre2_match_data *md = thread_match_data(d, &own);
    if (!md)
        return -1;
    int rv = 0;
    while (start <= len) {
        int rc = pcre2_match(d->code, (PCRE2_SPTR)text, len, start, 0, md,
                             thread_match_context());
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            rv = -1;
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (d->secret_group && (unsigned)rc > d->secret_group &&
            ov[2 * d->secret_group] != PCRE2_UNSET) {
            s = ov[2 * d->secret_group];
            e = ov[2 * d->secret_group + 1];
        }
        if (e > s && (!d->spec.validate || d->spec.validate(d->state, text + s, e - s))) {
            *ms = s;
            *me = e;
            rv = 1;
            break;
        }
        start = ov[1] > ov[0] ? ov[1] : ov[0] + 1; /* no empty or rejected loops */
    }
    if (own)
        pcre2_match_data_free(md);
    return rv;
}

int detector_find(const struct detector *d, const char *text, size_t len, size_t start,
                  size_t *ms, size_t *me)
{
    if (start > len)
        return 0;
    const char *prev = crash_enter(d->pub.name);
    int rv = d->code ? pattern_find(d, text, len, start, ms, me)
                     : d->spec.find(d->state, text, len, start, ms, me);
    crash_leave(prev);
    if (d->code)
        return rv;
    if (rv == 1 && (*ms < start || *me > len || *me <= *ms))
        return -1; /* a plugin's find() answered out of bounds */
    return rv;
}

/* Quote at most `max` characters of a sample for a message, escaping
 * control characters, with "..." when cut. must_match samples look like
 * real secrets and land in logs: callers show only their first few. */
static void quote(const char *s, size_t max, char *out, size_t size)
{
    size_t o = 0;
    for (; *s && max > 0 && o + 5 < size; s++, max--) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (c < 0x20) o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    if (*s && o + 4 < size) { memcpy(out + o, "...", 3); o += 3; }
    out[o] = '\0';
}

/* The scrubber only runs a detector on strings holding one of its anchors:
 * a sample that holds none shows the anchors are wrong. */
static bool holds_an_anchor(const struct detector *d, const char *sample)
{
    const char *const *a = d->spec.anchors;
    bool any = false;
    for (; a && *a; a++) {
        if (!**a)
            continue;
        any = true;
        if (strstr(sample, *a))
            return true;
    }
    return !any;
}

/* A must_match sample is shown by its first characters only. */
#define SHOWN_MATCH_CHARS 8
#define ADVICE "fix the detector's pattern or its samples, or set enabled: false for it " \
    "in the pipeline file"

/* Look-alikes every detector must leave, checked beside each detector's
 * own, so that a plugin lists only those of its own format: digests, ids,
 * ordinary base64, prose and code that name a secret without holding one,
 * and the scrubber's own placeholders (a request re-sends the model's
 * earlier answers, which hold them). */
static const char *const common_look_alikes[] = {
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "sha256:9421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326",
    "md5 34f087e51b429fe8110102c995f1abef",
    "request 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "SGVsbG8sIHdvcmxkISBUaGlzIGlzIGp1c3QgYmFzZTY0Lg==",
    "Send the token in the Authorization header as Bearer, never in the URL.",
    "https://docs.example.com/api/v1/keys?page=2#tokens",
    "/home/dev/project/src/auth/token_store.py:42",
    "v1.2.3-rc.1+build.5 at 2026-12-06T16:00:00Z",
    "const password = process.env.DB_PASSWORD;",
    "DB_PASSWORD=<CREDENTIAL_1> token: <GITHUB_TOKEN_2> by <EMAIL_HMAC:8A6D6220>",
    NULL,
};

static int check_must_not(const struct detector *d, const char *const *samples,
                          const char *whose, char *err, size_t errlen)
{
    char q[120];
    size_t ms, me;
    for (const char *const *s = samples; s && *s; s++) {
        if (detector_find(d, *s, strlen(*s), 0, &ms, &me) != 0) {
            quote(*s, sizeof q, q, sizeof q);
            snprintf(err, errlen, "detector %s fails %s sample: \"%s\" must not match "
                     "and does; %s", d->pub.name, whose, q, ADVICE);
            return -1;
        }
    }
    return 0;
}

int detector_check_samples(const struct detector *d, char *err, size_t errlen)
{
    char q[120];
    size_t ms, me;
    size_t nmatch = 0;
    for (const char *const *s = d->spec.must_match; s && *s; s++, nmatch++) {
        if (!holds_an_anchor(d, *s)) {
            quote(*s, SHOWN_MATCH_CHARS, q, sizeof q);
            snprintf(err, errlen, "detector %s: its sample \"%s\" holds none of its anchors, "
                     "so the scrubber's pre-filter would skip it; %s", d->pub.name, q, ADVICE);
            return -1;
        }
        if (detector_find(d, *s, strlen(*s), 0, &ms, &me) != 1) {
            quote(*s, SHOWN_MATCH_CHARS, q, sizeof q);
            snprintf(err, errlen, "detector %s fails its own sample: \"%s\" must match and "
                     "does not; %s", d->pub.name, q, ADVICE);
            return -1;
        }
    }
    if (nmatch == 0) {
        snprintf(err, errlen, "detector %s has no samples to match: every detector carries "
                 "at least one; add some to it, or set enabled: false for it", d->pub.name);
        return -1;
    }
    if (check_must_not(d, d->spec.must_not_match, "its own", err, errlen) < 0)
        return -1;
    return check_must_not(d, common_look_alikes, "the common", err, errlen);
}

void detectors_sort(struct detector **v, size_t n)
{
    for (size_t i = 1; i < n; i++) { /* insertion sort: stable, n is small */
        struct detector *x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1]->pub.priority > x->pub.priority) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}
