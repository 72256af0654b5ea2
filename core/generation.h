/*
 * generation: what a start or a reload builds (settings, certificate,
 * upstream pool, local routes, the pipeline's plugins), held by counted
 * references and retired by the last of them. See generation.c.
 */
#ifndef APX_GENERATION_H
#define APX_GENERATION_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "pipeline.h"
#include "routes.h"
#include "settings.h"

struct core;
struct upstream_pool;
struct plugin_instance;
struct detector;

/*
 * A generation: everything a reload can change. Exchanges hold a reference
 * to the generation they started with; a reload builds a new one and makes
 * it current only when every step of building it succeeded.
 */
struct generation {
    uint32_t magic;
    unsigned refs;
    uint64_t revision;           /* counts successful loads from 1 */
    struct settings settings;
    SSL_CTX *server_ctx;         /* the HTTPS port's certificate */
    struct upstream_pool *pool;  /* shared with the previous generation if
                                    the upstream settings did not change */
    struct route_table routes;   /* local routes: the core's and the stages' */
    struct pipeline pipeline;    /* the parsed pipeline file */
    struct plugin_instance **stages;   /* in pipeline order */
    size_t nstages;
    struct plugin_instance **dplugins; /* detector plugins, pipeline order */
    size_t ndplugins;
    struct detector **detectors; /* enabled detectors, by priority */
    size_t ndetectors;
    double load_seconds;         /* how long building it took */
};

/* Build a generation from the settings `s` (taken over, also on failure):
 * the server certificate (unless the core is offline), the upstream pool
 * (prev's, if its settings match), the local routes and every plugin the
 * pipeline file names, loaded, checked and init'ed in order. The new
 * generation holds one reference. NULL with err saying which step (and
 * which plugin, at which line of the pipeline file) failed; nothing of it
 * is left then. */
struct generation *generation_build(struct core *core, struct settings *s,
                                    const struct generation *prev, char *err, size_t errlen);

/* Counted references: the last unref finalises the plugins (their fini, in
 * pipeline order), unloads them and frees the rest. */
struct generation *generation_ref(struct generation *g);
void generation_unref(struct generation *g);

/* A short description of the loaded plugins for the log:
 * "scrubber 1.0.0, metrics 1.0.0, ... ; 16 detectors". */
void generation_describe(const struct generation *g, char *out, size_t size);
/* The reload receipt's list: every plugin loaded, stages then detector
 * plugins, each "name version" ("scrubber 0.3.0, ..., email 1.0.0"). */
void generation_list_plugins(const struct generation *g, char *out, size_t size);

#endif
