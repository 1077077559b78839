/*
 * ddb_load.h: what the DynamoDB and SQS sinks keep about the load in progress for
 * the ledger item they write at commit: the object's identity, its columns, and its
 * rejected rows (all counted; the first DDB_LOAD_REJECTS_STORED recorded for the
 * item's rejects list, raw values cut at DDB_LOAD_REJECT_RAW_MAX bytes). Row errors
 * a sink finds itself (a value a column cannot take, a message over the limit) go
 * through ddb_load_row_error, which applies the route's on_error and max_errors.
 *
 * It makes no AWS call: the ledger item is built by ddb_proto.c and sent by the sink.
 * A struct ddb_load is embedded in one sink and used by that sink's worker thread;
 * its strings are owned by it.
 */
#ifndef INGESTD_DDB_LOAD_H
#define INGESTD_DDB_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "sinks/dynamodb/ddb_proto.h"
#include "sinks/sink.h"
#include "base/util.h"

#define DDB_LOAD_REJECTS_STORED 100
#define DDB_LOAD_REJECT_RAW_MAX 1024

struct ddb_load {
    char *ledger_id, *bucket, *key, *etag, *version_id, *sequencer;
    struct strlist cols;
    uint64_t parse_rejects, row_rejects;
    struct buf rejects; /* ledger rejects list elements */
    size_t nstored;
    uint64_t not_stored;
};

void ddb_load_init(struct ddb_load *l);
/* Forget the load (between loads; keeps the buffers). */
void ddb_load_clear(struct ddb_load *l);
void ddb_load_free(struct ddb_load *l);

/* The object's ledger id ("s3://BUCKET/KEY#ETAG"), in l->ledger_id. */
void ddb_load_set_id(struct ddb_load *l, const struct load_object *o);
/* The object's identity for the ledger item, and its columns (copied). */
void ddb_load_set_object(struct ddb_load *l, const struct load_object *o,
                         const struct strlist *columns);

/* A row the parser rejected (the sink's reject()). */
void ddb_load_reject(struct ddb_load *l, const struct row_reject *r);
/* A row the sink cannot take (re): 0 when it is rejected (skip_row within max_errors,
 * logged), else -1 with e = re (its reason naming max_errors when that was passed). */
int ddb_load_row_error(struct ddb_load *l, const struct route_conf *route, const struct ierr *re,
                       struct ierr *e);

/* The ledger item of the load; rec's strings point into l and route until either changes. */
void ddb_load_ledger_rec(const struct ddb_load *l, const struct route_conf *route,
                         const char *target, uint64_t rows, const struct load_stats *st,
                         struct ddb_ledger_rec *rec);

#endif
