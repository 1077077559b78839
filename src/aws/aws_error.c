/*
 * aws_error.c: decoding AWS error responses and classifying them for retries.
 *
 * The code lists follow botocore's standard retry mode (retries/standard.py) so
 * that ingestd retries exactly what the SDKs retry. XML bodies are read with a
 * small tag scan rather than an XML parser: error documents are flat and we only
 * need two elements; entities are decoded. This module does not decide what a
 * caller does with an error beyond "retry or not"; that is the caller's policy.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "aws/aws_error.h"

/* botocore ThrottledRetryableChecker._THROTTLED_ERROR_CODES */
static const char *const throttling_codes[] = {
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

/* botocore TransientRetryableChecker._TRANSIENT_ERROR_CODES, plus the codes services
 * send with a 5xx (already retried by status) in case a proxy rewrites the status. */
static const char *const transient_codes[] = {
    "RequestTimeout",          "RequestTimeoutException",
    "PriorRequestNotComplete", "InternalError",
    "InternalFailure",         "InternalServerError",
    "ServiceUnavailable",      "ServiceUnavailableException",
    "IDPCommunicationError",
};

/* Always about the clock. */
static const char *const skew_codes[] = {
    "RequestTimeTooSkewed",
    "RequestExpired",
    "RequestInTheFuture",
};

/* About the clock only when the message says so ("Signature expired: ... is now
 * earlier than ...", "Signature not yet current"). A wrong secret gives the same
 * codes with another message and must not be retried. */
static const char *const maybe_skew_codes[] = {
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AuthFailure",
};

static bool in_list(const char *code, const char *const *list, size_t n)
{
    if (code == NULL || *code == '\0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(code, list[i]) == 0)
            return true;
    return false;
}

bool aws_error_code_is_throttling(const char *code)
{
    return in_list(code, throttling_codes, sizeof throttling_codes / sizeof *throttling_codes);
}

bool aws_error_code_is_transient(const char *code)
{
    return in_list(code, transient_codes, sizeof transient_codes / sizeof *transient_codes);
}

static void copy_str(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

void aws_error_clear(struct aws_error *e)
{
    memset(e, 0, sizeof *e);
    e->kind = AWS_OK;
}

void aws_error_set(struct aws_error *e, enum aws_error_kind kind, const char *service,
                   const char *fmt, ...)
{
    va_list ap;

    e->kind = kind;
    if (service != NULL)
        copy_str(e->service, sizeof e->service, service, strlen(service));
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    aws_error_classify(e);
}

void aws_error_network(struct aws_error *e, const char *service, bool timeout, const char *message)
{
    aws_error_clear(e);
    e->timeout = timeout;
    aws_error_set(e, AWS_ERR_NETWORK, service, "%s", message ? message : "network error");
}

static bool mentions_time(const char *msg)
{
    static const char *const words[] = {"expired", "skew", "not yet current", "time difference"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcasestr(msg, words[i]) != NULL)
            return true;
    return false;
}

void aws_error_classify(struct aws_error *e)
{
    e->retryable = false;
    e->throttling = false;
    e->clock_skew = false;
    switch (e->kind) {
    case AWS_OK:
    case AWS_ERR_PARSE:
        return;
    case AWS_ERR_NETWORK:
    case AWS_ERR_CREDENTIALS:
        /* A dropped connection and credentials being refreshed both pass. */
        e->retryable = true;
        return;
    case AWS_ERR_HTTP:
        break;
    }
    e->throttling = aws_error_code_is_throttling(e->code) || e->http_status == 429;
    if (in_list(e->code, skew_codes, sizeof skew_codes / sizeof *skew_codes) ||
        (in_list(e->code, maybe_skew_codes, sizeof maybe_skew_codes / sizeof *maybe_skew_codes) &&
         mentions_time(e->message)))
        e->clock_skew = true;
    if (e->throttling || aws_error_code_is_transient(e->code))
        e->retryable = true;
    if (e->http_status == 500 || e->http_status == 502 || e->http_status == 503 ||
        e->http_status == 504)
        e->retryable = true;
}

/* "com.amazonaws.sqs#QueueDoesNotExist" -> "QueueDoesNotExist"; old REST-JSON
 * services append ":http://internal.amazon.com/coral/..." which botocore drops too. */
static void set_json_type(struct aws_error *e, const char *type)
{
    const char *hash = strrchr(type, '#');
    const char *start = hash ? hash + 1 : type;
    size_t len = strcspn(start, ":");

    copy_str(e->code, sizeof e->code, start, len);
}

static bool parse_json_error(struct aws_error *e, const char *body, size_t len)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *type = NULL, *msg = NULL;

    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return false;
    }
    type = json_string_value(json_object_get(root, "__type"));
    if (type == NULL)
        type = json_string_value(json_object_get(root, "code"));
    if (type == NULL)
        type = json_string_value(json_object_get(root, "Code"));
    msg = json_string_value(json_object_get(root, "message"));
    if (msg == NULL)
        msg = json_string_value(json_object_get(root, "Message"));
    if (msg == NULL)
        msg = json_string_value(json_object_get(root, "errorMessage"));
    if (type != NULL)
        set_json_type(e, type);
    if (msg != NULL)
        copy_str(e->message, sizeof e->message, msg, strlen(msg));
    json_decref(root);
    return type != NULL || msg != NULL;
}

/* Decodes the five predefined XML entities and numeric references (ASCII only). */
static void xml_text(char *dst, size_t cap, const char *s, size_t len)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {
        {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''},
    };
    size_t o = 0;

    for (size_t i = 0; i < len && o + 1 < cap;) {
        bool done = false;
        if (s[i] == '&') {
            for (size_t k = 0; k < sizeof ents / sizeof *ents && !done; k++) {
                size_t el = strlen(ents[k].ent);
                if (i + el <= len && memcmp(s + i, ents[k].ent, el) == 0) {
                    dst[o++] = ents[k].c;
                    i += el;
                    done = true;
                }
            }
            if (!done && i + 3 < len && s[i + 1] == '#') {
                char *end;
                long v = strtol(s + i + 2 + (s[i + 2] == 'x'), &end, s[i + 2] == 'x' ? 16 : 10);
                if (end < s + len && *end == ';' && v > 0 && v < 128) {
                    dst[o++] = (char)v;
                    i = (size_t)(end - s) + 1;
                    done = true;
                }
            }
        }
        if (!done)
            dst[o++] = s[i++];
    }
    dst[o] = '\0';
}

/* Finds <tag>text</tag> in [p, end); returns false when absent. */
static bool xml_find(const char *p, const char *end, const char *tag, const char **text,
                     size_t *tlen)
{
    char open[64], close[64];
    const char *a, *b;

    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    a = memmem(p, (size_t)(end - p), open, strlen(open));
    if (a == NULL)
        return false;
    a += strlen(open);
    b = memmem(a, (size_t)(end - a), close, strlen(close));
    if (b == NULL)
        return false;
    *text = a;
    *tlen = (size_t)(b - a);
    return true;
}

static bool parse_xml_error(struct aws_error *e, const char *body, size_t len)
{
    const char *end = body + len;
    const char *p = memmem(body, len, "<Error>", 7);
    const char *t;
    size_t tl;
    bool any = false;

    if (p == NULL)
        p = body;
    if (xml_find(p, end, "Code", &t, &tl)) {
        xml_text(e->code, sizeof e->code, t, tl);
        any = true;
    }
    if (xml_find(p, end, "Message", &t, &tl)) {
        xml_text(e->message, sizeof e->message, t, tl);
        any = true;
    }
    return any;
}

static const char *skip_space(const char *s, const char *end)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    return s;
}

void aws_error_from_response(const char *service, long status, const char *body, size_t len,
                             const char *query_error, struct aws_error *e)
{
    const char *p = body ? skip_space(body, body + len) : NULL;

    aws_error_clear(e);
    e->kind = AWS_ERR_HTTP;
    e->http_status = status;
    if (service != NULL)
        copy_str(e->service, sizeof e->service, service, strlen(service));
    if (p != NULL && p < body + len) {
        if (*p == '{')
            parse_json_error(e, p, (size_t)(body + len - p));
        else if (*p == '<')
            parse_xml_error(e, p, (size_t)(body + len - p));
    }
    /* "AWS.SimpleQueueService.NonExistentQueue;Sender": the query-protocol code. */
    if (e->code[0] == '\0' && query_error != NULL && *query_error != '\0')
        copy_str(e->code, sizeof e->code, query_error, strcspn(query_error, ";"));
    if (e->message[0] == '\0')
        snprintf(e->message, sizeof e->message, "HTTP %ld", status);
    aws_error_classify(e);
}

const char *aws_error_kind_name(enum aws_error_kind kind)
{
    switch (kind) {
    case AWS_OK:
        return "ok";
    case AWS_ERR_NETWORK:
        return "network";
    case AWS_ERR_HTTP:
        return "http";
    case AWS_ERR_PARSE:
        return "parse";
    case AWS_ERR_CREDENTIALS:
        return "credentials";
    }
    return "unknown";
}

const char *aws_error_str(const struct aws_error *e, char *out, size_t outlen)
{
    const char *svc = e->service[0] ? e->service : "aws";

    switch (e->kind) {
    case AWS_OK:
        snprintf(out, outlen, "%s: ok", svc);
        break;
    case AWS_ERR_HTTP:
        snprintf(out, outlen, "%s: HTTP %ld%s%s: %s", svc, e->http_status, e->code[0] ? " " : "",
                 e->code, e->message);
        break;
    default:
        snprintf(out, outlen, "%s: %s error: %s", svc, aws_error_kind_name(e->kind), e->message);
        break;
    }
    return out;
}

static int month_index(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

    for (int i = 0; i < 12; i++)
        if (strncmp(s, months + 3 * i, 3) == 0)
            return i;
    return -1;
}

int64_t aws_http_date_parse(const char *s)
{
    struct tm tm = {0};
    char mon[4] = "", tz[4] = "";
    int day, year, hh, mm, ss, n = 0;
    const char *comma;
    time_t t;

    if (s == NULL)
        return -1;
    comma = strchr(s, ',');
    if (comma != NULL) {
        const char *p = comma + 1;
        /* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" or RFC 850 "Sunday, 06-Nov-94 ..." */
        if (sscanf(p, " %2d %3s %4d %2d:%2d:%2d %3s%n", &day, mon, &year, &hh, &mm, &ss, tz, &n) !=
                7 &&
            sscanf(p, " %2d-%3[A-Za-z]-%4d %2d:%2d:%2d %3s%n", &day, mon, &year, &hh, &mm, &ss, tz,
                   &n) != 7)
            return -1;
        if (strcmp(tz, "GMT") != 0 && strcmp(tz, "UTC") != 0)
            return -1;
        if (year < 100)
            year += year < 70 ? 2000 : 1900;
    } else {
        char wday[4];
        /* asctime "Sun Nov  6 08:49:37 1994" */
        if (sscanf(s, "%3s %3s %2d %2d:%2d:%2d %4d%n", wday, mon, &day, &hh, &mm, &ss, &year, &n) !=
            7)
            return -1;
    }
    tm.tm_mon = month_index(mon);
    if (tm.tm_mon < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970)
        return -1;
    tm.tm_mday = day;
    tm.tm_year = year - 1900;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t;
}
