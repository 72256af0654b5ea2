/*
 * detector_runner: load detector plugins the way the core does and check
 * each one against its own samples, outside the daemon.
 *
 *     detector_runner PLUGIN.so...
 *     detector_runner --scan FILE PLUGIN.so...
 *
 * For every plugin: the descriptor (ABI, kind, name), init (and setup),
 * the label and tier, the priority of the built-in detectors, the pattern
 * compiled by core/detectors.c as the daemon compiles it, every sample
 * (detector_check_samples), and the anchors: each match found in a
 * must_match sample must contain one of them, or the scrubber's
 * pre-filter would skip texts the detector matches. The built-in
 * detectors must carry at least four samples of each kind.
 *
 * The generic `regex` plugin has no pattern of its own: it is run with
 * options from a small mock of the host's option accessors, and its
 * refusals of bad options are checked too.
 *
 * --scan FILE runs every detector over the file's text (as the scrubber
 * would over one decoded string: priority order, a match that overlaps an
 * earlier detector's is dropped) and prints each finding, shortened, with
 * the time each detector took. For false-positive hunts on real traffic.
 *
 * Never prints a must_match sample in full: they look like secrets.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <dlfcn.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detectors.h"
#include "loader.h"

/* The built-in detectors and the priorities SPEC section 6 gives them. */
static const struct {
    const char *name;
    int priority;
} builtin[] = {
    { "anthropic_key", 10 },        { "openai_key", 20 },
    { "aws_access_key", 30 },       { "aws_secret_key", 35 },
    { "aws_session_token", 36 },    { "github_token", 40 },
    { "gitlab_token", 41 },         { "slack_token", 42 },
    { "npm_token", 43 },            { "pypi_token", 44 },
    { "dockerhub_token", 45 },      { "huggingface_token", 46 },
    { "digitalocean_token", 47 },   { "shopify_token", 48 },
    { "databricks_token", 49 },
    { "google_api_key", 50 },       { "google_oauth_secret", 52 },
    { "stripe_key", 60 },
    { "sendgrid_key", 62 },         { "twilio_key", 64 },
    { "private_key", 70 },          { "jwt", 80 },
    { "azure_storage", 85 },
    { "db_connection_string", 90 }, { "url_credentials", 95 },
    { "bearer_token", 100 },
    { "basic_auth", 110 },          { "sonarqube_token", 120 },
    { "jenkins_api_token", 130 },   { "ansible_vault", 140 },
    { "hashicorp_vault_token", 150 }, { "credential_assignment", 155 },
    { "email", 160 },
};

#define MIN_SAMPLES 4

/* ---- a mock of the host: options from a flat table ---- */

/* One option: `key` (dotted for nested maps, as the host resolves them)
 * and its values; a scalar has one value and is_list false. */
struct mock_opt {
    const char *key;
    const char *const *values;
    size_t n;
    int is_list;
};

struct apx_config {
    const struct mock_opt *opts;
    size_t n;
};

static const struct mock_opt *mock_get(const struct apx_config *cfg, const char *key)
{
    for (size_t i = 0; cfg && i < cfg->n; i++)
        if (strcmp(cfg->opts[i].key, key) == 0)
            return &cfg->opts[i];
    return NULL;
}

static const char *mock_opt_string(const struct apx_config *cfg, const char *key, const char *def)
{
    const struct mock_opt *o = mock_get(cfg, key);
    return o && !o->is_list ? o->values[0] : def;
}

static int mock_opt_int(const struct apx_config *cfg, const char *key, int64_t def,
                        int64_t min, int64_t max, int64_t *out, struct apx_error *err)
{
    const struct mock_opt *o = mock_get(cfg, key);
    int64_t x = def;
    if (o) {
        char *end;
        x = o->is_list ? 0 : strtoll(o->values[0], &end, 10);
        if (o->is_list || *end || x < min || x > max) {
            snprintf(err->message, sizeof err->message, "option %s is not an integer "
                     "in range", key);
            return -1;
        }
    }
    if (out)
        *out = x;
    return 0;
}

static size_t mock_opt_list_len(const struct apx_config *cfg, const char *key)
{
    const struct mock_opt *o = mock_get(cfg, key);
    return o ? o->n : 0;
}

static const char *mock_opt_list_item(const struct apx_config *cfg, const char *key, size_t i)
{
    const struct mock_opt *o = mock_get(cfg, key);
    return o && i < o->n ? o->values[i] : NULL;
}

static void mock_log(const struct apx_host *host, enum apx_log_level level, const char *fmt,
                     ...)
{
    (void)host;
    (void)level;
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
    .abi_major = APX_ABI_MAJOR,
    .abi_minor = APX_ABI_MINOR,
    .struct_size = sizeof(struct apx_host),
    .log = mock_log, .error_set = mock_error_set,
    .opt_string = mock_opt_string,
    .opt_int = mock_opt_int,
    .opt_list_len = mock_opt_list_len,
    .opt_list_item = mock_opt_list_item,
};

/* The regex plugin's test options: the documented pipeline example. */
static const char *const v_label[] = { "INTERNAL_TOKEN" };
static const char *const v_tier[] = { "secret" };
static const char *const v_pattern[] = { "\\bitk_[A-Za-z0-9]{32}\\b" };
static const char *const v_match[] = { "itk_0123456789abcdefABCDEF0123456789",
                                       "token: itk_ZYXWVUTSRQponmlk0987654321abcdef" };
static const char *const v_no_match[] = { "itk_short", "the itk_ prefix" };
static const char *const v_bad_label[] = { "internal-token" };
static const char *const v_bad_tier[] = { "public" };

static const struct mock_opt regex_good[] = {
    { "label", v_label, 1, 0 },
    { "tier", v_tier, 1, 0 },
    { "pattern", v_pattern, 1, 0 },
    { "samples.match", v_match, 2, 1 },
    { "samples.no_match", v_no_match, 2, 1 },
};

/* Each must be refused by init or setup. */
static const struct mock_opt regex_no_label[] = {
    { "pattern", v_pattern, 1, 0 },
    { "samples.match", v_match, 2, 1 },
};
static const struct mock_opt regex_bad_label[] = {
    { "label", v_bad_label, 1, 0 },
    { "pattern", v_pattern, 1, 0 },
    { "samples.match", v_match, 2, 1 },
};
static const struct mock_opt regex_bad_tier[] = {
    { "label", v_label, 1, 0 },
    { "tier", v_bad_tier, 1, 0 },
    { "pattern", v_pattern, 1, 0 },
    { "samples.match", v_match, 2, 1 },
};
static const struct mock_opt regex_no_pattern[] = {
    { "label", v_label, 1, 0 },
    { "samples.match", v_match, 2, 1 },
};
static const struct mock_opt regex_no_samples[] = {
    { "label", v_label, 1, 0 },
    { "pattern", v_pattern, 1, 0 },
};

#define CFG(a) { a, sizeof a / sizeof a[0] }

static const struct {
    const char *what;
    struct apx_config cfg;
} regex_refused[] = {
    { "no label", CFG(regex_no_label) },
    { "a label not [A-Z0-9_]+", CFG(regex_bad_label) },
    { "a tier neither secret nor identifier", CFG(regex_bad_tier) },
    { "no pattern", CFG(regex_no_pattern) },
    { "no samples", CFG(regex_no_samples) },
};

/* ---- one plugin ---- */

struct loaded {
    const struct apx_plugin *desc;
    void *handle;
    struct detector d;
    int ok;
};

static int expected_priority(const char *name)
{
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcmp(builtin[i].name, name) == 0)
            return builtin[i].priority;
    return -1;
}

static size_t count(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static int has_anchor(const char *s, size_t len, const char *const *anchors)
{
    for (const char *const *a = anchors; *a; a++) {
        size_t al = strlen(*a);
        for (size_t i = 0; al <= len && i <= len - al; i++)
            if (memcmp(s + i, *a, al) == 0)
                return 1;
    }
    return 0;
}

/* Every match the detector keeps in `text` must contain an anchor: the
 * whole pattern match (a `secret` group may leave the anchor outside the
 * replaced span, "Bearer <BEARER_TOKEN_1>"), or, for find(), which
 * reports only what it replaces, the text up to its end (the name before
 * an assigned value, the "://" before a URL's password). */
static int check_anchors_in(const struct detector *d, const char *text, char *err,
                            size_t errlen)
{
    size_t len = strlen(text), start = 0, ms, me;

    if (!d->spec.anchors)
        return 0;
    if (!d->code) {
        while (detector_find(d, text, len, start, &ms, &me) == 1) {
            if (!has_anchor(text, me, d->spec.anchors))
                goto missing;
            start = me;
        }
        return 0;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(d->code, NULL);
    if (!md) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rv = 0;
    while (start <= len) {
        int rc = pcre2_match(d->code, (PCRE2_SPTR)text, len, start, 0, md, NULL);
        if (rc < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (d->secret_group && (unsigned)rc > d->secret_group &&
            ov[2 * d->secret_group] != PCRE2_UNSET) {
            s = ov[2 * d->secret_group];
            e = ov[2 * d->secret_group + 1];
        }
        if (e > s && (!d->spec.validate || d->spec.validate(d->state, text + s, e - s)) &&
            !has_anchor(text + ov[0], ov[1] - ov[0], d->spec.anchors)) {
            rv = -1;
            break;
        }
        start = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    pcre2_match_data_free(md);
    if (rv == 0)
        return 0;
missing:
    snprintf(err, errlen, "detector %s: a match in must_match sample \"%.24s...\" contains "
             "none of its anchors (the pre-filter would skip it)", d->pub.name, text);
    return -1;
}

static int check_plugin(struct loaded *l, const char *path, const struct apx_config *cfg,
                        char *err, size_t errlen)
{
    const struct apx_plugin *p = l->desc;
    struct apx_error perr = { { 0 } };
    struct detector *d = &l->d;

    if (p->abi_major != APX_ABI_MAJOR || p->abi_minor > APX_ABI_MINOR ||
        p->kind != APX_KIND_DETECTOR || !p->name) {
        snprintf(err, errlen, "%s: not a detector plugin of ABI %d.%d with a name",
                 path, APX_ABI_MAJOR, APX_ABI_MINOR);
        return -1;
    }
    if (!*p->name || strspn(p->name, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
                         strlen(p->name)) {
        snprintf(err, errlen, "%s: name \"%s\" is not [a-z0-9_]+", path, p->name);
        return -1;
    }
    /* the spec as the daemon's loader sees it: copied by its struct_size */
    struct plugin_abi abi;
    char why[256];
    if (loader_copy_abi(p, &abi, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", p->name, why);
        return -1;
    }
    if (p->init && p->init(&mock_host, cfg, &d->state, &perr) != 0) {
        snprintf(err, errlen, "%s: init failed: %s", p->name, perr.message);
        return -1;
    }
    l->ok = 1; /* fini is due from here */
    d->spec = abi.spec;
    if (p->setup && p->setup(d->state, &d->spec, &perr) != 0) {
        snprintf(err, errlen, "%s: setup failed: %s", p->name, perr.message);
        return -1;
    }
    d->pub.name = p->name;
    d->pub.label = d->spec.label;
    d->pub.tier = d->spec.tier;
    d->pub.priority = d->spec.priority;
    if (!d->spec.label || !*d->spec.label ||
        strspn(d->spec.label, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(d->spec.label)) {
        snprintf(err, errlen, "%s: label \"%s\" is not [A-Z0-9_]+", p->name,
                 d->spec.label ? d->spec.label : "(null)");
        return -1;
    }
    if (d->spec.tier != APX_TIER_SECRET && d->spec.tier != APX_TIER_IDENTIFIER) {
        snprintf(err, errlen, "%s: tier is neither secret nor identifier", p->name);
        return -1;
    }
    int want = expected_priority(p->name);
    if (want >= 0 && d->spec.priority != want) {
        snprintf(err, errlen, "%s: priority %d, SPEC section 6 gives %d", p->name,
                 d->spec.priority, want);
        return -1;
    }
    if (want >= 0 && (count(d->spec.must_match) < MIN_SAMPLES ||
                      count(d->spec.must_not_match) < MIN_SAMPLES)) {
        snprintf(err, errlen, "%s: %zu match samples and %zu look-alikes; a built-in "
                 "detector carries at least %d of each", p->name, count(d->spec.must_match),
                 count(d->spec.must_not_match), MIN_SAMPLES);
        return -1;
    }
    if (detector_compile(d, err, errlen) < 0 || detector_check_samples(d, err, errlen) < 0)
        return -1;
    for (const char *const *s = d->spec.must_match; s && *s; s++)
        if (check_anchors_in(d, *s, err, errlen) < 0)
            return -1;
    return 0;
}

static void release(struct loaded *l)
{
    detector_release(&l->d);
    if (l->ok && l->desc->fini)
        l->desc->fini(l->d.state);
    l->ok = 0;
    memset(&l->d, 0, sizeof l->d);
}

/* The regex plugin must refuse each bad option set, with a message. */
static int check_regex_refusals(struct loaded *l, char *err, size_t errlen)
{
    char e2[512];
    for (size_t i = 0; i < sizeof regex_refused / sizeof regex_refused[0]; i++) {
        if (check_plugin(l, "regex", &regex_refused[i].cfg, e2, sizeof e2) == 0) {
            snprintf(err, errlen, "regex: %s is accepted", regex_refused[i].what);
            release(l);
            return -1;
        }
        release(l);
    }
    return 0;
}

/* ---- --scan ---- */

struct finding {
    size_t s, e;
    const struct detector *d;
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void show(const char *s, size_t n)
{
    for (size_t i = 0; i < n && i < 48; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 0x20)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    if (n > 48)
        printf("...(%zu bytes)", n);
}

static int scan(const char *path, struct loaded *v, size_t n)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "detector_runner: cannot read %s\n", path);
        return -1;
    }
    struct detector **order = malloc(n * sizeof *order);
    size_t nd = 0, nf = 0, cap = 64;
    struct finding *f = malloc(cap * sizeof *f);
    if (!order || !f) {
        free(order);
        free(f);
        free(text);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].ok)
            order[nd++] = &v[i].d;
    detectors_sort(order, nd);
    for (size_t i = 0; i < nd; i++) {
        size_t start = 0, ms, me, hits = 0;
        double t0 = now();
        while (detector_find(order[i], text, len, start, &ms, &me) == 1) {
            start = me;
            int overlaps = 0;
            for (size_t j = 0; j < nf && !overlaps; j++)
                overlaps = ms < f[j].e && f[j].s < me;
            if (overlaps)
                continue;
            if (nf == cap) {
                struct finding *nfp = realloc(f, 2 * cap * sizeof *f);
                if (!nfp)
                    break;
                f = nfp;
                cap *= 2;
            }
            f[nf++] = (struct finding){ ms, me, order[i] };
            hits++;
            printf("  %-22s at %8zu: ", order[i]->pub.name, ms);
            show(text + ms, me - ms);
            putchar('\n');
        }
        printf("scan: %-22s %4zu found, %7.2f ms\n", order[i]->pub.name, hits,
               (now() - t0) * 1e3);
    }
    printf("scan: %zu findings in %zu bytes\n", nf, len);
    free(order);
    free(f);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    const char *scan_file = NULL;
    int first = 1, failed = 0;
    char err[512];

    if (argc > 2 && strcmp(argv[1], "--scan") == 0) {
        scan_file = argv[2];
        first = 3;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: detector_runner [--scan FILE] PLUGIN.so...\n");
        return 2;
    }
    size_t n = (size_t)(argc - first);
    struct loaded *v = calloc(n, sizeof *v);
    if (!v)
        return 1;
    for (size_t i = 0; i < n; i++) {
        const char *path = argv[first + (int)i];
        struct loaded *l = &v[i];
        l->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!l->handle) {
            printf("FAIL: %s\n", dlerror());
            failed++;
            continue;
        }
        l->desc = dlsym(l->handle, APX_PLUGIN_SYMBOL);
        if (!l->desc) {
            printf("FAIL: %s: no %s\n", path, APX_PLUGIN_SYMBOL);
            failed++;
            continue;
        }
        int is_regex = l->desc->name && strcmp(l->desc->name, "regex") == 0;
        struct apx_config none = { NULL, 0 }, good = CFG(regex_good);
        if (is_regex && check_regex_refusals(l, err, sizeof err) < 0) {
            printf("FAIL: %s\n", err);
            failed++;
            continue;
        }
        if (check_plugin(l, path, is_regex ? &good : &none, err, sizeof err) < 0) {
            printf("FAIL: %s\n", err);
            release(l);
            failed++;
            continue;
        }
        printf("ok: %s %s %s %d (%zu match samples, %zu look-alikes)%s\n", l->desc->name,
               l->d.spec.label, l->d.spec.tier == APX_TIER_IDENTIFIER ? "identifier" : "secret",
               l->d.spec.priority, count(l->d.spec.must_match),
               count(l->d.spec.must_not_match),
               is_regex ? " with test options; bad options refused" : "");
    }
    if (scan_file && scan(scan_file, v, n) < 0)
        failed++;
    for (size_t i = 0; i < n; i++)
        release(&v[i]);
    /* The handles stay open: descriptors and samples live in them. */
    free(v);
    return failed ? 1 : 0;
}
