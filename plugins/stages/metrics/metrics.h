/*
 * metrics.h: what the metrics stage's files share: the stage's state and
 * the snapshot of its figures that the three endpoints render.
 */
#ifndef APX_METRICS_H
#define APX_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include <anthropic-proxy/plugin.h>

#include "attribution.h"
#include "developers.h"
#include "hist.h"
#include "labels.h"
#include "ledger.h"
#include "prices.h"

#define METRICS_MAGIC 0x4d455452u        /* "METR" */
#define METRICS_MAX_VIEWERS 256          /* /metrics/stream clients per generation */
#define METRICS_RECENT 40                /* samples in the recent window: 60 s */
#define METRICS_TICK_MS 1500

/* The host counters of one histogram: cumulative buckets, +Inf last. */
struct hist_counters {
    struct apx_counter *bucket[HIST_NBOUNDS + 1];
    struct apx_counter *count, *sum_us;
};

struct metrics {
    uint32_t magic;
    const struct apx_host *host;
    struct apx_counter *requests, *errors, *proxy_errors, *truncated, *client_gone;
    struct apx_counter *bytes_in, *bytes_out, *incomplete, *unmetered, *stream_errors;
    struct apx_counter *started, *ended, *abandoned, *core_pid;
    struct hist_counters latency, ttfb;
    int64_t max_body;                    /* JSON bodies buffered for usage, bytes */
    struct apx_timer *tick;
    struct apx_exchange *viewers[METRICS_MAX_VIEWERS];
    size_t nviewers;
    /* the recent window's samples, in host counters so that a reload or a
     * new core keeps the last minute: requests, errors, sample time (ms) */
    struct apx_counter *recent[METRICS_RECENT][3];
    char reload_seen[320];               /* last_reload() when this generation began */
    /* costs (costs.c) */
    struct price_table prices;
    char prices_path[1024];
    struct labelset models;              /* model label values of the cost counters */
    struct labelset unknown_models;      /* models priced by the fallback, logged once */
    /* attribution */
    struct developers devs;
    char developers_path[1024];
    struct labelset developer_labels, team_labels;
    /* the ledger (NULL when LEDGER_PATH=off) */
    struct ledger *ledger;
    char ledger_path[1024];
    struct ledger_stats ledger_seen;     /* what the counters have of it */
    struct apx_counter *ledger_written, *ledger_dropped, *ledger_lost, *ledger_errors;
    /* spend caps (caps.c) */
    bool caps_closed;                    /* CAPS_ON_ERROR=closed */
    bool caps_unreadable;                /* the spend could not be read from the ledger */
    struct apx_counter *caps_day, *caps_month;  /* the UTC day and month the spend is of */
    struct apx_counter *caps_unread;     /* 1: the last read failed; a reload tries again */
};

#define COSTS_MAX_MODELS 64              /* distinct model labels, then "other" */
#define COSTS_MAX_DEVELOPERS 256         /* distinct developer labels, then "other" */
#define COSTS_MAX_TEAMS 64               /* distinct team labels, then "other" */

/* costs.c: the price table of this generation (PRICES), and the cost of
 * each response in host counters (nano-dollars). */
int costs_init(struct metrics *m, struct apx_error *err);
void costs_fini(struct metrics *m);
void costs_count(struct metrics *m, const struct usage *u, time_t when, struct cost *out);
/* ledger_stage.c: start this generation's writer; write one exchange;
 * carry the writer's counts into host counters (every tick); stop. */
int ledger_stage_init(struct metrics *m, struct apx_error *err);
void ledger_stage_write(struct metrics *m, const struct ledger_row *row);
void ledger_stage_tick(struct metrics *m);
void ledger_stage_fini(struct metrics *m);

/* caps.c: spend caps per developer, team and default, by UTC day and
 * month, from host counters (reloads and core restarts) and the ledger (a
 * supervisor restart). caps_check answers APX_OK, or APX_BLOCK with the
 * 429 billing_error set up, and reserves an estimate of the request's cost
 * in *reserved; caps_done releases it and adds the real cost. */
int caps_init(struct metrics *m, struct apx_error *err);
int caps_check(struct metrics *m, struct apx_exchange *ex, const struct who *w,
               int64_t *reserved);
void caps_done(struct metrics *m, const struct who *w, int64_t reserved, int64_t cost);
/* The usage of a stream's message_start is known: hold what it costs so far
 * instead of the estimate. */
void caps_update(struct metrics *m, const struct who *w, int64_t *reserved, int64_t known);
void caps_write_off(struct metrics *m);
/* GET /metrics's "caps": each capped developer's and team's caps, spend
 * today and this month, and what is in flight. */
json_t *caps_json(const struct metrics *m);

/* One request of `w` (and its cost, if metered) by developer, team and
 * request class, in bounded labels. */
void costs_attribute(struct metrics *m, const struct who *w, const struct cost *c);

/* One counter as read from host storage. */
struct metrics_counter {
    char name[128];
    uint64_t value;
};

/* Every counter, read once per render. */
struct metrics_snapshot {
    struct metrics_counter *v;
    size_t n, cap;
    bool failed;
};

int snapshot_take(const struct metrics *m, struct metrics_snapshot *s);
void snapshot_free(struct metrics_snapshot *s);
uint64_t snapshot_get(const struct metrics_snapshot *s, const char *name);

/* Requests active now; the error rate of the last minute (-1: no traffic). */
uint64_t metrics_active(const struct metrics *m);
double metrics_recent_error_rate(const struct metrics *m);

/* GET /metrics's document (see anthropic-proxy(8)); NULL when out of memory. */
json_t *snapshot_json(const struct metrics *m, const struct metrics_snapshot *s);
/* GET /metrics/prometheus's text, malloc'd; NULL when out of memory. */
char *snapshot_prometheus(const struct metrics *m, const struct metrics_snapshot *s,
                          size_t *len);

#endif
