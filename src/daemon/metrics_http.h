/*
 * metrics_http.h: a minimal HTTP/1.1 server on the loop, for /metrics and /healthz.
 *
 * One request per connection (the answer says Connection: close). GET and HEAD are
 * handed to the caller's function; any other method gets 405, a malformed request
 * 400, an oversized one (more than METRICS_HTTP_MAX_REQUEST bytes of request line
 * and headers) 414 or 431. A request must arrive whole within
 * METRICS_HTTP_REQUEST_TIMEOUT_MS of the connection, however slowly its bytes
 * trickle in (408, then the connection is closed), and a client has
 * METRICS_HTTP_WRITE_TIMEOUT_MS to read the answer. At most METRICS_HTTP_MAX_CONNS
 * connections are open; a new one beyond them closes an open one, idle ones first
 * (those that have sent nothing, oldest first), so that idle sockets never keep a
 * health probe out. Request bodies are never read. It is meant for a loopback or
 * otherwise trusted network: there is no TLS and no authentication.
 *
 * Everything here runs on the loop thread only, and never blocks (address
 * resolution in metrics_http_listen() reads /etc/hosts for names; use a numeric
 * address to avoid any lookup).
 */
#ifndef INGESTD_METRICS_HTTP_H
#define INGESTD_METRICS_HTTP_H

#include <stddef.h>

#include "base/loop.h"
#include "base/util.h"

#define METRICS_HTTP_MAX_REQUEST        8192
#define METRICS_HTTP_MAX_CONNS          32
#define METRICS_HTTP_REQUEST_TIMEOUT_MS 5000
#define METRICS_HTTP_WRITE_TIMEOUT_MS   10000

struct metrics_http;

/* What the caller's function answers; status and content_type come preset to 200 and
 * "text/plain; charset=utf-8"; content_type must be a static string. */
struct metrics_http_reply {
    int status;
    const char *content_type;
    struct buf body;
};

/* Called for each GET or HEAD with the path of the request target (query removed). */
typedef void (*metrics_http_fn)(void *arg, const char *path, struct metrics_http_reply *r);

/* A server without a listener yet. l and fn/arg are borrowed. */
struct metrics_http *metrics_http_new(struct loop *l, metrics_http_fn fn, void *arg);

/*
 * Listens on addr, "HOST:PORT" or "[V6ADDR]:PORT", bound exactly there (the first
 * address HOST resolves to). The previous listener is closed only once the new one
 * is bound, so a failure keeps it; open connections are never affected. An addr
 * equal to the current one keeps the socket; NULL closes the listener. 0, or -1 with
 * the reason in err.
 */
int metrics_http_listen(struct metrics_http *s, const char *addr, char *err, size_t errlen);

/* The configured address being listened on, or NULL; borrowed. */
const char *metrics_http_address(const struct metrics_http *s);

/* Closes the listener and every connection. NULL-safe. */
void metrics_http_free(struct metrics_http *s);

/* The head of a request: method and the path of its target (query and fragment removed;
 * an absolute-form target is reduced to its path). */
struct metrics_http_request {
    char method[16];
    char path[1024];
};

/* Parses a complete request head (request line, header lines, blank line; CRLF or LF):
 * 0 with rq filled, or the status to answer (400, 414, 505). Exposed for tests. */
int metrics_http_parse_head(const char *s, size_t n, struct metrics_http_request *rq);

/* The reason phrase of a status code this server sends ("Not Found"). */
const char *metrics_http_reason(int status);

#endif
