/*
 * scrubber stage: replaces secrets in request bodies with placeholders
 * before they leave the machine (SPEC section 6).
 *
 * The stage decides which bodies are scanned (SCRUB_MODE, POST only,
 * SCRUB_MAX_BODY_SIZE), hands them to the engine (scrub.c) with the
 * generation's detectors, swaps the body, counts, and writes one summary
 * line per scrubbed request. Each detector's findings are replaced, only
 * observed, or make the request refused, as its `action:` in the pipeline
 * file says; SCRUB_UNSCANNABLE says whether a body it cannot scan (too
 * large, not JSON) is forwarded or refused. It never logs a found value.
 * Bodies of worker_min_bytes (an option, 64 KiB by default) or more are scrubbed on a
 * worker thread (apx_host.work_submit), so a large body costs other clients
 * no wait; the hook answers APX_PENDING and resumes the exchange when done.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <anthropic-proxy/plugin.h>

#include "restore_stage.h"
#include "scrub.h"

enum mode { MODE_OFF, MODE_PSEUDONYMIZE, MODE_AUDIT };

/* What the engine's find() needs to reach the host's registry. */
struct detector_ref {
    const struct apx_host *host;
    const struct apx_detector *det;
};

/* A detector's findings counter under the action it has. */
static const char *const action_names[] = { "pseudonymize", "observe", "block" };

/* The detector's action; one this build does not know is taken as block, so
 * nothing it was meant to stop leaves. */
static enum apx_action action_of(const struct apx_detector *d)
{
    return d->action <= APX_ACTION_BLOCK ? d->action : APX_ACTION_BLOCK;
}

struct scrubber {
    const struct apx_host *host;
    enum mode mode;
    bool block_unscannable;      /* SCRUB_UNSCANNABLE=block */
    uint64_t max_body;
    struct scrub_engine *engine;
    struct detector_ref *refs;
    size_t ndetectors;
    struct apx_counter *scanned, *scrubbed, *bytes, *values;
    struct apx_counter *not_post, *not_json, *too_large, *too_deep, *failed;
    struct apx_counter *refused_too_large, *refused_not_json, *blocked;
    struct apx_counter **hits;   /* per detector, labelled with its action */
    struct restorer *restorer;   /* the response side; NULL: nothing restores */
    uint64_t worker_min_bytes;   /* bodies this large go to a worker thread */
    bool can_offload;            /* the host has work_submit and resume */
};

static int find_via_host(const void *ctx, const char *text, size_t len, size_t start,
                         size_t *ms, size_t *me)
{
    const struct detector_ref *r = ctx;
    return r->host->detector_find(r->det, text, len, start, ms, me);
}

static int read_settings(struct scrubber *s, uint8_t key[SCRUB_KEY_LEN], struct apx_error *err)
{
    const struct apx_host *h = s->host;
    char buf[160];
    if (!h->setting(h, "SCRUB_MODE", buf, sizeof buf) || strcmp(buf, "off") == 0)
        s->mode = MODE_OFF;
    else if (strcmp(buf, "pseudonymize") == 0)
        s->mode = MODE_PSEUDONYMIZE;
    else if (strcmp(buf, "audit") == 0)
        s->mode = MODE_AUDIT;
    else {
        h->error_set(err,
                 "SCRUB_MODE=%s: allowed: off, pseudonymize, audit", buf);
        return -1;
    }
    s->max_body = 10485760;
    if (h->setting(h, "SCRUB_MAX_BODY_SIZE", buf, sizeof buf))
        s->max_body = strtoull(buf, NULL, 10);
    s->block_unscannable = h->setting(h, "SCRUB_UNSCANNABLE", buf, sizeof buf) &&
                           strcmp(buf, "block") == 0;
    memset(key, 0, SCRUB_KEY_LEN);
    if (s->mode == MODE_OFF)
        return 0;
    /* the settings layer checks the key too; this keeps the stage safe on
     * its own (anthropic-proxy scrub, tests) */
    if (!h->setting(h, "SCRUB_HMAC_KEY", buf, sizeof buf) || scrub_parse_key(buf, key) < 0) {
        h->error_set(err,
                 "SCRUB_HMAC_KEY must be 64 hex characters when SCRUB_MODE is not off "
                 "(make one with: openssl rand -hex 32)");
        return -1;
    }
    return 0;
}

static int make_counters(struct scrubber *s, struct apx_error *err)
{
    const struct apx_host *h = s->host;
    char name[160];
    s->scanned = h->counter(h, "scrub_requests_scanned_total");
    s->scrubbed = h->counter(h, "scrub_requests_scrubbed_total");
    s->bytes = h->counter(h, "scrub_bytes_scanned_total");
    s->values = h->counter(h, "scrub_values_replaced_total");
    s->not_post = h->counter(h, "scrub_passed_total{reason=\"not_post\"}");
    s->not_json = h->counter(h, "scrub_passed_total{reason=\"not_json\"}");
    s->too_large = h->counter(h, "scrub_passed_total{reason=\"too_large\"}");
    s->too_deep = h->counter(h, "scrub_refused_total{reason=\"too_deep\"}");
    s->failed = h->counter(h, "scrub_refused_total{reason=\"failed\"}");
    s->refused_too_large = h->counter(h, "scrub_refused_total{reason=\"too_large\"}");
    s->refused_not_json = h->counter(h, "scrub_refused_total{reason=\"not_json\"}");
    s->blocked = h->counter(h, "scrub_refused_total{reason=\"blocked\"}");
    bool ok = s->scanned && s->scrubbed && s->bytes && s->values && s->not_post &&
              s->not_json && s->too_large && s->too_deep && s->failed &&
              s->refused_too_large && s->refused_not_json && s->blocked;
    for (size_t i = 0; ok && i < s->ndetectors; i++) {
        const struct apx_detector *d = s->refs[i].det;
        snprintf(name, sizeof name, "scrub_hits_total{detector=\"%s\",action=\"%s\"}",
                 d->name, action_names[action_of(d)]);
        ok = (s->hits[i] = h->counter(h, name)) != NULL;
    }
    if (!ok)
        h->error_set(err, "the counter table is full");
    return ok ? 0 : -1;
}

static int build_engine(struct scrubber *s, const uint8_t key[SCRUB_KEY_LEN],
                        struct apx_error *err)
{
    const struct apx_host *h = s->host;
    s->ndetectors = h->detector_count(h);
    size_t n = s->ndetectors ? s->ndetectors : 1;
    struct scrub_detector *dets = calloc(n, sizeof *dets);
    s->refs = calloc(n, sizeof *s->refs);
    s->hits = calloc(n, sizeof *s->hits);
    if (!dets || !s->refs || !s->hits) {
        free(dets);
        h->error_set(err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < s->ndetectors; i++) {
        const struct apx_detector *d = h->detector_get(h, i);
        s->refs[i] = (struct detector_ref){ h, d };
        dets[i] = (struct scrub_detector){ .name = d->name, .label = d->label,
                                           .tier = d->tier, .anchors = d->anchors,
                                           .find = find_via_host, .ctx = &s->refs[i],
                                           .action = action_of(d) };
    }
    s->engine = scrub_engine_new(dets, s->ndetectors, key, err->message, sizeof err->message);
    free(dets);
    return s->engine ? 0 : -1;
}

static void scrubber_fini(void *state)
{
    struct scrubber *s = state;
    if (!s)
        return;
    scrub_engine_free(s->engine);
    restorer_free(s->restorer);
    free(s->refs);
    free(s->hits);
    free(s);
}

/* Restore needs the placeholders the request got: pseudonymize only
 * (audit and observe replace nothing). */
static int make_restorer(struct scrubber *s, struct apx_error *err)
{
    if (s->mode != MODE_PSEUDONYMIZE || s->ndetectors == 0)
        return 0;
    return restorer_new(s->host, &s->restorer, err);
}

static int read_options(struct scrubber *s, const struct apx_config *cfg,
                        struct apx_error *err)
{
    int64_t min;
    if (s->host->opt_int(cfg, "worker_min_bytes", 65536, 0, INT64_MAX, &min, err) < 0)
        return -1;
    s->worker_min_bytes = (uint64_t)min;
    s->can_offload = s->host->struct_size >= offsetof(struct apx_host, resume) +
                                                 sizeof s->host->resume;
    return 0;
}

static int scrubber_init(const struct apx_host *host, const struct apx_config *cfg,
                         void **state, struct apx_error *err)
{
    uint8_t key[SCRUB_KEY_LEN];
    struct scrubber *s = calloc(1, sizeof *s);
    if (!s) {
        host->error_set(err, "out of memory");
        return -1;
    }
    s->host = host;
    if (read_settings(s, key, err) < 0 || read_options(s, cfg, err) < 0 ||
        build_engine(s, key, err) < 0 || make_counters(s, err) < 0 ||
        make_restorer(s, err) < 0)
        goto fail;
    memset(key, 0, sizeof key);
    if (s->mode != MODE_OFF && s->ndetectors == 0)
        host->log(host, APX_LOG_WARN, "SCRUB_MODE is on but the pipeline has no detectors: "
                  "nothing will be found");
    *state = s;
    return 0;
fail:
    memset(key, 0, sizeof key);
    scrubber_fini(s);
    return -1;
}

static void count_hits(struct scrubber *s, const struct scrub_result *r)
{
    for (size_t i = 0; i < s->ndetectors; i++)
        if (r->hits[i])
            s->host->counter_add(s->hits[i], r->hits[i]);
    s->host->counter_add(s->values, r->replaced);
    if (r->replaced)
        s->host->counter_add(s->scrubbed, 1);
}

/* A body the scrubber cannot scan: forwarded as it is, unless
 * SCRUB_UNSCANNABLE=block (never in audit, which only reports). */
static int unscannable(struct scrubber *s, struct apx_exchange *ex, bool too_large,
                       const char *why)
{
    const struct apx_host *h = s->host;
    char msg[256];
    if (!s->block_unscannable || s->mode != MODE_PSEUDONYMIZE) {
        h->counter_add(too_large ? s->too_large : s->not_json, 1);
        h->log_ex(h, ex, too_large ? APX_LOG_INFO : APX_LOG_DEBUG,
                  "passed through unscanned: %s", why);
        return APX_OK;
    }
    h->counter_add(too_large ? s->refused_too_large : s->refused_not_json, 1);
    h->log_ex(h, ex, APX_LOG_WARN, "refused unscanned (SCRUB_UNSCANNABLE=block): %s", why);
    snprintf(msg, sizeof msg, "the proxy's secret scrubber cannot scan this request body "
             "(%s), and SCRUB_UNSCANNABLE=block refuses what it cannot scan", why);
    h->block(ex, too_large ? 413 : 400, too_large ? "request_too_large"
                                                  : "invalid_request_error", msg);
    return APX_BLOCK;
}

/* A block detector found something: refused, naming the detector and the
 * place, never the value, so Claude Code shows a reason the user can act on. */
static int refuse_blocked(struct scrubber *s, struct apx_exchange *ex,
                          const struct scrub_result *r)
{
    const struct apx_host *h = s->host;
    char msg[400];
    const char *name = r->block_det >= 0 && (size_t)r->block_det < s->ndetectors
                           ? s->refs[r->block_det].det->name : "?";
    h->counter_add(s->blocked, 1);
    h->log_ex(h, ex, APX_LOG_WARN, "blocked: %s", r->summary);
    snprintf(msg, sizeof msg, "the proxy's secret scrubber refused this request: detector "
             "%s found a secret at %s (its action is block); remove it and send the "
             "request again", name, r->block_path);
    h->block(ex, 400, "invalid_request_error", msg);
    return APX_BLOCK;
}

/* "replaced 2 values, observed 1: ..." */
static void log_findings(struct scrubber *s, struct apx_exchange *ex,
                         const struct scrub_result *r)
{
    char extra[96] = "";
    size_t o = 0;
    if (r->blocked)
        o += (size_t)snprintf(extra + o, sizeof extra - o, ", would block %zu", r->blocked);
    if (r->observed && o < sizeof extra)
        snprintf(extra + o, sizeof extra - o, ", observed %zu", r->observed);
    s->host->log_ex(s->host, ex, APX_LOG_INFO, "%s %zu value%s%s: %s",
                    s->mode == MODE_AUDIT ? "audit: would replace" : "replaced", r->replaced,
                    r->replaced == 1 ? "" : "s", extra, r->summary);
}

/* The engine's verdict on a body it could not scan. */
static int refuse(struct scrubber *s, struct apx_exchange *ex, const struct scrub_result *r)
{
    const struct apx_host *h = s->host;
    if (r->outcome == SCRUB_NOT_JSON)
        return unscannable(s, ex, false, r->error);
    if (s->mode == MODE_AUDIT) { /* audit never stands in the way */
        h->counter_add(r->outcome == SCRUB_TOO_DEEP ? s->too_deep : s->failed, 1);
        h->log_ex(h, ex, APX_LOG_WARN, "audit: could not scan: %s", r->error);
        return APX_OK;
    }
    /* unscanned secrets must not leave: refuse rather than forward */
    if (r->outcome == SCRUB_TOO_DEEP) {
        h->counter_add(s->too_deep, 1);
        h->block(ex, 400, "invalid_request_error",
                 "request body nests too deeply for the proxy's secret scrubber");
    } else {
        h->counter_add(s->failed, 1);
        h->log_ex(h, ex, APX_LOG_ERROR, "could not scan the request body: %s", r->error);
        h->block(ex, 500, "api_error", "the proxy's secret scrubber failed on this request");
    }
    return APX_BLOCK;
}

/* Count, log and apply what the engine found: the hook's verdict. */
static int apply_result(struct scrubber *s, struct apx_exchange *ex, size_t len,
                        struct scrub_result *r)
{
    const struct apx_host *h = s->host;
    if (r->outcome != SCRUB_CLEAN && r->outcome != SCRUB_FOUND)
        return refuse(s, ex, r);
    h->counter_add(s->scanned, 1);
    h->counter_add(s->bytes, len);
    if (r->outcome != SCRUB_FOUND)
        return APX_OK;
    count_hits(s, r);
    if (s->mode == MODE_PSEUDONYMIZE && r->blocked)
        return refuse_blocked(s, ex, r);
    log_findings(s, ex, r);
    if (s->mode == MODE_PSEUDONYMIZE && r->body &&
        h->ex_body_replace(ex, r->body, r->body_len) < 0) {
        h->counter_add(s->failed, 1);
        h->block(ex, 500, "api_error", "the proxy's secret scrubber failed on this request");
        return APX_BLOCK;
    }
    if (s->mode == MODE_PSEUDONYMIZE)
        restorer_keep(s->restorer, ex, r);
    return APX_OK;
}

/* A large body is scrubbed on a worker thread: the loop serves everyone
 * else meanwhile. The exchange (and its body) live until resume. */
struct scrub_job {
    struct scrubber *s;
    struct apx_exchange *ex;
    const uint8_t *body;
    size_t len;
    struct scrub_result res;
};

static void job_work(void *arg)
{
    struct scrub_job *j = arg;
    scrub_body(j->s->engine, j->body, j->len, j->s->mode == MODE_PSEUDONYMIZE, &j->res);
}

static void job_done(void *arg)
{
    struct scrub_job *j = arg;
    int verdict = apply_result(j->s, j->ex, j->len, &j->res);
    scrub_result_free(&j->res);
    struct apx_exchange *ex = j->ex;
    const struct apx_host *h = j->s->host;
    free(j);
    h->resume(ex, verdict);
}

static bool offload(struct scrubber *s, struct apx_exchange *ex, const uint8_t *body,
                    size_t len)
{
    if (!s->can_offload || len < s->worker_min_bytes)
        return false;
    struct scrub_job *j = calloc(1, sizeof *j);
    if (!j)
        return false;
    *j = (struct scrub_job){ .s = s, .ex = ex, .body = body, .len = len };
    if (s->host->work_submit(s->host, job_work, job_done, j) < 0) {
        free(j);
        return false;
    }
    return true;
}

static int scrubber_on_request(void *state, struct apx_exchange *ex)
{
    struct scrubber *s = state;
    const struct apx_host *h = s->host;
    if (s->mode == MODE_OFF)
        return APX_OK;
    if (strcmp(h->ex_method(ex), "POST") != 0) {
        h->counter_add(s->not_post, 1);
        return APX_OK;
    }
    size_t len;
    const uint8_t *body = h->ex_body(ex, &len);
    if (!body)
        body = (const uint8_t *)"";
    if (len == 0)
        return APX_OK; /* nothing that could hold a secret */
    if (len > s->max_body) {
        char why[128];
        snprintf(why, sizeof why, "a body of %zu bytes is over SCRUB_MAX_BODY_SIZE (%llu)",
                 len, (unsigned long long)s->max_body);
        return unscannable(s, ex, true, why);
    }
    if (offload(s, ex, body, len))
        return APX_PENDING;
    struct scrub_result r;
    scrub_body(s->engine, body, len, s->mode == MODE_PSEUDONYMIZE, &r);
    int verdict = apply_result(s, ex, len, &r);
    scrub_result_free(&r);
    return verdict;
}

static int scrubber_on_response_head(void *state, struct apx_exchange *ex)
{
    return restorer_on_response_head(((struct scrubber *)state)->restorer, ex);
}

static int scrubber_on_transform(void *state, struct apx_exchange *ex, const uint8_t *data,
                                 size_t len, bool end)
{
    return restorer_on_transform(((struct scrubber *)state)->restorer, ex, data, len, end);
}

static void scrubber_on_done(void *state, struct apx_exchange *ex,
                             const struct apx_done_info *info)
{
    (void)info;
    restorer_on_done(((struct scrubber *)state)->restorer, ex);
}

static const struct apx_stage_hooks stage_hooks = {
    .struct_size = sizeof(struct apx_stage_hooks),
    .on_request = scrubber_on_request,
    .on_response_head = scrubber_on_response_head,
    .on_done = scrubber_on_done,
    .on_response_transform = scrubber_on_transform,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_STAGE,
    .name = "scrubber",
    .version = "1.0.0",
    .description = "replaces secrets in request bodies with placeholders",
    .init = scrubber_init,
    .fini = scrubber_fini,
    .stage = &stage_hooks,
};
