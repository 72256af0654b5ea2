/*
 * ytree: libyaml's event stream built into a tree (see ytree.h). Every
 * error is one line naming the file, line and column.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ytree.h"

struct build {
    const char *name;
    char *err;
    size_t errlen;
    struct ynode *stack[YTREE_MAX_DEPTH + 1];
    char *pending_key[YTREE_MAX_DEPTH + 1];   /* a mapping's key waiting for its value */
    unsigned pending_line[YTREE_MAX_DEPTH + 1];
    size_t depth;
    struct ynode *root;
    int docs;
};

/* "NAME:LINE:COL: message" (no place when line is 0), control characters
 * shown as '?': a file's bytes must not reach a log line raw. */
static void vreport(char *err, size_t errlen, const char *name, unsigned line, unsigned col,
                    const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static void vreport(char *err, size_t errlen, const char *name, unsigned line, unsigned col,
                    const char *fmt, va_list ap)
{
    int k = line ? snprintf(err, errlen, "%s:%u:%u: ", name, line, col)
                 : snprintf(err, errlen, "%s: ", name);
    if (k >= 0 && (size_t)k < errlen)
        vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
    for (char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
}

static void errf(struct build *b, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void errf(struct build *b, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(b->err, b->errlen, b->name, line, col, fmt, ap);
    va_end(ap);
}

void ytree_free(struct ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        ytree_free(n->items[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->key_lines);
    free(n->value);
    free(n);
}

static int append(struct ynode *parent, char *key, unsigned key_line, struct ynode *child)
{
    size_t n = parent->n + 1;
    struct ynode **items = realloc(parent->items, n * sizeof *items);
    if (!items)
        return -1;
    parent->items = items;
    if (parent->type == Y_MAP) {
        char **keys = realloc(parent->keys, n * sizeof *keys);
        if (!keys)
            return -1;
        parent->keys = keys;
        unsigned *kl = realloc(parent->key_lines, n * sizeof *kl);
        if (!kl)
            return -1;
        parent->key_lines = kl;
        keys[parent->n] = key;
        kl[parent->n] = key_line;
    }
    items[parent->n] = child;
    parent->n = n;
    return 0;
}

/* Put a finished node where it belongs: the root, a list item, or the
 * value of the pending key of a mapping. */
static int attach(struct build *b, struct ynode *node)
{
    if (b->depth == 0) {
        b->root = node;
        return 0;
    }
    struct ynode *top = b->stack[b->depth - 1];
    if (top->type == Y_LIST)
        return append(top, NULL, 0, node);
    char *key = b->pending_key[b->depth - 1];
    for (size_t i = 0; i < top->n; i++) {
        if (strcmp(top->keys[i], key) == 0) {
            errf(b, b->pending_line[b->depth - 1], 1,
                 "duplicate key '%s' (first at line %u); expected each key once", key,
                 top->key_lines[i]);
            return -2;
        }
    }
    b->pending_key[b->depth - 1] = NULL;
    if (append(top, key, b->pending_line[b->depth - 1], node) < 0) {
        b->pending_key[b->depth - 1] = key;
        return -1;
    }
    return 0;
}

static bool wants_key(const struct build *b)
{
    return b->depth > 0 && b->stack[b->depth - 1]->type == Y_MAP &&
           !b->pending_key[b->depth - 1];
}

static int refuse_props(struct build *b, const yaml_event_t *ev, const yaml_char_t *anchor,
                        const yaml_char_t *tag, bool implicit)
{
    unsigned l = (unsigned)ev->start_mark.line + 1, c = (unsigned)ev->start_mark.column + 1;
    if (anchor) {
        errf(b, l, c, "anchor '&%s' is refused; expected plain values", (const char *)anchor);
        return -2;
    }
    if (tag && !implicit) {
        errf(b, l, c, "tag '%s' is refused; expected plain values", (const char *)tag);
        return -2;
    }
    return 0;
}

static struct ynode *node_new(enum ynode_type t, const yaml_event_t *ev)
{
    struct ynode *n = calloc(1, sizeof *n);
    if (n) {
        n->type = t;
        n->line = (unsigned)ev->start_mark.line + 1;
        n->column = (unsigned)ev->start_mark.column + 1;
    }
    return n;
}

static int on_scalar(struct build *b, const yaml_event_t *ev)
{
    int r = refuse_props(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag,
                         ev->data.scalar.plain_implicit || ev->data.scalar.quoted_implicit);
    if (r < 0)
        return r;
    const char *v = (const char *)ev->data.scalar.value;
    if (strlen(v) != ev->data.scalar.length) {
        errf(b, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
             "text with a NUL character; expected text");
        return -2;
    }
    if (wants_key(b)) {
        char *k = strdup(v);
        if (!k)
            return -1;
        b->pending_key[b->depth - 1] = k;
        b->pending_line[b->depth - 1] = (unsigned)ev->start_mark.line + 1;
        return 0;
    }
    struct ynode *n = node_new(Y_SCALAR, ev);
    if (!n || !(n->value = strdup(v))) {
        free(n);
        return -1;
    }
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    if ((r = attach(b, n)) < 0)
        ytree_free(n);
    return r;
}

static int on_start(struct build *b, const yaml_event_t *ev, enum ynode_type t)
{
    const yaml_char_t *anchor = t == Y_MAP ? ev->data.mapping_start.anchor
                                           : ev->data.sequence_start.anchor;
    const yaml_char_t *tag = t == Y_MAP ? ev->data.mapping_start.tag
                                        : ev->data.sequence_start.tag;
    int implicit = t == Y_MAP ? ev->data.mapping_start.implicit
                              : ev->data.sequence_start.implicit;
    int r = refuse_props(b, ev, anchor, tag, implicit);
    if (r < 0)
        return r;
    unsigned l = (unsigned)ev->start_mark.line + 1, c = (unsigned)ev->start_mark.column + 1;
    if (wants_key(b)) {
        errf(b, l, c, "a %s used as a key; expected a text key", t == Y_MAP ? "mapping" : "list");
        return -2;
    }
    if (b->depth == YTREE_MAX_DEPTH) {
        errf(b, l, c, "nesting deeper than %d levels; expected less", YTREE_MAX_DEPTH);
        return -2;
    }
    struct ynode *n = node_new(t, ev);
    if (!n)
        return -1;
    b->stack[b->depth] = n;
    b->pending_key[b->depth] = NULL;
    b->depth++;
    return 0;
}

static int on_end(struct build *b)
{
    struct ynode *n = b->stack[--b->depth];
    free(b->pending_key[b->depth]);
    b->pending_key[b->depth] = NULL;
    int r = attach(b, n);
    if (r < 0)
        ytree_free(n);
    return r;
}

static int on_event(struct build *b, const yaml_event_t *ev)
{
    unsigned l = (unsigned)ev->start_mark.line + 1, c = (unsigned)ev->start_mark.column + 1;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs > 1) {
            errf(b, l, c, "a second document; expected one document in the file");
            return -2;
        }
        return 0;
    case YAML_ALIAS_EVENT:
        errf(b, l, c, "alias '*%s' is refused; expected plain values",
             (const char *)ev->data.alias.anchor);
        return -2;
    case YAML_SCALAR_EVENT: return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT: return on_start(b, ev, Y_LIST);
    case YAML_MAPPING_START_EVENT: return on_start(b, ev, Y_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: return on_end(b);
    default: return 0;
    }
}

static void release(struct build *b)
{
    while (b->depth > 0) {
        b->depth--;
        free(b->pending_key[b->depth]);
        ytree_free(b->stack[b->depth]);
    }
    ytree_free(b->root);
    b->root = NULL;
}

int ytree_parse(const char *name, const char *text, size_t len, struct ynode **root,
                char *err, size_t errlen)
{
    struct build b = { .name = name, .err = err, .errlen = errlen };
    yaml_parser_t p;
    *root = NULL;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = 0;
    for (bool done = false; !done;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            errf(&b, (unsigned)p.problem_mark.line + 1, (unsigned)p.problem_mark.column + 1,
                 "%s; expected YAML", p.problem ? p.problem : "syntax error");
            rc = -1;
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        int r = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (r == -1)
            snprintf(err, errlen, "%s: out of memory", name);
        if (r < 0) {
            rc = -1;
            break;
        }
    }
    yaml_parser_delete(&p);
    if (rc < 0) {
        release(&b);
        return -1;
    }
    *root = b.root;
    return 0;
}

int ytree_load(const char *path, struct ynode **root, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    *root = NULL;
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(YTREE_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, YTREE_MAX_BYTES + 1, f) : 0;
    bool bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > YTREE_MAX_BYTES) {
        snprintf(err, errlen, "%s: cannot read: %s", path,
                 bad ? "read error" : "larger than 1 MiB");
        free(buf);
        return -1;
    }
    int rc = ytree_parse(path, buf, n, root, err, errlen);
    free(buf);
    return rc;
}

const struct ynode *ytree_get(const struct ynode *map, const char *key)
{
    if (!map || map->type != Y_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}

int ytree_bad(const struct ytree_err *e, const struct ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(e->err, e->errlen, e->name, n ? n->line : 0, n ? n->column : 0, fmt, ap);
    va_end(ap);
    return -1;
}

int ytree_only_keys(const struct ytree_err *e, const struct ynode *map,
                    const char *const *allowed, const char *what)
{
    for (size_t i = 0; i < map->n; i++) {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, map->keys[i]) == 0;
        if (known)
            continue;
        char list[400] = "";
        size_t o = 0;
        for (const char *const *a = allowed; *a && o < sizeof list; a++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", *a);
        struct ynode at = { .line = map->key_lines[i], .column = 1 };
        return ytree_bad(e, &at, "unknown key '%.60s' in %s; expected one of %s", map->keys[i],
                         what, list);
    }
    return 0;
}
