/*
 * routes: the table of requests the proxy answers itself (/health, and the
 * routes stages register: /metrics, /dashboard, ...). A generation owns one
 * table; a request that matches no route on the main port goes upstream,
 * and on the dashboard port gets 404.
 */
#ifndef APX_ROUTES_H
#define APX_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "exchange.h"

#define ROUTE_MAIN      (1u << LISTENER_MAIN)
#define ROUTE_DASHBOARD (1u << LISTENER_DASHBOARD)

typedef void (*route_handler)(struct exchange *ex, void *arg);

struct route {
    char *method;        /* "GET" */
    char *path;          /* exact path, without the query */
    unsigned listeners;  /* ROUTE_MAIN | ROUTE_DASHBOARD */
    route_handler handler;
    void *arg;
    bool arg_owned;      /* free(arg) with the table */
};

struct route_table {
    struct route *v;
    size_t n, cap;
};

/* Add a route; -1 if the same method and path are taken on a shared
 * listener, or out of memory. */
int routes_add(struct route_table *t, const char *method, const char *path,
               unsigned listeners, route_handler handler, void *arg);
/* Same, and the table frees `arg` when it is freed (or if adding fails,
 * the caller still owns it). */
int routes_add_owned(struct route_table *t, const char *method, const char *path,
                     unsigned listeners, route_handler handler, void *arg);
void routes_free(struct route_table *t);

/* The route for this request, NULL if none. *path_known is set when some
 * route has this path on this listener but another method (405). */
const struct route *routes_find(const struct route_table *t, enum listener_kind l,
                                const char *method, const char *target,
                                bool *path_known);

/* The core's own routes (GET /health). */
int routes_add_builtin(struct route_table *t);

#endif
