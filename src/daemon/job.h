/*
 * job.h: one object to load, the only thing that crosses between the loop and a worker.
 *
 * The loop fills everything above "result" before pool_submit() and does not touch
 * the job again until it comes back on the done queue, except for the atomics
 * (cancel, bytes). The worker fills "result" and nothing else. The job holds its own
 * reference to the configuration it started under, so a reload never changes a
 * running load.
 */
#ifndef INGESTD_JOB_H
#define INGESTD_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/ierr.h"
#include "base/rows.h"
#include "daemon/pool.h"

struct msg;
struct object_source;

enum job_result {
    JOB_LOADED,     /* rows committed with the ledger record */
    JOB_DUPLICATE,  /* the ledger already had (bucket, key, etag) */
    JOB_SUPERSEDED, /* the object changed since the event (ETag mismatch) */
    JOB_FAILED,     /* err says why and how (transient / permanent / config) */
    JOB_CANCELLED,  /* shutdown: rolled back, to be retried elsewhere */
};

struct job {
    struct pool_item item; /* first: the pool links jobs through it */
    uint64_t id;
    struct config *cfg;             /* own reference */
    const struct route_conf *route; /* in cfg */
    struct msg *msg;                /* loop side: the SQS message this object came from */

    char *bucket;
    char *key;        /* decoded */
    char *etag;       /* without quotes, may be "" */
    char *version_id; /* may be NULL */
    char *sequencer;  /* may be NULL */
    uint64_t size;
    int64_t event_time_ms; /* 0 when unknown */
    char *message_id;      /* for log context */

    struct creds *creds; /* own reference, taken at dispatch; NULL: anonymous */

    /* A load that does not come from S3 (an HTTP request): its bytes, the route as it
     * parses them (format and compression from the request), and who takes the job
     * back on the loop instead of the poller. NULL, NULL, NULL for an S3 object. */
    struct object_source *source;
    const struct route_conf *parse;
    void (*on_done)(struct job *j);
    void *owner;

    atomic_bool cancel;     /* set by the loop at shutdown_timeout */
    _Atomic uint64_t bytes; /* object bytes read so far (progress) */

    /* result */
    enum job_result result;
    struct ierr err;
    struct load_stats stats;
    char *table; /* expanded target table, when known */
    uint64_t duration_ms;
    bool restarted; /* the sink asked for a second pass (PostgreSQL: text COPY fallback) */
    /* What each of the route's sinks did, in the route's order (a fan-out has several):
     * JOB_LOADED committed now, JOB_DUPLICATE already held it, JOB_FAILED did not commit.
     * Filled when the load reached its commit; nsink_results 0 otherwise. */
    enum job_result sink_results[ROUTE_MAX_SINKS];
    size_t nsink_results;
};

struct job *job_new(struct config *cfg, const struct route_conf *route);
void job_free(struct job *j); /* NULL-safe; drops the config reference */
/* "; N blank lines skipped" for a load's log line, or "" when none were; returns buf. */
const char *job_blank_note(const struct job *j, char *buf, size_t len);

/* Where a loaded job's rows went, for its log line: the table, or "SQS queue URL" for an
 * SQS sink (which has no table); into buf. */
const char *job_target(const struct job *j, char *buf, size_t bufsz);

#endif
