/*
 * timeouts: the one-shot timers that every client connection and every
 * upstream stream carries (header, idle and flush timeouts; the upstream
 * pool, write and read timeouts), kept on a timing wheel.
 *
 * A libevent timer costs its owner a separate 128-byte event and a heap
 * operation per re-arm; a held stream re-arms its read timer on every piece
 * of the answer, and a thousand of them each carried two. Here a timer is
 * 40 bytes inside its owner, arming and cancelling are O(1), and one
 * libevent timer per loop wakes the wheel only when its earliest slot is
 * due. The price is resolution: a timeout fires up to two ticks
 * (TIMEOUT_TICK_MS each) late, never early — fine for timeouts set in
 * seconds.
 */
#ifndef APX_TIMEOUTS_H
#define APX_TIMEOUTS_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#define TIMEOUT_TICK_MS 50

struct timeout_wheel;
struct timeout;

/* Called once when the timeout expires; it may free the timeout's owner
 * or arm the timeout again. */
typedef void (*timeout_fn)(struct timeout *t, void *arg);

/* Embedded in its owner; set up with timeout_init before any other call. */
struct timeout {
    struct timeout *prev, *next; /* in a wheel slot while armed, else NULL */
    uint64_t due;                /* the tick it expires at */
    timeout_fn fn;
    void *arg;
};

struct timeout_wheel *timeout_wheel_new(struct event_base *base);
/* Timeouts still armed are forgotten (their owners are gone or leaked). */
void timeout_wheel_free(struct timeout_wheel *w);

void timeout_init(struct timeout *t, timeout_fn fn, void *arg);
/* (Re)arm to expire `seconds` from now (at least one tick). */
void timeout_arm(struct timeout_wheel *w, struct timeout *t, double seconds);
/* Disarm; harmless if not armed. */
void timeout_cancel(struct timeout *t);
bool timeout_armed(const struct timeout *t);

#endif
