/*
 * check_settings: the settings table's parsing, precedence and validation.
 * Each kind of bad value must give one error line naming the variable, the
 * value and what is allowed.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"

static char tmpdir[] = "/tmp/check_settings.XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Load with only the given environment (NULL-terminated) and no file. */
static int load(struct settings *s, struct settings_errors *e, const char *file,
                char *const *env)
{
    static char *const empty[] = { NULL };
    return settings_load(s, file ? file : write_file("empty.env", ""), NULL,
                         env ? env : empty, e);
}

START_TEST(defaults_match_the_seed)
{
    struct settings s;
    struct settings_errors e;
    ck_assert_int_eq(load(&s, &e, NULL, NULL), 0);
    ck_assert_str_eq(s.host, "0.0.0.0");
    ck_assert_int_eq(s.port, 8443);
    ck_assert_int_eq(s.dashboard_port, 9090);
    ck_assert_double_eq(s.shutdown_timeout, 30.0);
    ck_assert_int_eq(s.log_level, 1); /* info */
    ck_assert(!s.log_requests);
    ck_assert_double_eq(s.log_slow_threshold, 5.0);
    ck_assert_str_eq(s.upstream_base_url, "https://api.anthropic.com");
    ck_assert_double_eq(s.upstream_connect_timeout, 10.0);
    ck_assert_double_eq(s.upstream_read_timeout, 300.0);
    ck_assert_double_eq(s.upstream_write_timeout, 30.0);
    ck_assert_double_eq(s.upstream_pool_timeout, 10.0);
    ck_assert_int_eq(s.upstream_max_connections, 20);
    ck_assert_int_eq(s.upstream_max_keepalive_connections, 10);
    ck_assert_int_eq(s.scrub_mode, SCRUB_OFF);
    ck_assert_str_eq(s.scrub_hmac_key, "");
    ck_assert_int_eq(s.scrub_max_body_size, 10485760);
    ck_assert(s.upstream.tls);
    ck_assert_str_eq(s.upstream.host, "api.anthropic.com");
    ck_assert_str_eq(s.upstream.port, "443");
    ck_assert_str_eq(s.upstream.authority, "api.anthropic.com");
    settings_free(&s);
}
END_TEST

START_TEST(file_then_environment)
{
    struct settings s;
    struct settings_errors e;
    const char *f = write_file("a.env",
                               "# comment\n\n"
                               "ANTHROPIC_PROXY_PORT=9443\n"
                               "export ANTHROPIC_PROXY_LOG_LEVEL=\"debug\"\n"
                               "ANTHROPIC_PROXY_DASHBOARD_PORT = 9191 \n");
    char *env[] = { "ANTHROPIC_PROXY_PORT=10443", "OTHER=1", NULL };
    ck_assert_int_eq(load(&s, &e, f, env), 0);
    ck_assert_int_eq(s.port, 10443);          /* environment wins */
    ck_assert_int_eq(s.dashboard_port, 9191); /* file beats default */
    ck_assert_int_eq(s.log_level, 0);
    ck_assert_str_eq(s.config, f);
    settings_free(&s);
}
END_TEST

/* One bad value: one error line naming variable, value and what is allowed. */
static void expect_error(const char *assignment, const char *must_contain)
{
    struct settings s;
    struct settings_errors e;
    char *env[] = { (char *)assignment, NULL };
    ck_assert_int_eq(load(&s, &e, NULL, env), -1);
    ck_assert_int_eq(e.count, 1);
    ck_assert_msg(strstr(e.text, must_contain), "'%s' lacks '%s'", e.text, must_contain);
    ck_assert_msg(strchr(e.text, '\n') == e.text + strlen(e.text) - 1,
                  "more than one line: %s", e.text);
    settings_free(&s);
}

START_TEST(bad_values_are_named)
{
    expect_error("ANTHROPIC_PROXY_PORT=abc", "ANTHROPIC_PROXY_PORT=abc is not valid: allowed: an integer from 1 to 65535");
    expect_error("ANTHROPIC_PROXY_PORT=0", "from 1 to 65535");
    expect_error("ANTHROPIC_PROXY_PORT=70000", "from 1 to 65535");
    expect_error("ANTHROPIC_PROXY_PORT=-1", "PORT=-1");
    expect_error("ANTHROPIC_PROXY_SHUTDOWN_TIMEOUT=soon", "SHUTDOWN_TIMEOUT=soon is not valid: allowed: seconds");
    expect_error("ANTHROPIC_PROXY_UPSTREAM_READ_TIMEOUT=0", "UPSTREAM_READ_TIMEOUT=0");
    expect_error("ANTHROPIC_PROXY_LOG_LEVEL=verbose", "allowed: one of debug, info, warning, error");
    expect_error("ANTHROPIC_PROXY_LOG_REQUESTS=maybe", "allowed: true or false");
    expect_error("ANTHROPIC_PROXY_SCRUB_MODE=on", "allowed: one of off, pseudonymize, audit");
    expect_error("ANTHROPIC_PROXY_UPSTREAM_BASE_URL=ftp://x", "an http:// or https:// URL");
    expect_error("ANTHROPIC_PROXY_UPSTREAM_BASE_URL=https://", "UPSTREAM_BASE_URL");
    expect_error("ANTHROPIC_PROXY_UPSTREAM_BASE_URL=https://u:p@host", "UPSTREAM_BASE_URL");
    expect_error("ANTHROPIC_PROXY_UPSTREAM_MAX_CONNECTIONS=0", "from 1 to 10000");
    expect_error("ANTHROPIC_PROXY_HOST=not a host", "an IP address or a host name");
    expect_error("ANTHROPIC_PROXY_MAX_REQUEST_BODY=12kb", "MAX_REQUEST_BODY=12kb");
    expect_error("ANTHROPIC_PROXY_NO_SUCH=1", "unknown setting ANTHROPIC_PROXY_NO_SUCH");
}
END_TEST

START_TEST(hmac_key_is_checked_and_hidden)
{
    expect_error("ANTHROPIC_PROXY_SCRUB_HMAC_KEY=00112233", "SCRUB_HMAC_KEY=(hidden)");
    struct settings s;
    struct settings_errors e;
    char *env[] = { "ANTHROPIC_PROXY_SCRUB_MODE=pseudonymize", NULL };
    ck_assert_int_eq(load(&s, &e, NULL, env), -1);
    ck_assert_ptr_nonnull(strstr(e.text, "SCRUB_HMAC_KEY is required"));
    settings_free(&s);
    char *ok[] = { "ANTHROPIC_PROXY_SCRUB_MODE=audit",
                   "ANTHROPIC_PROXY_SCRUB_HMAC_KEY="
                   "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF", NULL };
    ck_assert_int_eq(load(&s, &e, NULL, ok), 0);
    ck_assert_int_eq(s.scrub_mode, SCRUB_AUDIT);
    settings_free(&s);
}
END_TEST

START_TEST(file_errors_name_the_line)
{
    struct settings s;
    struct settings_errors e;
    const char *f = write_file("b.env", "ANTHROPIC_PROXY_PORT=1\nnonsense\nANTHROPIC_PROXY_PORT=x\n");
    ck_assert_int_eq(load(&s, &e, f, NULL), -1);
    ck_assert_int_eq(e.count, 2);
    char want[600];
    snprintf(want, sizeof want, "%s:2: expected KEY=VALUE", f);
    ck_assert_msg(strstr(e.text, want), "%s", e.text);
    snprintf(want, sizeof want, "%s:3: ANTHROPIC_PROXY_PORT=x is not valid", f);
    ck_assert_msg(strstr(e.text, want), "%s", e.text);
    settings_free(&s);
    ck_assert_int_eq(load(&s, &e, "/nonexistent/x.env", NULL), -1);
    ck_assert_ptr_nonnull(strstr(e.text, "/nonexistent/x.env: cannot read the settings file"));
    settings_free(&s);
}
END_TEST

START_TEST(all_errors_are_reported)
{
    struct settings s;
    struct settings_errors e;
    char *env[] = { "ANTHROPIC_PROXY_PORT=x", "ANTHROPIC_PROXY_LOG_LEVEL=y", NULL };
    ck_assert_int_eq(load(&s, &e, NULL, env), -1);
    ck_assert_int_eq(e.count, 2);
    settings_free(&s);
}
END_TEST

START_TEST(upstream_url_parts)
{
    struct settings s;
    struct settings_errors e;
    char *env[] = { "ANTHROPIC_PROXY_UPSTREAM_BASE_URL=http://127.0.0.1:8080/gateway/anthropic/", NULL };
    ck_assert_int_eq(load(&s, &e, NULL, env), 0);
    ck_assert(!s.upstream.tls);
    ck_assert_str_eq(s.upstream.host, "127.0.0.1");
    ck_assert_str_eq(s.upstream.port, "8080");
    ck_assert_str_eq(s.upstream.authority, "127.0.0.1:8080");
    ck_assert_str_eq(s.upstream.prefix, "/gateway/anthropic");
    settings_free(&s);
    char *v6[] = { "ANTHROPIC_PROXY_UPSTREAM_BASE_URL=https://[::1]:443", NULL };
    ck_assert_int_eq(load(&s, &e, NULL, v6), 0);
    ck_assert_str_eq(s.upstream.host, "::1");
    ck_assert_str_eq(s.upstream.authority, "[::1]");
    settings_free(&s);
}
END_TEST

START_TEST(same_ports_refused)
{
    expect_error("ANTHROPIC_PROXY_PORT=9090", "two different ports");
}
END_TEST

START_TEST(restart_only_changes_listed)
{
    struct settings a, b;
    struct settings_errors e;
    char *env[] = { "ANTHROPIC_PROXY_PORT=1234", "ANTHROPIC_PROXY_LOG_LEVEL=debug", NULL };
    ck_assert_int_eq(load(&a, &e, NULL, NULL), 0);
    ck_assert_int_eq(load(&b, &e, NULL, env), 0);
    char out[256];
    ck_assert_int_eq(settings_restart_only_changes(&a, &b, out, sizeof out), 1);
    ck_assert_str_eq(out, "ANTHROPIC_PROXY_PORT");
    settings_free(&a);
    settings_free(&b);
}
END_TEST

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("settings");
    TCase *tc = tcase_create("settings");
    tcase_add_test(tc, defaults_match_the_seed);
    tcase_add_test(tc, file_then_environment);
    tcase_add_test(tc, bad_values_are_named);
    tcase_add_test(tc, hmac_key_is_checked_and_hidden);
    tcase_add_test(tc, file_errors_name_the_line);
    tcase_add_test(tc, all_errors_are_reported);
    tcase_add_test(tc, upstream_url_parts);
    tcase_add_test(tc, same_ports_refused);
    tcase_add_test(tc, restart_only_changes_listed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return EXIT_FAILURE;
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
