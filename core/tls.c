/*
 * tls: context set-up for both directions.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "tls.h"

/* TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3's are all such. */
static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static void openssl_reason(char *out, size_t size)
{
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(out, size, "%s", r ? r : "unknown OpenSSL error");
    ERR_clear_error();
}

/* The ex_data slot that marks a connection to be answered in HTTP/1.1
 * whatever it offers (a refusal); -1 until first needed. */
static int http1_only_index = -1;

void tls_force_http1(SSL *ssl)
{
    if (http1_only_index < 0)
        http1_only_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (http1_only_index >= 0)
        SSL_set_ex_data(ssl, http1_only_index, (void *)"http/1.1");
}

/* Pick h2 when the client offers it, else http/1.1. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    const unsigned char *h11 = NULL;
    bool h2_ok = http1_only_index < 0 || !SSL_get_ex_data(ssl, http1_only_index);
    for (unsigned i = 0; i < inlen;) {
        unsigned len = in[i];
        if (i + 1 + len > inlen)
            break;
        const unsigned char *proto = in + i + 1;
        if (h2_ok && len == 2 && memcmp(proto, "h2", 2) == 0) {
            *out = proto;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
        if (len == 8 && memcmp(proto, "http/1.1", 8) == 0)
            h11 = proto;
        i += 1 + len;
    }
    if (!h11)
        return SSL_TLSEXT_ERR_NOACK;
    *out = h11;
    *outlen = 8;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *common_ctx(const SSL_METHOD *method)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Idle connections give their read and write buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    char why[200];
    SSL_CTX *ctx = common_ctx(TLS_server_method());
    if (!ctx) {
        openssl_reason(why, sizeof why);
        snprintf(err, errlen, "cannot create a TLS context: %s", why);
        return NULL;
    }
    /* OpenSSL says "unknown error" for a missing file: say what is wrong */
    if (access(cert_file, R_OK) != 0 || access(key_file, R_OK) != 0) {
        bool cert = access(cert_file, R_OK) != 0;
        snprintf(err, errlen, "%s=%s: cannot read it: %s", cert ? "TLS_CERT" : "TLS_KEY",
                 cert ? cert_file : key_file, strerror(errno));
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        openssl_reason(why, sizeof why);
        snprintf(err, errlen, "TLS_CERT=%s: cannot load the certificate: %s", cert_file, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        openssl_reason(why, sizeof why);
        snprintf(err, errlen, "TLS_KEY=%s: cannot load the private key: %s", key_file, why);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "TLS_KEY=%s does not match the certificate in TLS_CERT=%s",
                 key_file, cert_file);
        goto fail;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    /* OpenSSL sends two TLS 1.3 tickets by default; a client (Node's agent, curl)
     * keeps one per host, and each ticket costs an encryption per handshake */
    SSL_CTX_set_num_tickets(ctx, 1);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_client_ctx(const char *ca_file, char *err, size_t errlen)
{
    static const unsigned char alpn[] = "\x02h2";
    char why[200];
    SSL_CTX *ctx = common_ctx(TLS_client_method());
    if (!ctx) {
        openssl_reason(why, sizeof why);
        snprintf(err, errlen, "cannot create a TLS context: %s", why);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        openssl_reason(why, sizeof why);
        snprintf(err, errlen, "cannot load the system CA store: %s", why);
        goto fail;
    }
    if (ca_file && *ca_file && access(ca_file, R_OK) != 0) {
        snprintf(err, errlen, "UPSTREAM_CA_FILE=%s: cannot read it: %s", ca_file, strerror(errno));
        goto fail;
    }
    if (ca_file && *ca_file && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        openssl_reason(why, sizeof why);
        snprintf(err, errlen, "UPSTREAM_CA_FILE=%s: no PEM certificate in it: %s", ca_file, why);
        goto fail;
    }
    if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1) != 0) {
        snprintf(err, errlen, "cannot set ALPN");
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}
