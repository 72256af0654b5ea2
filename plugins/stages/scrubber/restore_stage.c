/*
 * restore_stage: see restore_stage.h. What the model answers goes to the
 * user's machine: its tool calls are run there, on the user's own files, so
 * a tool input must carry the real values (a Write of deploy.env must not
 * write placeholders into it, an Edit whose old_string holds one must
 * match). Everything else the model wrote (text, thinking) keeps the
 * placeholders: it is shown, kept in transcripts and sent back upstream.
 *
 * Only POST /v1/messages answers with status 200 are restored, SSE as it
 * streams and JSON whole; an answer with a content-encoding this stage did
 * not ask for passes unrestored (counted). Never logs a value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore.h"
#include "restore_stage.h"

struct restorer {
    const struct apx_host *host;
    const struct apx_detector **dets; /* the scrubber's, engine order */
    size_t ndet;
    struct apx_counter *restored, *unknown, *held_max, *encoded, *failed, *lost;
};

/* One exchange's, in the scrubber's slot. */
struct restore_ex {
    struct restore_map *map;
    struct restore_sse *sse;       /* an SSE answer being restored */
    bool json;                     /* a JSON answer, gathered whole */
    bool json_as_is;               /* too large to gather: passed as it came */
    struct restore_buf body;       /* JSON: the answer so far */
    struct restore_buf out;
    struct restore_stats json_stats;
    bool json_failed;              /* out of memory: sent unrestored */
};

int restorer_new(const struct apx_host *host, struct restorer **out, struct apx_error *err)
{
    *out = NULL;
    size_t ndet = host->detector_count(host);
    bool any = false;
    for (size_t i = 0; i < ndet; i++) {
        const struct apx_detector *d = host->detector_get(host, i);
        any |= d->restore == APX_RESTORE_TOOL_INPUT && d->action == APX_ACTION_PSEUDONYMIZE;
    }
    if (!any)
        return 0;
    struct restorer *r = calloc(1, sizeof *r);
    if (!r || !(r->dets = malloc(ndet * sizeof *r->dets))) {
        host->error_set(err, "out of memory");
        goto fail;
    }
    r->host = host;
    r->ndet = ndet;
    for (size_t i = 0; i < ndet; i++)
        r->dets[i] = host->detector_get(host, i);
    r->restored = host->counter(host, "scrub_restored_total");
    r->unknown = host->counter(host, "scrub_restore_unknown_total");
    r->held_max = host->counter(host, "scrub_restore_held_bytes_max");
    r->encoded = host->counter(host, "scrub_restore_skipped_total{reason=\"encoded\"}");
    r->failed = host->counter(host, "scrub_restore_skipped_total{reason=\"failed\"}");
    r->lost = host->counter(host, "scrub_restore_skipped_total{reason=\"block_given_up\"}");
    if (!r->restored || !r->unknown || !r->held_max || !r->encoded || !r->failed || !r->lost) {
        host->error_set(err, "the counter table is full");
        goto fail;
    }
    *out = r;
    return 0;
fail:
    restorer_free(r);
    return -1;
}

void restorer_free(struct restorer *r)
{
    if (r)
        free(r->dets);
    free(r);
}

static bool is_messages(const char *path)
{
    size_t n = strlen("/v1/messages");
    return strncmp(path, "/v1/messages", n) == 0 && (path[n] == '\0' || path[n] == '?');
}

static void ex_free(struct restore_ex *x)
{
    restore_sse_free(x->sse);
    restore_map_free(x->map);
    restore_buf_free(&x->body);
    restore_buf_free(&x->out);
    free(x);
}

void restorer_keep(struct restorer *r, struct apx_exchange *ex, const struct scrub_result *res)
{
    if (!r || res->nmap == 0 || !is_messages(r->host->ex_path(ex)))
        return;
    const struct apx_host *h = r->host;
    struct scrub_map_entry *keep = malloc(res->nmap * sizeof *keep);
    size_t n = 0;
    if (!keep)
        return;
    for (size_t i = 0; i < res->nmap; i++) {
        const struct scrub_map_entry *e = &res->map[i];
        if (e->det < r->ndet && r->dets[e->det]->restore == APX_RESTORE_TOOL_INPUT)
            keep[n++] = *e;
    }
    struct restore_ex *x = n ? calloc(1, sizeof *x) : NULL;
    if (x && !(x->map = restore_map_new(keep, n))) {
        free(x);
        x = NULL;
    }
    free(keep);
    if (!x)
        return; /* nothing to restore, or out of memory: placeholders stay */
    void **slot = h->ex_slot(h, ex);
    if (*slot)
        ex_free(*slot);
    *slot = x;
    /* so the answer comes as bytes the restorer can read */
    h->ex_header_set(ex, "accept-encoding", "identity");
}

static bool starts_with(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

int restorer_on_response_head(struct restorer *r, struct apx_exchange *ex)
{
    if (!r)
        return APX_OK;
    const struct apx_host *h = r->host;
    struct restore_ex *x = *h->ex_slot(h, ex);
    if (!x || h->ex_status(ex) != 200)
        return APX_OK;
    const char *enc = h->ex_resp_header_get(ex, "content-encoding");
    if (enc && *enc && strcmp(enc, "identity") != 0) {
        h->counter_add(r->encoded, 1);
        h->log_ex(h, ex, APX_LOG_WARN, "restore: the answer came with content-encoding %.40s: "
                  "its tool inputs keep their placeholders", enc);
        return APX_OK;
    }
    const char *type = h->ex_resp_header_get(ex, "content-type");
    restore_sse_free(x->sse);
    x->sse = NULL;
    x->json = false;
    if (starts_with(type, "text/event-stream"))
        x->sse = restore_sse_new(x->map, 0);
    else if (starts_with(type, "application/json"))
        x->json = true;
    if (!x->sse && !x->json)
        return APX_OK; /* another type, or out of memory: passed as it is */
    if (h->transform_body(h, ex) < 0) {
        h->counter_add(r->failed, 1);
        restore_sse_free(x->sse);
        x->sse = NULL;
        x->json = false;
    }
    return APX_OK;
}

static int emit(const struct apx_host *h, struct apx_exchange *ex, const struct restore_buf *b)
{
    return b->len ? h->transform_emit(ex, b->data, b->len) : 0;
}

/* A JSON answer is restored once it is whole; one larger than the engine
 * takes goes on as it came. */
static int json_piece(const struct apx_host *h, struct apx_exchange *ex, struct restore_ex *x,
                      const uint8_t *data, size_t len, bool end)
{
    if (x->json_as_is)
        return h->transform_emit(ex, data, len);
    if (x->body.len + len > RESTORE_JSON_MAX) {
        x->json_as_is = true;
        int rc = emit(h, ex, &x->body) < 0 ? -1 : h->transform_emit(ex, data, len);
        restore_buf_free(&x->body);
        return rc;
    }
    if (restore_buf_append(&x->body, data, len) < 0)
        return -1;
    if (!end)
        return 0;
    bool changed = false;
    x->out.len = 0;
    int rc = restore_json(x->map, x->body.data, x->body.len, &x->out, &changed, &x->json_stats);
    if (rc == RESTORE_E_NOMEM)
        x->json_failed = true; /* counted at the end: the answer goes on unrestored */
    return emit(h, ex, rc == 0 && changed ? &x->out : &x->body);
}

int restorer_on_transform(struct restorer *r, struct apx_exchange *ex, const uint8_t *data,
                          size_t len, bool end)
{
    const struct apx_host *h = r->host;
    struct restore_ex *x = *h->ex_slot(h, ex);
    if (!x)
        return h->transform_emit(ex, data, len); /* not ours: cannot happen */
    if (x->json)
        return json_piece(h, ex, x, data, len, end);
    x->out.len = 0;
    int rc = end ? restore_sse_end(x->sse, &x->out) : restore_sse_feed(x->sse, data, len, &x->out);
    if (rc < 0) {
        h->counter_add(r->failed, 1);
        return -1;
    }
    return emit(h, ex, &x->out);
}

/* "restore: 3 values put back in tool input (aws_access_key 2, email 1);
 * 1 unknown placeholder left" */
static void log_restores(struct restorer *r, struct apx_exchange *ex, const struct restore_ex *x,
                         const struct restore_stats *st)
{
    uint64_t *per = calloc(r->ndet ? r->ndet : 1, sizeof *per);
    char names[512] = "";
    size_t o = 0;
    if (per) {
        restore_map_count_by_detector(x->map, per, r->ndet);
        for (size_t i = 0; i < r->ndet && o < sizeof names; i++)
            if (per[i])
                o += (size_t)snprintf(names + o, sizeof names - o, "%s%s %llu", o ? ", " : "",
                                      r->dets[i]->name, (unsigned long long)per[i]);
        free(per);
    }
    r->host->log_ex(r->host, ex, APX_LOG_INFO,
                    "restore: %llu value%s put back in tool input%s%s%s; %llu unknown "
                    "placeholder%s left", (unsigned long long)st->restored,
                    st->restored == 1 ? "" : "s", *names ? " (" : "", names, *names ? ")" : "",
                    (unsigned long long)st->unknown, st->unknown == 1 ? "" : "s");
}

void restorer_on_done(struct restorer *r, struct apx_exchange *ex)
{
    if (!r)
        return;
    const struct apx_host *h = r->host;
    void **slot = h->ex_slot(h, ex);
    struct restore_ex *x = *slot;
    if (!x)
        return;
    const struct restore_stats *st = x->sse ? restore_sse_stats(x->sse) : &x->json_stats;
    h->counter_add(r->restored, st->restored);
    h->counter_add(r->unknown, st->unknown);
    h->counter_add(r->lost, st->blocks_lost);
    if (x->json_failed)
        h->counter_add(r->failed, 1);
    if (st->blocks_lost)
        h->log_ex(h, ex, APX_LOG_WARN, "restore: %llu tool block%s given up (an event over "
                  "the bound, too many blocks, or input not JSON): %s placeholders",
                  (unsigned long long)st->blocks_lost, st->blocks_lost == 1 ? "" : "s",
                  st->blocks_lost == 1 ? "its input keeps its" : "their inputs keep their");
    if (st->held_max > h->counter_get(r->held_max))
        h->counter_set(r->held_max, st->held_max);
    if (st->restored || st->unknown)
        log_restores(r, ex, x, st);
    ex_free(x);
    *slot = NULL;
}
