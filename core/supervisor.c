/*
 * supervisor: binding, starting, restarting and stopping the core.
 *
 * Signals are blocked and taken synchronously with sigtimedwait(), so the
 * whole supervisor is one plain loop with no handler races. The core is the
 * same binary re-executed with --core, so each restart starts from a clean
 * address space and re-reads the configuration.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include "counters.h"
#include "log.h"
#include "settings.h"
#include "supervisor.h"
#include "tls.h"

#define LISTEN_BACKLOG 4096
#define BACKOFF_FIRST 0.1     /* seconds before the first restart */
#define BACKOFF_CAP 30.0
#define STABLE_AFTER 30.0     /* a core up this long resets the backoff */
#define KILL_GRACE 5.0        /* after SHUTDOWN_TIMEOUT, before SIGKILL */

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

static void exec_core(struct supervisor *sv, const sigset_t *oldmask)
{
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    /* move the descriptors out of the way first, then into place */
    int m = fcntl(sv->main_fd, F_DUPFD, 10), d = fcntl(sv->dash_fd, F_DUPFD, 10);
    int c = fcntl(sv->counters_fd, F_DUPFD, 10);
    if (m < 0 || d < 0 || c < 0 || place_fd(m, CORE_MAIN_FD) < 0 ||
        place_fd(d, CORE_DASHBOARD_FD) < 0 || place_fd(c, CORE_COUNTERS_FD) < 0) {
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
    pid_t pid = fork();
    if (pid < 0) {
        log_error("cannot fork the core: %s; retrying in %.1f s", strerror(errno), sv->backoff);
        sv->restart_at = now() + sv->backoff;
        return;
    }
    if (pid == 0)
        exec_core(sv, oldmask);
    sv->core = pid;
    sv->core_started = now();
    sv->restart_at = 0;
    log_info("core started (pid %ld)", (long)pid);
}

static void on_core_exit(struct supervisor *sv, int status)
{
    char why[200], plugin[64];
    describe_exit(status, why, sizeof why);
    counters_take_crash_note(sv->counters_fd, plugin, sizeof plugin);
    if (WIFSIGNALED(status) && plugin[0]) {
        size_t n = strlen(why);
        snprintf(why + n, sizeof why - n, " while running plugin %s", plugin);
    }
    double ran = now() - sv->core_started;
    sv->core = 0;
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

static void begin_stop(struct supervisor *sv, int sig)
{
    if (sv->stopping)
        return;
    sv->stopping = true;
    log_info("%s: stopping the core (draining for up to %.1f s)", strsignal(sig),
             sv->shutdown_timeout);
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
        while (sv->core) {
            pid_t p = waitpid(-1, &status, WNOHANG);
            if (p <= 0)
                break;
            if (p == sv->core)
                on_core_exit(sv, status);
        }
        break;
    case SIGHUP:
        reread_settings(sv);
        if (sv->core) {
            log_info("SIGHUP: asking the core to reload");
            kill(sv->core, SIGHUP);
        }
        break;
    case SIGTERM:
    case SIGINT:
        begin_stop(sv, sig);
        break;
    }
}

static void next_timeout(const struct supervisor *sv, struct timespec *ts)
{
    double wait = 1.0, t = now();
    if (sv->restart_at && sv->restart_at - t < wait)
        wait = sv->restart_at - t;
    if (sv->kill_at && sv->kill_at - t < wait)
        wait = sv->kill_at - t;
    if (wait < 0.001)
        wait = 0.001;
    ts->tv_sec = (time_t)wait;
    ts->tv_nsec = (long)((wait - (double)ts->tv_sec) * 1e9);
}

static void loop(struct supervisor *sv, const sigset_t *set, const sigset_t *oldmask)
{
    start_core(sv, oldmask);
    while (!(sv->stopping && !sv->core)) {
        struct timespec ts;
        next_timeout(sv, &ts);
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0)
            handle_signal(sv, sig);
        double t = now();
        if (sv->kill_at && t >= sv->kill_at && sv->core) {
            log_warn("core still running %.1f s after SIGTERM: sending SIGKILL",
                     sv->shutdown_timeout + KILL_GRACE);
            kill(sv->core, SIGKILL);
            sv->kill_at = 0;
        }
        if (!sv->stopping && !sv->core && sv->restart_at && t >= sv->restart_at)
            start_core(sv, oldmask);
    }
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
    struct supervisor sv = { .args = args, .envp = envp, .backoff = BACKOFF_FIRST };
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
    loop(&sv, &set, &oldmask);
    return sv.exit_status;
}
