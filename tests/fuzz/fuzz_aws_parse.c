/*
 * fuzz_aws_parse.c: the parsers of AWS answers: SQS ReceiveMessage, the *Batch answers,
 * SendMessage and GetQueueAttributes (sqs_parse.c), error responses in JSON and XML
 * (aws_error_from_response), Secrets Manager's GetSecretValue and the password inside a
 * secret (secrets.c), and the HTTP Date parser.
 *
 * The first byte picks the parser and its parameters; the rest is the body, as an exact-size
 * copy without a terminating NUL. Invariants: success gives complete results (messages with
 * an id, a receipt handle and a body; one outcome per batch entry, successful ones without a code),
 * failure gives AWS_ERR_PARSE, service "sqs" and a message, and nothing to free; an error
 * response always yields kind AWS_ERR_HTTP, the status given, terminated code and message, and
 * a classification that aws_error_classify reproduces; a secret that is not a JSON object is
 * its own password.
 */
#include "aws/aws_error.h"
#include "fuzz.h"
#include "aws/secrets.h"
#include "aws/sqs.h"

static bool terminated(const char *s, size_t n)
{
    return memchr(s, '\0', n) != NULL;
}

static void check_parse_error(const struct aws_error *e, int rc)
{
    FUZZ_CHECK(rc == -1, "rc %d", rc);
    FUZZ_CHECK(e->kind == AWS_ERR_PARSE, "kind %d", (int)e->kind);
    FUZZ_CHECK(terminated(e->message, sizeof(e->message)) && e->message[0], "no message");
    FUZZ_CHECK(terminated(e->code, sizeof(e->code)), "code not terminated");
}

static void receive(const char *body, size_t len)
{
    struct sqs_message *m = (struct sqs_message *)1;
    struct aws_error e;
    size_t n = 99;
    int rc;

    aws_error_clear(&e);
    rc = sqs_parse_receive(body, len, &m, &n, &e);
    if (rc == 0) {
        FUZZ_CHECK((n == 0) == (m == NULL), "%zu messages at %p", n, (void *)m);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(m[i].message_id && m[i].receipt_handle && m[i].body,
                       "message %zu incomplete", i);
        sqs_messages_free(m, n);
    } else {
        check_parse_error(&e, rc);
        FUZZ_CHECK(m == NULL && n == 0, "failure left %zu messages", n);
    }
}

static void batch(const char *body, size_t len, size_t n)
{
    struct sqs_batch_entry out[SQS_MAX_BATCH];
    struct aws_error e;
    int rc;

    aws_error_clear(&e);
    rc = sqs_parse_batch(body, len, out, n, &e);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(terminated(out[i].code, sizeof(out[i].code)) &&
                           terminated(out[i].message, sizeof(out[i].message)),
                       "entry %zu not terminated", i);
            FUZZ_CHECK(!out[i].ok || (out[i].code[0] == '\0' && !out[i].sender_fault),
                       "entry %zu: ok with code %s", i, out[i].code);
        }
    } else {
        check_parse_error(&e, rc);
    }
}

static void send_answer(const char *body, size_t len)
{
    struct aws_error e;
    char *id = (char *)1;
    int rc;

    aws_error_clear(&e);
    rc = sqs_parse_send(body, len, &id, &e);
    if (rc == 0) {
        FUZZ_CHECK(id != NULL, "no id");
        free(id);
    } else {
        check_parse_error(&e, rc);
        FUZZ_CHECK(id == NULL, "failure left an id");
    }
}

static void attributes(const char *body, size_t len)
{
    struct sqs_queue_attrs a;
    struct aws_error e;
    int rc;

    aws_error_clear(&e);
    rc = sqs_parse_attributes(body, len, &a, &e);
    if (rc == 0) {
        FUZZ_CHECK(a.visibility_timeout >= -1, "visibility %d", a.visibility_timeout);
        FUZZ_CHECK(a.approx_messages >= -1 && a.approx_not_visible >= -1, "negative counts");
        FUZZ_CHECK(a.has_redrive == (a.dead_letter_target_arn != NULL), "redrive %d, arn %p",
                   a.has_redrive, (void *)a.dead_letter_target_arn);
        sqs_queue_attrs_free(&a);
    } else {
        check_parse_error(&e, rc);
    }
}

static void error_response(const char *body, size_t len, long status, const char *qe)
{
    struct aws_error e, again;
    char str[1024];

    aws_error_from_response("sqs", status, body, len, qe, &e);
    FUZZ_CHECK(e.kind == AWS_ERR_HTTP, "kind %d", (int)e.kind);
    FUZZ_CHECK(e.http_status == status, "status %ld for %ld", e.http_status, status);
    FUZZ_CHECK(terminated(e.code, sizeof(e.code)) && terminated(e.message, sizeof(e.message)),
               "not terminated");
    FUZZ_CHECK(e.message[0], "no message");
    FUZZ_CHECK(!strcmp(e.service, "sqs"), "service %s", e.service);
    again = e;
    aws_error_classify(&again);
    FUZZ_CHECK(again.retryable == e.retryable && again.throttling == e.throttling,
               "classification not reproducible for %s", e.code);
    if (status >= 500 && status <= 504 && status != 501)
        FUZZ_CHECK(e.retryable, "HTTP %ld not retryable", status);
    FUZZ_CHECK(aws_error_str(&e, str, sizeof(str)) == str && terminated(str, sizeof(str)),
               "aws_error_str");
}

static void secret(const char *body, size_t len, const char *cstr)
{
    struct aws_error e;
    char *v;

    aws_error_clear(&e);
    v = secrets_parse_get(body, len, &e);
    if (v) {
        char *pw;
        aws_error_clear(&e);
        pw = secrets_extract_password(v, &e);
        FUZZ_CHECK(pw || !strcmp(e.code, "NoPasswordInSecret"), "no password, code %s", e.code);
        free(pw);
        free(v);
    } else {
        FUZZ_CHECK(e.kind == AWS_ERR_PARSE && e.message[0], "no error");
    }
    aws_error_clear(&e);
    v = secrets_extract_password(cstr, &e);
    if (v && cstr[strspn(cstr, " \t\r\n")] != '{')
        FUZZ_CHECK(!strcmp(v, cstr), "a secret that is not a JSON object changed");
    FUZZ_CHECK(v || e.code[0], "no password and no code");
    free(v);
}

int fuzz_aws_parse(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t sel = fuzz_u8(&in), extra = fuzz_u8(&in);
    static const long statuses[] = {400, 403, 404, 413, 429, 500, 501, 502, 503, 504, 301, 302};
    static const char *const qes[] = {NULL, "AWS.SimpleQueueService.NonExistentQueue;Sender",
                                      "ThrottlingException;Sender", ";", "x"};
    char *body = (char *)fuzz_dup(in.p, in.n), *cstr = fuzz_cstr(in.p, in.n);

    switch (sel % 8) {
    case 0:
        receive(body, in.n);
        break;
    case 1:
        batch(body, in.n, 1 + extra % SQS_MAX_BATCH);
        break;
    case 2:
        send_answer(body, in.n);
        break;
    case 3:
        attributes(body, in.n);
        break;
    case 4:
    case 5:
        error_response(body, in.n, statuses[extra % (sizeof(statuses) / sizeof(statuses[0]))],
                       qes[(extra >> 4) % (sizeof(qes) / sizeof(qes[0]))]);
        break;
    case 6:
        secret(body, in.n, cstr);
        break;
    case 7: {
        int64_t t = aws_http_date_parse(cstr);
        FUZZ_CHECK(t >= -1, "date %lld", (long long)t);
        break;
    }
    }
    free(cstr);
    free(body);
    return 0;
}

FUZZ_MAIN(fuzz_aws_parse)
