/*
 * check_loader: the plugin ABI rule (exact major, not-newer minor, a
 * descriptor at least as large as this version's), and name resolution.
 */
#include "config.h"

#include <check.h>
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
    tcase_add_test(tc, refuses_missing_files);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
