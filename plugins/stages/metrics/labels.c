/*
 * labels: see labels.h. Linear sets: caps are small (tens to hundreds) and
 * a lookup happens once per request.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"

void label_clean(const char *value, char *buf, size_t size)
{
    size_t o = 0, max = size < LABEL_VALUE_MAX ? size : LABEL_VALUE_MAX;
    for (const char *p = value ? value : ""; *p && o + 1 < max; p++)
        buf[o++] = isalnum((unsigned char)*p) || strchr("._-:@/", *p) ? *p : '_';
    buf[o] = '\0';
    if (o == 0)
        snprintf(buf, size, "unknown");
}

static bool known(const struct labelset *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], v) == 0)
            return true;
    return false;
}

static void add(struct labelset *s, const char *v)
{
    if (s->n < s->cap && strcmp(v, "other") != 0 && !known(s, v))
        snprintf(s->v[s->n++], LABEL_VALUE_MAX, "%s", v);
}

struct seed {
    struct labelset *s;
    char pattern[64];
};

static void seed_one(void *arg, const char *name, uint64_t value)
{
    (void)value;
    struct seed *sd = arg;
    const char *p = strstr(name, sd->pattern);
    if (!p)
        return;
    p += strlen(sd->pattern);
    char v[LABEL_VALUE_MAX];
    size_t n = strcspn(p, "\"");
    if (n >= sizeof v)
        return;
    memcpy(v, p, n);
    v[n] = '\0';
    add(sd->s, v);
}

int labelset_new(struct labelset *s, const char *label, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->label = label;
    s->cap = cap;
    return (s->v = calloc(cap ? cap : 1, sizeof *s->v)) ? 0 : -1;
}

void labelset_keep(struct labelset *s, const char *value)
{
    char v[LABEL_VALUE_MAX];
    label_clean(value, v, sizeof v);
    add(s, v);
}

void labelset_seed(struct labelset *s, const struct apx_host *h, const char *family)
{
    struct seed sd = { .s = s };
    snprintf(sd.pattern, sizeof sd.pattern, "%s=\"", s->label);
    h->counter_each(h, family, seed_one, &sd);
}

int labelset_init(struct labelset *s, const struct apx_host *h, const char *family,
                  const char *label, size_t cap)
{
    if (labelset_new(s, label, cap) < 0)
        return -1;
    labelset_seed(s, h, family);
    return 0;
}

void labelset_free(struct labelset *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

const char *labelset_admit(struct labelset *s, const char *value, char *buf, size_t size)
{
    label_clean(value, buf, size);
    if (known(s, buf))
        return buf;
    if (s->n < s->cap) {
        add(s, buf);
        return buf;
    }
    snprintf(buf, size, "other");
    return buf;
}
