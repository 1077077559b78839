/*
 * sqs_ledger.h: the SQS sink's ledger: loaded objects recorded in a DynamoDB table,
 * and claims that keep two workers from sending the same object at once.
 *
 * The table has the DynamoDB sink's layout (partition key id, string; ddb_proto.h
 * writes the items) and is created on first use when missing; the two sinks may
 * share one table. An object's id is "s3://BUCKET/KEY#ETAG" (ddb_ledger_id()).
 *
 * Claims: an item "claim#<id>" with a random owner and an expiry, put with
 * attribute_not_exists(id) OR expires_ms < now. A worker given an object someone
 * else has claimed (S3 may send an event twice, and both copies may run at the same
 * moment) waits until the claimant has written the ledger item (the object is then
 * already loaded) or has released the claim (it then claims it itself), at most
 * SQS_CLAIM_WAIT_MS. A claim lapses SQS_CLAIM_LEASE_MS after it was taken, so a
 * crash cannot block an object for good; a load running longer than that is no
 * longer protected against a duplicate.
 *
 * All calls block (ddb_http.h, retries included). One ledger belongs to one sink
 * and so to one worker thread.
 */
#ifndef INGESTD_SQS_LEDGER_H
#define INGESTD_SQS_LEDGER_H

#include <stdbool.h>

#include "aws/aws_error.h"
#include "base/config.h"
#include "base/ierr.h"
#include "sinks/dynamodb/ddb_proto.h"

#define SQS_CLAIM_LEASE_MS (15 * 60 * 1000)
#define SQS_CLAIM_WAIT_MS  60000

struct aws_creds;
struct sqs_ledger;

/* NULL with e set (IERR_CONFIG) for an unusable DynamoDB endpoint. cfg is read now.
 * sink_name is for log lines. */
struct sqs_ledger *sqs_ledger_new(const struct config *cfg, const char *sink_name,
                                  const char *table, struct ierr *e);
void sqs_ledger_free(struct sqs_ledger *l); /* releases a claim still held; NULL-safe */
/* The credentials of the following calls (copied; NULL: calls fail as transient). */
void sqs_ledger_set_creds(struct sqs_ledger *l, const struct aws_creds *c);
const char *sqs_ledger_table(const struct sqs_ledger *l);

/* DescribeTable: 0 usable, 1 missing, 2 not ACTIVE yet, -1 with e set. */
int sqs_ledger_describe(struct sqs_ledger *l, struct ierr *e);
/* Whether id is recorded (the table is created first when missing). 0 or -1. */
int sqs_ledger_lookup(struct sqs_ledger *l, const char *id, bool *found, struct ierr *e);
/* Claims id, or finds it recorded meanwhile (*found, no claim held). 0, or -1 with e
 * (IERR_TRANSIENT when another worker still holds the claim after the wait). */
int sqs_ledger_claim(struct sqs_ledger *l, const char *id, bool *found, struct ierr *e);
/* Drops the claim held, if any (best effort: a claim left behind lapses). */
void sqs_ledger_release(struct sqs_ledger *l);
/* Records the object: 0, 1 when it was recorded meanwhile by someone else, -1 (e). */
int sqs_ledger_put(struct sqs_ledger *l, const struct ddb_ledger_rec *rec, struct ierr *e);

/* The error class of an AWS failure for the SQS sink (throttling, 5xx, network and
 * credentials are transient; access and missing queues are configuration). */
enum ierr_class sqs_error_class(const struct aws_error *ae);
void sqs_set_aws_error(struct ierr *e, const struct aws_error *ae, const char *what);

#endif
