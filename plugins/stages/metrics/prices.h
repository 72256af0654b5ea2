/*
 * prices: the price table (prices.yaml, see anthropic-proxy-prices(5)) and
 * the cost of one response's usage. Costs are whole nano-dollars (1e-9
 * USD), so that counters add up exactly and figures agree to the cent
 * wherever they are shown. No I/O but reading the file; no globals.
 */
#ifndef APX_PRICES_H
#define APX_PRICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "usage.h"

enum cost_kind {
    COST_INPUT,
    COST_OUTPUT,
    COST_CACHE_WRITE_5M,
    COST_CACHE_WRITE_1H,
    COST_CACHE_READ,
    COST_WEB_SEARCH,
    COST_WEB_FETCH,
    COST_NKINDS
};

/* "input", "output", "cache_write_5m", "cache_write_1h", "cache_read",
 * "web_search", "web_fetch": the keys of the file and the label values. */
extern const char *const cost_kind_names[COST_NKINDS];

/* USD per million tokens for the token kinds, USD per 1,000 requests for
 * web search and web fetch. */
struct price_rates {
    double r[COST_NKINDS];
};

struct price_entry {
    char *id;                 /* model id, or the start of dated ids */
    int64_t since;            /* seconds since the epoch it took effect; 0: always */
    struct price_rates rates;
    unsigned line;
};

/* Every rate of the models listed is multiplied by `factor` when the
 * response's usage.<field> is `value` (data residency: inference_geo). */
struct price_multiplier {
    char *field, *value;
    double factor;
    char **models;
    size_t nmodels;
};

struct price_table {
    struct price_entry *e;
    size_t n;
    struct price_multiplier *m;
    size_t nm;
    struct price_rates fallback;  /* models the table does not know */
    char fallback_tier[64];       /* what the fallback is, for messages */
    bool default_ttl_1h;          /* a cache write without its 5m/1h split */
};

/* The cost of one response. */
struct cost {
    int64_t nano[COST_NKINDS];
    int64_t total;
    int64_t savings;          /* cache reads priced as input, minus their cost */
    bool fallback;            /* the model was unknown: the fallback tier priced it */
    double factor;            /* multipliers applied (1 if none) */
    int64_t tokens_5m, tokens_1h;  /* cache writes as priced (the split, or the default TTL) */
    const struct price_entry *entry;  /* NULL with fallback */
};

/* Read and check `path`: 0, or -1 with one "FILE:LINE:COL: what; expected
 * what" line in err. Free with prices_free (also after a failure). */
int prices_load(const char *path, struct price_table *t, char *err, size_t errlen);
int prices_parse(const char *name, const char *text, size_t len, struct price_table *t,
                 char *err, size_t errlen);
void prices_free(struct price_table *t);

/* The entry that prices `model` at `when`: the exact id, else the id
 * that `model` is with a snapshot date ("-YYYYMMDD" or "@YYYYMMDD"); of that id's entries the
 * latest whose `since` is not after `when` (the earliest if all are).
 * NULL if none matches. */
const struct price_entry *prices_lookup(const struct price_table *t, const char *model,
                                        time_t when);

/* The cost of `u` for its model at `when`. */
void prices_cost(const struct price_table *t, const struct usage *u, time_t when,
                 struct cost *out);

#endif
