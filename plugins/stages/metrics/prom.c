/*
 * prom: Prometheus text format 0.0.4 (see prom.h). It must never emit a
 * line a scraper would reject: promtool checks the output in the
 * integration tests.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

#define FAMILY_MAX 128
/* Money is counted in whole nano-dollars (exact sums) and shown in dollars. */
#define NANO_SUFFIX "_nanousd_total"

const char *const prom_histograms[] = {
    "request_duration_seconds",
    "time_to_first_byte_seconds",
    NULL,
};

/* Help lines of the families the proxy's own stages count. */
static const struct {
    const char *family, *help;
} known[] = {
    { "requests_total", "Proxied requests that ended, whatever the outcome." },
    { "requests_by_status_total", "Proxied requests by the status sent to the client." },
    { "request_errors_total", "Requests answered 4xx/5xx, made by the proxy, or cut." },
    { "proxy_errors_total", "Requests whose error status the proxy made itself." },
    { "requests_truncated_total", "Responses the upstream cut after their head." },
    { "requests_client_gone_total", "Requests whose client left before the end." },
    { "bytes_in_total", "Request body bytes received from clients." },
    { "bytes_out_total", "Response body bytes sent to clients." },
    { "stream_errors_total", "Streams that carried an error event." },
    { "usage_incomplete_total", "Streams cut before their final usage (counted as far as reported)." },
    { "usage_unmetered_total", "Responses whose usage could not be read." },
    { "tokens_input_total", "Input tokens, by model." },
    { "tokens_output_total", "Output tokens, by model." },
    { "tokens_cache_read_total", "Input tokens read from the prompt cache, by model." },
    { "tokens_cache_creation_total", "Input tokens written to the prompt cache, by model." },
    { "tokens_cache_creation_5m_total", "Cache-creation tokens with a 5-minute lifetime, by model." },
    { "tokens_cache_creation_1h_total", "Cache-creation tokens with a 1-hour lifetime, by model." },
    { "server_tool_web_search_requests_total", "Web searches run by the server tool, by model." },
    { "cost_usd_total", "Cost of the responses at the price table's rates, USD, by model and kind." },
    { "cache_savings_usd_total", "Cache reads priced as input minus their cost, USD, by model." },
    { "cost_by_developer_usd_total", "Cost of the responses, USD, by developer (at most 256, then other) and team." },
    { "cost_by_team_usd_total", "Cost of the responses, USD, by team (at most 64, then other)." },
    { "cost_by_class_usd_total", "Cost of the responses, USD, by Claude Code request class (none when not sent)." },
    { "requests_by_developer_total", "Proxied requests by developer (at most 256, then other) and team." },
    { "requests_by_team_total", "Proxied requests by team (at most 64, then other)." },
    { "requests_by_class_total", "Proxied requests by Claude Code request class (none when not sent)." },
    { "prices_unknown_model_requests_total", "Responses of models the price table does not know (priced at its fallback tier)." },
    { "server_tool_web_fetch_requests_total", "Web fetches run by the server tool, by model." },
    { "ledger_rows_written_total", "Ledger rows written to the store." },
    { "ledger_rows_dropped_total", "Ledger rows dropped because the writer's queue was full." },
    { "ledger_rows_lost_total", "Ledger rows lost because the store could not be written." },
    { "ledger_write_errors_total", "Ledger transactions that failed (open, write or commit)." },
    { "caps_blocked_requests_total", "Requests refused by a spend cap, by cap (developer_daily, developer_monthly, team_daily, team_monthly, ledger_unavailable)." },
    { "caps_blocked_requests_by_developer_total", "Requests refused by a spend cap, by developer (at most 256, then other) and team." },
    { "retries_total", "Requests sent again by the retry stage." },
    { "retries_refused_budget_total", "Retries not made because the retry budget was spent." },
    { "requests_succeeded_after_retry_total", "Requests that succeeded after a retry." },
    { "reloads_total", "Successful configuration reloads." },
    { "reloads_failed_total", "Failed configuration reloads (nothing changed)." },
    { "request_duration_seconds", "Time from a request's arrival to its end." },
    { "time_to_first_byte_seconds", "Time from a request's arrival to its response head." },
};

void prom_buf_init(struct prom_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void prom_buf_free(struct prom_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int reserve(struct prom_buf *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    if (need > b->max)
        return -1;
    size_t c = b->cap ? b->cap : 4096;
    while (c < need)
        c *= 2;
    if (c > b->max)
        c = b->max;
    char *p = realloc(b->p, c);
    if (!p)
        return -1;
    b->p = p;
    b->cap = c;
    return 0;
}

int prom_buf_printf(struct prom_buf *b, const char *fmt, ...)
{
    if (b->failed)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, b->len + (size_t)n + 1) < 0) {
        b->failed = true;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* One `label="value"`; returns the position after it, or NULL. */
static const char *label_pair(const char *p)
{
    if (!name_char(*p, true) || *p == ':')
        return NULL;
    while (name_char(*p, false) && *p != ':')
        p++;
    if (*p++ != '=' || *p++ != '"')
        return NULL;
    for (; *p != '"'; p++) {
        if (*p == '\0' || *p == '\n')
            return NULL;
        if (*p == '\\' && (p[1] == '\\' || p[1] == '"' || p[1] == 'n'))
            p++;
        else if (*p == '\\')
            return NULL;
    }
    return p + 1;
}

bool prom_valid_name(const char *name)
{
    const char *p = name;
    if (!name_char(*p, true))
        return false;
    while (name_char(*p, false))
        p++;
    if (p - name >= FAMILY_MAX)
        return false;
    if (*p == '\0')
        return true;
    if (*p++ != '{')
        return false;
    while (*p != '}') {
        if (!(p = label_pair(p)))
            return false;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return false;
    }
    return p[1] == '\0';
}

/* ---- grouping counters into families ---- */

enum kind { K_COUNTER, K_UNTYPED, K_HISTOGRAM };
enum part { P_SERIES, P_BUCKET, P_SUM, P_COUNT }; /* the order inside a histogram */

struct entry {
    const struct prom_counter *c;
    size_t order;                /* position in the input: creation order */
    char family[FAMILY_MAX];
    enum kind kind;
    enum part part;
    bool nano;                   /* `F_nanousd_total`: shown as F_usd_total in dollars */
};

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Is `base` (length n) a histogram's series? Sets the family and part. */
static bool histogram_part(const char *base, size_t n, struct entry *e)
{
    static const struct {
        const char *suffix;
        enum part part;
    } parts[] = { { "_bucket", P_BUCKET }, { "_sum_us", P_SUM }, { "_count", P_COUNT } };
    for (size_t i = 0; prom_histograms[i]; i++) {
        size_t fl = strlen(prom_histograms[i]);
        if (n <= fl || memcmp(base, prom_histograms[i], fl) != 0)
            continue;
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            if (strlen(parts[k].suffix) == n - fl && ends_with(base, n, parts[k].suffix)) {
                snprintf(e->family, sizeof e->family, "%s", prom_histograms[i]);
                e->kind = K_HISTOGRAM;
                e->part = parts[k].part;
                return true;
            }
        }
    }
    return false;
}

static void classify(struct entry *e)
{
    const char *name = e->c->name;
    size_t n = strcspn(name, "{");
    if (histogram_part(name, n, e))
        return;
    if (ends_with(name, n, NANO_SUFFIX)) {
        snprintf(e->family, sizeof e->family, "%.*s_usd_total",
                 (int)(n - strlen(NANO_SUFFIX)), name);
        e->kind = K_COUNTER;
        e->part = P_SERIES;
        e->nano = true;
        return;
    }
    snprintf(e->family, sizeof e->family, "%.*s", (int)n, name);
    e->kind = ends_with(name, n, "_total") ? K_COUNTER : K_UNTYPED;
    e->part = P_SERIES;
}

static int by_family(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->family, y->family);
    if (c)
        return c;
    if (x->part != y->part)
        return (int)x->part - (int)y->part;
    return x->order < y->order ? -1 : x->order > y->order;
}

static const char *help_of(const char *family)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i].family, family) == 0)
            return known[i].help;
    return "Counted by a pipeline stage.";
}

static void family_head(struct prom_buf *out, const char *family, const char *help,
                        const char *type)
{
    prom_buf_printf(out, "# HELP " PROM_PREFIX "%s %s\n", family, help);
    prom_buf_printf(out, "# TYPE " PROM_PREFIX "%s %s\n", family, type);
}

static void render_entry(struct prom_buf *out, const struct entry *e)
{
    const char *name = e->c->name;
    if (e->nano)
        prom_buf_printf(out, PROM_PREFIX "%s%s %llu.%09llu\n", e->family,
                        name + strcspn(name, "{"),
                        (unsigned long long)(e->c->value / 1000000000u),
                        (unsigned long long)(e->c->value % 1000000000u));
    else if (e->part == P_SUM)
        prom_buf_printf(out, PROM_PREFIX "%s_sum %.6f\n", e->family,
                        (double)e->c->value / 1e6);
    else
        prom_buf_printf(out, PROM_PREFIX "%s %llu\n", name, (unsigned long long)e->c->value);
}

static void render_counters(struct entry *v, size_t n, struct prom_buf *out)
{
    static const char *const types[] = { "counter", "untyped", "histogram" };
    qsort(v, n, sizeof *v, by_family);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(v[i].family, v[i - 1].family) != 0)
            family_head(out, v[i].family, help_of(v[i].family), types[v[i].kind]);
        render_entry(out, &v[i]);
    }
}

static void render_gauges(const struct prom_gauge *g, size_t ng, struct prom_buf *out)
{
    char prev[FAMILY_MAX] = "";
    for (size_t i = 0; i < ng; i++) {
        if (!prom_valid_name(g[i].name))
            continue;
        size_t n = strcspn(g[i].name, "{");
        if (strlen(prev) != n || memcmp(prev, g[i].name, n) != 0) {
            snprintf(prev, sizeof prev, "%.*s", (int)n, g[i].name);
            family_head(out, prev, g[i].help, "gauge");
        }
        prom_buf_printf(out, PROM_PREFIX "%s %.17g\n", g[i].name, g[i].value);
    }
}

int prom_render(const struct prom_counter *c, size_t nc, const struct prom_gauge *g,
                size_t ng, struct prom_buf *out)
{
    struct entry *v = calloc(nc ? nc : 1, sizeof *v);
    if (!v)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < nc; i++) {
        if (strncmp(c[i].name, PROM_INTERNAL_PREFIX, strlen(PROM_INTERNAL_PREFIX)) == 0 ||
            !prom_valid_name(c[i].name))
            continue;
        v[n].c = &c[i];
        v[n].order = i;
        classify(&v[n]);
        n++;
    }
    render_counters(v, n, out);
    render_gauges(g, ng, out);
    free(v);
    return out->failed ? -1 : 0;
}
