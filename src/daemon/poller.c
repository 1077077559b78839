/*
 * poller.c: SQS in, jobs out, results back to SQS (see poller.h for the rules).
 *
 * DESIGN
 * struct msg tracks one received message from receipt to its settlement. It
 * lives on the poller's in-flight list while any of its jobs runs and while its
 * settling SQS calls (report, delete, visibility) are pending; the last callback
 * frees it. Jobs point to their msg; the msg counts its pending jobs. The permanent
 * failures of all its records are collected and go out as one report when it settles.
 */
#include "daemon/poller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/app.h"
#include "aws/creds.h"
#include "daemon/event.h"
#include "daemon/job.h"
#include "base/log.h"
#include "daemon/observe.h"
#include "daemon/pool.h"
#include "daemon/report.h"
#include "daemon/route.h"
#include "aws/sqs.h"
#include "base/util.h"

#define HEARTBEAT_INTERVAL_MS 1000
#define SQS_MAX_VISIBILITY_S  43200 /* 12 hours after receipt, SQS's cap */
#define RETRY_BASE_S          5
#define RETRY_CAP_S           900
#define MSG_MAX_FAILURES      1000 /* more than one report can list: the rest are counted */

enum msg_verdict { VERDICT_DELETE, VERDICT_RETRY, VERDICT_REPORT, VERDICT_LEAVE, VERDICT_RETURN };

struct msg {
    struct poller *p;
    struct msg *next, *prev;
    char *message_id;
    char *receipt;
    char *body;
    int receive_count;
    uint64_t received_ms;      /* monotonic */
    uint64_t visible_until_ms; /* monotonic: when SQS would hand it out again */
    unsigned pending_jobs;
    unsigned pending_ops; /* SQS calls settling it */
    bool settled;         /* verdict taken */
    bool transient;       /* some job failed transiently (or was cancelled) */
    bool cancelled;
    struct msg_failure *failures; /* permanent failures to report */
    size_t nfailures, capfailures;
    size_t failures_lost; /* beyond MSG_MAX_FAILURES */
};

struct msg_failure {
    struct ierr err;
    char *bucket, *key, *etag, *route; /* owned, NULL when unknown */
};

struct poller {
    struct app *app;
    struct poller_hooks hooks;
    struct sqs *sqs;
    struct sqs_op *receive_op;
    struct loop_timer *retry_timer; /* after a failed receive */
    struct loop_timer *heartbeat;
    struct loop_timer *kick; /* re-evaluate receiving on the next turn */
    struct complaint receive_complaint;
    unsigned receive_failures;
    struct msg *inflight;
    size_t ninflight;
    unsigned jobs_running;
    struct job **running; /* jobs handed to the pool, for cancellation */
    size_t nrunning, caprunning;
    bool stopping;
    bool started;
};

static void maybe_receive(struct poller *p);
static void settle(struct msg *m);

/* AWS errors without a code (network failures) still need a word in the log line. */
static const char *code_of(const struct aws_error *err)
{
    return err->code[0] ? err->code : "error";
}

static void msg_unlink(struct msg *m)
{
    struct poller *p = m->p;

    if (m->prev)
        m->prev->next = m->next;
    else
        p->inflight = m->next;
    if (m->next)
        m->next->prev = m->prev;
    p->ninflight--;
    observe_inflight(p->ninflight);
}

static void msg_free(struct msg *m)
{
    free(m->message_id);
    free(m->receipt);
    free(m->body);
    for (size_t i = 0; i < m->nfailures; i++) {
        free(m->failures[i].bucket);
        free(m->failures[i].key);
        free(m->failures[i].etag);
        free(m->failures[i].route);
    }
    free(m->failures);
    free(m);
}

/* Called when a msg's last job and last SQS call are done. */
static void msg_done(struct msg *m)
{
    struct poller *p = m->p;

    msg_unlink(m);
    msg_free(m);
    if (p->stopping && p->ninflight == 0 && p->jobs_running == 0)
        p->hooks.finish(p->hooks.arg, 0);
    else
        loop_timer_arm_us(p->kick, 0);
}

static void op_finished(struct msg *m)
{
    if (--m->pending_ops == 0 && m->pending_jobs == 0 && m->settled)
        msg_done(m);
}

static void on_deleted(void *arg, const struct aws_error *err, const struct sqs_batch_entry *e,
                       size_t n)
{
    struct msg *m = arg;

    observe_sqs("DeleteMessageBatch", err, e, n);
    if (err->kind != AWS_OK)
        log_err("DeleteMessage %s failed: %s: %s (it will be delivered again; the ledger "
                "keeps the load from repeating)",
                m->message_id, code_of(err), err->message);
    else if (n == 1 && !e[0].ok)
        log_err("DeleteMessage %s failed: %s: %s", m->message_id, e[0].code, e[0].message);
    else
        m->p->app->stats.deleted++;
    op_finished(m);
}

static void on_visibility(void *arg, const struct aws_error *err, const struct sqs_batch_entry *e,
                          size_t n)
{
    struct msg *m = arg;

    observe_sqs("ChangeMessageVisibilityBatch", err, e, n);
    if (err->kind != AWS_OK)
        log_warn("ChangeMessageVisibility %s failed: %s: %s", m->message_id, code_of(err),
                 err->message);
    else if (n == 1 && !e[0].ok)
        log_warn("ChangeMessageVisibility %s failed: %s: %s", m->message_id, e[0].code,
                 e[0].message);
    op_finished(m);
}

static void msg_delete(struct msg *m)
{
    const char *r[1] = {m->receipt};

    m->pending_ops++;
    sqs_delete_batch(m->p->sqs, m->p->app->cfg->sqs.queue_url, r, 1, on_deleted, m);
}

static void msg_set_visibility(struct msg *m, int seconds)
{
    const char *r[1] = {m->receipt};
    int t[1] = {seconds};

    m->pending_ops++;
    m->visible_until_ms = now_monotonic_ms() + (uint64_t)seconds * 1000u;
    sqs_change_visibility_batch(m->p->sqs, m->p->app->cfg->sqs.queue_url, r, t, 1, on_visibility,
                                m);
}

static int retry_delay_s(int receive_count)
{
    uint64_t ms = backoff_full_jitter_ms((unsigned)(receive_count > 0 ? receive_count : 1),
                                         RETRY_BASE_S * 1000u, RETRY_CAP_S * 1000u);
    return (int)(ms / 1000u) + 1;
}

static void on_report_sent(void *arg, const struct aws_error *err, const char *message_id)
{
    struct msg *m = arg;

    (void)message_id;
    observe_sqs("SendMessage", err, NULL, 0);
    /* Only a report that reached the DLQ allows the message to go. */
    if (err->kind != AWS_OK) {
        log_err("error report for message %s not sent to the DLQ: %s: %s; the message is "
                "kept",
                m->message_id, code_of(err), err->message);
        msg_set_visibility(m, retry_delay_s(m->receive_count));
    } else {
        m->p->app->stats.dlq_reports++;
        msg_delete(m);
    }
    op_finished(m);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* Adds a permanent failure to the msg's report (sent when the msg settles). */
static void msg_add_failure(struct msg *m, const struct ierr *e, const char *bucket,
                            const char *key, const char *etag, const char *route)
{
    struct msg_failure *f;

    if (m->nfailures == MSG_MAX_FAILURES) {
        m->failures_lost++;
        return;
    }
    if (m->nfailures == m->capfailures) {
        m->capfailures = m->capfailures ? 2 * m->capfailures : 4;
        m->failures = xrealloc(m->failures, m->capfailures * sizeof *m->failures);
    }
    f = &m->failures[m->nfailures++];
    f->err = *e;
    f->bucket = dup_or_null(bucket);
    f->key = dup_or_null(key);
    f->etag = dup_or_null(etag && *etag ? etag : NULL);
    f->route = dup_or_null(route);
}

/* One report for the whole message, however many of its records failed. */
static void msg_send_report(struct msg *m, const char *dlq)
{
    struct report_item *items = xcalloc(m->nfailures, sizeof *items);
    struct report_input in = {items, m->nfailures, m->failures_lost, m->receive_count, m->body, 0};
    char *json;

    for (size_t i = 0; i < m->nfailures; i++) {
        const struct msg_failure *f = &m->failures[i];
        items[i] = (struct report_item){&f->err, f->bucket, f->key, f->etag, f->route};
    }
    json = report_build(&in);
    m->pending_ops++;
    sqs_send(m->p->sqs, dlq, json, on_report_sent, m);
    free(json);
    free(items);
}

static void settle(struct msg *m)
{
    struct poller *p = m->p;
    const char *dlq = p->app->cfg->sqs.dlq_url;

    m->settled = true;
    m->pending_ops++; /* hold the msg while the calls below are issued */
    if (m->cancelled) {
        p->app->stats.returned++;
        msg_set_visibility(m, 0);
    } else if (m->transient) {
        int delay = retry_delay_s(m->receive_count);
        log_info("message %s will be retried in %d s (receive %d)", m->message_id, delay,
                 m->receive_count);
        p->app->stats.returned++;
        msg_set_visibility(m, delay);
    } else if (m->nfailures > 0 && !str_empty(dlq)) {
        msg_send_report(m, dlq);
    } else if (m->nfailures > 0) {
        log_warn("message %s failed permanently and no dlq_url is set: left for the queue's "
                 "redrive policy",
                 m->message_id);
    } else {
        msg_delete(m);
    }
    op_finished(m);
}

/* A message that failed before any job ran (undecodable body, bad table name). */
static void msg_fail_permanent(struct msg *m, const struct ierr *e, const char *bucket,
                               const char *key, const char *route)
{
    const struct log_field f[] = {{"SQS_MESSAGE_ID", m->message_id},
                                  {"ERROR_CLASS", ierr_class_name(e->cls)},
                                  {"S3_BUCKET", bucket},
                                  {"S3_KEY", key},
                                  {"ROUTE", route}};

    log_fields(LOG_ERR, f, ARRAY_SIZE(f), "message %s: %s", m->message_id, e->reason);
    m->p->app->stats.failed++;
    observe_message_failed(route, e);
    msg_add_failure(m, e, bucket, key, NULL, route);
}

static struct job *make_job(struct poller *p, struct msg *m, const struct s3_event_obj *o,
                            const struct route_conf *rc)
{
    struct job *j = job_new(p->app->cfg, rc);

    j->msg = m;
    j->bucket = xstrdup(o->bucket);
    j->key = xstrdup(o->key);
    j->etag = xstrdup(o->etag ? o->etag : "");
    j->version_id = o->version_id ? xstrdup(o->version_id) : NULL;
    j->sequencer = o->sequencer ? xstrdup(o->sequencer) : NULL;
    j->size = o->size;
    j->event_time_ms = o->event_time_ms;
    j->message_id = xstrdup(m->message_id);
    j->creds = creds_current(p->app->creds);
    return j;
}

static void submit(struct poller *p, struct job *j)
{
    if (p->nrunning == p->caprunning) {
        p->caprunning = p->caprunning ? 2 * p->caprunning : 16;
        p->running = xrealloc(p->running, p->caprunning * sizeof *p->running);
    }
    p->running[p->nrunning++] = j;
    j->msg->pending_jobs++;
    p->jobs_running++;
    pool_submit(p->app->pool, &j->item);
}

static void dispatch(struct poller *p, struct sqs_message *sm)
{
    struct msg *m = xcalloc(1, sizeof *m);
    struct s3_event ev;
    struct ierr e;

    m->p = p;
    m->message_id = sm->message_id;
    m->receipt = sm->receipt_handle;
    m->body = sm->body;
    sm->message_id = sm->receipt_handle = sm->body = NULL;
    m->receive_count = sm->receive_count;
    m->received_ms = now_monotonic_ms();
    m->visible_until_ms = m->received_ms + (uint64_t)p->app->cfg->sqs.visibility_timeout * 1000u;
    m->next = p->inflight;
    if (p->inflight)
        p->inflight->prev = m;
    p->inflight = m;
    p->ninflight++;
    observe_inflight(p->ninflight);
    p->app->stats.received++;
    m->pending_ops++; /* hold while dispatching */

    memset(&ev, 0, sizeof ev);
    if (s3_event_decode(m->body, strlen(m->body), &ev, &e) < 0) {
        char reason[sizeof e.reason];
        snprintf(reason, sizeof reason, "%s", e.reason);
        ierr_set(&e, IERR_PERMANENT, "undecodable message body: %s", reason);
        msg_fail_permanent(m, &e, NULL, NULL, NULL);
    } else if (ev.n == 0) {
        log_notice("message %s names no object (empty Records): deleted", m->message_id);
        p->app->stats.ignored++;
        observe_event_ignored("no_records");
    } else {
        for (size_t i = 0; i < ev.n; i++) {
            const struct s3_event_obj *o = &ev.objs[i];
            const struct route_conf *rc;

            if (o->kind == S3_EVENT_TEST) {
                log_info("message %s is an s3:TestEvent%s%s: deleted", m->message_id,
                         o->bucket ? " for bucket " : "", o->bucket ? o->bucket : "");
                p->app->stats.ignored++;
                observe_event_ignored("test_event");
                continue;
            }
            if (o->kind == S3_EVENT_IGNORED) {
                log_info("message %s: %s of s3://%s/%s ignored", m->message_id, o->event_name,
                         o->bucket, o->key);
                p->app->stats.ignored++;
                observe_event_ignored("not_created");
                continue;
            }
            rc = route_match(p->app->cfg, o->bucket, o->key);
            if (o->kind == S3_EVENT_INVALID) {
                ierr_set(&e, IERR_PERMANENT, "%s", o->why);
                msg_fail_permanent(m, &e, o->bucket, o->key, rc ? rc->name : NULL);
                continue;
            }
            if (!rc) {
                log_notice("no route for s3://%s/%s: ignored", o->bucket, o->key);
                p->app->stats.ignored++;
                observe_event_ignored("no_route");
                continue;
            }
            submit(p, make_job(p, m, o, rc));
        }
    }
    s3_event_free(&ev);
    m->pending_ops--;
    if (m->pending_jobs == 0)
        settle(m);
}

static void log_job_result(const struct job *j)
{
    struct observe_job_fields jf;
    const struct log_field *f = jf.f;
    char target[512];

    observe_job_fields(j, &jf);
    switch (j->result) {
    case JOB_LOADED:
        log_fields(LOG_INFO, f, jf.n,
                   "loaded s3://%s/%s into %s: %llu rows (%llu rejected), %llu bytes in %llu ms%s",
                   j->bucket, j->key, job_target(j, target, sizeof target),
                   (unsigned long long)j->stats.rows, (unsigned long long)j->stats.rejected,
                   (unsigned long long)j->stats.bytes, (unsigned long long)j->duration_ms,
                   jf.blank_note);
        break;
    case JOB_DUPLICATE:
        log_fields(LOG_INFO, f, jf.n, "s3://%s/%s (etag %s) already loaded: skipped", j->bucket,
                   j->key, j->etag);
        break;
    case JOB_SUPERSEDED:
        log_fields(LOG_NOTICE, f, jf.n,
                   "s3://%s/%s changed since the event (etag %s): superseded by a newer event",
                   j->bucket, j->key, j->etag);
        break;
    case JOB_CANCELLED:
        log_fields(LOG_WARNING, f, jf.n, "load of s3://%s/%s cancelled: rolled back", j->bucket,
                   j->key);
        break;
    case JOB_FAILED: {
        char why[sizeof j->err.reason + sizeof j->err.column_name + 64];
        ierr_describe(&j->err, why, sizeof why);
        log_fields(LOG_ERR, f, jf.n, "%s failure loading s3://%s/%s: %s",
                   ierr_class_name(j->err.cls), j->bucket, j->key, why);
        break;
    }
    }
}

static void job_returned(struct poller *p, struct job *j)
{
    struct msg *m = j->msg;
    struct app_stats *st = &p->app->stats;

    p->jobs_running--;
    for (size_t i = 0; i < p->nrunning; i++) {
        if (p->running[i] == j) {
            p->running[i] = p->running[--p->nrunning];
            break;
        }
    }
    log_job_result(j);
    observe_job(j);
    switch (j->result) {
    case JOB_LOADED:
        st->loaded++;
        st->rows += j->stats.rows;
        st->bytes += j->stats.bytes;
        break;
    case JOB_DUPLICATE:
        st->duplicates++;
        break;
    case JOB_SUPERSEDED:
        break;
    case JOB_CANCELLED:
        m->cancelled = true;
        break;
    case JOB_FAILED:
        st->failed++;
        /* Configuration problems (credentials, unreachable sink) are retried, not reported:
         * the object itself is fine. */
        if (j->err.cls == IERR_PERMANENT)
            msg_add_failure(m, &j->err, j->bucket, j->key, j->etag, j->route->name);
        else
            m->transient = true;
        break;
    }
    if (--m->pending_jobs == 0)
        settle(m);
    job_free(j);
}

static void on_jobs_done(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct poller *p = arg;
    struct pool_item *it;

    (void)l;
    (void)fd;
    (void)events;
    while ((it = pool_take_done(p->app->pool)) != NULL) {
        struct job *j = (struct job *)it;
        if (j->on_done) /* not from the queue: its owner answers it */
            j->on_done(j);
        else
            job_returned(p, j);
    }
    maybe_receive(p);
}

static void on_received(void *arg, const struct aws_error *err, struct sqs_message *msgs, size_t n)
{
    struct poller *p = arg;

    p->receive_op = NULL;
    observe_sqs("ReceiveMessage", err, NULL, 0);
    if (err->kind != AWS_OK) {
        uint64_t delay = backoff_full_jitter_ms(p->receive_failures++, 1000, 60000) + 200;
        complain(&p->receive_complaint, LOG_ERR, "cannot receive from %s: %s: %s",
                 p->app->cfg->sqs.queue_url, code_of(err), err->message);
        loop_timer_arm(p->retry_timer, delay, 0);
        return;
    }
    p->receive_failures = 0;
    complain_release(&p->receive_complaint, LOG_NOTICE, "receiving from %s again",
                     p->app->cfg->sqs.queue_url);
    p->hooks.ready(p->hooks.arg);
    for (size_t i = 0; i < n; i++)
        dispatch(p, &msgs[i]);
    sqs_messages_free(msgs, n);
    if (n == 0 && p->app->exit_when_idle && p->ninflight == 0) {
        log_info("queue is empty and nothing runs: exiting (--exit-when-idle)");
        p->stopping = true;
        p->hooks.finish(p->hooks.arg, 0);
        return;
    }
    maybe_receive(p);
}

static void maybe_receive(struct poller *p)
{
    const struct config *cfg = p->app->cfg;
    int free_slots, max;

    if (p->stopping || p->receive_op || loop_timer_armed(p->retry_timer) || !p->started)
        return;
    free_slots = cfg->ingestd.workers - (int)p->jobs_running;
    if (free_slots <= 0)
        return;
    max = free_slots < cfg->sqs.max_messages ? free_slots : cfg->sqs.max_messages;
    observe_receive_started();
    /* With --exit-when-idle a short poll tells "empty" quickly. */
    p->receive_op = sqs_receive(
        p->sqs, cfg->sqs.queue_url, max,
        p->app->exit_when_idle && p->ninflight == 0
            ? (cfg->sqs.wait_time_seconds < 2 ? cfg->sqs.wait_time_seconds : 2)
            : cfg->sqs.wait_time_seconds,
        cfg->sqs.visibility_timeout, on_received, p);
}

static void on_retry(struct loop_timer *t, void *arg)
{
    (void)t;
    maybe_receive(arg);
}

/* Extends the visibility of messages whose jobs still run, a third of the timeout early. */
static void on_heartbeat(struct loop_timer *t, void *arg)
{
    struct poller *p = arg;
    const int vt = p->app->cfg->sqs.visibility_timeout > 0 ? p->app->cfg->sqs.visibility_timeout
                                                           : 30;
    uint64_t now = now_monotonic_ms();
    uint64_t margin = (uint64_t)vt * 1000u / 3u;

    (void)t;
    for (struct msg *m = p->inflight; m; m = m->next) {
        uint64_t age_s = (now - m->received_ms) / 1000u;
        int extend = vt;

        if (m->pending_jobs == 0 || m->settled || now + margin < m->visible_until_ms)
            continue;
        if (age_s + (uint64_t)extend > SQS_MAX_VISIBILITY_S)
            extend = (int)(SQS_MAX_VISIBILITY_S -
                           (age_s < SQS_MAX_VISIBILITY_S ? age_s : SQS_MAX_VISIBILITY_S));
        if (extend <= 0)
            continue;
        log_debug("extending visibility of %s by %d s", m->message_id, extend);
        observe_visibility_extended();
        msg_set_visibility(m, extend);
    }
}

static void on_kick(struct loop_timer *t, void *arg)
{
    (void)t;
    maybe_receive(arg);
}

struct poller *poller_new(struct app *app, const struct poller_hooks *hooks)
{
    struct poller *p = xcalloc(1, sizeof *p);

    p->app = app;
    p->hooks = *hooks;
    p->sqs = sqs_new(app->http, app->cfg);
    p->retry_timer = loop_timer_new(app->loop, on_retry, p);
    p->heartbeat = loop_timer_new(app->loop, on_heartbeat, p);
    p->kick = loop_timer_new(app->loop, on_kick, p);
    if (!p->sqs || !p->retry_timer || !p->heartbeat || !p->kick ||
        loop_add_fd(app->loop, pool_done_fd(app->pool), EPOLLIN, on_jobs_done, p) < 0) {
        poller_free(p);
        return NULL;
    }
    return p;
}

/* At start: say where failures go, and warn when nowhere (they would retry forever). */
static void on_queue_attrs(void *arg, const struct aws_error *err, const struct sqs_queue_attrs *a)
{
    struct poller *p = arg;
    const char *url = p->app->cfg->sqs.queue_url;

    observe_sqs("GetQueueAttributes", err, NULL, 0);
    if (err->kind != AWS_OK)
        log_warn("cannot read the attributes of %s: %s: %s", url, code_of(err), err->message);
    else if (a->has_redrive)
        log_info("queue %s: visibility timeout %d s; redrive policy: to %s after %d receives", url,
                 a->visibility_timeout, a->dead_letter_target_arn, a->max_receive_count);
    else
        log_warn("queue %s has no redrive policy: a message that keeps failing is retried "
                 "forever; attach a dead-letter queue",
                 url);
}

void poller_start(struct poller *p)
{
    p->started = true;
    sqs_get_attributes(p->sqs, p->app->cfg->sqs.queue_url, on_queue_attrs, p);
    loop_timer_arm(p->heartbeat, HEARTBEAT_INTERVAL_MS, HEARTBEAT_INTERVAL_MS);
    maybe_receive(p);
}

void poller_reconfigure(struct poller *p)
{
    sqs_reconfigure(p->sqs, p->app->cfg);
    maybe_receive(p);
}

void poller_stop(struct poller *p)
{
    p->stopping = true;
    sqs_cancel(p->receive_op);
    p->receive_op = NULL;
    loop_timer_disarm(p->retry_timer);
    if (p->ninflight == 0)
        p->hooks.finish(p->hooks.arg, 0);
}

void poller_cancel_all(struct poller *p)
{
    struct pool_item *queued = pool_take_queued(p->app->pool);

    /* Jobs not started yet come back cancelled without running. */
    while (queued) {
        struct job *j = (struct job *)queued;
        queued = queued->next;
        j->result = JOB_CANCELLED;
        if (j->on_done)
            j->on_done(j);
        else
            job_returned(p, j);
    }
    /* Running ones stop at their next batch and roll back. */
    for (size_t i = 0; i < p->nrunning; i++)
        atomic_store(&p->running[i]->cancel, true);
}

size_t poller_inflight(const struct poller *p)
{
    return p->ninflight;
}

void poller_free(struct poller *p)
{
    struct pool_item *it;

    if (!p)
        return;
    if (p->app->pool) {
        loop_del_fd(p->app->loop, pool_done_fd(p->app->pool));
        /* Whatever is still queued never ran: its messages become visible on their own. */
        for (it = pool_take_queued(p->app->pool); it;) {
            struct pool_item *next = it->next;
            job_free((struct job *)it);
            it = next;
        }
    }
    sqs_free(p->sqs);
    loop_timer_free(p->retry_timer);
    loop_timer_free(p->heartbeat);
    loop_timer_free(p->kick);
    free(p->running);
    while (p->inflight) {
        struct msg *m = p->inflight;
        p->inflight = m->next;
        msg_free(m);
    }
    free(p);
}
