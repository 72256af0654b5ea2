/*
 * twilio_key: Twilio API keys and the secrets that go with Twilio ids.
 *
 * Twilio's ids are "AC" (account) or "SK" (API key) + 32 lower-case hex
 * digits; the credentials are a 32-hex auth token (with an account id) or
 * a 32-character API key secret (with an SK id). The secrets have no
 * prefix, so they are taken only where Twilio context names them:
 *   - after "twilio", "Twilio" or "TWILIO" and, within 120 characters (a
 *     line or a few, for YAML and JS configuration), a name such as
 *     auth_token, AUTH_TOKEN, authToken, api_secret, API_KEY_SECRET,
 *     secret or token, a separator (=, :, =>, a comma or spaces) and 32
 *     letters and digits: the value only is replaced;
 *   - after an account id and a colon (curl -u AC...:token, a
 *     https://AC...:token@api.twilio.com URL), with "twilio" before it or
 *     later on the same line: the token only.
 * API key ids (SK + 32 hex) are replaced whole, with the ":secret" after
 * them if any: an SK id is issued with exactly one secret, so it names the
 * credential, and nothing else looks like it. Account ids (AC + 32 hex)
 * are left: they are identifiers, in every Twilio URL and log line, and
 * replacing them would cost the model the context without protecting
 * anything. The 120-character gap never runs over an SK id or an
 * "AC...:" pair: the scan goes on from the end of each match, so a match
 * spanning one would leave it behind.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "TWILIO_AUTH_TOKEN=0123456789abcdef0123456789abcdef",
    "twilio:\n  account_sid: ACdeadbeefdeadbeefdeadbeefdeadbeef\n  auth_token: \"fedcba9876543210fedcba9876543210\"",
    "TWILIO_API_KEY=SKdeadbeefdeadbeefdeadbeefdeadbeef",
    "curl -u ACdeadbeefdeadbeefdeadbeefdeadbeef:0000cafe0000cafe0000cafe0000cafe https://api.twilio.com/",
    "const twilioConfig = { apiKey: process.env.KEY, apiSecret: 'FakeApiSecretForTests0123456789A' };",
    "SK00000000000000000000000000000001:FakeApiSecretForTests0123456789B",
    "Twilio: AC0000000000000000000000000000beef:0000cafe0000cafe0000cafe0000cafe",
    NULL,
};

static const char *const must_not_match[] = {
    "TWILIO_ACCOUNT_SID=ACdeadbeefdeadbeefdeadbeefdeadbeef",
    "TWILIO_AUTH_TOKEN=your_auth_token",
    "token = 0123456789abcdef0123456789abcdef",               /* no Twilio context */
    "TWILIO_AUTH_TOKEN=0123456789abcdef0123456789abcdef0",    /* 33: a longer run */
    "SKdeadbeefdeadbeefdeadbeefdeadbee",                      /* 31: too short */
    "ASKdeadbeefdeadbeefdeadbeefdeadbeef",                    /* inside a longer run */
    "SKDEADBEEFDEADBEEFDEADBEEFDEADBEEF",                     /* ids are lower-case hex */
    "Twilio auth tokens are 32 hex digits; keep the token in TWILIO_AUTH_TOKEN",
    "ACdeadbeefdeadbeefdeadbeefdeadbeef:0000cafe0000cafe0000cafe0000cafe",  /* no Twilio */
    NULL,
};

/* No "AC..." anchors: an account id is taken only with Twilio named near
 * it, and the pre-filter's "A" letter pairs are busy enough (AWS keys). */
static const char *const anchors[] = { "twilio", "Twilio", "TWILIO",
                                       "SK0", "SK1", "SK2", "SK3", "SK4", "SK5", "SK6", "SK7",
                                       "SK8", "SK9", "SKa", "SKb", "SKc", "SKd", "SKe", "SKf",
                                       NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "TWILIO_KEY",
    .tier = APX_TIER_SECRET,
    .priority = 64,
    .pattern = "(?|(?<![A-Za-z0-9_])SK[0-9a-f]{32}+(?::[A-Za-z0-9]{32}+)?+(?![A-Za-z0-9_])"
               /* AC...:token, Twilio named later on the line (curl -u, a URL) */
               "|(?<![A-Za-z0-9_])AC[0-9a-f]{32}+:(?<secret>[0-9a-f]{32}+)(?![A-Za-z0-9_])"
               "[^\\n]{0,200}?(?:twilio|Twilio|TWILIO)"
               /* Twilio named first, then a name and a value, or AC...: */
               "|(?:twilio|Twilio|TWILIO)(?:(?!SK[0-9a-f]{32}|AC[0-9a-f]{32}:)[\\s\\S]){0,120}?"
               "(?:(?i:auth[_ .-]?token|api[_ .-]?(?:key[_ .-]?)?secret|secret|token)"
               "(?:[\"'\\]]?[ \\t]{0,3}(?:[:=]|=>|,)\\s{0,3}|[ \\t]{1,3})[\"']?"
               "|AC[0-9a-f]{32}:)"
               "(?<secret>[A-Za-z0-9]{32}+)(?![A-Za-z0-9_]))",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "twilio_key",
    .version = "1.0.0",
    .description = "Twilio API keys (SK + 32 hex) and auth tokens and key secrets in Twilio context",
    .detector = &detector_spec,
};
