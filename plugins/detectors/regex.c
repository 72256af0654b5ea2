/*
 * regex: the generic detector, declared in the pipeline file alone.
 *
 *   - name: internal_token
 *     plugin: regex
 *     label: INTERNAL_TOKEN        # required, [A-Z0-9_]+
 *     tier: secret                 # or identifier; default secret
 *     pattern: '\bitk_[A-Za-z0-9]{32}\b'
 *     samples:
 *       match: ["itk_0123456789abcdefABCDEF0123456789"]
 *       no_match: ["itk_short", "the itk_ prefix"]
 *
 * init reads and checks the options and keeps copies in its state; setup
 * fills the detector spec from them. The host compiles the pattern (PCRE2,
 * UTF mode; a group named `secret` narrows what is replaced) and checks the
 * samples at every load, so a pattern that does not compile or misses a
 * sample is refused there, naming the sample. The samples may also be
 * given as top-level lists, samples_match and samples_no_match. The
 * pipeline's own `priority` key sets the order; a `priority` option is only
 * a default. `anchors: ["itk_"]` (literals one of which every match holds)
 * lets the scrubber skip strings without them; without anchors the
 * detector runs on every string. The host refuses anchors that a `match`
 * sample does not hold.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <anthropic-proxy/plugin.h>

#define REGEX_DEFAULT_PRIORITY 1000
#define REGEX_MAX_LABEL 64

struct regex_state {
    char *label;
    char *pattern;
    enum apx_tier tier;
    int priority;
    char **match;       /* NULL-terminated */
    char **no_match;    /* NULL-terminated */
    char **anchors;     /* NULL-terminated; empty: none */
};

static void free_list(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void regex_fini(void *state)
{
    struct regex_state *st = state;
    if (!st)
        return;
    free(st->label);
    free(st->pattern);
    free_list(st->match);
    free_list(st->no_match);
    free_list(st->anchors);
    free(st);
}

/* The samples under `key` ("samples.match"), or else under `alt`
 * ("samples_match"), copied into a NULL-terminated list. `required`: at
 * least one. 0, or -1 with err filled. */
static int read_samples(const struct apx_host *host, const struct apx_config *cfg,
                        const char *key, const char *alt, int required, char ***out,
                        struct apx_error *err)
{
    size_t n = host->opt_list_len(cfg, key);
    if (n == 0) {
        n = host->opt_list_len(cfg, alt);
        if (n > 0)
            key = alt;
    }
    if (n == 0 && required) {
        host->error_set(err,
                 "option %s is required: expected a list of one or more strings (under "
                 "samples:, or as %s)", key, alt);
        return -1;
    }
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const char *s = host->opt_list_item(cfg, key, i);
        if (!s) {
            host->error_set(err,
                     "option %s: item %zu is not a string: expected a list of strings", key,
                     i + 1);
            free_list(v);
            return -1;
        }
        if (!(v[i] = strdup(s))) {
            free_list(v);
            goto oom;
        }
    }
    *out = v;
    return 0;
oom:
    host->error_set(err, "out of memory");
    return -1;
}

static int regex_init(const struct apx_host *host, const struct apx_config *cfg, void **state,
                      struct apx_error *err)
{
    struct regex_state *st = calloc(1, sizeof *st);
    int64_t prio;

    *state = NULL;
    if (!st) {
        host->error_set(err, "out of memory");
        return -1;
    }

    const char *label = host->opt_string(cfg, "label", NULL);
    if (!label || !*label) {
        host->error_set(err,
                 "option label is required: expected [A-Z0-9_]+, the placeholder's label");
        goto fail;
    }
    if (strlen(label) > REGEX_MAX_LABEL ||
        strspn(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(label)) {
        host->error_set(err,
                 "option label=%.64s is not valid: expected [A-Z0-9_]+, at most %d characters",
                 label, REGEX_MAX_LABEL);
        goto fail;
    }

    const char *tier = host->opt_string(cfg, "tier", "secret");
    if (strcmp(tier, "secret") == 0) {
        st->tier = APX_TIER_SECRET;
    } else if (strcmp(tier, "identifier") == 0) {
        st->tier = APX_TIER_IDENTIFIER;
    } else {
        host->error_set(err,
                 "option tier=%.64s is not valid: expected secret or identifier", tier);
        goto fail;
    }

    const char *pattern = host->opt_string(cfg, "pattern", NULL);
    if (!pattern || !*pattern) {
        host->error_set(err,
                 "option pattern is required: expected a PCRE2 pattern (a group named secret "
                 "narrows what is replaced)");
        goto fail;
    }

    if (host->opt_int(cfg, "priority", REGEX_DEFAULT_PRIORITY, 0, INT_MAX, &prio, err) < 0)
        goto fail;
    st->priority = (int)prio;

    if (!(st->label = strdup(label)) || !(st->pattern = strdup(pattern))) {
        host->error_set(err, "out of memory");
        goto fail;
    }
    if (read_samples(host, cfg, "samples.match", "samples_match", 1, &st->match, err) < 0 ||
        read_samples(host, cfg, "samples.no_match", "samples_no_match", 1, &st->no_match,
                     err) < 0 ||
        read_samples(host, cfg, "anchors", "anchors", 0, &st->anchors, err) < 0)
        goto fail;

    *state = st;
    return 0;
fail:
    regex_fini(st);
    return -1;
}

static int regex_setup(void *state, struct apx_detector_spec *spec, struct apx_error *err)
{
    const struct regex_state *st = state;
    if (!st) {
        snprintf(err->message, sizeof err->message, "setup without a successful init");
        return -1;
    }
    spec->label = st->label;
    spec->tier = st->tier;
    spec->priority = st->priority;
    spec->pattern = st->pattern;
    spec->find = NULL;
    spec->validate = NULL;
    spec->anchors = st->anchors[0] ? (const char *const *)st->anchors : NULL;
    spec->must_match = (const char *const *)st->match;
    spec->must_not_match = (const char *const *)st->no_match;
    return 0;
}

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "REGEX",
    .tier = APX_TIER_SECRET,
    .priority = REGEX_DEFAULT_PRIORITY,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "regex",
    .version = "1.0.0",
    .description = "A detector from a pattern and samples in the pipeline file",
    .init = regex_init,
    .fini = regex_fini,
    .detector = &detector_spec,
    .setup = regex_setup,
};
