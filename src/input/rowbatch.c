/*
 * rowbatch.c: see rowbatch.h. The batch arrays are sized once, at announce, from the
 * stream's batch_rows and the column count: later batches reuse them, so memory does
 * not grow with the object. No I/O, no logging.
 */
#include "input/rowbatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rowbatch_init(struct rowbatch *b)
{
    memset(b, 0, sizeof(*b));
    buf_init(&b->arena);
}

void rowbatch_free(struct rowbatch *b)
{
    buf_free(&b->arena);
    free(b->fields);
    free(b->boff);
    free(b->rows);
    memset(b, 0, sizeof(*b));
}

int rowbatch_announce(struct rowbatch *b, struct csvcheck *check, const struct route_conf *rc,
                      const struct strlist *cols, size_t max_rows, const struct csvstream_cb *cb,
                      struct ierr *e)
{
    size_t wide = cols->n ? ROWBATCH_MAX_FIELDS / cols->n : max_rows;
    size_t nf;

    if (csvcheck_resolve(check, rc, cols, e) < 0)
        return -1;
    b->ncols = cols->n;
    b->max_rows = max_rows < wide ? max_rows : wide > 0 ? wide : 1;
    nf = b->max_rows * b->ncols + 1;
    /* sized by the object's column count: a failed allocation fails the load only */
    b->fields = calloc(nf, sizeof(*b->fields));
    b->boff = calloc(nf, sizeof(*b->boff));
    b->rows = calloc(b->max_rows, sizeof(*b->rows));
    if (!b->fields || !b->boff || !b->rows) {
        ierr_set(e, IERR_TRANSIENT, "out of memory: a batch of %zu rows of %zu columns",
                 b->max_rows, b->ncols);
        return -1;
    }
    if (cb->columns && cb->columns(cb->arg, cols, e) < 0)
        return -1;
    return 0;
}

void rowbatch_add(struct rowbatch *b, const size_t *off, const size_t *len, uint64_t line)
{
    size_t base = b->nrows * b->ncols;

    for (size_t i = 0; i < b->ncols; i++) {
        b->boff[base + i] = off[i];
        b->fields[base + i].len = len[i];
    }
    b->rows[b->nrows].line = line;
    b->nrows++;
}

int rowbatch_flush(struct rowbatch *b, const struct csvstream_cb *cb, struct csvstream_stats *st,
                   struct ierr *e)
{
    struct batch sb;
    size_t nf = b->nrows * b->ncols;

    if (b->nrows == 0)
        return 0;
    for (size_t i = 0; i < nf; i++)
        b->fields[i].ptr = b->boff[i] == ROWBATCH_NO_FIELD ? NULL : b->arena.data + b->boff[i];
    for (size_t r = 0; r < b->nrows; r++)
        b->rows[r].fields = b->fields + r * b->ncols;
    sb.rows = b->rows;
    sb.nrows = b->nrows;
    st->rows += b->nrows;
    if (cb->batch(cb->arg, &sb, e) < 0)
        return -1;
    b->nrows = 0;
    buf_shrink(&b->arena, ROWBATCH_ARENA_KEEP);
    return 0;
}

bool rowbatch_bad_row_fails(const struct route_conf *rc, const struct csvstream_stats *st,
                            const char *row_reason, char *reason, size_t reasonsz)
{
    if (rc->on_error != ON_ERROR_SKIP_ROW) {
        snprintf(reason, reasonsz, "%s", row_reason);
        return true;
    }
    if ((int64_t)st->rejected >= rc->max_errors) {
        snprintf(reason, reasonsz, "more than max_errors = %lld bad rows; the last: %s",
                 (long long)rc->max_errors, row_reason);
        return true;
    }
    return false;
}

int rowbatch_reject(const struct csvstream_cb *cb, struct csvstream_stats *st, uint64_t line,
                    unsigned col, const char *reason, const char *raw, struct ierr *e)
{
    struct row_reject r;

    r.line = line;
    r.column = col;
    r.reason = reason;
    r.raw = raw;
    st->rejected++;
    if (cb->reject && cb->reject(cb->arg, &r, e) < 0)
        return -1;
    return 0;
}
