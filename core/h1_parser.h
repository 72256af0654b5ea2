/*
 * h1_parser: a strict HTTP/1.1 request parser (RFC 9112), with no I/O.
 *
 * It turns bytes into a request head and a chunked body decoder into data
 * spans. It never allocates per byte, never reads past the lengths it is
 * given, and refuses anything ambiguous rather than guessing: a request that
 * two parsers could frame differently is how request smuggling starts.
 * The HTTP/1.1 server (h1_server.c) and the fuzz target are its only users.
 */
#ifndef APX_H1_PARSER_H
#define APX_H1_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define H1_MAX_HEADERS 128

/* Results. Errors carry the HTTP status the server answers with. */
enum h1_result {
    H1_OK = 0,          /* complete */
    H1_INCOMPLETE = 1,  /* need more bytes */
    H1_ERROR = -1,      /* see h1_error for status and message */
};

struct h1_error {
    int status;          /* 400, 413, 431, 501 or 505 */
    const char *message; /* static string, safe to send to the client */
};

struct h1_slice {
    uint32_t off, len;   /* into h1_head.buf */
};

struct h1_header {
    struct h1_slice name;  /* lower-cased in place */
    struct h1_slice value; /* leading and trailing blanks trimmed */
};

struct h1_head {
    char *buf;                 /* the head's bytes; owned by the caller */
    struct h1_slice method;
    struct h1_slice target;    /* origin-form ("/v1/messages?x=1") or "*" */
    int version_minor;         /* 0 or 1 */
    size_t nheaders;
    struct h1_header headers[H1_MAX_HEADERS];
    int64_t content_length;    /* -1 when absent */
    bool chunked;              /* Transfer-Encoding: chunked */
    bool keep_alive;           /* after version and Connection are considered */
    bool expect_continue;      /* Expect: 100-continue */
};

/*
 * Find the end of a request head in buf[0..len): returns the head's length
 * including the final CRLF CRLF, 0 if not found yet. `scan_from` lets the
 * caller resume where the last call stopped (pass the previous len, or 0).
 * Leading empty lines before a request line (RFC 9112 2.2) are part of the
 * head and skipped by h1_parse_head (at most 8 of them; a 9th ends the head,
 * which h1_parse_head then refuses).
 * A bare LF (not preceded by CR) also ends the head, just after it, so that
 * h1_parse_head refuses it (400) at once rather than the server waiting for
 * a CRLF CRLF that such a client will never send.
 */
size_t h1_find_head_end(const char *buf, size_t len, size_t scan_from);

/*
 * Parse a complete head (as delimited by h1_find_head_end) in place: buf is
 * modified (header names lower-cased) and referenced by `out`. Enforces:
 * request-line syntax, token methods, origin-form or "*" targets, HTTP/1.0
 * and 1.1 only (505 otherwise), no obs-fold, no bare LF or CR, no control
 * characters in values, header count <= H1_MAX_HEADERS (431), a single
 * Content-Length value (duplicates only if identical), Transfer-Encoding
 * exactly "chunked" (other codings 501), never both Content-Length and
 * Transfer-Encoding (400), no Transfer-Encoding in HTTP/1.0 (400), Host
 * present for HTTP/1.1 and never repeated (400), Host made of host[:port]
 * characters only (400).
 * Returns H1_OK or H1_ERROR with *err set.
 */
int h1_parse_head(char *buf, size_t len, struct h1_head *out,
                  struct h1_error *err);

/* The value of the first header named `name` (lower-case), or NULL.
 * *vlen receives its length. */
const char *h1_head_get(const struct h1_head *h, const char *name,
                        size_t *vlen);

/* Incremental chunked-body decoder. Zero-initialise (h1_chunked_init). */
struct h1_chunked {
    int state;
    uint64_t remaining;      /* bytes left in the current chunk */
    uint32_t line_len;       /* bytes of the current size/trailer line */
    uint32_t trailer_bytes;  /* total trailer bytes, bounded */
};

void h1_chunked_init(struct h1_chunked *c);

/*
 * Feed bytes in[0..len). On return *consumed bytes were used. If a data span
 * is available, *data and *data_len point into `in` (the caller copies it out)
 * and H1_INCOMPLETE or H1_OK is still returned according to whether the body
 * is finished. Call again with the rest of the input after a span is
 * returned. Returns H1_OK when the last chunk and trailers (discarded) are
 * complete, H1_INCOMPLETE when more input is needed, H1_ERROR on a malformed
 * or oversized size line, a missing CRLF after data, or malformed or
 * oversized (> 16 KiB) trailers (400). Chunk extensions are skipped
 * (bounded: size line <= 4096 bytes). Unless a span is returned or the body
 * ends, all of `in` is consumed: the decoder never needs more bytes than it
 * was given to make progress. After H1_ERROR, every call fails again.
 */
int h1_chunked_feed(struct h1_chunked *c, const char *in, size_t len,
                    size_t *consumed, const char **data, size_t *data_len,
                    struct h1_error *err);

#endif
