/*
 * url_credentials: the password in a URL's user information,
 * scheme://user:password@host, for any scheme (https, ftp, sftp, amqps,
 * rediss, mongodb+srv, smtps, ldap, git+ssh, svn, ...): .git-credentials
 * lines, `git remote -v` output with a token in it, clone commands, proxy
 * settings. Only the password is replaced:
 * https://user:<URL_PASSWORD_1>@host. db_connection_string (priority 90)
 * runs first and takes database URLs whole; where both match, the overlap
 * rule keeps its match.
 *
 * The authority is what follows "://" up to '/', '?', '#', a blank, a
 * quote, a backslash or an angle bracket; the user information is what it
 * holds before its LAST '@' (an unencoded '@' in a password stays in the
 * password), the user up to its first ':', the password the rest. Left
 * alone:
 *   - no password ("https://user@host", "https://user:@host");
 *   - templates: ${PASS}, {password}, {{pw}}, ****, <password>, $PASS,
 *     $(pass), %PASS%, %(password)s, "...", [REDACTED], and the words
 *     password, passwd, pass, pwd, secret written as the password;
 *   - "host:port@" oddities: a password of one to five digits is a port
 *     ("http://localhost:8080@evil.example");
 *   - IPv6 literals ("http://[::1]:8080/"): a '[' in the user information
 *     is not a user;
 *   - anything without a host after the '@'.
 */
#define _GNU_SOURCE /* memmem */
#include <stdbool.h>
#include <string.h>

#include <anthropic-proxy/plugin.h>

#define MAX_SCHEME 32
#define MAX_AUTHORITY 1024

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_scheme_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '+' || c == '.' || c == '-';
}

/* Bytes that end an authority as people write URLs in text. */
static bool ends_authority(unsigned char c)
{
    return c <= ' ' || c == 0x7F || c == '/' || c == '?' || c == '#' || c == '"' ||
           c == '\'' || c == '`' || c == '<' || c == '>' || c == '\\';
}

/* Does a scheme of at least two characters, starting with a letter, end at
 * `colon` (the ':' of "://")? */
static bool scheme_before(const char *t, size_t colon)
{
    size_t s = colon;
    while (s > 0 && colon - s < MAX_SCHEME + 1 && is_scheme_char((unsigned char)t[s - 1]))
        s--;
    if (colon - s < 2 || colon - s > MAX_SCHEME)
        return false;
    if (s > 0 && is_scheme_char((unsigned char)t[s - 1]))
        return false; /* longer than any scheme */
    return is_alpha((unsigned char)t[s]);
}

static bool all_of(const char *p, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return false;
    return n > 0;
}

static bool ident_run(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!is_alpha(c) && !is_digit(c) && c != '_')
            return false;
    }
    return n > 0;
}

static bool equals_ci(const char *p, size_t n, const char *word)
{
    if (strlen(word) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)word[i])
            return false;
    }
    return true;
}

/* A password that stands for one rather than being one. */
static bool template_password(const char *p, size_t n)
{
    static const char *const words[] = { "password", "passwd", "pass", "pwd", "secret", NULL };
    char a = p[0], z = p[n - 1];
    if ((a == '{' && z == '}') || (a == '<' && z == '>') || (a == '[' && z == ']'))
        return true;
    if (a == '$' && n > 1 && (p[1] == '{' || p[1] == '(' || ident_run(p + 1, n - 1)))
        return true;
    if (a == '%' && n > 2 && (z == '%' || (p[1] == '(' && z == 's')))
        return true;
    if (all_of(p, n, '*') || all_of(p, n, '.') || (n >= 3 && memcmp(p, "...", 3) == 0))
        return true;
    for (const char *const *w = words; *w; w++)
        if (equals_ci(p, n, *w))
            return true;
    return false;
}

static bool port_like(const char *p, size_t n)
{
    if (n > 5)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit((unsigned char)p[i]))
            return false;
    return true;
}

/* The password of the URL whose "://" is at `sep`, if it has one. */
static bool password_at(const char *t, size_t len, size_t sep, size_t *ps, size_t *pe)
{
    if (!scheme_before(t, sep))
        return false;
    size_t u = sep + 3, end = u, at = 0, colon = 0;
    bool have_at = false, have_colon = false;
    while (end < len && end - u < MAX_AUTHORITY && !ends_authority((unsigned char)t[end])) {
        if (t[end] == '@') {
            at = end;
            have_at = true;
        }
        end++;
    }
    if (!have_at || at + 1 >= len)
        return false;
    unsigned char h = (unsigned char)t[at + 1];
    if (!is_alpha(h) && !is_digit(h) && h != '[')
        return false; /* no host */
    for (size_t i = u; i < at; i++) {
        if (t[i] == '[' && !have_colon)
            return false; /* an IPv6 literal, not a user */
        if (t[i] == ':' && !have_colon) {
            colon = i;
            have_colon = true;
        }
    }
    if (!have_colon || colon + 1 >= at)
        return false;
    const char *p = t + colon + 1;
    size_t n = at - colon - 1;
    if (template_password(p, n) || port_like(p, n))
        return false;
    *ps = colon + 1;
    *pe = at;
    return true;
}

static int url_credentials_find(void *state, const char *text, size_t len, size_t start,
                                size_t *ms, size_t *me)
{
    (void)state;
    for (size_t i = start; i + 3 <= len;) {
        const char *p = memmem(text + i, len - i, "://", 3);
        if (!p)
            return 0;
        size_t sep = (size_t)(p - text);
        if (password_at(text, len, sep, ms, me) && *ms >= start)
            return 1;
        i = sep + 3;
    }
    return 0;
}

/* Every match has its "://": strings without one are not looked at. */
static const char *const anchors[] = { "://", NULL };

static const char *const must_match[] = {
    "https://octo-bot:ghx_NotARealTokenButLooksLikeOne42@github.com",
    "origin\thttps://ci:glpat-Zx8Kq2Lm9Vb4Nc7Rt1Yp@gitlab.example.com/team/app.git (fetch)",
    "ftp://backup:Tr0ub4dor&3@files.example.org/nightly/",
    "proxy = http://svc-proxy:Pr0xyP%40ss@proxy.corp.example:3128",
    "git clone git+ssh://deploy:s3cretDeployKey@git.example.net/srv/repo.git",
    "ldaps://cn=admin,dc=example,dc=org:Adm1nPw!@ldap.example.org:636",
    "smtps://mailer:p@ss@smtp.example.com:465",
    "SVN_URL=svn://builder:hunter2hunter2@svn.example.com/trunk",
    NULL,
};

static const char *const must_not_match[] = {
    "https://user@example.com/path",
    "https://${GIT_USER}:${GIT_PASS}@git.example.com/repo.git",
    "https://user:{password}@host.example.com/",
    "https://admin:****@registry.example.com",
    "https://user:<password>@host.example.com",
    "http://localhost:8080/api/v1",
    "http://[::1]:8080/health",
    "http://internal.example:8080@evil.example/",
    "https://user:password@example.com/  (a documentation example)",
    "see https://example.com/docs and mail bob:pw@example.com",
    "https://user:@host.example.com",
    NULL,
};

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "URL_PASSWORD",
    .tier = APX_TIER_SECRET,
    .priority = 95,
    .find = url_credentials_find,
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "url_credentials",
    .version = "1.0.0",
    .description = "Passwords in URLs of any scheme (scheme://user:password@host)",
    .detector = &detector_spec,
};
