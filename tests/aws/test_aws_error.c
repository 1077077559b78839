/*
 * test_aws_error.c: error body decoding (JSON 1.0/1.1, XML, query header) and the
 * standard-mode retry classification, plus HTTP Date parsing for clock skew.
 */
#include <stdlib.h>
#include <string.h>

#include "aws/aws_error.h"
#include "../tap.h"

static void from(const char *service, long status, const char *body, const char *qe,
                 struct aws_error *e)
{
    aws_error_from_response(service, status, body, body ? strlen(body) : 0, qe, e);
}

DEF_TEST(json_type_with_namespace)
{
    struct aws_error e;

    from("sqs", 400,
         "{\"__type\": \"com.amazonaws.sqs#QueueDoesNotExist\", "
         "\"message\": \"The specified queue does not exist.\"}",
         NULL, &e);
    EXPECT_EQ_INT(AWS_ERR_HTTP, e.kind);
    EXPECT_EQ_INT(400, e.http_status);
    EXPECT_EQ_STR("sqs", e.service);
    EXPECT_EQ_STR("QueueDoesNotExist", e.code);
    EXPECT_EQ_STR("The specified queue does not exist.", e.message);
    EXPECT_TRUE(!e.retryable && !e.throttling && !e.clock_skew);
}

DEF_TEST(json_variants)
{
    struct aws_error e;

    /* Secrets Manager (JSON 1.1): plain code, capital Message. */
    from("secretsmanager", 400,
         "{\"__type\":\"ResourceNotFoundException\",\"Message\":\"Secrets Manager can't find the "
         "specified secret.\"}",
         NULL, &e);
    EXPECT_EQ_STR("ResourceNotFoundException", e.code);
    EXPECT_CONTAINS("can't find", e.message);
    /* Old REST-JSON style suffix after ':'. */
    from("x", 400, "{\"__type\":\"ns#ValidationException:http://internal.amazon.com/x\"}", NULL,
         &e);
    EXPECT_EQ_STR("ValidationException", e.code);
    EXPECT_EQ_STR("HTTP 400", e.message);
    /* "code" key and leading whitespace. */
    from("x", 400, "  \n{\"code\":\"Foo\",\"message\":\"bar\"}", NULL, &e);
    EXPECT_EQ_STR("Foo", e.code);
    EXPECT_EQ_STR("bar", e.message);
}

DEF_TEST(xml_bodies)
{
    struct aws_error e;

    /* moto's signature checker on a JSON endpoint. */
    from("sqs", 403,
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error>"
         "<Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does "
         "not match the signature you provided. Check your AWS Secret Access Key and signing "
         "method. Consult the service documentation for details.</Message></Error>"
         "<RequestId>7a62c49f</RequestId></ErrorResponse>",
         NULL, &e);
    EXPECT_EQ_INT(403, e.http_status);
    EXPECT_EQ_STR("SignatureDoesNotMatch", e.code);
    EXPECT_CONTAINS("does not match", e.message);
    EXPECT_TRUE(!e.retryable && !e.clock_skew);

    /* S3 with entities. */
    from("s3", 404,
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>"
         "<Message>The key &quot;a&amp;b&lt;c&gt;&#39;&quot; does not exist.</Message>"
         "<Key>a&amp;b</Key></Error>",
         NULL, &e);
    EXPECT_EQ_STR("NoSuchKey", e.code);
    EXPECT_EQ_STR("The key \"a&b<c>'\" does not exist.", e.message);
    EXPECT_TRUE(!e.retryable);

    from("s3", 503,
         "<Error><Code>SlowDown</Code><Message>Please reduce your request rate."
         "</Message></Error>",
         NULL, &e);
    EXPECT_TRUE(e.retryable && e.throttling);
}

DEF_TEST(empty_and_garbage_bodies)
{
    struct aws_error e;

    from("s3", 404, "", NULL, &e);
    EXPECT_EQ_STR("", e.code);
    EXPECT_EQ_STR("HTTP 404", e.message);
    EXPECT_TRUE(!e.retryable);
    from("s3", 502, "<html>bad gateway", NULL, &e);
    EXPECT_EQ_STR("", e.code);
    EXPECT_TRUE(e.retryable && !e.throttling);
    from("sqs", 500, "{not json", NULL, &e);
    EXPECT_TRUE(e.retryable);
    aws_error_from_response("sqs", 504, NULL, 0, NULL, &e);
    EXPECT_TRUE(e.retryable);
    /* Truncated XML: no closing tag, no code. */
    from("s3", 400, "<Error><Code>Oops", NULL, &e);
    EXPECT_EQ_STR("", e.code);
}

DEF_TEST(query_error_header)
{
    struct aws_error e;

    from("sqs", 400, "", "AWS.SimpleQueueService.NonExistentQueue;Sender", &e);
    EXPECT_EQ_STR("AWS.SimpleQueueService.NonExistentQueue", e.code);
    /* The body wins when it has a code. */
    from("sqs", 400, "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\"}",
         "AWS.SimpleQueueService.NonExistentQueue;Sender", &e);
    EXPECT_EQ_STR("QueueDoesNotExist", e.code);
}

DEF_TEST(throttling_codes_retry_at_any_status)
{
    static const char *const codes[] = {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    };
    struct aws_error e;
    char body[256];

    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        snprintf(body, sizeof body, "{\"__type\":\"com.amazonaws.x#%s\",\"message\":\"m\"}",
                 codes[i]);
        from("dynamodb", 400, body, NULL, &e);
        if (!e.retryable || !e.throttling)
            TAP_FAIL("%s not classified as throttling", codes[i]);
        EXPECT_TRUE(aws_error_code_is_throttling(codes[i]));
    }
    EXPECT_TRUE(!aws_error_code_is_throttling("ThrottlingExceptionX"));
    EXPECT_TRUE(!aws_error_code_is_throttling(""));
    EXPECT_TRUE(!aws_error_code_is_throttling(NULL));
}

DEF_TEST(transient_and_status_rules)
{
    struct aws_error e;
    long retry_status[] = {500, 502, 503, 504};
    long no_retry_status[] = {400, 401, 403, 404, 409, 413, 501};

    for (size_t i = 0; i < sizeof retry_status / sizeof *retry_status; i++) {
        from("sqs", retry_status[i], "", NULL, &e);
        if (!e.retryable)
            TAP_FAIL("status %ld not retryable", retry_status[i]);
    }
    for (size_t i = 0; i < sizeof no_retry_status / sizeof *no_retry_status; i++) {
        from("sqs", no_retry_status[i], "", NULL, &e);
        if (e.retryable)
            TAP_FAIL("status %ld retryable", no_retry_status[i]);
    }
    from("s3", 400, "<Error><Code>RequestTimeout</Code></Error>", NULL, &e);
    EXPECT_TRUE(e.retryable && !e.throttling);
    from("x", 400, "{\"__type\":\"RequestTimeoutException\"}", NULL, &e);
    EXPECT_TRUE(e.retryable);
    from("x", 400, "{\"__type\":\"InvalidParameterValue\"}", NULL, &e);
    EXPECT_TRUE(!e.retryable);
    from("x", 429, "", NULL, &e);
    EXPECT_TRUE(e.retryable && e.throttling);
}

DEF_TEST(clock_skew)
{
    struct aws_error e;

    from("s3", 403,
         "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between "
         "the request time and the current time is too large.</Message></Error>",
         NULL, &e);
    EXPECT_TRUE(e.clock_skew && !e.retryable);
    from("sqs", 400,
         "{\"__type\":\"com.amazonaws.sqs#InvalidSignatureException\",\"message\":"
         "\"Signature expired: 20200101T000000Z is now earlier than 20240101T000000Z\"}",
         NULL, &e);
    EXPECT_TRUE(e.clock_skew);
    from("sts", 400,
         "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>Signature "
         "not yet current: 20300101T000000Z is still later than 20240101T001500Z</Message>"
         "</Error></ErrorResponse>",
         NULL, &e);
    EXPECT_TRUE(e.clock_skew);
    from("x", 400, "{\"__type\":\"RequestExpired\"}", NULL, &e);
    EXPECT_TRUE(e.clock_skew);
    /* A wrong key is not a clock problem. */
    from("sqs", 403,
         "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature "
         "we calculated does not match the signature you provided.</Message></Error>",
         NULL, &e);
    EXPECT_TRUE(!e.clock_skew);
    from("sqs", 400, "{\"__type\":\"InvalidSignatureException\",\"message\":\"bad\"}", NULL, &e);
    EXPECT_TRUE(!e.clock_skew);
}

DEF_TEST(network_and_credentials)
{
    struct aws_error e;
    char s[256];

    aws_error_network(&e, "sqs", true, "Operation timed out after 30001 milliseconds");
    EXPECT_EQ_INT(AWS_ERR_NETWORK, e.kind);
    EXPECT_TRUE(e.retryable && e.timeout && !e.throttling);
    EXPECT_EQ_STR("sqs: network error: Operation timed out after 30001 milliseconds",
                  aws_error_str(&e, s, sizeof s));
    aws_error_clear(&e);
    aws_error_set(&e, AWS_ERR_CREDENTIALS, "sts", "no credentials");
    EXPECT_TRUE(e.retryable);
    aws_error_clear(&e);
    aws_error_set(&e, AWS_ERR_PARSE, "sqs", "bad JSON at %d", 3);
    EXPECT_TRUE(!e.retryable);
    EXPECT_EQ_STR("sqs: parse error: bad JSON at 3", aws_error_str(&e, s, sizeof s));
    from("sqs", 400, "{\"__type\":\"a#B\",\"message\":\"c\"}", NULL, &e);
    EXPECT_EQ_STR("sqs: HTTP 400 B: c", aws_error_str(&e, s, sizeof s));
    aws_error_clear(&e);
    EXPECT_EQ_INT(AWS_OK, e.kind);
    EXPECT_EQ_STR("ok", aws_error_kind_name(AWS_OK));
}

DEF_TEST(long_fields_truncate)
{
    struct aws_error e;
    char *body = malloc(4096);

    strcpy(body, "{\"__type\":\"");
    memset(body + strlen(body), 'A', 1000);
    strcpy(body + 11 + 1000, "\",\"message\":\"m\"}");
    from("sqs", 400, body, NULL, &e);
    EXPECT_EQ_INT(sizeof e.code - 1, strlen(e.code));
    free(body);
}

DEF_TEST(http_dates)
{
    EXPECT_EQ_INT(784111777, aws_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT"));
    EXPECT_EQ_INT(784111777, aws_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT"));
    EXPECT_EQ_INT(784111777, aws_http_date_parse("Sun Nov  6 08:49:37 1994"));
    EXPECT_EQ_INT(1767225600, aws_http_date_parse("Thu, 01 Jan 2026 00:00:00 GMT"));
    EXPECT_EQ_INT(-1, aws_http_date_parse("Sun, 06 Nov 1994 08:49:37 PST"));
    EXPECT_EQ_INT(-1, aws_http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT"));
    EXPECT_EQ_INT(-1, aws_http_date_parse("yesterday"));
    EXPECT_EQ_INT(-1, aws_http_date_parse(""));
    EXPECT_EQ_INT(-1, aws_http_date_parse(NULL));
}

int main(void)
{
    RUN_TEST(json_type_with_namespace);
    RUN_TEST(json_variants);
    RUN_TEST(xml_bodies);
    RUN_TEST(empty_and_garbage_bodies);
    RUN_TEST(query_error_header);
    RUN_TEST(throttling_codes_retry_at_any_status);
    RUN_TEST(transient_and_status_rules);
    RUN_TEST(clock_skew);
    RUN_TEST(network_and_credentials);
    RUN_TEST(long_fields_truncate);
    RUN_TEST(http_dates);
    return tap_done();
}
