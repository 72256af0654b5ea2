/*
 * h1_parser: strict HTTP/1.1 request parsing (RFC 9112), with no I/O and no
 * allocation.
 *
 * Whatever two parsers could read differently is refused rather than
 * repaired: bare CR or LF, obs-fold, whitespace before a colon, differing
 * Content-Length values, transfer codings other than a lone "chunked", and
 * both framings at once. It must never read outside the lengths it is given
 * and never keep a pointer into the caller's input between calls, which is
 * why the chunked decoder works byte by byte and keeps all its state in
 * struct h1_chunked.
 */
#include "h1_parser.h"

#include <string.h>

/* RFC 9112 2.2 asks us to skip "at least one" empty line before a request;
 * a few cover every client that does it, and a bound keeps a stream of
 * CRLFs from being scanned forever. */
#define MAX_LEADING_EMPTY_LINES 8
#define MAX_CL_DIGITS 18           /* 18 decimal digits always fit int64_t */
#define MAX_CHUNK_HEX_DIGITS 16    /* 16 hex digits always fit uint64_t */
#define MAX_SIZE_LINE 4096         /* chunk-size plus extensions */
#define MAX_TRAILER_BYTES (16 * 1024)

/* --- character classes (RFC 9110 5.6.2, 5.5) --- */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Byte classes as one constant table: the head parser asks for every byte
 * of every request head, and a load beats a chain of comparisons. */
enum { CL_TCHAR = 1, CL_FIELD = 2 };
#define TCHAR_C(c)                                                                   \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z') ||                     \
     ((c) >= 'A' && (c) <= 'Z') || (c) == '!' || (c) == '#' || (c) == '$' ||         \
     (c) == '%' || (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' ||          \
     (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' || (c) == '`' ||            \
     (c) == '|' || (c) == '~')
/* field-vchar, SP, HTAB and obs-text: what a field value may hold */
#define FIELD_C(c) ((c) == ' ' || (c) == '\t' || ((c) >= 0x21 && (c) <= 0x7e) || (c) >= 0x80)
#define CLASS_C(c) ((TCHAR_C(c) ? CL_TCHAR : 0) | (FIELD_C(c) ? CL_FIELD : 0))
#define CLASS_ROW(r)                                                                 \
    CLASS_C(r + 0), CLASS_C(r + 1), CLASS_C(r + 2), CLASS_C(r + 3), CLASS_C(r + 4),  \
    CLASS_C(r + 5), CLASS_C(r + 6), CLASS_C(r + 7), CLASS_C(r + 8), CLASS_C(r + 9),  \
    CLASS_C(r + 10), CLASS_C(r + 11), CLASS_C(r + 12), CLASS_C(r + 13),               \
    CLASS_C(r + 14), CLASS_C(r + 15)
static const unsigned char byte_class[256] = {
    CLASS_ROW(0x00), CLASS_ROW(0x10), CLASS_ROW(0x20), CLASS_ROW(0x30),
    CLASS_ROW(0x40), CLASS_ROW(0x50), CLASS_ROW(0x60), CLASS_ROW(0x70),
    CLASS_ROW(0x80), CLASS_ROW(0x90), CLASS_ROW(0xa0), CLASS_ROW(0xb0),
    CLASS_ROW(0xc0), CLASS_ROW(0xd0), CLASS_ROW(0xe0), CLASS_ROW(0xf0),
};

static bool is_tchar(unsigned char c)
{
    return byte_class[c] & CL_TCHAR;
}

static bool is_vchar(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e;
}

static bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static bool is_field_byte(unsigned char c)
{
    return byte_class[c] & CL_FIELD;
}

static int hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static unsigned char to_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Case-insensitive comparison of s[0..n) with a lower-case literal. */
static bool eq_nocase(const char *s, size_t n, const char *lit)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (lit[i] == '\0' || to_lower((unsigned char)s[i]) != (unsigned char)lit[i])
            return false;
    }
    return lit[i] == '\0';
}

static int fail(struct h1_error *err, int status, const char *message)
{
    if (err) {
        err->status = status;
        err->message = message;
    }
    return H1_ERROR;
}

static struct h1_slice slice(size_t start, size_t end)
{
    return (struct h1_slice){ (uint32_t)start, (uint32_t)(end - start) };
}

/* --- finding the end of a head --- */

/*
 * Where the head's closing CRLF CRLF may begin: the leading empty lines are
 * not it. After MAX_LEADING_EMPTY_LINES of them, one more empty line does
 * close the "head", which h1_parse_head then refuses: a client sending only
 * CRLFs gets a prompt 400 rather than an unbounded wait.
 */
static size_t head_search_start(const char *buf, size_t len)
{
    size_t n = 0;
    while (n < MAX_LEADING_EMPTY_LINES && 2 * n + 1 < len &&
           buf[2 * n] == '\r' && buf[2 * n + 1] == '\n')
        n++;
    /* With n maximal, no CRLF CRLF can start at 2n - 2 unless more empty
     * lines follow the n counted, which only happens at the bound. */
    return n > 0 ? 2 * n - 2 : 0;
}

size_t h1_find_head_end(const char *buf, size_t len, size_t scan_from)
{
    size_t begin = head_search_start(buf, len);
    /* Each LF is judged by itself and the 3 bytes before it, so an LF
     * before scan_from was already judged with all its bytes present. */
    size_t i = scan_from <= len ? scan_from : 0;

    while (i < len) {
        const char *lf = memchr(buf + i, '\n', len - i);
        if (!lf)
            return 0;
        size_t e = (size_t)(lf - buf);
        /* A bare LF can only be refused: end the head here so that the
         * parser says so now instead of waiting for a CRLF CRLF. */
        if (e == 0 || buf[e - 1] != '\r')
            return e + 1;
        if (e >= begin + 3 && buf[e - 3] == '\r' && buf[e - 2] == '\n')
            return e + 1;
        i = e + 1;
    }
    return 0;
}

/* --- the request line --- */

/* The next line starting at *pos, as [*start, *end) without its CRLF. */
static int next_line(const char *buf, size_t len, size_t *pos, size_t *start,
                     size_t *end, struct h1_error *err)
{
    if (*pos >= len)
        return fail(err, 400, "request head not terminated by an empty line");
    const char *lf = memchr(buf + *pos, '\n', len - *pos);
    if (!lf)
        return fail(err, 400, "request head not terminated by an empty line");
    size_t e = (size_t)(lf - buf);
    if (e == *pos || buf[e - 1] != '\r')
        return fail(err, 400, "bare LF in request head");
    /* Some parsers end lines at a lone CR: refuse what they would split. */
    if (memchr(buf + *pos, '\r', e - 1 - *pos))
        return fail(err, 400, "bare CR in request head");
    *start = *pos;
    *end = e - 1;
    *pos = e + 1;
    return H1_OK;
}

static int skip_empty_lines(const char *buf, size_t len, size_t *pos,
                            struct h1_error *err)
{
    size_t n = 0;
    while (*pos + 1 < len && buf[*pos] == '\r' && buf[*pos + 1] == '\n') {
        if (n++ == MAX_LEADING_EMPTY_LINES)
            return fail(err, 400, "too many empty lines before the request line");
        *pos += 2;
    }
    return H1_OK;
}

/* scheme ":" — what an absolute-form target starts with (RFC 3986 3.1). */
static bool looks_absolute(const char *t, size_t n)
{
    if (n == 0 || !is_alpha((unsigned char)t[0]))
        return false;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == ':')
            return true;
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.')
            return false;
    }
    return false;
}

static int check_target(const char *t, size_t n, struct h1_error *err)
{
    if (n == 1 && t[0] == '*')
        return H1_OK;
    if (n == 0)
        return fail(err, 400, "malformed request line");
    if (t[0] != '/') {
        if (looks_absolute(t, n))
            return fail(err, 400, "absolute-form request target not supported");
        return fail(err, 400, "request target is not origin-form");
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_vchar((unsigned char)t[i]))
            return fail(err, 400, "invalid character in request target");
        if (t[i] == '#')
            return fail(err, 400, "fragment in request target");
    }
    return H1_OK;
}

static int parse_version(const char *v, size_t n, struct h1_head *out,
                         struct h1_error *err)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit((unsigned char)v[5]) ||
        v[6] != '.' || !is_digit((unsigned char)v[7]))
        return fail(err, 400, "malformed request line");
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return fail(err, 505, "HTTP version not supported");
    out->version_minor = v[7] - '0';
    return H1_OK;
}

/* method SP request-target SP HTTP-version, in buf[s..e). */
static int parse_request_line(const char *buf, size_t s, size_t e,
                              struct h1_head *out, struct h1_error *err)
{
    size_t p = s;
    while (p < e && is_tchar((unsigned char)buf[p]))
        p++;
    if (p == s || p == e || buf[p] != ' ')
        return fail(err, 400, "malformed request line");
    out->method = slice(s, p);

    size_t t = ++p;
    while (p < e && buf[p] != ' ')
        p++;
    if (p == e)
        return fail(err, 400, "malformed request line");
    if (check_target(buf + t, p - t, err) != H1_OK)
        return H1_ERROR;
    out->target = slice(t, p);
    return parse_version(buf + p + 1, e - p - 1, out, err);
}

/* --- header fields --- */

/* What the framing-relevant fields said, judged once all are read. */
struct framing {
    int64_t content_length;   /* -1 until one is seen */
    unsigned te_fields;       /* Transfer-Encoding field lines */
    bool te_chunked;          /* the last one was exactly "chunked" */
    unsigned host_fields;
    bool conn_close, conn_keep_alive;
    bool expect_continue;
};

/* Several values are allowed only if identical (RFC 9110 8.6): anything
 * else lets two parsers frame the body differently. */
static int parse_content_length(const char *v, size_t n, int64_t *cl,
                                struct h1_error *err)
{
    size_t i = 0;
    for (;;) {
        while (i < n && is_ows((unsigned char)v[i]))
            i++;
        size_t start = i;
        int64_t val = 0;
        while (i < n && is_digit((unsigned char)v[i])) {
            if (i - start == MAX_CL_DIGITS)
                return fail(err, 400, "invalid Content-Length");
            val = val * 10 + (v[i++] - '0');
        }
        if (i == start)
            return fail(err, 400, "invalid Content-Length");
        while (i < n && is_ows((unsigned char)v[i]))
            i++;
        if (*cl >= 0 && *cl != val)
            return fail(err, 400, "conflicting Content-Length values");
        *cl = val;
        if (i == n)
            return H1_OK;
        if (v[i++] != ',')
            return fail(err, 400, "invalid Content-Length");
    }
}

static void scan_connection(const char *v, size_t n, struct framing *fr)
{
    size_t i = 0;
    while (i < n) {
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i++;
        while (s < e && is_ows((unsigned char)v[s]))
            s++;
        while (e > s && is_ows((unsigned char)v[e - 1]))
            e--;
        if (eq_nocase(v + s, e - s, "close"))
            fr->conn_close = true;
        else if (eq_nocase(v + s, e - s, "keep-alive"))
            fr->conn_keep_alive = true;
    }
}

/* uri-host [ ":" port ]: reg-name, IP-literal and port characters only, so
 * that no user info, path or whitespace can reach routing or logs. */
static bool valid_host(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (is_alpha(c) || is_digit(c) ||
            (c != '\0' && strchr("-._~%!$&'()*+,;=:[]", c)))
            continue;
        return false;
    }
    return true;
}

/* The fields that decide framing and connection handling; `name` is
 * already lower case, so a length and a memcmp pick it. */
static int apply_header(const char *name, size_t nlen, const char *v,
                        size_t vlen, struct framing *fr, struct h1_error *err)
{
#define IS(lit) (nlen == sizeof lit - 1 && memcmp(name, lit, sizeof lit - 1) == 0)
    switch (nlen) {
    case 14:
        if (IS("content-length"))
            return parse_content_length(v, vlen, &fr->content_length, err);
        break;
    case 17:
        if (IS("transfer-encoding")) {
            fr->te_fields++;
            fr->te_chunked = eq_nocase(v, vlen, "chunked");
        }
        break;
    case 4:
        if (IS("host")) {
            fr->host_fields++;
            if (!valid_host(v, vlen))
                return fail(err, 400, "invalid Host header");
        }
        break;
    case 10:
        if (IS("connection"))
            scan_connection(v, vlen, fr);
        break;
    case 6:
        if (IS("expect") && eq_nocase(v, vlen, "100-continue"))
            fr->expect_continue = true;
        break;
    default:
        break;
    }
    return H1_OK;
#undef IS
}

/* field-name ":" OWS field-value OWS, in buf[s..e); the name is
 * lower-cased in place. */
static int parse_header_line(char *buf, size_t s, size_t e,
                             struct h1_header *h, struct h1_error *err)
{
    if (is_ows((unsigned char)buf[s]))
        return fail(err, 400, "obsolete line folding in header");
    size_t p = s;
    while (p < e && is_tchar((unsigned char)buf[p])) {
        buf[p] = (char)to_lower((unsigned char)buf[p]);
        p++;
    }
    if (p == e)
        return fail(err, 400, "header line without a colon");
    if (is_ows((unsigned char)buf[p]))
        return fail(err, 400, "whitespace in header field name");
    if (buf[p] != ':')
        return fail(err, 400, "invalid character in header field name");
    if (p == s)
        return fail(err, 400, "empty header field name");

    size_t vs = p + 1, ve = e;
    while (vs < ve && is_ows((unsigned char)buf[vs]))
        vs++;
    while (ve > vs && is_ows((unsigned char)buf[ve - 1]))
        ve--;
    for (size_t i = vs; i < ve; i++) {
        if (!is_field_byte((unsigned char)buf[i]))
            return fail(err, 400, "invalid character in header value");
    }
    h->name = slice(s, p);
    h->value = slice(vs, ve);
    return H1_OK;
}

/* Decide framing and connection handling from what the fields said. */
static int finish_head(const struct framing *fr, struct h1_head *out,
                       struct h1_error *err)
{
    bool http11 = out->version_minor == 1;

    if (fr->te_fields && fr->content_length >= 0)
        return fail(err, 400, "both Content-Length and Transfer-Encoding");
    /* RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
     * framing, whatever else it says. */
    if (fr->te_fields && !http11)
        return fail(err, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (fr->te_fields && (fr->te_fields > 1 || !fr->te_chunked))
        return fail(err, 501, "transfer coding not supported");
    if (fr->host_fields > 1)
        return fail(err, 400, "duplicate Host header");
    if (http11 && fr->host_fields == 0)
        return fail(err, 400, "missing Host header");

    out->content_length = fr->content_length;
    out->chunked = fr->te_fields == 1;
    if (http11)
        out->keep_alive = !fr->conn_close;
    else
        out->keep_alive = fr->conn_keep_alive && !fr->conn_close;
    /* RFC 9110 10.1.1: a 100-continue from an HTTP/1.0 client is ignored. */
    out->expect_continue = http11 && fr->expect_continue;
    return H1_OK;
}

static void head_reset(char *buf, struct h1_head *out)
{
    out->buf = buf;
    out->method = out->target = slice(0, 0);
    out->version_minor = 0;
    out->nheaders = 0;
    out->content_length = -1;
    out->chunked = false;
    out->keep_alive = false;
    out->expect_continue = false;
}

static int parse_fields(char *buf, size_t len, size_t pos, struct h1_head *out,
                        struct framing *fr, struct h1_error *err)
{
    for (;;) {
        size_t s, e;
        if (next_line(buf, len, &pos, &s, &e, err) != H1_OK)
            return H1_ERROR;
        if (s == e)
            return H1_OK;
        if (out->nheaders == H1_MAX_HEADERS)
            return fail(err, 431, "too many header fields");
        struct h1_header *h = &out->headers[out->nheaders];
        if (parse_header_line(buf, s, e, h, err) != H1_OK ||
            apply_header(buf + h->name.off, h->name.len, buf + h->value.off,
                         h->value.len, fr, err) != H1_OK)
            return H1_ERROR;
        out->nheaders++;
    }
}

int h1_parse_head(char *buf, size_t len, struct h1_head *out,
                  struct h1_error *err)
{
    struct framing fr = { .content_length = -1 };
    size_t pos = 0, s, e;

    head_reset(buf, out);
    if (len > UINT32_MAX)
        return fail(err, 431, "request head too large");
    if (len == 0)
        return fail(err, 400, "empty request head");
    if (skip_empty_lines(buf, len, &pos, err) != H1_OK ||
        next_line(buf, len, &pos, &s, &e, err) != H1_OK ||
        parse_request_line(buf, s, e, out, err) != H1_OK ||
        parse_fields(buf, len, pos, out, &fr, err) != H1_OK)
        return H1_ERROR;
    return finish_head(&fr, out, err);
}

const char *h1_head_get(const struct h1_head *h, const char *name,
                        size_t *vlen)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct h1_header *hd = &h->headers[i];
        if (hd->name.len == n && memcmp(h->buf + hd->name.off, name, n) == 0) {
            if (vlen)
                *vlen = hd->value.len;
            return h->buf + hd->value.off;
        }
    }
    if (vlen)
        *vlen = 0;
    return NULL;
}

/* --- chunked bodies (RFC 9112 7.1) --- */

enum chunk_state {
    CS_SIZE = 0,      /* chunk-size digits; 0 so that zeroing initialises */
    CS_SIZE_BWS,      /* blanks after the size: only a ';' may follow */
    CS_EXT,           /* chunk extensions, skipped up to CR */
    CS_SIZE_LF,       /* the size line's CR seen */
    CS_DATA,
    CS_DATA_CR,
    CS_DATA_LF,
    CS_TRAILER_START, /* a trailer field or the final CRLF */
    CS_TRAILER_NAME,
    CS_TRAILER_VALUE,
    CS_TRAILER_LF,
    CS_FINAL_LF,
    CS_DONE,
    CS_FAILED,
};

void h1_chunked_init(struct h1_chunked *c)
{
    memset(c, 0, sizeof *c);
    c->state = CS_SIZE;
}

static int step_size(struct h1_chunked *c, unsigned char b, struct h1_error *err)
{
    int v = hex_value(b);
    if (v >= 0) {
        if (c->line_len == MAX_CHUNK_HEX_DIGITS)
            return fail(err, 400, "chunk size too large");
        c->remaining = (c->remaining << 4) | (uint64_t)v;
        return H1_OK;
    }
    if (c->line_len == 0)
        return fail(err, 400, "malformed chunk size");
    if (b == '\r')
        c->state = CS_SIZE_LF;
    else if (b == ';')
        c->state = CS_EXT;
    else if (is_ows(b))
        c->state = CS_SIZE_BWS;
    else
        return fail(err, 400, "malformed chunk size");
    return H1_OK;
}

/* The rest of the size line after its digits. */
static int step_size_tail(struct h1_chunked *c, unsigned char b,
                          struct h1_error *err)
{
    if (c->state == CS_SIZE_BWS) {
        if (b == ';')
            c->state = CS_EXT;
        else if (!is_ows(b))
            return fail(err, 400, "malformed chunk size");
        return H1_OK;
    }
    if (b == '\r')
        c->state = CS_SIZE_LF;
    else if (!is_field_byte(b))
        return fail(err, 400, "invalid character in chunk extension");
    return H1_OK;
}

/* A byte of the size line: bounded, then judged by state. In CS_SIZE,
 * line_len is the number of digits so far. */
static int step_size_line(struct h1_chunked *c, unsigned char b,
                          struct h1_error *err)
{
    if (b != '\r' && c->line_len == MAX_SIZE_LINE)
        return fail(err, 400, "chunk size line too long");
    int rv = c->state == CS_SIZE ? step_size(c, b, err)
                                 : step_size_tail(c, b, err);
    c->line_len++; /* the CR too: harmless, the LF resets it */
    return rv;
}

static int end_size_line(struct h1_chunked *c, unsigned char b,
                         struct h1_error *err)
{
    if (b != '\n')
        return fail(err, 400, "chunk size line not ended by CRLF");
    c->line_len = 0;
    c->state = c->remaining == 0 ? CS_TRAILER_START : CS_DATA;
    return H1_OK;
}

static int step_after_data(struct h1_chunked *c, unsigned char b,
                           struct h1_error *err)
{
    if (c->state == CS_DATA_CR) {
        if (b != '\r')
            return fail(err, 400, "chunk data not followed by CRLF");
        c->state = CS_DATA_LF;
        return H1_OK;
    }
    if (b != '\n')
        return fail(err, 400, "chunk data not followed by CRLF");
    c->state = CS_SIZE;
    c->remaining = 0;
    return H1_OK;
}

/* Trailer fields are discarded, but checked enough that a line boundary
 * cannot be hidden in them: tchar name, ':', field bytes, CRLF. */
static int step_trailer(struct h1_chunked *c, unsigned char b,
                        struct h1_error *err)
{
    if (++c->trailer_bytes > MAX_TRAILER_BYTES)
        return fail(err, 400, "chunked trailer section too large");
    switch (c->state) {
    case CS_TRAILER_START:
        if (b == '\r')
            c->state = CS_FINAL_LF;
        else if (is_tchar(b))
            c->state = CS_TRAILER_NAME;
        else
            return fail(err, 400, "malformed trailer field");
        return H1_OK;
    case CS_TRAILER_NAME:
        if (b == ':')
            c->state = CS_TRAILER_VALUE;
        else if (!is_tchar(b))
            return fail(err, 400, "malformed trailer field");
        return H1_OK;
    case CS_TRAILER_VALUE:
        if (b == '\r')
            c->state = CS_TRAILER_LF;
        else if (!is_field_byte(b))
            return fail(err, 400, "malformed trailer field");
        return H1_OK;
    default: /* CS_TRAILER_LF, CS_FINAL_LF */
        if (b != '\n')
            return fail(err, 400, "trailer line not ended by CRLF");
        c->state = c->state == CS_FINAL_LF ? CS_DONE : CS_TRAILER_START;
        return H1_OK;
    }
}

/* One framing byte (anything but chunk data). */
static int chunk_step(struct h1_chunked *c, unsigned char b, struct h1_error *err)
{
    switch (c->state) {
    case CS_SIZE:
    case CS_SIZE_BWS:
    case CS_EXT:
        return step_size_line(c, b, err);
    case CS_SIZE_LF:
        return end_size_line(c, b, err);
    case CS_DATA_CR:
    case CS_DATA_LF:
        return step_after_data(c, b, err);
    case CS_TRAILER_START:
    case CS_TRAILER_NAME:
    case CS_TRAILER_VALUE:
    case CS_TRAILER_LF:
    case CS_FINAL_LF:
        return step_trailer(c, b, err);
    default:
        return fail(err, 400, "malformed chunked body");
    }
}

int h1_chunked_feed(struct h1_chunked *c, const char *in, size_t len,
                    size_t *consumed, const char **data, size_t *data_len,
                    struct h1_error *err)
{
    size_t i = 0;

    *consumed = 0;
    *data = NULL;
    *data_len = 0;
    if (c->state == CS_FAILED)
        return fail(err, 400, "malformed chunked body");
    while (i < len && c->state != CS_DONE) {
        if (c->state == CS_DATA) {
            size_t n = len - i;
            if ((uint64_t)n > c->remaining)
                n = (size_t)c->remaining;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = CS_DATA_CR;
            *data = in + i;
            *data_len = n;
            *consumed = i + n;
            return H1_INCOMPLETE;
        }
        if (chunk_step(c, (unsigned char)in[i++], err) != H1_OK) {
            c->state = CS_FAILED;
            *consumed = i;
            return H1_ERROR;
        }
    }
    *consumed = i;
    return c->state == CS_DONE ? H1_OK : H1_INCOMPLETE;
}
