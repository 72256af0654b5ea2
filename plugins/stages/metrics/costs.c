/*
 * costs: prices each metered response with the generation's price table
 * and adds the cost to host counters, by model and kind, in nano-dollars
 * (integers add up exactly; the Prometheus and JSON views divide by 1e9).
 * A model the table does not know is priced at its fallback tier, counted,
 * and logged once.
 */
#include <stdio.h>
#include <string.h>

#include "metrics.h"

static void add(const struct apx_host *h, const char *name, int64_t v)
{
    if (v > 0)
        h->counter_add(h->counter(h, name), (uint64_t)v);
}

/* The developers' and teams' labels: every name developers.yaml gives
 * (a team under teams: or on a developer) has its place before the names
 * seen in the counters. */
static int listed_labels_init(struct metrics *m)
{
    const struct developers *d = &m->devs;
    if (labelset_new(&m->developer_labels, "developer", COSTS_MAX_DEVELOPERS) < 0 ||
        labelset_new(&m->team_labels, "team", COSTS_MAX_TEAMS) < 0)
        return -1;
    for (size_t i = 0; i < d->n; i++)
        labelset_keep(&m->developer_labels, d->d[i].name);
    for (size_t i = 0; i < d->nt; i++)
        labelset_keep(&m->team_labels, d->t[i].name);
    for (size_t i = 0; i < d->n; i++)
        labelset_keep(&m->team_labels, d->d[i].team);
    labelset_seed(&m->developer_labels, m->host, "requests_by_developer_total{");
    labelset_seed(&m->team_labels, m->host, "requests_by_team_total{");
    return 0;
}

int costs_init(struct metrics *m, struct apx_error *err)
{
    const struct apx_host *h = m->host;
    if (!h->setting(h, "PRICES", m->prices_path, sizeof m->prices_path) || !m->prices_path[0]) {
        h->error_set(err, "PRICES is not set; expected the path of prices.yaml");
        return -1;
    }
    /* the loaders write "FILE:LINE:COL: reason", cut to the message's size */
    if (prices_load(m->prices_path, &m->prices, err->message, sizeof err->message) < 0) {
        prices_free(&m->prices);
        return -1;
    }
    if (!h->setting(h, "DEVELOPERS", m->developers_path, sizeof m->developers_path))
        m->developers_path[0] = '\0';
    int dr = m->developers_path[0]
                 ? developers_load(m->developers_path, &m->devs, err->message,
                                   sizeof err->message)
                 : 1;
    if (dr < 0) {
        prices_free(&m->prices);
        developers_free(&m->devs);
        return -1;
    }
    if (dr == 1)
        h->log(h, APX_LOG_INFO, "developers: no file at %s: every credential is "
               "unknown:<fingerprint>", m->developers_path);
    else
        h->log(h, APX_LOG_INFO, "developers: %zu developers, %zu teams from %s", m->devs.n,
               m->devs.nt, m->developers_path);
    if (labelset_init(&m->models, h, "cost_nanousd_total{", "model", COSTS_MAX_MODELS) < 0 ||
        labelset_init(&m->unknown_models, h, "prices_unknown_model_requests_total{", "model",
                      COSTS_MAX_MODELS) < 0 ||
        listed_labels_init(m) < 0) {
        h->error_set(err, "out of memory");
        costs_fini(m);
        return -1;
    }
    h->log(h, APX_LOG_INFO, "prices: %zu entries from %s; unknown models at the %s tier",
           m->prices.n, m->prices_path, m->prices.fallback_tier);
    return 0;
}

void costs_fini(struct metrics *m)
{
    prices_free(&m->prices);
    labelset_free(&m->models);
    labelset_free(&m->unknown_models);
    labelset_free(&m->developer_labels);
    labelset_free(&m->team_labels);
    developers_free(&m->devs);
}

void costs_attribute(struct metrics *m, const struct who *w, const struct cost *c)
{
    const struct apx_host *h = m->host;
    char dev[LABEL_VALUE_MAX], team[LABEL_VALUE_MAX], name[160];
    labelset_admit(&m->developer_labels, w->developer, dev, sizeof dev);
    labelset_admit(&m->team_labels, w->team, team, sizeof team);
    snprintf(name, sizeof name, "requests_by_developer_total{developer=\"%s\",team=\"%s\"}", dev,
             team);
    h->counter_add(h->counter(h, name), 1);
    snprintf(name, sizeof name, "requests_by_team_total{team=\"%s\"}", team);
    h->counter_add(h->counter(h, name), 1);
    snprintf(name, sizeof name, "requests_by_class_total{class=\"%s\"}", who_class_label(w));
    h->counter_add(h->counter(h, name), 1);
    if (!c)
        return;
    snprintf(name, sizeof name, "cost_by_developer_nanousd_total{developer=\"%s\",team=\"%s\"}",
             dev, team);
    add(h, name, c->total);
    snprintf(name, sizeof name, "cost_by_team_nanousd_total{team=\"%s\"}", team);
    add(h, name, c->total);
    snprintf(name, sizeof name, "cost_by_class_nanousd_total{class=\"%s\"}", who_class_label(w));
    add(h, name, c->total);
}

static void note_unknown(struct metrics *m, const char *model)
{
    const struct apx_host *h = m->host;
    char label[LABEL_VALUE_MAX], name[128];
    size_t before = m->unknown_models.n;
    labelset_admit(&m->unknown_models, model, label, sizeof label);
    if (m->unknown_models.n > before)
        h->log(h, APX_LOG_WARN, "prices: model '%s' is not in %s: priced at the fallback "
               "tier (%s) from now on; add it to the table", label, m->prices_path,
               m->prices.fallback_tier);
    snprintf(name, sizeof name, "prices_unknown_model_requests_total{model=\"%s\"}", label);
    h->counter_add(h->counter(h, name), 1);
}

void costs_count(struct metrics *m, const struct usage *u, time_t when, struct cost *c)
{
    const struct apx_host *h = m->host;
    prices_cost(&m->prices, u, when, c);
    if (c->fallback)
        note_unknown(m, u->model);
    char model[LABEL_VALUE_MAX], name[128];
    labelset_admit(&m->models, u->model, model, sizeof model);
    for (int k = 0; k < COST_NKINDS; k++) {
        snprintf(name, sizeof name, "cost_nanousd_total{model=\"%s\",kind=\"%s\"}", model,
                 cost_kind_names[k]);
        add(h, name, c->nano[k]);
    }
    snprintf(name, sizeof name, "cache_savings_nanousd_total{model=\"%s\"}", model);
    add(h, name, c->savings);
}
