/*
 * metrics_http.c: the listener, the connections and the request parser (see
 * metrics_http.h for what it promises).
 *
 * DESIGN
 * A connection goes READ -> WRITE -> LINGER -> closed. READ collects bytes until
 * the blank line that ends the request head, checking the request line as soon as
 * it is complete so that garbage (a TLS hello, a binary probe) is answered at once.
 * WRITE sends the whole answer (a few kilobytes), then shuts the write side down.
 * LINGER reads and drops whatever the client still sends until it closes, so that
 * closing with unread input does not reset the connection before the client has
 * read the answer. One timer per connection bounds each state; the request timer
 * runs from accept, so a client sending a byte a second cannot keep a slot.
 *
 * When every slot is taken, a new connection closes the one that is worth least to
 * its client: one that has sent nothing yet, then one that was answered and only
 * lingers, then one with half a request, then one still being answered; the oldest
 * first within each. Idle sockets held open by one client therefore never lock out a
 * health probe, which sends its request at once and is answered in the same turn.
 */
#include "daemon/metrics_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"

#define LINGER_MS        2000
#define TIMEOUT_WRITE_MS 1000 /* for a 408 to a client that stopped sending */
#define ACCEPT_RETRY_MS  1000

enum conn_state { CONN_READ, CONN_WRITE, CONN_LINGER };

struct conn {
    struct metrics_http *srv;
    struct conn *next, *prev;
    int fd;
    enum conn_state state;
    struct loop_timer *timer;
    char in[METRICS_HTTP_MAX_REQUEST];
    size_t inlen;
    struct buf out;
    size_t outoff;
    uint64_t accepted_ms; /* monotonic */
};

struct metrics_http {
    struct loop *loop;
    metrics_http_fn fn;
    void *arg;
    int lfd;
    char *addr;
    struct loop_timer *accept_retry; /* after EMFILE and friends */
    struct conn *conns;
    size_t nconns;
};

const char *metrics_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Unknown";
}

/* ---- parsing ---- */

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_ctl(char c)
{
    return (unsigned char)c < 0x20 || c == 0x7f;
}

/* Length of the line at s (without LF and a CR before it); *next after its LF; -1 when
 * there is no LF in [s, end) or a CR appears elsewhere than before the LF. */
static long line_at(const char *s, const char *end, const char **next)
{
    const char *lf = memchr(s, '\n', (size_t)(end - s));
    const char *stop;

    if (!lf)
        return -1;
    stop = lf > s && lf[-1] == '\r' ? lf - 1 : lf;
    if (memchr(s, '\r', (size_t)(stop - s)))
        return -1;
    *next = lf + 1;
    return stop - s;
}

/* The request line: 0, or the status to answer. */
static int parse_request_line(const char *s, size_t n, struct metrics_http_request *rq,
                              bool *http11)
{
    const char *sp1 = memchr(s, ' ', n), *sp2, *target, *v, *end = s + n, *q;
    size_t tlen;

    if (!sp1 || sp1 == s || (size_t)(sp1 - s) >= sizeof rq->method)
        return 400;
    for (const char *p = s; p < sp1; p++)
        if (!is_tchar(*p))
            return 400;
    target = sp1 + 1;
    sp2 = memchr(target, ' ', (size_t)(end - target));
    if (!sp2 || sp2 == target)
        return 400;
    v = sp2 + 1;
    if (end - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1')
        return 505;
    *http11 = v[7] >= '1';
    memcpy(rq->method, s, (size_t)(sp1 - s));
    rq->method[sp1 - s] = '\0';

    for (const char *p = target; p < sp2; p++)
        if (is_ctl(*p) || (unsigned char)*p >= 0x80)
            return 400;
    /* absolute-form: drop scheme and authority */
    tlen = (size_t)(sp2 - target);
    if ((tlen > 7 && strncasecmp(target, "http://", 7) == 0) ||
        (tlen > 8 && strncasecmp(target, "https://", 8) == 0)) {
        const char *auth = (const char *)memchr(target, '/', tlen) + 2;
        const char *slash = memchr(auth, '/', (size_t)(sp2 - auth));
        target = slash ? slash : "/";
        if (!slash)
            sp2 = target + 1;
    } else if (!(target[0] == '/' || (tlen == 1 && target[0] == '*'))) {
        return 400;
    }
    q = target;
    while (q < sp2 && *q != '?' && *q != '#')
        q++;
    if ((size_t)(q - target) >= sizeof rq->path)
        return 414;
    memcpy(rq->path, target, (size_t)(q - target));
    rq->path[q - target] = '\0';
    return 0;
}

/* A complete head [s, s+n) ending with its blank line: 0, or the status to answer. */
int metrics_http_parse_head(const char *s, size_t n, struct metrics_http_request *rq)
{
    const char *end = s + n, *next;
    unsigned hosts = 0;
    bool http11 = false;
    long len = line_at(s, end, &next);
    int st;

    memset(rq, 0, sizeof *rq);
    if (len < 0)
        return 400;
    st = parse_request_line(s, (size_t)len, rq, &http11);
    if (st)
        return st;
    for (s = next; (len = line_at(s, end, &next)) > 0; s = next) {
        const char *colon = memchr(s, ':', (size_t)len);

        if (!colon || colon == s)
            return 400;
        for (const char *p = s; p < colon; p++)
            if (!is_tchar(*p))
                return 400;
        for (const char *p = colon + 1; p < s + len; p++)
            if (is_ctl(*p) && *p != '\t')
                return 400;
        if (colon - s == 4 && strncasecmp(s, "host", 4) == 0)
            hosts++;
    }
    if (len != 0 || next != end)
        return 400;
    /* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one before. */
    if (hosts > 1 || (http11 && hosts == 0))
        return 400;
    return 0;
}

/* Length of the head in buf (through its blank line), 0 when incomplete. */
static size_t head_length(const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < n && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* ---- connections ---- */

static void conn_close(struct conn *c)
{
    struct metrics_http *s = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    loop_del_fd(s->loop, c->fd);
    close(c->fd);
    loop_timer_free(c->timer);
    buf_free(&c->out);
    free(c);
}

static void conn_write(struct conn *c);

static void conn_respond(struct conn *c, int status, const char *ctype, const char *extra,
                         const char *body, size_t bodylen, bool head_only, uint64_t timeout_ms)
{
    buf_reset(&c->out);
    buf_printf(&c->out,
               "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
               "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
               status, metrics_http_reason(status), ctype, bodylen, extra ? extra : "");
    if (!head_only)
        buf_append(&c->out, body, bodylen);
    c->outoff = 0;
    c->state = CONN_WRITE;
    loop_timer_arm(c->timer, timeout_ms, 0);
    conn_write(c);
}

static void respond_error(struct conn *c, int status, uint64_t timeout_ms)
{
    char body[64];
    int n = snprintf(body, sizeof body, "%s\n", metrics_http_reason(status));

    conn_respond(c, status, "text/plain; charset=utf-8",
                 status == 405 ? "Allow: GET, HEAD\r\n" : NULL, body, (size_t)n, false, timeout_ms);
}

static void dispatch(struct conn *c, size_t headlen)
{
    struct metrics_http *s = c->srv;
    struct metrics_http_reply r = {200, "text/plain; charset=utf-8", {0}};
    struct metrics_http_request rq;
    bool head;
    int st;

    memset(&rq, 0, sizeof rq);
    st = metrics_http_parse_head(c->in, headlen, &rq);
    if (st) {
        respond_error(c, st, METRICS_HTTP_WRITE_TIMEOUT_MS);
        return;
    }
    head = strcmp(rq.method, "HEAD") == 0;
    if (!head && strcmp(rq.method, "GET") != 0) {
        respond_error(c, 405, METRICS_HTTP_WRITE_TIMEOUT_MS);
        return;
    }
    buf_init(&r.body);
    s->fn(s->arg, rq.path, &r);
    conn_respond(c, r.status, r.content_type, NULL, r.body.data ? r.body.data : "", r.body.len,
                 head, METRICS_HTTP_WRITE_TIMEOUT_MS);
    buf_free(&r.body);
}

/* After each read: answer as soon as the head is complete, the request line is bad, or
 * the buffer is full. false when it answered (c may be gone by then). */
static bool conn_check_input(struct conn *c)
{
    size_t headlen = head_length(c->in, c->inlen);
    const char *lf = memchr(c->in, '\n', c->inlen), *next;
    struct metrics_http_request rq;
    bool http11;

    if (headlen) {
        dispatch(c, headlen);
        return false;
    }
    if (lf) {
        long len = line_at(c->in, c->in + c->inlen, &next);
        int st = len < 0 ? 400 : parse_request_line(c->in, (size_t)len, &rq, &http11);
        if (st) {
            respond_error(c, st, METRICS_HTTP_WRITE_TIMEOUT_MS);
            return false;
        }
    }
    if (c->inlen == sizeof c->in) {
        respond_error(c, lf ? 431 : 414, METRICS_HTTP_WRITE_TIMEOUT_MS);
        return false;
    }
    return true;
}

static void conn_read(struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            conn_close(c); /* the client went away before asking */
            return;
        }
        c->inlen += (size_t)n;
        if (!conn_check_input(c))
            return;
    }
}

static void conn_linger(struct conn *c)
{
    char sink[4096];
    ssize_t n;

    while ((n = read(c->fd, sink, sizeof sink)) > 0)
        ;
    if (n == 0 || (errno != EAGAIN && errno != EINTR))
        conn_close(c);
}

static void conn_write(struct conn *c)
{
    while (c->outoff < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->outoff, c->out.len - c->outoff, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            loop_mod_fd(c->srv->loop, c->fd, EPOLLOUT);
            return;
        }
        if (n < 0) {
            conn_close(c);
            return;
        }
        c->outoff += (size_t)n;
    }
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_LINGER;
    loop_mod_fd(c->srv->loop, c->fd, EPOLLIN);
    loop_timer_arm(c->timer, LINGER_MS, 0);
}

static void on_conn(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct conn *c = arg;

    (void)l;
    (void)fd;
    if (c->state == CONN_READ)
        conn_read(c);
    else if (c->state == CONN_WRITE && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        conn_write(c);
    else if (c->state == CONN_LINGER)
        conn_linger(c);
}

static void on_conn_timer(struct loop_timer *t, void *arg)
{
    struct conn *c = arg;

    (void)t;
    if (c->state == CONN_READ) {
        log_debug("metrics listener: request not complete within %d ms: closing",
                  METRICS_HTTP_REQUEST_TIMEOUT_MS);
        respond_error(c, 408, TIMEOUT_WRITE_MS);
    } else {
        conn_close(c);
    }
}

/* How little closing c costs its client (see DESIGN): lower goes first. */
static int eviction_rank(const struct conn *c)
{
    switch (c->state) {
    case CONN_READ:
        return c->inlen == 0 ? 0 : 2;
    case CONN_LINGER:
        return 1;
    case CONN_WRITE:
        break;
    }
    return 3;
}

static struct conn *eviction_victim(const struct metrics_http *s)
{
    struct conn *best = NULL;

    for (struct conn *c = s->conns; c; c = c->next) {
        if (!best || eviction_rank(c) < eviction_rank(best) ||
            (eviction_rank(c) == eviction_rank(best) && c->accepted_ms <= best->accepted_ms))
            best = c;
    }
    return best;
}

static void accept_conn(struct metrics_http *s, int fd)
{
    struct conn *c;

    if (s->nconns >= METRICS_HTTP_MAX_CONNS) {
        struct conn *victim = eviction_victim(s);
        if (!victim) {
            close(fd);
            return;
        }
        log_debug("metrics listener: %d connections open: closing the %s one",
                  METRICS_HTTP_MAX_CONNS,
                  eviction_rank(victim) == 0 ? "oldest idle" : "least useful");
        conn_close(victim);
    }
    c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->fd = fd;
    c->state = CONN_READ;
    c->accepted_ms = now_monotonic_ms();
    buf_init(&c->out);
    c->timer = loop_timer_new(s->loop, on_conn_timer, c);
    if (!c->timer || loop_add_fd(s->loop, fd, EPOLLIN, on_conn, c) < 0) {
        loop_timer_free(c->timer);
        close(fd);
        free(c);
        return;
    }
    loop_timer_arm(c->timer, METRICS_HTTP_REQUEST_TIMEOUT_MS, 0);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
}

static void on_listen(struct loop *l, int fd, uint32_t events, void *arg);

static void on_accept_retry(struct loop_timer *t, void *arg)
{
    struct metrics_http *s = arg;

    (void)t;
    if (s->lfd >= 0 && loop_add_fd(s->loop, s->lfd, EPOLLIN, on_listen, s) < 0)
        log_err("metrics listener: epoll: %s", strerror(errno));
}

static void on_listen(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct metrics_http *s = arg;

    (void)events;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd >= 0) {
            accept_conn(s, cfd);
            continue;
        }
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            return;
        /* Out of descriptors: a level-triggered listener would spin, so pause it. */
        log_warn("metrics listener: accept: %s; pausing for %d ms", strerror(errno),
                 ACCEPT_RETRY_MS);
        loop_del_fd(l, fd);
        loop_timer_arm(s->accept_retry, ACCEPT_RETRY_MS, 0);
        return;
    }
}

/* ---- the listener ---- */

struct metrics_http *metrics_http_new(struct loop *l, metrics_http_fn fn, void *arg)
{
    struct metrics_http *s = xcalloc(1, sizeof *s);

    s->loop = l;
    s->fn = fn;
    s->arg = arg;
    s->lfd = -1;
    s->accept_retry = loop_timer_new(l, on_accept_retry, s);
    if (!s->accept_retry) {
        free(s);
        return NULL;
    }
    return s;
}

/* A bound, listening, non-blocking socket for addr, or -1 with err set. */
static int open_listener(const char *addr, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    const char *colon = strrchr(addr, ':');
    char host[256];
    size_t hlen;
    int fd = -1, one = 1, rc;

    if (!colon || colon == addr) {
        snprintf(err, errlen, "%s is not HOST:PORT", addr);
        return -1;
    }
    hlen = (size_t)(colon - addr);
    if (addr[0] == '[' && hlen >= 2 && addr[hlen - 1] == ']') {
        addr++;
        hlen -= 2;
    }
    if (hlen >= sizeof host) {
        snprintf(err, errlen, "host name too long");
        return -1;
    }
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        goto fail;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
        snprintf(err, errlen, "bind: %s", strerror(errno));
        goto fail;
    }
    if (listen(fd, 64) < 0) {
        snprintf(err, errlen, "listen: %s", strerror(errno));
        goto fail;
    }
    freeaddrinfo(res);
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return -1;
}

static void close_listener(struct metrics_http *s)
{
    if (s->lfd < 0)
        return;
    loop_del_fd(s->loop, s->lfd);
    loop_timer_disarm(s->accept_retry);
    close(s->lfd);
    s->lfd = -1;
    free(s->addr);
    s->addr = NULL;
}

int metrics_http_listen(struct metrics_http *s, const char *addr, char *err, size_t errlen)
{
    int fd;

    if (addr && s->addr && strcmp(addr, s->addr) == 0)
        return 0;
    if (!addr) {
        close_listener(s);
        return 0;
    }
    fd = open_listener(addr, err, errlen);
    if (fd < 0)
        return -1;
    if (loop_add_fd(s->loop, fd, EPOLLIN, on_listen, s) < 0) {
        snprintf(err, errlen, "epoll: %s", strerror(errno));
        close(fd);
        return -1;
    }
    close_listener(s);
    s->lfd = fd;
    s->addr = xstrdup(addr);
    return 0;
}

const char *metrics_http_address(const struct metrics_http *s)
{
    return s->addr;
}

void metrics_http_free(struct metrics_http *s)
{
    if (!s)
        return;
    close_listener(s);
    while (s->conns)
        conn_close(s->conns); /* NOLINT(clang-analyzer-unix.Malloc): it unlinks the connection */
    loop_timer_free(s->accept_retry);
    free(s);
}
