/*
 * http: header lists, hop-by-hop rules, reason phrases, error bodies.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

/* Bounds that keep one message's headers from growing without limit even if
 * a caller forgets its own check. */
#define HEADER_LIST_MAX_BYTES (256 * 1024)
#define HEADER_LIST_MAX_COUNT 1024

static int grow_entries(struct header_list *h)
{
    if (h->n < h->cap)
        return 0;
    if (h->cap >= HEADER_LIST_MAX_COUNT)
        return -1;
    size_t cap = h->cap ? h->cap * 2 : 16;
    struct header_entry *v = realloc(h->v, cap * sizeof *v);
    if (!v)
        return -1;
    h->v = v;
    h->cap = cap;
    return 0;
}

static int grow_buf(struct header_list *h, size_t need)
{
    if (h->used + need <= h->size)
        return 0;
    if (h->used + need > HEADER_LIST_MAX_BYTES)
        return -1;
    size_t size = h->size ? h->size : 512;
    while (size < h->used + need)
        size *= 2;
    char *b = realloc(h->buf, size);
    if (!b)
        return -1;
    h->buf = b;
    h->size = size;
    return 0;
}

int header_list_reserve(struct header_list *h, size_t entries, size_t bytes)
{
    if (entries > HEADER_LIST_MAX_COUNT || bytes > HEADER_LIST_MAX_BYTES)
        return -1;
    if (entries > h->cap) {
        struct header_entry *v = realloc(h->v, entries * sizeof *v);
        if (!v)
            return -1;
        h->v = v;
        h->cap = entries;
    }
    if (bytes > h->size) {
        char *b = realloc(h->buf, bytes);
        if (!b)
            return -1;
        h->buf = b;
        h->size = bytes;
    }
    return 0;
}

/* Append one entry; lower-case its name unless the caller vouches for it. */
static int add_entry(struct header_list *h, const char *name, size_t nlen,
                     const char *value, size_t vlen, bool lower)
{
    if (grow_entries(h) < 0 || grow_buf(h, nlen + vlen + 2) < 0)
        return -1;
    struct header_entry *e = &h->v[h->n++];
    e->name_off = (uint32_t)h->used;
    e->name_len = (uint32_t)nlen;
    char *d = h->buf + h->used;
    if (lower) {
        for (size_t i = 0; i < nlen; i++) { /* ASCII only, whatever the locale */
            char ch = name[i];
            d[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + ('a' - 'A')) : ch;
        }
    } else {
        memcpy(d, name, nlen);
    }
    d[nlen] = '\0';
    h->used += nlen + 1;
    e->value_off = (uint32_t)h->used;
    e->value_len = (uint32_t)vlen;
    memcpy(h->buf + h->used, value, vlen);
    h->used += vlen;
    h->buf[h->used++] = '\0';
    return 0;
}

int header_list_add(struct header_list *h, const char *name, size_t nlen,
                    const char *value, size_t vlen)
{
    return add_entry(h, name, nlen, value, vlen, true);
}

int header_list_add_lc(struct header_list *h, const char *name, size_t nlen,
                       const char *value, size_t vlen)
{
    return add_entry(h, name, nlen, value, vlen, false);
}

int header_list_set(struct header_list *h, const char *name, const char *value)
{
    size_t o = 0;
    for (size_t i = 0; i < h->n; i++) /* entries only: their bytes stay unused */
        if (strcasecmp(header_name(h, i), name) != 0)
            h->v[o++] = h->v[i];
    h->n = o;
    if (!value)
        return 0;
    return header_list_add(h, name, strlen(name), value, strlen(value));
}

void header_list_free(struct header_list *h)
{
    free(h->v);
    free(h->buf);
    memset(h, 0, sizeof *h);
}

const char *header_name(const struct header_list *h, size_t i)
{
    return h->buf + h->v[i].name_off;
}

const char *header_value(const struct header_list *h, size_t i)
{
    return h->buf + h->v[i].value_off;
}

const char *header_list_get(const struct header_list *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(header_name(h, i), name) == 0)
            return header_value(h, i);
    return NULL;
}

/* Is `name` one of the comma-separated tokens of `list`? */
static bool list_has_token(const char *list, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - start) == nlen && strncasecmp(start, name, nlen) == 0)
            return true;
    }
    return false;
}

/* The fixed hop-by-hop names, picked by first letter so that a typical name
 * costs one comparison or none: this runs for every header of every message. */
static bool fixed_hop_by_hop(const char *name)
{
    switch (name[0]) {
    case 'c': return strcmp(name, "connection") == 0;
    case 'h': return strcmp(name, "host") == 0 || strcmp(name, "http2-settings") == 0;
    case 'k': return strcmp(name, "keep-alive") == 0;
    case 'p': return strncmp(name, "proxy-", 6) == 0;
    case 't': return strcmp(name, "te") == 0 || strcmp(name, "transfer-encoding") == 0 ||
                     strcmp(name, "trailer") == 0;
    case 'u': return strcmp(name, "upgrade") == 0;
    default: return false;
    }
}

bool http_is_hop_by_hop(const char *name, const char *connection)
{
    if (fixed_hop_by_hop(name))
        return true;
    return connection && list_has_token(connection, name);
}

bool http_te_has_trailers(const char *te)
{
    return list_has_token(te, "trailers");
}

size_t http_format_uint(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 529: return "Overloaded";
    default: break;
    }
    /* RFC 9112 allows an empty reason, but some clients treat it as a failure */
    if (status < 200) return "Informational";
    if (status < 300) return "Success";
    if (status < 400) return "Redirection";
    if (status < 500) return "Client Error";
    return "Server Error";
}

const char *http_error_type(int status)
{
    switch (status) {
    case 400: case 431: case 505: case 501: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
    default: return "api_error";
    }
}

size_t http_error_body(char *out, size_t size, int status, const char *message)
{
    return http_error_body_typed(out, size, http_error_type(status), message);
}

size_t http_error_body_typed(char *out, size_t size, const char *type, const char *message)
{
    char esc[512];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)message; *p && o + 7 < sizeof esc; p++) {
        if (*p == '"' || *p == '\\') {
            esc[o++] = '\\';
            esc[o++] = (char)*p;
        } else if (*p < 0x20 || *p >= 0x7f) {
            o += (size_t)snprintf(esc + o, sizeof esc - o, "\\u%04x", *p);
        } else {
            esc[o++] = (char)*p;
        }
    }
    esc[o] = '\0';
    char tesc[64];
    size_t t = 0;
    for (const char *p = type; *p && t + 1 < sizeof tesc; p++)
        if ((*p >= 'a' && *p <= 'z') || *p == '_')
            tesc[t++] = *p;
    tesc[t] = '\0';
    int n = snprintf(out, size, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"%s\"}}",
                     tesc, esc);
    if (n < 0 || (size_t)n >= size)
        n = snprintf(out, size, "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"\"}}");
    return n < 0 ? 0 : (size_t)n;
}
