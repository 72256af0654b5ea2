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

/* The teams' labels: every team developers.yaml names (under teams: or on
 * a developer) has its place before the teams seen in the counters. */
static int team_labels_init(struct metrics *m)
{
    size_t n = m->devs.nt + m->devs.n;
    char (*names)[DEV_NAME_MAX] = calloc(n ? n : 1, sizeof *names);
    if (!names)
        return -1;
    for (size_t i = 0; i < m->devs.nt; i++)
        memcpy(names[i], m->devs.t[i].name, DEV_NAME_MAX);
    for (size_t i = 0; i < m->devs.n; i++)
        memcpy(names[m->devs.nt + i], m->devs.d[i].team, DEV_NAME_MAX);
    int rv = labelset_init_listed(&m->team_labels, m->host, "requests_by_team_total{", "team",
                                  COSTS_MAX_TEAMS, names, n, sizeof *names);
    free(names);
    return rv;
}

int costs_init(struct metrics *m, struct apx_error *err)
{
    const struct apx_host *h = m->host;
    if (!h->setting(h, "PRICES", m->prices_path, sizeof m->prices_path) || !m->prices_path[0]) {
        snprintf(err->message, sizeof err->message, "PRICES is not set; expected the path of "
                 "prices.yaml");
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
        labelset_init_listed(&m->developer_labels, h, "requests_by_developer_total{",
                             "developer", COSTS_MAX_DEVELOPERS, m->devs.d ? m->devs.d->name : NULL,
                             m->devs.n, sizeof *m->devs.d) < 0 ||
        team_labels_init(m) < 0) {
        snprintf(err->message, sizeof err->message, "out of memory");
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
