/* Needs a newer minor ABI than the daemon's: must be refused. */
#include "broken.h"
APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    .abi_major = APX_ABI_MAJOR, .abi_minor = APX_ABI_MINOR + 1,
    .struct_size = sizeof(struct apx_plugin),
    .kind = APX_KIND_DETECTOR, .name = "newer_minor", .version = "1", .init = ok_init,
    .detector = BROKEN_SPEC,
};
