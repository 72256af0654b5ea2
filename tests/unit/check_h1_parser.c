/*
 * check_h1_parser: the HTTP/1.1 request parser and chunked decoder.
 *
 * Good requests must come out exactly as sent; every refusal must carry the
 * status the server answers with; and the incremental functions must give
 * the same result however the input is split, since the network decides
 * the splits.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1_parser.h"

#define HEAD_MAX 65536

static char head_buf[HEAD_MAX];
static struct h1_head head;
static struct h1_error err;

/* Parse a copy of req[0..len), as the server parses its copy of a head. */
static int parse_n(const char *req, size_t len)
{
    ck_assert_uint_le(len, sizeof head_buf);
    memcpy(head_buf, req, len);
    err.status = 0;
    err.message = NULL;
    return h1_parse_head(head_buf, len, &head, &err);
}

static int parse(const char *req)
{
    return parse_n(req, strlen(req));
}

static bool slice_is(struct h1_slice s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(head.buf + s.off, lit, s.len) == 0;
}

static bool header_is(const char *name, const char *value)
{
    size_t vlen = 0;
    const char *v = h1_head_get(&head, name, &vlen);
    return v && vlen == strlen(value) && memcmp(v, value, vlen) == 0;
}

/* ---------------------------------------------------------------------- */
/* Good requests                                                          */

START_TEST(get_simple)
{
    ck_assert_int_eq(parse("GET /v1/models?limit=2 HTTP/1.1\r\nHost: example.com\r\n"
                           "Accept: */*\r\n\r\n"), H1_OK);
    ck_assert(slice_is(head.method, "GET"));
    ck_assert(slice_is(head.target, "/v1/models?limit=2"));
    ck_assert_int_eq(head.version_minor, 1);
    ck_assert_uint_eq(head.nheaders, 2);
    ck_assert(slice_is(head.headers[0].name, "host"));
    ck_assert(slice_is(head.headers[0].value, "example.com"));
    ck_assert(header_is("accept", "*/*"));
    ck_assert_int_eq(head.content_length, -1);
    ck_assert(!head.chunked);
    ck_assert(head.keep_alive);
    ck_assert(!head.expect_continue);
    ck_assert_ptr_eq(head.buf, head_buf);
}
END_TEST

START_TEST(post_content_length)
{
    ck_assert_int_eq(parse("POST /v1/messages HTTP/1.1\r\nHost: a:8080\r\n"
                           "Content-Type: application/json\r\nContent-Length: 42\r\n\r\n"),
                     H1_OK);
    ck_assert(slice_is(head.method, "POST"));
    ck_assert_int_eq(head.content_length, 42);
    ck_assert(!head.chunked);
}
END_TEST

START_TEST(post_content_length_zero)
{
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), H1_OK);
    ck_assert_int_eq(head.content_length, 0);
}
END_TEST

START_TEST(content_length_18_digits)
{
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\n"
                           "Content-Length: 999999999999999999\r\n\r\n"), H1_OK);
    ck_assert_int_eq(head.content_length, 999999999999999999LL);
}
END_TEST

START_TEST(post_chunked)
{
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n"), H1_OK);
    ck_assert(head.chunked);
    ck_assert_int_eq(head.content_length, -1);
}
END_TEST

START_TEST(chunked_case_and_ows)
{
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\n"
                           "transfer-encoding: \t CHUNKED \t\r\n\r\n"), H1_OK);
    ck_assert(head.chunked);
}
END_TEST

START_TEST(http10_defaults)
{
    ck_assert_int_eq(parse("GET / HTTP/1.0\r\n\r\n"), H1_OK);
    ck_assert_int_eq(head.version_minor, 0);
    ck_assert(!head.keep_alive);
    ck_assert_uint_eq(head.nheaders, 0);
}
END_TEST

START_TEST(http10_keep_alive)
{
    ck_assert_int_eq(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), H1_OK);
    ck_assert(head.keep_alive);
    ck_assert_int_eq(parse("GET / HTTP/1.0\r\nConnection: foo, KEEP-ALIVE \r\n\r\n"), H1_OK);
    ck_assert(head.keep_alive);
    ck_assert_int_eq(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), H1_OK);
    ck_assert(!head.keep_alive);
}
END_TEST

START_TEST(http11_connection_close)
{
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, Close\r\n\r\n"),
                     H1_OK);
    ck_assert(!head.keep_alive);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\n"
                           "Connection: close\r\n\r\n"), H1_OK);
    ck_assert(!head.keep_alive);
    /* A token containing "close" is not "close". */
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"), H1_OK);
    ck_assert(head.keep_alive);
}
END_TEST

START_TEST(leading_empty_lines)
{
    const char *req = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t len = strlen(req);
    ck_assert_uint_eq(h1_find_head_end(req, len, 0), len);
    ck_assert_int_eq(parse(req), H1_OK);
    ck_assert(slice_is(head.method, "GET"));
}
END_TEST

START_TEST(leading_empty_lines_bounded)
{
    char req[64] = "";
    for (int i = 0; i < 9; i++)
        strcat(req, "\r\n");
    strcat(req, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    /* The 9th empty line closes a "head" of empty lines, refused at once. */
    ck_assert_uint_eq(h1_find_head_end(req, strlen(req), 0), 18);
    ck_assert_int_eq(parse_n(req, 18), H1_ERROR);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.message, "too many empty lines before the request line");
    /* Eight are skipped. */
    ck_assert_int_eq(parse(req + 2), H1_OK);
}
END_TEST

START_TEST(ows_trimming)
{
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t value with  inner \t \r\n"
                           "X-Empty:\r\nX-Blank: \t \r\n\r\n"), H1_OK);
    ck_assert(header_is("host", "a"));
    ck_assert(header_is("x-a", "value with  inner"));
    ck_assert(header_is("x-empty", ""));
    ck_assert(header_is("x-blank", ""));
}
END_TEST

START_TEST(obs_text_value)
{
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX-U: caf\xc3\xa9\xff\r\n\r\n"), H1_OK);
    ck_assert(header_is("x-u", "caf\xc3\xa9\xff"));
}
END_TEST

START_TEST(duplicate_identical_content_length)
{
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                           "Content-Length: 5\r\n\r\n"), H1_OK);
    ck_assert_int_eq(head.content_length, 5);
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 ,5,  5\r\n\r\n"),
                     H1_OK);
    ck_assert_int_eq(head.content_length, 5);
}
END_TEST

START_TEST(header_name_case)
{
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHOST: A\r\nCoNtEnT-LeNgTh: 3\r\n"
                           "X-API-Key: SeCrEt\r\n\r\n"), H1_OK);
    ck_assert(slice_is(head.headers[0].name, "host"));
    ck_assert(slice_is(head.headers[0].value, "A"));
    ck_assert(slice_is(head.headers[1].name, "content-length"));
    ck_assert(header_is("x-api-key", "SeCrEt"));
    ck_assert_int_eq(head.content_length, 3);
    ck_assert_ptr_null(h1_head_get(&head, "X-API-Key", NULL));
    size_t vlen = 99;
    ck_assert_ptr_null(h1_head_get(&head, "absent", &vlen));
    ck_assert_uint_eq(vlen, 0);
}
END_TEST

START_TEST(asterisk_target)
{
    ck_assert_int_eq(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), H1_OK);
    ck_assert(slice_is(head.target, "*"));
}
END_TEST

START_TEST(token_methods)
{
    ck_assert_int_eq(parse("M-SEARCH /x HTTP/1.1\r\nHost: a\r\n\r\n"), H1_OK);
    ck_assert(slice_is(head.method, "M-SEARCH"));
    ck_assert_int_eq(parse("x!#$%&'*+.^_`|~9 / HTTP/1.1\r\nHost: a\r\n\r\n"), H1_OK);
}
END_TEST

START_TEST(expect_continue)
{
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                           "Expect: 100-Continue\r\n\r\n"), H1_OK);
    ck_assert(head.expect_continue);
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n"), H1_OK);
    ck_assert(!head.expect_continue);
    /* RFC 9110 10.1.1: ignored from HTTP/1.0 clients. */
    ck_assert_int_eq(parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), H1_OK);
    ck_assert(!head.expect_continue);
}
END_TEST

START_TEST(host_forms)
{
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"), H1_OK);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: \r\n\r\n"), H1_OK);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n"), H1_OK);
}
END_TEST

START_TEST(trailing_bytes_ignored)
{
    /* Only the head is parsed: a body after it is not looked at. */
    const char *req = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n\x01\n";
    ck_assert_int_eq(parse(req), H1_OK);
}
END_TEST

static void fill_headers(char *req, size_t size, int extra)
{
    int n = snprintf(req, size, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < extra; i++)
        n += snprintf(req + n, size - (size_t)n, "X-%d: %d\r\n", i, i);
    snprintf(req + n, size - (size_t)n, "\r\n");
}

START_TEST(max_headers)
{
    static char req[8192];
    fill_headers(req, sizeof req, H1_MAX_HEADERS - 1);
    ck_assert_int_eq(parse(req), H1_OK);
    ck_assert_uint_eq(head.nheaders, H1_MAX_HEADERS);
    ck_assert(header_is("x-126", "126"));
}
END_TEST

START_TEST(too_many_headers)
{
    static char req[8192];
    fill_headers(req, sizeof req, H1_MAX_HEADERS);
    ck_assert_int_eq(parse(req), H1_ERROR);
    ck_assert_int_eq(err.status, 431);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Refused requests: one loop test per row                                */

struct bad {
    const char *req;
    size_t len;
    int status;
};

#define BAD(s, st) { s, sizeof(s) - 1, st }
#define H "Host: a\r\n"

static const struct bad bad_requests[] = {
    /* line endings */
    BAD("GET / HTTP/1.1\n" H "\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H "X: a\rY: b\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H "X: a\r\r\n\r\n", 400),
    BAD("GET /\r HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H, 400),
    BAD("GET / HTTP/1.1\r\n" H "\r", 400),
    BAD("\r\n", 400),
    BAD("", 400),
    /* request line */
    BAD("GET http://a/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET HTTP://a/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("CONNECT a:443 HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET a HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET ** HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET /a#frag HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET /a\x7f HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET /a\x80 HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET /a\tb HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET /a b HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET  / HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET /  HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET / HTTP/1.1 \r\n" H "\r\n", 400),
    BAD(" GET / HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET\t/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("G(T / HTTP/1.1\r\n" H "\r\n", 400),
    BAD("GET / \r\n" H "\r\n", 400),
    BAD("GET /\r\n" H "\r\n", 400),
    BAD("GET\r\n" H "\r\n", 400),
    BAD("GET / http/1.1\r\n" H "\r\n", 400),
    BAD("GET / HTTP/1.10\r\n" H "\r\n", 400),
    BAD("GET / HTTP/1\r\n" H "\r\n", 400),
    BAD("GET / HTTP/1.x\r\n" H "\r\n", 400),
    BAD("GET / HTTP/11.1\r\n" H "\r\n", 400),
    BAD("GET / HTTP/2.0\r\n" H "\r\n", 505),
    BAD("GET / HTTP/1.2\r\n" H "\r\n", 505),
    BAD("GET / HTTP/3.0\r\n" H "\r\n", 505),
    BAD("GET / HTTP/0.9\r\n" H "\r\n", 505),
    /* field names */
    BAD("GET / HTTP/1.1\r\n" H ": x\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H "X Y: a\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H "X\x80: a\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H "X(: a\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H "NoColon\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H "X-A: a\r\n b\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H "X-A: a\r\n\tb\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    /* field values */
    BAD("GET / HTTP/1.1\r\n" H "X: a\x01z\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H "X: a\0z\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H "X: a\x7fz\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H "X: a\x1b\r\n\r\n", 400),
    /* Host */
    BAD("GET / HTTP/1.1\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nX: a\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n" H H "\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    BAD("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
    /* Content-Length */
    BAD("POST / HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\n" H "Content-Length: 5a\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\n" H "Content-Length: 0x5\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\n" H "Content-Length: 5 5\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\n" H "Content-Length: 1000000000000000000\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\n" H "Content-Length: 5, 6\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\n" H "Content-Length: 5,,5\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\n" H "Content-Length: 5,\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    /* Transfer-Encoding */
    BAD("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", 501),
    BAD("POST / HTTP/1.1\r\n" H "Transfer-Encoding: identity\r\n\r\n", 501),
    BAD("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n\r\n", 501),
    BAD("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    BAD("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n", 501),
    BAD("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n"
        "Transfer-Encoding: chunked\r\n\r\n", 501),
    BAD("POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n\r\n", 501),
    BAD("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunkedx\r\n\r\n", 501),
    BAD("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
        "Content-Length: 5\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\n" H "Content-Length: 5\r\n"
        "Transfer-Encoding: gzip\r\n\r\n", 400),
    BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
};

#define N_BAD ((int)(sizeof bad_requests / sizeof bad_requests[0]))

START_TEST(bad_request)
{
    const struct bad *b = &bad_requests[_i];
    int rv = parse_n(b->req, b->len);
    ck_assert_msg(rv == H1_ERROR, "row %d accepted: %s", _i, b->req);
    ck_assert_msg(err.status == b->status, "row %d: status %d, expected %d (%s): %s",
                  _i, err.status, b->status, err.message, b->req);
    ck_assert_msg(err.message && err.message[0], "row %d: no message", _i);
}
END_TEST

START_TEST(error_messages_say_what)
{
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
                           "Content-Length: 5\r\n\r\n"), H1_ERROR);
    ck_assert_str_eq(err.message, "both Content-Length and Transfer-Encoding");
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n"), H1_ERROR);
    ck_assert_str_eq(err.message, "transfer coding not supported");
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n\r\n"), H1_ERROR);
    ck_assert_str_eq(err.message, "missing Host header");
    ck_assert_int_eq(parse("GET / HTTP/2.0\r\n\r\n"), H1_ERROR);
    ck_assert_str_eq(err.message, "HTTP version not supported");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* h1_find_head_end                                                       */

START_TEST(head_end_simple)
{
    const char *r = "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY\r\n\r\n";
    size_t head_len = strlen("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_uint_eq(h1_find_head_end(r, strlen(r), 0), head_len);
    ck_assert_uint_eq(h1_find_head_end(r, head_len - 1, 0), 0);
    ck_assert_uint_eq(h1_find_head_end(r, 0, 0), 0);
    ck_assert_uint_eq(h1_find_head_end("GET / HTTP/1.0\r\n\r\n", 18, 0), 18);
    /* A stale scan_from beyond len restarts the scan. */
    ck_assert_uint_eq(h1_find_head_end(r, strlen(r), 1000), head_len);
}
END_TEST

START_TEST(head_end_bare_lf)
{
    ck_assert_uint_eq(h1_find_head_end("GET / HTTP/1.1\nHost", 19, 0), 15);
    ck_assert_uint_eq(h1_find_head_end("\n", 1, 0), 1);
    ck_assert_uint_eq(h1_find_head_end("GET / HTTP/1.1\r\nX: \r\r\n\r\n", 24, 0), 24);
}
END_TEST

static const char *const head_samples[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "\r\n\r\n\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    "GET / HTTP/1.0\r\n\r\n",
    "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n",
    "GET / HTTP/1.1\r\nX: \r\r\n\n\r\n\r\n",
    "GET / HTTP/1.1\r\nX: a\nb\r\n\r\n",
    "GET / HTTP/1.1\r\nX: \r\r\r\n\r\r\n\r\n",
    "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
};

/* Feed a sample to h1_find_head_end growing by `step` bytes each call, as a
 * server does when bytes trickle in; the answer must match a one-shot scan. */
static void check_resumed(const char *s, size_t len, size_t first, size_t step)
{
    size_t want = h1_find_head_end(s, len, 0);
    size_t got = 0, scanned = 0, avail = first;
    for (;;) {
        if (avail > len)
            avail = len;
        got = h1_find_head_end(s, avail, scanned);
        if (got || avail == len)
            break;
        scanned = avail;
        avail += step;
    }
    ck_assert_msg(got == want, "first %zu step %zu: got %zu, want %zu (%s)", first, step,
                  got, want, s);
}

START_TEST(head_end_resumed)
{
    const char *s = head_samples[_i];
    size_t len = strlen(s);
    for (size_t first = 0; first <= len; first++)
        check_resumed(s, len, first, len);   /* one split at every point */
    for (size_t step = 1; step <= len; step++)
        check_resumed(s, len, 0, step);      /* every piece size */
}
END_TEST

START_TEST(head_end_split_crlfcrlf)
{
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t len = strlen(s);
    /* The terminator arrives in two parts; the second call must look back. */
    for (size_t cut = len - 4; cut < len; cut++) {
        ck_assert_uint_eq(h1_find_head_end(s, cut, 0), 0);
        ck_assert_uint_eq(h1_find_head_end(s, len, cut), len);
    }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Chunked bodies                                                         */

struct decoded {
    char out[32768];
    size_t out_len;
    size_t consumed;
    int rv;
    struct h1_error err;
};

/*
 * Decode body[0..len) arriving in pieces ending at `cuts` (then len), the
 * way h1_server does: call until the decoder makes no progress, then wait
 * for the next piece. Checks the contract on every call.
 */
static void decode_cuts(const char *body, size_t len, const size_t *cuts, size_t ncuts,
                        struct decoded *d)
{
    struct h1_chunked c;
    size_t pos = 0;

    h1_chunked_init(&c);
    d->out_len = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : len;
        for (;;) {
            size_t consumed = 99, dlen = 99;
            const char *data = body;
            int rv = h1_chunked_feed(&c, body + pos, end - pos, &consumed, &data, &dlen,
                                     &d->err);
            ck_assert_uint_le(consumed, end - pos);
            if (dlen) {
                ck_assert(data >= body + pos && data + dlen <= body + pos + consumed);
                ck_assert_uint_le(d->out_len + dlen, sizeof d->out);
                memcpy(d->out + d->out_len, data, dlen);
                d->out_len += dlen;
            }
            pos += consumed;
            if (rv != H1_INCOMPLETE) {
                d->rv = rv;
                d->consumed = pos;
                return;
            }
            if (dlen == 0) {
                /* Without a span, everything given is consumed. */
                ck_assert_uint_eq(pos, end);
                break;
            }
        }
    }
    d->rv = H1_INCOMPLETE;
    d->consumed = pos;
}

static struct decoded whole, split;

static void decode(const char *body, size_t len, struct decoded *d)
{
    decode_cuts(body, len, NULL, 0, d);
}

static void assert_same(const struct decoded *a, const struct decoded *b, const char *what)
{
    ck_assert_msg(a->rv == b->rv, "%s: rv %d vs %d", what, a->rv, b->rv);
    ck_assert_msg(a->consumed == b->consumed, "%s: consumed %zu vs %zu", what, a->consumed,
                  b->consumed);
    ck_assert_msg(a->out_len == b->out_len && memcmp(a->out, b->out, a->out_len) == 0,
                  "%s: different data", what);
    if (a->rv == H1_ERROR)
        ck_assert_int_eq(a->err.status, b->err.status);
}

/* The same body split at every byte boundary, and fed in pieces of every
 * size, must decode identically. */
static void check_all_splits(const char *body, size_t len)
{
    char what[64];
    decode(body, len, &whole);
    for (size_t cut = 0; cut <= len; cut++) {
        decode_cuts(body, len, &cut, 1, &split);
        snprintf(what, sizeof what, "cut at %zu", cut);
        assert_same(&whole, &split, what);
    }
    for (size_t step = 1; step <= len; step++) {
        size_t cuts[4096], n = 0;
        for (size_t at = step; at < len && n < 4096; at += step)
            cuts[n++] = at;
        decode_cuts(body, len, cuts, n, &split);
        snprintf(what, sizeof what, "pieces of %zu", step);
        assert_same(&whole, &split, what);
    }
}

#define DECODE(lit) decode(lit, sizeof(lit) - 1, &whole)

START_TEST(chunked_simple)
{
    static const char body[] = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    DECODE(body);
    ck_assert_int_eq(whole.rv, H1_OK);
    ck_assert_uint_eq(whole.consumed, sizeof body - 1);
    ck_assert_uint_eq(whole.out_len, 11);
    ck_assert(memcmp(whole.out, "hello world", 11) == 0);
}
END_TEST

static const char *const split_bodies[] = {
    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    "1a;ext=1;q=\"a b\"\r\nabcdefghijklmnopqrstuvwxyz\r\n1\r\n!\r\n0\r\nX-T: v\r\nY:\r\n\r\n",
    "A\r\n0123456789\r\n0000\r\n\r\nGET / HTTP/1.1\r\n",
    "5\r\nhelloX\r\n0\r\n\r\n",
    "5 ; a\r\nhello\r\n0 \r\n\r\n",
    "3\r\nabc\r\n0\r\nBad Trailer: x\r\n\r\n",
    "ffffffffffffffff\r\nabc",
};

START_TEST(chunked_every_split)
{
    const char *body = split_bodies[_i];
    check_all_splits(body, strlen(body));
}
END_TEST

START_TEST(chunked_stops_at_body_end)
{
    static const char body[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    DECODE(body);
    ck_assert_int_eq(whole.rv, H1_OK);
    ck_assert_uint_eq(whole.consumed, strlen("3\r\nabc\r\n0\r\n\r\n"));
    ck_assert_uint_eq(whole.out_len, 3);
}
END_TEST

START_TEST(chunked_extensions)
{
    static const char body[] = "5;name=value;q=\"quoted; str\"\r\nhello\r\n"
                               "2 ; x\t; y=z\r\n, \r\n0;last\r\n\r\n";
    DECODE(body);
    ck_assert_int_eq(whole.rv, H1_OK);
    ck_assert_uint_eq(whole.out_len, 7);
    ck_assert(memcmp(whole.out, "hello, ", 7) == 0);
}
END_TEST

START_TEST(chunked_upper_hex_and_zeros)
{
    static const char body[] = "0000000000000001\r\nx\r\nA\r\n0123456789\r\n00\r\n\r\n";
    DECODE(body);
    ck_assert_int_eq(whole.rv, H1_OK);
    ck_assert_uint_eq(whole.out_len, 11);
}
END_TEST

START_TEST(chunked_trailers)
{
    static const char body[] = "2\r\nok\r\n0\r\nX-Checksum: abc\r\nX-Empty:\r\n"
                               "X-Obs: caf\xc3\xa9\r\n\r\n";
    DECODE(body);
    ck_assert_int_eq(whole.rv, H1_OK);
    ck_assert_uint_eq(whole.consumed, sizeof body - 1);
    ck_assert_uint_eq(whole.out_len, 2);
}
END_TEST

START_TEST(chunked_trailers_bounded)
{
    static char body[20000];
    size_t n = (size_t)snprintf(body, sizeof body, "0\r\n");
    while (n < 17 * 1024) {
        memcpy(body + n, "X-Pad: 0123456789abcdef0123456789\r\n", 35);
        n += 35;
    }
    memcpy(body + n, "\r\n", 2);
    decode(body, n + 2, &whole);
    ck_assert_int_eq(whole.rv, H1_ERROR);
    ck_assert_int_eq(whole.err.status, 400);

    /* Just under the bound is fine. */
    n = (size_t)snprintf(body, sizeof body, "0\r\n");
    while (n + 35 + 2 <= 16 * 1024 + 3) {
        memcpy(body + n, "X-Pad: 0123456789abcdef0123456789\r\n", 35);
        n += 35;
    }
    memcpy(body + n, "\r\n", 2);
    decode(body, n + 2, &whole);
    ck_assert_int_eq(whole.rv, H1_OK);
}
END_TEST

static size_t size_line(char *body, size_t ext_len)
{
    size_t n = 0;
    body[n++] = '1';
    body[n++] = ';';
    memset(body + n, 'e', ext_len);
    n += ext_len;
    memcpy(body + n, "\r\nz\r\n0\r\n\r\n", 10);
    return n + 10;
}

START_TEST(chunked_size_line_bounded)
{
    static char body[8192];
    /* "1;" + 4094 = 4096 bytes before CRLF: the largest allowed. */
    decode(body, size_line(body, 4094), &whole);
    ck_assert_int_eq(whole.rv, H1_OK);
    decode(body, size_line(body, 4095), &whole);
    ck_assert_int_eq(whole.rv, H1_ERROR);
    ck_assert_int_eq(whole.err.status, 400);
    ck_assert_uint_le(whole.consumed, 4097);
}
END_TEST

START_TEST(chunked_hex_overflow)
{
    DECODE("10000000000000000\r\n");
    ck_assert_int_eq(whole.rv, H1_ERROR);
    ck_assert_int_eq(whole.err.status, 400);
    DECODE("00000000000000001\r\nx\r\n0\r\n\r\n");
    ck_assert_int_eq(whole.rv, H1_ERROR);
    DECODE("ffffffffffffffff\r\nabc");
    ck_assert_int_eq(whole.rv, H1_INCOMPLETE);
    ck_assert_uint_eq(whole.out_len, 3);
}
END_TEST

static const char *const bad_bodies[] = {
    "\r\n",                       /* no size */
    "-5\r\nhello\r\n0\r\n\r\n",
    "+5\r\nhello\r\n0\r\n\r\n",
    "0x5\r\nhello\r\n0\r\n\r\n",
    " 5\r\nhello\r\n0\r\n\r\n",
    "5 \r\nhello\r\n0\r\n\r\n",   /* blanks not followed by ';' */
    "5\nhello\r\n0\r\n\r\n",      /* bare LF after the size */
    "5\rhello\r\n0\r\n\r\n",      /* bare CR after the size */
    "5;a\nb\r\nhello\r\n0\r\n\r\n",
    "5;a\x01\r\nhello\r\n0\r\n\r\n",
    "5\r\nhelloX\r\n0\r\n\r\n",   /* data longer than its size */
    "5\r\nhello\n0\r\n\r\n",
    "5\r\nhello\r0\r\n\r\n",
    "5\r\nhello0\r\n\r\n",
    "0\r\nNoColon\r\n\r\n",
    "0\r\n X: a\r\n\r\n",         /* folded trailer */
    "0\r\nX: a\n\r\n",
    "0\r\nX: a\x01\r\n\r\n",
    "0\r\n\rX",
    "0\r\n\n",
    "g\r\n",
};

START_TEST(chunked_bad)
{
    const char *body = bad_bodies[_i];
    decode(body, strlen(body), &whole);
    ck_assert_msg(whole.rv == H1_ERROR, "row %d accepted", _i);
    ck_assert_int_eq(whole.err.status, 400);
    ck_assert(whole.err.message && whole.err.message[0]);
    check_all_splits(body, strlen(body));
}
END_TEST

START_TEST(chunked_error_is_sticky)
{
    struct h1_chunked c;
    size_t consumed, dlen;
    const char *data;
    h1_chunked_init(&c);
    ck_assert_int_eq(h1_chunked_feed(&c, "zz", 2, &consumed, &data, &dlen, &err), H1_ERROR);
    err.status = 0;
    ck_assert_int_eq(h1_chunked_feed(&c, "0\r\n\r\n", 5, &consumed, &data, &dlen, &err),
                     H1_ERROR);
    ck_assert_int_eq(err.status, 400);
}
END_TEST

START_TEST(chunked_zeroed_and_done)
{
    struct h1_chunked c;
    size_t consumed, dlen;
    const char *data;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(h1_chunked_feed(&c, "0\r\n\r\nX", 6, &consumed, &data, &dlen, &err), H1_OK);
    ck_assert_uint_eq(consumed, 5);
    ck_assert_uint_eq(dlen, 0);
    /* Finished: stays finished, takes nothing more. */
    ck_assert_int_eq(h1_chunked_feed(&c, "X", 1, &consumed, &data, &dlen, &err), H1_OK);
    ck_assert_uint_eq(consumed, 0);
    ck_assert_int_eq(h1_chunked_feed(&c, NULL, 0, &consumed, &data, &dlen, &err), H1_OK);
}
END_TEST

START_TEST(chunked_span_then_rest)
{
    struct h1_chunked c;
    size_t consumed, dlen, off = 0;
    const char *data;
    static const char body[] = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    const size_t total = sizeof body - 1;
    h1_chunked_init(&c);
    int rv = h1_chunked_feed(&c, body, total, &consumed, &data, &dlen, &err);
    ck_assert_int_eq(rv, H1_INCOMPLETE);
    ck_assert_ptr_eq(data, body + 3);
    ck_assert_uint_eq(dlen, 3);
    ck_assert_uint_eq(consumed, 6);
    off += consumed;
    rv = h1_chunked_feed(&c, body + off, total - off, &consumed, &data, &dlen, &err);
    ck_assert_int_eq(rv, H1_INCOMPLETE);
    ck_assert_ptr_eq(data, body + off + 5);
    ck_assert_uint_eq(dlen, 2);
    ck_assert_uint_eq(consumed, 7);
    off += consumed;
    rv = h1_chunked_feed(&c, body + off, total - off, &consumed, &data, &dlen, &err);
    ck_assert_int_eq(rv, H1_OK);
    ck_assert_uint_eq(dlen, 0);
    ck_assert_uint_eq(consumed, total - off);
}
END_TEST

/* ---------------------------------------------------------------------- */

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *h1_parser_suite(void)
{
    Suite *s = suite_create("h1_parser");

    TCase *good = tcase_create("good");
    tcase_add_test(good, get_simple);
    tcase_add_test(good, post_content_length);
    tcase_add_test(good, post_content_length_zero);
    tcase_add_test(good, content_length_18_digits);
    tcase_add_test(good, post_chunked);
    tcase_add_test(good, chunked_case_and_ows);
    tcase_add_test(good, http10_defaults);
    tcase_add_test(good, http10_keep_alive);
    tcase_add_test(good, http11_connection_close);
    tcase_add_test(good, leading_empty_lines);
    tcase_add_test(good, leading_empty_lines_bounded);
    tcase_add_test(good, ows_trimming);
    tcase_add_test(good, obs_text_value);
    tcase_add_test(good, duplicate_identical_content_length);
    tcase_add_test(good, header_name_case);
    tcase_add_test(good, asterisk_target);
    tcase_add_test(good, token_methods);
    tcase_add_test(good, expect_continue);
    tcase_add_test(good, host_forms);
    tcase_add_test(good, trailing_bytes_ignored);
    tcase_add_test(good, max_headers);
    suite_add_tcase(s, good);

    TCase *bad = tcase_create("bad");
    tcase_add_test(bad, too_many_headers);
    tcase_add_loop_test(bad, bad_request, 0, N_BAD);
    tcase_add_test(bad, error_messages_say_what);
    suite_add_tcase(s, bad);

    TCase *end = tcase_create("head_end");
    tcase_add_test(end, head_end_simple);
    tcase_add_test(end, head_end_bare_lf);
    tcase_add_loop_test(end, head_end_resumed, 0, N(head_samples));
    tcase_add_test(end, head_end_split_crlfcrlf);
    suite_add_tcase(s, end);

    TCase *ch = tcase_create("chunked");
    tcase_add_test(ch, chunked_simple);
    tcase_add_loop_test(ch, chunked_every_split, 0, N(split_bodies));
    tcase_add_test(ch, chunked_stops_at_body_end);
    tcase_add_test(ch, chunked_extensions);
    tcase_add_test(ch, chunked_upper_hex_and_zeros);
    tcase_add_test(ch, chunked_trailers);
    tcase_add_test(ch, chunked_trailers_bounded);
    tcase_add_test(ch, chunked_size_line_bounded);
    tcase_add_test(ch, chunked_hex_overflow);
    tcase_add_loop_test(ch, chunked_bad, 0, N(bad_bodies));
    tcase_add_test(ch, chunked_error_is_sticky);
    tcase_add_test(ch, chunked_zeroed_and_done);
    tcase_add_test(ch, chunked_span_then_rest);
    suite_add_tcase(s, ch);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(h1_parser_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
