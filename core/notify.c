/*
 * notify: sd_notify(3)'s protocol without libsystemd.
 *
 * One AF_UNIX datagram per message to $NOTIFY_SOCKET: a path, or an
 * abstract name written with a leading '@'. Messages are short and the
 * socket is non-blocking: if systemd's queue is full the message is lost
 * rather than the supervisor stalled (systemd then times the job out,
 * which is the documented failure mode).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "notify.h"

static struct sockaddr_un notify_addr;
static socklen_t notify_len;   /* 0: no service manager listening */

void notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    notify_len = 0;
    if (!path || !*path)
        return;
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof notify_addr.sun_path) {
        log_warn("NOTIFY_SOCKET=%s is not a socket path: not notifying the service manager", path);
    } else {
        memset(&notify_addr, 0, sizeof notify_addr);
        notify_addr.sun_family = AF_UNIX;
        memcpy(notify_addr.sun_path, path, n);
        if (path[0] == '@')
            notify_addr.sun_path[0] = '\0'; /* abstract: no terminating NUL counted */
        notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                                 (path[0] == '/' ? 1 : 0));
    }
    unsetenv("NOTIFY_SOCKET");
}

unsigned long long notify_monotonic_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
}

void notify_send(const char *fmt, ...)
{
    if (!notify_len)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    /* a new socket per message: nothing to keep open across forks */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return;
    if (sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&notify_addr, notify_len) < 0)
        log_debug("cannot notify the service manager: %s", strerror(errno));
    close(fd);
}
