/*
 * bench-upstream.c: a minimal, fast mock of the Anthropic Messages API, for
 * tests/bench/bench.sh only (not built by make, not used by make check).
 *
 * Why: the Node mock (tests/mock/mock-upstream.js) is the right tool for
 * behaviour tests, but on a 2-core machine it can eat a core by itself and
 * cap the throughput of every target at its own speed. This one answers from
 * fixed buffers on one libevent loop, so the proxies' own costs show.
 *
 * Speaks TLS with ALPN h2 (nghttp2) and http/1.1 (a tiny keep-alive parser,
 * enough for h2load --h1 and for proxies that fall back to HTTP/1.1).
 *
 *   POST *  body without "stream": true  -> 200 application/json (fixed body)
 *   POST *  body with "stream": true     -> 200 text/event-stream, N+6 events
 *   GET /__stats                         -> {"active_streams": N, "total": N}
 *   other GET                            -> 200 {"status": "ok"}
 * Request headers, as in the Node mock:
 *   x-mock-events: N         text deltas in the SSE stream (default 50 -> 56 events)
 *   x-mock-event-delay-ms: D pause D ms before each event after the first
 *   x-mock-delay-us: U       wait U microseconds before the response (so a
 *                            closed-loop client is paced: C connections give
 *                            at most C / U requests per microsecond)
 *   x-mock-event-delay-us: U as x-mock-event-delay-ms, in microseconds (for
 *                            tests/bench/restore-bench.sh; -ms wins if both)
 *   x-mock-tool: N           (stream only) a tool call instead of the text
 *                            deltas: a short text block, then a tool_use block
 *                            (a Write of a deploy.env) whose input comes in an
 *                            empty input_json_delta and then N pieces, as the
 *                            API sends them (1 <= N <= 4096). The first piece
 *                            ends inside the first placeholder; the others are
 *                            of equal size (about 13 bytes, so every
 *                            placeholder is cut between pieces). The answer
 *                            has a header x-mock-tool-placeholders: K, the
 *                            placeholders the input holds.
 *   x-mock-tool-ph: P1 [P2..] the placeholders the tool input names, space
 *                            separated, at most 4 (default <AWS_ACCESS_KEY_1>),
 *                            e.g. the ones the proxy's scrubber made of the
 *                            request (the model echoes what it saw)
 *
 * Usage: bench-upstream --cert C --key K [--host H] [--port P] [--port-file F]
 * Build: gcc -O2 -o bench-upstream bench-upstream.c \
 *          $(pkg-config --cflags --libs libnghttp2 libevent_openssl openssl)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define OUTPUT_HIGH (64 * 1024)
#define MAX_BODY_SCAN 65536

static struct event_base *base;
static long active_streams, total_requests;

static const char JSON_BODY[] =
    "{\"id\":\"msg_bench0000000000000000000001\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-sonnet-4-20250514\",\"content\":[{\"type\":\"text\",\"text\":"
    "\"Hello! This is a fixed answer from the benchmark upstream.\"}],"
    "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,"
    "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":14}}";

static const char *EV_START =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
    "\"msg_bench0000000000000000000001\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n";
static const char *EV_BLOCK_START =
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
static const char *EV_PING = "event: ping\ndata: {\"type\": \"ping\"}\n\n";
static const char *EV_DELTA =
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"word \"}}\n\n";
static const char *EV_BLOCK_STOP =
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
static const char *EV_MSG_DELTA =
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":50}}\n\n";
static const char *EV_STOP = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/* Headers like the real API's (and the Node mock's), so proxies copy a realistic set. */
static const char *EXTRA_HEADERS[][2] = {
    { "request-id", "req_bench000000000000000001" },
    { "anthropic-organization-id", "00000000-0000-0000-0000-000000000000" },
    { "anthropic-ratelimit-requests-limit", "4000" },
    { "anthropic-ratelimit-requests-remaining", "3999" },
    { "anthropic-ratelimit-requests-reset", "2030-01-01T00:00:00Z" },
    { "anthropic-ratelimit-tokens-limit", "2000000" },
    { "anthropic-ratelimit-tokens-remaining", "1999000" },
    { "anthropic-ratelimit-tokens-reset", "2030-01-01T00:00:00Z" },
    { "anthropic-ratelimit-input-tokens-limit", "2000000" },
    { "anthropic-ratelimit-input-tokens-remaining", "1999000" },
    { "anthropic-ratelimit-input-tokens-reset", "2030-01-01T00:00:00Z" },
    { "anthropic-ratelimit-output-tokens-limit", "400000" },
    { "anthropic-ratelimit-output-tokens-remaining", "400000" },
    { "anthropic-ratelimit-output-tokens-reset", "2030-01-01T00:00:00Z" },
};
#define N_EXTRA (sizeof EXTRA_HEADERS / sizeof EXTRA_HEADERS[0])

static void h1_extra_headers(struct evbuffer *out)
{
    for (size_t i = 0; i < N_EXTRA; i++)
        evbuffer_add_printf(out, "%s: %s\r\n", EXTRA_HEADERS[i][0], EXTRA_HEADERS[i][1]);
}

/* Event i (0-based) of a stream with n text deltas; NULL past the end. */
static const char *sse_event(int i, int n)
{
    if (i == 0) return EV_START;
    if (i == 1) return EV_BLOCK_START;
    if (i == 2) return EV_PING;
    if (i < 3 + n) return EV_DELTA;
    if (i == 3 + n) return EV_BLOCK_STOP;
    if (i == 4 + n) return EV_MSG_DELTA;
    if (i == 5 + n) return EV_STOP;
    return NULL;
}

/* The whole stream at once (no delay), cached per n. */
static char *sse_cache[4096];
static size_t sse_cache_len[4096];
static const char *sse_full(int n, size_t *len)
{
    if (n >= 0 && n < 4096 && sse_cache[n]) { *len = sse_cache_len[n]; return sse_cache[n]; }
    size_t total = 0;
    for (int i = 0; sse_event(i, n); i++) total += strlen(sse_event(i, n));
    char *b = malloc(total + 1), *p = b;
    for (int i = 0; sse_event(i, n); i++) { size_t l = strlen(sse_event(i, n)); memcpy(p, sse_event(i, n), l); p += l; }
    *p = 0;
    if (n >= 0 && n < 4096) { sse_cache[n] = b; sse_cache_len[n] = total; }
    *len = total;
    return b;
}

/* ---------------------------------------------------------------- tool calls */

#define TOOL_PIECE 13
#define TOOL_MAX_PH 4
#define TOOL_PH_LEN 128

/* One tool-call stream, built once per (n, placeholders) and kept. */
struct tool_stream {
    int n;
    char ph[TOOL_MAX_PH * (TOOL_PH_LEN + 1)];
    char **events;  /* NULL-terminated */
    char *full;     /* all events at once */
    size_t full_len;
    int nph;        /* placeholders in the input */
};
static struct tool_stream *tool_cache[16];
static int tool_cache_next;

static void append(char **b, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap) *cap = *cap ? *cap * 2 : 1024;
        *b = realloc(*b, *cap);
    }
    memcpy(*b + *len, p, n);
    *len += n;
    (*b)[*len] = 0;
}

/* An input_json_delta event whose partial_json is raw[0..n) (JSON text,
 * escaped here as a JSON string). */
static char *tool_delta(const char *raw, size_t n)
{
    char *b = NULL;
    size_t len = 0, cap = 0;
    static const char head[] = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
        "\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"";
    append(&b, &len, &cap, head, sizeof head - 1);
    for (size_t i = 0; i < n; i++) {
        if (raw[i] == '"' || raw[i] == '\\') append(&b, &len, &cap, "\\", 1);
        append(&b, &len, &cap, raw + i, 1);
    }
    append(&b, &len, &cap, "\"}}\n\n", 6);
    return b;
}

static struct tool_stream *tool_stream_get(int n, const char *ph_list)
{
    for (int i = 0; i < 16; i++)
        if (tool_cache[i] && tool_cache[i]->n == n && !strcmp(tool_cache[i]->ph, ph_list))
            return tool_cache[i];
    struct tool_stream *t = calloc(1, sizeof *t);
    t->n = n;
    snprintf(t->ph, sizeof t->ph, "%s", ph_list);
    char ph[TOOL_MAX_PH][TOOL_PH_LEN + 1];
    int nph = 0;
    char tmp[sizeof t->ph];
    snprintf(tmp, sizeof tmp, "%s", ph_list);
    for (char *save = NULL, *w = strtok_r(tmp, " ", &save); w && nph < TOOL_MAX_PH;
         w = strtok_r(NULL, " ", &save))
        snprintf(ph[nph++], sizeof ph[0], "%s", w);
    if (!nph) snprintf(ph[nph++], sizeof ph[0], "<AWS_ACCESS_KEY_1>");
    /* the input JSON text: the first piece ends inside the first placeholder */
    static const char *lines[] = { "AWS_ACCESS_KEY_ID=%s\\n", "ONCALL_EMAIL=%s\\n",
        "BACKUP_ACCESS_KEY_ID=%s\\n", "ALERTS_TO=%s\\n" };
    static const char *plain[] = { "AWS_REGION=eu-west-1\\n", "LOG_LEVEL=info\\n",
        "# rotated by ops, see the runbook\\n", "PORT=8443\\n" };
    char *first = NULL, *rest = NULL, line[TOOL_PH_LEN + 64];
    size_t flen = 0, fcap = 0, rlen = 0, rcap = 0;
    const char *p0 = "{\"file_path\": \"/home/dev/billing-api/deploy.copy.env\", \"content\": "
                     "\"# deploy settings for billing-api (do not commit)\\nAWS_ACCESS_KEY_ID=";
    append(&first, &flen, &fcap, p0, strlen(p0));
    size_t cut = strlen(ph[0]) / 2;
    append(&first, &flen, &fcap, ph[0], cut);
    append(&rest, &rlen, &rcap, ph[0] + cut, strlen(ph[0]) - cut);
    append(&rest, &rlen, &rcap, "\\n", 2);
    t->nph = 1;
    size_t want = (size_t)(n > 1 ? n - 1 : 1) * TOOL_PIECE;
    for (int k = 1; rlen + 2 < want; k++) {
        int l = snprintf(line, sizeof line, "%s", plain[k % 4]);
        append(&rest, &rlen, &rcap, line, (size_t)l);
        if (rlen + 2 >= want) break;
        l = snprintf(line, sizeof line, lines[k % 4], ph[k % nph]);
        append(&rest, &rlen, &rcap, line, (size_t)l);
        t->nph++;
    }
    append(&rest, &rlen, &rcap, "\"}", 2);
    static const char *text[] = {
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
        "\"msg_bench0000000000000000000002\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,"
        "\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"I'll copy deploy.env, keeping \"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"the key as it is.\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_bench000000000000000001\","
        "\"name\":\"Write\",\"input\":{}}}\n\n",
    };
    static const char *tail[] = {
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":120}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    };
    int nt = (int)(sizeof text / sizeof text[0]), ne = nt + 2 + (n > 1 ? n - 1 : 1) + 3;
    t->events = calloc((size_t)ne + 1, sizeof *t->events);
    int e = 0;
    for (int i = 0; i < nt; i++) t->events[e++] = strdup(text[i]);
    t->events[e++] = tool_delta("", 0);
    t->events[e++] = tool_delta(first, flen);
    int np = n > 1 ? n - 1 : 1;
    for (int i = 0; i < np; i++) {
        size_t a = rlen * (size_t)i / (size_t)np, b = rlen * (size_t)(i + 1) / (size_t)np;
        t->events[e++] = tool_delta(rest + a, b - a);
    }
    for (int i = 0; i < 3; i++) t->events[e++] = strdup(tail[i]);
    t->events[e] = NULL;
    free(first);
    free(rest);
    size_t fl = 0, fc = 0;
    for (int i = 0; t->events[i]; i++) append(&t->full, &fl, &fc, t->events[i], strlen(t->events[i]));
    t->full_len = fl;
    /* an entry pushed out is not freed: a stream may still be sending it */
    tool_cache[tool_cache_next] = t;
    tool_cache_next = (tool_cache_next + 1) % 16;
    return t;
}

/* ---------------------------------------------------------------- common */

struct conn;
struct stream {
    struct conn *c;
    int32_t id;
    int is_post, is_stats;
    int n_events, delay_ms;
    int ev_delay_us;          /* x-mock-event-delay-us */
    int tool_n;               /* x-mock-tool */
    char tool_ph[TOOL_MAX_PH * (TOOL_PH_LEN + 1)];
    struct tool_stream *tool;
    int delay_us, delayed;    /* x-mock-delay-us; the wait is over */
    int stream_mode;          /* body said "stream": true */
    char scan[MAX_BODY_SCAN]; /* request body prefix */
    size_t scan_len;
    /* response */
    const char *body; size_t body_len, body_off;
    char *owned;              /* body we must free */
    int next_event;           /* delayed SSE: next event index */
    int events_done;
    struct event *timer;
    int deferred;
    struct stream *prev, *next; /* h2: the connection's open streams */
};

struct conn {
    struct bufferevent *bev;
    nghttp2_session *h2;      /* NULL for HTTP/1.1 */
    int h1;
    struct stream *streams;   /* h2: open streams; h1: request being read */
    /* HTTP/1.1 state */
    struct stream *h1_cur;    /* response in progress */
    int h1_have_head;
    size_t h1_clen;
};

static void conn_free(struct conn *c);
static int h2_flush(struct conn *c);

/* Event i of this stream's SSE answer; NULL past the end. */
static const char *stream_event(const struct stream *s, int i)
{
    if (s->tool) return s->tool->events[i];
    return sse_event(i, s->n_events);
}

/* The pause before each SSE event after the first. */
static struct timeval event_delay(const struct stream *s)
{
    long us = s->delay_ms > 0 ? (long)s->delay_ms * 1000 : s->ev_delay_us;
    struct timeval tv = { us / 1000000, us % 1000000 };
    return tv;
}

static int body_says_stream(const struct stream *s)
{
    const char *p = memmem(s->scan, s->scan_len, "\"stream\"", 8);
    if (!p) return 0;
    p += 8;
    const char *end = s->scan + s->scan_len;
    while (p < end && (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return end - p >= 4 && memcmp(p, "true", 4) == 0;
}

static void stream_free(struct stream *s)
{
    if (s->timer) event_free(s->timer);
    free(s->owned);
    active_streams--;
    free(s);
}

static struct stream *stream_new(struct conn *c, int32_t id)
{
    struct stream *s = calloc(1, sizeof *s);
    s->c = c; s->id = id; s->n_events = 50;
    active_streams++;
    return s;
}

static void on_header(struct stream *s, const char *name, size_t nl, const char *val, size_t vl)
{
    char tmp[32];
    size_t l = vl < sizeof tmp - 1 ? vl : sizeof tmp - 1;
    if (nl == 7 && !strncasecmp(name, ":method", 7)) s->is_post = vl == 4 && !memcmp(val, "POST", 4);
    else if (nl == 5 && !strncasecmp(name, ":path", 5)) s->is_stats = vl >= 8 && !memcmp(val, "/__stats", 8);
    else if (nl == 13 && !strncasecmp(name, "x-mock-events", 13)) { memcpy(tmp, val, l); tmp[l] = 0; s->n_events = atoi(tmp); }
    else if (nl == 21 && !strncasecmp(name, "x-mock-event-delay-ms", 21)) { memcpy(tmp, val, l); tmp[l] = 0; s->delay_ms = atoi(tmp); }
    else if (nl == 15 && !strncasecmp(name, "x-mock-delay-us", 15)) { memcpy(tmp, val, l); tmp[l] = 0; s->delay_us = atoi(tmp); }
    else if (nl == 21 && !strncasecmp(name, "x-mock-event-delay-us", 21)) { memcpy(tmp, val, l); tmp[l] = 0; s->ev_delay_us = atoi(tmp); }
    else if (nl == 11 && !strncasecmp(name, "x-mock-tool", 11)) { memcpy(tmp, val, l); tmp[l] = 0; s->tool_n = atoi(tmp); }
    else if (nl == 14 && !strncasecmp(name, "x-mock-tool-ph", 14)) {
        size_t m = vl < sizeof s->tool_ph - 1 ? vl : sizeof s->tool_ph - 1;
        memcpy(s->tool_ph, val, m);
        s->tool_ph[m] = 0;
    }
    if (s->ev_delay_us < 0 || s->ev_delay_us > 10000000) s->ev_delay_us = 0;
    if (s->tool_n < 0) s->tool_n = 0;
    if (s->tool_n > 4096) s->tool_n = 4096;
    if (s->delay_us < 0 || s->delay_us > 10000000) s->delay_us = 0;
    if (s->n_events < 0) s->n_events = 0;
    if (s->n_events > 100000) s->n_events = 100000;
}

static void on_body(struct stream *s, const uint8_t *d, size_t len)
{
    size_t room = MAX_BODY_SCAN - s->scan_len;
    if (len > room) len = room;
    memcpy(s->scan + s->scan_len, d, len);
    s->scan_len += len;
}

/* Decide the response once the request is complete. Returns content type. */
static const char *prepare_response(struct stream *s)
{
    total_requests++;
    if (s->is_stats) {
        s->owned = malloc(128);
        s->body_len = snprintf(s->owned, 128, "{\"active_streams\": %ld, \"total\": %ld}\n",
                               active_streams - 1, total_requests);
        s->body = s->owned;
        s->events_done = 1;
        return "application/json";
    }
    if (!s->is_post) {
        s->body = "{\"status\": \"ok\"}"; s->body_len = strlen(s->body); s->events_done = 1;
        return "application/json";
    }
    s->stream_mode = body_says_stream(s);
    if (!s->stream_mode) {
        s->body = JSON_BODY; s->body_len = sizeof JSON_BODY - 1; s->events_done = 1;
        return "application/json";
    }
    if (s->tool_n > 0) s->tool = tool_stream_get(s->tool_n, s->tool_ph);
    if (s->delay_ms <= 0 && s->ev_delay_us <= 0) {
        if (s->tool) { s->body = s->tool->full; s->body_len = s->tool->full_len; }
        else s->body = sse_full(s->n_events, &s->body_len);
        s->events_done = 1;
    } else {
        /* first event now, the others one per delay */
        s->body = stream_event(s, 0); s->body_len = strlen(s->body);
        s->next_event = 1;
    }
    return "text/event-stream";
}

/* ---------------------------------------------------------------- HTTP/2 */

static ssize_t h2_send_cb(nghttp2_session *session, const uint8_t *data, size_t len,
                          int flags, void *ud)
{
    (void)session; (void)flags;
    struct conn *c = ud;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) >= OUTPUT_HIGH) return NGHTTP2_ERR_WOULDBLOCK;
    evbuffer_add(out, data, len);
    return (ssize_t)len;
}

static ssize_t h2_read_cb(nghttp2_session *session, int32_t id, uint8_t *buf, size_t len,
                          uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)session; (void)id; (void)ud;
    struct stream *s = src->ptr;
    size_t left = s->body_len - s->body_off;
    if (left == 0) {
        if (s->events_done) { *flags |= NGHTTP2_DATA_FLAG_EOF; return 0; }
        s->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (len > left) len = left;
    memcpy(buf, s->body + s->body_off, len);
    s->body_off += len;
    if (s->body_off == s->body_len && s->events_done) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)len;
}

static void h2_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct stream *s = arg;
    const char *ev = stream_event(s, s->next_event);
    s->next_event++;
    if (ev) { s->body = ev; s->body_len = strlen(ev); s->body_off = 0; }
    if (!stream_event(s, s->next_event)) s->events_done = 1;
    if (!s->events_done) {
        struct timeval tv = event_delay(s);
        evtimer_add(s->timer, &tv);
    }
    if (s->deferred) { s->deferred = 0; nghttp2_session_resume_data(s->c->h2, s->id); }
    if (h2_flush(s->c) < 0) conn_free(s->c);
}

static int h2_respond(struct conn *c, struct stream *s);

static void h2_delay_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct stream *s = arg;
    struct conn *c = s->c;
    event_free(s->timer);
    s->timer = NULL;
    if (h2_respond(c, s) != 0)
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    if (h2_flush(c) < 0) conn_free(c);
}

static int h2_respond(struct conn *c, struct stream *s)
{
    if (s->delay_us > 0 && !s->delayed) {
        s->delayed = 1; /* a stream closed meanwhile frees the timer with itself */
        s->timer = evtimer_new(base, h2_delay_cb, s);
        struct timeval tv = { s->delay_us / 1000000, s->delay_us % 1000000 };
        evtimer_add(s->timer, &tv);
        return 0;
    }
    const char *ctype = prepare_response(s);
    char nph[16];
    nghttp2_nv nva[3 + N_EXTRA] = {
        { (uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE },
        { (uint8_t *)"content-type", (uint8_t *)ctype, 12, strlen(ctype), NGHTTP2_NV_FLAG_NONE },
    };
    for (size_t i = 0; i < N_EXTRA; i++) {
        nva[2 + i].name = (uint8_t *)EXTRA_HEADERS[i][0];
        nva[2 + i].namelen = strlen(EXTRA_HEADERS[i][0]);
        nva[2 + i].value = (uint8_t *)EXTRA_HEADERS[i][1];
        nva[2 + i].valuelen = strlen(EXTRA_HEADERS[i][1]);
        nva[2 + i].flags = NGHTTP2_NV_FLAG_NONE;
    }
    size_t nnv = 2 + N_EXTRA;
    if (s->tool) {
        int l = snprintf(nph, sizeof nph, "%d", s->tool->nph);
        nva[nnv++] = (nghttp2_nv){ (uint8_t *)"x-mock-tool-placeholders", (uint8_t *)nph, 24,
                                   (size_t)l, NGHTTP2_NV_FLAG_NONE };
    }
    nghttp2_data_provider dp = { .source.ptr = s, .read_callback = h2_read_cb };
    if (!s->events_done) {
        s->timer = evtimer_new(base, h2_timer_cb, s);
        struct timeval tv = event_delay(s);
        evtimer_add(s->timer, &tv);
    }
    return nghttp2_submit_response(c->h2, s->id, nva, nnv, &dp);
}

static int h2_begin_headers_cb(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct conn *c = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    struct stream *s = stream_new(c, frame->hd.stream_id);
    s->next = c->streams;
    if (c->streams) c->streams->prev = s;
    c->streams = s;
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s);
    return 0;
}

static int h2_header_cb(nghttp2_session *session, const nghttp2_frame *frame,
                        const uint8_t *name, size_t nl, const uint8_t *val, size_t vl,
                        uint8_t flags, void *ud)
{
    (void)flags; (void)ud;
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    struct stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s) on_header(s, (const char *)name, nl, (const char *)val, vl);
    return 0;
}

static int h2_data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t id,
                            const uint8_t *data, size_t len, void *ud)
{
    (void)flags; (void)ud;
    struct stream *s = nghttp2_session_get_stream_user_data(session, id);
    if (s) on_body(s, data, len);
    return 0;
}

static int h2_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct conn *c = ud;
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        struct stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (s && h2_respond(c, s) != 0)
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    }
    return 0;
}

static int h2_stream_close_cb(nghttp2_session *session, int32_t id, uint32_t err, void *ud)
{
    (void)err; (void)ud;
    struct stream *s = nghttp2_session_get_stream_user_data(session, id);
    if (s) {
        struct conn *c = s->c;
        nghttp2_session_set_stream_user_data(session, id, NULL);
        if (s->prev) s->prev->next = s->next; else c->streams = s->next;
        if (s->next) s->next->prev = s->prev;
        stream_free(s);
    }
    return 0;
}

static int h2_flush(struct conn *c)
{
    if (nghttp2_session_send(c->h2) != 0) return -1;
    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2) &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        return -1;
    return 0;
}

static void h2_start(struct conn *c)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, h2_send_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, h2_begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2_header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_data_chunk_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_frame_recv_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_stream_close_cb);
    nghttp2_session_server_new(&c->h2, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 4096 },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 },
    };
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 16 << 20);
}

/* ---------------------------------------------------------------- HTTP/1.1 */

static void h1_write_chunk(struct conn *c, const char *d, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out, "%zx\r\n", len);
    evbuffer_add(out, d, len);
    evbuffer_add(out, "\r\n", 2);
}

static void h1_process(struct conn *c);

static void h1_finish(struct conn *c)
{
    struct stream *s = c->h1_cur;
    if (s->stream_mode) evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
    c->h1_cur = NULL;
    stream_free(s);
    h1_process(c); /* a pipelined request may be waiting */
}

static void h1_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct stream *s = arg;
    struct conn *c = s->c;
    const char *ev = stream_event(s, s->next_event++);
    if (ev) h1_write_chunk(c, ev, strlen(ev));
    if (!stream_event(s, s->next_event)) { h1_finish(c); return; }
    struct timeval tv = event_delay(s);
    evtimer_add(s->timer, &tv);
}

static void h1_respond(struct conn *c, struct stream *s);

static void h1_delay_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct stream *s = arg;
    event_free(s->timer);
    s->timer = NULL;
    s->c->h1_cur = NULL;
    h1_respond(s->c, s);
}

static void h1_respond(struct conn *c, struct stream *s)
{
    if (s->delay_us > 0 && !s->delayed) {
        s->delayed = 1;
        c->h1_cur = s; /* holds back a pipelined request, and conn_free frees s */
        s->timer = evtimer_new(base, h1_delay_cb, s);
        struct timeval tv = { s->delay_us / 1000000, s->delay_us % 1000000 };
        evtimer_add(s->timer, &tv);
        return;
    }
    const char *ctype = prepare_response(s);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (!s->stream_mode) {
        evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\ncontent-type: %s\r\n", ctype);
        h1_extra_headers(out);
        evbuffer_add_printf(out, "content-length: %zu\r\n\r\n", s->body_len);
        evbuffer_add(out, s->body, s->body_len);
        c->h1_cur = s;
        h1_finish(c);
        return;
    }
    evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\ncontent-type: %s\r\n", ctype);
    h1_extra_headers(out);
    if (s->tool) evbuffer_add_printf(out, "x-mock-tool-placeholders: %d\r\n", s->tool->nph);
    evbuffer_add_printf(out, "transfer-encoding: chunked\r\n\r\n");
    c->h1_cur = s;
    if (s->body_len) h1_write_chunk(c, s->body, s->body_len);
    if (s->events_done) { h1_finish(c); return; }
    s->timer = evtimer_new(base, h1_timer_cb, s);
    struct timeval tv = event_delay(s);
    evtimer_add(s->timer, &tv);
}

static void h1_process(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!c->h1_cur) {
        struct stream *s = c->streams;
        if (!c->h1_have_head) {
            struct evbuffer_ptr p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
            if (p.pos < 0) return;
            size_t hlen = (size_t)p.pos + 4;
            char *head = malloc(hlen + 1);
            evbuffer_remove(in, head, hlen);
            head[hlen] = 0;
            s = stream_new(c, 1);
            c->streams = s;
            c->h1_clen = 0;
            s->is_post = !strncmp(head, "POST ", 5);
            s->is_stats = strstr(head, " /__stats") != NULL && strstr(head, " /__stats") < strchr(head, '\n');
            char *line = strstr(head, "\r\n");
            while (line && line[2] && line[2] != '\r') {
                line += 2;
                char *eol = strstr(line, "\r\n");
                char *colon = memchr(line, ':', (size_t)(eol - line));
                if (colon) {
                    char *v = colon + 1;
                    while (*v == ' ' || *v == '\t') v++;
                    size_t nl = (size_t)(colon - line), vl = (size_t)(eol - v);
                    if (nl == 14 && !strncasecmp(line, "content-length", 14)) c->h1_clen = strtoul(v, NULL, 10);
                    on_header(s, line, nl, v, vl);
                }
                line = eol;
            }
            free(head);
            c->h1_have_head = 1;
        }
        s = c->streams;
        if (evbuffer_get_length(in) < c->h1_clen) return;
        if (c->h1_clen) {
            unsigned char *d = evbuffer_pullup(in, (ssize_t)c->h1_clen);
            on_body(s, d, c->h1_clen);
            evbuffer_drain(in, c->h1_clen);
        }
        c->h1_have_head = 0;
        c->streams = NULL;
        h1_respond(c, s);
    }
}

/* ---------------------------------------------------------------- plumbing */

static void conn_free(struct conn *c)
{
    if (c->h2) {
        nghttp2_session_del(c->h2); /* calls no callback: free streams here */
        while (c->streams) { struct stream *s = c->streams; c->streams = s->next; stream_free(s); }
    } else {
        if (c->h1_cur) stream_free(c->h1_cur);
        if (c->streams) stream_free(c->streams);
    }
    bufferevent_free(c->bev); /* BEV_OPT_CLOSE_ON_FREE: frees the SSL and closes the fd */
    free(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->h1) { h1_process(c); return; }
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    unsigned char *d = evbuffer_pullup(in, -1);
    ssize_t r = nghttp2_session_mem_recv(c->h2, d, len);
    if (r < 0) { conn_free(c); return; }
    evbuffer_drain(in, (size_t)r);
    if (h2_flush(c) < 0) conn_free(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    if (c->h1) return;
    if (h2_flush(c) < 0) conn_free(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        const unsigned char *alpn = NULL;
        unsigned alen = 0;
        SSL_get0_alpn_selected(ssl, &alpn, &alen);
        if (alen == 2 && !memcmp(alpn, "h2", 2)) {
            h2_start(c);
            if (h2_flush(c) < 0) { conn_free(c); return; }
        } else {
            c->h1 = 1;
        }
        bufferevent_enable(bev, EV_READ | EV_WRITE);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) conn_free(c);
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl; (void)arg;
    static const unsigned char pref[] = "\x02h2\x08http/1.1";
    if (SSL_select_next_proto((unsigned char **)out, outlen, pref, sizeof pref - 1, in, inlen)
        != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    return SSL_TLSEXT_ERR_OK;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)l; (void)sa; (void)salen;
    SSL_CTX *ctx = arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = calloc(1, sizeof *c);
    SSL *ssl = SSL_new(ctx);
    c->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *host = "127.0.0.1", *port_file = NULL;
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--cert")) cert = argv[i + 1];
        else if (!strcmp(argv[i], "--key")) key = argv[i + 1];
        else if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--port-file")) port_file = argv[i + 1];
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (!cert || !key) { fprintf(stderr, "usage: %s --cert C --key K [--host H] [--port P] [--port-file F]\n", argv[0]); return 2; }
    signal(SIGPIPE, SIG_IGN);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);

    base = event_base_new();
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) { fprintf(stderr, "bad host %s\n", host); return 2; }
    struct evconnlistener *l = evconnlistener_new_bind(
        base, accept_cb, ctx, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
        (struct sockaddr *)&sin, sizeof sin);
    if (!l) { perror("bind"); return 1; }
    struct sockaddr_in bound;
    socklen_t bl = sizeof bound;
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&bound, &bl);
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f) { perror(tmp); return 1; }
        fprintf(f, "%d\n", ntohs(bound.sin_port));
        fclose(f);
        rename(tmp, port_file);
    }
    struct event *sigterm = evsignal_new(base, SIGTERM, stop_cb, NULL);
    struct event *sigint = evsignal_new(base, SIGINT, stop_cb, NULL);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    event_base_dispatch(base);
    return 0;
}
