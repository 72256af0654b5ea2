/*
 * labels: bounded label values for the metrics stage's counters. A label
 * (model, developer, team) takes at most `cap` distinct values; later ones
 * are counted as "other", so a stream of invented model names or keys
 * cannot grow the counter table or a Prometheus server's series without
 * bound. The values already in host counters count against the cap, so it
 * holds across reloads and core restarts.
 */
#ifndef APX_LABELS_H
#define APX_LABELS_H

#include <stdbool.h>
#include <stddef.h>

#include <anthropic-proxy/plugin.h>

#define LABEL_VALUE_MAX 48

struct labelset {
    const char *label;            /* "model" */
    size_t cap, n;
    char (*v)[LABEL_VALUE_MAX];
};

/* A set for `label` with room for `cap` values, seeded from every host
 * counter whose name starts with `family` and carries label="...".
 * 0, or -1 when out of memory. */
int labelset_init(struct labelset *s, const struct apx_host *h, const char *family,
                  const char *label, size_t cap);
/* The same in three steps, so that values can be given their places
 * before the seeds (the developers and teams developers.yaml lists: values
 * nobody listed must not push them into "other"): an empty set, a value
 * kept (cleaned; ignored when the set is full), then the seeds. */
int labelset_new(struct labelset *s, const char *label, size_t cap);
void labelset_keep(struct labelset *s, const char *value);
void labelset_seed(struct labelset *s, const struct apx_host *h, const char *family);
void labelset_free(struct labelset *s);

/* `value` made safe for a label (printable, no quote or backslash, at most
 * LABEL_VALUE_MAX - 1 bytes; "unknown" when empty) into buf, then admitted:
 * buf as it is if known or there is room, else "other". Returns buf. */
const char *labelset_admit(struct labelset *s, const char *value, char *buf, size_t size);

/* The same cleaning without admission. */
void label_clean(const char *value, char *buf, size_t size);

#endif
