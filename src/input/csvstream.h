/*
 * csvstream.h: incremental CSV/TSV parsing into row batches for a sink.
 *
 * A csvstream is fed the (decompressed) object in chunks of any size, as they
 * arrive, and calls back with batches of rows whose fields point into memory the
 * stream owns and reuses: a batch is valid only during the callback. Memory stays
 * constant whatever the object size: one batch (CSVSTREAM_BATCH_ROWS rows, fewer
 * for wide rows (ROWBATCH_MAX_FIELDS fields), or about CSVSTREAM_BATCH_BYTES of
 * field data, whichever comes first), plus the record being parsed, whose fields
 * may not exceed the route's max_row_bytes together (CSVSTREAM_MAX_ROW when 0)
 * nor CSVSTREAM_MAX_FIELD bytes each.
 *
 * Dialect, from the route: delimiter, quote (RFC 4180 quoting with doubled
 * quotes; strict: a quote inside an unquoted field or a character after a
 * closing quote is an error), header or explicit columns, null strings,
 * skip_lines. Fields are kept byte for byte: no trimming. A UTF-8 BOM at the
 * start of the object is dropped; CRLF, LF and lone CR end records; a missing
 * final newline is fine (and a final newline is no blank line). format = tsv
 * means the route's delimiter (tab by default) and no quoting at all: quote
 * characters are data and a field cannot hold a tab or a newline (no backslash
 * escapes either).
 *
 * Blank lines: in a file of one column a blank line is a record of one empty
 * field (RFC 4180; NULL under the default null), as psql's \copy and LOAD DATA
 * read it. In a wider file it cannot be a row: it is skipped and counted
 * (stats.blank_lines), as are blank lines before the columns are known (before
 * the header; before the first record when the route has neither header nor
 * columns).
 *
 * Header and columns: with header = true and the route's columns, the header
 * must name exactly those columns, in any order; the columns announced are then
 * the header's, so that sinks map fields by name. A header that names another
 * column, or lacks one, fails the stream naming the first unexpected (and a
 * missing) name. Renaming by position is header = false, skip_lines = 1 and
 * columns.
 *
 * NULL: an unquoted field equal to one of the route's null strings is NULL; an
 * unquoted empty field is NULL when the list holds "" (the default). A quoted
 * empty field ("") is always the empty string. libcsv does not say whether a
 * non-empty field was quoted, so a quoted "NULL" is NULL when "NULL" is listed.
 *
 * Lines: every row carries the 1-based physical line of the object on which its
 * record starts (BOM-less; skipped lines, the header and blank lines count).
 * Columns in errors are 1-based field numbers. Fields must be valid UTF-8; an
 * object containing a NUL byte is refused as a whole (not text, or UTF-16).
 *
 * Errors: a bad row (wrong field count, invalid UTF-8, a validate.* rule failed)
 * fails the stream under on_error = abort; under skip_row it is passed to the
 * reject callback and skipped, and the stream fails once more than max_errors
 * rows were rejected. Malformed quoting, an unterminated quoted field, a bad
 * header, a NUL byte, an oversized field and an oversized row always fail the
 * stream: the parser cannot find the next record reliably after them. All are
 * IERR_PERMANENT unless a callback returns its own error, which is passed through
 * unchanged, or memory for the record cannot be had (IERR_TRANSIENT: the load
 * fails, the process goes on).
 *
 * Not thread-safe: one stream belongs to one worker. The route must outlive it.
 */
#ifndef INGESTD_CSVSTREAM_H
#define INGESTD_CSVSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/ierr.h"
#include "base/rows.h"

#define CSVSTREAM_BATCH_ROWS  1000
#define CSVSTREAM_BATCH_BYTES (1u << 20)
#define CSVSTREAM_MAX_FIELD   (16u << 20) /* bytes, after unquoting */
#define CSVSTREAM_MAX_ROW     (64u << 20) /* max_row_bytes default: a record's field bytes */
#define CSVSTREAM_MAX_COLUMNS 4096        /* fields a record may have */

struct csvstream_cb {
    /* Called exactly once, before the first batch (from csvstream_finish at the
     * latest), with the object's columns in field order: the header's names (which
     * must be the route's `columns`, in any order, when both are given), the
     * route's `columns` without a header, or "column1".."columnN" after the first
     * record when the route gives neither.
     * Not called at all for an object without records when the route has
     * header = false and no columns: such an object simply has no rows. */
    int (*columns)(void *arg, const struct strlist *columns, struct ierr *e);
    /* A batch of at least one row; every row has columns->n fields. */
    int (*batch)(void *arg, const struct batch *b, struct ierr *e);
    /* A row skipped under on_error = skip_row. May be NULL (rejects are then only counted). */
    int (*reject)(void *arg, const struct row_reject *r, struct ierr *e);
    void *arg;
};

struct csvstream_limits {
    size_t batch_rows;
    size_t batch_bytes;
    size_t max_field;
    size_t max_row; /* a record's bytes: its fields after unquoting, plus one per field */
};

struct csvstream_stats {
    uint64_t bytes;       /* bytes fed */
    uint64_t rows;        /* rows delivered in batches */
    uint64_t rejected;    /* rows passed to the reject callback */
    uint64_t lines;       /* physical lines seen so far */
    uint64_t blank_lines; /* blank lines skipped (not records: see above) */
};

struct csvstream;

/* NULL with e set (IERR_CONFIG) when the route's dialect is unusable (e.g. json format,
 * delimiter equal to quote, a newline as delimiter). cb is copied. */
struct csvstream *csvstream_new(const struct route_conf *rc, const struct csvstream_cb *cb,
                                struct ierr *e);
/* Smaller batches or field limits, for tests and sinks with their own batch caps.
 * Zero members keep their current value. Call before the first feed. */
void csvstream_set_limits(struct csvstream *s, const struct csvstream_limits *l);
/* 0, or -1 with e set; after -1 the stream only fails again. */
int csvstream_feed(struct csvstream *s, const void *data, size_t len, struct ierr *e);
/* End of object: flush the last record and batch. 0 or -1 with e set. */
int csvstream_finish(struct csvstream *s, struct ierr *e);
/* The columns once known, else NULL. Owned by the stream. */
const struct strlist *csvstream_columns(const struct csvstream *s);
void csvstream_get_stats(const struct csvstream *s, struct csvstream_stats *st);
void csvstream_free(struct csvstream *s); /* NULL-safe */

#endif
