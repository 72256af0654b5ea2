/*
 * sonarqube_token: SonarQube / SonarCloud tokens.
 *
 * sqp_ (project analysis), squ_ (user), sqa_ (global analysis) + 40
 * lower-case hex digits, standing alone. The unprefixed 40-hex tokens of
 * SonarQube before 9.5 are not detected: they cannot be told from a
 * commit SHA.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "sqp_5fb85967f532f3ab3cc2d0b698d5c7e41ba4ea5e",
    "SONAR_TOKEN=squ_e874ae7689447ab57a683536c4499d863386ce10",
    "mvn sonar:sonar -Dsonar.token=sqa_cd79e048c07dd7753eda83d7c58dfe0d5a0cf318",
    "sonar.login: \"sqp_0123456789abcdef0123456789abcdef01234567\"",
    NULL,
};

static const char *const must_not_match[] = {
    "5fb85967f532f3ab3cc2d0b698d5c7e41ba4ea5e",                 /* commit SHA */
    "sqp_5fb85967f532f3ab3cc2d0b698d5c7e41ba4ea5e00",           /* longer run */
    "sqp_5fb85967f532f3ab3cc2d0b698d5c7e41ba4ea5",              /* 39 */
    "tokens start with sqp_, squ_ or sqa_",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "9421cc1c93016f1c4261e5351d30b49895d1a0d1f13dce20c4fd32f640d00326",
    NULL,
};

static const char *const anchors[] = { "sqp_", "squ_", "sqa_", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "SONARQUBE_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 120,
    .pattern = "(?<![A-Za-z0-9_])sq[pua]_[0-9a-f]{40}(?![0-9A-Za-z_])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "sonarqube_token",
    .version = "1.0.0",
    .description = "SonarQube tokens (sqp_, squ_, sqa_ + 40 hex)",
    .detector = &detector_spec,
};
