/*
 * check_ledger: the SQLite store of the ledger (ledger_sqlite.c) on a real
 * file: ids that are times, so that a time range is found without an index
 * even for rows written out of order; a file of the first layout (ids 1, 2,
 * 3... and an index on time_ms) read and written as before; two writers on
 * one file (a reload's old and new generation) never picking the same id;
 * retention deleting exactly the old rows.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ledger.h"

static char path[64];

static void make_path(void)
{
    snprintf(path, sizeof path, "/tmp/apx-check-ledger.XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(path); /* the store makes the file itself */
}

static void remove_files(void)
{
    char p[80];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static struct ledger_row row(const char *developer, int64_t time_ms, int64_t nano)
{
    struct ledger_row r;
    memset(&r, 0, sizeof r);
    r.time_ms = time_ms;
    snprintf(r.developer, sizeof r.developer, "%s", developer);
    snprintf(r.team, sizeof r.team, "core");
    r.status = 200;
    r.cost_nanousd = nano;
    r.ttfb_ms = -1;
    r.client_retries = -1;
    return r;
}

static void *open_rw(void)
{
    char err[256];
    void *db = ledger_sqlite.open(path, false, err, sizeof err);
    ck_assert_msg(db != NULL, "%s", err);
    return db;
}

static void write_rows(void *db, const struct ledger_row *rows, size_t n)
{
    char err[256];
    ck_assert_msg(ledger_sqlite.write(db, rows, n, err, sizeof err) == 0, "%s", err);
}

/* One integer from SQL on a connection of the test's own. */
static int64_t sql_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

struct spent {
    int64_t alice, bob;
    int calls;
};

static void add_spend(void *arg, const char *developer, const char *team, int64_t nano)
{
    struct spent *s = arg;
    ck_assert_str_eq(team, "core");
    if (strcmp(developer, "alice") == 0)
        s->alice += nano;
    else if (strcmp(developer, "bob") == 0)
        s->bob += nano;
    s->calls++;
}

static struct spent spend_since(void *db, int64_t since_ms)
{
    struct spent s = { 0 };
    char err[256];
    ck_assert_msg(ledger_sqlite.spend(db, since_ms, add_spend, &s, err, sizeof err) == 0, "%s",
                  err);
    return s;
}

static const int64_t t0 = 1780000000000; /* 2026-05-28, in ms */

START_TEST(ids_are_times)
{
    make_path();
    void *db = open_rw();
    /* a long stream that began before the others ends after them, and
     * three requests share one millisecond */
    struct ledger_row first[] = { row("alice", t0, 1), row("alice", t0, 2), row("bob", t0, 4),
                                  row("bob", t0 + 5, 8) };
    struct ledger_row late[] = { row("alice", t0 - 60000, 16), row("bob", t0 - 1, 32) };
    write_rows(db, first, 4);
    write_rows(db, late, 2);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM exchanges WHERE id < time_ms * 1000"), 0);
    ck_assert_int_eq(sql_int("SELECT count(DISTINCT id) FROM exchanges"), 6);
    ck_assert_int_eq(sql_int("SELECT min(id) FROM exchanges"), t0 * LEDGER_ID_PER_MS);
    ck_assert_int_eq(sql_int("PRAGMA user_version"), 2);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                             " AND name = 'exchanges_time'"), 0);
    /* since t0: the four that began at t0 or later, not the two written
     * after them that began before */
    struct spent s = spend_since(db, t0);
    ck_assert_int_eq(s.alice, 1 + 2);
    ck_assert_int_eq(s.bob, 4 + 8);
    s = spend_since(db, t0 - 60000);
    ck_assert_int_eq(s.alice, 1 + 2 + 16);
    ck_assert_int_eq(s.bob, 4 + 8 + 32);
    ledger_sqlite.close(db);

    /* a restart goes on from the largest id, and a read-only open (the
     * caps' start-up read) sees the layout */
    db = open_rw();
    struct ledger_row again = row("bob", t0 - 2, 64);
    write_rows(db, &again, 1);
    ledger_sqlite.close(db);
    ck_assert_int_eq(sql_int("SELECT count(DISTINCT id) FROM exchanges"), 7);
    char err[256];
    db = ledger_sqlite.open(path, true, err, sizeof err);
    ck_assert_msg(db != NULL, "%s", err);
    s = spend_since(db, t0);
    ck_assert_int_eq(s.bob, 4 + 8);
    ledger_sqlite.close(db);
    remove_files();
}
END_TEST

START_TEST(first_layout_kept)
{
    make_path();
    sqlite3 *raw = NULL;
    ck_assert_int_eq(sqlite3_open(path, &raw), SQLITE_OK);
    /* the table as the first release made it (no savings column yet) */
    ck_assert_int_eq(sqlite3_exec(raw,
                                  "CREATE TABLE exchanges (id INTEGER PRIMARY KEY,"
                                  " time_ms INTEGER NOT NULL, developer TEXT NOT NULL,"
                                  " team TEXT NOT NULL, session TEXT, prompt_id TEXT,"
                                  " request_class TEXT, model TEXT, status INTEGER,"
                                  " input_tokens INTEGER, output_tokens INTEGER,"
                                  " cache_read_tokens INTEGER, cache_write_5m_tokens INTEGER,"
                                  " cache_write_1h_tokens INTEGER, web_search_requests INTEGER,"
                                  " web_fetch_requests INTEGER, cost_nanousd INTEGER NOT NULL,"
                                  " duration_ms REAL, ttfb_ms REAL, retries INTEGER,"
                                  " client_retries INTEGER, request_id TEXT,"
                                  " client_request_id TEXT, client_version TEXT);"
                                  "CREATE INDEX exchanges_time ON exchanges(time_ms);"
                                  "INSERT INTO exchanges (time_ms, developer, team, cost_nanousd)"
                                  " VALUES (1780000000000, 'alice', 'core', 100),"
                                  " (1779999000000, 'bob', 'core', 200);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    void *db = open_rw();
    struct ledger_row r = row("alice", t0 + 1, 1);
    write_rows(db, &r, 1);
    ck_assert_int_eq(sql_int("SELECT max(id) FROM exchanges"), 3);
    ck_assert_int_eq(sql_int("PRAGMA user_version"), 0);
    ck_assert_int_eq(sql_int("SELECT sum(cache_savings_nanousd) FROM exchanges"), 0);
    struct spent s = spend_since(db, t0);
    ck_assert_int_eq(s.alice, 101);
    ck_assert_int_eq(s.bob, 0);
    s = spend_since(db, 0);
    ck_assert_int_eq(s.bob, 200);
    char err[256];
    ck_assert_msg(ledger_sqlite.expire(db, t0, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM exchanges"), 2);
    ledger_sqlite.close(db);
    remove_files();
}
END_TEST

START_TEST(two_writers)
{
    make_path();
    void *a = open_rw(), *b = open_rw();
    /* interleaved batches of rows of the same milliseconds: each writer
     * reads the largest id under the write lock */
    for (int k = 0; k < 20; k++) {
        struct ledger_row rows[8];
        for (int i = 0; i < 8; i++)
            rows[i] = row(k % 2 ? "bob" : "alice", t0 + i / 4, 1);
        write_rows(k % 2 ? b : a, rows, 8);
    }
    ck_assert_int_eq(sql_int("SELECT count(*) FROM exchanges"), 160);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM exchanges WHERE id < time_ms * 1000"), 0);
    ledger_sqlite.close(a);
    ledger_sqlite.close(b);
    remove_files();
}
END_TEST

START_TEST(retention)
{
    make_path();
    void *db = open_rw();
    const int64_t day = 86400000;
    /* written in this order: a row of the cut-off's last millisecond
     * written after a newer one, so its id is past the cut-off's */
    struct ledger_row rows[] = { row("alice", t0 - 3 * day, 1), row("alice", t0, 2),
                                 row("bob", t0 - 1, 4), row("bob", t0 + day, 8) };
    write_rows(db, rows, 4);
    char err[256];
    ck_assert_msg(ledger_sqlite.expire(db, t0, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM exchanges"), 2);
    ck_assert_int_eq(sql_int("SELECT sum(cost_nanousd) FROM exchanges"), 2 + 8);
    ledger_sqlite.close(db);
    remove_files();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ledger");
    TCase *tc = tcase_create("sqlite");
    tcase_add_test(tc, ids_are_times);
    tcase_add_test(tc, first_layout_kept);
    tcase_add_test(tc, two_writers);
    tcase_add_test(tc, retention);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
