/*
 * developers: who sent a request, without reading its body. The
 * developers file (developers.yaml, see anthropic-proxy-developers(5))
 * maps the SHA-256 fingerprint of each API key or token to a developer and
 * a team, and carries the spend caps (USD per UTC day and month) of
 * developers, teams and a default. The proxy never stores a key: only its
 * fingerprint is computed, compared, and (its first 8 hex digits) shown.
 */
#ifndef APX_DEVELOPERS_H
#define APX_DEVELOPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEV_NAME_MAX 32  /* with the label names, a counter name stays under 120 bytes */

/* Caps in nano-dollars; 0 means none. */
struct spend_caps {
    int64_t daily, monthly;
};

struct developer {
    char name[DEV_NAME_MAX], team[DEV_NAME_MAX];
    unsigned char sha256[32];
    struct spend_caps caps;
    bool has_caps;
};

struct team {
    char name[DEV_NAME_MAX];
    struct spend_caps caps;
};

struct developers {
    struct developer *d;
    size_t n;
    struct team *t;
    size_t nt;
    struct spend_caps default_caps;   /* a developer without caps of their own */
};

/* Read and check `path`: 0, or -1 with "FILE:LINE:COL: what; expected what"
 * in err. A missing file is an empty table (everyone unknown), 1. */
int developers_load(const char *path, struct developers *t, char *err, size_t errlen);
int developers_parse(const char *name, const char *text, size_t len, struct developers *t,
                     char *err, size_t errlen);
void developers_free(struct developers *t);

/* The developer whose fingerprint is `sha256`, or NULL. */
const struct developer *developers_find(const struct developers *t,
                                        const unsigned char sha256[32]);
/* The team named `name`, or NULL. */
const struct team *developers_team(const struct developers *t, const char *name);

/* SHA-256 of a credential as 64 lower-case hex digits plus NUL. */
void developers_fingerprint(const char *credential, size_t len, unsigned char out[32],
                            char hex[65]);

#endif
