/*
 * core: the proxy process: its set-up, which generation is current (built
 * by generation.c), reload and drain.
 *
 * Reload (SIGHUP) builds a complete new generation and swaps it in only
 * when every step succeeded; exchanges keep the generation they started
 * with. Drain (SIGTERM, SIGINT) stops accepting, lets requests in flight
 * finish for up to SHUTDOWN_TIMEOUT, then exits 0.
 */
#include "config.h"

#include <assert.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "control.h"
#include "core.h"
#include "counters.h"
#include "crash.h"
#include "exchange.h"
#include "log.h"
#include "server.h"
#include "stages.h"
#include "supervisor.h"
#include "timeouts.h"
#include "upstream.h"
#include "workers.h"

struct core_state {
    struct core core;
    struct core_conn_link conns;      /* sentinel of the connection list */
    struct listener *main_listener, *dash_listener;
    struct event *sig_hup, *sig_term, *sig_int, *drain_timer;
    struct event *trim_timer;
};

/* glibc keeps what is freed in its heap for reuse, and a burst of TLS
 * handshakes (some 40 KB of temporaries each) leaves holes between the
 * connections that stay: RSS would keep the burst's peak. Once
 * connections have come or gone, hand the whole free pages back, at most
 * once per TRIM_INTERVAL (a trim walks the free lists: tens of
 * microseconds for a heap of tens of megabytes). */
#define TRIM_INTERVAL_MS 1000

static void trim_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
#ifdef HAVE_MALLOC_TRIM
    malloc_trim(0);
#endif
}

static void schedule_trim(struct core_state *st)
{
    static const struct timeval tv = { TRIM_INTERVAL_MS / 1000, TRIM_INTERVAL_MS % 1000 * 1000 };
    if (st->trim_timer && !evtimer_pending(st->trim_timer, NULL))
        evtimer_add(st->trim_timer, &tv);
}

static struct core_state *state_of(struct core *core)
{
    return (struct core_state *)((char *)core - offsetof(struct core_state, core));
}

static void apply_logging(const struct settings *s)
{
    log_set_level((enum log_level)s->log_level);
    log_set_format((enum log_format)s->log_format);
}

static void counters_add(struct core *core, const char *name, uint64_t n)
{
    struct counter_slot *c = counters_get(core->counters, name);
    if (c)
        c->value += n;
}

static void note_reload(struct core *core, const char *result, const char *why)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(core->last_reload, sizeof core->last_reload, "%s at %s%s%.240s", result, when,
             why ? ": " : "", why ? why : "");
}

static void reload_failed(struct core *core, const char *why)
{
    core->reloads_failed++;
    counters_add(core, "reloads_failed_total", 1);
    note_reload(core, "failed", why);
    log_error("reload failed, keeping configuration revision %llu: %s",
              (unsigned long long)core->gen->revision, why);
    control_report("failed", core->gen->revision, why);
}

/* Tell the supervisor what serves now (the receipt of a start or reload). */
static void report_serving(struct core *core, const char *word)
{
    char plugins[CONTROL_LINE_MAX - 64];
    generation_list_plugins(core->gen, plugins, sizeof plugins);
    control_report(word, core->gen->revision, plugins);
}

/* Say what is serving: revision, plugins and versions, load time. */
static void log_loaded(struct core *core, const char *what)
{
    char plugins[1024];
    generation_describe(core->gen, plugins, sizeof plugins);
    log_info("%s: configuration revision %llu, pipeline %s (%s), loaded in %.1f ms", what,
             (unsigned long long)core->gen->revision,
             core->gen->pipeline.file ? core->gen->pipeline.file : "(none)",
             plugins, core->gen->load_seconds * 1000);
}

int core_replace_generation(struct core *core, struct settings *s, char *err, size_t errlen)
{
    struct generation *g = generation_build(core, s, core->gen, err, errlen);
    if (!g)
        return -1;
    struct generation *old = core->gen;
    core->gen = g;
    generation_unref(old); /* exchanges that hold it keep it until they end */
    return 0;
}

static void reload(struct core *core)
{
    struct settings s;
    struct settings_errors errs;
    char err[512];
    log_info("SIGHUP: reloading the settings and pipeline files");
    if (settings_load(&s, core->config_path, core->pipeline_path, core->envp, &errs) < 0) {
        settings_free(&s);
        snprintf(err, sizeof err, "%.*s", (int)strcspn(errs.text, "\n"), errs.text);
        reload_failed(core, err);
        return;
    }
    char changed[512];
    if (settings_restart_only_changes(&core->gen->settings, &s, changed, sizeof changed) > 0)
        log_warn("reload: %s changed; ignored until restart", changed);
    if (core_replace_generation(core, &s, err, sizeof err) < 0) {
        reload_failed(core, err);
        return;
    }
    core->reloads_ok++;
    counters_add(core, "reloads_total", 1);
    apply_logging(&core->gen->settings);
    note_reload(core, "ok", NULL);
    log_loaded(core, "reload done");
    report_serving(core, "reloaded");
}

static bool drained(struct core_state *st)
{
    return st->conns.next == &st->conns && exchange_active_count() == 0;
}

static void check_drained(struct core *core)
{
    struct core_state *st = state_of(core);
    if (core->draining && drained(st)) {
        log_info("drained: every request finished; exiting");
        event_base_loopexit(core->base, NULL);
    }
}

void core_exchange_done(struct core *core)
{
    if (core->draining)
        check_drained(core);
}

void core_conn_add(struct core *core, struct core_conn_link *link)
{
    struct core_state *st = state_of(core);
    link->next = st->conns.next;
    link->prev = &st->conns;
    st->conns.next->prev = link;
    st->conns.next = link;
    core->client_connections++;
    schedule_trim(st);
}

void core_conn_remove(struct core *core, struct core_conn_link *link)
{
    link->prev->next = link->next;
    link->next->prev = link->prev;
    link->prev = link->next = NULL;
    core->client_connections--;
    schedule_trim(state_of(core));
    if (core->draining)
        check_drained(core);
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct core *core = arg;
    log_warn("SHUTDOWN_TIMEOUT reached with %llu request(s) still active: closing them",
             (unsigned long long)exchange_active_count());
    event_base_loopexit(core->base, NULL);
}

static void start_drain(struct core *core)
{
    struct core_state *st = state_of(core);
    if (core->draining)
        return;
    core->draining = true;
    log_info("shutting down: no new connections; waiting up to %.1f s for %llu active "
             "request(s)", core->gen->settings.shutdown_timeout,
             (unsigned long long)exchange_active_count());
    listener_free(st->main_listener);
    listener_free(st->dash_listener);
    st->main_listener = st->dash_listener = NULL;
    /* shutdown() may unlink and free its own link: walk from a saved next */
    for (struct core_conn_link *l = st->conns.next, *next; l != &st->conns; l = next) {
        next = l->next;
        l->shutdown(l);
    }
    upstream_pool_drain(core->gen->pool);
    exchange_end_local_streams();
    struct timeval tv = { (time_t)core->gen->settings.shutdown_timeout,
                          (suseconds_t)((core->gen->settings.shutdown_timeout -
                                         (double)(time_t)core->gen->settings.shutdown_timeout) * 1e6) };
    evtimer_add(st->drain_timer, &tv);
    check_drained(core);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct core *core = arg;
    if (sig == SIGHUP)
        reload(core);
    else
        start_drain(core);
}

static struct evdns_base *dns_new(struct event_base *base)
{
    struct evdns_base *dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (dns)
        return dns;
    /* no resolv.conf: numeric and /etc/hosts names still work */
    dns = evdns_base_new(base, 0);
    if (dns)
        evdns_base_load_hosts(dns, NULL);
    return dns;
}

static int setup(struct core_state *st, int main_fd, int dash_fd, struct settings *s)
{
    struct core *core = &st->core;
    char err[512];
    core->counters = counters_open(CORE_COUNTERS_FD);
    if (!core->counters)
        core->counters = counters_open(-1); /* started by hand: counters of its own */
    core->base = event_base_new();
    core->timeouts = core->base ? timeout_wheel_new(core->base) : NULL;
    if (!core->counters || !core->timeouts || !(core->dns = dns_new(core->base))) {
        log_error("cannot create the event loop");
        settings_free(s);
        return -1;
    }
    core->gen = generation_build(core, s, NULL, err, sizeof err);
    if (!core->gen) {
        log_error("%s", err);
        return -2; /* the configuration's fault */
    }
    st->main_listener = listener_start(core, main_fd, LISTENER_MAIN, true);
    st->dash_listener = listener_start(core, dash_fd, LISTENER_DASHBOARD, false);
    st->sig_hup = evsignal_new(core->base, SIGHUP, signal_cb, core);
    st->sig_term = evsignal_new(core->base, SIGTERM, signal_cb, core);
    st->sig_int = evsignal_new(core->base, SIGINT, signal_cb, core);
    st->drain_timer = evtimer_new(core->base, drain_timeout_cb, core);
    st->trim_timer = evtimer_new(core->base, trim_cb, NULL);
    if (!st->main_listener || !st->dash_listener || !st->sig_hup || !st->sig_term ||
        !st->sig_int || !st->drain_timer || !st->trim_timer) {
        log_error("cannot set up the listeners and signals");
        return -1;
    }
    evsignal_add(st->sig_hup, NULL);
    evsignal_add(st->sig_term, NULL);
    evsignal_add(st->sig_int, NULL);
    return 0;
}

static void teardown(struct core_state *st)
{
    struct core *core = &st->core;
    listener_free(st->main_listener);
    listener_free(st->dash_listener);
    workers_free(core->workers); /* no exchange waits on them once drained */
    core->workers = NULL;
    if (st->sig_hup) event_free(st->sig_hup);
    if (st->sig_term) event_free(st->sig_term);
    if (st->sig_int) event_free(st->sig_int);
    if (st->drain_timer) event_free(st->drain_timer);
    if (st->trim_timer) event_free(st->trim_timer);
    st->trim_timer = NULL; /* connections closed from here on schedule none */
    if (core->gen && drained(st)) {
        upstream_pool_close_all(core->gen->pool);
        generation_unref(core->gen); /* busy connections still point into it */
    }
    /* let a released pool (also one of a generation that failed to build)
     * close its idle connections and free itself */
    if (core->base && drained(st))
        for (int i = 0; i < 3; i++)
            event_base_loop(core->base, EVLOOP_NONBLOCK);
    if (core->dns && drained(st))
        evdns_base_free(core->dns, 0);
    if (drained(st))
        timeout_wheel_free(core->timeouts);
    if (core->base && drained(st))
        event_base_free(core->base);
    if (drained(st))
        counters_close(core->counters);
}

struct worker_pool *core_workers(struct core *core)
{
    if (!core->workers) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        /* one thread per spare CPU: the loop keeps one for itself */
        unsigned n = cpus > 2 ? (unsigned)(cpus - 1) : 1;
        core->workers = workers_new(core->base, n > 4 ? 4 : n);
        if (!core->workers)
            log_warn("no worker threads: large bodies are scrubbed on the event loop");
    }
    return core->workers;
}

struct core *core_oneshot_open(struct settings *s, bool offline, char *err, size_t errlen)
{
    struct core_state *st = calloc(1, sizeof *st);
    if (!st) {
        settings_free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->conns.next = st->conns.prev = &st->conns;
    struct core *core = &st->core;
    core->offline = offline;
    core->counters = counters_open(-1);
    core->base = event_base_new();
    core->timeouts = core->base ? timeout_wheel_new(core->base) : NULL;
    core->dns = core->base ? evdns_base_new(core->base, 0) : NULL;
    if (!core->counters || !core->timeouts || !core->dns) {
        settings_free(s);
        snprintf(err, errlen, "cannot set up an event loop");
        goto fail;
    }
    core->gen = generation_build(core, s, NULL, err, errlen);
    if (!core->gen)
        goto fail;
    return core;
fail:
    teardown(st);
    free(st);
    return NULL;
}

void core_oneshot_close(struct core *core)
{
    struct core_state *st = (struct core_state *)core; /* core is its first member */
    teardown(st);
    free(st);
}

int core_check_generation(struct settings *s, bool skip_tls, char *err, size_t errlen,
                          char *summary, size_t summary_len)
{
    struct core *core = core_oneshot_open(s, skip_tls, err, errlen);
    if (!core)
        return -1;
    char plugins[1024];
    generation_describe(core->gen, plugins, sizeof plugins);
    snprintf(summary, summary_len, "pipeline %s: %s",
             core->gen->pipeline.file ? core->gen->pipeline.file : "(none)", plugins);
    core_oneshot_close(core);
    return 0;
}

int core_main(int main_fd, int dash_fd, const char *config_path, const char *pipeline_path,
              char *const *envp)
{
    struct core_state *st = calloc(1, sizeof *st);
    struct settings s;
    struct settings_errors errs;
    if (!st)
        return 1;
    st->conns.next = st->conns.prev = &st->conns;
    st->core.envp = envp;
    st->core.config_path = config_path;
    st->core.pipeline_path = pipeline_path;
    /* the supervisor's death must not leave an orphan holding the ports */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGPIPE, SIG_IGN);

    if (settings_load(&s, config_path, pipeline_path, envp, &errs) < 0) {
        fprintf(stderr, "%s", errs.text);
        settings_free(&s);
        free(st);
        return 2;
    }
    log_setup("core", (enum log_level)s.log_level, (enum log_format)s.log_format);
    int rv = setup(st, main_fd, dash_fd, &s);
    if (rv < 0) {
        teardown(st);
        free(st);
        return rv == -2 ? 2 : 1;
    }
    crash_handlers_install(st->core.counters);
    log_info("serving: upstream %s%s%s", st->core.gen->settings.upstream.tls ? "https://" : "http://",
             st->core.gen->settings.upstream.authority, st->core.gen->settings.upstream.prefix);
    note_reload(&st->core, "started", NULL);
    log_loaded(&st->core, "loaded");
    report_serving(&st->core, "ready");
    event_base_dispatch(st->core.base);
    bool clean = drained(st);
    teardown(st);
    if (clean)
        free(st);
    return 0;
}
