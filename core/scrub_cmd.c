/*
 * scrub_cmd: `anthropic-proxy scrub`, the scrubber stage and detectors of
 * the configured pipeline run on one body from stdin, the way the proxy
 * would run them on a POST: scrubbed body on stdout, report on stderr.
 *
 * Operators use it to try a detector on a file before a reload. It builds
 * a real generation (the same loader, samples checks and settings) without
 * listeners, and one exchange that never goes upstream.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "counters.h"
#include "exchange.h"
#include "log.h"
#include "scrub_cmd.h"
#include "settings.h"
#include "stages.h"

#define SCRUB_ENV_MAX 1024 /* environment entries kept for the settings */

static void scrub_usage(FILE *out)
{
    fprintf(out,
            "Usage: anthropic-proxy scrub [--config FILE] [--pipeline FILE] [--key-file FILE]\n"
            "                             [--audit] [--repeat N] < BODY > SCRUBBED\n"
            "\n"
            "Run the pipeline's scrubber stage and detectors on one request body read\n"
            "from stdin, as the proxy would on a POST: the scrubbed body goes to stdout,\n"
            "one line per detector that matched goes to stderr.\n"
            "\n"
            "  -c, --config FILE    settings file, as for the daemon\n"
            "  -p, --pipeline FILE  pipeline file, as for the daemon\n"
            "  -k, --key-file FILE  read SCRUB_HMAC_KEY (64 hex characters) from FILE\n"
            "  -a, --audit          report only: write the body unchanged\n"
            "  -r, --repeat N       scrub the body N times and report the median time of\n"
            "                       a run (for benchmarks; counts add up over the runs)\n"
            "\n"
            "SCRUB_MODE is taken as pseudonymize (audit with --audit) whatever the\n"
            "settings say. Exit status: 0 scanned (found or not), 1 the body was refused\n"
            "or could not be read, 2 configuration error.\n");
}

/* The key file's first line, trimmed; the caller frees. */
static char *read_key_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "anthropic-proxy scrub: --key-file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char line[256] = "";
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    size_t n = strcspn(line, "\r\n");
    line[n] = '\0';
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        line[--n] = '\0';
    char *key = malloc(sizeof SETTINGS_PREFIX + sizeof "SCRUB_HMAC_KEY=" + n);
    if (key)
        sprintf(key, "%sSCRUB_HMAC_KEY=%s", SETTINGS_PREFIX, line);
    return key;
}

static bool overridden(const char *entry)
{
    static const char *const names[] = { "SCRUB_MODE=", "SCRUB_HMAC_KEY=", "LOG_REQUESTS=" };
    size_t plen = strlen(SETTINGS_PREFIX);
    if (strncmp(entry, SETTINGS_PREFIX, plen) != 0)
        return false;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strncmp(entry + plen, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

/* The process environment with the command's own settings on top. */
static int build_env(char *const *environ_in, bool audit, char *key_entry, char **env)
{
    size_t n = 0;
    for (char *const *e = environ_in; *e && n + 4 < SCRUB_ENV_MAX; e++)
        if (!overridden(*e) || (!key_entry && strstr(*e, "SCRUB_HMAC_KEY=")))
            env[n++] = *e;
    env[n++] = audit ? SETTINGS_PREFIX "SCRUB_MODE=audit"
                     : SETTINGS_PREFIX "SCRUB_MODE=pseudonymize";
    env[n++] = SETTINGS_PREFIX "LOG_REQUESTS=false";
    if (key_entry)
        env[n++] = key_entry;
    env[n] = NULL;
    return 0;
}

/* Read stdin into the exchange's body, within MAX_REQUEST_BODY. */
static int read_body(struct exchange *ex)
{
    uint8_t buf[65536];
    size_t n;
    int status;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        if (exchange_append_body(ex, buf, n, &status) < 0) {
            fprintf(stderr, "anthropic-proxy scrub: %s\n", status == 413
                    ? "the body is larger than MAX_REQUEST_BODY" : "out of memory");
            return -1;
        }
    }
    if (ferror(stdin)) {
        fprintf(stderr, "anthropic-proxy scrub: reading stdin: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static void print_counter(void *arg, const char *name, uint64_t value)
{
    (void)arg;
    const char *det = strstr(name, "{detector=\"");
    const char *act = strstr(name, "action=\"");
    if (det && value) {
        det += strlen("{detector=\"");
        act = act ? act + strlen("action=\"") : "pseudonymize\"";
        int alen = (int)strcspn(act, "\"");
        bool plain = alen == 12 && strncmp(act, "pseudonymize", 12) == 0;
        fprintf(stderr, "  %-24.*s %llu%s%.*s%s\n", (int)strcspn(det, "\""), det,
                (unsigned long long)value, plain ? "" : " (", plain ? 0 : alen, act,
                plain ? "" : ", not replaced)");
    }
}

static int report(struct core *core, const struct exchange *ex, int verdict, size_t in_len,
                  double secs, double cpu)
{
    if (verdict != APX_OK) {
        const struct exchange_block *b = ex->block;
        fprintf(stderr, "anthropic-proxy scrub: refused (%d %s): %s\n", b ? b->status : 400,
                b ? b->type : "invalid_request_error", b ? b->message : "blocked");
        return 1;
    }
    fprintf(stderr, "anthropic-proxy scrub: %zu bytes in %.3f ms (%.0f MB/s), %.3f ms of CPU "
            "(%.0f MB/s); findings per detector:\n", in_len, secs * 1e3,
            secs > 0 ? (double)in_len / 1e6 / secs : 0.0, cpu * 1e3,
            cpu > 0 ? (double)in_len / 1e6 / cpu : 0.0);
    counters_each(core->counters, "scrub_hits_total", print_counter, NULL);
    if (fwrite(ex->body ? (const void *)ex->body : "", 1, ex->body_len, stdout) != ex->body_len ||
        fflush(stdout) != 0) {
        fprintf(stderr, "anthropic-proxy scrub: writing stdout: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Run the scrubber stage on the body `repeat` times (benchmarks), putting
 * the input back before each run; *median is the median time of a run,
 * *cpu the median CPU time the process spent on it (all threads: the work
 * may run on a worker), which a busy machine disturbs far less.
 * The stage's verdict, -2 without a scrubber stage, -3 out of memory. */
static double seconds(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int run_scrubber(struct exchange *ex, unsigned repeat, double *median, double *cpu)
{
    size_t len = ex->body_len;
    double *t = calloc(repeat, sizeof *t), *c = calloc(repeat, sizeof *c);
    uint8_t *orig = malloc(len ? len : 1);
    int verdict = -3;
    unsigned runs = 0;
    if (!t || !c || !orig)
        goto done;
    if (len)
        memcpy(orig, ex->body, len);
    for (; runs < repeat; runs++) {
        if (runs > 0) {
            if (ex->body_cap < len &&
                (exchange_reserve_body(ex, len) < 0 || ex->body_cap < len))
                goto done;
            memcpy(ex->body, orig, len);
            ex->body_len = len;
        }
        double t0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
        verdict = stages_run_one_on_request(ex, "scrubber");
        if (verdict == APX_PENDING) { /* on a worker thread: wait for resume */
            while (ex->hooks == HOOKS_PENDING)
                event_base_loop(ex->core->base, EVLOOP_ONCE);
            verdict = ex->hook_verdict;
        }
        t[runs] = seconds(CLOCK_MONOTONIC) - t0;
        c[runs] = seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (verdict != APX_OK) {
            runs++;
            break;
        }
    }
    qsort(t, runs, sizeof *t, cmp_double);
    qsort(c, runs, sizeof *c, cmp_double);
    *median = runs ? t[runs / 2] : 0;
    *cpu = runs ? c[runs / 2] : 0;
done:
    free(t);
    free(c);
    free(orig);
    return verdict;
}

static int scrub_run(struct settings *s, unsigned repeat)
{
    char err[512];
    struct core *core = core_oneshot_open(s, true, err, sizeof err);
    if (!core) {
        fprintf(stderr, "anthropic-proxy scrub: %s\n", err);
        return 2;
    }
    int rv = 1;
    struct exchange *ex = exchange_new(core, LISTENER_MAIN, NULL, NULL, "HTTP/1.1");
    if (!ex || exchange_set_request(ex, "POST", 4, "/v1/messages", 12) < 0) {
        fprintf(stderr, "anthropic-proxy scrub: out of memory\n");
        goto done;
    }
    if (read_body(ex) == 0) {
        size_t in_len = ex->body_len;
        double secs = 0, cpu = 0;
        int verdict = run_scrubber(ex, repeat, &secs, &cpu);
        if (verdict == -2) {
            fprintf(stderr, "anthropic-proxy scrub: the pipeline %s has no scrubber stage\n",
                    core->gen->pipeline.file ? core->gen->pipeline.file : "(none)");
            rv = 2;
        } else if (verdict == -3) {
            fprintf(stderr, "anthropic-proxy scrub: out of memory\n");
        } else {
            rv = report(core, ex, verdict, in_len, secs, cpu);
        }
    }
done:
    if (ex)
        exchange_client_gone(ex); /* ends it: on_done runs, everything is freed */
    core_oneshot_close(core);
    return rv;
}

int scrub_command(int argc, char **argv, char *const *environ_in)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "pipeline", required_argument, NULL, 'p' },
        { "key-file", required_argument, NULL, 'k' },
        { "audit", no_argument, NULL, 'a' },
        { "repeat", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config = NULL, *pipeline = NULL, *key_file = NULL;
    bool audit = false;
    unsigned long repeat = 1;
    char *end;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:p:k:ar:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'p': pipeline = optarg; break;
        case 'k': key_file = optarg; break;
        case 'a': audit = true; break;
        case 'r':
            repeat = strtoul(optarg, &end, 10);
            if (*end || repeat < 1 || repeat > 10000) {
                fprintf(stderr, "anthropic-proxy scrub: --repeat %s: allowed: 1 to 10000\n",
                        optarg);
                return 2;
            }
            break;
        case 'h': scrub_usage(stdout); return 0;
        default: scrub_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "anthropic-proxy scrub: unexpected argument '%s'; the body is read "
                "from stdin\n", argv[optind]);
        return 2;
    }
    char *key_entry = key_file ? read_key_file(key_file) : NULL;
    if (key_file && !key_entry)
        return 2;
    static char *env[SCRUB_ENV_MAX];
    build_env(environ_in, audit, key_entry, env);
    log_setup("scrub", LOG_LVL_INFO, LOG_FMT_TEXT);
    struct settings s;
    struct settings_errors errs;
    int rv;
    if (settings_load(&s, config, pipeline, env, &errs) < 0) {
        fputs(errs.text, stderr);
        if (!key_file && strstr(errs.text, "SCRUB_HMAC_KEY"))
            fprintf(stderr, "anthropic-proxy scrub: give the key with --key-file FILE\n");
        else if (key_file && strstr(errs.text, "SCRUB_HMAC_KEY"))
            fprintf(stderr, "anthropic-proxy scrub: (the SCRUB_HMAC_KEY above is the first line "
                    "of --key-file %s)\n", key_file);
        settings_free(&s);
        rv = 2;
    } else {
        s.log_requests = false;
        s.only_stage = "scrubber";
        rv = scrub_run(&s, repeat);
    }
    free(key_entry);
    return rv;
}
