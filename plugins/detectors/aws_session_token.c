/*
 * aws_session_token: AWS temporary session tokens (STS), found by their
 * name.
 *
 * The token is long base64 (a few hundred to over a thousand characters,
 * most starting "IQoJb3JpZ2luX2Vj" or "FwoGZXIvYXdzE"), too plain to find on
 * its own; it is taken when it follows aws_session_token, session_token,
 * SessionToken or aws_security_token (any case, '_' or '-' or nothing
 * between the words) and '=', ':', ":=", "=>" or blanks, with an optional
 * quote: credentials files, env lines, `aws sts assume-role` JSON, YAML.
 * Only the token is replaced (group `secret`), 100 to 8192 characters of
 * [A-Za-z0-9/+] and up to two '='. The ASIA access key id next to it is
 * aws_access_key's, the secret key aws_secret_key's. Left alone: shorter
 * values (a web app's session_token of 32 hex digits), references
 * (${AWS_SESSION_TOKEN}, <session-token>) and the name without a value.
 */
#include <anthropic-proxy/plugin.h>

/* A fake STS token of the usual shape: 16 + 48 x 7 characters. */
#define TOKEN_TAIL                                                     \
    "ZkJ3K9pQ2rT7vX1yA4bC8dE6fG0hJ5kL3mN9pQ2rT7vX1yA4bC8dE6fG0hJ5kL3" \
    "mN9pQ2rT7vX1yA4bC8dE6fG0hJ5kL3mN9pQ2rT7vX1yA4bC8dE6fG0hJ5kL3mN9" \
    "pQ2rT7vX1yA4bC8dE6fG0hJ5kL3mN9pQ2rT7vX1yA4bC8dE6fG0hJ5kL3mN9pQ2" \
    "rT7vX1yA4bC8dE6fG0hJ5kL3mN9pQ2rT7vX1yA4bC8dE6fG0hJ5kL3mN9pQ2rT7" \
    "vX1yA4bC8dE6fG0hJ5kL3mN9pQ2rT7vX1yA4bC8d/E6fG0hJ5kL3mN9pQ2+rT7=="
#define TOKEN "IQoJb3JpZ2luX2VjEFAKEaCXVzLWVhc3QtMSJHMEUCIQD" TOKEN_TAIL

static const char *const must_match[] = {
    "[dev]\naws_access_key_id = ASIAY34FZKBOKMUTVV7A\naws_session_token = " TOKEN "\n",
    "export AWS_SESSION_TOKEN=\"" TOKEN "\"",
    "    \"SessionToken\": \"FwoGZXIvYXdzEFAKEDSCYfakeToken0rT7vX1yA4bC8dE6fG0h" TOKEN_TAIL "\",",
    "aws_security_token: " TOKEN,
    "AWS_SESSION_TOKEN => '" TOKEN "'",
    NULL,
};

static const char *const must_not_match[] = {
    "aws_session_token =",
    "export AWS_SESSION_TOKEN=${AWS_SESSION_TOKEN}",
    "aws_session_token = <session-token>",
    "session_token: 9f86d081884c7d659a2feaa0c55ad015",                /* too short */
    "\"SessionToken\": \"IQoJb3JpZ2luX2VjEFAK...\"",                    /* elided */
    "the SessionToken field expires after an hour",
    NULL,
};

static const char *const anchors[] = {
    "session_token", "SESSION_TOKEN", "SessionToken", "sessionToken", "session-token",
    "security_token", "SECURITY_TOKEN", "SecurityToken", NULL,
};

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "AWS_SESSION_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 36,
    .pattern = "(?<![A-Za-z0-9])"
               "(?i:(?:aws[_-]?)?session[_-]?token|aws[_-]?security[_-]?token)"
               "\\\\?[\"']?(?:[ \\t]{0,8}+(?::=|=>|[:=])[ \\t]{0,8}+|[ \\t]{1,8}+)\\\\?[\"']?"
               "(?<secret>[A-Za-z0-9/+]{100,8192}+={0,2})(?![A-Za-z0-9/+=])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "aws_session_token",
    .version = "1.0.0",
    .description = "AWS session tokens (long base64) next to their name",
    .detector = &detector_spec,
};
