/*
 * aws_error.h: one typed error for every AWS call, and the retry classification of
 * the SDKs' "standard" retry mode.
 *
 * aws_error_from_response() turns an error response (status + body) into a code and
 * a message: JSON bodies of the AWS JSON protocols ({"__type": "ns#Code",
 * "message"|"Message": ...}) and XML bodies (<Error><Code>..</Code><Message>..
 * </Message></Error>, also nested in <ErrorResponse>, which is what S3, STS and
 * moto's signature checker send, the latter even on JSON endpoints). It then
 * classifies the error as botocore's standard mode does
 * (botocore/retries/standard.py, TransientRetryableChecker and
 * ThrottledRetryableChecker): HTTP 500/502/503/504, the transient codes and the
 * throttling codes are retryable, connection failures are retryable, every other
 * 4xx is not. Clock-skew errors (RequestTimeTooSkewed, RequestExpired,
 * InvalidSignatureException / SignatureDoesNotMatch that mention the time) are
 * flagged so that the HTTP client can correct its clock offset from the server's
 * Date header and try once more.
 *
 * Pure: no I/O, no logging, nothing kept between calls; any thread may call
 * everything here. The struct is plain data (fixed-size strings; long texts are
 * truncated) and may be copied.
 */
#ifndef INGESTD_AWS_ERROR_H
#define INGESTD_AWS_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum aws_error_kind {
    AWS_OK = 0,
    AWS_ERR_NETWORK,     /* no HTTP response: DNS, connect, TLS, reset, timeout */
    AWS_ERR_HTTP,        /* the service answered with a non-2xx status */
    AWS_ERR_PARSE,       /* a 2xx answer we could not understand */
    AWS_ERR_CREDENTIALS, /* no usable credentials to sign with */
};

struct aws_error {
    enum aws_error_kind kind;
    char service[32];  /* "sqs", "s3", ... (the signing name, or a label) */
    long http_status;  /* 0 when there was no response */
    char code[128];    /* AWS error code, e.g. "QueueDoesNotExist"; "" if unknown */
    char message[512]; /* human text from the service or from us; never a secret */
    bool retryable;    /* standard mode says: try again after a backoff */
    bool throttling;   /* a throttling code: the retry is also a throttling retry */
    bool timeout;      /* a network timeout (the retry quota charges more for it) */
    bool clock_skew;   /* the signature was rejected because our clock is off */
};

/* Resets e to AWS_OK with every string empty. */
void aws_error_clear(struct aws_error *e);

/* Sets kind, service and a formatted message; code/status untouched (call clear first). */
void aws_error_set(struct aws_error *e, enum aws_error_kind kind, const char *service,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Fills e (after clearing it) from an HTTP response that is not 2xx: kind AWS_ERR_HTTP,
 * http_status, code and message from the body (JSON or XML; an empty or unknown body
 * leaves code "" and a message "HTTP <status>"), then the classification flags.
 * query_error may be the value of an x-amzn-query-error response header
 * ("AWS.SimpleQueueService.NonExistentQueue;Sender") or NULL: it is used only when the
 * body carries no code. Never fails.
 */
void aws_error_from_response(const char *service, long status, const char *body, size_t len,
                             const char *query_error, struct aws_error *e);

/* Sets the network kind for a transport failure (message is the library's text). */
void aws_error_network(struct aws_error *e, const char *service, bool timeout, const char *message);

/* Classification of codes, exposed for callers that get codes from elsewhere
 * (DynamoDB UnprocessedItems, per-entry batch failures). */
bool aws_error_code_is_throttling(const char *code);
bool aws_error_code_is_transient(const char *code);

/* Recomputes retryable/throttling/clock_skew from kind, http_status, code, message. */
void aws_error_classify(struct aws_error *e);

/* "sqs: HTTP 400 QueueDoesNotExist: The specified queue does not exist." into out. */
const char *aws_error_str(const struct aws_error *e, char *out, size_t outlen);
const char *aws_error_kind_name(enum aws_error_kind kind);

/* Parses an HTTP Date header (RFC 7231 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT";
 * the obsolete RFC 850 and asctime forms too) into UTC seconds; -1 when malformed. */
int64_t aws_http_date_parse(const char *s);

#endif
