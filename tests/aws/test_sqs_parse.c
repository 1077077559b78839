/*
 * test_sqs_parse.c: SQS JSON 1.0 request bodies and response decoding, from fixtures
 * in data/aws/ (answers captured from moto 5.2.1, and AWS-shaped ones), plus the
 * error bodies of those calls through aws_error_from_response().
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_error.h"
#include "aws/sqs.h"
#include "../tap.h"
#include "base/util.h"

/* data/aws/NAME: $INGESTD_SRCDIR (set by make check), else relative to this file. */
static char *fixture(const char *name, size_t *len)
{
    const char *src = getenv("INGESTD_SRCDIR");
    char path[4096];
    struct buf b;
    FILE *f;
    char chunk[4096];
    size_t n;

    if (src != NULL) {
        snprintf(path, sizeof path, "%s/data/aws/%s", src, name);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int dirlen = slash ? (int)(slash - __FILE__) : 1;
        snprintf(path, sizeof path, "%.*s/../../data/aws/%s", dirlen, slash ? __FILE__ : ".", name);
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        printf("Bail out! cannot open fixture %s\n", path);
        exit(1);
    }
    buf_init(&b);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return buf_steal(&b);
}

DEF_TEST(receive_moto_two_messages)
{
    size_t len, n = 99;
    char *body = fixture("sqs_receive_two.json", &len);
    struct sqs_message *m = NULL;
    struct aws_error e;

    EXPECT_EQ_INT(0, sqs_parse_receive(body, len, &m, &n, &e));
    EXPECT_EQ_INT(2, n);
    if (n == 2) {
        EXPECT_EQ_STR("b8347aa2-07f4-4f4a-8da0-94e689cc290c", m[0].message_id);
        EXPECT_TRUE(strlen(m[0].receipt_handle) > 20);
        EXPECT_CONTAINS("\"eventSource\": \"aws:s3\"", m[0].body);
        EXPECT_EQ_STR("55e94ec99b0ca21163e5a52f3554b320", m[0].md5);
        EXPECT_EQ_INT(1, m[0].receive_count);
        EXPECT_TRUE(m[0].sent_ms > 1700000000000LL);
        EXPECT_TRUE(m[0].first_receive_ms >= m[0].sent_ms);
        EXPECT_EQ_STR("plain text \xc3\xa9 \"quoted\"", m[1].body);
    }
    sqs_messages_free(m, n);
    free(body);
}

DEF_TEST(receive_aws_shape)
{
    size_t len, n = 0;
    char *body = fixture("sqs_receive_aws.json", &len);
    struct sqs_message *m = NULL;
    struct aws_error e;

    EXPECT_EQ_INT(0, sqs_parse_receive(body, len, &m, &n, &e));
    EXPECT_EQ_INT(1, n);
    if (n == 1) {
        EXPECT_EQ_INT(2, m[0].receive_count);
        EXPECT_EQ_INT(1732237435123LL, m[0].sent_ms);
        EXPECT_EQ_INT(1732237435190LL, m[0].first_receive_ms);
        EXPECT_TRUE(str_has_suffix(m[0].receipt_handle, "KSbkJ0="));
        EXPECT_CONTAINS("\"sequencer\":\"0055AED6DCD90281E5\"", m[0].body);
    }
    sqs_messages_free(m, n);
    free(body);
}

DEF_TEST(receive_empty)
{
    size_t len, n = 5;
    char *body = fixture("sqs_receive_empty.json", &len);
    struct sqs_message *m = (void *)1;
    struct aws_error e;

    EXPECT_EQ_INT(0, sqs_parse_receive(body, len, &m, &n, &e));
    EXPECT_EQ_INT(0, n);
    EXPECT_TRUE(m == NULL);
    EXPECT_EQ_INT(0, sqs_parse_receive("{\"Messages\":[]}", 15, &m, &n, &e));
    EXPECT_EQ_INT(0, n);
    EXPECT_EQ_INT(0, sqs_parse_receive("", 0, &m, &n, &e));
    EXPECT_EQ_INT(0, n);
    free(body);
}

DEF_TEST(receive_malformed)
{
    static const char *const bad[] = {
        "{",
        "[]",
        "{\"Messages\": {}}",
        "{\"Messages\": [{\"MessageId\": \"a\"}]}",
        "{\"Messages\": [{\"MessageId\":\"a\",\"ReceiptHandle\":\"r\",\"Body\":1}]}",
        "{\"Messages\": [{\"MessageId\":\"a\",\"ReceiptHandle\":\"r\",\"Body\":\"b\"}, 3]}",
    };
    struct sqs_message *m;
    size_t n;
    struct aws_error e;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (sqs_parse_receive(bad[i], strlen(bad[i]), &m, &n, &e) != -1)
            TAP_FAIL("accepted %s", bad[i]);
        EXPECT_EQ_INT(AWS_ERR_PARSE, e.kind);
        EXPECT_EQ_STR("sqs", e.service);
        EXPECT_TRUE(m == NULL && n == 0 && !e.retryable);
    }
    /* Malformed attributes are ignored, not fatal. */
    const char *odd =
        "{\"Messages\": [{\"MessageId\":\"a\",\"ReceiptHandle\":\"r\",\"Body\":\"\","
        "\"Attributes\":{\"ApproximateReceiveCount\":\"x\",\"SentTimestamp\":\"-5\"}}]}";
    EXPECT_EQ_INT(0, sqs_parse_receive(odd, strlen(odd), &m, &n, &e));
    EXPECT_EQ_INT(1, n);
    if (n == 1) {
        EXPECT_EQ_INT(0, m[0].receive_count);
        EXPECT_EQ_INT(0, m[0].sent_ms);
        EXPECT_EQ_STR("", m[0].body);
        EXPECT_TRUE(m[0].md5 == NULL);
    }
    sqs_messages_free(m, n);
}

DEF_TEST(batch_partial_failures)
{
    size_t len;
    char *body = fixture("sqs_change_visibility_batch_partial.json", &len);
    struct sqs_batch_entry ent[3];
    struct aws_error e;

    EXPECT_EQ_INT(0, sqs_parse_batch(body, len, ent, 2, &e));
    EXPECT_TRUE(ent[0].ok);
    EXPECT_EQ_STR("", ent[0].code);
    EXPECT_TRUE(!ent[1].ok && ent[1].sender_fault);
    EXPECT_EQ_STR("ReceiptHandleIsInvalid", ent[1].code);
    EXPECT_EQ_STR("The input receipt handle is invalid.", ent[1].message);
    free(body);

    body = fixture("sqs_delete_batch_partial_aws.json", &len);
    EXPECT_EQ_INT(0, sqs_parse_batch(body, len, ent, 3, &e));
    EXPECT_TRUE(ent[0].ok);
    EXPECT_TRUE(!ent[1].ok && ent[1].sender_fault);
    EXPECT_TRUE(!ent[2].ok && !ent[2].sender_fault);
    EXPECT_EQ_STR("InternalError", ent[2].code);
    EXPECT_TRUE(aws_error_code_is_transient(ent[2].code));
    free(body);

    body = fixture("sqs_delete_batch_ok.json", &len);
    EXPECT_EQ_INT(0, sqs_parse_batch(body, len, ent, 3, &e));
    EXPECT_TRUE(ent[0].ok && ent[1].ok);
    EXPECT_TRUE(!ent[2].ok); /* not mentioned in the answer */
    EXPECT_EQ_STR("MissingEntry", ent[2].code);
    free(body);
}

DEF_TEST(batch_malformed_and_foreign_ids)
{
    struct sqs_batch_entry ent[2];
    struct aws_error e;
    const char *foreign = "{\"Successful\":[{\"Id\":\"7\"},{\"Id\":\"x\"},{\"Id\":\"1\"}]}";

    EXPECT_EQ_INT(-1, sqs_parse_batch("{\"Successful\":{}}", 17, ent, 2, &e));
    EXPECT_EQ_INT(AWS_ERR_PARSE, e.kind);
    EXPECT_EQ_INT(-1, sqs_parse_batch("nope", 4, ent, 2, &e));
    EXPECT_EQ_INT(0, sqs_parse_batch(foreign, strlen(foreign), ent, 2, &e));
    EXPECT_TRUE(!ent[0].ok && ent[1].ok);
}

DEF_TEST(send_answer)
{
    size_t len;
    char *body = fixture("sqs_send.json", &len);
    char *id = NULL;
    struct aws_error e;

    EXPECT_EQ_INT(0, sqs_parse_send(body, len, &id, &e));
    EXPECT_EQ_STR("b8347aa2-07f4-4f4a-8da0-94e689cc290c", id);
    free(id);
    EXPECT_EQ_INT(-1, sqs_parse_send("{}", 2, &id, &e));
    EXPECT_TRUE(id == NULL);
    free(body);
}

DEF_TEST(queue_attributes_with_redrive)
{
    size_t len;
    char *body = fixture("sqs_get_attributes_redrive.json", &len);
    struct sqs_queue_attrs a;
    struct aws_error e;

    EXPECT_EQ_INT(0, sqs_parse_attributes(body, len, &a, &e));
    EXPECT_EQ_INT(45, a.visibility_timeout);
    EXPECT_EQ_STR("arn:aws:sqs:us-east-1:123456789012:events", a.queue_arn);
    EXPECT_TRUE(a.has_redrive);
    EXPECT_EQ_STR("arn:aws:sqs:us-east-1:123456789012:events-dlq", a.dead_letter_target_arn);
    EXPECT_EQ_INT(3, a.max_receive_count);
    EXPECT_EQ_INT(0, a.approx_messages);
    EXPECT_EQ_INT(0, a.approx_not_visible);
    sqs_queue_attrs_free(&a);
    free(body);
}

DEF_TEST(queue_attributes_variants)
{
    struct sqs_queue_attrs a;
    struct aws_error e;
    const char *str_count = "{\"Attributes\":{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":"
                            "\\\"arn:x\\\",\\\"maxReceiveCount\\\":\\\"5\\\"}\"}}";
    const char *bad_redrive = "{\"Attributes\":{\"VisibilityTimeout\":\"x\",\"RedrivePolicy\":"
                              "\"not json\"}}";

    EXPECT_EQ_INT(0, sqs_parse_attributes(str_count, strlen(str_count), &a, &e));
    EXPECT_TRUE(a.has_redrive);
    EXPECT_EQ_INT(5, a.max_receive_count);
    EXPECT_EQ_INT(-1, a.visibility_timeout);
    sqs_queue_attrs_free(&a);
    EXPECT_EQ_INT(0, sqs_parse_attributes(bad_redrive, strlen(bad_redrive), &a, &e));
    EXPECT_TRUE(!a.has_redrive && a.dead_letter_target_arn == NULL);
    EXPECT_EQ_INT(-1, a.visibility_timeout);
    EXPECT_TRUE(a.queue_arn == NULL);
    sqs_queue_attrs_free(&a);
    EXPECT_EQ_INT(0, sqs_parse_attributes("{}", 2, &a, &e));
    EXPECT_TRUE(!a.has_redrive);
    EXPECT_EQ_INT(-1, sqs_parse_attributes("{\"Attributes\":[]}", 17, &a, &e));
}

DEF_TEST(error_bodies)
{
    size_t len;
    char *body;
    struct aws_error e;

    body = fixture("sqs_error_queue_does_not_exist.json", &len);
    aws_error_from_response("sqs", 400, body, len, "AWS.SimpleQueueService.NonExistentQueue;Sender",
                            &e);
    EXPECT_EQ_STR("QueueDoesNotExist", e.code);
    EXPECT_EQ_STR("The specified queue does not exist.", e.message);
    EXPECT_TRUE(!e.retryable);
    free(body);

    body = fixture("sqs_error_invalid_parameter.json", &len);
    aws_error_from_response("sqs", 400, body, len, NULL, &e);
    EXPECT_EQ_STR("InvalidParameterValue", e.code);
    EXPECT_CONTAINS("MaxNumberOfMessages", e.message);
    EXPECT_TRUE(!e.retryable);
    free(body);

    body = fixture("sqs_error_signature_mismatch.json", &len);
    aws_error_from_response("sqs", 403, body, len, NULL, &e);
    EXPECT_EQ_STR("SignatureDoesNotMatch", e.code);
    EXPECT_TRUE(!e.retryable && !e.clock_skew);
    free(body);

    body = fixture("s3_error_signature_mismatch.xml", &len);
    aws_error_from_response("s3", 403, body, len, NULL, &e);
    EXPECT_EQ_STR("SignatureDoesNotMatch", e.code);
    EXPECT_CONTAINS("does not match", e.message);
    free(body);

    body = fixture("sqs_error_throttling.json", &len);
    aws_error_from_response("sqs", 400, body, len, NULL, &e);
    EXPECT_TRUE(e.retryable && e.throttling);
    free(body);
}

static json_t *load(char *s)
{
    json_t *j = json_loads(s, 0, NULL);

    free(s);
    return j;
}

DEF_TEST(request_bodies)
{
    const char *receipts[] = {"r0", "r\"1"};
    const int timeouts[] = {0, 300};
    json_t *j;

    j = load(sqs_build_receive("http://q/1/a", 10, 20, -1));
    EXPECT_EQ_STR("http://q/1/a", json_string_value(json_object_get(j, "QueueUrl")));
    EXPECT_EQ_INT(10, json_integer_value(json_object_get(j, "MaxNumberOfMessages")));
    EXPECT_EQ_INT(20, json_integer_value(json_object_get(j, "WaitTimeSeconds")));
    EXPECT_TRUE(json_object_get(j, "VisibilityTimeout") == NULL);
    EXPECT_EQ_STR(
        "ApproximateReceiveCount",
        json_string_value(json_array_get(json_object_get(j, "MessageSystemAttributeNames"), 0)));
    json_decref(j);
    j = load(sqs_build_receive("u", 1, 0, 90));
    EXPECT_EQ_INT(90, json_integer_value(json_object_get(j, "VisibilityTimeout")));
    json_decref(j);

    j = load(sqs_build_change_visibility_batch("u", receipts, timeouts, 2));
    EXPECT_EQ_INT(2, json_array_size(json_object_get(j, "Entries")));
    json_t *e1 = json_array_get(json_object_get(j, "Entries"), 1);
    EXPECT_EQ_STR("1", json_string_value(json_object_get(e1, "Id")));
    EXPECT_EQ_STR("r\"1", json_string_value(json_object_get(e1, "ReceiptHandle")));
    EXPECT_EQ_INT(300, json_integer_value(json_object_get(e1, "VisibilityTimeout")));
    json_decref(j);

    j = load(sqs_build_delete_batch("u", receipts, 2));
    e1 = json_array_get(json_object_get(j, "Entries"), 0);
    EXPECT_EQ_STR("0", json_string_value(json_object_get(e1, "Id")));
    EXPECT_TRUE(json_object_get(e1, "VisibilityTimeout") == NULL);
    json_decref(j);

    j = load(sqs_build_send("u", "{\"ingestd_error\":1}\n\t\xc3\xa9"));
    EXPECT_EQ_STR("{\"ingestd_error\":1}\n\t\xc3\xa9",
                  json_string_value(json_object_get(j, "MessageBody")));
    json_decref(j);

    j = load(sqs_build_get_attributes("u"));
    EXPECT_EQ_STR("All",
                  json_string_value(json_array_get(json_object_get(j, "AttributeNames"), 0)));
    json_decref(j);
}

int main(void)
{
    RUN_TEST(receive_moto_two_messages);
    RUN_TEST(receive_aws_shape);
    RUN_TEST(receive_empty);
    RUN_TEST(receive_malformed);
    RUN_TEST(batch_partial_failures);
    RUN_TEST(batch_malformed_and_foreign_ids);
    RUN_TEST(send_answer);
    RUN_TEST(queue_attributes_with_redrive);
    RUN_TEST(queue_attributes_variants);
    RUN_TEST(error_bodies);
    RUN_TEST(request_bodies);
    return tap_done();
}
