/*
 * ddb_proto.h: DynamoDB request bodies and response parsing (AWS JSON 1.0), for the
 * DynamoDB sink: BatchWriteItem, DescribeTable, CreateTable and the ledger's GetItem
 * and conditional PutItem.
 *
 * Builders append to a struct buf; parsers read a response body and never keep a
 * pointer into it. Pure: no I/O, no logging; any thread. Errors (non-2xx answers)
 * are not parsed here: aws_error.h does that for every service.
 */
#ifndef INGESTD_DDB_PROTO_H
#define INGESTD_DDB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rows.h"
#include "base/util.h"
#include "sinks/dynamodb/ddb_item.h"

#define DDB_BATCH_MAX_ITEMS 25
#define DDB_BATCH_MAX_BYTES ((size_t)16 << 20)

/* {"RequestItems":{"TABLE":[{"PutRequest":{"Item":ITEM}},...]}}, built in three steps. */
void ddb_batch_open(struct buf *b, const char *table);
void ddb_batch_put(struct buf *b, const char *item, size_t n, bool first);
void ddb_batch_close(struct buf *b);
/* Bytes the three steps add around the items: for the 16 MB request cap. */
size_t ddb_batch_overhead(const char *table, size_t nitems);

/* {"TableName":"T"}: DescribeTable. */
void ddb_body_table(struct buf *b, const char *table);
/* CreateTable of a ledger table: partition key id (S), on-demand billing. */
void ddb_body_create_ledger(struct buf *b, const char *table);

/* The ledger id of an object: "s3://BUCKET/KEY#ETAG". Unambiguous: S3 bucket names hold
 * no '/', ETags no '#', so the first '/' after "s3://" and the last '#' split it. */
void ddb_ledger_id(struct buf *b, const char *bucket, const char *key, const char *etag);
/* GetItem of id, strongly consistent, projecting only the id. */
void ddb_body_ledger_get(struct buf *b, const char *table, const char *id);

struct ddb_ledger_rec {
    const char *id, *bucket, *key, *etag;
    const char *version_id, *sequencer; /* may be NULL: left out */
    const char *route, *target;         /* route name, target table */
    uint64_t rows, rejected, bytes;
    int64_t loaded_at_ms;     /* realtime */
    const char *rejects;      /* the elements of the rejects list (ddb_reject_append), or "" */
    uint64_t rejects_dropped; /* rejects not stored (over the cap) */
};

/* PutItem with ConditionExpression attribute_not_exists(id). */
void ddb_body_ledger_put(struct buf *b, const char *table, const struct ddb_ledger_rec *r);
/* Appends one rejected row to a rejects list (comma first unless it is empty):
 * {"M":{"line":{"N"},"column":{"N"},"column_name":{"S"},"reason":{"S"},"raw":{"S"}}},
 * raw cut at max_raw bytes (on a UTF-8 boundary). */
void ddb_reject_append(struct buf *list, const struct row_reject *r, const char *column_name,
                       size_t max_raw);

/* GetItem answer: *found when it has an Item. 0, or -1 (why) for an unreadable body. */
int ddb_parse_get(const char *body, size_t len, bool *found, const char **why);

/* DescribeTable answer: the key schema and TableStatus ("ACTIVE", "CREATING", ...). */
int ddb_parse_describe(const char *body, size_t len, struct ddb_key_schema *ks, char status[32],
                       const char **why);

/* Items a BatchWriteItem answer hands back, each with its key (ddb_item.h format). */
struct ddb_unprocessed {
    char **items; /* JSON objects, owned */
    char **keys;  /* owned; key_len gives their lengths */
    size_t *key_len;
    size_t n;
};

/* 0 with u filled (n == 0 when everything was written), -1 (why) for an unreadable body
 * or an unprocessed item that is not a PutRequest of table with the schema's keys. */
int ddb_parse_batch(const char *body, size_t len, const char *table,
                    const struct ddb_key_schema *ks, struct ddb_unprocessed *u, const char **why);
void ddb_unprocessed_free(struct ddb_unprocessed *u);

#endif
