/*
 * attribution: see attribution.h. The credential is hashed where it lies
 * in the header and forgotten; only the fingerprint's first 8 hex digits
 * ever leave this file (in the unknown:<hex> name).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attribution.h"

/* An id header's value: printable id characters only, bounded. */
static void copy_id(const char *v, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = v ? v : ""; *p && o + 1 < size; p++)
        out[o++] = isalnum((unsigned char)*p) || strchr("._:@/-", *p) ? *p : '_';
    out[o] = '\0';
}

/* x-api-key, else the token of "Authorization: Bearer T" (a helper's
 * value may come in both: the key wins, as the API does). */
static const char *credential(const struct apx_host *h, struct apx_exchange *ex, size_t *len)
{
    const char *k = h->ex_header_get(ex, "x-api-key");
    if (k && *k) {
        *len = strlen(k);
        return k;
    }
    const char *a = h->ex_header_get(ex, "authorization");
    if (a && strncasecmp(a, "Bearer ", 7) == 0) {
        a += 7;
        while (*a == ' ')
            a++;
        *len = strlen(a);
        return *len ? a : NULL;
    }
    return NULL;
}

static void client_version(const char *ua, char *out, size_t size)
{
    out[0] = '\0';
    if (!ua)
        return;
    const char *p = strstr(ua, "claude-cli/");
    char buf[64];
    if (p) {
        snprintf(buf, sizeof buf, "%.*s", (int)strcspn(p + 11, " ("), p + 11);
    } else {
        snprintf(buf, sizeof buf, "%.*s", (int)strcspn(ua, " ("), ua);
    }
    copy_id(buf, out, size);
}

void who_identify(const struct apx_host *h, struct apx_exchange *ex,
                  const struct developers *devs, struct who *w)
{
    memset(w, 0, sizeof *w);
    size_t len = 0;
    const char *cred = credential(h, ex, &len);
    unsigned char fp[32];
    char hex[65];
    if (cred) {
        developers_fingerprint(cred, len, fp, hex);
        w->dev = developers_find(devs, fp);
    }
    if (w->dev) {
        snprintf(w->developer, sizeof w->developer, "%s", w->dev->name);
        snprintf(w->team, sizeof w->team, "%s", w->dev->team);
    } else {
        snprintf(w->developer, sizeof w->developer, "unknown:%.8s", cred ? hex : "none");
        snprintf(w->team, sizeof w->team, "unknown");
    }
    copy_id(h->ex_header_get(ex, "x-claude-code-session-id"), w->session, sizeof w->session);
    copy_id(h->ex_header_get(ex, "x-claude-code-prompt-id"), w->prompt_id, sizeof w->prompt_id);
    copy_id(h->ex_header_get(ex, "x-claude-code-request-class"), w->request_class,
            sizeof w->request_class);
    copy_id(h->ex_header_get(ex, "x-client-request-id"), w->client_request_id,
            sizeof w->client_request_id);
    client_version(h->ex_header_get(ex, "user-agent"), w->client_version,
                   sizeof w->client_version);
    const char *rc = h->ex_header_get(ex, "x-stainless-retry-count");
    w->client_retry = rc && isdigit((unsigned char)*rc) ? (int)strtol(rc, NULL, 10) : -1;
    if (w->client_retry > 1000)
        w->client_retry = 1000;
}

void who_response(const struct apx_host *h, struct apx_exchange *ex, struct who *w)
{
    copy_id(h->ex_resp_header_get(ex, "request-id"), w->request_id, sizeof w->request_id);
}

const char *who_class_label(const struct who *w)
{
    static const char *const classes[] = { "main", "subagent", "workflow", "compaction",
                                           "auxiliary", NULL };
    if (!w->request_class[0])
        return "none";
    for (const char *const *c = classes; *c; c++)
        if (strcmp(*c, w->request_class) == 0)
            return *c;
    return "other";
}
