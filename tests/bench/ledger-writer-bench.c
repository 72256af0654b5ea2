/*
 * ledger-writer-bench.c: how many rows per second the ledger's writer
 * thread and its SQLite store sustain on this disk, without a proxy in
 * front (tests/bench/ledger-bench.sh builds and runs it; not built by make).
 *
 * It appends ROWS rows shaped like the proxy's (every text column filled)
 * as fast as the queue takes them, waiting 50 us when the queue is full,
 * then stops the writer (which writes what is queued) and prints
 *   rows=N seconds=S rows_per_s=R batches=B rows_per_batch=M writer_us_per_row=U
 * (U: the writer thread's CPU per row, the process's CPU less this
 * thread's).
 *
 * Usage: ledger-writer-bench PATH [ROWS]
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ledger.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fill(struct ledger_row *r, long i)
{
    memset(r, 0, sizeof *r);
    r->time_ms = (int64_t)time(NULL) * 1000;
    snprintf(r->developer, sizeof r->developer, "developer-%ld", i % 5);
    snprintf(r->team, sizeof r->team, "team-%ld", i % 2);
    snprintf(r->session, sizeof r->session, "0b7c3a5e-1f2d-4c3b-9a8e-%012ld", i / 100);
    snprintf(r->prompt_id, sizeof r->prompt_id, "prompt-%ld", i / 10);
    snprintf(r->request_class, sizeof r->request_class, "main");
    snprintf(r->model, sizeof r->model, "claude-sonnet-4-5-20250929");
    r->status = 200;
    r->input = 3;
    r->output = 500;
    r->cache_read = 80000;
    r->cache_write_1h = 2000;
    r->cost_nanousd = 43509000;
    r->cache_savings_nanousd = 216000000;
    r->duration_ms = 2345.6;
    r->ttfb_ms = 456.7;
    r->client_retries = 0;
    snprintf(r->request_id, sizeof r->request_id, "req_bench%016ld", i);
    snprintf(r->client_request_id, sizeof r->client_request_id, "cr-%ld", i);
    snprintf(r->client_version, sizeof r->client_version, "2.0.99");
}

static double cpu_s(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH [ROWS]\n", argv[0]);
        return 2;
    }
    long rows = argc > 2 ? atol(argv[2]) : 500000;
    struct ledger *l = ledger_start(&ledger_sqlite, argv[1], 0);
    if (!l) {
        fprintf(stderr, "cannot start the writer\n");
        return 1;
    }
    struct ledger_row r;
    double t0 = now_s();
    for (long i = 0; i < rows; i++) {
        fill(&r, i);
        while (ledger_append(l, &r) < 0)
            usleep(50);
    }
    struct ledger_stats st;
    ledger_stop(l, &st);
    double s = now_s() - t0;
    double writer_cpu = cpu_s(RUSAGE_SELF) - cpu_s(RUSAGE_THREAD);
    if (st.write_errors || st.written != (uint64_t)rows) {
        fprintf(stderr, "written %llu of %ld, %llu write errors: %s\n",
                (unsigned long long)st.written, rows, (unsigned long long)st.write_errors,
                st.error);
        return 1;
    }
    printf("rows=%ld seconds=%.2f rows_per_s=%.0f batches=%llu rows_per_batch=%.0f "
           "writer_us_per_row=%.2f\n", rows, s, (double)rows / s,
           (unsigned long long)st.batches,
           st.batches ? (double)rows / (double)st.batches : 0.0, writer_cpu / (double)rows * 1e6);
    return 0;
}
