/*
 * httpd.h: an HTTP server on the loop, libmicrohttpd driven from epoll.
 *
 * libmicrohttpd parses requests and writes answers; this part owns what it must
 * not decide alone: the listening socket and which connections get a slot. MHD
 * runs without a thread (MHD_USE_EPOLL): its epoll descriptor sits in the loop,
 * MHD_run() runs when it is readable and MHD_get_timeout() arms a loop timer.
 *
 * Accept policy: a connection that has sent nothing yet stays here, in the loop,
 * and goes to MHD with its first byte. At most max_conns connections are open; a
 * new one beyond them closes one that has sent nothing (oldest first), then one
 * still sending its head, so that idle or half-sent sockets held open by one
 * client never keep another request out, whatever its address. A request head
 * must arrive whole within head_timeout_ms of the connection (of the previous
 * answer on a kept-alive connection), however slowly its bytes trickle in: the
 * client is answered 408 (plain HTTP) and closed. A body must keep moving:
 * idle_timeout_s without a byte closes the connection (MHD's own timeout).
 *
 * A request is handed over in steps: on_head when the head is complete, on_body
 * with each piece of the body (what the handler does not take suspends the
 * connection until httpd_resume()), on_end when the body is complete, on_close
 * when it is answered or abandoned. An answer given with httpd_respond() goes out
 * at once or, from a suspended request, when it is resumed. Everything runs on the
 * loop thread.
 */
#ifndef INGESTD_HTTPD_H
#define INGESTD_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"

struct httpd;
struct httpd_req;

struct httpd_handler {
    void (*on_head)(void *arg, struct httpd_req *r);
    /* Bytes taken from p; fewer than n suspends the connection until httpd_resume(). */
    size_t (*on_body)(void *arg, struct httpd_req *r, const char *p, size_t n);
    void (*on_end)(void *arg, struct httpd_req *r);
    void (*on_close)(void *arg, struct httpd_req *r); /* NULL: nothing to free */
    void *arg;
};

struct httpd_opts {
    const char *name;         /* for log lines: "metrics listener" */
    unsigned max_conns;       /* open connections */
    unsigned head_timeout_ms; /* a request head must be complete within this */
    unsigned idle_timeout_s;  /* a connection that moves nothing for this long is closed */
    size_t head_max;          /* the largest request head answered (httpd_head_refusal) */
    bool close_after_answer;  /* one request per connection (Connection: close) */
    const char *tls_cert_pem; /* both or neither: HTTPS */
    const char *tls_key_pem;
};

/* A server without a listener yet; 0 on failure with err set. l and h are borrowed. */
struct httpd *httpd_new(struct loop *l, const struct httpd_opts *o, const struct httpd_handler *h,
                        char *err, size_t errlen);
/* Closes the listener and every connection. NULL-safe. */
void httpd_free(struct httpd *s);
/* True when this build of libmicrohttpd can serve HTTPS. */
bool httpd_tls_supported(void);

/*
 * Listens on addr, "HOST:PORT" or "[V6ADDR]:PORT", bound exactly there. The previous
 * listener closes only once the new one is bound, so a failure keeps it; open
 * connections are never affected. NULL closes the listener. 0, or -1 with err.
 */
int httpd_listen(struct httpd *s, const char *addr, char *err, size_t errlen);
const char *httpd_address(const struct httpd *s); /* NULL: not listening */

/* The request. Strings are borrowed for the request's life. */
const char *httpd_method(const struct httpd_req *r);
const char *httpd_path(const struct httpd_req *r); /* decoded, without the query */
const char *httpd_header(const struct httpd_req *r, const char *name); /* NULL: absent */
const char *httpd_peer(const struct httpd_req *r);                     /* "ADDR:PORT" */
/* Each query argument in order (repeated keys repeat); value NULL for a bare key.
 * fn returns false to stop. */
void httpd_args(const struct httpd_req *r, bool (*fn)(void *arg, const char *k, const char *v),
                void *arg);
/*
 * 0 when the request head fits head_max, else the status to refuse it with: 414 when its
 * request line with the query arguments is over it alone, 431 otherwise. A head counts
 * what it takes of its connection's memory: its bytes as received plus libmicrohttpd's
 * record of each header, argument and cookie; once the body has ended (in on_end) the
 * trailers of a chunked body count too. The connection's memory is head_max and room
 * for the answer, so a handler that refuses what this names can answer every request.
 */
int httpd_head_refusal(const struct httpd_req *r);
void httpd_set_data(struct httpd_req *r, void *data);
void *httpd_data(const struct httpd_req *r);

/* The answer; body copied. extra: NULL or "Name", "value", ..., NULL. Once only. */
void httpd_respond(struct httpd_req *r, int status, const char *content_type, const void *body,
                   size_t len, const char *const *extra);
bool httpd_responded(const struct httpd_req *r);
/* Wakes a suspended request: it takes more body, or sends its answer. */
void httpd_resume(struct httpd_req *r);

#endif
