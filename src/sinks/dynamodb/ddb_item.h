/*
 * ddb_item.h: one row of an object as one DynamoDB item, in the wire format of the
 * AWS JSON protocol ({"col": {"S": "..."}, "n": {"N": "12.5"}, ...}).
 *
 * A layout is resolved once per load from the object's columns, the route's
 * `types = col:N, col:BOOL, col:JSON` (default S), `null_as` and the table's key
 * schema (from DescribeTable). ddb_item_encode() then turns each row into an item:
 *   S     the field as a string (any UTF-8, the empty string included);
 *   N     the field, validated as a DynamoDB number (at most 38 significant digits,
 *         magnitude 1E-130 .. 9.99..E+125, no spaces, no NaN/Infinity) and sent as the
 *         text written: numbers never turn into strings;
 *   BOOL  true/false/1/0 (true/false in any case);
 *   JSON  the field parsed as JSON: object -> M, array -> L, string -> S,
 *         number -> N (text kept, validated as above), true/false -> BOOL,
 *         null -> NULL; nesting up to 32 levels, duplicate object keys refused.
 * A NULL field (one of the route's `null` strings) is left out of the item, or
 * written as {"NULL": true} with `null_as = NULL`. Key attributes take the table's
 * key type (S or N, whatever `types` says) and may be neither NULL nor empty.
 * Every failure of a row is a row error: IERR_PERMANENT with the row's line, the
 * 1-based column, its name and the offending value as sample. Items over 400 KB
 * (counted as DynamoDB counts: names + values, numbers by significant digits) are
 * row errors too; a row whose values hold more than DDB_MAX_ROW_TEXT bytes is one
 * before it is encoded, so a row's size (up to max_row_bytes) never sizes the item
 * buffers (only whitespace in JSON values could shrink that much text to 400 KB).
 *
 * Pure: no I/O, no logging, no global state; any thread.
 */
#ifndef INGESTD_DDB_ITEM_H
#define INGESTD_DDB_ITEM_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "base/ierr.h"
#include "base/rows.h"
#include "base/util.h"

#define DDB_MAX_ITEM_BYTES ((size_t)400 * 1024)
#define DDB_MAX_ROW_TEXT   (4 * DDB_MAX_ITEM_BYTES)
#define DDB_MAX_DEPTH      32

enum ddb_key_type { DDB_KEY_S, DDB_KEY_N, DDB_KEY_B };

/* A table's primary key: the partition (hash) key, then the sort (range) key if any. */
struct ddb_key_schema {
    char *name[2]; /* owned */
    enum ddb_key_type type[2];
    size_t n; /* 1 or 2 */
};

void ddb_key_schema_free(struct ddb_key_schema *ks); /* leaves it zeroed */

struct ddb_layout {
    size_t ncols;
    char **qnames;         /* each column name as a JSON string, quotes included (owned) */
    size_t *name_bytes;    /* UTF-8 length of each name, for the item size */
    enum attr_type *types; /* per column; key columns get S or N from the table */
    int key_col[2];        /* column of each key attribute */
    enum ddb_key_type key_type[2];
    size_t nkeys;
    bool null_as_null;
};

/*
 * Resolves the layout. Fails with IERR_PERMANENT when a key attribute of the table is
 * not a column of the object, IERR_CONFIG when `types` gives a key column a type its
 * key cannot have (BOOL, JSON, or N for an S key and the reverse) or the key is binary
 * (B: not loadable from text). table is for messages only. On failure l is zeroed.
 */
int ddb_layout_init(struct ddb_layout *l, const struct strlist *columns,
                    const struct route_conf *rc, const struct ddb_key_schema *ks, const char *table,
                    struct ierr *e);
void ddb_layout_free(struct ddb_layout *l);

/*
 * Appends the row's item (a JSON object) to out and its key to key: a byte string
 * equal for two rows exactly when their key attributes are equal (what the
 * BatchWriteItem duplicate check compares). *size is the item size DynamoDB counts.
 * 0, or -1 with e set for a row error; out and key are then left as they were.
 */
int ddb_item_encode(const struct ddb_layout *l, const struct row *row, struct buf *out,
                    struct buf *key, size_t *size, struct ierr *e);

/* The key of one key attribute value in the format ddb_item_encode() uses, from a
 * decoded value (for items that come back in UnprocessedItems). */
void ddb_key_append(struct buf *key, enum ddb_key_type t, const char *v, size_t n);

/* Building blocks, exposed for the unit tests. */
/* 0 when p[0..n) is a valid DynamoDB number, else -1 with *why set (static text).
 * *size (may be NULL) is the number's size as DynamoDB counts it. */
int ddb_number_check(const char *p, size_t n, size_t *size, const char **why);
/* Converts the JSON text p[0..n) to one DynamoDB attribute value appended to out
 * ({"M": ...}, {"L": ...}, {"S": ...}, {"N": ...}, {"BOOL": ...}, {"NULL": true}).
 * *size is its size as DynamoDB counts it. 0, or -1 with *why set (out unchanged). */
int ddb_json_to_attr(const char *p, size_t n, struct buf *out, size_t *size, const char **why);
/* Appends p[0..n) (UTF-8) as a JSON string with its quotes. */
void ddb_json_string(struct buf *out, const char *p, size_t n);

#endif
