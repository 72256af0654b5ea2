/*
 * h1_server: HTTP/1.1 connections from clients (Claude Code, the SDKs).
 *
 * One request at a time per connection: the head is parsed by h1_parser,
 * the body read whole into the exchange, then nothing more is parsed until
 * the response has been handed to the socket (pipelined bytes wait in the
 * input buffer, bounded). Responses with unknown length are chunked; a
 * truncated response is closed without its final chunk, so the client can
 * tell. This file never frees a connection inside a front_ops call: closing
 * goes through transport_defer (resume_cb) or the write callback.
 */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "core.h"
#include "exchange.h"
#include "h1_parser.h"
#include "http.h"
#include "log.h"
#include "server.h"
#include "timeouts.h"
#include "transport.h"

#define H1_MAGIC 0x48314331u   /* "H1C1" */
#define MAX_HEAD (64 * 1024)   /* request line and headers; more is 431 */
#define MAX_PIPELINED (64 * 1024)
/* A lingering close (RFC 9112 9.6): after the last answer, stop sending
 * but read and drop what the client still sends, for this long or this
 * many bytes at most, before closing. Closing at once on a client still
 * sending (a body cut at 413, say) makes the kernel answer its bytes with
 * a reset, and a reset can destroy the answer before the client reads it. */
#define LINGER_SECS 2.0
#define LINGER_MAX_BYTES (4 * 1024 * 1024)
/* Credit the upstream again once the client has taken all but this much. */
#define WRITE_LOW_WATER (16 * 1024)
/* At most this much room for the body next to the response head (see
 * body_room): a small answer whole, a streamed one's first events. */
#define BODY_ROOM (8 * 1024)
#define BODY_ROOM_UNKNOWN 2048

enum h1_state { ST_HEAD, ST_BODY, ST_WAIT, ST_CLOSING, ST_LINGERING };

struct h1_conn {
    uint32_t magic;
    struct core_conn_link link;
    struct core *core;
    struct transport *tr;
    enum listener_kind listener;
    enum h1_state state;
    struct exchange *ex;
    size_t scan_from;
    bool head_started;
    bool keep_alive;
    bool http10;
    bool head_only;
    bool resp_chunked;
    bool resp_body;
    bool chunked_req;
    bool linger_close;          /* the client may still be sending: linger */
    int64_t body_left;
    size_t lingered;            /* bytes dropped since the close began */
    struct h1_chunked chunk;
    struct timeout timer;
};

static const struct front_ops h1_front_ops;
static void resume_cb(struct transport *tr, void *arg);

static void conn_free(struct h1_conn *c)
{
    assert(c->magic == H1_MAGIC);
    if (c->ex) {
        struct exchange *ex = c->ex;
        c->ex = NULL;
        exchange_client_gone(ex);
    }
    core_conn_remove(c->core, &c->link);
    transport_free(c->tr);
    timeout_cancel(&c->timer);
    c->magic = 0;
    free(c);
}

static void arm_timer(struct h1_conn *c, double seconds)
{
    timeout_arm(c->core->timeouts, &c->timer, seconds);
}

/* Close once everything queued has been written. */
static void start_close(struct h1_conn *c)
{
    struct evbuffer *in = transport_input(c->tr);
    if (c->state == ST_BODY || (c->state == ST_HEAD && c->head_started) ||
        (in && evbuffer_get_length(in) > 0))
        c->linger_close = true; /* a request cut short, or bytes unread */
    c->state = ST_CLOSING;
    c->keep_alive = false;
    timeout_cancel(&c->timer);
    transport_enable_read(c->tr, false);
    transport_set_write_low(c->tr, 0);
    arm_timer(c, c->core->gen->settings.client_idle_timeout); /* bound the flush */
    transport_defer(c->tr, resume_cb);
}

/* The last answer is out: linger (see LINGER_SECS) if the client may
 * still be sending, then close. An idle connection closes at once. */
static void linger(struct h1_conn *c)
{
    if (!c->linger_close) {
        conn_free(c);
        return;
    }
    c->state = ST_LINGERING;
    transport_shutdown_write(c->tr);
    transport_enable_read(c->tr, true);
    arm_timer(c, LINGER_SECS);
}

/* An error found before or while reading a request: answered through an
 * exchange so that it is logged and counted like any other answer. */
static void reject(struct h1_conn *c, int status, const char *message)
{
    c->keep_alive = false;
    c->linger_close = true; /* the rest of the request may still be coming */
    struct exchange *ex = c->ex;
    if (!ex) {
        ex = exchange_new(c->core, c->listener, &h1_front_ops, c, "HTTP/1.1");
        if (!ex || exchange_set_request(ex, "-", 1, "-", 1) < 0) {
            if (ex)
                exchange_client_gone(ex);
            start_close(c);
            return;
        }
        c->ex = ex;
    }
    c->state = ST_WAIT;
    exchange_fail(ex, status, message);
}

static void request_complete(struct h1_conn *c)
{
    c->state = ST_WAIT;
    timeout_cancel(&c->timer);
    exchange_request_complete(c->ex);
}

/* Copy up to `n` bytes from the input into the exchange's body. */
static int take_body(struct h1_conn *c, struct evbuffer *in, size_t n)
{
    struct evbuffer_iovec v[16];
    int k = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, 16);
    size_t taken = 0;
    for (int i = 0; i < k && i < 16 && taken < n; i++) {
        size_t len = v[i].iov_len < n - taken ? v[i].iov_len : n - taken;
        int status;
        if (exchange_append_body(c->ex, v[i].iov_base, len, &status) < 0) {
            reject(c, status, status == 413 ? "request body larger than MAX_REQUEST_BODY"
                                            : "out of memory");
            return -1;
        }
        taken += len;
    }
    evbuffer_drain(in, taken);
    return (int)(taken > 0);
}

static void read_length_body(struct h1_conn *c, struct evbuffer *in)
{
    while (c->body_left > 0 && evbuffer_get_length(in) > 0) {
        size_t avail = evbuffer_get_length(in);
        size_t n = (uint64_t)c->body_left < avail ? (size_t)c->body_left : avail;
        size_t before = evbuffer_get_length(in);
        if (take_body(c, in, n) < 0)
            return;
        c->body_left -= (int64_t)(before - evbuffer_get_length(in));
    }
    if (c->body_left == 0)
        request_complete(c);
}

static void read_chunked_body(struct h1_conn *c, struct evbuffer *in)
{
    while (evbuffer_get_length(in) > 0) {
        size_t len = evbuffer_get_contiguous_space(in);
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
        size_t consumed = 0;
        const char *data = NULL;
        size_t dlen = 0;
        struct h1_error err;
        int rv = h1_chunked_feed(&c->chunk, p, len, &consumed, &data, &dlen, &err);
        if (rv == H1_ERROR) {
            reject(c, err.status, err.message);
            return;
        }
        if (dlen > 0) {
            int status;
            if (exchange_append_body(c->ex, data, dlen, &status) < 0) {
                reject(c, status, status == 413 ? "request body larger than MAX_REQUEST_BODY"
                                                : "out of memory");
                return;
            }
        }
        evbuffer_drain(in, consumed);
        if (rv == H1_OK) {
            request_complete(c);
            return;
        }
        if (consumed == 0 && dlen == 0)
            return; /* need more bytes than are contiguous: wait */
    }
}

static void read_body(struct h1_conn *c)
{
    struct evbuffer *in = transport_input(c->tr);
    arm_timer(c, c->core->gen->settings.client_header_timeout); /* silence bound */
    if (!in)
        return;
    if (c->chunked_req)
        read_chunked_body(c, in);
    else
        read_length_body(c, in);
}

static int copy_headers(struct exchange *ex, const struct h1_head *h)
{
    size_t bytes = 0;
    for (size_t i = 0; i < h->nheaders; i++)
        bytes += h->headers[i].name.len + h->headers[i].value.len + 2;
    /* sized exactly: the list lives as long as the request, held or not */
    if (header_list_reserve(&ex->req_headers, h->nheaders, bytes) < 0)
        return -1;
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct h1_header *hd = &h->headers[i];
        if (header_list_add_lc(&ex->req_headers, h->buf + hd->name.off, hd->name.len,
                            h->buf + hd->value.off, hd->value.len) < 0)
            return -1;
    }
    return 0;
}

/* A head has been parsed: make the exchange and decide how to read the body. */
static void start_request(struct h1_conn *c, struct h1_head *h)
{
    c->http10 = h->version_minor == 0;
    c->keep_alive = h->keep_alive && !c->core->draining;
    struct exchange *ex = exchange_new(c->core, c->listener, &h1_front_ops, c,
                                       c->http10 ? "HTTP/1.0" : "HTTP/1.1");
    if (!ex) {
        start_close(c);
        return;
    }
    c->ex = ex;
    if (exchange_set_request(ex, h->buf + h->method.off, h->method.len,
                             h->buf + h->target.off, h->target.len) < 0 ||
        copy_headers(ex, h) < 0) {
        reject(c, 500, "out of memory");
        return;
    }
    c->head_only = ex->head_only;
    if (strcmp(ex->target, "*") == 0) {
        reject(c, 400, "asterisk-form request targets are not served");
        return;
    }
    if (h->content_length > c->core->gen->settings.max_request_body) {
        reject(c, 413, "request body larger than MAX_REQUEST_BODY");
        return;
    }
    c->chunked_req = h->chunked;
    c->body_left = h->content_length > 0 ? h->content_length : 0;
    if (!h->chunked && c->body_left == 0) {
        request_complete(c);
        return;
    }
    if (h->chunked)
        h1_chunked_init(&c->chunk);
    else if (exchange_reserve_body(ex, (size_t)c->body_left) < 0) {
        reject(c, 500, "out of memory");
        return;
    }
    if (h->expect_continue) {
        struct evbuffer *out = transport_output(c->tr);
        if (!out || evbuffer_add(out, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0) {
            reject(c, 500, "out of memory");
            return;
        }
    }
    c->state = ST_BODY;
    read_body(c);
}

static void read_head(struct h1_conn *c)
{
    struct evbuffer *in = transport_input(c->tr);
    size_t len = in ? evbuffer_get_length(in) : 0;
    if (len == 0)
        return;
    if (!c->head_started) {
        c->head_started = true;
        arm_timer(c, c->core->gen->settings.client_header_timeout);
    }
    size_t avail = len < MAX_HEAD ? len : MAX_HEAD;
    char *p = (char *)evbuffer_pullup(in, (ev_ssize_t)avail);
    size_t end = h1_find_head_end(p, avail, c->scan_from);
    if (end == 0) {
        if (avail >= MAX_HEAD)
            reject(c, 431, "request head larger than 64 KiB");
        else
            c->scan_from = avail;
        return;
    }
    c->scan_from = 0;
    c->head_started = false;
    struct h1_head head;
    struct h1_error err;
    head.buf = malloc(end);
    if (!head.buf) {
        reject(c, 500, "out of memory");
        return;
    }
    memcpy(head.buf, p, end);
    evbuffer_drain(in, end);
    if (h1_parse_head(head.buf, end, &head, &err) != H1_OK)
        reject(c, err.status, err.message);
    else
        start_request(c, &head);
    free(head.buf);
}

/* Parse whatever the state allows from the input. */
static void process_input(struct h1_conn *c)
{
    struct evbuffer *in = transport_input(c->tr);
    switch (c->state) {
    case ST_HEAD:
        read_head(c);
        break;
    case ST_BODY:
        read_body(c);
        break;
    case ST_WAIT:
        /* Pipelined bytes wait; stop reading if a client piles them up. */
        if (in && evbuffer_get_length(in) > MAX_PIPELINED)
            transport_enable_read(c->tr, false);
        break;
    case ST_CLOSING:
    case ST_LINGERING:
        if (in) {
            c->lingered += evbuffer_get_length(in);
            evbuffer_drain(in, evbuffer_get_length(in));
        }
        if (c->state == ST_LINGERING && c->lingered > LINGER_MAX_BYTES)
            conn_free(c); /* it had its chance to read the answer */
        break;
    }
}

static void read_cb(struct transport *tr, void *arg)
{
    process_input(arg);
}

static void write_cb(struct transport *tr, void *arg)
{
    struct h1_conn *c = arg;
    if (c->ex)
        exchange_front_drained(c->ex);
    if (c->state == ST_CLOSING && transport_pending(tr) == 0)
        linger(c);
}

static void event_cb(struct transport *tr, int what, void *arg)
{
    struct h1_conn *c = arg;
    if (what & (TRANSPORT_EOF | TRANSPORT_ERROR)) {
        if (c->ex)
            log_req(LOG_LVL_DEBUG, c->ex->id, "client closed the connection");
        conn_free(c);
    }
}

static void timer_cb(struct timeout *t, void *arg)
{
    (void)t;
    struct h1_conn *c = arg;
    switch (c->state) {
    case ST_HEAD:
        if (c->head_started)
            reject(c, 408, "request head not received within CLIENT_HEADER_TIMEOUT");
        else
            conn_free(c); /* idle keep-alive connection */
        break;
    case ST_BODY:
        reject(c, 408, "request body stalled for CLIENT_HEADER_TIMEOUT");
        break;
    case ST_CLOSING:
        conn_free(c); /* the client stopped reading its answer */
        break;
    case ST_LINGERING:
        conn_free(c);
        break;
    case ST_WAIT:
        break;
    }
}

/* Deferred work: the next pipelined request, or a close. */
static void resume_cb(struct transport *tr, void *arg)
{
    struct h1_conn *c = arg;
    if (c->state == ST_CLOSING) {
        if (transport_pending(c->tr) == 0)
            linger(c);
        return;
    }
    if (c->state == ST_LINGERING)
        return;
    transport_enable_read(c->tr, true);
    process_input(c);
}

static void conn_shutdown(struct core_conn_link *link)
{
    struct h1_conn *c = (struct h1_conn *)((char *)link - offsetof(struct h1_conn, link));
    c->keep_alive = false;
    if (c->state == ST_HEAD && !c->head_started)
        start_close(c);
}

/* ---- front_ops: how exchanges answer through this connection ---- */

static char *put(char *d, const char *s, size_t n)
{
    memcpy(d, s, n);
    return d + n;
}

/* Decimal digits of v at d (room for 21 bytes); returns the end. */
static char *put_dec(char *d, uint64_t v)
{
    return d + http_format_uint(d, v);
}

/* Framing lines after the headers, decided from the status and length. */
static const char *head_framing(struct h1_conn *c, int status, int64_t content_length)
{
    c->resp_body = !(c->head_only || status == 204 || status == 304 || status < 200);
    c->resp_chunked = false;
    if (content_length >= 0 && (c->resp_body || c->head_only))
        return "content-length: ";
    if (c->resp_body && c->http10)
        c->keep_alive = false; /* HTTP/1.0 has no chunks: the close ends the body */
    else if (c->resp_body)
        c->resp_chunked = true;
    return NULL;
}

/* Bytes the head will take: status line, forwarded headers, framing. */
static size_t head_size(const struct header_list *h, const char *reason)
{
    size_t n = 16 + strlen(reason) + 64 + 28 + 24 + 2; /* "HTTP/1.1 999 " CRLF, length, te, conn */
    for (size_t i = 0; i < h->n; i++)
        n += h->v[i].name_len + h->v[i].value_len + 4;
    return n;
}

/* Room to leave after the head for the first body bytes: they usually
 * arrive in the same read from the upstream, and landing in the head's
 * piece of the output buffer they go out in the same TLS record without
 * the transport having to gather them. */
static size_t body_room(const struct h1_conn *c, int64_t content_length)
{
    if (!c->resp_body)
        return 0;
    if (content_length >= 0)
        return content_length < BODY_ROOM ? (size_t)content_length : BODY_ROOM;
    return BODY_ROOM_UNKNOWN;
}

/* The head is written straight into the output buffer: no printf, one
 * reservation (this runs once per response). */
static int front_send_head(void *ctx, int status, const struct header_list *h,
                           int64_t content_length, bool end)
{
    struct h1_conn *c = ctx;
    struct evbuffer *out = transport_output(c->tr);
    if (!out)
        return -1;
    const char *reason = http_reason(status);
    const char *clen = head_framing(c, status, content_length);
    struct evbuffer_iovec v;
    size_t size = head_size(h, reason);
    if (status < 100 || status > 999 || evbuffer_reserve_space(out, (ev_ssize_t)(size + body_room(
            c, content_length)), &v, 1) < 1 || v.iov_len < size)
        return -1;
    char *d = put(v.iov_base, "HTTP/1.1 ", 9);
    d = put_dec(d, (uint64_t)status);
    *d++ = ' ';
    d = put(d, reason, strlen(reason));
    d = put(d, "\r\n", 2);
    for (size_t i = 0; i < h->n; i++) {
        const char *name = header_name(h, i);
        if (http_is_hop_by_hop(name, NULL))
            continue;
        d = put(d, name, h->v[i].name_len);
        d = put(d, ": ", 2);
        d = put(d, header_value(h, i), h->v[i].value_len);
        d = put(d, "\r\n", 2);
    }
    if (clen) {
        d = put(d, clen, 16);
        d = put_dec(d, (uint64_t)content_length);
        d = put(d, "\r\n", 2);
    }
    if (c->resp_chunked)
        d = put(d, "transfer-encoding: chunked\r\n", 28);
    if (!c->keep_alive)
        d = put(d, "connection: close\r\n", 19);
    else if (c->http10)
        d = put(d, "connection: keep-alive\r\n", 24);
    d = put(d, "\r\n", 2);
    if (end && c->resp_chunked) {
        d = put(d, "0\r\n\r\n", 5);
        c->resp_chunked = false;
    }
    v.iov_len = (size_t)(d - (char *)v.iov_base);
    return evbuffer_commit_space(out, &v, 1);
}

/* A chunk's size line (hex, CRLF) at d; returns the end. */
static char *put_chunk_line(char *d, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char line[2 * sizeof n];
    size_t k = 0;
    for (size_t v = n; v; v >>= 4)
        line[k++] = hex[v & 15];
    while (k)
        *d++ = line[--k];
    return put(d, "\r\n", 2);
}

/* One chunk, size line, data and CRLF, written into one piece of the output
 * buffer with room for the last chunk after it, so that the transport
 * sends it as one record without gathering pieces first. */
static int send_chunk(struct evbuffer *out, const uint8_t *p, size_t n)
{
    struct evbuffer_iovec v;
    size_t need = 2 * sizeof n + 2 + n + 2 + 5;
    if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) < 1 || v.iov_len < need)
        return -1;
    char *d = put_chunk_line(v.iov_base, n);
    d = put(d, (const char *)p, n);
    d = put(d, "\r\n", 2);
    v.iov_len = (size_t)(d - (char *)v.iov_base);
    return evbuffer_commit_space(out, &v, 1);
}

static int front_send_data(void *ctx, const uint8_t *p, size_t n)
{
    struct h1_conn *c = ctx;
    if (!c->resp_body || n == 0)
        return 0;
    struct evbuffer *out = transport_output(c->tr);
    if (!out)
        return -1;
    if (c->resp_chunked)
        return send_chunk(out, p, n);
    return evbuffer_add(out, p, n);
}

static int front_send_end(void *ctx)
{
    struct h1_conn *c = ctx;
    bool chunked = c->resp_chunked;
    c->resp_chunked = false;
    if (chunked) {
        struct evbuffer *out = transport_output(c->tr);
        if (!out || evbuffer_add(out, "0\r\n\r\n", 5) < 0)
            return -1;
    }
    return 0;
}

static void front_send_abort(void *ctx)
{
    struct h1_conn *c = ctx;
    c->keep_alive = false; /* closing without the last chunk tells the client */
}

static size_t front_pending(void *ctx)
{
    struct h1_conn *c = ctx;
    return transport_pending(c->tr);
}

static uint64_t front_client_progress(void *ctx)
{
    struct h1_conn *c = ctx;
    return transport_bytes_acked(c->tr);
}

static void front_finished(void *ctx)
{
    struct h1_conn *c = ctx;
    c->ex = NULL;
    if (c->state != ST_WAIT || !c->keep_alive) {
        /* an unread body, an error or a close: the framing cannot go on */
        start_close(c);
        return;
    }
    c->state = ST_HEAD;
    c->head_started = false;
    arm_timer(c, c->core->gen->settings.client_idle_timeout);
    transport_defer(c->tr, resume_cb);
}

static const struct front_ops h1_front_ops = {
    .send_head = front_send_head,
    .send_data = front_send_data,
    .send_end = front_send_end,
    .send_abort = front_send_abort,
    .pending = front_pending,
    .client_progress = front_client_progress,
    .finished = front_finished,
};

void h1_server_start(struct core *core, struct transport *tr, enum listener_kind kind)
{
    struct h1_conn *c = calloc(1, sizeof *c);
    if (!c) {
        transport_free(tr);
        return;
    }
    c->magic = H1_MAGIC;
    c->core = core;
    c->tr = tr;
    c->listener = kind;
    c->state = ST_HEAD;
    c->keep_alive = true;
    timeout_init(&c->timer, timer_cb, c);
    c->link.shutdown = conn_shutdown;
    core_conn_add(core, &c->link);
    transport_setcb(tr, read_cb, write_cb, event_cb, c);
    transport_set_write_low(tr, WRITE_LOW_WATER);
    /* request bytes that came with the TLS handshake are delivered now */
    transport_enable_read(tr, true);
    arm_timer(c, core->gen->settings.client_header_timeout);
}
