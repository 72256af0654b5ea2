/*
 * upstream: the pool of HTTP/2 connections to the upstream API.
 *
 * At most UPSTREAM_MAX_CONNECTIONS connections, each carrying as many
 * streams as the upstream allows; at most UPSTREAM_MAX_KEEPALIVE_CONNECTIONS
 * kept while idle. Requests wait up to UPSTREAM_POOL_TIMEOUT for a stream.
 * Certificates and host names are always verified. A stream the upstream
 * refused before processing it (REFUSED_STREAM, or above a GOAWAY's last
 * stream id) is sent again on another connection: the upstream never saw it.
 *
 * Flow control: the upstream may send only as much of a response as the
 * client has taken (upstream_stream_consume), so a slow client slows its
 * stream and never makes the proxy buffer a whole response.
 */
#ifndef APX_UPSTREAM_H
#define APX_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "settings.h"

struct event_base;
struct evdns_base;
struct exchange;
struct timeout_wheel;
struct upstream_pool;
struct upstream_stream;

/* Create a pool for the settings' upstream; its streams' timers run on
 * `timeouts`, which must outlive it. */
struct upstream_pool *upstream_pool_new(struct event_base *base, struct timeout_wheel *timeouts,
                                        struct evdns_base *dns, const struct settings *s,
                                        char *err, size_t errlen);
struct upstream_pool *upstream_pool_ref(struct upstream_pool *p);
/* Drop a reference; the last one closes idle connections at once and busy
 * ones when their streams end. */
void upstream_pool_unref(struct upstream_pool *p);
/* Would a pool for `s` be the same as `p`? (then a reload keeps it) */
int upstream_pool_matches(const struct upstream_pool *p, const struct settings *s);
/* Update the timeouts and limits a reload may change. */
void upstream_pool_update(struct upstream_pool *p, const struct settings *s);
/* Shutdown: close idle connections now, the rest when their streams end. */
void upstream_pool_drain(struct upstream_pool *p);
/* Close every connection now, busy or still connecting (the core's last
 * act, once its exchanges are done). */
void upstream_pool_close_all(struct upstream_pool *p);

/* Send the exchange's request (ex->method, target, headers, body). Answers
 * arrive through exchange_upstream_* callbacks, never before this returns.
 * Returns 0, or -1 when out of memory. */
int upstream_submit(struct upstream_pool *p, struct exchange *ex);

/* The client took `n` more response bytes: let the upstream send more. */
void upstream_stream_consume(struct upstream_stream *s, size_t n);

/* The exchange is going away: forget it, and cancel the stream
 * (RST_STREAM CANCEL) if it is still open. */
void upstream_stream_release(struct upstream_stream *s);

#endif
