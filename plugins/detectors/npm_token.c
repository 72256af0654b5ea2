/*
 * npm_token: npm access tokens.
 *
 * "npm_" + 36 letters and digits (30 random, the last 6 a base62 CRC32 of
 * them), for every kind npm issues: publish, automation, read-only and
 * granular tokens. No checksum test, as for GitHub tokens: a fake-looking
 * token pasted into a test is still taken. npm's own environment variables
 * (npm_config_cache, npm_package_version, npm_lifecycle_event) hold an
 * underscore after the prefix and are left alone; so are runs longer than
 * 36, and legacy tokens (a bare UUID, which nothing tells from any other).
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "npm_FakeNpmTokenForTestsAbCdEf0123456789",
    "//registry.npmjs.org/:_authToken=npm_ExampleOnlyNotRealAbCdEf0123456789Ab",
    "NPM_TOKEN=\"npm_0000TEST0000fake0000SAMPLE0000only00\"",
    "echo npm_ZzYyXx9876543210WwVvUu0123456789TtSs | npm login",
    NULL,
};

static const char *const must_not_match[] = {
    "set npm_config_registry=https://registry.npmjs.org/ first",
    "npm_package_version and npm_lifecycle_event are set by npm run",
    "npm_FakeNpmTokenForTests",                         /* too short */
    "npm_FakeNpmTokenForTestsAbCdEf0123456789X",        /* 37: a longer run */
    "xnpm_FakeNpmTokenForTestsAbCdEf0123456789",        /* no word start */
    "npm_FakeNpmToken-ForTestsAbCdEf012345678",         /* '-' is not in the charset */
    NULL,
};

/* "pm_", inside "npm_": the pre-filter looks at letter pairs, and "np" is
 * common (input, unpack), "pm" is not. */
static const char *const anchors[] = { "pm_", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "NPM_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 43,
    .pattern = "(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}+(?![A-Za-z0-9_-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "npm_token",
    .version = "1.0.0",
    .description = "npm access tokens (npm_ + 36 letters and digits)",
    .detector = &detector_spec,
};
