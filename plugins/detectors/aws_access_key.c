/*
 * aws_access_key: AWS access key ids.
 *
 * A four-character prefix naming the kind of principal (AKIA long-term
 * user keys, ASIA temporary STS keys, AGPA groups, AIDA users, AROA roles,
 * AIPA instance profiles, ANPA/ANVA managed policies, APKA public keys,
 * ABIA STS service bearer tokens, ACCA context-specific credentials, and
 * the old A3T.) + 16 characters of base32 ([A-Z2-7]), standing alone as a
 * word. AWS's documentation key AKIAIOSFODNN7EXAMPLE is caught like any
 * other: there is no allow-list. Secret access keys (40 base64 characters
 * with no prefix) are not detected here: on their own they are
 * indistinguishable from ordinary base64.
 */
#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "AKIAIOSFODNN7EXAMPLE",
    "aws_access_key_id = ASIAFW2HNYWT3FD6MX4M",
    "\"RoleId\": \"AROAUX6B2PZCYC5EDQME\"",
    "export AWS_ACCESS_KEY_ID=AIDAVXRVCQURTAEBOG65",
    "arn and key A3T7QZ2XK5LMNB4PRSTV in the log",
    NULL,
};

static const char *const must_not_match[] = {
    "AKIAIOSFODNN7EXAMPL",                           /* 15 after the prefix */
    "AKIAIOSFODNN7EXAMPLEX",                         /* part of a longer word */
    "AKIAiosfodnn7example",                          /* lower case is not base32 here */
    "AKIAIOSFODNN1EXAMPLE",                          /* 1 is not a base32 digit */
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    "aGVsbG8gd29ybGQgQUtJQUlPU0ZPRE5ON0VYQU1QTEUgYmFzZTY0",
    "the AKIA prefix marks long-term keys",
    NULL,
};

static const char *const anchors[] = {
    "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA", "ABIA", "ACCA",
    "A3T", NULL,
};

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "AWS_ACCESS_KEY",
    .tier = APX_TIER_SECRET,
    .priority = 30,
    .pattern = "(?<![A-Za-z0-9])"
               "(?:(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z2-7]{16}"
               "|A3T[A-Z0-9][A-Z2-7]{16})"
               "(?![A-Za-z0-9])",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "aws_access_key",
    .version = "1.0.0",
    .description = "AWS access key ids (AKIA, ASIA, AROA... + 16 base32)",
    .detector = &detector_spec,
};
