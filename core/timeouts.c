/*
 * timeouts: a timing wheel of WHEEL_SLOTS slots of TIMEOUT_TICK_MS each.
 * A timeout due at tick d sits in slot d % WHEEL_SLOTS, in a circular list
 * whose head is the slot itself; one due further away than a turn of the
 * wheel is looked at once per turn and left in place until its tick comes.
 */
#include "timeouts.h"

#include <stdlib.h>
#include <time.h>

#define WHEEL_SLOTS 256 /* a turn: 12.8 s */

struct timeout_wheel {
    struct event *ev;
    uint64_t done;     /* every tick up to this one has been expired */
    uint64_t next;     /* the tick ev is set for, when scheduled */
    bool scheduled;
    struct timeout slots[WHEEL_SLOTS];
};

static uint64_t now_tick(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) / TIMEOUT_TICK_MS;
}

static void list_unlink(struct timeout *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void list_append(struct timeout *head, struct timeout *t)
{
    t->prev = head->prev;
    t->next = head;
    head->prev->next = t;
    head->prev = t;
}

static void schedule(struct timeout_wheel *w, uint64_t tick)
{
    uint64_t now = now_tick();
    uint64_t ticks = tick > now ? tick - now : 1;
    struct timeval tv = { (time_t)(ticks * TIMEOUT_TICK_MS / 1000),
                          (suseconds_t)(ticks * TIMEOUT_TICK_MS % 1000 * 1000) };
    w->next = tick;
    w->scheduled = true;
    evtimer_add(w->ev, &tv);
}

/* Fire what is due in one slot; the rest goes back to it. Each timeout
 * leaves the list before its callback runs, so a callback may cancel,
 * re-arm or free any timeout, this one included. */
static void expire_slot(struct timeout *slot, uint64_t now)
{
    struct timeout pending = { .prev = &pending, .next = &pending };
    if (slot->next == slot)
        return;
    /* move the slot's list to `pending`, so re-armed timeouts are not seen twice */
    pending.next = slot->next;
    pending.prev = slot->prev;
    pending.next->prev = &pending;
    pending.prev->next = &pending;
    slot->next = slot->prev = slot;
    while (pending.next != &pending) {
        struct timeout *t = pending.next;
        list_unlink(t);
        if (t->due <= now)
            t->fn(t, t->arg);
        else
            list_append(slot, t);
    }
}

/* The nearest slot with anything in it, looking one turn ahead. */
static void schedule_next(struct timeout_wheel *w)
{
    for (uint64_t tick = w->done + 1; tick <= w->done + WHEEL_SLOTS; tick++) {
        struct timeout *slot = &w->slots[tick % WHEEL_SLOTS];
        if (slot->next != slot) {
            schedule(w, tick);
            return;
        }
    }
}

static void wheel_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct timeout_wheel *w = arg;
    w->scheduled = false;
    uint64_t now = now_tick();
    if (now > w->done) {
        uint64_t ticks = now - w->done < WHEEL_SLOTS ? now - w->done : WHEEL_SLOTS;
        uint64_t first = w->done + 1;
        w->done = now; /* callbacks arm relative to now */
        for (uint64_t i = 0; i < ticks; i++)
            expire_slot(&w->slots[(first + i) % WHEEL_SLOTS], now);
    }
    /* even if a callback armed one: another may be due before it */
    schedule_next(w);
}

struct timeout_wheel *timeout_wheel_new(struct event_base *base)
{
    struct timeout_wheel *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->ev = evtimer_new(base, wheel_cb, w);
    if (!w->ev) {
        free(w);
        return NULL;
    }
    for (size_t i = 0; i < WHEEL_SLOTS; i++)
        w->slots[i].prev = w->slots[i].next = &w->slots[i];
    w->done = now_tick();
    return w;
}

void timeout_wheel_free(struct timeout_wheel *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < WHEEL_SLOTS; i++)
        while (w->slots[i].next != &w->slots[i])
            list_unlink(w->slots[i].next);
    event_free(w->ev);
    free(w);
}

void timeout_init(struct timeout *t, timeout_fn fn, void *arg)
{
    t->prev = t->next = NULL;
    t->due = 0;
    t->fn = fn;
    t->arg = arg;
}

void timeout_arm(struct timeout_wheel *w, struct timeout *t, double seconds)
{
    if (t->next)
        list_unlink(t);
    double ticks = seconds > 0 ? seconds * 1000.0 / TIMEOUT_TICK_MS : 0;
    uint64_t n = ticks < 1 ? 1 : ticks > 1e12 ? (uint64_t)1e12 : (uint64_t)ticks;
    if ((double)n < ticks)
        n++; /* never early */
    /* +1: this tick is partly gone, and a timeout may be late, never early */
    t->due = now_tick() + n + 1;
    list_append(&w->slots[t->due % WHEEL_SLOTS], t);
    if (!w->scheduled || t->due < w->next)
        schedule(w, t->due);
}

void timeout_cancel(struct timeout *t)
{
    if (t->next)
        list_unlink(t);
}

bool timeout_armed(const struct timeout *t)
{
    return t->next != NULL;
}
