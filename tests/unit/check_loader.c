/*
 * check_loader: the plugin ABI rule (exact major, not-newer minor, a
 * descriptor at least as large as this major's first), the copies of a
 * plugin's structs by their struct_size, and name resolution.
 */
#include "config.h"

#include <check.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

static struct apx_plugin desc(uint32_t major, uint32_t minor, uint32_t size)
{
    struct apx_plugin d = { .abi_major = major, .abi_minor = minor, .struct_size = size };
    return d;
}

START_TEST(abi_rule)
{
    char err[256];
    struct apx_plugin d = desc(APX_ABI_MAJOR, APX_ABI_MINOR, sizeof(struct apx_plugin));
    ck_assert_int_eq(loader_check_abi(&d, err, sizeof err), 0);
    d = desc(APX_ABI_MAJOR + 1, 0, sizeof(struct apx_plugin));
    ck_assert_int_eq(loader_check_abi(&d, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "rebuild it against this daemon's plugin.h"));
    d = desc(APX_ABI_MAJOR - 1, 9, sizeof(struct apx_plugin));
    ck_assert_int_eq(loader_check_abi(&d, err, sizeof err), -1);
    d = desc(APX_ABI_MAJOR, APX_ABI_MINOR + 1, sizeof(struct apx_plugin));
    ck_assert_int_eq(loader_check_abi(&d, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "newer than this daemon's"));
    d = desc(APX_ABI_MAJOR, APX_ABI_MINOR, sizeof(struct apx_plugin) - 8);
    ck_assert_int_eq(loader_check_abi(&d, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "bytes"));
    /* a later minor may append: a bigger descriptor of an older minor is fine */
    d = desc(APX_ABI_MAJOR, APX_ABI_MINOR, sizeof(struct apx_plugin) + 64);
    ck_assert_int_eq(loader_check_abi(&d, err, sizeof err), 0);
}
END_TEST

START_TEST(resolve_names_and_paths)
{
    char out[512];
    ck_assert_int_eq(loader_resolve("metrics", APX_KIND_STAGE, "/usr/lib/x", "/etc/y", out,
                                    sizeof out), 0);
    ck_assert_str_eq(out, "/usr/lib/x/stages/metrics.so");
    ck_assert_int_eq(loader_resolve("email", APX_KIND_DETECTOR, "/usr/lib/x", "/etc/y", out,
                                    sizeof out), 0);
    ck_assert_str_eq(out, "/usr/lib/x/detectors/email.so");
    ck_assert_int_eq(loader_resolve("/opt/p/my.so", APX_KIND_DETECTOR, "/x", "/etc/y", out,
                                    sizeof out), 0);
    ck_assert_str_eq(out, "/opt/p/my.so");
    ck_assert_int_eq(loader_resolve("local/my.so", APX_KIND_DETECTOR, "/x", "/etc/y", out,
                                    sizeof out), 0);
    ck_assert_str_eq(out, "/etc/y/local/my.so");
    char small[8];
    ck_assert_int_eq(loader_resolve("metrics", APX_KIND_STAGE, "/usr/lib/x", "/", small,
                                    sizeof small), -1);
}
END_TEST

static int fake_request(void *state, struct apx_exchange *ex)
{
    (void)state;
    (void)ex;
    return APX_OK;
}

static int fake_transform(void *state, struct apx_exchange *ex, const uint8_t *d, size_t n,
                          bool end)
{
    (void)state;
    (void)ex;
    (void)d;
    (void)n;
    (void)end;
    return 0;
}

START_TEST(copies_by_struct_size)
{
    char err[256];
    struct plugin_abi abi;
    /* hooks of a minor that had no on_response_transform yet */
    struct apx_stage_hooks old_hooks = {
        .struct_size = offsetof(struct apx_stage_hooks, on_response_transform),
        .on_request = fake_request,
        .on_response_transform = fake_transform, /* past its size: not the plugin's */
    };
    struct apx_plugin d = { APX_PLUGIN_HEADER, .kind = APX_KIND_STAGE, .name = "s",
                            .version = "1", .stage = &old_hooks };
    ck_assert_int_eq(loader_copy_abi(&d, &abi, err, sizeof err), 0);
    ck_assert_ptr_eq(abi.desc.stage, &abi.hooks);
    ck_assert(abi.hooks.on_request == fake_request);
    ck_assert(abi.hooks.on_response_transform == NULL);
    ck_assert_uint_eq(abi.hooks.struct_size, sizeof(struct apx_stage_hooks));
    /* a stage with no hooks at all (only routes): every hook NULL */
    d.stage = NULL;
    ck_assert_int_eq(loader_copy_abi(&d, &abi, err, sizeof err), 0);
    ck_assert(abi.desc.stage->on_request == NULL);
    /* a detector needs its spec, with a size */
    d.kind = APX_KIND_DETECTOR;
    ck_assert_int_eq(loader_copy_abi(&d, &abi, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "without a detector spec"));
    struct apx_detector_spec spec = { .struct_size = 0, .label = "X" };
    d.detector = &spec;
    ck_assert_int_eq(loader_copy_abi(&d, &abi, err, sizeof err), -1);
    spec.struct_size = offsetof(struct apx_detector_spec, pattern);
    spec.pattern = "x"; /* past its size */
    ck_assert_int_eq(loader_copy_abi(&d, &abi, err, sizeof err), 0);
    ck_assert_str_eq(abi.desc.detector->label, "X");
    ck_assert_ptr_null(abi.desc.detector->pattern);
}
END_TEST

START_TEST(refuses_missing_files)
{
    struct loaded_plugin p;
    char err[512];
    ck_assert_int_eq(loader_open("/nonexistent/x.so", APX_KIND_STAGE, &p, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no such plugin file"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_add_test(tc, abi_rule);
    tcase_add_test(tc, resolve_names_and_paths);
    tcase_add_test(tc, copies_by_struct_size);
    tcase_add_test(tc, refuses_missing_files);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
