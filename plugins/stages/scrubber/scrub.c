/*
 * scrub: walk a JSON body, find secrets in its decoded strings, splice
 * placeholders over them (SPEC section 6).
 *
 * One pass validates the body as strict RFC 8259 JSON (UTF-8 included) and
 * scans the strings it may scan; findings are kept as raw byte spans, so the
 * output is the input with only those spans replaced. The walk keeps its own
 * stack (no recursion), so nesting costs heap, not the C stack.
 *
 * A value a detector found only from its context (the password of
 * `DB_PASSWORD=...`) is then looked for in every scanned string and
 * replaced there too (echo_values): Claude Code sends it back elsewhere,
 * where no context names it (the `mysql -p ...` a restored tool call ran).
 *
 * Never: log, keep a found value past the call, or change a byte outside a
 * finding.
 */
#define _GNU_SOURCE /* memmem */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scrub.h"

/* ---- the engine: detectors and the anchor pre-filter ------------------- */

struct anchor {
    const char *text;
    size_t len;
    uint32_t det;
    /* The first four bytes (fewer for a shorter anchor) and the mask that
     * keeps them: most bytes the pair gate lets through fail here, in a
     * register, before any call to memcmp. */
    uint32_t head, head_mask;
};

struct scrub_engine {
    struct scrub_detector *dets;
    size_t ndets;
    uint32_t *label_of;        /* detector -> label number: labels share numbering */
    uint8_t *always;           /* detectors without anchors run on every string */
    size_t anchored;           /* detectors with anchors */
    struct anchor *anchors;    /* sorted by first byte */
    size_t nanchors;
    uint32_t first_idx[257];   /* anchors starting with c: [first_idx[c], first_idx[c+1]) */
    uint8_t gate_single[256];  /* a one-byte anchor is c */
    uint64_t gate[1024];       /* bit c0 << 8 | c1: an anchor starts with c0 c1, or
                                  is the one byte c0 */
    uint64_t gate3[1024];      /* bit triple(c0, c1, c2): an anchor of two bytes or
                                  more starts so (common pairs, "se", "to", "pa",
                                  rarely go on as an anchor does) */
    uint8_t key[SCRUB_KEY_LEN];
    /* byte classes inside a string: 0 plain ASCII, 1 quote, 2 backslash,
     * 3 control character, 4 start of a multi-byte sequence (filled once
     * here: walks run on several worker threads at a time) */
    uint8_t string_class[256];
};

static int anchor_cmp(const void *a, const void *b)
{
    const struct anchor *x = a, *y = b;
    int d = (int)(unsigned char)x->text[0] - (int)(unsigned char)y->text[0];
    if (d)
        return d;
    return x->det < y->det ? -1 : x->det > y->det;
}

static void set_gate(struct scrub_engine *e, uint8_t c0, uint8_t c1)
{
    unsigned idx = (unsigned)c0 << 8 | c1;
    e->gate[idx >> 6] |= (uint64_t)1 << (idx & 63);
}

/* Three bytes to one of 65536 bits: distinct triples may share a bit,
 * which only lets more through to anchors_at(). */
static unsigned triple(uint8_t c0, uint8_t c1, uint8_t c2)
{
    return (((unsigned)c0 << 8 | c1) ^ ((unsigned)c2 * 0x2f5u)) & 0xffffu;
}

static void set_gate3(struct scrub_engine *e, uint8_t c0, uint8_t c1, uint8_t c2)
{
    unsigned idx = triple(c0, c1, c2);
    e->gate3[idx >> 6] |= (uint64_t)1 << (idx & 63);
}

static int engine_index_anchors(struct scrub_engine *e, char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t d = 0; d < e->ndets; d++)
        for (const char *const *a = e->dets[d].anchors; a && *a; a++)
            n++;
    e->anchors = calloc(n ? n : 1, sizeof *e->anchors);
    if (!e->anchors) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t d = 0; d < e->ndets; d++) {
        const char *const *a = e->dets[d].anchors;
        bool any = false;
        for (; a && *a; a++) {
            if (!**a)
                continue; /* an empty anchor filters nothing */
            struct anchor *an = &e->anchors[e->nanchors++];
            *an = (struct anchor){ *a, strlen(*a), (uint32_t)d, 0, 0 };
            size_t h = an->len < 4 ? an->len : 4;
            memcpy(&an->head, an->text, h);
            memset(&an->head_mask, 0xff, h);
            any = true;
        }
        e->always[d] = !any;
        e->anchored += any;
    }
    qsort(e->anchors, e->nanchors, sizeof *e->anchors, anchor_cmp);
    for (size_t i = 0; i < e->nanchors; i++) {
        const struct anchor *a = &e->anchors[i];
        uint8_t c0 = (uint8_t)a->text[0];
        e->first_idx[c0 + 1]++;
        if (a->len == 1) {
            e->gate_single[c0] = 1;
            for (unsigned c1 = 0; c1 < 256; c1++)
                set_gate(e, c0, (uint8_t)c1);
        } else {
            uint8_t c1 = (uint8_t)a->text[1];
            set_gate(e, c0, c1);
            if (a->len > 2)
                set_gate3(e, c0, c1, (uint8_t)a->text[2]);
            else
                for (unsigned c2 = 0; c2 < 256; c2++)
                    set_gate3(e, c0, c1, (uint8_t)c2);
        }
    }
    for (int c = 0; c < 256; c++)
        e->first_idx[c + 1] += e->first_idx[c];
    return 0;
}

static void engine_number_labels(struct scrub_engine *e)
{
    for (size_t d = 0; d < e->ndets; d++) {
        e->label_of[d] = (uint32_t)d;
        for (size_t p = 0; p < d; p++) {
            if (strcmp(e->dets[p].label, e->dets[d].label) == 0) {
                e->label_of[d] = e->label_of[p];
                break;
            }
        }
    }
}

struct scrub_engine *scrub_engine_new(const struct scrub_detector *dets, size_t n,
                                      const uint8_t key[SCRUB_KEY_LEN], char *err,
                                      size_t errlen)
{
    struct scrub_engine *e = calloc(1, sizeof *e);
    if (!e)
        goto nomem;
    e->ndets = n;
    e->dets = calloc(n ? n : 1, sizeof *e->dets);
    e->label_of = calloc(n ? n : 1, sizeof *e->label_of);
    e->always = calloc(n ? n : 1, 1);
    if (!e->dets || !e->label_of || !e->always)
        goto nomem;
    if (n)
        memcpy(e->dets, dets, n * sizeof *dets);
    memcpy(e->key, key, SCRUB_KEY_LEN);
    for (int c = 0; c < 256; c++)
        e->string_class[c] = c < 0x20 ? 3 : c == '"' ? 1 : c == '\\' ? 2 : c >= 0x80 ? 4 : 0;
    engine_number_labels(e);
    if (engine_index_anchors(e, err, errlen) < 0)
        goto fail;
    return e;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    scrub_engine_free(e);
    return NULL;
}

void scrub_engine_free(struct scrub_engine *e)
{
    if (!e)
        return;
    OPENSSL_cleanse(e->key, sizeof e->key);
    free(e->dets);
    free(e->label_of);
    free(e->always);
    free(e->anchors);
    free(e);
}

size_t scrub_engine_detectors(const struct scrub_engine *e)
{
    return e->ndets;
}

int scrub_parse_key(const char *hex, uint8_t key[SCRUB_KEY_LEN])
{
    if (!hex || strlen(hex) != 2 * SCRUB_KEY_LEN)
        return -1;
    for (size_t i = 0; i < SCRUB_KEY_LEN; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            int x = c >= '0' && c <= '9' ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (x < 0)
                return -1;
            v = v * 16 + x;
        }
        key[i] = (uint8_t)v;
    }
    return 0;
}

/* ---- growable buffers --------------------------------------------------- */

static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem)
            return -1;
        n *= 2;
    }
    void *p = realloc(*buf, n * elem);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* ---- the walk ----------------------------------------------------------- */

/* What the key of an object member means to the scrubber. */
enum key_kind {
    KEY_PLAIN = 0,
    KEY_SKIP,      /* skip-set or structure key: the whole value is left alone */
    KEY_TYPE,      /* "type": skipped, and read for what it says of the object */
    KEY_DATA,      /* "data": deferred until the object's "type" is known */
    KEY_ID,        /* "id": deferred likewise (a tool_use block's id stays) */
    KEY_TOOLS,     /* "tools": an array of tool definitions */
    KEY_TOOL_DOC,  /* "name"/"description" directly in a tool definition */
    KEY_SYSTEM,    /* the request's "system" */
    KEY_TEXT,      /* "text" of the first system block: maybe the attribution */
};

/* Claude Code's attribution block, first in "system": the API strips it by
 * position and content, so it must arrive as sent. */
#define ATTRIBUTION_PREFIX "x-anthropic-billing-header:"

/* A string member whose scanning waits for the object's "type". */
struct deferred {
    size_t off, end;       /* raw content span */
    uint8_t present;
};

struct frame {
    size_t key_off;        /* objects: raw span of the current key */
    uint32_t key_len;
    uint32_t index;        /* arrays: the current element */
    struct deferred data;  /* "data": left in base64 and redacted_thinking blocks */
    struct deferred id;    /* "id": left in tool_use blocks */
    uint8_t is_obj;
    uint8_t skip;          /* the whole container is left alone */
    uint8_t tools_array;   /* the array under "tools" */
    uint8_t tool_def;      /* an object directly in a tools array */
    uint8_t system_array;  /* the array under the request's "system" */
    uint8_t first_system;  /* the object system[0] */
    uint8_t keep_data;     /* "type" is "base64" or "redacted_thinking" */
    uint8_t keep_id;       /* "type" ends in "tool_use" */
    uint8_t key_kind;
};

struct span {
    size_t s, e;
    uint32_t det;
};

/* Values shorter than this are not looked for again (see echo_values), so
 * strings shorter than this (raw) are not kept for it: a body of many tiny
 * strings does not grow the list. */
#define ECHO_MIN 4

/* A string the detectors scanned, raw content span: where echoes of a found
 * value are looked for once the walk is over. */
struct scanned {
    size_t s, e;
    uint8_t esc;
};

/* A value to look for again in every scanned string (see echo_values). */
struct echo {
    size_t voff;           /* in the walk's value arena (it may move) */
    uint32_t vlen;
    uint32_t det;
};

struct finding {
    size_t rs, re;       /* raw span in the body (observe: the string's start) */
    size_t voff;         /* decoded value in the value arena (observe: none) */
    uint32_t vlen;
    uint32_t det;
    size_t path;         /* offset of its path in the path arena */
    uint32_t number;     /* placeholder number, or the HMAC's first 4 bytes */
    uint8_t observed;    /* an observe detector's: counted, never replaced */
};

enum walk_rc { W_OK = 0, W_BAD, W_DEEP, W_FAIL };

struct walk {
    const struct scrub_engine *e;
    const uint8_t *p;
    size_t len, pos;
    struct frame *frames;
    size_t depth, frames_cap;
    char *dec;                     /* a decoded string */
    size_t dec_cap;
    struct span *kept, *tmp;       /* one string's matches */
    size_t nkept, kept_cap, ntmp, tmp_cap;
    uint32_t *seen;                /* one string's observe findings, by detector */
    size_t nseen, seen_cap;
    uint8_t *flag;                 /* per detector: may match this string */
    struct finding *f;
    size_t nf, f_cap;
    char *values;                  /* found values, for "same value, same placeholder" */
    size_t values_len, values_cap;
    char *paths;                   /* NUL-terminated JSON paths */
    size_t paths_len, paths_cap;
    struct scanned *strs;          /* every string scanned, in walk order */
    size_t nstrs, strs_cap;
    char *err;
    size_t errlen;
};

static enum walk_rc bad(struct walk *w, const char *what)
{
    snprintf(w->err, w->errlen, "not strict JSON at byte %zu: %s", w->pos, what);
    return W_BAD;
}

static enum walk_rc failed(struct walk *w, const char *what)
{
    snprintf(w->err, w->errlen, "%s", what);
    return W_FAIL;
}

static void skip_ws(struct walk *w)
{
    while (w->pos < w->len) {
        uint8_t c = w->p[w->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        w->pos++;
    }
}

/* Length of the valid UTF-8 sequence at s (not an ASCII byte), or 0. */
static size_t utf8_seq(const uint8_t *s, size_t avail)
{
    uint8_t c = s[0];
    size_t n;
    uint32_t min;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; min = 0x80; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; min = 0x800; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; min = 0x10000; cp = c & 0x07; }
    else return 0;
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static int hexval(uint8_t c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int hex4(const uint8_t *s, size_t avail, uint32_t *out)
{
    if (avail < 4)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int x = hexval(s[i]);
        if (x < 0)
            return -1;
        v = v << 4 | (uint32_t)x;
    }
    *out = v;
    return 0;
}

/* Does any of these 8 bytes need a look (quote, backslash, control
 * character, non-ASCII)? Word-at-a-time tests: a byte equal to x shows as
 * a zero byte of v ^ x; false positives only above a true one. */
static inline bool special8(const uint8_t *p)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t v;
    memcpy(&v, p, 8);
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v) | v;
    return (hit & high) != 0;
}

/* Check the string starting at the quote at w->pos; leave w->pos past its
 * closing quote, with [*cs, *ce) the raw content and *esc set if it has
 * escapes. */
static enum walk_rc parse_string(struct walk *w, size_t *cs, size_t *ce, bool *esc)
{
    const uint8_t *cls = w->e->string_class;
    const uint8_t *p = w->p;
    size_t i = w->pos + 1, n = w->len;
    *cs = i;
    *esc = false;
    for (;;) {
        while (i + 8 <= n && !special8(p + i))
            i += 8;
        while (i < n && cls[p[i]] == 0)
            i++;
        if (i >= n) {
            w->pos = i;
            return bad(w, "unterminated string");
        }
        switch (cls[p[i]]) {
        case 1:
            *ce = i;
            w->pos = i + 1;
            return W_OK;
        case 2: {
            *esc = true;
            if (i + 1 >= n)
                break;
            uint8_t c = p[i + 1];
            uint32_t cp;
            if (c == 'u') {
                if (hex4(p + i + 2, n - i - 2, &cp) < 0) {
                    w->pos = i;
                    return bad(w, "bad \\u escape");
                }
                i += 6;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
                       c == 'n' || c == 'r' || c == 't') {
                i += 2;
            } else {
                w->pos = i;
                return bad(w, "bad escape");
            }
            continue;
        }
        case 3:
            w->pos = i;
            return bad(w, "control character in string");
        default: {
            size_t k = utf8_seq(p + i, n - i);
            if (!k) {
                w->pos = i;
                return bad(w, "invalid UTF-8");
            }
            i += k;
            continue;
        }
        }
        w->pos = i;
        return bad(w, "unterminated string");
    }
}

/* One escape at raw[i] (a backslash): its decoded bytes into out (up to 4),
 * their count in *olen; returns how many raw bytes it spans. A surrogate
 * pair is one unit; a lone surrogate decodes as U+FFFD. */
static size_t decode_escape(const uint8_t *raw, size_t i, size_t end, char out[4],
                            size_t *olen)
{
    uint8_t c = raw[i + 1];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (c != 'u') {
        out[0] = to[strchr(from, c) - from];
        *olen = 1;
        return 2;
    }
    uint32_t cp, lo;
    size_t used = 6;
    hex4(raw + i + 2, end - i - 2, &cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (i + 12 <= end && raw[i + 6] == '\\' && raw[i + 7] == 'u' &&
            hex4(raw + i + 8, end - i - 8, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            used = 12;
        } else {
            cp = 0xFFFD;
        }
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        cp = 0xFFFD;
    }
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) { o[0] = (uint8_t)cp; *olen = 1; }
    else if (cp < 0x800) { o[0] = (uint8_t)(0xC0 | cp >> 6); o[1] = (uint8_t)(0x80 | (cp & 0x3F)); *olen = 2; }
    else if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12); o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F)); *olen = 3;
    } else {
        o[0] = (uint8_t)(0xF0 | cp >> 18); o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)); o[3] = (uint8_t)(0x80 | (cp & 0x3F));
        *olen = 4;
    }
    return used;
}

/* Decode the checked raw[s..e) (whole units) into out; its length.
 * Decoding never grows a string, so e - s bytes are enough. */
static size_t decode_into(const uint8_t *raw, size_t s, size_t e, char *out)
{
    size_t o = 0, i = s;
    while (i < e) {
        const uint8_t *bs = memchr(raw + i, '\\', e - i);
        size_t run = bs ? (size_t)(bs - raw) - i : e - i;
        memcpy(out + o, raw + i, run);
        o += run;
        i += run;
        if (i >= e)
            break;
        size_t olen;
        i += decode_escape(raw, i, e, out + o, &olen);
        o += olen;
    }
    return o;
}

/* Decode the checked string raw[s..e) into w->dec; its length. */
static enum walk_rc decode_string(struct walk *w, size_t s, size_t e, size_t *dlen)
{
    if (grow((void **)&w->dec, &w->dec_cap, e - s + 1, 1) < 0)
        return failed(w, "out of memory");
    *dlen = decode_into(w->p, s, e, w->dec);
    return W_OK;
}

/* The raw length of the unit at raw[i] and how many decoded bytes it makes:
 * an escape, or one byte standing for itself. */
static size_t unit_at(const uint8_t *raw, size_t i, size_t e, size_t *dlen)
{
    char tmp[4];
    if (raw[i] != '\\') {
        *dlen = 1;
        return 1;
    }
    return decode_escape(raw, i, e, tmp, dlen);
}

/* Turn the kept decoded spans of the string raw[s..e) into raw spans, in
 * place. A span cut inside an escape grows to the whole escape. */
static void map_spans(struct walk *w, size_t s, size_t e)
{
    size_t i = s, d = 0, dl = 0, rlen = unit_at(w->p, i, e, &dl);
    for (size_t k = 0; k < 2 * w->nkept; k++) {
        struct span *sp = &w->kept[k / 2];
        bool is_start = k % 2 == 0;
        size_t target = is_start ? sp->s : sp->e - 1; /* the end's last byte */
        while (target >= d + dl && i + rlen < e) {
            d += dl;
            i += rlen;
            rlen = unit_at(w->p, i, e, &dl);
        }
        if (is_start)
            sp->s = i;
        else
            sp->e = i + rlen;
    }
}

/* Mark the detectors with an anchor at s + i. */
static size_t anchors_at(const struct scrub_engine *e, const uint8_t *s, size_t n, size_t i,
                         uint8_t *flag)
{
    size_t found = 0;
    uint8_t c = s[i];
    uint32_t here = 0;
    memcpy(&here, s + i, n - i < 4 ? n - i : 4);
    for (uint32_t k = e->first_idx[c]; k < e->first_idx[c + 1]; k++) {
        const struct anchor *a = &e->anchors[k];
        if ((here & a->head_mask) != a->head || flag[a->det] || a->len > n - i)
            continue;
        if (a->len <= 4 || memcmp(s + i + 4, a->text + 4, a->len - 4) == 0) {
            flag[a->det] = 1;
            found++;
        }
    }
    return found;
}

/* The detectors whose anchors occur in text: one pass over the string,
 * one table lookup per byte triple (one-byte anchors apart); the last two
 * positions have no triple, and take the pair and one-byte tables. */
static void prefilter(const struct scrub_engine *e, const uint8_t *s, size_t n, uint8_t *flag)
{
    memcpy(flag, e->always, e->ndets);
    size_t pending = e->anchored;
    if (!pending || n == 0)
        return;
    size_t i = 0;
    for (; i + 2 < n; i++) {
        unsigned idx = triple(s[i], s[i + 1], s[i + 2]);
        if (!(e->gate3[idx >> 6] >> (idx & 63) & 1) && !e->gate_single[s[i]])
            continue;
        pending -= anchors_at(e, s, n, i, flag);
        if (!pending)
            return;
    }
    if (i + 1 < n) {
        unsigned idx = (unsigned)s[i] << 8 | s[i + 1];
        if (e->gate[idx >> 6] >> (idx & 63) & 1)
            pending -= anchors_at(e, s, n, i, flag);
        i++;
    }
    if (pending && i < n && e->gate_single[s[i]])
        anchors_at(e, s, n, i, flag);
}

/* Merge the new matches (w->tmp) into the kept ones; both are sorted and
 * do not overlap each other. */
static enum walk_rc merge_kept(struct walk *w)
{
    if (!w->ntmp)
        return W_OK;
    if (grow((void **)&w->kept, &w->kept_cap, w->nkept + w->ntmp, sizeof *w->kept) < 0)
        return failed(w, "out of memory");
    size_t i = w->nkept, j = w->ntmp, o = w->nkept + w->ntmp;
    while (j > 0) {
        if (i > 0 && w->kept[i - 1].s > w->tmp[j - 1].s)
            w->kept[--o] = w->kept[--i];
        else
            w->kept[--o] = w->tmp[--j];
    }
    w->nkept += w->ntmp;
    w->ntmp = 0;
    return W_OK;
}

/* Run one detector over the text; keep its matches that overlap nothing
 * kept from an earlier detector. */
static enum walk_rc run_detector(struct walk *w, uint32_t d, const char *t, size_t n)
{
    const struct scrub_detector *det = &w->e->dets[d];
    bool observe = det->action == APX_ACTION_OBSERVE;
    size_t start = 0, k = 0, ms, me;
    while (start < n) {
        int rc = det->find(det->ctx, t, n, start, &ms, &me);
        if (rc == 0)
            break;
        if (rc < 0 || ms < start || me <= ms || me > n) {
            snprintf(w->err, w->errlen, "detector %s failed", det->name);
            return W_FAIL;
        }
        while (k < w->nkept && w->kept[k].e <= ms)
            k++;
        if (k < w->nkept && w->kept[k].s < me) {
            /* overlaps an earlier detector's match: dropped */
        } else if (observe) {
            /* counted as it would be enforced, but hiding no later match:
             * observing a detector changes nothing else */
            if (grow((void **)&w->seen, &w->seen_cap, w->nseen + 1, sizeof *w->seen) < 0)
                return failed(w, "out of memory");
            w->seen[w->nseen++] = d;
        } else {
            if (grow((void **)&w->tmp, &w->tmp_cap, w->ntmp + 1, sizeof *w->tmp) < 0)
                return failed(w, "out of memory");
            w->tmp[w->ntmp++] = (struct span){ ms, me, d };
        }
        start = me;
    }
    return merge_kept(w);
}

static void path_append(struct walk *w, size_t *o, size_t cap, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        w->paths[(*o)++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
    }
}

/* Is this key a field name that may go to the log as it is: short, of
 * letters, digits, '_' and '-' (no address, no token, no escape)? */
static bool plain_key(const char *k, size_t n)
{
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Would a detector find something in this key? Keys are never replaced,
 * but the log's path must not carry what they hold. */
static bool key_holds_secret(struct walk *w, const char *k, size_t n)
{
    size_t ms, me;
    prefilter(w->e, (const uint8_t *)k, n, w->flag);
    for (uint32_t d = 0; d < w->e->ndets; d++) {
        const struct scrub_detector *det = &w->e->dets[d];
        if (w->flag[d] && det->find(det->ctx, k, n, 0, &ms, &me) != 0)
            return true;
    }
    return false;
}

/* Record the JSON path of the string being scanned ("messages[3].content");
 * `last_key` names the innermost member instead of the frame's own key. */
static enum walk_rc record_path(struct walk *w, const char *last_key, size_t *off)
{
    enum { PATH_MAX_LEN = 200 };
    if (grow((void **)&w->paths, &w->paths_cap, w->paths_len + PATH_MAX_LEN + 8, 1) < 0)
        return failed(w, "out of memory");
    size_t o = w->paths_len, cap = w->paths_len + PATH_MAX_LEN;
    *off = o;
    if (w->depth == 0)
        path_append(w, &o, cap, "(body)", 6);
    for (size_t i = 0; i < w->depth && o + 1 < cap; i++) {
        const struct frame *f = &w->frames[i];
        if (f->is_obj) {
            if (i > 0)
                path_append(w, &o, cap, ".", 1);
            if (last_key && i + 1 == w->depth)
                path_append(w, &o, cap, last_key, strlen(last_key));
            else if (plain_key((const char *)w->p + f->key_off, f->key_len) &&
                     !key_holds_secret(w, (const char *)w->p + f->key_off, f->key_len))
                path_append(w, &o, cap, (const char *)w->p + f->key_off, f->key_len);
            else /* a key is client data too: it may hold a value */
                path_append(w, &o, cap, "<key>", 5);
        } else {
            char idx[16];
            int n = snprintf(idx, sizeof idx, "[%u]", f->index);
            path_append(w, &o, cap, idx, (size_t)n);
        }
    }
    if (o + 1 >= cap)
        memcpy(w->paths + cap - 4, "...", 3), o = cap - 1;
    w->paths[o++] = '\0';
    w->paths_len = o;
    return W_OK;
}

/* Keep the matches of one string (w->kept, w->seen) as findings at `path`. */
static enum walk_rc add_findings(struct walk *w, const char *t, size_t s, size_t e, bool esc,
                                 size_t path)
{
    /* values first: map_spans turns the decoded offsets into raw ones */
    size_t need = 0;
    for (size_t k = 0; k < w->nkept; k++)
        need += w->kept[k].e - w->kept[k].s;
    if (grow((void **)&w->values, &w->values_cap, w->values_len + need, 1) < 0 ||
        grow((void **)&w->f, &w->f_cap, w->nf + w->nkept + w->nseen, sizeof *w->f) < 0)
        return failed(w, "out of memory");
    for (size_t k = 0; k < w->nseen; k++)
        w->f[w->nf++] = (struct finding){ .rs = s, .re = s, .det = w->seen[k], .path = path,
                                          .observed = 1 };
    size_t first = w->nf;
    for (size_t k = 0; k < w->nkept; k++) {
        const struct span *sp = &w->kept[k];
        size_t vlen = sp->e - sp->s;
        memcpy(w->values + w->values_len, t + sp->s, vlen);
        w->f[w->nf++] = (struct finding){ .voff = w->values_len, .vlen = (uint32_t)vlen,
                                          .det = sp->det, .path = path };
        w->values_len += vlen;
    }
    if (esc) {
        map_spans(w, s, e);
    } else {
        for (size_t k = 0; k < w->nkept; k++) {
            w->kept[k].s += s;
            w->kept[k].e += s;
        }
    }
    size_t prev_end = 0;
    for (size_t k = 0; k < w->nkept; k++) {
        struct finding *f = &w->f[first + k];
        f->rs = w->kept[k].s;
        f->re = w->kept[k].e;
        /* a find() may cut a UTF-8 character: replace all of it */
        while (f->rs > s && (w->p[f->rs] & 0xC0) == 0x80)
            f->rs--;
        while (f->re < e && (w->p[f->re] & 0xC0) == 0x80)
            f->re++;
        if (f->rs < prev_end) /* two spans in one character: keep the first */
            f->re = f->rs = prev_end;
        prev_end = f->re;
    }
    return W_OK;
}

/* Scan the string raw[s..e) (content, checked) with every detector. */
static enum walk_rc scan_string(struct walk *w, size_t s, size_t e, bool esc,
                                const char *last_key)
{
    const char *t = (const char *)w->p + s;
    size_t n = e - s;
    enum walk_rc rc;
    size_t path;
    if (n == 0)
        return W_OK;
    if (n >= ECHO_MIN) { /* shorter ones cannot hold an echo: not kept */
        if (grow((void **)&w->strs, &w->strs_cap, w->nstrs + 1, sizeof *w->strs) < 0)
            return failed(w, "out of memory");
        w->strs[w->nstrs++] = (struct scanned){ s, e, esc };
    }
    if (esc) {
        if ((rc = decode_string(w, s, e, &n)) != W_OK)
            return rc;
        t = w->dec;
    }
    prefilter(w->e, (const uint8_t *)t, n, w->flag);
    w->nkept = w->ntmp = w->nseen = 0;
    for (uint32_t d = 0; d < w->e->ndets; d++)
        if (w->flag[d] && (rc = run_detector(w, d, t, n)) != W_OK)
            return rc;
    if (!w->nkept && !w->nseen)
        return W_OK;
    if (record_path(w, last_key, &path) != W_OK)
        return W_FAIL;
    return add_findings(w, t, s, e, esc, path);
}

/* ---- the grammar -------------------------------------------------------- */

#define LIT(s) { s, sizeof s - 1 }
struct lit {
    const char *s;
    size_t n;
};

static bool is_lit(const char *k, size_t n, struct lit l)
{
    return n == l.n && memcmp(k, l.s, n) == 0;
}

/* "signature" and any key ending in it, in any case (contentSignature): the
 * API validates what they hold. */
static bool ends_in_signature(const char *k, size_t n)
{
    return n >= 9 && strncasecmp(k + n - 9, "signature", 9) == 0;
}

/* Classify a member key. Keys with escapes are compared decoded. */
static enum walk_rc classify_key(struct walk *w, struct frame *f, size_t s, size_t e, bool esc)
{
    static const struct lit skip[] = { LIT("model"), LIT("role"), LIT("stop_sequences"),
                                       LIT("temperature"), LIT("top_p"), LIT("max_tokens"),
                                       LIT("top_k"), LIT("stream"), LIT("metadata"),
                                       LIT("input_schema") };
    /* structure the API validates or strips: never scanned (CLAUDE-CODE.md) */
    static const struct lit keep[] = { LIT("thinking"), LIT("cache_control"),
                                       LIT("tool_use_id") };
    static const struct lit type = LIT("type"), data = LIT("data"), tools = LIT("tools"),
                            name = LIT("name"), description = LIT("description"),
                            id = LIT("id"), system = LIT("system"), text = LIT("text");
    const char *k = (const char *)w->p + s;
    size_t n = e - s;
    f->key_off = s;
    f->key_len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    f->key_kind = KEY_PLAIN;
    if (n > 64 && !esc) {
        /* no other special key is that long: only the signature rule */
        if (ends_in_signature(k, n))
            f->key_kind = KEY_SKIP;
        return W_OK;
    }
    if (esc) {
        enum walk_rc rc = decode_string(w, s, e, &n);
        if (rc != W_OK)
            return rc;
        k = w->dec;
    }
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
        if (is_lit(k, n, skip[i]))
            return f->key_kind = KEY_SKIP, W_OK;
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
        if (is_lit(k, n, keep[i]))
            return f->key_kind = KEY_SKIP, W_OK;
    if (ends_in_signature(k, n))
        f->key_kind = KEY_SKIP;
    else if (is_lit(k, n, type))
        f->key_kind = KEY_TYPE;
    else if (is_lit(k, n, data))
        f->key_kind = KEY_DATA;
    else if (is_lit(k, n, id))
        f->key_kind = KEY_ID;
    else if (is_lit(k, n, tools))
        f->key_kind = KEY_TOOLS;
    else if (f->tool_def && (is_lit(k, n, name) || is_lit(k, n, description)))
        f->key_kind = KEY_TOOL_DOC;
    else if (w->depth == 1 && is_lit(k, n, system))
        f->key_kind = KEY_SYSTEM;
    else if (f->first_system && is_lit(k, n, text))
        f->key_kind = KEY_TEXT;
    return W_OK;
}

/* Read `"key" :` of an object member at w->pos. */
static enum walk_rc parse_member_key(struct walk *w)
{
    struct frame *f = &w->frames[w->depth - 1];
    if (w->pos >= w->len || w->p[w->pos] != '"')
        return bad(w, "expected a member name");
    size_t s, e;
    bool esc;
    enum walk_rc rc = parse_string(w, &s, &e, &esc);
    if (rc != W_OK)
        return rc;
    if ((rc = classify_key(w, f, s, e, esc)) != W_OK)
        return rc;
    skip_ws(w);
    if (w->pos >= w->len || w->p[w->pos] != ':')
        return bad(w, "expected ':'");
    w->pos++;
    return W_OK;
}

/* Is the value about to be parsed left alone (skip-set key, skipped tree)? */
static bool value_skipped(const struct walk *w)
{
    if (w->depth == 0)
        return false;
    const struct frame *f = &w->frames[w->depth - 1];
    if (f->skip)
        return true;
    /* a container under a kept "data" or "id" (the type came first): a
     * string there is deferred instead, see defer_member() */
    return f->is_obj && (f->key_kind == KEY_SKIP || f->key_kind == KEY_TYPE ||
                         f->key_kind == KEY_TOOL_DOC ||
                         (f->key_kind == KEY_DATA && f->keep_data) ||
                         (f->key_kind == KEY_ID && f->keep_id));
}

static enum walk_rc push_frame(struct walk *w, bool is_obj)
{
    if (w->depth >= SCRUB_MAX_DEPTH) {
        snprintf(w->err, w->errlen, "JSON nests deeper than %d levels", SCRUB_MAX_DEPTH);
        return W_DEEP;
    }
    if (grow((void **)&w->frames, &w->frames_cap, w->depth + 1, sizeof *w->frames) < 0)
        return failed(w, "out of memory");
    const struct frame *parent = w->depth ? &w->frames[w->depth - 1] : NULL;
    struct frame *f = &w->frames[w->depth];
    memset(f, 0, sizeof *f);
    f->is_obj = is_obj;
    f->skip = value_skipped(w);
    /* only the request's own tool definitions: a "tools" array deeper down
     * (inside a tool's input, say) is data like any other */
    f->tools_array = !is_obj && parent && parent->is_obj && parent->key_kind == KEY_TOOLS &&
                     w->depth == 1;
    f->tool_def = is_obj && parent && !parent->is_obj && parent->tools_array;
    f->system_array = !is_obj && parent && parent->is_obj && parent->key_kind == KEY_SYSTEM;
    f->first_system = is_obj && parent && !parent->is_obj && parent->system_array &&
                      parent->index == 0;
    w->depth++;
    w->pos++;
    return W_OK;
}

static enum walk_rc scan_deferred(struct walk *w, struct deferred *d, const char *key)
{
    if (!d->present)
        return W_OK;
    d->present = 0;
    bool esc = memchr(w->p + d->off, '\\', d->end - d->off) != NULL;
    return scan_string(w, d->off, d->end, esc, key);
}

/* An object closes: scan its deferred members unless its type keeps them. */
static enum walk_rc close_object(struct walk *w)
{
    struct frame *f = &w->frames[w->depth - 1];
    enum walk_rc rc;
    if (!f->keep_data && (rc = scan_deferred(w, &f->data, "data")) != W_OK)
        return rc;
    if (!f->keep_id && (rc = scan_deferred(w, &f->id, "id")) != W_OK)
        return rc;
    w->depth--;
    w->pos++;
    return W_OK;
}

/* Remember a "data" or "id" string until the object's type is known; a
 * second one with the same key makes the first scanned now. */
static enum walk_rc defer_member(struct walk *w, struct deferred *d, bool kept,
                                 const char *key, size_t s, size_t e)
{
    if (kept)
        return W_OK;
    enum walk_rc rc = scan_deferred(w, d, key);
    *d = (struct deferred){ s, e, 1 };
    return rc;
}

static bool has_suffix(const char *t, size_t n, const char *sfx)
{
    size_t k = strlen(sfx);
    return n >= k && memcmp(t + n - k, sfx, k) == 0;
}

/* What a "type" member says of its object. */
static void read_type(struct frame *f, const char *t, size_t n)
{
    if ((n == 6 && memcmp(t, "base64", 6) == 0) ||
        (n == 17 && memcmp(t, "redacted_thinking", 17) == 0))
        f->keep_data = 1;
    if (has_suffix(t, n, "tool_use"))
        f->keep_id = 1; /* tool_use, server_tool_use, mcp_tool_use */
}

/* Does the string raw[s..e) start with Claude Code's attribution header? */
static bool is_attribution(struct walk *w, size_t s, size_t e, bool esc)
{
    const size_t k = sizeof ATTRIBUTION_PREFIX - 1;
    if (!esc)
        return e - s >= k && memcmp(w->p + s, ATTRIBUTION_PREFIX, k) == 0;
    size_t n;
    return decode_string(w, s, e, &n) == W_OK && n >= k &&
           memcmp(w->dec, ATTRIBUTION_PREFIX, k) == 0;
}

static enum walk_rc string_value(struct walk *w)
{
    size_t s, e;
    bool esc;
    enum walk_rc rc = parse_string(w, &s, &e, &esc);
    if (rc != W_OK)
        return rc;
    struct frame *f = w->depth ? &w->frames[w->depth - 1] : NULL;
    if (f && f->is_obj && !f->skip && f->key_kind == KEY_TYPE) {
        size_t dlen = e - s;
        const char *t = (const char *)w->p + s;
        if (esc) {
            if ((rc = decode_string(w, s, e, &dlen)) != W_OK)
                return rc;
            t = w->dec;
        }
        read_type(f, t, dlen);
        return W_OK;
    }
    if (value_skipped(w))
        return W_OK;
    if (f && f->is_obj && f->key_kind == KEY_DATA)
        return defer_member(w, &f->data, f->keep_data, "data", s, e);
    if (f && f->is_obj && f->key_kind == KEY_ID)
        return defer_member(w, &f->id, f->keep_id, "id", s, e);
    if (f && f->is_obj && f->key_kind == KEY_TEXT && is_attribution(w, s, e, esc))
        return W_OK;
    return scan_string(w, s, e, esc, NULL);
}

static enum walk_rc number_value(struct walk *w)
{
    const uint8_t *p = w->p;
    size_t i = w->pos, n = w->len;
    if (i < n && p[i] == '-')
        i++;
    if (i < n && p[i] == '0') {
        i++;
    } else if (i < n && p[i] >= '1' && p[i] <= '9') {
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    } else {
        return bad(w, "bad number");
    }
    if (i < n && p[i] == '.') {
        size_t d = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return bad(w, "bad number");
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d)
            return bad(w, "bad number");
    }
    w->pos = i;
    return W_OK;
}

static enum walk_rc literal_value(struct walk *w)
{
    static const char *const lits[] = { "true", "false", "null" };
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(lits[k]);
        if (w->len - w->pos >= n && memcmp(w->p + w->pos, lits[k], n) == 0) {
            w->pos += n;
            return W_OK;
        }
    }
    return bad(w, "unknown literal");
}

/* A value at w->pos. Containers are only opened: *opened says so. */
static enum walk_rc parse_value(struct walk *w, bool *opened)
{
    *opened = false;
    skip_ws(w);
    if (w->pos >= w->len)
        return bad(w, "expected a value");
    uint8_t c = w->p[w->pos];
    if (c == '{' || c == '[') {
        *opened = true;
        return push_frame(w, c == '{');
    }
    if (c == '"')
        return string_value(w);
    if (c == '-' || (c >= '0' && c <= '9'))
        return number_value(w);
    return literal_value(w);
}

/* After a value (or an opened container): the next member or element, or
 * the end of the enclosing container(s). *need_value says a value is next. */
static enum walk_rc after_value(struct walk *w, bool just_opened, bool *need_value)
{
    enum walk_rc rc;
    *need_value = false;
    for (;;) {
        if (w->depth == 0) {
            skip_ws(w);
            return w->pos == w->len ? W_OK : bad(w, "data after the JSON value");
        }
        struct frame *f = &w->frames[w->depth - 1];
        skip_ws(w);
        if (w->pos >= w->len)
            return bad(w, "unterminated container");
        uint8_t c = w->p[w->pos];
        if (c == (f->is_obj ? '}' : ']')) {
            if (f->is_obj) {
                if ((rc = close_object(w)) != W_OK)
                    return rc;
            } else {
                w->depth--;
                w->pos++;
            }
            just_opened = false;
            continue;
        }
        if (!just_opened) {
            if (c != ',')
                return bad(w, "expected ',' or the container's end");
            w->pos++;
            skip_ws(w);
            if (!f->is_obj)
                f->index++;
        }
        if (f->is_obj && (rc = parse_member_key(w)) != W_OK)
            return rc;
        *need_value = true;
        return W_OK;
    }
}

static enum walk_rc walk_json(struct walk *w)
{
    bool opened, need_value = true;
    enum walk_rc rc;
    while (need_value) {
        if ((rc = parse_value(w, &opened)) != W_OK)
            return rc;
        if ((rc = after_value(w, opened, &need_value)) != W_OK)
            return rc;
    }
    return W_OK;
}

/* ---- placeholders and the new body -------------------------------------- */

static int finding_cmp(const void *a, const void *b)
{
    const struct finding *x = a, *y = b;
    if (x->rs != y->rs)
        return x->rs < y->rs ? -1 : 1;
    return x->re < y->re ? -1 : x->re > y->re;
}

/* Drop the findings map_spans or drop_overlapping emptied; sort the rest by
 * place (deferred strings come late). */
static void sort_findings(struct walk *w)
{
    size_t kept = 0;
    for (size_t i = 0; i < w->nf; i++)
        if (w->f[i].re > w->f[i].rs || w->f[i].observed)
            w->f[kept++] = w->f[i];
    w->nf = kept;
    if (w->nf > 1) /* w->f is NULL in a body without findings */
        qsort(w->f, w->nf, sizeof *w->f, finding_cmp);
}

/* ---- echoes: a value found from its context, wherever else it is -------- */

/* An echo of a value shorter than this counts only as a whole token (no
 * letter or digit either side): a short password must not eat every word
 * it is part of. */
#define ECHO_WHOLE_BELOW 8
/* Distinct values looked for again in one body; past this many, the rest
 * are replaced only where a detector finds them. */
#define ECHO_MAX 64

static bool alnum8(uint8_t c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Does the detector find the value on its own, whole? Then it finds it
 * wherever it is, and it needs no echo. 1 yes, 0 no, -1 it failed. */
static int found_alone(const struct scrub_detector *det, const char *v, size_t n)
{
    size_t ms, me;
    int rc = det->find(det->ctx, v, n, 0, &ms, &me);
    if (rc < 0)
        return -1;
    return rc == 1 && ms == 0 && me == n;
}

/* The values to echo: distinct values of replacing findings that their
 * detector found only with the context around them. */
static enum walk_rc collect_echoes(struct walk *w, struct echo *out, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < w->nf && *n < ECHO_MAX; i++) {
        const struct finding *f = &w->f[i];
        const struct scrub_detector *det = &w->e->dets[f->det];
        if (f->observed || det->action != APX_ACTION_PSEUDONYMIZE || f->vlen < ECHO_MIN)
            continue;
        const char *v = w->values + f->voff;
        bool known = false;
        for (size_t k = 0; k < *n && !known; k++)
            known = out[k].vlen == f->vlen && memcmp(w->values + out[k].voff, v, f->vlen) == 0;
        if (known)
            continue;
        int alone = found_alone(det, v, f->vlen);
        if (alone < 0) {
            snprintf(w->err, w->errlen, "detector %s failed", det->name);
            return W_FAIL;
        }
        if (!alone)
            out[(*n)++] = (struct echo){ f->voff, f->vlen, f->det };
    }
    return W_OK;
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return x->e > y->e ? -1 : x->e < y->e; /* at one place, the longer first */
}

/* The echoes in one decoded string, into w->kept: sorted, not overlapping. */
static enum walk_rc find_echoes(struct walk *w, const struct echo *ec, size_t nec,
                                const char *t, size_t n)
{
    w->ntmp = w->nkept = 0;
    for (size_t k = 0; k < nec; k++) {
        const char *v = w->values + ec[k].voff;
        size_t vl = ec[k].vlen, at = 0;
        const char *hit;
        while (at + vl <= n && (hit = memmem(t + at, n - at, v, vl)) != NULL) {
            size_t ms = (size_t)(hit - t), me = ms + vl;
            at = ms + 1;
            if (vl < ECHO_WHOLE_BELOW && ((ms > 0 && alnum8((uint8_t)t[ms - 1])) ||
                                          (me < n && alnum8((uint8_t)t[me]))))
                continue;
            if (grow((void **)&w->tmp, &w->tmp_cap, w->ntmp + 1, sizeof *w->tmp) < 0)
                return failed(w, "out of memory");
            w->tmp[w->ntmp++] = (struct span){ ms, me, ec[k].det };
            at = me;
        }
    }
    if (!w->ntmp)
        return W_OK;
    qsort(w->tmp, w->ntmp, sizeof *w->tmp, span_cmp);
    if (grow((void **)&w->kept, &w->kept_cap, w->ntmp, sizeof *w->kept) < 0)
        return failed(w, "out of memory");
    size_t end = 0;
    for (size_t i = 0; i < w->ntmp; i++)
        if (w->tmp[i].s >= end) {
            w->kept[w->nkept++] = w->tmp[i];
            end = w->tmp[i].e;
        }
    w->ntmp = 0;
    return W_OK;
}

/* Empty the new findings f[first..nf) that overlap one of the sorted
 * findings f[0..nold): those places are taken (the original finding among
 * them). Of the old ones, only the last non-empty one starting before a new
 * one ends can overlap it: the old ones do not overlap each other. */
static void drop_overlapping(struct walk *w, size_t nold, size_t first)
{
    for (size_t j = first; j < w->nf; j++) {
        struct finding *f = &w->f[j];
        size_t lo = 0, hi = nold;
        while (lo < hi) { /* the first old one starting at or after f's end */
            size_t mid = lo + (hi - lo) / 2;
            if (w->f[mid].rs < f->re)
                lo = mid + 1;
            else
                hi = mid;
        }
        while (lo > 0 && w->f[lo - 1].re == w->f[lo - 1].rs)
            lo--;
        if (lo > 0 && w->f[lo - 1].re > f->rs)
            f->re = f->rs;
    }
}

/* Replace the echoes of context-found values in every scanned string, as
 * the detector that found the value (so the same placeholder). Findings
 * must be sorted; they are again after. */
static enum walk_rc echo_values(struct walk *w)
{
    struct echo ec[ECHO_MAX];
    size_t nec, nold = w->nf, path = SIZE_MAX;
    enum walk_rc rc = collect_echoes(w, ec, &nec);
    if (rc != W_OK || nec == 0)
        return rc;
    for (size_t i = 0; i < w->nstrs; i++) {
        const struct scanned sc = w->strs[i];
        const char *t = (const char *)w->p + sc.s;
        size_t n = sc.e - sc.s;
        if (sc.esc) {
            if ((rc = decode_string(w, sc.s, sc.e, &n)) != W_OK)
                return rc;
            t = w->dec;
        }
        if ((rc = find_echoes(w, ec, nec, t, n)) != W_OK)
            return rc;
        if (!w->nkept)
            continue;
        if (path == SIZE_MAX) {
            static const char where[] = "(the same value elsewhere)";
            if (grow((void **)&w->paths, &w->paths_cap, w->paths_len + sizeof where, 1) < 0)
                return failed(w, "out of memory");
            path = w->paths_len;
            memcpy(w->paths + path, where, sizeof where);
            w->paths_len += sizeof where;
        }
        size_t first = w->nf;
        w->nseen = 0;
        if ((rc = add_findings(w, t, sc.s, sc.e, sc.esc, path)) != W_OK)
            return rc;
        drop_overlapping(w, nold, first);
    }
    if (w->nf > nold)
        sort_findings(w);
    return W_OK;
}

static uint64_t value_hash(const char *v, size_t n, uint32_t label)
{
    uint64_t h = 1469598103934665603ull ^ label;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)v[i]) * 1099511628211ull;
    return h;
}

/* Number the secret findings per label in order of appearance, the same
 * value getting the same number; hash the identifiers. */
static int assign_placeholders(const struct scrub_engine *e, struct walk *w)
{
    size_t cap = 16;
    while (cap < 2 * w->nf)
        cap *= 2;
    uint32_t *table = malloc(cap * sizeof *table); /* finding index + 1, 0 empty */
    uint32_t *next = calloc(e->ndets ? e->ndets : 1, sizeof *next);
    if (!table || !next) {
        free(table);
        free(next);
        return -1;
    }
    memset(table, 0, cap * sizeof *table);
    for (size_t i = 0; i < w->nf; i++) {
        struct finding *f = &w->f[i];
        const char *v = w->values + f->voff;
        if (f->observed)
            continue;
        if (e->dets[f->det].tier == APX_TIER_IDENTIFIER) {
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned int mdlen = 0;
            HMAC(EVP_sha256(), e->key, SCRUB_KEY_LEN, (const unsigned char *)v, f->vlen,
                 md, &mdlen);
            f->number = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 |
                        (uint32_t)md[2] << 8 | md[3];
            continue;
        }
        uint32_t label = e->label_of[f->det];
        size_t h = (size_t)value_hash(v, f->vlen, label) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            if (!table[h]) {
                table[h] = (uint32_t)i + 1;
                f->number = ++next[label];
                break;
            }
            const struct finding *g = &w->f[table[h] - 1];
            if (e->label_of[g->det] == label && g->vlen == f->vlen &&
                memcmp(w->values + g->voff, v, f->vlen) == 0) {
                f->number = g->number;
                break;
            }
        }
    }
    free(table);
    free(next);
    return 0;
}

static int placeholder(const struct scrub_engine *e, const struct finding *f, char *buf,
                       size_t size)
{
    const struct scrub_detector *d = &e->dets[f->det];
    if (d->tier == APX_TIER_IDENTIFIER)
        return snprintf(buf, size, "<%s_HMAC:%08X>", d->label, f->number);
    return snprintf(buf, size, "<%s_%u>", d->label, f->number);
}

static int build_body(const struct scrub_engine *e, const struct walk *w,
                      struct scrub_result *res)
{
    char ph[160];
    size_t out = w->len, nspans = 0;
    for (size_t i = 0; i < w->nf; i++) {
        if (w->f[i].observed)
            continue;
        int n = placeholder(e, &w->f[i], ph, sizeof ph);
        if (n < 0 || (size_t)n >= sizeof ph)
            return -1;
        out = out - (w->f[i].re - w->f[i].rs) + (size_t)n;
        nspans++;
    }
    uint8_t *b = malloc(out ? out : 1);
    struct scrub_span *sp = calloc(nspans ? nspans : 1, sizeof *sp);
    if (!b || !sp) {
        free(b);
        free(sp);
        return -1;
    }
    size_t o = 0, from = 0, k = 0;
    for (size_t i = 0; i < w->nf; i++) {
        const struct finding *f = &w->f[i];
        if (f->observed)
            continue;
        memcpy(b + o, w->p + from, f->rs - from);
        o += f->rs - from;
        int n = placeholder(e, f, ph, sizeof ph);
        sp[k++] = (struct scrub_span){ f->rs, f->re, o, o + (size_t)n, f->det };
        memcpy(b + o, ph, (size_t)n);
        o += (size_t)n;
        from = f->re;
    }
    memcpy(b + o, w->p + from, w->len - from);
    o += w->len - from;
    res->body = b;
    res->body_len = o;
    res->spans = sp;
    res->nspans = nspans;
    return 0;
}

static uint64_t text_hash(const char *t, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)t[i]) * 1099511628211ull;
    return h;
}

/* Is this placeholder already in the map? If not, claim its slot in the
 * open-addressing table (entry index + 1, 0 empty; cap a power of two). */
static bool map_has(const struct scrub_result *res, uint32_t *table, size_t cap,
                    const char *ph, size_t n)
{
    for (size_t h = (size_t)text_hash(ph, n) & (cap - 1);; h = (h + 1) & (cap - 1)) {
        if (!table[h]) {
            table[h] = (uint32_t)res->nmap + 1;
            return false;
        }
        const struct scrub_map_entry *m = &res->map[table[h] - 1];
        if (m->placeholder_len == n && memcmp(m->placeholder, ph, n) == 0)
            return true;
    }
}

/* The map of placeholders to what they replaced: the replaced raw span
 * decoded (not the detector's match: a span cut inside an escape or a
 * character grew to all of it, and all of it must come back). Strings go
 * to one arena, so one wipe and one free release them. */
static int build_map(const struct scrub_engine *e, const struct walk *w,
                     struct scrub_result *res)
{
    char ph[160];
    size_t cap = 16, text = 0, n = 0;
    for (size_t i = 0; i < w->nf; i++) {
        const struct finding *f = &w->f[i];
        if (f->observed || e->dets[f->det].action != APX_ACTION_PSEUDONYMIZE)
            continue;
        text += (size_t)placeholder(e, f, ph, sizeof ph) + 1 + (f->re - f->rs);
        n++;
    }
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *table = calloc(cap, sizeof *table);
    res->map = calloc(n ? n : 1, sizeof *res->map);
    res->map_text = malloc(text ? text : 1);
    if (!table || !res->map || !res->map_text) {
        free(table);
        return -1;
    }
    res->map_text_cap = text ? text : 1;
    size_t o = 0;
    for (size_t i = 0; i < w->nf; i++) {
        const struct finding *f = &w->f[i];
        if (f->observed || e->dets[f->det].action != APX_ACTION_PSEUDONYMIZE)
            continue;
        size_t k = (size_t)placeholder(e, f, ph, sizeof ph);
        if (map_has(res, table, cap, ph, k))
            continue;
        struct scrub_map_entry *m = &res->map[res->nmap++];
        char *t = (char *)res->map_text + o;
        memcpy(t, ph, k + 1);
        m->placeholder = t;
        m->placeholder_len = k;
        m->value = (const uint8_t *)t + k + 1;
        m->value_len = decode_into(w->p, f->rs, f->re, t + k + 1);
        m->det = f->det;
        o += k + 1 + m->value_len;
    }
    free(table);
    return 0;
}

/* Hits per detector and per action; the first block finding's place. */
static void count_findings(const struct scrub_engine *e, const struct walk *w,
                           struct scrub_result *res)
{
    for (size_t i = 0; i < w->nf; i++) {
        const struct finding *f = &w->f[i];
        res->hits[f->det]++;
        switch (e->dets[f->det].action) {
        case APX_ACTION_OBSERVE:
            res->observed++;
            break;
        case APX_ACTION_BLOCK:
            if (res->block_det < 0) {
                res->block_det = (int)f->det;
                snprintf(res->block_path, sizeof res->block_path, "%s", w->paths + f->path);
            }
            res->blocked++;
            break;
        default:
            res->replaced++;
        }
    }
    res->total = w->nf;
}

/* "github_token 1 at system[0].text; email 2 at messages[3].content, ..." */
static void summarize(const struct scrub_engine *e, const struct walk *w,
                      struct scrub_result *res)
{
    enum { PATHS_SHOWN = 3 };
    size_t o = 0, cap = sizeof res->summary;
    res->summary[0] = '\0';
    for (size_t d = 0; d < e->ndets && o + 1 < cap; d++) {
        if (!res->hits[d])
            continue;
        static const char *const tag[] = { "", " (observe)", " (block)" };
        enum apx_action a = e->dets[d].action;
        o += (size_t)snprintf(res->summary + o, cap - o, "%s%s%s %u at", o ? "; " : "",
                              e->dets[d].name, a <= APX_ACTION_BLOCK ? tag[a] : "",
                              res->hits[d]);
        size_t shown = 0, more = 0, last = SIZE_MAX;
        for (size_t i = 0; i < w->nf && o + 1 < cap; i++) {
            const struct finding *f = &w->f[i];
            if (f->det != d || (last != SIZE_MAX &&
                                strcmp(w->paths + f->path, w->paths + last) == 0))
                continue;
            last = f->path;
            if (shown == PATHS_SHOWN) {
                more++;
                continue;
            }
            o += (size_t)snprintf(res->summary + o, cap - o, "%s %s", shown ? "," : "",
                                  w->paths + f->path);
            shown++;
        }
        if (more && o + 1 < cap)
            o += (size_t)snprintf(res->summary + o, cap - o, " and %zu more", more);
    }
    if (o >= cap)
        memcpy(res->summary + cap - 4, "...", 4);
}

static void walk_free(struct walk *w)
{
    free(w->frames);
    free(w->dec);
    free(w->kept);
    free(w->tmp);
    free(w->seen);
    free(w->flag);
    free(w->f);
    if (w->values)
        OPENSSL_cleanse(w->values, w->values_cap);
    free(w->values);
    free(w->paths);
    free(w->strs);
}

enum scrub_outcome scrub_body(const struct scrub_engine *e, const uint8_t *body, size_t len,
                              bool rewrite, struct scrub_result *res)
{
    memset(res, 0, sizeof *res);
    res->block_det = -1;
    struct walk w = { .e = e, .p = body, .len = len, .err = res->error,
                      .errlen = sizeof res->error };
    w.flag = calloc(e->ndets ? e->ndets : 1, 1);
    res->hits = calloc(e->ndets ? e->ndets : 1, sizeof *res->hits);
    if (!w.flag || !res->hits) {
        snprintf(res->error, sizeof res->error, "out of memory");
        res->outcome = SCRUB_FAILED;
        goto done;
    }
    switch (walk_json(&w)) {
    case W_OK: break;
    case W_BAD: res->outcome = SCRUB_NOT_JSON; goto done;
    case W_DEEP: res->outcome = SCRUB_TOO_DEEP; goto done;
    default: res->outcome = SCRUB_FAILED; goto done;
    }
    sort_findings(&w);
    if (echo_values(&w) != W_OK) {
        res->outcome = SCRUB_FAILED;
        goto done;
    }
    if (w.nf == 0) {
        res->outcome = SCRUB_CLEAN;
        goto done;
    }
    count_findings(e, &w, res);
    bool rebuild = rewrite && res->replaced + res->blocked > 0; /* observed: as it came */
    if (assign_placeholders(e, &w) < 0 ||
        (rebuild && (build_body(e, &w, res) < 0 || build_map(e, &w, res) < 0))) {
        snprintf(res->error, sizeof res->error, "out of memory");
        res->outcome = SCRUB_FAILED;
        goto done;
    }
    summarize(e, &w, res);
    res->outcome = SCRUB_FOUND;
done:
    walk_free(&w);
    return res->outcome;
}

void scrub_result_free(struct scrub_result *res)
{
    free(res->body);
    free(res->hits);
    free(res->spans);
    if (res->map_text)
        OPENSSL_cleanse(res->map_text, res->map_text_cap);
    free(res->map_text);
    free(res->map);
    res->body = NULL;
    res->hits = NULL;
    res->spans = NULL;
    res->map_text = NULL;
    res->map = NULL;
    res->nmap = 0;
}
