/*
 * loop.c: epoll + timerfd event loop (see loop.h).
 *
 * DESIGN
 * Every registration is a struct handler whose address is the epoll data.ptr.
 * Removing a registration from inside a callback must not free a handler that a
 * later entry of the same epoll_wait batch still points to, so removal only marks
 * the handler dead and moves it to a graveyard emptied after the batch. Timers
 * are ordinary registrations of their own timerfd.
 */
#include "base/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

struct handler {
    int fd;
    bool dead;
    loop_fd_cb cb;
    void *arg;
    struct handler *next; /* live list or graveyard */
};

struct loop {
    int epfd;
    bool running;
    uint64_t last_turn_ms;
    struct handler *live;
    struct handler *graveyard;
};

struct loop_timer {
    struct loop *loop;
    int fd;
    bool armed;
    bool periodic;
    loop_timer_cb cb;
    void *arg;
};

struct loop *loop_new(void)
{
    struct loop *l = xcalloc(1, sizeof *l);

    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        log_err("epoll_create1: %s", strerror(errno));
        free(l);
        return NULL;
    }
    l->last_turn_ms = now_monotonic_ms();
    return l;
}

static void bury_all(struct handler *h)
{
    while (h) {
        struct handler *next = h->next;
        free(h);
        h = next;
    }
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    close(l->epfd);
    bury_all(l->live);
    bury_all(l->graveyard);
    free(l);
}

static struct handler *find_live(struct loop *l, int fd)
{
    for (struct handler *h = l->live; h; h = h->next)
        if (h->fd == fd && !h->dead)
            return h;
    return NULL;
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
    struct handler *h = xcalloc(1, sizeof *h);
    struct epoll_event ev = {.events = events, .data.ptr = h};

    h->fd = fd;
    h->cb = cb;
    h->arg = arg;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int saved = errno;
        free(h);
        errno = saved;
        return -1;
    }
    h->next = l->live;
    l->live = h;
    return 0;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
    struct handler *h = find_live(l, fd);
    struct epoll_event ev = {.events = events};

    if (!h) {
        errno = ENOENT;
        return -1;
    }
    ev.data.ptr = h;
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void loop_del_fd(struct loop *l, int fd)
{
    struct handler **pp = &l->live;

    while (*pp) {
        struct handler *h = *pp;
        if (h->fd == fd && !h->dead) {
            /* The fd may already be closed (curl does that): ignore EBADF. */
            epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
            h->dead = true;
            *pp = h->next;
            h->next = l->graveyard;
            l->graveyard = h;
            return;
        }
        pp = &h->next;
    }
}

static void timer_fired(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct loop_timer *t = arg;
    uint64_t expirations;

    (void)l;
    (void)events;
    if (read(fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        log_warn("timerfd read: %s", strerror(errno));
    if (!t->periodic)
        t->armed = false;
    t->cb(t, t->arg);
}

struct loop_timer *loop_timer_new(struct loop *l, loop_timer_cb cb, void *arg)
{
    struct loop_timer *t = xcalloc(1, sizeof *t);

    t->loop = l;
    t->cb = cb;
    t->arg = arg;
    t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->fd < 0 || loop_add_fd(l, t->fd, EPOLLIN, timer_fired, t) < 0) {
        log_err("timerfd: %s", strerror(errno));
        if (t->fd >= 0)
            close(t->fd);
        free(t);
        return NULL;
    }
    return t;
}

static void timer_set(struct loop_timer *t, uint64_t after_us, uint64_t interval_us)
{
    struct itimerspec its;

    memset(&its, 0, sizeof its);
    /* An all-zero it_value disarms a timerfd: "at once" is one nanosecond. */
    its.it_value.tv_sec = (time_t)(after_us / 1000000u);
    its.it_value.tv_nsec = (long)(after_us % 1000000u) * 1000;
    if (after_us == 0)
        its.it_value.tv_nsec = 1;
    its.it_interval.tv_sec = (time_t)(interval_us / 1000000u);
    its.it_interval.tv_nsec = (long)(interval_us % 1000000u) * 1000;
    if (timerfd_settime(t->fd, 0, &its, NULL) < 0)
        log_err("timerfd_settime: %s", strerror(errno));
    t->armed = true;
    t->periodic = interval_us != 0;
}

void loop_timer_arm(struct loop_timer *t, uint64_t after_ms, uint64_t interval_ms)
{
    timer_set(t, after_ms * 1000u, interval_ms * 1000u);
}

void loop_timer_arm_us(struct loop_timer *t, uint64_t after_us)
{
    timer_set(t, after_us, 0);
}

void loop_timer_disarm(struct loop_timer *t)
{
    struct itimerspec its;

    memset(&its, 0, sizeof its);
    timerfd_settime(t->fd, 0, &its, NULL);
    t->armed = false;
}

bool loop_timer_armed(const struct loop_timer *t)
{
    return t->armed;
}

void loop_timer_free(struct loop_timer *t)
{
    if (!t)
        return;
    loop_del_fd(t->loop, t->fd);
    close(t->fd);
    free(t);
}

int loop_run(struct loop *l)
{
    struct epoll_event evs[64];

    l->running = true;
    while (l->running) {
        int n = epoll_wait(l->epfd, evs, (int)ARRAY_SIZE(evs), -1);

        l->last_turn_ms = now_monotonic_ms();
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_err("epoll_wait: %s", strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++) {
            struct handler *h = evs[i].data.ptr;
            if (!h->dead)
                h->cb(l, h->fd, evs[i].events, h->arg);
        }
        bury_all(l->graveyard);
        l->graveyard = NULL;
    }
    return 0;
}

void loop_stop(struct loop *l)
{
    l->running = false;
}

uint64_t loop_last_turn_ms(const struct loop *l)
{
    return l->last_turn_ms;
}
