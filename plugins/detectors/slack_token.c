/*
 * slack_token: Slack tokens and incoming webhook URLs.
 *
 * Tokens: xoxb- (bot), xoxp- (user), xoxa- and xoxr- (workspace app access
 * and refresh), xoxs- (legacy), xoxe- (rotating refresh) and xoxe.xoxp- /
 * xoxe.xoxb- (rotating access and configuration tokens): the prefix, a
 * numeric segment (team or user id, or the "1" of the rotating kinds),
 * then one to six "-" segments of letters and digits, the last of 10 or
 * more (24 random characters in a bot token, 32 hex in a user token, 146
 * or more in the rotating ones). App-level tokens: xapp-N-<app id>-<digits>-
 * <20 or more letters and digits>. These are replaced whole.
 *
 * Webhooks: https://hooks.slack.com/services/T.../B.../<secret>, and the
 * workflow and trigger URLs (hooks.slack.com/workflows/T.../A.../<digits>/
 * <secret>, /triggers/T.../<digits>/<secret>): only the secret path part
 * is replaced. The workspace (T...) and channel/app (B..., A...) ids are
 * identifiers, not credentials, and keeping them tells the model which
 * integration the URL belongs to.
 *
 * Placeholders without the numeric segment ("xoxb-your-bot-token") and
 * truncated tokens are left alone.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "SLACK_BOT_TOKEN=xoxb-1234567890123-9876543210987-FakeSlackBotTokenAbCdEf0",
    "{\"token\": \"xoxp-1111111111-2222222222-3333333333-fedcba9876543210fedcba9876543210\"}",
    "legacy xoxb-1234567890-FakeLegacyBot0123456 and xoxs-1234567890-1234567890-1234567890-0fake1hex2",
    "xoxe.xoxp-1-FakeSlackConfigTokenForTestsAbCdEf0123456789AbCdEf0123456789AbCdEf0123456789"
    "AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789AbCdEf0",
    "refresh_token: xoxe-1-FakeSlackRefreshTokenForTestsAbCdEf0123456789AbCdEf0123456789AbCdEf"
    "0123456789AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789AbCdE",
    "SLACK_APP_TOKEN=xapp-1-A0FAKE1234-1234567890123-0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef",
    "xoxa-2-1234567890-1234567890-1234567890-0fake1hex2fake3hex4",
    "curl -X POST https://hooks.slack.com/services/T0FAKE123/B0FAKE456/FakeWebhookSecretAbCdEf0",
    "https://hooks.slack.com/workflows/T0FAKE123/A0FAKE456/123456789012345678/FakeWorkflowSecret0123",
    NULL,
};

static const char *const must_not_match[] = {
    "bot tokens start with xoxb- and user tokens with xoxp-",
    "SLACK_BOT_TOKEN=xoxb-your-bot-token",
    "xoxb-12345-abcd234",                                           /* too short */
    "axoxb-1234567890123-9876543210987-FakeSlackBotTokenAbCdEf0",   /* a longer run */
    "xoxb-1234567890123-9876543210987-Fake_Slack_Bot_Token_AbCdE",  /* '_' is not in a token */
    "https://hooks.slack.com/services/YOUR/WEBHOOK/URL",
    "https://hooks.slack.com/services/T0FAKE123/B0FAKE456/short",
    "https://api.slack.com/apps/A0FAKE456/incoming-webhooks",
    NULL,
};

/* Few and rare: the pre-filter looks at letter pairs and, at each hit,
 * tries every anchor with that first letter. One "xox" for every token
 * kind ("xa" is in every "example"), and "slack.com/", not
 * "hooks.slack.com/" ("ho" is common, "sl" much less). */
static const char *const anchors[] = { "xox", "xapp-", "slack.com/", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "SLACK_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 42,
    .pattern = "(?|(?<![A-Za-z0-9_-])(?:xox[abprs]|xoxe(?:\\.xox[bp])?)-[0-9]{1,14}+"
               "(?:-[A-Za-z0-9]{1,250}+){1,6}+(?<=[A-Za-z0-9]{10})(?![A-Za-z0-9_-])"
               "|(?<![A-Za-z0-9_-])xapp-[0-9]{1,3}+-[A-Z0-9]{6,20}+-[0-9]{6,20}+"
               "-[A-Za-z0-9]{20,256}+(?![A-Za-z0-9_-])"
               "|hooks\\.slack\\.com/(?:services/T[A-Z0-9]{6,14}+/B[A-Z0-9]{6,14}+"
               "|(?:workflows|triggers)/T[A-Z0-9]{6,14}+/(?:A[A-Z0-9]{6,14}+/)?[0-9]{6,24}+)"
               "/(?<secret>[A-Za-z0-9]{16,64}+)(?![A-Za-z0-9_-]))",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "slack_token",
    .version = "1.0.0",
    .description = "Slack tokens (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-, xapp-) and webhook URLs",
    .detector = &detector_spec,
};
