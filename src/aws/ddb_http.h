/*
 * ddb_http.h: DynamoDB requests from a worker thread, several in flight at once.
 *
 * One client owns one curl multi handle (its connection cache keeps connections
 * to the endpoint open between requests and loads) and signs every attempt with
 * SigV4 (service "dynamodb", AWS JSON 1.0, X-Amz-Target DynamoDB_20120810.OP) at
 * the moment it is sent, with the credentials last given to ddb_http_set_creds().
 * The endpoint is [aws] dynamodb_endpoint / AWS_ENDPOINT_URL_DYNAMODB / endpoint_url
 * / the public one (aws_endpoint.h).
 *
 * Calls are started with ddb_http_start() and collected, in completion order, with
 * ddb_http_wait(), which blocks (curl_multi_poll) at most the given time. A
 * completed call can be sent again as it is (ddb_http_resend: re-signed, same body)
 * or freed. ddb_http_call() is the blocking form with retries of transient errors
 * (network, 5xx, throttling) for single requests such as GetItem and PutItem.
 *
 * Threads: a client and its calls belong to the one thread that created them; the
 * module keeps no global state besides curl_global_init (done once, thread-safe).
 * Secrets are never logged.
 */
#ifndef INGESTD_DDB_HTTP_H
#define INGESTD_DDB_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/aws_error.h"
#include "aws/sigv4.h"
#include "base/config.h"
#include "base/ierr.h"
#include "base/util.h"

#define DDB_HTTP_TIMEOUT_MS 30000L

struct ddb_http;
struct ddb_call_priv;

struct ddb_call {
    void *user;   /* the caller's, untouched */
    int attempts; /* sends so far */
    /* The outcome, valid once ddb_http_wait() returned the call. */
    long status;          /* HTTP status, 0 when no response arrived */
    struct buf resp;      /* response body */
    struct aws_error err; /* kind AWS_OK iff status is 2xx */
    struct ddb_call_priv *priv;
};

/* NULL with e set (IERR_CONFIG) for an unusable endpoint URL. cfg is read now, not kept. */
struct ddb_http *ddb_http_new(const struct config *cfg, struct ierr *e);
void ddb_http_free(struct ddb_http *h); /* cancels every call; NULL-safe */
/* Copies c's strings (NULL: none: calls then fail as AWS_ERR_CREDENTIALS). */
void ddb_http_set_creds(struct ddb_http *h, const struct aws_creds *c);
const char *ddb_http_endpoint(const struct ddb_http *h);

/* Starts OP (e.g. "BatchWriteItem") with the body taken from *body (left empty).
 * Never fails: a call that cannot be sent completes at once with err set. */
struct ddb_call *ddb_http_start(struct ddb_http *h, const char *op, struct buf *body, void *user);
/* Sends a completed call again (a retry), clearing its outcome. */
void ddb_http_resend(struct ddb_http *h, struct ddb_call *c);
/* A completed call, or NULL when none completed within timeout_ms (0: just poll). */
struct ddb_call *ddb_http_wait(struct ddb_http *h, long timeout_ms);
/* Blocks until c completes; calls that complete meanwhile are kept for ddb_http_wait(). */
void ddb_http_wait_for(struct ddb_http *h, struct ddb_call *c);
size_t ddb_http_in_flight(const struct ddb_http *h);
/* Cancels and frees every call not yet returned by ddb_http_wait(). */
void ddb_http_cancel_all(struct ddb_http *h);
void ddb_call_free(struct ddb_call *c); /* a completed call; NULL-safe */

/* Blocking, with up to max_attempts attempts for retryable errors (exponential backoff
 * with full jitter). Returns the completed call (check c->err), never NULL. */
struct ddb_call *ddb_http_call(struct ddb_http *h, const char *op, struct buf *body,
                               int max_attempts);

#endif
