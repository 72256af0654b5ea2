/*
 * developers: developers.yaml checked key by key; fingerprints compared in
 * constant time is not needed (they are hashes of secrets, not secrets),
 * but the key itself is never kept past the hash.
 */
#include <errno.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "developers.h"
#include "ytree.h"

#define MAX_DEVELOPERS 10000
#define MAX_CAP_USD 10000000.0

struct ctx {
    struct ytree_err e;
};

/* A developer or team name: what a label and a report can show as it is. */
static int want_name(struct ctx *c, const struct ynode *n, const char *key, char *out)
{
    if (!n || n->type != Y_SCALAR || !*n->value || strlen(n->value) >= DEV_NAME_MAX)
        return ytree_bad(&c->e, n, "'%s' is missing or not a name; expected 1 to %d characters",
                         key, DEV_NAME_MAX - 1);
    for (const char *p = n->value; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-@", *p))
            return ytree_bad(&c->e, n,
                             "'%s: %.60s' has a character other than letters, digits, "
                             "'.', '_', '-', '@'; expected a plain name",
                             key, n->value);
    if (strncmp(n->value, "unknown", 7) == 0 || strcmp(n->value, "other") == 0)
        return ytree_bad(&c->e, n, "'%s: %s' is reserved; expected another name", key, n->value);
    snprintf(out, DEV_NAME_MAX, "%s", n->value);
    return 0;
}

static int want_usd(struct ctx *c, const struct ynode *n, const char *key, int64_t *nano)
{
    char *end;
    if (n->type != Y_SCALAR || n->quoted || !isdigit((unsigned char)n->value[0]))
        return ytree_bad(&c->e, n, "'%s' is not an amount; expected USD such as 25 or 12.50", key);
    errno = 0;
    double v = strtod(n->value, &end);
    /* 0 is refused: read as "no cap" (as the caps store it) it would do the
     * opposite of what an operator writing it may mean; leaving the key out
     * says no cap */
    if (errno || *end || v <= 0 || v > MAX_CAP_USD)
        return ytree_bad(&c->e, n,
                         "'%s: %.40s' is not an amount above 0 and up to %.0f; expected USD "
                         "(leave the key out for no cap)",
                         key, n->value, MAX_CAP_USD);
    *nano = (int64_t)(v * 1e9 + 0.5);
    return 0;
}

/* daily_usd / monthly_usd of a mapping; true in *has if either is there. */
static int read_caps(struct ctx *c, const struct ynode *m, struct spend_caps *caps, bool *has)
{
    const struct ynode *d = ytree_get(m, "daily_usd"), *mo = ytree_get(m, "monthly_usd");
    if (has)
        *has = d || mo;
    if (d && want_usd(c, d, "daily_usd", &caps->daily) < 0)
        return -1;
    if (mo && want_usd(c, mo, "monthly_usd", &caps->monthly) < 0)
        return -1;
    return 0;
}

static int hexval(char ch)
{
    return isdigit((unsigned char)ch) ? ch - '0' : (ch | 0x20) - 'a' + 10;
}

static int want_sha256(struct ctx *c, const struct ynode *n, unsigned char out[32])
{
    const char *v = n && n->type == Y_SCALAR ? n->value : "";
    bool ok = strlen(v) == 64;
    for (const char *p = v; ok && *p; p++)
        ok = isxdigit((unsigned char)*p);
    if (!ok)
        return ytree_bad(&c->e, n,
                         "'sha256' is missing or not 64 hex digits; expected the line that "
                         "'anthropic-proxy developer add' prints (never the key itself)");
    for (int i = 0; i < 32; i++)
        out[i] = (unsigned char)(hexval(v[2 * i]) << 4 | hexval(v[2 * i + 1]));
    return 0;
}

static int read_developer(struct ctx *c, const struct ynode *m, struct developers *t,
                          struct developer *d)
{
    static const char *const keys[] = { "name", "team", "sha256", "daily_usd", "monthly_usd",
                                        "note", NULL };
    if (!m || m->type != Y_MAP)
        return ytree_bad(&c->e, m,
                         "a developer is not a mapping; expected {name: ..., team: ..., "
                         "sha256: ...}");
    if (ytree_only_keys(&c->e, m, keys, "a developer") < 0 ||
        want_name(c, ytree_get(m, "name"), "name", d->name) < 0 ||
        want_name(c, ytree_get(m, "team"), "team", d->team) < 0 ||
        want_sha256(c, ytree_get(m, "sha256"), d->sha256) < 0 ||
        read_caps(c, m, &d->caps, &d->has_caps) < 0)
        return -1;
    for (size_t i = 0; i < t->n; i++)
        if (memcmp(t->d[i].sha256, d->sha256, 32) == 0)
            return ytree_bad(&c->e, m,
                             "a second developer with the fingerprint of '%s'; expected one "
                             "developer per key",
                             t->d[i].name);
    return 0;
}

static int read_team(struct ctx *c, const struct ynode *m, struct developers *t,
                     struct team *tm)
{
    static const char *const keys[] = { "name", "daily_usd", "monthly_usd", "note", NULL };
    if (!m || m->type != Y_MAP)
        return ytree_bad(&c->e, m, "a team is not a mapping; expected {name: ..., daily_usd: ...}");
    if (ytree_only_keys(&c->e, m, keys, "a team") < 0 ||
        want_name(c, ytree_get(m, "name"), "name", tm->name) < 0 ||
        read_caps(c, m, &tm->caps, NULL) < 0)
        return -1;
    for (size_t i = 0; i < t->nt; i++)
        if (strcmp(t->t[i].name, tm->name) == 0)
            return ytree_bad(&c->e, m, "a second team '%s'; expected each team once", tm->name);
    return 0;
}

static int read_list(struct ctx *c, const struct ynode *list, const char *key, size_t *count)
{
    *count = 0;
    /* "developers:" with nothing after it yet is an empty list, so that the
     * lines `developer add` prints can be appended to the shipped file */
    if (!list || (list->type == Y_SCALAR && !list->quoted && list->value[0] == '\0'))
        return 0;
    if (list->type != Y_LIST)
        return ytree_bad(&c->e, list, "'%s' is not a list; expected - {...} items", key);
    if (list->n > MAX_DEVELOPERS)
        return ytree_bad(&c->e, list, "more than %d %s; expected fewer", MAX_DEVELOPERS, key);
    *count = list->n;
    return 0;
}

static int read_top(struct ctx *c, const struct ynode *root, struct developers *t)
{
    static const char *const keys[] = { "version", "default", "teams", "developers", NULL };
    if (!root)
        return 0;
    if (root->type != Y_MAP || ytree_only_keys(&c->e, root, keys, "the file") < 0)
        return root->type != Y_MAP ? ytree_bad(&c->e, root,
                                               "the file is not a mapping; expected "
                                               "version: 1 and a 'developers' list")
                                   : -1;
    const struct ynode *v = ytree_get(root, "version");
    if (!v || v->type != Y_SCALAR || strcmp(v->value, "1") != 0)
        return ytree_bad(&c->e, v ? v : root, "'version' is missing or not 1; expected version: 1");
    const struct ynode *def = ytree_get(root, "default");
    if (def) {
        static const char *const dkeys[] = { "daily_usd", "monthly_usd", NULL };
        if (def->type != Y_MAP)
            return ytree_bad(&c->e, def,
                             "'default' is not a mapping; expected daily_usd, monthly_usd");
        if (ytree_only_keys(&c->e, def, dkeys, "'default'") < 0 ||
            read_caps(c, def, &t->default_caps, NULL) < 0)
            return -1;
    }
    const struct ynode *teams = ytree_get(root, "teams"), *devs = ytree_get(root, "developers");
    size_t nt, nd;
    if (read_list(c, teams, "teams", &nt) < 0 || read_list(c, devs, "developers", &nd) < 0)
        return -1;
    if ((nt && !(t->t = calloc(nt, sizeof *t->t))) || (nd && !(t->d = calloc(nd, sizeof *t->d))))
        return ytree_bad(&c->e, NULL, "out of memory");
    for (size_t i = 0; i < nt; i++, t->nt++)
        if (read_team(c, teams->items[i], t, &t->t[i]) < 0)
            return -1;
    for (size_t i = 0; i < nd; i++, t->n++)
        if (read_developer(c, devs->items[i], t, &t->d[i]) < 0)
            return -1;
    return 0;
}

int developers_parse(const char *name, const char *text, size_t len, struct developers *t,
                     char *err, size_t errlen)
{
    struct ynode *root = NULL;
    memset(t, 0, sizeof *t);
    if (ytree_parse(name, text, len, &root, err, errlen) < 0)
        return -1;
    struct ctx c = { { name, err, errlen } };
    int rc = read_top(&c, root, t);
    ytree_free(root);
    return rc;
}

int developers_load(const char *path, struct developers *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f && errno == ENOENT)
        return 1;
    if (f)
        fclose(f);
    struct ynode *root = NULL;
    if (ytree_load(path, &root, err, errlen) < 0)
        return -1;
    struct ctx c = { { path, err, errlen } };
    int rc = read_top(&c, root, t);
    ytree_free(root);
    return rc;
}

void developers_free(struct developers *t)
{
    free(t->d);
    free(t->t);
    memset(t, 0, sizeof *t);
}

const struct developer *developers_find(const struct developers *t,
                                        const unsigned char sha256[32])
{
    for (size_t i = 0; i < t->n; i++)
        if (memcmp(t->d[i].sha256, sha256, 32) == 0)
            return &t->d[i];
    return NULL;
}

const struct team *developers_team(const struct developers *t, const char *name)
{
    for (size_t i = 0; i < t->nt; i++)
        if (strcmp(t->t[i].name, name) == 0)
            return &t->t[i];
    return NULL;
}

void developers_fingerprint(const char *credential, size_t len, unsigned char out[32],
                            char hex[65])
{
    /* every request: SHA256() spares EVP_Digest's method lookup, the table
     * 32 snprintf calls */
    static const char digits[] = "0123456789abcdef";
    SHA256((const unsigned char *)credential, len, out);
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[out[i] >> 4];
        hex[2 * i + 1] = digits[out[i] & 15];
    }
    hex[64] = '\0';
}
