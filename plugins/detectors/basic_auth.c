/*
 * basic_auth: the credential after "Basic " (RFC 7617).
 *
 * Only the credential is replaced (group `secret`): "Authorization:
 * Basic <BASIC_AUTH_1>". The word must be Basic, basic or BASIC standing
 * alone, then blanks, then base64. validate() decodes it and keeps it
 * only if it is well-formed base64 of printable text holding a ':'
 * (user:password, or ":token" as Azure DevOps has it): a format check,
 * the one thing that tells a credential from "Basic authentication" or
 * "basic usage". No allow-list: "dXNlcjpwYXNz" (user:pass) is taken.
 */
#include <stddef.h>

#include <anthropic-proxy/plugin.h>

static const char *const must_match[] = {
    "Authorization: Basic dXNlcjpwYXNz",
    "curl -H 'authorization: basic ZGVwbG95OlRyMHViNGRvciYzeHl6' https://ci.example.com",
    "Authorization: Basic c3ZjLWNpOmpRS0RWems4MGI4T3lTQU0xTUhj\r\n",
    "AUTH_HEADER=\"Basic Ono4ZFh4dnpwMXZUQjFLWjZ1MHoySmR1SGo5Ujd3cDNCUU9heGdIbGV1Qm1HUWJvaUF6WDc=\"",
    NULL,
};

static const char *const must_not_match[] = {
    "Basic authentication sends the credentials base64-encoded.",
    "basic usage: run make then make check",
    "WWW-Authenticate: Basic realm=\"staging\", charset=\"UTF-8\"",
    "Basic aGVsbG8gd29ybGQ=",                                  /* "hello world": no ':' */
    "Authorization: Basic $CREDENTIALS",
    "Basic <BASIC_AUTH_1>",
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    NULL,
};

static const char *const anchors[] = { "Basic", "basic", "BASIC", NULL };

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* 1 if `match` is base64 of printable text (UTF-8 allowed) with a ':'. */
static int basic_auth_validate(void *state, const char *match, size_t len)
{
    size_t n = len, pad = 0, colons = 0;
    unsigned acc = 0, bits = 0;

    (void)state;
    while (n > 0 && match[n - 1] == '=') {
        n--;
        pad++;
    }
    if (n % 4 == 1 || (pad && (n + pad) % 4 != 0))
        return 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(match[i]);
        if (v < 0)
            return 0;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            unsigned char byte = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
            if (byte < 0x20 || byte == 0x7f)
                return 0;
            colons += byte == ':';
        }
    }
    return colons > 0;
}

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "BASIC_AUTH",
    .tier = APX_TIER_SECRET,
    .priority = 110,
    .pattern = "(?<![A-Za-z0-9_])(?:Basic|basic|BASIC)[ \\t]{1,8}"
               "(?<secret>[A-Za-z0-9+/]{4,2048}+={0,2})(?![A-Za-z0-9+/=_-])",
    .validate = basic_auth_validate,
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "basic_auth",
    .version = "1.0.0",
    .description = "The credential after \"Basic \" (the word stays)",
    .detector = &detector_spec,
};
