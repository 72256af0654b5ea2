/* Shared by the deliberately broken plugins: a detector that would be
 * valid but for the one thing each file gets wrong. */
#include <stdio.h>
#include <anthropic-proxy/plugin.h>

static const char *const ok_match[] = { "brk_0123456789abcdef", NULL };
static const char *const ok_nomatch[] = { "brk_", NULL };

__attribute__((unused)) static int ok_init(const struct apx_host *host, const struct apx_config *cfg, void **state,
                   struct apx_error *err)
{
    (void)host; (void)cfg; (void)err;
    *state = NULL;
    return 0;
}

__attribute__((unused)) static const struct apx_detector_spec broken_spec = {
    .struct_size = sizeof(struct apx_detector_spec), .label = "BROKEN",
    .tier = APX_TIER_SECRET, .priority = 500, .pattern = "brk_[0-9a-f]{16}",
    .must_match = ok_match, .must_not_match = ok_nomatch,
};
#define BROKEN_SPEC (&broken_spec)
