/*
 * check_timeouts: the timing wheel the connections' and streams' timers
 * run on (core/timeouts.c), on a real event loop: never early, at most a
 * few ticks late, in order, cancellable, re-armable and freeable from a
 * callback, and right past one turn of the wheel.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <time.h>

#include "timeouts.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct firing_log {
    int ids[16];
    int n;
};

struct probe {
    struct timeout t;
    struct timeout_wheel *w;
    int id;
    int fired;
    double fired_at;
    int rearm;              /* arm itself again this many times */
    struct timeout *cancel; /* cancel this one when firing */
    struct probe **free_me; /* free this probe when firing */
    struct firing_log *log;
};

static void probe_cb(struct timeout *t, void *arg)
{
    struct probe *p = arg;
    ck_assert_ptr_eq(t, &p->t);
    ck_assert(!timeout_armed(t));
    p->fired++;
    p->fired_at = now_s();
    if (p->log && p->log->n < 16)
        p->log->ids[p->log->n++] = p->id;
    if (p->cancel)
        timeout_cancel(p->cancel);
    if (p->free_me) {
        struct probe *victim = *p->free_me;
        timeout_cancel(&victim->t); /* as an owner's free does */
        free(victim);
        *p->free_me = NULL;
        p->free_me = NULL;
    }
    if (p->rearm > 0) {
        p->rearm--;
        timeout_arm(p->w, t, 0.05);
    }
}

static void probe_init(struct probe *p, struct timeout_wheel *w, int id, struct firing_log *log)
{
    *p = (struct probe){ .w = w, .id = id, .log = log };
    timeout_init(&p->t, probe_cb, p);
}

/* Run the loop for `seconds`, or until `stop` (if given) has fired. */
static void run_for(struct event_base *base, double seconds, const struct probe *stop)
{
    double end = now_s() + seconds;
    while (now_s() < end && !(stop && stop->fired)) {
        struct timeval tv = { 0, 10000 };
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

static struct event_base *base;
static struct timeout_wheel *wheel;

static void setup(void)
{
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    wheel = timeout_wheel_new(base);
    ck_assert_ptr_nonnull(wheel);
}

static void teardown(void)
{
    timeout_wheel_free(wheel);
    event_base_free(base);
}

START_TEST(fires_never_early_and_soon_after)
{
    struct probe p;
    probe_init(&p, wheel, 1, NULL);
    double start = now_s();
    timeout_arm(wheel, &p.t, 0.3);
    ck_assert(timeout_armed(&p.t));
    run_for(base, 3.0, &p);
    ck_assert_int_eq(p.fired, 1);
    ck_assert(p.fired_at - start >= 0.3);
    /* two ticks late at most; the rest is slack for a loaded machine */
    ck_assert(p.fired_at - start < 0.3 + 2 * TIMEOUT_TICK_MS / 1000.0 + 1.0);
}
END_TEST

START_TEST(fires_in_deadline_order)
{
    struct firing_log log = { 0 };
    struct probe a, b, c;
    probe_init(&a, wheel, 1, &log);
    probe_init(&b, wheel, 2, &log);
    probe_init(&c, wheel, 3, &log);
    timeout_arm(wheel, &a.t, 0.4);
    timeout_arm(wheel, &b.t, 0.1);
    timeout_arm(wheel, &c.t, 0.25);
    run_for(base, 3.0, &a);
    ck_assert_int_eq(log.n, 3);
    ck_assert_int_eq(log.ids[0], 2);
    ck_assert_int_eq(log.ids[1], 3);
    ck_assert_int_eq(log.ids[2], 1);
}
END_TEST

START_TEST(cancelled_and_rearmed_later_do_not_fire_early)
{
    struct probe a, b;
    probe_init(&a, wheel, 1, NULL);
    probe_init(&b, wheel, 2, NULL);
    timeout_arm(wheel, &a.t, 0.1);
    timeout_cancel(&a.t);
    timeout_cancel(&a.t); /* twice is harmless */
    ck_assert(!timeout_armed(&a.t));
    double start = now_s();
    timeout_arm(wheel, &b.t, 0.1);
    timeout_arm(wheel, &b.t, 0.5); /* re-arming replaces the deadline */
    run_for(base, 3.0, &b);
    ck_assert_int_eq(a.fired, 0);
    ck_assert_int_eq(b.fired, 1);
    ck_assert(b.fired_at - start >= 0.5);
}
END_TEST

START_TEST(callbacks_rearm_cancel_and_free)
{
    struct probe a, b, c;
    probe_init(&a, wheel, 1, NULL);
    probe_init(&b, wheel, 2, NULL);
    probe_init(&c, wheel, 3, NULL);
    struct probe *victim = malloc(sizeof *victim);
    ck_assert_ptr_nonnull(victim);
    probe_init(victim, wheel, 4, NULL);
    a.rearm = 3;          /* fires four times in all */
    a.cancel = &b.t;      /* b is due in the same tick as a: cancelled */
    a.free_me = &victim;  /* and victim, due just after, is freed */
    timeout_arm(wheel, &a.t, 0.1);
    timeout_arm(wheel, &b.t, 0.1);
    timeout_arm(wheel, &victim->t, 0.15);
    timeout_arm(wheel, &c.t, 0.6);
    run_for(base, 3.0, &c);
    ck_assert_int_eq(a.fired, 4);
    ck_assert_int_eq(b.fired, 0);
    ck_assert_ptr_null(victim);
    ck_assert_int_eq(c.fired, 1);
}
END_TEST

START_TEST(past_one_turn_of_the_wheel)
{
    /* 256 ticks of 50 ms make a turn: a timeout due after more than one
     * shares its slot with nearer ones and must wait for its own tick */
    struct probe near, far;
    probe_init(&near, wheel, 1, NULL);
    probe_init(&far, wheel, 2, NULL);
    double start = now_s();
    timeout_arm(wheel, &far.t, 13.0);
    timeout_arm(wheel, &near.t, 13.0 - 256 * TIMEOUT_TICK_MS / 1000.0);
    run_for(base, 16.0, &far);
    ck_assert_int_eq(near.fired, 1);
    ck_assert_int_eq(far.fired, 1);
    ck_assert(near.fired_at - start < 2.0);
    ck_assert(far.fired_at - start >= 13.0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timeouts");
    TCase *tc = tcase_create("timeouts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, fires_never_early_and_soon_after);
    tcase_add_test(tc, fires_in_deadline_order);
    tcase_add_test(tc, cancelled_and_rearmed_later_do_not_fire_early);
    tcase_add_test(tc, callbacks_rearm_cancel_and_free);
    tcase_add_test(tc, past_one_turn_of_the_wheel);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
