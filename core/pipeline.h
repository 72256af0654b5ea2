/*
 * pipeline: the pipeline file (pipeline.yaml), read with libyaml into plain
 * structures: the ordered stages, the detectors, and each one's options.
 *
 * It only reads and checks the file's shape; it never loads a plugin (that
 * is loader.c's job). Every error names the file, line and column, and what
 * was expected there.
 */
#ifndef APX_PIPELINE_H
#define APX_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <anthropic-proxy/plugin.h>

/* A node of an options tree: a scalar, a list or a mapping. */
enum cfg_type { CFG_SCALAR, CFG_LIST, CFG_MAP };

struct cfg_node {
    enum cfg_type type;
    unsigned line, column;      /* 1-based, where the node starts */
    char *value;                /* CFG_SCALAR: the text as written */
    size_t n;                   /* CFG_LIST / CFG_MAP: number of items */
    char **keys;                /* CFG_MAP: item keys */
    struct cfg_node **items;    /* CFG_LIST / CFG_MAP: the items */
};

/* A plugin's options: a mapping (possibly empty), plus where it came from
 * for error messages. This is what plugins see as `struct apx_config`. */
struct apx_config {
    const char *file;
    const char *plugin;         /* plugin name, for messages */
    const struct cfg_node *map; /* never NULL */
};

enum entry_kind { ENTRY_STAGE, ENTRY_DETECTOR };

/* One stage or detector of the pipeline. */
struct pipeline_entry {
    enum entry_kind kind;
    char *name;                 /* unique among entries of its kind; defaults to plugin */
    char *plugin;               /* as written: a name or a path to a .so */
    bool enabled;               /* detectors: `enabled`, default true */
    bool has_priority;          /* detectors: `priority` given */
    int priority;
    enum apx_action action;     /* detectors: `action`, default pseudonymize */
    enum apx_restore restore;   /* detectors: `restore`, default tool_input */
    unsigned line, column;      /* of the entry, for messages */
    struct apx_config config;   /* `options:` for stages; for detectors, the
                                   entry's own keys besides name, plugin,
                                   priority, enabled, action, restore (the regex plugin reads
                                   label, tier, pattern, samples there) */
};

struct pipeline {
    char *file;                 /* path as given */
    size_t nstages, ndetectors;
    struct pipeline_entry *stages;
    struct pipeline_entry *detectors;
    struct cfg_node *root;      /* owns every node */
};

/*
 * Read and check `path`. Returns 0 and fills *out, or -1 with one message
 * in err[0..errlen) of the form "FILE:LINE:COL: what was wrong; expected
 * ..." (or "FILE: cannot read: reason"). The file is at most 1 MiB; nesting
 * deeper than 32 levels is refused.
 */
int pipeline_load(const char *path, struct pipeline *out, char *err, size_t errlen);
/* Same, from a buffer (for tests and the fuzz target); `name` is used in
 * messages. */
int pipeline_parse(const char *name, const char *text, size_t len,
                   struct pipeline *out, char *err, size_t errlen);
void pipeline_free(struct pipeline *p);

/* Option accessors behind apx_host.opt_* (see plugin.h for the contract). */
const char *config_opt_string(const struct apx_config *cfg, const char *key, const char *def);
int config_opt_int(const struct apx_config *cfg, const char *key, int64_t def, int64_t min,
                   int64_t max, int64_t *out, struct apx_error *err);
int config_opt_double(const struct apx_config *cfg, const char *key, double def, double min,
                      double max, double *out, struct apx_error *err);
int config_opt_bool(const struct apx_config *cfg, const char *key, bool def, bool *out,
                    struct apx_error *err);
size_t config_opt_list_len(const struct apx_config *cfg, const char *key);
const char *config_opt_list_item(const struct apx_config *cfg, const char *key, size_t i);
/* The node under `key` in the options mapping, or NULL. */
const struct cfg_node *config_get(const struct apx_config *cfg, const char *key);

#endif
