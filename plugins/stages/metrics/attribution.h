/*
 * attribution: who sent a request and as part of what, from its headers
 * alone (never its body): the developer and team of its credential's
 * fingerprint, Claude Code's session, request class and prompt id, the
 * client's request id and retry attempt, its version; and the upstream's
 * request-id. Values are ids: kept bounded, printable, never a credential.
 */
#ifndef APX_ATTRIBUTION_H
#define APX_ATTRIBUTION_H

#include <anthropic-proxy/plugin.h>

#include "developers.h"

#define WHO_ID_MAX 72

struct who {
    char developer[DEV_NAME_MAX];     /* a name, or unknown:<8 hex> */
    char team[DEV_NAME_MAX];          /* a team, or "unknown" */
    char session[WHO_ID_MAX];         /* x-claude-code-session-id */
    char prompt_id[WHO_ID_MAX];       /* x-claude-code-prompt-id */
    char request_class[24];           /* x-claude-code-request-class, or "" */
    char client_request_id[WHO_ID_MAX];
    char request_id[WHO_ID_MAX];      /* the upstream's request-id */
    char client_version[32];          /* claude-cli/<version>, or the UA's first product */
    int client_retry;                 /* x-stainless-retry-count; -1 if absent */
    const struct developer *dev;      /* valid in this generation only; NULL if unknown */
};

/* Fill w from the request's headers and the generation's developers. */
void who_identify(const struct apx_host *h, struct apx_exchange *ex,
                  const struct developers *devs, struct who *w);
/* Take the upstream's request-id from the response head. */
void who_response(const struct apx_host *h, struct apx_exchange *ex, struct who *w);

/* The request class as a bounded label: one of Claude Code's five
 * classes, "none" when not sent, "other" for anything else. */
const char *who_class_label(const struct who *w);

#endif
