/*
 * acme_token: a template detector plugin for anthropic-proxy.
 *
 * It finds the (made-up) ACME Corp API tokens, "acme_" followed by 32
 * lower-case hex digits, and the scrubber replaces them with
 * <ACME_TOKEN_1>, <ACME_TOKEN_2>, ... Copy this directory, rename, change the
 * pattern and samples, `make`, install the .so into the daemon's detector
 * directory (or give its path in the pipeline file), add it to the pipeline
 * and reload with SIGHUP. See anthropic-proxy-plugin(3).
 *
 * It builds against the installed header alone:
 *     cc -shared -fPIC $(pkg-config --cflags anthropic-proxy-plugin) \
 *        -o acme_token.so acme_token.c
 */
#include <anthropic-proxy/plugin.h>

/* Strings the detector must find, checked at every load and reload. */
static const char *const must_match[] = {
    "acme_0123456789abcdef0123456789abcdef",
    "token = \"acme_ffffffffffffffffffffffffffffffff\"",
    NULL,
};

/* Look-alikes it must leave alone. */
static const char *const must_not_match[] = {
    "acme_0123",                                   /* too short */
    "acme_0123456789abcdef0123456789abcdef00",     /* part of a longer run */
    "the acme_ prefix is documented in the wiki",
    NULL,
};

static const char *const anchors[] = { "acme_", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "ACME_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 170,
    .pattern = "\\bacme_[0-9a-f]{32}\\b",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "acme_token",
    .version = "1.0.0",
    .description = "ACME Corp API tokens (template detector)",
    .detector = &detector_spec,
};
