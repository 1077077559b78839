/*
 * pool.c: see pool.h. One mutex guards both queues and the counters; the work
 * condition variable wakes idle workers; the eventfd wakes the loop.
 */
#include "daemon/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

struct worker {
    pthread_t thread;
    struct pool *pool;
    struct worker *next;
    bool exited;
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work;
    struct pool_item *q_head, *q_tail;
    struct pool_item *done_head, *done_tail;
    unsigned queued;
    unsigned running;
    unsigned nthreads;    /* target size */
    unsigned alive;       /* threads started and not yet exited */
    unsigned exit_tokens; /* idle workers that should exit */
    struct worker *workers;
    struct pool_hooks hooks;
    int efd;
};

static void push(struct pool_item **head, struct pool_item **tail, struct pool_item *it)
{
    it->next = NULL;
    if (*tail)
        (*tail)->next = it;
    else
        *head = it;
    *tail = it;
}

static struct pool_item *pop(struct pool_item **head, struct pool_item **tail)
{
    struct pool_item *it = *head;

    if (it) {
        *head = it->next;
        if (!*head)
            *tail = NULL;
        it->next = NULL;
    }
    return it;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct pool *p = w->pool;
    void *state = p->hooks.init ? p->hooks.init(p->hooks.ctx) : NULL;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct pool_item *it;

        while (!p->q_head && !p->exit_tokens)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->exit_tokens) {
            p->exit_tokens--;
            break;
        }
        it = pop(&p->q_head, &p->q_tail);
        p->queued--;
        p->running++;
        pthread_mutex_unlock(&p->mu);

        p->hooks.run(it, state, p->hooks.ctx);

        pthread_mutex_lock(&p->mu);
        p->running--;
        push(&p->done_head, &p->done_tail, it);
        if (eventfd_write(p->efd, 1) < 0)
            log_err("eventfd_write: %s", strerror(errno));
    }
    p->alive--;
    w->exited = true;
    pthread_mutex_unlock(&p->mu);
    if (p->hooks.fini)
        p->hooks.fini(state, p->hooks.ctx);
    return NULL;
}

static void start_workers(struct pool *p, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct worker *w = xcalloc(1, sizeof *w);
        int err;

        w->pool = p;
        err = pthread_create(&w->thread, NULL, worker_main, w);
        if (err) {
            log_err("cannot start a worker thread: %s", strerror(err));
            free(w);
            return;
        }
        w->next = p->workers;
        p->workers = w;
        p->alive++;
    }
}

/* Joins workers that have exited (after shrinking). Caller holds no lock. */
static void reap_workers(struct pool *p, bool all)
{
    struct worker **pp = &p->workers;

    while (*pp) {
        struct worker *w = *pp;
        bool exited;

        pthread_mutex_lock(&p->mu);
        exited = w->exited;
        pthread_mutex_unlock(&p->mu);
        if (exited || all) {
            pthread_join(w->thread, NULL);
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

struct pool *pool_new(unsigned nthreads, const struct pool_hooks *hooks)
{
    struct pool *p = xcalloc(1, sizeof *p);

    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    p->hooks = *hooks;
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->efd < 0) {
        log_err("eventfd: %s", strerror(errno));
        free(p);
        return NULL;
    }
    pthread_mutex_lock(&p->mu);
    p->nthreads = nthreads;
    start_workers(p, nthreads);
    pthread_mutex_unlock(&p->mu);
    return p;
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->exit_tokens = p->alive;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    reap_workers(p, true);
    close(p->efd);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void pool_submit(struct pool *p, struct pool_item *item)
{
    pthread_mutex_lock(&p->mu);
    push(&p->q_head, &p->q_tail, item);
    p->queued++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

int pool_done_fd(const struct pool *p)
{
    return p->efd;
}

struct pool_item *pool_take_done(struct pool *p)
{
    struct pool_item *it;
    eventfd_t v;

    pthread_mutex_lock(&p->mu);
    it = pop(&p->done_head, &p->done_tail);
    if (!p->done_head)
        (void)eventfd_read(p->efd, &v); /* nonblocking: EAGAIN when already clear */
    pthread_mutex_unlock(&p->mu);
    return it;
}

struct pool_item *pool_take_queued(struct pool *p)
{
    struct pool_item *list;

    pthread_mutex_lock(&p->mu);
    list = p->q_head;
    p->q_head = p->q_tail = NULL;
    p->queued = 0;
    pthread_mutex_unlock(&p->mu);
    return list;
}

void pool_resize(struct pool *p, unsigned nthreads)
{
    pthread_mutex_lock(&p->mu);
    if (nthreads > p->nthreads) {
        start_workers(p, nthreads - p->nthreads);
    } else if (nthreads < p->nthreads) {
        p->exit_tokens += p->nthreads - nthreads;
        pthread_cond_broadcast(&p->work);
    }
    p->nthreads = nthreads;
    pthread_mutex_unlock(&p->mu);
    reap_workers(p, false);
}

unsigned pool_size(const struct pool *p)
{
    return p->nthreads;
}

unsigned pool_busy(const struct pool *p)
{
    struct pool *mp = (struct pool *)p;
    unsigned n;

    pthread_mutex_lock(&mp->mu);
    n = mp->queued + mp->running;
    pthread_mutex_unlock(&mp->mu);
    return n;
}
