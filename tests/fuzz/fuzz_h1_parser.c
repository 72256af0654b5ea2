/*
 * fuzz_h1_parser: arbitrary bytes through h1_find_head_end, h1_parse_head
 * and h1_chunked_feed, checking what h1_server relies on: slices inside the
 * head, spans inside the input, consumption within bounds, and the same
 * answer however the input is split.
 *
 * Every stage works on its own exact-size heap copy, so that AddressSanitizer
 * sees a read one byte past the end. Checks abort even under NDEBUG.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static char *copy_of(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    CHECK(c != NULL);
    if (n)
        memcpy(c, p, n);
    return c;
}

/* Piece sizes come from the input itself, so the fuzzer steers the splits. */
static size_t piece_size(const uint8_t *data, size_t size, size_t k)
{
    return size ? (size_t)(data[k % size] % 23) + 1 : 1;
}

/* The head end found by growing the buffer piece by piece, as the server
 * does while bytes arrive, must be the one found in a single scan. */
static void check_head_end_resumed(const char *buf, size_t len, size_t want,
                                   const uint8_t *data)
{
    size_t scanned = 0, avail = 0, k = 0, got = 0;
    for (;;) {
        avail += piece_size(data, len, k++);
        if (avail > len)
            avail = len;
        got = h1_find_head_end(buf, avail, scanned);
        if (got || avail == len)
            break;
        scanned = avail;
    }
    CHECK(got == want);
}

static bool within(struct h1_slice s, size_t len)
{
    return (size_t)s.off <= len && (size_t)s.len <= len - s.off;
}

static void check_header(const struct h1_head *h, size_t len, size_t i)
{
    const struct h1_header *hd = &h->headers[i];
    CHECK(within(hd->name, len) && within(hd->value, len));
    CHECK(hd->name.len > 0);
    for (uint32_t j = 0; j < hd->name.len; j++) {
        unsigned char c = (unsigned char)h->buf[hd->name.off + j];
        CHECK(!(c >= 'A' && c <= 'Z') && c > ' ' && c < 0x7f && c != ':');
    }
    for (uint32_t j = 0; j < hd->value.len; j++) {
        unsigned char c = (unsigned char)h->buf[hd->value.off + j];
        CHECK(c == '\t' || c >= ' ');
        CHECK(c != 0x7f);
    }
    if (hd->value.len) {
        CHECK(h->buf[hd->value.off] != ' ' && h->buf[hd->value.off] != '\t');
        char last = h->buf[hd->value.off + hd->value.len - 1];
        CHECK(last != ' ' && last != '\t');
    }
}

static void check_parsed(const struct h1_head *h, char *buf, size_t len)
{
    CHECK(h->buf == buf);
    CHECK(within(h->method, len) && h->method.len > 0);
    CHECK(within(h->target, len) && h->target.len > 0);
    CHECK(h->target.len == 1 || buf[h->target.off] == '/');
    CHECK(h->version_minor == 0 || h->version_minor == 1);
    CHECK(h->nheaders <= H1_MAX_HEADERS);
    CHECK(h->content_length >= -1);
    CHECK(!(h->chunked && h->content_length >= 0));
    CHECK(!(h->expect_continue && h->version_minor == 0));
    for (size_t i = 0; i < h->nheaders; i++)
        check_header(h, len, i);
    if (h->version_minor == 1)
        CHECK(h1_head_get(h, "host", NULL) != NULL);
}

static void parse_head(const uint8_t *p, size_t len)
{
    char *buf = copy_of(p, len);
    struct h1_head *h = malloc(sizeof *h);
    struct h1_error err = { 0, NULL };
    CHECK(h != NULL);
    int rv = h1_parse_head(buf, len, h, &err);
    if (rv == H1_OK) {
        check_parsed(h, buf, len);
    } else {
        CHECK(rv == H1_ERROR);
        CHECK(err.status == 400 || err.status == 431 || err.status == 501 ||
              err.status == 505);
        CHECK(err.message != NULL && err.message[0] != '\0');
    }
    free(h);
    free(buf);
}

struct decoded {
    char *out;
    size_t out_len, consumed;
    int rv;
};

/*
 * Decode body[0..len), a piece at a time (sizes from `data`) or all at once
 * (data NULL), as h1_server does: call until no progress, then wait for
 * more. Spans must lie within what the call consumed.
 */
static void decode(const char *body, size_t len, const uint8_t *data,
                   size_t size, struct decoded *d)
{
    struct h1_chunked c;
    struct h1_error err;
    size_t pos = 0, end = data ? 0 : len, k = 0;

    h1_chunked_init(&c);
    d->out_len = 0;
    d->rv = H1_INCOMPLETE;
    for (;;) {
        size_t consumed, dlen;
        const char *span;
        int rv = h1_chunked_feed(&c, body + pos, end - pos, &consumed, &span,
                                 &dlen, &err);
        CHECK(consumed <= end - pos);
        if (dlen) {
            CHECK(span >= body + pos && span + dlen <= body + pos + consumed);
            CHECK(d->out_len + dlen <= len);
            memcpy(d->out + d->out_len, span, dlen);
            d->out_len += dlen;
        }
        pos += consumed;
        if (rv == H1_ERROR)
            CHECK(err.status == 400 && err.message != NULL);
        if (rv != H1_INCOMPLETE) {
            d->rv = rv;
            break;
        }
        if (dlen == 0) {
            CHECK(pos == end); /* no span: everything given was taken */
            if (end == len)
                break;
            end += piece_size(data, size, k++);
            if (end > len)
                end = len;
        }
    }
    d->consumed = pos;
}

static void decode_body(const uint8_t *p, size_t len, const uint8_t *data,
                        size_t size)
{
    char *body = copy_of(p, len);
    struct decoded whole = { malloc(len ? len : 1), 0, 0, 0 };
    struct decoded split = { malloc(len ? len : 1), 0, 0, 0 };
    CHECK(whole.out != NULL && split.out != NULL);

    decode(body, len, NULL, 0, &whole);
    decode(body, len, data, size, &split);
    CHECK(whole.rv == split.rv);
    CHECK(whole.consumed == split.consumed);
    CHECK(whole.out_len == split.out_len);
    CHECK(memcmp(whole.out, split.out, whole.out_len) == 0);
    CHECK(whole.out_len <= whole.consumed);

    free(split.out);
    free(whole.out);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *all = copy_of(data, size);
    size_t head_len = h1_find_head_end(all, size, 0);

    CHECK(head_len <= size);
    CHECK(head_len == 0 || all[head_len - 1] == '\n');
    check_head_end_resumed(all, size, head_len, data);
    free(all);

    /* Without a complete head, parse everything: the parser must cope. */
    parse_head(data, head_len ? head_len : size);
    decode_body(data + head_len, size - head_len, data, size);
    return 0;
}
