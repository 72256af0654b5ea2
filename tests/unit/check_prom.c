/*
 * check_prom: the metrics stage's Prometheus renderer and its histogram
 * quantiles. The renderer must group each family under one HELP/TYPE pair,
 * keep histograms cumulative with +Inf equal to the count, and leave out
 * names a scraper would reject.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "prom.h"

static char *render(const struct prom_counter *c, size_t nc, const struct prom_gauge *g,
                    size_t ng)
{
    struct prom_buf b;
    prom_buf_init(&b, 1 << 20);
    ck_assert_int_eq(prom_render(c, nc, g, ng, &b), 0);
    ck_assert_ptr_nonnull(b.p);
    return b.p;
}

START_TEST(families_grouped_in_creation_order)
{
    const struct prom_counter c[] = {
        { "requests_total", 7 },
        { "tokens_input_total{model=\"claude-a\"}", 10 },
        { "requests_by_status_total{status=\"200\"}", 5 },
        { "tokens_output_total{model=\"claude-a\"}", 3 },
        { "requests_by_status_total{status=\"529\"}", 2 },
        { "tokens_input_total{model=\"claude-b\"}", 4 },
        { "metrics_internal_started_total", 99 },
        { "scrub_hits_total{detector=\"email\"}", 1 },
    };
    const struct prom_gauge g[] = {
        { "uptime_seconds", "Seconds since start.", 12.5 },
        { "plugin_info{name=\"metrics\",version=\"1.0.0\",kind=\"stage\"}", "A plugin.", 1 },
        { "plugin_info{name=\"retry\",version=\"0.1\",kind=\"stage\"}", "ignored", 1 },
    };
    char *text = render(c, sizeof c / sizeof c[0], g, sizeof g / sizeof g[0]);
    const char *want =
        "# HELP anthropic_proxy_requests_by_status_total Proxied requests by the status sent to the client.\n"
        "# TYPE anthropic_proxy_requests_by_status_total counter\n"
        "anthropic_proxy_requests_by_status_total{status=\"200\"} 5\n"
        "anthropic_proxy_requests_by_status_total{status=\"529\"} 2\n"
        "# HELP anthropic_proxy_requests_total Proxied requests that ended, whatever the outcome.\n"
        "# TYPE anthropic_proxy_requests_total counter\n"
        "anthropic_proxy_requests_total 7\n"
        "# HELP anthropic_proxy_scrub_hits_total Counted by a pipeline stage.\n"
        "# TYPE anthropic_proxy_scrub_hits_total counter\n"
        "anthropic_proxy_scrub_hits_total{detector=\"email\"} 1\n"
        "# HELP anthropic_proxy_tokens_input_total Input tokens, by model.\n"
        "# TYPE anthropic_proxy_tokens_input_total counter\n"
        "anthropic_proxy_tokens_input_total{model=\"claude-a\"} 10\n"
        "anthropic_proxy_tokens_input_total{model=\"claude-b\"} 4\n"
        "# HELP anthropic_proxy_tokens_output_total Output tokens, by model.\n"
        "# TYPE anthropic_proxy_tokens_output_total counter\n"
        "anthropic_proxy_tokens_output_total{model=\"claude-a\"} 3\n"
        "# HELP anthropic_proxy_uptime_seconds Seconds since start.\n"
        "# TYPE anthropic_proxy_uptime_seconds gauge\n"
        "anthropic_proxy_uptime_seconds 12.5\n"
        "# HELP anthropic_proxy_plugin_info A plugin.\n"
        "# TYPE anthropic_proxy_plugin_info gauge\n"
        "anthropic_proxy_plugin_info{name=\"metrics\",version=\"1.0.0\",kind=\"stage\"} 1\n"
        "anthropic_proxy_plugin_info{name=\"retry\",version=\"0.1\",kind=\"stage\"} 1\n";
    ck_assert_str_eq(text, want);
    free(text);
}
END_TEST

START_TEST(histogram_cumulative_with_sum_in_seconds)
{
    const struct prom_counter c[] = {
        { "request_duration_seconds_bucket{le=\"0.1\"}", 1 },
        { "request_duration_seconds_count", 3 },
        { "request_duration_seconds_bucket{le=\"1\"}", 2 },
        { "request_duration_seconds_sum_us", 2500000 },
        { "request_duration_seconds_bucket{le=\"+Inf\"}", 3 },
    };
    char *text = render(c, sizeof c / sizeof c[0], NULL, 0);
    const char *want =
        "# HELP anthropic_proxy_request_duration_seconds Time from a request's arrival to its end.\n"
        "# TYPE anthropic_proxy_request_duration_seconds histogram\n"
        "anthropic_proxy_request_duration_seconds_bucket{le=\"0.1\"} 1\n"
        "anthropic_proxy_request_duration_seconds_bucket{le=\"1\"} 2\n"
        "anthropic_proxy_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"
        "anthropic_proxy_request_duration_seconds_sum 2.500000\n"
        "anthropic_proxy_request_duration_seconds_count 3\n";
    ck_assert_str_eq(text, want);
    free(text);
}
END_TEST

START_TEST(bad_names_left_out)
{
    ck_assert(prom_valid_name("a_total"));
    ck_assert(prom_valid_name("a_total{x=\"1\",y=\"q\\\"uote\"}"));
    ck_assert(!prom_valid_name("9lives"));
    ck_assert(!prom_valid_name("a-b"));
    ck_assert(!prom_valid_name("a{x=1}"));
    ck_assert(!prom_valid_name("a{x=\"1\"} junk"));
    ck_assert(!prom_valid_name("a{x=\"unterminated}"));
    ck_assert(!prom_valid_name("a{x=\"bad\\escape\"}"));
    ck_assert(!prom_valid_name(""));
    const struct prom_counter c[] = { { "bad name", 1 }, { "ok_total", 2 } };
    char *text = render(c, 2, NULL, 0);
    ck_assert_ptr_null(strstr(text, "bad"));
    ck_assert_ptr_nonnull(strstr(text, "anthropic_proxy_ok_total 2\n"));
    free(text);
}
END_TEST

/* Every family's HELP and TYPE come once, before its samples. */
static void check_structure(const char *text)
{
    char seen[64][128];
    size_t nseen = 0;
    char current[128] = "";
    for (const char *line = text; *line;) {
        size_t n = strcspn(line, "\n");
        char fam[128];
        if (strncmp(line, "# TYPE ", 7) == 0) {
            snprintf(fam, sizeof fam, "%.*s", (int)strcspn(line + 7, " "), line + 7);
            for (size_t i = 0; i < nseen; i++)
                ck_assert_msg(strcmp(seen[i], fam) != 0, "family %s twice", fam);
            snprintf(seen[nseen++], sizeof seen[0], "%s", fam);
            snprintf(current, sizeof current, "%s", fam);
        } else if (line[0] != '#') {
            ck_assert_msg(strncmp(line, current, strlen(current)) == 0,
                          "sample %.*s outside its family", (int)n, line);
        }
        line += n + (line[n] == '\n');
    }
}

START_TEST(whole_histograms_are_well_formed)
{
    struct prom_counter c[2 * (HIST_NBOUNDS + 3) + 1];
    char names[sizeof c / sizeof c[0]][96];
    size_t n = 0;
    const char *fam[] = { "request_duration_seconds", "time_to_first_byte_seconds" };
    for (size_t f = 0; f < 2; f++) {
        char le[24];
        for (size_t i = 0; i <= HIST_NBOUNDS; i++) {
            snprintf(names[n], sizeof names[n], "%s_bucket{le=\"%s\"}", fam[f],
                     hist_le(i, le, sizeof le));
            c[n] = (struct prom_counter){ names[n], i };
            n++;
        }
        snprintf(names[n], sizeof names[n], "%s_count", fam[f]);
        c[n] = (struct prom_counter){ names[n], HIST_NBOUNDS };
        n++;
        snprintf(names[n], sizeof names[n], "%s_sum_us", fam[f]);
        c[n] = (struct prom_counter){ names[n], 1 };
        n++;
    }
    c[n++] = (struct prom_counter){ "retries_total", 4 };
    char *text = render(c, n, NULL, 0);
    check_structure(text);
    ck_assert_ptr_nonnull(strstr(text, "time_to_first_byte_seconds_bucket{le=\"0.0015\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "request_duration_seconds_bucket{le=\"600\"} 35\n"
                                       "anthropic_proxy_request_duration_seconds_bucket{le=\"+Inf\"} 36\n"
                                       "anthropic_proxy_request_duration_seconds_sum 0.000001\n"
                                       "anthropic_proxy_request_duration_seconds_count 36\n"));
    free(text);
}
END_TEST

START_TEST(bounded_output)
{
    const struct prom_counter c[] = { { "a_total", 1 }, { "b_total", 2 } };
    struct prom_buf b;
    prom_buf_init(&b, 64);
    ck_assert_int_eq(prom_render(c, 2, NULL, 0, &b), -1);
    ck_assert(b.len <= 64);
    prom_buf_free(&b);
}
END_TEST

START_TEST(quantiles)
{
    uint64_t cum[HIST_NBOUNDS] = { 0 };
    ck_assert(hist_quantile(cum, 0, 0.5) < 0);
    /* 100 requests, all between 75 ms and 100 ms (bucket index 12) */
    for (size_t i = 12; i < HIST_NBOUNDS; i++)
        cum[i] = 100;
    ck_assert(fabs(hist_quantile(cum, 100, 0.5) - 0.0875) < 1e-9);
    ck_assert(fabs(hist_quantile(cum, 100, 0.99) - 0.09975) < 1e-9);
    /* half of them above the last bound: p99 is the last bound */
    for (size_t i = 0; i < HIST_NBOUNDS; i++)
        cum[i] /= 2;
    ck_assert(fabs(hist_quantile(cum, 100, 0.99) - 600) < 1e-9);
    ck_assert(fabs(hist_quantile(cum, 100, 0.25) - 0.0875) < 1e-9);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prom");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, families_grouped_in_creation_order);
    tcase_add_test(tc, histogram_cumulative_with_sum_in_seconds);
    tcase_add_test(tc, bad_names_left_out);
    tcase_add_test(tc, whole_histograms_are_well_formed);
    tcase_add_test(tc, bounded_output);
    tcase_add_test(tc, quantiles);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
