/*
 * http: what both server sides and the upstream side agree on about HTTP
 * messages — header lists, which headers are hop-by-hop, reason phrases, and
 * the Anthropic-shaped error body the proxy answers with.
 *
 * Protocol-neutral: nothing here knows about HTTP/1.1 framing or nghttp2.
 */
#ifndef APX_HTTP_H
#define APX_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A header list keeps every name and value in one growing buffer, so a
 * request's headers cost two allocations, not two per header. Names are
 * stored lower-case. Offsets, not pointers, survive the buffer's growth. */
struct header_entry {
    uint32_t name_off, name_len, value_off, value_len;
};

struct header_list {
    struct header_entry *v;
    size_t n, cap;
    char *buf;
    size_t used, size;
};

/* Make room for `entries` headers of `bytes` name and value bytes in all
 * (each header takes its name and value lengths plus 2), so that adding
 * them costs no reallocation. Returns 0, or -1 (out of memory or over the
 * list's bounds; the list is unchanged but still usable). */
int header_list_reserve(struct header_list *h, size_t entries, size_t bytes);
int header_list_add(struct header_list *h, const char *name, size_t nlen,
                    const char *value, size_t vlen);
/* header_list_add for a name already in lower case (the HTTP/1.1 parser
 * lower-cases names in place; nghttp2 refuses upper-case ones): no
 * per-byte pass over the name. */
int header_list_add_lc(struct header_list *h, const char *name, size_t nlen,
                       const char *value, size_t vlen);
/* Replace every `name` header with one of `value` (NULL: remove them). */
int header_list_set(struct header_list *h, const char *name, const char *value);
void header_list_free(struct header_list *h);
/* Name and value of entry i (NUL-terminated inside the list's buffer). */
const char *header_name(const struct header_list *h, size_t i);
const char *header_value(const struct header_list *h, size_t i);
/* First value of `name` (lower-case), or NULL. */
const char *header_list_get(const struct header_list *h, const char *name);

/* True for headers that describe one connection, not the message
 * (RFC 9110 7.6.1), and so are never forwarded: Connection, Keep-Alive,
 * Proxy-*, TE, Transfer-Encoding, Upgrade, and Host (replaced by the
 * upstream's authority). `connection` is the message's Connection header
 * value (may be NULL): the names it lists are hop-by-hop too. */
bool http_is_hop_by_hop(const char *name, const char *connection);

/* Does a TE header value list "trailers"? It is the one TE an h2 request
 * may carry, and the one part of TE a proxy passes on (RFC 9110 10.1.4). */
bool http_te_has_trailers(const char *te);

/* Write v in decimal and a NUL into out (at least HTTP_UINT_MAX bytes);
 * returns the number of digits. For status codes and lengths on the hot
 * path, where snprintf's generality costs more than the header it formats. */
#define HTTP_UINT_MAX 21
size_t http_format_uint(char *out, uint64_t v);

/* Reason phrase for a status code; never empty. */
const char *http_reason(int status);

/* Anthropic's error type for a status the proxy itself answers with. */
const char *http_error_type(int status);

/* Write `{"type":"error","error":{"type":...,"message":...}}` into out.
 * Returns its length (truncated to fit, always valid JSON). */
size_t http_error_body(char *out, size_t size, int status, const char *message);
/* Same with an explicit error type (a stage's APX_BLOCK). */
size_t http_error_body_typed(char *out, size_t size, const char *type, const char *message);

#endif
