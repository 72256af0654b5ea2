/* A plugin as an older minor of this major builds it: its detector spec
 * ends before must_not_match (as if that field came later), and its
 * descriptor says it needs only minor 0. The loader must copy only the
 * bytes the struct_size gives: the must_not_match list past it holds the
 * plugin's own match, which fails the load-time sample check if the
 * loader reads it. So this loads only if the size is honoured. */
#include <stddef.h>
#include "broken.h"

static const char *const own_match[] = { "brk_0123456789abcdef", NULL };

static const struct apx_detector_spec small_spec = {
    .struct_size = offsetof(struct apx_detector_spec, must_not_match),
    .label = "SMALL",
    .tier = APX_TIER_SECRET,
    .priority = 500,
    .pattern = "brk_[0-9a-f]{16}",
    .must_match = ok_match,
    .must_not_match = own_match, /* beyond struct_size: never read */
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    .abi_major = APX_ABI_MAJOR, .abi_minor = 0, .struct_size = sizeof(struct apx_plugin),
    .kind = APX_KIND_DETECTOR, .name = "small_structs", .version = "1",
    .detector = &small_spec,
};
