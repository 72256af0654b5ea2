/*
 * restore: put originals back into tool_use input, in an SSE stream or a
 * JSON answer (issue 17; the map comes from scrub.c).
 *
 * Two layers. The outer one finds the bytes that may change: in a stream,
 * the partial_json of input_json_delta events of tool_use blocks (every
 * other event is only classified by its name, and passed byte for byte);
 * in an answer, the `input` of tool_use blocks. The inner one, the lexer,
 * reads that tool input as JSON text, cut anywhere between pieces: it
 * tracks strings and escapes, decodes string characters only to match
 * placeholders of the map, and writes each match's value escaped for the
 * string it stands in, so the tool input stays valid JSON.
 *
 * Never: change a byte outside a tool_use block's input, hold back more
 * than restore_map_hold_bound() bytes of it, or log.
 */
#include <assert.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore.h"

#define MAP_MAGIC 0x52534d50u /* "RSMP" */
#define SSE_MAGIC 0x52535345u /* "RSSE" */

/* ---- buffers ------------------------------------------------------------ */

static int buf_reserve(struct restore_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX - b->len)
        return RESTORE_E_NOMEM;
    size_t need = b->len + extra, n = b->cap ? b->cap : 256;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return RESTORE_E_NOMEM;
        n *= 2;
    }
    uint8_t *p = realloc(b->data, n);
    if (!p)
        return RESTORE_E_NOMEM;
    b->data = p;
    b->cap = n;
    return 0;
}

int restore_buf_append(struct restore_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < 0)
        return RESTORE_E_NOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void restore_buf_free(struct restore_buf *b)
{
    free(b->data);
    *b = (struct restore_buf){ 0 };
}

/* For buffers that held restored values. */
static void buf_wipe_free(struct restore_buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    restore_buf_free(b);
}

static int append_str(struct restore_buf *b, const char *s)
{
    return restore_buf_append(b, s, strlen(s));
}

/* Bytes escaped for the inside of a JSON string: quote, backslash and
 * control characters; a lone surrogate that decode_str() kept as three
 * WTF-8 bytes goes back to its \u escape. Everything else as it is. */
static int append_escaped(struct restore_buf *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        /* ED A0..BF 80..BF: a surrogate half (WTF-8), written back as its
         * escape; anything else after ED is not one and passes as it is */
        bool lone = c == 0xED && i + 2 < n && p[i + 1] >= 0xA0 && p[i + 1] <= 0xBF &&
                    (p[i + 2] & 0xC0) == 0x80;
        if (c >= 0x20 && c != '"' && c != '\\' && !lone)
            continue;
        if (restore_buf_append(b, p + from, i - from) < 0)
            return RESTORE_E_NOMEM;
        char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
        size_t k = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        default: k = 6;
        }
        if (lone) {
            unsigned cu = 0xD000u | (unsigned)(p[i + 1] & 0x3F) << 6 | (p[i + 2] & 0x3F);
            e[2] = 'd';
            e[3] = hex[cu >> 8 & 15];
            e[4] = hex[cu >> 4 & 15];
            e[5] = hex[cu & 15];
            i += 2;
        }
        if (restore_buf_append(b, e, k) < 0)
            return RESTORE_E_NOMEM;
        from = i + 1;
    }
    return restore_buf_append(b, p + from, n - from);
}

/* ---- the map ------------------------------------------------------------ */

struct entry {
    const char *ph;
    size_t ph_len;
    const uint8_t *value;
    size_t value_len;
    uint32_t det;
    size_t order;       /* its place in the input: the first of equal ones wins */
    uint64_t restored;
};

struct restore_map {
    uint32_t magic;
    struct entry *e;    /* sorted by placeholder, bytewise */
    size_t n;
    uint8_t *text;      /* the copies of placeholders and values */
    size_t text_cap;
    size_t longest;     /* the longest placeholder */
};

/* What may stand between a placeholder's < and >. */
static bool ph_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
}

static bool placeholder_shaped(const char *p, size_t n)
{
    if (n < 3 || n > RESTORE_PLACEHOLDER_MAX || p[0] != '<' || p[n - 1] != '>')
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!ph_char((unsigned char)p[i]))
            return false;
    return true;
}

/* Bytewise, a prefix before what it begins. */
static int ph_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int d = memcmp(a, b, an < bn ? an : bn);
    if (d)
        return d;
    return an < bn ? -1 : an > bn;
}

static int entry_cmp(const void *x, const void *y)
{
    const struct entry *a = x, *b = y;
    int d = ph_cmp(a->ph, a->ph_len, b->ph, b->ph_len);
    return d ? d : a->order < b->order ? -1 : a->order > b->order;
}

/* Copy the entries that may be placeholders; sort; drop repeats. */
static void map_fill(struct restore_map *m, const struct scrub_map_entry *entries, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const struct scrub_map_entry *s = &entries[i];
        if (!placeholder_shaped(s->placeholder, s->placeholder_len))
            continue;
        char *t = (char *)m->text + o;
        memcpy(t, s->placeholder, s->placeholder_len);
        if (s->value_len)
            memcpy(t + s->placeholder_len, s->value, s->value_len);
        m->e[m->n++] = (struct entry){ t, s->placeholder_len,
                                       (const uint8_t *)t + s->placeholder_len, s->value_len,
                                       s->det, i, 0 };
        o += s->placeholder_len + s->value_len;
    }
    qsort(m->e, m->n, sizeof *m->e, entry_cmp);
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (k && ph_cmp(m->e[k - 1].ph, m->e[k - 1].ph_len, m->e[i].ph, m->e[i].ph_len) == 0)
            continue;
        m->e[k++] = m->e[i];
        if (m->e[i].ph_len > m->longest)
            m->longest = m->e[i].ph_len;
    }
    m->n = k;
}

struct restore_map *restore_map_new(const struct scrub_map_entry *entries, size_t n)
{
    struct restore_map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->magic = MAP_MAGIC;
    size_t text = 0;
    for (size_t i = 0; i < n; i++) {
        if (!placeholder_shaped(entries[i].placeholder, entries[i].placeholder_len))
            continue;
        size_t k = entries[i].placeholder_len + entries[i].value_len;
        if (entries[i].value_len > SIZE_MAX - 256 || k > SIZE_MAX - text)
            goto fail;
        text += k;
    }
    m->e = calloc(n ? n : 1, sizeof *m->e);
    m->text = malloc(text ? text : 1);
    if (!m->e || !m->text)
        goto fail;
    m->text_cap = text ? text : 1;
    map_fill(m, entries, n);
    return m;
fail:
    restore_map_free(m);
    return NULL;
}

void restore_map_free(struct restore_map *m)
{
    if (!m)
        return;
    assert(m->magic == MAP_MAGIC);
    if (m->text)
        OPENSSL_cleanse(m->text, m->text_cap);
    free(m->text);
    free(m->e);
    m->magic = 0;
    free(m);
}

size_t restore_map_size(const struct restore_map *m)
{
    return m->n;
}

/* The first entry not before k[0..n). */
static size_t lower_bound(const struct restore_map *m, const char *k, size_t n)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ph_cmp(m->e[mid].ph, m->e[mid].ph_len, k, n) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Does some placeholder begin with k[0..n)? Those that do are the run
 * starting at k's lower bound. */
static bool map_prefix(const struct restore_map *m, const char *k, size_t n)
{
    size_t i = lower_bound(m, k, n);
    return i < m->n && m->e[i].ph_len >= n && memcmp(m->e[i].ph, k, n) == 0;
}

static struct entry *map_exact(const struct restore_map *m, const char *k, size_t n)
{
    size_t i = lower_bound(m, k, n);
    if (i < m->n && m->e[i].ph_len == n && memcmp(m->e[i].ph, k, n) == 0)
        return &m->e[i];
    return NULL;
}

int restore_map_lookup(const struct restore_map *m, const char *ph, size_t n,
                       const uint8_t **value, size_t *vlen)
{
    const struct entry *e = map_exact(m, ph, n);
    if (!e)
        return -1;
    *value = e->value;
    *vlen = e->value_len;
    return 0;
}

size_t restore_map_hold_bound(const struct restore_map *m)
{
    return m->longest ? 6 * m->longest - 1 : 5;
}

void restore_map_count_by_detector(const struct restore_map *m, uint64_t *per_det,
                                   size_t ndet)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].det < ndet)
            per_det[m->e[i].det] += m->e[i].restored;
}

/* ---- the lexer: tool input JSON text, in pieces ------------------------- */

enum lex_state {
    LX_OUT = 0, /* between tokens */
    LX_STR,     /* in a string */
    LX_ESC,     /* after its backslash */
    LX_HEX,     /* in \uXXXX */
    LX_LOST,    /* not JSON text: the rest passes as it is */
};

/* One tool input's state. Surrogate pairs need no pairing here: no half of
 * one can be part of a placeholder, so each \uD8xx / \uDCxx is a character
 * that ends a candidate and passes as written. */
struct inner {
    uint8_t state;
    uint8_t esc_len;            /* raw bytes of the escape being read */
    uint8_t esc[6];
    uint16_t cu;                /* its code unit so far */
    bool holding;               /* cand begins a placeholder of the map: its
                                   raw bytes wait in held */
    size_t cand_len;            /* 0: no candidate */
    char cand[RESTORE_PLACEHOLDER_MAX]; /* decoded, from its '<' */
    struct restore_buf held;
};

struct lex {
    struct restore_map *map;
    struct restore_stats *st;
    struct restore_buf *out;
};

static int emit(struct lex *x, const void *p, size_t n)
{
    return restore_buf_append(x->out, p, n);
}

/* The candidate is not (or no longer) the start of a placeholder of the
 * map: what was held goes out as it came. */
static int release(struct lex *x, struct inner *in)
{
    int rc = emit(x, in->held.data, in->held.len);
    in->held.len = 0;
    in->holding = false;
    return rc;
}

static int drop_candidate(struct lex *x, struct inner *in)
{
    in->cand_len = 0;
    return in->holding ? release(x, in) : 0;
}

/* <LABEL_N> or <LABEL_HMAC:XXXXXXXX>, LABEL of [A-Z0-9_]+ (c holds only
 * ph_char()s between its < and >). */
static bool syntax_ok(const char *c, size_t n)
{
    const char *b = c + 1;
    size_t k = n - 2;
    const char *colon = memchr(b, ':', k);
    if (colon) {
        size_t pre = (size_t)(colon - b);
        if (pre < 6 || k - pre - 1 != 8 || memcmp(colon - 5, "_HMAC", 5) != 0)
            return false;
        for (size_t i = pre + 1; i < k; i++)
            if (!((b[i] >= '0' && b[i] <= '9') || (b[i] >= 'A' && b[i] <= 'F')))
                return false;
        return true;
    }
    size_t d = k;
    while (d > 0 && b[d - 1] >= '0' && b[d - 1] <= '9')
        d--;
    return d < k && d >= 2 && b[d - 1] == '_';
}

/* A '>' after the candidate: a placeholder of the map becomes its value,
 * escaped for the string it is in; any other passes as written. */
static int close_candidate(struct lex *x, struct inner *in, const uint8_t *raw, size_t n)
{
    size_t k = in->cand_len;
    in->cand[k++] = '>';
    in->cand_len = 0;
    struct entry *e = in->holding ? map_exact(x->map, in->cand, k) : NULL;
    if (e) {
        in->held.len = 0;
        in->holding = false;
        e->restored++;
        x->st->restored++;
        return append_escaped(x->out, e->value, e->value_len);
    }
    if (syntax_ok(in->cand, k))
        x->st->unknown++;
    if (in->holding && release(x, in) < 0)
        return RESTORE_E_NOMEM;
    return emit(x, raw, n);
}

static int grow_candidate(struct lex *x, struct inner *in, const uint8_t *raw, size_t n,
                          int ch)
{
    in->cand[in->cand_len++] = (char)ch;
    if (in->holding && map_prefix(x->map, in->cand, in->cand_len))
        return restore_buf_append(&in->held, raw, n);
    if (in->holding && release(x, in) < 0)
        return RESTORE_E_NOMEM;
    return emit(x, raw, n);
}

/* One character of a string, raw[0..n) as written; ch its value if ASCII,
 * -1 if not. The candidate is followed even when the map has no
 * placeholder it could begin (nothing held then), to count unknown ones. */
static int lex_char(struct lex *x, struct inner *in, const uint8_t *raw, size_t n, int ch)
{
    if (in->cand_len) {
        if (ch == '>')
            return close_candidate(x, in, raw, n);
        if (ph_char(ch) && in->cand_len + 1 < RESTORE_PLACEHOLDER_MAX)
            return grow_candidate(x, in, raw, n, ch);
        if (drop_candidate(x, in) < 0)
            return RESTORE_E_NOMEM;
    }
    if (ch != '<')
        return emit(x, raw, n);
    in->cand[0] = '<';
    in->cand_len = 1;
    in->holding = map_prefix(x->map, "<", 1);
    return in->holding ? restore_buf_append(&in->held, raw, n) : emit(x, raw, n);
}

/* Not JSON text (a bad escape): stop looking; what was held goes out. */
static int lose(struct lex *x, struct inner *in)
{
    in->state = LX_LOST;
    x->st->blocks_lost++;
    int rc = drop_candidate(x, in);
    if (rc == 0)
        rc = emit(x, in->esc, in->esc_len);
    in->esc_len = 0;
    return rc;
}

static int lex_escape(struct lex *x, struct inner *in, uint8_t c)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    in->esc[in->esc_len++] = c;
    if (c == 'u') {
        in->cu = 0;
        in->state = LX_HEX;
        return 0;
    }
    const char *f = c ? strchr(from, c) : NULL;
    if (!f)
        return lose(x, in);
    in->state = LX_STR;
    in->esc_len = 0;
    return lex_char(x, in, in->esc, 2, (unsigned char)to[f - from]);
}

static int hexval(uint8_t c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int lex_hex(struct lex *x, struct inner *in, uint8_t c)
{
    int v = hexval(c);
    in->esc[in->esc_len++] = c;
    if (v < 0)
        return lose(x, in);
    in->cu = (uint16_t)(in->cu << 4 | (unsigned)v);
    if (in->esc_len < 6)
        return 0;
    in->state = LX_STR;
    in->esc_len = 0;
    return lex_char(x, in, in->esc, 6, in->cu < 0x80 ? in->cu : -1);
}

/* Bytes that end a plain run inside a string. */
static bool string_stop(uint8_t c)
{
    return c == '"' || c == '\\' || c == '<';
}

/* Inside a string at p[*pi]: with no candidate open, plain bytes run out as
 * they are; then one byte: a quote ends the string, a backslash opens an
 * escape, any other is a character. */
static int lex_string(struct lex *x, struct inner *in, const uint8_t *p, size_t n, size_t *pi)
{
    size_t i = *pi;
    if (!in->cand_len) {
        size_t j = i;
        while (j < n && !string_stop(p[j]))
            j++;
        if (emit(x, p + i, j - i) < 0)
            return RESTORE_E_NOMEM;
        *pi = i = j;
        if (i == n)
            return 0;
    }
    uint8_t c = p[i];
    *pi = i + 1;
    if (c == '"') {
        in->state = LX_OUT;
        if (drop_candidate(x, in) < 0)
            return RESTORE_E_NOMEM;
        return emit(x, &c, 1);
    }
    if (c == '\\') {
        in->esc[0] = c;
        in->esc_len = 1;
        in->state = LX_ESC;
        return 0;
    }
    return lex_char(x, in, p + i, 1, c < 0x80 ? c : -1);
}

/* Feed one piece of tool input text; its restored form goes to x->out,
 * except what is held. */
static int lex_feed(struct lex *x, struct inner *in, const uint8_t *p, size_t n)
{
    size_t i = 0;
    int rc = 0;
    while (i < n && rc == 0) {
        switch (in->state) {
        case LX_OUT: {
            const uint8_t *q = memchr(p + i, '"', n - i);
            size_t run = q ? (size_t)(q - p) + 1 - i : n - i;
            rc = emit(x, p + i, run);
            i += run;
            if (q)
                in->state = LX_STR;
            break;
        }
        case LX_STR:
            rc = lex_string(x, in, p, n, &i);
            break;
        case LX_ESC:
            rc = lex_escape(x, in, p[i++]);
            break;
        case LX_HEX:
            rc = lex_hex(x, in, p[i++]);
            break;
        default:
            rc = emit(x, p + i, n - i);
            i = n;
        }
    }
    return rc;
}

/* The input ends (its block stopped, the stream ended): what is held goes
 * out as it came. */
static int lex_flush(struct lex *x, struct inner *in)
{
    int rc = drop_candidate(x, in);
    if (rc == 0)
        rc = emit(x, in->esc, in->esc_len);
    in->esc_len = 0;
    if (in->state == LX_ESC || in->state == LX_HEX)
        in->state = LX_STR;
    return rc;
}

static size_t lex_held(const struct inner *in)
{
    return in->held.len + in->esc_len;
}

/* ---- outer JSON: just enough to find members ---------------------------- */

static size_t skip_ws(const uint8_t *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* Past the string whose quote is at p[i]; 0 if it does not end. A quote
 * ends it unless an odd run of backslashes comes before it. */
static size_t skip_string(const uint8_t *p, size_t n, size_t i)
{
    size_t from = i + 1;
    for (;;) {
        const uint8_t *q = from < n ? memchr(p + from, '"', n - from) : NULL;
        if (!q)
            return 0;
        size_t j = (size_t)(q - p), k = j;
        while (k > i + 1 && p[k - 1] == '\\')
            k--;
        if ((j - k) % 2 == 0)
            return j + 1;
        from = j + 1;
    }
}

static bool scalar_char(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' ||
           c == '.' || c == 'E';
}

/* Past the value at p[i] (not checked for more than its extent); 0 if it
 * does not end. */
static size_t skip_value(const uint8_t *p, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    if (p[i] == '"')
        return skip_string(p, n, i);
    if (p[i] != '{' && p[i] != '[') {
        size_t j = i;
        while (j < n && scalar_char(p[j]))
            j++;
        return j > i ? j : 0;
    }
    size_t depth = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c == '"') {
            if (!(i = skip_string(p, n, i)))
                return 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return 0;
}

static int hex4(const uint8_t *s, size_t avail, uint32_t *out)
{
    uint32_t v = 0;
    if (avail < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int d = hexval(s[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* A code point as UTF-8; a lone surrogate as its three WTF-8 bytes, which
 * append_escaped() turns back into the escape it was. */
static size_t put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* One escape at p[i] (a backslash) into out; raw bytes used, 0 if bad. */
static size_t decode_escape(const uint8_t *p, size_t i, size_t e, uint8_t *out, size_t *olen)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    uint32_t cu, lo;
    if (i + 1 >= e)
        return 0;
    if (p[i + 1] != 'u') {
        const char *f = p[i + 1] ? strchr(from, p[i + 1]) : NULL;
        if (!f)
            return 0;
        out[0] = (uint8_t)to[f - from];
        *olen = 1;
        return 2;
    }
    if (hex4(p + i + 2, e - i - 2, &cu) < 0)
        return 0;
    if (cu >= 0xD800 && cu <= 0xDBFF && i + 12 <= e && p[i + 6] == '\\' &&
        p[i + 7] == 'u' && hex4(p + i + 8, e - i - 8, &lo) == 0 && lo >= 0xDC00 &&
        lo <= 0xDFFF) {
        *olen = put_utf8(out, 0x10000 + ((cu - 0xD800) << 10) + (lo - 0xDC00));
        return 12;
    }
    *olen = put_utf8(out, cu);
    return 6;
}

/* Decode the string content p[s..e) into out (room for e - s bytes: decoding
 * never grows); its length, or SIZE_MAX for a bad escape. */
static size_t decode_str(const uint8_t *p, size_t s, size_t e, uint8_t *out)
{
    size_t o = 0, i = s;
    while (i < e) {
        const uint8_t *bs = memchr(p + i, '\\', e - i);
        size_t run = bs ? (size_t)(bs - p) - i : e - i, olen = 0;
        memcpy(out + o, p + i, run);
        o += run;
        i += run;
        if (i >= e)
            break;
        size_t used = decode_escape(p, i, e, out + o, &olen);
        if (!used)
            return SIZE_MAX;
        i += used;
        o += olen;
    }
    return o;
}

/* Is the string content p[s..e) (decoded) lit? */
static bool str_is(const uint8_t *p, size_t s, size_t e, const char *lit)
{
    size_t k = strlen(lit);
    uint8_t tmp[64];
    if (!memchr(p + s, '\\', e - s))
        return e - s == k && memcmp(p + s, lit, k) == 0;
    if (e - s > sizeof tmp)
        return false;
    size_t n = decode_str(p, s, e, tmp);
    return n == k && memcmp(tmp, lit, k) == 0;
}

/* Is the value p[vs..ve) the string lit? */
static bool value_is(const uint8_t *p, size_t vs, size_t ve, const char *lit)
{
    return p[vs] == '"' && str_is(p, vs + 1, ve - 1, lit);
}

struct member {
    size_t ks, ke;  /* the name's content */
    size_t vs, ve;  /* the value */
};

/* The next member of the object being read, *i past its '{' or past a
 * member: 1 (and *i past its value), 0 at the object's end (*i past '}'),
 * -1 not JSON as expected. */
static int next_member(const uint8_t *p, size_t n, size_t *i, struct member *m)
{
    size_t k = skip_ws(p, n, *i);
    if (k < n && p[k] == ',')
        k = skip_ws(p, n, k + 1);
    if (k < n && p[k] == '}') {
        *i = k + 1;
        return 0;
    }
    size_t ke = k < n && p[k] == '"' ? skip_string(p, n, k) : 0;
    if (!ke)
        return -1;
    m->ks = k + 1;
    m->ke = ke - 1;
    k = skip_ws(p, n, ke);
    if (k >= n || p[k] != ':')
        return -1;
    m->vs = skip_ws(p, n, k + 1);
    m->ve = skip_value(p, n, m->vs);
    if (!m->ve)
        return -1;
    *i = m->ve;
    return 1;
}

/* The first member `key` of the object at p[obj] (after blanks): true with
 * its value's span. */
static bool find_member(const uint8_t *p, size_t n, size_t obj, const char *key, size_t *vs,
                        size_t *ve)
{
    struct member m;
    size_t i = skip_ws(p, n, obj);
    if (i >= n || p[i] != '{')
        return false;
    i++;
    while (next_member(p, n, &i, &m) == 1) {
        if (str_is(p, m.ks, m.ke, key)) {
            *vs = m.vs;
            *ve = m.ve;
            return true;
        }
    }
    return false;
}

/* The member `key` of object obj, a string equal to lit? */
static bool member_is(const uint8_t *p, size_t n, size_t obj, const char *key, const char *lit)
{
    size_t vs, ve;
    return find_member(p, n, obj, key, &vs, &ve) && value_is(p, vs, ve, lit);
}

/* The member "index" of object obj, a block index. */
static bool member_index(const uint8_t *p, size_t n, size_t obj, uint32_t *index)
{
    size_t vs, ve;
    uint64_t v = 0;
    if (!find_member(p, n, obj, "index", &vs, &ve))
        return false;
    for (size_t i = vs; i < ve; i++) {
        if (p[i] < '0' || p[i] > '9' || (v = v * 10 + (uint64_t)(p[i] - '0')) > UINT32_MAX)
            return false;
    }
    *index = (uint32_t)v;
    return true;
}

/* ---- streaming ---------------------------------------------------------- */

struct tool_block {
    uint32_t index;
    struct inner lex;
};

struct restore_sse {
    uint32_t magic;
    struct restore_map *map;
    size_t max_event;
    struct restore_stats st;
    struct restore_buf pend;      /* the event arriving, until its blank line */
    uint8_t last[2];              /* the event's last bytes so far: its blank line
                                     may be cut between reads */
    uint8_t nlast;
    bool passing;                 /* an over-long event goes out as it comes */
    bool raw;                     /* lines end in a bare CR: the rest goes out as it comes */
    bool crlf;                    /* the last event's lines ended in \r\n */
    bool ended;
    struct tool_block *blocks;    /* the open tool_use blocks */
    size_t nblocks;
    struct restore_buf piece;     /* a partial_json, decoded */
    struct restore_buf inner;     /* its restored form */
    struct restore_buf joined;    /* the data lines of an event that has several */
};

/* One complete event, as its lines tell. */
struct event {
    const uint8_t *p;
    size_t n;                     /* blank line included */
    const uint8_t *name;          /* its event field */
    size_t name_len;
    size_t data, data_end, data_next; /* the first data line: value, its end, the
                                         next line */
    size_t ndata;
    bool crlf;
};

struct line {
    size_t s, e, next;            /* content [s, e), without its end of line */
};

static bool line_at(const uint8_t *p, size_t n, size_t i, struct line *l)
{
    if (i >= n)
        return false;
    const uint8_t *nl = memchr(p + i, '\n', n - i);
    l->s = i;
    l->e = nl ? (size_t)(nl - p) : n;
    l->next = nl ? l->e + 1 : n;
    if (l->e > i && p[l->e - 1] == '\r')
        l->e--;
    return true;
}

/* Where the value of field `name` starts on this line, or SIZE_MAX. */
static size_t field_value(const uint8_t *p, const struct line *l, const char *name)
{
    size_t k = strlen(name);
    if (l->e - l->s <= k || memcmp(p + l->s, name, k) != 0 || p[l->s + k] != ':')
        return SIZE_MAX;
    size_t v = l->s + k + 1;
    return v < l->e && p[v] == ' ' ? v + 1 : v;
}

static void event_read(const uint8_t *p, size_t n, struct event *ev)
{
    struct line l;
    *ev = (struct event){ .p = p, .n = n };
    for (size_t i = 0; line_at(p, n, i, &l); i = l.next) {
        size_t v;
        if (i == 0)
            ev->crlf = l.next > l.e + 1;
        if ((v = field_value(p, &l, "event")) != SIZE_MAX) {
            ev->name = p + v;
            ev->name_len = l.e - v;
        } else if ((v = field_value(p, &l, "data")) != SIZE_MAX && ev->ndata++ == 0) {
            ev->data = v;
            ev->data_end = l.e;
            ev->data_next = l.next;
        }
    }
}

static bool name_is(const struct event *ev, const char *name)
{
    size_t k = strlen(name);
    return ev->name_len == k && memcmp(ev->name, name, k) == 0;
}

/* The event's data: its one data line in place, or the lines joined with
 * a line feed as the SSE rules join them. */
static int event_data(struct restore_sse *s, const struct event *ev, const uint8_t **d,
                      size_t *dn)
{
    struct line l;
    if (ev->ndata <= 1) {
        *d = ev->p + ev->data;
        *dn = ev->data_end - ev->data;
        return 0;
    }
    s->joined.len = 0;
    for (size_t i = 0; line_at(ev->p, ev->n, i, &l); i = l.next) {
        size_t v = field_value(ev->p, &l, "data");
        if (v == SIZE_MAX)
            continue;
        if ((s->joined.len && restore_buf_append(&s->joined, "\n", 1) < 0) ||
            restore_buf_append(&s->joined, ev->p + v, l.e - v) < 0)
            return RESTORE_E_NOMEM;
    }
    *d = s->joined.data;
    *dn = s->joined.len;
    return 0;
}

static struct tool_block *find_block(struct restore_sse *s, uint32_t index)
{
    for (size_t i = 0; i < s->nblocks; i++)
        if (s->blocks[i].index == index)
            return &s->blocks[i];
    return NULL;
}

static void note_held(struct restore_sse *s, const struct inner *in)
{
    if (lex_held(in) > s->st.held_max)
        s->st.held_max = lex_held(in);
}

/* An input_json_delta of our own, for bytes held when a block stops. */
static int synthetic_delta(struct restore_sse *s, uint32_t index, bool crlf,
                           struct restore_buf *out)
{
    const char *eol = crlf ? "\r\n" : "\n";
    char head[192];
    snprintf(head, sizeof head,
             "event: content_block_delta%sdata: {\"type\":\"content_block_delta\","
             "\"index\":%u,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"",
             eol, index);
    s->st.events_changed++;
    if (append_str(out, head) < 0 || append_escaped(out, s->inner.data, s->inner.len) < 0 ||
        append_str(out, "\"}}") < 0 || append_str(out, eol) < 0 || append_str(out, eol) < 0)
        return RESTORE_E_NOMEM;
    return 0;
}

/* Send what block b holds, in an event of its own. */
static int flush_block(struct restore_sse *s, struct tool_block *b, bool crlf,
                       struct restore_buf *out)
{
    struct lex x = { s->map, &s->st, &s->inner };
    s->inner.len = 0;
    if (lex_flush(&x, &b->lex) < 0)
        return RESTORE_E_NOMEM;
    return s->inner.len ? synthetic_delta(s, b->index, crlf, out) : 0;
}

static void remove_block(struct restore_sse *s, struct tool_block *b)
{
    buf_wipe_free(&b->lex.held);
    *b = s->blocks[--s->nblocks];
}

/* content_block_start: a tool_use block's input is restored from now on. */
static int on_start(struct restore_sse *s, const struct event *ev, struct restore_buf *out)
{
    const uint8_t *d;
    size_t dn, vs, ve;
    uint32_t index;
    if (event_data(s, ev, &d, &dn) < 0)
        return RESTORE_E_NOMEM;
    if (member_is(d, dn, 0, "type", "content_block_start") && member_index(d, dn, 0, &index) &&
        find_member(d, dn, 0, "content_block", &vs, &ve) &&
        member_is(d, dn, vs, "type", "tool_use")) {
        struct tool_block *b = find_block(s, index);
        if (b) { /* started again: what it held goes first */
            if (flush_block(s, b, ev->crlf, out) < 0)
                return RESTORE_E_NOMEM;
            remove_block(s, b);
        }
        if (s->nblocks == RESTORE_SSE_MAX_BLOCKS) {
            s->st.blocks_lost++;
        } else {
            b = &s->blocks[s->nblocks++];
            *b = (struct tool_block){ .index = index };
        }
    }
    return restore_buf_append(out, ev->p, ev->n);
}

/* Write data text, a line feed in it starting a new data line. */
static int append_data(struct restore_buf *out, const uint8_t *p, size_t n, const char *eol)
{
    const uint8_t *nl;
    while ((nl = n ? memchr(p, '\n', n) : NULL) != NULL) {
        size_t k = (size_t)(nl - p);
        if (restore_buf_append(out, p, k) < 0 || append_str(out, eol) < 0 ||
            append_str(out, "data: ") < 0)
            return RESTORE_E_NOMEM;
        p += k + 1;
        n -= k + 1;
    }
    return restore_buf_append(out, p, n);
}

/* The event again with partial_json (data d[a..b)) now s->inner: its other
 * bytes as they were, the data in the first data line's place. */
static int rebuild(struct restore_sse *s, const struct event *ev, const uint8_t *d,
                   size_t dn, size_t a, size_t b, struct restore_buf *out)
{
    const char *eol = ev->crlf ? "\r\n" : "\n";
    struct line l;
    s->st.events_changed++;
    if (restore_buf_append(out, ev->p, ev->data) < 0 || append_data(out, d, a, eol) < 0 ||
        append_escaped(out, s->inner.data, s->inner.len) < 0 ||
        append_data(out, d + b, dn - b, eol) < 0 ||
        restore_buf_append(out, ev->p + ev->data_end, ev->data_next - ev->data_end) < 0)
        return RESTORE_E_NOMEM;
    for (size_t i = ev->data_next; line_at(ev->p, ev->n, i, &l); i = l.next)
        if (field_value(ev->p, &l, "data") == SIZE_MAX &&
            restore_buf_append(out, ev->p + l.s, l.next - l.s) < 0)
            return RESTORE_E_NOMEM;
    return 0;
}

/* Restore one piece of block b's input: its partial_json's content is
 * d[ps..pe). Unchanged, the event goes out as it came. */
static int restore_piece(struct restore_sse *s, struct tool_block *b, const struct event *ev,
                         const uint8_t *d, size_t dn, size_t ps, size_t pe,
                         struct restore_buf *out)
{
    struct lex x = { s->map, &s->st, &s->inner };
    s->piece.len = s->inner.len = 0;
    if (buf_reserve(&s->piece, pe - ps + 1) < 0)
        return RESTORE_E_NOMEM;
    size_t n = decode_str(d, ps, pe, s->piece.data);
    if (n == SIZE_MAX) { /* not a JSON string: nothing more of this block is known */
        if (flush_block(s, b, ev->crlf, out) < 0)
            return RESTORE_E_NOMEM;
        b->lex.state = LX_LOST;
        s->st.blocks_lost++;
        return restore_buf_append(out, ev->p, ev->n);
    }
    s->piece.len = n;
    if (lex_feed(&x, &b->lex, s->piece.data, n) < 0)
        return RESTORE_E_NOMEM;
    note_held(s, &b->lex);
    if (s->inner.len == n && (n == 0 || memcmp(s->inner.data, s->piece.data, n) == 0))
        return restore_buf_append(out, ev->p, ev->n);
    return rebuild(s, ev, d, dn, ps, pe, out);
}

/* content_block_delta: only a tool block's input_json_delta may change. */
static int on_delta(struct restore_sse *s, const struct event *ev, struct restore_buf *out)
{
    const uint8_t *d;
    size_t dn, vs, ve, ps, pe;
    uint32_t index;
    struct tool_block *b;
    if (event_data(s, ev, &d, &dn) < 0)
        return RESTORE_E_NOMEM;
    if (!member_is(d, dn, 0, "type", "content_block_delta") ||
        !member_index(d, dn, 0, &index) || !(b = find_block(s, index)) ||
        b->lex.state == LX_LOST || !find_member(d, dn, 0, "delta", &vs, &ve) ||
        !member_is(d, dn, vs, "type", "input_json_delta") ||
        !find_member(d, dn, vs, "partial_json", &ps, &pe) || d[ps] != '"')
        return restore_buf_append(out, ev->p, ev->n);
    return restore_piece(s, b, ev, d, dn, ps + 1, pe - 1, out);
}

/* content_block_stop: a tool block's held bytes go just before it. */
static int on_stop(struct restore_sse *s, const struct event *ev, struct restore_buf *out)
{
    const uint8_t *d;
    size_t dn;
    uint32_t index;
    struct tool_block *b;
    if (event_data(s, ev, &d, &dn) < 0)
        return RESTORE_E_NOMEM;
    if (member_is(d, dn, 0, "type", "content_block_stop") && member_index(d, dn, 0, &index) &&
        (b = find_block(s, index)) != NULL) {
        if (flush_block(s, b, ev->crlf, out) < 0)
            return RESTORE_E_NOMEM;
        remove_block(s, b);
    }
    return restore_buf_append(out, ev->p, ev->n);
}

/* One complete event. Only its name is read unless a tool block may be
 * concerned: that keeps text, pings and the rest cheap. */
static int on_event(struct restore_sse *s, const uint8_t *p, size_t n, struct restore_buf *out)
{
    struct event ev;
    event_read(p, n, &ev);
    s->crlf = ev.crlf;
    if (name_is(&ev, "content_block_start"))
        return on_start(s, &ev, out);
    if (s->nblocks && name_is(&ev, "content_block_delta"))
        return on_delta(s, &ev, out);
    if (s->nblocks && name_is(&ev, "content_block_stop"))
        return on_stop(s, &ev, out);
    return restore_buf_append(out, p, n);
}

/* Bytes of p up to and including the blank line that ends the event, or 0.
 * A line ends in \n or \r\n (a bare CR sends the stream raw: bare_cr), so
 * the blank line shows as \n\n or \n\r\n, maybe cut after the event's
 * last bytes so far. */
static size_t event_end(const struct restore_sse *s, const uint8_t *p, size_t n)
{
    if (s->nlast && s->last[s->nlast - 1] == '\n') {
        if (p[0] == '\n')
            return 1;
        if (p[0] == '\r' && n >= 2 && p[1] == '\n')
            return 2;
    }
    if (s->nlast == 2 && s->last[0] == '\n' && s->last[1] == '\r' && p[0] == '\n')
        return 1;
    for (size_t i = 0; i < n;) {
        const uint8_t *q = memchr(p + i, '\n', n - i);
        if (!q)
            return 0;
        size_t j = (size_t)(q - p);
        if (j + 1 < n && p[j + 1] == '\n')
            return j + 2;
        if (j + 2 < n && p[j + 1] == '\r' && p[j + 2] == '\n')
            return j + 3;
        i = j + 1;
    }
    return 0;
}

static void note_last(struct restore_sse *s, const uint8_t *p, size_t n)
{
    if (n >= 2) {
        s->last[0] = p[n - 2];
        s->last[1] = p[n - 1];
        s->nlast = 2;
    } else if (n == 1) {
        if (s->nlast)
            s->last[0] = s->last[s->nlast - 1];
        s->last[s->nlast ? 1 : 0] = p[0];
        s->nlast = s->nlast ? 2 : 1;
    }
}

/* An event over max_event: the open tool blocks send what they hold and
 * are given up (this event may be one of their pieces, unread), then the
 * event goes out as it comes. */
static int start_passing(struct restore_sse *s, struct restore_buf *out)
{
    for (size_t i = 0; i < s->nblocks; i++) {
        struct tool_block *b = &s->blocks[i];
        if (b->lex.state == LX_LOST)
            continue;
        if (flush_block(s, b, s->crlf, out) < 0)
            return RESTORE_E_NOMEM;
        b->lex.state = LX_LOST;
        s->st.blocks_lost++;
    }
    if (restore_buf_append(out, s->pend.data, s->pend.len) < 0)
        return RESTORE_E_NOMEM;
    s->pend.len = 0;
    s->passing = true;
    return 0;
}

/* A CR alone ends a line in SSE, but no Messages stream writes one; rather
 * than hold such a stream's events until it ends (pings included, since no
 * event end is ever seen), the rest of it passes as it comes, its open tool
 * blocks given up. */
static bool bare_cr(const struct restore_sse *s, const uint8_t *p, size_t n)
{
    if (n && s->nlast && s->last[s->nlast - 1] == '\r' && p[0] != '\n')
        return true;
    const uint8_t *end = p + n;
    for (const uint8_t *q = p; (q = memchr(q, '\r', (size_t)(end - q))) != NULL; q++)
        if (q + 1 < end && q[1] != '\n')
            return true;
    return false;
}

/* Bytes of an over-long event: out at once, up to its end. */
static size_t feed_passing(struct restore_sse *s, const uint8_t *in, size_t len,
                           struct restore_buf *out, int *rc)
{
    if (s->raw) {
        *rc = restore_buf_append(out, in, len);
        return len;
    }
    size_t k = event_end(s, in, len), take = k ? k : len;
    *rc = restore_buf_append(out, in, take);
    s->raw = bare_cr(s, in, take); /* as feed_event would have seen it */
    note_last(s, in, take);
    if (k && !s->raw) {
        s->passing = false;
        s->nlast = 0;
    }
    return take;
}

/* Bytes of a normal event: up to its end if it is there, else all. */
static size_t feed_event(struct restore_sse *s, const uint8_t *in, size_t len,
                         struct restore_buf *out, int *rc)
{
    size_t k = event_end(s, in, len);
    size_t have = s->pend.len + (k ? k : len) + (k ? 0 : 1); /* unfinished: one byte to come */
    *rc = 0;
    s->raw = bare_cr(s, in, k ? k : len);
    if (s->raw || have > s->max_event) {
        *rc = start_passing(s, out);
        return *rc ? len : feed_passing(s, in, len, out, rc);
    }
    if (!k) {
        *rc = restore_buf_append(&s->pend, in, len);
        note_last(s, in, len);
        return len;
    }
    if (s->pend.len == 0) {
        *rc = on_event(s, in, k, out);
    } else if ((*rc = restore_buf_append(&s->pend, in, k)) == 0) {
        *rc = on_event(s, s->pend.data, s->pend.len, out);
        s->pend.len = 0;
    }
    s->nlast = 0;
    return k;
}

struct restore_sse *restore_sse_new(struct restore_map *m, size_t max_event)
{
    assert(m && m->magic == MAP_MAGIC);
    struct restore_sse *s = calloc(1, sizeof *s);
    if (!s)
        goto fail;
    s->magic = SSE_MAGIC;
    s->map = m;
    s->max_event = max_event ? max_event : RESTORE_SSE_MAX_EVENT;
    s->blocks = calloc(RESTORE_SSE_MAX_BLOCKS, sizeof *s->blocks);
    if (!s->blocks)
        goto fail;
    return s;
fail:
    restore_sse_free(s);
    return NULL;
}

int restore_sse_feed(struct restore_sse *s, const uint8_t *in, size_t len,
                     struct restore_buf *out)
{
    assert(s && s->magic == SSE_MAGIC && !s->ended);
    int rc = 0;
    while (len && rc == 0) {
        size_t used = s->passing ? feed_passing(s, in, len, out, &rc)
                                 : feed_event(s, in, len, out, &rc);
        in += used;
        len -= used;
    }
    return rc;
}

int restore_sse_end(struct restore_sse *s, struct restore_buf *out)
{
    assert(s && s->magic == SSE_MAGIC && !s->ended);
    s->ended = true;
    for (size_t i = 0; i < s->nblocks; i++)
        if (flush_block(s, &s->blocks[i], s->crlf, out) < 0)
            return RESTORE_E_NOMEM;
    if (restore_buf_append(out, s->pend.data, s->pend.len) < 0)
        return RESTORE_E_NOMEM;
    s->pend.len = 0;
    return 0;
}

const struct restore_stats *restore_sse_stats(const struct restore_sse *s)
{
    assert(s && s->magic == SSE_MAGIC);
    return &s->st;
}

void restore_sse_free(struct restore_sse *s)
{
    if (!s)
        return;
    assert(s->magic == SSE_MAGIC);
    for (size_t i = 0; i < s->nblocks; i++)
        buf_wipe_free(&s->blocks[i].lex.held);
    free(s->blocks);
    buf_wipe_free(&s->pend);
    buf_wipe_free(&s->piece);
    buf_wipe_free(&s->inner);
    buf_wipe_free(&s->joined);
    s->magic = 0;
    free(s);
}

/* ---- a JSON answer ------------------------------------------------------ */

struct answer {
    struct restore_map *map;
    struct restore_stats *st;
    const uint8_t *p;
    size_t n;
    struct restore_buf *out;
    size_t from;                  /* body bytes up to here are in out */
    struct restore_buf tmp;       /* one input restored */
    bool dry;                     /* only check the shape: nothing counted yet */
    bool changed;
};

/* Restore the tool input p[vs..ve); splice it in if it changed. */
static int restore_input(struct answer *a, size_t vs, size_t ve)
{
    struct inner in = { 0 };
    struct lex x = { a->map, a->st, &a->tmp };
    a->tmp.len = 0;
    int rc = lex_feed(&x, &in, a->p + vs, ve - vs);
    if (rc == 0)
        rc = lex_flush(&x, &in);
    buf_wipe_free(&in.held);
    if (rc < 0)
        return rc;
    if (a->tmp.len == ve - vs && memcmp(a->tmp.data, a->p + vs, ve - vs) == 0)
        return 0;
    if (restore_buf_append(a->out, a->p + a->from, vs - a->from) < 0 ||
        restore_buf_append(a->out, a->tmp.data, a->tmp.len) < 0)
        return RESTORE_E_NOMEM;
    a->from = ve;
    a->changed = true;
    return 0;
}

/* One element of content: an object whose type is tool_use has its input
 * restored (the last "input", as a parser keeping the last would read). */
static int restore_block(struct answer *a, size_t obj, size_t end)
{
    struct member m;
    size_t i = obj + 1, in_s = 0, in_e = 0;
    bool tool = false;
    int r;
    while ((r = next_member(a->p, end, &i, &m)) == 1) {
        if (str_is(a->p, m.ks, m.ke, "type"))
            tool = value_is(a->p, m.vs, m.ve, "tool_use");
        else if (str_is(a->p, m.ks, m.ke, "input"))
            in_s = m.vs, in_e = m.ve;
    }
    if (r < 0)
        return RESTORE_E_NOT_JSON;
    return tool && in_e && !a->dry ? restore_input(a, in_s, in_e) : 0;
}

/* The content array p[vs..ve). */
static int restore_content(struct answer *a, size_t vs, size_t ve)
{
    size_t i = vs + 1;
    for (;;) {
        i = skip_ws(a->p, ve, i);
        if (i < ve && a->p[i] == ',')
            i = skip_ws(a->p, ve, i + 1);
        if (i >= ve)
            return RESTORE_E_NOT_JSON;
        if (a->p[i] == ']')
            return 0;
        size_t e = skip_value(a->p, ve, i);
        if (!e)
            return RESTORE_E_NOT_JSON;
        int rc = a->p[i] == '{' ? restore_block(a, i, e) : 0;
        if (rc < 0)
            return rc;
        i = e;
    }
}

static int restore_answer(struct answer *a)
{
    struct member m;
    size_t i = skip_ws(a->p, a->n, 0);
    int r, rc;
    if (i >= a->n || a->p[i] != '{')
        return RESTORE_E_NOT_JSON;
    i++;
    while ((r = next_member(a->p, a->n, &i, &m)) == 1)
        if (str_is(a->p, m.ks, m.ke, "content") && a->p[m.vs] == '[' &&
            (rc = restore_content(a, m.vs, m.ve)) < 0)
            return rc;
    return r < 0 ? RESTORE_E_NOT_JSON : 0;
}

int restore_json(struct restore_map *m, const uint8_t *body, size_t len,
                 struct restore_buf *out, bool *changed, struct restore_stats *st)
{
    assert(m && m->magic == MAP_MAGIC);
    struct restore_stats local = { 0 };
    struct answer a = { .map = m, .st = st ? st : &local, .p = body, .n = len, .out = out };
    size_t base = out->len;
    int rc = RESTORE_E_TOO_BIG;
    *changed = false;
    if (len > RESTORE_JSON_MAX)
        goto done;
    /* the shape first, so that an answer sent unrestored counts nothing */
    a.dry = true;
    if ((rc = restore_answer(&a)) < 0)
        goto done;
    a.dry = false;
    rc = restore_answer(&a);
    if (rc == 0 && a.changed)
        rc = restore_buf_append(out, body + a.from, len - a.from);
    if (rc == 0)
        *changed = a.changed;
done:
    if (!*changed)
        out->len = base;
    buf_wipe_free(&a.tmp);
    return rc;
}
