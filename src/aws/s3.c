/*
 * s3.c: GetObject and HeadObject on a blocking curl easy handle (see s3.h).
 *
 * Addressing and key encoding live in s3_url.c, signing in sigv4.c, error bodies and retry
 * classification in aws_error.c; this file sends requests, reads answers and decides what
 * to do with failures. It does not decompress or parse: the callback gets raw bytes.
 *
 * DESIGN
 * One call to s3_get_object() is a small state machine over requests:
 *   offset   next byte the callback expects (g->offset + bytes delivered so far);
 *   pinned   the ETag every request must match: g->if_match, else the first ETag seen.
 * Each request sends Range: bytes=offset- when offset > 0 and If-Match: pinned when
 * known. Before the first body byte of a 2xx answer is passed on, the answer is checked:
 * its ETag must be the pinned one, a 206 must start at offset, and a 200 to a ranged
 * request (a server that ignores Range) has its first offset bytes dropped. A request
 * that fails after delivering bytes moves offset forward and resets the count of failed
 * attempts: only attempts without progress count against max_attempts, and max_requests
 * bounds the whole call. The handle is reset and set up again for every request;
 * curl_easy_reset() keeps its connection cache, so connections are still reused.
 */
#include "aws/s3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "base/log.h"
#include "aws/s3_url.h"
#include "base/util.h"

#define ERRBODY_MAX    (64 * 1024)
#define SLEEP_SLICE_MS 50

struct s3_client {
    CURL *curl;
    char *endpoint;
    char *region;
    char *ca_file;
    bool force_path_style;
    long connect_timeout_s;
    long low_speed_limit;
    long low_speed_time_s;
    unsigned max_attempts;
    unsigned max_requests;
    unsigned backoff_base_ms;
    unsigned backoff_cap_ms;
    int64_t clock_offset_s; /* server time - our time, learnt from a skew error */
};

/* One call's state, shared by its requests. */
struct call {
    struct s3_client *c;
    const struct aws_creds *creds;
    const char *bucket, *key;
    const struct s3_get_opts *g;
    bool head;
    s3_data_fn on_data;
    void *arg;
    struct s3_object_info *info;
    struct aws_error *err;
    struct s3_target target;
    uint64_t offset;
    char pinned[128]; /* unquoted ETag every answer must carry; "" = any */
};

/* One request's state, reset before each. */
struct xfer {
    struct call *call;
    long status;
    char etag[128];
    char content_type[128];
    char content_encoding[64];
    char version_id[256];
    char date[64];
    char last_modified[64];
    int64_t content_length; /* -1: absent */
    int64_t range_start;    /* from Content-Range; -1: absent */
    int64_t range_total;    /* -1: absent or "*" */
    bool checked;           /* the 2xx answer was validated */
    bool consumer_abort;
    bool bad_answer; /* call->err says why */
    bool cancelled;
    uint64_t skip;      /* bytes of a 200 answer to drop before offset */
    uint64_t delivered; /* bytes passed to the callback by this request */
    struct buf errbody;
    char curl_err[CURL_ERROR_SIZE];
};

/* ---- client ---- */

static long default_long(long v, long def)
{
    return v > 0 ? v : def;
}

static unsigned default_uint(unsigned v, unsigned def)
{
    return v > 0 ? v : def;
}

struct s3_client *s3_client_new(const struct s3_opts *o, char *errbuf, size_t errlen)
{
    struct s3_target probe;
    struct s3_client *c;

    if (str_empty(o->region)) {
        snprintf(errbuf, errlen, "s3: no region");
        return NULL;
    }
    /* Build one target now so that an unusable endpoint fails here, not per object. */
    if (s3_target_build(o->endpoint_url, o->region, o->force_path_style, "probe-bucket", "k", NULL,
                        &probe, errbuf, errlen) != 0)
        return NULL;
    s3_target_free(&probe);

    c = xcalloc(1, sizeof(*c));
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        snprintf(errbuf, errlen, "s3: curl_easy_init failed");
        free(c);
        return NULL;
    }
    c->endpoint = str_empty(o->endpoint_url) ? NULL : xstrdup(o->endpoint_url);
    c->region = xstrdup(o->region);
    c->ca_file = str_empty(o->ca_file) ? NULL : xstrdup(o->ca_file);
    c->force_path_style = o->force_path_style;
    c->connect_timeout_s = default_long(o->connect_timeout_s, 10);
    c->low_speed_limit = default_long(o->low_speed_limit, 1);
    c->low_speed_time_s = default_long(o->low_speed_time_s, 30);
    c->max_attempts = default_uint(o->max_attempts, 4);
    c->max_requests = default_uint(o->max_requests, 32);
    c->backoff_base_ms = default_uint(o->backoff_base_ms, 100);
    c->backoff_cap_ms = default_uint(o->backoff_cap_ms, 5000);
    c->clock_offset_s = o->clock_offset_s;
    return c;
}

void s3_client_free(struct s3_client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    free(c->endpoint);
    free(c->region);
    free(c->ca_file);
    free(c);
}

/* ---- small helpers ---- */

static bool is_cancelled(const struct call *k)
{
    return k->g != NULL && k->g->cancel != NULL && atomic_load(k->g->cancel);
}

/* Copies an ETag without its quotes (and without a weak "W/" prefix). */
static void etag_unquote(const char *in, char *out, size_t outlen)
{
    size_t n;

    if (strncmp(in, "W/", 2) == 0)
        in += 2;
    n = strlen(in);
    if (n >= 2 && in[0] == '"' && in[n - 1] == '"') {
        in++;
        n -= 2;
    }
    snprintf(out, outlen, "%.*s", (int)n, in);
}

static void copy_value(char *dst, size_t dstlen, const char *v, size_t n)
{
    while (n > 0 && (v[0] == ' ' || v[0] == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    snprintf(dst, dstlen, "%.*s", (int)(n < dstlen ? n : dstlen - 1), v);
}

/* "bytes START-END/TOTAL" (TOTAL may be "*"). */
static void parse_content_range(const char *v, int64_t *start, int64_t *total)
{
    long long s, e, t;
    char star;

    *start = -1;
    *total = -1;
    if (sscanf(v, "bytes %lld-%lld/%lld", &s, &e, &t) == 3) {
        *start = s;
        *total = t;
    } else if (sscanf(v, "bytes %lld-%lld/%c", &s, &e, &star) == 3) {
        *start = s;
    }
}

static void set_local_error(struct aws_error *err, enum aws_error_kind kind, long status,
                            const char *code, bool retryable, const char *fmt, ...)
    PRINTF_LIKE(6, 7);

static void set_local_error(struct aws_error *err, enum aws_error_kind kind, long status,
                            const char *code, bool retryable, const char *fmt, ...)
{
    va_list ap;

    aws_error_clear(err);
    err->kind = kind;
    snprintf(err->service, sizeof(err->service), "s3");
    err->http_status = status;
    snprintf(err->code, sizeof(err->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    err->retryable = retryable;
}

/* ---- curl callbacks ---- */

static size_t on_header(char *p, size_t size, size_t nitems, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nitems;
    const char *colon;
    size_t name_len;
    char tmp[64];

    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* A new status line (after a 100 Continue, say): forget earlier headers. */
        const char *sp = memchr(p, ' ', n);
        x->status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
        x->etag[0] = x->content_type[0] = x->content_encoding[0] = '\0';
        x->version_id[0] = x->date[0] = x->last_modified[0] = '\0';
        x->content_length = x->range_start = x->range_total = -1;
        return n;
    }
    colon = memchr(p, ':', n);
    if (colon == NULL)
        return n;
    name_len = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vlen = n - name_len - 1;

#define HDR_IS(name) (name_len == sizeof(name) - 1 && strncasecmp(p, name, name_len) == 0)
    if (HDR_IS("etag")) {
        copy_value(x->etag, sizeof(x->etag), v, vlen);
    } else if (HDR_IS("content-type")) {
        copy_value(x->content_type, sizeof(x->content_type), v, vlen);
    } else if (HDR_IS("content-encoding")) {
        copy_value(x->content_encoding, sizeof(x->content_encoding), v, vlen);
    } else if (HDR_IS("x-amz-version-id")) {
        copy_value(x->version_id, sizeof(x->version_id), v, vlen);
    } else if (HDR_IS("date")) {
        copy_value(x->date, sizeof(x->date), v, vlen);
    } else if (HDR_IS("last-modified")) {
        copy_value(x->last_modified, sizeof(x->last_modified), v, vlen);
    } else if (HDR_IS("content-length")) {
        copy_value(tmp, sizeof(tmp), v, vlen);
        x->content_length = strtoll(tmp, NULL, 10);
    } else if (HDR_IS("content-range")) {
        copy_value(tmp, sizeof(tmp), v, vlen);
        parse_content_range(tmp, &x->range_start, &x->range_total);
    }
#undef HDR_IS
    return n;
}

/* Records what a 2xx answer says about the object in info (first answer wins for size). */
static void note_object(struct call *k, const struct xfer *x)
{
    struct s3_object_info *info = k->info;

    if (info->etag[0] == '\0')
        snprintf(info->etag, sizeof(info->etag), "%s", x->etag);
    snprintf(info->content_type, sizeof(info->content_type), "%s", x->content_type);
    snprintf(info->content_encoding, sizeof(info->content_encoding), "%s", x->content_encoding);
    snprintf(info->version_id, sizeof(info->version_id), "%s", x->version_id);
    if (x->last_modified[0] != '\0') {
        int64_t t = aws_http_date_parse(x->last_modified);
        info->last_modified = t >= 0 ? (time_t)t : 0;
    }
    if (!info->size_known) {
        if (x->status == 206 && x->range_total >= 0) {
            info->size = (uint64_t)x->range_total;
            info->size_known = true;
        } else if (x->status != 206 && x->content_length >= 0) {
            info->size = (uint64_t)x->content_length;
            info->size_known = true;
        }
    }
}

/*
 * Validates a 2xx answer before any of its bytes are used: same object (ETag) as the
 * bytes already delivered, and a body that starts where the callback left off.
 * Returns false with call->err set when the answer must not be used.
 */
static bool check_answer(struct xfer *x)
{
    struct call *k = x->call;
    char got[128];

    x->checked = true;
    etag_unquote(x->etag, got, sizeof(got));
    if (k->pinned[0] != '\0' && got[0] != '\0' && strcmp(got, k->pinned) != 0) {
        set_local_error(k->err, AWS_ERR_HTTP, x->status, S3_CODE_PRECONDITION, false,
                        "object changed: ETag %s, expected \"%s\"", x->etag, k->pinned);
        return false;
    }
    if (k->pinned[0] == '\0' && got[0] != '\0')
        snprintf(k->pinned, sizeof(k->pinned), "%s", got);
    if (!k->head && x->status == 206 && x->range_start != (int64_t)k->offset) {
        set_local_error(k->err, AWS_ERR_PARSE, x->status, "InvalidContentRange", true,
                        "asked for bytes from %llu, got a range starting at %lld",
                        (unsigned long long)k->offset, (long long)x->range_start);
        return false;
    }
    x->skip = !k->head && x->status == 200 ? k->offset : 0;
    note_object(k, x);
    return true;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    struct call *k = x->call;
    size_t n = size * nmemb;
    size_t used = 0;

    if (x->status < 200 || x->status > 299) {
        size_t room = ERRBODY_MAX - x->errbody.len;
        buf_append(&x->errbody, p, n < room ? n : room);
        return n;
    }
    if (!x->checked && !check_answer(x)) {
        x->bad_answer = true;
        return 0;
    }
    if (x->skip > 0) {
        used = n < x->skip ? n : (size_t)x->skip;
        x->skip -= used;
    }
    if (used < n) {
        if (k->on_data(p + used, n - used, k->arg) != 0) {
            x->consumer_abort = true;
            return 0;
        }
        x->delivered += n - used;
        k->offset += n - used;
        k->info->bytes += n - used;
    }
    return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = arg;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (is_cancelled(x->call)) {
        x->cancelled = true;
        return 1;
    }
    return 0;
}

/* ---- one request ---- */

/* Signs the request (unless anonymous) and builds curl's header list. */
static int build_headers(struct call *k, struct curl_slist **out)
{
    struct s3_client *c = k->c;
    struct sigv4_header h[3];
    size_t nh = 0;
    char range[64], if_match[160];
    struct curl_slist *list = NULL;
    struct sigv4_result res = {0};
    char errbuf[256];
    int rc = -1;

    h[nh++] = (struct sigv4_header){"Host", k->target.host_header};
    if (!k->head && k->offset > 0) {
        snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)k->offset);
        h[nh++] = (struct sigv4_header){"Range", range};
    }
    if (k->pinned[0] != '\0') {
        snprintf(if_match, sizeof(if_match), "\"%s\"", k->pinned);
        h[nh++] = (struct sigv4_header){"If-Match", if_match};
    }
    for (size_t i = 0; i < nh; i++) {
        char *line = xasprintf("%s: %s", h[i].name, h[i].value);
        list = curl_slist_append(list, line);
        free(line);
    }
    /* curl's own defaults would go unsigned; S3 does not need them. */
    list = curl_slist_append(list, "Accept:");

    if (k->creds != NULL && !str_empty(k->creds->access_key_id)) {
        struct sigv4_request req = {
            .method = k->head ? "HEAD" : "GET",
            .path = k->target.path,
            .query = k->target.query,
            .headers = h,
            .nheaders = nh,
        };
        struct sigv4_params params;

        sigv4_params_s3(&params, c->region, time(NULL) + c->clock_offset_s);
        params.payload_hash = "UNSIGNED-PAYLOAD";
        if (sigv4_sign(&req, &params, k->creds, &res, errbuf, sizeof(errbuf)) != 0) {
            set_local_error(k->err, AWS_ERR_CREDENTIALS, 0, "SigningFailed", false,
                            "cannot sign the request: %s", errbuf);
            goto fail;
        }
        for (size_t i = 0; i < res.nadd; i++) {
            char *line = xasprintf("%s: %s", res.add[i].name, res.add[i].value);
            list = curl_slist_append(list, line);
            free(line);
        }
    }
    *out = list;
    list = NULL;
    rc = 0;
fail:
    sigv4_result_free(&res);
    curl_slist_free_all(list);
    return rc;
}

static void setup_handle(struct call *k, struct xfer *x, struct curl_slist *headers)
{
    struct s3_client *c = k->c;
    CURL *h = c->curl;

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, k->target.url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->curl_err);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->low_speed_limit);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->low_speed_time_s);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (k->head)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
}

/* Transport failures that another attempt cannot fix. */
static bool curl_code_permanent(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_OUT_OF_MEMORY:
        return true;
    default:
        return false;
    }
}

/* An error answer without a usable code (HEAD has no body) gets the one S3 would send. */
static void code_from_status(struct aws_error *err)
{
    const char *code = NULL;

    if (err->code[0] != '\0')
        return;
    switch (err->http_status) {
    case 403:
        code = "AccessDenied";
        break;
    case 404:
        code = "NoSuchKey";
        break;
    case 412:
        code = S3_CODE_PRECONDITION;
        break;
    case 416:
        code = "InvalidRange";
        break;
    case 503:
        code = "SlowDown";
        break;
    default:
        break;
    }
    if (code != NULL) {
        snprintf(err->code, sizeof(err->code), "%s", code);
        aws_error_classify(err);
    }
}

/* Turns a finished request into 0 (done) or -1 with call->err set. */
static int judge(struct call *k, struct xfer *x, CURLcode rc)
{
    struct aws_error *err = k->err;

    if (x->cancelled) {
        set_local_error(err, AWS_ERR_NETWORK, x->status, S3_CODE_CANCELLED, false,
                        "cancelled after %llu bytes", (unsigned long long)k->offset);
        return -1;
    }
    if (x->consumer_abort) {
        set_local_error(err, AWS_ERR_NETWORK, x->status, S3_CODE_ABORTED, false,
                        "stopped by the consumer after %llu bytes", (unsigned long long)k->offset);
        return -1;
    }
    if (x->bad_answer)
        return -1;
    if (x->status >= 200 && x->status <= 299 && !x->checked && !check_answer(x))
        return -1;
    if (rc != CURLE_OK && x->status < 300) {
        char msg[CURL_ERROR_SIZE + 64];
        snprintf(msg, sizeof(msg), "%s%s%s", curl_easy_strerror(rc),
                 x->curl_err[0] != '\0' ? ": " : "", x->curl_err);
        aws_error_network(err, "s3", rc == CURLE_OPERATION_TIMEDOUT, msg);
        err->http_status = x->status;
        err->retryable = !curl_code_permanent(rc);
        return -1;
    }
    if (x->status >= 200 && x->status <= 299) {
        /* curl catches a short body against Content-Length; this catches the rest. */
        if (!k->head && k->info->size_known && k->offset < k->info->size) {
            aws_error_network(err, "s3", false, "the body ended early");
            err->http_status = x->status;
            err->retryable = true;
            return -1;
        }
        return 0;
    }
    aws_error_from_response("s3", x->status, x->errbody.data, x->errbody.len, NULL, err);
    code_from_status(err);
    if (x->status == 412 || strcmp(err->code, S3_CODE_PRECONDITION) == 0) {
        snprintf(err->code, sizeof(err->code), "%s", S3_CODE_PRECONDITION);
        err->retryable = false;
    }
    return -1;
}

static int one_request(struct call *k, struct xfer *x)
{
    struct curl_slist *headers = NULL;
    CURLcode rc;
    int ret;

    memset(x, 0, sizeof(*x));
    x->call = k;
    x->content_length = x->range_start = x->range_total = -1;
    buf_init(&x->errbody);
    if (build_headers(k, &headers) != 0)
        return -1;
    setup_handle(k, x, headers);
    rc = curl_easy_perform(k->c->curl);
    ret = judge(k, x, rc);
    /* The handle keeps pointers to the list and to x until the next reset. */
    curl_easy_setopt(k->c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    buf_free(&x->errbody);
    return ret;
}

/* ---- retries ---- */

/* Sleeps ms milliseconds in slices, returning early (false) when the call is cancelled. */
static bool backoff_sleep(const struct call *k, uint64_t ms)
{
    uint64_t end = now_monotonic_ms() + ms;

    for (;;) {
        uint64_t now = now_monotonic_ms();
        if (is_cancelled(k))
            return false;
        if (now >= end)
            return true;
        uint64_t left = end - now < SLEEP_SLICE_MS ? end - now : SLEEP_SLICE_MS;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(left * 1000000)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
}

/* Learns the server's clock from a skew error's Date header; true when it changed. */
static bool learn_clock(struct call *k, const char *date)
{
    int64_t server = date[0] != '\0' ? aws_http_date_parse(date) : -1;
    int64_t offset;

    if (server < 0)
        return false;
    offset = server - (int64_t)time(NULL);
    if (offset == k->c->clock_offset_s)
        return false;
    log_warn("s3: clock differs from the server's by %lld s; signing with its time",
             (long long)offset);
    k->c->clock_offset_s = offset;
    return true;
}

static int run_call(struct call *k)
{
    struct s3_client *c = k->c;
    struct xfer x;
    unsigned failures = 0;
    bool skew_fixed = false;
    char why[768];

    for (;;) {
        uint64_t before = k->offset;

        if (k->info->requests > 0 && k->offset > (k->g != NULL ? k->g->offset : 0))
            k->info->resumes++;
        k->info->requests++;
        if (one_request(k, &x) == 0)
            break;
        if (k->err->clock_skew && !skew_fixed && learn_clock(k, x.date)) {
            skew_fixed = true;
            continue;
        }
        if (!k->err->retryable)
            return -1;
        /* Every byte arrived but the transfer still failed (a reset after the last byte):
         * a request for bytes=SIZE- would only earn a 416. */
        if (!k->head && k->info->size_known && k->offset >= k->info->size)
            break;
        if (k->offset > before)
            failures = 0;
        failures++;
        if (failures >= c->max_attempts || k->info->requests >= c->max_requests) {
            log_warn("%s s3://%s/%s: giving up after %u requests: %s", k->head ? "HEAD" : "GET",
                     k->bucket, k->key, k->info->requests, aws_error_str(k->err, why, sizeof(why)));
            return -1;
        }
        uint64_t delay = backoff_full_jitter_ms(failures - 1, c->backoff_base_ms,
                                                c->backoff_cap_ms);
        log_info("%s s3://%s/%s: %s; retrying from byte %llu in %llu ms", k->head ? "HEAD" : "GET",
                 k->bucket, k->key, aws_error_str(k->err, why, sizeof(why)),
                 (unsigned long long)k->offset, (unsigned long long)delay);
        if (!backoff_sleep(k, delay)) {
            set_local_error(k->err, AWS_ERR_NETWORK, 0, S3_CODE_CANCELLED, false,
                            "cancelled while waiting to retry");
            return -1;
        }
    }
    aws_error_clear(k->err);
    return 0;
}

static int start_call(struct call *k, struct s3_client *c, const struct aws_creds *creds,
                      const char *bucket, const char *key, const struct s3_get_opts *g,
                      struct s3_object_info *info, struct aws_error *err)
{
    char errbuf[256];

    memset(k, 0, sizeof(*k));
    memset(info, 0, sizeof(*info));
    aws_error_clear(err);
    k->c = c;
    k->creds = creds;
    k->bucket = bucket;
    k->key = key;
    k->g = g;
    k->info = info;
    k->err = err;
    k->offset = g != NULL ? g->offset : 0;
    if (g != NULL && !str_empty(g->if_match)) {
        etag_unquote(g->if_match, k->pinned, sizeof(k->pinned));
        /* It becomes a header line: nothing that could end it or add a quote. */
        for (const char *p = k->pinned; *p; p++) {
            if (*p <= ' ' || *p == '"' || *p == 0x7F || (unsigned char)*p >= 0x80) {
                set_local_error(err, AWS_ERR_PARSE, 0, "InvalidRequest", false,
                                "the ETag to match is not a header value");
                return -1;
            }
        }
    }
    if (s3_target_build(c->endpoint, c->region, c->force_path_style, bucket, key,
                        g != NULL ? g->version_id : NULL, &k->target, errbuf,
                        sizeof(errbuf)) != 0) {
        set_local_error(err, AWS_ERR_PARSE, 0, "InvalidRequest", false, "%s", errbuf);
        return -1;
    }
    return 0;
}

int s3_get_object(struct s3_client *c, const struct aws_creds *creds, const char *bucket,
                  const char *key, const struct s3_get_opts *g, s3_data_fn on_data, void *arg,
                  struct s3_object_info *info, struct aws_error *err)
{
    struct s3_object_info scratch;
    struct call k;
    int rc;

    if (info == NULL)
        info = &scratch;
    if (start_call(&k, c, creds, bucket, key, g, info, err) != 0)
        return -1;
    k.on_data = on_data;
    k.arg = arg;
    rc = run_call(&k);
    s3_target_free(&k.target);
    return rc;
}

int s3_head_object(struct s3_client *c, const struct aws_creds *creds, const char *bucket,
                   const char *key, const struct s3_get_opts *g, struct s3_object_info *info,
                   struct aws_error *err)
{
    struct s3_object_info scratch;
    struct call k;
    int rc;

    if (info == NULL)
        info = &scratch;
    if (start_call(&k, c, creds, bucket, key, g, info, err) != 0)
        return -1;
    k.head = true;
    k.offset = 0;
    rc = run_call(&k);
    s3_target_free(&k.target);
    return rc;
}
