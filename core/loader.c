/*
 * loader: plugin files to descriptors, with every check before use.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "loader.h"

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int loader_resolve(const char *plugin, enum apx_kind kind, const char *plugin_dir,
                   const char *base_dir, char *out, size_t size)
{
    if (strchr(plugin, '/')) {
        int n = plugin[0] == '/' ? snprintf(out, size, "%s", plugin)
                                 : snprintf(out, size, "%s/%s", base_dir, plugin);
        return n > 0 && (size_t)n < size ? 0 : -1;
    }
    const char *sub = kind == APX_KIND_STAGE ? "stages" : "detectors";
    int n = snprintf(out, size, "%s/%s/%s.so", plugin_dir, sub, plugin);
    if (n < 0 || (size_t)n >= size)
        return -1;
    if (is_file(out))
        return 0;
    /* a build tree keeps libtool's modules in .libs */
    char alt[4096];
    n = snprintf(alt, sizeof alt, "%s/%s/.libs/%s.so", plugin_dir, sub, plugin);
    if (n > 0 && (size_t)n < sizeof alt && is_file(alt) && strlen(alt) < size)
        strcpy(out, alt);
    return 0;
}

/* StrictModes: a plugin runs inside the daemon, so only its owner may have
 * been able to put it there. */
static int check_owner_mode(const char *what, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        snprintf(err, errlen, "%s %s is owned by uid %u, neither root nor the daemon's "
                 "user: refusing to load it (chown root %s)", what, path,
                 (unsigned)st.st_uid, path);
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen, "%s %s is writable by group or others (mode %04o): refusing "
                 "to load it (chmod go-w %s)", what, path, (unsigned)(st.st_mode & 07777),
                 path);
        return -1;
    }
    return 0;
}

/* Copy the plugin to a private file and dlopen that, then unlink it: the
 * mapping stays, and the next generation gets a fresh one. */
static void *open_private_copy(const char *path, char *err, size_t errlen)
{
    char tmpl[] = "/tmp/anthropic-proxy-plugin.XXXXXX";
    const char *dir = getenv("TMPDIR");
    char name[4096];
    snprintf(name, sizeof name, "%s/%s", dir && *dir ? dir : "/tmp", tmpl + 5);
    int out = mkstemp(name);
    int in = open(path, O_RDONLY | O_CLOEXEC);
    void *dl = NULL;
    if (out < 0 || in < 0) {
        snprintf(err, errlen, "%s: cannot make a private copy: %s", path, strerror(errno));
        goto done;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) {
            n = -1;
            break;
        }
    if (n < 0 || fchmod(out, 0500) < 0) {
        snprintf(err, errlen, "%s: cannot make a private copy: %s", path, strerror(errno));
        goto done;
    }
    dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        snprintf(err, errlen, "%s: cannot load: %s", path, dlerror());
done:
    if (in >= 0)
        close(in);
    if (out >= 0) {
        close(out);
        unlink(name);
    }
    return dl;
}

/* The descriptor as ABI 2.0 made it, up to its last field: every 2.x
 * plugin has at least this much. */
#define DESC_2_0_SIZE (offsetof(struct apx_plugin, setup) + sizeof(void (*)(void)))

int loader_check_abi(const struct apx_plugin *d, char *err, size_t errlen)
{
    if (d->abi_major != APX_ABI_MAJOR) {
        snprintf(err, errlen, "was built for plugin ABI %u.%u, this daemon has %d.%d: "
                 "rebuild it against this daemon's plugin.h", d->abi_major, d->abi_minor,
                 APX_ABI_MAJOR, APX_ABI_MINOR);
        return -1;
    }
    if (d->abi_minor > APX_ABI_MINOR) {
        snprintf(err, errlen, "needs plugin ABI %u.%u, newer than this daemon's %d.%d: "
                 "upgrade anthropic-proxy or use an older build of the plugin",
                 d->abi_major, d->abi_minor, APX_ABI_MAJOR, APX_ABI_MINOR);
        return -1;
    }
    if (d->struct_size < DESC_2_0_SIZE) {
        snprintf(err, errlen, "descriptor is %u bytes, ABI %d.0 needs at least %zu: rebuild it",
                 d->struct_size, APX_ABI_MAJOR, DESC_2_0_SIZE);
        return -1;
    }
    return 0;
}

/* Copy `size` bytes of what a plugin declared (at most our own size) over
 * a zeroed struct of ours. */
static void copy_sized(void *dst, size_t dst_size, const void *src, size_t size)
{
    memset(dst, 0, dst_size);
    memcpy(dst, src, size < dst_size ? size : dst_size);
}

int loader_copy_abi(const struct apx_plugin *d, struct plugin_abi *out, char *err,
                    size_t errlen)
{
    copy_sized(&out->desc, sizeof out->desc, d, d->struct_size);
    out->desc.struct_size = sizeof out->desc;
    out->desc.stage = NULL;
    out->desc.detector = NULL;
    if (d->kind == APX_KIND_STAGE) {
        /* a stage without hooks (only local routes, as the dashboard) is fine */
        memset(&out->hooks, 0, sizeof out->hooks);
        if (d->stage && d->stage->struct_size < sizeof(uint32_t)) {
            snprintf(err, errlen, "the stage hooks' .struct_size is %u: set it to "
                     "sizeof(struct apx_stage_hooks)", d->stage->struct_size);
            return -1;
        }
        if (d->stage)
            copy_sized(&out->hooks, sizeof out->hooks, d->stage, d->stage->struct_size);
        out->hooks.struct_size = sizeof out->hooks;
        out->desc.stage = &out->hooks;
    } else if (d->kind == APX_KIND_DETECTOR) {
        if (!d->detector || d->detector->struct_size < sizeof(uint32_t)) {
            snprintf(err, errlen, "a detector plugin without a detector spec (.detector "
                     "pointing to a struct apx_detector_spec with its .struct_size)");
            return -1;
        }
        copy_sized(&out->spec, sizeof out->spec, d->detector, d->detector->struct_size);
        out->spec.struct_size = sizeof out->spec;
        out->desc.detector = &out->spec;
    }
    return 0;
}

static bool valid_name(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++, n++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return n > 0 && n <= 64;
}

int loader_open(const char *path, enum apx_kind kind, struct loaded_plugin *out,
                char *err, size_t errlen)
{
    char why[512], dir[4096];
    memset(out, 0, sizeof *out);
    snprintf(dir, sizeof dir, "%s", path);
    if (!is_file(path)) {
        snprintf(err, errlen, "%s: no such plugin file (is PLUGIN_DIR right?)", path);
        return -1;
    }
    if (check_owner_mode("plugin", path, err, errlen) < 0 ||
        check_owner_mode("plugin directory", dirname(dir), err, errlen) < 0)
        return -1;
    out->dl = open_private_copy(path, err, errlen);
    if (!out->dl)
        return -1;
    out->desc = dlsym(out->dl, APX_PLUGIN_SYMBOL);
    if (!out->desc) {
        snprintf(err, errlen, "%s: no descriptor '%s' exported: is it an anthropic-proxy "
                 "plugin? (see anthropic-proxy-plugin(3))", path, APX_PLUGIN_SYMBOL);
        goto fail;
    }
    if (loader_check_abi(out->desc, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto fail;
    }
    if (out->desc->kind != (uint32_t)kind) {
        snprintf(err, errlen, "%s: is %s, listed as a %s", path,
                 out->desc->kind == APX_KIND_STAGE ? "a stage plugin"
                 : out->desc->kind == APX_KIND_DETECTOR ? "a detector plugin"
                 : "a plugin of an unknown kind",
                 kind == APX_KIND_STAGE ? "stage" : "detector");
        goto fail;
    }
    /* a detector is data (a pattern or find(), samples): it needs no init */
    if (!valid_name(out->desc->name) || !out->desc->version ||
        (kind == APX_KIND_STAGE && !out->desc->init)) {
        snprintf(err, errlen, "%s: descriptor lacks a valid name ([a-z0-9_]+), a version%s",
                 path, kind == APX_KIND_STAGE ? " or an init function" : "");
        goto fail;
    }
    out->path = strdup(path);
    out->abi = malloc(sizeof *out->abi);
    if (!out->path || !out->abi) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (loader_copy_abi(out->desc, out->abi, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto fail;
    }
    out->desc = &out->abi->desc;
    return 0;
fail:
    dlclose(out->dl);
    free(out->path);
    free(out->abi);
    memset(out, 0, sizeof *out);
    return -1;
}

void loader_close(struct loaded_plugin *p)
{
    if (p->dl)
        dlclose(p->dl);
    free(p->path);
    free(p->abi);
    memset(p, 0, sizeof *p);
}
