/*
 * crash: when the core dies of a fatal signal, say which plugin was
 * running. Every call into a plugin is bracketed by crash_enter/crash_leave
 * (a thread-local pointer, so worker threads count too); the handler
 * writes the name to stderr and into the counter table's crash note, which
 * the supervisor reads when it logs the core's death.
 */
#ifndef APX_CRASH_H
#define APX_CRASH_H

struct counter_table;

extern _Thread_local const char *crash_plugin;

/* Mark `name` as running; returns what to restore with crash_leave. */
static inline const char *crash_enter(const char *name)
{
    const char *prev = crash_plugin;
    crash_plugin = name;
    return prev;
}

static inline void crash_leave(const char *prev)
{
    crash_plugin = prev;
}

/* Install the fatal-signal handlers of the core (SIGSEGV, SIGBUS, SIGILL,
 * SIGFPE, SIGABRT); `t` receives the note. The default action follows. */
void crash_handlers_install(struct counter_table *t);

#endif
