/*
 * http_easy.c: one AWS request as one curl easy transfer: copying the request,
 * signing it, setting curl's options, collecting the response, and the
 * standard-mode retry decision. Shared by the loop client (http.c) and the
 * blocking variant (http_perform_blocking, at the end of this file).
 *
 * Nothing here logs a header value: the Authorization, X-Amz-Security-Token and
 * caller-supplied headers may carry secrets.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/aws_endpoint.h"
#include "base/config.h"
#include "aws/http_int.h"
#include "base/log.h"

/* A transfer that moves less than 1 byte/s for this long is dead; the request's own
 * timeout normally fires first, this guards transfers with long timeouts. */
#define LOW_SPEED_TIME_S 60L

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

    if (rc != CURLE_OK)
        log_err("curl_global_init: %s", curl_easy_strerror(rc));
}

void http_global_init(void)
{
    pthread_once(&global_once, global_init_once);
}

void http_settings_load(struct http_settings *s, const struct config *cfg)
{
    uint64_t base = s->backoff_base_ms ? s->backoff_base_ms : 1000;
    uint64_t cap = s->backoff_cap_ms ? s->backoff_cap_ms : 20000;

    http_settings_free(s);
    s->region = xstrdup(aws_endpoint_region(cfg));
    s->ca_file = cfg && !str_empty(cfg->aws.ca_file) ? xstrdup(cfg->aws.ca_file) : NULL;
    s->connect_timeout_s = cfg && cfg->aws.connect_timeout > 0 ? cfg->aws.connect_timeout : 10;
    s->max_attempts = cfg && cfg->aws.max_attempts > 0 ? cfg->aws.max_attempts : 3;
    s->backoff_base_ms = base;
    s->backoff_cap_ms = cap;
}

void http_settings_free(struct http_settings *s)
{
    free(s->region);
    free(s->ca_file);
    s->region = NULL;
    s->ca_file = NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void http_req_copy_init(struct http_req_copy *c, const struct http_request *r)
{
    memset(c, 0, sizeof *c);
    c->service = dup_or_null(r->service);
    c->region = dup_or_null(r->region);
    c->method = xstrdup(r->method ? r->method : "GET");
    c->url = xstrdup(r->url ? r->url : "");
    c->label = dup_or_null(r->label);
    for (size_t i = 0; r->headers && r->headers[i]; i++)
        c->nheaders++;
    c->headers = xcalloc(c->nheaders + 1, sizeof *c->headers);
    for (size_t i = 0; i < c->nheaders; i++)
        c->headers[i] = xstrdup(r->headers[i]);
    if (r->body_len > 0) {
        c->body = xmalloc(r->body_len);
        memcpy(c->body, r->body, r->body_len);
        c->body_len = r->body_len;
    }
    if (r->creds != NULL) {
        c->has_creds = true;
        c->access_key_id = dup_or_null(r->creds->access_key_id);
        c->secret_access_key = dup_or_null(r->creds->secret_access_key);
        c->session_token = dup_or_null(r->creds->session_token);
    }
    c->timeout_ms = r->timeout_ms > 0 ? r->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
    c->max_attempts = r->max_attempts;
}

static void free_secret(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void http_req_copy_free(struct http_req_copy *c)
{
    free(c->service);
    free(c->region);
    free(c->method);
    free(c->url);
    free(c->label);
    for (size_t i = 0; i < c->nheaders; i++)
        free(c->headers[i]);
    free(c->headers);
    free(c->body);
    free(c->access_key_id);
    free_secret(c->secret_access_key);
    free_secret(c->session_token);
    memset(c, 0, sizeof *c);
}

const char *http_req_label(const struct http_req_copy *r, char *buf, size_t n)
{
    struct aws_url u;

    if (r->label != NULL)
        return r->label;
    if (aws_url_parse(r->url, &u) == 0) {
        snprintf(buf, n, "%s %s", r->method, u.host_header);
        aws_url_free(&u);
    } else {
        snprintf(buf, n, "%s (bad URL)", r->method);
    }
    return buf;
}

const char *http_response_header(const struct http_response *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static void clear_headers(struct http_response *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    r->headers = NULL;
    r->nheaders = 0;
}

void http_response_free(struct http_response *r)
{
    clear_headers(r);
    buf_free(&r->body);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct http_attempt *a = arg;
    size_t n = size * nmemb;

    if (a->resp.body.len + n > HTTP_MAX_RESPONSE_BYTES) {
        a->too_large = true;
        return 0;
    }
    buf_append(&a->resp.body, ptr, n);
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct http_attempt *a = arg;
    size_t n = size * nmemb, namelen;
    const char *colon = memchr(ptr, ':', n);
    struct http_header_line *h;
    char *value;

    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* A new status line (after 100 Continue): forget the previous headers. */
        clear_headers(&a->resp);
        return n;
    }
    if (colon == NULL)
        return n;
    namelen = (size_t)(colon - ptr);
    value = xstrndup(colon + 1, n - namelen - 1);
    a->resp.headers = xrealloc(a->resp.headers, (a->resp.nheaders + 1) * sizeof *a->resp.headers);
    h = &a->resp.headers[a->resp.nheaders++];
    h->name = xstrndup(ptr, namelen);
    h->value = xstrdup(str_trim(value));
    free(value);
    return n;
}

/* Splits the caller's "Name: value" headers for signing; pointers into copies in *store. */
static size_t split_headers(const struct http_req_copy *r, const char *host,
                            struct sigv4_header *out, char **store)
{
    size_t n = 0;

    out[n].name = "Host";
    out[n++].value = host;
    for (size_t i = 0; i < r->nheaders; i++) {
        char *colon;
        store[i] = xstrdup(r->headers[i]);
        colon = strchr(store[i], ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        out[n].name = store[i];
        out[n++].value = str_trim(colon + 1);
    }
    return n;
}

static int sign_into(struct http_attempt *a, const struct http_req_copy *r,
                     const struct http_settings *s, const struct aws_creds *creds, time_t now,
                     const struct aws_url *u)
{
    struct sigv4_header *hv = xcalloc(r->nheaders + 1, sizeof *hv);
    char **store = xcalloc(r->nheaders + 1, sizeof *store);
    struct sigv4_request sr = {0};
    struct sigv4_params p;
    struct sigv4_result res;
    char err[256];
    int rc = -1;

    sr.method = r->method;
    sr.path = u->path;
    sr.query = u->query;
    sr.headers = hv;
    sr.nheaders = split_headers(r, u->host_header, hv, store);
    sr.body = r->body;
    sr.body_len = r->body_len;
    if (strcmp(r->service, "s3") == 0)
        sigv4_params_s3(&p, r->region ? r->region : s->region, now);
    else
        sigv4_params_service(&p, r->region ? r->region : s->region, r->service, now);
    if (sigv4_sign(&sr, &p, creds, &res, err, sizeof err) != 0) {
        aws_error_set(&a->resp.err, AWS_ERR_CREDENTIALS, r->service, "cannot sign: %s", err);
        a->resp.err.retryable = false;
        goto fail;
    }
    for (size_t i = 0; i < res.nadd; i++) {
        char *line = xasprintf("%s: %s", res.add[i].name, res.add[i].value);
        a->hdrs = curl_slist_append(a->hdrs, line);
        explicit_bzero(line, strlen(line));
        free(line);
    }
    sigv4_result_free(&res);
    rc = 0;
fail:
    for (size_t i = 0; i < r->nheaders; i++)
        free(store[i]);
    free(store);
    free(hv);
    return rc;
}

static void set_method(CURL *e, const struct http_req_copy *r)
{
    if (strcmp(r->method, "GET") == 0 && r->body_len == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        /* POSTFIELDS with an explicit size also works for PUT/DELETE bodies and for an
         * empty body (Content-Length: 0, which signed PUTs need). */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body_len ? r->body : "");
        if (strcmp(r->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
}

int http_attempt_prepare(struct http_attempt *a, const struct http_req_copy *r,
                         const struct http_settings *s, const struct aws_creds *creds, time_t now)
{
    struct aws_url u;
    int attempts = a->resp.attempts;
    char *host;
    int rc = -1;

    http_response_free(&a->resp);
    memset(&a->resp, 0, sizeof a->resp);
    a->resp.attempts = attempts;
    a->too_large = false;
    a->errbuf[0] = '\0';
    curl_slist_free_all(a->hdrs);
    a->hdrs = NULL;
    if (aws_url_parse(r->url, &u) != 0) {
        aws_error_set(&a->resp.err, AWS_ERR_NETWORK, r->service, "malformed URL");
        a->resp.err.retryable = false;
        return -1;
    }
    host = xasprintf("Host: %s", u.host_header);
    a->hdrs = curl_slist_append(a->hdrs, host);
    free(host);
    for (size_t i = 0; i < r->nheaders; i++)
        a->hdrs = curl_slist_append(a->hdrs, r->headers[i]);
    /* No 100-continue round trip; curl's form Content-Type is never wanted. */
    a->hdrs = curl_slist_append(a->hdrs, "Expect:");
    if (r->service != NULL && sign_into(a, r, s, creds, now, &u) != 0)
        goto fail;

    curl_easy_reset(a->easy);
    curl_easy_setopt(a->easy, CURLOPT_URL, r->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(a->easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(a->easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(a->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(a->easy, CURLOPT_HTTPHEADER, a->hdrs);
    curl_easy_setopt(a->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(a->easy, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(a->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(a->easy, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(a->easy, CURLOPT_ERRORBUFFER, a->errbuf);
    curl_easy_setopt(a->easy, CURLOPT_CONNECTTIMEOUT, s->connect_timeout_s);
    curl_easy_setopt(a->easy, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(a->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(a->easy, CURLOPT_LOW_SPEED_TIME,
                     r->timeout_ms / 1000 + 1 > LOW_SPEED_TIME_S ? r->timeout_ms / 1000 + 1
                                                                 : LOW_SPEED_TIME_S);
    curl_easy_setopt(a->easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(a->easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->ca_file != NULL)
        curl_easy_setopt(a->easy, CURLOPT_CAINFO, s->ca_file);
    curl_easy_setopt(a->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(a->easy, CURLOPT_FOLLOWLOCATION, 0L);
    set_method(a->easy, r);
    rc = 0;
fail:
    aws_url_free(&u);
    return rc;
}

void http_attempt_finish(struct http_attempt *a, const struct http_req_copy *r, CURLcode rc)
{
    const char *svc = r->service ? r->service : "http";
    long status = 0;

    if (rc != CURLE_OK) {
        if (a->too_large) {
            aws_error_network(&a->resp.err, svc, false, "response body too large");
            a->resp.err.retryable = false;
        } else {
            aws_error_network(&a->resp.err, svc, rc == CURLE_OPERATION_TIMEDOUT,
                              a->errbuf[0] ? a->errbuf : curl_easy_strerror(rc));
        }
        a->resp.status = 0;
        buf_reset(&a->resp.body);
        return;
    }
    curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
    a->resp.status = status;
    if (status >= 200 && status < 300) {
        aws_error_clear(&a->resp.err);
        return;
    }
    aws_error_from_response(svc, status, a->resp.body.data, a->resp.body.len,
                            http_response_header(&a->resp, "x-amzn-query-error"), &a->resp.err);
}

void http_attempt_cleanup(struct http_attempt *a)
{
    curl_slist_free_all(a->hdrs);
    a->hdrs = NULL;
    http_response_free(&a->resp);
}

static bool quota_acquire(struct http_quota *q, int cost)
{
    if (cost > q->available)
        return false;
    q->available -= cost;
    return true;
}

static void quota_release(struct http_quota *q, int amount)
{
    q->available += amount;
    if (q->available > HTTP_QUOTA_INITIAL)
        q->available = HTTP_QUOTA_INITIAL;
}

enum http_next http_retry_decide(const struct http_response *resp, struct http_retry_state *st,
                                 struct http_quota *q, const struct http_settings *s,
                                 int64_t *clock_offset, uint64_t *delay_ms)
{
    const struct aws_error *e = &resp->err;
    int cost;

    *delay_ms = 0;
    if (e->kind == AWS_OK) {
        quota_release(q, st->last_cost ? st->last_cost : HTTP_QUOTA_NO_RETRY_INCREMENT);
        return HTTP_NEXT_DONE;
    }
    if (e->clock_skew && !st->skew_retry_used) {
        int64_t server = aws_http_date_parse(http_response_header(resp, "Date"));
        if (server > 0) {
            st->skew_retry_used = true;
            *clock_offset = server - (int64_t)time(NULL);
            return HTTP_NEXT_RETRY_NOW;
        }
    }
    if (!e->retryable || resp->attempts >= st->max_attempts)
        return HTTP_NEXT_DONE;
    cost = e->timeout ? HTTP_QUOTA_TIMEOUT_COST : HTTP_QUOTA_RETRY_COST;
    if (!quota_acquire(q, cost))
        return HTTP_NEXT_DONE;
    st->last_cost = cost;
    /* botocore ExponentialBackoff: rand(0,1) * min(base * 2^(attempt-1), 20 s). */
    *delay_ms = backoff_full_jitter_ms((unsigned)(resp->attempts - 1), s->backoff_base_ms,
                                       s->backoff_cap_ms);
    return HTTP_NEXT_RETRY_LATER;
}

int http_perform_blocking(const struct config *cfg, const struct http_request *req,
                          struct http_response *out)
{
    struct http_settings s = {0};
    struct http_req_copy r;
    struct http_attempt a = {0};
    struct http_retry_state st = {0};
    struct http_quota q = {HTTP_QUOTA_INITIAL};
    struct aws_creds creds;
    int64_t offset = 0;
    enum http_next next = HTTP_NEXT_DONE;
    char lbuf[160];

    http_global_init();
    http_settings_load(&s, cfg);
    http_req_copy_init(&r, req);
    st.max_attempts = r.max_attempts > 0 ? r.max_attempts : s.max_attempts;
    creds.access_key_id = r.access_key_id;
    creds.secret_access_key = r.secret_access_key;
    creds.session_token = r.session_token;
    a.easy = curl_easy_init();
    do {
        uint64_t delay = 0;
        a.resp.attempts++;
        if (r.service != NULL && !r.has_creds) {
            aws_error_set(&a.resp.err, AWS_ERR_CREDENTIALS, r.service, "no credentials given");
            a.resp.err.retryable = false;
            break;
        }
        if (a.easy == NULL ||
            http_attempt_prepare(&a, &r, &s, r.service ? &creds : NULL, time(NULL) + offset) != 0) {
            if (a.easy == NULL)
                aws_error_network(&a.resp.err, r.service, false, "curl_easy_init failed");
            break;
        }
        http_attempt_finish(&a, &r, curl_easy_perform(a.easy));
        next = http_retry_decide(&a.resp, &st, &q, &s, &offset, &delay);
        if (next != HTTP_NEXT_DONE) {
            char eb[768];
            log_debug("%s: attempt %d failed (%s), retrying in %llu ms",
                      http_req_label(&r, lbuf, sizeof lbuf), a.resp.attempts,
                      aws_error_str(&a.resp.err, eb, sizeof eb), (unsigned long long)delay);
        }
        if (next == HTTP_NEXT_RETRY_LATER) {
            struct timespec ts = {(time_t)(delay / 1000), (long)(delay % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
    } while (next != HTTP_NEXT_DONE);
    *out = a.resp;
    memset(&a.resp, 0, sizeof a.resp);
    http_attempt_cleanup(&a);
    if (a.easy != NULL)
        curl_easy_cleanup(a.easy);
    http_req_copy_free(&r);
    http_settings_free(&s);
    return out->err.kind == AWS_OK ? 0 : -1;
}
