/*
 * retry stage: sends a request again when the upstream answers "overloaded"
 * (529 by default), before anything reached the client (SPEC section 8).
 *
 * Delays follow the `delays_ms` list, or the upstream's retry-after /
 * retry-after-ms, never beyond `max_delay_ms`; `x-should-retry: false` is
 * obeyed. Claude Code retries on its own, so retries are budgeted: within a
 * sliding minute they may add at most `budget_percent` to the requests seen
 * (with a floor of `budget_min` retries, so a quiet proxy can still retry);
 * past it the answer goes to the client as it came. The minute is kept in
 * host counters so that it outlives reloads and core restarts.
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
/* The budget's sliding minute, kept as SLOTS slots of SLOT_SECONDS each. */
#define SLOTS 6
#define SLOT_SECONDS 10

/* One slot of the budget window. The window lives in host counters, not in
 * this generation's memory, because counters survive reloads and core
 * restarts: a SIGHUP must not hand out a fresh budget. Counters are
 * add-only, so they are set by adding the difference (unsigned wrap). */
struct budget_slot {
    struct apx_counter *period;   /* time() / SLOT_SECONDS when last used */
    struct apx_counter *requests, *retries;
};

struct retry {
    const struct apx_host *host;
    int statuses[MAX_STATUSES];
    size_t nstatuses;
    int64_t delays[MAX_DELAYS];
    size_t ndelays;
    int64_t max_retries, max_delay_ms, budget_percent, budget_min;
    struct budget_slot window[SLOTS];
    struct apx_counter *c_retries, *c_refused, *c_succeeded;
};

/* The slot of the current SLOT_SECONDS, emptied first if it last served older ones. */
static struct budget_slot *current_slot(struct retry *r)
{
    const struct apx_host *h = r->host;
    uint64_t period = (uint64_t)time(NULL) / SLOT_SECONDS;
    struct budget_slot *b = &r->window[period % SLOTS];
    if (h->counter_get(b->period) != period) {
        h->counter_set(b->period, period);
        h->counter_set(b->requests, 0);
        h->counter_set(b->retries, 0);
    }
    return b;
}

static void window_sums(struct retry *r, uint64_t *requests, uint64_t *retries)
{
    const struct apx_host *h = r->host;
    uint64_t period = (uint64_t)time(NULL) / SLOT_SECONDS;
    *requests = *retries = 0;
    for (size_t i = 0; i < SLOTS; i++) {
        /* a slot from the future (the clock went back) wraps and is skipped */
        if (period - h->counter_get(r->window[i].period) < SLOTS) {
            *requests += h->counter_get(r->window[i].requests);
            *retries += h->counter_get(r->window[i].retries);
        }
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
    r->host->counter_add(current_slot(r)->requests, 1);
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
    h->counter_add(current_slot(r)->retries, 1);
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
        h->error_set(err, "retry: option %s has %zu items; at most %zu", key, len, cap);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        const char *v = h->opt_list_item(cfg, key, i);
        char *end;
        long long x = v ? strtoll(v, &end, 10) : 0;
        if (!v || *end || x < min || x > max) {
            h->error_set(err, "retry: option %s: item '%s' is not valid: expected "
                         "integers from %lld to %lld", key, v ? v : "", (long long)min,
                         (long long)max);
            return -1;
        }
        out[i] = x;
    }
    *n = len;
    return 0;
}

/* The budget window's counters: the same in every generation. */
static int window_open(const struct apx_host *h, struct budget_slot *w)
{
    char name[64];
    for (size_t i = 0; i < SLOTS; i++) {
        snprintf(name, sizeof name, "retry_budget_window_period{slot=\"%zu\"}", i);
        w[i].period = h->counter(h, name);
        snprintf(name, sizeof name, "retry_budget_window_requests{slot=\"%zu\"}", i);
        w[i].requests = h->counter(h, name);
        snprintf(name, sizeof name, "retry_budget_window_retries{slot=\"%zu\"}", i);
        w[i].retries = h->counter(h, name);
        if (!w[i].period || !w[i].requests || !w[i].retries)
            return -1;
    }
    return 0;
}

static int retry_init(const struct apx_host *h, const struct apx_config *cfg, void **state,
                      struct apx_error *err)
{
    struct retry *r = calloc(1, sizeof *r);
    int64_t statuses[MAX_STATUSES] = { 529 };
    if (!r) {
        h->error_set(err, "out of memory");
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
    if (window_open(h, r->window) < 0) {
        h->error_set(err, "retry: the host's counter table is full: cannot keep the "
                         "retry budget");
        free(r);
        return -1;
    }
    *state = r;
    return 0;
}

static void retry_fini(void *state)
{
    free(state);
}

static const struct apx_stage_hooks stage_hooks = {
    .struct_size = sizeof(struct apx_stage_hooks),
    .on_request = on_request,
    .on_response_head = on_response_head,
    .on_done = on_done,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_STAGE,
    .name = "retry",
    .version = "1.0.0",
    .description = "retries overloaded (529) answers with backoff, within a budget",
    .init = retry_init,
    .fini = retry_fini,
    .stage = &stage_hooks,
};
