/*
 * prices: prices.yaml checked key by key (every error names its line), and
 * the arithmetic of a response's cost. A model the table does not know is
 * priced at the file's fallback tier, never at $0.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prices.h"
#include "ytree.h"

#define MAX_ENTRIES 1024
#define MAX_RATE 100000.0   /* USD per MTok or per 1,000: a typo guard */
#define MAX_ID 100

const char *const cost_kind_names[COST_NKINDS] = {
    "input", "output", "cache_write_5m", "cache_write_1h", "cache_read",
    "web_search", "web_fetch",
};

/* The file's keys of a rate block: the token kinds, then the server tools. */
static const char *const rate_keys[COST_NKINDS] = {
    "input", "output", "cache_write_5m", "cache_write_1h", "cache_read",
    "web_search_per_1000", "web_fetch_per_1000",
};

struct ctx {
    struct ytree_err e;
    struct price_table *t;
    double server_tools[2];       /* defaults for entries without their own */
};

static int want_map(struct ctx *c, const struct ynode *n, const char *what)
{
    if (!n || n->type != Y_MAP)
        return ytree_bad(&c->e, n, "%s is not a mapping; expected key: value lines", what);
    return 0;
}

static int want_number(struct ctx *c, const struct ynode *n, const char *key, double lo,
                       double hi, double *out)
{
    char *end;
    if (n->type != Y_SCALAR || n->quoted || !*n->value)
        return ytree_bad(&c->e, n, "'%s' is not a number; expected a plain number such as 3.75",
                         key);
    errno = 0;
    double v = strtod(n->value, &end);
    if (errno || *end || !isfinite(v) || !(isdigit((unsigned char)n->value[0]) ||
                                           n->value[0] == '.'))
        return ytree_bad(&c->e, n,
                         "'%s: %.40s' is not a number; expected a plain number such as 3.75", key,
                         n->value);
    if (v < lo || v > hi)
        return ytree_bad(&c->e, n, "'%s: %.40s' is out of range; expected %g to %g", key, n->value,
                         lo, hi);
    *out = v;
    return 0;
}

/* YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SSZ: UTC. */
static int want_date(struct ctx *c, const struct ynode *n, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, s = 0, used = 0;
    const char *v = n->type == Y_SCALAR ? n->value : "";
    bool ok = sscanf(v, "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3 && used == 10;
    if (ok && v[10]) {
        int used2 = 0;
        ok = sscanf(v + 10, "T%2d:%2d:%2dZ%n", &h, &mi, &s, &used2) == 3 && v[10 + used2] == 0;
    }
    if (!ok || y < 2000 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || s > 59)
        return ytree_bad(&c->e, n, "'since: %.40s' is not a date; expected YYYY-MM-DD (UTC)", v);
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                     .tm_min = mi, .tm_sec = s };
    *out = (int64_t)timegm(&tm);
    return 0;
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_ID)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-:@/[]", *s))
            return false;
    return true;
}

/* The five token rates are required; the server tools default to the
 * file's `server_tools`. */
static int read_rates(struct ctx *c, const struct ynode *map, struct price_rates *r,
                      const char *what)
{
    for (int k = 0; k < COST_NKINDS; k++) {
        const struct ynode *v = ytree_get(map, rate_keys[k]);
        if (!v && k >= COST_WEB_SEARCH) {
            r->r[k] = c->server_tools[k - COST_WEB_SEARCH];
            continue;
        }
        if (!v)
            return ytree_bad(&c->e, map,
                             "%s has no '%s'; expected the USD price per million tokens", what,
                             rate_keys[k]);
        if (want_number(c, v, rate_keys[k], 0, MAX_RATE, &r->r[k]) < 0)
            return -1;
    }
    return 0;
}

static int read_entry(struct ctx *c, const struct ynode *m, struct price_entry *e)
{
    static const char *const keys[] = { "id", "since", "input", "output", "cache_write_5m",
                                        "cache_write_1h", "cache_read", "web_search_per_1000",
                                        "web_fetch_per_1000", "note", NULL };
    if (want_map(c, m, "a model entry") < 0 || ytree_only_keys(&c->e, m, keys, "a model entry") < 0)
        return -1;
    const struct ynode *id = ytree_get(m, "id"), *since = ytree_get(m, "since");
    if (!id || id->type != Y_SCALAR || !valid_id(id->value))
        return ytree_bad(&c->e, id ? id : m,
                         "a model entry without a valid 'id'; expected a model id "
                         "such as claude-sonnet-4-5 (letters, digits, . _ - : @ / [ ])");
    e->line = m->line;
    if (since && want_date(c, since, &e->since) < 0)
        return -1;
    char what[160];
    snprintf(what, sizeof what, "the entry '%s'", id->value);
    if (read_rates(c, m, &e->rates, what) < 0)
        return -1;
    return (e->id = strdup(id->value)) ? 0 : ytree_bad(&c->e, NULL, "out of memory");
}

static int read_models(struct ctx *c, const struct ynode *list)
{
    struct price_table *t = c->t;
    if (!list || list->type != Y_LIST || list->n == 0)
        return ytree_bad(&c->e, list,
                         "'models' is missing or empty; expected a list of model entries");
    if (list->n > MAX_ENTRIES)
        return ytree_bad(&c->e, list, "more than %d model entries; expected fewer", MAX_ENTRIES);
    if (!(t->e = calloc(list->n, sizeof *t->e)))
        return ytree_bad(&c->e, NULL, "out of memory");
    for (size_t i = 0; i < list->n; i++) {
        if (read_entry(c, list->items[i], &t->e[i]) < 0)
            return -1;
        t->n++;
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->e[j].id, t->e[i].id) == 0 && t->e[j].since == t->e[i].since)
                return ytree_bad(&c->e, list->items[i],
                                 "a second entry for '%s' with the same 'since' "
                                 "(first at line %u); expected one price per model and date",
                                 t->e[i].id, t->e[j].line);
    }
    return 0;
}

static int read_multiplier(struct ctx *c, const struct ynode *m, struct price_multiplier *p)
{
    static const char *const keys[] = { "inference_geo", "factor", "models", "note", NULL };
    if (want_map(c, m, "a multiplier") < 0 || ytree_only_keys(&c->e, m, keys, "a multiplier") < 0)
        return -1;
    const struct ynode *geo = ytree_get(m, "inference_geo"), *f = ytree_get(m, "factor"),
                       *models = ytree_get(m, "models");
    if (!geo || geo->type != Y_SCALAR || !*geo->value)
        return ytree_bad(&c->e, m,
                         "a multiplier without 'inference_geo'; expected the usage value it "
                         "applies to, such as us");
    if (!f)
        return ytree_bad(&c->e, m, "a multiplier without 'factor'; expected a number such as 1.1");
    if (want_number(c, f, "factor", 0.01, 100, &p->factor) < 0)
        return -1;
    if (!models || models->type != Y_LIST || models->n == 0)
        return ytree_bad(&c->e, models ? models : m,
                         "a multiplier without 'models'; expected the list "
                         "of model ids it applies to");
    if (!(p->field = strdup("inference_geo")) || !(p->value = strdup(geo->value)) ||
        !(p->models = calloc(models->n, sizeof *p->models)))
        return ytree_bad(&c->e, NULL, "out of memory");
    for (size_t i = 0; i < models->n; i++) {
        const struct ynode *id = models->items[i];
        if (id->type != Y_SCALAR || !valid_id(id->value))
            return ytree_bad(&c->e, id, "not a model id; expected one such as claude-opus-4-6");
        if (!(p->models[i] = strdup(id->value)))
            return ytree_bad(&c->e, NULL, "out of memory");
        p->nmodels++;
    }
    return 0;
}

static int read_multipliers(struct ctx *c, const struct ynode *list)
{
    if (!list)
        return 0;
    if (list->type != Y_LIST)
        return ytree_bad(&c->e, list,
                         "'multipliers' is not a list; expected - inference_geo: ... items");
    if (list->n && !(c->t->m = calloc(list->n, sizeof *c->t->m)))
        return ytree_bad(&c->e, NULL, "out of memory");
    for (size_t i = 0; i < list->n; i++) {
        c->t->nm++;
        if (read_multiplier(c, list->items[i], &c->t->m[i]) < 0)
            return -1;
    }
    return 0;
}

static int read_server_tools(struct ctx *c, const struct ynode *m)
{
    static const char *const keys[] = { "web_search_per_1000", "web_fetch_per_1000", NULL };
    if (!m)
        return ytree_bad(&c->e, NULL,
                         "no 'server_tools'; expected web_search_per_1000 and "
                         "web_fetch_per_1000 (USD per 1,000 requests)");
    if (want_map(c, m, "'server_tools'") < 0 ||
        ytree_only_keys(&c->e, m, keys, "'server_tools'") < 0)
        return -1;
    for (int k = 0; k < 2; k++) {
        const struct ynode *v = ytree_get(m, keys[k]);
        if (!v)
            return ytree_bad(
                &c->e, m, "'server_tools' has no '%s'; expected USD per 1,000 requests", keys[k]);
        if (want_number(c, v, keys[k], 0, MAX_RATE, &c->server_tools[k]) < 0)
            return -1;
    }
    return 0;
}

static int read_fallback(struct ctx *c, const struct ynode *m)
{
    static const char *const keys[] = { "tier", "input", "output", "cache_write_5m",
                                        "cache_write_1h", "cache_read", "web_search_per_1000",
                                        "web_fetch_per_1000", NULL };
    if (!m)
        return ytree_bad(&c->e, NULL,
                         "no 'fallback'; expected the rates that price a model the table "
                         "does not know (never $0)");
    if (want_map(c, m, "'fallback'") < 0 || ytree_only_keys(&c->e, m, keys, "'fallback'") < 0)
        return -1;
    const struct ynode *tier = ytree_get(m, "tier");
    snprintf(c->t->fallback_tier, sizeof c->t->fallback_tier, "%s",
             tier && tier->type == Y_SCALAR ? tier->value : "fallback");
    if (read_rates(c, m, &c->t->fallback, "'fallback'") < 0)
        return -1;
    if (c->t->fallback.r[COST_INPUT] <= 0 || c->t->fallback.r[COST_OUTPUT] <= 0)
        return ytree_bad(&c->e, m, "'fallback' prices input or output at $0; expected a real tier");
    return 0;
}

static int read_top(struct ctx *c, const struct ynode *root)
{
    static const char *const keys[] = { "version", "source", "cache_write_default_ttl",
                                        "server_tools", "fallback", "multipliers", "models",
                                        NULL };
    if (!root)
        return ytree_bad(&c->e, NULL, "the file is empty; expected version: 1 and a 'models' list");
    if (want_map(c, root, "the file") < 0 || ytree_only_keys(&c->e, root, keys, "the file") < 0)
        return -1;
    const struct ynode *v = ytree_get(root, "version");
    if (!v || v->type != Y_SCALAR || strcmp(v->value, "1") != 0)
        return ytree_bad(&c->e, v ? v : root, "'version' is missing or not 1; expected version: 1");
    const struct ynode *ttl = ytree_get(root, "cache_write_default_ttl");
    if (ttl && (ttl->type != Y_SCALAR ||
                (strcmp(ttl->value, "5m") != 0 && strcmp(ttl->value, "1h") != 0)))
        return ytree_bad(&c->e, ttl,
                         "'cache_write_default_ttl' is not 5m or 1h; expected 5m or 1h");
    c->t->default_ttl_1h = ttl && strcmp(ttl->value, "1h") == 0;
    if (read_server_tools(c, ytree_get(root, "server_tools")) < 0 ||
        read_fallback(c, ytree_get(root, "fallback")) < 0 ||
        read_multipliers(c, ytree_get(root, "multipliers")) < 0 ||
        read_models(c, ytree_get(root, "models")) < 0)
        return -1;
    return 0;
}

int prices_parse(const char *name, const char *text, size_t len, struct price_table *t,
                 char *err, size_t errlen)
{
    struct ynode *root = NULL;
    memset(t, 0, sizeof *t);
    if (ytree_parse(name, text, len, &root, err, errlen) < 0)
        return -1;
    struct ctx c = { .e = { name, err, errlen }, .t = t };
    int rc = read_top(&c, root);
    ytree_free(root);
    return rc;
}

int prices_load(const char *path, struct price_table *t, char *err, size_t errlen)
{
    struct ynode *root = NULL;
    memset(t, 0, sizeof *t);
    if (ytree_load(path, &root, err, errlen) < 0)
        return -1;
    struct ctx c = { .e = { path, err, errlen }, .t = t };
    int rc = read_top(&c, root);
    ytree_free(root);
    return rc;
}

void prices_free(struct price_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->e[i].id);
    for (size_t i = 0; i < t->nm; i++) {
        for (size_t k = 0; k < t->m[i].nmodels; k++)
            free(t->m[i].models[k]);
        free(t->m[i].models);
        free(t->m[i].field);
        free(t->m[i].value);
    }
    free(t->e);
    free(t->m);
    memset(t, 0, sizeof *t);
}

/* Does `id` name `model`: the same, or the same with a snapshot date
 * (claude-sonnet-4-5-20250929, Vertex's claude-sonnet-4-5@20250929)? Any
 * other suffix is another model: claude-opus-4-9 must not take
 * claude-opus-4's price silently, but the fallback tier and its log line. */
static size_t id_match(const char *id, const char *model)
{
    size_t n = strlen(id);
    if (strncmp(id, model, n) != 0)
        return 0;
    if (model[n] == '\0')
        return n;
    if (model[n] != '-' && model[n] != '@')
        return 0;
    for (size_t i = 1; i <= 8; i++)
        if (model[n + i] < '0' || model[n + i] > '9')
            return 0;
    return model[n + 9] == '\0' ? n : 0;
}

const struct price_entry *prices_lookup(const struct price_table *t, const char *model,
                                        time_t when)
{
    size_t best_len = 0;
    const char *best = NULL;
    for (size_t i = 0; i < t->n; i++) {
        size_t n = id_match(t->e[i].id, model);
        if (n > best_len) {
            best_len = n;
            best = t->e[i].id;
        }
    }
    if (!best)
        return NULL;
    const struct price_entry *now = NULL, *earliest = NULL;
    for (size_t i = 0; i < t->n; i++) {
        const struct price_entry *e = &t->e[i];
        if (strcmp(e->id, best) != 0)
            continue;
        if (!earliest || e->since < earliest->since)
            earliest = e;
        if (e->since <= (int64_t)when && (!now || e->since > now->since))
            now = e;
    }
    return now ? now : earliest;
}

static double factor_for(const struct price_table *t, const struct usage *u)
{
    double f = 1;
    for (size_t i = 0; i < t->nm; i++) {
        if (strcmp(t->m[i].value, u->inference_geo) != 0)
            continue;
        for (size_t k = 0; k < t->m[i].nmodels; k++) {
            if (id_match(t->m[i].models[k], u->model)) {
                f *= t->m[i].factor;
                break;
            }
        }
    }
    return f;
}

static int64_t nonneg(int64_t v)
{
    return v > 0 ? v : 0;
}

/* Tokens at USD per MTok, in nano-dollars: tokens * rate / 1e6 * 1e9. */
static int64_t token_nano(int64_t tokens, double rate, double factor)
{
    return (int64_t)llround((double)tokens * rate * 1000.0 * factor);
}

void prices_cost(const struct price_table *t, const struct usage *u, time_t when,
                 struct cost *out)
{
    memset(out, 0, sizeof *out);
    out->entry = prices_lookup(t, u->model, when);
    out->fallback = !out->entry;
    const struct price_rates *r = out->entry ? &out->entry->rates : &t->fallback;
    out->factor = factor_for(t, u);
    /* cache writes: the split when the usage has one; what it leaves of the
     * total (an older API version gives no split) at the table's TTL */
    int64_t w5 = nonneg(u->cache_creation_5m), w1 = nonneg(u->cache_creation_1h);
    int64_t rest = nonneg(u->cache_creation_input_tokens) - w5 - w1;
    if (rest > 0) {
        if (t->default_ttl_1h)
            w1 += rest;
        else
            w5 += rest;
    }
    out->tokens_5m = w5;
    out->tokens_1h = w1;
    int64_t tokens[COST_NKINDS] = { nonneg(u->input_tokens), nonneg(u->output_tokens), w5, w1,
                                    nonneg(u->cache_read_input_tokens), 0, 0 };
    for (int k = COST_INPUT; k <= COST_CACHE_READ; k++)
        out->nano[k] = token_nano(tokens[k], r->r[k], out->factor);
    /* per 1,000 requests: n * rate / 1000 * 1e9 */
    out->nano[COST_WEB_SEARCH] =
        (int64_t)llround((double)nonneg(u->web_search_requests) * r->r[COST_WEB_SEARCH] * 1e6);
    out->nano[COST_WEB_FETCH] =
        (int64_t)llround((double)nonneg(u->web_fetch_requests) * r->r[COST_WEB_FETCH] * 1e6);
    for (int k = 0; k < COST_NKINDS; k++)
        out->total += out->nano[k];
    out->savings = token_nano(tokens[COST_CACHE_READ], r->r[COST_INPUT], out->factor) -
                   out->nano[COST_CACHE_READ];
}
