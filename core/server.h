/*
 * server: the client side of the proxy. listener.c accepts connections and
 * runs the TLS handshake; ALPN then hands the connection to the HTTP/1.1
 * server (h1_server.c) or the h2 server (h2_server.c). Both turn requests
 * into exchanges and nothing else: routing, hooks and the upstream are the
 * exchange's business.
 */
#ifndef APX_SERVER_H
#define APX_SERVER_H

#include <stdbool.h>

#include "exchange.h"

struct core;
struct transport;
struct listener;

/* Start accepting on an already bound and listening socket. */
struct listener *listener_start(struct core *core, int fd, enum listener_kind kind,
                                bool tls);
/* Stop accepting (shutdown) and free. */
void listener_free(struct listener *l);

/* Take over a connected (and, with TLS, handshaken) transport. */
void h1_server_start(struct core *core, struct transport *tr, enum listener_kind kind);
void h2_server_start(struct core *core, struct transport *tr, enum listener_kind kind);

#endif
