/*
 * h2_server: HTTP/2 connections from clients (curl, nghttp, h2-capable SDKs).
 *
 * nghttp2 does the framing; this file maps streams to exchanges and back.
 * Limits are advertised in SETTINGS and enforced here too: concurrent
 * streams, the size of a request's header list (431), and nghttp2's own
 * guards against rapid-reset, CONTINUATION and SETTINGS floods. Response
 * bytes wait in a small per-stream buffer that nghttp2 drains as the
 * client's flow-control window and the socket allow; the upstream is
 * credited as they leave it.
 *
 * Stream identifiers are checked here as RFC 9113 wants, before nghttp2
 * sees the frame (nghttp2 ignores HEADERS on a lower id it no longer
 * knows): a client stream id not above every one the client opened, for a
 * stream that is not open, is a connection error PROTOCOL_ERROR (5.1.1),
 * unless it names a stream recently closed, where 5.1's rule for closed
 * streams applies (STREAM_CLOSED; frames after our own RST_STREAM are
 * ignored).
 */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "core.h"
#include "exchange.h"
#include "http.h"
#include "log.h"
#include "server.h"
#include "transport.h"

#define H2C_MAGIC 0x48324332u  /* "H2C2" */
#define H2S_MAGIC 0x48325332u  /* "H2S2" */
#define MAX_STREAMS 128
#define MAX_HEADER_LIST (64 * 1024)
/* A header list this large is no mistake but an HPACK bomb (a few bytes
 * naming one big table entry again and again): the connection ends. */
#define BOMB_HEADER_LIST (4 * MAX_HEADER_LIST)
#define STREAM_RECV_WINDOW (1024 * 1024)
#define OUTPUT_HIGH (64 * 1024)
/* Response heads with up to this many fields are built on the stack. */
#define NVA_ON_STACK 40
/* Closed streams remembered with how they closed (RFC 9113 5.1 "closed":
 * an endpoint MAY limit how long it ignores frames after its RST_STREAM). */
#define CLOSED_RING 32

enum closed_how { CLOSED_ENDED, CLOSED_BY_US, CLOSED_BY_CLIENT };
struct closed_stream {
    int32_t id;                    /* 0: empty slot */
    enum closed_how how;
};

struct h2_stream {
    uint32_t magic;
    struct h2_conn *conn;
    int32_t id;
    struct exchange *ex;
    struct header_list headers;    /* collected until the head is complete */
    char *method, *path;
    size_t header_bytes;
    bool too_large;
    bool request_done;
    bool started;                  /* the head is complete: exchange made */
    bool eof;                      /* response end queued */
    bool deferred;                 /* nghttp2 waits for data */
    bool we_reset, client_reset;   /* who sent a RST_STREAM on it */
    struct evbuffer *out;          /* response bytes not yet framed */
    char *resp_head;               /* the response head's names and values,
                                    * until nghttp2 has framed them */
    struct h2_stream *prev, *next; /* the connection's open streams */
};

struct h2_conn {
    uint32_t magic;
    struct core_conn_link link;
    struct core *core;
    struct transport *tr;
    enum listener_kind listener;
    nghttp2_session *session;
    size_t nstreams;
    struct h2_stream *streams;
    struct event *flush_ev;
    struct event *timer;           /* idle, or a request stalled: see arm_timer */
    int32_t max_client_id;         /* highest stream id the client opened */
    struct closed_stream closed[CLOSED_RING];
    unsigned closed_next;
};

static const struct front_ops h2_front_ops;
static void conn_schedule_flush(struct h2_conn *c);

static void stream_free(struct h2_stream *s)
{
    assert(s->magic == H2S_MAGIC);
    struct h2_conn *c = s->conn;
    if (s->prev) s->prev->next = s->next; else c->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    c->nstreams--;
    header_list_free(&s->headers);
    free(s->resp_head);
    free(s->method);
    free(s->path);
    evbuffer_free(s->out);
    s->magic = 0;
    free(s);
}

static void add_timer(struct h2_conn *c, double secs)
{
    struct timeval tv = { (time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6) };
    event_add(c->timer, &tv);
}

/* A stream whose request head or body is still arriving. */
static bool stream_reading(const struct h2_stream *s)
{
    return !s->request_done && (!s->started || (s->ex && s->ex->state == EX_READING));
}

/*
 * One timer per connection, re-armed whenever the client sends: with no
 * stream, CLIENT_IDLE_TIMEOUT ends the connection; with a request still
 * arriving, CLIENT_HEADER_TIMEOUT of silence ends it (as for HTTP/1.1, a
 * head or a body that never ends must not hold the connection forever);
 * with requests waiting only for their answers, no timer.
 */
static void arm_timer(struct h2_conn *c)
{
    if (c->nstreams == 0) {
        add_timer(c, c->core->gen->settings.client_idle_timeout);
        return;
    }
    for (const struct h2_stream *s = c->streams; s; s = s->next)
        if (stream_reading(s)) {
            add_timer(c, c->core->gen->settings.client_header_timeout);
            return;
        }
    event_del(c->timer);
}

/* ---- stream identifiers (RFC 9113 5.1, 5.1.1) ---- */

static void remember_closed(struct h2_conn *c, int32_t id, enum closed_how how)
{
    struct closed_stream *slot = &c->closed[c->closed_next++ % CLOSED_RING];
    slot->id = id;
    slot->how = how;
}

static const struct closed_stream *find_closed(const struct h2_conn *c, int32_t id)
{
    for (int i = 0; i < CLOSED_RING; i++)
        if (c->closed[i].id == id)
            return &c->closed[i];
    return NULL;
}

static bool stream_is_open(const struct h2_conn *c, int32_t id)
{
    for (const struct h2_stream *s = c->streams; s; s = s->next)
        if (s->id == id)
            return true;
    return false;
}

/*
 * Every frame's header, before nghttp2 acts on it. HEADERS and DATA on a
 * client stream id the client has used (or skipped: 5.1.1 closes those
 * implicitly) whose stream is not open here:
 *  - closed by our RST_STREAM, recently: ignored (5.1, "closed");
 *  - ended by both sides, or reset by the client: connection error
 *    STREAM_CLOSED (5.1; a stream error after the client's RST_STREAM may
 *    be raised to a connection error, 5.4.1);
 *  - otherwise: HEADERS opening a stream with an id not above every one
 *    the client opened, connection error PROTOCOL_ERROR (5.1.1); DATA on a
 *    long-closed stream, STREAM_CLOSED.
 * Ids above every one opened are new (HEADERS) or idle (DATA: nghttp2
 * answers PROTOCOL_ERROR itself).
 */
static int on_begin_frame_cb(nghttp2_session *session, const nghttp2_frame_hd *hd, void *arg)
{
    struct h2_conn *c = arg;
    if ((hd->type != NGHTTP2_HEADERS && hd->type != NGHTTP2_DATA) || hd->stream_id <= 0 ||
        !(hd->stream_id & 1))
        return 0;
    if (hd->stream_id > c->max_client_id) {
        /* a new stream, even one nghttp2 then refuses (MAX_STREAMS) */
        if (hd->type == NGHTTP2_HEADERS)
            c->max_client_id = hd->stream_id;
        return 0;
    }
    if (stream_is_open(c, hd->stream_id))
        return 0;
    const struct closed_stream *cs = find_closed(c, hd->stream_id);
    if (cs && cs->how == CLOSED_BY_US)
        return 0;
    uint32_t code = cs || hd->type == NGHTTP2_DATA ? NGHTTP2_STREAM_CLOSED
                                                   : NGHTTP2_PROTOCOL_ERROR;
    log_debug("h2 client connection: %s on %s stream %d: %s",
              hd->type == NGHTTP2_DATA ? "DATA" : "HEADERS",
              cs ? "closed" : "a used or skipped", hd->stream_id,
              code == NGHTTP2_PROTOCOL_ERROR ? "PROTOCOL_ERROR" : "STREAM_CLOSED");
    /* nghttp2 then drops this frame (an id it does not know) or finds the
     * same error; the GOAWAY goes out and the connection ends with it */
    nghttp2_session_terminate_session(session, code);
    return 0;
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers_cb(nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
    struct h2_conn *c = arg;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2_stream *s = calloc(1, sizeof *s);
    if (!s || !(s->out = evbuffer_new())) {
        free(s);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->magic = H2S_MAGIC;
    s->conn = c;
    s->id = frame->hd.stream_id;
    nghttp2_session_set_stream_user_data(session, s->id, s);
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    c->nstreams++;
    return 0;
}

static int set_pseudo(char **field, const uint8_t *value, size_t len)
{
    if (*field)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* duplicate */
    *field = strndup((const char *)value, len);
    return *field ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_header_cb(nghttp2_session *session, const nghttp2_frame *frame,
                        const uint8_t *name, size_t namelen, const uint8_t *value,
                        size_t valuelen, uint8_t flags, void *arg)
{
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s || s->ex)
        return 0; /* trailers are not forwarded */
    /* RFC 9113 6.5.2: each field costs its length plus 32 */
    s->header_bytes += namelen + valuelen + 32;
    if (s->header_bytes > BOMB_HEADER_LIST)
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* ends the connection */
    if (s->header_bytes > MAX_HEADER_LIST) {
        s->too_large = true;
        return 0;
    }
    if (namelen == 7 && memcmp(name, ":method", 7) == 0)
        return set_pseudo(&s->method, value, valuelen);
    if (namelen == 5 && memcmp(name, ":path", 5) == 0)
        return set_pseudo(&s->path, value, valuelen);
    if (namelen > 0 && name[0] == ':')
        return 0; /* :scheme, :authority: the upstream gets its own */
    if (header_list_add_lc(&s->headers, (const char *)name, namelen, (const char *)value,
                        valuelen) < 0)
        s->too_large = true;
    return 0;
}

/* The request head is complete: make the exchange. */
static void start_exchange(struct h2_conn *c, struct h2_stream *s)
{
    s->started = true;
    struct exchange *ex = exchange_new(c->core, c->listener, &h2_front_ops, s, "h2");
    if (!ex) {
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    s->ex = ex;
    const char *method = s->method ? s->method : "-";
    const char *path = s->path ? s->path : "-";
    if (exchange_set_request(ex, method, strlen(method), path, strlen(path)) < 0) {
        exchange_fail(ex, 500, "out of memory");
        return;
    }
    ex->req_headers = s->headers;
    memset(&s->headers, 0, sizeof s->headers);
    if (s->too_large) {
        exchange_fail(ex, 431, "request header list larger than 64 KiB");
        return;
    }
    if (!s->method || !s->path || s->path[0] != '/') {
        exchange_fail(ex, 400, "request without :method or an origin-form :path");
        return;
    }
    const char *cl = header_list_get(&ex->req_headers, "content-length");
    long long len = cl ? strtoll(cl, NULL, 10) : 0;
    if (len > ex->gen->settings.max_request_body)
        exchange_fail(ex, 413, "request body larger than MAX_REQUEST_BODY");
    else if (len > 0 && exchange_reserve_body(ex, (size_t)len) < 0)
        exchange_fail(ex, 500, "out of memory");
}

static void request_done(struct h2_stream *s)
{
    s->request_done = true;
    if (s->ex)
        exchange_request_complete(s->ex);
}

static int on_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
    struct h2_conn *c = arg;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        struct h2_stream *r = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (r)
            r->client_reset = true;
        return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        start_exchange(c, s);
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s->request_done)
        request_done(s);
    return 0;
}

static int on_data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                            const uint8_t *data, size_t len, void *arg)
{
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s || !s->ex || s->ex->state != EX_READING)
        return 0; /* already answered (413, 431...): the rest is dropped */
    int status;
    if (exchange_append_body(s->ex, data, len, &status) < 0)
        exchange_fail(s->ex, status, status == 413 ? "request body larger than MAX_REQUEST_BODY"
                                                   : "out of memory");
    return 0;
}

/*
 * A response ended before its request did (a 408, a 413, an early error):
 * RFC 9113 8.1 lets the server stop the upload with RST_STREAM(NO_ERROR)
 * once the response is complete. Without it a client that never finishes
 * its request keeps the stream, and so the connection, open for good.
 */
static int on_frame_send_cb(nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        struct h2_stream *r = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (r && !r->client_reset)
            r->we_reset = true;
        else if (!r) /* a stream nghttp2 refused before we made one */
            remember_closed(arg, frame->hd.stream_id, CLOSED_BY_US);
        return 0;
    }
    bool head = frame->hd.type == NGHTTP2_HEADERS;
    bool end = (head || frame->hd.type == NGHTTP2_DATA) &&
               (frame->hd.flags & NGHTTP2_FLAG_END_STREAM);
    if (!head && !end)
        return 0;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s && head) {
        free(s->resp_head); /* framed: see front_send_head */
        s->resp_head = NULL;
    }
    if (s && end && !s->request_done)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close_cb(nghttp2_session *session, int32_t stream_id,
                              uint32_t error_code, void *arg)
{
    struct h2_conn *c = arg;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s)
        return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    remember_closed(c, s->id, s->we_reset ? CLOSED_BY_US
                              : s->client_reset ? CLOSED_BY_CLIENT : CLOSED_ENDED);
    if (s->ex) {
        struct exchange *ex = s->ex;
        s->ex = NULL;
        exchange_client_gone(ex);
    }
    stream_free(s);
    if (c->nstreams == 0)
        arm_timer(c);
    return 0;
}

static nghttp2_session_callbacks *server_callbacks(void)
{
    static nghttp2_session_callbacks *cbs;
    if (cbs)
        return cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send_cb);
    return cbs;
}

/* ---- the connection ---- */

/* End every stream's exchange, then free the connection. Never called
 * from inside an nghttp2 callback. */
static void conn_close(struct h2_conn *c)
{
    assert(c->magic == H2C_MAGIC);
    while (c->streams) {
        struct h2_stream *s = c->streams;
        nghttp2_session_set_stream_user_data(c->session, s->id, NULL);
        if (s->ex) {
            struct exchange *ex = s->ex;
            s->ex = NULL;
            exchange_client_gone(ex);
        }
        stream_free(s);
    }
    nghttp2_session_del(c->session);
    core_conn_remove(c->core, &c->link);
    transport_free(c->tr);
    event_free(c->flush_ev);
    event_free(c->timer);
    c->magic = 0;
    free(c);
}

/* Frame what nghttp2 has to send while the socket keeps up. Returns -1 if
 * the connection is over and has been freed. */
static int conn_flush(struct h2_conn *c)
{
    while (transport_pending(c->tr) < OUTPUT_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0) {
            log_debug("h2 client connection: %s", nghttp2_strerror((int)n));
            conn_close(c);
            return -1;
        }
        if (n == 0)
            break;
        struct evbuffer *out = transport_output(c->tr);
        if (!out || evbuffer_add(out, data, (size_t)n) < 0) {
            log_warn("h2 client connection closed: out of memory");
            conn_close(c);
            return -1;
        }
    }
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) &&
        transport_pending(c->tr) == 0) {
        conn_close(c);
        return -1;
    }
    return 0;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    conn_flush(arg);
}

static void conn_schedule_flush(struct h2_conn *c)
{
    event_active(c->flush_ev, EV_TIMEOUT, 0);
}

static void read_cb(struct transport *tr, void *arg)
{
    struct h2_conn *c = arg;
    struct evbuffer *in = transport_input(tr);
    while (evbuffer_get_length(in) > 0) {
        size_t len = evbuffer_get_contiguous_space(in);
        const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)len);
        ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
        if (n < 0) {
            log_debug("h2 client connection closed: %s", nghttp2_strerror((int)n));
            /* nghttp2 queued a GOAWAY saying why; send it, then close */
            if (conn_flush(c) == 0)
                conn_close(c);
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    arm_timer(c);
    conn_flush(c);
}

static void write_cb(struct transport *tr, void *arg)
{
    conn_flush(arg);
}

static void event_cb(struct transport *tr, int what, void *arg)
{
    if (what & (TRANSPORT_EOF | TRANSPORT_ERROR))
        conn_close(arg);
}

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2_conn *c = arg;
    bool mid_head = false;
    /* a stalled body is answered 408 on its stream; the others go on */
    for (struct h2_stream *s = c->streams; s; s = s->next) {
        if (!stream_reading(s))
            continue;
        if (s->ex)
            exchange_fail(s->ex, 408, "request body stalled for CLIENT_HEADER_TIMEOUT");
        else
            mid_head = true; /* !started */
    }
    if (c->nstreams > 0 && !mid_head) {
        arm_timer(c);
        conn_schedule_flush(c);
        return;
    }
    /* idle, or a head that never ends: nothing can be answered in the middle
     * of a header block, so the whole connection goes */
    if (mid_head)
        log_debug("h2 client connection closed: a request head stalled for CLIENT_HEADER_TIMEOUT");
    nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
    conn_flush(c); /* closes the connection once the GOAWAY is out */
}

static void conn_shutdown(struct core_conn_link *link)
{
    struct h2_conn *c = (struct h2_conn *)((char *)link - offsetof(struct h2_conn, link));
    /* finish the streams we have, accept no new ones */
    nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(c->session),
                          NGHTTP2_NO_ERROR, NULL, 0);
    conn_schedule_flush(c); /* nghttp2 ends the session when its streams are done */
}

/* ---- front_ops ---- */

static ssize_t response_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                                size_t length, uint32_t *data_flags,
                                nghttp2_data_source *source, void *arg)
{
    struct h2_stream *s = source->ptr;
    size_t avail = evbuffer_get_length(s->out);
    if (avail == 0 && !s->eof) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    int n = evbuffer_remove(s->out, buf, length);
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (s->eof && evbuffer_get_length(s->out) == 0)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->ex && n > 0)
        exchange_front_drained(s->ex);
    return n;
}

static void resume(struct h2_stream *s)
{
    if (s->deferred) {
        s->deferred = false;
        nghttp2_session_resume_data(s->conn->session, s->id);
    }
    conn_schedule_flush(s->conn);
}

/*
 * nghttp2 would copy every name and value of the head one by one; the
 * stream keeps one copy of the list's buffer instead, and nghttp2 points
 * into it (NO_COPY) until the HEADERS frame is out (on_frame_send_cb) or
 * the stream is gone: the caller's list may be freed as soon as we return.
 */
static int front_send_head(void *ctx, int status, const struct header_list *h,
                           int64_t content_length, bool end)
{
    struct h2_stream *s = ctx;
    const uint8_t nocopy = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
    nghttp2_nv stack_nva[NVA_ON_STACK];
    nghttp2_nv *nva = h->n + 2 <= NVA_ON_STACK ? stack_nva : calloc(h->n + 2, sizeof *nva);
    char *copy = malloc(h->used ? h->used : 1);
    int rv = -1;
    /* one head per stream: a second would free what nghttp2 still reads */
    if (!nva || !copy || status < 0 || s->resp_head)
        goto done;
    if (h->used)
        memcpy(copy, h->buf, h->used);
    char st[24], cl[24];
    size_t stlen = http_format_uint(st, (uint64_t)status);
    size_t n = 0;
    nva[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)st, 7, stlen,
                             NGHTTP2_NV_FLAG_NO_COPY_NAME };
    for (size_t i = 0; i < h->n; i++) {
        const struct header_entry *e = &h->v[i];
        if (http_is_hop_by_hop(copy + e->name_off, NULL))
            continue;
        nva[n++] = (nghttp2_nv){ (uint8_t *)copy + e->name_off, (uint8_t *)copy + e->value_off,
                                 e->name_len, e->value_len, nocopy };
    }
    if (content_length >= 0) {
        size_t cllen = http_format_uint(cl, (uint64_t)content_length);
        nva[n++] = (nghttp2_nv){ (uint8_t *)"content-length", (uint8_t *)cl, 14, cllen,
                                 NGHTTP2_NV_FLAG_NO_COPY_NAME };
    }
    nghttp2_data_provider prd = { .source.ptr = s, .read_callback = response_read_cb };
    if (nghttp2_submit_response(s->conn->session, s->id, nva, n, end ? NULL : &prd) != 0)
        goto done;
    free(s->resp_head);
    s->resp_head = copy;
    copy = NULL;
    if (end)
        s->eof = true;
    conn_schedule_flush(s->conn);
    rv = 0;
done:
    if (nva != stack_nva)
        free(nva);
    free(copy);
    return rv;
}

static int front_send_data(void *ctx, const uint8_t *p, size_t n)
{
    struct h2_stream *s = ctx;
    if (evbuffer_add(s->out, p, n) < 0)
        return -1;
    resume(s);
    return 0;
}

static int front_send_end(void *ctx)
{
    struct h2_stream *s = ctx;
    s->eof = true;
    resume(s);
    return 0;
}

static void front_send_abort(void *ctx)
{
    struct h2_stream *s = ctx;
    nghttp2_submit_rst_stream(s->conn->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    conn_schedule_flush(s->conn);
}

static size_t front_pending(void *ctx)
{
    struct h2_stream *s = ctx;
    return evbuffer_get_length(s->out);
}

/* the connection's: one stream's bytes cannot be told apart in TCP's count */
static uint64_t front_client_progress(void *ctx)
{
    struct h2_stream *s = ctx;
    return transport_bytes_acked(s->conn->tr);
}

static void front_finished(void *ctx)
{
    struct h2_stream *s = ctx;
    s->ex = NULL;
}

static const struct front_ops h2_front_ops = {
    .send_head = front_send_head,
    .send_data = front_send_data,
    .send_end = front_send_end,
    .send_abort = front_send_abort,
    .pending = front_pending,
    .client_progress = front_client_progress,
    .finished = front_finished,
};

static bool start_session(struct h2_conn *c)
{
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        return false;
    /* Flood guards: nghttp2's defaults, stated so a reader sees them. */
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    int rv = nghttp2_session_server_new2(&c->session, server_callbacks(), c, opt);
    nghttp2_option_del(opt);
    if (rv != 0)
        return false;
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_RECV_WINDOW },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST },
        { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
    };
    return nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv,
                                   sizeof iv / sizeof iv[0]) == 0;
}

void h2_server_start(struct core *core, struct transport *tr, enum listener_kind kind)
{
    struct h2_conn *c = calloc(1, sizeof *c);
    if (!c) {
        transport_free(tr);
        return;
    }
    c->magic = H2C_MAGIC;
    c->core = core;
    c->tr = tr;
    c->listener = kind;
    c->flush_ev = event_new(core->base, -1, 0, flush_cb, c);
    c->timer = evtimer_new(core->base, idle_cb, c);
    if (!c->flush_ev || !c->timer || !start_session(c)) {
        if (c->flush_ev)
            event_free(c->flush_ev);
        if (c->timer)
            event_free(c->timer);
        if (c->session)
            nghttp2_session_del(c->session);
        free(c);
        transport_free(tr);
        return;
    }
    c->link.shutdown = conn_shutdown;
    core_conn_add(core, &c->link);
    transport_setcb(tr, read_cb, write_cb, event_cb, c);
    transport_set_write_low(tr, OUTPUT_HIGH / 2);
    /* frames that came with the TLS handshake are delivered now */
    transport_enable_read(tr, true);
    arm_timer(c);
    conn_flush(c);
}
