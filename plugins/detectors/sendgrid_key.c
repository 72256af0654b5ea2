/*
 * sendgrid_key: SendGrid API keys.
 *
 * "SG." + a 22-character key id + "." + a 43-character secret, both
 * base64url (69 characters in all), at a word start. The whole key is
 * replaced: the id alone names the key in SendGrid's console, the secret
 * is what authenticates. Other "SG." words (namespaces, "SG.Net"), keys
 * cut short and longer runs are left alone.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "SENDGRID_API_KEY=SG.FakeSendGridKeyIdAbCdE.FakeSendGridSecretPartForTestsOnly_-0123456",
    "sgMail.setApiKey('SG.0000fake0000TEST000000.0000fake0000TEST0000only0000sample-0000_000');",
    "Authorization: Bearer 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",
    "{\"apikey\": \"SG.a-b_c-d_e-f_g-h_i-j_kl.0123456789abcdefghijABCDEFGHIJ0123456789_-Z.\"}",
    NULL,
};

static const char *const must_not_match[] = {
    "using SG.Net.Mail; // SG.Helpers.Format",
    "SG.FakeSendGridKeyIdAbCdE.FakeSendGridSecret",            /* truncated */
    "MSG.FakeSendGridKeyIdAbCdE.FakeSendGridSecretPartForTestsOnly_-0123456",  /* longer run */
    "SG.FakeSendGridKeyIdAbCdE.FakeSendGridSecretPartForTestsOnly_-01234567",  /* 44 */
    "SG.Fake+SendGrid/KeyIdAb.Fake+SendGrid/SecretPartForTestsOnly=012345",    /* not base64url */
    NULL,
};

static const char *const anchors[] = { "SG.", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "SENDGRID_KEY",
    .tier = APX_TIER_SECRET,
    .priority = 62,
    .pattern = "(?<![A-Za-z0-9_.-])SG\\.[A-Za-z0-9_-]{22}+\\.[A-Za-z0-9_-]{43}+(?![A-Za-z0-9_-])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "sendgrid_key",
    .version = "1.0.0",
    .description = "SendGrid API keys (SG. + 22 + . + 43)",
    .detector = &detector_spec,
};
