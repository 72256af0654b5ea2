/*
 * ledger_sqlite: the SQLite store of the ledger (WAL, one prepared INSERT,
 * a transaction per batch). The schema is the ledger's public face:
 * `anthropic-proxy ledger` reads it, and so may an operator's own SQL.
 *
 * A row's id is its time: at least time_ms * LEDGER_ID_PER_MS, and more
 * than the id before it (see next_id). So the rows since a time start at a
 * known id of the table's own key (the end of a range is bounded by time_ms
 * alone: a row's id runs ahead of its time by as long as its request took),
 * and no index on time_ms is kept: it cost about a fifth of the writer's
 * CPU per row (tests/bench/RESULTS.md). A file made before
 * this (PRAGMA user_version 0: ids 1, 2, 3...) keeps its index and its
 * numbering; both layouts answer the same queries (ledger_id_floor).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ledger.h"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS exchanges ("
    " id INTEGER PRIMARY KEY,"
    " time_ms INTEGER NOT NULL,"
    " developer TEXT NOT NULL, team TEXT NOT NULL,"
    " session TEXT, prompt_id TEXT, request_class TEXT,"
    " model TEXT, status INTEGER,"
    " input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER,"
    " cache_write_5m_tokens INTEGER, cache_write_1h_tokens INTEGER,"
    " web_search_requests INTEGER, web_fetch_requests INTEGER,"
    " cost_nanousd INTEGER NOT NULL,"
    " duration_ms REAL, ttfb_ms REAL,"
    " retries INTEGER, client_retries INTEGER,"
    " request_id TEXT, client_request_id TEXT, client_version TEXT,"
    " cache_savings_nanousd INTEGER NOT NULL DEFAULT 0);"
    "PRAGMA user_version=2;";

/* a file of the first layout, ids in insertion order */
static const char old_index[] = "CREATE INDEX IF NOT EXISTS exchanges_time ON exchanges(time_ms);";

static const char insert_sql[] =
    "INSERT INTO exchanges (id, time_ms, developer, team, session, prompt_id, request_class,"
    " model, status, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,"
    " cache_write_1h_tokens, web_search_requests, web_fetch_requests, cost_nanousd,"
    " duration_ms, ttfb_ms, retries, client_retries, request_id, client_request_id,"
    " client_version, cache_savings_nanousd)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

struct sdb {
    sqlite3 *db;
    sqlite3_stmt *insert;
    bool time_ids;                   /* ids are times (user_version 2) */
    int64_t last_id;                 /* the largest id in the file */
};

static void say(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "ledger: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* A file made before cache_savings_nanousd existed gets the column (0 for
 * its old rows), so reports over old and new rows still add up. */
static int upgrade(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT cache_savings_nanousd FROM exchanges LIMIT 0", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_finalize(st);
        return SQLITE_OK;
    }
    return sqlite3_exec(db, "ALTER TABLE exchanges ADD COLUMN cache_savings_nanousd INTEGER "
                        "NOT NULL DEFAULT 0", NULL, NULL, NULL);
}

/* One integer from a query (NULL reads as 0). */
static int scalar(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Which layout the file has; a new file gets the table in the time-id
 * layout. In one write transaction, so that of two writers (a reload's old
 * and new generation) only one creates it and both see it made. */
static int set_up(struct sdb *s)
{
    int64_t tables = 0, version = 0;
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = scalar(s->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                " AND name = 'exchanges'", &tables);
    if (rc == SQLITE_OK && tables == 0)
        rc = sqlite3_exec(s->db, schema, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = scalar(s->db, "PRAGMA user_version", &version);
    if (rc == SQLITE_OK && version < 2)
        rc = sqlite3_exec(s->db, old_index, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = upgrade(s->db);
    const char *end = rc == SQLITE_OK ? "COMMIT" : "ROLLBACK";
    if (sqlite3_exec(s->db, end, NULL, NULL, NULL) != SQLITE_OK && rc == SQLITE_OK)
        rc = SQLITE_ERROR;
    s->time_ids = version >= 2;
    return rc;
}

static void *s_open(const char *path, bool readonly, char *err, size_t errlen)
{
    struct sdb *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "ledger: out of memory");
        return NULL;
    }
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        char what[300];
        snprintf(what, sizeof what, "cannot open %.250s", path);
        say(s->db, what, err, errlen);
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    int64_t version = 0;
    if (readonly ? scalar(s->db, "PRAGMA user_version", &version) != SQLITE_OK
                 /* 16 KiB pages: a fifth less CPU per row than 4 KiB (fewer
                  * pages to write to the WAL and back); only a new file
                  * takes it */
                 : sqlite3_exec(s->db, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL;"
                                " PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) != SQLITE_OK ||
                       set_up(s) != SQLITE_OK ||
                       sqlite3_prepare_v2(s->db, insert_sql, -1, &s->insert, NULL) != SQLITE_OK) {
        say(s->db, readonly ? "cannot read" : "cannot set up the table", err, errlen);
        goto fail;
    }
    if (readonly)
        s->time_ids = version >= 2;
    return s;
fail:
    sqlite3_finalize(s->insert);
    sqlite3_close(s->db);
    free(s);
    return NULL;
}

static void s_close(void *p)
{
    struct sdb *s = p;
    sqlite3_finalize(s->insert);
    sqlite3_close(s->db);
    free(s);
}

/* A row's id: its time, or one more than the last id if that is larger
 * (rows are written as they end, not quite in the order they started, and
 * a millisecond may hold up to LEDGER_ID_PER_MS of them before ids run
 * ahead of the clock). So id >= time_ms * LEDGER_ID_PER_MS always. */
static int64_t next_id(int64_t last, int64_t time_ms)
{
    int64_t id = ledger_id_floor(time_ms);
    return id > last || last == INT64_MAX ? id : last + 1;
}

/* SQLITE_STATIC: the row outlives the statement's step (write() resets it
 * before returning), so SQLite need not copy every string. */
static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* (A multi-row INSERT was tried: it costs more per row than this.) */
static int insert_one(struct sdb *s, const struct ledger_row *r)
{
    sqlite3_stmt *st = s->insert;
    int i = 1;
    sqlite3_reset(st);
    if (s->time_ids)
        sqlite3_bind_int64(st, i++, s->last_id = next_id(s->last_id, r->time_ms));
    else
        sqlite3_bind_null(st, i++); /* the first layout numbers rows 1, 2, 3... */
    sqlite3_bind_int64(st, i++, r->time_ms);
    sqlite3_bind_text(st, i++, r->developer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, r->team, -1, SQLITE_STATIC);
    bind_text(st, i++, r->session);
    bind_text(st, i++, r->prompt_id);
    bind_text(st, i++, r->request_class);
    bind_text(st, i++, r->model);
    sqlite3_bind_int(st, i++, r->status);
    const int64_t n[] = { r->input, r->output, r->cache_read, r->cache_write_5m,
                          r->cache_write_1h, r->web_search, r->web_fetch, r->cost_nanousd };
    for (size_t k = 0; k < sizeof n / sizeof n[0]; k++)
        sqlite3_bind_int64(st, i++, n[k]);
    sqlite3_bind_double(st, i++, r->duration_ms);
    if (r->ttfb_ms >= 0)
        sqlite3_bind_double(st, i++, r->ttfb_ms);
    else
        sqlite3_bind_null(st, i++);
    sqlite3_bind_int(st, i++, r->retries);
    if (r->client_retries >= 0)
        sqlite3_bind_int(st, i++, r->client_retries);
    else
        sqlite3_bind_null(st, i++);
    bind_text(st, i++, r->request_id);
    bind_text(st, i++, r->client_request_id);
    bind_text(st, i++, r->client_version);
    sqlite3_bind_int64(st, i++, r->cache_savings_nanousd);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

static int s_write(void *p, const struct ledger_row *rows, size_t n, char *err, size_t errlen)
{
    struct sdb *s = p;
    /* IMMEDIATE: the largest id is read under the write lock, so that two
     * writers (a reload's old and new generation) never pick the same */
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        say(s->db, "cannot begin a transaction", err, errlen);
        return -1;
    }
    if (s->time_ids && scalar(s->db, "SELECT max(id) FROM exchanges", &s->last_id) != SQLITE_OK) {
        say(s->db, "cannot read the last id", err, errlen);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (insert_one(s, &rows[i]) < 0) {
            say(s->db, "cannot insert", err, errlen);
            sqlite3_reset(s->insert);
            sqlite3_clear_bindings(s->insert);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    sqlite3_reset(s->insert);
    sqlite3_clear_bindings(s->insert); /* no pointer into the caller's rows is kept */
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        say(s->db, "cannot commit", err, errlen);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int s_expire(void *p, int64_t before_ms, char *err, size_t errlen)
{
    struct sdb *s = p;
    sqlite3_stmt *st = NULL;
    /* a row's id runs ahead of its time by at most how long it took (it is
     * written as it ends): the id range holds every row older than
     * before_ms that lasted less than LEDGER_LONGEST_MS */
    int rc = sqlite3_prepare_v2(s->db, "DELETE FROM exchanges WHERE id < ?2 AND time_ms < ?1",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, before_ms);
        sqlite3_bind_int64(st, 2, s->time_ids ? ledger_id_floor(before_ms + LEDGER_LONGEST_MS)
                                              : INT64_MAX);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        say(s->db, "cannot delete old rows", err, errlen);
    return rc == SQLITE_OK ? 0 : -1;
}

static int s_spend(void *p, int64_t since_ms,
                   void (*fn)(void *arg, const char *developer, const char *team, int64_t nano),
                   void *arg, char *err, size_t errlen)
{
    struct sdb *s = p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT developer, team, sum(cost_nanousd) FROM exchanges "
                           "WHERE id >= ?2 AND time_ms >= ?1 GROUP BY developer, team", -1, &st,
                           NULL) != SQLITE_OK) {
        say(s->db, "cannot read the spend", err, errlen);
        return -1;
    }
    sqlite3_bind_int64(st, 1, since_ms);
    sqlite3_bind_int64(st, 2, s->time_ids ? ledger_id_floor(since_ms) : INT64_MIN);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(arg, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
           sqlite3_column_int64(st, 2));
    if (rc != SQLITE_DONE)
        say(s->db, "cannot read the spend", err, errlen);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

const struct ledger_store ledger_sqlite = {
    .name = "sqlite",
    .open = s_open,
    .write = s_write,
    .expire = s_expire,
    .spend = s_spend,
    .close = s_close,
};
