/*
 * loader: turning a plugin name or path into a checked, loaded descriptor.
 *
 * Checks, in order, each refusal one message naming the plugin and what to
 * do: the file and its directory are owned by root or by us and writable by
 * nobody else (like sshd's StrictModes); dlopen with RTLD_NOW|RTLD_LOCAL of a
 * private copy (so a plugin rebuilt on disk is really reloaded: dlopen would
 * hand back the old mapping for the same path); the descriptor symbol; the
 * ABI version rule; the kind; the name. It does not call init.
 */
#ifndef APX_LOADER_H
#define APX_LOADER_H

#include <stddef.h>

#include <anthropic-proxy/plugin.h>

struct loaded_plugin {
    char *path;                     /* the file loaded (as resolved) */
    void *dl;                       /* dlopen handle */
    const struct apx_plugin *desc;  /* inside the mapping */
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

#endif
