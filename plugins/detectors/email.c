/*
 * email: e-mail addresses, an IDENTIFIER: the placeholder is an HMAC of
 * the address (<EMAIL_HMAC:XXXXXXXX>), stable across requests.
 *
 * local@domain.tld: a local part of up to 64 of [A-Za-z0-9._%+-] starting
 * with a letter or digit, a domain of 1 to 8 labels and a TLD of 2 to 24
 * letters. Left alone:
 *   - "pass@host" inside a URL with credentials, and "user@host" after
 *     "//": a URL's user info is skipped whole; "mailto:" and "key:value"
 *     ("email:alice@corp.example") are matched;
 *   - scp-style git remotes, "git@github.com:owner/repo.git", and any
 *     "git@host" (an SSH login, not a person);
 *   - @decorators, @mentions, npm scopes (@anthropic-ai/sdk), package
 *     versions (react@18.2.0, the TLD must be letters), file names
 *     (icon@2x.png, claude-code@latest.json: the "TLD" is a file
 *     extension);
 *   - names followed by '_' or '(' (Python's "x@self.weights_t(...)").
 */
#include <anthropic-proxy/plugin.h>

/* File names with an '@' ("claude-code@latest.json", "icon@3x.webp"): the
 * "TLD" is a file extension that is not a TLD people have addresses at. */
#define NOT_A_FILE                                                                   \
    "(?<!\\.json|\\.js|\\.mjs|\\.cjs|\\.ts|\\.tsx|\\.jsx|\\.map|\\.png|\\.jpg|\\.jpeg"    \
    "|\\.gif|\\.svg|\\.webp|\\.ico|\\.css|\\.scss|\\.html|\\.htm|\\.yaml|\\.yml|\\.toml"  \
    "|\\.lock|\\.txt|\\.log|\\.tgz|\\.gz|\\.whl|\\.c|\\.h)"

static const char *const must_match[] = {
    "user@example.com",
    "Author: Ada Example <ada.example+lists@mail.example.co.uk>",
    "contact: mailto:support@example.org.",
    "git config user.email \"j.doe@corp.example.io\"",
    "Signed-off-by: Grace Hopper <12345+ghopper@users.noreply.github.com>",
    "email:alice@corp.example.com",
    "From:bob.smith@example.org",
    NULL,
};

static const char *const must_not_match[] = {
    "git clone git@github.com:anthropics/claude-code.git",
    "ssh -T git@gitlab.example.com",
    "https://deploy:s3cretPass@registry.example.com/v2/",
    "ssh://builder@build.example.com/srv/repo",
    "import Anthropic from '@anthropic-ai/sdk'; // @anthropic-ai/sdk@0.30.1",
    "@app.route(\"/health\")\ndef health(): ...",
    "npm install react@18.2.0 lodash@4.17.21",
    "<img src=\"logo@2x.png\"> thanks @alice",
    "y = X@self.weights_t",
    "see claude-code@latest.json and logo@dark.svg",
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    NULL,
};

static const char *const anchors[] = { "@", NULL };

static int email_init(const struct apx_host *host, const struct apx_config *cfg, void **state,
                      struct apx_error *err)
{
    (void)host;
    (void)cfg;
    (void)err;
    *state = NULL;
    return 0;
}

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "email",
    .version = "1.0.0",
    .description = "E-mail addresses (identifier: an HMAC placeholder)",
    .init = email_init,
    .detector = {
        .struct_size = sizeof(struct apx_detector_spec),
        .label = "EMAIL",
        .tier = APX_TIER_IDENTIFIER,
        .priority = 160,
        /* a URL's user info ("scheme://user:pass@host") is skipped whole,
         * so "pass@host" is never taken for an address, while
         * "email:alice@corp.example" still is */
        .pattern = "[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\\s/@]*+@(*SKIP)(*F)"
                   "|(?<![A-Za-z0-9._%+/-])(?!git@)"
                   "[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}+@(?![0-9]{1,2}x\\.)"
                   "(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.){1,8}[A-Za-z]{2,24}"
                   "(?![A-Za-z0-9_(-])(?!:[^\\s])" NOT_A_FILE,
        .anchors = anchors,
        .must_match = must_match,
        .must_not_match = must_not_match,
    },
};
