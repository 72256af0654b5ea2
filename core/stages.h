/*
 * stages: the calls into a generation's stage hooks for one exchange.
 * Loading the plugins is generation.c's; the table they are lent, host.c's.
 */
#ifndef APX_STAGES_H
#define APX_STAGES_H

#include <stddef.h>

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

#endif
