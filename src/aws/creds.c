/*
 * creds.c: the credentials provider: runs the chain (creds_fetch.c) on the loop,
 * publishes immutable snapshots, schedules refreshes and retries, logs the source.
 *
 * DESIGN. One resolution at a time (p->fetch). A loop timer starts it: at once on
 * creation and on reconfigure, at creds_refresh_at_ms() after a success with an
 * expiry, after a jittered backoff after a failure. A success replaces p->cur (the
 * old snapshot lives on in whatever jobs hold it); a failure leaves p->cur alone, so
 * requests keep being signed with it until it expires, then creds_http_source()
 * refuses and http.h fails the attempt with AWS_ERR_CREDENTIALS (and retries).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "aws/creds.h"
#include "aws/creds_int.h"
#include "aws/http.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/util.h"

#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS  60000
#define RETRY_MIN_MS  200

struct creds_provider {
    struct loop *loop;
    struct http *http;
    struct config *cfg;
    struct creds *cur;
    struct loop_timer *timer;
    struct creds_fetch *fetch;
    struct imds_cache imds;
    unsigned failures; /* consecutive failed resolutions */
    unsigned generation;
    char *last_label; /* "source (detail)" of the last published credentials */
    char err[768];
    struct complaint complaint;
    creds_event_fn listener;
    void *listener_arg;
};

/* ---- snapshots ---- */

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct creds *creds_new(const struct creds_fields *f, const char *source, const char *detail)
{
    struct creds *c = xcalloc(1, sizeof(*c));

    atomic_init(&c->refs, 1);
    c->aws.access_key_id = xstrdup(f->access_key_id);
    c->aws.secret_access_key = xstrdup(f->secret_access_key);
    c->aws.session_token = dup_or_null(f->session_token);
    c->expiry_ms = f->expiry_ms;
    c->source = source;
    c->detail = xstrdup(detail ? detail : "");
    return c;
}

struct creds *creds_ref(struct creds *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

static void wipe_free(const char *s)
{
    if (s != NULL) {
        memset((char *)s, 0, strlen(s));
        free((char *)s);
    }
}

void creds_unref(struct creds *c)
{
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    free((char *)c->aws.access_key_id);
    wipe_free(c->aws.secret_access_key);
    wipe_free(c->aws.session_token);
    free(c->detail);
    free(c);
}

bool creds_usable(const struct creds *c, int64_t now_realtime_ms)
{
    return c != NULL && !creds_expired_at(now_realtime_ms, c->expiry_ms);
}

/* ---- provider ---- */

static void start_fetch(struct loop_timer *t, void *arg);

static void arm_in(struct creds_provider *p, int64_t delay_ms)
{
    loop_timer_arm(p->timer, delay_ms > 0 ? (uint64_t)delay_ms : 0, 0);
}

static void log_published(struct creds_provider *p, const struct creds *c)
{
    char *label = xasprintf("%s (%s)", c->source, c->detail);
    char expiry[64] = "";

    if (c->expiry_ms != 0)
        snprintf(expiry, sizeof(expiry), ", expire in %lld s",
                 (long long)((c->expiry_ms - now_realtime_ms()) / 1000));
    if (p->last_label == NULL)
        log_info("AWS credentials from %s: access key %s%s", label, c->aws.access_key_id, expiry);
    else if (strcmp(p->last_label, label) != 0)
        log_info("AWS credentials source changed from %s to %s: access key %s%s", p->last_label,
                 label, c->aws.access_key_id, expiry);
    else if (c->expiry_ms != 0)
        log_info("AWS credentials refreshed from %s: access key %s%s", label, c->aws.access_key_id,
                 expiry);
    else
        log_debug("AWS credentials from %s unchanged", label);
    free(p->last_label);
    p->last_label = label;
}

static void on_fetch(void *arg, struct creds_fields *f, const char *source, const char *detail,
                     const char *err)
{
    struct creds_provider *p = arg;
    int64_t now = now_realtime_ms();

    p->fetch = NULL;
    if (f != NULL) {
        struct creds *c = creds_new(f, source, detail);
        if (creds_expired_at(now, c->expiry_ms))
            log_warn("AWS credentials from %s (%s) expire within %d s of being received", source,
                     detail, CREDS_EXPIRY_MARGIN_MS / 1000);
        log_published(p, c);
        creds_unref(p->cur);
        p->cur = c;
        p->failures = 0;
        p->generation++;
        p->err[0] = '\0';
        complain_release(&p->complaint, LOG_INFO, "AWS credentials available again");
        if (c->expiry_ms != 0)
            arm_in(p, creds_refresh_at_ms(now, now, c->expiry_ms) - now);
        else
            loop_timer_disarm(p->timer);
    } else {
        int64_t delay = (int64_t)backoff_full_jitter_ms(p->failures, RETRY_BASE_MS, RETRY_CAP_MS);
        snprintf(p->err, sizeof(p->err), "%s", err ? err : "unknown error");
        p->failures++;
        if (creds_usable(p->cur, now)) {
            int64_t left = p->cur->expiry_ms - CREDS_EXPIRY_MARGIN_MS - now;
            if (p->cur->expiry_ms != 0 && delay > left / 3)
                delay = left / 3;
            complain(&p->complaint, LOG_WARNING,
                     "AWS credentials refresh failed, keeping the "
                     "current ones (expire in %lld s): %s",
                     (long long)((p->cur->expiry_ms - now) / 1000), p->err);
        } else {
            complain(&p->complaint, LOG_ERR, "no AWS credentials: %s", p->err);
        }
        if (delay < RETRY_MIN_MS)
            delay = RETRY_MIN_MS;
        arm_in(p, delay);
    }
    if (p->listener != NULL)
        p->listener(p, f != NULL, p->listener_arg);
}

static void start_fetch(struct loop_timer *t, void *arg)
{
    struct creds_provider *p = arg;

    (void)t;
    if (p->fetch != NULL)
        return;
    p->fetch = creds_fetch_new(p->http, p->cfg, &p->imds, on_fetch, p);
    creds_fetch_run(p->fetch);
}

struct creds_provider *creds_provider_new(struct loop *l, struct http *h, struct config *cfg)
{
    struct creds_provider *p = xcalloc(1, sizeof(*p));

    p->timer = loop_timer_new(l, start_fetch, p);
    if (p->timer == NULL) {
        free(p);
        return NULL;
    }
    p->loop = l;
    p->http = h;
    p->cfg = config_ref(cfg);
    arm_in(p, 0);
    return p;
}

void creds_reconfigure(struct creds_provider *p, struct config *cfg)
{
    creds_fetch_cancel(p->fetch);
    p->fetch = NULL;
    config_unref(p->cfg);
    p->cfg = config_ref(cfg);
    p->failures = 0;
    arm_in(p, 0);
}

void creds_provider_set_listener(struct creds_provider *p, creds_event_fn fn, void *arg)
{
    p->listener = fn;
    p->listener_arg = arg;
}

struct creds *creds_current(struct creds_provider *p)
{
    return creds_usable(p->cur, now_realtime_ms()) ? creds_ref(p->cur) : NULL;
}

const char *creds_last_error(const struct creds_provider *p)
{
    return p->err;
}

unsigned creds_generation(const struct creds_provider *p)
{
    return p->generation;
}

int creds_http_source(void *provider, struct aws_creds *out)
{
    struct creds_provider *p = provider;

    if (!creds_usable(p->cur, now_realtime_ms()))
        return -1;
    *out = p->cur->aws;
    return 0;
}

void creds_provider_free(struct creds_provider *p)
{
    if (p == NULL)
        return;
    creds_fetch_cancel(p->fetch);
    loop_timer_free(p->timer);
    creds_unref(p->cur);
    config_unref(p->cfg);
    imds_cache_clear(&p->imds);
    free(p->last_label);
    free(p);
}

/* ---- resolve once ---- */

struct once {
    struct loop *loop;
    bool done;
};

static void once_event(struct creds_provider *p, bool ok, void *arg)
{
    struct once *o = arg;

    (void)p;
    (void)ok;
    o->done = true;
    loop_stop(o->loop);
}

static void once_timeout(struct loop_timer *t, void *arg)
{
    (void)t;
    loop_stop(((struct once *)arg)->loop);
}

struct creds *creds_resolve_once(struct config *cfg, int timeout_ms, char *err, size_t errlen)
{
    struct once o = {0};
    struct http *h = NULL;
    struct creds_provider *p = NULL;
    struct loop_timer *t = NULL;
    struct creds *c = NULL;

    o.loop = loop_new();
    if (o.loop == NULL) {
        snprintf(err, errlen, "cannot create an event loop");
        return NULL;
    }
    h = http_new(o.loop, cfg);
    if (h == NULL) {
        snprintf(err, errlen, "cannot create an HTTP client");
        goto done;
    }
    p = creds_provider_new(o.loop, h, cfg);
    t = loop_timer_new(o.loop, once_timeout, &o);
    if (p == NULL || t == NULL) {
        snprintf(err, errlen, "cannot create a loop timer");
        goto done;
    }
    creds_provider_set_listener(p, once_event, &o);
    loop_timer_arm(t, timeout_ms > 0 ? (uint64_t)timeout_ms : 1, 0);
    if (loop_run(o.loop) != 0) {
        snprintf(err, errlen, "event loop failed");
        goto done;
    }
    c = creds_current(p);
    if (c == NULL)
        snprintf(err, errlen, "%s",
                 !o.done     ? "timed out resolving AWS credentials"
                 : p->err[0] ? p->err
                             : "AWS credentials expired");
done:
    loop_timer_free(t);
    creds_provider_free(p);
    http_free(h);
    loop_free(o.loop);
    return c; /* NOLINT(clang-analyzer-unix.Malloc): c holds its own reference */
}
