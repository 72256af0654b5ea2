/*
 * check_pipeline: the pipeline file's reader and the option accessors.
 *
 * Each kind of mistake must give one line naming the exact line and column
 * and what was expected there; the accessors must give plugins their
 * defaults, their types and their ranges, and name the plugin, option and
 * value when refusing one. The shipped etc/pipeline.yaml must parse.
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline.h"

static struct pipeline P;
static char err[1024];

static int parse(const char *text)
{
    return pipeline_parse("pipeline.yaml", text, strlen(text), &P, err, sizeof err);
}

static void teardown(void)
{
    pipeline_free(&P);
}

/* The file must be refused with a message that starts with WHERE
 * ("pipeline.yaml:L:C: ") and holds FRAGMENT, on one line. */
#define ERR(text, where, fragment)                                                   \
    do {                                                                             \
        ck_assert_int_eq(parse(text), -1);                                           \
        ck_assert_msg(strncmp(err, where, strlen(where)) == 0,                       \
                      "expected the error at %s, got: %s", where, err);             \
        ck_assert_msg(strstr(err, fragment) != NULL,                                 \
                      "expected '%s' in: %s", fragment, err);                       \
        ck_assert_msg(strchr(err, '\n') == NULL, "not one line: %s", err);          \
        ck_assert_ptr_null(P.root);                                                  \
        ck_assert_uint_eq(P.nstages + P.ndetectors, 0);                              \
    } while (0)

#define OK(text) ck_assert_msg(parse(text) == 0, "refused: %s", err)

static const char example[] =
    "# etc/pipeline.yaml\n"
    "version: 1\n"
    "stages:\n"
    "  - plugin: scrubber\n"
    "    name: scrubber\n"
    "    options:\n"
    "      key: value\n"
    "  - plugin: retry\n"
    "    options:\n"
    "      statuses: [529]\n"
    "      delays_ms: [1000, 2000, 4000]\n"
    "detectors:\n"
    "  - plugin: anthropic_key\n"
    "    priority: 10\n"
    "    enabled: true\n"
    "  - name: internal_token\n"
    "    plugin: regex\n"
    "    label: INTERNAL_TOKEN\n"
    "    tier: secret\n"
    "    priority: 165\n"
    "    pattern: 'itk_[A-Za-z0-9]{32}'\n"
    "    samples:\n"
    "      match: [\"itk_0123456789abcdef0123456789abcdef\"]\n"
    "      no_match: [\"itk_short\"]\n";

/* ---- good files ---- */

START_TEST(the_example)
{
    OK(example);
    ck_assert_str_eq(P.file, "pipeline.yaml");
    ck_assert_uint_eq(P.nstages, 2);
    ck_assert_uint_eq(P.ndetectors, 2);

    const struct pipeline_entry *s = P.stages;
    ck_assert_int_eq(s[0].kind, ENTRY_STAGE);
    ck_assert_str_eq(s[0].name, "scrubber");
    ck_assert_str_eq(s[0].plugin, "scrubber");
    ck_assert_uint_eq(s[0].line, 4);
    ck_assert_uint_eq(s[0].column, 5);
    ck_assert_str_eq(config_opt_string(&s[0].config, "key", NULL), "value");
    ck_assert_str_eq(s[1].name, "retry");
    ck_assert_str_eq(s[1].config.plugin, "retry");
    ck_assert_str_eq(s[1].config.file, "pipeline.yaml");
    ck_assert_uint_eq(config_opt_list_len(&s[1].config, "statuses"), 1);
    ck_assert_str_eq(config_opt_list_item(&s[1].config, "statuses", 0), "529");
    ck_assert_uint_eq(config_opt_list_len(&s[1].config, "delays_ms"), 3);
    ck_assert_str_eq(config_opt_list_item(&s[1].config, "delays_ms", 2), "4000");

    const struct pipeline_entry *d = P.detectors;
    ck_assert_int_eq(d[0].kind, ENTRY_DETECTOR);
    ck_assert_str_eq(d[0].name, "anthropic_key");
    ck_assert(d[0].has_priority);
    ck_assert_int_eq(d[0].priority, 10);
    ck_assert(d[0].enabled);
    ck_assert_uint_eq(d[0].config.map->n, 0); /* its own keys are not options */
    ck_assert_str_eq(d[1].name, "internal_token");
    ck_assert_str_eq(d[1].plugin, "regex");
    ck_assert_int_eq(d[1].priority, 165);
    ck_assert_uint_eq(d[1].line, 16);
    /* the regex plugin's keys stay, in order; name, plugin, priority go */
    ck_assert_uint_eq(d[1].config.map->n, 4);
    ck_assert_str_eq(d[1].config.map->keys[0], "label");
    ck_assert_str_eq(d[1].config.map->keys[3], "samples");
    ck_assert_ptr_null(config_get(&d[1].config, "name"));
    ck_assert_ptr_null(config_get(&d[1].config, "priority"));
    ck_assert_str_eq(config_opt_string(&d[1].config, "pattern", NULL), "itk_[A-Za-z0-9]{32}");
    const struct cfg_node *samples = config_get(&d[1].config, "samples");
    ck_assert_ptr_nonnull(samples);
    ck_assert_int_eq(samples->type, CFG_MAP);
    ck_assert_uint_eq(samples->line, 23);
    ck_assert_uint_eq(samples->column, 7);
    struct apx_config sub = { "pipeline.yaml", "internal_token", samples };
    ck_assert_uint_eq(config_opt_list_len(&sub, "match"), 1);
    ck_assert_str_eq(config_opt_list_item(&sub, "no_match", 0), "itk_short");
}
END_TEST

START_TEST(empty_files)
{
    static const char *const empties[] = {
        "", "# only a comment\n", "---\n", "---\n...\n", "\n\n\n", "stages:\ndetectors:\n",
        "stages: []\ndetectors: []\n", "version: 1\n", "~\n",
    };
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        OK(empties[i]);
        ck_assert_uint_eq(P.nstages, 0);
        ck_assert_uint_eq(P.ndetectors, 0);
        pipeline_free(&P);
    }
}
END_TEST

START_TEST(only_stages)
{
    OK("stages:\n  - plugin: metrics\n  - plugin: dashboard\n    options:\n");
    ck_assert_uint_eq(P.nstages, 2);
    ck_assert_uint_eq(P.ndetectors, 0);
    ck_assert_ptr_null(P.detectors);
    /* no options, or an empty options: an empty mapping, never NULL */
    for (size_t i = 0; i < 2; i++) {
        ck_assert_ptr_nonnull(P.stages[i].config.map);
        ck_assert_int_eq(P.stages[i].config.map->type, CFG_MAP);
        ck_assert_uint_eq(P.stages[i].config.map->n, 0);
    }
}
END_TEST

START_TEST(paths_as_plugin)
{
    OK("stages:\n"
       "  - plugin: /usr/lib/anthropic-proxy/stages/my_stage.so\n"
       "  - plugin: ./local/other\n"
       "  - plugin: ../x/Weird-File.so\n"
       "    name: weird\n"
       "detectors:\n"
       "  - plugin: /opt/d/acme_token.so\n");
    ck_assert_str_eq(P.stages[0].name, "my_stage");
    ck_assert_str_eq(P.stages[0].plugin, "/usr/lib/anthropic-proxy/stages/my_stage.so");
    ck_assert_str_eq(P.stages[1].name, "other");
    ck_assert_str_eq(P.stages[2].name, "weird");
    ck_assert_str_eq(P.stages[2].plugin, "../x/Weird-File.so");
    ck_assert_str_eq(P.detectors[0].name, "acme_token");
    ck_assert_str_eq(P.detectors[0].config.plugin, "acme_token");
}
END_TEST

START_TEST(nested_options)
{
    OK("stages:\n"
       "  - plugin: s\n"
       "    options:\n"
       "      a:\n"
       "        b: [1, [2, 3], {c: d}]\n"
       "        e: {f: {g: h}}\n"
       "      list: [x, y]\n"
       "      scalar: 'quoted: yes'\n"
       "      empty:\n");
    const struct apx_config *c = &P.stages[0].config;
    const struct cfg_node *a = config_get(c, "a");
    ck_assert_int_eq(a->type, CFG_MAP);
    ck_assert_uint_eq(a->n, 2);
    const struct cfg_node *b = a->items[0];
    ck_assert_int_eq(b->type, CFG_LIST);
    ck_assert_uint_eq(b->n, 3);
    ck_assert_str_eq(b->items[0]->value, "1");
    ck_assert_int_eq(b->items[1]->type, CFG_LIST);
    ck_assert_str_eq(b->items[1]->items[1]->value, "3");
    ck_assert_str_eq(b->items[2]->keys[0], "c");
    ck_assert_str_eq(a->items[1]->items[0]->items[0]->value, "h");
    ck_assert_str_eq(config_opt_string(c, "scalar", NULL), "quoted: yes");
    ck_assert_str_eq(config_opt_string(c, "empty", "def"), "");
    /* a list whose items are not all text */
    struct apx_config sub = { "pipeline.yaml", "s", a };
    ck_assert_uint_eq(config_opt_list_len(&sub, "b"), 3);
    ck_assert_str_eq(config_opt_list_item(&sub, "b", 0), "1");
    ck_assert_ptr_null(config_opt_list_item(&sub, "b", 1));
    ck_assert_ptr_null(config_opt_list_item(&sub, "b", 3));
}
END_TEST

START_TEST(flow_style_and_known_tags)
{
    OK("{version: 1, stages: [{plugin: a}, {plugin: b, name: c}],"
       " detectors: [{plugin: d, priority: -5, enabled: off}]}");
    ck_assert_uint_eq(P.nstages, 2);
    ck_assert_str_eq(P.stages[1].name, "c");
    ck_assert_int_eq(P.detectors[0].priority, -5);
    ck_assert(!P.detectors[0].enabled);
    pipeline_free(&P);
    OK("!!map\nstages: !!seq\n  - plugin: !!str a\n    options: {n: !!int 3, f: !!float 1.5,"
       " b: !!bool true, z: !!null ~, s: ! x}\n");
    ck_assert_str_eq(config_opt_string(&P.stages[0].config, "n", NULL), "3");
}
END_TEST

START_TEST(booleans_and_priorities)
{
    static const struct { const char *text; bool value; } cases[] = {
        { "true", true }, { "True", true }, { "YES", true }, { "on", true }, { "On", true },
        { "false", false }, { "FALSE", false }, { "no", false }, { "Off", false },
    };
    char text[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "detectors:\n  - plugin: x\n    enabled: %s\n",
                 cases[i].text);
        OK(text);
        ck_assert_int_eq(P.detectors[0].enabled, cases[i].value);
        ck_assert(!P.detectors[0].has_priority);
        pipeline_free(&P);
    }
    OK("detectors:\n  - plugin: a\n    priority: -1000000\n  - plugin: b\n    priority: "
       "+1000000\n  - plugin: c\n    priority: 0\n");
    ck_assert_int_eq(P.detectors[0].priority, -1000000);
    ck_assert_int_eq(P.detectors[1].priority, 1000000);
    ck_assert(P.detectors[2].has_priority);
    ck_assert_int_eq(P.detectors[2].priority, 0);
}
END_TEST

/* Detectors and stages are separate name spaces. */
START_TEST(same_name_as_stage_and_detector)
{
    OK("stages:\n  - plugin: email\ndetectors:\n  - plugin: email\n");
}
END_TEST

/* Wrap `depth` lists around one value under a stage's options; the file
 * itself adds 4 levels (top, stages, the stage, options). */
static char *nested(int depth)
{
    size_t size = 128 + 2 * (size_t)depth;
    char *s = malloc(size);
    ck_assert_ptr_nonnull(s);
    int n = snprintf(s, size, "stages:\n  - plugin: x\n    options:\n      deep: ");
    for (int i = 0; i < depth; i++)
        s[n++] = '[';
    s[n++] = '1';
    for (int i = 0; i < depth; i++)
        s[n++] = ']';
    s[n] = '\0';
    return s;
}

START_TEST(nesting_32_is_fine)
{
    char *s = nested(28);
    OK(s);
    free(s);
}
END_TEST

/* ---- errors ---- */

START_TEST(syntax_errors)
{
    ERR("stages: [a, b\n", "pipeline.yaml:2:1: ", "did not find expected ',' or ']'");
    ERR("stages:\n  - plugin: a\n - plugin: b\n", "pipeline.yaml:3:2: ", "expected");
    ERR("a: 'unterminated\n", "pipeline.yaml:2:1: ", "found unexpected end of stream");
    ERR("a: b: c\n", "pipeline.yaml:1:5: ", "mapping values are not allowed");
    ERR("a: \xff\n", "pipeline.yaml:1:4: ",
        "invalid leading UTF-8 octet (0xFF); expected printable UTF-8 text");
    ERR("a: 1\n---\nb: 2\n", "pipeline.yaml:2:1: ", "a second document; expected one");
    ERR("a: \"x\\0y\"\n", "pipeline.yaml:1:4: ", "NUL");
}
END_TEST

START_TEST(tab_indentation)
{
    ERR("stages:\n  - plugin: x\n\t  name: y\n", "pipeline.yaml:3:1: ",
        "found a tab character that violates indentation");
    ck_assert_ptr_nonnull(strstr(err, "expected spaces for indentation"));
    ERR("stages:\n\t- plugin: x\n", "pipeline.yaml:2:1: ",
        "; expected spaces for indentation (YAML does not allow tabs)");
}
END_TEST

START_TEST(wrong_types)
{
    ERR("- plugin: a\n", "pipeline.yaml:1:1: ", "the file holds a list; expected a mapping");
    ERR("just text\n", "pipeline.yaml:1:1: ", "the file holds the text 'just text'");
    ERR("version: 1\nstages:\n  plugin: x\n", "pipeline.yaml:2:1: ",
        "'stages' is a mapping; expected a list of stages");
    ERR("detectors: email\n", "pipeline.yaml:1:1: ",
        "'detectors' is the text 'email'; expected a list of detectors");
    ERR("stages:\n  - scrubber\n", "pipeline.yaml:2:5: ",
        "a stage is the text 'scrubber'; expected a mapping with at least plugin:");
    ERR("detectors:\n  - [a]\n", "pipeline.yaml:2:5: ", "a detector is a list; expected");
    ERR("stages:\n  - plugin: [a]\n", "pipeline.yaml:2:5: ", "'plugin' is a list; expected");
    ERR("stages:\n  - plugin: a\n    name: {x: y}\n", "pipeline.yaml:3:5: ",
        "'name' is a mapping; expected a name");
    ERR("stages:\n  - plugin: a\n    options: [x]\n", "pipeline.yaml:3:5: ",
        "'options' is a list; expected a mapping of options");
    ERR("stages:\n  - plugin: a\n    options: text\n", "pipeline.yaml:3:5: ",
        "'options' is the text 'text'; expected a mapping");
    ERR("detectors:\n  - plugin: a\n    priority: [1]\n", "pipeline.yaml:3:5: ",
        "'priority' is a list; expected an integer");
    ERR("detectors:\n  - plugin: a\n    enabled: {}\n", "pipeline.yaml:3:5: ",
        "'enabled' is a mapping; expected true or false");
    ERR("version: [1]\n", "pipeline.yaml:1:1: ", "'version' is a list; expected 1");
    ERR("stages:\n  - ? [a]\n    : b\n", "pipeline.yaml:2:7: ",
        "a list used as a mapping key; expected a text key");
}
END_TEST

START_TEST(unknown_keys)
{
    ERR("stages:\n  - plugin: a\n\n\n\n\n    plugn: b\n", "pipeline.yaml:7:5: ",
        "unknown key 'plugn' in a stage; expected one of plugin, name, options");
    ERR("stagez: []\n", "pipeline.yaml:1:1: ",
        "unknown key 'stagez' at the top level; expected one of version, stages, detectors");
    ERR("version: 1\n\"a\\nb\": 1\n", "pipeline.yaml:2:1: ", "unknown key 'a?b'");
    ERR("stages:\n  - plugin: a\n    enabled: true\n", "pipeline.yaml:3:5: ",
        "unknown key 'enabled' in a stage");
}
END_TEST

START_TEST(duplicates)
{
    ERR("stages:\n  - plugin: retry\n  - plugin: metrics\n  - plugin: retry\n",
        "pipeline.yaml:4:5: ", "duplicate stage name 'retry' (first at line 2); expected "
        "each stage name once");
    ERR("detectors:\n  - plugin: regex\n    name: a\n  - plugin: a\n", "pipeline.yaml:4:5: ",
        "duplicate detector name 'a' (first at line 2)");
    ERR("stages:\n  - plugin: /x/retry.so\n  - plugin: retry\n", "pipeline.yaml:3:5: ",
        "duplicate stage name 'retry'");
    ERR("stages:\n  - {plugin: a, plugin: b}\n", "pipeline.yaml:2:17: ",
        "duplicate key 'plugin' (first at line 2, column 6); expected each key once");
    ERR("stages: []\nversion: 1\nstages: []\n", "pipeline.yaml:3:1: ",
        "duplicate key 'stages' (first at line 1, column 1)");
    ERR("stages:\n  - plugin: a\n    options:\n      k: 1\n      j: 2\n      k: 3\n",
        "pipeline.yaml:6:7: ", "duplicate key 'k' (first at line 4, column 7)");
    /* found by fuzz_pipeline: config_get could never read a dotted key */
    ERR("stages:\n  - plugin: a\n    options: {samples.match: [x]}\n", "pipeline.yaml:3:15: ",
        "key 'samples.match' contains '.'; expected a key without dots");
}
END_TEST

START_TEST(bad_names_and_plugins)
{
    ERR("stages:\n  - plugin: a\n    name: Bad-Name\n", "pipeline.yaml:3:11: ",
        "name 'Bad-Name' is not valid; expected 1 to 64 characters of a-z, 0-9 and _");
    ERR("stages:\n  - plugin: a\n    name: ''\n", "pipeline.yaml:3:11: ",
        "name '' is not valid");
    ERR("stages:\n  - plugin: a\n    name: a0123456789012345678901234567890123456789012345678"
        "901234567890123\n", "pipeline.yaml:3:11: ", "is not valid; expected 1 to 64");
    ERR("stages:\n  - plugin: ''\n", "pipeline.yaml:2:13: ", "plugin is 0 bytes long");
    ERR("stages:\n  - plugin: Foo Bar\n", "pipeline.yaml:2:13: ",
        "plugin 'Foo Bar' is neither a plugin name nor a path");
    ERR("stages:\n  - plugin: /x/My-Plugin.so\n", "pipeline.yaml:2:13: ",
        "plugin '/x/My-Plugin.so' gives no usable default name; expected a name: key");
    ERR("stages:\n  - plugin: /x/\n", "pipeline.yaml:2:13: ", "gives no usable default name");
    ERR("stages:\n  - name: a\n", "pipeline.yaml:2:5: ",
        "a stage without 'plugin'; expected plugin:");
    ERR("detectors:\n  - name: a\n    pattern: x\n", "pipeline.yaml:2:5: ",
        "a detector without 'plugin'");

    /* a path of 4096 bytes is fine, 4097 is not */
    char text[4200];
    int n = snprintf(text, sizeof text, "stages:\n  - plugin: /");
    memset(text + n, 'a', 4095);
    strcpy(text + n + 4095, "\n    name: long\n");
    OK(text);
    pipeline_free(&P);
    memset(text + n, 'a', 4096);
    strcpy(text + n + 4096, "\n    name: long\n");
    ERR(text, "pipeline.yaml:2:13: ", "plugin is 4097 bytes long; expected a plugin name or "
        "a path of 1 to 4096 bytes");
}
END_TEST

START_TEST(bad_priority_and_enabled)
{
    ERR("detectors:\n  - plugin: a\n    priority: abc\n", "pipeline.yaml:3:15: ",
        "priority 'abc' is not valid; expected an integer from -1000000 to 1000000");
    ERR("detectors:\n  - plugin: a\n    priority: 1000001\n", "pipeline.yaml:3:15: ",
        "priority '1000001' is not valid");
    ERR("detectors:\n  - plugin: a\n    priority: -1000001\n", "pipeline.yaml:3:15: ",
        "priority '-1000001'");
    ERR("detectors:\n  - plugin: a\n    priority: 99999999999999999999999\n",
        "pipeline.yaml:3:15: ", "priority '99999999999999999999999' is not valid");
    ERR("detectors:\n  - plugin: a\n    priority: 1.5\n", "pipeline.yaml:3:15: ", "'1.5'");
    ERR("detectors:\n  - plugin: a\n    priority: ' 5'\n", "pipeline.yaml:3:15: ", "' 5'");
    ERR("detectors:\n  - plugin: a\n    enabled: maybe\n", "pipeline.yaml:3:14: ",
        "enabled 'maybe' is not valid; expected true or false (or yes/no, on/off)");
    ERR("detectors:\n  - plugin: a\n    enabled: 1\n", "pipeline.yaml:3:14: ",
        "enabled '1' is not valid");
}
END_TEST

START_TEST(detector_actions)
{
    OK("detectors:\n  - plugin: a\n  - plugin: b\n    action: observe\n"
       "  - plugin: c\n    action: block\n  - plugin: d\n    action: pseudonymize\n");
    ck_assert_int_eq(P.detectors[0].action, APX_ACTION_PSEUDONYMIZE);
    ck_assert_int_eq(P.detectors[1].action, APX_ACTION_OBSERVE);
    ck_assert_int_eq(P.detectors[2].action, APX_ACTION_BLOCK);
    ck_assert_int_eq(P.detectors[3].action, APX_ACTION_PSEUDONYMIZE);
    /* a core key: not left among the plugin's options */
    ck_assert_ptr_null(config_get(&P.detectors[1].config, "action"));
    pipeline_free(&P);
    ERR("detectors:\n  - plugin: a\n    action: redact\n", "pipeline.yaml:3:13: ",
        "action 'redact' is not valid; expected pseudonymize, observe or block");
    ERR("detectors:\n  - plugin: a\n    action: [block]\n", "pipeline.yaml:3:5: ",
        "'action' is a list; expected pseudonymize, observe or block");
    ERR("stages:\n  - plugin: a\n    action: block\n", "pipeline.yaml:3:5: ",
        "unknown key 'action' in a stage");
}
END_TEST

START_TEST(detector_restore)
{
    OK("detectors:\n  - plugin: a\n  - plugin: b\n    restore: never\n"
       "  - plugin: c\n    restore: tool_input\n");
    ck_assert_int_eq(P.detectors[0].restore, APX_RESTORE_TOOL_INPUT);
    ck_assert_int_eq(P.detectors[1].restore, APX_RESTORE_NEVER);
    ck_assert_int_eq(P.detectors[2].restore, APX_RESTORE_TOOL_INPUT);
    ck_assert_ptr_null(config_get(&P.detectors[1].config, "restore"));
    pipeline_free(&P);
    ERR("detectors:\n  - plugin: a\n    restore: always\n", "pipeline.yaml:3:14: ",
        "restore 'always' is not valid; expected tool_input or never");
    ERR("detectors:\n  - plugin: a\n    restore: {x: 1}\n", "pipeline.yaml:3:5: ",
        "expected tool_input or never");
}
END_TEST

START_TEST(anchors_and_aliases)
{
    ERR("stages:\n  - &s {plugin: a}\n  - *s\n", "pipeline.yaml:2:5: ",
        "anchor '&s' is refused; expected plain values (YAML anchors and aliases are not "
        "allowed)");
    ERR("stages: *x\n", "pipeline.yaml:1:9: ", "alias '*x' is refused");
    /* the classic bomb stops at its first anchor */
    ERR("a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n", "pipeline.yaml:1:4: ",
        "anchor '&a' is refused");
}
END_TEST

START_TEST(unknown_tags)
{
    ERR("stages: !foo []\n", "pipeline.yaml:1:9: ", "unknown tag '!foo'; expected no tag");
    ERR("a: !!binary aGVsbG8=\n", "pipeline.yaml:1:4: ",
        "unknown tag '!!binary'; expected no tag");
    ERR("stages: !!map []\n", "pipeline.yaml:1:9: ", "unknown tag '!!map'");
    ERR("a: !!seq x\n", "pipeline.yaml:1:4: ", "unknown tag");
}
END_TEST

START_TEST(nesting_over_32)
{
    char *s = nested(29);
    ERR(s, "pipeline.yaml:4:41: ", "nesting deeper than 32 levels; expected at most 32");
    free(s);
    s = nested(5000);
    ERR(s, "pipeline.yaml:4:41: ", "nesting deeper than 32 levels");
    free(s);
}
END_TEST

START_TEST(version_2)
{
    ERR("version: 2\nstages: []\n", "pipeline.yaml:1:10: ",
        "version '2' is not supported; expected 1");
    ERR("version: 1.0\n", "pipeline.yaml:1:10: ", "version '1.0' is not supported");
}
END_TEST

START_TEST(size_limit)
{
    size_t big = 1024 * 1024 + 1;
    char *s = malloc(big);
    ck_assert_ptr_nonnull(s);
    memset(s, '#', big);
    ck_assert_int_eq(pipeline_parse("big.yaml", s, big, &P, err, sizeof err), -1);
    ck_assert_str_eq(err, "big.yaml: the file is 1048577 bytes; expected at most 1048576 "
                     "(1 MiB)");
    /* exactly 1 MiB of comment is fine */
    ck_assert_int_eq(pipeline_parse("big.yaml", s, big - 1, &P, err, sizeof err), 0);
    free(s);
}
END_TEST

/* A short error buffer truncates; it never overflows. */
START_TEST(short_error_buffer)
{
    char small[16];
    memset(small, 'x', sizeof small);
    ck_assert_int_eq(pipeline_parse("pipeline.yaml", "version: 2\n", 11, &P, small, 12), -1);
    ck_assert_str_eq(small, "pipeline.ya");
    ck_assert_int_eq(small[12], 'x');
    ck_assert_int_eq(pipeline_parse("pipeline.yaml", "version: 2\n", 11, &P, NULL, 0), -1);
}
END_TEST

/* Text without a terminating NUL: the reader must use the length only. */
START_TEST(unterminated_buffer)
{
    const char text[] = "stages: [{plugin: a}]XXXX";
    ck_assert_int_eq(pipeline_parse("p", text, 21, &P, err, sizeof err), 0);
    ck_assert_str_eq(P.stages[0].name, "a");
}
END_TEST

/* ---- the accessors ---- */

static const char options[] =
    "stages:\n"
    "  - plugin: retry\n"
    "    options:\n"
    "      max_retries: abc\n"
    "      three: 3\n"
    "      neg: -7\n"
    "      plus: '+12'\n"
    "      big: 9223372036854775807\n"
    "      small: -9223372036854775808\n"
    "      over: 9223372036854775808\n"
    "      space: ' 4'\n"
    "      empty: ''\n"
    "      half: 0.5\n"
    "      exp: 1e3\n"
    "      inf: inf\n"
    "      nan: nan\n"
    "      junk: 1.5x\n"
    "      yes: yes\n"
    "      off: OFF\n"
    "      list: [1000, 2000, 4000]\n"
    "      nested: [[1], 2]\n"
    "      map: {a: 1}\n"
    "      text: hello\n";

START_TEST(accessor_defaults)
{
    OK(options);
    const struct apx_config *c = &P.stages[0].config;
    struct apx_error e = { "untouched" };
    int64_t i = 0;
    double d = 0;
    bool b = false;

    ck_assert_str_eq(config_opt_string(c, "missing", "def"), "def");
    ck_assert_ptr_null(config_opt_string(c, "missing", NULL));
    ck_assert_int_eq(config_opt_int(c, "missing", 42, 0, 10, &i, &e), 0);
    ck_assert_int_eq(i, 42);
    ck_assert_int_eq(config_opt_double(c, "missing", 2.5, 0, 1, &d, &e), 0);
    ck_assert_double_eq(d, 2.5);
    ck_assert_int_eq(config_opt_bool(c, "missing", true, &b, &e), 0);
    ck_assert(b);
    ck_assert_uint_eq(config_opt_list_len(c, "missing"), 0);
    ck_assert_ptr_null(config_opt_list_item(c, "missing", 0));
    ck_assert_ptr_null(config_get(c, "missing"));
    ck_assert_str_eq(e.message, "untouched");

    /* NULL config or key: as if missing */
    ck_assert_ptr_null(config_get(NULL, "x"));
    ck_assert_ptr_null(config_get(c, NULL));
    ck_assert_int_eq(config_opt_int(NULL, "x", 7, 0, 10, &i, NULL), 0);
    ck_assert_int_eq(i, 7);
}
END_TEST

START_TEST(accessor_int)
{
    OK(options);
    const struct apx_config *c = &P.stages[0].config;
    struct apx_error e = { "" };
    int64_t i = 0;

    ck_assert_int_eq(config_opt_int(c, "three", 0, 0, 10, &i, &e), 0);
    ck_assert_int_eq(i, 3);
    ck_assert_int_eq(config_opt_int(c, "neg", 0, -10, 10, &i, &e), 0);
    ck_assert_int_eq(i, -7);
    ck_assert_int_eq(config_opt_int(c, "plus", 0, 0, 100, &i, &e), 0);
    ck_assert_int_eq(i, 12);
    ck_assert_int_eq(config_opt_int(c, "big", 0, INT64_MIN, INT64_MAX, &i, &e), 0);
    ck_assert(i == INT64_MAX);
    ck_assert_int_eq(config_opt_int(c, "small", 0, INT64_MIN, INT64_MAX, &i, &e), 0);
    ck_assert(i == INT64_MIN);

    i = 99;
    ck_assert_int_eq(config_opt_int(c, "max_retries", 3, 0, 10, &i, &e), -1);
    ck_assert_str_eq(e.message, "retry: option max_retries=abc is not valid: expected an "
                     "integer from 0 to 10 (pipeline.yaml:4:20)");
    ck_assert_int_eq(i, 99); /* untouched on error */
    ck_assert_int_eq(config_opt_int(c, "three", 0, 4, 10, &i, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.message, "option three=3 is not valid: expected an "
                                            "integer from 4 to 10"));
    ck_assert_int_eq(config_opt_int(c, "neg", 0, 0, INT64_MAX, &i, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.message, "expected an integer of at least 0"));
    ck_assert_int_eq(config_opt_int(c, "three", 0, INT64_MIN, 2, &i, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.message, "expected an integer of at most 2"));
    ck_assert_int_eq(config_opt_int(c, "over", 0, INT64_MIN, INT64_MAX, &i, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.message, "over=9223372036854775808 is not valid: "
                                            "expected an integer ("));
    ck_assert_int_eq(config_opt_int(c, "space", 0, 0, 10, &i, &e), -1);
    ck_assert_int_eq(config_opt_int(c, "empty", 0, 0, 10, &i, &e), -1);
    ck_assert_int_eq(config_opt_int(c, "half", 0, 0, 10, &i, &e), -1);
    ck_assert_int_eq(config_opt_int(c, "list", 0, 0, 10, &i, &e), -1);
    ck_assert_str_eq(e.message, "retry: option list is a list: expected an integer from 0 to "
                     "10 (pipeline.yaml:20:13)");
    ck_assert_int_eq(config_opt_int(c, "map", 0, 0, 10, &i, NULL), -1);
}
END_TEST

START_TEST(accessor_double)
{
    OK(options);
    const struct apx_config *c = &P.stages[0].config;
    struct apx_error e = { "" };
    double d = 0;

    ck_assert_int_eq(config_opt_double(c, "half", 0, 0, 1, &d, &e), 0);
    ck_assert_double_eq(d, 0.5);
    ck_assert_int_eq(config_opt_double(c, "exp", 0, 0, 1e6, &d, &e), 0);
    ck_assert_double_eq(d, 1000);
    ck_assert_int_eq(config_opt_double(c, "neg", 0, -INFINITY, INFINITY, &d, &e), 0);
    ck_assert_double_eq(d, -7);
    ck_assert_int_eq(config_opt_double(c, "exp", 0, 0, 10, &d, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.message, "retry: option exp=1e3 is not valid: expected a "
                                            "number from 0 to 10"));
    ck_assert_int_eq(config_opt_double(c, "inf", 0, -INFINITY, INFINITY, &d, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.message, "expected a number ("));
    ck_assert_int_eq(config_opt_double(c, "nan", 0, -INFINITY, INFINITY, &d, &e), -1);
    ck_assert_int_eq(config_opt_double(c, "junk", 0, -INFINITY, INFINITY, &d, &e), -1);
    ck_assert_int_eq(config_opt_double(c, "space", 0, -INFINITY, INFINITY, &d, &e), -1);
    ck_assert_int_eq(config_opt_double(c, "empty", 0, -INFINITY, INFINITY, &d, &e), -1);
    ck_assert_int_eq(config_opt_double(c, "neg", 0, 0, INFINITY, &d, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.message, "expected a number of at least 0"));
    ck_assert_int_eq(config_opt_double(c, "map", 0, 0, 1, &d, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.message, "option map is a mapping: expected a number"));
}
END_TEST

START_TEST(accessor_bool)
{
    OK(options);
    const struct apx_config *c = &P.stages[0].config;
    struct apx_error e = { "" };
    bool b = false;

    ck_assert_int_eq(config_opt_bool(c, "yes", false, &b, &e), 0);
    ck_assert(b);
    ck_assert_int_eq(config_opt_bool(c, "off", true, &b, &e), 0);
    ck_assert(!b);
    ck_assert_int_eq(config_opt_bool(c, "three", false, &b, &e), -1);
    ck_assert_str_eq(e.message, "retry: option three=3 is not valid: expected true or false "
                     "(or yes/no, on/off) (pipeline.yaml:5:14)");
    ck_assert_int_eq(config_opt_bool(c, "list", false, &b, &e), -1);
}
END_TEST

START_TEST(accessor_lists_and_strings)
{
    OK(options);
    const struct apx_config *c = &P.stages[0].config;

    ck_assert_uint_eq(config_opt_list_len(c, "list"), 3);
    ck_assert_str_eq(config_opt_list_item(c, "list", 0), "1000");
    ck_assert_str_eq(config_opt_list_item(c, "list", 2), "4000");
    ck_assert_ptr_null(config_opt_list_item(c, "list", 3));
    ck_assert_ptr_null(config_opt_list_item(c, "list", SIZE_MAX));
    /* a scalar is a list of one */
    ck_assert_uint_eq(config_opt_list_len(c, "three"), 1);
    ck_assert_str_eq(config_opt_list_item(c, "three", 0), "3");
    ck_assert_ptr_null(config_opt_list_item(c, "three", 1));
    /* a mapping is no list; a list item that is not text reads as NULL */
    ck_assert_uint_eq(config_opt_list_len(c, "map"), 0);
    ck_assert_ptr_null(config_opt_list_item(c, "map", 0));
    ck_assert_uint_eq(config_opt_list_len(c, "nested"), 2);
    ck_assert_ptr_null(config_opt_list_item(c, "nested", 0));
    ck_assert_str_eq(config_opt_list_item(c, "nested", 1), "2");
    /* strings: text as written; not text gives the default */
    ck_assert_str_eq(config_opt_string(c, "text", NULL), "hello");
    ck_assert_str_eq(config_opt_string(c, "plus", NULL), "+12");
    ck_assert_str_eq(config_opt_string(c, "list", "def"), "def");
    ck_assert_str_eq(config_opt_string(c, "map", "def"), "def");
    ck_assert_int_eq(config_get(c, "map")->type, CFG_MAP);
}
END_TEST

/* A long value is cut in the message; the message stays one line. */
START_TEST(accessor_long_value)
{
    char text[1200];
    int n = snprintf(text, sizeof text, "stages:\n  - plugin: s\n    options:\n      k: \"a\\nb");
    for (int i = 0; i < 1000; i++)
        text[n++] = 'x';
    strcpy(text + n, "\"\n");
    OK(text);
    struct apx_error e = { "" };
    int64_t i;
    ck_assert_int_eq(config_opt_int(&P.stages[0].config, "k", 0, 0, 1, &i, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.message, "s: option k=a?bxxx"));
    ck_assert_ptr_nonnull(strstr(e.message, "x... is not valid"));
    ck_assert_ptr_null(strchr(e.message, '\n'));
}
END_TEST

/* ---- files ---- */

static const char *srcdir_path(const char *rel, char *buf, size_t size)
{
    const char *top = getenv("top_srcdir");
    if (top && *top)
        snprintf(buf, size, "%s/%s", top, rel);
    else
        snprintf(buf, size, "%s", rel);
    return buf;
}

START_TEST(shipped_pipeline)
{
    /* Every shipped detector, in the file's order, with its priority. */
    static const struct { const char *name; int priority; } detectors[] = {
        { "anthropic_key", 10 },      { "openai_key", 20 },          { "aws_access_key", 30 },
        { "aws_secret_key", 35 },     { "aws_session_token", 36 },
        { "github_token", 40 },       { "gitlab_token", 41 },        { "slack_token", 42 },
        { "npm_token", 43 },          { "pypi_token", 44 },          { "dockerhub_token", 45 },
        { "huggingface_token", 46 },  { "digitalocean_token", 47 },  { "shopify_token", 48 },
        { "databricks_token", 49 },   { "google_api_key", 50 },      { "google_oauth_secret", 52 },
        { "stripe_key", 60 },         { "sendgrid_key", 62 },        { "twilio_key", 64 },
        { "private_key", 70 },        { "jwt", 80 },                 { "azure_storage", 85 },
        { "db_connection_string", 90 }, { "url_credentials", 95 },
        { "bearer_token", 100 },      { "basic_auth", 110 },
        { "sonarqube_token", 120 },   { "jenkins_api_token", 130 },  { "ansible_vault", 140 },
        { "hashicorp_vault_token", 150 }, { "credential_assignment", 155 },
        { "email", 160 },
    };
    const size_t ndetectors = sizeof detectors / sizeof detectors[0];
    static const char *const stages[] = { "scrubber", "metrics", "dashboard", "retry" };
    char path[4096];
    srcdir_path("etc/pipeline.yaml", path, sizeof path);
    ck_assert_msg(pipeline_load(path, &P, err, sizeof err) == 0, "%s", err);

    ck_assert_uint_eq(P.nstages, 4);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(P.stages[i].name, stages[i]);
        ck_assert_str_eq(P.stages[i].plugin, stages[i]);
    }
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(P.stages[i].config.map->n, 0);

    const struct apx_config *retry = &P.stages[3].config;
    struct apx_error e = { "" };
    int64_t v;
    ck_assert_uint_eq(config_opt_list_len(retry, "statuses"), 1);
    ck_assert_str_eq(config_opt_list_item(retry, "statuses", 0), "529");
    ck_assert_int_eq(config_opt_int(retry, "max_retries", -1, 0, 10, &v, &e), 0);
    ck_assert_int_eq(v, 3);
    ck_assert_uint_eq(config_opt_list_len(retry, "delays_ms"), 3);
    ck_assert_str_eq(config_opt_list_item(retry, "delays_ms", 0), "1000");
    ck_assert_str_eq(config_opt_list_item(retry, "delays_ms", 1), "2000");
    ck_assert_str_eq(config_opt_list_item(retry, "delays_ms", 2), "4000");
    ck_assert_int_eq(config_opt_int(retry, "max_delay_ms", -1, 0, 600000, &v, &e), 0);
    ck_assert_int_eq(v, 30000);
    ck_assert_int_eq(config_opt_int(retry, "budget_percent", -1, 0, 1000, &v, &e), 0);
    ck_assert_int_eq(v, 20);

    ck_assert_uint_eq(P.ndetectors, ndetectors);
    for (size_t i = 0; i < ndetectors; i++) {
        ck_assert_str_eq(P.detectors[i].name, detectors[i].name);
        ck_assert_str_eq(P.detectors[i].plugin, detectors[i].name);
        ck_assert(P.detectors[i].has_priority);
        ck_assert_int_eq(P.detectors[i].priority, detectors[i].priority);
        ck_assert(P.detectors[i].enabled);
        ck_assert_uint_eq(P.detectors[i].config.map->n, 0);
    }
}
END_TEST

/* The commented-out regex detector of the shipped file must parse once
 * uncommented, so that the example does not rot. */
START_TEST(shipped_example_detector)
{
    char path[4096];
    FILE *f = fopen(srcdir_path("etc/pipeline.yaml", path, sizeof path), "r");
    ck_assert_ptr_nonnull(f);
    static char text[65536];
    size_t len = 0;
    char line[1024];
    bool in_example = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "  # - name: internal_token", 26) == 0)
            in_example = true;
        /* "  #   key: v" becomes "    key: v": drop the "# " */
        bool strip = in_example && strncmp(line, "  # ", 4) == 0;
        size_t n = strlen(line);
        ck_assert_uint_lt(len + n, sizeof text);
        if (strip) {
            memcpy(text + len, "  ", 2);
            memcpy(text + len + 2, line + 4, n - 4);
            len += n - 2;
        } else {
            memcpy(text + len, line, n);
            len += n;
        }
    }
    text[len] = '\0';
    fclose(f);
    ck_assert(in_example);
    ck_assert_msg(pipeline_parse("pipeline.yaml", text, strlen(text), &P, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_ge(P.ndetectors, 2); /* the shipped detectors, then the example */
    const struct pipeline_entry *d = &P.detectors[P.ndetectors - 1];
    ck_assert_str_eq(d->name, "internal_token");
    ck_assert_str_eq(d->plugin, "regex");
    ck_assert_int_eq(d->priority, 165);
    ck_assert_str_eq(config_opt_string(&d->config, "label", NULL), "INTERNAL_TOKEN");
    ck_assert_str_eq(config_opt_string(&d->config, "tier", NULL), "secret");
    ck_assert_str_eq(config_opt_string(&d->config, "pattern", NULL), "\\bitk_[A-Za-z0-9]{32}\\b");
    ck_assert_int_eq(config_get(&d->config, "samples")->type, CFG_MAP);
}
END_TEST

START_TEST(load_errors)
{
    char dir[] = "/tmp/check_pipeline.XXXXXX", path[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));

    snprintf(path, sizeof path, "%s/missing.yaml", dir);
    ck_assert_int_eq(pipeline_load(path, &P, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "missing.yaml: cannot read: No such file or directory"));

    ck_assert_int_eq(pipeline_load(dir, &P, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ": cannot read: Is a directory"));

    snprintf(path, sizeof path, "%s/big.yaml", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 1024 * 1024 + 1; i++)
        fputc('#', f);
    fclose(f);
    ck_assert_int_eq(pipeline_load(path, &P, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "big.yaml: the file is larger than 1 MiB"));
    unlink(path);

    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("stages:\n  - plugin: a\n    plugn: b\n", f);
    fclose(f);
    ck_assert_int_eq(pipeline_load(path, &P, err, sizeof err), -1);
    char want[512];
    snprintf(want, sizeof want, "%s:3:5: unknown key 'plugn'", path);
    ck_assert_ptr_nonnull(strstr(err, want));
    unlink(path);
    rmdir(dir);
}
END_TEST

/* pipeline_free on a zeroed or already freed pipeline is harmless. */
START_TEST(free_twice)
{
    struct pipeline p;
    memset(&p, 0, sizeof p);
    pipeline_free(&p);
    OK(example);
    pipeline_free(&P);
    pipeline_free(&P);
}
END_TEST

static Suite *pipeline_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *good = tcase_create("good files");
    TCase *bad = tcase_create("errors");
    TCase *acc = tcase_create("accessors");
    TCase *files = tcase_create("files");

    tcase_add_checked_fixture(good, NULL, teardown);
    tcase_add_test(good, the_example);
    tcase_add_test(good, empty_files);
    tcase_add_test(good, only_stages);
    tcase_add_test(good, paths_as_plugin);
    tcase_add_test(good, nested_options);
    tcase_add_test(good, flow_style_and_known_tags);
    tcase_add_test(good, booleans_and_priorities);
    tcase_add_test(good, same_name_as_stage_and_detector);
    tcase_add_test(good, nesting_32_is_fine);
    tcase_add_test(good, unterminated_buffer);
    tcase_add_test(good, free_twice);
    suite_add_tcase(s, good);

    tcase_add_checked_fixture(bad, NULL, teardown);
    tcase_add_test(bad, syntax_errors);
    tcase_add_test(bad, tab_indentation);
    tcase_add_test(bad, wrong_types);
    tcase_add_test(bad, unknown_keys);
    tcase_add_test(bad, duplicates);
    tcase_add_test(bad, bad_names_and_plugins);
    tcase_add_test(bad, bad_priority_and_enabled);
    tcase_add_test(bad, detector_actions);
    tcase_add_test(bad, detector_restore);
    tcase_add_test(bad, anchors_and_aliases);
    tcase_add_test(bad, unknown_tags);
    tcase_add_test(bad, nesting_over_32);
    tcase_add_test(bad, version_2);
    tcase_add_test(bad, size_limit);
    tcase_add_test(bad, short_error_buffer);
    suite_add_tcase(s, bad);

    tcase_add_checked_fixture(acc, NULL, teardown);
    tcase_add_test(acc, accessor_defaults);
    tcase_add_test(acc, accessor_int);
    tcase_add_test(acc, accessor_double);
    tcase_add_test(acc, accessor_bool);
    tcase_add_test(acc, accessor_lists_and_strings);
    tcase_add_test(acc, accessor_long_value);
    suite_add_tcase(s, acc);

    tcase_add_checked_fixture(files, NULL, teardown);
    tcase_add_test(files, shipped_pipeline);
    tcase_add_test(files, shipped_example_detector);
    tcase_add_test(files, load_errors);
    suite_add_tcase(s, files);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pipeline_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
