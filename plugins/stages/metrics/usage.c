/*
 * usage: SSE framing (WHATWG "server-sent events" line rules: LF, CR or
 * CRLF ends a line; "field: value"; comment lines start with ':'; an empty
 * line dispatches) and Anthropic's usage objects.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "usage.h"

void sse_init(struct sse_reader *r)
{
    memset(r, 0, sizeof *r);
}

void sse_free(struct sse_reader *r)
{
    free(r->line);
    free(r->data);
    memset(r, 0, sizeof *r);
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    char *b = realloc(*buf, c);
    if (!b)
        return -1;
    *buf = b;
    *cap = c;
    return 0;
}

static int64_t get_int(json_t *obj, const char *key, int64_t old)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : old;
}

/* Take every figure `usage` has; keep the others. */
static void merge_usage(json_t *usage, struct usage *u)
{
    if (!json_is_object(usage))
        return;
    u->seen = true;
    u->input_tokens = get_int(usage, "input_tokens", u->input_tokens);
    u->output_tokens = get_int(usage, "output_tokens", u->output_tokens);
    u->cache_read_input_tokens = get_int(usage, "cache_read_input_tokens",
                                         u->cache_read_input_tokens);
    u->cache_creation_input_tokens = get_int(usage, "cache_creation_input_tokens",
                                             u->cache_creation_input_tokens);
    json_t *cc = json_object_get(usage, "cache_creation");
    if (json_is_object(cc)) {
        u->cache_creation_5m = get_int(cc, "ephemeral_5m_input_tokens", u->cache_creation_5m);
        u->cache_creation_1h = get_int(cc, "ephemeral_1h_input_tokens", u->cache_creation_1h);
    }
    json_t *stu = json_object_get(usage, "server_tool_use");
    if (json_is_object(stu)) {
        u->web_search_requests = get_int(stu, "web_search_requests", u->web_search_requests);
        u->web_fetch_requests = get_int(stu, "web_fetch_requests", u->web_fetch_requests);
    }
    const char *geo = json_string_value(json_object_get(usage, "inference_geo"));
    if (geo) {
        strncpy(u->inference_geo, geo, sizeof u->inference_geo - 1);
        u->inference_geo[sizeof u->inference_geo - 1] = '\0';
    }
}

static void take_model(json_t *msg, struct usage *u)
{
    const char *m = json_string_value(json_object_get(msg, "model"));
    if (m && !u->model[0]) {
        strncpy(u->model, m, sizeof u->model - 1);
        u->model[sizeof u->model - 1] = '\0';
    }
}

static void dispatch(struct sse_reader *r, struct usage *u)
{
    r->events++;
    const char *ev = r->event[0] ? r->event : "message";
    bool interesting = strcmp(ev, "message_start") == 0 || strcmp(ev, "message_delta") == 0 ||
                       strcmp(ev, "message_stop") == 0 || strcmp(ev, "error") == 0;
    if (!interesting || r->overflow)
        return;
    if (strcmp(ev, "message_stop") == 0) {
        u->complete = true;
        return;
    }
    if (strcmp(ev, "error") == 0) {
        u->error = true;
        return;
    }
    json_t *j = json_loadb(r->data, r->data_len, 0, NULL);
    if (!j)
        return;
    if (strcmp(ev, "message_start") == 0) {
        json_t *msg = json_object_get(j, "message");
        take_model(msg, u);
        merge_usage(json_object_get(msg, "usage"), u);
    } else {
        merge_usage(json_object_get(j, "usage"), u);
    }
    json_decref(j);
}

/* One complete line (without its end). */
static int process_line(struct sse_reader *r, struct usage *u)
{
    const char *l = r->line;
    size_t n = r->line_len;
    if (n == 0) { /* blank line: dispatch and reset */
        if (r->data_len > 0 || r->event[0])
            dispatch(r, u);
        r->data_len = 0;
        r->event[0] = '\0';
        r->overflow = false;
        return 0;
    }
    if (l[0] == ':')
        return 0; /* comment */
    const char *colon = memchr(l, ':', n);
    size_t flen = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen > 0 && *v == ' ') {
        v++;
        vlen--;
    }
    if (flen == 5 && memcmp(l, "event", 5) == 0) {
        size_t k = vlen < sizeof r->event - 1 ? vlen : sizeof r->event - 1;
        memcpy(r->event, v, k);
        r->event[k] = '\0';
    } else if (flen == 4 && memcmp(l, "data", 4) == 0 && !r->overflow) {
        size_t need = r->data_len + vlen + 2;
        if (need > SSE_MAX_EVENT) {
            r->overflow = true;
            return 0;
        }
        if (grow(&r->data, &r->data_cap, need) < 0)
            return -1;
        if (r->data_len > 0)
            r->data[r->data_len++] = '\n';
        memcpy(r->data + r->data_len, v, vlen);
        r->data_len += vlen;
    }
    return 0;
}

int sse_feed(struct sse_reader *r, const char *p, size_t n, struct usage *u)
{
    int rv = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\n' && r->after_cr) {
            r->after_cr = false; /* the LF of a CRLF */
            continue;
        }
        r->after_cr = c == '\r';
        if (c == '\n' || c == '\r') {
            if (process_line(r, u) < 0)
                rv = -1;
            r->line_len = 0;
            continue;
        }
        if (r->line_len + 1 > SSE_MAX_EVENT) {
            r->overflow = true; /* keep reading to the line's end, dropping bytes */
            continue;
        }
        if (grow(&r->line, &r->line_cap, r->line_len + 1) < 0) {
            rv = -1;
            continue;
        }
        r->line[r->line_len++] = c;
    }
    /* The piece ended between two events: keep no buffers until the next.
     * A stream held open for minutes, an event every few seconds, would
     * otherwise keep half a kilobyte for nothing; this costs an allocation
     * or two per piece of the stream. */
    if (r->line_len == 0 && r->data_len == 0) {
        free(r->line);
        free(r->data);
        r->line = r->data = NULL;
        r->line_cap = r->data_cap = 0;
    }
    return rv;
}

void usage_from_json(const char *body, size_t len, struct usage *u)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    if (!j)
        return;
    const char *type = json_string_value(json_object_get(j, "type"));
    if (type && strcmp(type, "error") == 0)
        u->error = true;
    take_model(j, u);
    merge_usage(json_object_get(j, "usage"), u);
    u->complete = true;
    json_decref(j);
}

int usage_gunzip(const uint8_t *in, size_t len, size_t max_out, uint8_t **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 32) != Z_OK) /* +32: gzip or zlib header */
        return -1;
    size_t cap = len * 4 + 256 < max_out ? len * 4 + 256 : max_out; /* never past max_out */
    uint8_t *buf = malloc(cap ? cap : 256);
    int rv = -1, z = Z_OK;
    if (!buf)
        goto done;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    while (z != Z_STREAM_END) {
        if (zs.total_out == cap) {
            if (cap >= max_out)
                goto done; /* bigger than we are willing to hold */
            size_t ncap = cap * 2 < max_out ? cap * 2 : max_out;
            uint8_t *b = realloc(buf, ncap);
            if (!b)
                goto done;
            buf = b;
            cap = ncap;
        }
        zs.next_out = buf + zs.total_out;
        zs.avail_out = (uInt)(cap - zs.total_out);
        z = inflate(&zs, Z_NO_FLUSH);
        if (z != Z_OK && z != Z_STREAM_END)
            goto done;
        if (z == Z_OK && zs.avail_in == 0 && zs.avail_out > 0)
            goto done; /* truncated input */
    }
    *out = buf;
    *outlen = zs.total_out;
    buf = NULL;
    rv = 0;
done:
    free(buf);
    inflateEnd(&zs);
    return rv;
}
