/*
 * dockerhub_token: Docker Hub personal and organization access tokens.
 *
 * dckr_pat_ (personal access token, 27 base64url characters after the
 * prefix) and dckr_oat_ (organization access token, 32 today) + 27 to 64
 * base64url characters. Docker Hub passwords and the legacy UUID-shaped
 * tokens carry no prefix and are not taken here.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "docker login -u alice -p dckr_pat_FakeDockerHubToken_-0123456",
    "DOCKERHUB_TOKEN=dckr_oat_FakeDockerOrgToken_-0123456789_-",
    "{\"password\": \"dckr_pat_0000fake0000TEST0000only000\"}",
    "echo dckr_pat_ZzYyXxWwVvUuTtSsRrQqPpOo012 | docker login --password-stdin",
    NULL,
};

static const char *const must_not_match[] = {
    "Docker personal access tokens start with dckr_pat_ and organization ones with dckr_oat_",
    "dckr_pat_FakeDockerHub",                                   /* too short */
    "xdckr_pat_FakeDockerHubToken_-0123456",                    /* a longer run */
    "dckr_pat_Fake+Docker/Hub=Token.0123456789",                /* not base64url */
    "dckr_pat_FakeDockerHubToken0123456789FakeDockerHubToken0123456789Fake_-0123",  /* 66: too long */
    NULL,
};

/* From the third letter: the pre-filter looks at letter pairs, and "kr"
 * is rarer than "dc". */
static const char *const anchors[] = { "kr_pat_", "kr_oat_", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "DOCKERHUB_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 45,
    .pattern = "(?<![A-Za-z0-9_])dckr_[po]at_[A-Za-z0-9_-]{27,64}+(?![A-Za-z0-9_-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "dockerhub_token",
    .version = "1.0.0",
    .description = "Docker Hub access tokens (dckr_pat_, dckr_oat_ + 27 or more)",
    .detector = &detector_spec,
};
