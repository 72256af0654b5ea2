/*
 * ledger: one row per exchange, no content ever, written off the event
 * loop. The loop thread only copies a row into a bounded queue (a full
 * queue drops the row and counts it: a slow disk never stalls a request);
 * a writer thread takes the whole queue when a batch is full or
 * LEDGER_FLUSH_MS after it last took it, and writes it in transactions of
 * at most LEDGER_BATCH rows.
 *
 * Where rows go is one small interface, struct ledger_store, so another
 * store (PostgreSQL, for proxies sharing caps) can be added beside the
 * SQLite one without touching the queue or the stage.
 */
#ifndef APX_LEDGER_H
#define APX_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEDGER_TEXT 72

struct ledger_row {
    int64_t time_ms;                 /* the request's arrival, ms since the epoch */
    char developer[40], team[40];
    char session[LEDGER_TEXT], prompt_id[LEDGER_TEXT], request_class[24];
    char model[64];
    int status;
    int64_t input, output, cache_read, cache_write_5m, cache_write_1h;
    int64_t web_search, web_fetch;
    int64_t cost_nanousd;
    int64_t cache_savings_nanousd;   /* cache reads priced as input, minus their cost */
    double duration_ms, ttfb_ms;     /* ttfb < 0: no response head */
    int retries, client_retries;     /* ours; the client's (-1: not sent) */
    char request_id[LEDGER_TEXT], client_request_id[LEDGER_TEXT];
    char client_version[32];
};

/* What a store does. Every function runs on the writer thread, except
 * spend(), which runs where it is called (at a start with no counters). */
struct ledger_store {
    const char *name;
    void *(*open)(const char *path, bool readonly, char *err, size_t errlen);
    /* All rows in one transaction: 0, or -1 (none written) with err. */
    int (*write)(void *db, const struct ledger_row *rows, size_t n, char *err, size_t errlen);
    /* Delete rows older than before_ms: 0 or -1. */
    int (*expire)(void *db, int64_t before_ms, char *err, size_t errlen);
    /* Spend since since_ms by developer and team: fn once per (developer,
     * team) pair; 0 or -1. */
    int (*spend)(void *db, int64_t since_ms,
                 void (*fn)(void *arg, const char *developer, const char *team, int64_t nano),
                 void *arg, char *err, size_t errlen);
    void (*close)(void *db);
};

extern const struct ledger_store ledger_sqlite;

/* The SQLite file's ids are times (ledger_sqlite.c): a row's id is at least
 * its time_ms times this. core/ledger_cmd.c reads the same layout. */
#define LEDGER_ID_PER_MS 1000
/* Rows that lasted longer than this may outlive their retention by as long. */
#define LEDGER_LONGEST_MS (86400 * 1000)

/* The smallest id a row of time time_ms or later can have. */
static inline int64_t ledger_id_floor(int64_t time_ms)
{
    if (time_ms <= 0)
        return INT64_MIN;
    return time_ms > INT64_MAX / LEDGER_ID_PER_MS ? INT64_MAX : time_ms * LEDGER_ID_PER_MS;
}

/* Counts since the writer started; read by the loop thread. */
struct ledger_stats {
    uint64_t written, dropped, lost, write_errors, batches;
    bool failing;                    /* the last write or open failed */
    char error[200];                 /* the last failure, if failing */
};

struct ledger;

/* Rows waiting for the writer, at most, while it writes as many again. */
#define LEDGER_QUEUE 8192
#define LEDGER_BATCH 1024            /* rows per transaction, at most */
#define LEDGER_FLUSH_MS 250          /* a row waits at most this long for its batch */

/* Start a writer for `path` (opened on its thread). NULL when out of
 * memory or no thread could start. */
struct ledger *ledger_start(const struct ledger_store *store, const char *path,
                            int64_t retention_days);
/* Queue a copy of *row: 0, or -1 if the queue is full (counted as dropped). */
int ledger_append(struct ledger *l, const struct ledger_row *row);
void ledger_stats(struct ledger *l, struct ledger_stats *out);
/* Let the writer write what is queued, wait for it to end, give its last
 * counts in *final, free l. */
void ledger_stop(struct ledger *l, struct ledger_stats *final);

#endif
