/*
 * loader: turning a plugin name or path into a checked, loaded descriptor.
 *
 * Checks, in order, each refusal one message naming the plugin and what to
 * do: the file and its directory are owned by root or by us and writable by
 * nobody else (like sshd's StrictModes); dlopen with RTLD_NOW|RTLD_LOCAL of a
 * private copy (so a plugin rebuilt on disk is really reloaded: dlopen would
 * hand back the old mapping for the same path); the descriptor symbol; the
 * ABI version rule; the kind; the name; the stage hooks or detector spec.
 * It does not call init.
 *
 * The core never reads the plugin's own descriptor after loading: the
 * loader copies it, its hooks and its spec into zeroed structs of this
 * build's size (struct plugin_abi), as many bytes as each struct_size
 * says, so a plugin of an older minor with smaller structs loads and the
 * fields it does not know are NULL or 0.
 */
#ifndef APX_LOADER_H
#define APX_LOADER_H

#include <stddef.h>

#include <anthropic-proxy/plugin.h>

/* The host's copies of what a plugin declared (see above). desc.stage and
 * desc.detector point to hooks and spec here, or are NULL. */
struct plugin_abi {
    struct apx_plugin desc;
    struct apx_stage_hooks hooks;
    struct apx_detector_spec spec;
};

struct loaded_plugin {
    char *path;                     /* the file loaded (as resolved) */
    void *dl;                       /* dlopen handle */
    const struct apx_plugin *desc;  /* &abi->desc */
    struct plugin_abi *abi;
};

/* Resolve `plugin` (a name, or a path containing '/') for entries of
 * `kind` under plugin_dir: NAME -> DIR/stages/NAME.so or
 * DIR/detectors/NAME.so (in a build tree also DIR/KIND/.libs/NAME.so).
 * Relative paths are taken from `base_dir` (the pipeline file's). */
int loader_resolve(const char *plugin, enum apx_kind kind, const char *plugin_dir,
                   const char *base_dir, char *out, size_t size);

/* Load and check. 0, or -1 with err filled. */
int loader_open(const char *path, enum apx_kind kind, struct loaded_plugin *out,
                char *err, size_t errlen);
void loader_close(struct loaded_plugin *p);

/* The ABI rule alone (for tests): 0 if the host accepts these versions. */
int loader_check_abi(const struct apx_plugin *d, char *err, size_t errlen);

/* Copy `d` (a plugin's descriptor that passed loader_check_abi) with its
 * hooks and spec into `out`, each by its struct_size. 0, or -1 with err
 * filled: a detector without a spec, or a struct_size too small to hold
 * its own field. A stage without hooks gets all of them NULL. */
int loader_copy_abi(const struct apx_plugin *d, struct plugin_abi *out, char *err,
                    size_t errlen);

#endif
