/*
 * metrics stage: counts requests, statuses and bytes in counters that
 * survive reloads and core restarts, and serves them with the pipeline's
 * state (SPEC section 7).
 *
 * This version is the stage's frame: request, status and byte counters, and
 * GET /metrics with every counter, the configuration revision, the last
 * reload's result and the loaded plugins. Token accounting, percentiles and
 * the Prometheus and SSE endpoints land with the metrics issue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <anthropic-proxy/plugin.h>

struct metrics {
    const struct apx_host *host;
    struct apx_counter *requests, *bytes_in, *bytes_out, *proxy_errors;
};

static void on_done(void *state, struct apx_exchange *ex, const struct apx_done_info *info)
{
    struct metrics *m = state;
    const struct apx_host *h = m->host;
    if (info->local)
        return; /* the proxy's own routes are not API traffic */
    h->counter_add(m->requests, 1);
    h->counter_add(m->bytes_in, info->bytes_in);
    h->counter_add(m->bytes_out, info->bytes_out);
    if (info->proxy_error)
        h->counter_add(m->proxy_errors, 1);
    char name[64];
    snprintf(name, sizeof name, "requests_by_status_total{status=\"%d\"}", info->status);
    h->counter_add(h->counter(h, name), 1);
}

static void add_counter(void *arg, const char *name, uint64_t value)
{
    json_object_set_new(arg, name, json_integer((json_int_t)value));
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

static void route_metrics(void *arg, struct apx_exchange *ex)
{
    struct metrics *m = arg;
    const struct apx_host *h = m->host;
    json_t *counters = json_object();
    h->counter_each(h, "", add_counter, counters);
    json_t *doc = json_pack("{s:f, s:o, s:o}", "uptime_seconds", h->uptime(h), "counters",
                            counters, "pipeline", pipeline_json(h));
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    if (text)
        h->respond(ex, 200, "application/json", text, strlen(text));
    else
        h->respond(ex, 500, "application/json", "{}", 2);
    free(text);
    json_decref(doc);
}

static int metrics_init(const struct apx_host *host, const struct apx_config *cfg,
                        void **state, struct apx_error *err)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return -1;
    }
    m->host = host;
    m->requests = host->counter(host, "requests_total");
    m->bytes_in = host->counter(host, "bytes_in_total");
    m->bytes_out = host->counter(host, "bytes_out_total");
    m->proxy_errors = host->counter(host, "proxy_errors_total");
    if (host->route_add(host, "GET", "/metrics", APX_ROUTE_MAIN, route_metrics, m) < 0) {
        snprintf(err->message, sizeof err->message, "GET /metrics is already taken");
        free(m);
        return -1;
    }
    *state = m;
    return 0;
}

static void metrics_fini(void *state)
{
    free(state);
}

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_STAGE,
    .name = "metrics",
    .version = "0.1.0",
    .description = "request, status and byte counters; GET /metrics",
    .init = metrics_init,
    .fini = metrics_fini,
    .stage = { .on_done = on_done },
};
