/*
 * email: e-mail addresses, an IDENTIFIER: the placeholder is an HMAC of
 * the address (<EMAIL_HMAC:XXXXXXXX>), stable across requests.
 *
 * local@domain.tld: a local part of up to 64 of [A-Za-z0-9._%+-] starting
 * with a letter or digit, a domain of 1 to 8 labels and a TLD of 2 to 24
 * letters. Left alone:
 *   - "pass@host" inside a URL with credentials, and "user@host" after
 *     "//" (the local part follows ':' or '/'); after a ':' only a field
 *     such as mailto:, email:, From:, Reply-To: is matched;
 *   - scp-style git remotes, "git@github.com:owner/repo.git", and any
 *     "git@host" (an SSH login, not a person);
 *   - @decorators, @mentions, npm scopes (@anthropic-ai/sdk), package
 *     versions (react@18.2.0, the TLD must be letters), file names
 *     (icon@2x.png, claude-code@latest.json: the "TLD" is a file
 *     extension);
 *   - names followed by '_' or '(' (Python's "x@self.weights_t(...)").
 */
#include <stdbool.h>
#include <string.h>

#include <anthropic-proxy/plugin.h>

/* The matcher is C rather than a pattern: every address holds an '@', so
 * memchr finds the candidates and each is checked where it stands, while
 * a pattern starting with a letter was tried at every letter of the text
 * (this detector cost more than all the others together). The rules are
 * the ones a pattern would state:
 *   local   [A-Za-z0-9][A-Za-z0-9._%+-]{0,63}, the whole run before '@',
 *           not after one of [A-Za-z0-9._%+/-]; after ':' only as a field
 *           value (mailto:, email:, From: ...); never "git@"
 *   domain  1 to 8 labels [A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])? with
 *           dots, then a TLD of 2 to 24 letters; not "2x." (icon@2x.png)
 *   after   not [A-Za-z0-9_(-], not ':' followed by a non-blank; the TLD is
 *           not a file extension (.json, .png, ...)
 * Where the full domain fails the tests after it, fewer labels or a
 * shorter TLD are tried, longest first, as a backtracking pattern would. */

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_local(unsigned char c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool ends_with_ci(const char *t, size_t end, const char *word)
{
    size_t n = strlen(word);
    if (end < n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)t[end - n + i], b = (unsigned char)word[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

/* Text before a ':' that makes what follows a field's value. */
static bool field_before_colon(const char *t, size_t colon)
{
    static const char *const fields[] = { "mailto", "email", "e-mail", "mail", "from", "to",
                                          "cc", "bcc", "reply-to", "sender", "author",
                                          "contact", "owner", NULL };
    for (const char *const *f = fields; *f; f++) {
        size_t n = strlen(*f);
        if (ends_with_ci(t, colon, *f) && (colon == n || !is_local((unsigned char)t[colon - n - 1])))
            return true;
    }
    return false;
}

/* File names with an '@' ("claude-code@latest.json", "icon@3x.webp"): the
 * "TLD" is a file extension that is not a TLD people have addresses at. */
static bool file_extension(const char *t, size_t tld, size_t end)
{
    static const char *const ext[] = { "json", "js", "mjs", "cjs", "ts", "tsx", "jsx", "map",
                                       "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css",
                                       "scss", "html", "htm", "yaml", "yml", "toml", "lock",
                                       "txt", "log", "tgz", "gz", "whl", "c", "h", NULL };
    for (const char *const *e = ext; *e; e++)
        if (strlen(*e) == end - tld && memcmp(t + tld, *e, end - tld) == 0)
            return true;
    return false;
}

static bool end_ok(const char *t, size_t n, size_t tld, size_t end)
{
    if (end < n) {
        unsigned char c = (unsigned char)t[end];
        if (is_alnum(c) || c == '_' || c == '(' || c == '-')
            return false;
        if (c == ':' && end + 1 < n && !is_blank((unsigned char)t[end + 1]))
            return false;
    }
    return !file_extension(t, tld, end);
}

/* The length of a domain label at t+i (up to the next '.'), or 0. */
static size_t label_at(const char *t, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && (is_alnum((unsigned char)t[j]) || t[j] == '-'))
        j++;
    if (j == i || j - i > 63 || !is_alnum((unsigned char)t[i]) ||
        !is_alnum((unsigned char)t[j - 1]) || j >= n || t[j] != '.')
        return 0;
    return j - i;
}

/* The end of the domain after the '@' at `at`, or 0. */
static size_t domain_end(const char *t, size_t n, size_t at)
{
    size_t d = at + 1, label_end[8], k = 0;
    if (d < n && t[d] >= '0' && t[d] <= '9') { /* (?![0-9]{1,2}x\.) */
        size_t x = d + 1 < n && t[d + 1] >= '0' && t[d + 1] <= '9' ? d + 2 : d + 1;
        if (x + 1 < n && t[x] == 'x' && t[x + 1] == '.')
            return 0;
    }
    for (size_t i = d; k < 8;) {
        size_t len = label_at(t, n, i);
        if (!len)
            break;
        i += len + 1;
        label_end[k++] = i; /* just past the dot */
    }
    for (; k > 0; k--) { /* most labels first, then the longest TLD */
        size_t tld = label_end[k - 1], e = tld;
        while (e < n && e - tld < 24 && is_alpha((unsigned char)t[e]))
            e++;
        for (; e >= tld + 2; e--)
            if (end_ok(t, n, tld, e))
                return e;
    }
    return 0;
}

/* The address whose '@' is at `at`, if there is one: [*ms, *me). */
static bool address_at(const char *t, size_t n, size_t start, size_t at, size_t *ms,
                       size_t *me)
{
    size_t s = at;
    while (s > 0 && is_local((unsigned char)t[s - 1]))
        s--;
    if (s < start || at - s < 1 || at - s > 64 || !is_alnum((unsigned char)t[s]))
        return false;
    if (s > 0 && t[s - 1] == '/')
        return false;
    if (s > 0 && t[s - 1] == ':' && !field_before_colon(t, s - 1))
        return false;
    if (at - s == 3 && memcmp(t + s, "git", 3) == 0)
        return false;
    size_t e = domain_end(t, n, at);
    if (!e)
        return false;
    *ms = s;
    *me = e;
    return true;
}

static int email_find(void *state, const char *text, size_t len, size_t start, size_t *ms,
                      size_t *me)
{
    (void)state;
    for (size_t i = start; i < len;) {
        const char *p = memchr(text + i, '@', len - i);
        if (!p)
            return 0;
        size_t at = (size_t)(p - text);
        if (address_at(text, len, start, at, ms, me))
            return 1;
        i = at + 1;
    }
    return 0;
}

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

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "EMAIL",
    .tier = APX_TIER_IDENTIFIER,
    .priority = 160,
    .find = email_find,
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "email",
    .version = "1.0.0",
    .description = "E-mail addresses (identifier: an HMAC placeholder)",
    .detector = &detector_spec,
};
