/*
 * supervisor: the process operators start. It validates the configuration,
 * binds the ports, and keeps one core process running on them: restarts it
 * with a capped exponential backoff when it dies (saying why), forwards
 * SIGHUP (and the control socket's reload requests) and tells systemd and
 * the asker the outcome, and on SIGTERM/SIGINT lets it drain for
 * SHUTDOWN_TIMEOUT before SIGKILL. It never reads a request: whatever can crash on input runs in
 * the core, and while a core restarts, clients wait in the listen backlog
 * instead of being refused.
 */
#ifndef APX_SUPERVISOR_H
#define APX_SUPERVISOR_H

#include <stdbool.h>

struct supervisor_args {
    const char *config_path;    /* --config or NULL */
    const char *pipeline_path;  /* --pipeline or NULL */
    bool foreground;
};

/* Runs until shutdown; returns the process exit status. */
int supervisor_main(const struct supervisor_args *args, char *const *envp);

/* The file descriptors the core finds its listening sockets on. */
#define CORE_MAIN_FD 3
#define CORE_DASHBOARD_FD 4
#define CORE_COUNTERS_FD 5   /* the shared counter table (counters.h) */
#define CORE_REPORT_FD 6     /* the core's report pipe (control.h) */

#endif
