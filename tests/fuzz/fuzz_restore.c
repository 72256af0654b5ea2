/*
 * fuzz_restore: arbitrary upstream answers through the restore engine
 * (plugins/stages/scrubber/restore.c), which reads what the API sends back
 * before the client sees it: SSE streams (restore_sse_feed/_end) and JSON
 * answers (restore_json), over a fixed map of four placeholders whose
 * values need escaping.
 *
 * An input starting with '{' (after blanks) is a JSON answer; any other is
 * a stream. Checked on every input, even under NDEBUG:
 * - a stream's output is the same however its bytes are cut into reads
 *   (whole, in pieces whose sizes the input picks, one byte at a time), at
 *   the default event bound and at a small one that makes events over-long;
 * - nothing restored and no event rebuilt means the output is the input,
 *   byte for byte; an input with neither '<' nor '\' is always passed so;
 * - no more is ever held back than restore_map_hold_bound() promises;
 * - an answer that never names a "tool_use" block restores nothing;
 * - a JSON answer left unchanged leaves the output buffer as it was; a
 *   changed one restored something, is JSON again when the input was
 *   (jansson decides), and differs from the input only inside the `input`
 *   of `tool_use` blocks: every other member, text and thinking included,
 *   is the input's (json_equal).
 *
 * Build with libFuzzer: ./configure --enable-fuzzing (tests/fuzz/long-run.sh).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "restore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

#define PW "pa\"ss\\wo\nrd\x01 \xc3\xa9 \xf0\x9f\x98\x80"

static const struct scrub_map_entry entries[] = {
    { "<AWS_ACCESS_KEY_1>", 18, (const uint8_t *)"AKIAIOSFODNN7EXAMPLE", 20, 0 },
    { "<AWS_ACCESS_KEY_2>", 18, (const uint8_t *)"AKIAI44QH8DHBEXAMPLE", 20, 0 },
    { "<EMAIL_HMAC:1653412C>", 21, (const uint8_t *)"alice@example.com", 17, 1 },
    { "<DB_PASSWORD_1>", 15, (const uint8_t *)PW, sizeof PW - 1, 2 },
};

/* Small enough that the fuzzer's inputs make over-long events. */
#define SMALL_EVENT 300

enum cut { CUT_WHOLE, CUT_PICKED, CUT_BYTES };

/* The stream through a new restorer, cut as `how` says; the output in *out
 * (the caller frees it), the restorer's stats in *st. */
static void run_sse(const uint8_t *data, size_t size, size_t max_event, enum cut how,
                    struct restore_buf *out, struct restore_stats *st)
{
    struct restore_map *m = restore_map_new(entries, sizeof entries / sizeof *entries);
    CHECK(m != NULL);
    struct restore_sse *s = restore_sse_new(m, max_event);
    CHECK(s != NULL);
    memset(out, 0, sizeof *out);
    size_t i = 0, k = 0;
    while (i < size) {
        size_t n = size - i;
        if (how == CUT_BYTES)
            n = 1;
        else if (how == CUT_PICKED)
            n = (size_t)(data[k++ % size] % 61) + 1;
        if (n > size - i)
            n = size - i;
        CHECK(restore_sse_feed(s, data + i, n, out) == 0);
        i += n;
    }
    CHECK(restore_sse_end(s, out) == 0);
    *st = *restore_sse_stats(s);
    CHECK(st->held_max <= restore_map_hold_bound(m));
    restore_sse_free(s);
    restore_map_free(m);
}

/* Does the JSON string starting after p[i] == '"' read "tool_use",
 * escapes decoded (the engine decodes them too: "tool\u005fuse" is one)? */
static bool string_is_tool_use(const uint8_t *p, size_t n, size_t i)
{
    static const char want[] = "tool_use";
    size_t k = 0;
    for (i++; i < n; k++) {
        unsigned c = p[i++];
        if (c == '"')
            return k == sizeof want - 1;
        if (c == '\\' && i < n && p[i] == 'u' && i + 4 < n) {
            char hex[5] = { (char)p[i + 1], (char)p[i + 2], (char)p[i + 3], (char)p[i + 4], 0 };
            char *end;
            c = (unsigned)strtoul(hex, &end, 16);
            if (end != hex + 4)
                return false;
            i += 5;
        } else if (c == '\\' && i < n) {
            c = p[i++];
        }
        if (k >= sizeof want - 1 || c != (unsigned char)want[k])
            return false;
    }
    return false;
}

/* Restores happen only inside a tool_use block, so an answer that never
 * names one ("server_tool_use" is not one) restores nothing. */
static bool has_tool_use(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '"' && string_is_tool_use(p, n, i))
            return true;
    return false;
}

static bool same(const struct restore_buf *a, const uint8_t *p, size_t n)
{
    return a->len == n && (n == 0 || memcmp(a->data, p, n) == 0);
}

static void check_sse(const uint8_t *data, size_t size, size_t max_event)
{
    struct restore_buf whole, other;
    struct restore_stats st, st2;

    run_sse(data, size, max_event, CUT_WHOLE, &whole, &st);
    run_sse(data, size, max_event, CUT_PICKED, &other, &st2);
    CHECK(same(&other, whole.data, whole.len));
    CHECK(st2.restored == st.restored && st2.unknown == st.unknown);
    restore_buf_free(&other);
    if (size <= 4096) {
        run_sse(data, size, max_event, CUT_BYTES, &other, &st2);
        CHECK(same(&other, whole.data, whole.len));
        restore_buf_free(&other);
    }
    if (st.restored == 0 && st.events_changed == 0)
        CHECK(same(&whole, data, size));
    if (!memchr(data, '<', size) && !memchr(data, '\\', size))
        CHECK(same(&whole, data, size));
    if (!has_tool_use(data, size))
        CHECK(st.restored == 0);
    restore_buf_free(&whole);
}

/* Each member of a and b equal but the `input` of tool_use blocks in
 * content[]. */
static void check_only_tool_input_changed(json_t *a, json_t *b)
{
    CHECK(json_is_object(a) && json_is_object(b));
    CHECK(json_object_size(a) == json_object_size(b));
    const char *key;
    json_t *va;
    json_object_foreach(a, key, va) {
        json_t *vb = json_object_get(b, key);
        CHECK(vb != NULL);
        if (strcmp(key, "content") != 0 || !json_is_array(va)) {
            CHECK(json_equal(va, vb));
            continue;
        }
        CHECK(json_is_array(vb) && json_array_size(va) == json_array_size(vb));
        size_t i;
        json_t *ba;
        json_array_foreach(va, i, ba) {
            json_t *bb = json_array_get(vb, i);
            const char *type = json_string_value(json_object_get(ba, "type"));
            if (!type || strcmp(type, "tool_use") != 0 || !json_is_object(bb)) {
                CHECK(json_equal(ba, bb));
                continue;
            }
            json_t *ca = json_deep_copy(ba), *cb = json_deep_copy(bb);
            CHECK(ca != NULL && cb != NULL);
            json_object_del(ca, "input");
            json_object_del(cb, "input");
            CHECK(json_equal(ca, cb));
            json_decref(ca);
            json_decref(cb);
        }
    }
}

static void check_json(const uint8_t *data, size_t size)
{
    struct restore_map *m = restore_map_new(entries, sizeof entries / sizeof *entries);
    CHECK(m != NULL);
    uint8_t mark = 0x5a;
    struct restore_buf out = { 0 };
    CHECK(restore_buf_append(&out, &mark, 1) == 0);
    bool changed = true;
    struct restore_stats st = { 0 };
    int rv = restore_json(m, data, size, &out, &changed, &st);
    CHECK(rv == 0 || rv == RESTORE_E_NOT_JSON || rv == RESTORE_E_NOMEM ||
          rv == RESTORE_E_TOO_BIG);
    if (rv != 0 || !changed) {
        CHECK(!changed && out.len == 1 && out.data[0] == mark);
        CHECK(rv != 0 || st.restored == 0);
        goto done;
    }
    CHECK(st.restored > 0 && out.len > 1 && has_tool_use(data, size));
    const uint8_t *o = out.data + 1;
    size_t olen = out.len - 1;
    CHECK(olen != size || memcmp(o, data, size) != 0);

    json_error_t err;
    json_t *a = json_loadb((const char *)data, size, JSON_ALLOW_NUL, &err);
    if (a) {
        json_t *b = json_loadb((const char *)o, olen, JSON_ALLOW_NUL, &err);
        CHECK(b != NULL);
        check_only_tool_input_changed(a, b);
        json_decref(b);
        json_decref(a);
    }
done:
    restore_buf_free(&out);
    restore_map_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so a read past the end is seen */
    uint8_t *in = malloc(size ? size : 1);
    CHECK(in != NULL);
    if (size)
        memcpy(in, data, size);
    size_t i = 0;
    while (i < size && (in[i] == ' ' || in[i] == '\n' || in[i] == '\r' || in[i] == '\t'))
        i++;
    if (i < size && in[i] == '{') {
        check_json(in, size);
    } else {
        check_sse(in, size, 0);
        check_sse(in, size, SMALL_EVENT);
    }
    free(in);
    return 0;
}
