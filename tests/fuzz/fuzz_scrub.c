/*
 * fuzz_scrub: arbitrary bytes through the scrubber's walker and splicer
 * (plugins/stages/scrubber/scrub.c), with small detectors of its own that
 * overlap each other, span escapes and match at string edges.
 *
 * Checked on every input, even under NDEBUG:
 * - jansson (an independent strict parser) and the walker agree on what is
 *   JSON: an input jansson accepts is never refused as not JSON;
 * - a scrubbed body is JSON again: jansson accepts it when it accepted the
 *   input, and the walker finds it clean or finds only its placeholders;
 * - without findings nothing is rewritten; with them, the bytes before the
 *   first replaced span and after the last one are the input's;
 * - audit (no rewrite) counts exactly what pseudonymize counts;
 * - every byte outside the reported replaced spans is the input's, and each
 *   span became a placeholder <...>;
 * - the JSON shape is the input's (same types, keys in the same order, same
 *   numbers), and the values the API validates (thinking text, *signature,
 *   cache_control, tool_use_id, redacted_thinking data, tool_use ids, the
 *   attribution block) are unchanged.
 *
 * Build with libFuzzer:  clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *   -Iinclude -Iplugins/stages/scrubber tests/fuzz/fuzz_scrub.c \
 *   plugins/stages/scrubber/scrub.c -ljansson -lcrypto
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scrub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static int is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* "SK" followed by word characters: a secret. */
static int find_sk(const void *ctx, const char *t, size_t n, size_t start, size_t *ms,
                   size_t *me)
{
    (void)ctx;
    for (size_t i = start; i + 2 < n; i++) {
        if (t[i] == 'S' && t[i + 1] == 'K' && is_word(t[i + 2])) {
            size_t e = i + 2;
            while (e < n && is_word(t[e]))
                e++;
            *ms = i;
            *me = e;
            return 1;
        }
    }
    return 0;
}

/* word@word: an identifier, overlapping SK matches on purpose. */
static int find_at(const void *ctx, const char *t, size_t n, size_t start, size_t *ms,
                   size_t *me)
{
    (void)ctx;
    for (size_t i = start + 1; i + 1 < n; i++) {
        if (t[i] != '@' || !is_word(t[i - 1]) || !is_word(t[i + 1]))
            continue;
        size_t s = i, e = i + 1;
        while (s > start && is_word(t[s - 1]))
            s--;
        while (e < n && is_word(t[e]))
            e++;
        *ms = s;
        *me = e;
        return 1;
    }
    return 0;
}

/* From "<<" to ">>", across lines (and escapes): a block secret. */
static int find_block(const void *ctx, const char *t, size_t n, size_t start, size_t *ms,
                      size_t *me)
{
    (void)ctx;
    for (size_t i = start; i + 1 < n; i++) {
        if (t[i] != '<' || t[i + 1] != '<')
            continue;
        for (size_t j = i + 2; j + 1 < n; j++) {
            if (t[j] == '>' && t[j + 1] == '>') {
                *ms = i;
                *me = j + 2;
                return 1;
            }
        }
        return 0;
    }
    return 0;
}

/* Any single non-ASCII character (a multi-byte span, cut anywhere). */
static int find_high(const void *ctx, const char *t, size_t n, size_t start, size_t *ms,
                     size_t *me)
{
    (void)ctx;
    for (size_t i = start; i < n; i++) {
        if ((unsigned char)t[i] >= 0xC0 && i + 1 < n) {
            *ms = i;
            *me = i + 1; /* cut inside the character: the engine must widen it */
            return 1;
        }
    }
    return 0;
}

static const char *const sk_anchors[] = { "SK", NULL };
static const char *const at_anchors[] = { "@", NULL };

static struct scrub_engine *engine(void)
{
    static struct scrub_engine *e;
    if (!e) {
        static const struct scrub_detector d[] = {
            { "block", "BLOCK", APX_TIER_SECRET, NULL, find_block, NULL, APX_ACTION_PSEUDONYMIZE },
            { "sk", "SK", APX_TIER_SECRET, sk_anchors, find_sk, NULL, APX_ACTION_PSEUDONYMIZE },
            { "at", "MAIL", APX_TIER_IDENTIFIER, at_anchors, find_at, NULL, APX_ACTION_PSEUDONYMIZE },
            { "high", "HIGH", APX_TIER_SECRET, NULL, find_high, NULL, APX_ACTION_PSEUDONYMIZE },
        };
        uint8_t key[SCRUB_KEY_LEN] = { 1, 2, 3 };
        char err[128];
        e = scrub_engine_new(d, sizeof d / sizeof *d, key, err, sizeof err);
        CHECK(e);
    }
    return e;
}

/* jansson stops at a NUL byte outside strings, taking "0\\0x" for 0: the
 * comparison is only made on inputs without NUL bytes. */
static int jansson_accepts(const uint8_t *p, size_t n)
{
    if (memchr(p, 0, n))
        return 0;
    json_error_t err;
    json_t *j = json_loadb((const char *)p, n,
                           JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
    json_decref(j);
    return j != NULL;
}

/* Outside the spans the output is the input, each span a placeholder. */
static void check_spans(const uint8_t *in, size_t n, const struct scrub_result *r)
{
    size_t from = 0, ofrom = 0;
    for (size_t i = 0; i < r->nspans; i++) {
        const struct scrub_span *sp = &r->spans[i];
        CHECK(sp->in_start >= from && sp->in_end > sp->in_start && sp->in_end <= n);
        CHECK(sp->out_start - ofrom == sp->in_start - from);
        CHECK(memcmp(in + from, r->body + ofrom, sp->in_start - from) == 0);
        CHECK(sp->out_end > sp->out_start + 1 && sp->out_end <= r->body_len);
        CHECK(r->body[sp->out_start] == '<' && r->body[sp->out_end - 1] == '>');
        from = sp->in_end;
        ofrom = sp->out_end;
    }
    CHECK(n - from == r->body_len - ofrom);
    CHECK(memcmp(in + from, r->body + ofrom, n - from) == 0);
}

/* Key suffixes are matched in any case (contentSignature), block types
 * exactly, as the engine does. */
static int ends_with(const char *k, const char *sfx, int any_case)
{
    size_t a = strlen(k), b = strlen(sfx);
    if (a < b)
        return 0;
    return any_case ? strcasecmp(k + a - b, sfx) == 0 : strcmp(k + a - b, sfx) == 0;
}

static const char *type_of(json_t *obj)
{
    json_t *t = json_object_get(obj, "type");
    return json_is_string(t) ? json_string_value(t) : "";
}

/* Must the value under `key` of `obj` (at depth `depth`) stay as sent? */
/* Does obj's "type" come before `key`? The scrubber reads in one pass: a
 * string "data" or "id" waits for the type, a container cannot. */
static int type_before(json_t *obj, const char *key)
{
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        if (strcmp(json_object_iter_key(it), "type") == 0)
            return 1;
        if (strcmp(json_object_iter_key(it), key) == 0)
            return 0;
    }
    return 0;
}

static int kept_member(json_t *obj, const char *key)
{
    const char *type = type_of(obj);
    json_t *v = json_object_get(obj, key);
    if ((strcmp(key, "data") == 0 || strcmp(key, "id") == 0) && !json_is_string(v) &&
        !type_before(obj, key))
        return 0;
    if (strcmp(key, "thinking") == 0 || strcmp(key, "cache_control") == 0 ||
        strcmp(key, "tool_use_id") == 0 || ends_with(key, "signature", 1))
        return 1;
    if (strcmp(key, "data") == 0 && strcmp(type, "redacted_thinking") == 0)
        return 1;
    return strcmp(key, "id") == 0 && ends_with(type, "tool_use", 0);
}

/* Same shape; kept values equal. `first_system`: obj is system[0]. */
static void same_shape(json_t *a, json_t *b, int first_system)
{
    CHECK(json_typeof(a) == json_typeof(b));
    if (json_is_array(a)) {
        CHECK(json_array_size(a) == json_array_size(b));
        for (size_t i = 0; i < json_array_size(a); i++)
            same_shape(json_array_get(a, i), json_array_get(b, i), 0);
    } else if (json_is_object(a)) {
        CHECK(json_object_size(a) == json_object_size(b));
        void *ia = json_object_iter(a), *ib = json_object_iter(b);
        for (; ia && ib; ia = json_object_iter_next(a, ia), ib = json_object_iter_next(b, ib)) {
            const char *k = json_object_iter_key(ia);
            CHECK(strcmp(k, json_object_iter_key(ib)) == 0);
            json_t *va = json_object_iter_value(ia), *vb = json_object_iter_value(ib);
            if (kept_member(a, k) || (first_system && strcmp(k, "text") == 0 &&
                                      json_is_string(va) &&
                                      strncmp(json_string_value(va),
                                              "x-anthropic-billing-header:", 27) == 0))
                CHECK(json_equal(va, vb));
            else
                same_shape(va, vb, 0);
        }
    } else if (!json_is_string(a)) {
        CHECK(json_equal(a, b));
    }
}

/* The request's system[0], if the top level has a "system" array. */
static void check_structure(const uint8_t *in, size_t n, const struct scrub_result *r)
{
    json_error_t err;
    int flags = JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL;
    json_t *a = json_loadb((const char *)in, n, flags, &err);
    json_t *b = json_loadb((const char *)r->body, r->body_len, flags, &err);
    CHECK(a && b);
    same_shape(a, b, 0);
    json_t *sa = json_is_object(a) ? json_object_get(a, "system") : NULL;
    if (json_is_array(sa) && json_array_size(sa) > 0 && json_is_object(json_array_get(sa, 0)))
        same_shape(json_array_get(sa, 0),
                   json_array_get(json_object_get(b, "system"), 0), 1);
    json_decref(a);
    json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct scrub_engine *e = engine();
    struct scrub_result r, audit, again;
    enum scrub_outcome o = scrub_body(e, data, size, true, &r);
    int strict = jansson_accepts(data, size);
    if (strict)
        CHECK(o != SCRUB_NOT_JSON && o != SCRUB_TOO_DEEP);
    CHECK(o != SCRUB_FAILED);
    if (o != SCRUB_FOUND) {
        CHECK(r.body == NULL && r.total == 0);
        scrub_result_free(&r);
        return 0;
    }
    CHECK(r.body && r.total > 0 && r.summary[0]);
    check_spans(data, size, &r);
    /* the output is JSON again, with the same verdict from both parsers */
    if (strict) {
        CHECK(jansson_accepts(r.body, r.body_len));
        check_structure(data, size, &r);
    }
    enum scrub_outcome o2 = scrub_body(e, r.body, r.body_len, true, &again);
    CHECK(o2 == SCRUB_CLEAN || o2 == SCRUB_FOUND);
    scrub_result_free(&again);
    /* the bytes around the findings are the input's: same first byte
     * (a findings span is inside a string, never at offset 0) and the
     * same closing bytes after the last string */
    CHECK(r.body[0] == data[0]);
    CHECK(r.body[r.body_len - 1] == data[size - 1]);
    /* audit counts the same */
    CHECK(scrub_body(e, data, size, false, &audit) == SCRUB_FOUND);
    CHECK(audit.body == NULL && audit.total == r.total);
    for (size_t i = 0; i < scrub_engine_detectors(e); i++)
        CHECK(audit.hits[i] == r.hits[i]);
    scrub_result_free(&audit);
    scrub_result_free(&r);
    return 0;
}
