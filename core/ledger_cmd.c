/*
 * ledger_cmd: see ledger_cmd.h. Only SELECTs, on a read-only connection;
 * every value the user gives is bound, never pasted into the SQL.
 */
#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "ledger_cmd.h"
#include "settings.h"

enum format { F_TABLE, F_CSV, F_JSON };

/* The ledger file's layout (plugins/stages/metrics/ledger_sqlite.c): from
 * user_version 2 on, a row's id is at least its time_ms times this, so
 * `id >= since * ID_PER_MS` finds the range on the table's own key. */
#define ID_PER_MS 1000

struct query {
    const char *path;
    int64_t since_ms, until_ms;
    int64_t id_floor;                /* no row of since_ms or later has a smaller id */
    const char *by;
    enum format format;
};

static void ledger_usage(FILE *out)
{
    fprintf(out,
            "Usage: anthropic-proxy ledger report [--since DATE] [--until DATE]\n"
            "                 [--by developer|team|model|session|day] [--format table|csv|json]\n"
            "       anthropic-proxy ledger export [--since DATE] [--until DATE] [--format csv|json]\n"
            "\n"
            "Read the ledger (LEDGER_PATH of the settings; --config FILE or --ledger PATH\n"
            "to name another). report: requests, tokens and cost in USD, grouped (by\n"
            "developer unless --by says otherwise), most expensive first. export: every\n"
            "row, oldest first. DATE is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, in UTC;\n"
            "--since is included, --until is not. See anthropic-proxy(8).\n");
}

static bool parse_date(const char *v, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, s = 0, n = 0;
    if (sscanf(v, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return false;
    if (v[10]) {
        int n2 = 0;
        if (sscanf(v + 10, "T%2d:%2d:%2dZ%n", &h, &mi, &s, &n2) != 3 || v[10 + n2])
            return false;
    }
    static const int days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > days[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
        return false; /* 2026-02-30 is refused, not read as March 2 */
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                     .tm_min = mi, .tm_sec = s };
    *ms = (int64_t)timegm(&tm) * 1000;
    return true;
}

/* The GROUP BY expression of --by; NULL if unknown. */
static const char *group_expr(const char *by)
{
    static const struct { const char *by, *expr; } g[] = {
        { "developer", "developer" },
        { "team", "team" },
        { "model", "coalesce(model, '')" },
        { "session", "coalesce(session, '')" },
        { "day", "strftime('%Y-%m-%d', time_ms / 1000, 'unixepoch')" },
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        if (strcmp(g[i].by, by) == 0)
            return g[i].expr;
    return NULL;
}

static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void json_string_out(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* A cost in nano-dollars as dollars with 6 decimals, exactly (no float). */
static void usd(char *buf, size_t size, int64_t nano)
{
    int64_t micro = (nano + 500) / 1000;
    snprintf(buf, size, "%lld.%06lld", (long long)(micro / 1000000),
             (long long)(micro % 1000000));
}

/* The smallest id a row of since_ms or later can have in this file. */
static int64_t id_floor(sqlite3 *db, int64_t since_ms)
{
    sqlite3_stmt *st = NULL;
    int64_t version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (version < 2 || since_ms <= 0)
        return INT64_MIN; /* the first layout: ids 1, 2, 3... and an index on time_ms */
    return since_ms > INT64_MAX / ID_PER_MS ? INT64_MAX : since_ms * ID_PER_MS;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql, const struct query *q)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "anthropic-proxy ledger: %s\n", sqlite3_errmsg(db));
        return NULL;
    }
    sqlite3_bind_int64(st, 1, q->since_ms);
    sqlite3_bind_int64(st, 2, q->until_ms);
    sqlite3_bind_int64(st, 3, q->id_floor);
    return st;
}

static const char *const report_cols[] = { "requests", "input_tokens", "output_tokens",
                                           "cache_read_tokens", "cache_write_5m_tokens",
                                           "cache_write_1h_tokens", "web_search_requests",
                                           "cost_usd", "cache_savings_usd" };
#define NREPORT 9
#define COST 7       /* report_cols' index of the cost, then of the savings */
#define SAVINGS 8

static int report(sqlite3 *db, const struct query *q)
{
    const char *expr = group_expr(q->by);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT %s, max(team), count(*), sum(input_tokens), sum(output_tokens),"
             " sum(cache_read_tokens), sum(cache_write_5m_tokens), sum(cache_write_1h_tokens),"
             " sum(web_search_requests), sum(cost_nanousd), sum(cache_savings_nanousd)"
             " FROM exchanges"
             " WHERE id >= ?3 AND time_ms >= ?1 AND time_ms < ?2 GROUP BY 1 ORDER BY 10 DESC, 1",
             expr);
    sqlite3_stmt *st = prepare(db, sql, q);
    if (!st)
        return 1;
    bool dev = strcmp(q->by, "developer") == 0, first = true;
    int64_t total[NREPORT] = { 0 };
    if (q->format == F_TABLE)
        printf("%-28s %s%9s %12s %10s %12s %10s %10s %8s %14s %14s\n", q->by,
               dev ? "team         " : "", "requests", "input", "output", "cache_read",
               "write_5m", "write_1h", "search", "cost_usd", "cache_saved");
    else if (q->format == F_CSV) {
        printf("%s,%s", q->by, dev ? "team," : "");
        for (int k = 0; k < NREPORT; k++)
            printf("%s%s", report_cols[k], k + 1 < NREPORT ? "," : "\n");
    } else
        printf("[");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *team = (const char *)sqlite3_column_text(st, 1);
        int64_t v[NREPORT];
        for (int k = 0; k < NREPORT; k++)
            total[k] += v[k] = sqlite3_column_int64(st, 2 + k);
        char cost[32], saved[32];
        usd(cost, sizeof cost, v[COST]);
        usd(saved, sizeof saved, v[SAVINGS]);
        key = key ? key : "";
        team = team ? team : "";
        if (q->format == F_TABLE) {
            printf("%-28s ", key);
            if (dev)
                printf("%-13s", team);
            printf("%9lld %12lld %10lld %12lld %10lld %10lld %8lld %14s %14s\n",
                   (long long)v[0], (long long)v[1], (long long)v[2], (long long)v[3],
                   (long long)v[4], (long long)v[5], (long long)v[6], cost, saved);
        } else if (q->format == F_CSV) {
            csv_field(key);
            putchar(',');
            if (dev) {
                csv_field(team);
                putchar(',');
            }
            for (int k = 0; k < COST; k++)
                printf("%lld,", (long long)v[k]);
            printf("%s,%s\n", cost, saved);
        } else {
            printf("%s\n  {\"%s\": ", first ? "" : ",", q->by);
            json_string_out(key);
            if (dev) {
                printf(", \"team\": ");
                json_string_out(team);
            }
            for (int k = 0; k < COST; k++)
                printf(", \"%s\": %lld", report_cols[k], (long long)v[k]);
            printf(", \"cost_usd\": %s, \"cost_nanousd\": %lld, \"cache_savings_usd\": %s,"
                   " \"cache_savings_nanousd\": %lld}", cost, (long long)v[COST], saved,
                   (long long)v[SAVINGS]);
        }
        first = false;
    }
    if (q->format == F_JSON)
        printf("%s]\n", first ? "" : "\n");
    else if (q->format == F_TABLE) {
        char cost[32], saved[32];
        usd(cost, sizeof cost, total[COST]);
        usd(saved, sizeof saved, total[SAVINGS]);
        printf("%-28s %s%9lld %12lld %10lld %12lld %10lld %10lld %8lld %14s %14s\n", "total",
               dev ? "             " : "", (long long)total[0], (long long)total[1],
               (long long)total[2], (long long)total[3], (long long)total[4],
               (long long)total[5], (long long)total[6], cost, saved);
    }
    if (rc != SQLITE_DONE)
        fprintf(stderr, "anthropic-proxy ledger: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : 1;
}

static int export_rows(sqlite3 *db, const struct query *q)
{
    sqlite3_stmt *st = prepare(db, "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', time_ms / 1000.0,"
                               " 'unixepoch') AS time, developer, team, session, prompt_id,"
                               " request_class, model, status, input_tokens, output_tokens,"
                               " cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,"
                               " web_search_requests, web_fetch_requests, cost_nanousd,"
                               " cache_savings_nanousd,"
                               " duration_ms, ttfb_ms, retries, client_retries, request_id,"
                               " client_request_id, client_version FROM exchanges"
                               " WHERE id >= ?3 AND time_ms >= ?1 AND time_ms < ?2"
                               " ORDER BY time_ms, id", q);
    if (!st)
        return 1;
    int n = sqlite3_column_count(st), rc;
    bool first = true;
    if (q->format == F_JSON)
        printf("[");
    else
        for (int i = 0; i < n; i++)
            printf("%s%s", sqlite3_column_name(st, i), i + 1 < n ? "," : "\n");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (q->format == F_JSON)
            printf("%s\n  {", first ? "" : ",");
        for (int i = 0; i < n; i++) {
            int t = sqlite3_column_type(st, i);
            const char *v = (const char *)sqlite3_column_text(st, i);
            if (q->format == F_JSON) {
                printf("%s\"%s\": ", i ? ", " : "", sqlite3_column_name(st, i));
                if (t == SQLITE_NULL)
                    printf("null");
                else if (t == SQLITE_TEXT)
                    json_string_out(v);
                else
                    fputs(v, stdout);
            } else {
                csv_field(v ? v : "");
                putchar(i + 1 < n ? ',' : '\n');
            }
        }
        if (q->format == F_JSON)
            putchar('}');
        first = false;
    }
    if (q->format == F_JSON)
        printf("%s]\n", first ? "" : "\n");
    if (rc != SQLITE_DONE)
        fprintf(stderr, "anthropic-proxy ledger: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : 1;
}

static int parse_args(int argc, char **argv, struct query *q, const char **config,
                      const char **ledger, bool *format_given)
{
    static const struct option opts[] = {
        { "since", required_argument, NULL, 's' }, { "until", required_argument, NULL, 'u' },
        { "by", required_argument, NULL, 'b' },    { "format", required_argument, NULL, 'f' },
        { "config", required_argument, NULL, 'c' }, { "ledger", required_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:u:b:f:c:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
        case 'u':
            if (!parse_date(optarg, c == 's' ? &q->since_ms : &q->until_ms)) {
                fprintf(stderr, "anthropic-proxy ledger: --%s %s: not a UTC date and time; "
                        "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n",
                        c == 's' ? "since" : "until", optarg);
                return 2;
            }
            break;
        case 'b':
            if (!group_expr(optarg)) {
                fprintf(stderr, "anthropic-proxy ledger: --by %s: expected developer, team, "
                        "model, session or day\n", optarg);
                return 2;
            }
            q->by = optarg;
            break;
        case 'f':
            *format_given = true;
            if (strcmp(optarg, "table") == 0) q->format = F_TABLE;
            else if (strcmp(optarg, "csv") == 0) q->format = F_CSV;
            else if (strcmp(optarg, "json") == 0) q->format = F_JSON;
            else {
                fprintf(stderr, "anthropic-proxy ledger: --format %s: expected table, csv or "
                        "json\n", optarg);
                return 2;
            }
            break;
        case 'c': *config = optarg; break;
        case 'l': *ledger = optarg; break;
        case 'h': ledger_usage(stdout); return -1;
        default: ledger_usage(stderr); return 2;
        }
    }
    return optind == argc ? 0 : (ledger_usage(stderr), 2);
}

int ledger_command(int argc, char **argv, char *const *envp)
{
    if (argc < 2 || (strcmp(argv[1], "report") != 0 && strcmp(argv[1], "export") != 0)) {
        bool help = argc >= 2 && strcmp(argv[1], "--help") == 0;
        ledger_usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    bool is_report = strcmp(argv[1], "report") == 0;
    struct query q = { .since_ms = 0, .until_ms = INT64_MAX, .by = "developer",
                       .format = is_report ? F_TABLE : F_CSV };
    const char *config = NULL, *ledger = NULL;
    bool format_given = false;
    int rc = parse_args(argc - 1, argv + 1, &q, &config, &ledger, &format_given);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!is_report && q.format == F_TABLE) {
        if (format_given) {
            fprintf(stderr, "anthropic-proxy ledger export: --format table: expected csv or "
                    "json (tables are for ledger report)\n");
            return 2;
        }
        q.format = F_CSV;
    }
    if (q.since_ms >= q.until_ms) {
        fprintf(stderr, "anthropic-proxy ledger: --since must be before --until (--since is "
                "included, --until is not)\n");
        return 2;
    }
    struct settings s;
    struct settings_errors errs;
    char path[4096];
    if (!ledger) {
        if (settings_load(&s, config, NULL, envp, &errs) < 0) {
            fputs(errs.text, stderr);
            settings_free(&s);
            return 2;
        }
        snprintf(path, sizeof path, "%s", s.ledger_path);
        settings_free(&s);
    } else {
        snprintf(path, sizeof path, "%s", ledger);
    }
    if (strcmp(path, "off") == 0) {
        fprintf(stderr, "anthropic-proxy ledger: LEDGER_PATH is off: there is no ledger\n");
        return 1;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "anthropic-proxy ledger: %s: %s\n", path,
                db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return 1;
    }
    sqlite3_busy_timeout(db, 5000);
    q.id_floor = id_floor(db, q.since_ms);
    rc = is_report ? report(db, &q) : export_rows(db, &q);
    sqlite3_close(db);
    return rc;
}
