/*
 * ratelimit_memo: the anthropic-ratelimit-unified-* headers (a subscription's
 * plan usage, which Claude Code displays) the upstream last sent to each
 * credential, so that the proxy's own refusals (429, 503, 529) carry them too.
 */
#ifndef APX_RATELIMIT_MEMO_H
#define APX_RATELIMIT_MEMO_H

#include "http.h"

/* Remember the unified-* headers of an upstream answer `resp` to a request
 * with headers `req`. A request without x-api-key or Authorization, or an
 * answer without unified-* headers, changes nothing. */
void ratelimit_memo_learn(const struct header_list *req, const struct header_list *resp);

/* Add to `out` the unified-* headers last learnt for the credential of
 * `req`; nothing if none were. Returns 0, or -1 out of memory. */
int ratelimit_memo_recall(const struct header_list *req, struct header_list *out);

#endif
