/*
 * observe.h: ingestd's metrics, its health, and the HTTP listener that serves both.
 *
 * It also builds the journal fields of a load's log record (observe_job_fields()).
 * The daemon calls one observe_*() function per event where the event happens;
 * this module turns it into Prometheus series (metrics.h) and keeps what /healthz
 * needs. Counters the daemon already keeps in struct app_stats (received, deleted,
 * returned, DLQ reports) and gauges it can read (workers, busy workers, configuration
 * generation) are copied from struct app when /metrics is scraped, so they never
 * disagree with STATUS=; the poller tells the in-flight count (observe_inflight).
 * The metric set is listed in ingestd(8), METRICS.
 *
 * Threads: observe_start() and observe_stop() run on the loop thread while no
 * worker runs; observe_s3_error() may be called from any thread; everything else on
 * the loop thread. Before observe_start() (and in `ingestd load`) every event
 * function is a no-op.
 */
#ifndef INGESTD_OBSERVE_H
#define INGESTD_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/log.h"

struct app;
struct aws_error;
struct creds_provider;
struct ierr;
struct job;
struct sqs_batch_entry;

/* /healthz fails when a ReceiveMessage cycle has gone without success this long. */
/* The metrics listener: open connections (idle ones make way for new ones) and the time a
 * request has to arrive whole, however slowly its bytes trickle in. */
#define OBSERVE_HTTP_MAX_CONNS          32
#define OBSERVE_HTTP_REQUEST_TIMEOUT_MS 5000
/* The largest request head answered; a larger one is 431 (414 for the request line). */
#define OBSERVE_HTTP_HEAD_MAX (8 * 1024)

#define OBSERVE_QUEUE_WINDOW_MS(wait_time_seconds) (3000u * ((unsigned)(wait_time_seconds) + 10u))

/* Declares the metrics and opens [ingestd] metrics_listen if set; -1 when it cannot be
 * bound (logged). Call before the worker pool starts. */
int observe_start(struct app *app);
/* Closes the listener and frees the metrics; after the worker pool has been joined. */
void observe_stop(void);

/* A SIGHUP reload: counted by result; when it succeeded (app->cfg is the new snapshot)
 * the listener moves if metrics_listen changed (on a bind failure the old one stays). */
void observe_reload(struct app *app, bool ok);

/* A job came back from its worker (any result). */
void observe_job(const struct job *j);
/* A message failed before any job ran; route may be NULL. */
void observe_message_failed(const char *route, const struct ierr *e);
/* An event was not loaded: reason "no_route", "test_event" or "not_created". */
void observe_event_ignored(const char *reason);
/* One request on the ingest listener: route "-" when it named none. */
void observe_http(const char *route, int status, uint64_t body_bytes, uint64_t duration_ms);
/* The number of messages being worked on changed (the poller's count). */
void observe_inflight(size_t n);
/* A visibility extension (heartbeat) was requested for a running message. */
void observe_visibility_extended(void);
/* A ReceiveMessage is being sent (the health window starts at the first of a cycle). */
void observe_receive_started(void);
/* Any SQS call completed: operation is the API name ("ReceiveMessage"); e/n are a
 * batch call's entries (NULL/0 otherwise). Counts request and entry errors. */
void observe_sqs(const char *operation, const struct aws_error *err,
                 const struct sqs_batch_entry *e, size_t n);
/* An S3 request of a load failed (any thread). */
void observe_s3_error(const struct aws_error *err);
/* A credential resolution finished (the creds_event_fn of creds.h). */
void observe_creds(struct creds_provider *p, bool ok);

/* The structured fields of the record logged for a job's result: S3_BUCKET, S3_KEY,
 * ROUTE, SINK, ROWS, BYTES, DURATION_MS, SQS_MESSAGE_ID, ERROR_CLASS when it failed and
 * BLANK_LINES when blank lines were skipped (NULL otherwise, which leaves them out); and
 * blank_note for the message. Values point into j and into jf. */
struct observe_job_fields {
    struct log_field f[10];
    size_t n;
    char rows[24], bytes[24], ms[24], blank[24];
    char blank_note[48]; /* "; N blank lines skipped", or "" */
};
void observe_job_fields(const struct job *j, struct observe_job_fields *jf);

/* The one-word state for STATUS=: "starting", "polling", "stopping" or
 * "queue-unreachable"; a static string. */
const char *observe_state(const struct app *app);

/* The /healthz verdict: true when healthy, else false with a one-line reason. */
bool observe_healthy(const struct app *app, char *reason, size_t len);

#endif
