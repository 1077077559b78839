/*
 * sqs.h: Amazon SQS over the AWS JSON 1.0 protocol (X-Amz-Target: AmazonSQS.<Op>,
 * Content-Type: application/x-amz-json-1.0), asynchronous on the loop.
 *
 * Two layers:
 *   - pure request building and response parsing (sqs_parse.c): no I/O, any thread,
 *     unit-tested from fixtures in data/aws/;
 *   - calls (sqs.c) that send those requests through the loop's HTTP client (http.h)
 *     and report through callbacks on the loop thread. The JSON protocol POSTs every
 *     operation to the SQS endpoint (aws_endpoint_url(cfg, "sqs")) with the QueueUrl in
 *     the body, as the SDKs do.
 * Not here: which messages to receive or delete when (the pipeline decides), and
 * visibility heartbeats (the in-flight table drives sqs_change_visibility_batch).
 *
 * Errors: a failed call reports a struct aws_error (kind, code such as
 * "QueueDoesNotExist", retryable). A batch call that succeeded as a whole still
 * reports each entry's own success or failure, in request order.
 */
#ifndef INGESTD_SQS_H
#define INGESTD_SQS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/aws_error.h"

struct http;
struct config;

#define SQS_MAX_BATCH        10 /* entries per *Batch request, and messages per receive */
#define SQS_MAX_WAIT_SECONDS 20
/* A long poll may legitimately take WaitTimeSeconds: curl waits this much longer. */
#define SQS_LONG_POLL_MARGIN_MS 10000

struct sqs_message {
    char *message_id;
    char *receipt_handle;
    char *body;
    char *md5;                /* MD5OfBody, hex; may be NULL */
    int receive_count;        /* ApproximateReceiveCount; 0 when absent */
    int64_t sent_ms;          /* SentTimestamp (epoch ms); 0 when absent */
    int64_t first_receive_ms; /* ApproximateFirstReceiveTimestamp; 0 when absent */
};

void sqs_message_free(struct sqs_message *m);            /* frees the strings; NULL-safe */
void sqs_messages_free(struct sqs_message *v, size_t n); /* each message, then the array */

/* One entry's outcome in a DeleteMessageBatch / ChangeMessageVisibilityBatch answer. */
struct sqs_batch_entry {
    bool ok;
    bool sender_fault; /* AWS: the entry itself was wrong (e.g. ReceiptHandleIsInvalid) */
    char code[64];     /* "" when ok */
    char message[256];
};

/* GetQueueAttributes(All), the parts ingestd uses. */
struct sqs_queue_attrs {
    char *queue_arn;              /* may be NULL */
    int visibility_timeout;       /* seconds; -1 when absent */
    int64_t approx_messages;      /* ApproximateNumberOfMessages; -1 when absent */
    int64_t approx_not_visible;   /* ApproximateNumberOfMessagesNotVisible; -1 */
    bool has_redrive;             /* RedrivePolicy present and valid */
    char *dead_letter_target_arn; /* from RedrivePolicy; NULL without one */
    int max_receive_count;        /* from RedrivePolicy; 0 without one */
};

void sqs_queue_attrs_free(struct sqs_queue_attrs *a);

/* ---- pure layer (sqs_parse.c) ---- */

/* Request bodies (malloc'd JSON, owned by the caller). visibility < 0 leaves the
 * queue's default. Asks for ApproximateReceiveCount, SentTimestamp and
 * ApproximateFirstReceiveTimestamp through MessageSystemAttributeNames. */
char *sqs_build_receive(const char *queue_url, int max_messages, int wait_seconds, int visibility);
/* Entry Ids are "0".."n-1", the index in the request. n is 1..SQS_MAX_BATCH. */
char *sqs_build_delete_batch(const char *queue_url, const char *const *receipts, size_t n);
char *sqs_build_change_visibility_batch(const char *queue_url, const char *const *receipts,
                                        const int *timeouts, size_t n);
char *sqs_build_send(const char *queue_url, const char *body);
char *sqs_build_get_attributes(const char *queue_url);

/* Responses. Each returns 0, or -1 with e filled (kind AWS_ERR_PARSE, service "sqs").
 * *out arrays are malloc'd and owned by the caller. An empty receive ({} or
 * "Messages": []) gives *n = 0 and *out = NULL. Messages missing an id, a receipt
 * handle or a body make the whole answer a parse error. */
int sqs_parse_receive(const char *body, size_t len, struct sqs_message **out, size_t *n,
                      struct aws_error *e);
/* Fills out[0..n-1] by entry Id ("0".."n-1"); an entry the answer does not mention
 * is reported failed with code "MissingEntry". Unknown Ids are ignored. */
int sqs_parse_batch(const char *body, size_t len, struct sqs_batch_entry *out, size_t n,
                    struct aws_error *e);
int sqs_parse_send(const char *body, size_t len, char **message_id, struct aws_error *e);
int sqs_parse_attributes(const char *body, size_t len, struct sqs_queue_attrs *out,
                         struct aws_error *e);

/* ---- calls on the loop (sqs.c); loop thread only ---- */

struct sqs;
struct sqs_op;

/* msgs and its strings pass to the callback, which frees them (sqs_messages_free).
 * On failure err->kind != AWS_OK, msgs is NULL, n is 0. */
typedef void (*sqs_receive_cb)(void *arg, const struct aws_error *err, struct sqs_message *msgs,
                               size_t n);
/* entries[i] answers request entry i; entries is NULL when the call failed as a
 * whole (err->kind != AWS_OK). Borrowed for the callback's duration. */
typedef void (*sqs_batch_cb)(void *arg, const struct aws_error *err,
                             const struct sqs_batch_entry *entries, size_t n);
typedef void (*sqs_send_cb)(void *arg, const struct aws_error *err, const char *message_id);
typedef void (*sqs_attrs_cb)(void *arg, const struct aws_error *err,
                             const struct sqs_queue_attrs *attrs);

/* h is borrowed and must outlive the sqs; cfg is read now (endpoint), not kept. */
struct sqs *sqs_new(struct http *h, const struct config *cfg);
void sqs_reconfigure(struct sqs *s, const struct config *cfg);
/* Cancels every pending operation without callbacks. NULL-safe. */
void sqs_free(struct sqs *s);

/* Every call copies its inputs, never calls back before returning, and returns a
 * handle valid until its callback starts or sqs_cancel(). */
struct sqs_op *sqs_receive(struct sqs *s, const char *queue_url, int max_messages, int wait_seconds,
                           int visibility, sqs_receive_cb cb, void *arg);
struct sqs_op *sqs_delete_batch(struct sqs *s, const char *queue_url, const char *const *receipts,
                                size_t n, sqs_batch_cb cb, void *arg);
struct sqs_op *sqs_change_visibility_batch(struct sqs *s, const char *queue_url,
                                           const char *const *receipts, const int *timeouts,
                                           size_t n, sqs_batch_cb cb, void *arg);
struct sqs_op *sqs_send(struct sqs *s, const char *queue_url, const char *body, sqs_send_cb cb,
                        void *arg);
struct sqs_op *sqs_get_attributes(struct sqs *s, const char *queue_url, sqs_attrs_cb cb, void *arg);
void sqs_cancel(struct sqs_op *op); /* no callback; NULL-safe */
size_t sqs_pending(const struct sqs *s);

#endif
