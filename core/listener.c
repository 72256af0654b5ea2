/*
 * listener: accepting client connections and completing their TLS
 * handshake within CLIENT_HEADER_TIMEOUT, then handing them to the HTTP/1.1
 * or h2 server according to ALPN. It never reads a request byte.
 *
 * Beyond MAX_CLIENT_CONNECTIONS a connection is refused politely: after the
 * handshake (HTTP/1.1 forced by ALPN) it gets a 503 with an Anthropic-shaped
 * overloaded_error, so SDKs retry instead of reporting a broken connection.
 * At most MAX_REFUSING refusals run at once; past that, accept-and-close,
 * so that a flood cannot make refusing cost more than serving.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "core.h"
#include "counters.h"
#include "http.h"
#include "log.h"
#include "server.h"
#include "tls.h"
#include "transport.h"

#define MAX_REFUSING 64

/* TLS handshakes in progress at once; past it, accepting pauses and new
 * connections wait in the kernel's backlog. A handshake holds ~30 KiB of
 * temporary buffers: a burst of a thousand clients would otherwise take
 * them all at once and leave the heap fragmented (half again the memory
 * of the connections themselves), for no gain, as the loop does one
 * handshake at a time anyway. Each completed handshake lets the next one
 * start. Clients that connect and never finish their handshake must not
 * stop the others: when none completes for HANDSHAKE_PAUSE_MS, the limit
 * is raised so that MAX_HANDSHAKES more may start (it falls back once the
 * stalled ones are gone). */
#define MAX_HANDSHAKES 32
#define HANDSHAKE_PAUSE_MS 100

struct listener {
    struct core *core;
    enum listener_kind kind;
    bool tls;
    bool paused;            /* accepting stopped at `limit` handshakes */
    bool closed;            /* listener_free called: freed with the last handshake */
    unsigned handshakes;    /* in progress */
    unsigned limit;         /* MAX_HANDSHAKES, raised by pauses that ran out */
    struct evconnlistener *ev;
    struct event *pause_timer;
};

/* A connection between accept and the end of its TLS handshake. */
struct handshake {
    struct core *core;
    struct listener *listener;
    enum listener_kind kind;
    struct transport *tr;
    struct event *timer;
    struct core_conn_link link;
    bool refuse;                 /* over the limit: answer 503, then close */
    bool answered;               /* the 503 is queued: waiting for it to leave */
};

static void listener_resume(struct listener *l)
{
    l->paused = false;
    event_del(l->pause_timer);
    evconnlistener_enable(l->ev);
}

/* One more handshake: pause accepting at the limit. */
static void listener_handshake_started(struct listener *l)
{
    if (++l->handshakes < l->limit)
        return;
    evconnlistener_disable(l->ev);
    if (l->paused)
        return;
    l->paused = true;
    struct timeval tv = { 0, HANDSHAKE_PAUSE_MS * 1000 };
    event_add(l->pause_timer, &tv);
}

/* One handshake fewer: accept again if that was what held it back. */
static void listener_handshake_done(struct listener *l)
{
    l->handshakes--;
    if (l->closed) {
        if (l->handshakes == 0)
            free(l);
        return;
    }
    if (l->handshakes < MAX_HANDSHAKES)
        l->limit = MAX_HANDSHAKES;
    if (l->paused && l->handshakes < l->limit)
        listener_resume(l);
}

/* The pause ran out with the handshakes still in progress (slow or idle
 * clients): let as many again start. */
static void pause_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct listener *l = arg;
    l->limit = l->handshakes + MAX_HANDSHAKES;
    listener_resume(l);
}

static uint64_t refusing;        /* refusals in progress (one event loop) */

static struct timeval seconds_tv(double s)
{
    struct timeval tv = { (time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6) };
    return tv;
}

static void handshake_free(struct handshake *hs, bool close_tr)
{
    listener_handshake_done(hs->listener);
    core_conn_remove(hs->core, &hs->link);
    if (hs->refuse)
        refusing--;
    if (close_tr)
        transport_free(hs->tr);
    event_free(hs->timer);
    free(hs);
}

static void handshake_event_cb(struct transport *tr, int what, void *arg);

/* The refusal has left: half-close and read until the client closes, so
 * that its unread request does not turn our close into a reset that would
 * destroy the 503 before the client reads it. */
static void refusal_write_cb(struct transport *tr, void *arg)
{
    if (transport_pending(tr) == 0)
        shutdown(transport_fd(tr), SHUT_WR);
}

static void refusal_read_cb(struct transport *tr, void *arg)
{
    struct evbuffer *in = transport_input(tr);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void send_refusal(struct handshake *hs)
{
    static const char msg[] = "too many client connections (MAX_CLIENT_CONNECTIONS); retry later";
    char body[256], head[256];
    size_t blen = http_error_body_typed(body, sizeof body, "overloaded_error", msg);
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 503 %s\r\ncontent-type: application/json\r\n"
                        "content-length: %zu\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
                        http_reason(503), blen);
    struct evbuffer *out = transport_output(hs->tr);
    hs->answered = true;
    transport_setcb(hs->tr, refusal_read_cb, refusal_write_cb, handshake_event_cb, hs);
    transport_enable_read(hs->tr, true);
    if (!out || evbuffer_add(out, head, (size_t)hlen) < 0 || evbuffer_add(out, body, blen) < 0)
        handshake_free(hs, true); /* out of memory: no answer but a close */
}

static void handshake_event_cb(struct transport *tr, int what, void *arg)
{
    struct handshake *hs = arg;
    if (hs->answered) { /* EOF or error after the 503: done */
        handshake_free(hs, true);
        return;
    }
    if (!(what & TRANSPORT_CONNECTED)) {
        log_debug("TLS handshake with a client failed");
        handshake_free(hs, true);
        return;
    }
    if (hs->refuse) {
        send_refusal(hs);
        return;
    }
    SSL *ssl = transport_ssl(tr);
    const unsigned char *alpn = NULL;
    unsigned alpnlen = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpnlen);
    struct core *core = hs->core;
    enum listener_kind kind = hs->kind;
    handshake_free(hs, false);
    if (alpnlen == 2 && memcmp(alpn, "h2", 2) == 0)
        h2_server_start(core, tr, kind);
    else
        h1_server_start(core, tr, kind);
}

static void handshake_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct handshake *hs = arg;
    if (!hs->answered)
        log_debug("TLS handshake timed out (CLIENT_HEADER_TIMEOUT)");
    handshake_free(arg, true);
}

static void handshake_shutdown(struct core_conn_link *link)
{
    struct handshake *hs = (struct handshake *)((char *)link - offsetof(struct handshake, link));
    handshake_free(hs, true);
}

/*
 * A connection between accept and its handoff: the TLS handshake on the
 * main port, or straight to the refusal on the plain one. CLIENT_HEADER_TIMEOUT
 * bounds the handshake and, for a refusal, the whole exchange.
 */
static void start_conn(struct listener *l, evutil_socket_t fd, bool refuse)
{
    struct core *core = l->core;
    SSL *ssl = NULL;
    struct handshake *hs = calloc(1, sizeof *hs);
    if (!hs || (l->tls && !(ssl = SSL_new(core->gen->server_ctx))))
        goto fail;
    hs->core = core;
    hs->listener = l;
    hs->kind = l->kind;
    hs->refuse = refuse;
    hs->timer = evtimer_new(core->base, handshake_timeout_cb, hs);
    if (l->tls) {
        if (refuse)
            tls_force_http1(ssl); /* the 503 is written in HTTP/1.1 */
    }
    /* the transport owns fd and ssl from here, also when it fails */
    hs->tr = transport_new(core->base, fd, ssl, l->tls ? TRANSPORT_ACCEPT : TRANSPORT_OPEN);
    ssl = NULL;
    fd = -1;
    if (!hs->timer || !hs->tr)
        goto fail;
    transport_setcb(hs->tr, NULL, NULL, handshake_event_cb, hs);
    struct timeval tv = seconds_tv(core->gen->settings.client_header_timeout);
    event_add(hs->timer, &tv);
    hs->link.shutdown = handshake_shutdown;
    core_conn_add(core, &hs->link);
    listener_handshake_started(l);
    if (refuse)
        refusing++;
    if (refuse && !l->tls)
        send_refusal(hs);
    return;
fail:
    log_warn("cannot accept a connection: out of memory");
    if (hs && hs->tr)
        transport_free(hs->tr); /* frees ssl and closes fd */
    if (hs && hs->timer)
        event_free(hs->timer);
    free(hs);
    if (ssl)
        SSL_free(ssl);
    if (fd >= 0)
        evutil_closesocket(fd);
}

static void count_refusal(struct core *core, bool answered)
{
    struct counter_slot *c = counters_get(core->counters, answered
        ? "client_connections_refused_total{how=\"503\"}"
        : "client_connections_refused_total{how=\"closed\"}");
    if (c)
        c->value++;
}

static void accept_cb(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    struct listener *l = arg;
    struct core *core = l->core;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* refusals in progress do not take a client's place */
    if ((int64_t)(core->client_connections - refusing) >= core->gen->settings.max_client_connections) {
        static time_t last;
        time_t now = time(NULL);
        bool answer = refusing < MAX_REFUSING;
        if (now != last)
            log_warn("refusing client connections: MAX_CLIENT_CONNECTIONS (%lld) reached",
                     (long long)core->gen->settings.max_client_connections);
        last = now;
        count_refusal(core, answer);
        if (answer)
            start_conn(l, fd, true);
        else
            evutil_closesocket(fd);
        return;
    }
    if (l->tls) {
        start_conn(l, fd, false);
        return;
    }
    struct transport *tr = transport_new(core->base, fd, NULL, TRANSPORT_OPEN);
    if (tr)
        h1_server_start(core, tr, l->kind);
}

static void resume_accept_cb(evutil_socket_t fd, short what, void *arg)
{
    evconnlistener_enable(arg);
}

static void accept_error_cb(struct evconnlistener *ev, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    log_warn("accept failed: %s", evutil_socket_error_to_string(err));
    /* Out of file descriptors: pause briefly rather than spin. */
    evconnlistener_disable(ev);
    struct timeval tv = { 0, 100000 };
    event_base_once(evconnlistener_get_base(ev), -1, EV_TIMEOUT, resume_accept_cb, ev, &tv);
}

struct listener *listener_start(struct core *core, int fd, enum listener_kind kind, bool tls)
{
    struct listener *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->core = core;
    l->kind = kind;
    l->tls = tls;
    l->limit = MAX_HANDSHAKES;
    l->pause_timer = evtimer_new(core->base, pause_timeout_cb, l);
    if (!l->pause_timer) {
        free(l);
        return NULL;
    }
    evutil_make_socket_nonblocking(fd);
    /* backlog 0: the supervisor already called listen() */
    l->ev = evconnlistener_new(core->base, accept_cb, l, LEV_OPT_CLOSE_ON_FREE, 0, fd);
    if (!l->ev) {
        event_free(l->pause_timer);
        free(l);
        return NULL;
    }
    evconnlistener_set_error_cb(l->ev, accept_error_cb);
    return l;
}

void listener_free(struct listener *l)
{
    if (!l)
        return;
    evconnlistener_free(l->ev);
    l->ev = NULL;
    event_free(l->pause_timer);
    l->pause_timer = NULL;
    l->closed = true;
    if (l->handshakes == 0)
        free(l); /* else the last handshake frees it */
}
