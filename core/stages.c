/*
 * stages: the calls into a generation's stage hooks, in the order the
 * plugin ABI gives (on_request in pipeline order, on_response_head in
 * reverse, on_response_body and on_done in pipeline order), each under a
 * crash note naming the stage. The exchange's hook state (struct
 * exchange.hooks) says whether a hook is on the stack or an on_request
 * hook is pending; the host functions read it to refuse calls made at the
 * wrong time.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "crash.h"
#include "exchange.h"
#include "host.h"
#include "stages.h"

/* Every hook runs between these two: the exchange's hook state says a hook
 * is on the stack, and a crash inside names the stage. leave() puts back
 * the state from before, or PENDING when an on_request hook said so. */
static const char *enter(struct exchange *ex, const struct plugin_instance *p,
                         enum exchange_hooks *before)
{
    *before = ex->hooks;
    ex->hooks = HOOKS_RUNNING;
    return crash_enter(p->entry->name);
}

static void leave(struct exchange *ex, const char *crash_prev, enum exchange_hooks before,
                  int verdict)
{
    crash_leave(crash_prev);
    ex->hooks = verdict == APX_PENDING ? HOOKS_PENDING : before;
}

enum apx_verdict stages_on_request(struct exchange *ex)
{
    struct generation *g = ex->gen;
    for (size_t i = ex->hook_next; i < g->nstages; i++) {
        const struct apx_stage_hooks *h = g->stages[i]->desc->stage;
        if (!h->on_request)
            continue;
        enum exchange_hooks before;
        const char *prev = enter(ex, g->stages[i], &before);
        int v = h->on_request(g->stages[i]->state, (struct apx_exchange *)ex);
        leave(ex, prev, before, v);
        if (v == APX_PENDING) {
            ex->hook_next = i + 1;
            return APX_PENDING;
        }
        if (v != APX_OK)
            return v == APX_RETRY ? APX_ERROR : (enum apx_verdict)v;
    }
    ex->hook_next = g->nstages;
    return APX_OK;
}

int stages_run_one_on_request(struct exchange *ex, const char *name)
{
    struct generation *g = ex->gen;
    for (size_t i = 0; i < g->nstages; i++) {
        if (strcmp(g->stages[i]->desc->name, name) != 0)
            continue;
        const struct apx_stage_hooks *h = g->stages[i]->desc->stage;
        if (!h->on_request)
            return APX_OK;
        ex->hook_only = true;
        enum exchange_hooks before;
        const char *prev = enter(ex, g->stages[i], &before);
        int v = h->on_request(g->stages[i]->state, (struct apx_exchange *)ex);
        leave(ex, prev, before, v); /* PENDING: the caller runs the loop until resume */
        return v;
    }
    return -2;
}

enum apx_verdict stages_on_response_head(struct exchange *ex)
{
    struct generation *g = ex->gen;
    for (size_t i = g->nstages; i-- > 0;) {
        const struct apx_stage_hooks *h = g->stages[i]->desc->stage;
        if (!h->on_response_head)
            continue;
        enum exchange_hooks before;
        const char *prev = enter(ex, g->stages[i], &before);
        int v = h->on_response_head(g->stages[i]->state, (struct apx_exchange *)ex);
        leave(ex, prev, before, APX_OK);
        if (v != APX_OK)
            return (enum apx_verdict)v;
    }
    return APX_OK;
}

void stages_on_response_body(struct exchange *ex, const uint8_t *data, size_t len)
{
    struct generation *g = ex->gen;
    for (size_t i = 0; i < g->nstages; i++) {
        const struct apx_stage_hooks *h = g->stages[i]->desc->stage;
        if (h->on_response_body) {
            enum exchange_hooks before;
            const char *prev = enter(ex, g->stages[i], &before);
            h->on_response_body(g->stages[i]->state, (struct apx_exchange *)ex, data, len);
            leave(ex, prev, before, APX_OK);
        }
    }
}

void stages_on_done(struct exchange *ex, const struct apx_done_info *info)
{
    struct generation *g = ex->gen;
    for (size_t i = 0; i < g->nstages; i++) {
        const struct apx_stage_hooks *h = g->stages[i]->desc->stage;
        if (h->on_done) {
            enum exchange_hooks before;
            const char *prev = enter(ex, g->stages[i], &before);
            h->on_done(g->stages[i]->state, (struct apx_exchange *)ex, info);
            leave(ex, prev, before, APX_OK);
        }
    }
}

/* ---- the response transform ---- */

int stages_transform_add(struct exchange *ex, size_t stage)
{
    if (stage >= 64)
        return -1;
    if (!ex->xform && !(ex->xform = calloc(1, sizeof *ex->xform)))
        return -1;
    ex->xform->stages |= UINT64_C(1) << stage;
    return 0;
}

int stages_transform_emit(struct exchange *ex, const void *data, size_t len)
{
    struct exchange_transform *t = ex->xform;
    if (!t || !t->emitting)
        return -1;
    struct transform_buf *b = &t->buf[t->current];
    if (len > TRANSFORM_EMIT_MAX - b->len)
        return -1;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int stages_on_response_transform(struct exchange *ex, const uint8_t *data, size_t len, bool end,
                                 const uint8_t **out, size_t *outlen)
{
    struct generation *g = ex->gen;
    struct exchange_transform *t = ex->xform;
    for (size_t i = g->nstages; i-- > 0;) {
        const struct apx_stage_hooks *h = g->stages[i]->desc->stage;
        if (!(t->stages & UINT64_C(1) << i) || !h->on_response_transform)
            continue;
        struct transform_buf *b = &t->buf[t->current];
        b->len = 0;
        t->emitting = true;
        enum exchange_hooks before;
        const char *prev = enter(ex, g->stages[i], &before);
        int rc = h->on_response_transform(g->stages[i]->state, (struct apx_exchange *)ex, data,
                                          len, end);
        leave(ex, prev, before, APX_OK);
        t->emitting = false;
        if (rc < 0)
            return -1;
        data = b->data;
        len = b->len;
        t->current ^= 1; /* this output is the next stage's input */
    }
    *out = data;
    *outlen = len;
    return 0;
}

void stages_transform_free(struct exchange *ex)
{
    if (!ex->xform)
        return;
    free(ex->xform->buf[0].data);
    free(ex->xform->buf[1].data);
    free(ex->xform);
    ex->xform = NULL;
}
