/*
 * workers: the core's thread pool (see workers.h).
 *
 * Jobs go into a queue under a mutex; a thread takes one, runs it, moves it
 * to the finished list and writes a byte to a pipe that the loop watches.
 * The loop's callback drains the pipe and runs each finished job's `done`.
 * Worker threads never touch libevent, exchanges, logging or counters.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detectors.h"
#include "log.h"
#include "workers.h"

#define WORKERS_MAX 16

struct job {
    struct job *next;
    void (*work)(void *arg);
    void (*done)(void *arg);
    void *arg;
};

struct worker_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job *queue, *queue_tail;   /* waiting for a thread */
    struct job *finished;             /* waiting for the loop */
    bool stopping;
    int pipe_r, pipe_w;
    struct event *ev;
    pthread_t threads[WORKERS_MAX];
    unsigned nthreads;
};

static void *worker_main(void *arg)
{
    struct worker_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->queue && !p->stopping)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stopping)
            break;
        struct job *j = p->queue;
        p->queue = j->next;
        if (!p->queue)
            p->queue_tail = NULL;
        pthread_mutex_unlock(&p->lock);
        j->work(j->arg);
        pthread_mutex_lock(&p->lock);
        j->next = p->finished;
        p->finished = j;
        char b = 1;
        ssize_t w = write(p->pipe_w, &b, 1); /* a full pipe already says "look" */
        (void)w;
    }
    pthread_mutex_unlock(&p->lock);
    detectors_thread_exit();
    return NULL;
}

/* On the loop: run the done of every finished job, oldest first. */
static void finished_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct worker_pool *p = arg;
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    pthread_mutex_lock(&p->lock);
    struct job *list = p->finished;
    p->finished = NULL;
    pthread_mutex_unlock(&p->lock);
    struct job *rev = NULL;
    while (list) {
        struct job *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        struct job *n = rev->next;
        rev->done(rev->arg);
        free(rev);
        rev = n;
    }
}

static int make_pipe(struct worker_pool *p)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    p->pipe_r = fds[0];
    p->pipe_w = fds[1];
    return 0;
}

struct worker_pool *workers_new(struct event_base *base, unsigned threads)
{
    struct worker_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->pipe_r = p->pipe_w = -1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (make_pipe(p) < 0)
        goto fail;
    p->ev = event_new(base, p->pipe_r, EV_READ | EV_PERSIST, finished_cb, p);
    if (!p->ev || event_add(p->ev, NULL) < 0)
        goto fail;
    if (threads < 1)
        threads = 1;
    if (threads > WORKERS_MAX)
        threads = WORKERS_MAX;
    for (; p->nthreads < threads; p->nthreads++) {
        int rc = pthread_create(&p->threads[p->nthreads], NULL, worker_main, p);
        if (rc != 0) {
            log_warn("cannot start a worker thread: %s", strerror(rc));
            break;
        }
    }
    if (p->nthreads == 0)
        goto fail;
    return p;
fail:
    workers_free(p);
    return NULL;
}

int workers_submit(struct worker_pool *p, void (*work)(void *arg), void (*done)(void *arg),
                   void *arg)
{
    struct job *j = malloc(sizeof *j);
    if (!j)
        return -1;
    *j = (struct job){ NULL, work, done, arg };
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        free(j);
        return -1;
    }
    if (p->queue_tail)
        p->queue_tail->next = j;
    else
        p->queue = j;
    p->queue_tail = j;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static void free_list(struct job *j)
{
    while (j) {
        struct job *n = j->next;
        free(j);
        j = n;
    }
}

void workers_free(struct worker_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free_list(p->queue);
    free_list(p->finished);
    if (p->ev)
        event_free(p->ev);
    if (p->pipe_r >= 0)
        close(p->pipe_r);
    if (p->pipe_w >= 0)
        close(p->pipe_w);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
