/* A stage whose init fails: the generation must not be used. */
#include "broken.h"
static int bad_init(const struct apx_host *host, const struct apx_config *cfg, void **state,
                    struct apx_error *err)
{
    (void)host; (void)cfg; (void)state;
    snprintf(err->message, sizeof err->message, "refusing to start on purpose");
    return -1;
}
APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER, .kind = APX_KIND_STAGE, .name = "failing_init", .version = "1",
    .init = bad_init,
};
