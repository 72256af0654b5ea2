/*
 * host: the apx_host table the core lends each plugin, and the plugin's
 * instance in a generation, which is what the host pointer a plugin gets
 * points to. See host.c.
 */
#ifndef APX_HOST_H
#define APX_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include <anthropic-proxy/plugin.h>

#include "loader.h"
#include "pipeline.h"

struct generation;
struct core;
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

/* Make p's api the core's host table and mark p as an instance (its magic
 * is checked on every host call). */
void host_lend(struct plugin_instance *p);
/* Stop every timer p started (at unload, before its fini). */
void host_stop_timers(struct plugin_instance *p);

#endif
