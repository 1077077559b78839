/*
 * sqs.c: the SQS calls on the loop: build the JSON body (sqs_parse.c), send it with
 * http_send(), parse the answer and call back.
 *
 * DESIGN
 * Each call is a struct sqs_op that owns its http call and remembers how to decode
 * the answer (its kind, and the entry count of a batch). Ops are linked into their
 * struct sqs so that sqs_free() can cancel them. An op is unlinked and freed before
 * its user callback runs, so the callback may start new calls, cancel others, or
 * free the struct sqs. Retries happen inside http (standard mode); what reaches a
 * callback is final.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_endpoint.h"
#include "aws/http.h"
#include "base/log.h"
#include "aws/sqs.h"
#include "base/util.h"

enum sqs_kind { OP_RECEIVE, OP_DELETE_BATCH, OP_VISIBILITY_BATCH, OP_SEND, OP_ATTRIBUTES };

static const char *const op_names[] = {
    [OP_RECEIVE] = "ReceiveMessage",
    [OP_DELETE_BATCH] = "DeleteMessageBatch",
    [OP_VISIBILITY_BATCH] = "ChangeMessageVisibilityBatch",
    [OP_SEND] = "SendMessage",
    [OP_ATTRIBUTES] = "GetQueueAttributes",
};

struct sqs {
    struct http *http;
    char *endpoint;
    struct sqs_op *ops;
    size_t nops;
};

struct sqs_op {
    struct sqs *s;
    struct sqs_op *prev, *next;
    struct http_call *call;
    enum sqs_kind kind;
    size_t nentries;
    union {
        sqs_receive_cb receive;
        sqs_batch_cb batch;
        sqs_send_cb send;
        sqs_attrs_cb attrs;
    } cb;
    void *arg;
};

struct sqs *sqs_new(struct http *h, const struct config *cfg)
{
    struct sqs *s = xcalloc(1, sizeof *s);

    s->http = h;
    s->endpoint = aws_endpoint_url(cfg, "sqs");
    return s;
}

void sqs_reconfigure(struct sqs *s, const struct config *cfg)
{
    free(s->endpoint);
    s->endpoint = aws_endpoint_url(cfg, "sqs");
}

size_t sqs_pending(const struct sqs *s)
{
    return s->nops;
}

static void unlink_op(struct sqs_op *op)
{
    struct sqs *s = op->s;

    if (op->prev)
        op->prev->next = op->next;
    else
        s->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    s->nops--;
}

void sqs_cancel(struct sqs_op *op)
{
    if (op == NULL)
        return;
    http_cancel(op->call);
    unlink_op(op);
    free(op);
}

void sqs_free(struct sqs *s)
{
    if (s == NULL)
        return;
    while (s->ops)
        sqs_cancel(s->ops); /* NOLINT(clang-analyzer-unix.Malloc): it unlinks the op */
    free(s->endpoint);
    free(s);
}

static void deliver_receive(struct sqs_op *op, struct http_response *r, struct aws_error *e)
{
    struct sqs_message *msgs = NULL;
    size_t n = 0;

    if (e->kind == AWS_OK)
        sqs_parse_receive(r->body.data, r->body.len, &msgs, &n, e);
    op->cb.receive(op->arg, e, msgs, n);
}

static void deliver_batch(struct sqs_op *op, struct http_response *r, struct aws_error *e)
{
    struct sqs_batch_entry entries[SQS_MAX_BATCH];

    if (e->kind == AWS_OK &&
        sqs_parse_batch(r->body.data, r->body.len, entries, op->nentries, e) == 0) {
        op->cb.batch(op->arg, e, entries, op->nentries);
        return;
    }
    op->cb.batch(op->arg, e, NULL, 0);
}

static void deliver_send(struct sqs_op *op, struct http_response *r, struct aws_error *e)
{
    char *id = NULL;

    if (e->kind == AWS_OK)
        sqs_parse_send(r->body.data, r->body.len, &id, e);
    op->cb.send(op->arg, e, id);
    free(id);
}

static void deliver_attrs(struct sqs_op *op, struct http_response *r, struct aws_error *e)
{
    struct sqs_queue_attrs a;

    if (e->kind == AWS_OK && sqs_parse_attributes(r->body.data, r->body.len, &a, e) == 0) {
        op->cb.attrs(op->arg, e, &a);
        sqs_queue_attrs_free(&a);
        return;
    }
    op->cb.attrs(op->arg, e, NULL);
}

static void on_http_done(struct http_response *r, void *arg)
{
    struct sqs_op *op = arg;
    struct aws_error e = r->err;

    /* Detach first: the callback may free the struct sqs. */
    unlink_op(op);
    if (e.kind != AWS_OK) {
        char buf[768];
        log_debug("sqs %s failed: %s", op_names[op->kind], aws_error_str(&e, buf, sizeof buf));
    }
    switch (op->kind) {
    case OP_RECEIVE:
        deliver_receive(op, r, &e);
        break;
    case OP_DELETE_BATCH:
    case OP_VISIBILITY_BATCH:
        deliver_batch(op, r, &e);
        break;
    case OP_SEND:
        deliver_send(op, r, &e);
        break;
    case OP_ATTRIBUTES:
        deliver_attrs(op, r, &e);
        break;
    }
    free(op);
}

static struct sqs_op *start(struct sqs *s, enum sqs_kind kind, char *body, long timeout_ms,
                            void *arg)
{
    struct sqs_op *op = xcalloc(1, sizeof *op);
    char target[64], label[64];
    const char *headers[] = {"Content-Type: application/x-amz-json-1.0", target, NULL};
    struct http_request req = {0};

    snprintf(target, sizeof target, "X-Amz-Target: AmazonSQS.%s", op_names[kind]);
    snprintf(label, sizeof label, "sqs %s", op_names[kind]);
    op->s = s;
    op->kind = kind;
    op->arg = arg;
    op->next = s->ops;
    if (s->ops)
        s->ops->prev = op;
    s->ops = op;
    s->nops++;
    req.service = "sqs";
    req.method = "POST";
    req.url = s->endpoint;
    req.headers = headers;
    req.body = body;
    req.body_len = strlen(body);
    req.timeout_ms = timeout_ms;
    req.label = label;
    op->call = http_send(s->http, &req, on_http_done, op);
    free(body);
    return op;
}

struct sqs_op *sqs_receive(struct sqs *s, const char *queue_url, int max_messages, int wait_seconds,
                           int visibility, sqs_receive_cb cb, void *arg)
{
    long timeout = (long)(wait_seconds > 0 ? wait_seconds : 0) * 1000 + SQS_LONG_POLL_MARGIN_MS;
    struct sqs_op *op;

    if (timeout < HTTP_DEFAULT_TIMEOUT_MS)
        timeout = HTTP_DEFAULT_TIMEOUT_MS;
    op = start(s, OP_RECEIVE, sqs_build_receive(queue_url, max_messages, wait_seconds, visibility),
               timeout, arg);
    op->cb.receive = cb;
    return op;
}

struct sqs_op *sqs_delete_batch(struct sqs *s, const char *queue_url, const char *const *receipts,
                                size_t n, sqs_batch_cb cb, void *arg)
{
    struct sqs_op *op;

    if (n > SQS_MAX_BATCH)
        abort(); /* a caller bug: batches are built by the caller */
    op = start(s, OP_DELETE_BATCH, sqs_build_delete_batch(queue_url, receipts, n), 0, arg);
    op->nentries = n;
    op->cb.batch = cb;
    return op;
}

struct sqs_op *sqs_change_visibility_batch(struct sqs *s, const char *queue_url,
                                           const char *const *receipts, const int *timeouts,
                                           size_t n, sqs_batch_cb cb, void *arg)
{
    struct sqs_op *op;

    if (n > SQS_MAX_BATCH)
        abort();
    op = start(s, OP_VISIBILITY_BATCH,
               sqs_build_change_visibility_batch(queue_url, receipts, timeouts, n), 0, arg);
    op->nentries = n;
    op->cb.batch = cb;
    return op;
}

struct sqs_op *sqs_send(struct sqs *s, const char *queue_url, const char *body, sqs_send_cb cb,
                        void *arg)
{
    struct sqs_op *op = start(s, OP_SEND, sqs_build_send(queue_url, body), 0, arg);

    op->cb.send = cb;
    return op;
}

struct sqs_op *sqs_get_attributes(struct sqs *s, const char *queue_url, sqs_attrs_cb cb, void *arg)
{
    struct sqs_op *op = start(s, OP_ATTRIBUTES, sqs_build_get_attributes(queue_url), 0, arg);

    op->cb.attrs = cb;
    return op;
}
