/*
 * retry stage: sends a request again when the upstream answers "overloaded"
 * (529 by default), before anything reached the client (SPEC section 8).
 *
 * Delays follow the `delays_ms` list, or the upstream's retry-after /
 * retry-after-ms, never beyond `max_delay_ms`; `x-should-retry: false` is
 * obeyed. Claude Code retries on its own, so retries are budgeted: within a
 * sliding minute they may add at most `budget_percent` to the requests seen
 * (with a floor of `budget_min` retries, so a quiet proxy can still retry);
 * past it the answer goes to the client as it came.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <anthropic-proxy/plugin.h>

#define MAX_STATUSES 16
#define MAX_DELAYS 16
#define WINDOW 60 /* seconds in the budget's sliding window */

struct retry {
    const struct apx_host *host;
    int statuses[MAX_STATUSES];
    size_t nstatuses;
    int64_t delays[MAX_DELAYS];
    size_t ndelays;
    int64_t max_retries, max_delay_ms, budget_percent, budget_min;
    /* requests and retries per second of the last minute, by time() % WINDOW */
    uint64_t requests[WINDOW], retries[WINDOW];
    time_t stamp[WINDOW];
    struct apx_counter *c_retries, *c_refused, *c_succeeded;
};

static size_t bucket(struct retry *r)
{
    time_t now = time(NULL);
    size_t i = (size_t)(now % WINDOW);
    if (r->stamp[i] != now) {
        r->stamp[i] = now;
        r->requests[i] = r->retries[i] = 0;
    }
    return i;
}

static void window_sums(struct retry *r, uint64_t *requests, uint64_t *retries)
{
    time_t now = time(NULL);
    *requests = *retries = 0;
    for (size_t i = 0; i < WINDOW; i++)
        if (now - r->stamp[i] < WINDOW) {
            *requests += r->requests[i];
            *retries += r->retries[i];
        }
}

static bool budget_allows(struct retry *r)
{
    uint64_t requests, retries;
    window_sums(r, &requests, &retries);
    uint64_t allowed = requests * (uint64_t)r->budget_percent / 100;
    if (allowed < (uint64_t)r->budget_min)
        allowed = (uint64_t)r->budget_min;
    return retries < allowed;
}

static int on_request(void *state, struct apx_exchange *ex)
{
    struct retry *r = state;
    r->requests[bucket(r)]++;
    return APX_OK;
}

/* The upstream's own advice, in milliseconds; -1 if none. */
static int64_t advised_delay(const struct apx_host *h, struct apx_exchange *ex)
{
    const char *ms = h->ex_resp_header_get(ex, "retry-after-ms");
    const char *s = h->ex_resp_header_get(ex, "retry-after");
    char *end;
    if (ms && *ms) {
        double v = strtod(ms, &end);
        if (*end == '\0' && v >= 0)
            return (int64_t)v;
    }
    if (s && *s && isdigit((unsigned char)*s)) {
        double v = strtod(s, &end);
        if (*end == '\0' && v >= 0)
            return (int64_t)(v * 1000);
    }
    return -1;
}

static bool retryable_status(const struct retry *r, int status)
{
    for (size_t i = 0; i < r->nstatuses; i++)
        if (r->statuses[i] == status)
            return true;
    return false;
}

static int on_response_head(void *state, struct apx_exchange *ex)
{
    struct retry *r = state;
    const struct apx_host *h = r->host;
    if (!retryable_status(r, h->ex_status(ex)) || h->ex_response_started(ex))
        return APX_OK;
    const char *should = h->ex_resp_header_get(ex, "x-should-retry");
    if (should && strcmp(should, "false") == 0)
        return APX_OK;
    void **slot = h->ex_slot(h, ex);
    uintptr_t done = slot ? (uintptr_t)*slot : 0;
    if ((int64_t)done >= r->max_retries)
        return APX_OK;
    if (!budget_allows(r)) {
        h->counter_add(r->c_refused, 1);
        h->log_ex(h, ex, APX_LOG_INFO, "retry budget spent (%lld%% of the last minute's "
                  "requests): passing the %d on", (long long)r->budget_percent, h->ex_status(ex));
        return APX_OK;
    }
    int64_t delay = r->delays[done < r->ndelays ? done : r->ndelays - 1];
    int64_t advised = advised_delay(h, ex);
    if (advised >= 0)
        delay = advised;
    if (delay > r->max_delay_ms)
        delay = r->max_delay_ms;
    if (slot)
        *slot = (void *)(done + 1);
    r->retries[bucket(r)]++;
    h->counter_add(r->c_retries, 1);
    h->log_ex(h, ex, APX_LOG_INFO, "upstream answered %d: retry %zu of %lld in %lld ms",
              h->ex_status(ex), (size_t)done + 1, (long long)r->max_retries, (long long)delay);
    h->retry_after(ex, (uint64_t)delay);
    return APX_RETRY;
}

static void on_done(void *state, struct apx_exchange *ex, const struct apx_done_info *info)
{
    struct retry *r = state;
    if (info->retries > 0 && info->status >= 200 && info->status < 300)
        r->host->counter_add(r->c_succeeded, 1);
}

static int read_int_list(const struct apx_host *h, const struct apx_config *cfg,
                         const char *key, int64_t min, int64_t max, int64_t *out,
                         size_t cap, size_t *n, struct apx_error *err)
{
    size_t len = h->opt_list_len(cfg, key);
    if (len == 0)
        return 0; /* keep the defaults */
    if (len > cap) {
        snprintf(err->message, sizeof err->message, "retry: option %s has %zu items; at "
                 "most %zu", key, len, cap);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        const char *v = h->opt_list_item(cfg, key, i);
        char *end;
        long long x = v ? strtoll(v, &end, 10) : 0;
        if (!v || *end || x < min || x > max) {
            snprintf(err->message, sizeof err->message, "retry: option %s: item '%s' is not "
                     "valid: expected integers from %lld to %lld", key, v ? v : "",
                     (long long)min, (long long)max);
            return -1;
        }
        out[i] = x;
    }
    *n = len;
    return 0;
}

static int retry_init(const struct apx_host *h, const struct apx_config *cfg, void **state,
                      struct apx_error *err)
{
    struct retry *r = calloc(1, sizeof *r);
    int64_t statuses[MAX_STATUSES] = { 529 };
    if (!r) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return -1;
    }
    r->host = h;
    r->nstatuses = 1;
    r->delays[0] = 1000, r->delays[1] = 2000, r->delays[2] = 4000;
    r->ndelays = 3;
    if (read_int_list(h, cfg, "statuses", 400, 599, statuses, MAX_STATUSES, &r->nstatuses, err) ||
        read_int_list(h, cfg, "delays_ms", 0, 600000, r->delays, MAX_DELAYS, &r->ndelays, err) ||
        h->opt_int(cfg, "max_retries", 3, 0, 10, &r->max_retries, err) ||
        h->opt_int(cfg, "max_delay_ms", 30000, 0, 600000, &r->max_delay_ms, err) ||
        h->opt_int(cfg, "budget_percent", 20, 0, 1000, &r->budget_percent, err) ||
        h->opt_int(cfg, "budget_min", 10, 0, 1000000, &r->budget_min, err)) {
        free(r);
        return -1;
    }
    for (size_t i = 0; i < r->nstatuses; i++)
        r->statuses[i] = (int)statuses[i];
    r->c_retries = h->counter(h, "retries_total");
    r->c_refused = h->counter(h, "retries_refused_budget_total");
    r->c_succeeded = h->counter(h, "requests_succeeded_after_retry_total");
    *state = r;
    return 0;
}

static void retry_fini(void *state)
{
    free(state);
}

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_STAGE,
    .name = "retry",
    .version = "1.0.0",
    .description = "retries overloaded (529) answers with backoff, within a budget",
    .init = retry_init,
    .fini = retry_fini,
    .stage = {
        .on_request = on_request,
        .on_response_head = on_response_head,
        .on_done = on_done,
    },
};
