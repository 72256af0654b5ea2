/* Built for a plugin ABI major the daemon does not have: must be refused. */
#include "broken.h"
APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    .abi_major = APX_ABI_MAJOR + 1, .abi_minor = 0, .struct_size = sizeof(struct apx_plugin),
    .kind = APX_KIND_DETECTOR, .name = "bad_major", .version = "1", .init = ok_init,
    .detector = BROKEN_SPEC,
};
