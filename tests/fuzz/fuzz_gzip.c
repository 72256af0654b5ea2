/*
 * fuzz_gzip: arbitrary bytes through usage_gunzip, the metrics stage's way
 * into gzip- or zlib-encoded JSON answers, then through usage_from_json as
 * the stage reads the inflated body.
 *
 * Checked on every input, even under NDEBUG:
 * - a success never returns more than max_out bytes, and is the same
 *   output however often it is asked (no state kept between calls);
 * - the limit is a limit, not a guess: the same input with a limit below
 *   the output's length is refused, with one byte to spare it is accepted
 *   with the same bytes;
 * - a refusal leaves *out untouched (the caller frees nothing).
 *
 * Inputs that start like gzip (1f) or zlib (78) go in as they are. Any other
 * first byte picks a format and level, the rest is compressed here and must
 * come back byte for byte; every strict prefix of the compressed bytes
 * (a truncated body) must be refused. zlib itself is not instrumented, so
 * without this round trip the fuzzer rarely builds a valid stream at all.
 * Independent of metrics.c: it links usage.c alone.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "usage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

/* Small enough that bombs hit it quickly, large enough for real answers. */
#define MAX_OUT (256 * 1024)

static uint8_t sentinel;

static int inflate_into(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                        size_t *outlen)
{
    *out = &sentinel;
    *outlen = (size_t)-1;
    int rv = usage_gunzip(in, len, max_out, out, outlen);
    CHECK(rv == 0 || rv == -1);
    if (rv == 0)
        CHECK(*out != &sentinel && *outlen <= max_out);
    else
        CHECK(*out == &sentinel && *outlen == (size_t)-1);
    return rv;
}

static void check_limit(const uint8_t *in, size_t len, const uint8_t *want, size_t want_len)
{
    uint8_t *out;
    size_t outlen;

    if (want_len > 0)
        CHECK(inflate_into(in, len, want_len - 1, &out, &outlen) == -1);
    CHECK(inflate_into(in, len, want_len + 1, &out, &outlen) == 0);
    CHECK(outlen == want_len && memcmp(out, want, want_len) == 0);
    free(out);
}

static void check_raw(const uint8_t *data, size_t size);

/* plain through deflate (gzip or zlib wrapper): *out malloc'd */
static size_t compress_to(const uint8_t *plain, size_t len, int level, bool gzip, uint8_t **out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    CHECK(deflateInit2(&zs, level, Z_DEFLATED, gzip ? 15 + 16 : 15, 8,
                       Z_DEFAULT_STRATEGY) == Z_OK);
    size_t cap = deflateBound(&zs, (uLong)len) + 32;
    *out = malloc(cap);
    CHECK(*out != NULL);
    zs.next_in = (Bytef *)plain;
    zs.avail_in = (uInt)len;
    zs.next_out = *out;
    zs.avail_out = (uInt)cap;
    CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    return n;
}

static void round_trip(uint8_t how, const uint8_t *plain, size_t len)
{
    uint8_t *z, *out;
    size_t outlen;
    size_t zlen = compress_to(plain, len, how % 10, (how & 0x10) != 0, &z);

    if (len <= MAX_OUT) {
        CHECK(inflate_into(z, zlen, MAX_OUT, &out, &outlen) == 0);
        CHECK(outlen == len && memcmp(out, plain, len) == 0);
        free(out);
    }
    /* a body cut short is refused wherever it is cut (a few cuts per input) */
    for (size_t k = 0; k < 4 && zlen > 0; k++) {
        size_t seed = len ? plain[k % len] : 0;
        size_t cut = (seed * 131u + k * 977u) % zlen;
        CHECK(inflate_into(z, cut, MAX_OUT, &out, &outlen) == -1);
    }
    check_raw(z, zlen);
    free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] != 0x1f && data[0] != 0x78) {
        round_trip(data[0], data + 1, size - 1);
        return 0;
    }
    check_raw(data, size);
    return 0;
}

static void check_raw(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so a read past the end is seen */
    uint8_t *in = malloc(size ? size : 1);
    uint8_t *out, *again;
    size_t outlen, again_len;

    CHECK(in != NULL);
    if (size)
        memcpy(in, data, size);
    if (inflate_into(in, size, MAX_OUT, &out, &outlen) == 0) {
        CHECK(inflate_into(in, size, MAX_OUT, &again, &again_len) == 0);
        CHECK(again_len == outlen && memcmp(again, out, outlen) == 0);
        free(again);
        check_limit(in, size, out, outlen);

        struct usage u;
        memset(&u, 0, sizeof u);
        usage_from_json((const char *)out, outlen, &u);
        CHECK(memchr(u.model, '\0', sizeof u.model) != NULL);
        free(out);
    }
    free(in);
}
