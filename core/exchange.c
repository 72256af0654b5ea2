/*
 * exchange: one request's life. See exchange.h for the contract.
 *
 * Ownership: the exchange frees itself, exactly once, in finish(). Server
 * sides and the upstream hold plain pointers and drop them when told
 * (front_ops.finished, upstream_stream_release). Nothing here frees a front
 * or an upstream stream.
 */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "core.h"
#include "exchange.h"
#include "log.h"
#include "ratelimit_memo.h"
#include "routes.h"
#include "stages.h"
#include "upstream.h"

#define BODY_INITIAL_CAP 4096
/* retry-after of the proxy's own 429/503/529: soon, as the connection
 * limit's 503 says too (listener.c) */
#define OWN_RETRY_AFTER "1"

static uint64_t active_exchanges;
static struct exchange *local_streams; /* open streamed local answers */

static void stream_list_remove(struct exchange *ex)
{
    struct exchange_local *l = ex->local;
    if (!l || !l->streaming)
        return;
    if (l->prev)
        l->prev->local->next = l->next;
    else
        local_streams = l->next;
    if (l->next)
        l->next->local->prev = l->prev;
    l->prev = l->next = NULL;
    l->streaming = false;
}

struct exchange_local *exchange_local_part(struct exchange *ex)
{
    if (!ex->local)
        ex->local = calloc(1, sizeof *ex->local);
    return ex->local;
}

/* The local answer's cancel hook, if the stage gave one. */
static void local_cancel(struct exchange *ex)
{
    if (ex->local && ex->local->cancel)
        ex->local->cancel(ex, ex->local->cancel_arg);
}

static void local_free(struct exchange_local *l)
{
    if (!l)
        return;
    free(l->content_type);
    free(l->body);
    free(l->cancel_arg);
    free(l);
}

uint64_t exchange_active_count(void) { return active_exchanges; }

static void check(const struct exchange *ex)
{
    assert(ex && ex->magic == EXCHANGE_MAGIC);
    (void)ex;
}

struct exchange *exchange_new(struct core *core, enum listener_kind listener,
                              const struct front_ops *front, void *front_ctx,
                              const char *protocol)
{
    struct exchange *ex = calloc(1, sizeof *ex);
    if (!ex)
        return NULL;
    if (core->gen->nstages && !(ex->slots = calloc(core->gen->nstages, sizeof *ex->slots))) {
        free(ex);
        return NULL;
    }
    ex->magic = EXCHANGE_MAGIC;
    ex->id = ++core->next_exchange_id;
    ex->core = core;
    ex->gen = generation_ref(core->gen);
    ex->front = front;
    ex->front_ctx = front_ctx;
    ex->listener = listener;
    ex->protocol = protocol;
    ex->state = EX_READING;
    ex->resp_length = -1;
    clock_gettime(CLOCK_MONOTONIC, &ex->t_start);
    active_exchanges++;
    return ex;
}

int exchange_set_request(struct exchange *ex, const char *method, size_t mlen,
                         const char *target, size_t tlen)
{
    /* one allocation for both: "METHOD\0target\0" */
    char *both = malloc(mlen + tlen + 2);
    if (!both)
        return -1;
    memcpy(both, method, mlen);
    both[mlen] = '\0';
    memcpy(both + mlen + 1, target, tlen);
    both[mlen + 1 + tlen] = '\0';
    free(ex->method);
    ex->method = both;
    ex->target = both + mlen + 1;
    ex->head_only = strcmp(ex->method, "HEAD") == 0;
    return 0;
}

int exchange_append_body(struct exchange *ex, const void *p, size_t n, int *status)
{
    size_t max = (size_t)ex->gen->settings.max_request_body;
    if (n > max - ex->body_len) {
        *status = 413;
        return -1;
    }
    if (ex->body_len + n > ex->body_cap) {
        size_t cap = ex->body_cap ? ex->body_cap : BODY_INITIAL_CAP;
        while (cap < ex->body_len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        uint8_t *b = realloc(ex->body, cap);
        if (!b) {
            *status = 500;
            return -1;
        }
        ex->body = b;
        ex->body_cap = cap;
    }
    memcpy(ex->body + ex->body_len, p, n);
    ex->body_len += n;
    ex->bytes_in += n;
    return 0;
}

int exchange_reserve_body(struct exchange *ex, size_t n)
{
    if (n <= ex->body_cap || n > (size_t)ex->gen->settings.max_request_body)
        return 0;
    uint8_t *b = realloc(ex->body, n);
    if (!b)
        return -1;
    ex->body = b;
    ex->body_cap = n;
    return 0;
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static const char *outcome_note(enum exchange_outcome o)
{
    switch (o) {
    case OUT_CLIENT_GONE: return " (client closed the request)";
    case OUT_UPSTREAM_FAILED: return " (upstream failed)";
    case OUT_TRUNCATED: return " (response truncated)";
    default: return "";
    }
}

static void log_request(const struct exchange *ex)
{
    const struct settings *s = &ex->gen->settings;
    double total = seconds_between(&ex->t_start, &ex->t_end);
    double ttfb = ex->t_first_byte.tv_sec ? seconds_between(&ex->t_start, &ex->t_first_byte) : -1;
    const char *upstream = !ex->went_upstream ? "local"
                           : ex->upstream_reused ? "reused" : "new";
    bool slow = total > s->log_slow_threshold;
    if (!s->log_requests && !slow)
        return;
    char target[256];
    snprintf(target, sizeof target, "%s", ex->target ? ex->target : "-");
    log_msg(slow ? LOG_LVL_WARN : LOG_LVL_INFO, ex->id,
            "%s%s %s %s %d in=%llu out=%llu time=%.3fs ttfb=%.3fs upstream=%s%s",
            slow ? "slow request: " : "", ex->protocol, ex->method ? ex->method : "-",
            target, ex->status, (unsigned long long)ex->bytes_in,
            (unsigned long long)ex->bytes_out, total, ttfb, upstream,
            outcome_note(ex->outcome));
}

static void run_on_done(struct exchange *ex)
{
    if (ex->gen->nstages == 0)
        return;
    struct apx_done_info info = {
        .struct_size = sizeof info,
        .status = ex->status,
        .local = !ex->went_upstream,
        .client_gone = ex->outcome == OUT_CLIENT_GONE,
        .truncated = ex->outcome == OUT_TRUNCATED,
        .proxy_error = ex->outcome == OUT_UPSTREAM_FAILED || ex->outcome == OUT_REJECTED,
        .bytes_in = ex->bytes_in,
        .bytes_out = ex->bytes_out,
        .seconds = seconds_between(&ex->t_start, &ex->t_end),
        .ttfb_seconds = ex->t_first_byte.tv_sec
                            ? seconds_between(&ex->t_start, &ex->t_first_byte) : -1,
        .retries = ex->retries,
    };
    stages_on_done(ex, &info);
}

static void unref_later(evutil_socket_t fd, short what, void *arg)
{
    generation_unref(arg);
}

/* An exchange can end inside a plugin's own code (a stage's timer ends a
 * stream it serves); if that drops the last reference of an old
 * generation, releasing it there would dlclose the code still running.
 * Let go of it from the loop instead. */
static void generation_unref_later(struct core *core, struct generation *g)
{
    static const struct timeval now = { 0, 0 };
    if (event_base_once(core->base, -1, EV_TIMEOUT, unref_later, g, &now) < 0)
        generation_unref(g); /* out of memory: release now, as before */
}

/* End the exchange: release the upstream, log, free, tell the front. */
static void finish(struct exchange *ex, enum exchange_outcome outcome)
{
    check(ex);
    if (ex->state == EX_DONE)
        return;
    ex->outcome = outcome;
    clock_gettime(CLOCK_MONOTONIC, &ex->t_end);
    if (ex->ustream) {
        upstream_stream_release(ex->ustream);
        ex->ustream = NULL;
    }
    stream_list_remove(ex);
    if (outcome == OUT_CLIENT_GONE)
        local_cancel(ex);
    if (ex->retry_timer)
        event_del(ex->retry_timer);
    if (ex->status == 0 && outcome == OUT_CLIENT_GONE)
        ex->status = 499; /* nginx's convention: the client left first */
    log_request(ex);
    ex->state = EX_DONE;
    run_on_done(ex);

    const struct front_ops *front = ex->front;
    void *ctx = ex->front_ctx;
    struct core *core = ex->core;
    free(ex->method); /* and target */
    free(ex->body);
    free(ex->slots);
    free(ex->block);
    stages_transform_free(ex);
    local_free(ex->local);
    if (ex->retry_timer)
        event_free(ex->retry_timer);
    header_list_free(&ex->req_headers);
    generation_unref_later(core, ex->gen);
    ex->magic = 0;
    free(ex);
    active_exchanges--;
    if (ctx)
        front->finished(ctx);
    core_exchange_done(core);
}

static void fail_typed(struct exchange *ex, int status, const char *type,
                       const char *message, enum exchange_outcome outcome);

/* Answer as a stage's block asked, or with these defaults where it did not
 * say (or its details could not be kept). */
static void fail_blocked(struct exchange *ex, int status, const char *type, const char *message,
                         enum exchange_outcome outcome)
{
    const struct exchange_block *b = ex->block;
    fail_typed(ex, b && b->status ? b->status : status, b && b->type[0] ? b->type : type,
               b && b->message[0] ? b->message : message, outcome);
}

/* Act on what the on_request hooks decided. Returns true if the exchange
 * was answered (and is freed). */
static bool request_verdict(struct exchange *ex, enum apx_verdict v)
{
    switch (v) {
    case APX_OK:
        return false;
    case APX_RESPOND:
        if (ex->local && ex->local->status) {
            ex->responded = false; /* the deferred answer goes out now */
            exchange_respond(ex, ex->local->status, ex->local->content_type,
                             ex->local->body, ex->local->len);
        } else {
            fail_typed(ex, 500, "api_error", "a stage answered without a response",
                       OUT_REJECTED);
        }
        return true;
    case APX_BLOCK:
        fail_blocked(ex, 400, "invalid_request_error", "request blocked by the proxy",
                     OUT_REJECTED);
        return true;
    default:
        fail_typed(ex, 500, "api_error", "a pipeline stage failed on this request",
                   OUT_REJECTED);
        return true;
    }
}

static void run_request_hooks(struct exchange *ex);

static void send_upstream(struct exchange *ex)
{
    ex->state = EX_UPSTREAM;
    ex->went_upstream = true;
    if (upstream_submit(ex->gen->pool, ex) < 0)
        exchange_fail(ex, 500, "out of memory");
}

void exchange_request_complete(struct exchange *ex)
{
    check(ex);
    bool path_known;
    const struct route *r = routes_find(&ex->gen->routes, ex->listener, ex->method,
                                        ex->target, &path_known);
    if (r) {
        ex->state = EX_LOCAL;
        r->handler(ex, r->arg);
        return;
    }
    if (path_known) {
        exchange_fail(ex, 405, "method not allowed for this endpoint");
        return;
    }
    if (ex->listener == LISTENER_DASHBOARD) {
        exchange_fail(ex, 404, "not found: the dashboard port serves only the dashboard and metrics");
        return;
    }
    run_request_hooks(ex);
}

/* The on_request hooks from ex->hook_next on, then the upstream. */
static void run_request_hooks(struct exchange *ex)
{
    if (ex->gen->nstages) {
        enum apx_verdict v = stages_on_request(ex);
        if (v == APX_PENDING)
            return; /* exchange_resume goes on */
        if (request_verdict(ex, v))
            return;
    }
    send_upstream(ex);
}

void exchange_resume(struct exchange *ex, int verdict)
{
    check(ex);
    assert(ex->hooks == HOOKS_PENDING);
    ex->hooks = HOOKS_IDLE;
    if (ex->hook_only) {
        ex->hook_verdict = verdict;
        return;
    }
    if (ex->gone_while_pending) {
        finish(ex, OUT_CLIENT_GONE);
        return;
    }
    if (verdict == APX_PENDING)
        verdict = APX_ERROR; /* a stage cannot pend from its resume */
    if (verdict != APX_OK) {
        request_verdict(ex, (enum apx_verdict)verdict);
        return;
    }
    run_request_hooks(ex);
}

/* The proxy's own 429, 503 or 529 carries what Claude Code reads on every
 * such answer from the API: retry-after (whole seconds; over 60 it stops
 * retrying at once) and the plan usage last seen for this credential. */
static void own_refusal_headers(struct exchange *ex, struct header_list *h, bool retry_after)
{
    if (retry_after)
        header_list_add(h, "retry-after", 11, OWN_RETRY_AFTER, sizeof OWN_RETRY_AFTER - 1);
    if (ratelimit_memo_recall(&ex->req_headers, h) < 0)
        log_req(LOG_LVL_WARN, ex->id, "out of memory: the refusal goes without "
                "the plan-usage headers");
}

static void respond(struct exchange *ex, int status, const char *content_type,
                    const void *body, size_t len, enum exchange_outcome outcome)
{
    check(ex);
    struct header_list h = { 0 };
    ex->status = status;
    if (content_type)
        header_list_add(&h, "content-type", 12, content_type, strlen(content_type));
    /* a stage's block may carry headers (a spend cap's retry-after: the
     * seconds to the cap's reset, which our generic one must not repeat) */
    bool retry_after = false;
    if (ex->block && outcome == OUT_REJECTED)
        for (size_t i = 0; i < ex->block->nheaders; i++) {
            const char *name = ex->block->header[i][0];
            retry_after |= strcasecmp(name, "retry-after") == 0;
            header_list_add(&h, name, strlen(name), ex->block->header[i][1],
                            strlen(ex->block->header[i][1]));
        }
    if (status == 429 || status == 503 || status == 529)
        own_refusal_headers(ex, &h, !retry_after);
    ex->head_sent = true;
    if (ex->front_ctx) {
        bool empty = len == 0 || ex->head_only;
        ex->front->send_head(ex->front_ctx, status, &h, (int64_t)len, empty);
        if (!empty) {
            ex->front->send_data(ex->front_ctx, body, len);
            ex->bytes_out += len;
            ex->front->send_end(ex->front_ctx);
        }
    }
    header_list_free(&h);
    clock_gettime(CLOCK_MONOTONIC, &ex->t_first_byte);
    finish(ex, outcome);
}

void exchange_respond(struct exchange *ex, int status, const char *content_type,
                      const void *body, size_t len)
{
    respond(ex, status, content_type, body, len, status >= 400 ? OUT_REJECTED : OUT_COMPLETE);
}

static void fail_typed(struct exchange *ex, int status, const char *type,
                       const char *message, enum exchange_outcome outcome)
{
    char body[768];
    size_t n = http_error_body_typed(body, sizeof body, type, message);
    log_req(status >= 500 ? LOG_LVL_WARN : LOG_LVL_DEBUG, ex->id, "answering %d: %s",
            status, message);
    respond(ex, status, "application/json", body, n, outcome);
}

static void fail_with(struct exchange *ex, int status, const char *message,
                      enum exchange_outcome outcome)
{
    fail_typed(ex, status, http_error_type(status), message, outcome);
}

void exchange_fail(struct exchange *ex, int status, const char *message)
{
    fail_with(ex, status, message, OUT_REJECTED);
}

int exchange_local_start(struct exchange *ex, int status, const struct header_list *h)
{
    check(ex);
    ex->status = status;
    ex->head_sent = true;
    clock_gettime(CLOCK_MONOTONIC, &ex->t_first_byte);
    struct exchange_local *l = exchange_local_part(ex);
    if (!ex->front_ctx || !l)
        return -1;
    l->next = local_streams;
    if (local_streams)
        local_streams->local->prev = ex;
    local_streams = ex;
    l->streaming = true;
    return ex->front->send_head(ex->front_ctx, status, h, -1, false);
}

int exchange_local_send(struct exchange *ex, const void *p, size_t n)
{
    check(ex);
    if (!ex->front_ctx || ex->front->pending(ex->front_ctx) > EXCHANGE_LOCAL_BACKLOG)
        return -1;
    ex->bytes_out += n;
    return ex->front->send_data(ex->front_ctx, p, n);
}

void exchange_local_end(struct exchange *ex)
{
    check(ex);
    if (ex->front_ctx)
        ex->front->send_end(ex->front_ctx);
    finish(ex, OUT_COMPLETE);
}

void exchange_end_local_streams(void)
{
    while (local_streams) {
        struct exchange *ex = local_streams;
        stream_list_remove(ex);
        local_cancel(ex); /* the stage stops writing */
        exchange_local_end(ex);
    }
}

/* Did the client get the whole response, its length known, every byte
 * off our buffers? (Then a close before the upstream's end of stream is a
 * client done, not a client gone.) */
static bool response_delivered(const struct exchange *ex)
{
    return ex->state == EX_STREAMING && ex->resp_length >= 0 &&
           ex->bytes_out == (uint64_t)ex->resp_length && ex->front_ctx &&
           ex->front->pending(ex->front_ctx) == 0;
}

void exchange_client_gone(struct exchange *ex)
{
    check(ex);
    bool delivered = response_delivered(ex);
    ex->front_ctx = NULL;
    if (delivered) {
        log_req(LOG_LVL_DEBUG, ex->id, "client closed after the whole response");
        finish(ex, OUT_COMPLETE);
        return;
    }
    if (ex->hooks == HOOKS_PENDING) { /* a worker still reads the body: end at resume */
        ex->gone_while_pending = true;
        log_req(LOG_LVL_DEBUG, ex->id, "client went away; ending when the stage resumes");
        return;
    }
    log_req(LOG_LVL_DEBUG, ex->id, "client went away; cancelling");
    finish(ex, OUT_CLIENT_GONE);
}

uint64_t exchange_client_progress(const struct exchange *ex)
{
    return ex->front_ctx ? ex->front->client_progress(ex->front_ctx) : 0;
}

void exchange_front_drained(struct exchange *ex)
{
    check(ex);
    if (!ex->ustream || !ex->front_ctx || ex->uncredited == 0)
        return;
    size_t pending = ex->front->pending(ex->front_ctx);
    if (pending >= ex->uncredited)
        return;
    size_t credit = (size_t)(ex->uncredited - pending);
    ex->uncredited -= credit;
    upstream_stream_consume(ex->ustream, credit);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct exchange *ex = arg;
    check(ex);
    log_req(LOG_LVL_DEBUG, ex->id, "sending the request again (retry %u)", ex->retries);
    send_upstream(ex);
}

/* A stage asked for this answer to be dropped and the request sent again
 * (the same body: the request hooks do not run twice). */
static void schedule_retry(struct exchange *ex)
{
    if (ex->ustream) {
        upstream_stream_release(ex->ustream);
        ex->ustream = NULL;
    }
    ex->retries++;
    ex->status = 0;
    ex->state = EX_UPSTREAM;
    if (!ex->retry_timer && !(ex->retry_timer = evtimer_new(ex->core->base, retry_cb, ex))) {
        fail_with(ex, 502, "out of memory", OUT_UPSTREAM_FAILED);
        return;
    }
    struct timeval tv = { (time_t)(ex->retry_ms / 1000), (suseconds_t)((ex->retry_ms % 1000) * 1000) };
    ex->retry_ms = 0;
    evtimer_add(ex->retry_timer, &tv);
}

void exchange_upstream_head(struct exchange *ex, int status, struct header_list *h,
                            int64_t content_length)
{
    check(ex);
    ex->status = status;
    ratelimit_memo_learn(&ex->req_headers, h);
    if (ex->gen->nstages) {
        ex->resp_headers = h;
        enum apx_verdict v = stages_on_response_head(ex);
        ex->resp_headers = NULL;
        if (v != APX_OK)
            stages_transform_free(ex); /* this answer is discarded */
        if (v == APX_RETRY) {
            schedule_retry(ex);
            return;
        }
        if (v != APX_OK) {
            if (ex->ustream) {
                upstream_stream_release(ex->ustream);
                ex->ustream = NULL;
            }
            if (v == APX_BLOCK)
                fail_blocked(ex, 502, "api_error", "response blocked", OUT_UPSTREAM_FAILED);
            else
                fail_with(ex, 502, "a pipeline stage failed on the response", OUT_UPSTREAM_FAILED);
            return;
        }
    }
    if (ex->xform)
        content_length = -1; /* a transform may change the length: the front frames it */
    ex->state = EX_STREAMING;
    ex->head_sent = true;
    ex->resp_length = content_length;
    clock_gettime(CLOCK_MONOTONIC, &ex->t_first_byte);
    if (ex->front_ctx)
        ex->front->send_head(ex->front_ctx, status, h, content_length, false);
}

/* Body bytes for the client: to the stages that watch them, then out. */
static void send_body(struct exchange *ex, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    ex->bytes_out += n;
    if (ex->gen->nstages)
        stages_on_response_body(ex, p, n);
    ex->front->send_data(ex->front_ctx, p, n);
}

/* Run a piece through the transforming stages and send what they emit.
 * false: a stage failed, and the response is cut (the exchange is over). */
static bool transform_and_send(struct exchange *ex, const uint8_t *p, size_t n, bool end)
{
    const uint8_t *out;
    size_t outlen;
    if (stages_on_response_transform(ex, p, n, end, &out, &outlen) < 0) {
        log_req(LOG_LVL_ERROR, ex->id, "a stage failed transforming the response: cutting it");
        ex->front->send_abort(ex->front_ctx);
        finish(ex, OUT_TRUNCATED);
        return false;
    }
    send_body(ex, out, outlen);
    return true;
}

void exchange_upstream_data(struct exchange *ex, const uint8_t *p, size_t n)
{
    check(ex);
    if (!ex->front_ctx)
        return;
    ex->uncredited += n;
    if (ex->xform) {
        if (!transform_and_send(ex, p, n, false))
            return;
    } else {
        send_body(ex, p, n);
    }
    exchange_front_drained(ex);
}

void exchange_upstream_end(struct exchange *ex)
{
    check(ex);
    ex->ustream = NULL; /* the upstream has already let go of it */
    if (ex->front_ctx && ex->xform && !transform_and_send(ex, NULL, 0, true))
        return;
    if (ex->front_ctx)
        ex->front->send_end(ex->front_ctx);
    finish(ex, OUT_COMPLETE);
}

void exchange_upstream_fail(struct exchange *ex, int status, const char *message)
{
    check(ex);
    ex->ustream = NULL;
    if (ex->state == EX_UPSTREAM) {
        fail_with(ex, status, message, OUT_UPSTREAM_FAILED);
        return;
    }
    log_req(LOG_LVL_WARN, ex->id, "upstream failed after the response started: %s", message);
    /* what a transform still holds goes out before the cut shows */
    if (ex->front_ctx && ex->xform && !transform_and_send(ex, NULL, 0, true))
        return;
    if (ex->front_ctx)
        ex->front->send_abort(ex->front_ctx);
    finish(ex, OUT_TRUNCATED);
}
