/*
 * tls_bio: see tls_bio.h. Per thread, although only the loop's thread
 * makes TLS calls: nothing is shared across threads.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <openssl/bio.h>

#include "tls_bio.h"

static _Thread_local BIO_METHOD *method;
static _Thread_local BIO *shared;  /* holds one reference of its own */
static _Thread_local int current_fd = -1;
static _Thread_local bool at_eof;  /* the last read found the end of input */

static bool would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

static int bio_write(BIO *b, const char *data, int len)
{
    BIO_clear_retry_flags(b);
    if (current_fd < 0) {
        errno = EBADF;
        return -1;
    }
    ssize_t n = send(current_fd, data, (size_t)len, MSG_NOSIGNAL);
    if (n < 0 && would_block())
        BIO_set_retry_write(b);
    return (int)n;
}

static int bio_read(BIO *b, char *buf, int len)
{
    BIO_clear_retry_flags(b);
    at_eof = false;
    if (current_fd < 0) {
        errno = EBADF;
        return -1;
    }
    ssize_t n = recv(current_fd, buf, (size_t)len, 0);
    if (n < 0 && would_block())
        BIO_set_retry_read(b);
    else if (n == 0)
        at_eof = true; /* OpenSSL asks (BIO_CTRL_EOF) to tell a cut from a close */
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* nothing is buffered here */
    case BIO_CTRL_EOF:
        return at_eof;
    default:
        return 0; /* as a socket BIO: no kTLS, nothing pending */
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO *shared_bio(void)
{
    if (shared)
        return shared;
    if (!method) {
        method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "anthropic-proxy socket");
        if (!method || !BIO_meth_set_write(method, bio_write) ||
            !BIO_meth_set_read(method, bio_read) || !BIO_meth_set_ctrl(method, bio_ctrl) ||
            !BIO_meth_set_create(method, bio_create)) {
            BIO_meth_free(method);
            method = NULL;
            return NULL;
        }
    }
    shared = BIO_new(method);
    return shared;
}

int tls_bio_attach(SSL *ssl)
{
    BIO *b = shared_bio();
    if (!b || !BIO_up_ref(b))
        return -1;
    SSL_set_bio(ssl, b, b); /* takes the one reference */
    return 0;
}

void tls_bio_use(int fd)
{
    current_fd = fd;
}
