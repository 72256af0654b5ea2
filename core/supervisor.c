/*
 * supervisor: binding, starting, restarting and stopping the core.
 *
 * Signals are blocked and read from a signalfd, polled with the core's
 * report pipe and the control socket, so the whole supervisor is one plain
 * loop with no handler races. The core is the same binary re-executed with
 * --core, so each restart starts from a clean address space and re-reads
 * the configuration.
 *
 * Reloads are serialised: one SIGHUP is in flight to the core at a time,
 * and each report line answers the oldest one. Requests that come while
 * one is in flight (or while the core starts) are queued and sent together
 * once it is answered, so every waiter learns the outcome of a reload that
 * began after it asked.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include "control.h"
#include "counters.h"
#include "log.h"
#include "notify.h"
#include "settings.h"
#include "supervisor.h"
#include "tls.h"

#define LISTEN_BACKLOG 4096
#define BACKOFF_FIRST 0.1     /* seconds before the first restart */
#define BACKOFF_CAP 30.0
#define STABLE_AFTER 30.0     /* a core up this long resets the backoff */
#define KILL_GRACE 5.0        /* after SHUTDOWN_TIMEOUT, before SIGKILL */
#define MAX_WAITERS 16        /* control connections served at once */
#define ASK_TIMEOUT 5.0       /* seconds a control client has to send its request */

/* A control connection: asking, then waiting for the reload numbered
 * `ticket` (counted in sent/done below) to be answered. */
struct waiter {
    int fd;                   /* -1: free slot */
    unsigned ticket;          /* 0: has not asked yet */
    double ask_by;
    char buf[64];
    size_t len;
};

struct supervisor {
    const struct supervisor_args *args;
    char *const *envp;
    int main_fd, dash_fd;
    int counters_fd;          /* survives core restarts: counters.h */
    pid_t core;
    double core_started;
    double backoff;
    double restart_at;        /* 0: no restart pending */
    double kill_at;           /* 0: no kill pending */
    bool stopping;
    bool ever_served;         /* a core has run past its start-up */
    int exit_status;
    double shutdown_timeout;

    int sig_fd;               /* signalfd of the blocked signals */
    int report_fd;            /* read end of the core's report pipe, or -1 */
    char report[CONTROL_LINE_MAX];
    size_t report_len;
    bool core_ready;          /* the current core said it serves */
    unsigned sent, done;      /* reloads asked of the current core, answered */
    bool queued;              /* a reload to send once nothing is in flight */
    char *control_path;       /* the control socket, unlinked at exit */
    int control_fd;
    struct waiter waiters[MAX_WAITERS];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bind_port(const char *host, int64_t port, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", (int)port);
    int rv = getaddrinfo(host, portstr, &hints, &res);
    if (rv != 0) {
        snprintf(err, errlen, "cannot resolve HOST=%s: %s", host, gai_strerror(rv));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", host, (int)port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Raise the open-file limit to its hard maximum: every client costs one
 * descriptor and every upstream connection another. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void describe_exit(int status, char *out, size_t size)
{
    if (WIFEXITED(status))
        snprintf(out, size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, size, "was killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(out, size, "stopped (status 0x%x)", status);
}

/* Put fd at `target` without closing a descriptor we still need. */
static int place_fd(int fd, int target)
{
    if (fd == target)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, target) < 0 ? -1 : 0;
}

static void exec_core(struct supervisor *sv, const sigset_t *oldmask, int report_w)
{
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    /* move the descriptors out of the way first, then into place */
    int m = fcntl(sv->main_fd, F_DUPFD, 10), d = fcntl(sv->dash_fd, F_DUPFD, 10);
    int c = fcntl(sv->counters_fd, F_DUPFD, 10), r = fcntl(report_w, F_DUPFD, 10);
    if (m < 0 || d < 0 || c < 0 || r < 0 || place_fd(m, CORE_MAIN_FD) < 0 ||
        place_fd(d, CORE_DASHBOARD_FD) < 0 || place_fd(c, CORE_COUNTERS_FD) < 0 ||
        place_fd(r, CORE_REPORT_FD) < 0) {
        fprintf(stderr, "anthropic-proxy: cannot pass the sockets to the core: %s\n",
                strerror(errno));
        _exit(1);
    }
    char *argv[9];
    int n = 0;
    argv[n++] = "anthropic-proxy";
    argv[n++] = "--core";
    if (!sv->args->foreground)
        argv[n++] = "--syslog";
    if (sv->args->config_path) {
        argv[n++] = "--config";
        argv[n++] = (char *)sv->args->config_path;
    }
    if (sv->args->pipeline_path) {
        argv[n++] = "--pipeline";
        argv[n++] = (char *)sv->args->pipeline_path;
    }
    argv[n] = NULL;
    execve("/proc/self/exe", argv, sv->envp);
    fprintf(stderr, "anthropic-proxy: cannot start the core: %s\n", strerror(errno));
    _exit(1);
}

static void start_core(struct supervisor *sv, const sigset_t *oldmask)
{
    int p[2];
    /* non-blocking on both ends: a core never waits on a busy supervisor */
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_error("cannot make the core's report pipe: %s; retrying in %.1f s", strerror(errno),
                  sv->backoff);
        sv->restart_at = now() + sv->backoff;
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("cannot fork the core: %s; retrying in %.1f s", strerror(errno), sv->backoff);
        close(p[0]);
        close(p[1]);
        sv->restart_at = now() + sv->backoff;
        return;
    }
    if (pid == 0)
        exec_core(sv, oldmask, p[1]);
    close(p[1]);
    sv->report_fd = p[0];
    sv->report_len = 0;
    sv->core = pid;
    sv->core_started = now();
    sv->core_ready = false;
    sv->restart_at = 0;
    log_info("core started (pid %ld)", (long)pid);
}

/* ---- reloads and their waiters ---- */

static void answer(struct waiter *w, const char *line)
{
    char out[CONTROL_LINE_MAX + 1];
    int n = snprintf(out, sizeof out, "%s\n", line);
    /* a few hundred bytes into an empty socket buffer: written at once */
    ssize_t r = write(w->fd, out, (size_t)n);
    (void)r;
    close(w->fd);
    w->fd = -1;
}

/* Answer every waiter whose reload is `upto` or older (UINT_MAX: all,
 * asked or queued). */
static void answer_waiters(struct supervisor *sv, unsigned upto, const char *line)
{
    for (int i = 0; i < MAX_WAITERS; i++) {
        struct waiter *w = &sv->waiters[i];
        if (w->fd >= 0 && w->ticket && w->ticket <= upto)
            answer(w, line);
    }
}

static void send_reload(struct supervisor *sv)
{
    sv->queued = false;
    sv->sent++;
    log_info("asking the core to reload");
    kill(sv->core, SIGHUP);
}

/* A reload was asked for (SIGHUP, systemd, or a control client): its
 * ticket, which the outcome line answering it will carry. */
static unsigned request_reload(struct supervisor *sv)
{
    notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration",
                notify_monotonic_usec());
    /* until the core serves, SIGHUP would kill it (no handler yet) */
    if (!sv->core || !sv->core_ready || sv->sent > sv->done) {
        sv->queued = true;
        return sv->sent + 1;
    }
    send_reload(sv);
    return sv->sent;
}

static void reload_line_status(const char *line, char *status, size_t size)
{
    unsigned long long rev = 0;
    const char *text = strchr(line, '\t');
    text = text ? text + 1 : "";
    sscanf(line, "%*s %llu", &rev);
    if (strncmp(line, "failed ", 7) == 0)
        snprintf(status, size, "reload failed, still serving configuration revision %llu: %s",
                 rev, text);
    else
        snprintf(status, size, "serving configuration revision %llu: %s", rev, text);
}

/* One line of the core's report pipe. */
static void on_report(struct supervisor *sv, const char *line)
{
    char status[CONTROL_LINE_MAX + 100];
    reload_line_status(line, status, sizeof status);
    if (strncmp(line, "ready ", 6) == 0) {
        sv->core_ready = true;
        sv->sent = sv->done = 0;
    } else if (strncmp(line, "reloaded ", 9) == 0 || strncmp(line, "failed ", 7) == 0) {
        /* one sent by hand to the core answers nobody's request */
        if (sv->sent > sv->done)
            answer_waiters(sv, ++sv->done, line);
    } else {
        log_warn("the core reported something unknown: %.80s", line);
        return;
    }
    if (sv->queued && !sv->stopping) {
        send_reload(sv);
        return; /* READY=1 once that one is answered */
    }
    notify_send("READY=1\nSTATUS=%s", status);
}

static void read_reports(struct supervisor *sv)
{
    while (sv->report_fd >= 0) {
        ssize_t r = read(sv->report_fd, sv->report + sv->report_len,
                         sizeof sv->report - 1 - sv->report_len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0 || errno != EAGAIN) { /* the core is gone */
                close(sv->report_fd);
                sv->report_fd = -1;
            }
            return;
        }
        sv->report_len += (size_t)r;
        sv->report[sv->report_len] = '\0';
        char *start = sv->report, *nl;
        while ((nl = strchr(start, '\n'))) {
            *nl = '\0';
            on_report(sv, start);
            start = nl + 1;
        }
        sv->report_len = strlen(start);
        memmove(sv->report, start, sv->report_len + 1);
        if (sv->report_len == sizeof sv->report - 1)
            sv->report_len = 0; /* a line longer than any the core writes */
    }
}

/* The core died: reloads sent to it will never be answered by it. */
static void core_gone(struct supervisor *sv, const char *why)
{
    char line[300];
    snprintf(line, sizeof line, "failed 0\tthe core %s during the reload", why);
    answer_waiters(sv, sv->sent, line);
    /* queued ones wait for the next core: renumber them as its first */
    for (int i = 0; i < MAX_WAITERS; i++)
        if (sv->waiters[i].fd >= 0 && sv->waiters[i].ticket)
            sv->waiters[i].ticket = 1;
    if (sv->sent > sv->done && !sv->stopping)
        notify_send("READY=1\nSTATUS=reload failed: the core %s; restarting it", why);
    sv->sent = sv->done = 0;
    sv->core_ready = false;
}

static void on_core_exit(struct supervisor *sv, int status)
{
    char why[200], plugin[64];
    read_reports(sv); /* its last words come before its death */
    describe_exit(status, why, sizeof why);
    counters_take_crash_note(sv->counters_fd, plugin, sizeof plugin);
    if (WIFSIGNALED(status) && plugin[0]) {
        size_t n = strlen(why);
        snprintf(why + n, sizeof why - n, " while running plugin %s", plugin);
    }
    double ran = now() - sv->core_started;
    sv->core = 0;
    if (sv->report_fd >= 0)
        close(sv->report_fd);
    sv->report_fd = -1;
    core_gone(sv, why);
    if (sv->stopping) {
        log_info("core %s; supervisor exiting", why);
        return;
    }
    /* A first core that refuses the configuration will not like it better
     * later: stop, as --check-config would. Later ones are retried. */
    if (!sv->ever_served && WIFEXITED(status) && WEXITSTATUS(status) == 2) {
        log_error("core refused the configuration at start (see above); exiting");
        sv->stopping = true;
        sv->exit_status = 2;
        close(sv->main_fd);
        close(sv->dash_fd);
        return;
    }
    sv->ever_served = true;
    if (ran >= STABLE_AFTER)
        sv->backoff = BACKOFF_FIRST;
    log_error("core %s after %.1f s; restarting in %.1f s", why, ran, sv->backoff);
    sv->restart_at = now() + sv->backoff;
    sv->backoff = sv->backoff * 2 > BACKOFF_CAP ? BACKOFF_CAP : sv->backoff * 2;
}

static void reread_settings(struct supervisor *sv)
{
    struct settings s;
    struct settings_errors errs;
    if (settings_load(&s, sv->args->config_path, sv->args->pipeline_path, sv->envp, &errs) == 0) {
        sv->shutdown_timeout = s.shutdown_timeout;
        log_set_level((enum log_level)s.log_level);
        log_set_format((enum log_format)s.log_format);
    }
    settings_free(&s);
}

static void close_control(struct supervisor *sv)
{
    if (sv->control_fd >= 0) {
        close(sv->control_fd);
        sv->control_fd = -1;
        unlink(sv->control_path);
    }
}

static void begin_stop(struct supervisor *sv, int sig)
{
    if (sv->stopping)
        return;
    sv->stopping = true;
    notify_send("STOPPING=1\nSTATUS=stopping: draining for up to %.1f s", sv->shutdown_timeout);
    log_info("%s: stopping the core (draining for up to %.1f s)", strsignal(sig),
             sv->shutdown_timeout);
    answer_waiters(sv, UINT_MAX, "failed 0\tthe proxy is stopping");
    close_control(sv);
    /* new connections are refused from now on, not left in a backlog */
    close(sv->main_fd);
    close(sv->dash_fd);
    sv->main_fd = sv->dash_fd = -1;
    if (sv->core) {
        kill(sv->core, SIGTERM);
        sv->kill_at = now() + sv->shutdown_timeout + KILL_GRACE;
    }
}

static void handle_signal(struct supervisor *sv, int sig)
{
    int status;
    switch (sig) {
    case SIGCHLD:
        for (;;) {
            pid_t p = waitpid(-1, &status, WNOHANG);
            if (p <= 0)
                break;
            if (p == sv->core)
                on_core_exit(sv, status);
        }
        break;
    case SIGHUP:
        if (sv->stopping)
            break;
        log_info("SIGHUP: reloading");
        reread_settings(sv);
        request_reload(sv);
        break;
    case SIGTERM:
    case SIGINT:
        begin_stop(sv, sig);
        break;
    }
}

/* ---- the control socket ---- */

static void accept_control(struct supervisor *sv)
{
    int fd;
    while ((fd = accept4(sv->control_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
        struct waiter *w = NULL;
        for (int i = 0; i < MAX_WAITERS && !w; i++)
            if (sv->waiters[i].fd < 0)
                w = &sv->waiters[i];
        if (!w || !control_peer_allowed(fd)) {
            const char *no = w ? "failed 0\tnot allowed: root or the daemon's user only\n"
                               : "failed 0\ttoo many control connections\n";
            ssize_t r = write(fd, no, strlen(no));
            (void)r;
            close(fd);
            continue;
        }
        *w = (struct waiter){ .fd = fd, .ask_by = now() + ASK_TIMEOUT };
    }
}

/* Read a waiter's request line: "reload" is the one request there is. */
static void read_request(struct supervisor *sv, struct waiter *w)
{
    ssize_t r = read(w->fd, w->buf + w->len, sizeof w->buf - 1 - w->len);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0 || w->ticket) { /* gone, or talking after asking */
        close(w->fd);
        w->fd = -1;
        return;
    }
    w->len += (size_t)r;
    w->buf[w->len] = '\0';
    char *nl = strchr(w->buf, '\n');
    if (!nl) {
        if (w->len == sizeof w->buf - 1)
            answer(w, "failed 0\trequest too long");
        return;
    }
    *nl = '\0';
    if (strcmp(w->buf, "reload") != 0) {
        answer(w, "failed 0\tunknown request (the one request is: reload)");
        return;
    }
    if (sv->stopping) {
        answer(w, "failed 0\tthe proxy is stopping");
        return;
    }
    log_info("reload asked on the control socket");
    reread_settings(sv);
    w->ticket = request_reload(sv);
}

static void expire_askers(struct supervisor *sv, double t)
{
    for (int i = 0; i < MAX_WAITERS; i++) {
        struct waiter *w = &sv->waiters[i];
        if (w->fd >= 0 && !w->ticket && t >= w->ask_by)
            answer(w, "failed 0\tno request within 5 s");
    }
}

/* ---- the loop ---- */

static int next_timeout_ms(const struct supervisor *sv)
{
    double wait = 1.0, t = now();
    if (sv->restart_at && sv->restart_at - t < wait)
        wait = sv->restart_at - t;
    if (sv->kill_at && sv->kill_at - t < wait)
        wait = sv->kill_at - t;
    return wait < 0.001 ? 1 : (int)(wait * 1000) + 1;
}

static void poll_once(struct supervisor *sv)
{
    struct pollfd p[3 + MAX_WAITERS];
    int n = 0, wi[MAX_WAITERS];
    p[n++] = (struct pollfd){ .fd = sv->sig_fd, .events = POLLIN };
    p[n++] = (struct pollfd){ .fd = sv->report_fd, .events = POLLIN }; /* -1: ignored */
    p[n++] = (struct pollfd){ .fd = sv->control_fd, .events = POLLIN };
    int nw = 0;
    for (int i = 0; i < MAX_WAITERS; i++)
        if (sv->waiters[i].fd >= 0) {
            wi[nw++] = i;
            p[n++] = (struct pollfd){ .fd = sv->waiters[i].fd, .events = POLLIN };
        }
    if (poll(p, (nfds_t)n, next_timeout_ms(sv)) <= 0)
        return;
    /* reports first: a core's last line comes before the SIGCHLD of its exit */
    if (p[1].revents)
        read_reports(sv);
    for (int i = 0; i < nw; i++)
        if (p[3 + i].revents && sv->waiters[wi[i]].fd == p[3 + i].fd)
            read_request(sv, &sv->waiters[wi[i]]);
    if (p[2].revents && sv->control_fd >= 0)
        accept_control(sv);
    struct signalfd_siginfo si;
    while (p[0].revents && read(sv->sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
        handle_signal(sv, (int)si.ssi_signo);
}

static void loop(struct supervisor *sv, const sigset_t *oldmask)
{
    start_core(sv, oldmask);
    while (!(sv->stopping && !sv->core)) {
        poll_once(sv);
        double t = now();
        expire_askers(sv, t);
        if (sv->kill_at && t >= sv->kill_at && sv->core) {
            log_warn("core still running %.1f s after SIGTERM: sending SIGKILL",
                     sv->shutdown_timeout + KILL_GRACE);
            kill(sv->core, SIGKILL);
            sv->kill_at = 0;
        }
        if (!sv->stopping && !sv->core && sv->restart_at && t >= sv->restart_at)
            start_core(sv, oldmask);
    }
    close_control(sv);
}

static int daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0)
        return -1;
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);
    log_use_syslog();
    dup2(STDIN_FILENO, STDERR_FILENO);
    return 0;
}

int supervisor_main(const struct supervisor_args *args, char *const *envp)
{
    struct supervisor sv = { .args = args, .envp = envp, .backoff = BACKOFF_FIRST,
                             .report_fd = -1, .control_fd = -1, .sig_fd = -1 };
    struct settings s;
    struct settings_errors errs;
    char err[512];

    if (settings_load(&s, args->config_path, args->pipeline_path, envp, &errs) < 0) {
        fprintf(stderr, "%s", errs.text);
        settings_free(&s);
        return 2;
    }
    log_setup("supervisor", (enum log_level)s.log_level, (enum log_format)s.log_format);
    SSL_CTX *check = tls_server_ctx(s.tls_cert, s.tls_key, err, sizeof err);
    if (!check) {
        fprintf(stderr, "anthropic-proxy: %s\n", err);
        settings_free(&s);
        return 2;
    }
    SSL_CTX_free(check);
    /* a CA file the core cannot load would make it exit at once, after
     * the ports were bound: refuse it here, as --check-config does */
    if (s.upstream.tls) {
        check = tls_client_ctx(s.upstream_ca_file, err, sizeof err);
        if (!check) {
            fprintf(stderr, "anthropic-proxy: %s\n", err);
            settings_free(&s);
            return 2;
        }
        SSL_CTX_free(check);
    }
    sv.shutdown_timeout = s.shutdown_timeout;
    sv.counters_fd = counters_create_fd();
    if (sv.counters_fd < 0) {
        fprintf(stderr, "anthropic-proxy: cannot create the counter table: %s\n", strerror(errno));
        settings_free(&s);
        return 1;
    }
    raise_fd_limit();
    sv.main_fd = bind_port(s.host, s.port, err, sizeof err);
    if (sv.main_fd >= 0)
        sv.dash_fd = bind_port(s.host, s.dashboard_port, err, sizeof err);
    if (sv.main_fd < 0 || sv.dash_fd < 0) {
        fprintf(stderr, "anthropic-proxy: %s\n", err);
        settings_free(&s);
        return 1;
    }
    log_info("listening on %s:%lld (HTTPS) and %s:%lld (dashboard)", s.host,
             (long long)s.port, s.host, (long long)s.dashboard_port);
    for (int i = 0; i < MAX_WAITERS; i++)
        sv.waiters[i].fd = -1;
    if (s.control_socket && *s.control_socket) {
        /* without it SIGHUP still reloads; only `anthropic-proxy reload` cannot */
        sv.control_fd = control_listen(s.control_socket, err, sizeof err);
        if (sv.control_fd < 0)
            log_warn("%s; `anthropic-proxy reload` will not reach this supervisor", err);
        else
            sv.control_path = strdup(s.control_socket);
        if (sv.control_fd >= 0 && !sv.control_path) {
            close(sv.control_fd);
            sv.control_fd = -1;
        }
    }
    settings_free(&s);
    if (!args->foreground && daemonize() < 0) {
        fprintf(stderr, "anthropic-proxy: cannot become a daemon: %s\n", strerror(errno));
        return 1;
    }

    sigset_t set, oldmask;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, &oldmask);
    signal(SIGPIPE, SIG_IGN);
    sv.sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sv.sig_fd < 0) {
        log_error("cannot read signals: %s", strerror(errno));
        close_control(&sv);
        return 1;
    }
    notify_init();
    loop(&sv, &oldmask);
    free(sv.control_path);
    return sv.exit_status;
}
