/*
 * stages: the calls into a generation's stage hooks for one exchange.
 * Loading the plugins is generation.c's; the table they are lent, host.c's.
 */
#ifndef APX_STAGES_H
#define APX_STAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <anthropic-proxy/plugin.h>

struct exchange;

/* Hook runners used by the exchange. */
enum apx_verdict stages_on_request(struct exchange *ex);
enum apx_verdict stages_on_response_head(struct exchange *ex);
/* Only the on_request hook of the stage `name` (anthropic-proxy scrub): its
 * verdict, or -2 if the generation has no such stage. */
int stages_run_one_on_request(struct exchange *ex, const char *name);
void stages_on_response_body(struct exchange *ex, const uint8_t *data, size_t len);
void stages_on_done(struct exchange *ex, const struct apx_done_info *info);

/* The response transform. stages_transform_add: stage `stage` (its index
 * in the pipeline) transforms this exchange's response body (0, or -1 out
 * of memory or past the 64th stage). stages_transform_emit: the running
 * transform hook's output (0, or -1 outside one, out of memory, or past
 * TRANSFORM_EMIT_MAX bytes for one piece). stages_on_response_transform:
 * run one piece (end: the last call, len 0) through the transforming
 * stages, last in the pipeline first; *out and *outlen are what goes to the
 * client (valid until the next call). 0, or -1 when a stage failed.
 * stages_transform_free: at the end of the exchange, or when a retry
 * discards the response. */
#define TRANSFORM_EMIT_MAX (64u << 20)
int stages_transform_add(struct exchange *ex, size_t stage);
int stages_transform_emit(struct exchange *ex, const void *data, size_t len);
int stages_on_response_transform(struct exchange *ex, const uint8_t *data, size_t len, bool end,
                                 const uint8_t **out, size_t *outlen);
void stages_transform_free(struct exchange *ex);

#endif
