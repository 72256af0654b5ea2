/*
 * usage: SSE framing (WHATWG "server-sent events" line rules: LF, CR or
 * CRLF ends a line; "field: value"; comment lines start with ':'; an empty
 * line dispatches) and Anthropic's usage objects.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "usage.h"
#include "usage_json.h"

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

/* Take every figure a usage object gave; keep the others. */
static void merge_usage(const struct usage_obj *o, struct usage *u)
{
    if (!o->object)
        return;
    int64_t *field[UF_COUNT] = {
        [UF_INPUT] = &u->input_tokens, [UF_OUTPUT] = &u->output_tokens,
        [UF_CACHE_READ] = &u->cache_read_input_tokens,
        [UF_CACHE_CREATION] = &u->cache_creation_input_tokens,
        [UF_CACHE_5M] = &u->cache_creation_5m, [UF_CACHE_1H] = &u->cache_creation_1h,
        [UF_WEB_SEARCH] = &u->web_search_requests, [UF_WEB_FETCH] = &u->web_fetch_requests,
    };
    u->seen = true;
    for (size_t f = 0; f < UF_COUNT; f++)
        if (o->has[f])
            *field[f] = o->v[f];
    if (o->has_geo)
        memcpy(u->inference_geo, o->geo, sizeof u->inference_geo);
}

static void take_model(const struct usage_msg *m, struct usage *u)
{
    if (m->object && m->has_model && !u->model[0])
        memcpy(u->model, m->model, sizeof u->model);
}

/* The events whose data usage reads; every other event's data is skipped
 * as it streams by, never copied (text deltas are nearly all of a stream). */
static bool wanted(const char *ev)
{
    return strcmp(ev, "message_start") == 0 || strcmp(ev, "message_delta") == 0 ||
           strcmp(ev, "message_stop") == 0 || strcmp(ev, "error") == 0;
}

static void dispatch(struct sse_reader *r, struct usage *u)
{
    r->events++;
    const char *ev = r->event[0] ? r->event : "message";
    if (r->skip || r->overflow || !wanted(ev))
        return;
    if (strcmp(ev, "message_stop") == 0) {
        u->complete = true;
        return;
    }
    if (strcmp(ev, "error") == 0) {
        u->error = true;
        return;
    }
    struct usage_doc d;
    if (usage_json_read(r->data, r->data_len, &d) < 0)
        return;
    if (strcmp(ev, "message_start") == 0) {
        take_model(&d.message, u);
        merge_usage(&d.message.usage, u);
    } else {
        merge_usage(&d.top.usage, u);
    }
}

/* One complete line l[0..n) (without its end). */
static int process_line(struct sse_reader *r, const char *l, size_t n, struct usage *u)
{
    if (n == 0) { /* blank line: dispatch and reset */
        if (r->data_len > 0 || r->event[0])
            dispatch(r, u);
        r->data_len = 0;
        r->event[0] = '\0';
        r->overflow = r->skip = false;
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
        if (!wanted(r->event)) { /* for the rest of this event */
            r->skip = true;
            r->data_len = 0;
        }
    } else if (flen == 4 && memcmp(l, "data", 4) == 0 && !r->overflow && !r->skip) {
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

/* Where the line starting at s[0..n) ends: its first CR or LF, or n. */
static size_t line_end(const char *s, size_t n)
{
    const char *lf = memchr(s, '\n', n);
    size_t lim = lf ? (size_t)(lf - s) : n;
    const char *cr = memchr(s, '\r', lim);
    return cr ? (size_t)(cr - s) : lim;
}

/* Keep s[0..k) as the start (or more) of a line cut between pieces; past
 * SSE_MAX_EVENT bytes the rest of the line is dropped and its event skipped. */
static int keep_partial(struct sse_reader *r, const char *s, size_t k)
{
    size_t room = SSE_MAX_EVENT - r->line_len;
    if (k > room) {
        r->overflow = true;
        k = room;
    }
    if (k == 0)
        return 0;
    if (grow(&r->line, &r->line_cap, r->line_len + k) < 0) {
        r->overflow = true; /* the line is lost: so is its event */
        return -1;
    }
    memcpy(r->line + r->line_len, s, k);
    r->line_len += k;
    return 0;
}

/* Lines wholly inside a piece are read where they lie; only a line cut
 * between two pieces is copied. */
int sse_feed(struct sse_reader *r, const char *p, size_t n, struct usage *u)
{
    int rv = 0;
    size_t i = 0;
    if (n > 0 && r->after_cr && p[0] == '\n')
        i = 1; /* the LF of a CRLF cut between pieces */
    if (n > 0)
        r->after_cr = false;
    while (i < n) {
        size_t e = line_end(p + i, n - i);
        if (e == n - i) { /* no end in this piece: keep it for the next */
            if (keep_partial(r, p + i, e) < 0)
                rv = -1;
            break;
        }
        int lrv;
        if (r->line_len > 0) {
            if (keep_partial(r, p + i, e) < 0)
                rv = -1;
            lrv = process_line(r, r->line, r->line_len, u);
            r->line_len = 0;
        } else if (e > SSE_MAX_EVENT) {
            r->overflow = true; /* the line's start is read, its event skipped */
            lrv = process_line(r, p + i, SSE_MAX_EVENT, u);
        } else {
            lrv = process_line(r, p + i, e, u);
        }
        if (lrv < 0)
            rv = -1;
        bool cr = p[i + e] == '\r';
        i += e + 1;
        if (cr && i < n && p[i] == '\n')
            i++;
        else if (cr && i == n)
            r->after_cr = true;
    }
    /* The piece ended between two events: keep no buffers until the next.
     * A stream held open for minutes, an event every few seconds, would
     * otherwise keep half a kilobyte for nothing. */
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
    struct usage_doc d;
    if (usage_json_read(body, len, &d) < 0)
        return;
    if (d.type_is_error)
        u->error = true;
    take_model(&d.top, u);
    merge_usage(&d.top.usage, u);
    u->complete = true;
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
