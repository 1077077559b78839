/*
 * http.c: the loop's HTTP client: a curl multi handle driven by the epoll loop.
 *
 * DESIGN
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION -> loop_add_fd /
 * loop_mod_fd / loop_del_fd) and when to call it back (CURLMOPT_TIMERFUNCTION -> one
 * loop timer); we hand readiness back with curl_multi_socket_action() and then drain
 * curl_multi_info_read() for finished transfers. This is the pattern of curl's
 * docs/examples/ephiperfifo.c with our loop in place of a hand-written epoll.
 *
 * A call (struct http_call) lives from http_send() to its completion callback or
 * http_cancel(). Each attempt reuses the call's easy handle: sign, add to the multi,
 * finish, then either complete, resend at once (clock corrected) or wait on the
 * call's own backoff timer. The first attempt also starts from that timer (armed at
 * 0), so done() never runs inside http_send(). Completion unlinks and frees the call
 * around the user's callback, which may send or cancel other calls freely; a
 * cancelled call's pending "done" message is dropped by curl_multi_remove_handle.
 *
 * Not done here: request building (sqs.c, secrets.c, creds), endpoint choice
 * (aws_endpoint.c), and anything off the loop thread (http_perform_blocking).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/http_int.h"
#include "base/log.h"
#include "base/loop.h"

struct http {
    struct loop *loop;
    CURLM *multi;
    struct loop_timer *timer; /* curl's timeout */
    struct http_settings set;
    http_creds_fn creds_get;
    void *creds_arg;
    int64_t clock_offset;
    struct http_quota quota;
    struct http_call *calls; /* pending, doubly linked */
    size_t ncalls;
};

struct http_call {
    struct http *h;
    struct http_call *prev, *next;
    struct http_req_copy req;
    http_done_fn done;
    void *arg;
    struct http_attempt at;
    bool in_multi;
    struct loop_timer *retry_timer; /* first attempt and backoffs */
    struct http_retry_state retry;
};

static void check_multi_info(struct http *h);

static void on_socket_ready(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct http *h = arg;
    int running = 0, flags = 0;

    (void)l;
    if (events & EPOLLIN)
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(h->multi, fd, flags, &running);
    check_multi_info(h);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct http *h = userp;
    uint32_t events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        loop_del_fd(h->loop, s);
        curl_multi_assign(h->multi, s, NULL);
        return 0;
    }
    if (what & CURL_POLL_IN)
        events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        events |= EPOLLOUT;
    if (socketp == NULL) {
        /* A new socket may reuse the number of one closed without a REMOVE. */
        loop_del_fd(h->loop, s);
        if (loop_add_fd(h->loop, s, events, on_socket_ready, h) != 0) {
            log_err("http: cannot watch socket %d: %s", (int)s, strerror(errno));
            return -1;
        }
        curl_multi_assign(h->multi, s, h);
    } else if (loop_mod_fd(h->loop, s, events) != 0) {
        log_err("http: cannot change socket %d: %s", (int)s, strerror(errno));
        return -1;
    }
    return 0;
}

static void on_curl_timeout(struct loop_timer *t, void *arg)
{
    struct http *h = arg;
    int running = 0;

    (void)t;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(h);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct http *h = userp;

    (void)multi;
    if (timeout_ms < 0)
        loop_timer_disarm(h->timer);
    else
        loop_timer_arm_us(h->timer, (uint64_t)timeout_ms * 1000);
    return 0;
}

struct http *http_new(struct loop *l, const struct config *cfg)
{
    struct http *h;

    http_global_init();
    h = xcalloc(1, sizeof *h);
    h->loop = l;
    h->quota.available = HTTP_QUOTA_INITIAL;
    http_settings_load(&h->set, cfg);
    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        log_err("http: curl_multi_init failed");
        http_settings_free(&h->set);
        free(h);
        return NULL;
    }
    h->timer = loop_timer_new(l, on_curl_timeout, h);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    return h;
}

void http_reconfigure(struct http *h, const struct config *cfg)
{
    http_settings_load(&h->set, cfg);
}

void http_set_creds_source(struct http *h, http_creds_fn get, void *arg)
{
    h->creds_get = get;
    h->creds_arg = arg;
}

void http_set_backoff(struct http *h, uint64_t base_ms, uint64_t cap_ms)
{
    h->set.backoff_base_ms = base_ms;
    h->set.backoff_cap_ms = cap_ms;
}

int64_t http_clock_offset(const struct http *h)
{
    return h->clock_offset;
}

size_t http_pending(const struct http *h)
{
    return h->ncalls;
}

static void unlink_call(struct http_call *c)
{
    struct http *h = c->h;

    if (c->prev)
        c->prev->next = c->next;
    else
        h->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->ncalls--;
}

/* The call must be unlinked already; a response still in c->at.resp is freed too. */
static void free_call(struct http_call *c)
{
    if (c->in_multi)
        curl_multi_remove_handle(c->h->multi, c->at.easy);
    loop_timer_free(c->retry_timer);
    http_attempt_cleanup(&c->at);
    if (c->at.easy)
        curl_easy_cleanup(c->at.easy);
    http_req_copy_free(&c->req);
    free(c);
}

static void complete(struct http_call *c)
{
    struct http_response resp = c->at.resp;
    http_done_fn done = c->done;
    void *arg = c->arg;
    char lbuf[160], eb[768];

    if (resp.err.kind != AWS_OK)
        log_debug("%s: failed after %d attempt(s): %s", http_req_label(&c->req, lbuf, sizeof lbuf),
                  resp.attempts, aws_error_str(&resp.err, eb, sizeof eb));
    memset(&c->at.resp, 0, sizeof c->at.resp);
    unlink_call(c);
    free_call(c);
    done(&resp, arg);
    http_response_free(&resp);
}

static void start_attempt(struct http_call *c)
{
    struct http *h = c->h;
    struct aws_creds creds = {0};
    const struct aws_creds *use = NULL;
    CURLMcode mc;

    c->at.resp.attempts++;
    if (c->req.service != NULL) {
        if (c->req.has_creds) {
            creds.access_key_id = c->req.access_key_id;
            creds.secret_access_key = c->req.secret_access_key;
            creds.session_token = c->req.session_token;
        } else if (h->creds_get == NULL || h->creds_get(h->creds_arg, &creds) != 0) {
            aws_error_set(&c->at.resp.err, AWS_ERR_CREDENTIALS, c->req.service,
                          "no valid AWS credentials available");
            c->at.resp.status = 0;
            goto failed;
        }
        use = &creds;
    }
    if (c->at.easy == NULL) {
        aws_error_network(&c->at.resp.err, c->req.service, false, "curl_easy_init failed");
        goto failed;
    }
    if (http_attempt_prepare(&c->at, &c->req, &h->set, use, time(NULL) + (time_t)h->clock_offset) !=
        0)
        goto failed;
    curl_easy_setopt(c->at.easy, CURLOPT_PRIVATE, c);
    mc = curl_multi_add_handle(h->multi, c->at.easy);
    if (mc != CURLM_OK) {
        aws_error_network(&c->at.resp.err, c->req.service, false, curl_multi_strerror(mc));
        goto failed;
    }
    c->in_multi = true;
    return;
failed:
    /* Let the retry policy see it as it would see a failed transfer; never complete
     * from inside http_send(), which is why attempts start from a timer. */
    {
        uint64_t delay = 0;
        enum http_next next = http_retry_decide(&c->at.resp, &c->retry, &h->quota, &h->set,
                                                &h->clock_offset, &delay);
        if (next == HTTP_NEXT_DONE)
            complete(c);
        else
            loop_timer_arm_us(c->retry_timer, delay * 1000);
    }
}

static void on_retry_timer(struct loop_timer *t, void *arg)
{
    (void)t;
    start_attempt(arg);
}

static void finish_attempt(struct http_call *c, CURLcode rc)
{
    struct http *h = c->h;
    uint64_t delay = 0;
    enum http_next next;
    char lbuf[160], eb[768];

    curl_multi_remove_handle(h->multi, c->at.easy);
    c->in_multi = false;
    http_attempt_finish(&c->at, &c->req, rc);
    next = http_retry_decide(&c->at.resp, &c->retry, &h->quota, &h->set, &h->clock_offset, &delay);
    switch (next) {
    case HTTP_NEXT_DONE:
        complete(c);
        break;
    case HTTP_NEXT_RETRY_NOW:
        log_warn("%s: clock skew detected, signing with an offset of %lld s",
                 http_req_label(&c->req, lbuf, sizeof lbuf), (long long)h->clock_offset);
        start_attempt(c);
        break;
    case HTTP_NEXT_RETRY_LATER:
        /* Debug only: the caller logs the final failure, rate-limited during an outage;
         * one line per attempt would repeat every backoff for as long as it lasts. */
        log_debug("%s: attempt %d failed (%s), retrying in %llu ms",
                  http_req_label(&c->req, lbuf, sizeof lbuf), c->at.resp.attempts,
                  aws_error_str(&c->at.resp.err, eb, sizeof eb), (unsigned long long)delay);
        loop_timer_arm_us(c->retry_timer, delay * 1000);
        break;
    }
}

static void check_multi_info(struct http *h)
{
    CURLMsg *msg;
    int left;

    /* One message at a time: a completion callback may cancel calls whose messages
     * are still queued, and curl_multi_remove_handle drops those. */
    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        struct http_call *c = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        finish_attempt(c, msg->data.result);
    }
}

struct http_call *http_send(struct http *h, const struct http_request *req, http_done_fn done,
                            void *arg)
{
    struct http_call *c = xcalloc(1, sizeof *c);

    c->h = h;
    c->done = done;
    c->arg = arg;
    http_req_copy_init(&c->req, req);
    c->retry.max_attempts = c->req.max_attempts > 0 ? c->req.max_attempts : h->set.max_attempts;
    c->at.easy = curl_easy_init();
    c->retry_timer = loop_timer_new(h->loop, on_retry_timer, c);
    c->next = h->calls;
    if (h->calls)
        h->calls->prev = c;
    h->calls = c;
    h->ncalls++;
    loop_timer_arm_us(c->retry_timer, 0);
    return c;
}

void http_cancel(struct http_call *c)
{
    if (c == NULL)
        return;
    unlink_call(c);
    free_call(c);
}

void http_free(struct http *h)
{
    if (h == NULL)
        return;
    while (h->calls)
        http_cancel(h->calls); /* NOLINT(clang-analyzer-unix.Malloc): it unlinks the call */
    curl_multi_cleanup(h->multi);
    loop_timer_free(h->timer);
    http_settings_free(&h->set);
    free(h);
}
