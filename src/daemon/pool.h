/*
 * pool.h: worker threads, a bounded job queue and a done queue back to the loop.
 *
 * DESIGN
 * The loop submits work items; N threads take them in FIFO order and run the
 * pool's run function; finished items go onto a done queue and the loop is woken
 * through an eventfd, where it drains them with pool_take_done(). Ownership of an
 * item moves with it: loop -> queue -> worker -> done queue -> loop. Workers keep
 * per-thread state (their sink connections, their S3 handle) in `worker_state`,
 * created by the pool's init function on the worker thread and destroyed there.
 *
 * pool_resize() grows at once and shrinks by handing "exit" tokens to idle
 * workers, so no running item is cut short. Loop thread only, except
 * pool_run_fn/init/fini which run on workers.
 */
#ifndef INGESTD_POOL_H
#define INGESTD_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct pool;

/* The item type is opaque to the pool; it must start with struct pool_item. */
struct pool_item {
    struct pool_item *next;
};

struct pool_hooks {
    void *(*init)(void *ctx); /* on the worker: its state */
    void (*run)(struct pool_item *item, void *state, void *ctx);
    void (*fini)(void *state, void *ctx);
    void *ctx;
};

struct pool *pool_new(unsigned nthreads, const struct pool_hooks *hooks);
/* Waits for every worker to finish its current item and exit. Take back queued
 * items first (pool_take_queued) and drain the done queue after: the pool frees
 * no items. */
void pool_free(struct pool *p);

void pool_submit(struct pool *p, struct pool_item *item);
int pool_done_fd(const struct pool *p);           /* readable when items are done */
struct pool_item *pool_take_done(struct pool *p); /* NULL when empty; clears the fd */
/* Take back items not yet started (for shutdown): returned as a list. */
struct pool_item *pool_take_queued(struct pool *p);

void pool_resize(struct pool *p, unsigned nthreads);
unsigned pool_size(const struct pool *p);
unsigned pool_busy(const struct pool *p); /* items queued or running */

#endif
