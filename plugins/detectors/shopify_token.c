/*
 * shopify_token: Shopify app tokens and secrets.
 *
 * shpat_ (Admin API access token), shpca_ (custom app access token),
 * shppa_ (private app access token) and shpss_ (app shared secret) + 32 hex
 * digits (lower case as issued; upper case taken too). The storefront
 * tokens, 32 hex with no prefix, are public by design and cannot be told
 * from an MD5 digest: left alone.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "SHOPIFY_ACCESS_TOKEN=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",
    "-H 'X-Shopify-Access-Token: shpca_0000dead0000beef0000cafe0000f00d'",
    "{\"password\": \"shppa_0123456789abcdef0123456789abcdef\"}",
    "SHOPIFY_API_SECRET=shpss_ABCDEF0123456789ABCDEF0123456789",
    NULL,
};

static const char *const must_not_match[] = {
    "Admin API tokens start with shpat_, app secrets with shpss_",
    "shpat_fedcba9876543210",                                   /* too short */
    "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0",                  /* 33: a longer run */
    "shpat_ghijklmnopqrstuvghijklmnopqrstuv",                   /* not hex */
    "shpxx_fedcba9876543210fedcba9876543210",                   /* no such kind */
    NULL,
};

/* From the second letter: the pre-filter looks at letter pairs, "sh" is
 * common in prose and code, "hp" is not. */
static const char *const anchors[] = { "hpat_", "hpca_", "hppa_", "hpss_", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "SHOPIFY_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 48,
    .pattern = "(?<![A-Za-z0-9_])shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32}+(?![A-Za-z0-9_-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "shopify_token",
    .version = "1.0.0",
    .description = "Shopify access tokens and app secrets (shpat_, shpca_, shppa_, shpss_ + 32 hex)",
    .detector = &detector_spec,
};
