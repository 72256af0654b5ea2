/*
 * counters: named 64-bit counters that outlive reloads and core restarts.
 *
 * The table lives in a memory file the supervisor creates before it starts
 * the first core and hands to every core it starts (CORE_COUNTERS_FD), so a
 * crashed core's successor keeps counting where it stopped. Only the core
 * writes to it, from its one event-loop thread. Names are Prometheus-style,
 * labels included (`scrub_hits_total{detector="email"}`).
 */
#ifndef APX_COUNTERS_H
#define APX_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#define COUNTERS_MAX 4096
#define COUNTER_NAME_MAX 120

struct counter_slot {
    char name[COUNTER_NAME_MAX];
    uint64_t value;
};

struct counter_table;

/* Supervisor: create the memory file; returns its fd or -1. */
int counters_create_fd(void);
/* Core: map the table from fd (or, with fd < 0, a private one for tests
 * and one-shot commands). NULL on failure. */
struct counter_table *counters_open(int fd);
void counters_close(struct counter_table *t);

/* The slot named `name`, created at 0 if new; NULL if the table is full or
 * the name too long. Slots never move or disappear. */
struct counter_slot *counters_get(struct counter_table *t, const char *name);
/* Visit every slot whose name starts with prefix, in creation order. */
void counters_each(struct counter_table *t, const char *prefix,
                   void (*fn)(void *arg, const char *name, uint64_t value), void *arg);
/* The crash note: the plugin that was running when the core died (set
 * from a signal handler: async-signal-safe; NULL clears it), read and
 * cleared by the supervisor through its own descriptor. */
void counters_set_crash_note(struct counter_table *t, const char *plugin);
void counters_take_crash_note(int fd, char *out, size_t size);

/* Seconds since the epoch when the supervisor created the table. */
uint64_t counters_created(const struct counter_table *t);

#endif
