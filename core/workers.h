/*
 * workers: a few threads for CPU work that must not hold up the event loop
 * (scrubbing a large body). Work runs on a worker thread; its `done`
 * callback runs afterwards on the loop thread, where everything else lives.
 */
#ifndef APX_WORKERS_H
#define APX_WORKERS_H

struct event_base;
struct worker_pool;

/* A pool of `threads` threads (at least 1) reporting to `base`'s loop.
 * NULL on failure. */
struct worker_pool *workers_new(struct event_base *base, unsigned threads);

/* Queue work(arg) for a worker thread, then done(arg) on the loop. 0, or -1
 * when out of memory or shutting down (the caller then does the work
 * itself). */
int workers_submit(struct worker_pool *p, void (*work)(void *arg), void (*done)(void *arg),
                   void *arg);

/* Stop the threads after the work they are running; queued work that has
 * not started is dropped without its done. Call with no exchange waiting. */
void workers_free(struct worker_pool *p);

#endif
