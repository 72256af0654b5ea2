/*
 * check_http: header lists, hop-by-hop rules, reason phrases and the
 * Anthropic-shaped error body.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

START_TEST(header_list_lowercases_and_keeps_order)
{
    struct header_list h = { 0 };
    ck_assert_int_eq(header_list_add(&h, "X-Api-Key", 9, "k", 1), 0);
    ck_assert_int_eq(header_list_add(&h, "Accept", 6, "a/b", 3), 0);
    ck_assert_uint_eq(h.n, 2);
    ck_assert_str_eq(header_name(&h, 0), "x-api-key");
    ck_assert_str_eq(header_value(&h, 1), "a/b");
    ck_assert_str_eq(header_list_get(&h, "accept"), "a/b");
    ck_assert_ptr_null(header_list_get(&h, "missing"));
    for (int i = 0; i < 500; i++) /* growth keeps earlier entries intact */
        ck_assert_int_eq(header_list_add(&h, "x-n", 3, "0123456789", 10), 0);
    ck_assert_str_eq(header_value(&h, 0), "k");
    header_list_free(&h);
}
END_TEST

START_TEST(header_list_is_bounded)
{
    struct header_list h = { 0 };
    int rv = 0;
    for (int i = 0; i < 5000 && rv == 0; i++)
        rv = header_list_add(&h, "x", 1, "v", 1);
    ck_assert_int_eq(rv, -1);
    header_list_free(&h);
}
END_TEST

START_TEST(hop_by_hop)
{
    ck_assert(http_is_hop_by_hop("connection", NULL));
    ck_assert(http_is_hop_by_hop("keep-alive", NULL));
    ck_assert(http_is_hop_by_hop("transfer-encoding", NULL));
    ck_assert(http_is_hop_by_hop("upgrade", NULL));
    ck_assert(http_is_hop_by_hop("te", NULL));
    ck_assert(http_is_hop_by_hop("proxy-authorization", NULL));
    ck_assert(http_is_hop_by_hop("host", NULL));
    ck_assert(!http_is_hop_by_hop("x-api-key", NULL));
    ck_assert(!http_is_hop_by_hop("anthropic-version", NULL));
    ck_assert(http_is_hop_by_hop("x-private", "close, X-Private"));
    ck_assert(!http_is_hop_by_hop("x-private2", "close, X-Private"));
}
END_TEST

START_TEST(reasons_never_empty)
{
    ck_assert_str_eq(http_reason(200), "OK");
    ck_assert_str_eq(http_reason(529), "Overloaded");
    ck_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
    for (int st = 100; st < 600; st++)
        ck_assert(strlen(http_reason(st)) > 0);
}
END_TEST

START_TEST(error_body_is_anthropic_json)
{
    char buf[256];
    size_t n = http_error_body(buf, sizeof buf, 502, "upstream said \"no\"\n");
    json_error_t jerr;
    json_t *j = json_loadb(buf, n, 0, &jerr);
    ck_assert_msg(j != NULL, "%s: %s", buf, jerr.text);
    ck_assert_str_eq(json_string_value(json_object_get(j, "type")), "error");
    json_t *e = json_object_get(j, "error");
    ck_assert_str_eq(json_string_value(json_object_get(e, "type")), "api_error");
    ck_assert_str_eq(json_string_value(json_object_get(e, "message")), "upstream said \"no\"\n");
    json_decref(j);
    n = http_error_body(buf, sizeof buf, 413, "too big");
    ck_assert_ptr_nonnull(strstr(buf, "\"request_too_large\""));
    /* truncated to fit, still JSON */
    char small[80];
    char longmsg[400];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    n = http_error_body(small, sizeof small, 500, longmsg);
    j = json_loadb(small, n, 0, &jerr);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");
    tcase_add_test(tc, header_list_lowercases_and_keeps_order);
    tcase_add_test(tc, header_list_is_bounded);
    tcase_add_test(tc, hop_by_hop);
    tcase_add_test(tc, reasons_never_empty);
    tcase_add_test(tc, error_body_is_anthropic_json);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
