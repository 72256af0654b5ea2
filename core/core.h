/*
 * core: the proxy process. One libevent loop owns the listeners, the client
 * connections, the upstream pool and the current generation.
 *
 * The core is started by the supervisor with the listening sockets already
 * bound (inherited file descriptors); it never binds or forks. It must keep
 * serving whatever one client sends: nothing on the request path exits.
 */
#ifndef APX_CORE_H
#define APX_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "generation.h"
#include "settings.h"

struct event_base;
struct evdns_base;
struct upstream_pool;
struct exchange;
struct counter_table;
struct plugin_instance;
struct detector;

struct core {
    struct event_base *base;
    struct timeout_wheel *timeouts; /* the connections' and streams' timers */
    struct evdns_base *dns;
    struct generation *gen;      /* current */
    char *const *envp;
    const char *config_path;     /* --config, or NULL */
    const char *pipeline_path;   /* --pipeline, or NULL */
    bool draining;               /* SIGTERM received */
    bool offline;                /* a one-shot command: no server certificate */
    uint64_t next_exchange_id;
    uint64_t client_connections; /* open client connections */
    uint64_t reloads_ok, reloads_failed;
    struct counter_table *counters; /* shared with the supervisor's successors */
    struct worker_pool *workers; /* started at the first work_submit */
    char last_reload[300];       /* "ok at TIME" or "failed at TIME: why" */
};

/* Run the core on the inherited listening sockets; returns the exit status. */
int core_main(int main_fd, int dashboard_fd, const char *config_path,
              const char *pipeline_path, char *const *envp);

/* --check-config's part: build (and drop) a whole generation from the
 * settings `s` (taken over): TLS context (unless skip_tls: already
 * reported), upstream pool, every plugin of the pipeline. 0, or -1 with
 * the reason in err. On success `summary`
 * describes what was loaded. */
int core_check_generation(struct settings *s, bool skip_tls, char *err, size_t errlen,
                          char *summary, size_t summary_len);

/* A core without listeners, for one-shot commands (--check-config,
 * scrub): an event base, a private counter table and a generation built
 * from `s` (taken over); `offline` skips the server certificate. NULL with
 * err filled if the generation fails. */
struct core *core_oneshot_open(struct settings *s, bool offline, char *err, size_t errlen);
void core_oneshot_close(struct core *core);

/* The step of a reload after reading its files: build a generation from
 * `s` (taken over, also on failure) and make it current; the old one stays
 * until the last exchange holding it ends. 0, or -1 with err filled and
 * nothing changed. Also for tests, with a one-shot core. */
int core_replace_generation(struct core *core, struct settings *s, char *err, size_t errlen);

/* The core's worker threads, started on first use; NULL if they cannot
 * start (the caller then works inline). */
struct worker_pool *core_workers(struct core *core);

/* Called when an exchange ends, so a draining core can exit. */
void core_exchange_done(struct core *core);

/* Register and unregister client connections (for draining and limits).
 * `close_cb` is called on shutdown to ask the connection to finish. */
struct core_conn_link {
    struct core_conn_link *prev, *next;
    void (*shutdown)(struct core_conn_link *link);
};
void core_conn_add(struct core *core, struct core_conn_link *link);
void core_conn_remove(struct core *core, struct core_conn_link *link);

#endif
