/*
 * transport: one connection's bytes, plain or TLS, between a socket and two
 * evbuffers. The front (listener, h1_server, h2_server) and the upstream
 * pool read and write through it; only this file calls SSL_read and
 * SSL_write.
 *
 * It replaces libevent's OpenSSL bufferevent, which cost a quarter of the
 * proxy's CPU per request: two reads per TLS record, the write watch added
 * and removed around every write, the error queue cleared before every
 * call, and a record per buffer piece. Here reads use OpenSSL's read-ahead
 * (one recv for many records), writes are gathered into full records and
 * run once per loop pass after the callbacks that queued them, and the
 * write watch is armed only when the socket is full.
 *
 * Callbacks run from the event loop, never from inside a transport_ call;
 * any of them may free the transport.
 */
#ifndef APX_TRANSPORT_H
#define APX_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <openssl/ssl.h>

struct evbuffer;
struct evdns_base;
struct transport;

/* What the event callback reports. */
enum {
    TRANSPORT_CONNECTED = 1, /* connect and TLS handshake done */
    TRANSPORT_EOF = 2,       /* the peer closed (TLS: with or without close_notify) */
    TRANSPORT_ERROR = 4,     /* resolution, connect, socket or TLS failure */
};

/* How a new transport starts. */
enum transport_start {
    TRANSPORT_OPEN,      /* connected: plain, or TLS already handshaken */
    TRANSPORT_ACCEPT,    /* accepted socket: run the server TLS handshake */
    TRANSPORT_CONNECT,   /* nothing yet: transport_connect_hostname follows */
};

typedef void (*transport_data_cb)(struct transport *t, void *arg);
typedef void (*transport_event_cb)(struct transport *t, int what, void *arg);

/* A transport over fd (-1 with TRANSPORT_CONNECT) and ssl (NULL: plain).
 * It owns both from here on, also when it returns NULL (out of memory). */
struct transport *transport_new(struct event_base *base, evutil_socket_t fd, SSL *ssl,
                                enum transport_start start);
/* Close the socket and free everything; safe from inside a callback. */
void transport_free(struct transport *t);

void transport_setcb(struct transport *t, transport_data_cb read_cb, transport_data_cb write_cb,
                     transport_event_cb event_cb, void *arg);
/* Call cb(t, arg) from the loop on its next pass, once however often this
 * is called before then (the last cb wins): for work an owner may not do
 * inside its own calls, such as freeing itself. The transport's one event
 * carries it, so the owner needs no event of its own for that. Only for a
 * transport with a socket (not one still resolving). */
void transport_defer(struct transport *t, transport_data_cb cb);
/* Call write_cb when, after a write, at most `low` bytes are left queued. */
void transport_set_write_low(struct transport *t, size_t low);
/* Reading on or off. Turned on, bytes already decrypted are delivered at
 * once (on the next loop pass). */
void transport_enable_read(struct transport *t, bool on);

/* Bytes read and not yet taken; NULL when there are none (an empty
 * buffer is freed once the read callback returns, so that an idle
 * connection holds none). */
struct evbuffer *transport_input(struct transport *t);
/* The buffer of bytes to send, for adding to; NULL when out of memory
 * (it is made on demand and freed once written out). Asking for it
 * schedules a write on the next loop pass, after every callback that adds
 * to it now (no callback on the buffer: it would run on every add and
 * drain); so ask for it each time, right before adding, and not just to
 * look. */
struct evbuffer *transport_output(struct transport *t);
/* Bytes queued and not yet handed to the socket. */
size_t transport_pending(const struct transport *t);
/* Send nothing more (call it once nothing is queued): TLS
 * close_notify, then the socket's FIN. Reading goes on, for a lingering
 * close. */
void transport_shutdown_write(struct transport *t);

/* Resolve host (through dns), connect to the first address, then run the
 * client TLS handshake if the transport has an SSL. 0, or -1 if it could
 * not even start; the outcome comes as TRANSPORT_CONNECTED or _ERROR. */
int transport_connect_hostname(struct transport *t, struct evdns_base *dns, const char *host,
                               int port);

/* Bytes the peer has acknowledged on this connection (TCP_INFO), 0 if
 * unknown: a count that grows while the peer reads. Writability tells it
 * only in bursts, a third of the kernel's send buffer apart. */
uint64_t transport_bytes_acked(const struct transport *t);

evutil_socket_t transport_fd(const struct transport *t);
SSL *transport_ssl(const struct transport *t);

/* After TRANSPORT_ERROR or _EOF: the socket's errno, the resolver's
 * EVUTIL_EAI_ code, the last OpenSSL error code (0 for none of each). */
int transport_socket_error(const struct transport *t);
int transport_dns_error(const struct transport *t);
unsigned long transport_tls_error(const struct transport *t);

#endif
