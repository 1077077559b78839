/*
 * ddb_update.h: DynamoDB `mode = update`: rows become UpdateItem operations on the
 * table's key, written exactly once as TransactWriteItems.
 *
 * Each row is first encoded as an item (ddb_item.h: types, key checks, 400 KB); its
 * key attributes name the item and every other value is one action, by the route's
 * `update.COLUMN` (default set):
 *   set            SET col = value            (a later row of the key wins)
 *   add            ADD col value              (a number: `types = col:N`)
 *   append         SET col = list_append(if_not_exists(col, []), [value])
 *   set_if_absent  SET col = if_not_exists(col, value)   (the first row wins)
 * A NULL value (the route's `null` strings) takes no action, except set and
 * set_if_absent with null_as = NULL, which write a NULL.
 *
 * Rows are gathered in file order into batches of at most DDB_UPDATE_BATCH_ITEMS
 * distinct keys and DDB_UPDATE_BATCH_BYTES of values: a row whose key would be the
 * 100th, or whose values would pass the byte budget, starts the next batch. The cut
 * depends on nothing but the rows, so a retried object cuts the same batches. Rows
 * of one key inside a batch are merged into one update (DynamoDB refuses two
 * operations on one item in a transaction): add sums the numbers exactly as decimals,
 * append concatenates the lists, set keeps the last, set_if_absent the first.
 *
 * A batch is one TransactWriteItems: its updates and a marker item in the ledger
 * table, id "<ledger id>#<batch number>" (from 1), written with attribute_not_exists
 * (id) and an `expires_at` (epoch seconds, DDB_UPDATE_MARKER_TTL_S ahead) for the
 * table's TTL. The answer's CancellationReasons are told apart:
 *   the marker's ConditionalCheckFailed   the batch was applied by an earlier attempt:
 *                                         skipped, the load goes on;
 *   TransactionConflict, throttling, 5xx  sent again after a backoff, then transient;
 *   anything else on an update            permanent, with the line of that item's
 *                                         first row (ValidationException: ADD on a
 *                                         string, an item past 400 KB, ...).
 * The ledger item is written after the last batch, as in the put modes.
 *
 * One struct ddb_update belongs to one sink and its worker thread.
 */
#ifndef INGESTD_DDB_UPDATE_H
#define INGESTD_DDB_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/ddb_http.h"
#include "base/config.h"
#include "base/ierr.h"
#include "base/util.h"
#include "sinks/dynamodb/ddb_item.h"

#define DDB_UPDATE_BATCH_ITEMS  99 /* TransactWriteItems takes 100 actions: one is the marker */
#define DDB_UPDATE_BATCH_BYTES  ((size_t)3 << 20) /* of values; the request cap is 4 MB */
#define DDB_UPDATE_MARKER_TTL_S (30 * 86400)      /* past SQS's longest retention, 14 days */
#define DDB_UPDATE_ATTEMPTS     8

struct ddb_update;

struct ddb_update_stats {
    uint64_t batches_applied; /* sent and applied now */
    uint64_t batches_skipped; /* found applied by an earlier attempt */
    uint64_t updates;         /* item updates sent (after merging) */
    uint64_t retries;         /* transactions sent again */
};

struct ddb_update *ddb_update_new(struct ddb_http *h);
void ddb_update_free(struct ddb_update *u); /* NULL-safe */

/* A load into table (key schema ks) under route, its markers in ledger_table named
 * after ledger_id. The strings and ks must stay valid until ddb_update_reset(). */
void ddb_update_begin(struct ddb_update *u, const char *table, const struct ddb_key_schema *ks,
                      const struct route_conf *route, const char *ledger_table,
                      const char *ledger_id);
#define DDB_UPDATE_ROW_ERROR 1
/* One row's item (ddb_item_encode's object and key) from line. Sends the batch it
 * closes first. 0; DDB_UPDATE_ROW_ERROR with e for a row error (permanent, positioned:
 * the row is left out, the route's on_error decides); -1 with e when a batch failed. */
int ddb_update_add(struct ddb_update *u, const char *item, size_t n, const char *key, size_t keylen,
                   uint64_t line, struct ierr *e);
/* Sends the last batch. */
int ddb_update_flush(struct ddb_update *u, struct ierr *e);
void ddb_update_get_stats(const struct ddb_update *u, struct ddb_update_stats *st);
void ddb_update_reset(struct ddb_update *u); /* forget the load */

/* ---- pure building blocks, exposed for the unit tests ---- */

/* a + b of two DynamoDB numbers, exactly (decimal digits, no float), into out. -1 with
 * *why when an input is not a number or the sum has more than 38 significant digits. */
int ddb_decimal_add(const char *a, const char *b, struct buf *out, const char **why);

enum ddb_txn_outcome {
    DDB_TXN_APPLIED_BEFORE, /* the marker's ConditionalCheckFailed */
    DDB_TXN_RETRY,          /* conflict, throttling, a server error */
    DDB_TXN_PERMANENT,      /* *bad is the action it names (or nupdates: unknown) */
};
/* Reads a TransactionCanceledException body for a batch of nupdates updates and the
 * marker after them; code gets the deciding reason's code. */
enum ddb_txn_outcome ddb_txn_classify(const char *body, size_t len, size_t nupdates, size_t *bad,
                                      char *code, size_t codesz);

#endif
