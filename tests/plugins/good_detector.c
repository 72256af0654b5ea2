/* A valid detector, used where a test needs one plugin it controls (the
 * group-writable refusal, a disabled detector). */
#include "broken.h"
APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER, .kind = APX_KIND_DETECTOR, .name = "good_detector", .version = "1.2.3",
    .init = ok_init, .detector = BROKEN_SPEC,
};
