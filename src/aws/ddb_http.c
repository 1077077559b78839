/*
 * ddb_http.c: DynamoDB calls on a worker-owned curl multi handle (see ddb_http.h).
 *
 * Each call keeps its easy handle and body until it is freed, so a retry re-signs
 * and re-adds the same transfer; the multi handle's connection cache lets
 * consecutive calls reuse keep-alive connections. Nothing here decides whether a
 * failed call is retried, except in ddb_http_call(): the sink knows which answers
 * need a retry (UnprocessedItems are a 200).
 */
#include "aws/ddb_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws_endpoint.h"
#include "base/log.h"

#define MAX_RESPONSE_BYTES ((size_t)64 << 20)

struct ddb_call_priv {
    struct ddb_http *h;
    char op[64];
    struct buf body;
    CURL *easy;
    struct curl_slist *hdrs;
    bool active; /* added to the multi handle */
    bool done;   /* in the done queue */
    bool too_large;
    char errbuf[CURL_ERROR_SIZE];
};

struct ddb_http {
    CURLM *multi;
    char *url;
    struct aws_url u;
    char *region;
    char *ca_file;
    long connect_timeout_s;
    bool has_creds;
    char *akid, *secret, *token;
    struct ddb_call **act; /* calls in flight */
    size_t nact, act_cap;
    struct ddb_call **done; /* completed, not yet collected, oldest first */
    size_t ndone, done_cap;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct ddb_http *ddb_http_new(const struct config *cfg, struct ierr *e)
{
    struct ddb_http *h = xcalloc(1, sizeof *h);

    pthread_once(&curl_once, curl_init_once);
    h->url = aws_endpoint_url(cfg, "dynamodb");
    if (aws_url_parse(h->url, &h->u) < 0) {
        ierr_set(e, IERR_CONFIG, "DynamoDB endpoint %s is not an http(s) URL", h->url);
        free(h->url);
        free(h);
        return NULL;
    }
    h->region = xstrdup(aws_endpoint_region(cfg));
    h->ca_file = cfg && !str_empty(cfg->aws.ca_file) ? xstrdup(cfg->aws.ca_file) : NULL;
    h->connect_timeout_s = cfg && cfg->aws.connect_timeout > 0 ? cfg->aws.connect_timeout : 10;
    h->multi = curl_multi_init();
    return h;
}

static void free_secret(char **s)
{
    if (*s) {
        explicit_bzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void ddb_http_set_creds(struct ddb_http *h, const struct aws_creds *c)
{
    free(h->akid);
    h->akid = NULL;
    free_secret(&h->secret);
    free_secret(&h->token);
    h->has_creds = c && c->access_key_id && c->secret_access_key;
    if (!h->has_creds)
        return;
    h->akid = xstrdup(c->access_key_id);
    h->secret = xstrdup(c->secret_access_key);
    h->token = c->session_token ? xstrdup(c->session_token) : NULL;
}

const char *ddb_http_endpoint(const struct ddb_http *h)
{
    return h->url;
}

static void list_push(struct ddb_call ***v, size_t *n, size_t *cap, struct ddb_call *c)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *v = xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = c;
}

static void list_remove(struct ddb_call **v, size_t *n, struct ddb_call *c)
{
    for (size_t i = 0; i < *n; i++) {
        if (v[i] == c) {
            memmove(v + i, v + i + 1, (*n - i - 1) * sizeof *v);
            (*n)--;
            return;
        }
    }
}

static void complete(struct ddb_http *h, struct ddb_call *c)
{
    c->priv->done = true;
    list_push(&h->done, &h->ndone, &h->done_cap, c);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct ddb_call *c = arg;
    size_t n = size * nmemb;

    if (c->resp.len + n > MAX_RESPONSE_BYTES) {
        c->priv->too_large = true;
        return 0;
    }
    buf_append(&c->resp, p, n);
    return n;
}

static void add_header(struct ddb_call_priv *p, const char *name, const char *value)
{
    char *line = xasprintf("%s: %s", name, value);
    p->hdrs = curl_slist_append(p->hdrs, line);
    explicit_bzero(line, strlen(line));
    free(line);
}

/* Signs and adds the transfer; on failure completes the call with the reason. */
static void send_call(struct ddb_http *h, struct ddb_call *c)
{
    struct ddb_call_priv *p = c->priv;
    char target[96], err[256];
    struct sigv4_header hv[3];
    struct sigv4_request sr;
    struct sigv4_params sp;
    struct sigv4_result res;
    struct aws_creds cr = {h->akid, h->secret, h->token};

    c->attempts++;
    c->status = 0;
    buf_reset(&c->resp);
    aws_error_clear(&c->err);
    p->too_large = false;
    p->errbuf[0] = '\0';
    curl_slist_free_all(p->hdrs);
    p->hdrs = NULL;
    if (!h->has_creds) {
        /* Not retried here: a load's credentials do not change while it runs. */
        aws_error_set(&c->err, AWS_ERR_CREDENTIALS, "dynamodb", "no AWS credentials");
        c->err.retryable = false;
        complete(h, c);
        return;
    }
    snprintf(target, sizeof target, "DynamoDB_20120810.%s", p->op);
    hv[0] = (struct sigv4_header){"Host", h->u.host_header};
    hv[1] = (struct sigv4_header){"Content-Type", "application/x-amz-json-1.0"};
    hv[2] = (struct sigv4_header){"X-Amz-Target", target};
    memset(&sr, 0, sizeof sr);
    sr.method = "POST";
    sr.path = h->u.path;
    sr.query = h->u.query;
    sr.headers = hv;
    sr.nheaders = 3;
    sr.body = p->body.data ? p->body.data : "";
    sr.body_len = p->body.len;
    sigv4_params_service(&sp, h->region, "dynamodb", time(NULL));
    if (sigv4_sign(&sr, &sp, &cr, &res, err, sizeof err) < 0) {
        aws_error_set(&c->err, AWS_ERR_CREDENTIALS, "dynamodb", "cannot sign: %s", err);
        complete(h, c);
        return;
    }
    for (size_t i = 0; i < 3; i++)
        add_header(p, hv[i].name, hv[i].value);
    for (size_t i = 0; i < res.nadd; i++)
        add_header(p, res.add[i].name, res.add[i].value);
    sigv4_result_free(&res);
    p->hdrs = curl_slist_append(p->hdrs, "Expect:");

    if (!p->easy)
        p->easy = curl_easy_init();
    else
        curl_easy_reset(p->easy);
    CURL *e = p->easy;
    curl_easy_setopt(e, CURLOPT_URL, h->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body.len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body.data ? p->body.data : "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, h->connect_timeout_s);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, DDB_HTTP_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (!e || curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        aws_error_network(&c->err, "dynamodb", false, "cannot start a transfer");
        complete(h, c);
        return;
    }
    p->active = true;
    list_push(&h->act, &h->nact, &h->act_cap, c);
}

struct ddb_call *ddb_http_start(struct ddb_http *h, const char *op, struct buf *body, void *user)
{
    struct ddb_call *c = xcalloc(1, sizeof *c);

    c->priv = xcalloc(1, sizeof *c->priv);
    c->priv->h = h;
    c->user = user;
    snprintf(c->priv->op, sizeof c->priv->op, "%s", op);
    c->priv->body = *body;
    buf_init(body);
    buf_init(&c->resp);
    send_call(h, c);
    return c;
}

void ddb_http_resend(struct ddb_http *h, struct ddb_call *c)
{
    c->priv->done = false;
    send_call(h, c);
}

static void finish(struct ddb_http *h, struct ddb_call *c, CURLcode rc)
{
    struct ddb_call_priv *p = c->priv;

    curl_multi_remove_handle(h->multi, p->easy);
    p->active = false;
    list_remove(h->act, &h->nact, c);
    if (rc != CURLE_OK) {
        aws_error_network(&c->err, "dynamodb", rc == CURLE_OPERATION_TIMEDOUT,
                          p->too_large   ? "response body too large"
                          : p->errbuf[0] ? p->errbuf
                                         : curl_easy_strerror(rc));
        if (p->too_large)
            c->err.retryable = false;
    } else {
        curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &c->status);
        if (c->status >= 200 && c->status < 300)
            aws_error_clear(&c->err);
        else
            aws_error_from_response("dynamodb", c->status, c->resp.data, c->resp.len, NULL,
                                    &c->err);
    }
    complete(h, c);
}

static void drain_info(struct ddb_http *h)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(h->multi, &left))) {
        char *pv = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &pv);
        if (pv)
            finish(h, (struct ddb_call *)(void *)pv, m->data.result);
    }
}

static struct ddb_call *pop_done(struct ddb_http *h)
{
    struct ddb_call *c;

    if (h->ndone == 0)
        return NULL;
    c = h->done[0];
    list_remove(h->done, &h->ndone, c);
    c->priv->done = false;
    return c;
}

struct ddb_call *ddb_http_wait(struct ddb_http *h, long timeout_ms)
{
    uint64_t deadline = now_monotonic_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    int running;

    for (;;) {
        if (h->ndone)
            return pop_done(h);
        curl_multi_perform(h->multi, &running);
        drain_info(h);
        if (h->ndone)
            return pop_done(h);
        uint64_t now = now_monotonic_ms();
        if (now >= deadline)
            return NULL;
        curl_multi_poll(h->multi, NULL, 0, (int)(deadline - now), NULL);
    }
}

void ddb_http_wait_for(struct ddb_http *h, struct ddb_call *c)
{
    int running;

    while (!c->priv->done) {
        curl_multi_perform(h->multi, &running);
        drain_info(h);
        if (!c->priv->done)
            curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
    }
    list_remove(h->done, &h->ndone, c);
    c->priv->done = false;
}

size_t ddb_http_in_flight(const struct ddb_http *h)
{
    return h->nact;
}

void ddb_call_free(struct ddb_call *c)
{
    if (!c)
        return;
    if (c->priv->active)
        curl_multi_remove_handle(c->priv->h->multi, c->priv->easy);
    if (c->priv->easy)
        curl_easy_cleanup(c->priv->easy);
    curl_slist_free_all(c->priv->hdrs);
    buf_free(&c->priv->body);
    buf_free(&c->resp);
    free(c->priv);
    free(c);
}

void ddb_http_cancel_all(struct ddb_http *h)
{
    while (h->nact) {
        struct ddb_call *c = h->act[--h->nact];
        ddb_call_free(c);
    }
    while (h->ndone)
        ddb_call_free(h->done[--h->ndone]);
}

void ddb_http_free(struct ddb_http *h)
{
    if (!h)
        return;
    ddb_http_cancel_all(h);
    curl_multi_cleanup(h->multi);
    free(h->act);
    free(h->done);
    ddb_http_set_creds(h, NULL);
    aws_url_free(&h->u);
    free(h->url);
    free(h->region);
    free(h->ca_file);
    free(h);
}

struct ddb_call *ddb_http_call(struct ddb_http *h, const char *op, struct buf *body,
                               int max_attempts)
{
    struct ddb_call *c = ddb_http_start(h, op, body, NULL);

    for (;;) {
        ddb_http_wait_for(h, c);
        if (c->err.kind == AWS_OK || !c->err.retryable || c->attempts >= max_attempts)
            return c;
        uint64_t ms = backoff_full_jitter_ms((unsigned)c->attempts - 1, 100, 5000);
        char eb[700];
        log_debug("DynamoDB %s: attempt %d failed (%s), retrying in %llu ms", op, c->attempts,
                  aws_error_str(&c->err, eb, sizeof eb), (unsigned long long)ms);
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        ddb_http_resend(h, c);
    }
}
