/*
 * ledger: the queue and the writer thread (see ledger.h). A generation's
 * writer ends with it: ledger_stop waits for the queued rows to be written.
 *
 * The queue is two buffers: the loop thread copies rows into one while the
 * writer writes the other, and the writer takes the loop's buffer by
 * swapping the two under the mutex. So the mutex is only ever held for a
 * row's copy or a swap: the loop thread never waits while rows are copied
 * out (a 1024-row copy under the lock made it wait up to 1.6 ms in
 * tests/bench/ledger-bench.sh), let alone while they are written.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"

#define REOPEN_MS 5000               /* retry a store that failed to open */
#define EXPIRE_MS (3600 * 1000)      /* retention runs hourly */

struct ledger {
    const struct ledger_store *store;
    char *path;
    int64_t retention_days;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ledger_row *buf[2];       /* LEDGER_QUEUE rows each */
    int fill_buf;                    /* the one the loop fills, under mu */
    size_t count;                    /* rows in it, under mu */
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
    l->buf[l->fill_buf][l->count++] = *row;
    /* the writer wakes for a full batch or at its flush time, not for each
     * row: a transaction per row would cost more than the request */
    if (l->count == LEDGER_BATCH)
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
    free(l->buf[0]);
    free(l->buf[1]);
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

/* Wait for a full batch, the stop, or LEDGER_FLUSH_MS, then take the
 * loop's buffer (perhaps empty: the caller then sees to expiry and
 * reopening) and give it the other one. */
static size_t take(struct ledger *l, const struct ledger_row **rows, bool *stop)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)LEDGER_FLUSH_MS * 1000000;
    until.tv_sec += until.tv_nsec / 1000000000;
    until.tv_nsec %= 1000000000;
    pthread_mutex_lock(&l->mu);
    while (l->count < LEDGER_BATCH && !l->stop)
        if (pthread_cond_timedwait(&l->cv, &l->mu, &until) != 0)
            break;
    size_t n = l->count;
    *rows = l->buf[l->fill_buf];
    l->fill_buf ^= 1;
    l->count = 0;
    *stop = l->stop; /* every row appended before the stop is in *rows */
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

/* rows[0..n) in transactions of at most LEDGER_BATCH rows; a failure
 * loses the rest of them (counted), and the next take tries again. */
static void write_rows(struct ledger *l, void *db, const struct ledger_row *rows, size_t n)
{
    char err[200];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < LEDGER_BATCH ? n - done : LEDGER_BATCH;
        if (l->store->write(db, rows + done, k, err, sizeof err) < 0) {
            failed(l, err, n - done);
            return;
        }
        done += k;
        pthread_mutex_lock(&l->mu);
        l->st.written += k;
        l->st.batches++;
        l->st.failing = false;
        pthread_mutex_unlock(&l->mu);
    }
}

static void *writer(void *arg)
{
    struct ledger *l = arg;
    void *db = NULL;
    int64_t next_open = 0, next_expire = 0;
    char err[200] = "ledger: not open";
    for (bool stop = false; !stop;) {
        const struct ledger_row *rows;
        size_t n = take(l, &rows, &stop);
        int64_t now = now_ms();
        /* opened at the first row, so that --check-config creates nothing;
         * a file already there is opened at once, so that a proxy without
         * traffic still expires old rows */
        bool existing = !db && l->retention_days > 0 && access(l->path, F_OK) == 0;
        if (!db && (n > 0 || existing) && now >= next_open) {
            if (!(db = l->store->open(l->path, false, err, sizeof err))) {
                failed(l, err, 0);
                next_open = now + REOPEN_MS;
            }
        }
        if (db && now >= next_expire) {
            expire(l, db);
            next_expire = now + EXPIRE_MS;
        }
        if (n > 0 && !db)
            failed(l, err, n);
        else if (n > 0)
            write_rows(l, db, rows, n);
    }
    if (db)
        l->store->close(db);
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
    l->buf[0] = malloc(LEDGER_QUEUE * sizeof *l->buf[0]);
    l->buf[1] = malloc(LEDGER_QUEUE * sizeof *l->buf[1]);
    sigset_t all, old;
    if (!l->path || !l->buf[0] || !l->buf[1] || pthread_mutex_init(&l->mu, NULL) != 0)
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
    free(l->buf[0]);
    free(l->buf[1]);
    free(l->path);
    free(l);
    return NULL;
}
