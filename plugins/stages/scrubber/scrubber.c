/*
 * scrubber stage: replaces secrets in request bodies with placeholders
 * before they leave the machine (SPEC section 6).
 *
 * This version is the stage's frame: it loads in the pipeline, reads
 * SCRUB_MODE and sees the detector registry. The scanning itself lands with
 * the scrubber issue; until then it forwards bodies unchanged and says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <anthropic-proxy/plugin.h>

struct scrubber {
    const struct apx_host *host;
    char mode[32];
};

static int scrubber_init(const struct apx_host *host, const struct apx_config *cfg,
                         void **state, struct apx_error *err)
{
    struct scrubber *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return -1;
    }
    s->host = host;
    if (!host->setting(host, "SCRUB_MODE", s->mode, sizeof s->mode))
        snprintf(s->mode, sizeof s->mode, "off");
    if (strcmp(s->mode, "off") != 0)
        host->log(host, APX_LOG_WARN, "SCRUB_MODE=%s: this build does not scrub yet; "
                  "bodies are forwarded unchanged (%zu detectors loaded)", s->mode,
                  host->detector_count(host));
    *state = s;
    return 0;
}

static void scrubber_fini(void *state)
{
    free(state);
}

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_STAGE,
    .name = "scrubber",
    .version = "0.1.0",
    .description = "replaces secrets in request bodies with placeholders",
    .init = scrubber_init,
    .fini = scrubber_fini,
};
