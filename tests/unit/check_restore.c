/*
 * check_restore: the restore engine (plugins/stages/scrubber/restore.c).
 * Streams are written as the Messages API sends them, fed whole, cut at
 * every byte into two reads and fed one byte at a time; the client's side
 * is played by a small SSE reader here that joins each tool block's
 * partial_json pieces and parses them with jansson, as the SDKs do.
 */
#include <check.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore.h"

#define AWS1 "AKIAIOSFODNN7EXAMPLE"
#define AWS2 "AKIAI44QH8DHBEXAMPLE"
#define MAIL "alice@example.com"
/* a value that needs escaping: quote, backslash, newline, a control
 * character, two- three- and four-byte UTF-8 */
#define PW "pa\"ss\\wo\nrd\x01 \xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"

enum { DET_AWS, DET_MAIL, DET_PW, NDETS };

static const struct scrub_map_entry entries[] = {
    { "<AWS_ACCESS_KEY_1>", 18, (const uint8_t *)AWS1, sizeof AWS1 - 1, DET_AWS },
    { "<AWS_ACCESS_KEY_2>", 18, (const uint8_t *)AWS2, sizeof AWS2 - 1, DET_AWS },
    { "<EMAIL_HMAC:1653412C>", 21, (const uint8_t *)MAIL, sizeof MAIL - 1, DET_MAIL },
    { "<DB_PASSWORD_1>", 15, (const uint8_t *)PW, sizeof PW - 1, DET_PW },
};
#define NENTRIES (sizeof entries / sizeof *entries)

static struct restore_map *new_map(void)
{
    struct restore_map *m = restore_map_new(entries, NENTRIES);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* ---- building streams ---------------------------------------------------- */

struct text {
    char *p;
    size_t n;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    t->p = realloc(t->p, t->n + n + 1);
    ck_assert_ptr_nonnull(t->p);
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = '\0';
}

static bool crlf; /* write the stream with \r\n line ends */

static void event(struct text *t, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void event(struct text *t, const char *name, const char *fmt, ...)
{
    char data[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(data, sizeof data, fmt, ap);
    va_end(ap);
    const char *eol = crlf ? "\r\n" : "\n";
    text_add(t, "event: ", 7);
    text_add(t, name, strlen(name));
    text_add(t, eol, strlen(eol));
    text_add(t, "data: ", 6);
    text_add(t, data, strlen(data));
    text_add(t, eol, strlen(eol));
    text_add(t, eol, strlen(eol));
}

/* A tool block's piece, its inner text encoded as the API would (jansson). */
static void tool_piece(struct text *t, int index, const char *inner)
{
    json_t *s = json_string(inner);
    ck_assert_ptr_nonnull(s);
    char *enc = json_dumps(s, JSON_ENCODE_ANY);
    event(t, "content_block_delta",
          "{\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":"
          "\"input_json_delta\",\"partial_json\":%s}}", index, enc);
    free(enc);
    json_decref(s);
}

/* The same with the outer string written by hand (outer escapes). */
static void tool_piece_raw(struct text *t, int index, const char *outer)
{
    event(t, "content_block_delta",
          "{\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":"
          "\"input_json_delta\",\"partial_json\":\"%s\"}}", index, outer);
}

static void block_start(struct text *t, int index, const char *type)
{
    if (strcmp(type, "text") == 0)
        event(t, "content_block_start", "{\"type\":\"content_block_start\",\"index\":%d,"
              "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}", index);
    else
        event(t, "content_block_start", "{\"type\":\"content_block_start\",\"index\":%d,"
              "\"content_block\":{\"type\":\"%s\",\"id\":\"toolu_01A%d\",\"name\":\"Bash\","
              "\"input\":{}}}", index, type, index);
}

static void block_stop(struct text *t, int index)
{
    event(t, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":%d}", index);
}

static void ping(struct text *t)
{
    event(t, "ping", "{\"type\": \"ping\"}");
}

static void message_start(struct text *t)
{
    event(t, "message_start",
          "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\","
          "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
          "\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":"
          "{\"input_tokens\":472,\"cache_creation_input_tokens\":0,"
          "\"cache_read_input_tokens\":18230,\"output_tokens\":2}}}");
}

static void message_end(struct text *t, const char *reason)
{
    event(t, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\","
          "\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}", reason);
    event(t, "message_stop", "{\"type\":\"message_stop\"}");
}

/* The main recorded stream: thinking and text holding placeholders (left),
 * two tool calls whose pieces cut placeholders and escapes, pings between. */
static struct text main_stream(void)
{
    struct text t = { 0 };
    message_start(&t);
    event(&t, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
          "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}");
    event(&t, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
          "{\"type\":\"thinking_delta\",\"thinking\":\"The key <AWS_ACCESS_KEY_1> is\"}}");
    event(&t, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
          "{\"type\":\"signature_delta\",\"signature\":\"<AWS_ACCESS_KEY_1>EqQBCgIYAhIM\"}}");
    block_stop(&t, 0);
    block_start(&t, 1, "text");
    ping(&t);
    event(&t, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
          "{\"type\":\"text_delta\",\"text\":\"I'll run it with <AWS_ACCESS_KEY_1> and \"}}");
    event(&t, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
          "{\"type\":\"text_delta\",\"text\":\"\\u003cEMAIL_HMAC:1653412C\\u003e.\"}}");
    block_stop(&t, 1);
    block_start(&t, 2, "tool_use");
    tool_piece(&t, 2, "");
    tool_piece(&t, 2, "{\"command\": \"aws --key <AWS_AC");
    tool_piece(&t, 2, "CESS_KEY_1> --mail \\u00");      /* an inner escape cut */
    ping(&t);
    tool_piece(&t, 2, "3cEMAIL_HMAC:1653412C\\u003e --other <AWS_ACCESS_KEY_9>");
    tool_piece(&t, 2, " <AWS_ACCESS_KEY_1\\");          /* cut after a backslash */
    tool_piece(&t, 2, "u003e\", \"password\": \"<DB_PASSWORD_1>\"}");
    block_stop(&t, 2);
    block_start(&t, 3, "tool_use");
    tool_piece(&t, 3, "{\"file_path\": \"/tmp/<AWS_ACCESS_KEY_2>.txt\", ");
    tool_piece_raw(&t, 3, "\\\"content\\\": \\\"key=\\u003cAWS_ACCESS_KEY_2>\\\\");
    tool_piece(&t, 3, "n\\ud83d");                      /* \n, then a surrogate pair cut */
    tool_piece(&t, 3, "\\ude00<AWS_ACCESS_KEY_1><");
    tool_piece(&t, 3, "AWS_ACCESS_KEY_2><b>x</b>\\\"<\\\"\"}");
    ping(&t);
    block_stop(&t, 3);
    message_end(&t, "tool_use");
    return t;
}

static const char *const main_inputs[] = {
    [2] = "{\"command\": \"aws --key " AWS1 " --mail " MAIL " --other <AWS_ACCESS_KEY_9>"
          " " AWS1 "\", \"password\": \"pa\\\"ss\\\\wo\\nrd\\u0001 \xc3\xa9 "
          "\xe2\x9c\x93 \xf0\x9f\x98\x80\"}",
    [3] = "{\"file_path\": \"/tmp/" AWS2 ".txt\", \"content\": \"key=" AWS2
          "\\n\\ud83d\\ude00" AWS1 AWS2 "<b>x</b>\\\"<\\\"\"}",
};

/* ---- the client's side --------------------------------------------------- */

#define MAX_BLOCKS 8

struct client {
    struct text input[MAX_BLOCKS];   /* tool blocks' partial_json joined */
    bool open[MAX_BLOCKS], stopped[MAX_BLOCKS];
    struct text others;              /* every event but input_json_delta, raw */
    size_t events;
};

/* Read one event's fields: name and data (data lines joined by \n). */
static void fields(const char *ev, size_t n, char *name, size_t ncap, struct text *data)
{
    name[0] = '\0';
    size_t i = 0, ndata = 0;
    while (i < n) {
        const char *nl = memchr(ev + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - ev) : n, next = nl ? e + 1 : n;
        if (e > i && ev[e - 1] == '\r')
            e--;
        if (e - i > 6 && strncmp(ev + i, "event: ", 7) == 0)
            snprintf(name, ncap, "%.*s", (int)(e - i - 7), ev + i + 7);
        if (e - i >= 5 && strncmp(ev + i, "data:", 5) == 0) {
            size_t v = i + 5 + (e > i + 5 && ev[i + 5] == ' ');
            if (ndata++)
                text_add(data, "\n", 1);
            text_add(data, ev + v, e - v);
        }
        i = next;
    }
}

static void client_event(struct client *c, const char *ev, size_t n)
{
    char name[64];
    struct text data = { 0 };
    fields(ev, n, name, sizeof name, &data);
    c->events++;
    json_error_t err;
    json_t *j = json_loadb(data.p ? data.p : "", data.n, 0, &err);
    ck_assert_msg(j, "event data is not JSON (%s): %.*s", err.text, (int)n, ev);
    const char *type = json_string_value(json_object_get(j, "type"));
    json_int_t idx = json_integer_value(json_object_get(j, "index"));
    ck_assert_str_eq(type, name);
    ck_assert(idx >= 0 && idx < MAX_BLOCKS);
    json_t *delta = json_object_get(j, "delta");
    const char *dtype = json_string_value(json_object_get(delta, "type"));
    if (strcmp(name, "content_block_delta") == 0 && dtype &&
        strcmp(dtype, "input_json_delta") == 0) {
        ck_assert_msg(c->open[idx], "a piece of block %d outside it", (int)idx);
        json_t *pj = json_object_get(delta, "partial_json");
        text_add(&c->input[idx], json_string_value(pj), json_string_length(pj));
    } else {
        text_add(&c->others, ev, n);
    }
    if (strcmp(name, "content_block_start") == 0) {
        c->open[idx] = true;
        text_add(&c->input[idx], "", 0);
    }
    if (strcmp(name, "content_block_stop") == 0) {
        c->open[idx] = false;
        c->stopped[idx] = true;
    }
    json_decref(j);
    free(data.p);
}

/* Read a whole stream; a trailing unfinished event is left out. */
static void client_read(struct client *c, const char *s, size_t n)
{
    memset(c, 0, sizeof *c);
    size_t i = 0;
    while (i < n) {
        size_t end = 0;
        for (size_t j = i; j + 1 < n && !end; j++) {
            if (s[j] != '\n')
                continue;
            if (s[j + 1] == '\n')
                end = j + 2;
            else if (j + 2 < n && s[j + 1] == '\r' && s[j + 2] == '\n')
                end = j + 3;
        }
        if (!end)
            break;
        client_event(c, s + i, end - i);
        i = end;
    }
}

static void client_free(struct client *c)
{
    for (int i = 0; i < MAX_BLOCKS; i++)
        free(c->input[i].p);
    free(c->others.p);
}

/* The client's tool input of block i parses, and equals want as JSON
 * (strings compared byte for byte). */
static void expect_input(const struct client *c, int i, const char *want)
{
    json_error_t err;
    ck_assert_msg(c->stopped[i], "block %d never stopped", i);
    json_t *got = json_loadb(c->input[i].p, c->input[i].n, 0, &err);
    ck_assert_msg(got, "block %d input is not JSON (%s): %s", i, err.text, c->input[i].p);
    json_t *exp = json_loads(want, 0, &err);
    ck_assert_msg(exp, "bad expectation: %s", err.text);
    char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(exp, JSON_SORT_KEYS);
    ck_assert_msg(json_equal(got, exp), "block %d:\n got  %s\n want %s", i, g, w);
    free(g);
    free(w);
    json_decref(got);
    json_decref(exp);
}

/* ---- feeding -------------------------------------------------------------- */

struct run {
    struct text out;
    struct restore_stats st;
    uint64_t per_det[NDETS];
    size_t bound;
};

/* Feed s cut at the given points (ascending, within s); end the stream. */
static void feed_cuts(const struct text *s, const size_t *cuts, size_t ncuts, size_t max_event,
                      bool end, struct run *r)
{
    struct restore_map *m = new_map();
    struct restore_sse *rs = restore_sse_new(m, max_event);
    struct restore_buf out = { 0 };
    ck_assert_ptr_nonnull(rs);
    size_t from = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t to = k < ncuts ? cuts[k] : s->n;
        ck_assert_int_eq(restore_sse_feed(rs, (const uint8_t *)s->p + from, to - from, &out), 0);
        from = to;
    }
    if (end)
        ck_assert_int_eq(restore_sse_end(rs, &out), 0);
    memset(r, 0, sizeof *r);
    text_add(&r->out, (const char *)out.data, out.len);
    r->st = *restore_sse_stats(rs);
    r->bound = restore_map_hold_bound(m);
    restore_map_count_by_detector(m, r->per_det, NDETS);
    ck_assert_uint_le(r->st.held_max, r->bound);
    restore_buf_free(&out);
    restore_sse_free(rs);
    restore_map_free(m);
}

static void feed_whole(const struct text *s, struct run *r)
{
    feed_cuts(s, NULL, 0, 0, true, r);
}

/* Every way of cutting: each two-read split, then one byte per read. Each
 * gives the same bytes as the whole stream fed at once. */
static void feed_every_way(const struct text *s, size_t max_event, const struct run *whole)
{
    struct run r;
    for (size_t cut = 0; cut <= s->n; cut++) {
        feed_cuts(s, &cut, 1, max_event, true, &r);
        ck_assert_msg(r.out.n == whole->out.n && memcmp(r.out.p, whole->out.p, r.out.n) == 0,
                      "cut at %zu gives other bytes", cut);
        ck_assert_uint_eq(r.st.restored, whole->st.restored);
        ck_assert_uint_eq(r.st.held_max, whole->st.held_max);
        free(r.out.p);
    }
    size_t *cuts = malloc(s->n * sizeof *cuts);
    ck_assert_ptr_nonnull(cuts);
    for (size_t i = 0; i + 1 < s->n; i++)
        cuts[i] = i + 1;
    feed_cuts(s, cuts, s->n ? s->n - 1 : 0, max_event, true, &r);
    ck_assert_msg(r.out.n == whole->out.n && memcmp(r.out.p, whole->out.p, r.out.n) == 0,
                  "a byte at a time gives other bytes");
    free(r.out.p);
    free(cuts);
}

/* ---- streams -------------------------------------------------------------- */

static void check_main_stream(void)
{
    struct text s = main_stream();
    struct run r;
    struct client in, out;
    feed_whole(&s, &r);
    client_read(&in, s.p, s.n);
    client_read(&out, r.out.p, r.out.n);
    expect_input(&out, 2, main_inputs[2]);
    expect_input(&out, 3, main_inputs[3]);
    /* thinking, signature, text, pings, message events: byte for byte, in order */
    ck_assert_uint_eq(out.others.n, in.others.n);
    ck_assert(memcmp(out.others.p, in.others.p, in.others.n) == 0);
    ck_assert_ptr_nonnull(strstr(r.out.p, "\"text\":\"I'll run it with <AWS_ACCESS_KEY_1> and \""));
    ck_assert_ptr_nonnull(strstr(r.out.p, "\\u003cEMAIL_HMAC:1653412C\\u003e."));
    ck_assert_ptr_nonnull(strstr(r.out.p, "\"signature\":\"<AWS_ACCESS_KEY_1>EqQBCgIYAhIM\""));
    /* no piece was held at a stop: no event was added */
    ck_assert_uint_eq(out.events, in.events);
    ck_assert_uint_eq(r.st.restored, 8);
    ck_assert_uint_eq(r.st.unknown, 1);
    ck_assert_uint_eq(r.per_det[DET_AWS], 6);
    ck_assert_uint_eq(r.per_det[DET_MAIL], 1);
    ck_assert_uint_eq(r.per_det[DET_PW], 1);
    ck_assert_uint_eq(r.st.blocks_lost, 0);
    ck_assert_uint_gt(r.st.held_max, 0);
    feed_every_way(&s, 0, &r);
    client_free(&in);
    client_free(&out);
    free(r.out.p);
    free(s.p);
}

START_TEST(stream_restores_tool_input_only)
{
    crlf = false;
    check_main_stream();
}
END_TEST

START_TEST(stream_with_crlf_lines)
{
    crlf = true;
    check_main_stream();
    crlf = false;
}
END_TEST

START_TEST(stream_without_placeholders_is_identical)
{
    struct text s = { 0 };
    struct run r;
    message_start(&s);
    block_start(&s, 0, "tool_use");
    tool_piece(&s, 0, "{\"command\": \"ls -la <dir> \\u003cx\\u003e\\\\\", \"n\": [1, 2.5e3]");
    tool_piece(&s, 0, ", \"s\": \"<AWS_ACCESS_KEY_1 >\"}");
    block_stop(&s, 0);
    message_end(&s, "tool_use");
    feed_whole(&s, &r);
    ck_assert_uint_eq(r.out.n, s.n);
    ck_assert(memcmp(r.out.p, s.p, s.n) == 0);
    ck_assert_uint_eq(r.st.events_changed, 0);
    ck_assert_uint_eq(r.st.restored, 0);
    feed_every_way(&s, 0, &r);
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(unknown_placeholders_are_left_and_counted)
{
    struct text s = { 0 };
    struct run r;
    struct client c;
    block_start(&s, 0, "tool_use");
    tool_piece(&s, 0, "{\"a\": \"<AWS_ACCESS_KEY_9> <AWS_ACCESS_KEY_");
    tool_piece(&s, 0, "12> <EMAIL_HMAC:00000000> <NOT_A_NUMBER> <AWS_ACCESS_KEY_1>\"}");
    block_stop(&s, 0);
    feed_whole(&s, &r);
    client_read(&c, r.out.p, r.out.n);
    expect_input(&c, 0, "{\"a\": \"<AWS_ACCESS_KEY_9> <AWS_ACCESS_KEY_12> "
                        "<EMAIL_HMAC:00000000> <NOT_A_NUMBER> " AWS1 "\"}");
    ck_assert_uint_eq(r.st.unknown, 3); /* <NOT_A_NUMBER> is no placeholder */
    ck_assert_uint_eq(r.st.restored, 1);
    feed_every_way(&s, 0, &r);
    client_free(&c);
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(only_tool_use_blocks_are_restored)
{
    /* server tools run at the API, and any other input_json_delta is not
     * the client's to run */
    struct text s = { 0 };
    struct run r;
    block_start(&s, 0, "server_tool_use");
    tool_piece(&s, 0, "{\"query\": \"<AWS_ACCESS_KEY_1>\"}");
    block_stop(&s, 0);
    block_start(&s, 1, "text");
    tool_piece(&s, 1, "{\"q\": \"<AWS_ACCESS_KEY_1>\"}");
    block_stop(&s, 1);
    feed_whole(&s, &r);
    ck_assert_uint_eq(r.out.n, s.n);
    ck_assert(memcmp(r.out.p, s.p, s.n) == 0);
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(held_bytes_flush_at_block_stop)
{
    /* max_tokens cut the tool input inside a placeholder: what was held
     * goes out in an added piece just before the stop */
    struct text s = { 0 };
    struct run r;
    struct client c;
    block_start(&s, 0, "tool_use");
    tool_piece(&s, 0, "{\"command\": \"echo <AWS_ACCESS_KE");
    block_stop(&s, 0);
    message_end(&s, "max_tokens");
    feed_whole(&s, &r);
    client_read(&c, r.out.p, r.out.n);
    ck_assert_str_eq(c.input[0].p, "{\"command\": \"echo <AWS_ACCESS_KE");
    ck_assert(c.stopped[0]);
    ck_assert_uint_eq(c.events, 6); /* one added to the five */
    ck_assert_uint_eq(r.st.held_max, strlen("<AWS_ACCESS_KE"));
    const char *added = strstr(r.out.p, "\"partial_json\":\"<AWS_ACCESS_KE\"}}\n\n"
                                        "event: content_block_stop");
    ck_assert_ptr_nonnull(added);
    feed_every_way(&s, 0, &r);
    client_free(&c);
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(cut_stream_flushes_at_end)
{
    struct text s = { 0 };
    struct run r;
    struct client c;
    block_start(&s, 0, "tool_use");
    tool_piece(&s, 0, "{\"command\": \"echo <AWS_ACC");
    const char *partial = "event: content_block_delta\ndata: {\"type\":\"content_bl";
    text_add(&s, partial, strlen(partial));
    feed_whole(&s, &r);
    /* the held bytes in an added piece, then the unfinished event as it came */
    size_t pl = strlen(partial);
    ck_assert(r.out.n > pl && memcmp(r.out.p + r.out.n - pl, partial, pl) == 0);
    client_read(&c, r.out.p, r.out.n);
    ck_assert_str_eq(c.input[0].p, "{\"command\": \"echo <AWS_ACC");
    feed_every_way(&s, 0, &r);
    free(r.out.p);
    /* without restore_sse_end, nothing held has gone out */
    feed_cuts(&s, NULL, 0, 0, false, &r);
    client_free(&c);
    client_read(&c, r.out.p, r.out.n);
    ck_assert_str_eq(c.input[0].p, "{\"command\": \"echo ");
    client_free(&c);
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(hold_bound_is_reached_not_passed)
{
    /* each character of the placeholder escaped, the stream cut inside the
     * escape of its '>': the most the restorer ever holds */
    const char *esc = "\\u003c\\u0041\\u0057\\u0053\\u005f\\u0041\\u0043\\u0043\\u0045"
                      "\\u0053\\u0053\\u005f\\u004b\\u0045\\u0059\\u005f\\u0031\\u003";
    struct text s = { 0 };
    struct run r;
    struct client c;
    char piece[256];
    block_start(&s, 0, "tool_use");
    snprintf(piece, sizeof piece, "{\"k\": \"%s", esc);
    tool_piece(&s, 0, piece);
    tool_piece(&s, 0, "E\"}");
    block_stop(&s, 0);
    feed_whole(&s, &r);
    ck_assert_uint_eq(r.bound, 6 * 21 - 1); /* the longest: <EMAIL_HMAC:1653412C> */
    ck_assert_uint_eq(r.st.held_max, strlen(esc));
    ck_assert_uint_eq(r.st.held_max, 6 * 18 - 1);
    client_read(&c, r.out.p, r.out.n);
    expect_input(&c, 0, "{\"k\": \"" AWS1 "\"}");
    client_free(&c);
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(several_data_lines)
{
    /* SSE lets data run over lines (joined by a line feed); JSON is cut
     * only between tokens there */
    struct text s = { 0 };
    struct run r;
    struct client c;
    block_start(&s, 0, "tool_use");
    const char *ev = "event: content_block_delta\nid: 7\n"
                     "data: {\"type\":\"content_block_delta\",\"index\":0,\n"
                     "data: \"delta\":{\"type\":\"input_json_delta\",\n"
                     "data: \"partial_json\":\"{\\\"a\\\": \\\"<DB_PASSWORD_1>\\\"}\"}}\n\n";
    text_add(&s, ev, strlen(ev));
    block_stop(&s, 0);
    feed_whole(&s, &r);
    client_read(&c, r.out.p, r.out.n);
    expect_input(&c, 0, "{\"a\": \"pa\\\"ss\\\\wo\\nrd\\u0001 \xc3\xa9 \xe2\x9c\x93 "
                        "\xf0\x9f\x98\x80\"}");
    ck_assert_ptr_nonnull(strstr(r.out.p, "event: content_block_delta\nid: 7\ndata: {"));
    feed_every_way(&s, 0, &r);
    client_free(&c);
    free(r.out.p);
    free(s.p);
}
END_TEST

static bool contains(const char *hay, size_t n, const char *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

START_TEST(over_long_event_passes_and_gives_up_the_block)
{
    /* with a 512-byte bound: the 700-byte piece goes out as it came, what
     * the block held first; the block is not restored after it */
    struct text s = { 0 }, want = { 0 };
    struct run r;
    struct client c;
    char big[700];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    block_start(&s, 0, "tool_use");
    tool_piece(&s, 0, "{\"a\": \"<AWS_ACCESS_KEY_1> <AWS_ACC");
    size_t big_at = s.n;
    tool_piece(&s, 0, big);
    size_t big_len = s.n - big_at;
    tool_piece(&s, 0, "ESS_KEY_1> <AWS_ACCESS_KEY_2>\"}");
    block_stop(&s, 0);
    feed_cuts(&s, NULL, 0, 512, true, &r);
    client_read(&c, r.out.p, r.out.n);
    const char *head = "{\"a\": \"" AWS1 " <AWS_ACC", *tail = "ESS_KEY_1> <AWS_ACCESS_KEY_2>\"}";
    text_add(&want, head, strlen(head));
    text_add(&want, big, strlen(big));
    text_add(&want, tail, strlen(tail));
    expect_input(&c, 0, want.p);
    ck_assert(contains(r.out.p, r.out.n, s.p + big_at, big_len));
    ck_assert_uint_eq(r.st.blocks_lost, 1);
    ck_assert_uint_eq(r.st.restored, 1);
    feed_every_way(&s, 512, &r);
    client_free(&c);
    free(r.out.p);
    free(want.p);
    free(s.p);
}
END_TEST

START_TEST(over_long_text_event_passes)
{
    struct text s = { 0 };
    struct run r;
    char big[2000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    block_start(&s, 0, "text");
    event(&s, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
          "{\"type\":\"text_delta\",\"text\":\"%s <AWS_ACCESS_KEY_1>\"}}", big);
    block_stop(&s, 0);
    block_start(&s, 1, "tool_use");
    tool_piece(&s, 1, "{\"a\": \"<AWS_ACCESS_KEY_1>\"}");
    block_stop(&s, 1);
    feed_cuts(&s, NULL, 0, 512, true, &r);
    struct client c;
    client_read(&c, r.out.p, r.out.n);
    expect_input(&c, 1, "{\"a\": \"" AWS1 "\"}");
    ck_assert_uint_eq(r.st.blocks_lost, 0);
    feed_every_way(&s, 512, &r);
    client_free(&c);
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(bad_tool_input_is_given_up)
{
    /* not JSON text (a bad escape): the rest of the block goes as it came */
    struct text s = { 0 };
    struct run r;
    struct client c;
    block_start(&s, 0, "tool_use");
    tool_piece(&s, 0, "{\"a\": \"<AWS_ACCESS_KEY_1> <AWS_\\x");
    tool_piece(&s, 0, " <AWS_ACCESS_KEY_1>\"}");
    block_stop(&s, 0);
    feed_whole(&s, &r);
    client_read(&c, r.out.p, r.out.n);
    ck_assert_str_eq(c.input[0].p, "{\"a\": \"" AWS1 " <AWS_\\x <AWS_ACCESS_KEY_1>\"}");
    ck_assert_uint_eq(r.st.blocks_lost, 1);
    feed_every_way(&s, 0, &r);
    client_free(&c);
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(interleaved_blocks_keep_their_own_state)
{
    /* the API opens one block at a time, but the state is per index: two
     * tool blocks cut inside placeholders at once, a text block between */
    struct text s = { 0 };
    struct run r;
    struct client c;
    block_start(&s, 0, "text");
    block_start(&s, 1, "tool_use");
    block_start(&s, 2, "tool_use");
    tool_piece(&s, 1, "{\"a\": \"<AWS_ACCESS_KEY_");
    tool_piece(&s, 2, "{\"b\": \"<AWS_ACCESS_KEY_");
    event(&s, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
          "{\"type\":\"text_delta\",\"text\":\"1> <AWS_ACCESS_KEY_2>\"}}");
    tool_piece(&s, 2, "2> \\u003");
    tool_piece(&s, 1, "1>\"}");
    block_stop(&s, 1);
    tool_piece(&s, 2, "cDB_PASSWORD_1>\"}");
    block_stop(&s, 2);
    block_stop(&s, 0);
    feed_whole(&s, &r);
    client_read(&c, r.out.p, r.out.n);
    expect_input(&c, 1, "{\"a\": \"" AWS1 "\"}");
    expect_input(&c, 2, "{\"b\": \"" AWS2 " pa\\\"ss\\\\wo\\nrd\\u0001 \xc3\xa9 \xe2\x9c\x93 "
                        "\xf0\x9f\x98\x80\"}");
    ck_assert_ptr_nonnull(strstr(r.out.p, "\"text\":\"1> <AWS_ACCESS_KEY_2>\""));
    ck_assert_uint_eq(r.st.restored, 3);
    feed_every_way(&s, 0, &r);
    client_free(&c);
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(only_placeholder_prefixes_are_held)
{
    /* '<' followed by what no placeholder of the map begins with goes out at
     * once, unknown-placeholder-shaped or not */
    struct text s = { 0 };
    struct run r;
    block_start(&s, 0, "tool_use");
    tool_piece(&s, 0, "{\"html\": \"<div><ZZZ_1");
    tool_piece(&s, 0, "> <AWS_ACCESS_KEY_3");
    tool_piece(&s, 0, "> <AWS_ACCESS_KEY_1 \\n\"}");
    block_stop(&s, 0);
    feed_whole(&s, &r);
    ck_assert_uint_eq(r.out.n, s.n);
    ck_assert(memcmp(r.out.p, s.p, s.n) == 0);
    ck_assert_uint_eq(r.st.held_max, 0);
    ck_assert_uint_eq(r.st.unknown, 2);
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(invalid_utf8_before_a_quote_keeps_the_quote)
{
    /* ED A0 then a quote is no surrogate half: rebuilding the piece must not
     * swallow the quote into an escape */
    struct text s = { 0 };
    struct run r;
    block_start(&s, 0, "tool_use");
    tool_piece_raw(&s, 0, "{\\\"c\\\": \\\"<AWS_ACCESS_KEY_1>\\\", \\\"d\\\": \\\"\xED\xA0\\\"}");
    block_stop(&s, 0);
    feed_whole(&s, &r);
    ck_assert_uint_eq(r.st.restored, 1);
    ck_assert_ptr_nonnull(strstr(r.out.p, AWS1 "\\\", \\\"d\\\": \\\"\xED\xA0\\\"}\"}}"));
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(bare_cr_lines_pass_as_they_come)
{
    /* lines ended by a CR alone: nothing restored, but nothing held either
     * (every byte out as it arrives, the open tool block given up) */
    struct text s = { 0 };
    struct run r;
    block_start(&s, 0, "tool_use");
    tool_piece(&s, 0, "{\"a\": \"<AWS_ACCESS_KEY_1>");
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] == '\n' && i > s.n / 2)
            s.p[i] = '\r';
    static const char ping_cr[] = "event: ping\rdata: {}\r\r";
    text_add(&s, ping_cr, sizeof ping_cr - 1);
    size_t cut = s.n - (sizeof ping_cr - 1);
    feed_cuts(&s, &cut, 1, 0, false, &r);
    ck_assert_uint_eq(r.out.n, s.n);
    ck_assert_int_eq(memcmp(r.out.p, s.p, s.n), 0);
    ck_assert_uint_eq(r.st.restored, 0);
    ck_assert_uint_eq(r.st.blocks_lost, 1);
    free(r.out.p);
    feed_whole(&s, &r);
    feed_every_way(&s, 0, &r);
    free(r.out.p);
    free(s.p);
}
END_TEST

START_TEST(lone_surrogates_survive_a_rebuilt_piece)
{
    /* a surrogate pair cut between two pieces' outer strings: each half is
     * written back as the escape it was when its event is rebuilt */
    struct text s = { 0 };
    struct run r;
    block_start(&s, 0, "tool_use");
    tool_piece_raw(&s, 0, "{\\\"a\\\": \\\"<AWS_ACCESS_KEY_1> \\ud83d");
    tool_piece_raw(&s, 0, "\\ude00<AWS_ACCESS_KEY_2>\\\"}");
    block_stop(&s, 0);
    feed_whole(&s, &r);
    ck_assert_ptr_nonnull(strstr(r.out.p, "\"partial_json\":\"{\\\"a\\\": \\\"" AWS1 " \\ud83d\"}}"));
    ck_assert_ptr_nonnull(strstr(r.out.p, "\"partial_json\":\"\\ude00" AWS2 "\\\"}\"}}"));
    feed_every_way(&s, 0, &r);
    free(r.out.p);
    free(s.p);
}
END_TEST

/* ---- the map ------------------------------------------------------------- */

START_TEST(map_takes_placeholders_only)
{
    const struct scrub_map_entry e[] = {
        { "<AWS_ACCESS_KEY_1>", 18, (const uint8_t *)"first", 5, 0 },
        { "<AWS_ACCESS_KEY_1>", 18, (const uint8_t *)"second", 6, 0 },
        { "AWS_ACCESS_KEY_2", 16, (const uint8_t *)"x", 1, 0 },
        { "<aws_1>", 7, (const uint8_t *)"x", 1, 0 },
        { "<EMPTY_1>", 9, NULL, 0, 1 },
    };
    struct restore_map *m = restore_map_new(e, 5);
    const uint8_t *v;
    size_t n;
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(restore_map_size(m), 2);
    ck_assert_int_eq(restore_map_lookup(m, "<AWS_ACCESS_KEY_1>", 18, &v, &n), 0);
    ck_assert(n == 5 && memcmp(v, "first", 5) == 0);
    ck_assert_int_eq(restore_map_lookup(m, "<AWS_ACCESS_KEY_1", 17, &v, &n), -1);
    ck_assert_int_eq(restore_map_lookup(m, "<EMPTY_1>", 9, &v, &n), 0);
    ck_assert_uint_eq(n, 0);
    restore_map_free(m);
    m = restore_map_new(NULL, 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(restore_map_hold_bound(m), 5);
    restore_map_free(m);
}
END_TEST

/* ---- JSON answers ---------------------------------------------------------- */

START_TEST(json_restores_tool_input_only)
{
    const char *body =
        "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"content\":["
        "{\"type\":\"text\",\"text\":\"Using <AWS_ACCESS_KEY_1>\"},"
        "{\"type\":\"thinking\",\"thinking\":\"<AWS_ACCESS_KEY_1>\",\"signature\":\"<AWS_ACCESS_KEY_1>\"},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"Bash\",\"input\":{\"command\":"
        "\"aws <AWS_ACCESS_KEY_1>\", \"n\" : 1.50e3,\"env\":{\"<AWS_ACCESS_KEY_2>\":"
        "[\"\\u003cEMAIL_HMAC:1653412C\\u003e\",\"<DB_PASSWORD_1>\",\"<AWS_ACCESS_KEY_9>\"]}}},"
        "{\"input\":{\"q\":\"<AWS_ACCESS_KEY_2>\"},\"name\":\"Read\",\"type\":\"tool_use\"},"
        "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_01\",\"name\":\"web_search\","
        "\"input\":{\"query\":\"<AWS_ACCESS_KEY_1>\"}}"
        "],\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":10,\"output_tokens\":20}}";
    const char *want =
        "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"content\":["
        "{\"type\":\"text\",\"text\":\"Using <AWS_ACCESS_KEY_1>\"},"
        "{\"type\":\"thinking\",\"thinking\":\"<AWS_ACCESS_KEY_1>\",\"signature\":\"<AWS_ACCESS_KEY_1>\"},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"Bash\",\"input\":{\"command\":"
        "\"aws " AWS1 "\", \"n\" : 1.50e3,\"env\":{\"" AWS2 "\":"
        "[\"" MAIL "\",\"pa\\\"ss\\\\wo\\nrd\\u0001 \xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80\","
        "\"<AWS_ACCESS_KEY_9>\"]}}},"
        "{\"input\":{\"q\":\"" AWS2 "\"},\"name\":\"Read\",\"type\":\"tool_use\"},"
        "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_01\",\"name\":\"web_search\","
        "\"input\":{\"query\":\"<AWS_ACCESS_KEY_1>\"}}"
        "],\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":10,\"output_tokens\":20}}";
    struct restore_map *m = new_map();
    struct restore_buf out = { 0 };
    struct restore_stats st = { 0 };
    uint64_t per[NDETS] = { 0 };
    bool changed;
    ck_assert_int_eq(restore_json(m, (const uint8_t *)body, strlen(body), &out, &changed, &st), 0);
    ck_assert(changed);
    ck_assert_msg(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
                  "got %.*s", (int)out.len, out.data);
    json_error_t err;
    json_t *j = json_loadb((const char *)out.data, out.len, 0, &err);
    ck_assert_msg(j, "%s", err.text);
    json_decref(j);
    ck_assert_uint_eq(st.restored, 5);
    ck_assert_uint_eq(st.unknown, 1);
    restore_map_count_by_detector(m, per, NDETS);
    ck_assert_uint_eq(per[DET_AWS], 3);
    ck_assert_uint_eq(per[DET_MAIL], 1);
    ck_assert_uint_eq(per[DET_PW], 1);
    restore_buf_free(&out);
    restore_map_free(m);
}
END_TEST

START_TEST(json_unchanged_or_refused_leaves_out_alone)
{
    const char *same = "{\"content\":[{\"type\":\"text\",\"text\":\"<AWS_ACCESS_KEY_1>\"},"
                       "{\"type\":\"tool_use\",\"input\":{\"a\":\"<AWS_ACCESS_KEY_9>\"}}]}";
    /* content complete, the answer not: refused whole, nothing counted */
    const char *cut = "{\"content\":[{\"type\":\"tool_use\",\"input\":{\"a\":\"<AWS_ACCESS_KEY_1>\"}}],"
                      "\"usage\": }";
    struct restore_map *m = new_map();
    struct restore_buf out = { 0 };
    struct restore_stats st = { 0 };
    uint64_t per[NDETS] = { 0 };
    bool changed = true;
    ck_assert_int_eq(restore_buf_append(&out, "kept", 4), 0);
    ck_assert_int_eq(restore_json(m, (const uint8_t *)same, strlen(same), &out, &changed, &st), 0);
    ck_assert(!changed);
    ck_assert_uint_eq(out.len, 4);
    ck_assert_uint_eq(st.unknown, 1);
    changed = true;
    ck_assert_int_eq(restore_json(m, (const uint8_t *)cut, strlen(cut), &out, &changed, &st),
                     RESTORE_E_NOT_JSON);
    ck_assert(!changed);
    ck_assert_uint_eq(out.len, 4);
    ck_assert_uint_eq(st.restored, 0); /* refused: nothing counted */
    restore_map_count_by_detector(m, per, NDETS);
    ck_assert_uint_eq(per[DET_AWS], 0);
    ck_assert_int_eq(restore_json(m, (const uint8_t *)"[1]", 3, &out, &changed, &st),
                     RESTORE_E_NOT_JSON);
    uint8_t *huge = calloc(RESTORE_JSON_MAX + 1, 1);
    ck_assert_ptr_nonnull(huge);
    ck_assert_int_eq(restore_json(m, huge, RESTORE_JSON_MAX + 1, &out, &changed, NULL),
                     RESTORE_E_TOO_BIG);
    ck_assert(!changed);
    free(huge);
    restore_buf_free(&out);
    restore_map_free(m);
}
END_TEST

/* ---- with the scrubber's own map ------------------------------------------- */

static int find_aws(const void *ctx, const char *t, size_t n, size_t start, size_t *ms,
                    size_t *me)
{
    (void)ctx;
    for (size_t i = start; i + 20 <= n; i++) {
        size_t k = 4;
        if (memcmp(t + i, "AKIA", 4) != 0)
            continue;
        while (k < 20 && ((t[i + k] >= 'A' && t[i + k] <= 'Z') || (t[i + k] >= '0' && t[i + k] <= '9')))
            k++;
        if (k == 20) {
            *ms = i;
            *me = i + 20;
            return 1;
        }
    }
    return 0;
}

static int find_mail(const void *ctx, const char *t, size_t n, size_t start, size_t *ms,
                     size_t *me)
{
    (void)ctx;
    const size_t k = strlen(MAIL);
    for (size_t i = start; i + k <= n; i++) {
        if (memcmp(t + i, MAIL, k) == 0) {
            *ms = i;
            *me = i + k;
            return 1;
        }
    }
    return 0;
}

START_TEST(scrubbed_request_map_restores_response)
{
    static const char *const aws_anchors[] = { "AKIA", NULL }, *const mail_anchors[] = { "@", NULL };
    const struct scrub_detector dets[] = {
        { "aws_access_key", "AWS_ACCESS_KEY", APX_TIER_SECRET, aws_anchors, find_aws, NULL,
          APX_ACTION_PSEUDONYMIZE },
        { "email", "EMAIL", APX_TIER_IDENTIFIER, mail_anchors, find_mail, NULL,
          APX_ACTION_PSEUDONYMIZE },
    };
    uint8_t key[SCRUB_KEY_LEN] = { 0 };
    char err[128];
    struct scrub_engine *e = scrub_engine_new(dets, 2, key, err, sizeof err);
    ck_assert_ptr_nonnull(e);
    const char *req = "{\"messages\":[{\"role\":\"user\",\"content\":\"keys " AWS2 " and " AWS1
                      ", mail alice\\u0040example.com, again " AWS2 "\"}]}";
    struct scrub_result res;
    ck_assert_int_eq(scrub_body(e, (const uint8_t *)req, strlen(req), true, &res), SCRUB_FOUND);
    ck_assert_uint_eq(res.nmap, 3);
    struct restore_map *m = restore_map_new(res.map, res.nmap);
    ck_assert_ptr_nonnull(m);
    /* the model answers with the placeholders the body carried */
    char piece[512];
    snprintf(piece, sizeof piece, "{\"cmd\": \"%s %s %s\"}", res.map[0].placeholder,
             res.map[1].placeholder, res.map[2].placeholder);
    scrub_result_free(&res);
    scrub_engine_free(e);
    struct text s = { 0 };
    block_start(&s, 0, "tool_use");
    tool_piece(&s, 0, piece);
    block_stop(&s, 0);
    struct restore_sse *rs = restore_sse_new(m, 0);
    struct restore_buf out = { 0 };
    ck_assert_int_eq(restore_sse_feed(rs, (const uint8_t *)s.p, s.n, &out), 0);
    ck_assert_int_eq(restore_sse_end(rs, &out), 0);
    struct client c;
    client_read(&c, (const char *)out.data, out.len);
    expect_input(&c, 0, "{\"cmd\": \"" AWS2 " " AWS1 " " MAIL "\"}");
    uint64_t per[2] = { 0 };
    restore_map_count_by_detector(m, per, 2);
    ck_assert_uint_eq(per[0], 2);
    ck_assert_uint_eq(per[1], 1);
    client_free(&c);
    restore_buf_free(&out);
    restore_sse_free(rs);
    restore_map_free(m);
    free(s.p);
}
END_TEST

static Suite *restore_suite(void)
{
    Suite *su = suite_create("restore");
    TCase *t = tcase_create("sse");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, stream_restores_tool_input_only);
    tcase_add_test(t, stream_with_crlf_lines);
    tcase_add_test(t, stream_without_placeholders_is_identical);
    tcase_add_test(t, unknown_placeholders_are_left_and_counted);
    tcase_add_test(t, only_tool_use_blocks_are_restored);
    tcase_add_test(t, held_bytes_flush_at_block_stop);
    tcase_add_test(t, cut_stream_flushes_at_end);
    tcase_add_test(t, hold_bound_is_reached_not_passed);
    tcase_add_test(t, several_data_lines);
    tcase_add_test(t, over_long_event_passes_and_gives_up_the_block);
    tcase_add_test(t, over_long_text_event_passes);
    tcase_add_test(t, bad_tool_input_is_given_up);
    tcase_add_test(t, interleaved_blocks_keep_their_own_state);
    tcase_add_test(t, only_placeholder_prefixes_are_held);
    tcase_add_test(t, lone_surrogates_survive_a_rebuilt_piece);
    tcase_add_test(t, invalid_utf8_before_a_quote_keeps_the_quote);
    tcase_add_test(t, bare_cr_lines_pass_as_they_come);
    suite_add_tcase(su, t);
    t = tcase_create("map");
    tcase_add_test(t, map_takes_placeholders_only);
    tcase_add_test(t, scrubbed_request_map_restores_response);
    suite_add_tcase(su, t);
    t = tcase_create("json");
    tcase_add_test(t, json_restores_tool_input_only);
    tcase_add_test(t, json_unchanged_or_refused_leaves_out_alone);
    suite_add_tcase(su, t);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(restore_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
