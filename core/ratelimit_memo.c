/*
 * ratelimit_memo: per credential, the last anthropic-ratelimit-unified-*
 * headers the upstream sent (see ratelimit_memo.h).
 *
 * A credential is known only by the SHA-256 of its header values: the memo
 * never keeps a key or a token, and never hands one credential's plan usage
 * to another (a shared proxy serves many accounts). Bounded: MEMO_SLOTS
 * credentials, the least recently seen one giving way, MEMO_BYTES of
 * headers each. Loop thread only.
 */
#include "config.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit_memo.h"

#define MEMO_SLOTS 256
#define MEMO_BYTES 2048
#define PREFIX "anthropic-ratelimit-unified-"

struct memo_slot {
    unsigned char key[32];
    uint64_t used;            /* 0: empty; else the clock of its last use */
    size_t len;
    char headers[MEMO_BYTES]; /* name NUL value NUL, ... */
};

static struct memo_slot *slots;
static uint64_t clock_now;

/* The credential's digest; false if the request carries none. */
static bool credential_key(const struct header_list *req, unsigned char key[32])
{
    static const char *const names[] = { "x-api-key", "authorization" };
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool any = false;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        goto fail;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = header_list_get(req, names[i]);
        if (!v)
            continue;
        any = true;
        if (EVP_DigestUpdate(md, names[i], strlen(names[i]) + 1) != 1 ||
            EVP_DigestUpdate(md, v, strlen(v) + 1) != 1)
            goto fail;
    }
    if (!any || EVP_DigestFinal_ex(md, key, NULL) != 1)
        goto fail;
    EVP_MD_CTX_free(md);
    return true;
fail:
    EVP_MD_CTX_free(md);
    return false;
}

static struct memo_slot *find(const unsigned char key[32])
{
    for (size_t i = 0; i < MEMO_SLOTS; i++)
        if (slots[i].used && memcmp(slots[i].key, key, 32) == 0)
            return &slots[i];
    return NULL;
}

/* The empty or least recently used slot. */
static struct memo_slot *victim(void)
{
    struct memo_slot *v = &slots[0];
    for (size_t i = 1; i < MEMO_SLOTS && v->used; i++)
        if (slots[i].used < v->used)
            v = &slots[i];
    return v;
}

void ratelimit_memo_learn(const struct header_list *req, const struct header_list *resp)
{
    char buf[MEMO_BYTES];
    size_t len = 0;
    for (size_t i = 0; i < resp->n; i++) {
        const char *n = header_name(resp, i), *v = header_value(resp, i);
        if (strncmp(n, PREFIX, sizeof PREFIX - 1) != 0)
            continue;
        size_t nl = strlen(n) + 1, vl = strlen(v) + 1;
        if (len + nl + vl > sizeof buf)
            break; /* keep what fits: the rest is not worth a refusal */
        memcpy(buf + len, n, nl);
        memcpy(buf + len + nl, v, vl);
        len += nl + vl;
    }
    unsigned char key[32];
    if (len == 0 || !credential_key(req, key))
        return;
    if (!slots && !(slots = calloc(MEMO_SLOTS, sizeof *slots)))
        return;
    struct memo_slot *s = find(key);
    if (!s) {
        s = victim();
        memcpy(s->key, key, sizeof key);
    }
    s->used = ++clock_now;
    memcpy(s->headers, buf, len);
    s->len = len;
}

int ratelimit_memo_recall(const struct header_list *req, struct header_list *out)
{
    unsigned char key[32];
    struct memo_slot *s;
    if (!slots || !credential_key(req, key) || !(s = find(key)))
        return 0;
    s->used = ++clock_now;
    for (size_t o = 0; o < s->len;) {
        const char *n = s->headers + o;
        const char *v = n + strlen(n) + 1;
        if (header_list_add_lc(out, n, strlen(n), v, strlen(v)) < 0)
            return -1;
        o = (size_t)(v + strlen(v) + 1 - s->headers);
    }
    return 0;
}
