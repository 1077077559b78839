/*
 * http_int.h: internals shared by the loop client (http.c) and the single-request
 * engine (http_easy.c); not for other modules.
 *
 * http_easy.c knows how to turn one copied request into one signed curl easy
 * transfer and its outcome into a struct http_response, and how standard-mode
 * retries are decided and paced; http.c drives many of them on the loop, and
 * http_perform_blocking() drives one with curl_easy_perform().
 */
#ifndef INGESTD_HTTP_INT_H
#define INGESTD_HTTP_INT_H

#include <curl/curl.h>

#include "aws/http.h"

/* What a client takes from the configuration (owned copies). */
struct http_settings {
    char *region;
    char *ca_file; /* NULL: the system trust store */
    long connect_timeout_s;
    int max_attempts;
    uint64_t backoff_base_ms;
    uint64_t backoff_cap_ms;
};

void http_settings_load(struct http_settings *s, const struct config *cfg);
void http_settings_free(struct http_settings *s);

/* A deep copy of a struct http_request. */
struct http_req_copy {
    char *service, *region, *method, *url, *label;
    char **headers; /* "Name: value" */
    size_t nheaders;
    void *body;
    size_t body_len;
    bool has_creds;
    char *access_key_id, *secret_access_key, *session_token;
    long timeout_ms;
    int max_attempts;
};

void http_req_copy_init(struct http_req_copy *c, const struct http_request *r);
void http_req_copy_free(struct http_req_copy *c);

/* One transfer's state; the easy handle is reused across attempts of one call. */
struct http_attempt {
    CURL *easy;
    struct curl_slist *hdrs;
    struct http_response resp;
    bool too_large;
    char errbuf[CURL_ERROR_SIZE];
};

/* Prepares a->easy for one attempt: resets it, signs with creds (NULL for an unsigned
 * request) at time now, sets every option. Clears a->resp except attempts.
 * 0, or -1 with a->resp.err set (malformed URL or request; not retryable). */
int http_attempt_prepare(struct http_attempt *a, const struct http_req_copy *r,
                         const struct http_settings *s, const struct aws_creds *creds, time_t now);
/* Fills a->resp.status and a->resp.err from the transfer's result. */
void http_attempt_finish(struct http_attempt *a, const struct http_req_copy *r, CURLcode rc);
void http_attempt_cleanup(struct http_attempt *a); /* frees hdrs and the response */

/* The standard-mode retry quota (botocore retries/quota.py). Not thread-safe. */
struct http_quota {
    int available;
};
#define HTTP_QUOTA_INITIAL            500
#define HTTP_QUOTA_RETRY_COST         5
#define HTTP_QUOTA_TIMEOUT_COST       10
#define HTTP_QUOTA_NO_RETRY_INCREMENT 1

enum http_next {
    HTTP_NEXT_DONE,        /* report the response (success or final failure) */
    HTTP_NEXT_RETRY_NOW,   /* clock corrected: sign again and resend at once */
    HTTP_NEXT_RETRY_LATER, /* back off *delay_ms, then resend */
};

/* Per-call retry bookkeeping. */
struct http_retry_state {
    int max_attempts;
    bool skew_retry_used;
    int last_cost; /* quota taken by the last retry, 0 if none */
};

/*
 * Decides what follows the attempt whose outcome is in resp (resp->attempts made so
 * far), updating the quota and, on a clock-skew error with a Date header, *clock_offset.
 */
enum http_next http_retry_decide(const struct http_response *resp, struct http_retry_state *st,
                                 struct http_quota *q, const struct http_settings *s,
                                 int64_t *clock_offset, uint64_t *delay_ms);

/* Log label: r->label or "METHOD host". */
const char *http_req_label(const struct http_req_copy *r, char *buf, size_t n);

/* curl_global_init once, thread-safe. */
void http_global_init(void);

#endif
