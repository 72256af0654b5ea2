/*
 * tls_bio: the one OpenSSL BIO every TLS connection reads and writes its
 * socket through.
 *
 * SSL_set_fd gives each connection a socket BIO of its own, about 200
 * bytes with its lock, held for the connection's life. But OpenSSL only
 * touches its BIO inside the SSL calls made for that connection, and
 * transport.c makes every one of them, on the loop's thread, knowing the
 * socket: so one BIO for all, pointed at the right socket before each
 * call, does the same work. Its per-call state (retry flags, end of
 * input) is read by SSL_get_error right after the call, before the next
 * one can change it.
 */
#ifndef APX_TLS_BIO_H
#define APX_TLS_BIO_H

#include <openssl/ssl.h>

/* Attach the shared BIO to `ssl` (for reading and writing). 0, or -1 when
 * out of memory. */
int tls_bio_attach(SSL *ssl);

/* The socket the SSL calls from now on read and write; -1 for none. */
void tls_bio_use(int fd);

#endif
