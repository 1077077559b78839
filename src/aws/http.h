/*
 * http.h: the loop's HTTP client for AWS APIs (SQS, Secrets Manager, STS, IMDS, ECS).
 *
 * One curl multi handle is driven by the epoll loop (CURLMOPT_SOCKETFUNCTION puts
 * curl's sockets into loop.h, CURLMOPT_TIMERFUNCTION arms one loop timer), so any
 * number of requests run concurrently on the loop thread and none of them blocks it.
 * Connections are kept in the multi handle's connection cache and reused.
 *
 * A request is signed with SigV4 (sigv4.h) right before EACH attempt, with the
 * credentials the creds source returns at that moment, so a retry never goes out
 * with credentials the source has since replaced. Requests are retried as the AWS
 * SDKs' "standard" retry mode does (botocore/retries/standard.py, quota.py):
 *   - retryable: connection errors and timeouts, HTTP 500/502/503/504, the
 *     throttling and transient codes of aws_error.h; never another 4xx;
 *   - at most max_attempts attempts (cfg [aws] max_attempts, default 3);
 *   - delay before retry i (1-based) = rand(0,1) * min(2^(i-1) s, 20 s), i.e.
 *     backoff_full_jitter_ms(i - 1, 1000, 20000); waited on a loop timer, never slept;
 *   - a retry quota per client: 500 tokens, a retry costs 5 (10 after a timeout),
 *     a success without retry gives 1 back, a success after retries gives the
 *     last cost back; an empty quota fails the request at once.
 *   - a clock-skew rejection (aws_error.clock_skew) sets the client's clock offset
 *     from the response's Date header and is retried once even at max_attempts.
 * Stalled transfers are cut by CURLOPT_LOW_SPEED_LIMIT/TIME and the per-request
 * timeout. TLS peer and host verification are always on (CURLOPT_CAINFO from
 * [aws] ca_file). Authorization headers, secrets and tokens are never logged.
 *
 * Threads: everything except http_perform_blocking() is loop-thread only.
 * http_perform_blocking() is for worker threads and `ingestd check`: it uses its own
 * easy handle, sleeps between retries, and never touches the loop.
 */
#ifndef INGESTD_HTTP_H
#define INGESTD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/aws_error.h"
#include "aws/sigv4.h"
#include "base/util.h"

struct loop;
struct config;
struct http;
struct http_call;

/* Defaults used when a request leaves the field 0. */
#define HTTP_DEFAULT_TIMEOUT_MS 30000
#define HTTP_MAX_RESPONSE_BYTES (64u << 20) /* larger bodies fail as AWS_ERR_NETWORK */

/*
 * Where the client takes credentials from, called right before signing each
 * attempt. Fill *out and return 0; the strings must stay valid until control
 * returns to the loop (http signs immediately and keeps no pointer). Return -1 when
 * no valid credentials exist (none configured, or expired and not yet refreshed):
 * the attempt then fails with AWS_ERR_CREDENTIALS, which is retried with backoff
 * like a transient error.
 */
typedef int (*http_creds_fn)(void *arg, struct aws_creds *out);

struct http_request {
    const char *service;        /* SigV4 signing name ("sqs", "sts", ...); NULL: unsigned
                                   (IMDS, ECS). "s3" selects S3's signing rules. */
    const char *region;         /* NULL: the client's region ([aws] region) */
    const char *method;         /* "GET", "POST", "PUT", ... */
    const char *url;            /* full URL, path and query already percent-encoded */
    const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL.
                                   Host, Content-Length and the signing headers are
                                   added by http. */
    const void *body;           /* may be NULL */
    size_t body_len;
    const struct aws_creds *creds; /* non-NULL: sign with these instead of the source
                                      (STS AssumeRole with source credentials) */
    long timeout_ms;               /* whole attempt; 0: HTTP_DEFAULT_TIMEOUT_MS */
    int max_attempts;              /* 0: the client's (cfg [aws] max_attempts); 1: no retry */
    const char *label;             /* for logs, e.g. "sqs ReceiveMessage"; NULL: method + host */
};

struct http_header_line {
    char *name;  /* as received */
    char *value; /* trimmed */
};

struct http_response {
    long status;                      /* of the last attempt; 0 when no response arrived */
    struct buf body;                  /* of the last attempt */
    struct aws_error err;             /* kind AWS_OK iff status is 2xx */
    int attempts;                     /* attempts made, >= 1 */
    struct http_header_line *headers; /* of the last attempt */
    size_t nheaders;
};

/* Case-insensitive lookup in r->headers; the value is borrowed from r, or NULL. */
const char *http_response_header(const struct http_response *r, const char *name);
void http_response_free(struct http_response *r); /* for http_perform_blocking users */

/*
 * Completion callback, called once per http_send() unless the call was cancelled,
 * always from the loop (never from inside http_send()). r belongs to http and is
 * freed when the callback returns: steal r->body with buf_steal() to keep it. The
 * struct http_call pointer is invalid from the moment the callback starts.
 */
typedef void (*http_done_fn)(struct http_response *r, void *arg);

/* cfg is read now (region, ca_file, connect_timeout, max_attempts), not kept.
 * Returns NULL (logged) only when curl cannot be initialised. */
struct http *http_new(struct loop *l, const struct config *cfg);
void http_reconfigure(struct http *h, const struct config *cfg); /* new requests only */
void http_set_creds_source(struct http *h, http_creds_fn get, void *arg);
/* Backoff base and cap in ms (defaults 1000, 20000). Tests shorten them. */
void http_set_backoff(struct http *h, uint64_t base_ms, uint64_t cap_ms);
/* Seconds to add to time(NULL) when signing (learned from clock-skew errors). */
int64_t http_clock_offset(const struct http *h);

/* Copies *req (strings, headers and body), so the caller may free its inputs when
 * this returns. Never returns NULL and never calls done before returning. */
struct http_call *http_send(struct http *h, const struct http_request *req, http_done_fn done,
                            void *arg);
/* Aborts a pending call; done is not called. The pointer is invalid afterwards. */
void http_cancel(struct http_call *c);
size_t http_pending(const struct http *h); /* calls not yet completed */
/* Cancels every pending call (no callbacks) and frees the client. NULL-safe. Not from
 * inside a done callback of this client (the dispatch loop still uses it). */
void http_free(struct http *h);

/*
 * Blocking variant for threads other than the loop's: performs req with retries as
 * above (sleeping between attempts), signing with req->creds (required when
 * req->service is set; no creds source). cfg supplies region, ca_file,
 * connect_timeout and max_attempts (NULL: defaults; backoff is the standard 1 s base,
 * 20 s cap). The retry quota and the clock-skew offset live for this one call only.
 * Fills *out (free with http_response_free) and returns 0 on a 2xx answer, -1 otherwise
 * (out->err says why).
 */
int http_perform_blocking(const struct config *cfg, const struct http_request *req,
                          struct http_response *out);

#endif
