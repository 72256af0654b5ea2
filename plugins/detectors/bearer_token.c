/*
 * bearer_token: the credential after "Bearer " (RFC 6750 token68).
 *
 * Only the credential is replaced (group `secret`): "Authorization:
 * Bearer <BEARER_TOKEN_1>". The word must be Bearer, bearer or BEARER
 * (the pre-filter looks for those three spellings) standing alone, then
 * blanks, then at least 16 characters of [A-Za-z0-9._~+/-] and optional
 * '=' padding; a trailing '.' ends a sentence, not the token.
 *
 * The word in prose ("the Bearer token scheme", "Bearer authentication
 * is ...") is left alone by length and by validate(): a credential with no
 * digit must be at least 32 characters long. Prose words, kebab-case
 * phrases and placeholders like YOUR_ACCESS_TOKEN have no digits and are
 * shorter; random tokens of 16 to 31 characters nearly always have one,
 * and a fake one long enough ("xxxx...", 32 or more) is still taken.
 * Variables and templates ($TOKEN, ${TOKEN}, {token}, <token>) never match
 * the charset. JWTs after Bearer go to the jwt detector, which runs first.
 */
#include <stddef.h>

#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "Authorization: Bearer 6ffeIIemGpb3EfKoNSvphIk7s4pqL0KJFlK6CXzU",
    "curl -H \"authorization: bearer e9ff907a76cc0b57aaf89691052be1ceb374dab4683f84d30d3fc4d83cee9b9b\"",
    "headers = {'Authorization': 'Bearer ya29.a0AfB_byC8kL2mN4pQ6rS8tU0vW2xY4zA6bC8dE0fG2hI4jK6'}",
    "AUTHORIZATION: BEARER xoxb-2048-1234567890-AbCdEfGhIjKlMnOpQrStUvWx.",
    "Bearer xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    NULL,
};

static const char *const must_not_match[] = {
    "The Bearer token scheme is defined in RFC 6750.",
    "Bearer authentication is also called token authentication",
    "use bearer token-based authentication for the API",
    "curl -H \"Authorization: Bearer $API_TOKEN\" https://api.example.com",
    "fetch(url, { headers: { Authorization: `Bearer ${token}` } })",
    "Authorization: Bearer <token>",
    "Authorization: Bearer YOUR_ACCESS_TOKEN_HERE",
    "Bearer <BEARER_TOKEN_1>",
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    NULL,
};

static const char *const anchors[] = { "Bearer", "bearer", "BEARER", NULL };

/* 1 if the credential has a digit or is long enough not to be a word. */
static int bearer_token_validate(void *state, const char *match, size_t len)
{
    (void)state;
    if (len >= 32)
        return 1;
    for (size_t i = 0; i < len; i++)
        if (match[i] >= '0' && match[i] <= '9')
            return 1;
    return 0;
}

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "BEARER_TOKEN",
    .tier = APX_TIER_SECRET,
    .priority = 100,
    .pattern = "(?<![A-Za-z0-9_])(?:Bearer|bearer|BEARER)[ \\t]{1,8}"
               "(?<secret>[A-Za-z0-9._~+/-]{16,65535}={0,3})(?<!\\.)"
               "(?![A-Za-z0-9_~+/=-])",
    .validate = bearer_token_validate,
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "bearer_token",
    .version = "1.0.0",
    .description = "The credential after \"Bearer \" (the word stays)",
    .detector = &detector_spec,
};
