/*
 * caps: spend caps. The spend of the current UTC day and month of each
 * capped developer and team, and what their requests in flight are
 * reserved to cost, live in host counters, so they hold across reloads and
 * core restarts; after a supervisor restart (a new, empty counter table)
 * they are read back from the ledger once. A request is refused before it
 * goes upstream when its developer or team has already reached a cap,
 * requests in flight included; count_tokens never is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

#define SPEND_DAY "metrics_internal_spend_day{who=\""
#define SPEND_MONTH "metrics_internal_spend_month{who=\""
#define RESERVED "metrics_internal_reserved{who=\""

static struct apx_counter *slot(const struct apx_host *h, const char *family, char kind,
                                const char *name)
{
    char n[128];
    snprintf(n, sizeof n, "%s%c:%s\"}", family, kind, name);
    return h->counter(h, n);
}

/* ---- UTC day and month ---- */

static uint64_t day_index(time_t t)
{
    return (uint64_t)(t / 86400) + 1; /* +1: 0 means "never set" */
}

static uint64_t month_index(time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    return (uint64_t)(tm.tm_year + 1900) * 12 + (uint64_t)tm.tm_mon + 1;
}

static time_t next_day(time_t t)
{
    return (t / 86400 + 1) * 86400;
}

static time_t next_month(time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    struct tm n = { .tm_year = tm.tm_year + (tm.tm_mon == 11), .tm_mon = (tm.tm_mon + 1) % 12,
                    .tm_mday = 1 };
    return timegm(&n);
}

static time_t month_start(time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    struct tm n = { .tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = 1 };
    return timegm(&n);
}

struct names {
    char (*v)[128];
    size_t n, cap;
};

static void collect(void *arg, const char *name, uint64_t value)
{
    struct names *ns = arg;
    if (value == 0)
        return;
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 64;
        void *v = realloc(ns->v, cap * sizeof *ns->v);
        if (!v)
            return;
        ns->v = v;
        ns->cap = cap;
    }
    snprintf(ns->v[ns->n++], sizeof ns->v[0], "%s", name);
}

/* Set every counter of a family to 0 (a new day, month, or core). */
static void zero_family(const struct apx_host *h, const char *family)
{
    struct names ns = { 0 };
    h->counter_each(h, family, collect, &ns);
    for (size_t i = 0; i < ns.n; i++)
        h->counter_set(h->counter(h, ns.v[i]), 0);
    free(ns.v);
}

static void rollover(struct metrics *m, time_t now)
{
    const struct apx_host *h = m->host;
    uint64_t d = day_index(now), mo = month_index(now);
    if (h->counter_get(m->caps_day) != d) {
        zero_family(h, SPEND_DAY);
        h->counter_set(m->caps_day, d);
    }
    if (h->counter_get(m->caps_month) != mo) {
        zero_family(h, SPEND_MONTH);
        h->counter_set(m->caps_month, mo);
    }
}

/* ---- start: the spend back from the ledger ---- */

/* The names spend is kept under: the bounded labels (at most 256
 * developers and 64 teams; the rest share "other"), so the counter table
 * cannot fill up with invented keys. */
static void bounded(struct metrics *m, const char *developer, const char *team, char *dev,
                    char *tm)
{
    labelset_admit(&m->developer_labels, developer, dev, LABEL_VALUE_MAX);
    labelset_admit(&m->team_labels, team, tm, LABEL_VALUE_MAX);
}

/* The spend read from the ledger, summed per spend slot ('d'/'t' + name),
 * before it is merged into the counters. */
struct sums {
    struct { char key[LABEL_VALUE_MAX + 2]; int64_t nano; } *v;
    size_t n, cap;
    bool failed;
};

static void sum_add(struct sums *s, char kind, const char *name, int64_t nano)
{
    char key[LABEL_VALUE_MAX + 2];
    snprintf(key, sizeof key, "%c:%s", kind, name);
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].key, key) == 0) {
            s->v[i].nano += nano;
            return;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        void *v = realloc(s->v, cap * sizeof *s->v);
        if (!v) {
            s->failed = true;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    snprintf(s->v[s->n].key, sizeof s->v[0].key, "%s", key);
    s->v[s->n++].nano = nano;
}

struct load {
    struct metrics *m;
    struct sums sums;
};

static void load_one(void *arg, const char *developer, const char *team, int64_t nano)
{
    struct load *l = arg;
    char dev[LABEL_VALUE_MAX], tm[LABEL_VALUE_MAX];
    if (nano <= 0 || !developer || !team)
        return;
    bounded(l->m, developer, team, dev, tm);
    sum_add(&l->sums, 'd', dev, nano);
    sum_add(&l->sums, 't', tm, nano);
}

/* The counters keep what they have if it is more: after a start they are 0;
 * after a retry (the ledger was unreadable) they hold what was spent
 * meanwhile, and the ledger what was written before. */
static void merge(const struct apx_host *h, const char *family, const struct sums *s)
{
    for (size_t i = 0; i < s->n; i++) {
        char n[128];
        snprintf(n, sizeof n, "%s%s\"}", family, s->v[i].key);
        struct apx_counter *c = h->counter(h, n);
        if (c && (int64_t)h->counter_get(c) < s->v[i].nano)
            h->counter_set(c, (uint64_t)s->v[i].nano);
    }
}

static int read_spend(struct metrics *m, void *db, int64_t since_ms, const char *family,
                      char *err, size_t errlen)
{
    struct load l = { m, { 0 } };
    int rc = ledger_sqlite.spend(db, since_ms, load_one, &l, err, errlen);
    if (rc == 0 && l.sums.failed) {
        snprintf(err, errlen, "caps: out of memory reading the spend");
        rc = -1;
    }
    if (rc == 0)
        merge(m->host, family, &l.sums);
    free(l.sums.v);
    return rc;
}

/* Today's and this month's spend from the ledger: 0, or -1 (logged, and
 * remembered in a counter so that the next reload tries again). */
static int load_from_ledger(struct metrics *m, time_t now)
{
    const struct apx_host *h = m->host;
    char err[256] = "caps: the ledger cannot be read";
    if (access(m->ledger_path, F_OK) < 0 && errno == ENOENT) {
        /* a first start: nothing spent yet; the writer makes the file (and
         * --check-config, which also runs this, must not) */
        h->counter_set(m->caps_unread, 0);
        m->caps_unreadable = false;
        h->log(h, APX_LOG_INFO, "caps: no ledger at %s yet: nothing spent", m->ledger_path);
        return 0;
    }
    void *db = ledger_sqlite.open(m->ledger_path, true, err, sizeof err);
    int rc = db && read_spend(m, db, (int64_t)(now / 86400 * 86400) * 1000, SPEND_DAY, err,
                              sizeof err) == 0 &&
                     read_spend(m, db, (int64_t)month_start(now) * 1000, SPEND_MONTH, err,
                                sizeof err) == 0
                 ? 0 : -1;
    if (db)
        ledger_sqlite.close(db);
    h->counter_set(m->caps_unread, rc < 0);
    m->caps_unreadable = rc < 0;
    if (rc < 0)
        h->log(h, APX_LOG_ERROR, "caps: %s; CAPS_ON_ERROR=%s: %s (a reload tries again)", err,
               m->caps_closed ? "closed" : "open",
               m->caps_closed ? "capped developers are refused until it can be read"
                              : "caps count from zero");
    else
        h->log(h, APX_LOG_INFO, "caps: this month's and today's spend read from %s",
               m->ledger_path);
    return rc;
}

int caps_init(struct metrics *m, struct apx_error *err)
{
    const struct apx_host *h = m->host;
    char v[16];
    if (!h->setting(h, "CAPS_ON_ERROR", v, sizeof v) || !v[0] || strcmp(v, "open") == 0) {
        m->caps_closed = false;
    } else if (strcmp(v, "closed") == 0) {
        m->caps_closed = true;
    } else {
        h->error_set(err, "CAPS_ON_ERROR=%.16s; expected open or closed", v);
        return -1;
    }
    if (!(m->caps_day = h->counter(h, "metrics_internal_caps_day")) ||
        !(m->caps_month = h->counter(h, "metrics_internal_caps_month")) ||
        !(m->caps_unread = h->counter(h, "metrics_internal_caps_unreadable"))) {
        h->error_set(err, "the counter table is full");
        return -1;
    }
    time_t now = time(NULL);
    bool fresh = h->counter_get(m->caps_day) == 0; /* a new supervisor: counters are new */
    rollover(m, now);
    if (m->ledger && (fresh || h->counter_get(m->caps_unread)))
        load_from_ledger(m, now);
    else if (fresh)
        h->log(h, APX_LOG_INFO, "caps: no ledger (LEDGER_PATH=off): spend counts from zero "
               "at every supervisor start");
    return 0;
}

void caps_write_off(struct metrics *m)
{
    zero_family(m->host, RESERVED); /* a dead core's requests in flight */
}

/* ---- a request ---- */

static bool is_capped_path(const struct apx_host *h, struct apx_exchange *ex)
{
    const char *method = h->ex_method(ex), *path = h->ex_path(ex);
    if (!method || !path || strcmp(method, "POST") != 0 || strncmp(path, "/v1/", 4) != 0)
        return false;
    size_t n = strlen("/v1/messages/count_tokens");
    return !(strncmp(path, "/v1/messages/count_tokens", n) == 0 &&
             (path[n] == '\0' || path[n] == '?' || path[n] == '/'));
}

struct who_caps {
    char kind;                 /* 'd' developer, 't' team */
    const char *what;          /* "developer" */
    char name[LABEL_VALUE_MAX];  /* "alice", as bounded */
    struct spend_caps caps;    /* 0: none */
};

/* The developer's and the team's spend slots, with their caps. */
static void caps_of(struct metrics *m, const struct who *w, struct who_caps out[2])
{
    memset(out, 0, 2 * sizeof *out);
    out[0].kind = 'd';
    out[0].what = "developer";
    out[1].kind = 't';
    out[1].what = "team";
    bounded(m, w->developer, w->team, out[0].name, out[1].name);
    out[0].caps = w->dev && w->dev->has_caps ? w->dev->caps : m->devs.default_caps;
    const struct team *t = w->dev ? developers_team(&m->devs, w->team) : NULL;
    if (t)
        out[1].caps = t->caps;
}

static bool capped(const struct who_caps *c)
{
    return c->caps.daily || c->caps.monthly;
}

static void count_blocked(struct metrics *m, const struct who *w, const char *cap)
{
    const struct apx_host *h = m->host;
    char name[160], dev[LABEL_VALUE_MAX], team[LABEL_VALUE_MAX];
    snprintf(name, sizeof name, "caps_blocked_requests_total{cap=\"%s\"}", cap);
    h->counter_add(h->counter(h, name), 1);
    labelset_admit(&m->developer_labels, w->developer, dev, sizeof dev);
    labelset_admit(&m->team_labels, w->team, team, sizeof team);
    snprintf(name, sizeof name,
             "caps_blocked_requests_by_developer_total{developer=\"%s\",team=\"%s\"}", dev, team);
    h->counter_add(h->counter(h, name), 1);
}

static void usd(char *buf, size_t size, int64_t nano)
{
    int64_t cents = (nano + 5000000) / 10000000;
    snprintf(buf, size, "$%lld.%02lld", (long long)(cents / 100), (long long)(cents % 100));
}

/* To a hundredth of a cent, for log lines. */
static void usd4(char *buf, size_t size, int64_t nano)
{
    int64_t t = (nano + 50000) / 100000;
    snprintf(buf, size, "$%lld.%04lld", (long long)(t / 10000), (long long)(t % 10000));
}

/* The 429 Anthropic's own gateway answers a spend cap with: billing_error,
 * x-should-retry: false, retry-after = seconds to the reset (over 60, so
 * Claude Code stops retrying at once and shows the message). */
static int refuse(struct metrics *m, struct apx_exchange *ex, const char *message,
                  time_t reset)
{
    const struct apx_host *h = m->host;
    h->block(ex, 429, "billing_error", message);
    if (h->struct_size >= offsetof(struct apx_host, block_header) + sizeof h->block_header &&
        h->block_header) {
        char ra[32];
        long long secs = (long long)(reset - time(NULL));
        snprintf(ra, sizeof ra, "%lld", secs > 1 ? secs : 1);
        h->block_header(ex, "x-should-retry", "false");
        h->block_header(ex, "retry-after", ra);
    }
    h->log_ex(h, ex, APX_LOG_INFO, "caps: %s", message);
    return APX_BLOCK;
}

static int over_cap(struct metrics *m, struct apx_exchange *ex, const struct who *w,
                    const struct who_caps *c, time_t now)
{
    const struct apx_host *h = m->host;
    uint64_t inflight = h->counter_get(slot(h, RESERVED, c->kind, c->name));
    struct { const char *period, *label; int64_t cap; const char *family; time_t reset; } p[] = {
        { "daily", "UTC day", c->caps.daily, SPEND_DAY, next_day(now) },
        { "monthly", "UTC month", c->caps.monthly, SPEND_MONTH, next_month(now) },
    };
    for (size_t i = 0; i < 2; i++) {
        if (!p[i].cap)
            continue;
        int64_t spent = (int64_t)h->counter_get(slot(h, p[i].family, c->kind, c->name));
        if (spent + (int64_t)inflight < p[i].cap)
            continue;
        char msg[256], s[32], cap[32], when[32], which[40];
        struct tm tm;
        gmtime_r(&p[i].reset, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        usd(s, sizeof s, spent + (int64_t)inflight);
        usd(cap, sizeof cap, p[i].cap);
        snprintf(msg, sizeof msg, "Spend cap reached: %s %s has used %s of its %s cap of %s "
                 "(%s, requests in flight included). It resets at %s.", c->what, c->name, s,
                 p[i].period, cap, p[i].label, when);
        snprintf(which, sizeof which, "%s_%s", c->what, p[i].period);
        count_blocked(m, w, which);
        return refuse(m, ex, msg, p[i].reset);
    }
    return APX_OK;
}

/* Fallback input rate: the dearest, so that the reservation never
 * under-counts; tokens estimated at 4 bytes each. */
static int64_t estimate(const struct metrics *m, size_t body_len)
{
    double tokens = (double)((body_len + 3) / 4);
    return (int64_t)(tokens * m->prices.fallback.r[COST_INPUT] * 1000.0);
}

static bool ledger_failing(struct metrics *m)
{
    return m->caps_unreadable || (m->ledger && m->ledger_seen.failing);
}

int caps_check(struct metrics *m, struct apx_exchange *ex, const struct who *w,
               int64_t *reserved)
{
    const struct apx_host *h = m->host;
    struct who_caps c[2];
    *reserved = 0;
    if (!is_capped_path(h, ex))
        return APX_OK;
    caps_of(m, w, c);
    if (!capped(&c[0]) && !capped(&c[1]))
        return APX_OK;
    time_t now = time(NULL);
    rollover(m, now);
    if (m->caps_closed && ledger_failing(m)) {
        count_blocked(m, w, "ledger_unavailable");
        return refuse(m, ex, "Spend caps cannot be checked: the proxy's spend ledger is "
                      "unavailable (CAPS_ON_ERROR=closed). Ask the proxy's operator.", now + 300);
    }
    for (int i = 0; i < 2; i++)
        if (capped(&c[i]) && over_cap(m, ex, w, &c[i], now) != APX_OK)
            return APX_BLOCK;
    size_t len = 0;
    h->ex_body(ex, &len);
    *reserved = estimate(m, len);
    for (int i = 0; i < 2; i++)
        h->counter_add(slot(h, RESERVED, c[i].kind, c[i].name), (uint64_t)*reserved);
    return APX_OK;
}

/* A log line when spend crosses 75 %, 95 % and 100 % of a cap. */
static void crossings(struct metrics *m, const struct who_caps *c, int64_t before,
                      int64_t after, int64_t cap, const char *period)
{
    static const int pct[] = { 75, 95, 100 };
    const struct apx_host *h = m->host;
    for (size_t i = 0; i < 3; i++) {
        int64_t mark = cap / 100 * pct[i] + cap % 100 * pct[i] / 100;
        if (before < mark && after >= mark) {
            char s[32], cs[32];
            usd4(s, sizeof s, after);
            usd(cs, sizeof cs, cap);
            h->log(h, pct[i] == 100 ? APX_LOG_WARN : APX_LOG_INFO,
                   "caps: %s %s crossed %d %% of its %s cap: %s of %s", c->what, c->name,
                   pct[i], period, s, cs);
        }
    }
}

void caps_done(struct metrics *m, const struct who *w, int64_t reserved, int64_t cost)
{
    const struct apx_host *h = m->host;
    struct who_caps c[2];
    caps_of(m, w, c);
    rollover(m, time(NULL));
    /* spend is kept for everyone (bounded), so that a cap added by a
     * reload knows what was spent before it */
    for (int i = 0; i < 2; i++) {
        if (reserved > 0) {
            struct apx_counter *r = slot(h, RESERVED, c[i].kind, c[i].name);
            uint64_t held = h->counter_get(r);
            h->counter_set(r, held > (uint64_t)reserved ? held - (uint64_t)reserved : 0);
        }
        if (cost <= 0)
            continue;
        struct apx_counter *d = slot(h, SPEND_DAY, c[i].kind, c[i].name),
                           *mo = slot(h, SPEND_MONTH, c[i].kind, c[i].name);
        int64_t bd = (int64_t)h->counter_get(d), bm = (int64_t)h->counter_get(mo);
        h->counter_add(d, (uint64_t)cost);
        h->counter_add(mo, (uint64_t)cost);
        if (c[i].caps.daily)
            crossings(m, &c[i], bd, bd + cost, c[i].caps.daily, "daily");
        if (c[i].caps.monthly)
            crossings(m, &c[i], bm, bm + cost, c[i].caps.monthly, "monthly");
    }
}

void caps_update(struct metrics *m, const struct who *w, int64_t *reserved, int64_t known)
{
    const struct apx_host *h = m->host;
    if (*reserved <= 0 || known < 0 || known == *reserved)
        return;
    struct who_caps c[2];
    caps_of(m, w, c);
    for (int i = 0; i < 2; i++) {
        struct apx_counter *r = slot(h, RESERVED, c[i].kind, c[i].name);
        uint64_t held = h->counter_get(r);
        held = held > (uint64_t)*reserved ? held - (uint64_t)*reserved : 0;
        h->counter_set(r, held + (uint64_t)known);
    }
    *reserved = known;
}

/* ---- GET /metrics ---- */

static json_t *cap_or_null(int64_t nano)
{
    return nano ? json_integer((json_int_t)nano) : json_null();
}

static uint64_t get(const struct apx_host *h, const char *family, char kind, const char *name)
{
    char n[128], label[LABEL_VALUE_MAX];
    label_clean(name, label, sizeof label);
    snprintf(n, sizeof n, "%s%c:%s\"}", family, kind, label);
    struct apx_counter *c = h->counter(h, n);
    return c ? h->counter_get(c) : 0;
}

static json_t *one_json(const struct metrics *m, char kind, const char *name,
                        const struct spend_caps *caps)
{
    const struct apx_host *h = m->host;
    return json_pack("{s:o, s:o, s:I, s:I, s:I}",
                     "daily_nanousd", cap_or_null(caps->daily),
                     "monthly_nanousd", cap_or_null(caps->monthly),
                     "spent_today_nanousd", (json_int_t)get(h, SPEND_DAY, kind, name),
                     "spent_month_nanousd", (json_int_t)get(h, SPEND_MONTH, kind, name),
                     "in_flight_nanousd", (json_int_t)get(h, RESERVED, kind, name));
}

static bool any(const struct spend_caps *c)
{
    return c->daily || c->monthly;
}

json_t *caps_json(const struct metrics *m)
{
    const struct developers *d = &m->devs;
    json_t *devs = json_object(), *teams = json_object();
    for (size_t i = 0; i < d->n; i++) {
        const struct spend_caps *c = d->d[i].has_caps ? &d->d[i].caps : &d->default_caps;
        if (any(c))
            json_object_set_new(devs, d->d[i].name, one_json(m, 'd', d->d[i].name, c));
    }
    for (size_t i = 0; i < d->nt; i++)
        if (any(&d->t[i].caps))
            json_object_set_new(teams, d->t[i].name, one_json(m, 't', d->t[i].name,
                                                              &d->t[i].caps));
    return json_pack("{s:s, s:b, s:{s:o, s:o}, s:o, s:o}",
                     "on_error", m->caps_closed ? "closed" : "open",
                     "ledger_readable", !m->caps_unreadable,
                     "default", "daily_nanousd", cap_or_null(d->default_caps.daily),
                                "monthly_nanousd", cap_or_null(d->default_caps.monthly),
                     "developers", devs, "teams", teams);
}
