/*
 * upstream: HTTP/2 client connections to the upstream API and the pool that
 * shares them among exchanges. See upstream.h for the contract.
 *
 * Lifetimes: a stream belongs to the pool while it waits, and to its
 * connection's nghttp2 session once submitted; it is freed when it has left
 * both (on_stream_close, or a release while it waits). A connection is never
 * freed inside one of its own callbacks: conn_fail marks it dead and a
 * zero-delay event reaps it. Exchanges are told of results only from event
 * callbacks, never from inside upstream_submit.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "exchange.h"
#include "http.h"
#include "log.h"
#include "timeouts.h"
#include "tls.h"
#include "transport.h"
#include "upstream.h"

#define POOL_MAGIC   0x504f4f4cu /* "POOL" */
#define CONN_MAGIC   0x55434f4eu /* "UCON" */
#define STREAM_MAGIC 0x5553544du /* "USTM" */

/* Flow-control windows we grant the upstream. A stream may have at most
 * STREAM_WINDOW response bytes in flight that the client has not taken:
 * that is the per-exchange memory bound. The connection window covers every
 * stream being full at once, so one slow client never stalls the others. */
#define STREAM_WINDOW (256 * 1024)
#define LOCAL_MAX_STREAMS 100
#define CONN_WINDOW (STREAM_WINDOW * LOCAL_MAX_STREAMS)
/* With less credit than one full DATA frame left, the upstream is waiting
 * for us, not silent (see stream_held_back). */
#define HELD_BACK_WINDOW (16 * 1024)
/* A client holding the window back is stalled once TCP has shown no
 * progress for UPSTREAM_READ_TIMEOUT, and for at least this long: the
 * kernel reopens a slow reader's window in bursts seconds apart (a share
 * of its receive buffer at a time), so a short timeout alone would cut
 * clients that are still reading. */
#define STALLED_CLIENT_MIN_SECS 30
/* Stop producing frames while this much is queued for the socket. */
#define OUTPUT_HIGH (64 * 1024)
/* A refused stream is sent again at most this many times (see
 * anthropic-proxy(8)); past it the client gets a 502. */
#define MAX_REPLAYS 5
#define RESP_HEADERS_GUESS 24
#define RESP_HEADER_BYTES_GUESS 1536

enum conn_state { UC_CONNECTING, UC_READY, UC_GOAWAY, UC_DEAD };
enum timer_kind { TIMER_NONE, TIMER_POOL, TIMER_WRITE, TIMER_READ };

struct upstream_stream {
    uint32_t magic;
    struct upstream_pool *pool;
    struct uconn *conn;             /* NULL while waiting */
    struct exchange *ex;            /* NULL once released */
    struct upstream_stream *prev, *next; /* wait queue or connection list */
    int32_t stream_id;
    bool headers_sent, request_sent, head_seen;
    unsigned idle_periods;          /* read timeouts since it last moved */
    uint64_t client_mark;           /* the client's progress when the read
                                       timer last fired held back */
    unsigned replays;
    uint64_t avoid;                 /* serial of the connection that refused
                                       it: the replay goes elsewhere; 0 none */
    size_t body_off;
    size_t unconsumed;              /* response bytes not yet credited */
    struct timeout timer;
    enum timer_kind timer_kind;
    int status;
    int64_t content_length;
    struct header_list *resp_headers; /* while its HEADERS frame arrives */
    nghttp2_nv *nva;                /* request headers (and the :path and
                                       content-length values), until sent */
};

struct uconn {
    uint32_t magic;
    struct upstream_pool *pool;
    struct uconn *prev, *next;
    struct transport *tr;
    nghttp2_session *session;
    enum conn_state state;
    uint64_t serial;                /* numbers connections from 1 */
    size_t nstreams;
    uint32_t max_streams;
    bool used;                      /* carried a stream before */
    bool in_recv;                   /* inside nghttp2_session_mem_recv */
    struct upstream_stream *streams;
    struct event *timer;            /* connect timeout */
    char why[256];                  /* why it died, for the exchanges */
};

struct upstream_pool {
    uint32_t magic;
    unsigned refs;
    struct event_base *base;
    struct timeout_wheel *timeouts;
    struct evdns_base *dns;
    SSL_CTX *ctx;                   /* NULL for http:// */
    struct upstream_url url;
    char *ca_file;
    int64_t max_conns, max_idle;
    struct timeval connect_tv;      /* the connection's libevent timer */
    double read_s, write_s, pool_s; /* the streams' timers (timeouts.h) */
    struct uconn *conns;
    size_t nconns, nconnecting;
    uint64_t last_serial;
    struct upstream_stream *wait_head, *wait_tail;
    struct event *dispatch_ev;
    struct event *reap_ev;
    bool draining;
};

static void conn_flush(struct uconn *c);
static void conn_fail(struct uconn *c, const char *fmt, ...) APX_PRINTF(2, 3);
static void pool_schedule_dispatch(struct upstream_pool *p);
static void stream_free(struct upstream_stream *s);

/* ---- small helpers ---- */

static struct timeval seconds_tv(double s)
{
    struct timeval tv;
    tv.tv_sec = (time_t)s;
    tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
    return tv;
}

static void stream_arm(struct upstream_stream *s, enum timer_kind kind)
{
    double seconds = kind == TIMER_POOL ? s->pool->pool_s
                     : kind == TIMER_WRITE ? s->pool->write_s
                     : s->pool->read_s;
    s->timer_kind = kind;
    timeout_arm(s->pool->timeouts, &s->timer, seconds);
}

/* Detach the exchange from the stream and tell it the outcome. */
static void stream_fail_exchange(struct upstream_stream *s, int status, const char *msg)
{
    struct exchange *ex = s->ex;
    if (!ex)
        return;
    s->ex = NULL;
    exchange_upstream_fail(ex, status, msg);
}

/* ---- the wait queue ---- */

static void waitq_push(struct upstream_pool *p, struct upstream_stream *s, bool front)
{
    s->prev = s->next = NULL;
    if (!p->wait_head) {
        p->wait_head = p->wait_tail = s;
    } else if (front) {
        s->next = p->wait_head;
        p->wait_head->prev = s;
        p->wait_head = s;
    } else {
        s->prev = p->wait_tail;
        p->wait_tail->next = s;
        p->wait_tail = s;
    }
}

static void waitq_remove(struct upstream_pool *p, struct upstream_stream *s)
{
    if (s->prev) s->prev->next = s->next; else p->wait_head = s->next;
    if (s->next) s->next->prev = s->prev; else p->wait_tail = s->prev;
    s->prev = s->next = NULL;
}

/* ---- per-connection stream list ---- */

static void conn_link_stream(struct uconn *c, struct upstream_stream *s)
{
    s->conn = c;
    s->prev = NULL;
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    c->nstreams++;
}

static void conn_unlink_stream(struct uconn *c, struct upstream_stream *s)
{
    if (s->prev) s->prev->next = s->next; else c->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->conn = NULL;
    c->nstreams--;
}

/* The response head is gathered only while it arrives: a held stream
 * does not keep the list. */
static void resp_headers_free(struct upstream_stream *s)
{
    if (s->resp_headers) {
        header_list_free(s->resp_headers);
        free(s->resp_headers);
        s->resp_headers = NULL;
    }
}

/* Put a stream the upstream never processed back at the head of the queue. */
static void stream_requeue(struct upstream_stream *s)
{
    struct upstream_pool *p = s->pool;
    s->stream_id = 0;
    s->headers_sent = s->request_sent = s->head_seen = false;
    s->body_off = 0;
    s->unconsumed = 0;
    s->status = 0;
    resp_headers_free(s);
    free(s->nva);
    s->nva = NULL;
    s->replays++;
    waitq_push(p, s, true);
    stream_arm(s, TIMER_POOL);
    pool_schedule_dispatch(p);
}

/* ---- nghttp2 callbacks ---- */

static ssize_t body_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                            size_t length, uint32_t *data_flags,
                            nghttp2_data_source *source, void *user_data)
{
    struct upstream_stream *s = source->ptr;
    if (!s->ex)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    size_t left = s->ex->body_len - s->body_off;
    size_t n = left < length ? left : length;
    memcpy(buf, s->ex->body + s->body_off, n);
    s->body_off += n;
    if (s->body_off == s->ex->body_len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_header_cb(nghttp2_session *session, const nghttp2_frame *frame,
                        const uint8_t *name, size_t namelen, const uint8_t *value,
                        size_t valuelen, uint8_t flags, void *user_data)
{
    struct upstream_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s || frame->hd.type != NGHTTP2_HEADERS || s->head_seen)
        return 0; /* trailers and unknown streams are dropped */
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        s->status = atoi((const char *)value);
        return 0;
    }
    if (namelen > 0 && name[0] == ':')
        return 0;
    if (namelen == 14 && memcmp(name, "content-length", 14) == 0) {
        s->content_length = strtoll((const char *)value, NULL, 10);
        return 0;
    }
    if (http_is_hop_by_hop((const char *)name, NULL))
        return 0;
    if (!s->resp_headers ||
        header_list_add_lc(s->resp_headers, (const char *)name, namelen,
                           (const char *)value, valuelen) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

static int on_begin_headers_cb(nghttp2_session *session, const nghttp2_frame *frame,
                               void *user_data)
{
    struct upstream_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s && !s->head_seen) {
        resp_headers_free(s);
        s->resp_headers = calloc(1, sizeof *s->resp_headers);
        if (!s->resp_headers)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
        /* room for a typical answer's head (Anthropic's has ~16 fields,
         * ~800 bytes) at once, not by doubling; failing is no error */
        header_list_reserve(s->resp_headers, RESP_HEADERS_GUESS, RESP_HEADER_BYTES_GUESS);
        s->content_length = -1;
        s->status = 0;
    }
    return 0;
}

/* The response is complete: hand the exchange its end. */
static void stream_end(struct upstream_stream *s)
{
    struct exchange *ex = s->ex;
    if (!ex)
        return;
    s->ex = NULL;
    timeout_cancel(&s->timer);
    exchange_upstream_end(ex);
}

static void on_response_head(struct upstream_stream *s, const nghttp2_frame *frame)
{
    if (s->status >= 100 && s->status < 200)
        return; /* interim response: wait for the final one */
    s->head_seen = true;
    if (s->ex && s->resp_headers)
        exchange_upstream_head(s->ex, s->status, s->resp_headers, s->content_length);
    resp_headers_free(s);
}

static int on_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame,
                            void *user_data)
{
    struct uconn *c = user_data;
    switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
        c->max_streams = nghttp2_session_get_remote_settings(
            session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        if (c->max_streams > LOCAL_MAX_STREAMS)
            c->max_streams = LOCAL_MAX_STREAMS;
        pool_schedule_dispatch(c->pool);
        return 0;
    case NGHTTP2_GOAWAY:
        if (c->state == UC_READY) {
            log_debug("upstream connection got GOAWAY (last stream %d): new streams go "
                      "to another connection", frame->goaway.last_stream_id);
            c->state = UC_GOAWAY;
            pool_schedule_dispatch(c->pool);
        }
        return 0;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
        break;
    default:
        return 0;
    }
    struct upstream_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s)
        return 0;
    if (s->ex && s->request_sent)
        stream_arm(s, TIMER_READ); /* silence is measured from the last frame */
    if (frame->hd.type == NGHTTP2_HEADERS && !s->head_seen)
        on_response_head(s, frame);
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && s->head_seen)
        stream_end(s);
    return 0;
}

static int on_data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                            const uint8_t *data, size_t len, void *user_data)
{
    struct upstream_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s || !s->ex) {
        nghttp2_session_consume(session, stream_id, len);
        return 0;
    }
    s->unconsumed += len;
    exchange_upstream_data(s->ex, data, len);
    return 0;
}

static int on_frame_send_cb(nghttp2_session *session, const nghttp2_frame *frame,
                            void *user_data)
{
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    struct upstream_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS) {
        s->headers_sent = true;
        free(s->nva);
        s->nva = NULL;
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s->request_sent) {
        s->request_sent = true;
        if (s->ex && !s->head_seen)
            stream_arm(s, TIMER_READ);
    }
    return 0;
}

static int on_frame_not_send_cb(nghttp2_session *session, const nghttp2_frame *frame,
                                int lib_error_code, void *user_data)
{
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct upstream_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s) {
        char msg[160];
        snprintf(msg, sizeof msg, "request could not be sent upstream: %s",
                 nghttp2_strerror(lib_error_code));
        stream_fail_exchange(s, 502, msg);
    }
    return 0;
}

static int on_stream_close_cb(nghttp2_session *session, int32_t stream_id,
                              uint32_t error_code, void *user_data)
{
    struct uconn *c = user_data;
    struct upstream_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s)
        return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    if (s->unconsumed)
        nghttp2_session_consume_connection(session, s->unconsumed);
    conn_unlink_stream(c, s);
    if (s->ex && error_code == NGHTTP2_REFUSED_STREAM && !s->head_seen &&
        s->replays < MAX_REPLAYS) {
        log_req(LOG_LVL_DEBUG, s->ex->id, "upstream refused stream %d unprocessed: sending "
                "it again on another connection", stream_id);
        /* this connection may keep refusing (overloaded, shutting down):
         * the replay goes to another one */
        s->avoid = c->serial;
        stream_requeue(s);
    } else if (s->ex) {
        char msg[160];
        snprintf(msg, sizeof msg, "upstream reset the stream (%s)",
                 nghttp2_http2_strerror(error_code));
        stream_fail_exchange(s, 502, msg);
        stream_free(s);
    } else {
        stream_free(s);
    }
    pool_schedule_dispatch(c->pool);
    return 0;
}

static nghttp2_session_callbacks *client_callbacks(void)
{
    static nghttp2_session_callbacks *cbs;
    if (cbs)
        return cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send_cb);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close_cb);
    return cbs;
}

/* ---- connections ---- */

static void conn_free(struct uconn *c)
{
    struct upstream_pool *p = c->pool;
    assert(c->magic == CONN_MAGIC);
    if (c->prev) c->prev->next = c->next; else p->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    p->nconns--;
    if (c->session)
        nghttp2_session_del(c->session);
    if (c->tr)
        transport_free(c->tr);
    event_free(c->timer);
    c->magic = 0;
    free(c);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg);

static void pool_maybe_free(struct upstream_pool *p)
{
    if (p->refs > 0 || p->conns || p->wait_head)
        return;
    event_free(p->dispatch_ev);
    event_free(p->reap_ev);
    if (p->ctx)
        SSL_CTX_free(p->ctx);
    free(p->ca_file);
    p->magic = 0;
    free(p);
}

/* Free dead connections; runs outside any connection callback. */
static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_pool *p = arg;
    struct uconn *c = p->conns;
    while (c) {
        struct uconn *next = c->next;
        if (c->state == UC_DEAD)
            conn_free(c);
        c = next;
    }
    if (p->refs == 0) {
        pool_maybe_free(p);
        return;
    }
    pool_schedule_dispatch(p);
}

/* The connection is unusable: fail or requeue its streams, reap it later. */
static void conn_fail(struct uconn *c, const char *fmt, ...)
{
    if (c->state == UC_DEAD)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    bool was_connecting = c->state == UC_CONNECTING;
    c->state = UC_DEAD;
    if (was_connecting)
        c->pool->nconnecting--;
    if (c->tr)
        transport_enable_read(c->tr, false);
    event_del(c->timer);
    log_msg(c->nstreams > 0 || was_connecting ? LOG_LVL_WARN : LOG_LVL_DEBUG, 0,
            "upstream connection to %s: %s", c->pool->url.authority, c->why);

    while (c->streams) {
        struct upstream_stream *s = c->streams;
        if (c->session)
            nghttp2_session_set_stream_user_data(c->session, s->stream_id, NULL);
        conn_unlink_stream(c, s);
        if (s->ex && !s->headers_sent && s->replays < MAX_REPLAYS) {
            stream_requeue(s); /* never reached the upstream */
            continue;
        }
        char msg[320];
        snprintf(msg, sizeof msg, "upstream connection lost: %s", c->why);
        stream_fail_exchange(s, 502, msg);
        stream_free(s);
    }
    /* A failed connect fails those waiting for it: another try would meet
     * the same fate, and they would only time out later. */
    if (was_connecting && c->pool->nconnecting == 0) {
        bool any_ready = false;
        for (struct uconn *o = c->pool->conns; o; o = o->next)
            any_ready |= o->state == UC_READY;
        char msg[320];
        snprintf(msg, sizeof msg, "upstream unreachable: %s", c->why);
        while (!any_ready && c->pool->wait_head) {
            struct upstream_stream *s = c->pool->wait_head;
            waitq_remove(c->pool, s);
            stream_fail_exchange(s, 502, msg);
            stream_free(s);
        }
    }
    event_active(c->pool->reap_ev, EV_TIMEOUT, 0);
}

static bool conn_alive(const struct uconn *c)
{
    return c->state != UC_DEAD;
}

/* Write what the session has to say, while the socket keeps up. */
static void conn_flush(struct uconn *c)
{
    /* nghttp2 forbids sending from inside its callbacks (a reset sent now
     * would free a stream its caller still uses); conn_read_cb flushes once
     * the frames are handled. */
    if (!conn_alive(c) || !c->session || c->in_recv)
        return;
    while (transport_pending(c->tr) < OUTPUT_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0) {
            conn_fail(c, "HTTP/2 error: %s", nghttp2_strerror((int)n));
            return;
        }
        if (n == 0)
            break;
        struct evbuffer *out = transport_output(c->tr);
        if (!out || evbuffer_add(out, data, (size_t)n) < 0) {
            conn_fail(c, "out of memory");
            return;
        }
    }
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) &&
        transport_pending(c->tr) == 0)
        conn_fail(c, "closed by HTTP/2 session end");
}

/* Should an idle connection be closed? */
static void conn_check_idle(struct uconn *c)
{
    /* a connection being opened was opened for a waiting stream */
    if (!conn_alive(c) || c->nstreams > 0 || c->state == UC_CONNECTING)
        return;
    struct upstream_pool *p = c->pool;
    if (c->state == UC_GOAWAY || p->draining || p->refs == 0) {
        if (c->session)
            nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
        conn_flush(c);
        conn_fail(c, "closed (idle)");
        return;
    }
    int64_t idle = 0;
    for (struct uconn *o = p->conns; o; o = o->next)
        if (o->state == UC_READY && o->nstreams == 0)
            idle++;
    if (idle > p->max_idle) {
        nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
        conn_flush(c);
        conn_fail(c, "closed (more idle connections than UPSTREAM_MAX_KEEPALIVE_CONNECTIONS)");
    }
}

static void conn_read_cb(struct transport *tr, void *arg)
{
    struct uconn *c = arg;
    struct evbuffer *in = transport_input(tr);
    while (conn_alive(c) && evbuffer_get_length(in) > 0) {
        size_t len = evbuffer_get_contiguous_space(in);
        const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)len);
        c->in_recv = true;
        ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
        c->in_recv = false;
        if (n < 0) {
            conn_fail(c, "HTTP/2 protocol error from upstream: %s", nghttp2_strerror((int)n));
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    conn_flush(c);
    conn_check_idle(c);
}

static void conn_write_cb(struct transport *tr, void *arg)
{
    conn_flush(arg);
}

static bool conn_start_session(struct uconn *c)
{
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        return false;
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_peer_max_concurrent_streams(opt, LOCAL_MAX_STREAMS);
    int rv = nghttp2_session_client_new2(&c->session, client_callbacks(), c, opt);
    nghttp2_option_del(opt);
    if (rv != 0)
        return false;
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 256 * 1024 },
    };
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) ||
        nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW))
        return false;
    c->max_streams = LOCAL_MAX_STREAMS;
    return true;
}

static void conn_connected(struct uconn *c)
{
    evutil_socket_t fd = transport_fd(c->tr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->pool->ctx) {
        SSL *ssl = transport_ssl(c->tr);
        const unsigned char *alpn = NULL;
        unsigned alpnlen = 0;
        SSL_get0_alpn_selected(ssl, &alpn, &alpnlen);
        if (alpnlen != 2 || memcmp(alpn, "h2", 2) != 0) {
            conn_fail(c, "the upstream did not agree to HTTP/2 (ALPN h2)");
            return;
        }
    }
    if (!conn_start_session(c)) {
        conn_fail(c, "cannot start an HTTP/2 session");
        return;
    }
    event_del(c->timer);
    c->state = UC_READY;
    c->pool->nconnecting--;
    log_debug("upstream connection to %s ready", c->pool->url.authority);
    conn_flush(c);
    pool_schedule_dispatch(c->pool);
}

/* Why a connect or TLS handshake failed, in words. */
static void describe_failure(struct uconn *c, int what, char *out, size_t size)
{
    int sockerr = transport_socket_error(c->tr);
    int dnserr = transport_dns_error(c->tr);
    const char *tls_reason = NULL;
    long verify = X509_V_OK;
    if (c->pool->ctx) {
        unsigned long last = transport_tls_error(c->tr);
        tls_reason = last ? ERR_reason_error_string(last) : NULL;
        verify = SSL_get_verify_result(transport_ssl(c->tr));
    }
    if (dnserr)
        snprintf(out, size, "cannot resolve %.100s: %s", c->pool->url.host,
                 evutil_gai_strerror(dnserr));
    else if (verify != X509_V_OK)
        snprintf(out, size, "TLS certificate verification failed: %s",
                 X509_verify_cert_error_string(verify));
    else if (tls_reason)
        snprintf(out, size, "TLS error: %s", tls_reason);
    else if (sockerr && (c->state == UC_CONNECTING || !(what & TRANSPORT_EOF)))
        snprintf(out, size, "%s", evutil_socket_error_to_string(sockerr));
    else
        snprintf(out, size, "connection closed by the upstream");
}

static void conn_event_cb(struct transport *tr, int what, void *arg)
{
    struct uconn *c = arg;
    if (what & TRANSPORT_CONNECTED) {
        conn_connected(c);
        return;
    }
    if (what & (TRANSPORT_EOF | TRANSPORT_ERROR)) {
        char why[200];
        describe_failure(c, what, why, sizeof why);
        conn_fail(c, "%s", why);
    }
}

static void conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct uconn *c = arg;
    conn_fail(c, "connect timed out (UPSTREAM_CONNECT_TIMEOUT)");
}

static bool is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static SSL *conn_new_ssl(struct upstream_pool *p)
{
    SSL *ssl = SSL_new(p->ctx);
    if (!ssl)
        return NULL;
    bool ip = is_ip_literal(p->url.host);
    if (!ip)
        SSL_set_tlsext_host_name(ssl, p->url.host);
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, p->url.host)
                : X509_VERIFY_PARAM_set1_host(vp, p->url.host, 0);
    if (!ok) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
    return ssl;
}

static struct uconn *conn_open(struct upstream_pool *p)
{
    struct uconn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->magic = CONN_MAGIC;
    c->pool = p;
    c->state = UC_CONNECTING;
    c->serial = ++p->last_serial;
    c->timer = evtimer_new(p->base, conn_timeout_cb, c);
    SSL *ssl = p->ctx ? conn_new_ssl(p) : NULL;
    if (!p->ctx || ssl)
        c->tr = transport_new(p->base, -1, ssl, TRANSPORT_CONNECT);
    if (!c->timer || !c->tr) {
        if (c->tr)
            transport_free(c->tr);
        if (c->timer)
            event_free(c->timer);
        free(c);
        return NULL;
    }
    transport_setcb(c->tr, conn_read_cb, conn_write_cb, conn_event_cb, c);
    transport_enable_read(c->tr, true);
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    p->nconns++;
    p->nconnecting++;
    event_add(c->timer, &p->connect_tv);
    log_debug("opening upstream connection to %s (%zu open)", p->url.authority, p->nconns);
    if (transport_connect_hostname(c->tr, p->dns, p->url.host, atoi(p->url.port)) < 0)
        conn_fail(c, "cannot start connecting to %s", p->url.authority);
    return c;
}

/* ---- submitting streams ---- */

/* One allocation, freed once the HEADERS frame is sent: the header table,
 * then the values it points to that are not the exchange's own — the
 * :path (the base URL's prefix and the client's target) and the
 * content-length. */
static int build_request_headers(struct upstream_stream *s, size_t *nvlen)
{
    struct exchange *ex = s->ex;
    struct upstream_pool *p = s->pool;
    const char *connection = header_list_get(&ex->req_headers, "connection");
    size_t n = ex->req_headers.n + 6;
    const char *prefix = p->url.prefix;
    size_t plen = strlen(prefix), tlen = strlen(ex->target);
    nghttp2_nv *nva = calloc(1, n * sizeof *nva + plen + tlen + 1 + HTTP_UINT_MAX);
    if (!nva)
        return -1;
    char *path = (char *)(nva + n), *clen = path + plen + tlen + 1;
    memcpy(path, prefix, plen);
    memcpy(path + plen, ex->target, tlen + 1);
    size_t i = 0;
#define NV(nm, val, vl) do { nva[i].name = (uint8_t *)(nm); nva[i].namelen = strlen(nm); \
        nva[i].value = (uint8_t *)(val); nva[i].valuelen = (vl); \
        nva[i].flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE; i++; } while (0)
    NV(":method", ex->method, strlen(ex->method));
    NV(":scheme", p->ctx ? "https" : "http", p->ctx ? 5u : 4u);
    NV(":authority", p->url.authority, strlen(p->url.authority));
    NV(":path", path, plen + tlen);
    bool body_method = strcmp(ex->method, "POST") == 0 || strcmp(ex->method, "PUT") == 0 ||
                       strcmp(ex->method, "PATCH") == 0;
    if (ex->body_len > 0 || body_method) {
        NV("content-length", clen, http_format_uint(clen, ex->body_len));
    }
    bool te_trailers = false;
    for (size_t h = 0; h < ex->req_headers.n; h++) {
        const char *name = header_name(&ex->req_headers, h);
        size_t nlen = ex->req_headers.v[h].name_len;
        if (nlen == 2 && memcmp(name, "te", 2) == 0) {
            /* hop-by-hop, but for "trailers": the one TE h2 allows */
            te_trailers = te_trailers || http_te_has_trailers(header_value(&ex->req_headers, h));
            continue;
        }
        if (http_is_hop_by_hop(name, connection) ||
            (nlen == 14 && memcmp(name, "content-length", 14) == 0) ||
            (nlen == 6 && memcmp(name, "expect", 6) == 0))
            continue;
        NV(name, header_value(&ex->req_headers, h), ex->req_headers.v[h].value_len);
    }
    if (te_trailers)
        NV("te", "trailers", 8);
#undef NV
    s->nva = nva;
    *nvlen = i;
    return 0;
}

static void stream_start(struct uconn *c, struct upstream_stream *s)
{
    size_t nvlen;
    if (build_request_headers(s, &nvlen) < 0) {
        stream_fail_exchange(s, 500, "out of memory");
        stream_free(s);
        return;
    }
    nghttp2_data_provider prd = { .source.ptr = s, .read_callback = body_read_cb };
    int32_t id = nghttp2_submit_request(c->session, NULL, s->nva, nvlen,
                                        s->ex->body_len > 0 ? &prd : NULL, s);
    if (id < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "cannot open an upstream stream: %s", nghttp2_strerror(id));
        stream_fail_exchange(s, 502, msg);
        stream_free(s);
        return;
    }
    s->stream_id = id;
    s->ex->upstream_reused = c->used;
    c->used = true;
    conn_link_stream(c, s);
    stream_arm(s, TIMER_WRITE);
}

/* A ready connection with room for a stream, other than `avoid`. */
static struct uconn *pool_pick(struct upstream_pool *p, uint64_t avoid)
{
    for (struct uconn *c = p->conns; c; c = c->next)
        if (c->state == UC_READY && c->serial != avoid && c->nstreams < c->max_streams &&
            nghttp2_session_check_request_allowed(c->session))
            return c;
    return NULL;
}

static size_t pool_live(const struct upstream_pool *p)
{
    size_t live = 0;
    for (struct uconn *c = p->conns; c; c = c->next)
        live += conn_alive(c);
    return live;
}

/* Can a stream avoiding connection `avoid` ever be placed elsewhere? Not
 * when that connection is the only one and the pool may open no other:
 * then the replay goes back to it rather than wait for a timeout. */
static bool elsewhere_possible(const struct upstream_pool *p, uint64_t avoid)
{
    if (p->nconnecting > 0 || (int64_t)pool_live(p) < p->max_conns)
        return true;
    for (struct uconn *c = p->conns; c; c = c->next)
        if (c->state == UC_READY && c->serial != avoid)
            return true;
    return false;
}

/* The connection for the stream, or NULL if it must wait. */
static struct uconn *stream_place(struct upstream_pool *p, struct upstream_stream *s)
{
    struct uconn *c = pool_pick(p, s->avoid);
    if (!c && s->avoid && !elsewhere_possible(p, s->avoid)) {
        s->avoid = 0;
        c = pool_pick(p, 0);
    }
    return c;
}

/* The first waiting stream that has a connection now, skipping replays
 * that wait for another connection than the one that refused them. */
static struct upstream_stream *waitq_next_placeable(struct upstream_pool *p,
                                                    struct uconn **conn)
{
    for (struct upstream_stream *s = p->wait_head; s; s = s->next) {
        *conn = stream_place(p, s);
        if (*conn)
            return s;
        if (!s->avoid)
            return NULL; /* no room for anyone */
    }
    return NULL;
}

static void dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_pool *p = arg;
    size_t started = 0;
    struct upstream_stream *s;
    struct uconn *c;
    /* rescan from the head each time: starting a stream may fail an
     * exchange, and that may release other waiting streams */
    while ((s = waitq_next_placeable(p, &c))) {
        waitq_remove(p, s);
        timeout_cancel(&s->timer);
        stream_start(c, s);
        if (++started % 16 == 0)
            conn_flush(c);
    }
    for (c = p->conns; c; c = c->next)
        conn_flush(c);
    /* Open another connection if those being opened cannot take the queue
     * (also while draining: a queued stream is a request being finished,
     * e.g. a retry after its wait; and for a replay that must avoid the
     * connection that refused it). */
    size_t waiting = 0;
    for (s = p->wait_head; s; s = s->next)
        waiting++;
    if (waiting > p->nconnecting * LOCAL_MAX_STREAMS && (int64_t)pool_live(p) < p->max_conns)
        conn_open(p);
    for (c = p->conns; c; c = c->next)
        conn_check_idle(c);
}

static void pool_schedule_dispatch(struct upstream_pool *p)
{
    event_active(p->dispatch_ev, EV_TIMEOUT, 0);
}

/* Is the upstream quiet because we hold back its flow-control credit, the
 * client reading slowly? That silence is ours: UPSTREAM_READ_TIMEOUT
 * counts only the upstream's own. */
static bool stream_held_back(const struct upstream_stream *s)
{
    if (!s->conn || !conn_alive(s->conn))
        return false;
    nghttp2_session *session = s->conn->session;
    return nghttp2_session_get_stream_local_window_size(session, s->stream_id) <
               HELD_BACK_WINDOW ||
           nghttp2_session_get_local_window_size(session) < HELD_BACK_WINDOW;
}

/* The read timer fired while the client holds the window back: has the
 * client taken nothing for long enough to be called stalled? If not, the
 * timer is armed again. */
static bool client_stalled(struct upstream_stream *s)
{
    uint64_t progress = exchange_client_progress(s->ex);
    if (progress != s->client_mark) {
        s->client_mark = progress;
        s->idle_periods = 0;
    } else {
        s->idle_periods++;
    }
    if (s->idle_periods > 0 && s->idle_periods * s->pool->read_s >= STALLED_CLIENT_MIN_SECS)
        return true;
    stream_arm(s, TIMER_READ);
    return false;
}

static void stream_timeout_cb(struct timeout *t, void *arg)
{
    (void)t;
    struct upstream_stream *s = arg;
    char msg[160];
    switch (s->timer_kind) {
    case TIMER_POOL:
        waitq_remove(s->pool, s);
        snprintf(msg, sizeof msg, "no upstream connection available within "
                 "UPSTREAM_POOL_TIMEOUT (%ld s)", (long)s->pool->pool_s);
        stream_fail_exchange(s, 503, msg);
        stream_free(s);
        return;
    case TIMER_WRITE:
        stream_fail_exchange(s, 504, "sending the request upstream timed out "
                             "(UPSTREAM_WRITE_TIMEOUT)");
        break;
    case TIMER_READ: {
        bool held = stream_held_back(s);
        if (held && s->ex && !client_stalled(s))
            return;
        if (held)
            snprintf(msg, sizeof msg, "the client took nothing for UPSTREAM_READ_TIMEOUT "
                     "(at least %d s)", STALLED_CLIENT_MIN_SECS);
        else
            snprintf(msg, sizeof msg, "the upstream did not answer in time "
                     "(UPSTREAM_READ_TIMEOUT)");
        stream_fail_exchange(s, 504, msg);
        break;
    }
    default:
        return;
    }
    if (s->conn && conn_alive(s->conn)) {
        nghttp2_submit_rst_stream(s->conn->session, NGHTTP2_FLAG_NONE, s->stream_id,
                                  NGHTTP2_CANCEL);
        conn_flush(s->conn);
    }
}

static void stream_free(struct upstream_stream *s)
{
    assert(s->magic == STREAM_MAGIC);
    timeout_cancel(&s->timer);
    resp_headers_free(s);
    free(s->nva);
    s->magic = 0;
    free(s);
}

int upstream_submit(struct upstream_pool *p, struct exchange *ex)
{
    struct upstream_stream *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->magic = STREAM_MAGIC;
    s->pool = p;
    s->ex = ex;
    s->content_length = -1;
    timeout_init(&s->timer, stream_timeout_cb, s);
    ex->ustream = s;
    waitq_push(p, s, false);
    stream_arm(s, TIMER_POOL);
    pool_schedule_dispatch(p);
    return 0;
}

void upstream_stream_consume(struct upstream_stream *s, size_t n)
{
    assert(s->magic == STREAM_MAGIC);
    if (n > s->unconsumed)
        n = s->unconsumed;
    s->unconsumed -= n;
    if (!s->conn || !conn_alive(s->conn) || n == 0)
        return;
    /* (pending: the response has not ended, its silence is still timed) */
    bool held = s->timer_kind == TIMER_READ && timeout_armed(&s->timer) &&
                stream_held_back(s);
    nghttp2_session_consume(s->conn->session, s->stream_id, n);
    conn_flush(s->conn);
    /* the upstream's silence counts from when it may send again */
    if (held && !stream_held_back(s))
        stream_arm(s, TIMER_READ);
}

void upstream_stream_release(struct upstream_stream *s)
{
    assert(s->magic == STREAM_MAGIC);
    s->ex = NULL;
    timeout_cancel(&s->timer);
    if (!s->conn) { /* still waiting for a connection */
        waitq_remove(s->pool, s);
        stream_free(s);
        return;
    }
    /* The client left: cancel at once so no more tokens are spent on it. */
    if (conn_alive(s->conn)) {
        nghttp2_submit_rst_stream(s->conn->session, NGHTTP2_FLAG_NONE, s->stream_id,
                                  NGHTTP2_CANCEL);
        conn_flush(s->conn);
    }
}

/* ---- the pool ---- */

static void pool_set_limits(struct upstream_pool *p, const struct settings *s)
{
    p->max_conns = s->upstream_max_connections;
    p->max_idle = s->upstream_max_keepalive_connections;
    p->connect_tv = seconds_tv(s->upstream_connect_timeout);
    p->read_s = s->upstream_read_timeout;
    p->write_s = s->upstream_write_timeout;
    p->pool_s = s->upstream_pool_timeout;
}

struct upstream_pool *upstream_pool_new(struct event_base *base, struct timeout_wheel *timeouts,
                                        struct evdns_base *dns, const struct settings *s,
                                        char *err, size_t errlen)
{
    struct upstream_pool *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->magic = POOL_MAGIC;
    p->refs = 1;
    p->base = base;
    p->timeouts = timeouts;
    p->dns = dns;
    p->url = s->upstream;
    p->ca_file = strdup(s->upstream_ca_file ? s->upstream_ca_file : "");
    pool_set_limits(p, s);
    p->dispatch_ev = event_new(base, -1, 0, dispatch_cb, p);
    p->reap_ev = event_new(base, -1, 0, reap_cb, p);
    if (!p->ca_file || !p->dispatch_ev || !p->reap_ev) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (p->url.tls && !(p->ctx = tls_client_ctx(s->upstream_ca_file, err, errlen)))
        goto fail;
    return p;
fail:
    if (p->dispatch_ev)
        event_free(p->dispatch_ev);
    if (p->reap_ev)
        event_free(p->reap_ev);
    free(p->ca_file);
    free(p);
    return NULL;
}

struct upstream_pool *upstream_pool_ref(struct upstream_pool *p)
{
    p->refs++;
    return p;
}

void upstream_pool_unref(struct upstream_pool *p)
{
    assert(p->magic == POOL_MAGIC && p->refs > 0);
    if (--p->refs > 0)
        return;
    for (struct uconn *c = p->conns; c; c = c->next)
        conn_check_idle(c);
    event_active(p->reap_ev, EV_TIMEOUT, 0);
}

int upstream_pool_matches(const struct upstream_pool *p, const struct settings *s)
{
    return memcmp(&p->url, &s->upstream, sizeof p->url) == 0 &&
           strcmp(p->ca_file, s->upstream_ca_file ? s->upstream_ca_file : "") == 0;
}

void upstream_pool_update(struct upstream_pool *p, const struct settings *s)
{
    pool_set_limits(p, s);
}

void upstream_pool_close_all(struct upstream_pool *p)
{
    for (struct uconn *c = p->conns; c; c = c->next)
        if (conn_alive(c))
            conn_fail(c, "closed (the core is stopping)");
}

void upstream_pool_drain(struct upstream_pool *p)
{
    p->draining = true;
    for (struct uconn *c = p->conns; c; c = c->next)
        conn_check_idle(c);
}
