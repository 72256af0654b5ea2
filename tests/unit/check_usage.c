/*
 * check_usage: the metrics stage's token accounting. A recorded stream fed
 * cut at every byte boundary must give the same figures as in one piece.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "usage.h"

static const char stream_lf[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\","
    "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"usage\":"
    "{\"input_tokens\":1234,\"cache_creation_input_tokens\":300,\"cache_read_input_tokens\":"
    "50,\"cache_creation\":{\"ephemeral_5m_input_tokens\":200,\"ephemeral_1h_input_tokens\":"
    "100},\"output_tokens\":1}}}\n\n"
    ": a comment line\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":"
    "{\"output_tokens\":42,\"server_tool_use\":{\"web_search_requests\":2}}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static void check_figures(const struct usage *u, bool complete)
{
    ck_assert_int_eq(u->input_tokens, 1234);
    ck_assert_int_eq(u->output_tokens, complete ? 42 : 1);
    ck_assert_int_eq(u->cache_creation_input_tokens, 300);
    ck_assert_int_eq(u->cache_read_input_tokens, 50);
    ck_assert_int_eq(u->cache_creation_5m, 200);
    ck_assert_int_eq(u->cache_creation_1h, 100);
    ck_assert_str_eq(u->model, "claude-sonnet-4-5");
    ck_assert(u->seen);
    ck_assert(u->complete == complete);
    ck_assert(!u->error);
}

static void feed_split(const char *s, size_t len, size_t cut, struct usage *u)
{
    struct sse_reader r;
    sse_init(&r);
    memset(u, 0, sizeof *u);
    ck_assert_int_eq(sse_feed(&r, s, cut, u), 0);
    ck_assert_int_eq(sse_feed(&r, s + cut, len - cut, u), 0);
    sse_free(&r);
}

START_TEST(every_split_lf)
{
    size_t len = strlen(stream_lf);
    for (size_t cut = 0; cut <= len; cut++) {
        struct usage u;
        feed_split(stream_lf, len, cut, &u);
        check_figures(&u, true);
        ck_assert_int_eq(u.web_search_requests, 2);
    }
}
END_TEST

/* The same stream with CRLF and with bare CR line ends. */
static char *convert(const char *s, const char *eol)
{
    size_t n = strlen(s), e = strlen(eol);
    char *out = malloc(n * e + 1), *o = out;
    for (; *s; s++) {
        if (*s == '\n') {
            memcpy(o, eol, e);
            o += e;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

START_TEST(every_split_crlf_and_cr)
{
    const char *eols[] = { "\r\n", "\r" };
    for (int k = 0; k < 2; k++) {
        char *s = convert(stream_lf, eols[k]);
        size_t len = strlen(s);
        for (size_t cut = 0; cut <= len; cut++) {
            struct usage u;
            feed_split(s, len, cut, &u);
            check_figures(&u, true);
        }
        free(s);
    }
}
END_TEST

START_TEST(byte_at_a_time_and_three_pieces)
{
    size_t len = strlen(stream_lf);
    struct sse_reader r;
    struct usage u;
    sse_init(&r);
    memset(&u, 0, sizeof u);
    for (size_t i = 0; i < len; i++)
        sse_feed(&r, stream_lf + i, 1, &u);
    check_figures(&u, true);
    sse_free(&r);
    /* every pair of cut points, on a stride to keep it quick */
    for (size_t a = 0; a < len; a += 7)
        for (size_t b = a; b <= len; b += 13) {
            sse_init(&r);
            memset(&u, 0, sizeof u);
            sse_feed(&r, stream_lf, a, &u);
            sse_feed(&r, stream_lf + a, b - a, &u);
            sse_feed(&r, stream_lf + b, len - b, &u);
            check_figures(&u, true);
            sse_free(&r);
        }
}
END_TEST

START_TEST(cut_before_message_delta)
{
    const char *cut = strstr(stream_lf, "event: message_delta");
    struct usage u;
    feed_split(stream_lf, (size_t)(cut - stream_lf), 10, &u);
    check_figures(&u, false); /* what was reported, marked incomplete */
}
END_TEST

START_TEST(delta_repeats_cache_figures_without_doubling)
{
    const char *s =
        "event: message_start\ndata: {\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":10,"
        "\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n"
        "event: message_delta\ndata: {\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,"
        "\"output_tokens\":7}}\n\n"
        "event: message_delta\ndata: {\"usage\":{\"output_tokens\":9}}\n\n";
    struct usage u;
    feed_split(s, strlen(s), 3, &u);
    ck_assert_int_eq(u.input_tokens, 10);
    ck_assert_int_eq(u.cache_read_input_tokens, 5);
    ck_assert_int_eq(u.output_tokens, 9);
}
END_TEST

START_TEST(error_event_and_multiline_data)
{
    const char *s = "event: error\ndata: {\"type\":\"error\",\n"
                    "data: \"error\":{\"type\":\"overloaded_error\"}}\n\n";
    struct usage u;
    feed_split(s, strlen(s), 5, &u);
    ck_assert(u.error);
    ck_assert(!u.seen);
}
END_TEST

START_TEST(oversized_event_is_skipped)
{
    struct sse_reader r;
    struct usage u = { 0 };
    sse_init(&r);
    const char *head = "event: message_start\ndata: ";
    sse_feed(&r, head, strlen(head), &u);
    char *big = malloc(SSE_MAX_EVENT + 10);
    memset(big, 'x', SSE_MAX_EVENT + 10);
    sse_feed(&r, big, SSE_MAX_EVENT + 10, &u);
    free(big);
    sse_feed(&r, "\n\n", 2, &u);
    ck_assert(!u.seen);
    ck_assert(r.line_cap <= SSE_MAX_EVENT * 2);
    /* and the next event is read normally */
    const char *next = "event: message_delta\ndata: {\"usage\":{\"output_tokens\":3}}\n\n";
    sse_feed(&r, next, strlen(next), &u);
    ck_assert_int_eq(u.output_tokens, 3);
    sse_free(&r);
}
END_TEST

START_TEST(text_deltas_are_not_copied)
{
    /* a held stream keeps nothing of the text it passes: only the events
     * usage reads have their data gathered */
    struct sse_reader r;
    struct usage u = { 0 };
    sse_init(&r);
    const char *delta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                        "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n";
    ck_assert_int_eq(sse_feed(&r, delta, strlen(delta), &u), 0);
    ck_assert_uint_eq(r.data_len, 0);
    ck_assert_uint_eq(r.line_cap + r.data_cap, 0);
    sse_feed(&r, "\n", 1, &u);
    const char *md = "event: message_delta\ndata: {\"usage\":{\"output_tokens\":7}}\n";
    sse_feed(&r, md, strlen(md), &u);
    ck_assert_uint_gt(r.data_len, 0);
    sse_feed(&r, "\n", 1, &u);
    ck_assert_int_eq(u.output_tokens, 7);
    ck_assert_uint_eq(r.events, 2);
    sse_free(&r);
}
END_TEST

START_TEST(json_body_plain_and_gzip)
{
    const char *body = "{\"id\":\"msg\",\"type\":\"message\",\"model\":\"claude-x\",\"usage\":"
                       "{\"input_tokens\":11,\"output_tokens\":22,\"cache_read_input_tokens\":3,"
                       "\"cache_creation_input_tokens\":4}}";
    struct usage u = { 0 };
    usage_from_json(body, strlen(body), &u);
    ck_assert_int_eq(u.input_tokens, 11);
    ck_assert_int_eq(u.output_tokens, 22);
    ck_assert_str_eq(u.model, "claude-x");
    ck_assert(u.complete);
    /* gzip it */
    uint8_t gz[512];
    z_stream zs = { 0 };
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)body;
    zs.avail_in = (uInt)strlen(body);
    zs.next_out = gz;
    zs.avail_out = sizeof gz;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t gzlen = zs.total_out;
    deflateEnd(&zs);
    uint8_t *out;
    size_t outlen;
    ck_assert_int_eq(usage_gunzip(gz, gzlen, 1 << 20, &out, &outlen), 0);
    ck_assert_uint_eq(outlen, strlen(body));
    ck_assert(memcmp(out, body, outlen) == 0);
    free(out);
    /* truncated and bounded */
    ck_assert_int_eq(usage_gunzip(gz, gzlen / 2, 1 << 20, &out, &outlen), -1);
    ck_assert_int_eq(usage_gunzip(gz, gzlen, 16, &out, &outlen), -1);
    /* an error body */
    const char *err = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}";
    struct usage e = { 0 };
    usage_from_json(err, strlen(err), &e);
    ck_assert(e.error);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("usage");
    TCase *tc = tcase_create("usage");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_split_lf);
    tcase_add_test(tc, text_deltas_are_not_copied);
    tcase_add_test(tc, every_split_crlf_and_cr);
    tcase_add_test(tc, byte_at_a_time_and_three_pieces);
    tcase_add_test(tc, cut_before_message_delta);
    tcase_add_test(tc, delta_repeats_cache_figures_without_doubling);
    tcase_add_test(tc, error_event_and_multiline_data);
    tcase_add_test(tc, oversized_event_is_skipped);
    tcase_add_test(tc, json_body_plain_and_gzip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
