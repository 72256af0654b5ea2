/*
 * check_scrub: the scrubber's JSON walker and splicer (plugins/stages/
 * scrubber/scrub.c) with the sixteen real detector plugins, loaded from the
 * build tree the way the daemon loads them. One test per rule of SPEC
 * section 6; every output that should be JSON is parsed by jansson.
 */
#include <check.h>
#include <dlfcn.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detectors.h"
#include "scrub.h"

static const char *const builtin[] = {
    "anthropic_key", "openai_key", "aws_access_key", "github_token", "google_api_key",
    "stripe_key", "private_key", "jwt", "db_connection_string", "bearer_token",
    "basic_auth", "sonarqube_token", "jenkins_api_token", "ansible_vault",
    "hashicorp_vault_token", "email",
};
#define NDET (sizeof builtin / sizeof *builtin)

/* The key of the HMAC vectors below; the expected placeholders were
 * computed apart from this code, with
 *   printf %s VALUE | openssl dgst -sha256 -mac HMAC -macopt hexkey:KEY */
static const char *const key_hex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void *handles[NDET];
static struct detector dets[NDET];
static struct scrub_engine *engine;

static const char *mock_opt_string(const struct apx_config *c, const char *k, const char *def)
{
    (void)c;
    (void)k;
    return def;
}

static size_t mock_opt_list_len(const struct apx_config *c, const char *k)
{
    (void)c;
    (void)k;
    return 0;
}

static void mock_log(const struct apx_host *h, enum apx_log_level l, const char *fmt, ...)
{
    (void)h;
    (void)l;
    (void)fmt;
}

static void mock_error_set(struct apx_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

static const struct apx_host mock_host = {
    .abi_major = APX_ABI_MAJOR, .abi_minor = APX_ABI_MINOR,
    .struct_size = sizeof(struct apx_host),
    .log = mock_log, .error_set = mock_error_set, .opt_string = mock_opt_string,
    .opt_list_len = mock_opt_list_len,
};

static int find_det(const void *ctx, const char *t, size_t n, size_t start, size_t *ms,
                    size_t *me)
{
    return detector_find(ctx, t, n, start, ms, me);
}

static void load_detector(size_t i, struct scrub_detector *out)
{
    char path[1024], err[512];
    const char *top = getenv("top_builddir");
    snprintf(path, sizeof path, "%s/plugins/detectors/.libs/%s.so", top ? top : ".", builtin[i]);
    handles[i] = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(handles[i], "dlopen %s: %s", path, dlerror());
    const struct apx_plugin *p = dlsym(handles[i], APX_PLUGIN_SYMBOL);
    ck_assert_ptr_nonnull(p);
    struct apx_error perr = { { 0 } };
    if (p->init)
        ck_assert_int_eq(p->init(&mock_host, NULL, &dets[i].state, &perr), 0);
    dets[i].spec = *p->detector;
    dets[i].pub = (struct apx_detector){ .name = p->name, .label = p->detector->label,
                                         .tier = p->detector->tier,
                                         .priority = p->detector->priority,
                                         .anchors = p->detector->anchors };
    ck_assert_msg(detector_compile(&dets[i], err, sizeof err) == 0, "%s", err);
    *out = (struct scrub_detector){ .name = p->name, .label = p->detector->label,
                                    .tier = p->detector->tier, .anchors = p->detector->anchors,
                                    .find = find_det, .ctx = &dets[i] };
}

/* The same detectors with other actions: github_token blocks, email is
 * only observed (the pipeline file's `action:`). */
static struct scrub_engine *engine_actions;

static void make_engine_actions(struct scrub_detector *sd, const uint8_t *key)
{
    char err[256];
    for (size_t i = 0; i < NDET; i++) {
        if (strcmp(builtin[i], "github_token") == 0)
            sd[i].action = APX_ACTION_BLOCK;
        else if (strcmp(builtin[i], "email") == 0)
            sd[i].action = APX_ACTION_OBSERVE;
    }
    engine_actions = scrub_engine_new(sd, NDET, key, err, sizeof err);
    ck_assert_msg(engine_actions, "%s", err);
}

static void setup(void)
{
    struct scrub_detector sd[NDET];
    uint8_t key[SCRUB_KEY_LEN];
    char err[256];
    for (size_t i = 0; i < NDET; i++)
        load_detector(i, &sd[i]);
    ck_assert_int_eq(scrub_parse_key(key_hex, key), 0);
    engine = scrub_engine_new(sd, NDET, key, err, sizeof err);
    ck_assert_msg(engine, "%s", err);
    make_engine_actions(sd, key);
}

static void teardown(void)
{
    scrub_engine_free(engine);
    scrub_engine_free(engine_actions);
    for (size_t i = 0; i < NDET; i++) {
        const struct apx_plugin *p = dlsym(handles[i], APX_PLUGIN_SYMBOL);
        detector_release(&dets[i]);
        if (p->fini)
            p->fini(dets[i].state);
        dlclose(handles[i]);
    }
}

/* Scrub `in`; return the new body (or a copy of the input when unchanged)
 * as a string the caller frees, after checking it parses as JSON. */
static bool check_json = true; /* jansson refuses lone surrogates, which RFC 8259 allows */

static char *scrub(const char *in, enum scrub_outcome want, struct scrub_result *res)
{
    enum scrub_outcome got = scrub_body(engine, (const uint8_t *)in, strlen(in), true, res);
    ck_assert_msg(got == want, "outcome %d, want %d (%s) for %.80s", got, want, res->error, in);
    char *out = res->body ? strndup((const char *)res->body, res->body_len) : strdup(in);
    ck_assert_ptr_nonnull(out);
    if (check_json && (got == SCRUB_CLEAN || got == SCRUB_FOUND)) {
        json_error_t jerr;
        json_t *j = json_loads(out, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
                               &jerr);
        ck_assert_msg(j, "output is not JSON: %s: %.200s", jerr.text, out);
        json_decref(j);
    }
    return out;
}

/* Scrub and compare with the exact expected body. */
static void expect(const char *in, const char *want)
{
    struct scrub_result r;
    char *out = scrub(in, strcmp(in, want) ? SCRUB_FOUND : SCRUB_CLEAN, &r);
    ck_assert_str_eq(out, want);
    free(out);
    scrub_result_free(&r);
}

static size_t hits_of(const struct scrub_result *r, const char *name)
{
    for (size_t i = 0; i < NDET; i++)
        if (strcmp(builtin[i], name) == 0)
            return r->hits[i];
    return 0;
}

#define AWS1 "AKIAIOSFODNN7EXAMPLE"
#define AWS2 "ASIAY34FZKBOKMUTVV7A"
#define GHP "ghp_" "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
#define JWT "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0." \
            "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"

START_TEST(clean_body_is_identical)
{
    expect("{\"model\": \"claude\", \"messages\" :[ {\"role\":\"user\",\"content\":\"hi \\u00e9 \\n"
           "commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39, uuid "
           "123e4567-e89b-12d3-a456-426614174000\"}], \"max_tokens\": 1.50e3}",
           "{\"model\": \"claude\", \"messages\" :[ {\"role\":\"user\",\"content\":\"hi \\u00e9 \\n"
           "commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39, uuid "
           "123e4567-e89b-12d3-a456-426614174000\"}], \"max_tokens\": 1.50e3}");
}
END_TEST

START_TEST(bytes_outside_spans_are_kept)
{
    /* spacing, escapes, number spelling and key order around the finding */
    expect("{ \"b\" : 1.0E+2 ,\"a\":\"x\\/y " AWS1 " \\u00e9\\t\" , \"c\":[ -0 ] }",
           "{ \"b\" : 1.0E+2 ,\"a\":\"x\\/y <AWS_ACCESS_KEY_1> \\u00e9\\t\" , \"c\":[ -0 ] }");
}
END_TEST

START_TEST(numbering_in_order_of_appearance)
{
    expect("{\"messages\":[\"" AWS2 "\",\"" AWS1 " " AWS2 "\"],\"x\":\"" GHP " " AWS1 "\"}",
           "{\"messages\":[\"<AWS_ACCESS_KEY_1>\",\"<AWS_ACCESS_KEY_2> <AWS_ACCESS_KEY_1>\"],"
           "\"x\":\"<GITHUB_TOKEN_1> <AWS_ACCESS_KEY_2>\"}");
}
END_TEST

START_TEST(same_prefix_scrubs_to_same_bytes)
{
    /* a later turn resends the earlier turns first: their bytes must not move */
    const char *turn1 = "{\"messages\":[{\"role\":\"user\",\"content\":\"" AWS1 "\"}]}";
    const char *turn2 = "{\"messages\":[{\"role\":\"user\",\"content\":\"" AWS1 "\"},"
                        "{\"role\":\"user\",\"content\":\"" AWS2 " " AWS1 "\"}]}";
    struct scrub_result r1, r2;
    char *o1 = scrub(turn1, SCRUB_FOUND, &r1), *o2 = scrub(turn2, SCRUB_FOUND, &r2);
    size_t prefix = strlen(o1) - 2; /* up to the closing ]} */
    ck_assert_int_eq(strncmp(o1, o2, prefix), 0);
    ck_assert_ptr_nonnull(strstr(o2, "<AWS_ACCESS_KEY_2> <AWS_ACCESS_KEY_1>"));
    free(o1);
    free(o2);
    scrub_result_free(&r1);
    scrub_result_free(&r2);
}
END_TEST

START_TEST(hmac_identifiers_match_openssl)
{
    /* openssl dgst values for key 00..1f */
    expect("{\"t\":\"mail alice@example.com or bob.smith@corp.example.org\"}",
           "{\"t\":\"mail <EMAIL_HMAC:A59FC578> or <EMAIL_HMAC:4371ABE3>\"}");
}
END_TEST

START_TEST(escapes_are_decoded)
{
    /* \u0040 is '@': the e-mail is found, and its escape replaced with it */
    expect("{\"t\":\"alice\\u0040example.com\"}", "{\"t\":\"<EMAIL_HMAC:A59FC578>\"}");
    /* an escaped quote ends nothing: the key after it is still found */
    expect("{\"t\":\"say \\\"" AWS1 "\\\" now\"}", "{\"t\":\"say \\\"<AWS_ACCESS_KEY_1>\\\" now\"}");
}
END_TEST

START_TEST(pem_over_newline_escapes_is_one_match)
{
    const char *in =
        "{\"content\":\"key:\\n-----BEGIN RSA PRIVATE KEY-----\\n"
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\\n"
        "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\\n"
        "-----END RSA PRIVATE KEY-----\\nend\"}";
    expect(in, "{\"content\":\"key:\\n<PRIVATE_KEY_1>\\nend\"}");
}
END_TEST

START_TEST(pem_with_line_number_prefixes)
{
    /* Claude Code's Read tool output: "     2→" before every line */
    const char *in =
        "{\"content\":\"     1\\u2192-----BEGIN OPENSSH PRIVATE KEY-----\\n"
        "     2\xe2\x86\x92" "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\\n"
        "     3\xe2\x86\x92" "QyNTUxOQAAACBJ2Bq0Jm4Q2W3ZpYy1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAA\\n"
        "     4\xe2\x86\x92" "-----END OPENSSH PRIVATE KEY-----\\n     5\xe2\x86\x92" "done\"}";
    struct scrub_result r;
    char *out = scrub(in, SCRUB_FOUND, &r);
    ck_assert_uint_eq(hits_of(&r, "private_key"), 1);
    ck_assert_ptr_null(strstr(out, "b3BlbnNz"));
    ck_assert_ptr_null(strstr(out, "END OPENSSH"));
    ck_assert_ptr_nonnull(strstr(out, "done"));
    free(out);
    scrub_result_free(&r);
}
END_TEST

START_TEST(skip_keys_keep_whole_subtrees)
{
    const char *in =
        "{\"model\":\"" AWS1 "\",\"metadata\":{\"user_id\":\"alice@example.com\","
        "\"deep\":[{\"x\":\"" GHP "\"}]},\"messages\":[{\"role\":\"" AWS1 "\","
        "\"content\":[{\"type\":\"tool_use\",\"input_schema\":{\"properties\":{\"k\":"
        "{\"description\":\"" AWS2 "\"}}},\"stop_sequences\":[\"" AWS2 "\"],"
        "\"text\":\"" AWS2 "\"}]}]}";
    struct scrub_result r;
    char *out = scrub(in, SCRUB_FOUND, &r);
    ck_assert_uint_eq(r.total, 1); /* only "text" */
    ck_assert_ptr_nonnull(strstr(out, "\"text\":\"<AWS_ACCESS_KEY_1>\""));
    ck_assert_ptr_nonnull(strstr(out, "\"model\":\"" AWS1));
    ck_assert_ptr_nonnull(strstr(out, "alice@example.com"));
    ck_assert_str_eq(r.summary, "aws_access_key 1 at messages[0].content[0].text");
    free(out);
    scrub_result_free(&r);
}
END_TEST

START_TEST(skip_keys_are_exact_and_only_keys)
{
    /* "Model" is not "model"; a secret used as a key is never changed */
    expect("{\"Model\":\"" AWS1 "\",\"" AWS2 "\":1}",
           "{\"Model\":\"<AWS_ACCESS_KEY_1>\",\"" AWS2 "\":1}");
    /* an escaped skip key is still the skip key */
    expect("{\"mod\\u0065l\":\"" AWS1 "\"}", "{\"mod\\u0065l\":\"" AWS1 "\"}");
}
END_TEST

START_TEST(tool_name_and_description_are_left)
{
    expect("{\"tools\":[{\"name\":\"" AWS1 "\",\"description\":\"" AWS2 "\","
           "\"input_schema\":{\"type\":\"object\"},\"extra\":\"" AWS2 "\"}],"
           "\"name\":\"" AWS1 "\"}",
           "{\"tools\":[{\"name\":\"" AWS1 "\",\"description\":\"" AWS2 "\","
           "\"input_schema\":{\"type\":\"object\"},\"extra\":\"<AWS_ACCESS_KEY_1>\"}],"
           "\"name\":\"<AWS_ACCESS_KEY_2>\"}");
}
END_TEST

START_TEST(tools_deeper_down_are_data)
{
    /* only the request's own tool definitions are left; a "tools" array
     * inside a tool call's input is scanned like any other data */
    expect("{\"messages\":[{\"content\":[{\"type\":\"tool_use\",\"input\":{\"tools\":"
           "[{\"name\":\"" AWS1 "\",\"description\":\"" AWS1 "\"}]}}]}]}",
           "{\"messages\":[{\"content\":[{\"type\":\"tool_use\",\"input\":{\"tools\":"
           "[{\"name\":\"<AWS_ACCESS_KEY_1>\",\"description\":\"<AWS_ACCESS_KEY_1>\"}]}}]}]}");
}
END_TEST

START_TEST(base64_payloads_are_left)
{
    /* data after type, data before type, and a non-base64 type */
    expect("{\"a\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"" AWS1 "\"},"
           "\"b\":{\"data\":\"" AWS1 "\",\"type\":\"base64\"},"
           "\"c\":{\"data\":\"" AWS2 "\",\"type\":\"text\"},\"d\":\"" AWS1 "\"}",
           "{\"a\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"" AWS1 "\"},"
           "\"b\":{\"data\":\"" AWS1 "\",\"type\":\"base64\"},"
           "\"c\":{\"data\":\"<AWS_ACCESS_KEY_1>\",\"type\":\"text\"},"
           "\"d\":\"<AWS_ACCESS_KEY_2>\"}");
}
END_TEST

START_TEST(overlap_jwt_after_bearer)
{
    /* jwt (priority 80) runs before bearer_token (100): the token is a JWT */
    expect("{\"t\":\"Authorization: Bearer " JWT "\"}",
           "{\"t\":\"Authorization: Bearer <JWT_1>\"}");
    /* a Bearer token that is no JWT is the bearer detector's, word kept */
    expect("{\"t\":\"Authorization: Bearer abcDEF0123456789ghiJKL\"}",
           "{\"t\":\"Authorization: Bearer <BEARER_TOKEN_1>\"}");
}
END_TEST

START_TEST(overlap_url_with_credentials_beats_email)
{
    expect("{\"t\":\"DATABASE_URL=postgres://admin:s3cretPw@db.example.com:5432/app\"}",
           "{\"t\":\"DATABASE_URL=<DB_CONNECTION_STRING_1>\"}");
}
END_TEST

/* A value a detector finds only from its context (the token after
 * "Bearer ", a URL's password) is replaced wherever else the body holds
 * it, before or after, escaped or not, with the same placeholder: Claude
 * Code sends a restored tool call back where no context names the value.
 * Places never changed stay so. (Short values: 18-scrub-command.sh.) */
START_TEST(context_found_value_replaced_everywhere)
{
    expect("{\"b\":[\"run -tZk93kdLq0pW2xYt7 now\",\"\\u005ak93kdLq0pW2xYt7\"],"
           "\"a\":\"Authorization: Bearer Zk93kdLq0pW2xYt7\","
           "\"d\":[{\"type\":\"thinking\",\"thinking\":\"Zk93kdLq0pW2xYt7\"}]}",
           "{\"b\":[\"run -t<BEARER_TOKEN_1> now\",\"<BEARER_TOKEN_1>\"],"
           "\"a\":\"Authorization: Bearer <BEARER_TOKEN_1>\","
           "\"d\":[{\"type\":\"thinking\",\"thinking\":\"Zk93kdLq0pW2xYt7\"}]}");
    struct scrub_result r;
    char *out = scrub("{\"a\":\"Bearer Zk93kdLq0pW2xYt7\",\"b\":\"Zk93kdLq0pW2xYt7\"}",
                      SCRUB_FOUND, &r);
    ck_assert_uint_eq(hits_of(&r, "bearer_token"), 2);
    ck_assert_uint_eq(r.nmap, 1);
    ck_assert_ptr_null(strstr(r.summary, "Zk93"));
    free(out);
    scrub_result_free(&r);
    /* a value found wherever it is (an AWS key) needs no second look */
    expect("{\"a\":\"" AWS1 "\",\"b\":\"x" AWS1 "\"}",
           "{\"a\":\"<AWS_ACCESS_KEY_1>\",\"b\":\"x" AWS1 "\"}");
}
END_TEST

START_TEST(only_strings_are_scanned)
{
    expect("[11111111111111111111111111111111111, true, null, \"" AWS1 "\"]",
           "[11111111111111111111111111111111111, true, null, \"<AWS_ACCESS_KEY_1>\"]");
    /* a top-level string is a body too */
    expect("\"" AWS1 "\"", "\"<AWS_ACCESS_KEY_1>\"");
}
END_TEST

START_TEST(not_strict_json_passes)
{
    static const char *const bad[] = {
        "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":[1,]}", "{\"a\":1,}", "{'a':1}",
        "{\"a\":01}", "{\"a\":\"x\"} extra", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}",
        "{\"a\":\"\xff\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}", "",
        "{\"a\":\"" AWS1, "{\"a\":[\"" AWS1 "\"", "\xef\xbb\xbf{}", "{\"a\" 1}", "[1 2]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct scrub_result r;
        enum scrub_outcome o = scrub_body(engine, (const uint8_t *)bad[i], strlen(bad[i]), true,
                                          &r);
        ck_assert_msg(o == SCRUB_NOT_JSON, "case %zu: outcome %d", i, o);
        ck_assert_ptr_null(r.body);
        scrub_result_free(&r);
    }
}
END_TEST

START_TEST(lone_surrogate_does_not_stop_scrubbing)
{
    /* the output keeps the client's escapes; its validity is the walker's
     * own check (a second pass finds clean JSON) since jansson refuses them */
    check_json = false;
    struct scrub_result r;
    ck_assert_int_eq(scrub_body(engine, (const uint8_t *)"\"\\ud83d\"", 8, true, &r), SCRUB_CLEAN);
    scrub_result_free(&r);
    expect("{\"a\":\"\\ud83d " AWS1 "\",\"b\":\"\\udc00\\ud83d\\ude00 " AWS2 "\"}",
           "{\"a\":\"\\ud83d <AWS_ACCESS_KEY_1>\",\"b\":\"\\udc00\\ud83d\\ude00 "
           "<AWS_ACCESS_KEY_2>\"}");
    check_json = true;
}
END_TEST

static char *nested(size_t depth, const char *inner)
{
    size_t n = strlen(inner);
    char *s = malloc(2 * depth + n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, '[', depth);
    memcpy(s + depth, inner, n);
    memset(s + depth + n, ']', depth);
    s[2 * depth + n] = '\0';
    return s;
}

START_TEST(deep_nesting_is_refused_not_crashed)
{
    struct scrub_result r;
    char *s = nested(100000, "\"" AWS1 "\"");
    ck_assert_int_eq(scrub_body(engine, (const uint8_t *)s, strlen(s), true, &r),
                     SCRUB_TOO_DEEP);
    scrub_result_free(&r);
    free(s);
    s = nested(SCRUB_MAX_DEPTH, "\"" AWS1 "\"");
    ck_assert_int_eq(scrub_body(engine, (const uint8_t *)s, strlen(s), true, &r), SCRUB_FOUND);
    ck_assert_uint_eq(r.total, 1);
    scrub_result_free(&r);
    free(s);
}
END_TEST

START_TEST(huge_string)
{
    size_t n = 5 * 1024 * 1024;
    char *s = malloc(n + 64);
    ck_assert_ptr_nonnull(s);
    strcpy(s, "{\"t\":\"");
    size_t o = strlen(s);
    for (; o < n; o++)
        s[o] = "lorem ipsum dolor sit amet\\n"[o % 28];
    strcpy(s + o, " " AWS1 "\"}");
    struct scrub_result r;
    ck_assert_int_eq(scrub_body(engine, (const uint8_t *)s, strlen(s), true, &r), SCRUB_FOUND);
    ck_assert_uint_eq(r.body_len, strlen(s) - strlen(AWS1) + strlen("<AWS_ACCESS_KEY_1>"));
    ck_assert_int_eq(memcmp(r.body, s, n - 100), 0);
    scrub_result_free(&r);
    free(s);
}
END_TEST

START_TEST(audit_counts_without_rewriting)
{
    const char *in = "{\"t\":\"" AWS1 " alice@example.com " AWS1 "\"}";
    struct scrub_result r;
    ck_assert_int_eq(scrub_body(engine, (const uint8_t *)in, strlen(in), false, &r),
                     SCRUB_FOUND);
    ck_assert_ptr_null(r.body);
    ck_assert_uint_eq(r.total, 3);
    ck_assert_uint_eq(hits_of(&r, "aws_access_key"), 2);
    ck_assert_uint_eq(hits_of(&r, "email"), 1);
    ck_assert_str_eq(r.summary, "aws_access_key 2 at t; email 1 at t");
    scrub_result_free(&r);
}
END_TEST

START_TEST(summary_names_paths_never_values)
{
    const char *in = "{\"system\":[{\"text\":\"" GHP "\"}],\"messages\":[{\"content\":\"x\"},"
                     "{\"content\":\"" AWS1 "\"},{\"content\":[{\"text\":\"" AWS1 "\"}]}]}";
    struct scrub_result r;
    char *out = scrub(in, SCRUB_FOUND, &r);
    ck_assert_str_eq(r.summary, "aws_access_key 2 at messages[1].content, "
                                "messages[2].content[0].text; "
                                "github_token 1 at system[0].text");
    ck_assert_ptr_null(strstr(r.summary, "AKIA"));
    free(out);
    scrub_result_free(&r);
}
END_TEST

START_TEST(summary_hides_keys_that_look_like_values)
{
    const char *in = "{\"input\":{\"alice.secret@corp.example.com\":\"" AWS1 "\","
                     "\"AKIAIOSFODNN7EXAMPLE_x\":\"" AWS1 "\"}}";
    struct scrub_result r;
    char *out = scrub(in, SCRUB_FOUND, &r);
    ck_assert_str_eq(r.summary, "aws_access_key 2 at input.<key>");
    free(out);
    scrub_result_free(&r);
}
END_TEST

/* The seed README's detector table, one example per detector: as written
 * there where it is whole, at the format's full length where the table
 * abbreviates it with "..." (a key cut to "sk-ant-api03-abc" is no longer
 * a key, and matching that little would take ordinary words). */
static const struct {
    const char *in, *want;
} seed_examples[] = {
    { "sk-ant-api03-abc" "Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_"
      "Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_AbC-AbCdEfAA", "<ANTHROPIC_KEY_1>" },
    { "sk-proj-abc123DEF456ghi789JKL012mno345PQR678stu901VWX234yz_-abcDEFghiJKL",
      "<OPENAI_KEY_1>" },
    { "AKIAIOSFODNN7EXAMPLE", "<AWS_ACCESS_KEY_1>" },
    { "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "<GITHUB_TOKEN_1>" },
    { "AIzaSyA1234567890abcdefghijklmnopqrstuv", "<GOOGLE_API_KEY_1>" },
    { "sk_live_abc123def456ghi789jkl012", "<STRIPE_KEY_1>" },
    { "-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6"
      "ffAt0gun\\n-----END RSA PRIVATE KEY-----", "<PRIVATE_KEY_1>" },
    { JWT, "<JWT_1>" },
    { "postgres://user:pass@host/db", "<DB_CONNECTION_STRING_1>" },
    { "Bearer " JWT, "Bearer <JWT_1>" },
    { "Basic dXNlcjpwYXNzd29yZA==", "Basic <BASIC_AUTH_1>" },
    { "sqp_a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2", "<SONARQUBE_TOKEN_1>" },
    { "11abcdef0123456789abcdef01234567", "<JENKINS_API_TOKEN_1>" },
    { "JENKINS_TOKEN=11abcdef0123456789abcdef01234567", "JENKINS_TOKEN=<JENKINS_API_TOKEN_1>" },
    { "11abcdef0123456789abcdef0123456789", "<JENKINS_API_TOKEN_1>" },
    { "$ANSIBLE_VAULT;1.1;AES256", "<ANSIBLE_VAULT_1>" },
    { "the file starts with $ANSIBLE_VAULT;1.1;AES256 as usual",
      "the file starts with <ANSIBLE_VAULT_1> as usual" },
    { "hvs.ABCDEFghijklmnop123456", "<HASHICORP_VAULT_TOKEN_1>" },
};

START_TEST(seed_examples_are_caught)
{
    char in[512], want[512];
    for (size_t i = 0; i < sizeof seed_examples / sizeof *seed_examples; i++) {
        snprintf(in, sizeof in, "{\"t\":\"%s\"}", seed_examples[i].in);
        snprintf(want, sizeof want, "{\"t\":\"%s\"}", seed_examples[i].want);
        expect(in, want);
    }
    /* and the e-mail, whose placeholder is an HMAC (see hmac_identifiers_...) */
    struct scrub_result r;
    char *out = scrub("{\"t\":\"user@example.com\"}", SCRUB_FOUND, &r);
    ck_assert_ptr_nonnull(strstr(out, "<EMAIL_HMAC:"));
    free(out);
    scrub_result_free(&r);
}
END_TEST

/* ---- structure the API validates: never changed (CLAUDE-CODE.md) ---- */

#define MAIL "alice.dev@example.org"

/* Each body must come out as it went in, byte for byte. */
static void untouched(const char *in)
{
    expect(in, in);
}

START_TEST(thinking_text_is_never_changed)
{
    /* the API checks every thinking block's signature: one changed byte and
     * every later turn of the session is refused */
    untouched("{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\","
              "\"thinking\":\"the user " MAIL " pasted " AWS1 "\",\"signature\":\"EqQBCkYIAxgC\"}]}]}");
    untouched("{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"thinking\":\"" MAIL "\","
              "\"type\":\"thinking\"}]}]}");
    /* the same text elsewhere in the request is scrubbed */
    expect("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"" AWS1 "\"}]}]}",
           "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"<AWS_ACCESS_KEY_1>\"}]}]}");
}
END_TEST

START_TEST(signature_keys_are_never_changed)
{
    untouched("{\"signature\":\"" AWS1 "\",\"a\":{\"x_signature\":\"" MAIL "\","
              "\"contentSignature\":[\"" GHP "\"]}}");
    /* a key that only contains the word is data */
    expect("{\"signatures_seen\":\"" AWS1 "\"}", "{\"signatures_seen\":\"<AWS_ACCESS_KEY_1>\"}");
}
END_TEST

START_TEST(redacted_thinking_data_is_never_changed)
{
    untouched("{\"content\":[{\"type\":\"redacted_thinking\",\"data\":\"" AWS1 " " MAIL "\"}]}");
    untouched("{\"content\":[{\"data\":\"" AWS1 "\",\"type\":\"redacted_thinking\"}]}");
    /* not a string, as the API never sends it, and still left (found by fuzz_scrub) */
    untouched("{\"content\":[{\"type\":\"redacted_thinking\",\"data\":{\"id\":\"" AWS1 "\"}}]}");
    untouched("{\"content\":[{\"type\":\"tool_use\",\"id\":[\"" MAIL "\"]}]}");
    /* "data" of any other block is scanned */
    expect("{\"content\":[{\"data\":\"" AWS1 "\",\"type\":\"document\"}]}",
           "{\"content\":[{\"data\":\"<AWS_ACCESS_KEY_1>\",\"type\":\"document\"}]}");
}
END_TEST

START_TEST(cache_control_is_never_changed)
{
    untouched("{\"system\":[{\"type\":\"text\",\"text\":\"hi\",\"cache_control\":"
              "{\"type\":\"ephemeral\",\"ttl\":\"1h\",\"note\":\"" AWS1 "\"}}]}");
}
END_TEST

START_TEST(attribution_block_is_never_changed)
{
    const char *head = "x-anthropic-billing-header: cc_version=2.1.3; cc_entrypoint=cli; " MAIL;
    char in[1024], want[1024];
    snprintf(in, sizeof in, "{\"system\":[{\"type\":\"text\",\"text\":\"%s\"},"
             "{\"type\":\"text\",\"text\":\"%s\"}]}", head, head);
    struct scrub_result r;
    char *out = scrub(in, SCRUB_FOUND, &r);
    /* system[0] stays; the same text as a later block is scrubbed */
    snprintf(want, sizeof want, "{\"system\":[{\"type\":\"text\",\"text\":\"%s\"},", head);
    ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s", out);
    ck_assert_int_eq(r.total, 1);
    ck_assert_str_eq(r.summary, "email 1 at system[1].text");
    free(out);
    scrub_result_free(&r);
    /* escaped, the prefix is still recognised */
    untouched("{\"system\":[{\"text\":\"x-anthropic-billing-header\\u003a a; " MAIL "\"}]}");
    /* a first block that is not the attribution, and the prefix elsewhere,
     * are scanned */
    expect("{\"system\":[{\"text\":\"see " AWS1 "\"}]}", "{\"system\":[{\"text\":\"see <AWS_ACCESS_KEY_1>\"}]}");
    expect("{\"messages\":[{\"content\":[{\"text\":\"x-anthropic-billing-header: " AWS1 "\"}]}]}",
           "{\"messages\":[{\"content\":[{\"text\":\"x-anthropic-billing-header: <AWS_ACCESS_KEY_1>\"}]}]}");
}
END_TEST

START_TEST(tool_ids_are_never_changed)
{
    /* the ids pair tool calls with their results: ids stay, inputs are data */
    expect("{\"content\":[{\"type\":\"tool_use\",\"id\":\"" AWS1 "\",\"name\":\"Read\","
           "\"input\":{\"id\":\"" AWS1 "\"}},{\"id\":\"" AWS2 "\",\"type\":\"server_tool_use\"},"
           "{\"type\":\"tool_result\",\"tool_use_id\":\"" AWS1 "\",\"content\":\"" AWS2 "\"}]}",
           "{\"content\":[{\"type\":\"tool_use\",\"id\":\"" AWS1 "\",\"name\":\"Read\","
           "\"input\":{\"id\":\"<AWS_ACCESS_KEY_1>\"}},{\"id\":\"" AWS2 "\",\"type\":\"server_tool_use\"},"
           "{\"type\":\"tool_result\",\"tool_use_id\":\"" AWS1 "\",\"content\":\"<AWS_ACCESS_KEY_2>\"}]}");
}
END_TEST

START_TEST(replaced_spans_are_reported)
{
    const char *in = "{\"a\":\"x " AWS1 "\",\"b\":\"" MAIL "\"}";
    struct scrub_result r;
    char *out = scrub(in, SCRUB_FOUND, &r);
    ck_assert_uint_eq(r.nspans, 2);
    size_t from = 0, ofrom = 0;
    for (size_t i = 0; i < r.nspans; i++) {
        const struct scrub_span *sp = &r.spans[i];
        /* the bytes between spans are the input's, at the shifted place */
        ck_assert_uint_eq(sp->in_start - from, sp->out_start - ofrom);
        ck_assert(memcmp(in + from, out + ofrom, sp->in_start - from) == 0);
        ck_assert_int_eq(out[sp->out_start], '<');
        ck_assert_int_eq(out[sp->out_end - 1], '>');
        from = sp->in_end;
        ofrom = sp->out_end;
    }
    ck_assert_str_eq(in + from, out + ofrom);
    ck_assert_uint_eq(r.spans[0].in_end - r.spans[0].in_start, strlen(AWS1));
    free(out);
    scrub_result_free(&r);
}
END_TEST

/* ---- actions: pseudonymize, observe, block ---- */

static char *scrub_with(const struct scrub_engine *e, const char *in, struct scrub_result *r)
{
    scrub_body(e, (const uint8_t *)in, strlen(in), true, r);
    return r->body ? strndup((const char *)r->body, r->body_len) : strdup(in);
}

START_TEST(observe_counts_and_sends_unchanged)
{
    const char *in = "{\"messages\":[{\"content\":\"" MAIL " " AWS1 "\"}]}";
    struct scrub_result r;
    char *out = scrub_with(engine_actions, in, &r);
    ck_assert_int_eq(r.outcome, SCRUB_FOUND);
    ck_assert_str_eq(out, "{\"messages\":[{\"content\":\"" MAIL " <AWS_ACCESS_KEY_1>\"}]}");
    ck_assert_uint_eq(r.observed, 1);
    ck_assert_uint_eq(r.replaced, 1);
    ck_assert_uint_eq(r.blocked, 0);
    ck_assert_ptr_nonnull(strstr(r.summary, "email (observe) 1 at messages[0].content"));
    free(out);
    scrub_result_free(&r);
    /* only observed: the body is not rebuilt */
    out = scrub_with(engine_actions, "{\"t\":\"" MAIL "\"}", &r);
    ck_assert_ptr_null(r.body);
    ck_assert_uint_eq(r.observed, 1);
    free(out);
    scrub_result_free(&r);
}
END_TEST

START_TEST(observe_hides_no_later_match)
{
    /* db_connection_string (90) takes the URL whole, e-mail-like part and
     * all; observed, it must not keep email (160) from the address after it,
     * nor change what an enforcing run replaces */
    const char *in = "{\"t\":\"postgres://app:pw1@db.example.com/x " MAIL "\"}";
    struct scrub_result r1, r2;
    char *a = scrub_with(engine, in, &r1);
    char *b = scrub_with(engine_actions, in, &r2);
    ck_assert_ptr_nonnull(strstr(a, "<DB_CONNECTION_STRING_1>"));
    ck_assert_ptr_nonnull(strstr(b, "<DB_CONNECTION_STRING_1>"));
    ck_assert_ptr_nonnull(strstr(b, MAIL));
    ck_assert_uint_eq(r2.observed, 1);
    free(a);
    free(b);
    scrub_result_free(&r1);
    scrub_result_free(&r2);
}
END_TEST

START_TEST(block_names_detector_and_path)
{
    const char *in = "{\"messages\":[{\"role\":\"user\",\"content\":\"ok\"},"
                     "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"" GHP "\"}]}]}";
    struct scrub_result r;
    char *out = scrub_with(engine_actions, in, &r);
    ck_assert_uint_eq(r.blocked, 1);
    ck_assert_int_ge(r.block_det, 0);
    ck_assert_str_eq(builtin[r.block_det], "github_token");
    ck_assert_str_eq(r.block_path, "messages[1].content[0].text");
    ck_assert_ptr_null(strstr(r.summary, "ghp_"));
    free(out);
    scrub_result_free(&r);
    /* nothing to block: block_det stays -1 */
    out = scrub_with(engine_actions, "{\"t\":\"" AWS1 "\"}", &r);
    ck_assert_int_eq(r.block_det, -1);
    free(out);
    scrub_result_free(&r);
}
END_TEST

/* ---- the map of placeholders to originals (for the response side) ---- */

static size_t det_index(const char *name)
{
    for (size_t i = 0; i < NDET; i++)
        if (strcmp(builtin[i], name) == 0)
            return i;
    ck_abort_msg("no detector %s", name);
    return 0;
}

/* Check that the map holds ph -> value (byte-exact) found by detector det. */
static void map_has(const struct scrub_result *r, const char *ph, const char *value,
                    const char *det)
{
    for (size_t i = 0; i < r->nmap; i++) {
        const struct scrub_map_entry *m = &r->map[i];
        if (strcmp(m->placeholder, ph) != 0)
            continue;
        ck_assert_uint_eq(m->placeholder_len, strlen(ph));
        ck_assert_uint_eq(m->value_len, strlen(value));
        ck_assert(memcmp(m->value, value, m->value_len) == 0);
        ck_assert_uint_eq(m->det, det_index(det));
        return;
    }
    ck_abort_msg("no map entry %s", ph);
}

START_TEST(map_numbers_two_secrets_of_one_label)
{
    struct scrub_result r;
    char *out = scrub("{\"a\":\"" AWS2 "\",\"b\":\"" AWS1 "\"}", SCRUB_FOUND, &r);
    ck_assert_uint_eq(r.nmap, 2);
    ck_assert_str_eq(r.map[0].placeholder, "<AWS_ACCESS_KEY_1>"); /* order of appearance */
    map_has(&r, "<AWS_ACCESS_KEY_1>", AWS2, "aws_access_key");
    map_has(&r, "<AWS_ACCESS_KEY_2>", AWS1, "aws_access_key");
    free(out);
    scrub_result_free(&r);
    ck_assert_ptr_null(r.map);
    ck_assert_uint_eq(r.nmap, 0);
}
END_TEST

START_TEST(map_same_value_is_one_entry)
{
    struct scrub_result r;
    char *out = scrub("{\"a\":\"" AWS1 " " AWS1 "\",\"b\":[\"" AWS1 "\"]}", SCRUB_FOUND, &r);
    ck_assert_uint_eq(r.nspans, 3);
    ck_assert_uint_eq(r.nmap, 1);
    map_has(&r, "<AWS_ACCESS_KEY_1>", AWS1, "aws_access_key");
    free(out);
    scrub_result_free(&r);
}
END_TEST

START_TEST(map_holds_hmac_identifiers)
{
    struct scrub_result r;
    char *out = scrub("{\"t\":\"mail alice@example.com, " GHP "\"}", SCRUB_FOUND, &r);
    ck_assert_uint_eq(r.nmap, 2);
    map_has(&r, "<EMAIL_HMAC:A59FC578>", "alice@example.com", "email");
    map_has(&r, "<GITHUB_TOKEN_1>", GHP, "github_token");
    free(out);
    scrub_result_free(&r);
}
END_TEST

START_TEST(map_has_no_observed_findings)
{
    struct scrub_result r;
    char *out = scrub_with(engine_actions, "{\"t\":\"" MAIL " " AWS1 "\"}", &r);
    ck_assert_uint_eq(r.observed, 1);
    ck_assert_uint_eq(r.nmap, 1);
    map_has(&r, "<AWS_ACCESS_KEY_1>", AWS1, "aws_access_key");
    free(out);
    scrub_result_free(&r);
    /* only observed: no body, no map */
    out = scrub_with(engine_actions, "{\"t\":\"" MAIL "\"}", &r);
    ck_assert_uint_eq(r.nmap, 0);
    free(out);
    scrub_result_free(&r);
    /* audit: counted, nothing replaced, no map */
    const char *in = "{\"t\":\"" AWS1 "\"}";
    scrub_body(engine, (const uint8_t *)in, strlen(in), false, &r);
    ck_assert_uint_eq(r.total, 1);
    ck_assert_uint_eq(r.nmap, 0);
    scrub_result_free(&r);
}
END_TEST

START_TEST(map_holds_decoded_values)
{
    /* \u0040 is '@', \u0049 is 'I': the map holds what the client meant,
     * so what is put back reads the same once decoded */
    struct scrub_result r;
    char *out = scrub("{\"t\":\"alice\\u0040example.com AK\\u0049AIOSFODNN7EXAMPLE\"}",
                      SCRUB_FOUND, &r);
    ck_assert_str_eq(out, "{\"t\":\"<EMAIL_HMAC:A59FC578> <AWS_ACCESS_KEY_1>\"}");
    ck_assert_uint_eq(r.nmap, 2);
    map_has(&r, "<EMAIL_HMAC:A59FC578>", "alice@example.com", "email");
    map_has(&r, "<AWS_ACCESS_KEY_1>", AWS1, "aws_access_key");
    free(out);
    scrub_result_free(&r);
}
END_TEST

static Suite *scrub_suite(void)
{
    Suite *s = suite_create("scrub");
    TCase *t = tcase_create("walker");
    tcase_add_unchecked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, clean_body_is_identical);
    tcase_add_test(t, bytes_outside_spans_are_kept);
    tcase_add_test(t, numbering_in_order_of_appearance);
    tcase_add_test(t, same_prefix_scrubs_to_same_bytes);
    tcase_add_test(t, hmac_identifiers_match_openssl);
    tcase_add_test(t, escapes_are_decoded);
    tcase_add_test(t, pem_over_newline_escapes_is_one_match);
    tcase_add_test(t, pem_with_line_number_prefixes);
    tcase_add_test(t, skip_keys_keep_whole_subtrees);
    tcase_add_test(t, skip_keys_are_exact_and_only_keys);
    tcase_add_test(t, tool_name_and_description_are_left);
    tcase_add_test(t, tools_deeper_down_are_data);
    tcase_add_test(t, base64_payloads_are_left);
    tcase_add_test(t, overlap_jwt_after_bearer);
    tcase_add_test(t, overlap_url_with_credentials_beats_email);
    tcase_add_test(t, context_found_value_replaced_everywhere);
    tcase_add_test(t, only_strings_are_scanned);
    tcase_add_test(t, not_strict_json_passes);
    tcase_add_test(t, lone_surrogate_does_not_stop_scrubbing);
    tcase_add_test(t, deep_nesting_is_refused_not_crashed);
    tcase_add_test(t, huge_string);
    tcase_add_test(t, audit_counts_without_rewriting);
    tcase_add_test(t, summary_names_paths_never_values);
    tcase_add_test(t, summary_hides_keys_that_look_like_values);
    tcase_add_test(t, seed_examples_are_caught);
    tcase_add_test(t, thinking_text_is_never_changed);
    tcase_add_test(t, signature_keys_are_never_changed);
    tcase_add_test(t, redacted_thinking_data_is_never_changed);
    tcase_add_test(t, cache_control_is_never_changed);
    tcase_add_test(t, attribution_block_is_never_changed);
    tcase_add_test(t, tool_ids_are_never_changed);
    tcase_add_test(t, replaced_spans_are_reported);
    tcase_add_test(t, observe_counts_and_sends_unchanged);
    tcase_add_test(t, observe_hides_no_later_match);
    tcase_add_test(t, block_names_detector_and_path);
    tcase_add_test(t, map_numbers_two_secrets_of_one_label);
    tcase_add_test(t, map_same_value_is_one_entry);
    tcase_add_test(t, map_holds_hmac_identifiers);
    tcase_add_test(t, map_has_no_observed_findings);
    tcase_add_test(t, map_holds_decoded_values);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(scrub_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
