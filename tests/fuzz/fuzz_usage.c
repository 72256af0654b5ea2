/*
 * fuzz_usage: arbitrary bytes through the metrics stage's usage reader
 * (plugins/stages/metrics/usage.c) as an SSE stream and as a JSON body.
 *
 * Checked on every input, even under NDEBUG:
 * - the stream read in one piece and read in pieces cut where the input
 *   says give the same figures, flags, model and event count (the upstream
 *   decides where TLS records and h2 DATA frames end, not us);
 * - the reader's buffers stay bounded by SSE_MAX_EVENT, whatever the lines;
 * - the model name is always a terminated string inside its array;
 * - the one-pass JSON reader (usage_json.c) reads what jansson reads, on
 *   every input jansson accepts: the same members, the last of a name
 *   winning, the same integers, strings cut the same way (texts holding a
 *   NUL byte aside: jansson lets one through after a number).
 * Independent of metrics.c: it links usage.c and usage_json.c alone.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "usage.h"
#include "usage_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static void check_usage(const struct usage *u)
{
    CHECK(memchr(u->model, '\0', sizeof u->model) != NULL);
}

/* Field by field: the struct has padding that memcmp would read. */
static void check_same(const struct usage *a, const struct usage *b)
{
    CHECK(a->input_tokens == b->input_tokens);
    CHECK(a->output_tokens == b->output_tokens);
    CHECK(a->cache_read_input_tokens == b->cache_read_input_tokens);
    CHECK(a->cache_creation_input_tokens == b->cache_creation_input_tokens);
    CHECK(a->cache_creation_5m == b->cache_creation_5m);
    CHECK(a->cache_creation_1h == b->cache_creation_1h);
    CHECK(a->web_search_requests == b->web_search_requests);
    CHECK(strcmp(a->model, b->model) == 0);
    CHECK(a->seen == b->seen && a->complete == b->complete && a->error == b->error);
}

static void check_reader(const struct sse_reader *r)
{
    /* grow() doubles, so a capacity may reach twice the largest need */
    CHECK(r->line_len <= SSE_MAX_EVENT && r->line_cap <= 2 * (size_t)SSE_MAX_EVENT);
    CHECK(r->data_len <= SSE_MAX_EVENT && r->data_cap <= 2 * (size_t)SSE_MAX_EVENT);
    CHECK(memchr(r->event, '\0', sizeof r->event) != NULL);
}

/* Piece sizes come from the input itself, so the fuzzer steers the cuts. */
static size_t piece_size(const uint8_t *data, size_t size, size_t k)
{
    return size ? (size_t)(data[k % size] % 29) + 1 : 1;
}

static uint64_t feed(const char *text, size_t len, const uint8_t *cuts, struct usage *u)
{
    struct sse_reader r;
    size_t pos = 0, k = 0;

    sse_init(&r);
    memset(u, 0, sizeof *u);
    while (pos < len) {
        size_t n = cuts ? piece_size(cuts, len, k++) : len;
        if (n > len - pos)
            n = len - pos;
        CHECK(sse_feed(&r, text + pos, n, u) == 0);
        check_reader(&r);
        pos += n;
    }
    uint64_t events = r.events;
    sse_free(&r);
    check_usage(u);
    return events;
}


/* ---- the oracle: the same reads through jansson's tree ---- */

static void ref_str(json_t *v, bool *has, char *out, size_t cap)
{
    const char *s = json_string_value(v);
    *has = s != NULL;
    memset(out, 0, cap);
    if (s)
        strncpy(out, s, cap - 1);
}

static void ref_int(json_t *obj, const char *key, bool *has, int64_t *v)
{
    json_t *j = json_object_get(obj, key);
    *has = json_is_integer(j);
    *v = *has ? (int64_t)json_integer_value(j) : 0;
}

static void ref_usage(json_t *j, struct usage_obj *o)
{
    memset(o, 0, sizeof *o);
    o->object = json_is_object(j);
    if (!o->object)
        return;
    static const char *const names[UF_COUNT] = {
        "input_tokens", "output_tokens", "cache_read_input_tokens",
        "cache_creation_input_tokens", "ephemeral_5m_input_tokens",
        "ephemeral_1h_input_tokens", "web_search_requests", "web_fetch_requests",
    };
    json_t *cc = json_object_get(j, "cache_creation");
    json_t *stu = json_object_get(j, "server_tool_use");
    for (size_t f = 0; f < UF_COUNT; f++) {
        json_t *from = f == UF_CACHE_5M || f == UF_CACHE_1H ? cc
                       : f == UF_WEB_SEARCH || f == UF_WEB_FETCH ? stu : j;
        if (json_is_object(from))
            ref_int(from, names[f], &o->has[f], &o->v[f]);
    }
    ref_str(json_object_get(j, "inference_geo"), &o->has_geo, o->geo, sizeof o->geo);
}

static void ref_msg(json_t *j, struct usage_msg *m)
{
    memset(m, 0, sizeof *m);
    m->object = json_is_object(j);
    if (!m->object)
        return;
    ref_str(json_object_get(j, "model"), &m->has_model, m->model, sizeof m->model);
    ref_usage(json_object_get(j, "usage"), &m->usage);
}

static void same_usage_obj(const struct usage_obj *a, const struct usage_obj *b)
{
    CHECK(a->object == b->object);
    if (!a->object)
        return;
    for (size_t f = 0; f < UF_COUNT; f++) {
        CHECK(a->has[f] == b->has[f]);
        CHECK(!a->has[f] || a->v[f] == b->v[f]);
    }
    CHECK(a->has_geo == b->has_geo);
    CHECK(!a->has_geo || memcmp(a->geo, b->geo, sizeof a->geo) == 0);
}

static void same_msg(const struct usage_msg *a, const struct usage_msg *b)
{
    CHECK(a->object == b->object);
    if (!a->object)
        return;
    CHECK(a->has_model == b->has_model);
    CHECK(!a->has_model || memcmp(a->model, b->model, sizeof a->model) == 0);
    same_usage_obj(&a->usage, &b->usage);
}

static void check_against_jansson(const char *text, size_t len)
{
    struct usage_doc got;
    int rc = usage_json_read(text, len, &got);
    /* jansson drops a NUL byte read just after a number ({"a": 1\0} loads):
     * not JSON, so not held against the reader */
    json_t *j = memchr(text, '\0', len) ? NULL : json_loadb(text, len, 0, NULL);
    if (!j)
        return; /* refused by jansson: the reader may read it or not */
    CHECK(rc == 0);
    struct usage_doc want;
    memset(&want, 0, sizeof want);
    const char *type = json_string_value(json_object_get(j, "type"));
    want.type_is_error = type && strcmp(type, "error") == 0;
    ref_msg(j, &want.top);
    ref_msg(json_object_get(j, "message"), &want.message);
    CHECK(got.type_is_error == want.type_is_error);
    same_msg(&got.top, &want.top);
    same_msg(&got.message, &want.message);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so a read past the end is seen */
    char *text = malloc(size ? size : 1);
    struct usage whole, split, body;

    CHECK(text != NULL);
    if (size)
        memcpy(text, data, size);
    uint64_t ew = feed(text, size, NULL, &whole);
    uint64_t es = feed(text, size, data, &split);
    CHECK(ew == es);
    check_same(&whole, &split);

    memset(&body, 0, sizeof body);
    usage_from_json(text, size, &body);
    check_usage(&body);
    check_against_jansson(text, size);
    free(text);
    return 0;
}
