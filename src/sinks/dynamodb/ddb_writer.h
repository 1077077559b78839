/*
 * ddb_writer.h: puts items into one DynamoDB table with BatchWriteItem, several
 * requests in flight, until every item is written.
 *
 * Items are grouped into requests of at most 25 items and 16 MB. Within a group a
 * later item with the same key replaces the earlier one (last row wins; DynamoDB
 * refuses duplicate keys in one request). A key stays "in flight" until its item
 * is written, retries included, and a group holding such a key waits: two rows
 * with one key are never written out of order, so the last row of the object wins
 * whatever the timing.
 *
 * Retries: UnprocessedItems, throttling (ProvisionedThroughputExceededException,
 * ThrottlingException, ...), HTTP 5xx and network failures are retried after
 * backoff_full_jitter_ms(retry, 50 ms, 5 s), up to DDB_WRITER_MAX_RETRIES retries
 * per group; then the load fails as transient. Any other 4xx is permanent: a
 * ValidationException on a group is narrowed down by writing its items one by one,
 * so that the error names the row's line. ResourceNotFoundException names the table.
 *
 * A writer belongs to one thread (it drives the client's multi handle). After an
 * error every call fails until ddb_writer_reset().
 */
#ifndef INGESTD_DDB_WRITER_H
#define INGESTD_DDB_WRITER_H

#include <stdint.h>

#include "aws/ddb_http.h"
#include "base/ierr.h"
#include "sinks/dynamodb/ddb_item.h"

#define DDB_WRITER_MAX_IN_FLIGHT 8
#define DDB_WRITER_MAX_RETRIES   10

struct ddb_writer_stats {
    uint64_t items;       /* items handed to add() */
    uint64_t written;     /* items DynamoDB confirmed */
    uint64_t replaced;    /* items replaced by a later row with the same key */
    uint64_t requests;    /* BatchWriteItem requests sent */
    uint64_t retries;     /* requests sent again (throttling, 5xx, unprocessed) */
    uint64_t unprocessed; /* items handed back in UnprocessedItems */
};

struct ddb_writer;

/* h is borrowed and must outlive the writer. */
struct ddb_writer *ddb_writer_new(struct ddb_http *h);
void ddb_writer_free(struct ddb_writer *w); /* cancels; NULL-safe */
/* Retry backoff base and cap (defaults 50 ms, 5 s); tests shorten them. */
void ddb_writer_set_backoff(struct ddb_writer *w, uint64_t base_ms, uint64_t cap_ms);

/* Starts a load into table (copied) with key schema ks (borrowed until reset). */
void ddb_writer_begin(struct ddb_writer *w, const char *table, const struct ddb_key_schema *ks);
/* Queues one encoded item with its key (ddb_item.h) and the object line it came from.
 * May send requests and wait for room. 0, or -1 with e set. */
int ddb_writer_add(struct ddb_writer *w, const char *item, size_t n, const char *key, size_t keylen,
                   uint64_t line, struct ierr *e);
/* Sends what is queued and waits until everything is written. 0, or -1 with e set. */
int ddb_writer_flush(struct ddb_writer *w, struct ierr *e);
/* Drops queued items and cancels requests in flight (items already written stay). */
void ddb_writer_reset(struct ddb_writer *w);
void ddb_writer_get_stats(const struct ddb_writer *w, struct ddb_writer_stats *st);
/* Whether the last failure was ResourceNotFoundException (the table went away). */
bool ddb_writer_table_missing(const struct ddb_writer *w);

#endif
