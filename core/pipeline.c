/*
 * pipeline: reads pipeline.yaml into plain structures (see pipeline.h).
 *
 * Two passes. The first turns libyaml's events into a tree of cfg_node,
 * refusing what YAML allows but this file has no use for: anchors and
 * aliases (an alias bomb grows exponentially once expanded), tags outside
 * the core schema, NUL bytes in text, duplicate keys, a second document,
 * nesting deeper than MAX_DEPTH. The event API is used rather than
 * yaml_parser_load because the document API resolves aliases silently and
 * has no depth limit. The second pass checks the tree's shape and fills the
 * stages and detectors.
 *
 * It must never load a plugin or look at the file system beyond reading the
 * one file, and every error is one line: "FILE:LINE:COL: what; expected what".
 */
#define _POSIX_C_SOURCE 200809L  /* strndup, strcasecmp */

#include "pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_DEPTH 32                /* nested lists and mappings */
#define MAX_NAME 64
#define MAX_PLUGIN 4096
#define MAX_PRIORITY 1000000
#define SHOWN_MAX 48                /* bytes of a user's text quoted in a message */
#define SHOWN_SIZE (SHOWN_MAX + 4)  /* room for "..." and the NUL */

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

struct mark {
    unsigned line, column;
};

/*
 * Every node is allocated as this. The key marks stay private to this file:
 * they exist only so that an error about a key points at the key rather
 * than at its value, and plugins have no use for them.
 */
struct node {
    struct cfg_node pub;        /* first, so a cfg_node * converts back */
    struct mark *kmarks;        /* CFG_MAP: where each key starts */
    size_t cap;                 /* allocated items (and keys, kmarks) */
};

/* What a stage without options sees: an empty mapping, never NULL. */
static const struct cfg_node empty_map = { .type = CFG_MAP };

/* One parse: the input and where its error goes. */
struct parse {
    const char *file;
    const char *text;
    size_t len;
    char *err;
    size_t errlen;
};

/* ---- messages ---- */

/* Messages are one line whatever the input held: control characters (a
 * newline in a quoted key, in a file name) become '?'. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* A user's text as quoted in a message: cut at SHOWN_MAX bytes (on a UTF-8
 * character boundary) so one long value cannot crowd out the rest. */
static const char *shown(const char *s, char buf[SHOWN_SIZE])
{
    size_t n = strlen(s);
    if (n <= SHOWN_MAX) {
        memcpy(buf, s, n + 1);
    } else {
        n = SHOWN_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
        memcpy(buf, s, n);
        memcpy(buf + n, "...", 4);
    }
    one_line(buf);
    return buf;
}

static void errorf(struct parse *ps, unsigned line, unsigned col, const char *fmt, ...)
    PRINTF_LIKE(4, 5);

static void errorf(struct parse *ps, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!ps->err || ps->errlen == 0)
        return;
    if (line)
        n = snprintf(ps->err, ps->errlen, "%s:%u:%u: ", ps->file, line, col);
    else
        n = snprintf(ps->err, ps->errlen, "%s: ", ps->file);
    if (n >= 0 && (size_t)n < ps->errlen) {
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    one_line(ps->err);
}

static void oom(struct parse *ps)
{
    errorf(ps, 0, 0, "out of memory while reading the pipeline");
}

/* How a node is named in "'stages' is a mapping; expected a list". */
static const char *describe(const struct cfg_node *n, char *buf, size_t size)
{
    char s[SHOWN_SIZE];
    if (n->type == CFG_LIST)
        return "a list";
    if (n->type == CFG_MAP)
        return "a mapping";
    snprintf(buf, size, "the text '%s'", shown(n->value, s));
    return buf;
}

/* ---- the tree ---- */

static struct mark mark_of(yaml_mark_t m)
{
    /* libyaml counts from 0; a 1 MiB file keeps both far below UINT_MAX */
    struct mark r = { (unsigned)m.line + 1, (unsigned)m.column + 1 };
    return r;
}

static struct node *node_new(enum cfg_type type, struct mark at)
{
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->pub.type = type;
    n->pub.line = at.line;
    n->pub.column = at.column;
    return n;
}

static void node_free(struct cfg_node *c)
{
    struct node *n = (struct node *)c;
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        node_free(c->items[i]);
        if (c->keys)
            free(c->keys[i]);
    }
    free(c->items);
    free(c->keys);
    free(c->value);
    free(n->kmarks);
    free(n);
}

static int node_grow(struct node *n)
{
    size_t cap = n->cap ? n->cap * 2 : 4;
    if (cap > SIZE_MAX / sizeof(void *) / 2)
        return -1;
    struct cfg_node **items = realloc(n->pub.items, cap * sizeof *items);
    if (!items)
        return -1;
    n->pub.items = items;
    if (n->pub.type == CFG_MAP) {
        char **keys = realloc(n->pub.keys, cap * sizeof *keys);
        if (!keys)
            return -1;
        n->pub.keys = keys;
        struct mark *kmarks = realloc(n->kmarks, cap * sizeof *kmarks);
        if (!kmarks)
            return -1;
        n->kmarks = kmarks;
    }
    n->cap = cap;
    return 0;
}

/* Append child (and for a mapping its key) to parent; on failure nothing
 * is taken over. */
static int node_append(struct node *parent, char *key, struct mark km, struct node *child)
{
    if (parent->pub.n == parent->cap && node_grow(parent) < 0)
        return -1;
    size_t i = parent->pub.n++;
    parent->pub.items[i] = &child->pub;
    if (parent->pub.type == CFG_MAP) {
        parent->pub.keys[i] = key;
        parent->kmarks[i] = km;
    }
    return 0;
}

/* Take item i out of a mapping (a detector's own keys are not its plugin's
 * options). */
static void map_remove(struct node *m, size_t i)
{
    size_t rest = m->pub.n - i - 1;
    free(m->pub.keys[i]);
    node_free(m->pub.items[i]);
    memmove(&m->pub.keys[i], &m->pub.keys[i + 1], rest * sizeof *m->pub.keys);
    memmove(&m->pub.items[i], &m->pub.items[i + 1], rest * sizeof *m->pub.items);
    memmove(&m->kmarks[i], &m->kmarks[i + 1], rest * sizeof *m->kmarks);
    m->pub.n--;
}

/* ---- duplicates, in O(n log n): a 1 MiB file can hold 100 000 keys ---- */

struct named {
    const char *s;
    size_t i;
};

static int named_cmp(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    if (c)
        return c;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The earliest second use of a string, in input order: 1 with both
 * indices, 0 if all differ. Sorts v. */
static int first_duplicate(struct named *v, size_t n, size_t *first, size_t *second)
{
    int found = 0;
    qsort(v, n, sizeof *v, named_cmp);
    for (size_t k = 1; k < n; k++) {
        if (strcmp(v[k - 1].s, v[k].s) != 0)
            continue;
        /* in a run the first two are the earliest pair of that string */
        if (k >= 2 && strcmp(v[k - 2].s, v[k].s) == 0)
            continue;
        if (!found || v[k].i < *second) {
            *first = v[k - 1].i;
            *second = v[k].i;
            found = 1;
        }
    }
    return found;
}

static int check_duplicate_keys(struct parse *ps, const struct node *m)
{
    size_t n = m->pub.n, a, b;
    char s[SHOWN_SIZE];
    struct named *v;
    int rc = 0;

    if (n < 2)
        return 0;
    v = malloc(n * sizeof *v);
    if (!v) {
        oom(ps);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (struct named){ m->pub.keys[i], i };
    if (first_duplicate(v, n, &a, &b)) {
        errorf(ps, m->kmarks[b].line, m->kmarks[b].column,
               "duplicate key '%s' (first at line %u, column %u); expected each key once "
               "in a mapping", shown(m->pub.keys[b], s), m->kmarks[a].line,
               m->kmarks[a].column);
        rc = -1;
    }
    free(v);
    return rc;
}

/* ---- first pass: libyaml events to a tree ---- */

struct frame {
    struct node *n;             /* the open list or mapping */
    char *key;                  /* CFG_MAP: a key waiting for its value */
    struct mark keymark;
};

struct builder {
    struct parse *ps;
    struct frame stack[MAX_DEPTH];
    size_t depth;
    struct node *root;
    unsigned docs;
};

#define YAML_CORE_PREFIX "tag:yaml.org,2002:"

static bool tag_known(const char *tag, enum cfg_type type)
{
    if (strcmp(tag, "!") == 0)  /* the non-specific tag: no tag at all */
        return true;
    if (type == CFG_LIST)
        return strcmp(tag, YAML_SEQ_TAG) == 0;
    if (type == CFG_MAP)
        return strcmp(tag, YAML_MAP_TAG) == 0;
    return strcmp(tag, YAML_STR_TAG) == 0 || strcmp(tag, YAML_INT_TAG) == 0 ||
           strcmp(tag, YAML_FLOAT_TAG) == 0 || strcmp(tag, YAML_BOOL_TAG) == 0 ||
           strcmp(tag, YAML_NULL_TAG) == 0;
}

static int check_props(struct parse *ps, const yaml_char_t *anchor, const yaml_char_t *tag,
                       enum cfg_type type, struct mark at)
{
    char s[SHOWN_SIZE];
    if (anchor) {
        errorf(ps, at.line, at.column, "anchor '&%s' is refused; expected plain values "
               "(YAML anchors and aliases are not allowed)", shown((const char *)anchor, s));
        return -1;
    }
    if (tag && !tag_known((const char *)tag, type)) {
        /* shown as written: libyaml has expanded "!!" to the core prefix */
        const char *t = (const char *)tag;
        bool core = strncmp(t, YAML_CORE_PREFIX, strlen(YAML_CORE_PREFIX)) == 0;
        errorf(ps, at.line, at.column, "unknown tag '%s%s'; expected no tag, or !!str, !!int, "
               "!!float, !!bool, !!null on text, !!seq on a list, !!map on a mapping",
               core ? "!!" : "", shown(core ? t + strlen(YAML_CORE_PREFIX) : t, s));
        return -1;
    }
    return 0;
}

/* Hang a new node under the open container (or make it the root). Takes
 * the node over, also on failure. */
static int attach(struct builder *b, struct node *n)
{
    if (b->depth == 0) {
        if (b->root) {  /* cannot happen: a second document is refused */
            errorf(b->ps, n->pub.line, n->pub.column, "a second top-level value; expected one");
            node_free(&n->pub);
            return -1;
        }
        b->root = n;
        return 0;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (node_append(f->n, f->key, f->keymark, n) < 0) {
        node_free(&n->pub);
        oom(b->ps);
        return -1;
    }
    f->key = NULL;  /* the mapping owns it now */
    return 0;
}

static bool wants_key(const struct builder *b)
{
    const struct frame *f = b->depth ? &b->stack[b->depth - 1] : NULL;
    return f && f->n->pub.type == CFG_MAP && !f->key;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    struct mark at = mark_of(ev->start_mark);
    const char *value = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;

    if (check_props(b->ps, ev->data.scalar.anchor, ev->data.scalar.tag, CFG_SCALAR, at) < 0)
        return -1;
    /* a "\0" escape would silently cut a name or a pattern short */
    if (memchr(value, '\0', len)) {
        errorf(b->ps, at.line, at.column, "text with a NUL character (\\0); expected text "
               "without NUL");
        return -1;
    }
    char *copy = strndup(value, len);
    if (!copy) {
        oom(b->ps);
        return -1;
    }
    if (wants_key(b)) {
        /* config_get reads "a.b" as b inside a: a key with a dot could
         * never be read, and its option would be ignored without a word */
        if (memchr(copy, '.', len)) {
            char s[SHOWN_SIZE];
            errorf(b->ps, at.line, at.column, "key '%s' contains '.'; expected a key "
                   "without dots (for nested options write a: {b: ...})", shown(copy, s));
            free(copy);
            return -1;
        }
        struct frame *f = &b->stack[b->depth - 1];
        f->key = copy;
        f->keymark = at;
        return 0;
    }
    struct node *n = node_new(CFG_SCALAR, at);
    if (!n) {
        free(copy);
        oom(b->ps);
        return -1;
    }
    n->pub.value = copy;
    return attach(b, n);
}

static int on_start(struct builder *b, const yaml_event_t *ev, enum cfg_type type)
{
    struct mark at = mark_of(ev->start_mark);
    const yaml_char_t *anchor, *tag;

    if (type == CFG_LIST) {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    } else {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    }
    if (check_props(b->ps, anchor, tag, type, at) < 0)
        return -1;
    if (b->depth == MAX_DEPTH) {
        errorf(b->ps, at.line, at.column, "nesting deeper than %d levels; expected at most "
               "%d levels of lists and mappings", MAX_DEPTH, MAX_DEPTH);
        return -1;
    }
    if (wants_key(b)) {
        errorf(b->ps, at.line, at.column, "%s used as a mapping key; expected a text key",
               type == CFG_LIST ? "a list" : "a mapping");
        return -1;
    }
    struct node *n = node_new(type, at);
    if (!n) {
        oom(b->ps);
        return -1;
    }
    if (attach(b, n) < 0)
        return -1;
    b->stack[b->depth++] = (struct frame){ .n = n };
    return 0;
}

static int on_end(struct builder *b)
{
    if (b->depth == 0)  /* libyaml balances its events; be safe anyway */
        return 0;
    struct frame *f = &b->stack[--b->depth];
    free(f->key);
    f->key = NULL;
    return f->n->pub.type == CFG_MAP ? check_duplicate_keys(b->ps, f->n) : 0;
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
    struct mark at = mark_of(ev->start_mark);
    char s[SHOWN_SIZE];

    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (b->docs++ == 0)
            return 0;
        errorf(b->ps, at.line, at.column, "a second document; expected one document in "
               "the file");
        return -1;
    case YAML_ALIAS_EVENT:
        errorf(b->ps, at.line, at.column, "alias '*%s' is refused; expected plain values "
               "(YAML anchors and aliases are not allowed)",
               shown((const char *)ev->data.alias.anchor, s));
        return -1;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, CFG_LIST);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, CFG_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b);
    default:
        return 0;
    }
}

/* The byte at libyaml's (line, column), both 0-based and counted in
 * characters; -1 if outside the text. Only used for a hint, so a lone CR
 * counted as a line break by libyaml may make it miss. */
static int byte_at(const struct parse *ps, size_t line, size_t column)
{
    size_t i = 0;
    for (; i < ps->len && line > 0; i++)
        if (ps->text[i] == '\n')
            line--;
    for (; i < ps->len && column > 0; column--) {
        i++;
        while (i < ps->len && ((unsigned char)ps->text[i] & 0xc0) == 0x80)
            i++;
    }
    return i < ps->len && line == 0 ? (unsigned char)ps->text[i] : -1;
}

/* A reader error has a byte offset, not a line and column. */
static struct mark mark_at_offset(const struct parse *ps, size_t offset)
{
    struct mark m = { 1, 1 };
    for (size_t i = 0; i < offset && i < ps->len; i++) {
        if (ps->text[i] == '\n') {
            m.line++;
            m.column = 1;
        } else if (((unsigned char)ps->text[i] & 0xc0) != 0x80) {
            m.column++;
        }
    }
    return m;
}

static void syntax_error(struct parse *ps, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "cannot parse";
    struct mark at = mark_of(p->problem_mark);

    if (p->error == YAML_MEMORY_ERROR) {
        oom(ps);
    } else if (p->error == YAML_READER_ERROR) {
        at = mark_at_offset(ps, p->problem_offset);
        if (p->problem_value != -1)
            errorf(ps, at.line, at.column, "%s (0x%02X); expected printable UTF-8 text", problem,
                   (unsigned)p->problem_value);
        else
            errorf(ps, at.line, at.column, "%s; expected printable UTF-8 text", problem);
    } else {
        bool tab = strstr(problem, "tab") ||
                   byte_at(ps, p->problem_mark.line, p->problem_mark.column) == '\t';
        const char *expected = tab ? "spaces for indentation (YAML does not allow tabs)"
                                   : "valid YAML";
        if (p->context)
            errorf(ps, at.line, at.column, "%s (%s from line %u, column %u); expected %s",
                   problem, p->context, mark_of(p->context_mark).line,
                   mark_of(p->context_mark).column, expected);
        else
            errorf(ps, at.line, at.column, "%s; expected %s", problem, expected);
    }
}

static void builder_release(struct builder *b)
{
    for (size_t i = 0; i < b->depth; i++)
        free(b->stack[i].key);
    b->depth = 0;
    if (b->root)
        node_free(&b->root->pub);
    b->root = NULL;
}

/* The whole text to a tree; *rootp is NULL for a file without a document. */
static int build_tree(struct parse *ps, struct node **rootp)
{
    struct builder b = { .ps = ps };
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = -1;

    if (!yaml_parser_initialize(&parser)) {
        oom(ps);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)ps->text, ps->len);
    for (;;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(ps, &parser);
            goto out;
        }
        yaml_event_type_t type = ev.type;
        int r = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (r < 0)
            goto out;
        if (type == YAML_STREAM_END_EVENT)
            break;
    }
    *rootp = b.root;
    b.root = NULL;
    rc = 0;
out:
    builder_release(&b);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- second pass: the tree's shape ---- */

static bool is_null(const struct cfg_node *n)
{
    static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
    if (n->type != CFG_SCALAR)
        return false;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(n->value, nulls[i]) == 0)
            return true;
    return false;
}

static bool valid_name(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
    return n > 0 && n <= MAX_NAME && s[n] == '\0';
}

/* Integers as written in the file: optional sign, decimal digits, no
 * overflow. strtoll would also take spaces and silently clamp. */
static bool parse_int64(const char *s, int64_t *out)
{
    bool neg = false;
    uint64_t acc = 0, limit;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!*s)
        return false;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (acc > (limit - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    if (!neg)
        *out = (int64_t)acc;
    else
        *out = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "yes", "on" };
    static const char *const no[] = { "false", "no", "off" };
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* "'KEY' is a list; expected WHAT", at the key. */
static int type_error(struct parse *ps, const char *key, struct mark km,
                      const struct cfg_node *v, const char *expected)
{
    char d[SHOWN_SIZE + 16], k[SHOWN_SIZE];
    errorf(ps, km.line, km.column, "'%s' is %s; expected %s", shown(key, k),
           describe(v, d, sizeof d), expected);
    return -1;
}

static int read_version(struct parse *ps, struct mark km, const struct cfg_node *v)
{
    char s[SHOWN_SIZE];
    if (v->type != CFG_SCALAR)
        return type_error(ps, "version", km, v, "1");
    if (strcmp(v->value, "1") != 0) {
        errorf(ps, v->line, v->column, "version '%s' is not supported; expected 1",
               shown(v->value, s));
        return -1;
    }
    return 0;
}

static int read_plugin(struct parse *ps, struct mark km, const struct cfg_node *v,
                       struct pipeline_entry *e)
{
    char s[SHOWN_SIZE];
    if (v->type != CFG_SCALAR)
        return type_error(ps, "plugin", km, v, "a plugin name or a path to a .so");
    size_t len = strlen(v->value);
    if (len == 0 || len > MAX_PLUGIN) {
        errorf(ps, v->line, v->column, "plugin is %zu bytes long; expected a plugin name or "
               "a path of 1 to %d bytes", len, MAX_PLUGIN);
        return -1;
    }
    /* without a '/' the loader makes a path of it: keep that path tame */
    if (!strchr(v->value, '/') && !valid_name(v->value)) {
        errorf(ps, v->line, v->column, "plugin '%s' is neither a plugin name nor a path; "
               "expected 1 to %d characters of a-z, 0-9 and _, or a path containing '/'",
               shown(v->value, s), MAX_NAME);
        return -1;
    }
    e->plugin = strdup(v->value);
    if (!e->plugin) {
        oom(ps);
        return -1;
    }
    return 0;
}

static int read_name(struct parse *ps, struct mark km, const struct cfg_node *v,
                     struct pipeline_entry *e)
{
    char s[SHOWN_SIZE];
    if (v->type != CFG_SCALAR)
        return type_error(ps, "name", km, v, "a name of a-z, 0-9 and _");
    if (!valid_name(v->value)) {
        errorf(ps, v->line, v->column, "name '%s' is not valid; expected 1 to %d characters "
               "of a-z, 0-9 and _", shown(v->value, s), MAX_NAME);
        return -1;
    }
    e->name = strdup(v->value);
    if (!e->name) {
        oom(ps);
        return -1;
    }
    return 0;
}

/* No name: the plugin's, or for a path its file name without ".so". */
static int default_name(struct parse *ps, struct mark pm, struct pipeline_entry *e)
{
    char s[SHOWN_SIZE];
    const char *base = strrchr(e->plugin, '/');
    base = base ? base + 1 : e->plugin;
    size_t len = strlen(base);
    if (len >= 3 && strcmp(base + len - 3, ".so") == 0)
        len -= 3;
    e->name = strndup(base, len);
    if (!e->name) {
        oom(ps);
        return -1;
    }
    if (!valid_name(e->name)) {
        errorf(ps, pm.line, pm.column, "plugin '%s' gives no usable default name; expected "
               "a name: key of 1 to %d characters of a-z, 0-9 and _", shown(e->plugin, s),
               MAX_NAME);
        return -1;
    }
    return 0;
}

static int read_priority(struct parse *ps, struct mark km, const struct cfg_node *v,
                         struct pipeline_entry *e)
{
    char s[SHOWN_SIZE];
    int64_t x;
    if (v->type != CFG_SCALAR)
        return type_error(ps, "priority", km, v, "an integer");
    if (!parse_int64(v->value, &x) || x < -MAX_PRIORITY || x > MAX_PRIORITY) {
        errorf(ps, v->line, v->column, "priority '%s' is not valid; expected an integer "
               "from %d to %d", shown(v->value, s), -MAX_PRIORITY, MAX_PRIORITY);
        return -1;
    }
    e->has_priority = true;
    e->priority = (int)x;
    return 0;
}

static int read_enabled(struct parse *ps, struct mark km, const struct cfg_node *v,
                        struct pipeline_entry *e)
{
    char s[SHOWN_SIZE];
    if (v->type != CFG_SCALAR)
        return type_error(ps, "enabled", km, v, "true or false");
    if (!parse_bool(v->value, &e->enabled)) {
        errorf(ps, v->line, v->column, "enabled '%s' is not valid; expected true or false "
               "(or yes/no, on/off)", shown(v->value, s));
        return -1;
    }
    return 0;
}

/* A key whose value is one of `names` (listed in the message as
 * `expected`): its index in *out. */
static int read_choice(struct parse *ps, struct mark km, const struct cfg_node *v,
                       const char *key, const char *const *names, size_t n,
                       const char *expected, int *out)
{
    char s[SHOWN_SIZE];
    if (v->type != CFG_SCALAR)
        return type_error(ps, key, km, v, expected);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v->value, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    errorf(ps, v->line, v->column, "%s '%s' is not valid; expected %s", key,
           shown(v->value, s), expected);
    return -1;
}

static int read_action(struct parse *ps, struct mark km, const struct cfg_node *v,
                       struct pipeline_entry *e)
{
    static const char *const names[] = { "pseudonymize", "observe", "block" };
    int i = 0;
    if (read_choice(ps, km, v, "action", names, 3, "pseudonymize, observe or block", &i) < 0)
        return -1;
    e->action = (enum apx_action)i;
    return 0;
}

static int read_restore(struct parse *ps, struct mark km, const struct cfg_node *v,
                        struct pipeline_entry *e)
{
    static const char *const names[] = { "tool_input", "never" };
    int i = 0;
    if (read_choice(ps, km, v, "restore", names, 2, "tool_input or never", &i) < 0)
        return -1;
    e->restore = (enum apx_restore)i;
    return 0;
}

static int read_options(struct parse *ps, struct mark km, const struct cfg_node *v,
                        struct pipeline_entry *e)
{
    if (is_null(v))
        return 0;  /* "options:" with nothing under it */
    if (v->type != CFG_MAP)
        return type_error(ps, "options", km, v, "a mapping of options");
    e->config.map = v;
    return 0;
}

/* Checks shared by both kinds once the keys are read. */
static int finish_entry(struct parse *ps, const struct node *m, struct mark pm,
                        struct pipeline_entry *e)
{
    if (!e->plugin) {
        errorf(ps, m->pub.line, m->pub.column, "a %s without 'plugin'; expected plugin: "
               "followed by a plugin name or a path to a .so",
               e->kind == ENTRY_STAGE ? "stage" : "detector");
        return -1;
    }
    if (!e->name && default_name(ps, pm, e) < 0)
        return -1;
    e->config.plugin = e->name;
    return 0;
}

static int read_stage(struct parse *ps, struct node *m, struct pipeline_entry *e)
{
    struct mark pm = { 0, 0 };
    char s[SHOWN_SIZE];

    for (size_t i = 0; i < m->pub.n; i++) {
        const char *key = m->pub.keys[i];
        const struct cfg_node *v = m->pub.items[i];
        struct mark km = m->kmarks[i];
        int rc;
        if (strcmp(key, "plugin") == 0) {
            pm = (struct mark){ v->line, v->column };
            rc = read_plugin(ps, km, v, e);
        } else if (strcmp(key, "name") == 0) {
            rc = read_name(ps, km, v, e);
        } else if (strcmp(key, "options") == 0) {
            rc = read_options(ps, km, v, e);
        } else {
            errorf(ps, km.line, km.column, "unknown key '%s' in a stage; expected one of "
                   "plugin, name, options", shown(key, s));
            rc = -1;
        }
        if (rc < 0)
            return -1;
    }
    return finish_entry(ps, m, pm, e);
}

/* A detector's own keys come out of the mapping; what is left is its
 * plugin's options (the regex plugin's label, pattern, samples...). */
static int read_detector(struct parse *ps, struct node *m, struct pipeline_entry *e)
{
    struct mark pm = { 0, 0 };

    for (size_t i = 0; i < m->pub.n;) {
        const char *key = m->pub.keys[i];
        const struct cfg_node *v = m->pub.items[i];
        struct mark km = m->kmarks[i];
        int rc;
        if (strcmp(key, "plugin") == 0) {
            pm = (struct mark){ v->line, v->column };
            rc = read_plugin(ps, km, v, e);
        } else if (strcmp(key, "name") == 0) {
            rc = read_name(ps, km, v, e);
        } else if (strcmp(key, "priority") == 0) {
            rc = read_priority(ps, km, v, e);
        } else if (strcmp(key, "enabled") == 0) {
            rc = read_enabled(ps, km, v, e);
        } else if (strcmp(key, "action") == 0) {
            rc = read_action(ps, km, v, e);
        } else if (strcmp(key, "restore") == 0) {
            rc = read_restore(ps, km, v, e);
        } else {
            i++;
            continue;
        }
        if (rc < 0)
            return -1;
        map_remove(m, i);
    }
    if (finish_entry(ps, m, pm, e) < 0)
        return -1;
    e->config.map = &m->pub;
    return 0;
}

static int check_duplicate_names(struct parse *ps, const struct pipeline_entry *v, size_t n,
                                 const char *what)
{
    size_t a, b;
    char s[SHOWN_SIZE];
    int rc = 0;

    if (n < 2)
        return 0;
    struct named *names = malloc(n * sizeof *names);
    if (!names) {
        oom(ps);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        names[i] = (struct named){ v[i].name, i };
    if (first_duplicate(names, n, &a, &b)) {
        errorf(ps, v[b].line, v[b].column, "duplicate %s name '%s' (first at line %u); "
               "expected each %s name once (set name: to tell them apart)", what,
               shown(v[b].name, s), v[a].line, what);
        rc = -1;
    }
    free(names);
    return rc;
}

static int read_entries(struct parse *ps, const char *key, struct mark km, struct node *list,
                        struct pipeline *p, enum entry_kind kind)
{
    const char *what = kind == ENTRY_STAGE ? "stage" : "detector";
    struct pipeline_entry **out = kind == ENTRY_STAGE ? &p->stages : &p->detectors;
    size_t *nout = kind == ENTRY_STAGE ? &p->nstages : &p->ndetectors;
    char d[SHOWN_SIZE + 16];

    if (is_null(&list->pub))
        return 0;
    if (list->pub.type != CFG_LIST)
        return type_error(ps, key, km, &list->pub, kind == ENTRY_STAGE ? "a list of stages"
                                                                       : "a list of detectors");
    size_t n = list->pub.n;
    /* counted at once: pipeline_free copes with entries never filled */
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out) {
        oom(ps);
        return -1;
    }
    *nout = n;
    for (size_t i = 0; i < n; i++) {
        struct node *m = (struct node *)list->pub.items[i];
        struct pipeline_entry *e = &(*out)[i];
        e->kind = kind;
        e->enabled = true;
        e->line = m->pub.line;
        e->column = m->pub.column;
        e->config.file = p->file;
        e->config.map = &empty_map;
        if (m->pub.type != CFG_MAP) {
            errorf(ps, e->line, e->column, "a %s is %s; expected a mapping with at least "
                   "plugin:", what, describe(&m->pub, d, sizeof d));
            return -1;
        }
        if ((kind == ENTRY_STAGE ? read_stage(ps, m, e) : read_detector(ps, m, e)) < 0)
            return -1;
    }
    return check_duplicate_names(ps, *out, n, what);
}

static int read_top(struct parse *ps, struct node *root, struct pipeline *p)
{
    char s[SHOWN_SIZE], d[SHOWN_SIZE + 16];

    if (!root || is_null(&root->pub))
        return 0;  /* an empty file, or only comments: no stages, no detectors */
    if (root->pub.type != CFG_MAP) {
        errorf(ps, root->pub.line, root->pub.column, "the file holds %s; expected a mapping "
               "with version, stages, detectors", describe(&root->pub, d, sizeof d));
        return -1;
    }
    for (size_t i = 0; i < root->pub.n; i++) {
        const char *key = root->pub.keys[i];
        struct node *v = (struct node *)root->pub.items[i];
        struct mark km = root->kmarks[i];
        int rc;
        if (strcmp(key, "version") == 0) {
            rc = read_version(ps, km, &v->pub);
        } else if (strcmp(key, "stages") == 0) {
            rc = read_entries(ps, key, km, v, p, ENTRY_STAGE);
        } else if (strcmp(key, "detectors") == 0) {
            rc = read_entries(ps, key, km, v, p, ENTRY_DETECTOR);
        } else {
            errorf(ps, km.line, km.column, "unknown key '%s' at the top level; expected one "
                   "of version, stages, detectors", shown(key, s));
            rc = -1;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- the API ---- */

int pipeline_parse(const char *name, const char *text, size_t len, struct pipeline *out,
                   char *err, size_t errlen)
{
    struct parse ps = { name ? name : "(pipeline)", text ? text : "", len, err, errlen };
    struct node *root = NULL;

    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    if (!text)
        ps.len = 0;
    if (ps.len > MAX_FILE_BYTES) {
        errorf(&ps, 0, 0, "the file is %zu bytes; expected at most %d (1 MiB)", ps.len,
               MAX_FILE_BYTES);
        return -1;
    }
    out->file = strdup(ps.file);
    if (!out->file) {
        oom(&ps);
        goto fail;
    }
    if (build_tree(&ps, &root) < 0)
        goto fail;
    out->root = root ? &root->pub : NULL;
    if (read_top(&ps, root, out) < 0)
        goto fail;
    return 0;
fail:
    pipeline_free(out);
    return -1;
}

int pipeline_load(const char *path, struct pipeline *out, char *err, size_t errlen)
{
    struct parse ps = { path, NULL, 0, err, errlen };
    char *buf = NULL;
    size_t n;
    int rc = -1;

    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        errorf(&ps, 0, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    /* one byte more than allowed tells a file that is too big */
    buf = malloc(MAX_FILE_BYTES + 1);
    if (!buf) {
        oom(&ps);
        goto out;
    }
    n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
    if (ferror(f)) {
        errorf(&ps, 0, 0, "cannot read: %s", strerror(errno));
        goto out;
    }
    if (n > MAX_FILE_BYTES) {
        errorf(&ps, 0, 0, "the file is larger than 1 MiB; expected at most %d bytes",
               MAX_FILE_BYTES);
        goto out;
    }
    rc = pipeline_parse(path, buf, n, out, err, errlen);
out:
    free(buf);
    fclose(f);
    return rc;
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->stages && i < p->nstages; i++) {
        free(p->stages[i].name);
        free(p->stages[i].plugin);
    }
    for (size_t i = 0; p->detectors && i < p->ndetectors; i++) {
        free(p->detectors[i].name);
        free(p->detectors[i].plugin);
    }
    free(p->stages);
    free(p->detectors);
    node_free(p->root);
    free(p->file);
    memset(p, 0, sizeof *p);
}

/* ---- option accessors ---- */

static const struct cfg_node *map_get(const struct cfg_node *map, const char *key, size_t klen)
{
    if (!map || map->type != CFG_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strlen(map->keys[i]) == klen && memcmp(map->keys[i], key, klen) == 0)
            return map->items[i];
    return NULL;
}

/* A key may be a dotted path into nested mappings: "samples.match". */
const struct cfg_node *config_get(const struct apx_config *cfg, const char *key)
{
    if (!cfg || !key)
        return NULL;
    const struct cfg_node *n = cfg->map;
    for (;;) {
        const char *dot = strchr(key, '.');
        size_t klen = dot ? (size_t)(dot - key) : strlen(key);
        n = map_get(n, key, klen);
        if (!n || !dot)
            return n;
        key = dot + 1;
    }
}

/* "retry: option max_retries=abc is not valid: expected an integer from 0
 * to 10 (pipeline.yaml:12:18)" */
static void opt_error(struct apx_error *err, const struct apx_config *cfg, const char *key,
                      const struct cfg_node *n, const char *expected)
{
    char k[SHOWN_SIZE], v[SHOWN_SIZE], where[96] = "";
    const char *plugin = cfg->plugin ? cfg->plugin : "plugin";

    if (!err)
        return;
    if (cfg->file)
        snprintf(where, sizeof where, " (%s:%u:%u)", cfg->file, n->line, n->column);
    if (n->type == CFG_SCALAR)
        snprintf(err->message, sizeof err->message, "%s: option %s=%s is not valid: "
                 "expected %s%s", plugin, shown(key, k), shown(n->value, v), expected, where);
    else
        snprintf(err->message, sizeof err->message, "%s: option %s is %s: expected %s%s",
                 plugin, shown(key, k), n->type == CFG_LIST ? "a list" : "a mapping",
                 expected, where);
    one_line(err->message);
}

const char *config_opt_string(const struct apx_config *cfg, const char *key, const char *def)
{
    const struct cfg_node *n = config_get(cfg, key);
    return n && n->type == CFG_SCALAR ? n->value : def;
}

int config_opt_int(const struct apx_config *cfg, const char *key, int64_t def, int64_t min,
                   int64_t max, int64_t *out, struct apx_error *err)
{
    const struct cfg_node *n = config_get(cfg, key);
    char expected[96];
    int64_t x = def;

    if (n && (n->type != CFG_SCALAR || !parse_int64(n->value, &x) || x < min || x > max)) {
        if (min == INT64_MIN && max == INT64_MAX)
            snprintf(expected, sizeof expected, "an integer");
        else if (min == INT64_MIN)
            snprintf(expected, sizeof expected, "an integer of at most %" PRId64, max);
        else if (max == INT64_MAX)
            snprintf(expected, sizeof expected, "an integer of at least %" PRId64, min);
        else
            snprintf(expected, sizeof expected, "an integer from %" PRId64 " to %" PRId64,
                     min, max);
        opt_error(err, cfg, key, n, expected);
        return -1;
    }
    if (out)
        *out = x;
    return 0;
}

/* strtod, but the whole text and a finite result; it would skip leading
 * spaces, so refuse them here. */
static bool parse_double(const char *s, double *out)
{
    char *end;
    if (!*s || strchr(" \t\n\v\f\r", *s))
        return false;
    double x = strtod(s, &end);
    if (*end || !isfinite(x))
        return false;
    *out = x;
    return true;
}

int config_opt_double(const struct apx_config *cfg, const char *key, double def, double min,
                      double max, double *out, struct apx_error *err)
{
    const struct cfg_node *n = config_get(cfg, key);
    char expected[96];
    double x = def;

    if (n && (n->type != CFG_SCALAR || !parse_double(n->value, &x) || x < min || x > max)) {
        if (isfinite(min) && isfinite(max))
            snprintf(expected, sizeof expected, "a number from %g to %g", min, max);
        else if (isfinite(min))
            snprintf(expected, sizeof expected, "a number of at least %g", min);
        else if (isfinite(max))
            snprintf(expected, sizeof expected, "a number of at most %g", max);
        else
            snprintf(expected, sizeof expected, "a number");
        opt_error(err, cfg, key, n, expected);
        return -1;
    }
    if (out)
        *out = x;
    return 0;
}

int config_opt_bool(const struct apx_config *cfg, const char *key, bool def, bool *out,
                    struct apx_error *err)
{
    const struct cfg_node *n = config_get(cfg, key);
    bool x = def;

    if (n && (n->type != CFG_SCALAR || !parse_bool(n->value, &x))) {
        opt_error(err, cfg, key, n, "true or false (or yes/no, on/off)");
        return -1;
    }
    if (out)
        *out = x;
    return 0;
}

size_t config_opt_list_len(const struct apx_config *cfg, const char *key)
{
    const struct cfg_node *n = config_get(cfg, key);
    if (!n || n->type == CFG_MAP)
        return 0;
    return n->type == CFG_SCALAR ? 1 : n->n;
}

const char *config_opt_list_item(const struct apx_config *cfg, const char *key, size_t i)
{
    const struct cfg_node *n = config_get(cfg, key);
    if (!n)
        return NULL;
    if (n->type == CFG_SCALAR)
        return i == 0 ? n->value : NULL;
    if (n->type != CFG_LIST || i >= n->n || n->items[i]->type != CFG_SCALAR)
        return NULL;
    return n->items[i]->value;
}
