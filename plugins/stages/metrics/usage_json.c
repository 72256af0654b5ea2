/*
 * usage_json: see usage_json.h. A recursive reader for the few objects
 * whose members matter (at most four deep: answer, message, usage,
 * cache_creation), and a bracket counter for every other value.
 */
#include <string.h>

#include "usage_json.h"

struct text {
    const char *p;
    size_t n, i;
};

enum kind { K_TOP, K_MESSAGE, K_USAGE, K_CACHE, K_TOOLS };

static void ws(struct text *t)
{
    while (t->i < t->n && (t->p[t->i] == ' ' || t->p[t->i] == '\t' || t->p[t->i] == '\n' ||
                           t->p[t->i] == '\r'))
        t->i++;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int hex4(const struct text *t, size_t at, unsigned *cp)
{
    if (at + 4 > t->n)
        return -1;
    *cp = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = hexval(t->p[at + k]);
        if (h < 0)
            return -1;
        *cp = *cp << 4 | (unsigned)h;
    }
    return 0;
}

/* Append code point cp as UTF-8 to out (cap bytes, *len so far); bytes past
 * cap are counted but not written, so a long string reads as too long. */
static void put(char *out, size_t cap, size_t *len, unsigned cp)
{
    char b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (char)cp, k = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3f)), k = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | cp >> 12), b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f)), k = 3;
    } else {
        b[0] = (char)(0xf0 | cp >> 18), b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (char)(0x80 | (cp >> 6 & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f)), k = 4;
    }
    for (size_t j = 0; j < k; j++, (*len)++)
        if (out && *len < cap)
            out[*len] = b[j];
}

/* \uXXXX at t->i (just past the backslash's 'u'), a surrogate pair joined. */
static int unicode_escape(struct text *t, unsigned *cp)
{
    if (hex4(t, t->i, cp) < 0)
        return -1;
    t->i += 4;
    unsigned lo;
    if (*cp >= 0xd800 && *cp < 0xdc00 && t->i + 6 <= t->n && t->p[t->i] == '\\' &&
        t->p[t->i + 1] == 'u' && hex4(t, t->i + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
        t->i += 6;
    }
    return 0;
}

/* The string at t->i (on its quote), decoded into out[0..cap) when out is
 * not NULL; *len is its decoded length (may exceed cap). */
static int string(struct text *t, char *out, size_t cap, size_t *len)
{
    *len = 0;
    t->i++;
    while (t->i < t->n) {
        unsigned char c = (unsigned char)t->p[t->i++];
        if (c == '"')
            return 0;
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            if (out && *len < cap)
                out[*len] = (char)c;
            (*len)++;
            continue;
        }
        if (t->i >= t->n)
            return -1;
        char e = t->p[t->i++];
        unsigned cp;
        switch (e) {
        case '"': case '\\': case '/': cp = (unsigned char)e; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (unicode_escape(t, &cp) < 0)
                return -1;
            break;
        default:
            return -1;
        }
        put(out, cap, len, cp);
    }
    return -1;
}

static bool is_digit(const struct text *t)
{
    return t->i < t->n && t->p[t->i] >= '0' && t->p[t->i] <= '9';
}

/* A number at t->i: *is_int and its value when it has no fraction or
 * exponent; an integer past int64 is refused, as jansson refuses it. */
static int number(struct text *t, bool *is_int, int64_t *value)
{
    bool neg = t->i < t->n && t->p[t->i] == '-';
    t->i += neg;
    if (!is_digit(t))
        return -1;
    uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool big = false;
    if (t->p[t->i] == '0') {
        t->i++;
        if (is_digit(t))
            return -1; /* "01" */
    }
    for (; is_digit(t); t->i++) {
        unsigned d = (unsigned)(t->p[t->i] - '0');
        big |= mag > (limit - d) / 10;
        mag = mag * 10 + d;
    }
    *is_int = true;
    if (t->i < t->n && t->p[t->i] == '.') {
        t->i++;
        if (!is_digit(t))
            return -1;
        while (is_digit(t))
            t->i++;
        *is_int = false;
    }
    if (t->i < t->n && (t->p[t->i] == 'e' || t->p[t->i] == 'E')) {
        t->i++;
        if (t->i < t->n && (t->p[t->i] == '+' || t->p[t->i] == '-'))
            t->i++;
        if (!is_digit(t))
            return -1;
        while (is_digit(t))
            t->i++;
        *is_int = false;
    }
    if (*is_int && big)
        return -1;
    if (*is_int)
        *value = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

static int literal(struct text *t, const char *word)
{
    size_t k = strlen(word);
    if (t->n - t->i < k || memcmp(t->p + t->i, word, k) != 0)
        return -1;
    t->i += k;
    return 0;
}

/* Any scalar at t->i. */
static int scalar(struct text *t)
{
    bool is_int;
    int64_t v;
    size_t len;
    switch (t->p[t->i]) {
    case '"': return string(t, NULL, 0, &len);
    case 't': return literal(t, "true");
    case 'f': return literal(t, "false");
    case 'n': return literal(t, "null");
    default: return number(t, &is_int, &v);
    }
}

/* Any value at t->i, its inside unread: brackets counted, strings and
 * scalars read so a bracket inside a string does not count. */
static int skip(struct text *t)
{
    size_t depth = 0;
    do {
        ws(t);
        if (t->i >= t->n)
            return -1;
        char c = t->p[t->i];
        if (c == '{' || c == '[') {
            depth++, t->i++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return -1;
            depth--, t->i++;
        } else if (c == ',' || c == ':') {
            if (depth == 0)
                return -1;
            t->i++;
        } else if (scalar(t) < 0) {
            return -1;
        }
    } while (depth > 0);
    return 0;
}

static int object(struct text *t, enum kind k, void *rec);

/* The value of member `key` of an object of kind k, into rec. */
static int member(struct text *t, enum kind k, void *rec, const char *key, size_t klen)
{
#define KEY(s) (klen == sizeof(s) - 1 && memcmp(key, s, sizeof(s) - 1) == 0)
    static const char *const figures[] = {
        [UF_INPUT] = "input_tokens", [UF_OUTPUT] = "output_tokens",
        [UF_CACHE_READ] = "cache_read_input_tokens",
        [UF_CACHE_CREATION] = "cache_creation_input_tokens",
        [UF_CACHE_5M] = "ephemeral_5m_input_tokens", [UF_CACHE_1H] = "ephemeral_1h_input_tokens",
        [UF_WEB_SEARCH] = "web_search_requests", [UF_WEB_FETCH] = "web_fetch_requests",
    };
    char c = t->p[t->i];
    if (k == K_TOP || k == K_MESSAGE) {
        struct usage_doc *d = rec;
        struct usage_msg *m = k == K_TOP ? &d->top : &d->message;
        size_t len;
        if (k == K_TOP && KEY("type")) {
            char ty[8];
            d->type_is_error = false;
            if (c != '"')
                return skip(t);
            if (string(t, ty, sizeof ty, &len) < 0)
                return -1;
            d->type_is_error = len == 5 && memcmp(ty, "error", 5) == 0;
            return 0;
        }
        if (KEY("model")) {
            m->has_model = c == '"';
            if (c != '"')
                return skip(t);
            memset(m->model, 0, sizeof m->model);
            return string(t, m->model, sizeof m->model - 1, &len);
        }
        if (KEY("usage")) {
            memset(&m->usage, 0, sizeof m->usage);
            m->usage.object = c == '{';
            return c == '{' ? object(t, K_USAGE, &m->usage) : skip(t);
        }
        if (k == K_TOP && KEY("message")) {
            memset(&d->message, 0, sizeof d->message);
            d->message.object = c == '{';
            return c == '{' ? object(t, K_MESSAGE, d) : skip(t);
        }
        return skip(t);
    }
    struct usage_obj *u = rec;
    if (k == K_USAGE && (KEY("cache_creation") || KEY("server_tool_use"))) {
        enum usage_figure a = KEY("cache_creation") ? UF_CACHE_5M : UF_WEB_SEARCH;
        u->has[a] = u->has[a + 1] = false;
        return c == '{' ? object(t, a == UF_CACHE_5M ? K_CACHE : K_TOOLS, u) : skip(t);
    }
    if (k == K_USAGE && KEY("inference_geo")) {
        size_t len;
        u->has_geo = c == '"';
        if (c != '"')
            return skip(t);
        memset(u->geo, 0, sizeof u->geo);
        return string(t, u->geo, sizeof u->geo - 1, &len);
    }
    size_t lo = k == K_USAGE ? UF_INPUT : k == K_CACHE ? UF_CACHE_5M : UF_WEB_SEARCH;
    size_t hi = k == K_USAGE ? UF_CACHE_CREATION : lo + 1;
    for (size_t f = lo; f <= hi; f++) {
        if (strlen(figures[f]) != klen || memcmp(key, figures[f], klen) != 0)
            continue;
        bool is_int = false;
        u->has[f] = false;
        if (c == '-' || (c >= '0' && c <= '9')) {
            if (number(t, &is_int, &u->v[f]) < 0)
                return -1;
            u->has[f] = is_int;
            return 0;
        }
        return skip(t);
    }
    return skip(t);
#undef KEY
}

/* The object at t->i (on its brace), its members of interest into rec. */
static int object(struct text *t, enum kind k, void *rec)
{
    t->i++;
    ws(t);
    if (t->i < t->n && t->p[t->i] == '}') {
        t->i++;
        return 0;
    }
    for (;;) {
        char key[32];
        size_t klen;
        ws(t);
        if (t->i >= t->n || t->p[t->i] != '"' || string(t, key, sizeof key, &klen) < 0)
            return -1;
        ws(t);
        if (t->i >= t->n || t->p[t->i] != ':')
            return -1;
        t->i++;
        ws(t);
        if (t->i >= t->n)
            return -1;
        if (member(t, k, rec, key, klen > sizeof key ? 0 : klen) < 0)
            return -1;
        ws(t);
        if (t->i >= t->n)
            return -1;
        char c = t->p[t->i++];
        if (c == '}')
            return 0;
        if (c != ',')
            return -1;
    }
}

int usage_json_read(const char *p, size_t n, struct usage_doc *d)
{
    struct text t = { p, n, 0 };
    memset(d, 0, sizeof *d);
    ws(&t);
    int rc = -1;
    if (t.i < t.n && t.p[t.i] == '{') {
        d->top.object = true;
        rc = object(&t, K_TOP, d);
    }
    else if (t.i < t.n && t.p[t.i] == '[')
        rc = skip(&t);
    ws(&t);
    if (rc < 0 || t.i != t.n) {
        memset(d, 0, sizeof *d);
        return -1;
    }
    return 0;
}
