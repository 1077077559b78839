/*
 * sqs_parse.c: SQS JSON 1.0 request bodies and response decoding. Pure: no I/O,
 * no logging, no state; the async calls in sqs.c are a thin shell around this.
 *
 * Numbers that SQS returns as strings (attributes) are parsed strictly; a malformed
 * attribute value is treated as absent rather than failing the whole answer, since
 * a message we cannot count is still a message we must process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/sqs.h"
#include "base/util.h"

void sqs_message_free(struct sqs_message *m)
{
    if (m == NULL)
        return;
    free(m->message_id);
    free(m->receipt_handle);
    free(m->body);
    free(m->md5);
    memset(m, 0, sizeof *m);
}

void sqs_messages_free(struct sqs_message *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        sqs_message_free(&v[i]);
    free(v);
}

void sqs_queue_attrs_free(struct sqs_queue_attrs *a)
{
    if (a == NULL)
        return;
    free(a->queue_arn);
    free(a->dead_letter_target_arn);
    memset(a, 0, sizeof *a);
}

static char *dump(json_t *root)
{
    char *s = json_dumps(root, JSON_COMPACT);
    char *out;

    json_decref(root);
    if (s == NULL)
        abort(); /* only on out-of-memory */
    out = xstrdup(s);
    free(s);
    return out;
}

char *sqs_build_receive(const char *queue_url, int max_messages, int wait_seconds, int visibility)
{
    json_t *root = json_pack("{s:s, s:i, s:i, s:[s,s,s]}", "QueueUrl", queue_url,
                             "MaxNumberOfMessages", max_messages, "WaitTimeSeconds", wait_seconds,
                             "MessageSystemAttributeNames", "ApproximateReceiveCount",
                             "SentTimestamp", "ApproximateFirstReceiveTimestamp");

    if (visibility >= 0)
        json_object_set_new(root, "VisibilityTimeout", json_integer(visibility));
    return dump(root);
}

static char *build_batch(const char *queue_url, const char *const *receipts, const int *timeouts,
                         size_t n)
{
    json_t *entries = json_array();
    char id[24];

    for (size_t i = 0; i < n; i++) {
        json_t *e;
        snprintf(id, sizeof id, "%zu", i);
        e = json_pack("{s:s, s:s}", "Id", id, "ReceiptHandle", receipts[i]);
        if (timeouts != NULL)
            json_object_set_new(e, "VisibilityTimeout", json_integer(timeouts[i]));
        json_array_append_new(entries, e);
    }
    return dump(json_pack("{s:s, s:o}", "QueueUrl", queue_url, "Entries", entries));
}

char *sqs_build_delete_batch(const char *queue_url, const char *const *receipts, size_t n)
{
    return build_batch(queue_url, receipts, NULL, n);
}

char *sqs_build_change_visibility_batch(const char *queue_url, const char *const *receipts,
                                        const int *timeouts, size_t n)
{
    return build_batch(queue_url, receipts, timeouts, n);
}

char *sqs_build_send(const char *queue_url, const char *body)
{
    return dump(json_pack("{s:s, s:s}", "QueueUrl", queue_url, "MessageBody", body));
}

char *sqs_build_get_attributes(const char *queue_url)
{
    return dump(json_pack("{s:s, s:[s]}", "QueueUrl", queue_url, "AttributeNames", "All"));
}

static int parse_fail(struct aws_error *e, const char *what)
{
    aws_error_clear(e);
    aws_error_set(e, AWS_ERR_PARSE, "sqs", "%s", what);
    return -1;
}

/* Loads a JSON object; an empty body counts as {} (SQS answers some calls so). */
static json_t *load_object(const char *body, size_t len, struct aws_error *e)
{
    json_error_t jerr;
    json_t *root;

    if (len == 0)
        return json_object();
    root = json_loadb(body, len, 0, &jerr);
    if (root == NULL) {
        aws_error_clear(e);
        aws_error_set(e, AWS_ERR_PARSE, "sqs", "invalid JSON: %s (line %d)", jerr.text, jerr.line);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        parse_fail(e, "answer is not a JSON object");
        return NULL;
    }
    return root;
}

static char *dup_str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? xstrdup(s) : NULL;
}

/* An attribute that SQS sends as a decimal string; -1 when absent or malformed. */
static int64_t attr_int(json_t *attrs, const char *key)
{
    const char *s = json_string_value(json_object_get(attrs, key));
    int64_t v;

    if (s == NULL || parse_int64(s, 0, INT64_MAX, &v) != 0)
        return -1;
    return v;
}

static int parse_message(json_t *jm, struct sqs_message *m)
{
    json_t *attrs = json_object_get(jm, "Attributes");
    int64_t v;

    memset(m, 0, sizeof *m);
    if (!json_is_object(jm))
        return -1;
    m->message_id = dup_str(jm, "MessageId");
    m->receipt_handle = dup_str(jm, "ReceiptHandle");
    m->body = dup_str(jm, "Body");
    m->md5 = dup_str(jm, "MD5OfBody");
    if (m->message_id == NULL || m->receipt_handle == NULL || m->body == NULL)
        return -1;
    v = attr_int(attrs, "ApproximateReceiveCount");
    m->receive_count = v > 0 && v < INT32_MAX ? (int)v : 0;
    v = attr_int(attrs, "SentTimestamp");
    m->sent_ms = v > 0 ? v : 0;
    v = attr_int(attrs, "ApproximateFirstReceiveTimestamp");
    m->first_receive_ms = v > 0 ? v : 0;
    return 0;
}

int sqs_parse_receive(const char *body, size_t len, struct sqs_message **out, size_t *n,
                      struct aws_error *e)
{
    json_t *root = load_object(body, len, e);
    json_t *msgs;
    struct sqs_message *v = NULL;
    size_t count = 0;

    *out = NULL;
    *n = 0;
    if (root == NULL)
        return -1;
    msgs = json_object_get(root, "Messages");
    if (msgs != NULL && !json_is_array(msgs)) {
        json_decref(root);
        return parse_fail(e, "\"Messages\" is not an array");
    }
    if (msgs != NULL && json_array_size(msgs) > 0) {
        v = xcalloc(json_array_size(msgs), sizeof *v);
        for (; count < json_array_size(msgs); count++) {
            if (parse_message(json_array_get(msgs, count), &v[count]) != 0) {
                sqs_messages_free(v, count + 1);
                json_decref(root);
                return parse_fail(e, "a message lacks MessageId, ReceiptHandle or Body");
            }
        }
    }
    json_decref(root);
    *out = v;
    *n = count;
    return 0;
}

/* "3" -> 3 when 0 <= id < n; -1 otherwise. */
static long entry_index(json_t *entry, size_t n)
{
    const char *id = json_string_value(json_object_get(entry, "Id"));
    int64_t v;

    if (id == NULL || parse_int64(id, 0, (int64_t)n - 1, &v) != 0)
        return -1;
    return (long)v;
}

static void copy_field(char *dst, size_t cap, json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    snprintf(dst, cap, "%s", s ? s : "");
}

int sqs_parse_batch(const char *body, size_t len, struct sqs_batch_entry *out, size_t n,
                    struct aws_error *e)
{
    json_t *root = load_object(body, len, e);
    json_t *ok, *failed, *item;
    bool *seen;
    size_t i;

    if (root == NULL)
        return -1;
    ok = json_object_get(root, "Successful");
    failed = json_object_get(root, "Failed");
    if ((ok != NULL && !json_is_array(ok)) || (failed != NULL && !json_is_array(failed))) {
        json_decref(root);
        return parse_fail(e, "\"Successful\" or \"Failed\" is not an array");
    }
    seen = xcalloc(n ? n : 1, sizeof *seen);
    memset(out, 0, n * sizeof *out);
    json_array_foreach(failed, i, item)
    {
        long k = entry_index(item, n);
        if (k < 0)
            continue;
        seen[k] = true;
        out[k].ok = false;
        out[k].sender_fault = json_is_true(json_object_get(item, "SenderFault"));
        copy_field(out[k].code, sizeof out[k].code, item, "Code");
        copy_field(out[k].message, sizeof out[k].message, item, "Message");
    }
    json_array_foreach(ok, i, item)
    {
        long k = entry_index(item, n);
        if (k < 0 || seen[k])
            continue;
        seen[k] = true;
        out[k].ok = true;
    }
    for (i = 0; i < n; i++) {
        if (!seen[i]) {
            snprintf(out[i].code, sizeof out[i].code, "MissingEntry");
            snprintf(out[i].message, sizeof out[i].message, "entry not in the answer");
        }
    }
    free(seen);
    json_decref(root);
    return 0;
}

int sqs_parse_send(const char *body, size_t len, char **message_id, struct aws_error *e)
{
    json_t *root = load_object(body, len, e);

    *message_id = NULL;
    if (root == NULL)
        return -1;
    *message_id = dup_str(root, "MessageId");
    json_decref(root);
    if (*message_id == NULL)
        return parse_fail(e, "SendMessage answer lacks MessageId");
    return 0;
}

/* RedrivePolicy is a JSON document inside a string; maxReceiveCount is a number in
 * AWS's answers but a string in some emulators and older queues: accept both. */
static void parse_redrive(const char *text, struct sqs_queue_attrs *out)
{
    json_t *rp = text ? json_loads(text, 0, NULL) : NULL;
    json_t *mrc;
    const char *arn;
    int64_t v = 0;

    if (rp == NULL)
        return;
    arn = json_string_value(json_object_get(rp, "deadLetterTargetArn"));
    mrc = json_object_get(rp, "maxReceiveCount");
    if (json_is_integer(mrc))
        v = json_integer_value(mrc);
    else if (json_is_string(mrc) && parse_int64(json_string_value(mrc), 1, 1000, &v) != 0)
        v = 0;
    if (arn != NULL && v >= 1 && v <= 1000) {
        out->has_redrive = true;
        out->dead_letter_target_arn = xstrdup(arn);
        out->max_receive_count = (int)v;
    }
    json_decref(rp);
}

int sqs_parse_attributes(const char *body, size_t len, struct sqs_queue_attrs *out,
                         struct aws_error *e)
{
    json_t *root = load_object(body, len, e);
    json_t *attrs;
    int64_t v;

    memset(out, 0, sizeof *out);
    out->visibility_timeout = -1;
    out->approx_messages = -1;
    out->approx_not_visible = -1;
    if (root == NULL)
        return -1;
    attrs = json_object_get(root, "Attributes");
    if (attrs != NULL && !json_is_object(attrs)) {
        json_decref(root);
        return parse_fail(e, "\"Attributes\" is not an object");
    }
    out->queue_arn = dup_str(attrs, "QueueArn");
    v = attr_int(attrs, "VisibilityTimeout");
    out->visibility_timeout = v >= 0 && v <= 43200 ? (int)v : -1;
    out->approx_messages = attr_int(attrs, "ApproximateNumberOfMessages");
    out->approx_not_visible = attr_int(attrs, "ApproximateNumberOfMessagesNotVisible");
    parse_redrive(json_string_value(json_object_get(attrs, "RedrivePolicy")), out);
    json_decref(root);
    return 0;
}
