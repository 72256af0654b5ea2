/*
 * credential_assignment: a value assigned to a name that says it is a
 * credential, in the shapes configuration and code write it:
 *   dotenv / shell   DB_PASSWORD=x   export API_TOKEN="x"   --password=x
 *   YAML             password: x     - MYSQL_ROOT_PASSWORD=x
 *   JSON (as text)   "client_secret": "x"      Docker config "auth": "x"
 *   INI / TOML       password = x    db_password = "x"  (.pypirc, .tfvars)
 *   code             token := "x"    'secret' => 'x'    password="x" (XML)
 *   .npmrc           //registry.npmjs.org/:_authToken=x
 *   .netrc           machine h login u password x
 * Only the value is replaced, quotes stay outside: DB_PASSWORD=<CREDENTIAL_1>.
 *
 * It runs after every detector of a known format (priority 155), so what it
 * takes is what they did not: a value without a shape of its own.
 *
 * A pattern would have to be tried at every letter of every string; this
 * is C instead. memchr finds each '=' and ':', and each is judged where it
 * stands: the operator ('==', '!=', '<=', "::" are not assignments), the
 * name before it, the value after it.
 *
 * The name is split into words (DB_PASSWORD, stripeSecret, x-api-key,
 * spring.datasource.password, APIKey) and says "credential" when a word is
 * password, passwd, secret, token, credentials, passphrase, apikey (or api
 * + key, access + key, private + key), or ends one (dbpassword,
 * githubtoken), or is pwd, pass or auth on its own (DB_PASS, _auth,
 * authToken; not bypass, compass, OAuth, author, authority; a value of
 * letters only is a mode there: auth="Container"), or is
 * kubeconfig's client-key-data. Words after the credential word may only
 * be ones that keep it the secret (SECRET_KEY_BASE, password_hash,
 * token_prod, DB_PASSWORD_2): token_count, max_tokens, password_min_length,
 * auth_url, secret_name, tokenizer, passwordless are not credentials. A
 * word before it that makes it something else (nextPageToken, is_password,
 * use_auth) does the same.
 *
 * The value is quoted or bare. References and placeholders are left:
 * ${X}, $X, $(cmd), `cmd`, %(x)s, %X%, {{ x }}, #{x}, <your-token>, our own
 * <CREDENTIAL_1>, *alias, YAML tags (!vault, !Ref), xoxb-your-token,
 * ****, xxxx, ..., changeme, None, null, true, type names (str, string), URLs and file paths, values with blanks, and
 * values shorter than 4 (or of fewer than 6 digits). Code is left too: a
 * bare value with '(' '[' '{' (get_password(), os.environ["X"],
 * ENV["X"]), a dotted path (self.token, args.password, process.env.X),
 * and, where the line is code (x = y, x := y, x => y, a trailing ',' or
 * ';', "x: y" inside a line), a plain identifier without a digit or one
 * naming a credential itself (token = accessToken). A bare value that
 * begins a line (dotenv, YAML) must end it, apart from a comment: "Token:
 * see the docs" is prose.
 */
#define _GNU_SOURCE /* memmem */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <anthropic-proxy/plugin.h>

#define MAX_NAME 64
#define MAX_PARTS 16
#define MAX_PART 32
#define MAX_VALUE 8192
#define MIN_VALUE 4
#define MIN_DIGITS 6
#define NETRC_REACH 256

/* ---- characters ---- */

static bool is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static bool is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(unsigned char c) { return is_lower(c) || is_upper(c); }
static bool is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c); }
static bool is_blank(unsigned char c) { return c == ' ' || c == '\t'; }
static bool is_space(unsigned char c) { return c <= ' ' || c == 0x7F; }
static bool is_quote(unsigned char c) { return c == '"' || c == '\''; }
static bool is_ident(unsigned char c) { return is_alnum(c) || c == '_'; }

static bool is_name_char(unsigned char c)
{
    return is_alnum(c) || c == '_' || c == '-' || c == '.';
}

static unsigned char lower(unsigned char c)
{
    return is_upper(c) ? (unsigned char)(c - 'A' + 'a') : c;
}

static bool equals_ci(const char *p, size_t n, const char *word)
{
    if (strlen(word) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)p[i]) != (unsigned char)word[i])
            return false;
    return true;
}

static bool contains_ci(const char *p, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++) {
        size_t k = 0;
        while (k < w && lower((unsigned char)p[i + k]) == (unsigned char)word[k])
            k++;
        if (k == w)
            return true;
    }
    return false;
}

static bool contains(const char *p, size_t n, const char *s)
{
    return memmem(p, n, s, strlen(s)) != NULL;
}

static bool in_list(const char *p, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (equals_ci(p, n, *list))
            return true;
    return false;
}

/* ---- the name ---- */

struct parts {
    char w[MAX_PARTS][MAX_PART + 1];
    size_t n;
};

/* Split a name into lower-case words at separators, camelCase humps
 * (stripeSecret), acronym ends (APIKey: API, Key) and digit runs. */
static bool split_name(const char *s, size_t n, struct parts *p)
{
    size_t len = 0;
    p->n = 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : 0;
        unsigned char prev = i > 0 ? (unsigned char)s[i - 1] : 0;
        unsigned char next = i + 1 < n ? (unsigned char)s[i + 1] : 0;
        bool boundary = !is_alnum(c) ||
                        (is_upper(c) && is_lower(prev)) ||
                        (is_upper(c) && is_upper(prev) && is_lower(next)) ||
                        (is_digit(c) != is_digit(prev) && is_alnum(prev));
        if (boundary && len > 0) {
            p->w[p->n][len] = '\0';
            p->n++;
            len = 0;
        }
        if (is_alnum(c)) {
            /* A seventeenth word, or a word too long for its slot: not a
             * name a person wrote, so no assignment. */
            if (p->n == MAX_PARTS || len == MAX_PART)
                return false;
            p->w[p->n][len++] = (char)lower(c);
        }
    }
    return p->n > 0;
}

static bool ends_with(const char *w, const char *suffix)
{
    size_t a = strlen(w), b = strlen(suffix);
    return a >= b && memcmp(w + a - b, suffix, b) == 0;
}

static bool is_word(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(w, *list) == 0)
            return true;
    return false;
}

static bool all_digits(const char *w)
{
    for (; *w; w++)
        if (!is_digit((unsigned char)*w))
            return false;
    return true;
}

/* Is word k of the name a credential word? Words that may end a longer
 * word (dbpassword) and words that count only alone (DB_PASS). */
static bool credential_word(const struct parts *p, size_t k)
{
    static const char *const tails[] = { "password", "passwd", "secret", "token", "apikey",
                                         "accesskey", "privatekey", "secretkey", "passphrase",
                                         "credentials", NULL };
    static const char *const alone[] = { "pwd", "pass", "auth", NULL };
    static const char *const key_of[] = { "api", "access", "private", NULL };
    const char *w = p->w[k];
    for (const char *const *t = tails; *t; t++)
        if (ends_with(w, *t))
            return true;
    if (is_word(w, alone))
        return !(strcmp(w, "auth") == 0 && k > 0 && strcmp(p->w[k - 1], "o") == 0); /* OAuth */
    if (strcmp(w, "key") == 0 && k > 0 && is_word(p->w[k - 1], key_of))
        return true;
    /* kubeconfig's client-key-data is a private key */
    return strcmp(w, "data") == 0 && k >= 2 && strcmp(p->w[k - 1], "key") == 0 &&
           strcmp(p->w[k - 2], "client") == 0;
}

/* Does the name say it holds a credential? `*auth` tells whether the
 * word saying so is "auth" alone, which also names modes (Tomcat's
 * auth="Container", auth: basic). */
static bool credential_name(const char *s, size_t n, bool *auth)
{
    /* words that may follow the credential word and keep it the secret */
    static const char *const after[] = {
        "key", "base", "value", "val", "hash", "b64", "base64", "enc", "encrypted", "raw",
        "plain", "plaintext", "str", "string", "access", "secret", "token", "prod",
        "production", "dev", "development", "staging", "stage", "test", "live", "local",
        "old", "new", "current", "prev", "previous", "primary", "secondary", "backup",
        "confirmation", "replica", "master", "readonly", "ro", "rw", "admin", "root", "user",
        "app", "api", "db", "internal", "external", "main", "read", "write", NULL,
    };
    /* words right before it that make it a flag, a counter or a cursor */
    static const char *const before[] = {
        "page", "continuation", "cursor", "sync", "max", "min", "num", "is", "has", "use",
        "enable", "enabled", "disable", "require", "required", "skip", "no", "show", "hide",
        "forgot", NULL,
    };
    struct parts p;
    if (!split_name(s, n, &p))
        return false;
    size_t k = p.n;
    while (k > 0 && !credential_word(&p, k - 1))
        k--;
    if (k == 0)
        return false;
    for (size_t i = k; i < p.n; i++)
        if (!all_digits(p.w[i]) && !is_word(p.w[i], after))
            return false;
    *auth = strcmp(p.w[k - 1], "auth") == 0;
    size_t first = k - 1; /* "api" of api_key, "client" of client-key-data */
    if (strcmp(p.w[first], "key") == 0)
        first--;
    else if (strcmp(p.w[first], "data") == 0)
        first -= 2;
    return first == 0 || !is_word(p.w[first - 1], before);
}

/* ---- the line ---- */

/* Is `pos` the first thing on its line, after blanks and at most one of:
 * a list dash or diff mark, "export ", "ENV ", "set ", a Read-tool or
 * cat -n line number? */
static bool begins_line(const char *t, size_t pos)
{
    static const char *const words[] = { "export", "ENV", "ARG", "set", "declare", NULL };
    size_t i = pos;
    while (i > 0 && is_blank((unsigned char)t[i - 1]))
        i--;
    if (i > 0 && (t[i - 1] == '-' || t[i - 1] == '+'))
        i--;
    else if (i < pos) {
        for (const char *const *w = words; *w; w++) {
            size_t n = strlen(*w);
            if (i >= n && memcmp(t + i - n, *w, n) == 0 && (i == n || !is_ident((unsigned char)t[i - n - 1]))) {
                i -= n;
                break;
            }
        }
    }
    while (i > 0 && is_blank((unsigned char)t[i - 1]))
        i--;
    if (i >= 3 && memcmp(t + i - 3, "\xe2\x86\x92", 3) == 0) /* "    12→" */
        i -= 3;
    if (i < pos && i > 0 && is_digit((unsigned char)t[i - 1])) {
        while (i > 0 && is_digit((unsigned char)t[i - 1]))
            i--;
        while (i > 0 && is_blank((unsigned char)t[i - 1]))
            i--;
    }
    return i == 0 || t[i - 1] == '\n' || t[i - 1] == '\r';
}

/* Is the rest of the line from `pos` blank or a comment? */
static bool rest_is_comment(const char *t, size_t len, size_t pos)
{
    while (pos < len && is_blank((unsigned char)t[pos]))
        pos++;
    if (pos >= len || t[pos] == '\n' || t[pos] == '\r' || t[pos] == '#')
        return true;
    return pos + 1 < len && t[pos] == '/' && t[pos + 1] == '/';
}

/* ---- the value ---- */

struct value {
    size_t s, e;      /* the span to replace */
    size_t scanned;   /* how far a bare value's scan went, taken or not */
    bool quoted;
    bool code;        /* the line is code: plain identifiers are references */
    bool auth;        /* the name is an "auth": a word of letters is a mode */
    bool token;       /* the name is "token": a lower-case word is a token type */
    bool colon;       /* name: value (YAML and the like), where !x is a tag */
};

static bool dotted_path(const char *v, size_t n)
{
    bool dot = false, at_start = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '?' && i + 1 < n && v[i + 1] == '.' && !at_start)
            continue; /* opts?.secret */
        if (c == '.') {
            if (at_start)
                return false;
            dot = at_start = true;
        } else if (is_alpha(c) || c == '_' || c == '$' || (!at_start && is_digit(c))) {
            at_start = false;
        } else {
            return false;
        }
    }
    return dot && !at_start;
}

static bool plain_identifier(const char *v, size_t n)
{
    if (n == 0 || is_digit((unsigned char)v[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_ident((unsigned char)v[i]))
            return false;
    return true;
}

static bool has_digit(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_digit((unsigned char)v[i]))
            return true;
    return false;
}

static bool only_digits(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit((unsigned char)v[i]))
            return false;
    return true;
}

/* 1.2.3, 10.0.0.1, an OID: a version or an address, not a secret. */
static bool digits_and_dots(const char *v, size_t n)
{
    bool dot = false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '.')
            dot = true;
        else if (!is_digit((unsigned char)v[i]))
            return false;
    }
    return dot;
}

/* "keyword", "string-2": a syntax highlighter's token type. */
static bool token_type(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_lower((unsigned char)v[i]) && v[i] != '-' && v[i] != '.')
            return false;
    return true;
}

static bool only_letters(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_alpha((unsigned char)v[i]))
            return false;
    return true;
}

/* An absolute or home-relative path of at least two segments. */
static bool file_path(const char *v, size_t n)
{
    if ((n > 2 && memcmp(v, "./", 2) == 0) || (n > 3 && memcmp(v, "../", 3) == 0) ||
        (n > 2 && memcmp(v, "~/", 2) == 0))
        return true;
    if (v[0] != '/')
        return false;
    size_t slashes = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '/')
            slashes++;
        else if (!is_ident(c) && c != '.' && c != '-')
            return false;
    }
    return slashes >= 2;
}

/* "paste-token-here", "INSERT_KEY_HERE" */
static bool ends_with_here(const char *v, size_t n)
{
    return n > 5 && (v[n - 5] == '-' || v[n - 5] == '_') && equals_ci(v + n - 4, 4, "here");
}

/* Values that stand for a credential or for nothing. `quote` is the
 * value's quote character (0 when bare): inside single quotes $X is
 * literal, and a quoted value is a <...>, [...] or {...} template only
 * when it closes where it ends ("[REDACTED]", not "[Br4cket]Pw"). */
static bool placeholder(const char *v, size_t n, char quote, bool colon)
{
    static const char *const words[] = {
        "none", "null", "nil", "true", "false", "undefined", "yes", "no", "on", "off",
        "required", "optional", "string", "str", "int", "bool", "boolean", "number", "bytes",
        "any", "object", "void", "secret", "password", "passwd", "token", "changeme",
        "change-me", "change_me", "example", "placeholder", "redacted", "dummy", "empty",
        "default", "include", "omit", "same-origin", "hidden", "masked", "unknown", "unset",
        "todo", "tbd", "fixme", "sample", "test", "env", "auto", "disabled", "enabled",
        "basic", "bearer", "oauth", "oauth2", NULL,
    };
    static const char *const starts[] = { "your", "replace", "insert", "enter_", "enter-",
                                          "changeme", "change_me", "change-me", NULL };
    unsigned char a = (unsigned char)v[0];
    if (a == '$' && quote != '\'' && n > 1 &&
        (is_alpha((unsigned char)v[1]) || v[1] == '_' || v[1] == '{' || v[1] == '('))
        return true;
    unsigned char z = (unsigned char)v[n - 1];
    if ((a == '{' && (!quote || z == '}')) || (a == '[' && (!quote || z == ']')) ||
        (a == '<' && (!quote || z == '>')) || a == '*' || a == '`' || (a == '%' && z == '%'))
        return true;
    if (a == '!' && !quote && colon && n > 1 && plain_identifier(v + 1, n - 1))
        return true; /* a YAML tag: !vault, !Ref, !secret db_password */
    if (contains_ci(v, n, "your-") || contains_ci(v, n, "your_") ||
        contains_ci(v, n, "example"))
        return true; /* xoxb-your-bot-token, ghp_exampletoken */
    if (contains(v, n, "${") || contains(v, n, "{{") || contains(v, n, "$(") ||
        contains(v, n, "#{") || contains(v, n, "%(") || contains(v, n, "***") ||
        contains(v, n, "...") || contains(v, n, "\xe2\x80\xa6") || contains(v, n, "://") ||
        contains_ci(v, n, "xxxx"))
        return true;
    if (in_list(v, n, words) || file_path(v, n))
        return true;
    for (const char *const *s = starts; *s; s++) {
        size_t k = strlen(*s);
        if (n >= k && equals_ci(v, k, *s))
            return true;
    }
    return ends_with_here(v, n);
}

/* Is what the name holds a credential rather than a reference to one? */
static bool credential_value(const char *t, const struct value *v)
{
    const char *s = t + v->s;
    size_t n = v->e - v->s;
    char quote = v->quoted && v->s > 0 && is_quote((unsigned char)t[v->s - 1]) ? t[v->s - 1] : 0;
    if (n < MIN_VALUE || n > MAX_VALUE || placeholder(s, n, quote, v->colon))
        return false;
    if (only_digits(s, n) && n < MIN_DIGITS)
        return false;
    for (size_t i = 0; i < n; i++)
        if (is_space((unsigned char)s[i]))
            return false; /* prose, or a phrase in a UI string */
    if ((v->auth && only_letters(s, n)) || (v->token && token_type(s, n)) ||
        digits_and_dots(s, n))
        return false;
    bool auth;
    if (plain_identifier(s, n) && !has_digit(s, n) && credential_name(s, n, &auth))
        return false; /* GRANT_TYPE = 'refresh_token': a name, not a value */
    if (v->quoted)
        return true;
    if (memchr(s, '(', n) || memchr(s, '[', n) || memchr(s, '{', n) || dotted_path(s, n))
        return false; /* a call, a subscript, an attribute */
    const char *eq = memchr(s, '=', n);
    if ((eq && dotted_path(s, (size_t)(eq - s))) || (n >= 2 && s[0] == '/' &&
                                                      (s[1] == '*' || s[1] == '/')))
        return false; /* a.B=a.C=..., chained; a comment */
    if (plain_identifier(s, n) && v->code)
        return has_digit(s, n) && !credential_name(s, n, &auth) && !contains_ci(s, n, "password") &&
               !contains_ci(s, n, "secret") && !contains_ci(s, n, "token");
    return true;
}

/* The end of a quoted value opening at `q` (\" when escaped), or 0. */
static size_t closing_quote(const char *t, size_t len, size_t q, bool escaped, size_t *cs)
{
    char quote = t[q];
    size_t i = q + 1;
    if (escaped) {
        quote = t[q + 1];
        i = q + 2;
    }
    *cs = i;
    for (; i < len && i - *cs <= MAX_VALUE && t[i] != '\n'; i++) {
        if (escaped && t[i] == '\\' && i + 1 < len && t[i + 1] == quote)
            return i;
        if (!escaped && t[i] == quote)
            return i;
        if (t[i] == '\\' && quote == '"' && !escaped)
            i++; /* an escape inside "..." */
    }
    return 0;
}

/* After a closing quote: does more of an expression follow ("x" + y,
 * "x".encode(), "%s" % x, "x"[0])? */
static bool expression_follows(const char *t, size_t len, size_t i)
{
    if (i < len && is_ident((unsigned char)t[i]))
        return true; /* b"x"y, "x"if: not one literal */
    while (i < len && is_blank((unsigned char)t[i]))
        i++;
    return i < len && (t[i] == '+' || t[i] == '.' || t[i] == '%' || t[i] == '[' ||
                       t[i] == '*');
}

static bool parse_quoted(const char *t, size_t len, size_t i, struct value *v)
{
    bool escaped = t[i] == '\\';
    size_t cs, ce = closing_quote(t, len, i, escaped, &cs);
    if (!ce || expression_follows(t, len, ce + (escaped ? 2 : 1)))
        return false;
    v->s = cs;
    v->e = ce;
    v->quoted = true;
    return true;
}

/* Bytes that end a bare value inside a line (a query string, a flag, a
 * connection string's Password=x;). */
static bool ends_inline(unsigned char c)
{
    return is_space(c) || is_quote(c) || c == '`' || c == '<' || c == '>' || c == ',' ||
           c == ';' || c == '&' || c == ')' || c == ']' || c == '}' || c == '\\';
}

/* A bare value from `i`. On a line of its own it runs to a blank (a
 * trailing ',' or ';' marks code) and must end the line, unless it is a
 * shell command's environment prefix (`prefix`: NAME=value with no blank
 * around the '=', as in PGPASSWORD=x psql ...); inside a line it ends at
 * the first of ends_inline(). */
static bool parse_bare(const char *t, size_t len, size_t i, bool line, bool prefix,
                       struct value *v)
{
    size_t e = i;
    if (line) {
        while (e < len && e - i <= MAX_VALUE && !is_space((unsigned char)t[e]))
            e++;
        v->scanned = e;
        if (!rest_is_comment(t, len, e) && !(prefix && e < len && is_blank((unsigned char)t[e])))
            return false;
        if (e > i && (t[e - 1] == ',' || t[e - 1] == ';')) {
            e--;
            v->code = true;
        }
        while (e > i && (t[e - 1] == '}' || t[e - 1] == ']' || t[e - 1] == ')')) {
            e--; /* "TOKEN": None} closes a literal */
            v->code = true;
        }
    } else {
        while (e < len && e - i <= MAX_VALUE && !ends_inline((unsigned char)t[e]))
            e++;
    }
    v->scanned = e;
    v->s = i;
    v->e = e;
    v->quoted = false;
    return e > i;
}

/* ---- the assignment ---- */

struct name {
    size_t s, e;        /* the name, without its quotes */
    size_t begin;       /* where it begins, quotes included */
    bool quoted;
};

/* The name that ends at `end` (blanks and a closing quote skipped). */
static bool name_before(const char *t, size_t end, bool *blank_before, struct name *nm)
{
    size_t j = end;
    while (j > 0 && end - j < 8 && is_blank((unsigned char)t[j - 1]))
        j--;
    *blank_before = j < end;
    nm->quoted = j > 0 && is_quote((unsigned char)t[j - 1]);
    char quote = nm->quoted ? t[j - 1] : 0;
    if (nm->quoted)
        j--;
    bool escaped = nm->quoted && j > 0 && t[j - 1] == '\\';
    if (escaped)
        j--;
    nm->e = j;
    while (j > 0 && nm->e - j <= MAX_NAME && is_name_char((unsigned char)t[j - 1]))
        j--;
    nm->s = j;
    if (nm->e == nm->s || nm->e - nm->s > MAX_NAME)
        return false;
    nm->begin = j;
    if (nm->quoted) {
        if (j == 0 || t[j - 1] != quote || (escaped && (j < 2 || t[j - 2] != '\\')))
            return false;
        nm->begin = j - 1 - (escaped ? 1 : 0);
    } else if (j > 0 && is_name_char((unsigned char)t[j - 1])) {
        return false; /* longer than any name */
    }
    return true;
}

/* What kind of assignment the '=' or ':' at `op` is, and where its value
 * starts; false if it is none (==, !=, <=, +=, ::, "a:b"). */
static bool operator_at(const char *t, size_t len, size_t op, size_t *name_end,
                        size_t *value, bool *code)
{
    unsigned char prev = op > 0 ? (unsigned char)t[op - 1] : 0;
    unsigned char next = op + 1 < len ? (unsigned char)t[op + 1] : 0;
    *name_end = op;
    *value = op + 1;
    *code = false;
    if (t[op] == ':') {
        if (next == ':' || next == '=' || prev == ':')
            return false;
        return is_blank(next) || is_quote(next) || (next == '\\' && op + 2 < len &&
                                                    t[op + 2] == '"');
    }
    if (next == '=' || next == '~' || (prev && strchr("=!<>+-*/|&^%~", prev)))
        return false;
    if (prev == ':' || prev == '?') { /* := ?= */
        (*name_end)--;
        *code = prev == ':';
    }
    if (next == '>') { /* => */
        (*value)++;
        *code = true;
    }
    return true;
}

/* "PASS: tests/unit/check_scrub", "XPASS: t/07.sh": a test harness's
 * result (automake's, in a build log or a script that prints one), not a
 * credential; an upper-case YAML key PASS is rarer than these. */
static bool test_result(const char *t, const struct name *nm, size_t op)
{
    size_t n = nm->e - nm->s;
    const char *s = t + nm->s;
    return t[op] == ':' && !nm->quoted && nm->e == op &&
           ((n == 4 && memcmp(s, "PASS", 4) == 0) || (n == 5 && memcmp(s, "XPASS", 5) == 0));
}

/* The credential assigned at `op`, if any. */
static bool assignment_at(const char *t, size_t len, size_t op, struct value *v)
{
    size_t name_end, i;
    bool code, blank_before;
    struct name nm;
    if (!operator_at(t, len, op, &name_end, &i, &code) ||
        !name_before(t, name_end, &blank_before, &nm) ||
        !credential_name(t + nm.s, nm.e - nm.s, &v->auth))
        return false;
    v->token = equals_ci(t + nm.s, nm.e - nm.s, "token");
    v->colon = t[op] == ':';
    if (test_result(t, &nm, op))
        return false;
    size_t vstart = i;
    while (i < len && i - vstart < 8 && is_blank((unsigned char)t[i]))
        i++;
    if (i >= len)
        return false;
    v->code = code;
    if (is_quote((unsigned char)t[i]) || (t[i] == '\\' && i + 1 < len && t[i + 1] == '"'))
        return parse_quoted(t, len, i, v) && credential_value(t, v);
    bool line = begins_line(t, nm.begin);
    if (t[op] == '=' && blank_before && i > vstart)
        v->code = true; /* x = y: code, or INI, whose plain words are rare passwords */
    if (t[op] == ':' && (!line || nm.quoted))
        v->code = true; /* {"password": pw}, {password: pw} */
    bool prefix = t[op] == '=' && !blank_before && i == vstart && !nm.quoted;
    return parse_bare(t, len, i, line, prefix, v) && credential_value(t, v);
}

/* ---- .netrc: "password" and the value, after a "login" ---- */

static bool word_at(const char *t, size_t len, size_t i, const char *w)
{
    size_t n = strlen(w);
    return i + n < len && memcmp(t + i, w, n) == 0 && is_space((unsigned char)t[i + n]) &&
           (i == 0 || is_space((unsigned char)t[i - 1]));
}

/* The 'w' at `w` is that of a netrc "password" token: take its value. */
static bool netrc_at(const char *t, size_t len, size_t w, struct value *v)
{
    /* "password": the 'w' is its fifth byte */
    if (w < 4 || !word_at(t, len, w - 4, "password") || !is_blank((unsigned char)t[w + 4]))
        return false;
    size_t at = w - 4, from = at > NETRC_REACH ? at - NETRC_REACH : 0;
    bool login = false;
    for (size_t i = from; i < at && !login; i++)
        login = t[i] == 'l' && word_at(t, len, i, "login");
    if (!login)
        return false;
    size_t i = at + 8;
    while (i < len && is_blank((unsigned char)t[i]))
        i++;
    size_t e = i;
    while (e < len && e - i <= MAX_VALUE && !is_space((unsigned char)t[e]))
        e++;
    *v = (struct value){ .s = i, .e = e, .quoted = true };
    return e > i && credential_value(t, v);
}

/* ---- find ---- */

/* This detector runs on every string (its matches hold no fixed text an
 * anchor could name), so the scan must cost little: eight bytes at a time,
 * looking for '=', ':' and the 'w' of a netrc "password"; memchr calls
 * would cost more, ':' being every few dozen bytes of code and JSON. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Non-zero if a byte of x is c (the bytes are then looked at one by one). */
static uint64_t bytes_of(uint64_t x, unsigned char c)
{
    uint64_t y = x ^ (ONES * c);
    return (y - ONES) & ~y & HIGHS;
}

/* `skip`: the end of the furthest bare value already scanned and refused.
 * An operator inside it is not looked at again: "token=a${token=a${..."
 * would otherwise cost a scan of up to MAX_VALUE per operator. */
static bool candidate_at(const char *t, size_t len, size_t i, size_t start, size_t *skip,
                         struct value *v)
{
    if (i < *skip)
        return false;
    v->scanned = 0;
    bool ok = t[i] == 'w' ? netrc_at(t, len, i, v) : assignment_at(t, len, i, v);
    if (!ok && v->scanned > *skip)
        *skip = v->scanned;
    return ok && v->s >= start;
}

static int credential_find(void *state, const char *text, size_t len, size_t start,
                           size_t *ms, size_t *me)
{
    (void)state;
    struct value v = { 0 };
    size_t i = start, skip = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, text + i, 8);
        if (!(bytes_of(x, '=') | bytes_of(x, ':') | bytes_of(x, 'w')))
            continue;
        for (size_t k = i; k < i + 8; k++) { /* in order, whatever the byte order */
            char c = text[k];
            if ((c == '=' || c == ':' || c == 'w') && candidate_at(text, len, k, start, &skip, &v))
                goto found;
        }
    }
    for (; i < len; i++) {
        char c = text[i];
        if ((c == '=' || c == ':' || c == 'w') && candidate_at(text, len, i, start, &skip, &v))
            goto found;
    }
    return 0;
found:
    *ms = v.s;
    *me = v.e;
    return 1;
}

/* split_name() cuts a name where the case changes (dbPassword: db,
 * Password), so a credential word it accepts stands in the text in lower
 * case, capitalized or in capitals, and holds one of these; the netrc
 * "password" too. Strings with none of them are not scanned. */
static const char *const anchors[] = {
    "pass", "Pass", "PASS", "pwd", "Pwd", "PWD", "secret", "Secret", "SECRET",
    "token", "Token", "TOKEN", "credential", "Credential", "CREDENTIAL",
    "key", "Key", "KEY", "auth", "Auth", "AUTH", NULL,
};

/* ---- samples ---- */

static const char *const must_match[] = {
    "DB_PASSWORD=hunter2hunter2",
    "export STRIPE_SECRET=\"whsec_Zx81kq2Lm9Vb4Nc7Rt1Yp\"",
    "SECRET_KEY_BASE=9f3c1a7e5b2d8f6a4c0e9b7d5f3a1c8e",
    "githubToken: 'tok-Q8x2Lm4Zp7Vb1Nc'",
    "    MYSQL_ROOT_PASSWORD: r00t-Pw_2024",
    "  - POSTGRES_PASSWORD=pg-Secr3t!",
    "{\"client_secret\": \"cs-9Xk2Lm8Np4Rt6Yw1\"}",
    "//registry.npmjs.org/:_authToken=npm_FakeTok3nForTests0nly",
    "_auth=dXNlcjpmYWtlLXBhc3N3b3Jk",
    "[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmcFAKE",
    "machine api.example.com login deploy password s3cr3tNetrc",
    "\"auths\": {\"registry.example.com\": {\"auth\": \"ZGVwbG95OmZha2VwYXNz\"}}",
    "db_password = \"tf-Var-Pa55word\"",
    "<datasource user=\"app\" password=\"Xml-Pa55\"/>",
    "token := \"go-Tok3n-Value\"",
    "'api_key' => 'php-Key-12345'",
    "    token: kube-Bearer-Tok3n-Value",
    "    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t",
    "mysql -u root --password=Hunter2Hunter2 shop",
    "Server=db;Database=app;User Id=sa;Password=Sql-Pa55;",
    "DB_PASS=s3cret-pass",
    "  pass: Tr0ub4dor-x9",
    "PGPASSWORD=s3cretPw9 psql -h db -U app",
    "password: '$uperSecret2024'",
    "password: \"[Br4cket]Pw9\"",
    "DB_PASSWORD=!Hunter2024",
    "DB_PASSWORD_REPLICA=\"r3plica!Pass\"",
    NULL,
};

static const char *const must_not_match[] = {
    "DB_PASSWORD=${DB_PASSWORD}",
    "PASS: tests/unit/check_scrub",
    "password: \"[REDACTED]\"",
    "password: \"<your-password-here>\"",
    "DB_PASSWORD=\"$DB_PASSWORD_FROM_VAULT\"",
    "password: !vault_lookup",
    "XPASS: tests/integration/07-reload.sh",
    "echo \"PASS: tests/deploy/deb-install.sh (dpkg -i)\"",
    "export API_TOKEN=$API_TOKEN",
    "PASSWORD=$(cat /run/secrets/db)",
    "TOKEN=`vault read -field=token secret/x`",
    "const token = process.env.API_TOKEN;",
    "password = os.environ[\"DB_PASSWORD\"]",
    "token = os.getenv(\"TOKEN\")",
    "secret = ENV[\"SECRET\"]",
    "password: {{ .Values.db.password }}",
    "sqlalchemy.password = %(password)s",
    "api_key: <your-api-key>",
    "db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256",
    "SLACK_BOT_TOKEN=xoxb-your-bot-token",
    "    authorization_token: 'ghp_exampletoken',",
    "exports.GRANT_TYPE_REFRESH_TOKEN = 'refresh_token';",
    "const workSecret = opts?.workSecret || readEnv('WORK_SECRET');",
    "{regex:gg,token:\"linkified\"}",
    "var SocksAuth = /*#__PURE__*/function (SocksAuth) {",
    "Ne.SOCKS5_NO_ACCEPTABLE_AUTH=Ne.SOCKS5_CUSTOM_AUTH_END=Ne.SOCKS5_CUSTOM_AUTH_START=0",
    "    SERVER_AUTH = '1.3.6.1.5.5.7.3.1'",
    "TOKEN_MAP = {\"NAME\": token.NAME,\n             \"TOKEN\": None}",
    "DB_PASSWORD=<CREDENTIAL_1>",
    /* seventeen words: longer than any name split_name() holds */
    "a_b_c_d_e_f_g_h_i_j_k_l_m_n_o_p_q_password = 'Xk29dkf03kdLsQ'",
    "password: changeme\nsecret: change-me\ntoken: xxxxxxxx\npass: ****\nauth: ...",
    "password: None\ntoken: null\nsecret: nil\nauth: true\nDB_PASSWORD=",
    "token_count = 5\nmax_tokens: 4096\npassword_min_length = 8\ninput_tokens: 1200",
    "password = get_password()",
    "token = request.headers[\"x-token\"]",
    "secret: str\n  password: string;\nif password == other:",
    "token = self.token\npassword = args.password",
    "tokenizer: bert-base-uncased\npasswordless: enabled-always",
    "secretary: Jane-Doe-1\nauthority: ca-root-2\nauthor: Ada-Lovelace",
    "OAuth: the flow\npassport: AB1234567\ncompass: north-east\nbypass: cache-2x",
    "\"nextPageToken\": \"CiAKGjBpNDd2Nmp2\"",
    "client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
    "Token: see the documentation",
    "{ password: dbPassword, token: accessToken }",
    "fetch(url, { credentials: 'include' })",
    "auth_url: https://auth.example.com/oauth/token",
    "GOOGLE_APPLICATION_CREDENTIALS=/etc/gcp/key.json",
    "https://user:s3cret@host.example.com/",
    "<Resource name=\"jdbc/shop\" auth=\"Container\" type=\"javax.sql.DataSource\"/>",
    NULL,
};

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "CREDENTIAL",
    .tier = APX_TIER_SECRET,
    .priority = 155,
    .find = credential_find,
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "credential_assignment",
    .version = "1.0.0",
    .description = "Values assigned to credential names (DB_PASSWORD=x, \"token\": \"x\", ...)",
    .detector = &detector_spec,
};
