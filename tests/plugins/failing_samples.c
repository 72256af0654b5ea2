/* A detector that does not find its own sample: must be refused. */
#include "broken.h"
static const char *const bad_match[] = { "brk_ZZZZ not a token", NULL };
static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "BROKEN",
    .tier = APX_TIER_SECRET,
    .priority = 500,
    .pattern = "brk_[0-9a-f]{16}",
    .must_match = bad_match,
    .must_not_match = ok_nomatch,
};
APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER, .kind = APX_KIND_DETECTOR, .name = "failing_samples", .version = "1",
    .init = ok_init,
    .detector = &detector_spec,
};
