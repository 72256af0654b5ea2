/*
 * restore_stage: the scrubber stage's response side. For a request whose
 * body got placeholders, it keeps the request's map (only detectors with
 * `restore: tool_input`), narrows the request's accept-encoding to identity
 * so the answer comes readable, and puts the originals back into the
 * answer's tool_use input as it streams (restore.c does the work), then
 * counts and logs per detector, never a value.
 */
#ifndef APX_RESTORE_STAGE_H
#define APX_RESTORE_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <anthropic-proxy/plugin.h>

#include "scrub.h"

struct restorer;

/* A restorer over the generation's detectors, in the registry's order (the
 * scrubber engine's too; their `restore` says which take part). *out is
 * NULL when none does (nothing to restore, no hook work); 0, or -1 with err
 * filled (out of memory, or the counter table is full). */
int restorer_new(const struct apx_host *host, struct restorer **out, struct apx_error *err);
void restorer_free(struct restorer *r);

/* After a request body was rewritten: keep the map of its placeholders
 * (of restoring detectors) for the response, in the exchange's slot. */
void restorer_keep(struct restorer *r, struct apx_exchange *ex, const struct scrub_result *res);

/* The stage hooks of the response side (NULL r: nothing to do). */
int restorer_on_response_head(struct restorer *r, struct apx_exchange *ex);
int restorer_on_transform(struct restorer *r, struct apx_exchange *ex, const uint8_t *data,
                          size_t len, bool end);
void restorer_on_done(struct restorer *r, struct apx_exchange *ex);

#endif
