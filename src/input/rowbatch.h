/*
 * rowbatch.h: the batch of rows csvstream and jsonstream hand to a sink, and the
 * bookkeeping both do around it: sizing it once the columns are known (with the
 * columns callback), appending a row, handing a full batch out, and passing a bad
 * row to the reject callback or failing under the route's on_error/max_errors.
 *
 * Field values live in one arena per batch, each NUL-terminated. While the arena may
 * still grow a row is recorded as arena offsets (ROWBATCH_NO_FIELD for NULL); the
 * offsets become pointers only when the batch is handed out, so a batch is valid
 * during the batch callback and no longer. Parsing, positions and error texts of the
 * formats stay in the streams.
 *
 * A struct rowbatch is embedded in one stream and used by its worker thread only.
 */
#ifndef INGESTD_ROWBATCH_H
#define INGESTD_ROWBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/ierr.h"
#include "base/rows.h"
#include "base/util.h"
#include "input/csvcheck.h"
#include "input/csvstream.h"

#define ROWBATCH_NO_FIELD SIZE_MAX
/* Fields a batch holds at most: wide rows make batches of fewer rows, so that the batch
 * arrays stay near 3 MiB whatever the column count. */
#define ROWBATCH_MAX_FIELDS (128u * 1024)
/* An arena that grew past this for a big row is freed when its batch is handed out. */
#define ROWBATCH_ARENA_KEEP (4u << 20)

struct rowbatch {
    struct buf arena;     /* the batch's field values, and those of the record being read */
    struct field *fields; /* max_rows * ncols */
    size_t *boff;         /* arena offset of each field, ROWBATCH_NO_FIELD for NULL */
    struct row *rows;
    size_t nrows;
    size_t max_rows; /* rows a batch holds: the stream's batch_rows, fewer for wide rows */
    size_t ncols;
};

void rowbatch_init(struct rowbatch *b);
void rowbatch_free(struct rowbatch *b);

/* The columns are known: map the validate.* rules to them, size the batch for max_rows
 * rows of cols->n fields (fewer rows past ROWBATCH_MAX_FIELDS fields) and call
 * cb->columns. -1 with e set (the rules' or the callback's error, or IERR_TRANSIENT when
 * the batch arrays cannot be allocated). Once per stream. */
int rowbatch_announce(struct rowbatch *b, struct csvcheck *check, const struct route_conf *rc,
                      const struct strlist *cols, size_t max_rows, const struct csvstream_cb *cb,
                      struct ierr *e);

/* Append a row whose ncols fields are at off/len in the arena. The caller flushes when
 * the batch is full (b->max_rows rows); there must be room. */
void rowbatch_add(struct rowbatch *b, const size_t *off, const size_t *len, uint64_t line);

/* Hand the rows out (nothing when there are none) and empty the batch, freeing an arena
 * grown past ROWBATCH_ARENA_KEEP; st->rows counts them. -1 with e set when the callback
 * failed (the batch is then kept). */
int rowbatch_flush(struct rowbatch *b, const struct csvstream_cb *cb, struct csvstream_stats *st,
                   struct ierr *e);

/* Whether a bad row fails the stream: on_error = abort, or max_errors rows already
 * rejected. If so, reason (of reasonsz bytes) is what the stream fails with. */
bool rowbatch_bad_row_fails(const struct route_conf *rc, const struct csvstream_stats *st,
                            const char *row_reason, char *reason, size_t reasonsz);

/* Pass a skipped row to cb->reject (when set); st->rejected counts it. -1 with e set
 * when the callback failed. */
int rowbatch_reject(const struct csvstream_cb *cb, struct csvstream_stats *st, uint64_t line,
                    unsigned col, const char *reason, const char *raw, struct ierr *e);

#endif
