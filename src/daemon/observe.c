/*
 * observe.c: ingestd's metric set, /metrics and /healthz (see observe.h).
 *
 * One process runs one daemon, so the state lives in a single static struct: the
 * registry, the listener, and the health bookkeeping. Health follows ReceiveMessage
 * cycles: a cycle starts with the first request after a success and ends with the
 * next success; /healthz fails when a cycle has lasted longer than
 * OBSERVE_QUEUE_WINDOW_MS (a long poll answers within wait_time_seconds, so three
 * times that plus slack means the queue is unreachable or hung, not slow). While
 * every worker is busy the poller asks for nothing, no cycle is open, and a long
 * load does not make the daemon look unhealthy. That the loop turns is proven by
 * the answer itself: both endpoints are served by the loop thread.
 */
#include "daemon/observe.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "daemon/app.h"
#include "aws/aws_error.h"
#include "aws/creds.h"
#include "daemon/job.h"
#include "base/log.h"
#include "daemon/metrics.h"
#include "daemon/pool.h"
#include "aws/s3.h"
#include "aws/sqs.h"
#include "httpd/httpd.h"
#include "base/util.h"

#define CONTENT_TYPE_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"

static const double duration_bounds[] = {0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,   10,
                                         30,   60,  120,  300, 600, 1800, 3600};
static const double http_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1,     2.5,  5,     10,   30};
static const double lag_bounds[] = {0.5, 1,   2,    5,    10,   30,    60,   120,
                                    300, 600, 1800, 3600, 7200, 21600, 86400};

static struct {
    struct metrics *reg;
    struct httpd *http;
    uint64_t started_ms;         /* monotonic */
    uint64_t last_receive_ok_ms; /* 0: never */
    uint64_t cycle_since_ms;     /* first ReceiveMessage since the last success; 0: none */
    char last_error[256];        /* the last failed SQS call, for the health reason */

    struct metric *up, *build_info, *start_time;
    struct metric *received, *deleted, *returned, *inflight, *visibility;
    struct metric *loaded, *failed, *rows, *bytes, *rejected, *dlq, *duplicates, *superseded;
    struct metric *ignored, *sqs_errors, *s3_errors, *duration, *lag, *creds;
    struct metric *copy_fallbacks;
    struct metric *workers, *workers_busy, *generation, *reloads;
    struct metric *http_requests, *http_bytes, *http_duration;
} O;

/* A NULL-terminated list of label names. */
#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

static void declare(void)
{
    struct metrics *r = O.reg;

    O.up = metrics_gauge(r, "ingestd_up", "1 while the daemon runs", NULL);
    O.build_info = metrics_gauge(r, "ingestd_build_info", "The running version (value 1)",
                                 NAMES("version"));
    O.start_time = metrics_gauge(r, "ingestd_start_time_seconds", "Start of the process, Unix time",
                                 NULL);
    O.received = metrics_counter(r, "ingestd_sqs_messages_received_total", "SQS messages received",
                                 NULL);
    O.deleted = metrics_counter(r, "ingestd_sqs_messages_deleted_total",
                                "SQS messages deleted after they were settled", NULL);
    O.returned = metrics_counter(r, "ingestd_sqs_messages_returned_total",
                                 "SQS messages made visible again for a retry", NULL);
    O.inflight = metrics_gauge(r, "ingestd_inflight_messages",
                               "SQS messages received and not yet settled", NULL);
    O.visibility = metrics_counter(r, "ingestd_visibility_extensions_total",
                                   "Visibility timeout extensions of running messages", NULL);
    O.loaded = metrics_counter(r, "ingestd_objects_loaded_total",
                               "Objects whose rows were committed", NAMES("route", "sink"));
    O.failed = metrics_counter(r, "ingestd_objects_failed_total",
                               "Objects that failed to load, by error class",
                               NAMES("route", "class"));
    O.rows = metrics_counter(r, "ingestd_rows_loaded_total", "Rows committed",
                             NAMES("route", "sink"));
    O.bytes = metrics_counter(r, "ingestd_bytes_loaded_total",
                              "Object bytes read for committed loads", NAMES("route", "sink"));
    O.rejected = metrics_counter(r, "ingestd_rows_rejected_total",
                                 "Rows skipped under on_error = skip_row in committed loads",
                                 NAMES("route"));
    O.dlq = metrics_counter(r, "ingestd_dlq_reports_total",
                            "Error reports sent to the dead-letter queue", NULL);
    O.duplicates = metrics_counter(r, "ingestd_duplicates_skipped_total",
                                   "Objects the ledger had already loaded", NAMES("route"));
    O.superseded = metrics_counter(r, "ingestd_objects_superseded_total",
                                   "Objects changed since their event (a newer event loads them)",
                                   NAMES("route"));
    O.copy_fallbacks = metrics_counter(r, "ingestd_copy_fallbacks_total",
                                       "Objects streamed again for text COPY after binary COPY "
                                       "met a value it cannot carry",
                                       NAMES("route"));
    O.ignored = metrics_counter(r, "ingestd_events_ignored_total",
                                "Events not loaded: no_route, test_event, not_created",
                                NAMES("reason"));
    O.sqs_errors = metrics_counter(r, "ingestd_sqs_request_errors_total",
                                   "Failed SQS requests and batch entries",
                                   NAMES("operation", "code"));
    O.s3_errors = metrics_counter(r, "ingestd_s3_request_errors_total",
                                  "Failed S3 requests of loads", NAMES("code"));
    O.duration = metrics_histogram(r, "ingestd_load_duration_seconds",
                                   "Time to load one object that committed", NAMES("route"),
                                   duration_bounds, ARRAY_SIZE(duration_bounds));
    O.lag = metrics_histogram(r, "ingestd_event_lag_seconds",
                              "From the S3 event time to the commit of its rows", NULL, lag_bounds,
                              ARRAY_SIZE(lag_bounds));
    O.creds = metrics_counter(r, "ingestd_credential_refreshes_total", "AWS credential resolutions",
                              NAMES("source", "result"));
    O.workers = metrics_gauge(r, "ingestd_workers", "Configured load threads", NULL);
    O.workers_busy = metrics_gauge(r, "ingestd_workers_busy", "Jobs queued or running", NULL);
    O.generation = metrics_gauge(r, "ingestd_config_generation",
                                 "Generation of the running configuration", NULL);
    O.reloads = metrics_counter(r, "ingestd_config_reloads_total", "SIGHUP reloads",
                                NAMES("result"));
    O.http_requests = metrics_counter(r, "ingestd_http_requests_total",
                                      "Requests on the ingest listener, by route and status",
                                      NAMES("route", "status"));
    O.http_bytes = metrics_counter(r, "ingestd_http_request_bytes_total",
                                   "Request body bytes taken by the ingest listener",
                                   NAMES("route"));
    O.http_duration = metrics_histogram(r, "ingestd_http_request_duration_seconds",
                                        "From the request head to the answer", NAMES("route"),
                                        http_bounds, ARRAY_SIZE(http_bounds));
}

/* Every per-route series at 0, so that rates and alerts see them before the first event. */
static void touch_routes(const struct config *cfg)
{
    static const char *const classes[] = {"transient", "permanent", "config"};

    for (size_t i = 0; i < cfg->nroutes; i++) {
        const char *route = cfg->routes[i].name, *sink = cfg->routes[i].sink->name;

        metric_touch(O.loaded, ML(route, sink));
        metric_touch(O.rows, ML(route, sink));
        metric_touch(O.bytes, ML(route, sink));
        for (size_t k = 0; k < ARRAY_SIZE(classes); k++)
            metric_touch(O.failed, ML(route, classes[k]));
    }
}

/* The values the daemon already keeps, copied at each scrape. */
static void collect(const struct app *app)
{
    const struct app_stats *st = &app->stats;

    metric_set(O.received, NULL, (double)st->received);
    metric_set(O.deleted, NULL, (double)st->deleted);
    metric_set(O.returned, NULL, (double)st->returned);
    metric_set(O.dlq, NULL, (double)st->dlq_reports);
    metric_set(O.workers, NULL, (double)app->cfg->ingestd.workers);
    metric_set(O.workers_busy, NULL, app->pool ? (double)pool_busy(app->pool) : 0);
    metric_set(O.generation, NULL, (double)app->cfg->generation);
}

static void answer(struct httpd_req *r, int status, const char *ctype, const struct buf *body,
                   const char *const *extra)
{
    httpd_respond(r, status, ctype, body->data ? body->data : "", body->len, extra);
}

/* GET or HEAD /metrics and /healthz; everything runs in the head, no body is read. */
static void serve(void *arg, struct httpd_req *r)
{
    static const char *const allow[] = {"Allow", "GET, HEAD", NULL};
    struct app *app = arg;
    const char *path = httpd_path(r), *method = httpd_method(r);
    const char *text = "text/plain; charset=utf-8";
    char reason[512];
    struct buf body;
    int status;

    buf_init(&body);
    if ((status = httpd_head_refusal(r)) != 0) {
        buf_puts(&body, "request head over 8 KiB\n");
        answer(r, status, text, &body, NULL);
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        buf_puts(&body, "method not allowed\n");
        answer(r, 405, text, &body, allow);
    } else if (strcmp(path, "/metrics") == 0) {
        collect(app);
        metrics_render(O.reg, &body);
        answer(r, 200, CONTENT_TYPE_PROMETHEUS, &body, NULL);
    } else if (strcmp(path, "/healthz") == 0) {
        if (observe_healthy(app, reason, sizeof reason)) {
            buf_puts(&body, "ok\n");
            answer(r, 200, text, &body, NULL);
        } else {
            buf_printf(&body, "%s\n", reason);
            answer(r, 503, text, &body, NULL);
        }
    } else {
        buf_puts(&body, "not found: try /metrics or /healthz\n");
        answer(r, 404, text, &body, NULL);
    }
    buf_free(&body);
}

static size_t ignore_body(void *arg, struct httpd_req *r, const char *p, size_t n)
{
    (void)arg;
    (void)r;
    (void)p;
    return n;
}

static void no_end(void *arg, struct httpd_req *r)
{
    (void)arg;
    (void)r;
}

static int listen_on(const char *addr, bool at_start)
{
    const char *old = httpd_address(O.http);
    char err[256];

    if ((!addr && !old) || (addr && old && strcmp(addr, old) == 0))
        return 0;
    if (httpd_listen(O.http, addr, err, sizeof err) < 0) {
        if (at_start)
            log_err("metrics_listen = %s: %s", addr, err);
        else
            log_err("metrics_listen = %s: %s; %s", addr, err,
                    old ? "still listening on the previous address" : "no listener");
        return -1;
    }
    if (addr)
        log_info("metrics and health on http://%s/metrics and /healthz", addr);
    else
        log_info("metrics listener closed");
    return 0;
}

/* A loopback or otherwise trusted listener: small requests, one per connection. */
static const struct httpd_opts metrics_opts = {
    .name = "metrics listener",
    .max_conns = OBSERVE_HTTP_MAX_CONNS,
    .head_timeout_ms = OBSERVE_HTTP_REQUEST_TIMEOUT_MS,
    .idle_timeout_s = 10,
    .head_max = OBSERVE_HTTP_HEAD_MAX,
    .close_after_answer = true,
};

int observe_start(struct app *app)
{
    const char *const version[] = {PACKAGE_VERSION};
    char err[256];

    O.reg = metrics_new();
    O.started_ms = now_monotonic_ms();
    declare();
    metric_set(O.up, NULL, 1);
    metric_set(O.build_info, version, 1);
    metric_set(O.start_time, NULL, (double)now_realtime_ms() / 1000.0);
    metric_touch(O.visibility, NULL);
    touch_routes(app->cfg);
    O.http = httpd_new(app->loop, &metrics_opts,
                       &(struct httpd_handler){serve, ignore_body, no_end, NULL, app}, err,
                       sizeof err);
    if (!O.http) {
        log_err("metrics listener: %s", err);
        return -1;
    }
    return listen_on(app->cfg->ingestd.metrics_listen, true);
}

void observe_stop(void)
{
    httpd_free(O.http);
    metrics_free(O.reg);
    memset(&O, 0, sizeof O);
}

void observe_reload(struct app *app, bool ok)
{
    if (!O.reg)
        return;
    metric_add(O.reloads, ML(ok ? "success" : "failure"), 1);
    if (!ok)
        return;
    touch_routes(app->cfg);
    listen_on(app->cfg->ingestd.metrics_listen, false);
}

void observe_http(const char *route, int status, uint64_t body_bytes, uint64_t duration_ms)
{
    char st[12];

    if (!O.reg)
        return;
    snprintf(st, sizeof st, "%d", status);
    metric_add(O.http_requests, ML(route, st), 1);
    if (body_bytes)
        metric_add(O.http_bytes, ML(route), (double)body_bytes);
    metric_observe(O.http_duration, ML(route), (double)duration_ms / 1000.0);
}

void observe_job(const struct job *j)
{
    const char *route = j->route->name, *sink = j->route->sink->name;

    if (j->restarted)
        metric_add(O.copy_fallbacks, ML(route), 1);
    /* A fan-out counts per sink: the ones that committed, even when another failed. */
    for (size_t i = 0; j->route->nsinks > 1 && i < j->nsink_results; i++) {
        if (j->sink_results[i] != JOB_LOADED)
            continue;
        sink = j->route->sinks[i]->name;
        metric_add(O.loaded, ML(route, sink), 1);
        metric_add(O.rows, ML(route, sink), (double)j->stats.rows);
        metric_add(O.bytes, ML(route, sink), (double)j->stats.bytes);
    }
    switch (j->result) {
    case JOB_LOADED:
        if (j->route->nsinks <= 1) {
            metric_add(O.loaded, ML(route, sink), 1);
            metric_add(O.rows, ML(route, sink), (double)j->stats.rows);
            metric_add(O.bytes, ML(route, sink), (double)j->stats.bytes);
        }
        if (j->stats.rejected)
            metric_add(O.rejected, ML(route), (double)j->stats.rejected);
        metric_observe(O.duration, ML(route), (double)j->duration_ms / 1000.0);
        if (j->event_time_ms > 0) {
            int64_t lag = now_realtime_ms() - j->event_time_ms;
            metric_observe(O.lag, NULL, lag > 0 ? (double)lag / 1000.0 : 0);
        }
        break;
    case JOB_DUPLICATE:
        metric_add(O.duplicates, ML(route), 1);
        break;
    case JOB_SUPERSEDED:
        metric_add(O.superseded, ML(route), 1);
        break;
    case JOB_FAILED:
        metric_add(O.failed, ML(route, ierr_class_name(j->err.cls)), 1);
        break;
    case JOB_CANCELLED:
        break;
    }
}

void observe_job_fields(const struct job *j, struct observe_job_fields *jf)
{
    const struct log_field f[] = {
        {"S3_BUCKET", j->bucket},
        {"S3_KEY", j->key},
        {"ROUTE", j->route->name},
        {"SINK", j->route->nsinks > 1 ? j->route->sink_name : j->route->sink->name},
        {"ROWS", jf->rows},
        {"BYTES", jf->bytes},
        {"DURATION_MS", jf->ms},
        {"SQS_MESSAGE_ID", j->message_id},
        {"ERROR_CLASS", j->result == JOB_FAILED ? ierr_class_name(j->err.cls) : NULL},
        {"BLANK_LINES", j->stats.blank_lines ? jf->blank : NULL},
    };

    _Static_assert(ARRAY_SIZE(f) == ARRAY_SIZE(jf->f), "observe_job_fields: size");
    /* Only a load that committed wrote rows; a failed one wrote none, however many were
     * parsed before it failed. */
    snprintf(jf->rows, sizeof jf->rows, "%llu",
             (unsigned long long)(j->result == JOB_LOADED ? j->stats.rows : 0));
    snprintf(jf->bytes, sizeof jf->bytes, "%llu", (unsigned long long)j->stats.bytes);
    snprintf(jf->ms, sizeof jf->ms, "%llu", (unsigned long long)j->duration_ms);
    snprintf(jf->blank, sizeof jf->blank, "%llu", (unsigned long long)j->stats.blank_lines);
    job_blank_note(j, jf->blank_note, sizeof jf->blank_note);
    memcpy(jf->f, f, sizeof f);
    jf->n = ARRAY_SIZE(f);
}

void observe_message_failed(const char *route, const struct ierr *e)
{
    metric_add(O.failed, ML(route ? route : "", ierr_class_name(e->cls)), 1);
}

void observe_event_ignored(const char *reason)
{
    metric_add(O.ignored, ML(reason), 1);
}

void observe_inflight(size_t n)
{
    metric_set(O.inflight, NULL, (double)n);
}

void observe_visibility_extended(void)
{
    metric_add(O.visibility, NULL, 1);
}

void observe_receive_started(void)
{
    if (O.reg && O.cycle_since_ms == 0)
        O.cycle_since_ms = now_monotonic_ms();
}

/* The code label of a failed call: the service's code, else what kind of failure. */
static const char *error_code(const struct aws_error *e, char *tmp, size_t len)
{
    if (e->code[0])
        return e->code;
    if (e->kind == AWS_ERR_NETWORK && e->timeout)
        return "timeout";
    if (e->kind == AWS_ERR_HTTP) {
        snprintf(tmp, len, "HTTP_%ld", e->http_status);
        return tmp;
    }
    return aws_error_kind_name(e->kind);
}

void observe_sqs(const char *operation, const struct aws_error *err,
                 const struct sqs_batch_entry *e, size_t n)
{
    char tmp[32], text[200];

    if (!O.reg)
        return;
    if (err->kind != AWS_OK) {
        metric_add(O.sqs_errors, ML(operation, error_code(err, tmp, sizeof tmp)), 1);
        snprintf(O.last_error, sizeof O.last_error, "%s: %s", operation,
                 aws_error_str(err, text, sizeof text));
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!e[i].ok)
            metric_add(O.sqs_errors, ML(operation, e[i].code[0] ? e[i].code : "unknown"), 1);
    if (strcmp(operation, "ReceiveMessage") == 0) {
        O.last_receive_ok_ms = now_monotonic_ms();
        O.cycle_since_ms = 0;
    }
}

void observe_s3_error(const struct aws_error *err)
{
    char tmp[32];

    if (err->kind == AWS_OK || strcmp(err->code, S3_CODE_CANCELLED) == 0)
        return;
    metric_add(O.s3_errors, ML(error_code(err, tmp, sizeof tmp)), 1);
}

void observe_creds(struct creds_provider *p, bool ok)
{
    struct creds *c;

    if (!O.reg)
        return;
    c = creds_current(p);
    metric_add(O.creds, ML(c ? c->source : "none", ok ? "success" : "failure"), 1);
    creds_unref(c);
}

const char *observe_state(const struct app *app)
{
    char reason[8];

    if (app->stopping)
        return "stopping";
    if (!app->ready_sent)
        return "starting";
    return observe_healthy(app, reason, sizeof reason) ? "polling" : "queue-unreachable";
}

bool observe_healthy(const struct app *app, char *reason, size_t len)
{
    uint64_t now = now_monotonic_ms();
    unsigned window = OBSERVE_QUEUE_WINDOW_MS(app->cfg->sqs.wait_time_seconds);
    const char *sep = O.last_error[0] ? "; last error: " : "";

    if (app->stopping) {
        snprintf(reason, len, "stopping");
        return false;
    }
    if (O.last_receive_ok_ms == 0) {
        snprintf(reason, len, "starting: the queue has not answered yet (%llu s)%s%s",
                 (unsigned long long)(now - O.started_ms) / 1000u, sep, O.last_error);
        return false;
    }
    if (O.cycle_since_ms && now - O.cycle_since_ms > window) {
        snprintf(reason, len, "queue not reached for %llu s (limit %u s)%s%s",
                 (unsigned long long)(now - O.cycle_since_ms) / 1000u, window / 1000u, sep,
                 O.last_error);
        return false;
    }
    return true;
}
