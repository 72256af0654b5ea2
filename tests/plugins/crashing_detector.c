/* A detector that passes its samples and then dies (SIGSEGV) on any text
 * holding CRASH_ME_NOW: the supervisor must restart the core and name the
 * plugin in its log. */
#include <signal.h>
#include <string.h>
#include "broken.h"

static int crashing_find(void *state, const char *text, size_t len, size_t start,
                         size_t *ms, size_t *me)
{
    (void)state;
    if (memmem(text, len, "CRASH_ME_NOW", 12))
        raise(SIGSEGV); /* as a bad pointer would, without UBSan stepping in first */
    const char *p = start < len ? memmem(text + start, len - start, "brk_", 4) : NULL;
    if (!p || (size_t)(p - text) + 20 > len)
        return 0;
    *ms = (size_t)(p - text);
    *me = *ms + 20;
    return 1;
}

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "BROKEN",
    .tier = APX_TIER_SECRET,
    .priority = 500,
    .find = crashing_find,
    .must_match = ok_match,
    .must_not_match = ok_nomatch,
};
APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER, .kind = APX_KIND_DETECTOR, .name = "crashing_detector", .version = "1",
    .init = ok_init,
    .detector = &detector_spec,
};
