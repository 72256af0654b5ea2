/*
 * prom: the Prometheus text exposition format 0.0.4 of the proxy's figures.
 * It turns the host's counters (named Prometheus-style, labels included)
 * and a few gauges into HELP/TYPE blocks, one block per family, every name
 * prefixed `anthropic_proxy_`. No I/O, no globals: a Check suite renders
 * fixed input and compares the text.
 */
#ifndef APX_PROM_H
#define APX_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROM_PREFIX "anthropic_proxy_"
/* Counters named so are the stage's bookkeeping, not figures: never shown. */
#define PROM_INTERNAL_PREFIX "metrics_internal_"

/* A bounded, growing text buffer: writes past `max` fail and set `failed`. */
struct prom_buf {
    char *p;
    size_t len, cap, max;
    bool failed;
};

void prom_buf_init(struct prom_buf *b, size_t max);
void prom_buf_free(struct prom_buf *b);
int prom_buf_printf(struct prom_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct prom_counter {
    const char *name;   /* "tokens_input_total{model=\"claude-x\"}" */
    uint64_t value;
};

struct prom_gauge {
    const char *name;   /* labels included; a family's series must be adjacent */
    const char *help;   /* read from the first series of each family */
    double value;
};

/* Histogram families: their counters are `F_bucket{le="..."}` (cumulative),
 * `F_count` and `F_sum_us` (the sum in microseconds, shown as `F_sum` in
 * seconds). */
extern const char *const prom_histograms[];

/* Is `name` a metric name with an optional well-formed label set? Names
 * that are not are left out of the output rather than break a scraper. */
bool prom_valid_name(const char *name);

/* Render the counters (any order; a family keeps the order its series were
 * created in) and then the gauges into out. 0, or -1 when out filled up or
 * memory ran out. */
int prom_render(const struct prom_counter *c, size_t nc, const struct prom_gauge *g,
                size_t ng, struct prom_buf *out);

#endif
