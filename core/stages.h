/*
 * stages: a generation's plugins, instantiated — the host table each plugin
 * is lent, the calls into stage hooks, and the detector registry.
 *
 * generation_load_pipeline() builds everything the pipeline file names into
 * a generation (loaded, checked, init'ed, in order) or fails leaving nothing
 * behind; generation_unload_pipeline() finalises and unloads it when the
 * generation's last exchange is gone.
 */
#ifndef APX_STAGES_H
#define APX_STAGES_H

#include <stddef.h>

#include <anthropic-proxy/plugin.h>

#include "detectors.h"
#include "loader.h"
#include "pipeline.h"

struct generation;
struct core;
struct exchange;
struct plugin_timer;

/* One plugin in one generation. */
struct plugin_instance {
    struct apx_host api;         /* first: plugins' host pointer is the instance */
    uint32_t magic;
    struct generation *gen;      /* not a reference: the generation owns us */
    struct core *core;
    struct loaded_plugin lp;
    const struct apx_plugin *desc;
    const struct pipeline_entry *entry;
    void *state;
    bool inited;
    size_t slot;                 /* stages: index of the exchange slot */
    struct plugin_timer *timers; /* running timers, stopped at unload */
};

/* Load the generation's pipeline file (settings.pipeline) with its plugins.
 * 0, or -1 with err saying which plugin failed and why. */
int generation_load_pipeline(struct core *core, struct generation *g, char *err,
                             size_t errlen);
void generation_unload_pipeline(struct generation *g);

/* A short description of the loaded plugins for the log:
 * "scrubber 1.0.0, metrics 1.0.0, ... ; 16 detectors". */
void generation_describe(const struct generation *g, char *out, size_t size);
/* The reload receipt's list: every plugin loaded, stages then detector
 * plugins, each "name version" ("scrubber 0.3.0, ..., email 1.0.0"). */
void generation_list_plugins(const struct generation *g, char *out, size_t size);

/* Hook runners used by the exchange. */
enum apx_verdict stages_on_request(struct exchange *ex);
enum apx_verdict stages_on_response_head(struct exchange *ex);
/* Only the on_request hook of the stage `name` (anthropic-proxy scrub): its
 * verdict, or -2 if the generation has no such stage. */
int stages_run_one_on_request(struct exchange *ex, const char *name);
void stages_on_response_body(struct exchange *ex, const uint8_t *data, size_t len);
void stages_on_done(struct exchange *ex, const struct apx_done_info *info);

#endif
