/*
 * gitlab_token: GitLab tokens, every kind with a documented prefix.
 *
 * glpat- (personal, project, group access), gloas- (OAuth application
 * secret), gldt- (deploy), glrt- (runner authentication), GR1348941
 * (runner registration), glcbt- (CI/CD job), glptt- (pipeline trigger),
 * glft- (feed), glimt- (incoming mail), glagent- (Kubernetes agent),
 * glsoat- (SCIM), glffct- (feature flag client) + 20 or more base64url
 * characters (20 for most kinds today; 25, 40, 50, 64 for some; up to 300
 * are taken, as GitLab lengthens them), and the routable form GitLab 17
 * and later issue: the same prefix + a longer base64url payload + "." + a
 * two-character version + an optional "." + a 7 to 9 character base36
 * checksum, taken whole. An instance prefix before the kind ("acme-glpat-")
 * is left in place and the token after it is replaced.
 *
 * validate() drops kebab- and snake-case words that only look like a
 * token ("glft-feature-flag-client-settings"): a random body of 20 or more
 * characters is never all lower-case letters joined by '-' or '_'.
 */
#include <stddef.h>
#include <string.h>

#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "GITLAB_TOKEN=glpat-FakeGitLabPatAbCdEf0",
    "git clone https://oauth2:glpat-FakeRoutableGitLabPat-_AbCd.01.0fake7xyz@gitlab.example.com/g/p.git",
    "deploy: gldt-FakeDeployTokenAbCdE, runner: glrt-t1_FakeRunnerTokenAbCdEf012",
    "registration-token: GR1348941FakeRegistrationAbCd",
    "TRIGGER=glptt-fedcba9876543210fedcba9876543210fedcba98",
    "secret: gloas-FakeOAuthAppSecretForTestsAbCdEf0123456789AbCdEf0123456789AbCdEf",
    "token: glagent-FakeKubernetesAgentTokenForTestsAbCdEf0123456789Ab",
    "CI_JOB_TOKEN=glcbt-1_FakeCiJobTokenForTes and glimt-FakeIncomingMailTokenAbCd",
    "glft-FakeFeedTokenAbCd0123 glsoat-FakeScimTokenAbCd012345 glffct-FakeFlagClient0123456789",
    "PRIVATE-TOKEN: acme-glpat-FakeInstancePrefixed012",
    NULL,
};

static const char *const must_not_match[] = {
    "create a token (it starts with glpat-) and export it as GITLAB_TOKEN",
    "glpat-FakeGitLabPat",                               /* 13: too short */
    "xglpat-FakeGitLabPatAbCdEf0",                       /* inside a longer run */
    "glpat-Fake+GitLab/Pat=AbCdEf0",                     /* not base64url */
    "class=\"glft-feature-flag-client-settings\"",
    "gldt-read_registry_and_repository",
    "GR1348941 is the prefix of runner registration tokens",
    NULL,
};

static const char *const anchors[] = { "glpat-", "gloas-", "gldt-", "glrt-", "GR1348941",
                                       "glcbt-", "glptt-", "glft-", "glimt-", "glagent-",
                                       "glsoat-", "glffct-", NULL };

/* 0 for a body of lower-case words joined by '-' or '_' (a name, not a token). */
static int gitlab_token_validate(void *state, const char *match, size_t len)
{
    (void)state;
    size_t i = 0;
    if (len > 9 && memcmp(match, "GR1348941", 9) == 0)
        i = 9;
    else
        while (i < len && match[i++] != '-')
            ;
    int joined = 0;
    for (; i < len && match[i] != '.'; i++) {
        if (match[i] == '-' || match[i] == '_')
            joined = 1;
        else if (match[i] < 'a' || match[i] > 'z')
            return 1;
    }
    return !joined;
}

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "GITLAB_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 41,
    .pattern = "(?<![A-Za-z0-9_])"
               "(?:gl(?:pat|oas|dt|rt|cbt|ptt|ft|imt|agent|soat|ffct)-|GR1348941)"
               "[A-Za-z0-9_-]{20,300}+"
               "(?:\\.[0-9a-z]{2}(?:\\.[0-9a-z]{7,9}|[0-9a-z]{7}))?+"
               "(?![A-Za-z0-9_-])",
    .validate = gitlab_token_validate,
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "gitlab_token",
    .version = "1.0.0",
    .description = "GitLab tokens (glpat-, gloas-, gldt-, glrt-, GR1348941, glcbt-, glptt-, "
                   "glft-, glimt-, glagent-, glsoat-, glffct-)",
    .detector = &detector_spec,
};
