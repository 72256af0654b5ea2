/*
 * check_prices: the price table and the cost of a response, against
 * figures worked out by hand (in the comments), and invariants over the
 * shipped etc/prices.yaml.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prices.h"

static const char table[] =
    "version: 1\n"
    "cache_write_default_ttl: 5m\n"
    "server_tools: {web_search_per_1000: 10, web_fetch_per_1000: 0.5}\n"
    "fallback: {tier: big, input: 15, output: 75, cache_write_5m: 18.75,\n"
    "           cache_write_1h: 30, cache_read: 1.5}\n"
    "multipliers:\n"
    "  - {inference_geo: us, factor: 1.1, models: [claude-geo]}\n"
    "models:\n"
    "  - {id: claude-s, input: 3, output: 15, cache_write_5m: 3.75, cache_write_1h: 6, cache_read: 0.30}\n"
    "  - {id: claude-s-4, input: 1, output: 5, cache_write_5m: 1.25, cache_write_1h: 2, cache_read: 0.1}\n"
    "  - {id: claude-geo, input: 5, output: 25, cache_write_5m: 6.25, cache_write_1h: 10, cache_read: 0.5}\n"
    "  - {id: claude-d, input: 2, output: 10, cache_write_5m: 2.5, cache_write_1h: 4, cache_read: 0.2}\n"
    "  - {id: claude-d, since: 2026-10-07, input: 2, output: 10, cache_write_5m: 2.5,\n"
    "     cache_write_1h: 4, cache_read: 0.1}\n";

static struct price_table t;

static void load(void)
{
    char err[512];
    int rc = prices_parse("t.yaml", table, strlen(table), &t, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
}

static void unload(void)
{
    prices_free(&t);
}

static struct usage usage_of(const char *model)
{
    struct usage u = { 0 };
    snprintf(u.model, sizeof u.model, "%s", model);
    u.seen = u.complete = true;
    return u;
}

static const time_t when = 1780000000; /* 2026-05-28 */

START_TEST(every_kind_by_hand)
{
    struct usage u = usage_of("claude-s");
    u.input_tokens = 1000;                 /* 1000 x $3/M     = $0.003 */
    u.output_tokens = 2000;                /* 2000 x $15/M    = $0.030 */
    u.cache_creation_input_tokens = 5000;
    u.cache_creation_5m = 4000;            /* 4000 x $3.75/M  = $0.015 */
    u.cache_creation_1h = 1000;            /* 1000 x $6/M     = $0.006 */
    u.cache_read_input_tokens = 10000;     /* 10000 x $0.30/M = $0.003 */
    u.web_search_requests = 3;             /* 3 x $10/1000    = $0.030 */
    u.web_fetch_requests = 2;              /* 2 x $0.50/1000  = $0.001 */
    struct cost c;
    prices_cost(&t, &u, when, &c);
    ck_assert(!c.fallback);
    ck_assert_int_eq(c.nano[COST_INPUT], 3000000);
    ck_assert_int_eq(c.nano[COST_OUTPUT], 30000000);
    ck_assert_int_eq(c.nano[COST_CACHE_WRITE_5M], 15000000);
    ck_assert_int_eq(c.nano[COST_CACHE_WRITE_1H], 6000000);
    ck_assert_int_eq(c.nano[COST_CACHE_READ], 3000000);
    ck_assert_int_eq(c.nano[COST_WEB_SEARCH], 30000000);
    ck_assert_int_eq(c.nano[COST_WEB_FETCH], 1000000);
    ck_assert_int_eq(c.total, 88000000);   /* $0.088 */
    /* savings: 10000 reads as input $0.030, minus their $0.003 */
    ck_assert_int_eq(c.savings, 27000000);
}
END_TEST

START_TEST(cache_write_without_split)
{
    struct usage u = usage_of("claude-s");
    u.cache_creation_input_tokens = 1000;  /* no split: the table's 5m, $3.75/M */
    struct cost c;
    prices_cost(&t, &u, when, &c);
    ck_assert_int_eq(c.nano[COST_CACHE_WRITE_5M], 3750000);
    ck_assert_int_eq(c.nano[COST_CACHE_WRITE_1H], 0);
    t.default_ttl_1h = true;               /* cache_write_default_ttl: 1h: $6/M */
    prices_cost(&t, &u, when, &c);
    ck_assert_int_eq(c.nano[COST_CACHE_WRITE_5M], 0);
    ck_assert_int_eq(c.nano[COST_CACHE_WRITE_1H], 6000000);
    t.default_ttl_1h = false;
    /* all of it 1h: never priced at the 5m rate (the common bug: 25 % under) */
    u.cache_creation_1h = 1000;
    prices_cost(&t, &u, when, &c);
    ck_assert_int_eq(c.nano[COST_CACHE_WRITE_5M], 0);
    ck_assert_int_eq(c.nano[COST_CACHE_WRITE_1H], 6000000);
}
END_TEST

START_TEST(multiplier_for_listed_models)
{
    struct usage u = usage_of("claude-geo-20260101");
    u.input_tokens = 1000;                 /* 1000 x $5/M x 1.1 = $0.0055 */
    u.output_tokens = 100;                 /* 100 x $25/M x 1.1 = $0.00275 */
    snprintf(u.inference_geo, sizeof u.inference_geo, "us");
    struct cost c;
    prices_cost(&t, &u, when, &c);
    ck_assert_int_eq(c.nano[COST_INPUT], 5500000);
    ck_assert_int_eq(c.nano[COST_OUTPUT], 2750000);
    ck_assert(fabs(c.factor - 1.1) < 1e-12);
    snprintf(u.inference_geo, sizeof u.inference_geo, "global");
    prices_cost(&t, &u, when, &c);
    ck_assert_int_eq(c.nano[COST_INPUT], 5000000);
    ck_assert_int_eq(c.nano[COST_OUTPUT], 2500000);
    /* a model not listed is not multiplied */
    u = usage_of("claude-s");
    u.input_tokens = 1000;
    snprintf(u.inference_geo, sizeof u.inference_geo, "us");
    prices_cost(&t, &u, when, &c);
    ck_assert_int_eq(c.nano[COST_INPUT], 3000000);
}
END_TEST

START_TEST(dated_price_change)
{
    struct usage u = usage_of("claude-d");
    u.cache_read_input_tokens = 1000000;
    struct cost c;
    time_t before = 1791331199, after = 1791331200; /* 2026-10-06 23:59:59, 2026-10-07 00:00:00 UTC */
    prices_cost(&t, &u, before, &c);
    ck_assert_int_eq(c.nano[COST_CACHE_READ], 200000000);   /* $0.20 */
    prices_cost(&t, &u, after, &c);
    ck_assert_int_eq(c.nano[COST_CACHE_READ], 100000000);   /* $0.10 */
}
END_TEST

START_TEST(unknown_model_at_fallback_never_zero)
{
    struct usage u = usage_of("claude-zzz-9");
    u.input_tokens = 1000;                 /* $15/M: $0.015 */
    u.output_tokens = 1000;                /* $75/M: $0.075 */
    struct cost c;
    prices_cost(&t, &u, when, &c);
    ck_assert(c.fallback);
    ck_assert_ptr_null(c.entry);
    ck_assert_int_eq(c.total, 90000000);
    /* a model whose name merely starts like a known one is not that one */
    u = usage_of("claude-sx");
    u.input_tokens = 1000;
    prices_cost(&t, &u, when, &c);
    ck_assert(c.fallback);
    u = usage_of("");
    u.input_tokens = 1;
    prices_cost(&t, &u, when, &c);
    ck_assert(c.fallback && c.total > 0);
}
END_TEST

START_TEST(a_snapshot_date_and_nothing_else_names_the_same_model)
{
    ck_assert_str_eq(prices_lookup(&t, "claude-s", when)->id, "claude-s");
    ck_assert_str_eq(prices_lookup(&t, "claude-s-20250101", when)->id, "claude-s");
    ck_assert_str_eq(prices_lookup(&t, "claude-s@20250101", when)->id, "claude-s");
    ck_assert_str_eq(prices_lookup(&t, "claude-s-4", when)->id, "claude-s-4");
    ck_assert_str_eq(prices_lookup(&t, "claude-s-4-20250101", when)->id, "claude-s-4");
    ck_assert_ptr_null(prices_lookup(&t, "claude", when));
    /* a point release is another model, not its older sibling */
    ck_assert_ptr_null(prices_lookup(&t, "claude-s-5", when));
    ck_assert_ptr_null(prices_lookup(&t, "claude-s-4-1", when));
    ck_assert_ptr_null(prices_lookup(&t, "claude-s-2025010", when));
    ck_assert_ptr_null(prices_lookup(&t, "claude-s-202501011", when));
}
END_TEST

/* A broken file: the message names the line of the mistake. */
static void refused(const char *text, const char *want)
{
    struct price_table b;
    char err[512] = "";
    ck_assert_int_eq(prices_parse("t.yaml", text, strlen(text), &b, err, sizeof err), -1);
    prices_free(&b);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
}

#define HEAD "version: 1\nserver_tools: {web_search_per_1000: 10, web_fetch_per_1000: 0}\n" \
    "fallback: {input: 15, output: 75, cache_write_5m: 18.75, cache_write_1h: 30, cache_read: 1.5}\n"
#define ENTRY(x) "  - {id: m, input: 1, output: 5, cache_write_5m: 1.25, cache_write_1h: 2, cache_read: 0.1" x "}\n"

START_TEST(broken_files_name_their_line)
{
    refused(HEAD "models:\n" ENTRY(", inptu: 3"), "t.yaml:5:");
    refused(HEAD "models:\n" ENTRY(", inptu: 3"), "unknown key 'inptu'");
    refused(HEAD "models:\n  - {id: m, input: 1, output: 5, cache_write_5m: 1.25, cache_read: 0.1}\n",
            "t.yaml:5:5: the entry 'm' has no 'cache_write_1h'");
    refused(HEAD "models:\n" ENTRY(", since: 2026-13-01"), "is not a date");
    refused(HEAD "models:\n  - {id: m, input: -1, output: 5, cache_write_5m: 1.25, cache_write_1h: 2, cache_read: 0.1}\n",
            "t.yaml:5:20:");
    refused(HEAD "models:\n  - {id: m, input: '1', output: 5, cache_write_5m: 1.25, cache_write_1h: 2, cache_read: 0.1}\n",
            "'input' is not a number");
    refused(HEAD "models:\n" ENTRY("") ENTRY(""), "t.yaml:6:5: a second entry for 'm'");
    refused(HEAD "models: []\n", "'models' is missing or empty");
    refused("version: 1\nserver_tools: {web_search_per_1000: 10, web_fetch_per_1000: 0}\nmodels:\n"
            ENTRY(""), "no 'fallback'");
    refused(HEAD "models:\n  - {id: m, input: 1\n", "t.yaml:6:1: did not find expected");
    refused(HEAD "cache_write_default_ttl: 10m\nmodels:\n" ENTRY(""), "t.yaml:4:");
    refused("version: 2\n", "t.yaml:1:");
    refused("", "the file is empty");
}
END_TEST

/* ---- the shipped table ---- */

static struct price_table shipped;

static void load_shipped(void)
{
    const char *src = getenv("top_srcdir");
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/etc/prices.yaml", src ? src : ".");
    int rc = prices_load(path, &shipped, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
}

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

/* Anthropic's list rounds a few 5-minute rates; these are as listed. */
static bool listed_exception(const char *id)
{
    return strcmp(id, "claude-3-haiku") == 0; /* $0.30, not 1.25 x $0.25 = $0.3125 */
}

START_TEST(shipped_table_invariants)
{
    load_shipped();
    ck_assert_uint_gt(shipped.n, 15);
    for (size_t i = 0; i < shipped.n; i++) {
        const struct price_entry *e = &shipped.e[i];
        const double *r = e->rates.r;
        ck_assert_msg(near(r[COST_CACHE_WRITE_1H], 2 * r[COST_INPUT]),
                      "%s: 1h write %g is not 2 x input %g", e->id, r[COST_CACHE_WRITE_1H],
                      r[COST_INPUT]);
        ck_assert_msg(listed_exception(e->id) ||
                          near(r[COST_CACHE_WRITE_5M], 1.25 * r[COST_INPUT]),
                      "%s: 5m write %g is not 1.25 x input %g", e->id, r[COST_CACHE_WRITE_5M],
                      r[COST_INPUT]);
        ck_assert_msg(r[COST_CACHE_READ] < r[COST_INPUT] && r[COST_CACHE_READ] > 0,
                      "%s: cache read %g not below input %g", e->id, r[COST_CACHE_READ],
                      r[COST_INPUT]);
        ck_assert_msg(r[COST_OUTPUT] > r[COST_INPUT], "%s: output not above input", e->id);
        ck_assert_msg(near(r[COST_WEB_SEARCH], 10), "%s: web search not $10/1000", e->id);
        for (int k = 0; k < COST_WEB_SEARCH; k++) /* the fallback never under-counts */
            ck_assert_msg(shipped.fallback.r[k] >= r[k], "%s: above the fallback tier", e->id);
    }
    ck_assert(!shipped.default_ttl_1h);
    prices_free(&shipped);
}
END_TEST

START_TEST(shipped_table_models)
{
    load_shipped();
    static const struct { const char *model, *id; double input, output; } want[] = {
        { "claude-opus-4-5-20251101", "claude-opus-4-5", 5, 25 },
        { "claude-opus-4-1-20250805", "claude-opus-4-1", 15, 75 },
        { "claude-opus-4-20250514", "claude-opus-4", 15, 75 },
        { "claude-sonnet-4-5-20250929", "claude-sonnet-4-5", 3, 15 },
        { "claude-sonnet-4-20250514", "claude-sonnet-4", 3, 15 },
        { "claude-haiku-4-5-20251001", "claude-haiku-4-5", 1, 5 },
        { "claude-3-5-haiku-20241022", "claude-3-5-haiku", 0.8, 4 },
        { "claude-3-haiku-20240307", "claude-3-haiku", 0.25, 1.25 },
        { "claude-3-7-sonnet-20250219", "claude-3-7-sonnet", 3, 15 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct price_entry *e = prices_lookup(&shipped, want[i].model, time(NULL));
        ck_assert_msg(e != NULL, "%s is not priced", want[i].model);
        ck_assert_str_eq(e->id, want[i].id);
        ck_assert(near(e->rates.r[COST_INPUT], want[i].input));
        ck_assert(near(e->rates.r[COST_OUTPUT], want[i].output));
    }
    /* a Claude Code turn on Sonnet 4.5: 3 input, 500 output, 20,000 1h cache
     * writes, 80,000 cache reads:
     * 3 x 3 + 500 x 15 + 20000 x 6 + 80000 x 0.3 = 9 + 7500 + 120000 + 24000
     * = 151,509 USD per million = $0.151509 */
    struct usage u = usage_of("claude-sonnet-4-5-20250929");
    u.input_tokens = 3;
    u.output_tokens = 500;
    u.cache_creation_input_tokens = u.cache_creation_1h = 20000;
    u.cache_read_input_tokens = 80000;
    struct cost c;
    prices_cost(&shipped, &u, time(NULL), &c);
    ck_assert_int_eq(c.total, 151509000);
    prices_free(&shipped);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prices");
    TCase *tc = tcase_create("cost");
    tcase_add_checked_fixture(tc, load, unload);
    tcase_add_test(tc, every_kind_by_hand);
    tcase_add_test(tc, cache_write_without_split);
    tcase_add_test(tc, multiplier_for_listed_models);
    tcase_add_test(tc, dated_price_change);
    tcase_add_test(tc, unknown_model_at_fallback_never_zero);
    tcase_add_test(tc, a_snapshot_date_and_nothing_else_names_the_same_model);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("file");
    tcase_add_test(tf, broken_files_name_their_line);
    tcase_add_test(tf, shipped_table_invariants);
    tcase_add_test(tf, shipped_table_models);
    suite_add_tcase(s, tf);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
