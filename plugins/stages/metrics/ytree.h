/*
 * ytree: a small YAML file read into a tree of scalars, lists and mappings,
 * each node with its line and column, for the metrics stage's own files
 * (prices.yaml, developers.yaml). Anchors, aliases, tags and several
 * documents are refused: these files are edited by hand and must read the
 * same to a person as to the proxy. No globals; bounded input (1 MiB) and
 * nesting (16 levels).
 */
#ifndef APX_YTREE_H
#define APX_YTREE_H

#include <stdbool.h>
#include <stddef.h>

enum ynode_type { Y_SCALAR, Y_LIST, Y_MAP };

struct ynode {
    enum ynode_type type;
    unsigned line, column;       /* 1-based, where the node starts */
    char *value;                 /* Y_SCALAR */
    bool quoted;                 /* Y_SCALAR written in quotes */
    size_t n;                    /* Y_LIST / Y_MAP: items */
    char **keys;                 /* Y_MAP */
    unsigned *key_lines;         /* Y_MAP: each key's line */
    struct ynode **items;
};

#define YTREE_MAX_BYTES (1u << 20)
#define YTREE_MAX_DEPTH 16

/* Read `path` (or parse `text` of `len` bytes, named `name` in messages).
 * 0 and *root (free with ytree_free; NULL for an empty file), or -1 with
 * "FILE:LINE:COL: what; expected what" (or "FILE: cannot read: why") in err. */
int ytree_load(const char *path, struct ynode **root, char *err, size_t errlen);
int ytree_parse(const char *name, const char *text, size_t len, struct ynode **root,
                char *err, size_t errlen);
void ytree_free(struct ynode *n);

/* The value under `key` in a mapping, or NULL. */
const struct ynode *ytree_get(const struct ynode *map, const char *key);

/* Where a reader of one of these files writes its first error. */
struct ytree_err {
    const char *name;            /* the file, as messages name it */
    char *err;
    size_t errlen;
};

/* "NAME:LINE:COL: message" (or "NAME: message" for a NULL node) into
 * e->err, control characters shown as '?'; returns -1. */
int ytree_bad(const struct ytree_err *e, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Refuse, with ytree_bad(), a key of `map` not in `allowed`
 * (NULL-terminated); `what` names the mapping in the message. */
int ytree_only_keys(const struct ytree_err *e, const struct ynode *map,
                    const char *const *allowed, const char *what);

#endif
