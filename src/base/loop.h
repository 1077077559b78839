/*
 * loop.h: the main thread's event loop: epoll over file descriptors and timerfd
 * timers. Everything here runs on the loop thread only; callbacks must not block.
 *
 * A callback may add or remove any registration, including its own: removed
 * handlers are freed only after the current batch of events is dispatched.
 */
#ifndef INGESTD_LOOP_H
#define INGESTD_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_timer;

typedef void (*loop_fd_cb)(struct loop *l, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_cb)(struct loop_timer *t, void *arg);

struct loop *loop_new(void);
void loop_free(struct loop *l); /* fds are not closed; timers are freed */

/* events: EPOLLIN / EPOLLOUT. 0 on success, -1 with errno. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
void loop_del_fd(struct loop *l, int fd);

/* One-shot or periodic timer on its own timerfd (CLOCK_MONOTONIC). */
struct loop_timer *loop_timer_new(struct loop *l, loop_timer_cb cb, void *arg);
void loop_timer_arm(struct loop_timer *t, uint64_t after_ms, uint64_t interval_ms);
void loop_timer_arm_us(struct loop_timer *t, uint64_t after_us); /* one-shot, 0 = at once */
void loop_timer_disarm(struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);
void loop_timer_free(struct loop_timer *t); /* NULL-safe */

int loop_run(struct loop *l); /* until loop_stop(); 0, or -1 on epoll failure */
void loop_stop(struct loop *l);
uint64_t loop_last_turn_ms(const struct loop *l); /* monotonic ms of the last wakeup */

#endif
