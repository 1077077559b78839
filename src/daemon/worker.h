/*
 * worker.h: what a worker thread does with a job: stream the object from S3,
 * decompress, parse, and load it through the route's sink in one transaction.
 *
 * A worker keeps per-thread state between jobs: its S3 client (one curl easy
 * handle, connections reused) and one open sink per sink name, reopened when the
 * configuration generation changes or after a failure. worker_run() never
 * touches the loop; it reports through the job's result fields only.
 */
#ifndef INGESTD_WORKER_H
#define INGESTD_WORKER_H

#include "daemon/job.h"
#include "daemon/pool.h"

struct s3_client;

struct worker_state;

struct worker_state *worker_state_new(void);
void worker_state_free(struct worker_state *ws); /* closes its sinks; NULL-safe */

/* Runs one job to completion and fills its result. Blocks. */
void worker_run(struct worker_state *ws, struct job *job);

/* An S3 client for cfg's endpoint and region (NULL with e set); any thread, owned by it. */
struct s3_client *worker_s3_client_new(const struct config *cfg, struct ierr *e);

/* Hooks for pool_new(): per-thread state and worker_run() as the run function. */
void worker_pool_hooks(struct pool_hooks *hooks);

#endif
