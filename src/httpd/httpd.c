/*
 * httpd.c: libmicrohttpd in the loop, the listener and the accept policy (see httpd.h).
 *
 * DESIGN
 * MHD runs with MHD_USE_NO_LISTEN_SOCKET: the loop accepts, keeps a connection that
 * has sent nothing (struct conn, state WAITING, its descriptor in the loop) and
 * hands it to MHD with MHD_add_connection() once it is readable. From then on MHD
 * reads and writes it; struct conn stays as the socket context to time the request
 * head and to close the connection from outside (shutdown(), which MHD notices at
 * its next read). The deadline sweep and the eviction both work on struct conn.
 *
 * MHD is never run from inside its own callbacks: anything that needs it to run
 * (a new connection, a resumed one) arms the run timer at once, and the timer, like
 * the readiness of MHD's epoll descriptor, calls run(), which re-arms the timer with
 * MHD_get_timeout().
 */
#include "httpd/httpd.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/log.h"
#include "base/util.h"

#define ACCEPT_RETRY_MS 1000
#define SWEEP_MS        250
/* MHD keeps each header, query argument and cookie as a record of seven words in the
 * connection's memory: 64 bytes at most once aligned. */
#define MHD_RECORD_BYTES 64
/* What an answer's status line and headers take of a connection's memory, at most: kept
 * free above head_max. */
#define ANSWER_ROOM (16 * 1024)

enum conn_state { CONN_WAITING, CONN_MHD };

struct conn {
    struct httpd *srv;
    struct conn *next, *prev;
    int fd;
    enum conn_state state;
    bool in_request; /* head complete, not yet answered */
    bool answered;   /* a request was answered on it */
    bool closing;    /* shut down by us, MHD still to notice */
    uint64_t deadline_ms;
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

struct httpd_req {
    struct httpd *srv;
    struct MHD_Connection *mc;
    struct conn *conn;
    const char *method, *path;
    char peer[64];
    struct MHD_Response *resp;
    int status;
    struct buf raw; /* the answer as bytes, for when MHD will not send it (mid-body) */
    bool queued, suspended, ended;
    void *data;
};

struct httpd {
    struct loop *loop;
    struct httpd_opts o;
    char *cert, *key;
    struct httpd_handler h;
    struct MHD_Daemon *mhd;
    int mhd_fd;
    struct loop_timer *run_timer, *sweep_timer, *accept_retry;
    int lfd;
    char *addr;
    struct conn *conns;
    unsigned nconns; /* not counting closing ones */
    bool running;    /* inside MHD_run() */
};

bool httpd_tls_supported(void)
{
    return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

/* ---- running MHD ---- */

static void run(struct httpd *s)
{
    MHD_UNSIGNED_LONG_LONG t;

    s->running = true;
    MHD_run(s->mhd);
    s->running = false;
    if (MHD_get_timeout(s->mhd, &t) == MHD_YES)
        loop_timer_arm(s->run_timer, t ? t : 1, 0);
    else
        loop_timer_disarm(s->run_timer);
}

static void kick(struct httpd *s)
{
    loop_timer_arm_us(s->run_timer, 0);
}

static void on_run_timer(struct loop_timer *t, void *arg)
{
    (void)t;
    run(arg);
}

static void on_mhd_fd(struct loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    run(arg);
}

/* ---- connections ---- */

static void conn_unlink(struct conn *c)
{
    struct httpd *s = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev; /* NOLINT(clang-analyzer-unix.Malloc): a linked neighbour */
    if (!c->closing)
        s->nconns--;
}

/* Closes a connection from outside: a waiting one at once, MHD's through shutdown(). */
static void conn_close(struct conn *c, bool timed_out)
{
    static const char answer408[] = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                                    "Content-Type: text/plain; charset=utf-8\r\n"
                                    "Content-Length: 16\r\n\r\nrequest timeout\n";
    struct httpd *s = c->srv;

    if (c->closing)
        return;
    /* Nothing of an answer has been written yet: a plain 408 cannot garble one. */
    if (timed_out && !c->answered && !s->cert)
        (void)send(c->fd, answer408, sizeof answer408 - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (c->state == CONN_WAITING) {
        conn_unlink(c);
        loop_del_fd(s->loop, c->fd);
        close(c->fd);
        free(c);
        return;
    }
    shutdown(c->fd, SHUT_RDWR);
    c->closing = true;
    s->nconns--;
    kick(s);
}

/* A plain request starts with a method, a token. Anything else (a TLS hello sent to a plain
 * listener, a binary probe) is answered 400 at once instead of waiting for a line end. */
static bool starts_like_request(const struct conn *c)
{
    unsigned char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    if (n <= 0) /* closed or an error: MHD finds out itself */
        return true;
    return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || b == '\r' || b == '\n';
}

static void on_conn_readable(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct conn *c = arg;
    struct httpd *s = c->srv;

    (void)events;
    if (!s->cert && !starts_like_request(c)) {
        static const char answer400[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                                        "Content-Type: text/plain; charset=utf-8\r\n"
                                        "Content-Length: 12\r\n\r\nbad request\n";
        char drain[4096];

        (void)send(fd, answer400, sizeof answer400 - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        shutdown(fd, SHUT_WR);
        /* unread input would turn the close into a reset that can beat the answer */
        (void)recv(fd, drain, sizeof drain, MSG_DONTWAIT);
        conn_close(c, false);
        return;
    }
    loop_del_fd(l, fd);
    c->state = CONN_MHD;
    if (MHD_add_connection(s->mhd, fd, (const struct sockaddr *)&c->addr, c->addrlen) != MHD_YES) {
        /* MHD closed the socket */
        conn_unlink(c);
        free(c);
        return;
    }
    kick(s);
}

/* The connection a new one replaces: one that sent nothing, then one still sending its
 * head, oldest first. NULL: every slot has a request being served. */
static struct conn *eviction_victim(const struct httpd *s)
{
    struct conn *best = NULL;
    int best_rank = 3;

    for (struct conn *c = s->conns; c; c = c->next) {
        int rank = c->closing ? 3 : c->state == CONN_WAITING ? 0 : !c->in_request ? 1 : 3;
        /* the list is newest first: a later equal rank is older */
        if (rank < 3 && rank <= best_rank) {
            best = c;
            best_rank = rank;
        }
    }
    return best;
}

static void accept_conn(struct httpd *s, int fd, const struct sockaddr_storage *sa, socklen_t len)
{
    struct conn *c;

    if (s->nconns >= s->o.max_conns) {
        struct conn *victim = eviction_victim(s);
        if (!victim) {
            close(fd);
            return;
        }
        log_debug("%s: %u connections open, closing the %s one", s->o.name, s->nconns,
                  victim->state == CONN_WAITING ? "oldest idle" : "oldest unfinished");
        conn_close(victim, false);
    }
    c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->fd = fd;
    c->addr = *sa;
    c->addrlen = len;
    c->deadline_ms = now_monotonic_ms() + s->o.head_timeout_ms;
    if (loop_add_fd(s->loop, fd, EPOLLIN, on_conn_readable, c) < 0) {
        close(fd);
        free(c);
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (!loop_timer_armed(s->sweep_timer))
        loop_timer_arm(s->sweep_timer, SWEEP_MS, SWEEP_MS);
}

static void on_sweep(struct loop_timer *t, void *arg)
{
    struct httpd *s = arg;
    uint64_t now = now_monotonic_ms();
    struct conn *c = s->conns, *next;

    if (!c) {
        loop_timer_disarm(t);
        return;
    }
    for (; c; c = next) {
        next = c->next;
        if (!c->closing && !c->in_request && now >= c->deadline_ms)
            conn_close(c, true);
    }
}

static void on_listen(struct loop *l, int fd, uint32_t events, void *arg);

static void on_accept_retry(struct loop_timer *t, void *arg)
{
    struct httpd *s = arg;

    (void)t;
    if (s->lfd >= 0 && loop_add_fd(s->loop, s->lfd, EPOLLIN, on_listen, s) < 0)
        log_err("%s: epoll: %s", s->o.name, strerror(errno));
}

static void on_listen(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct httpd *s = arg;

    (void)events;
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof sa;
        int cfd = accept4(fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd >= 0) {
            accept_conn(s, cfd, &sa, len);
            continue;
        }
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            return;
        /* Out of descriptors: a level-triggered listener would spin, so pause it. */
        log_warn("%s: accept: %s; pausing for %d ms", s->o.name, strerror(errno), ACCEPT_RETRY_MS);
        loop_del_fd(l, fd);
        loop_timer_arm(s->accept_retry, ACCEPT_RETRY_MS, 0);
        return;
    }
}

/* ---- MHD's callbacks ---- */

static struct conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct httpd *s = cls;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
            mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (struct conn *c = s->conns; c && ci; c = c->next) {
            if (c->fd == ci->connect_fd && c->state == CONN_MHD) {
                *socket_context = c;
                break;
            }
        }
        return;
    }
    if (*socket_context) {
        struct conn *c = *socket_context;
        conn_unlink(c);
        free(c);
        *socket_context = NULL;
    }
}

static void req_peer(struct httpd_req *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        r->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)ci->client_addr;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)ci->client_addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(r->peer, sizeof r->peer, "%s:%d", host, port);
}

static enum MHD_Result queue(struct httpd_req *r)
{
    enum MHD_Result rc = MHD_queue_response(r->mc, (unsigned)r->status, r->resp);

    r->queued = true;
    return rc;
}

/* An answer in the middle of a body (413): MHD sends answers only once a body is read,
 * so a plain connection gets it written here, and is closed; the rest is never read. */
static enum MHD_Result queue_mid_body(struct httpd_req *r)
{
    r->queued = true;
    if (!r->srv->cert && r->conn && !r->conn->closing) {
        (void)send(r->conn->fd, r->raw.data, r->raw.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        shutdown(r->conn->fd, SHUT_WR);
    }
    return MHD_NO; /* MHD closes the connection */
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *mc, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    struct httpd *s = cls;
    struct httpd_req *r = *con_cls;

    (void)version;
    if (!r) {
        r = xcalloc(1, sizeof *r);
        r->srv = s;
        r->mc = mc;
        r->conn = conn_of(mc);
        r->method = method;
        r->path = url;
        req_peer(r);
        *con_cls = r;
        if (r->conn)
            r->conn->in_request = true;
        s->h.on_head(s->h.arg, r);
        if (r->resp)
            return queue(r);
        return MHD_YES;
    }
    if (r->queued)
        return MHD_NO;
    if (r->resp && *upload_size)
        return queue_mid_body(r);
    if (r->resp)
        return queue(r);
    if (*upload_size) {
        size_t n = *upload_size, took = s->h.on_body(s->h.arg, r, upload, n);

        *upload_size = n - took;
        if (r->resp)
            return queue_mid_body(r);
        if (took < n) {
            MHD_suspend_connection(mc);
            r->suspended = true;
        }
        return MHD_YES;
    }
    if (!r->ended) {
        r->ended = true;
        s->h.on_end(s->h.arg, r);
    }
    if (r->resp)
        return queue(r);
    /* the answer comes later: wait without a timeout */
    MHD_suspend_connection(mc);
    r->suspended = true;
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct httpd *s = cls;
    struct httpd_req *r = *con_cls;
    struct conn *c = conn_of(mc);

    (void)toe;
    if (c) {
        c->in_request = false;
        c->answered = true;
        c->deadline_ms = now_monotonic_ms() + (uint64_t)s->o.idle_timeout_s * 1000;
    }
    if (!r)
        return;
    if (s->h.on_close)
        s->h.on_close(s->h.arg, r);
    if (r->resp)
        MHD_destroy_response(r->resp);
    buf_free(&r->raw);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct httpd *s = cls;
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_debug("%s: %s", s->o.name, msg);
}

/* ---- the request ---- */

const char *httpd_method(const struct httpd_req *r)
{
    return r->method;
}

const char *httpd_path(const struct httpd_req *r)
{
    return r->path;
}

const char *httpd_header(const struct httpd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, name);
}

const char *httpd_peer(const struct httpd_req *r)
{
    return r->peer;
}

struct args_walk {
    bool (*fn)(void *arg, const char *k, const char *v);
    void *arg;
};

static enum MHD_Result arg_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct args_walk *w = cls;

    (void)kind;
    return w->fn(w->arg, key, value) ? MHD_YES : MHD_NO;
}

void httpd_args(const struct httpd_req *r, bool (*fn)(void *arg, const char *k, const char *v),
                void *arg)
{
    struct args_walk w = {fn, arg};

    MHD_get_connection_values(r->mc, MHD_GET_ARGUMENT_KIND, arg_iter, &w);
}

struct head_walk {
    size_t records;
    size_t fields; /* the header fields as a client writes them, "Name: value\r\n" */
};

static enum MHD_Result count_record(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    struct head_walk *w = cls;

    (void)key;
    (void)value;
    w->records++;
    if (kind == MHD_HEADER_KIND || kind == MHD_FOOTER_KIND)
        w->fields += key_size + value_size + 4;
    return MHD_YES;
}

/* The head's share of the connection's memory, and its request line's. */
static void head_size(const struct httpd_req *r, size_t *head, size_t *line)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        r->mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    const char *cookie = httpd_header(r, MHD_HTTP_HEADER_COOKIE);
    struct head_walk hdrs = {0, 0}, args = {0, 0}, cookies = {0, 0};
    size_t raw = ci ? ci->header_size : 0; /* as received, request line to blank line */

    MHD_get_connection_values_n(r->mc, MHD_HEADER_KIND, count_record, &hdrs);
    MHD_get_connection_values_n(r->mc, MHD_GET_ARGUMENT_KIND, count_record, &args);
    MHD_get_connection_values_n(r->mc, MHD_COOKIE_KIND, count_record, &cookies);
    *head = raw + (hdrs.records + args.records + cookies.records) * MHD_RECORD_BYTES;
    if (cookie) /* MHD parses a copy of it */
        *head += strlen(cookie) + 1;
    /* what the fields and the blank line do not take; a client that pads its fields
     * with more white space only makes its request line look longer */
    *line = (raw > hdrs.fields + 2 ? raw - hdrs.fields - 2 : 0) + args.records * MHD_RECORD_BYTES;
}

int httpd_head_refusal(const struct httpd_req *r)
{
    size_t head, line, max = r->srv->o.head_max;

    head_size(r, &head, &line);
    if (r->ended) {
        struct head_walk trailers = {0, 0};
        MHD_get_connection_values_n(r->mc, MHD_FOOTER_KIND, count_record, &trailers);
        head += trailers.fields + trailers.records * MHD_RECORD_BYTES;
    }
    if (head <= max)
        return 0;
    return line > max ? 414 : 431;
}

void httpd_set_data(struct httpd_req *r, void *data)
{
    r->data = data;
}

void *httpd_data(const struct httpd_req *r)
{
    return r->data;
}

void httpd_respond(struct httpd_req *r, int status, const char *content_type, const void *body,
                   size_t len, const char *const *extra)
{
    if (r->resp)
        return;
    r->resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r->resp)
        return;
    r->status = status;
    buf_printf(&r->raw, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %zu\r\n", status,
               MHD_get_reason_phrase_for((unsigned)status), len);
    if (content_type) {
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        buf_printf(&r->raw, "Content-Type: %s\r\n", content_type);
    }
    for (; extra && extra[0] && extra[1]; extra += 2) {
        MHD_add_response_header(r->resp, extra[0], extra[1]);
        buf_printf(&r->raw, "%s: %s\r\n", extra[0], extra[1]);
    }
    buf_puts(&r->raw, "\r\n");
    buf_append(&r->raw, body, len);
    if (r->srv->o.close_after_answer)
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

bool httpd_responded(const struct httpd_req *r)
{
    return r->resp != NULL;
}

void httpd_resume(struct httpd_req *r)
{
    if (!r->suspended)
        return;
    r->suspended = false;
    MHD_resume_connection(r->mc);
    kick(r->srv);
}

/* ---- the server ---- */

static char *read_pem(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    struct buf b;
    char chunk[4096];
    size_t n;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf_init(&b);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (1u << 20))
        buf_append(&b, chunk, n);
    fclose(f);
    buf_putc(&b, '\0');
    return buf_steal(&b);
}

struct httpd *httpd_new(struct loop *l, const struct httpd_opts *o, const struct httpd_handler *h,
                        char *err, size_t errlen)
{
    struct httpd *s = xcalloc(1, sizeof *s);
    unsigned flags = MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *di;

    s->loop = l;
    s->o = *o;
    s->h = *h;
    s->lfd = -1;
    s->mhd_fd = -1;
    if (o->tls_cert_pem && o->tls_key_pem) {
        if (!httpd_tls_supported()) {
            snprintf(err, errlen, "this build of libmicrohttpd has no TLS");
            goto fail;
        }
        s->cert = read_pem(o->tls_cert_pem, err, errlen);
        s->key = s->cert ? read_pem(o->tls_key_pem, err, errlen) : NULL;
        if (!s->key)
            goto fail;
        flags |= MHD_USE_TLS;
    }
    s->run_timer = loop_timer_new(l, on_run_timer, s);
    s->sweep_timer = loop_timer_new(l, on_sweep, s);
    s->accept_retry = loop_timer_new(l, on_accept_retry, s);
    if (!s->run_timer || !s->sweep_timer || !s->accept_retry) {
        snprintf(err, errlen, "timerfd: %s", strerror(errno));
        goto fail;
    }
    if (s->cert)
        s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_CONNECTION_LIMIT,
                                  (unsigned)(o->max_conns + 16), MHD_OPTION_CONNECTION_TIMEOUT,
                                  o->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                  o->head_max + ANSWER_ROOM, MHD_OPTION_NOTIFY_CONNECTION,
                                  on_connection, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                                  MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_HTTPS_MEM_CERT,
                                  s->cert, MHD_OPTION_HTTPS_MEM_KEY, s->key, MHD_OPTION_END);
    else
        s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_CONNECTION_LIMIT,
                                  (unsigned)(o->max_conns + 16), MHD_OPTION_CONNECTION_TIMEOUT,
                                  o->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                  o->head_max + ANSWER_ROOM, MHD_OPTION_NOTIFY_CONNECTION,
                                  on_connection, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                                  MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, errlen, "libmicrohttpd did not start%s",
                 s->cert ? " (TLS key or cert?)" : "");
        goto fail;
    }
    di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di || loop_add_fd(l, di->epoll_fd, EPOLLIN, on_mhd_fd, s) < 0) {
        snprintf(err, errlen, "cannot watch libmicrohttpd's epoll descriptor");
        goto fail;
    }
    s->mhd_fd = di->epoll_fd;
    return s;
fail:
    httpd_free(s);
    return NULL;
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
    if (listen(fd, 128) < 0) {
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

static void close_listener(struct httpd *s)
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

int httpd_listen(struct httpd *s, const char *addr, char *err, size_t errlen)
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

const char *httpd_address(const struct httpd *s)
{
    return s->addr;
}

void httpd_free(struct httpd *s)
{
    if (!s)
        return;
    close_listener(s);
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_WAITING)
            conn_close(c, false);
    }
    if (s->mhd_fd >= 0)
        loop_del_fd(s->loop, s->mhd_fd);
    if (s->mhd)
        MHD_stop_daemon(s->mhd); /* closes MHD's connections, freeing their struct conn */
    while (s->conns) {           /* none left unless MHD never reported one */
        struct conn *c = s->conns;
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): each is unlinked before it is freed */
        conn_unlink(c);
        free(c);
    }
    loop_timer_free(s->run_timer);
    loop_timer_free(s->sweep_timer);
    loop_timer_free(s->accept_retry);
    free(s->cert);
    free(s->key);
    free(s->addr);
    free(s);
}
