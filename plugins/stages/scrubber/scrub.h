/*
 * scrub: the scrubber's engine. It walks a JSON request body, scans every
 * string value (decoded) with the detectors in priority order, and splices
 * placeholders over what they find, leaving every other byte as it was.
 *
 * The engine knows nothing of exchanges, settings or the host: the stage
 * (scrubber.c) feeds it detectors and bodies, the unit tests and the fuzz
 * target feed it their own. It never logs and never keeps a value it found
 * beyond the call that found it.
 */
#ifndef APX_SCRUB_H
#define APX_SCRUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <anthropic-proxy/plugin.h>

/* Bodies nesting deeper than this are refused (SCRUB_TOO_DEEP): walking them
 * needs no recursion, but no real request comes near it. */
#define SCRUB_MAX_DEPTH 10000

/* Length of the HMAC key for identifier placeholders. */
#define SCRUB_KEY_LEN 32

/* Next match of one detector in text[start..len): 1 with [*ms, *me), 0 none,
 * -1 error (apx_host.detector_find has this shape). */
typedef int (*scrub_find_fn)(const void *ctx, const char *text, size_t len, size_t start,
                             size_t *ms, size_t *me);

/* One detector as the engine sees it, in priority order (first wins). */
struct scrub_detector {
    const char *name;
    const char *label;
    enum apx_tier tier;
    const char *const *anchors;  /* literals every match contains; NULL: always run */
    scrub_find_fn find;
    const void *ctx;
    enum apx_action action;      /* pseudonymize (0), observe or block */
};

enum scrub_outcome {
    SCRUB_CLEAN = 0,     /* valid JSON, nothing found: forward the body as it is */
    SCRUB_FOUND = 1,     /* findings; with rewrite, body/body_len hold the new body */
    SCRUB_NOT_JSON = 2,  /* not strict RFC 8259 JSON or not UTF-8: forward unchanged */
    SCRUB_TOO_DEEP = 3,  /* nests deeper than SCRUB_MAX_DEPTH */
    SCRUB_FAILED = -1,   /* out of memory or a detector failed: nothing is known */
};

/* A replaced value: [in_start, in_end) of the input became [out_start,
 * out_end) of the new body (a placeholder). */
struct scrub_span {
    size_t in_start, in_end;
    size_t out_start, out_end;
    uint32_t det;
};

/* One placeholder a body got and the text it replaced: the map the response
 * side puts originals back from (restore.h). */
struct scrub_map_entry {
    const char *placeholder;  /* "<AWS_ACCESS_KEY_1>", NUL-terminated */
    size_t placeholder_len;
    const uint8_t *value;     /* the replaced text, decoded (UTF-8; may hold NUL) */
    size_t value_len;
    uint32_t det;             /* the detector that found it, in engine order */
};

/* What one body gave. Owned by the caller; release with scrub_result_free. */
struct scrub_result {
    enum scrub_outcome outcome;
    uint8_t *body;           /* the scrubbed body (SCRUB_FOUND with rewrite) */
    size_t body_len;
    uint32_t *hits;          /* per detector, in engine order: its findings */
    size_t total;            /* sum of hits */
    size_t replaced;         /* findings of pseudonymize detectors */
    size_t observed;         /* findings of observe detectors (never replaced) */
    size_t blocked;          /* findings of block detectors */
    struct scrub_span *spans; /* with rewrite: the replaced values, in order */
    size_t nspans;
    /* With rewrite: each distinct placeholder of a pseudonymize finding, in
     * order of first appearance (observe and block findings have none); the
     * strings live in map_text, owned with the result. At most one entry
     * per finding. */
    struct scrub_map_entry *map;
    size_t nmap;
    uint8_t *map_text;
    size_t map_text_cap;
    int block_det;           /* the first block finding's detector, or -1 */
    char block_path[208];    /* and its JSON path ("messages[2].content") */
    char summary[768];       /* "github_token 1 at system[0].text; email 2 at ..." */
    char error[160];         /* why, for SCRUB_NOT_JSON / TOO_DEEP / FAILED */
};

struct scrub_engine;

/* Build an engine over `n` detectors (copied; names, labels and anchors must
 * outlive the engine) with the HMAC key for identifier placeholders. NULL on
 * failure, with err filled. */
struct scrub_engine *scrub_engine_new(const struct scrub_detector *dets, size_t n,
                                      const uint8_t key[SCRUB_KEY_LEN], char *err,
                                      size_t errlen);
void scrub_engine_free(struct scrub_engine *e);
size_t scrub_engine_detectors(const struct scrub_engine *e);

/* Scan `body`. With `rewrite`, a body with findings is rebuilt into
 * res->body (the values of pseudonymize and block detectors replaced;
 * observe findings are only counted: they neither change the body nor hide
 * a later detector's overlapping match); without (audit), only counted.
 * Whatever the detectors say, these are never changed (CLAUDE-CODE.md):
 * thinking text, values under keys ending in "signature", redacted_thinking
 * data, cache_control, tool definitions, the first system block when it is
 * Claude Code's attribution block, tool_use and tool_result ids, and the
 * values of the skip-set keys. With rewrite, res->map tells what each
 * placeholder stands for. Returns res->outcome. The engine
 * may be used by one thread at a time per call; it keeps no per-call state. */
enum scrub_outcome scrub_body(const struct scrub_engine *e, const uint8_t *body, size_t len,
                              bool rewrite, struct scrub_result *res);
/* Free what res owns (the map's values are wiped first); res may be reused. */
void scrub_result_free(struct scrub_result *res);

/* Parse 64 hex characters into a key: 0, or -1 if it is not that. */
int scrub_parse_key(const char *hex, uint8_t key[SCRUB_KEY_LEN]);

#endif
