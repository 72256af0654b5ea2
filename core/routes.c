/*
 * routes: local route table and the core's own routes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "routes.h"

int routes_add(struct route_table *t, const char *method, const char *path,
               unsigned listeners, route_handler handler, void *arg)
{
    for (size_t i = 0; i < t->n; i++)
        if ((t->v[i].listeners & listeners) && strcmp(t->v[i].path, path) == 0 &&
            strcmp(t->v[i].method, method) == 0)
            return -1;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct route *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    struct route *r = &t->v[t->n];
    r->method = strdup(method);
    r->path = strdup(path);
    if (!r->method || !r->path) {
        free(r->method);
        free(r->path);
        return -1;
    }
    r->listeners = listeners;
    r->handler = handler;
    r->arg = arg;
    r->arg_owned = false;
    t->n++;
    return 0;
}

int routes_add_owned(struct route_table *t, const char *method, const char *path,
                     unsigned listeners, route_handler handler, void *arg)
{
    if (routes_add(t, method, path, listeners, handler, arg) < 0)
        return -1;
    t->v[t->n - 1].arg_owned = true;
    return 0;
}

void routes_free(struct route_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].method);
        free(t->v[i].path);
        if (t->v[i].arg_owned)
            free(t->v[i].arg);
    }
    free(t->v);
    memset(t, 0, sizeof *t);
}

const struct route *routes_find(const struct route_table *t, enum listener_kind l,
                                const char *method, const char *target, bool *path_known)
{
    size_t plen = strcspn(target, "?");
    *path_known = false;
    for (size_t i = 0; i < t->n; i++) {
        const struct route *r = &t->v[i];
        if (!(r->listeners & (1u << l)) || strlen(r->path) != plen ||
            strncmp(r->path, target, plen) != 0)
            continue;
        if (strcmp(r->method, method) == 0 ||
            (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0))
            return r;
        *path_known = true;
    }
    return NULL;
}

static void route_health(struct exchange *ex, void *arg)
{
    static const char body[] = "{\"status\": \"ok\"}";
    exchange_respond(ex, 200, "application/json", body, sizeof body - 1);
}

int routes_add_builtin(struct route_table *t)
{
    return routes_add(t, "GET", "/health", ROUTE_MAIN, route_health, NULL);
}
