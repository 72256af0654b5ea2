/*
 * metrics stage: meters every proxied request — status, bytes, latency,
 * time to first byte, and the tokens the upstream reports — into host
 * counters, which survive reloads and core restarts, and serves them:
 * GET /metrics (JSON), /metrics/prometheus and /metrics/stream (SSE)
 * (SPEC sections 4 and 7).
 *
 * It reads responses as they pass and never changes them; the only thing it
 * changes is the request's Accept-Encoding, narrowed to what it can decode,
 * so that no answer goes unmetered. It must never buffer a stream: SSE is
 * parsed incrementally; only JSON bodies are kept, up to a bound.
 */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>

#include "metrics.h"
#include "prom.h"
#include "usage.h"

#define RESP_MAGIC 0x52455350u         /* "RESP" */
#define MAX_GUNZIPPED (32u * 1024 * 1024)

/* How a response's usage is read. */
enum body_mode { BODY_NONE, BODY_SSE, BODY_JSON, BODY_GZIP_JSON, BODY_UNREADABLE };

/* Per exchange, in the plugin's slot from on_request to on_done. */
struct resp {
    uint32_t magic;
    enum body_mode mode;
    struct sse_reader sse;
    struct usage u;
    uint8_t *body;                     /* JSON bodies, at most max_body bytes */
    size_t len, cap;
    bool overflow;
    time_t started;                    /* prices in effect at the request's arrival */
    int64_t started_ms;
    struct who who;                    /* who sent it (headers only) */
    struct cost cost;                  /* what it cost, once metered */
    bool costed;
    int64_t reserved;                  /* held against its caps while in flight */
    bool repriced;                     /* reserved holds the stream's usage so far */
};

/* ---- per-exchange state ---- */

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}


static void resp_reset(struct resp *r)
{
    sse_free(&r->sse);
    free(r->body);
    memset(r, 0, sizeof *r);
    r->magic = RESP_MAGIC;
}

static struct resp *resp_of(const struct apx_host *h, struct apx_exchange *ex)
{
    struct resp *r = *h->ex_slot(h, ex);
    assert(!r || r->magic == RESP_MAGIC);
    return r;
}

/* Does the Accept-Encoding list accept `coding` (present, and not q=0)? */
static bool accepts(const char *list, const char *coding)
{
    size_t cl = strlen(coding);
    for (const char *p = list; *p; p += *p == ',') {
        p += strspn(p, " \t");
        size_t n = strcspn(p, ",;"), k = n;
        while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t'))
            k--;
        const char *q = p + n, *end = p + strcspn(p, ",");
        double weight = 1;
        while (q < end && (q = strstr(q, "q=")) && q < end) {
            weight = strtod(q + 2, NULL);
            q += 2;
        }
        if (k == cl && strncasecmp(p, coding, cl) == 0 && weight > 0)
            return true;
        p = end;
    }
    return false;
}

/* Ask the upstream only for encodings the usage reader can undo (SPEC §7):
 * Claude Code accepts br and zstd too, which would leave answers unmetered. */
static void narrow_accept_encoding(const struct apx_host *h, struct apx_exchange *ex)
{
    const char *ae = h->ex_header_get(ex, "accept-encoding");
    if (!ae)
        return;
    const char *want = accepts(ae, "gzip") ? "gzip" : "identity";
    if (strcasecmp(ae, want) != 0)
        h->ex_header_set(ex, "accept-encoding", want);
}

static int on_request(void *state, struct apx_exchange *ex)
{
    struct metrics *m = state;
    const struct apx_host *h = m->host;
    struct resp *r = calloc(1, sizeof *r);
    if (!r)
        return APX_OK; /* metering is not worth failing a request for */
    resp_reset(r);
    r->started_ms = (int64_t)now_ms();
    r->started = (time_t)(r->started_ms / 1000);
    who_identify(h, ex, &m->devs, &r->who);
    *h->ex_slot(h, ex) = r;
    h->counter_add(m->started, 1);
    narrow_accept_encoding(h, ex);
    return caps_check(m, ex, &r->who, &r->reserved);
}

static enum body_mode mode_of(const char *type, const char *encoding)
{
    bool plain = !encoding || !*encoding || strcasecmp(encoding, "identity") == 0;
    if (type && strncasecmp(type, "text/event-stream", 17) == 0)
        return plain ? BODY_SSE : BODY_UNREADABLE;
    if (!type || !strstr(type, "json"))
        return BODY_NONE;
    if (plain)
        return BODY_JSON;
    return strcasecmp(encoding, "gzip") == 0 || strcasecmp(encoding, "x-gzip") == 0
               ? BODY_GZIP_JSON : BODY_UNREADABLE;
}

/* A retried exchange sees several heads: only the last answer counts. */
static int on_response_head(void *state, struct apx_exchange *ex)
{
    struct metrics *m = state;
    const struct apx_host *h = m->host;
    struct resp *r = resp_of(h, ex);
    if (!r)
        return APX_OK;
    time_t started = r->started;
    int64_t started_ms = r->started_ms, reserved = r->reserved;
    struct who who = r->who;
    resp_reset(r);
    r->reserved = reserved;
    r->started = started;
    r->started_ms = started_ms;
    r->who = who;
    who_response(h, ex, &r->who);
    r->mode = mode_of(h->ex_resp_header_get(ex, "content-type"),
                      h->ex_resp_header_get(ex, "content-encoding"));
    if (r->mode == BODY_SSE)
        sse_init(&r->sse);
    return APX_OK;
}

static void keep_body(struct resp *r, const uint8_t *data, size_t len, size_t max)
{
    if (r->overflow)
        return;
    if (r->len + len > max) {
        r->overflow = true;
        return;
    }
    if (r->len + len > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + len)
            cap *= 2;
        uint8_t *b = realloc(r->body, cap);
        if (!b) {
            r->overflow = true;
            return;
        }
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
}

static void on_response_body(void *state, struct apx_exchange *ex, const uint8_t *data,
                             size_t len)
{
    struct metrics *m = state;
    struct resp *r = resp_of(m->host, ex);
    if (!r)
        return;
    if (r->mode == BODY_SSE) {
        sse_feed(&r->sse, (const char *)data, len, &r->u);
        if (r->u.seen && !r->repriced) { /* message_start: the input is known now */
            struct cost c;
            prices_cost(&m->prices, &r->u, r->started, &c);
            caps_update(m, &r->who, &r->reserved, c.total);
            r->repriced = true;
        }
    } else if (r->mode == BODY_JSON || r->mode == BODY_GZIP_JSON)
        keep_body(r, data, len, (size_t)m->max_body);
}

/* ---- on_done: the figures of one request ---- */

static void observe(const struct apx_host *h, const struct hist_counters *hc, double v)
{
    for (size_t i = 0; i < HIST_NBOUNDS; i++)
        if (v <= hist_bounds[i])
            h->counter_add(hc->bucket[i], 1);
    h->counter_add(hc->bucket[HIST_NBOUNDS], 1);
    h->counter_add(hc->count, 1);
    h->counter_add(hc->sum_us, (uint64_t)(v * 1e6 + 0.5));
}

/* Read a kept JSON body; false when it could not be read. */
static bool read_json(struct resp *r)
{
    if (r->overflow)
        return false;
    if (r->mode == BODY_JSON) {
        usage_from_json((const char *)r->body, r->len, &r->u);
        return true;
    }
    uint8_t *plain = NULL;
    size_t n = 0;
    if (usage_gunzip(r->body, r->len, MAX_GUNZIPPED, &plain, &n) < 0)
        return false;
    usage_from_json((const char *)plain, n, &r->u);
    free(plain);
    return true;
}

/* A model name as a label value: printable, no quote or backslash. */
static void model_label(const char *model, char *buf, size_t size)
{
    size_t o = 0;
    for (const char *p = model; *p && o + 1 < size; p++)
        buf[o++] = isalnum((unsigned char)*p) || strchr("._-:@/", *p) ? *p : '_';
    buf[o] = '\0';
    if (o == 0)
        snprintf(buf, size, "unknown");
}

static void add_token(const struct apx_host *h, const char *family, const char *model,
                      int64_t v)
{
    if (v <= 0)
        return;
    char name[128];
    snprintf(name, sizeof name, "%s{model=\"%s\"}", family, model);
    struct apx_counter *c = h->counter(h, name);
    if (!c) { /* table full or name too long: keep the total right at least */
        snprintf(name, sizeof name, "%s{model=\"other\"}", family);
        c = h->counter(h, name);
    }
    h->counter_add(c, (uint64_t)v);
}

static void count_tokens(const struct apx_host *h, const struct usage *u)
{
    char model[64];
    model_label(u->model, model, sizeof model);
    add_token(h, "tokens_input_total", model, u->input_tokens);
    add_token(h, "tokens_output_total", model, u->output_tokens);
    add_token(h, "tokens_cache_read_total", model, u->cache_read_input_tokens);
    add_token(h, "tokens_cache_creation_total", model, u->cache_creation_input_tokens);
    add_token(h, "tokens_cache_creation_5m_total", model, u->cache_creation_5m);
    add_token(h, "tokens_cache_creation_1h_total", model, u->cache_creation_1h);
    add_token(h, "server_tool_web_search_requests_total", model, u->web_search_requests);
    add_token(h, "server_tool_web_fetch_requests_total", model, u->web_fetch_requests);
}

/* Tokens of the answer; whether it carried an error event or body. */
static bool meter_usage(struct metrics *m, struct resp *r)
{
    const struct apx_host *h = m->host;
    if (r->mode == BODY_UNREADABLE ||
        ((r->mode == BODY_JSON || r->mode == BODY_GZIP_JSON) && !read_json(r)))
        h->counter_add(m->unmetered, 1);
    if (r->mode == BODY_SSE && r->u.seen && !r->u.complete)
        h->counter_add(m->incomplete, 1); /* cut short: what was reported still counts */
    if (r->u.seen) {
        count_tokens(h, &r->u);
        costs_count(m, &r->u, r->started, &r->cost);
        r->costed = true;
    }
    if (r->mode == BODY_SSE && r->u.error)
        h->counter_add(m->stream_errors, 1);
    return r->u.error;
}

/* Proxy-made 404/405 are answers about the proxy's own routes (a wrong
 * method, an unknown path on the dashboard port), not API traffic. */
/* The proxy's own pages and feeds: never API traffic, whatever they answer
 * (a viewer refused with 503 is no API error). */
static bool own_route(const char *path)
{
    static const char *const prefixes[] = { "/metrics", "/dashboard", "/health", NULL };
    for (const char *const *p = prefixes; *p; p++) {
        size_t n = strlen(*p);
        if (strncmp(path, *p, n) == 0 && (path[n] == '\0' || path[n] == '/' || path[n] == '?'))
            return true;
    }
    return false;
}

static bool is_api_traffic(const struct apx_host *h, struct apx_exchange *ex,
                           const struct apx_done_info *info, const struct resp *r)
{
    if (r || !info->local)
        return true;
    const char *path = h->ex_path(ex);
    if (path && own_route(path))
        return false;
    return info->proxy_error && info->status != 404 && info->status != 405;
}

static void count_request(struct metrics *m, const struct apx_done_info *info, bool error)
{
    const struct apx_host *h = m->host;
    h->counter_add(m->requests, 1);
    h->counter_add(m->bytes_in, info->bytes_in);
    h->counter_add(m->bytes_out, info->bytes_out);
    char name[64];
    snprintf(name, sizeof name, "requests_by_status_total{status=\"%d\"}", info->status);
    h->counter_add(h->counter(h, name), 1);
    if (info->proxy_error)
        h->counter_add(m->proxy_errors, 1);
    if (info->truncated)
        h->counter_add(m->truncated, 1);
    if (info->client_gone)
        h->counter_add(m->client_gone, 1);
    /* a client that leaves is its own choice, not a failure of the proxy */
    bool failed = (info->status >= 400 && !info->client_gone) || info->proxy_error ||
                  info->truncated || error;
    if (failed)
        h->counter_add(m->errors, 1);
    observe(h, &m->latency, info->seconds);
    if (info->ttfb_seconds >= 0)
        observe(h, &m->ttfb, info->ttfb_seconds);
}

static void write_ledger(struct metrics *m, const struct resp *r,
                         const struct apx_done_info *info)
{
    struct ledger_row row;
    const struct who *w = &r->who;
    memset(&row, 0, sizeof row);
    row.time_ms = r->started_ms;
    snprintf(row.developer, sizeof row.developer, "%s", w->developer);
    snprintf(row.team, sizeof row.team, "%s", w->team);
    snprintf(row.session, sizeof row.session, "%s", w->session);
    snprintf(row.prompt_id, sizeof row.prompt_id, "%s", w->prompt_id);
    snprintf(row.request_class, sizeof row.request_class, "%s", w->request_class);
    label_clean(r->u.model[0] ? r->u.model : "", row.model, sizeof row.model);
    row.status = info->status;
    row.input = r->u.input_tokens;
    row.output = r->u.output_tokens;
    row.cache_read = r->u.cache_read_input_tokens;
    if (r->costed) {
        row.cache_write_5m = r->cost.tokens_5m;
        row.cache_write_1h = r->cost.tokens_1h;
        row.cost_nanousd = r->cost.total;
        row.cache_savings_nanousd = r->cost.savings;
    }
    row.web_search = r->u.web_search_requests;
    row.web_fetch = r->u.web_fetch_requests;
    row.duration_ms = info->seconds * 1000;
    row.ttfb_ms = info->ttfb_seconds >= 0 ? info->ttfb_seconds * 1000 : -1;
    row.retries = (int)info->retries;
    row.client_retries = w->client_retry;
    snprintf(row.request_id, sizeof row.request_id, "%s", w->request_id);
    snprintf(row.client_request_id, sizeof row.client_request_id, "%s", w->client_request_id);
    snprintf(row.client_version, sizeof row.client_version, "%s", w->client_version);
    ledger_stage_write(m, &row);
}

static void on_done(void *state, struct apx_exchange *ex, const struct apx_done_info *info)
{
    struct metrics *m = state;
    assert(m->magic == METRICS_MAGIC);
    const struct apx_host *h = m->host;
    struct resp *r = resp_of(h, ex);
    if (is_api_traffic(h, ex, info, r))
        count_request(m, info, r ? meter_usage(m, r) : false);
    if (!r)
        return;
    costs_attribute(m, &r->who, r->costed ? &r->cost : NULL);
    caps_done(m, &r->who, r->reserved, r->costed ? r->cost.total : 0);
    if (is_api_traffic(h, ex, info, r))
        write_ledger(m, r, info);
    h->counter_add(m->ended, 1);
    *h->ex_slot(h, ex) = NULL;
    sse_free(&r->sse);
    free(r->body);
    r->magic = 0;
    free(r);
}

/* ---- figures kept by the stage itself ---- */

uint64_t metrics_active(const struct metrics *m)
{
    const struct apx_host *h = m->host;
    uint64_t s = h->counter_get(m->started), e = h->counter_get(m->ended),
             a = h->counter_get(m->abandoned);
    return s > e + a ? s - e - a : 0;
}

double metrics_recent_error_rate(const struct metrics *m)
{
    const struct apx_host *h = m->host;
    uint64_t now = now_ms(), oldest_t = UINT64_MAX;
    size_t oldest = METRICS_RECENT;
    for (size_t i = 0; i < METRICS_RECENT; i++) {
        uint64_t t = h->counter_get(m->recent[i][2]);
        if (t && t <= now && now - t <= METRICS_RECENT * METRICS_TICK_MS + METRICS_TICK_MS &&
            t < oldest_t) {
            oldest_t = t;
            oldest = i;
        }
    }
    if (oldest == METRICS_RECENT)
        return -1;
    uint64_t req = h->counter_get(m->requests) - h->counter_get(m->recent[oldest][0]);
    uint64_t err = h->counter_get(m->errors) - h->counter_get(m->recent[oldest][1]);
    return req ? (double)err / (double)req : -1;
}

static void sample_recent(struct metrics *m)
{
    const struct apx_host *h = m->host;
    uint64_t now = now_ms();
    size_t slot = (size_t)(now / METRICS_TICK_MS % METRICS_RECENT);
    h->counter_set(m->recent[slot][0], h->counter_get(m->requests));
    h->counter_set(m->recent[slot][1], h->counter_get(m->errors));
    h->counter_set(m->recent[slot][2], now);
}

static int recent_init(struct metrics *m)
{
    static const char *const what[] = { "requests", "errors", "time_ms" };
    char name[96];
    for (size_t i = 0; i < METRICS_RECENT; i++) {
        for (size_t k = 0; k < 3; k++) {
            snprintf(name, sizeof name, PROM_INTERNAL_PREFIX "recent_%s{slot=\"%zu\"}", what[k],
                     i);
            if (!(m->recent[i][k] = m->host->counter(m->host, name)))
                return -1;
        }
    }
    return 0;
}

/* ---- GET /metrics and /metrics/prometheus ---- */

static void route_metrics(void *arg, struct apx_exchange *ex)
{
    struct metrics *m = arg;
    const struct apx_host *h = m->host;
    struct metrics_snapshot s;
    json_t *doc = NULL;
    char *text = NULL;
    if (snapshot_take(m, &s) == 0 && (doc = snapshot_json(m, &s)))
        text = json_dumps(doc, JSON_INDENT(2));
    if (text)
        h->respond(ex, 200, "application/json", text, strlen(text));
    else
        h->respond(ex, 500, "application/json", "{}", 2);
    free(text);
    json_decref(doc);
    snapshot_free(&s);
}

static void route_prometheus(void *arg, struct apx_exchange *ex)
{
    struct metrics *m = arg;
    const struct apx_host *h = m->host;
    struct metrics_snapshot s;
    size_t len = 0;
    char *text = snapshot_take(m, &s) == 0 ? snapshot_prometheus(m, &s, &len) : NULL;
    if (text)
        h->respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    else
        h->respond(ex, 500, "text/plain", "out of memory\n", 14);
    free(text);
    snapshot_free(&s);
}

/* ---- GET /metrics/stream ---- */

static void drop_viewer(struct metrics *m, struct apx_exchange *ex)
{
    for (size_t i = 0; i < m->nviewers; i++) {
        if (m->viewers[i] == ex) {
            m->viewers[i] = m->viewers[--m->nviewers];
            return;
        }
    }
}

static void viewer_gone(void *arg, struct apx_exchange *ex)
{
    drop_viewer(arg, ex);
}

/* One SSE event with the compact snapshot, or NULL. */
static char *stream_event(struct metrics *m, size_t *len)
{
    struct metrics_snapshot s;
    json_t *doc = NULL;
    char *text = NULL, *event = NULL;
    if (snapshot_take(m, &s) == 0 && (doc = snapshot_json(m, &s)))
        text = json_dumps(doc, JSON_COMPACT);
    size_t n = text ? strlen(text) + 16 : 0;
    if (text && (event = malloc(n)))
        *len = (size_t)snprintf(event, n, "data: %s\n\n", text);
    free(text);
    json_decref(doc);
    snapshot_free(&s);
    return event;
}

static void end_viewer(struct metrics *m, struct apx_exchange *ex)
{
    drop_viewer(m, ex);
    m->host->stream_end(ex);
}

static void route_stream(void *arg, struct apx_exchange *ex)
{
    struct metrics *m = arg;
    const struct apx_host *h = m->host;
    static const char hello[] = "retry: 2000\n\n";
    if (m->nviewers == METRICS_MAX_VIEWERS) {
        h->respond(ex, 503, "text/plain", "too many viewers\n", 17);
        return;
    }
    if (h->stream_start(ex, 200, "text/event-stream", viewer_gone, m) < 0) {
        h->respond(ex, 500, "text/plain", "cannot stream\n", 14);
        return;
    }
    m->viewers[m->nviewers++] = ex;
    size_t len = 0;
    char *event = stream_event(m, &len);
    if (h->stream_write(ex, hello, sizeof hello - 1) < 0 ||
        (event && h->stream_write(ex, event, len) < 0))
        end_viewer(m, ex);
    free(event);
}

/* After a successful reload the new generation serves the stream: end ours
 * (EventSource reconnects by itself) so this generation can be let go. */
static bool reloaded_since(const struct metrics *m)
{
    const char *now = m->host->last_reload(m->host);
    return strcmp(now, m->reload_seen) != 0 && strncmp(now, "ok", 2) == 0;
}

static void tick(void *arg)
{
    struct metrics *m = arg;
    const struct apx_host *h = m->host;
    m->tick = h->timer_start(h, METRICS_TICK_MS, tick, m);
    sample_recent(m);
    ledger_stage_tick(m);
    if (m->nviewers == 0)
        return;
    bool reloaded = reloaded_since(m);
    size_t len = 0;
    char *event = reloaded ? NULL : stream_event(m, &len);
    for (size_t i = m->nviewers; i-- > 0;) {
        struct apx_exchange *ex = m->viewers[i];
        if (reloaded || !event || h->stream_write(ex, event, len) < 0)
            end_viewer(m, ex);
    }
    free(event);
}

/* ---- init ---- */

static int hist_init(const struct apx_host *h, struct hist_counters *hc, const char *family)
{
    char name[128], le[24];
    for (size_t i = 0; i <= HIST_NBOUNDS; i++) {
        snprintf(name, sizeof name, "%s_bucket{le=\"%s\"}", family, hist_le(i, le, sizeof le));
        if (!(hc->bucket[i] = h->counter(h, name)))
            return -1;
    }
    snprintf(name, sizeof name, "%s_count", family);
    hc->count = h->counter(h, name);
    snprintf(name, sizeof name, "%s_sum_us", family);
    hc->sum_us = h->counter(h, name);
    return hc->count && hc->sum_us ? 0 : -1;
}

static int counters_init(struct metrics *m)
{
    const struct apx_host *h = m->host;
    struct { struct apx_counter **c; const char *name; } v[] = {
        { &m->requests, "requests_total" },
        { &m->errors, "request_errors_total" },
        { &m->proxy_errors, "proxy_errors_total" },
        { &m->truncated, "requests_truncated_total" },
        { &m->client_gone, "requests_client_gone_total" },
        { &m->bytes_in, "bytes_in_total" },
        { &m->bytes_out, "bytes_out_total" },
        { &m->incomplete, "usage_incomplete_total" },
        { &m->unmetered, "usage_unmetered_total" },
        { &m->stream_errors, "stream_errors_total" },
        { &m->started, PROM_INTERNAL_PREFIX "started_total" },
        { &m->ended, PROM_INTERNAL_PREFIX "ended_total" },
        { &m->abandoned, PROM_INTERNAL_PREFIX "abandoned_total" },
        { &m->core_pid, PROM_INTERNAL_PREFIX "core_pid" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!(*v[i].c = h->counter(h, v[i].name)))
            return -1;
    /* made now, so that a full counter table (thousands of model names)
     * still has somewhere to put their tokens */
    static const char *const families[] = {
        "tokens_input_total", "tokens_output_total", "tokens_cache_read_total",
        "tokens_cache_creation_total", "tokens_cache_creation_5m_total",
        "tokens_cache_creation_1h_total", "server_tool_web_search_requests_total",
        "server_tool_web_fetch_requests_total", NULL };
    char name[128];
    for (const char *const *f = families; *f; f++) {
        snprintf(name, sizeof name, "%s{model=\"other\"}", *f);
        if (!h->counter(h, name))
            return -1;
    }
    if (recent_init(m) < 0)
        return -1;
    if (hist_init(h, &m->latency, "request_duration_seconds") < 0 ||
        hist_init(h, &m->ttfb, "time_to_first_byte_seconds") < 0)
        return -1;
    return 0;
}

/* A new core process (the old one died) cannot finish the requests the old
 * one had in flight: write them off, or "active" would never come down.
 * Counters only grow, so the pid is set by adding the difference (mod 2^64). */
static void write_off_dead_core(struct metrics *m)
{
    const struct apx_host *h = m->host;
    uint64_t pid = (uint64_t)getpid(), old = h->counter_get(m->core_pid);
    if (pid == old)
        return;
    h->counter_add(m->abandoned, metrics_active(m));
    h->counter_add(m->core_pid, pid - old);
    caps_write_off(m);
}

static int routes_init(struct metrics *m, struct apx_error *err)
{
    const struct apx_host *h = m->host;
    const unsigned both = APX_ROUTE_MAIN | APX_ROUTE_DASHBOARD;
    struct { const char *path; unsigned ports; apx_route_fn fn; } r[] = {
        { "/metrics", APX_ROUTE_MAIN, route_metrics },
        { "/metrics/prometheus", both, route_prometheus },
        { "/metrics/stream", both, route_stream },
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        if (h->route_add(h, "GET", r[i].path, r[i].ports, r[i].fn, m) < 0) {
            h->error_set(err, "GET %s is already taken", r[i].path);
            return -1;
        }
    }
    return 0;
}

static int metrics_init(const struct apx_host *host, const struct apx_config *cfg,
                        void **state, struct apx_error *err)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (!m) {
        host->error_set(err, "out of memory");
        return -1;
    }
    m->magic = METRICS_MAGIC;
    m->host = host;
    if (host->opt_int(cfg, "max_body_bytes", 8 << 20, 1024, 256 << 20, &m->max_body, err) < 0)
        goto fail;
    if (counters_init(m) < 0) {
        host->error_set(err, "the counter table is full");
        goto fail;
    }
    if (costs_init(m, err) < 0)
        goto fail;
    if (routes_init(m, err) < 0 || ledger_stage_init(m, err) < 0 || caps_init(m, err) < 0) {
        ledger_stage_fini(m);
        costs_fini(m);
        goto fail;
    }
    snprintf(m->reload_seen, sizeof m->reload_seen, "%s", host->last_reload(host));
    write_off_dead_core(m);
    sample_recent(m);
    m->tick = host->timer_start(host, METRICS_TICK_MS, tick, m);
    *state = m;
    return 0;
fail:
    free(m);
    return -1;
}

static void metrics_fini(void *state)
{
    struct metrics *m = state;
    assert(m->magic == METRICS_MAGIC);
    /* no timer_stop: the host has stopped this generation's timers already */
    ledger_stage_fini(m);
    costs_fini(m);
    m->magic = 0;
    free(m);
}

static const struct apx_stage_hooks stage_hooks = {
    .struct_size = sizeof(struct apx_stage_hooks),
    .on_request = on_request,
    .on_response_head = on_response_head,
    .on_response_body = on_response_body,
    .on_done = on_done,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_STAGE,
    .name = "metrics",
    .version = "1.0.0",
    .description = "requests, tokens, latency; GET /metrics, /metrics/prometheus, /metrics/stream",
    .init = metrics_init,
    .fini = metrics_fini,
    .stage = &stage_hooks,
};
