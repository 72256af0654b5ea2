/*
 * fuzz_usage: arbitrary bytes through the metrics stage's usage reader
 * (plugins/stages/metrics/usage.c) as an SSE stream and as a JSON body.
 *
 * Checked on every input, even under NDEBUG:
 * - the stream read in one piece and read in pieces cut where the input
 *   says give the same figures, flags, model and event count (the upstream
 *   decides where TLS records and h2 DATA frames end, not us);
 * - the reader's buffers stay bounded by SSE_MAX_EVENT, whatever the lines;
 * - the model name is always a terminated string inside its array.
 * Independent of metrics.c: it links usage.c alone.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static void check_usage(const struct usage *u)
{
    CHECK(memchr(u->model, '\0', sizeof u->model) != NULL);
}

/* Field by field: the struct has padding that memcmp would read. */
static void check_same(const struct usage *a, const struct usage *b)
{
    CHECK(a->input_tokens == b->input_tokens);
    CHECK(a->output_tokens == b->output_tokens);
    CHECK(a->cache_read_input_tokens == b->cache_read_input_tokens);
    CHECK(a->cache_creation_input_tokens == b->cache_creation_input_tokens);
    CHECK(a->cache_creation_5m == b->cache_creation_5m);
    CHECK(a->cache_creation_1h == b->cache_creation_1h);
    CHECK(a->web_search_requests == b->web_search_requests);
    CHECK(strcmp(a->model, b->model) == 0);
    CHECK(a->seen == b->seen && a->complete == b->complete && a->error == b->error);
}

static void check_reader(const struct sse_reader *r)
{
    /* grow() doubles, so a capacity may reach twice the largest need */
    CHECK(r->line_len <= SSE_MAX_EVENT && r->line_cap <= 2 * (size_t)SSE_MAX_EVENT);
    CHECK(r->data_len <= SSE_MAX_EVENT && r->data_cap <= 2 * (size_t)SSE_MAX_EVENT);
    CHECK(memchr(r->event, '\0', sizeof r->event) != NULL);
}

/* Piece sizes come from the input itself, so the fuzzer steers the cuts. */
static size_t piece_size(const uint8_t *data, size_t size, size_t k)
{
    return size ? (size_t)(data[k % size] % 29) + 1 : 1;
}

static uint64_t feed(const char *text, size_t len, const uint8_t *cuts, struct usage *u)
{
    struct sse_reader r;
    size_t pos = 0, k = 0;

    sse_init(&r);
    memset(u, 0, sizeof *u);
    while (pos < len) {
        size_t n = cuts ? piece_size(cuts, len, k++) : len;
        if (n > len - pos)
            n = len - pos;
        CHECK(sse_feed(&r, text + pos, n, u) == 0);
        check_reader(&r);
        pos += n;
    }
    uint64_t events = r.events;
    sse_free(&r);
    check_usage(u);
    return events;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so a read past the end is seen */
    char *text = malloc(size ? size : 1);
    struct usage whole, split, body;

    CHECK(text != NULL);
    if (size)
        memcpy(text, data, size);
    uint64_t ew = feed(text, size, NULL, &whole);
    uint64_t es = feed(text, size, data, &split);
    CHECK(ew == es);
    check_same(&whole, &split);

    memset(&body, 0, sizeof body);
    usage_from_json(text, size, &body);
    check_usage(&body);
    free(text);
    return 0;
}
