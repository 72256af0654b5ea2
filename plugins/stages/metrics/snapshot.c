/*
 * snapshot: the metrics stage's figures read from host storage once per
 * render, as GET /metrics's JSON and GET /metrics/prometheus's text. Every
 * figure comes from host counters, so what is shown survives reloads and
 * core restarts, the recent error rate's window included.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "prom.h"

#define PROM_MAX_TEXT (8u * 1024 * 1024)

/* Token counters: JSON key, counter family. */
static const struct {
    const char *key, *family;
} token_kinds[] = {
    { "input", "tokens_input_total" },
    { "output", "tokens_output_total" },
    { "cache_read", "tokens_cache_read_total" },
    { "cache_creation", "tokens_cache_creation_total" },
    { "cache_creation_5m", "tokens_cache_creation_5m_total" },
    { "cache_creation_1h", "tokens_cache_creation_1h_total" },
    { "web_search_requests", "server_tool_web_search_requests_total" },
    { "web_fetch_requests", "server_tool_web_fetch_requests_total" },
};
#define NTOKEN_KINDS (sizeof token_kinds / sizeof token_kinds[0])

static void take_one(void *arg, const char *name, uint64_t value)
{
    struct metrics_snapshot *s = arg;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 128;
        struct metrics_counter *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->failed = true;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    snprintf(s->v[s->n].name, sizeof s->v[s->n].name, "%s", name);
    s->v[s->n++].value = value;
}

int snapshot_take(const struct metrics *m, struct metrics_snapshot *s)
{
    memset(s, 0, sizeof *s);
    m->host->counter_each(m->host, "", take_one, s);
    return s->failed ? -1 : 0;
}

void snapshot_free(struct metrics_snapshot *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

uint64_t snapshot_get(const struct metrics_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].name, name) == 0)
            return s->v[i].value;
    return 0;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- JSON ---- */

static json_t *num_or_null(double v)
{
    return v < 0 || isnan(v) ? json_null() : json_real(v);
}

static json_t *error_rate(uint64_t errors, uint64_t total)
{
    return json_real(total ? (double)errors / (double)total : 0.0);
}

static json_t *requests_json(const struct metrics *m, const struct metrics_snapshot *s)
{
    json_t *by_status = json_object();
    const char *pfx = "requests_by_status_total{status=\"";
    for (size_t i = 0; i < s->n; i++) {
        if (!starts_with(s->v[i].name, pfx))
            continue;
        char code[8];
        snprintf(code, sizeof code, "%.*s", (int)strcspn(s->v[i].name + strlen(pfx), "\""),
                 s->v[i].name + strlen(pfx));
        json_object_set_new(by_status, code, json_integer((json_int_t)s->v[i].value));
    }
    uint64_t total = snapshot_get(s, "requests_total");
    uint64_t errors = snapshot_get(s, "request_errors_total");
    return json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:I, s:I}",
        "total", (json_int_t)total,
        "active", (json_int_t)metrics_active(m),
        "by_status", by_status,
        "errors", (json_int_t)errors,
        "proxy_errors", (json_int_t)snapshot_get(s, "proxy_errors_total"),
        "truncated", (json_int_t)snapshot_get(s, "requests_truncated_total"),
        "client_gone", (json_int_t)snapshot_get(s, "requests_client_gone_total"),
        "stream_errors", (json_int_t)snapshot_get(s, "stream_errors_total"),
        "error_rate", error_rate(errors, total),
        "error_rate_recent", num_or_null(metrics_recent_error_rate(m)),
        "usage_incomplete", (json_int_t)snapshot_get(s, "usage_incomplete_total"),
        "usage_unmetered", (json_int_t)snapshot_get(s, "usage_unmetered_total"),
        "abandoned", (json_int_t)snapshot_get(s, "metrics_internal_abandoned_total"));
}

static json_t *token_figures(void)
{
    json_t *o = json_object();
    for (size_t k = 0; k < NTOKEN_KINDS; k++)
        json_object_set_new(o, token_kinds[k].key, json_integer(0));
    return o;
}

static void add_figure(json_t *o, const char *key, uint64_t v)
{
    json_int_t old = json_integer_value(json_object_get(o, key));
    json_object_set_new(o, key, json_integer(old + (json_int_t)v));
}

/* `family{model="X"}` -> X in buf; false if the name is not of that shape. */
static bool model_of(const char *name, const char *family, char *buf, size_t size)
{
    size_t fl = strlen(family);
    if (strncmp(name, family, fl) != 0 || strncmp(name + fl, "{model=\"", 8) != 0)
        return false;
    const char *v = name + fl + 8;
    snprintf(buf, size, "%.*s", (int)strcspn(v, "\""), v);
    return true;
}

static json_t *tokens_json(const struct metrics_snapshot *s)
{
    json_t *total = token_figures(), *by_model = json_object();
    for (size_t i = 0; i < s->n; i++) {
        char model[128];
        for (size_t k = 0; k < NTOKEN_KINDS; k++) {
            if (!model_of(s->v[i].name, token_kinds[k].family, model, sizeof model) ||
                s->v[i].value == 0) /* "other" exists before it counts anything */
                continue;
            json_t *mo = json_object_get(by_model, model);
            if (!mo)
                json_object_set_new(by_model, model, mo = token_figures());
            add_figure(mo, token_kinds[k].key, s->v[i].value);
            add_figure(total, token_kinds[k].key, s->v[i].value);
        }
    }
    json_object_set_new(total, "by_model", by_model);
    return total;
}

/* ---- costs ---- */

/* The value of label `label` in a counter name, into buf; false if absent. */
static bool label_of(const char *name, const char *label, char *buf, size_t size)
{
    char pat[40];
    snprintf(pat, sizeof pat, "%s=\"", label);
    const char *p = strchr(name, '{');
    for (; p && (p = strstr(p, pat)); p++) {
        if (p[-1] != '{' && p[-1] != ',')
            continue;
        p += strlen(pat);
        snprintf(buf, size, "%.*s", (int)strcspn(p, "\""), p);
        return true;
    }
    return false;
}

static void add_nano(json_t *o, const char *key, uint64_t v)
{
    char nk[64], uk[64];
    snprintf(nk, sizeof nk, "%s_nanousd", key);
    snprintf(uk, sizeof uk, "%s_usd", key);
    json_int_t old = json_integer_value(json_object_get(o, nk));
    json_int_t now = old + (json_int_t)v;
    json_object_set_new(o, nk, json_integer(now));
    json_object_set_new(o, uk, json_real((double)now / 1e9));
}

static json_t *model_costs(json_t *by_model, const char *model)
{
    json_t *mo = json_object_get(by_model, model);
    if (!mo) {
        json_object_set_new(by_model, model, mo = json_object());
        add_nano(mo, "total", 0);
        add_nano(mo, "cache_savings", 0);
    }
    return mo;
}

/* by_developer / by_team / by_class: {value: {requests, total_nanousd, total_usd[, team]}} */
static json_t *who_entry(json_t *o, const char *key, const char *team)
{
    json_t *e = json_object_get(o, key);
    if (!e) {
        json_object_set_new(o, key, e = json_object());
        json_object_set_new(e, "requests", json_integer(0));
        add_nano(e, "total", 0);
        if (team)
            json_object_set_new(e, "team", json_string(team));
    }
    return e;
}

static void who_costs(json_t *o, const struct metrics_snapshot *s)
{
    json_t *dev = json_object(), *team = json_object(), *cls = json_object();
    for (size_t i = 0; i < s->n; i++) {
        const char *name = s->v[i].name;
        uint64_t v = s->v[i].value;
        char d[64], t[64], c[32];
        bool has_d = label_of(name, "developer", d, sizeof d),
             has_t = label_of(name, "team", t, sizeof t);
        if (starts_with(name, "requests_by_developer_total{") && has_d && has_t)
            add_figure(who_entry(dev, d, t), "requests", v);
        else if (starts_with(name, "cost_by_developer_nanousd_total{") && has_d && has_t)
            add_nano(who_entry(dev, d, t), "total", v);
        else if (starts_with(name, "requests_by_team_total{") && has_t)
            add_figure(who_entry(team, t, NULL), "requests", v);
        else if (starts_with(name, "cost_by_team_nanousd_total{") && has_t)
            add_nano(who_entry(team, t, NULL), "total", v);
        else if (starts_with(name, "requests_by_class_total{") &&
                 label_of(name, "class", c, sizeof c))
            add_figure(who_entry(cls, c, NULL), "requests", v);
        else if (starts_with(name, "cost_by_class_nanousd_total{") &&
                 label_of(name, "class", c, sizeof c))
            add_nano(who_entry(cls, c, NULL), "total", v);
    }
    json_object_set_new(o, "by_developer", dev);
    json_object_set_new(o, "by_team", team);
    json_object_set_new(o, "by_class", cls);
}

static json_t *costs_json(const struct metrics *m, const struct metrics_snapshot *s)
{
    json_t *o = json_object(), *by_model = json_object(), *by_kind = json_object(),
           *unknown = json_object();
    json_object_set_new(o, "currency", json_string("USD"));
    add_nano(o, "total", 0);
    add_nano(o, "cache_savings", 0);
    for (int k = 0; k < COST_NKINDS; k++)
        add_nano(by_kind, cost_kind_names[k], 0);
    for (size_t i = 0; i < s->n; i++) {
        const char *name = s->v[i].name;
        uint64_t v = s->v[i].value;
        char model[128], kind[32];
        if (starts_with(name, "cost_nanousd_total{") && label_of(name, "model", model, sizeof model) &&
            label_of(name, "kind", kind, sizeof kind)) {
            json_t *mo = model_costs(by_model, model);
            add_nano(mo, kind, v);
            add_nano(mo, "total", v);
            add_nano(by_kind, kind, v);
            add_nano(o, "total", v);
        } else if (starts_with(name, "cache_savings_nanousd_total{") &&
                   label_of(name, "model", model, sizeof model)) {
            add_nano(model_costs(by_model, model), "cache_savings", v);
            add_nano(o, "cache_savings", v);
        } else if (starts_with(name, "prices_unknown_model_requests_total{") &&
                   label_of(name, "model", model, sizeof model)) {
            json_object_set_new(unknown, model, json_integer((json_int_t)v));
        }
    }
    json_object_set_new(o, "by_kind", by_kind);
    json_object_set_new(o, "by_model", by_model);
    json_object_set_new(o, "unknown_models", unknown);
    who_costs(o, s);
    json_object_set_new(o, "prices", json_pack("{s:s, s:I, s:s, s:s}", "file", m->prices_path,
                        "entries", (json_int_t)m->prices.n, "fallback_tier",
                        m->prices.fallback_tier, "cache_write_default_ttl",
                        m->prices.default_ttl_1h ? "1h" : "5m"));
    return o;
}

static json_t *hist_json(const struct metrics_snapshot *s, const char *family)
{
    uint64_t cum[HIST_NBOUNDS];
    char name[128], le[24];
    for (size_t i = 0; i < HIST_NBOUNDS; i++) {
        snprintf(name, sizeof name, "%s_bucket{le=\"%s\"}", family, hist_le(i, le, sizeof le));
        cum[i] = snapshot_get(s, name);
    }
    snprintf(name, sizeof name, "%s_count", family);
    uint64_t count = snapshot_get(s, name);
    snprintf(name, sizeof name, "%s_sum_us", family);
    double sum = (double)snapshot_get(s, name) / 1e6;
    return json_pack("{s:I, s:f, s:o, s:o, s:o}", "count", (json_int_t)count, "sum", sum,
                     "p50", num_or_null(hist_quantile(cum, count, 0.50)),
                     "p95", num_or_null(hist_quantile(cum, count, 0.95)),
                     "p99", num_or_null(hist_quantile(cum, count, 0.99)));
}

static bool is_bucket(const char *name)
{
    return strstr(name, "_bucket{le=") != NULL;
}

/* Every counter by its stored name, and the scrubber's apart. */
static void raw_counters(const struct metrics_snapshot *s, json_t *all, json_t *scrub)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *name = s->v[i].name;
        if (is_bucket(name) || starts_with(name, PROM_INTERNAL_PREFIX))
            continue;
        json_object_set_new(all, name, json_integer((json_int_t)s->v[i].value));
        if (starts_with(name, "scrub_"))
            json_object_set_new(scrub, name, json_integer((json_int_t)s->v[i].value));
    }
}

static json_t *pipeline_json(const struct apx_host *h)
{
    json_t *plugins = json_array();
    const char *name, *version;
    enum apx_kind kind;
    for (size_t i = 0; h->plugin_info(h, i, &name, &version, &kind) == 0; i++)
        json_array_append_new(plugins, json_pack("{s:s, s:s, s:s}", "name", name, "version",
                                                 version, "kind",
                                                 kind == APX_KIND_STAGE ? "stage" : "detector"));
    return json_pack("{s:I, s:s, s:o}", "revision", (json_int_t)h->revision(h), "last_reload",
                     h->last_reload(h), "plugins", plugins);
}

json_t *snapshot_json(const struct metrics *m, const struct metrics_snapshot *s)
{
    const struct apx_host *h = m->host;
    json_t *all = json_object(), *scrub = json_object();
    raw_counters(s, all, scrub);
    json_t *doc = json_pack(
        "{s:f, s:o, s:{s:I, s:I}, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I}, s:o, s:{s:I, s:I, s:s},"
        " s:o, s:o}",
        "uptime_seconds", h->uptime(h),
        "requests", requests_json(m, s),
        "bytes", "in", (json_int_t)snapshot_get(s, "bytes_in_total"),
                 "out", (json_int_t)snapshot_get(s, "bytes_out_total"),
        "tokens", tokens_json(s),
        "costs", costs_json(m, s),
        "latency_seconds", hist_json(s, "request_duration_seconds"),
        "ttfb_seconds", hist_json(s, "time_to_first_byte_seconds"),
        "retries", "total", (json_int_t)snapshot_get(s, "retries_total"),
                   "refused_budget", (json_int_t)snapshot_get(s, "retries_refused_budget_total"),
                   "succeeded_after_retry",
                   (json_int_t)snapshot_get(s, "requests_succeeded_after_retry_total"),
        "scrub", scrub,
        "reloads", "ok", (json_int_t)snapshot_get(s, "reloads_total"),
                   "failed", (json_int_t)snapshot_get(s, "reloads_failed_total"),
                   "last", h->last_reload(h),
        "pipeline", pipeline_json(h),
        "counters", all);
    if (doc)
        json_object_set_new(doc, "caps", caps_json(m));
    return doc;
}

/* ---- Prometheus ---- */

/* A label value with \, " and newline escaped as the format asks. */
static void label_escape(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; *in && o + 3 < size; in++) {
        if (*in == '\\' || *in == '"' || *in == '\n')
            out[o++] = '\\';
        out[o++] = *in == '\n' ? 'n' : *in;
    }
    out[o] = '\0';
}

#define MAX_GAUGES 80

struct gauges {
    struct prom_gauge g[MAX_GAUGES];
    char names[MAX_GAUGES][200];
    size_t n;
};

static void gauge(struct gauges *gs, const char *help, double v, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void gauge(struct gauges *gs, const char *help, double v, const char *fmt, ...)
{
    if (gs->n == MAX_GAUGES)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(gs->names[gs->n], sizeof gs->names[gs->n], fmt, ap);
    va_end(ap);
    gs->g[gs->n] = (struct prom_gauge){ gs->names[gs->n], help, v };
    gs->n++;
}

static void plugin_gauges(const struct apx_host *h, struct gauges *gs)
{
    const char *name, *version;
    enum apx_kind kind;
    for (size_t i = 0; h->plugin_info(h, i, &name, &version, &kind) == 0; i++) {
        char n[64], v[64];
        label_escape(name, n, sizeof n);
        label_escape(version, v, sizeof v);
        gauge(gs, "A loaded plugin (always 1).", 1,
              "plugin_info{name=\"%s\",version=\"%s\",kind=\"%s\"}", n, v,
              kind == APX_KIND_STAGE ? "stage" : "detector");
    }
}

char *snapshot_prometheus(const struct metrics *m, const struct metrics_snapshot *s,
                          size_t *len)
{
    const struct apx_host *h = m->host;
    struct gauges *gs = calloc(1, sizeof *gs);
    struct prom_counter *c = calloc(s->n ? s->n : 1, sizeof *c);
    struct prom_buf out;
    prom_buf_init(&out, PROM_MAX_TEXT);
    if (!gs || !c)
        goto fail;
    for (size_t i = 0; i < s->n; i++)
        c[i] = (struct prom_counter){ s->v[i].name, s->v[i].value };
    uint64_t total = snapshot_get(s, "requests_total");
    uint64_t errors = snapshot_get(s, "request_errors_total");
    double recent = metrics_recent_error_rate(m);
    gauge(gs, "Seconds since the proxy started.", h->uptime(h), "uptime_seconds");
    gauge(gs, "Proxied requests in flight.", (double)metrics_active(m), "requests_active");
    gauge(gs, "Share of requests that ended in error, since start.",
          total ? (double)errors / (double)total : 0, "error_ratio");
    gauge(gs, "Share of requests that ended in error in the last minute.",
          recent < 0 ? 0 : recent, "error_ratio_recent");
    gauge(gs, "Revision of the running configuration.", (double)h->revision(h),
          "config_revision");
    gauge(gs, "Whether the last reload succeeded (1) or failed (0).",
          strncmp(h->last_reload(h), "failed", 6) == 0 ? 0 : 1, "config_last_reload_ok");
    plugin_gauges(h, gs);
    if (prom_render(c, s->n, gs->g, gs->n, &out) < 0)
        goto fail;
    free(gs);
    free(c);
    *len = out.len;
    return out.p;
fail:
    free(gs);
    free(c);
    prom_buf_free(&out);
    return NULL;
}
