/*
 * google_oauth_secret: Google OAuth 2.0 client secrets.
 *
 * "GOCSPX-" + 28 base64url characters: the client_secret Google Cloud
 * issues for web, desktop and other OAuth clients since 2021 (in
 * client_secret.json, .env files, passport and google-auth setups). The
 * client id (NNN-xxx.apps.googleusercontent.com) is public and left alone;
 * so are the older secrets without a prefix (24 characters nothing tells
 * from any other), placeholders such as "GOCSPX-xxxxx" and longer runs.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "GOOGLE_CLIENT_SECRET=GOCSPX-FakeOAuthSecretForTests-_012",
    "{\"installed\":{\"client_id\":\"123-abc.apps.googleusercontent.com\","
    "\"client_secret\":\"GOCSPX-0000fake_0000-TEST0000only00\"}}",
    "clientSecret: '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',",
    "--client-secret GOCSPX---FakeLeadingDashes012345678",
    NULL,
};

static const char *const must_not_match[] = {
    "VALID_CLIENT_SECRET = \"GOCSPX-test-secret\"",
    "the client secret starts with GOCSPX- and sits beside the client id",
    "GOCSPX-FakeOAuthSecretForTests-_0123",                   /* 29: a longer run */
    "GOCSPX-Fake+OAuth/Secret=ForTests012",                   /* not base64url */
    "XGOCSPX-FakeOAuthSecretForTests-_012",                   /* not at a word start */
    NULL,
};

static const char *const anchors[] = { "GOCSPX-", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "GOOGLE_OAUTH_SECRET",
    .tier = APX_TIER_SECRET,
    .priority = 52,
    .pattern = "(?<![A-Za-z0-9_])GOCSPX-[A-Za-z0-9_-]{28}+(?![A-Za-z0-9_-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "google_oauth_secret",
    .version = "1.0.0",
    .description = "Google OAuth client secrets (GOCSPX- + 28)",
    .detector = &detector_spec,
};
