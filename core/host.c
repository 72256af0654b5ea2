/*
 * host: the table of functions the core lends every plugin (struct
 * apx_host, include/anthropic-proxy/plugin.h) and what stands behind each
 * of them: logging, settings, counters, timers, local routes, the exchange
 * accessors, answering, the detector registry, work off the loop.
 *
 * A plugin sees `struct apx_exchange *`; it is the core's struct exchange,
 * checked by its magic number on the way in. The host pointer a plugin gets
 * is its own struct plugin_instance, so every host call knows who called.
 * Nothing here loads or unloads plugins (generation.c) or calls their
 * hooks (stages.c).
 */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core.h"
#include "counters.h"
#include "crash.h"
#include "detectors.h"
#include "exchange.h"
#include "host.h"
#include "log.h"
#include "stages.h"
#include "workers.h"


#define INSTANCE_MAGIC 0x504c5547u /* "PLUG" */

struct plugin_timer {
    struct plugin_timer *prev, *next;
    struct plugin_instance *owner;
    struct event *ev;
    apx_timer_fn fn;
    void *arg;
};

/* A plugin's route handler, called through the core's route table. */
struct route_trampoline {
    apx_route_fn fn;
    void *arg;
    const char *plugin;  /* for the crash note */
};

static struct exchange *EX(struct apx_exchange *e)
{
    struct exchange *ex = (struct exchange *)e;
    assert(ex && ex->magic == EXCHANGE_MAGIC);
    return ex;
}

static struct plugin_instance *INST(const struct apx_host *h)
{
    struct plugin_instance *p = (struct plugin_instance *)h;
    assert(p && p->magic == INSTANCE_MAGIC);
    return p;
}

/* ---- logging ---- */

/* Declared printf-like so that the vsnprintf below passes clang's
 * -Wformat-nonliteral (the fuzzing build) and callers' formats are checked. */
static void host_log(const struct apx_host *h, enum apx_log_level level, const char *fmt, ...)
    APX_PRINTF(3, 4);
static void host_log_ex(const struct apx_host *h, struct apx_exchange *e,
                        enum apx_log_level level, const char *fmt, ...) APX_PRINTF(4, 5);

static void host_log(const struct apx_host *h, enum apx_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_msg((enum log_level)level, 0, "%s: %s", INST(h)->desc->name, msg);
}

static void host_log_ex(const struct apx_host *h, struct apx_exchange *e,
                        enum apx_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_msg((enum log_level)level, EX(e)->id, "%s: %s", INST(h)->desc->name, msg);
}

static const char *host_setting(const struct apx_host *h, const char *name, char *buf,
                                size_t size)
{
    return settings_get_text(&INST(h)->gen->settings, name, buf, size);
}

/* ---- counters ---- */

static struct apx_counter *host_counter(const struct apx_host *h, const char *name)
{
    struct counter_slot *c = counters_get(INST(h)->core->counters, name);
    static bool told;
    if (!c && !told) { /* once per core: the table does not empty */
        told = true;
        log_warn("%s: counter table full (%d counters): new counters such as %.60s are "
                 "not kept", INST(h)->desc->name, COUNTERS_MAX, name);
    }
    return (struct apx_counter *)c;
}

static void host_counter_add(struct apx_counter *c, uint64_t n)
{
    if (c)
        ((struct counter_slot *)c)->value += n;
}

static void host_counter_set(struct apx_counter *c, uint64_t value)
{
    if (c)
        ((struct counter_slot *)c)->value = value;
}

static uint64_t host_counter_get(const struct apx_counter *c)
{
    return c ? ((const struct counter_slot *)c)->value : 0;
}

static void host_counter_each(const struct apx_host *h, const char *prefix,
                              void (*fn)(void *, const char *, uint64_t), void *arg)
{
    counters_each(INST(h)->core->counters, prefix, fn, arg);
}

/* ---- timers ---- */

static void timer_unlink(struct plugin_timer *t)
{
    struct plugin_instance *p = t->owner;
    if (t->prev) t->prev->next = t->next; else p->timers = t->next;
    if (t->next) t->next->prev = t->prev;
    event_free(t->ev);
    free(t);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct plugin_timer *t = arg;
    apx_timer_fn fn = t->fn;
    void *farg = t->arg;
    const char *name = t->owner->entry->name;
    timer_unlink(t); /* one-shot: gone before the callback may start another */
    const char *prev = crash_enter(name);
    fn(farg);
    crash_leave(prev);
}

static struct apx_timer *host_timer_start(const struct apx_host *h, uint64_t ms,
                                          apx_timer_fn fn, void *arg)
{
    struct plugin_instance *p = INST(h);
    struct plugin_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ev = evtimer_new(p->core->base, timer_cb, t);
    if (!t->ev) {
        free(t);
        return NULL;
    }
    t->owner = p;
    t->fn = fn;
    t->arg = arg;
    t->next = p->timers;
    if (p->timers)
        p->timers->prev = t;
    p->timers = t;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
    evtimer_add(t->ev, &tv);
    return (struct apx_timer *)t;
}

static void host_timer_stop(struct apx_timer *at)
{
    if (at)
        timer_unlink((struct plugin_timer *)at);
}

/* ---- routes ---- */

static void route_trampoline_cb(struct exchange *ex, void *arg)
{
    struct route_trampoline *t = arg;
    const char *prev = crash_enter(t->plugin);
    t->fn(t->arg, (struct apx_exchange *)ex);
    crash_leave(prev);
}

static int host_route_add(const struct apx_host *h, const char *method, const char *path,
                          unsigned ports, apx_route_fn fn, void *arg)
{
    struct plugin_instance *p = INST(h);
    struct route_trampoline *t = malloc(sizeof *t);
    if (!t)
        return -1;
    t->fn = fn;
    t->arg = arg;
    t->plugin = p->entry->name;
    unsigned listeners = ((ports & APX_ROUTE_MAIN) ? ROUTE_MAIN : 0) |
                         ((ports & APX_ROUTE_DASHBOARD) ? ROUTE_DASHBOARD : 0);
    if (routes_add_owned(&p->gen->routes, method, path, listeners, route_trampoline_cb, t) < 0) {
        free(t);
        return -1;
    }
    return 0;
}

/* ---- the exchange ---- */

static uint64_t host_ex_id(struct apx_exchange *e) { return EX(e)->id; }
static const char *host_ex_method(struct apx_exchange *e) { return EX(e)->method; }
static const char *host_ex_path(struct apx_exchange *e) { return EX(e)->target; }
static size_t host_ex_header_count(struct apx_exchange *e) { return EX(e)->req_headers.n; }

static int host_ex_header(struct apx_exchange *e, size_t i, const char **name, const char **value)
{
    struct exchange *ex = EX(e);
    if (i >= ex->req_headers.n)
        return -1;
    *name = header_name(&ex->req_headers, i);
    *value = header_value(&ex->req_headers, i);
    return 0;
}

static const char *host_ex_header_get(struct apx_exchange *e, const char *name)
{
    return header_list_get(&EX(e)->req_headers, name);
}

static int host_ex_header_set(struct apx_exchange *e, const char *name, const char *value)
{
    struct exchange *ex = EX(e);
    if (ex->state != EX_READING && ex->state != EX_UPSTREAM)
        return -1;
    return header_list_set(&ex->req_headers, name, value);
}

static const uint8_t *host_ex_body(struct apx_exchange *e, size_t *len)
{
    struct exchange *ex = EX(e);
    *len = ex->body_len;
    return ex->body;
}

static int host_ex_body_replace(struct apx_exchange *e, const uint8_t *data, size_t len)
{
    struct exchange *ex = EX(e);
    if ((ex->hooks == HOOKS_IDLE) || ex->went_upstream)
        return -1;
    uint8_t *b = malloc(len ? len : 1);
    if (!b)
        return -1;
    memcpy(b, data, len);
    free(ex->body);
    ex->body = b;
    ex->body_len = ex->body_cap = len;
    return 0;
}

static int host_ex_status(struct apx_exchange *e) { return EX(e)->status; }

static size_t host_ex_resp_header_count(struct apx_exchange *e)
{
    const struct header_list *h = EX(e)->resp_headers;
    return h ? h->n : 0;
}

static int host_ex_resp_header(struct apx_exchange *e, size_t i, const char **name,
                               const char **value)
{
    const struct header_list *h = EX(e)->resp_headers;
    if (!h || i >= h->n)
        return -1;
    *name = header_name(h, i);
    *value = header_value(h, i);
    return 0;
}

static const char *host_ex_resp_header_get(struct apx_exchange *e, const char *name)
{
    const struct header_list *h = EX(e)->resp_headers;
    return h ? header_list_get(h, name) : NULL;
}

static void **host_ex_slot(const struct apx_host *h, struct apx_exchange *e)
{
    struct exchange *ex = EX(e);
    struct plugin_instance *p = INST(h);
    if (p->desc->kind != APX_KIND_STAGE || p->gen != ex->gen || !ex->slots)
        return NULL;
    return &ex->slots[p->slot];
}

static int host_respond(struct apx_exchange *e, int status, const char *content_type,
                        const void *body, size_t len)
{
    struct exchange *ex = EX(e);
    if (ex->responded || ex->head_sent || ex->state == EX_DONE)
        return -1;
    ex->responded = true;
    if (ex->hooks == HOOKS_IDLE) { /* a route handler: answer now */
        exchange_respond(ex, status, content_type, body, len);
        return 0;
    }
    /* inside a hook the exchange must outlive the hook: answer after it */
    struct exchange_local *l = exchange_local_part(ex);
    if (!l)
        return -1;
    l->status = status;
    l->content_type = content_type ? strdup(content_type) : NULL;
    l->body = malloc(len ? len : 1);
    if (!l->body || (content_type && !l->content_type))
        return -1;
    memcpy(l->body, body, len);
    l->len = len;
    return 0;
}

struct cancel_trampoline {
    apx_cancel_fn fn;
    void *arg;
    const char *plugin;
};

static void cancel_cb(struct exchange *ex, void *arg)
{
    struct cancel_trampoline *t = arg;
    const char *prev = crash_enter(t->plugin);
    t->fn(t->arg, (struct apx_exchange *)ex);
    crash_leave(prev);
}

static int host_stream_start(struct apx_exchange *e, int status, const char *content_type,
                             apx_cancel_fn cancel, void *arg)
{
    struct exchange *ex = EX(e);
    if (ex->hooks == HOOKS_RUNNING || ex->head_sent)
        return -1; /* streamed answers are for route handlers */
    struct header_list h = { 0 };
    if (content_type && header_list_add(&h, "content-type", 12, content_type,
                                        strlen(content_type)) < 0)
        return -1;
    if (cancel) {
        struct exchange_local *l = exchange_local_part(ex);
        struct cancel_trampoline *t = l ? malloc(sizeof *t) : NULL;
        if (!t) {
            header_list_free(&h);
            return -1;
        }
        t->fn = cancel;
        t->arg = arg;
        t->plugin = crash_plugin; /* the route handler calling us */
        l->cancel = cancel_cb;
        l->cancel_arg = t;
    }
    int rv = exchange_local_start(ex, status, &h);
    header_list_free(&h);
    return rv;
}

static int host_stream_write(struct apx_exchange *e, const void *data, size_t len)
{
    return exchange_local_send(EX(e), data, len);
}

static void host_stream_end(struct apx_exchange *e)
{
    exchange_local_end(EX(e));
}

static void host_block(struct apx_exchange *e, int status, const char *type, const char *message)
{
    struct exchange *ex = EX(e);
    /* out of memory: the block still happens, with the default answer */
    if (!ex->block && !(ex->block = calloc(1, sizeof *ex->block)))
        return;
    ex->block->status = status >= 400 && status <= 599 ? status : 400;
    snprintf(ex->block->type, sizeof ex->block->type, "%s", type ? type : "invalid_request_error");
    snprintf(ex->block->message, sizeof ex->block->message, "%s", message ? message : "blocked");
}

static void host_block_header(struct apx_exchange *e, const char *name, const char *value)
{
    struct exchange *ex = EX(e);
    if (!name || !value || strlen(name) >= 32 || strlen(value) >= 96 ||
        strcspn(value, "\r\n") != strlen(value) || strcspn(name, ": \r\n") != strlen(name))
        return;
    if (!ex->block && !(ex->block = calloc(1, sizeof *ex->block)))
        return;
    struct exchange_block *b = ex->block;
    if (b->nheaders == APX_BLOCK_HEADERS)
        return;
    snprintf(b->header[b->nheaders][0], sizeof b->header[0][0], "%s", name);
    snprintf(b->header[b->nheaders][1], sizeof b->header[0][1], "%s", value);
    b->nheaders++;
}

static void host_retry_after(struct apx_exchange *e, uint64_t ms)
{
    EX(e)->retry_ms = ms;
}

static bool host_ex_response_started(struct apx_exchange *e)
{
    return EX(e)->head_sent;
}

/* ---- the detector registry ---- */

static size_t host_detector_count(const struct apx_host *h)
{
    return INST(h)->gen->ndetectors;
}

static const struct apx_detector *host_detector_get(const struct apx_host *h, size_t i)
{
    struct generation *g = INST(h)->gen;
    return i < g->ndetectors ? &g->detectors[i]->pub : NULL;
}

static int host_detector_find(const struct apx_detector *d, const char *text, size_t len,
                              size_t start, size_t *ms, size_t *me)
{
    const struct detector *det = (const struct detector *)d; /* pub is first */
    return detector_find(det, text, len, start, ms, me);
}

/* ---- the running configuration ---- */

static uint64_t host_revision(const struct apx_host *h)
{
    return INST(h)->gen->revision;
}

static int host_plugin_info(const struct apx_host *h, size_t i, const char **name,
                            const char **version, enum apx_kind *kind)
{
    struct generation *g = INST(h)->gen;
    struct plugin_instance *p = i < g->nstages ? g->stages[i]
                                : i - g->nstages < g->ndplugins ? g->dplugins[i - g->nstages]
                                : NULL;
    if (!p)
        return -1;
    *name = p->entry->name;
    *version = p->desc->version;
    *kind = (enum apx_kind)p->desc->kind;
    return 0;
}

static const char *host_last_reload(const struct apx_host *h)
{
    return INST(h)->core->last_reload;
}

static double host_uptime(const struct apx_host *h)
{
    return difftime(time(NULL), (time_t)counters_created(INST(h)->core->counters));
}

/* ---- work off the loop ---- */

static int host_work_submit(const struct apx_host *h, void (*work)(void *arg),
                            void (*done)(void *arg), void *arg)
{
    struct worker_pool *p = core_workers(INST(h)->core);
    return p ? workers_submit(p, work, done, arg) : -1;
}

static void host_resume(struct apx_exchange *e, int verdict)
{
    exchange_resume(EX(e), verdict);
}

/* ---- since 2.0 ---- */

static void host_error_set(struct apx_error *err, const char *fmt, ...) APX_FORMAT(2, 3);
static void host_error_set(struct apx_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

static int host_transform_body(const struct apx_host *h, struct apx_exchange *e)
{
    struct exchange *ex = EX(e);
    struct plugin_instance *p = INST(h);
    if (ex->hooks != HOOKS_RUNNING || ex->state != EX_UPSTREAM || !ex->resp_headers ||
        !p->desc->stage->on_response_transform)
        return -1;
    return stages_transform_add(ex, p->slot);
}

static int host_transform_emit(struct apx_exchange *e, const void *data, size_t len)
{
    return stages_transform_emit(EX(e), data, len);
}

static const struct apx_host host_table = {
    .abi_major = APX_ABI_MAJOR,
    .abi_minor = APX_ABI_MINOR,
    .struct_size = sizeof(struct apx_host),
    .log = host_log,
    .log_ex = host_log_ex,
    .setting = host_setting,
    .opt_string = config_opt_string,
    .opt_int = config_opt_int,
    .opt_double = config_opt_double,
    .opt_bool = config_opt_bool,
    .opt_list_len = config_opt_list_len,
    .opt_list_item = config_opt_list_item,
    .counter = host_counter,
    .counter_add = host_counter_add,
    .counter_get = host_counter_get,
    .counter_each = host_counter_each,
    .timer_start = host_timer_start,
    .timer_stop = host_timer_stop,
    .route_add = host_route_add,
    .ex_id = host_ex_id,
    .ex_method = host_ex_method,
    .ex_path = host_ex_path,
    .ex_header_count = host_ex_header_count,
    .ex_header = host_ex_header,
    .ex_header_get = host_ex_header_get,
    .ex_header_set = host_ex_header_set,
    .ex_body = host_ex_body,
    .ex_body_replace = host_ex_body_replace,
    .ex_status = host_ex_status,
    .ex_resp_header_count = host_ex_resp_header_count,
    .ex_resp_header = host_ex_resp_header,
    .ex_resp_header_get = host_ex_resp_header_get,
    .ex_slot = host_ex_slot,
    .respond = host_respond,
    .stream_start = host_stream_start,
    .stream_write = host_stream_write,
    .stream_end = host_stream_end,
    .block = host_block,
    .retry_after = host_retry_after,
    .ex_response_started = host_ex_response_started,
    .detector_count = host_detector_count,
    .detector_get = host_detector_get,
    .detector_find = host_detector_find,
    .revision = host_revision,
    .plugin_info = host_plugin_info,
    .last_reload = host_last_reload,
    .uptime = host_uptime,
    .work_submit = host_work_submit,
    .resume = host_resume,
    .block_header = host_block_header,
    .counter_set = host_counter_set,
    .error_set = host_error_set,
    .transform_body = host_transform_body,
    .transform_emit = host_transform_emit,
};

void host_lend(struct plugin_instance *p)
{
    p->api = host_table;
    p->magic = INSTANCE_MAGIC;
}

void host_stop_timers(struct plugin_instance *p)
{
    while (p->timers)
        timer_unlink(p->timers);
}
