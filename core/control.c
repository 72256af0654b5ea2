/*
 * control: the report pipe's writer, the control socket's listener and its
 * client. The supervisor's side of both (reading, answering) is in
 * supervisor.c, which owns the loop they are polled in.
 */
#define _GNU_SOURCE 1 /* struct ucred */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "control.h"
#include "supervisor.h"

void control_report(const char *word, uint64_t revision, const char *text)
{
    struct stat st;
    /* started by hand, fd 6 is not our pipe: say nothing to it */
    if (fstat(CORE_REPORT_FD, &st) < 0 || !S_ISFIFO(st.st_mode))
        return;
    char line[CONTROL_LINE_MAX];
    int n = snprintf(line, sizeof line, "%s %llu\t", word, (unsigned long long)revision);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    size_t len = (size_t)n;
    /* the text is one field of one line: no separators inside it */
    for (const char *p = text ? text : ""; *p && len < sizeof line - 1; p++)
        line[len++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
    line[len++] = '\n';
    /* at most PIPE_BUF bytes: one atomic write; a full pipe (a supervisor
     * not reading) loses the line rather than stalling the core */
    ssize_t w = write(CORE_REPORT_FD, line, len);
    (void)w;
}

static int fill_addr(const char *path, struct sockaddr_un *sa, char *err, size_t errlen)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path) {
        snprintf(err, errlen, "CONTROL_SOCKET %s: longer than %zu bytes", path,
                 sizeof sa->sun_path - 1);
        return -1;
    }
    strcpy(sa->sun_path, path);
    return 0;
}

int control_listen(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (fill_addr(path, &sa, err, errlen) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto fail;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "CONTROL_SOCKET %s exists and is not a socket", path);
            close(fd);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            snprintf(err, errlen, "CONTROL_SOCKET %s: another supervisor answers there", path);
            close(fd);
            return -1;
        }
        unlink(path); /* left by a supervisor that died */
    }
    /* 0600 whatever the umask: only root and our own user may reload */
    mode_t old = umask(0177);
    int rv = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rv < 0 || listen(fd, 16) < 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "cannot listen on CONTROL_SOCKET %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int control_peer_allowed(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return 0;
    return cred.uid == 0 || cred.uid == geteuid();
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int control_ask(const char *path, const char *request, double timeout, char *answer,
                size_t size, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (fill_addr(path, &sa, err, errlen) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        snprintf(err, errlen, "cannot reach the supervisor at %s: %s (is it running?)", path,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[64];
    int n = snprintf(req, sizeof req, "%s\n", request);
    if (write(fd, req, (size_t)n) != n) {
        snprintf(err, errlen, "cannot write to %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    size_t got = 0;
    double deadline = mono_now() + timeout;
    answer[0] = '\0';
    while (got + 1 < size) {
        double left = deadline - mono_now();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) == 0) {
            snprintf(err, errlen, "no answer from the supervisor within %.0f s", timeout);
            close(fd);
            return -1;
        }
        ssize_t r = read(fd, answer + got, size - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        answer[got] = '\0';
        if (memchr(answer, '\n', got))
            break;
    }
    close(fd);
    char *nl = strchr(answer, '\n');
    if (!nl) {
        snprintf(err, errlen, "the supervisor closed the connection without an answer");
        return -1;
    }
    *nl = '\0';
    return 0;
}
