/*
 * transform_stage.c: see transform_stage.h.
 *
 * The rows a script produces are copied into the stage's own batch (an arena of
 * NUL-terminated values, as rowbatch keeps them) and handed downstream after each input
 * batch, or sooner when one-to-many rows fill it. A failed input row takes back what it
 * had already produced, so a skipped row leaves nothing behind.
 */
#include "transform/transform_stage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/rowbatch.h"
#include "transform/transform.h"
#include "base/utf8.h"
#include "base/util.h"

#define CACHE_SLOTS     16
#define OUT_FLUSH_ROWS  1000
#define OUT_FLUSH_BYTES (1u << 20)

struct cache_slot {
    const struct route_conf *route; /* identity within one configuration */
    struct transform *t;
};

struct transform_cache {
    uint64_t generation;
    struct cache_slot slots[CACHE_SLOTS];
};

struct transform_stage {
    struct transform_cache *cache;
    struct cache_slot *slot;
    const struct route_conf *rc;
    struct transform_ctx ctx;
    struct csvstream_cb down;
    const struct strlist *in;  /* the parser's columns */
    const struct strlist *out; /* the columns announced downstream */
    bool begun;                /* transform_begin ran */
    uint64_t last_line;
    uint64_t rows, rejected;
    const struct batch *batch;    /* the input batch being transformed */
    size_t cur_input;             /* its row whose output is being received */
    size_t mark_rows, mark_bytes; /* where that row's output starts */
    /* the batch of output rows */
    struct buf arena;
    size_t *off; /* nrows * ncols; SIZE_MAX = NULL */
    size_t *len;
    uint64_t *lines;
    size_t nrows, cap, ncols;
    struct field *fields;
    struct row *rowv;
};

struct transform_cache *transform_cache_new(void)
{
    return xcalloc(1, sizeof(struct transform_cache));
}

static void slot_clear(struct cache_slot *s)
{
    transform_free(s->t);
    s->t = NULL;
    s->route = NULL;
}

void transform_cache_free(struct transform_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        slot_clear(&c->slots[i]);
    free(c);
}

/* The route's Lua state for this configuration, made when missing. */
static struct cache_slot *cache_get(struct transform_cache *c, const struct config *cfg,
                                    const struct route_conf *rc, struct ierr *e)
{
    const struct transform_conf *tc = &rc->transform;
    struct transform_limits lim = {(size_t)tc->memory, (uint64_t)tc->timeout_ms * 1000};
    struct cache_slot *slot = NULL;
    char err[512];

    if (c->generation != cfg->generation) {
        for (size_t i = 0; i < CACHE_SLOTS; i++)
            slot_clear(&c->slots[i]);
        c->generation = cfg->generation;
    }
    for (size_t i = 0; i < CACHE_SLOTS && !slot; i++)
        if (c->slots[i].route == rc)
            slot = &c->slots[i];
    for (size_t i = 0; i < CACHE_SLOTS && !slot; i++)
        if (!c->slots[i].route)
            slot = &c->slots[i];
    if (!slot) {
        slot = &c->slots[0]; /* more routes with scripts than slots: recycle the first */
        slot_clear(slot);
    }
    if (slot->t)
        return slot;
    slot->t = transform_new(tc->file, tc->source, tc->source_len, &lim, err, sizeof err);
    if (!slot->t) {
        ierr_set(e, IERR_CONFIG, "transform %s: %s", tc->file, err);
        slot->route = NULL;
        return NULL;
    }
    slot->route = rc;
    return slot;
}

/* ---- the output batch ---- */

static void out_reserve(struct transform_stage *s)
{
    if (s->nrows < s->cap)
        return;
    s->cap = s->cap ? s->cap * 2 : OUT_FLUSH_ROWS;
    s->off = xrealloc(s->off, s->cap * s->ncols * sizeof *s->off);
    s->len = xrealloc(s->len, s->cap * s->ncols * sizeof *s->len);
    s->lines = xrealloc(s->lines, s->cap * sizeof *s->lines);
    s->fields = xrealloc(s->fields, s->cap * s->ncols * sizeof *s->fields);
    s->rowv = xrealloc(s->rowv, s->cap * sizeof *s->rowv);
}

static int emit(void *arg, size_t input, const struct field *f)
{
    struct transform_stage *s = arg;
    size_t base;

    if (input != s->cur_input) { /* the first row of this input row: where to take back to */
        s->cur_input = input;
        s->mark_rows = s->nrows;
        s->mark_bytes = s->arena.len;
    }
    out_reserve(s);
    base = s->nrows * s->ncols;
    for (size_t j = 0; j < s->ncols; j++) {
        s->len[base + j] = f[j].len;
        if (!f[j].ptr) {
            s->off[base + j] = SIZE_MAX;
            continue;
        }
        s->off[base + j] = s->arena.len;
        buf_append(&s->arena, f[j].ptr, f[j].len);
        buf_putc(&s->arena, '\0');
    }
    s->lines[s->nrows++] = input == TRANSFORM_FINISH ? s->last_line : s->batch->rows[input].line;
    return s->nrows >= OUT_FLUSH_ROWS || s->arena.len >= OUT_FLUSH_BYTES;
}

static int out_flush(struct transform_stage *s, struct ierr *e)
{
    struct batch b;
    int rc;

    if (s->nrows == 0)
        return 0;
    for (size_t i = 0; i < s->nrows * s->ncols; i++) {
        s->fields[i].ptr = s->off[i] == SIZE_MAX ? NULL : s->arena.data + s->off[i];
        s->fields[i].len = s->len[i];
    }
    for (size_t r = 0; r < s->nrows; r++) {
        s->rowv[r].line = s->lines[r];
        s->rowv[r].fields = s->fields + r * s->ncols;
    }
    b.rows = s->rowv;
    b.nrows = s->nrows;
    s->rows += s->nrows;
    rc = s->down.batch(s->down.arg, &b, e);
    s->nrows = 0;
    buf_reset(&s->arena); /* only now: it writes a NUL at the start of the values */
    return rc;
}

/* ---- errors ---- */

/* The input row as "a,b,c" for the report and the reject record. */
static void row_sample(const struct field *f, size_t n, char *out, size_t outsz)
{
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < n && b.len < outsz; i++) {
        if (i)
            buf_putc(&b, ',');
        if (f[i].ptr)
            buf_append(&b, f[i].ptr, f[i].len);
    }
    utf8_sample(out, outsz, b.data, b.len);
    buf_free(&b);
}

static unsigned input_column(const struct strlist *in, const char *name)
{
    for (size_t i = 0; name && i < in->n; i++)
        if (strcmp(in->v[i], name) == 0)
            return (unsigned)i + 1;
    return 0;
}

/* A script error on one row: rejected under skip_row (0), else the stream fails (-1). */
static int row_error(struct transform_stage *s, const struct strlist *in, const struct row *r,
                     const struct transform_error *te, struct ierr *e)
{
    struct csvstream_stats st = {.rejected = s->rejected};
    char reason[sizeof e->reason], sample[sizeof e->sample];
    char why[sizeof te->reason + 16];
    unsigned col = input_column(in, te->column);

    snprintf(why, sizeof why, "transform %s", te->reason);
    row_sample(r->fields, in->n, sample, sizeof sample);
    if (rowbatch_bad_row_fails(s->rc, &st, why, reason, sizeof reason)) {
        ierr_set(e, IERR_PERMANENT, "%s", reason);
        e->line = r->line;
        e->column = col;
        if (te->column)
            snprintf(e->column_name, sizeof e->column_name, "%s", te->column);
        snprintf(e->sample, sizeof e->sample, "%s", sample);
        return -1;
    }
    s->rejected++;
    if (s->down.reject) {
        struct row_reject rj = {r->line, col, why, sample};

        return s->down.reject(s->down.arg, &rj, e);
    }
    return 0;
}

/* An error with no row to skip (top level, finish): the object fails. */
static void object_error(const struct transform_error *te, uint64_t line, struct ierr *e)
{
    ierr_set(e, IERR_PERMANENT, "transform %s", te->reason);
    e->line = line;
    if (te->column)
        snprintf(e->column_name, sizeof e->column_name, "%s", te->column);
}

/* ---- the parser's callbacks ---- */

static int on_columns(void *arg, const struct strlist *cols, struct ierr *e)
{
    struct transform_stage *s = arg;
    struct transform_error te;

    s->in = cols;
    s->out = s->rc->transform.output_columns.n ? &s->rc->transform.output_columns : cols;
    s->ncols = s->out->n;
    if (transform_begin(s->slot->t, &s->ctx, cols, s->out, &te) < 0) {
        object_error(&te, 0, e);
        return -1;
    }
    s->begun = true;
    return s->down.columns ? s->down.columns(s->down.arg, s->out, e) : 0;
}

static int on_batch(void *arg, const struct batch *b, struct ierr *e)
{
    struct transform_stage *s = arg;
    struct transform_error te;
    size_t next = 0;

    s->batch = b;
    s->last_line = b->rows[b->nrows - 1].line;
    while (next < b->nrows) {
        s->cur_input = SIZE_MAX;
        if (transform_rows(s->slot->t, b->rows, b->nrows, &next, emit, s, &te) < 0) {
            if (s->cur_input == next) { /* what the failed row had produced goes with it */
                s->nrows = s->mark_rows;
                s->arena.len = s->mark_bytes;
                if (s->arena.data)
                    s->arena.data[s->arena.len] = '\0';
            }
            if (row_error(s, s->in, &b->rows[next], &te, e) < 0)
                return -1;
            next++;
        }
        if (out_flush(s, e) < 0) /* the batch is full, or the input's rows are done */
            return -1;
    }
    return 0;
}

static int on_reject(void *arg, const struct row_reject *r, struct ierr *e)
{
    struct transform_stage *s = arg;

    s->rejected++;
    return s->down.reject ? s->down.reject(s->down.arg, r, e) : 0;
}

int transform_stage_open(struct transform_cache *c, const struct config *cfg,
                         const struct route_conf *rc, const struct transform_object *obj,
                         const struct csvstream_cb *down, struct csvstream_cb *up,
                         struct transform_stage **out, struct ierr *e)
{
    struct transform_stage *s;
    struct cache_slot *slot;

    *up = *down;
    *out = NULL;
    if (!rc->transform.source)
        return 0;
    slot = cache_get(c, cfg, rc, e);
    if (!slot)
        return -1;
    s = xcalloc(1, sizeof *s);
    s->cache = c;
    s->slot = slot;
    s->rc = rc;
    s->down = *down;
    s->ctx = (struct transform_ctx){obj->bucket, obj->key,           obj->etag,        rc->name,
                                    obj->size,   obj->event_time_ms, now_realtime_ms()};
    buf_init(&s->arena);
    *up = (struct csvstream_cb){on_columns, on_batch, on_reject, s};
    *out = s;
    return 0;
}

int transform_stage_finish(struct transform_stage *s, struct ierr *e)
{
    struct transform_error te;

    if (!s || !s->begun)
        return 0;
    if (transform_finish(s->slot->t, s->last_line, emit, s, &te) < 0) {
        object_error(&te, s->last_line, e);
        return -1;
    }
    return out_flush(s, e);
}

void transform_stage_stats(const struct transform_stage *s, struct load_stats *st)
{
    if (!s)
        return;
    st->rows = s->rows;
    st->rejected = s->rejected;
}

void transform_stage_close(struct transform_stage *s)
{
    if (!s)
        return;
    if (s->begun)
        transform_end(s->slot->t);
    if (transform_spent(s->slot->t))
        slot_clear(s->slot);
    buf_free(&s->arena);
    free(s->off);
    free(s->len);
    free(s->lines);
    free(s->fields);
    free(s->rowv);
    free(s);
}
