/*
 * anthropic-proxy/plugin.h -- the plugin ABI of anthropic-proxy.
 *
 * This is the only header a plugin includes. A plugin is a shared object
 * that exports one descriptor, `apx_plugin_descriptor` (struct apx_plugin),
 * and gets everything it needs from the core through the function table it
 * is lent at init (struct apx_host). A plugin never calls into the core's
 * own symbols. See anthropic-proxy-plugin(3) for the whole story and a
 * complete example.
 *
 * Versioning rule: the loader refuses a plugin whose abi_major differs from
 * APX_ABI_MAJOR, or whose abi_minor is newer than the host's APX_ABI_MINOR.
 * Minor versions only append: new fields at the end of a struct, new
 * functions at the end of struct apx_host, new enum values. Every struct
 * that crosses the boundary starts with (or, for struct apx_plugin, holds
 * after the version fields) a `struct_size`: the sizeof of the struct as the
 * side that made it was built. The loader copies a plugin's descriptor,
 * hooks and detector spec into zeroed structs of its own size, so a plugin
 * of an older minor (smaller structs) loads and the fields it does not know
 * read as NULL or 0; a plugin checks host->struct_size before calling a
 * host function newer than the minor it needs.
 *
 * ABI changelog
 *   1.0  first version: stages (on_request, on_response_head,
 *        on_response_body, on_done), detectors (pattern or find(), validate(),
 *        samples), the host table (log, settings, options, counters, timers,
 *        local routes, exchange accessors, detector registry).
 *   1.1  struct apx_detector gains `anchors` (the detector's pre-filter
 *        literals), so the scrubber can skip strings that hold none.
 *        APX_PENDING and apx_host.work_submit / resume: an on_request hook
 *        may hand CPU work to a worker thread and finish later, so one
 *        large body does not hold up every other client.
 *   1.2  struct apx_detector gains `action` (the pipeline file's
 *        `action:` for the detector: pseudonymize, observe or block).
 *        A detector plugin may leave `init` NULL.
 *   1.3  apx_host.block_header: headers on a stage's APX_BLOCK answer
 *        (a spend cap's x-should-retry and retry-after).
 *   2.0  The stage hooks and the detector spec move behind pointers
 *        (apx_plugin.stage, apx_plugin.detector), each struct with its own
 *        struct_size, so that a hook can be added without moving the
 *        fields after it; a smaller struct from an older minor is accepted
 *        (see the versioning rule). New hook on_response_transform with
 *        apx_host.transform_body and transform_emit: a stage may change the
 *        response body as it streams. apx_host.counter_set for gauges;
 *        apx_host.error_set fills a struct apx_error. A detector needs no
 *        init (as since 1.2). struct apx_detector gains `restore` (the
 *        pipeline file's `restore:`, enum apx_restore).
 *
 * Threading: every hook and every host function runs on the core's one
 * event-loop thread, except a detector's find() and validate(), which the
 * scrubber calls from a worker thread: they must only read their state.
 * apx_host.detector_find is the one host function safe on a worker.
 */
#ifndef ANTHROPIC_PROXY_PLUGIN_H
#define ANTHROPIC_PROXY_PLUGIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define APX_ABI_MAJOR 2
#define APX_ABI_MINOR 0

/* The name under which every plugin exports its descriptor. */
#define APX_PLUGIN_SYMBOL "apx_plugin_descriptor"

#if defined(__GNUC__)
#define APX_EXPORT __attribute__((visibility("default")))
#define APX_FORMAT(f, a) __attribute__((format(printf, f, a)))
#else
#define APX_EXPORT
#define APX_FORMAT(f, a)
#endif

/* What a plugin is. */
enum apx_kind {
    APX_KIND_STAGE = 1,     /* hooks into every request (scrubber, metrics...) */
    APX_KIND_DETECTOR = 2,  /* finds one kind of secret for the scrubber */
};

/* What a stage hook decides. */
enum apx_verdict {
    APX_OK = 0,       /* go on with the next stage */
    APX_RESPOND = 1,  /* the stage answered the request (apx_host.respond) */
    APX_RETRY = 2,    /* on_response_head only: discard this answer and send the
                         request again after apx_host.retry_after's delay */
    APX_BLOCK = 3,    /* reject with an Anthropic-shaped error (apx_host.block) */
    APX_PENDING = 4,  /* on_request only, since 1.1: the stage finishes later
                         and then calls apx_host.resume with its verdict */
    APX_ERROR = -1,   /* the stage failed: the client gets a 500 */
};

enum apx_log_level {
    APX_LOG_DEBUG = 0,
    APX_LOG_INFO = 1,
    APX_LOG_WARN = 2,
    APX_LOG_ERROR = 3,
};

/* A detector's tier decides its placeholder (see anthropic-proxy-detectors(7)). */
enum apx_tier {
    APX_TIER_SECRET = 1,      /* <LABEL_N>, numbered within a request */
    APX_TIER_IDENTIFIER = 2,  /* <LABEL_HMAC:XXXXXXXX>, stable across requests */
};

/* What the scrubber does with a detector's findings (the pipeline file's
 * `action:`; see anthropic-proxy-detectors(7)). */
enum apx_action {
    APX_ACTION_PSEUDONYMIZE = 0,  /* replace with a placeholder (the default) */
    APX_ACTION_OBSERVE = 1,       /* count and report; the value is sent as it is */
    APX_ACTION_BLOCK = 2,         /* refuse the request with a 400 */
};

/* Whether the scrubber puts a detector's original values back into the
 * model's tool inputs in the response (the pipeline file's `restore:`; see
 * anthropic-proxy-detectors(7)). */
enum apx_restore {
    APX_RESTORE_TOOL_INPUT = 0,   /* only inside tool_use input (the default) */
    APX_RESTORE_NEVER = 1,        /* placeholders stay everywhere */
};

/* Which listeners a local route answers on. */
#define APX_ROUTE_MAIN      0x1u  /* the HTTPS port */
#define APX_ROUTE_DASHBOARD 0x2u  /* the plain-HTTP dashboard port */

/* Opaque handles. */
struct apx_exchange;  /* one request and its response */
struct apx_config;    /* a plugin's options from the pipeline file */
struct apx_timer;
struct apx_counter;   /* a counter that survives reloads */

/* Where init and setup functions say why they failed. */
struct apx_error {
    char message[256];
};

/* Facts about an ended exchange, for on_done. */
struct apx_done_info {
    uint32_t struct_size;
    int status;                 /* status sent to the client, 0 if none */
    bool local;                 /* answered by a local route or a stage */
    bool client_gone;           /* the client left before the end */
    bool truncated;             /* the upstream failed after the head */
    bool proxy_error;           /* the status was made by the proxy */
    uint64_t bytes_in;          /* request body bytes received */
    uint64_t bytes_out;         /* response body bytes sent */
    double seconds;             /* from the request's arrival to its end */
    double ttfb_seconds;        /* to the response head; < 0 if none */
    unsigned retries;           /* APX_RETRY verdicts acted on */
};

/* Handler of a local route (apx_host.route_add). */
typedef void (*apx_route_fn)(void *arg, struct apx_exchange *ex);
/* Timer callback (apx_host.timer_start). */
typedef void (*apx_timer_fn)(void *arg);
/* Called when the client of a streamed local response goes away. */
typedef void (*apx_cancel_fn)(void *arg, struct apx_exchange *ex);

/*
 * The function table the core lends each plugin at init. Valid until the
 * plugin's fini returns. Functions taking an exchange may only be called
 * while that exchange is alive: inside its hooks, its route handler, or
 * before its cancel callback / on_done.
 */
struct apx_host {
    uint32_t abi_major, abi_minor;
    uint32_t struct_size;         /* sizeof(struct apx_host) of the core */

    /* ---- logging ---- */
    /* Log a line (tagged with the plugin's name). Never log header values of
     * x-api-key or authorization, or request bodies. */
    void (*log)(const struct apx_host *host, enum apx_log_level level,
                const char *fmt, ...) APX_FORMAT(3, 4);
    /* Same, tagged with the exchange's request id. */
    void (*log_ex)(const struct apx_host *host, struct apx_exchange *ex,
                   enum apx_log_level level, const char *fmt, ...) APX_FORMAT(4, 5);

    /* ---- settings and options ---- */
    /* A daemon setting by its short name ("SCRUB_MODE"), as text, written
     * into buf. NULL if there is no such setting. */
    const char *(*setting)(const struct apx_host *host, const char *name,
                           char *buf, size_t size);
    /* The plugin's options from the pipeline file. A key may be a dotted
     * path into nested mappings ("samples.match"). A missing key gives
     * `def`. The number and boolean getters return -1 (and fill err) when
     * the value is there but not of the asked type or outside [min, max]. */
    const char *(*opt_string)(const struct apx_config *cfg, const char *key,
                              const char *def);
    int (*opt_int)(const struct apx_config *cfg, const char *key, int64_t def,
                   int64_t min, int64_t max, int64_t *out, struct apx_error *err);
    int (*opt_double)(const struct apx_config *cfg, const char *key, double def,
                      double min, double max, double *out, struct apx_error *err);
    int (*opt_bool)(const struct apx_config *cfg, const char *key, bool def,
                    bool *out, struct apx_error *err);
    /* A list option: its length, and its i-th element as text (NULL past
     * the end). A scalar counts as a list of one. */
    size_t (*opt_list_len)(const struct apx_config *cfg, const char *key);
    const char *(*opt_list_item)(const struct apx_config *cfg, const char *key, size_t i);

    /* ---- counters that survive reloads ---- */
    /* The counter named `name` (Prometheus-style, labels included, e.g.
     * `scrub_hits_total{detector="email"}`), created at 0 the first time.
     * The same name gives the same counter in every generation. NULL when
     * the counter table is full. */
    struct apx_counter *(*counter)(const struct apx_host *host, const char *name);
    void (*counter_add)(struct apx_counter *c, uint64_t n);
    uint64_t (*counter_get)(const struct apx_counter *c);
    /* Visit every counter whose name starts with `prefix` ("" for all). */
    void (*counter_each)(const struct apx_host *host, const char *prefix,
                         void (*fn)(void *arg, const char *name, uint64_t value),
                         void *arg);

    /* ---- timers ---- */
    /* Call fn(arg) after `ms` milliseconds (once). Cancelled by timer_stop
     * or when the plugin's generation is finalised. */
    struct apx_timer *(*timer_start)(const struct apx_host *host, uint64_t ms,
                                     apx_timer_fn fn, void *arg);
    void (*timer_stop)(struct apx_timer *t);

    /* ---- local routes ---- */
    /* Answer `method path` (exact path, query ignored) on the listeners in
     * `ports` with `fn`. Only during init. -1 if the route is taken. */
    int (*route_add)(const struct apx_host *host, const char *method, const char *path,
                     unsigned ports, apx_route_fn fn, void *arg);

    /* ---- the exchange: request ---- */
    uint64_t (*ex_id)(struct apx_exchange *ex);
    const char *(*ex_method)(struct apx_exchange *ex);
    const char *(*ex_path)(struct apx_exchange *ex);     /* path and query */
    size_t (*ex_header_count)(struct apx_exchange *ex);
    /* The i-th request header (names lower-case); -1 past the end. */
    int (*ex_header)(struct apx_exchange *ex, size_t i, const char **name,
                     const char **value);
    /* First request header named `name` (lower-case), or NULL. */
    const char *(*ex_header_get)(struct apx_exchange *ex, const char *name);
    /* Replace (or add) a request header sent upstream; value NULL removes it.
     * on_request only. */
    int (*ex_header_set)(struct apx_exchange *ex, const char *name, const char *value);
    /* The whole request body (read before on_request runs). */
    const uint8_t *(*ex_body)(struct apx_exchange *ex, size_t *len);
    /* Replace the request body (copied); Content-Length follows. on_request
     * only. */
    int (*ex_body_replace)(struct apx_exchange *ex, const uint8_t *data, size_t len);

    /* ---- the exchange: response ---- */
    int (*ex_status)(struct apx_exchange *ex);         /* 0 before the head */
    size_t (*ex_resp_header_count)(struct apx_exchange *ex);
    int (*ex_resp_header)(struct apx_exchange *ex, size_t i, const char **name,
                          const char **value);
    const char *(*ex_resp_header_get)(struct apx_exchange *ex, const char *name);

    /* ---- per-exchange plugin storage ---- */
    /* A pointer-sized slot for this plugin in this exchange, NULL at first.
     * Free what you put there in on_done, which always runs. */
    void **(*ex_slot)(const struct apx_host *host, struct apx_exchange *ex);

    /* ---- answering ---- */
    /* A complete local answer (route handlers, or before APX_RESPOND). */
    int (*respond)(struct apx_exchange *ex, int status, const char *content_type,
                   const void *body, size_t len);
    /* A streamed local answer (route handlers): start, write, end. `cancel`
     * is called if the client leaves first, or when the proxy shuts down
     * (the core then ends the stream itself); after it, stop writing and do
     * not call stream_end. stream_write returns -1 when the client is more
     * than 1 MiB behind (it stopped reading): end the stream then. */
    int (*stream_start)(struct apx_exchange *ex, int status, const char *content_type,
                        apx_cancel_fn cancel, void *arg);
    int (*stream_write)(struct apx_exchange *ex, const void *data, size_t len);
    void (*stream_end)(struct apx_exchange *ex);
    /* Before returning APX_BLOCK: the status and Anthropic error type and
     * message the client gets. */
    void (*block)(struct apx_exchange *ex, int status, const char *type,
                  const char *message);
    /* Before returning APX_RETRY: wait this long before sending again. */
    void (*retry_after)(struct apx_exchange *ex, uint64_t ms);
    /* Has the client already received bytes of this response? (no retry then) */
    bool (*ex_response_started)(struct apx_exchange *ex);

    /* ---- the detector registry (for the scrubber stage) ---- */
    size_t (*detector_count)(const struct apx_host *host);
    /* The i-th enabled detector in priority order (lowest first). */
    const struct apx_detector *(*detector_get)(const struct apx_host *host, size_t i);
    /* Find the detector's next match in text[start..len): 1 and the span
     * [*mstart, *mend) of what to replace; 0 if none; -1 on error. Uses the
     * detector's pattern (PCRE2, JIT) or its find(), then its validate(). */
    int (*detector_find)(const struct apx_detector *d, const char *text, size_t len,
                         size_t start, size_t *mstart, size_t *mend);

    /* ---- the running configuration ---- */
    /* The configuration revision of the calling plugin's generation: 1 at
     * start, +1 at every successful reload. */
    uint64_t (*revision)(const struct apx_host *host);
    /* The i-th plugin of the generation (stages in pipeline order, then
     * detectors): 0, or -1 past the end. */
    int (*plugin_info)(const struct apx_host *host, size_t i, const char **name,
                       const char **version, enum apx_kind *kind);
    /* The last reload's result: "ok at 2026-11-23T12:00:00Z", "failed at
     * ...: reason", or "started at ...". */
    const char *(*last_reload)(const struct apx_host *host);
    /* Seconds since the supervisor started (it outlives core restarts). */
    double (*uptime)(const struct apx_host *host);

    /* ---- since 1.1: work off the event loop ---- */
    /* Run work(arg) on one of the core's worker threads, then done(arg) on
     * the loop thread. `work` may call no host function but detector_find.
     * 0, or -1 if no worker can take it (do the work inline then). */
    int (*work_submit)(const struct apx_host *host, void (*work)(void *arg),
                       void (*done)(void *arg), void *arg);
    /* Finish an on_request hook that returned APX_PENDING, with the verdict
     * it would have returned (APX_OK, APX_RESPOND, APX_BLOCK, APX_ERROR);
     * loop thread only, exactly once. Until then the exchange stays alive,
     * its body unchanged, even if the client leaves; ex_body_replace,
     * respond and block may be called before resume as inside the hook. */
    void (*resume)(struct apx_exchange *ex, int verdict);

    /* ---- since 1.3 ---- */
    /* Before returning APX_BLOCK (after apx_host.block): add a header to the
     * answer, such as `x-should-retry: false` or `retry-after: 3600`. At
     * most APX_BLOCK_HEADERS of them; names are lower-case, at most 31
     * bytes, values at most 95; others are dropped. */
    void (*block_header)(struct apx_exchange *ex, const char *name, const char *value);

    /* ---- since 2.0 ---- */
    /* Set a counter to a value (a gauge: queue lengths, bytes held). */
    void (*counter_set)(struct apx_counter *c, uint64_t value);
    /* Fill err with a printf-style message (truncated to fit); for init,
     * setup and the option getters' callers. */
    void (*error_set)(struct apx_error *err, const char *fmt, ...) APX_FORMAT(2, 3);
    /* In on_response_head only: this stage will transform this response's
     * body (its on_response_transform gets every piece). The core then
     * sends the response without content-length and frames the body itself
     * (chunked on HTTP/1.1, DATA frames on h2); content-encoding is passed
     * as it is, so transform only a body you can read (narrow the request's
     * accept-encoding in on_request). 0, or -1 outside on_response_head, or
     * if the stage has no on_response_transform. */
    int (*transform_body)(const struct apx_host *host, struct apx_exchange *ex);
    /* In on_response_transform only: bytes for the client (or for the stage
     * before this one in the pipeline, whose transform gets them next).
     * Copied. 0, or -1 when out of memory (the response is then cut). */
    int (*transform_emit)(struct apx_exchange *ex, const void *data, size_t len);
};

#define APX_BLOCK_HEADERS 4

/* A loaded detector as the registry shows it. */
struct apx_detector {
    const char *name;         /* "anthropic_key" */
    const char *label;        /* "ANTHROPIC_KEY" */
    enum apx_tier tier;
    int priority;             /* lower runs first; overlaps go to the earlier */
    /* the spec's anchors after setup (NULL: none, scan always) */
    const char *const *anchors;
    /* what the scrubber does with this detector's findings */
    enum apx_action action;
    /* since 2.0: whether its values are restored in tool inputs */
    enum apx_restore restore;
};

/* How a detector finds its secret. */
struct apx_detector_spec {
    uint32_t struct_size;     /* sizeof(struct apx_detector_spec) of the plugin */
    const char *label;        /* placeholder label, [A-Z0-9_]+ */
    enum apx_tier tier;
    int priority;             /* default; the pipeline file may override it */
    /* Either a PCRE2 pattern (UTF-8 mode, compiled with JIT by the host) ...
     * If it has a group named `secret`, only that group is replaced
     * ("Bearer (?<secret>...)" keeps the word Bearer). */
    const char *pattern;
    /* ... or a matcher of its own: 1 and the span to replace, 0 if none. */
    int (*find)(void *state, const char *text, size_t len, size_t start,
                size_t *mstart, size_t *mend);
    /* Optional second look at a pattern's match (length, checksum, charset):
     * 1 keep, 0 drop. */
    int (*validate)(void *state, const char *match, size_t len);
    /* Literal strings one of which every match contains ("sk-ant-"; for
     * find(), the text up to the end of its span: "://" before a URL's
     * password), for the scrubber's pre-filter, which runs a detector only
     * on strings holding one; NULL-terminated; NULL means "scan always". */
    const char *const *anchors;
    /* Samples checked at every load: each of `must_match` must be found (the
     * whole sample's secret part), none of `must_not_match`. NULL-terminated. */
    const char *const *must_match;
    const char *const *must_not_match;
};

/* Hooks of a stage; NULL hooks are skipped. */
struct apx_stage_hooks {
    uint32_t struct_size;     /* sizeof(struct apx_stage_hooks) of the plugin */
    /* The request is complete (body read). Runs in pipeline order. */
    int (*on_request)(void *state, struct apx_exchange *ex);
    /* The upstream's response head arrived, nothing sent to the client yet.
     * Runs in reverse pipeline order. May return APX_RETRY. */
    int (*on_response_head)(void *state, struct apx_exchange *ex);
    /* Each piece of the response body as it goes to the client (after
     * every transform). */
    void (*on_response_body)(void *state, struct apx_exchange *ex,
                             const uint8_t *data, size_t len);
    /* The exchange ended, whatever the reason. Always runs once for every
     * exchange whose on_request ran (and for local routes). */
    void (*on_done)(void *state, struct apx_exchange *ex, const struct apx_done_info *info);
    /* Since 2.0: the response body of an exchange whose on_response_head
     * called apx_host.transform_body, in reverse pipeline order (a later
     * stage's output is an earlier one's input): each piece as it comes,
     * then once with end true (len 0: the body is over, or cut: emit
     * everything still held). Emit zero or more bytes per call with
     * apx_host.transform_emit; hold back at most a bounded amount. 0, or
     * -1: the stage failed, and the client sees the response cut. */
    int (*on_response_transform)(void *state, struct apx_exchange *ex, const uint8_t *data,
                                 size_t len, bool end);
};

/* The descriptor every plugin exports as APX_PLUGIN_SYMBOL. */
struct apx_plugin {
    /* Version fields first: the loader reads nothing else before checking
     * them. Set them with APX_PLUGIN_HEADER. */
    uint32_t abi_major, abi_minor;
    uint32_t struct_size;        /* sizeof(struct apx_plugin) of the plugin */
    uint32_t kind;               /* enum apx_kind */
    const char *name;            /* unique, [a-z0-9_]+ */
    const char *version;         /* the plugin's own version */
    const char *description;     /* one line */

    /* Called once per generation. `state` is the plugin's to set; on
     * failure return -1 with err filled: the generation is not used.
     * Required of stages; a detector without state leaves it NULL (its
     * find() and validate() then get a NULL state). */
    int (*init)(const struct apx_host *host, const struct apx_config *cfg,
                void **state, struct apx_error *err);
    /* Called when the generation ends (its last exchange finished). */
    void (*fini)(void *state);

    /* APX_KIND_STAGE: the hooks (required of a stage). */
    const struct apx_stage_hooks *stage;

    /* APX_KIND_DETECTOR: the defaults (required of a detector). `setup`,
     * if set, runs after init and may change the host's copy of the spec
     * it is given (the generic regex plugin fills it from its options). */
    const struct apx_detector_spec *detector;
    int (*setup)(void *state, struct apx_detector_spec *spec, struct apx_error *err);
};

#define APX_PLUGIN_HEADER \
    .abi_major = APX_ABI_MAJOR, .abi_minor = APX_ABI_MINOR, \
    .struct_size = sizeof(struct apx_plugin)

#ifdef __cplusplus
}
#endif

#endif
