/*
 * tls: OpenSSL contexts for the HTTPS port (server) and the upstream
 * (client). Policy lives here and only here: TLS 1.2 and 1.3, forward-secret
 * ciphers, ALPN h2 and http/1.1 on the front, h2 towards the upstream, peer
 * verification always on for the upstream.
 */
#ifndef APX_TLS_H
#define APX_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* A server context with this certificate chain and key. NULL with a
 * message naming the file and the problem. */
SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, char *err,
                        size_t errlen);

/* A client context trusting the system store and, if not empty, ca_file. */
SSL_CTX *tls_client_ctx(const char *ca_file, char *err, size_t errlen);

/* Make the server's ALPN choose http/1.1 (or nothing) for this connection
 * even if the client offers h2: for answers written as HTTP/1.1 text. */
void tls_force_http1(SSL *ssl);

#endif
