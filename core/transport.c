/*
 * transport: a connection's bytes between its socket and two evbuffers (each
 * made only while it holds bytes), in the clear or through OpenSSL (see
 * transport.h for why it exists).
 *
 * One event on the socket (an event is 128 bytes, and a held connection
 * should cost little): it watches for input while reading is on (or TLS
 * needs to read to go on writing), and for writability only while the
 * socket is full or a connect is in progress. Queued output is written by
 * activating the event by hand ("kicking" it), so everything the callbacks
 * of one loop pass queued leaves in one SSL_write per 16 KiB record.
 * Callbacks are only ever called from io_cb; `depth` counts them on the
 * stack so that transport_free, called from one of them, leaves the
 * freeing to io_cb.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_acked */

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls_bio.h"
#include "transport.h"

#define TRANSPORT_MAGIC 0x5452414eu /* "TRAN" */
/* A TLS record's worth of plaintext: the unit of reads and writes. */
#define RECORD (16 * 1024)
/* Bytes read or written per event before letting other connections run. */
#define READ_PER_EVENT (64 * 1024)
#define WRITE_PER_EVENT (256 * 1024)

enum state {
    ST_RESOLVING,   /* waiting for the resolver */
    ST_CONNECTING,  /* connect() in progress */
    ST_HANDSHAKE,   /* TLS handshake in progress */
    ST_OPEN,
    ST_FAILED,      /* failed before any callback could be told: tell it next pass */
    ST_DONE,        /* EOF or error reported: no more I/O */
};

/* What only a transport that connects out needs (the upstream's). */
struct connecting {
    struct event *defer_ev;    /* resolver answers, early failures */
    struct evdns_getaddrinfo_request *dns_req;
    struct evutil_addrinfo *ai; /* the resolver's answer, until defer_cb connects */
    int dns_err;
};

struct transport {
    uint32_t magic;
    enum state state;
    struct event_base *base;
    SSL *ssl;
    struct evbuffer *in, *out; /* each only while it holds bytes: buffer_drop */
    struct event *ev;          /* on fd, once there is one */
    struct connecting *conn;   /* NULL for accepted transports */

    transport_data_cb read_cb, write_cb;
    transport_event_cb event_cb;
    transport_data_cb defer_cb; /* transport_defer's, until it runs */
    void *arg;
    size_t write_low;
    unsigned long tls_err;

    evutil_socket_t fd;
    int sock_err;
    unsigned depth;            /* io_cb frames on the stack */
    short watching;            /* EV_READ | EV_WRITE it is added for */
    short kicked;              /* activated by hand, not yet run */
    bool read_on;           /* the owner wants input */
    bool hs_wants_write;    /* the handshake waits for writability, not input */
    bool read_wants_write;  /* SSL_read needs the socket writable to go on */
    bool write_wants_read;  /* SSL_write needs input to go on */
    bool write_blocked;     /* the socket is full */
    bool flush_pending;     /* kicked for queued output */
    bool freed;             /* transport_free called while callbacks ran */
    bool write_shut;        /* transport_shutdown_write: nothing more to send */
};

static void io_cb(evutil_socket_t fd, short what, void *arg);

/* ---- watching the socket ---- */

/* Run io_cb on this loop pass with `what`, as if the socket said so. */
static void kick(struct transport *t, short what)
{
    t->kicked |= what;
    event_active(t->ev, what, 0);
}

/* Watch for exactly `want`. Changing what one event watches means taking
 * it out and putting it back, which also drops a kick it had: kick it
 * again. Changes are rare (a full socket, reading turned off). */
static void watch(struct transport *t, short want)
{
    if (want == t->watching)
        return;
    if (t->watching || t->kicked)
        event_del(t->ev);
    event_assign(t->ev, t->base, t->fd, want | EV_PERSIST, io_cb, t);
    t->watching = want;
    if (want)
        event_add(t->ev, NULL);
    if (t->kicked)
        event_active(t->ev, t->kicked, 0);
}

/* Watch exactly what the state needs; nothing to do when nothing changed. */
static void update_watch(struct transport *t)
{
    if (!t->ev)
        return;
    bool r = false, w = false;
    switch (t->state) {
    case ST_CONNECTING:
        w = true;
        break;
    case ST_HANDSHAKE:
        r = !t->hs_wants_write;
        w = t->hs_wants_write;
        break;
    case ST_OPEN:
        r = (t->read_on && !t->read_wants_write) || t->write_wants_read;
        w = t->write_blocked || t->read_wants_write;
        break;
    default:
        break;
    }
    watch(t, (short)((r ? EV_READ : 0) | (w ? EV_WRITE : 0)));
}

static int set_fd(struct transport *t, evutil_socket_t fd)
{
    t->fd = fd;
    t->ev = event_new(t->base, fd, EV_PERSIST, io_cb, t);
    if (!t->ev)
        return -1;
    if (t->ssl && tls_bio_attach(t->ssl) < 0)
        return -1;
    return 0;
}

/* Write on the next loop pass, after the callbacks queuing output now. */
static void schedule_flush(struct transport *t)
{
    if (t->flush_pending || t->write_blocked || t->state != ST_OPEN)
        return;
    t->flush_pending = true;
    kick(t, EV_WRITE);
}

/* ---- errors ---- */

/* Keep the last OpenSSL error code and empty the queue, so that the next
 * SSL_get_error is not misled by it. */
static void take_tls_error(struct transport *t)
{
    unsigned long e;
    while ((e = ERR_get_error()) != 0)
        t->tls_err = e;
}

/* SSL_get_error needs an empty queue. take_tls_error empties it after each
 * failure of ours; this catches what others left, cheaply: ERR_clear_error
 * costs about 800 instructions even on an empty queue, a peek a tenth. */
static void expect_empty_error_queue(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* The transport is finished: stop watching and tell the owner. */
static void report_end(struct transport *t, int what)
{
    t->state = ST_DONE;
    update_watch(t);
    if (t->event_cb)
        t->event_cb(t, what, t->arg);
}

/* SSL_read/SSL_write/SSL_do_handshake returned r <= 0: 0 to wait (the
 * wants_* flag set), or TRANSPORT_EOF / TRANSPORT_ERROR. */
static int tls_outcome(struct transport *t, int r, bool *wants_read, bool *wants_write)
{
    int saved_errno = errno;
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        *wants_read = true;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        *wants_write = true;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return TRANSPORT_EOF;
    case SSL_ERROR_SYSCALL:
        take_tls_error(t);
        /* a peer that closes without close_notify, as many clients do,
         * is an end like any other */
        if (saved_errno == 0 || saved_errno == ECONNRESET || saved_errno == EPIPE) {
            t->sock_err = saved_errno;
            return saved_errno == 0 ? TRANSPORT_EOF : TRANSPORT_EOF | TRANSPORT_ERROR;
        }
        t->sock_err = saved_errno;
        return TRANSPORT_ERROR;
    default:
        take_tls_error(t);
        return TRANSPORT_ERROR;
    }
}

/* ---- buffers ---- */

/* An empty buffer is freed, not kept: a thousand held streams, idle
 * between two events, would otherwise keep two each (about 300 bytes a
 * connection). Making one again costs a small allocation per burst. */
static void buffer_drop(struct evbuffer **b)
{
    if (*b && evbuffer_get_length(*b) == 0) {
        evbuffer_free(*b);
        *b = NULL;
    }
}

static size_t buffered(const struct evbuffer *b)
{
    return b ? evbuffer_get_length(b) : 0;
}

/* ---- reading ---- */

/* One read into in; >0 bytes, 0 to wait, or -TRANSPORT_EOF/-TRANSPORT_ERROR. */
static int read_once(struct transport *t, bool *more)
{
    struct evbuffer_iovec v;
    if (!t->in)
        t->in = evbuffer_new();
    if (!t->in || evbuffer_reserve_space(t->in, RECORD, &v, 1) < 1) {
        t->sock_err = ENOMEM;
        return -TRANSPORT_ERROR;
    }
    size_t room = v.iov_len < RECORD ? v.iov_len : RECORD;
    ssize_t n;
    if (t->ssl) {
        bool wr = false, ww = false;
        tls_bio_use(t->fd);
        n = SSL_read(t->ssl, v.iov_base, (int)room);
        if (n <= 0) {
            int end = tls_outcome(t, (int)n, &wr, &ww);
            t->read_wants_write = ww;
            return end ? -end : 0;
        }
        /* bytes left in OpenSSL's buffer never wake the socket's event */
        *more = SSL_has_pending(t->ssl);
    } else {
        n = recv(t->fd, v.iov_base, room, 0);
        if (n == 0)
            return -TRANSPORT_EOF;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            t->sock_err = errno;
            return -TRANSPORT_ERROR;
        }
        /* a short read emptied the socket: skip the read that says so */
        *more = (size_t)n == room;
    }
    v.iov_len = (size_t)n;
    evbuffer_commit_space(t->in, &v, 1);
    return (int)n;
}

static void do_read(struct transport *t)
{
    size_t got = 0;
    int end = 0;
    expect_empty_error_queue();
    t->read_wants_write = false;
    while (got < READ_PER_EVENT) {
        bool more = false;
        int n = read_once(t, &more);
        if (n < 0)
            end = -n;
        else
            got += (size_t)n;
        if (n <= 0 || !more)
            break;
    }
    /* a bounded read left bytes in OpenSSL: come back on the next pass */
    if (!end && got >= READ_PER_EVENT && t->ssl && SSL_has_pending(t->ssl))
        kick(t, EV_READ);
    update_watch(t);
    if (buffered(t->in) > 0 && t->read_cb)
        t->read_cb(t, t->arg);
    if (t->freed)
        return;
    buffer_drop(&t->in);
    if (end)
        report_end(t, end);
}

/* ---- writing ---- */

/* Write from out until it is empty, the socket is full or this event's
 * share is used; 0, or TRANSPORT_ERROR. */
static int write_some(struct transport *t, size_t *wrote)
{
    while (*wrote < WRITE_PER_EVENT) {
        size_t len = buffered(t->out);
        if (len == 0)
            return 0;
        if (!t->ssl) {
            int n = evbuffer_write_atmost(t->out, t->fd, WRITE_PER_EVENT - *wrote);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    t->write_blocked = true;
                    return 0;
                }
                t->sock_err = errno;
                return TRANSPORT_ERROR;
            }
            *wrote += (size_t)n;
            continue;
        }
        /* one full record from as many buffer pieces as it takes: a
         * record per piece would send the few bytes of a chunk header as
         * a packet of their own */
        size_t want = len < RECORD ? len : RECORD;
        const unsigned char *p = evbuffer_pullup(t->out, (ev_ssize_t)want);
        if (!p) {
            t->sock_err = ENOMEM;
            return TRANSPORT_ERROR;
        }
        tls_bio_use(t->fd);
        int n = SSL_write(t->ssl, p, (int)want);
        if (n <= 0) {
            bool wr = false, ww = false;
            int end = tls_outcome(t, n, &wr, &ww);
            t->write_wants_read = wr;
            t->write_blocked = ww;
            return end ? TRANSPORT_ERROR : 0;
        }
        evbuffer_drain(t->out, (size_t)n);
        *wrote += (size_t)n;
    }
    /* this event's share is used: the rest on a later pass */
    schedule_flush(t);
    return 0;
}

static void do_write(struct transport *t)
{
    size_t wrote = 0;
    expect_empty_error_queue();
    t->write_blocked = false;
    t->write_wants_read = false;
    int end = write_some(t, &wrote);
    update_watch(t);
    if (end) {
        report_end(t, end);
        return;
    }
    buffer_drop(&t->out);
    if (wrote > 0 && buffered(t->out) <= t->write_low && t->write_cb)
        t->write_cb(t, t->arg);
}

/* ---- connecting and handshaking ---- */

static void now_open(struct transport *t)
{
    t->state = ST_OPEN;
    update_watch(t);
    if (t->read_on && t->ssl && SSL_has_pending(t->ssl))
        kick(t, EV_READ);
    if (buffered(t->out) > 0)
        schedule_flush(t);
    if (t->event_cb)
        t->event_cb(t, TRANSPORT_CONNECTED, t->arg);
}

static void do_handshake(struct transport *t)
{
    expect_empty_error_queue();
    tls_bio_use(t->fd);
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        now_open(t);
        return;
    }
    bool wr = false, ww = false;
    int end = tls_outcome(t, r, &wr, &ww);
    if (end) {
        report_end(t, TRANSPORT_ERROR);
        return;
    }
    t->hs_wants_write = ww;
    update_watch(t);
}

/* The socket became writable with connect() in progress: did it work? */
static void connect_done(struct transport *t)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        t->sock_err = err;
        report_end(t, TRANSPORT_ERROR);
        return;
    }
    if (!t->ssl) {
        now_open(t);
        return;
    }
    t->state = ST_HANDSHAKE;
    do_handshake(t);
}

/* ---- the one event callback ---- */

static void destroy(struct transport *t);

static void on_readable(struct transport *t)
{
    switch (t->state) {
    case ST_HANDSHAKE:
        do_handshake(t);
        break;
    case ST_OPEN:
        if (t->write_wants_read)
            do_write(t);
        if (!t->freed && t->state == ST_OPEN && t->read_on)
            do_read(t);
        break;
    default:
        break;
    }
}

static void on_writable(struct transport *t)
{
    t->flush_pending = false;
    switch (t->state) {
    case ST_CONNECTING:
        connect_done(t);
        break;
    case ST_HANDSHAKE:
        do_handshake(t);
        break;
    case ST_OPEN:
        if (t->read_wants_write && t->read_on)
            do_read(t);
        if (!t->freed && t->state == ST_OPEN)
            do_write(t);
        break;
    case ST_FAILED:
        report_end(t, TRANSPORT_ERROR);
        break;
    default:
        break;
    }
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct transport *t = arg;
    assert(t->magic == TRANSPORT_MAGIC);
    t->kicked = 0; /* whatever was kicked is running now */
    t->depth++;
    /* only a kick says EV_TIMEOUT: the socket's event has no timeout */
    if ((what & EV_TIMEOUT) && t->defer_cb) {
        transport_data_cb cb = t->defer_cb;
        t->defer_cb = NULL;
        cb(t, t->arg);
    }
    if ((what & EV_READ) && !t->freed)
        on_readable(t);
    if ((what & EV_WRITE) && !t->freed)
        on_writable(t);
    if (--t->depth == 0 && t->freed)
        destroy(t);
}

/* ---- resolving and connecting ---- */

/* Failed before the owner could be told (inside transport_connect_hostname
 * or the resolver's callback): tell it from the loop. */
static void fail_later(struct transport *t)
{
    t->state = ST_FAILED;
    event_active(t->conn->defer_ev, EV_WRITE, 0);
}

static void start_connect(struct transport *t, struct evutil_addrinfo *ai)
{
    evutil_socket_t fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        t->sock_err = errno;
        fail_later(t);
        return;
    }
    if (set_fd(t, fd) < 0) {
        t->sock_err = ENOMEM;
        fail_later(t);
        return;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        t->sock_err = errno;
        fail_later(t);
        return;
    }
    /* connected or in progress: writability says which, and how */
    t->state = ST_CONNECTING;
    update_watch(t);
}

static void dns_cb(int result, struct evutil_addrinfo *ai, void *arg)
{
    struct transport *t = arg;
    t->conn->dns_req = NULL;
    if (result == EVUTIL_EAI_CANCEL) /* transport_free is freeing t */
        return;
    if (result != 0 || !ai) {
        t->conn->dns_err = result ? result : EVUTIL_EAI_FAIL;
        if (ai)
            evutil_freeaddrinfo(ai);
        fail_later(t);
        return;
    }
    /* the resolver may answer from inside transport_connect_hostname:
     * connect from the loop */
    t->conn->ai = ai;
    event_active(t->conn->defer_ev, EV_READ, 0);
}

static void defer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct transport *t = arg;
    if (t->state == ST_FAILED) {
        io_cb(-1, EV_WRITE, t);
        return;
    }
    if (t->state != ST_RESOLVING || !t->conn->ai)
        return;
    struct evutil_addrinfo *ai = t->conn->ai;
    t->conn->ai = NULL;
    start_connect(t, ai);
    evutil_freeaddrinfo(ai);
}

int transport_connect_hostname(struct transport *t, struct evdns_base *dns, const char *host,
                               int port)
{
    char service[8];
    struct evutil_addrinfo hints;
    if (t->state != ST_RESOLVING || !t->conn)
        return -1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    snprintf(service, sizeof service, "%d", port);
    t->conn->dns_req = evdns_getaddrinfo(dns, host, service, &hints, dns_cb, t);
    return 0;
}

/* ---- life cycle ---- */

struct transport *transport_new(struct event_base *base, evutil_socket_t fd, SSL *ssl,
                                enum transport_start start)
{
    struct transport *t = calloc(1, sizeof *t);
    if (!t)
        goto fail;
    t->magic = TRANSPORT_MAGIC;
    t->base = base;
    t->fd = -1;
    t->ssl = ssl;
    if (ssl) {
        /* a write retried after WANT_WRITE starts from the same bytes, not
         * always at the same address (evbuffer_pullup may move them) */
        SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
        SSL_set_read_ahead(ssl, 1);
    }
    switch (start) {
    case TRANSPORT_CONNECT:
        t->state = ST_RESOLVING;
        t->conn = calloc(1, sizeof *t->conn);
        if (!t->conn || !(t->conn->defer_ev = event_new(base, -1, 0, defer_cb, t)))
            goto fail_t;
        if (ssl)
            SSL_set_connect_state(ssl);
        return t;
    case TRANSPORT_ACCEPT:
        if (set_fd(t, fd) < 0)
            goto fail_t;
        SSL_set_accept_state(ssl);
        t->state = ST_HANDSHAKE;
        /* the ClientHello is usually there already */
        kick(t, EV_READ);
        return t;
    case TRANSPORT_OPEN:
        if (set_fd(t, fd) < 0)
            goto fail_t;
        t->state = ST_OPEN;
        return t;
    }
fail_t:
    fd = t->fd >= 0 ? -1 : fd; /* set_fd took it: destroy closes it */
    destroy(t);
    ssl = NULL;
fail:
    if (ssl)
        SSL_free(ssl);
    if (fd >= 0)
        evutil_closesocket(fd);
    return NULL;
}

static void destroy(struct transport *t)
{
    if (t->conn) {
        if (t->conn->dns_req)
            evdns_getaddrinfo_cancel(t->conn->dns_req);
        if (t->conn->ai)
            evutil_freeaddrinfo(t->conn->ai);
        if (t->conn->defer_ev)
            event_free(t->conn->defer_ev);
        free(t->conn);
    }
    if (t->ev)
        event_free(t->ev);
    if (t->ssl) {
        /* a close_notify for a peer that is still there; never waits */
        if (t->state == ST_OPEN && !t->write_shut) {
            tls_bio_use(t->fd);
            SSL_shutdown(t->ssl);
        }
        SSL_free(t->ssl);
    }
    if (t->fd >= 0)
        evutil_closesocket(t->fd);
    if (t->in)
        evbuffer_free(t->in);
    if (t->out)
        evbuffer_free(t->out);
    ERR_clear_error();
    t->magic = 0;
    free(t);
}

void transport_free(struct transport *t)
{
    if (!t)
        return;
    assert(t->magic == TRANSPORT_MAGIC);
    t->read_cb = t->write_cb = t->defer_cb = NULL;
    t->event_cb = NULL;
    if (t->depth > 0) {
        t->freed = true;
        return;
    }
    destroy(t);
}

void transport_setcb(struct transport *t, transport_data_cb read_cb, transport_data_cb write_cb,
                     transport_event_cb event_cb, void *arg)
{
    t->read_cb = read_cb;
    t->write_cb = write_cb;
    t->event_cb = event_cb;
    t->arg = arg;
}

void transport_defer(struct transport *t, transport_data_cb cb)
{
    assert(t->ev);
    t->defer_cb = cb;
    kick(t, EV_TIMEOUT);
}

void transport_set_write_low(struct transport *t, size_t low)
{
    t->write_low = low;
}

void transport_enable_read(struct transport *t, bool on)
{
    if (on == t->read_on)
        return;
    t->read_on = on;
    if (t->state != ST_OPEN)
        return;
    update_watch(t);
    if (on && t->ssl && SSL_has_pending(t->ssl))
        kick(t, EV_READ);
}

void transport_shutdown_write(struct transport *t)
{
    if (t->state != ST_OPEN || t->write_shut)
        return;
    t->write_shut = true;
    if (t->ssl) {
        tls_bio_use(t->fd);
        expect_empty_error_queue();
        SSL_shutdown(t->ssl); /* close_notify; reading goes on */
        ERR_clear_error();
    }
    shutdown(t->fd, SHUT_WR);
}

struct evbuffer *transport_input(struct transport *t)
{
    return t->in;
}

struct evbuffer *transport_output(struct transport *t)
{
    if (!t->out)
        t->out = evbuffer_new();
    if (!t->out)
        return NULL;
    schedule_flush(t);
    return t->out;
}

size_t transport_pending(const struct transport *t)
{
    return buffered(t->out);
}

uint64_t transport_bytes_acked(const struct transport *t)
{
    struct tcp_info info;
    socklen_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (t->fd < 0 || getsockopt(t->fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
        return 0;
    return info.tcpi_bytes_acked;
}

evutil_socket_t transport_fd(const struct transport *t)
{
    return t->fd;
}

SSL *transport_ssl(const struct transport *t)
{
    return t->ssl;
}

int transport_socket_error(const struct transport *t)
{
    return t->sock_err;
}

int transport_dns_error(const struct transport *t)
{
    return t->conn ? t->conn->dns_err : 0;
}

unsigned long transport_tls_error(const struct transport *t)
{
    return t->tls_err;
}
