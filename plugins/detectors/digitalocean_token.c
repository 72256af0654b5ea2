/*
 * digitalocean_token: DigitalOcean API tokens.
 *
 * dop_v1_ (personal access token), doo_v1_ (OAuth access token) and
 * dor_v1_ (OAuth refresh token) + 64 lower-case hex digits. A SHA-256
 * digest without the prefix, and runs of hex longer or shorter than 64
 * after it, are left alone.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "DIGITALOCEAN_TOKEN=dop_v1_fedcba98765432100123456789abcdeffedcba98765432100123456789abcdef",
    "doctl auth init --access-token dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "{\"access_token\": \"doo_v1_fedcba98765432100123456789abcdeffedcba98765432100123456789abcdef\", \"refresh_token\": \"dor_v1_fedcba98765432100123456789abcdeffedcba98765432100123456789abcdef\"}",
    "Authorization: Bearer doo_v1_aaaabbbbccccddddeeeeffff00001111aaaabbbbccccddddeeeeffff00001111",
    NULL,
};

static const char *const must_not_match[] = {
    "personal access tokens start with dop_v1_ and OAuth ones with doo_v1_",
    "dop_v1_fedcba98765432100123456789abcdef",                   /* too short */
    "dop_v1_fedcba98765432100123456789abcdeffedcba98765432100123456789abcdef0",                                           /* 65: a longer run */
    "dop_v1_FEDCBA98765432100123456789ABCDEFFEDCBA98765432100123456789ABCDEF",  /* upper case */
    "dop_v2_fedcba98765432100123456789abcdeffedcba98765432100123456789abcdef",                                              /* no such version */
    NULL,
};

/* "_v1_", which all three hold: the pre-filter looks at letter pairs, and
 * "do" is in every other line of prose and code. */
static const char *const anchors[] = { "_v1_", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "DIGITALOCEAN_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 47,
    .pattern = "(?<![A-Za-z0-9_])do[opr]_v1_[0-9a-f]{64}+(?![A-Za-z0-9_-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "digitalocean_token",
    .version = "1.0.0",
    .description = "DigitalOcean API tokens (dop_v1_, doo_v1_, dor_v1_ + 64 hex)",
    .detector = &detector_spec,
};
