/*
 * generation: what a start or a reload builds, who holds it, and how it is
 * retired. A generation is everything a reload can change: the settings,
 * the server certificate, the upstream pool (kept from the previous
 * generation when its settings did not change), the local routes, and the
 * pipeline's plugins, loaded, checked and init'ed in order. Building one
 * either succeeds whole or leaves nothing behind; exchanges hold counted
 * references, and the last reference finalises and unloads the plugins.
 * Making a generation current is core.c's business.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "crash.h"
#include "detectors.h"
#include "generation.h"
#include "host.h"
#include "log.h"
#include "tls.h"
#include "upstream.h"

#define GEN_MAGIC 0x47454e31u /* "GEN1" */

/* ---- loading a pipeline ---- */

static struct plugin_instance *instance_load(struct core *core, struct generation *g,
                                             const struct pipeline_entry *e, enum apx_kind kind,
                                             char *err, size_t errlen)
{
    char path[4096], dir[4096], why[768];
    snprintf(dir, sizeof dir, "%s", g->pipeline.file ? g->pipeline.file : ".");
    if (loader_resolve(e->plugin, kind, g->settings.plugin_dir, dirname(dir), path,
                       sizeof path) < 0) {
        snprintf(err, errlen, "%s %s: plugin path too long", kind == APX_KIND_STAGE
                 ? "stage" : "detector", e->name);
        return NULL;
    }
    struct plugin_instance *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (loader_open(path, kind, &p->lp, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s %s (%s:%u): %s", kind == APX_KIND_STAGE ? "stage" : "detector",
                 e->name, g->pipeline.file, e->line, why);
        free(p);
        return NULL;
    }
    host_lend(p);
    p->gen = g;
    p->core = core;
    p->desc = p->lp.desc;
    p->entry = e;
    return p;
}

static int instance_init(struct plugin_instance *p, char *err, size_t errlen)
{
    struct apx_error perr = { { 0 } };
    if (!p->desc->init) { /* a detector without state */
        p->inited = true;
        return 0;
    }
    const char *prev = crash_enter(p->entry->name);
    int rc = p->desc->init(&p->api, &p->entry->config, &p->state, &perr);
    crash_leave(prev);
    if (rc != 0) {
        snprintf(err, errlen, "%s %s: init failed: %s",
                 p->desc->kind == APX_KIND_STAGE ? "stage" : "detector", p->entry->name,
                 perr.message[0] ? perr.message : "(no reason given)");
        return -1;
    }
    p->inited = true;
    return 0;
}

static void instance_free(struct plugin_instance *p)
{
    host_stop_timers(p);
    if (p->inited && p->desc->fini) {
        const char *prev = crash_enter(p->entry->name);
        p->desc->fini(p->state);
        crash_leave(prev);
    }
    loader_close(&p->lp);
    p->magic = 0;
    free(p);
}

/* Turn a loaded, init'ed detector plugin into a registry entry. */
static int detector_build(struct plugin_instance *p, struct detector **out, char *err,
                          size_t errlen)
{
    struct detector *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    d->spec = *p->desc->detector; /* the loader's full-size copy */
    d->state = p->state;
    if (p->desc->setup) {
        struct apx_error perr = { { 0 } };
        const char *prev = crash_enter(p->entry->name);
        int rc = p->desc->setup(p->state, &d->spec, &perr);
        crash_leave(prev);
        if (rc != 0) {
            snprintf(err, errlen, "detector %s: %s", p->entry->name, perr.message);
            free(d);
            return -1;
        }
    }
    d->pub.name = p->entry->name;
    d->pub.label = d->spec.label;
    d->pub.tier = d->spec.tier;
    d->pub.anchors = d->spec.anchors;
    d->pub.action = p->entry->action;
    d->pub.restore = p->entry->restore;
    d->pub.priority = p->entry->has_priority ? p->entry->priority : d->spec.priority;
    if (!d->spec.label || !*d->spec.label ||
        strspn(d->spec.label, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(d->spec.label) ||
        (d->spec.tier != APX_TIER_SECRET && d->spec.tier != APX_TIER_IDENTIFIER)) {
        snprintf(err, errlen, "detector %s: needs a label of [A-Z0-9_] and a tier of secret "
                 "or identifier", p->entry->name);
        free(d);
        return -1;
    }
    char why[768];
    if (detector_compile(d, why, sizeof why) < 0 ||
        detector_check_samples(d, why, sizeof why) < 0) {
        /* where in the pipeline file, so the operator knows which entry to fix */
        snprintf(err, errlen, "%s:%u: %s", p->gen->pipeline.file, p->entry->line, why);
        detector_release(d);
        free(d);
        return -1;
    }
    *out = d;
    return 0;
}

static int load_detectors(struct core *core, struct generation *g, char *err, size_t errlen)
{
    size_t n = g->pipeline.ndetectors;
    g->dplugins = calloc(n ? n : 1, sizeof *g->dplugins);
    g->detectors = calloc(n ? n : 1, sizeof *g->detectors);
    if (!g->dplugins || !g->detectors) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct pipeline_entry *e = &g->pipeline.detectors[i];
        if (!e->enabled)
            continue;
        struct plugin_instance *p = instance_load(core, g, e, APX_KIND_DETECTOR, err, errlen);
        if (!p)
            return -1;
        g->dplugins[g->ndplugins++] = p;
        if (instance_init(p, err, errlen) < 0 ||
            detector_build(p, &g->detectors[g->ndetectors], err, errlen) < 0)
            return -1;
        g->ndetectors++;
    }
    detectors_sort(g->detectors, g->ndetectors);
    return 0;
}

static int load_stages(struct core *core, struct generation *g, char *err, size_t errlen)
{
    size_t n = g->pipeline.nstages;
    g->stages = calloc(n ? n : 1, sizeof *g->stages);
    if (!g->stages) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct pipeline_entry *e = &g->pipeline.stages[i];
        struct plugin_instance *p = instance_load(core, g, e, APX_KIND_STAGE, err, errlen);
        if (!p)
            return -1;
        if (g->settings.only_stage && strcmp(p->desc->name, g->settings.only_stage) != 0) {
            instance_free(p); /* loaded, so a broken file still fails; never started */
            continue;
        }
        for (size_t j = 0; j < g->nstages; j++)
            if (strcmp(g->stages[j]->desc->name, p->desc->name) == 0) {
                snprintf(err, errlen, "stage %s: plugin %s is already loaded as stage %s; a "
                         "stage plugin may appear once", e->name, p->desc->name,
                         g->stages[j]->entry->name);
                instance_free(p);
                return -1;
            }
        p->slot = g->nstages;
        g->stages[g->nstages++] = p;
        if (instance_init(p, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* A missing pipeline file at the installed default path means "no plugins",
 * so a bare build runs; a file the operator named must exist. */
static bool pipeline_optional(const struct settings *s)
{
    char def[4096];
    snprintf(def, sizeof def, "%s/anthropic-proxy/pipeline.yaml", SYSCONFDIR);
    return strcmp(s->pipeline, def) == 0;
}

static int load_pipeline(struct core *core, struct generation *g, char *err, size_t errlen)
{
    const char *file = g->settings.pipeline;
    if (pipeline_optional(&g->settings) && access(file, F_OK) != 0 && errno == ENOENT) {
        log_warn("no pipeline file at %s: running without stages or detectors", file);
        return 0;
    }
    if (pipeline_load(file, &g->pipeline, err, errlen) < 0)
        return -1;
    /* detectors first: the scrubber stage reads the registry at its init */
    if (load_detectors(core, g, err, errlen) < 0 || load_stages(core, g, err, errlen) < 0)
        return -1;
    return 0;
}

static void unload_pipeline(struct generation *g)
{
    for (size_t i = g->nstages; i-- > 0;)  /* reverse order of init */
        instance_free(g->stages[i]);
    for (size_t i = 0; i < g->ndetectors; i++) {
        detector_release(g->detectors[i]);
        free(g->detectors[i]);
    }
    for (size_t i = g->ndplugins; i-- > 0;)
        instance_free(g->dplugins[i]);
    free(g->stages);
    free(g->detectors);
    free(g->dplugins);
    g->stages = g->dplugins = NULL;
    g->detectors = NULL;
    g->nstages = g->ndplugins = g->ndetectors = 0;
    pipeline_free(&g->pipeline);
}

void generation_describe(const struct generation *g, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < g->nstages && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s %s", i ? ", " : "",
                              g->stages[i]->desc->name, g->stages[i]->desc->version);
    if (n < size)
        snprintf(out + n, size - n, "%s%zu detector%s", g->nstages ? "; " : "", g->ndetectors,
                 g->ndetectors == 1 ? "" : "s");
}

void generation_list_plugins(const struct generation *g, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < g->nstages + g->ndplugins && n < size; i++) {
        const struct plugin_instance *p = i < g->nstages ? g->stages[i]
                                                         : g->dplugins[i - g->nstages];
        n += (size_t)snprintf(out + n, size - n, "%s%s %s", i ? ", " : "", p->desc->name,
                              p->desc->version);
    }
    if (n == 0)
        snprintf(out, size, "no plugins");
}

struct generation *generation_ref(struct generation *g)
{
    assert(g->magic == GEN_MAGIC);
    g->refs++;
    return g;
}

void generation_unref(struct generation *g)
{
    assert(g->magic == GEN_MAGIC && g->refs > 0);
    if (--g->refs > 0)
        return;
    log_debug("generation %llu released", (unsigned long long)g->revision);
    unload_pipeline(g);
    if (g->pool)
        upstream_pool_unref(g->pool);
    if (g->server_ctx)
        SSL_CTX_free(g->server_ctx);
    routes_free(&g->routes);
    settings_free(&g->settings);
    g->magic = 0;
    free(g);
}

/* Build a generation from settings `s` (taken over, also on failure). */
struct generation *generation_build(struct core *core, struct settings *s,
                                           const struct generation *prev, char *err,
                                           size_t errlen)
{
    struct generation *g = calloc(1, sizeof *g);
    if (!g) {
        settings_free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->magic = GEN_MAGIC;
    g->refs = 1;
    g->revision = prev ? prev->revision + 1 : 1;
    g->settings = *s;
    memset(s, 0, sizeof *s);
    if (!core->offline &&
        !(g->server_ctx = tls_server_ctx(g->settings.tls_cert, g->settings.tls_key, err,
                                         errlen)))
        goto fail;
    if (prev && upstream_pool_matches(prev->pool, &g->settings)) {
        g->pool = upstream_pool_ref(prev->pool);
        upstream_pool_update(g->pool, &g->settings);
    } else if (!(g->pool = upstream_pool_new(core->base, core->timeouts, core->dns,
                                             &g->settings, err, errlen))) {
        goto fail;
    }
    if (routes_add_builtin(&g->routes) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (load_pipeline(core, g, err, errlen) < 0)
        goto fail;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    g->load_seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return g;
fail:
    generation_unref(g);
    return NULL;
}
