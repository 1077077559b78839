/*
 * body_pipe.c: a ring buffer under a mutex between the loop and one worker (see body_pipe.h).
 */
#include "daemon/body_pipe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include "base/util.h"

#define READ_CHUNK   (256 * 1024)
#define WAIT_STEP_MS 250 /* how often a waiting reader looks at the cancel flag */

struct body_pipe {
    struct object_source src; /* first: the worker gets &src */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *ring;
    size_t cap, head, len;
    bool closed, aborted, writer_waits;
    char why[160];
    int wake_fd;
    atomic_bool *cancel;
    unsigned stall_ms;
    atomic_int refs;
};

static int pipe_stream(struct object_source *src, object_data_fn fn, void *arg, struct ierr *e);

struct body_pipe *body_pipe_new(size_t cap, int wake_fd, atomic_bool *cancel, unsigned stall_ms)
{
    struct body_pipe *p = xcalloc(1, sizeof *p);

    p->src.stream = pipe_stream;
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* wait_step() counts in monotonic time */
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->ring = xmalloc(cap);
    p->cap = cap;
    p->wake_fd = wake_fd;
    p->cancel = cancel;
    p->stall_ms = stall_ms;
    atomic_init(&p->refs, 2);
    return p;
}

void body_pipe_unref(struct body_pipe *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->ring);
    free(p);
}

struct object_source *body_pipe_source(struct body_pipe *p)
{
    return &p->src;
}

size_t body_pipe_write(struct body_pipe *p, const void *data, size_t n)
{
    size_t took = 0;

    pthread_mutex_lock(&p->mu);
    if (p->aborted) {
        pthread_mutex_unlock(&p->mu);
        return n; /* nobody reads any more: drop it */
    }
    while (took < n && p->len < p->cap) {
        size_t tail = (p->head + p->len) % p->cap;
        size_t room = tail >= p->head ? p->cap - tail : p->head - tail;
        size_t k = n - took < room ? n - took : room;

        if (p->cap - p->len < k)
            k = p->cap - p->len;
        memcpy(p->ring + tail, (const char *)data + took, k);
        p->len += k;
        took += k;
    }
    p->writer_waits = took < n;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return took;
}

bool body_pipe_has_room(struct body_pipe *p)
{
    bool room;

    pthread_mutex_lock(&p->mu);
    room = p->len < p->cap || p->aborted;
    pthread_mutex_unlock(&p->mu);
    return room;
}

void body_pipe_close(struct body_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void body_pipe_abort(struct body_pipe *p, const char *why)
{
    pthread_mutex_lock(&p->mu);
    if (!p->aborted && !p->closed)
        snprintf(p->why, sizeof p->why, "%s", why);
    p->aborted = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void wait_step(struct body_pipe *p)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += WAIT_STEP_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

/* The worker's side: copies out up to READ_CHUNK at a time, so the loop may refill meanwhile. */
static int pipe_stream(struct object_source *src, object_data_fn fn, void *arg, struct ierr *e)
{
    struct body_pipe *p = (struct body_pipe *)src;
    char *chunk = xmalloc(READ_CHUNK);
    int rc = -1;

    for (;;) {
        uint64_t since = now_monotonic_ms();
        size_t n = 0;
        bool wake;

        pthread_mutex_lock(&p->mu);
        while (!p->len && !p->closed && !p->aborted && !atomic_load(p->cancel) &&
               now_monotonic_ms() - since < p->stall_ms)
            wait_step(p);
        if (p->aborted && !p->closed) {
            ierr_set(e, IERR_PERMANENT, "%s", p->why[0] ? p->why : "request body aborted");
            pthread_mutex_unlock(&p->mu);
            break;
        }
        if (atomic_load(p->cancel)) {
            ierr_set(e, IERR_TRANSIENT, "cancelled by shutdown");
            pthread_mutex_unlock(&p->mu);
            break;
        }
        if (!p->len && p->closed) {
            pthread_mutex_unlock(&p->mu);
            rc = 0;
            break;
        }
        if (!p->len) {
            ierr_set(e, IERR_TRANSIENT, "request body stalled: no byte for %u ms", p->stall_ms);
            pthread_mutex_unlock(&p->mu);
            break;
        }
        while (n < READ_CHUNK && p->len) {
            size_t k = p->cap - p->head < p->len ? p->cap - p->head : p->len;
            if (k > READ_CHUNK - n)
                k = READ_CHUNK - n;
            memcpy(chunk + n, p->ring + p->head, k);
            p->head = (p->head + k) % p->cap;
            p->len -= k;
            n += k;
        }
        wake = p->writer_waits;
        p->writer_waits = false;
        pthread_mutex_unlock(&p->mu);
        if (wake)
            (void)eventfd_write(p->wake_fd, 1);
        if (fn(chunk, n, arg) != 0) {
            ierr_set(e, IERR_PERMANENT, "stopped");
            break;
        }
    }
    if (rc < 0) {
        /* the loop must not wait for room that never comes */
        pthread_mutex_lock(&p->mu);
        p->aborted = true;
        pthread_mutex_unlock(&p->mu);
        (void)eventfd_write(p->wake_fd, 1);
    }
    free(chunk);
    return rc;
}
