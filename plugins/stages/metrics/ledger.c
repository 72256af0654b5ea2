/*
 * ledger: the queue and the writer thread (see ledger.h). A generation's
 * writer ends with it: ledger_stop waits for the queued rows to be written. The loop thread
 * holds the mutex only to copy one row in; the writer holds it only to
 * take a batch out, never while it writes.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger.h"

#define REOPEN_MS 5000               /* retry a store that failed to open */
#define EXPIRE_MS (3600 * 1000)      /* retention runs hourly */

struct ledger {
    const struct ledger_store *store;
    char *path;
    int64_t retention_days;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ledger_row *q;            /* ring of LEDGER_QUEUE rows */
    size_t head, count;
    bool stop;
    struct ledger_stats st;          /* under mu */
    pthread_t thread;
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int ledger_append(struct ledger *l, const struct ledger_row *row)
{
    pthread_mutex_lock(&l->mu);
    if (l->count == LEDGER_QUEUE) {
        l->st.dropped++;
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    l->q[(l->head + l->count) % LEDGER_QUEUE] = *row;
    l->count++;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void ledger_stats(struct ledger *l, struct ledger_stats *out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->st;
    pthread_mutex_unlock(&l->mu);
}

void ledger_stop(struct ledger *l, struct ledger_stats *final)
{
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    /* joined, not detached: the plugin is unloaded after its fini, and
     * the writer's code must not go away under it */
    pthread_join(l->thread, NULL);
    *final = l->st;
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->q);
    free(l->path);
    free(l);
}

static void failed(struct ledger *l, const char *err, uint64_t lost)
{
    pthread_mutex_lock(&l->mu);
    l->st.failing = true;
    l->st.write_errors++;
    l->st.lost += lost;
    snprintf(l->st.error, sizeof l->st.error, "%s", err);
    pthread_mutex_unlock(&l->mu);
}

/* Wait for rows (or the stop, or the next hourly expiry), then take a batch. */
static size_t take(struct ledger *l, struct ledger_row *batch, bool *stop)
{
    pthread_mutex_lock(&l->mu);
    while (l->count == 0 && !l->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        if (pthread_cond_timedwait(&l->cv, &l->mu, &until) != 0)
            break;
    }
    size_t n = l->count < LEDGER_BATCH ? l->count : LEDGER_BATCH;
    for (size_t i = 0; i < n; i++)
        batch[i] = l->q[(l->head + i) % LEDGER_QUEUE];
    l->head = (l->head + n) % LEDGER_QUEUE;
    l->count -= n;
    *stop = l->stop && l->count == 0;
    pthread_mutex_unlock(&l->mu);
    return n;
}

static void expire(struct ledger *l, void *db)
{
    char err[200];
    if (l->retention_days <= 0)
        return;
    if (l->store->expire(db, now_ms() - l->retention_days * 86400000, err, sizeof err) < 0)
        failed(l, err, 0);
}

static void *writer(void *arg)
{
    struct ledger *l = arg;
    struct ledger_row *batch = malloc(LEDGER_BATCH * sizeof *batch);
    void *db = NULL;
    int64_t next_open = 0, next_expire = 0;
    char err[200];
    for (bool stop = false; batch && !stop;) {
        size_t n = take(l, batch, &stop);
        int64_t now = now_ms();
        /* opened at the first row, so that --check-config creates nothing */
        if (!db && n > 0 && now >= next_open) {
            if (!(db = l->store->open(l->path, false, err, sizeof err))) {
                failed(l, err, 0);
                next_open = now + REOPEN_MS;
            }
        }
        if (db && now >= next_expire) {
            expire(l, db);
            next_expire = now + EXPIRE_MS;
        }
        if (n == 0)
            continue;
        if (!db) {
            failed(l, err, n);
            continue;
        }
        if (l->store->write(db, batch, n, err, sizeof err) < 0) {
            failed(l, err, n);
            continue;
        }
        pthread_mutex_lock(&l->mu);
        l->st.written += n;
        l->st.batches++;
        l->st.failing = false;
        pthread_mutex_unlock(&l->mu);
    }
    if (db)
        l->store->close(db);
    free(batch);
    return NULL;
}

struct ledger *ledger_start(const struct ledger_store *store, const char *path,
                            int64_t retention_days)
{
    struct ledger *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->store = store;
    l->retention_days = retention_days;
    l->path = strdup(path);
    l->q = malloc(LEDGER_QUEUE * sizeof *l->q);
    sigset_t all, old;
    if (!l->path || !l->q || pthread_mutex_init(&l->mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&l->cv, NULL) != 0) {
        pthread_mutex_destroy(&l->mu);
        goto fail;
    }
    /* signals are the loop thread's business */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&l->thread, NULL, writer, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
        goto fail;
    }
    return l;
fail:
    free(l->q);
    free(l->path);
    free(l);
    return NULL;
}
