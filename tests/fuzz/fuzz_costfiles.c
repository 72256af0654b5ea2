/*
 * fuzz_costfiles: arbitrary bytes as prices.yaml and as developers.yaml,
 * through the parsers the metrics stage runs at start and on SIGHUP
 * (prices_parse, developers_parse, both on ytree). Checked on every input,
 * even under NDEBUG:
 * - the answer is 0 or -1; a refusal has a one-line, terminated message
 *   naming the file, without control characters (it goes to the log);
 * - parsing the same bytes again gives the same answer and message;
 * - an accepted price table has finite, non-negative rates and prices any
 *   model (known, dated, unknown) at a non-negative cost that is the sum
 *   of its parts;
 * - an accepted developers file has named, terminated developers and teams
 *   and non-negative caps.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "developers.h"
#include "prices.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

#define MAX_INPUT (256 * 1024) /* the files are small; larger inputs only slow the run */

static void check_message(const char *name, const char *err, size_t errlen)
{
    size_t n = strnlen(err, errlen);
    CHECK(n > 0 && n < errlen);
    CHECK(strncmp(err, name, strlen(name)) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK((unsigned char)err[i] >= 0x20);
}

static void check_costs(const struct price_table *t)
{
    static const char *const models[] = { "claude-sonnet-4-5", "claude-sonnet-4-5-20250929",
                                          "claude-opus-4-1", "no-such-model", "" };
    for (size_t i = 0; i < t->n; i++)
        for (int k = 0; k < COST_NKINDS; k++)
            CHECK(isfinite(t->e[i].rates.r[k]) && t->e[i].rates.r[k] >= 0);
    struct usage u = { .input_tokens = 1000, .output_tokens = 200,
                       .cache_read_input_tokens = 5000, .cache_creation_input_tokens = 300,
                       .cache_creation_5m = 100, .cache_creation_1h = 200,
                       .web_search_requests = 2, .web_fetch_requests = 1 };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        snprintf(u.model, sizeof u.model, "%s", models[i]);
        for (int geo = 0; geo < 2; geo++) {
            snprintf(u.inference_geo, sizeof u.inference_geo, "%s", geo ? "us" : "");
            struct cost c;
            prices_cost(t, &u, 1767225600 /* 2026-01-01 */, &c);
            int64_t sum = 0;
            for (int k = 0; k < COST_NKINDS; k++) {
                CHECK(c.nano[k] >= 0);
                sum += c.nano[k];
            }
            CHECK(c.total >= 0 && c.total == sum);
        }
    }
}

static void fuzz_prices(const char *text, size_t len)
{
    char err[512], err2[512];
    struct price_table a = { 0 }, b = { 0 };
    int rv = prices_parse("prices.yaml", text, len, &a, err, sizeof err);
    int rv2 = prices_parse("prices.yaml", text, len, &b, err2, sizeof err2);
    CHECK(rv == 0 || rv == -1);
    CHECK(rv == rv2);
    if (rv < 0) {
        check_message("prices.yaml", err, sizeof err);
        CHECK(strcmp(err, err2) == 0);
    } else {
        CHECK(a.n == b.n && a.nm == b.nm);
        check_costs(&a);
    }
    prices_free(&a);
    prices_free(&b);
}

static void check_name(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    CHECK(n < cap);
}

static void fuzz_developers(const char *text, size_t len)
{
    char err[512], err2[512];
    struct developers a = { 0 }, b = { 0 };
    int rv = developers_parse("developers.yaml", text, len, &a, err, sizeof err);
    int rv2 = developers_parse("developers.yaml", text, len, &b, err2, sizeof err2);
    CHECK(rv == 0 || rv == -1);
    CHECK(rv == rv2);
    if (rv < 0) {
        check_message("developers.yaml", err, sizeof err);
        CHECK(strcmp(err, err2) == 0);
    } else {
        CHECK(a.n == b.n && a.nt == b.nt);
        for (size_t i = 0; i < a.n; i++) {
            check_name(a.d[i].name, sizeof a.d[i].name);
            check_name(a.d[i].team, sizeof a.d[i].team);
            CHECK(a.d[i].name[0] != '\0');
            CHECK(a.d[i].caps.daily >= 0 && a.d[i].caps.monthly >= 0);
        }
        for (size_t i = 0; i < a.nt; i++) {
            check_name(a.t[i].name, sizeof a.t[i].name);
            CHECK(a.t[i].caps.daily >= 0 && a.t[i].caps.monthly >= 0);
        }
        CHECK(a.default_caps.daily >= 0 && a.default_caps.monthly >= 0);
    }
    developers_free(&a);
    developers_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    /* the parsers take a length, but libyaml reads a terminated copy best */
    char *text = malloc(size + 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_prices(text, size);
    fuzz_developers(text, size);
    free(text);
    return 0;
}
