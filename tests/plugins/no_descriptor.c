/* A shared object that is not a plugin: no apx_plugin_descriptor. */
#include "broken.h"
APX_EXPORT const struct apx_plugin some_other_name = {
    APX_PLUGIN_HEADER, .kind = APX_KIND_DETECTOR, .name = "no_descriptor", .version = "1",
    .init = ok_init, .detector = BROKEN_SPEC,
};
