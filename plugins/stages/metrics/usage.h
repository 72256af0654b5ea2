/*
 * usage: the token figures of one response, read from what the upstream
 * sent — an SSE stream fed in pieces cut anywhere, or a JSON body, plain or
 * gzip-encoded. No I/O, no globals; bounded memory per response.
 *
 * Streams: message_start carries the input and cache figures (and an
 * initial output count), message_delta the cumulative output (and sometimes
 * cache figures). A later figure replaces an earlier one of the same name:
 * figures are never added twice.
 */
#ifndef APX_USAGE_H
#define APX_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct usage {
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cache_read_input_tokens;
    int64_t cache_creation_input_tokens;
    int64_t cache_creation_5m;      /* cache_creation.ephemeral_5m_input_tokens */
    int64_t cache_creation_1h;      /* cache_creation.ephemeral_1h_input_tokens */
    int64_t web_search_requests;    /* server_tool_use.web_search_requests */
    int64_t web_fetch_requests;     /* server_tool_use.web_fetch_requests */
    char inference_geo[16];         /* usage.inference_geo ("us", "global"), or "" */
    char model[128];
    bool seen;                      /* any usage figure was read */
    bool complete;                  /* message_stop seen (streams), or a whole body */
    bool error;                     /* an error event or an error body */
};

/* Incremental SSE reader. */
#define SSE_MAX_EVENT (1024 * 1024)  /* larger events are skipped, not buffered */

struct sse_reader {
    char *line;                     /* a line cut between pieces, so far */
    size_t line_len, line_cap;
    char *data;                     /* the current event's data lines */
    size_t data_len, data_cap;
    char event[48];                 /* the current event's name */
    bool after_cr;                  /* last byte was CR: a following LF is its pair */
    bool overflow;                  /* the current event is too large: skip it */
    bool skip;                      /* the current event is not one usage reads */
    uint64_t events;                /* events dispatched */
};

void sse_init(struct sse_reader *r);
/* Feed the next piece of the stream; usage figures land in u. Returns -1
 * only when out of memory (the reader then skips to the next event). */
int sse_feed(struct sse_reader *r, const char *p, size_t n, struct usage *u);
void sse_free(struct sse_reader *r);

/* Read the usage of a whole JSON answer (a message, or an error). */
void usage_from_json(const char *body, size_t len, struct usage *u);

/* Inflate a gzip (or zlib) body into *out (malloc'd), at most max_out
 * bytes. 0, or -1 if it is not valid or too large. */
int usage_gunzip(const uint8_t *in, size_t len, size_t max_out, uint8_t **out, size_t *outlen);

#endif
