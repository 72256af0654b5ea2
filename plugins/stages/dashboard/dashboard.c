/*
 * dashboard stage: the live dashboard page (SPEC section 7).
 *
 * This version is the stage's frame: it loads in the pipeline. The page and
 * its routes land with the metrics and dashboard issue.
 */
#include <stdlib.h>

#include <anthropic-proxy/plugin.h>

static int dashboard_init(const struct apx_host *host, const struct apx_config *cfg,
                          void **state, struct apx_error *err)
{
    *state = NULL;
    return 0;
}

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_STAGE,
    .name = "dashboard",
    .version = "0.1.0",
    .description = "the live dashboard (frame only in this version)",
    .init = dashboard_init,
};
