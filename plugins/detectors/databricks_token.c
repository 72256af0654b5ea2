/*
 * databricks_token: Databricks personal access tokens.
 *
 * "dapi" + 32 lower-case hex digits (a-h accepted, as some issued tokens
 * hold them), optionally "-" + a one- or two-digit suffix, at a word
 * start. "dapi" is also an ordinary fragment (the Windows DPAPI, "dapi"
 * in identifiers and prose), so the token must start a word, hold exactly
 * 32 hex digits and end there: "dapi" in prose, "dapi_client",
 * "sdapi..." and a 40-hex commit after "dapi" are left alone.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "DATABRICKS_TOKEN=dapi0a1b2c3d4e5f67890a1b2c3d4e5f6789",
    "databricks configure --token <<< dapifedcba9876543210fedcba9876543210-2",
    "{\"token\": \"dapi0000000000000000000000000000beef\"}",
    "Authorization: Bearer dapiabcdefabcdefabcdefabcdefabcdef12",
    NULL,
};

static const char *const must_not_match[] = {
    "the dapi prefix marks Databricks tokens; see dapi_client.py",
    "dapi0a1b2c3d4e5f6789",                                     /* too short */
    "dapi5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",             /* 40 hex: a longer run */
    "sdapi0a1b2c3d4e5f67890a1b2c3d4e5f6789",                    /* not at a word start */
    "dapiFEDCBA9876543210FEDCBA9876543210",                     /* upper case */
    "CryptUnprotectData (DPAPI) uses dapi.dll",
    NULL,
};

static const char *const anchors[] = { "dapi", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "DATABRICKS_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 49,
    .pattern = "(?<![A-Za-z0-9_])dapi[0-9a-h]{32}+(?:-[0-9]{1,2}+)?+(?![A-Za-z0-9_])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "databricks_token",
    .version = "1.0.0",
    .description = "Databricks personal access tokens (dapi + 32 hex)",
    .detector = &detector_spec,
};
