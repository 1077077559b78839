/*
 * mysql_pipe.c: see mysql_pipe.h. One mutex, two condition variables, a ring buffer.
 * Bytes are copied in the largest runs the ring allows (at most two memcpy per call),
 * and a side is woken only when the other was waiting, so a steady stream costs a few
 * lock round trips per ring-full rather than one per call.
 */
#include "sinks/mysql/mysql_pipe.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"

struct my_pipe {
    pthread_mutex_t mu;
    pthread_cond_t readable; /* data, finish or abort */
    pthread_cond_t writable; /* room or close_read */
    char *ring;
    size_t cap;
    size_t head; /* next byte to read */
    size_t len;  /* bytes buffered */
    bool finished, aborted, closed;
    bool reader_waits, writer_waits;
    void (*tick)(void *); /* called every tick_ms while the writer waits, unlocked */
    void *tick_arg;
    unsigned tick_ms;
};

struct my_pipe *my_pipe_new(size_t capacity)
{
    struct my_pipe *p = xcalloc(1, sizeof(*p));
    pthread_condattr_t mono;
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->readable, NULL);
    pthread_cond_init(&p->writable, &mono);
    pthread_condattr_destroy(&mono);
    p->ring = xmalloc(capacity);
    p->cap = capacity;
    return p;
}

void my_pipe_free(struct my_pipe *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->readable);
    pthread_cond_destroy(&p->writable);
    free(p->ring);
    free(p);
}

void my_pipe_reset(struct my_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->head = p->len = 0;
    p->finished = p->aborted = p->closed = false;
    p->reader_waits = p->writer_waits = false;
    pthread_mutex_unlock(&p->mu);
}

void my_pipe_set_writer_tick(struct my_pipe *p, void (*tick)(void *), void *arg, unsigned ms)
{
    pthread_mutex_lock(&p->mu);
    p->tick = tick;
    p->tick_arg = arg;
    p->tick_ms = ms;
    pthread_mutex_unlock(&p->mu);
}

/* The writer waits for room; with a tick, in slices, calling it between them. */
static void wait_writable(struct my_pipe *p)
{
    struct timespec ts;
    if (!p->tick) {
        pthread_cond_wait(&p->writable, &p->mu);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += p->tick_ms / 1000;
    ts.tv_nsec += (long)(p->tick_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (pthread_cond_timedwait(&p->writable, &p->mu, &ts) == 0)
        return;
    void (*tick)(void *) = p->tick;
    void *arg = p->tick_arg;
    pthread_mutex_unlock(&p->mu);
    tick(arg);
    pthread_mutex_lock(&p->mu);
}

int my_pipe_write(struct my_pipe *p, const void *data, size_t n)
{
    const char *src = data;
    int rc = 0;

    pthread_mutex_lock(&p->mu);
    while (n > 0) {
        while (p->len == p->cap && !p->closed && !p->aborted) {
            p->writer_waits = true;
            wait_writable(p);
        }
        p->writer_waits = false;
        if (p->closed || p->aborted) {
            rc = -1;
            break;
        }
        size_t tail = (p->head + p->len) % p->cap;
        size_t room = p->cap - p->len;
        size_t run = tail + room <= p->cap ? room : p->cap - tail;
        if (run > n)
            run = n;
        memcpy(p->ring + tail, src, run);
        p->len += run;
        src += run;
        n -= run;
        if (p->reader_waits)
            pthread_cond_signal(&p->readable);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void set_flag(struct my_pipe *p, bool *flag)
{
    pthread_mutex_lock(&p->mu);
    *flag = true;
    pthread_cond_broadcast(&p->readable);
    pthread_cond_broadcast(&p->writable);
    pthread_mutex_unlock(&p->mu);
}

void my_pipe_finish(struct my_pipe *p)
{
    set_flag(p, &p->finished);
}

void my_pipe_abort(struct my_pipe *p)
{
    set_flag(p, &p->aborted);
}

void my_pipe_close_read(struct my_pipe *p)
{
    set_flag(p, &p->closed);
}

ssize_t my_pipe_read(struct my_pipe *p, void *out, size_t n)
{
    ssize_t got = 0;

    pthread_mutex_lock(&p->mu);
    while (p->len == 0 && !p->finished && !p->aborted) {
        p->reader_waits = true;
        pthread_cond_wait(&p->readable, &p->mu);
    }
    p->reader_waits = false;
    if (p->aborted) {
        got = -1;
    } else {
        char *dst = out;
        while (n > 0 && p->len > 0) {
            size_t run = p->head + p->len <= p->cap ? p->len : p->cap - p->head;
            if (run > n)
                run = n;
            memcpy(dst, p->ring + p->head, run);
            p->head = (p->head + run) % p->cap;
            p->len -= run;
            dst += run;
            n -= run;
            got += (ssize_t)run;
        }
        if (p->writer_waits)
            pthread_cond_signal(&p->writable);
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}
