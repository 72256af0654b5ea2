/*
 * fuzz_pipeline: arbitrary bytes through pipeline_parse, checking what the
 * loader and the plugins rely on.
 *
 * A refusal must come with one line naming the file and leave the pipeline
 * empty. A success must give valid names, a non-NULL options mapping for
 * every entry and a tree no deeper than 32 levels; then every accessor runs
 * on every option of every entry (and of every mapping inside), and their
 * refusals must be single lines too. Checks abort even under NDEBUG.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

/* Bounds on the work per input, so one wide mapping cannot make a run
 * quadratic in the accessors' linear lookups. */
#define MAX_KEYS 64
#define MAX_ITEMS 64
#define MAX_MAPS 256

static bool one_line(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    CHECK(n < size);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool valid_name(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
    return n > 0 && n <= 64 && s[n] == '\0';
}

/* Every node well formed, and the nesting within the limit. */
static void check_tree(const struct cfg_node *n, unsigned depth)
{
    CHECK(n->line >= 1 && n->column >= 1);
    if (n->type == CFG_SCALAR) {
        CHECK(n->value != NULL);
        return;
    }
    CHECK(n->type == CFG_LIST || n->type == CFG_MAP);
    CHECK(depth + 1 <= 32);
    CHECK(n->n == 0 || n->items != NULL);
    for (size_t i = 0; i < n->n; i++) {
        if (n->type == CFG_MAP)
            CHECK(n->keys[i] != NULL);
        check_tree(n->items[i], depth + 1);
    }
}

static void check_error(const struct apx_error *e, const char *plugin)
{
    CHECK(one_line(e->message, sizeof e->message));
    CHECK(strncmp(e->message, plugin, strnlen(plugin, sizeof e->message - 1)) == 0);
}

static void exercise_key(const struct apx_config *cfg, const char *key,
                         const struct cfg_node *want)
{
    struct apx_error e;
    int64_t i = 0;
    double d = 0;
    bool b = false;

    CHECK(config_get(cfg, key) == want);
    const char *s = config_opt_string(cfg, key, NULL);
    CHECK(want->type == CFG_SCALAR ? s == want->value : s == NULL);

    memset(&e, 0, sizeof e);
    if (config_opt_int(cfg, key, 0, -1000, 1000, &i, &e) == 0)
        CHECK(i >= -1000 && i <= 1000);
    else
        check_error(&e, cfg->plugin);
    memset(&e, 0, sizeof e);
    if (config_opt_int(cfg, key, 0, INT64_MIN, INT64_MAX, &i, &e) != 0)
        check_error(&e, cfg->plugin);
    memset(&e, 0, sizeof e);
    if (config_opt_double(cfg, key, 0, -1e6, 1e6, &d, &e) == 0)
        CHECK(isfinite(d) && d >= -1e6 && d <= 1e6);
    else
        check_error(&e, cfg->plugin);
    memset(&e, 0, sizeof e);
    if (config_opt_bool(cfg, key, false, &b, &e) != 0)
        check_error(&e, cfg->plugin);

    size_t len = config_opt_list_len(cfg, key);
    CHECK(len == (want->type == CFG_SCALAR ? 1 : want->type == CFG_LIST ? want->n : 0));
    for (size_t k = 0; k < len && k < MAX_ITEMS; k++)
        (void)config_opt_list_item(cfg, key, k);
    CHECK(config_opt_list_item(cfg, key, len) == NULL);
}

/* The accessors on a mapping's keys, then on the mappings inside it, as a
 * plugin reading sub-options would. */
static void exercise_map(const char *file, const char *plugin, const struct cfg_node *map,
                         unsigned *budget)
{
    struct apx_config cfg = { file, plugin, map };
    if (*budget == 0)
        return;
    (*budget)--;
    CHECK(map->type == CFG_MAP);
    CHECK(config_get(&cfg, "\x01 no such key") == NULL);
    for (size_t i = 0; i < map->n && i < MAX_KEYS; i++)
        exercise_key(&cfg, map->keys[i], map->items[i]);
    for (size_t i = 0; i < map->n && i < MAX_KEYS; i++)
        if (map->items[i]->type == CFG_MAP)
            exercise_map(file, plugin, map->items[i], budget);
}

static void check_entry(const struct pipeline *p, const struct pipeline_entry *e,
                        enum entry_kind kind, unsigned *budget)
{
    CHECK(e->kind == kind);
    CHECK(valid_name(e->name));
    CHECK(e->plugin && e->plugin[0] && strlen(e->plugin) <= 4096);
    CHECK(e->line >= 1 && e->column >= 1);
    CHECK(e->config.map != NULL && e->config.map->type == CFG_MAP);
    CHECK(e->config.plugin == e->name);
    CHECK(e->config.file == p->file);
    if (kind == ENTRY_STAGE)
        CHECK(e->enabled && !e->has_priority);
    if (e->has_priority)
        CHECK(e->priority >= -1000000 && e->priority <= 1000000);
    /* a detector's own keys are not its plugin's options */
    if (kind == ENTRY_DETECTOR) {
        CHECK(config_get(&e->config, "name") == NULL);
        CHECK(config_get(&e->config, "plugin") == NULL);
    }
    exercise_map(p->file, e->name, e->config.map, budget);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so a read past the end is seen */
    char *text = malloc(size ? size : 1);
    struct pipeline p;
    char err[512];
    unsigned budget = MAX_MAPS;

    CHECK(text != NULL);
    if (size)
        memcpy(text, data, size);
    memset(err, 'x', sizeof err);
    if (pipeline_parse("fuzz.yaml", text, size, &p, err, sizeof err) != 0) {
        CHECK(one_line(err, sizeof err));
        CHECK(strncmp(err, "fuzz.yaml:", 10) == 0);
        CHECK(p.root == NULL && p.stages == NULL && p.detectors == NULL);
        CHECK(p.nstages == 0 && p.ndetectors == 0 && p.file == NULL);
        free(text);
        return 0;
    }
    CHECK(strcmp(p.file, "fuzz.yaml") == 0);
    if (p.root)
        check_tree(p.root, 0);
    for (size_t i = 0; i < p.nstages; i++)
        check_entry(&p, &p.stages[i], ENTRY_STAGE, &budget);
    for (size_t i = 0; i < p.ndetectors; i++)
        check_entry(&p, &p.detectors[i], ENTRY_DETECTOR, &budget);
    /* names are unique within each kind */
    for (size_t i = 1; i < p.nstages && i < MAX_KEYS; i++)
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(p.stages[i].name, p.stages[j].name) != 0);
    for (size_t i = 1; i < p.ndetectors && i < MAX_KEYS; i++)
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(p.detectors[i].name, p.detectors[j].name) != 0);
    pipeline_free(&p);
    free(text);
    return 0;
}
