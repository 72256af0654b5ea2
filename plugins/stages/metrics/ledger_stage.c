/*
 * ledger_stage: the metrics stage's side of the ledger. It starts one
 * writer per generation, hands it a row per exchange, and every tick turns
 * the writer's counts into host counters and its failures into log lines
 * (one when writing fails, one when it works again).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static bool any_monthly_cap(const struct developers *d)
{
    if (d->default_caps.monthly)
        return true;
    for (size_t i = 0; i < d->n; i++)
        if (d->d[i].caps.monthly)
            return true;
    for (size_t i = 0; i < d->nt; i++)
        if (d->t[i].caps.monthly)
            return true;
    return false;
}

int ledger_stage_init(struct metrics *m, struct apx_error *err)
{
    const struct apx_host *h = m->host;
    char days[32];
    if (!h->setting(h, "LEDGER_PATH", m->ledger_path, sizeof m->ledger_path) ||
        strcmp(m->ledger_path, "off") == 0 || !m->ledger_path[0]) {
        h->log(h, APX_LOG_INFO, "ledger: off");
        return 0;
    }
    int64_t retention = 0;
    if (h->setting(h, "LEDGER_RETENTION_DAYS", days, sizeof days))
        retention = strtoll(days, NULL, 10);
    if (retention > 0 && retention < 31 && any_monthly_cap(&m->devs))
        h->log(h, APX_LOG_WARN, "ledger: LEDGER_RETENTION_DAYS=%lld keeps less than a month, so "
               "after a restart the monthly caps count only the spend still in the ledger; "
               "allowed: 31 or more (or 0) with monthly caps", (long long)retention);
    struct { struct apx_counter **c; const char *name; } v[] = {
        { &m->ledger_written, "ledger_rows_written_total" },
        { &m->ledger_dropped, "ledger_rows_dropped_total" },
        { &m->ledger_lost, "ledger_rows_lost_total" },
        { &m->ledger_errors, "ledger_write_errors_total" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (!(*v[i].c = h->counter(h, v[i].name))) {
            h->error_set(err, "the counter table is full");
            return -1;
        }
    }
    if (!(m->ledger = ledger_start(&ledger_sqlite, m->ledger_path, retention))) {
        h->error_set(err, "ledger: cannot start its writer");
        return -1;
    }
    h->log(h, APX_LOG_INFO, "ledger: %s (rows kept %lld days)", m->ledger_path,
           (long long)retention);
    return 0;
}

void ledger_stage_write(struct metrics *m, const struct ledger_row *row)
{
    if (m->ledger)
        ledger_append(m->ledger, row); /* a full queue counts the drop itself */
}

static void carry(struct metrics *m, const struct ledger_stats *now);

void ledger_stage_tick(struct metrics *m)
{
    if (!m->ledger)
        return;
    struct ledger_stats st;
    ledger_stats(m->ledger, &st);
    carry(m, &st);
}

static void carry(struct metrics *m, const struct ledger_stats *now)
{
    const struct apx_host *h = m->host;
    struct ledger_stats st = *now, *old = &m->ledger_seen;
    h->counter_add(m->ledger_written, st.written - old->written);
    h->counter_add(m->ledger_dropped, st.dropped - old->dropped);
    h->counter_add(m->ledger_lost, st.lost - old->lost);
    h->counter_add(m->ledger_errors, st.write_errors - old->write_errors);
    if (st.dropped > old->dropped)
        h->log(h, APX_LOG_WARN, "ledger: queue full: %llu rows dropped (the disk is slower "
               "than the traffic)", (unsigned long long)(st.dropped - old->dropped));
    if (st.failing && !old->failing)
        h->log(h, APX_LOG_ERROR, "%s; requests are still served, their rows are lost "
               "(ledger_rows_lost_total)", st.error);
    else if (!st.failing && old->failing)
        h->log(h, APX_LOG_INFO, "ledger: writing again to %s", m->ledger_path);
    *old = st;
}

void ledger_stage_fini(struct metrics *m)
{
    if (!m->ledger)
        return;
    struct ledger_stats last;
    ledger_stop(m->ledger, &last);
    m->ledger = NULL;
    carry(m, &last);
}
