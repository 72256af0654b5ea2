/*
 * check_generation: generations are counted references. Each exchange holds
 * the generation it started with; a generation replaced by a reload lives,
 * plugins loaded, until the last exchange holding it ends, and is freed
 * (its plugins unloaded) then and not before.
 *
 * A one-shot core (no listeners) builds real generations from the shipped
 * etc/pipeline.yaml with the plugins of the build tree. The loader maps a
 * private, deleted copy of each plugin ("anthropic-proxy-plugin.XXXXXX"),
 * so counting those mappings in /proc/self/maps shows which generations
 * still have their plugins loaded.
 */
#include "config.h"

#include <check.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "exchange.h"
#include "log.h"
#include "settings.h"

static char env_pipeline[4096], env_plugin_dir[4096], env_prices[4096];

/* Settings for the shipped pipeline and the build tree's plugins, or for
 * a PLUGIN_DIR holding none (a reload that must fail). */
static void load_settings(struct settings *s, bool plugins_missing)
{
    const char *src = getenv("top_srcdir"), *build = getenv("top_builddir");
    snprintf(env_pipeline, sizeof env_pipeline, "ANTHROPIC_PROXY_PIPELINE=%s/etc/pipeline.yaml",
             src && *src ? src : ".");
    snprintf(env_plugin_dir, sizeof env_plugin_dir, "ANTHROPIC_PROXY_PLUGIN_DIR=%s/plugins",
             plugins_missing ? "/nonexistent" : build && *build ? build : ".");
    snprintf(env_prices, sizeof env_prices, "ANTHROPIC_PROXY_PRICES=%s/etc/prices.yaml",
             src && *src ? src : ".");
    /* the shipped price table; no ledger file outside the build tree */
    char *const envp[] = { env_pipeline, env_plugin_dir, env_prices,
                           "ANTHROPIC_PROXY_LEDGER_PATH=off", "ANTHROPIC_PROXY_LOG_LEVEL=warning",
                           NULL };
    struct settings_errors errs;
    ck_assert_msg(settings_load(s, NULL, NULL, envp, &errs) == 0, "%s", errs.text);
}

static struct core *open_core(void)
{
    struct settings s;
    char err[512];
    log_setup("check_generation", LOG_LVL_WARN, LOG_FMT_TEXT);
    load_settings(&s, false);
    struct core *core = core_oneshot_open(&s, true, err, sizeof err);
    ck_assert_msg(core, "%s", err);
    return core;
}

static struct exchange *start_exchange(struct core *core)
{
    struct exchange *ex = exchange_new(core, LISTENER_MAIN, NULL, NULL, "HTTP/1.1");
    ck_assert_ptr_nonnull(ex);
    /* the stages' on_done hooks read the request line */
    ck_assert_int_eq(exchange_set_request(ex, "POST", 4, "/v1/messages", 12), 0);
    return ex;
}

/* Mappings of the loader's private plugin copies in this process. */
static int plugin_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "/anthropic-proxy-plugin.") != NULL;
    fclose(f);
    return n;
}

/* End an exchange as a client leaving would; its generation reference is
 * dropped from the event loop (a plugin may still be on the stack), so run
 * the loop once. */
static void end_exchange(struct core *core, struct exchange *ex)
{
    exchange_client_gone(ex);
    event_base_loop(core->base, EVLOOP_NONBLOCK);
}

START_TEST(refs_follow_exchanges)
{
    struct core *core = open_core();
    struct generation *g = core->gen;
    ck_assert_uint_eq(g->refs, 1); /* the core's own */
    ck_assert_uint_eq(g->nstages, 4);
    struct exchange *ex[3];
    for (unsigned i = 0; i < 3; i++) {
        ex[i] = start_exchange(core);
        ck_assert_ptr_eq(ex[i]->gen, g);
        ck_assert_uint_eq(g->refs, 2 + i);
    }
    end_exchange(core, ex[1]);
    ck_assert_uint_eq(g->refs, 3);
    end_exchange(core, ex[0]);
    ck_assert_uint_eq(g->refs, 2);
    end_exchange(core, ex[2]);
    ck_assert_uint_eq(g->refs, 1);
    ck_assert_uint_eq(exchange_active_count(), 0);
    core_oneshot_close(core);
}
END_TEST

START_TEST(replaced_generation_lives_until_its_last_exchange)
{
    struct core *core = open_core();
    struct generation *g1 = core->gen;
    int one_gen = plugin_mappings();
    ck_assert_int_gt(one_gen, 0);
    struct exchange *old_ex = start_exchange(core);
    ck_assert_uint_eq(g1->refs, 2);

    struct settings s;
    char err[512];
    load_settings(&s, false);
    ck_assert_msg(core_replace_generation(core, &s, err, sizeof err) == 0, "%s", err);
    struct generation *g2 = core->gen;
    ck_assert_ptr_ne(g2, g1);
    ck_assert_uint_eq(g2->revision, g1->revision + 1);
    ck_assert_uint_eq(g1->refs, 1); /* only the exchange's now */
    ck_assert_uint_eq(g2->refs, 1);
    ck_assert_int_eq(plugin_mappings(), 2 * one_gen); /* both loaded */

    struct exchange *new_ex = start_exchange(core);
    ck_assert_ptr_eq(new_ex->gen, g2);
    ck_assert_ptr_eq(old_ex->gen, g1);
    ck_assert_uint_eq(g2->refs, 2);

    end_exchange(core, old_ex); /* g1's last reference: freed, unloaded */
    ck_assert_int_eq(plugin_mappings(), one_gen);
    ck_assert_uint_eq(g2->refs, 2);
    end_exchange(core, new_ex);
    ck_assert_uint_eq(g2->refs, 1);
    ck_assert_int_eq(plugin_mappings(), one_gen);

    /* with no exchange holding it, a replaced generation goes at once */
    uint64_t rev2 = g2->revision;
    load_settings(&s, false);
    ck_assert_msg(core_replace_generation(core, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(core->gen->revision, rev2 + 1);
    ck_assert_int_eq(plugin_mappings(), one_gen);
    core_oneshot_close(core);
    ck_assert_int_eq(plugin_mappings(), 0);
}
END_TEST

START_TEST(failed_replacement_changes_nothing)
{
    struct core *core = open_core();
    struct generation *g = core->gen;
    int one_gen = plugin_mappings();
    struct exchange *ex = start_exchange(core);
    struct settings s;
    char err[512] = "";
    load_settings(&s, true);
    ck_assert_int_eq(core_replace_generation(core, &s, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no such plugin file"));
    ck_assert_ptr_eq(core->gen, g);
    ck_assert_uint_eq(g->refs, 2);
    ck_assert_int_eq(plugin_mappings(), one_gen); /* the half-built one is gone */
    end_exchange(core, ex);
    ck_assert_uint_eq(g->refs, 1);
    core_oneshot_close(core);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("generation");
    TCase *tc = tcase_create("generation");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, refs_follow_exchanges);
    tcase_add_test(tc, replaced_generation_lives_until_its_last_exchange);
    tcase_add_test(tc, failed_replacement_changes_nothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
