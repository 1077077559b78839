/*
 * ddb_load.c: see ddb_load.h. Rejected rows beyond the stored ones are only counted,
 * so that one ledger item stays well under DynamoDB's 400 KB item limit whatever the
 * object.
 */
#include "sinks/dynamodb/ddb_load.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void ddb_load_init(struct ddb_load *l)
{
    memset(l, 0, sizeof(*l));
    buf_init(&l->rejects);
}

void ddb_load_clear(struct ddb_load *l)
{
    strlist_free(&l->cols);
    free(l->ledger_id);
    free(l->bucket);
    free(l->key);
    free(l->etag);
    free(l->version_id);
    free(l->sequencer);
    l->ledger_id = l->bucket = l->key = l->etag = l->version_id = l->sequencer = NULL;
    buf_reset(&l->rejects);
    l->nstored = 0;
    l->not_stored = 0;
    l->parse_rejects = l->row_rejects = 0;
}

void ddb_load_free(struct ddb_load *l)
{
    ddb_load_clear(l);
    buf_free(&l->rejects);
}

void ddb_load_set_id(struct ddb_load *l, const struct load_object *o)
{
    struct buf id;

    buf_init(&id);
    ddb_ledger_id(&id, o->bucket, o->key, o->etag);
    free(l->ledger_id);
    l->ledger_id = buf_steal(&id);
}

void ddb_load_set_object(struct ddb_load *l, const struct load_object *o,
                         const struct strlist *columns)
{
    for (size_t i = 0; i < columns->n; i++)
        strlist_push(&l->cols, columns->v[i]);
    l->bucket = xstrdup(o->bucket);
    l->key = xstrdup(o->key);
    l->etag = xstrdup(o->etag ? o->etag : "");
    l->version_id = dup_or_null(o->version_id);
    l->sequencer = dup_or_null(o->sequencer);
}

static void store_reject(struct ddb_load *l, const struct row_reject *r)
{
    const char *col = r->column && r->column <= l->cols.n ? l->cols.v[r->column - 1] : NULL;

    if (l->nstored >= DDB_LOAD_REJECTS_STORED) {
        l->not_stored++;
        return;
    }
    ddb_reject_append(&l->rejects, r, col, DDB_LOAD_REJECT_RAW_MAX);
    l->nstored++;
}

void ddb_load_reject(struct ddb_load *l, const struct row_reject *r)
{
    l->parse_rejects++;
    store_reject(l, r);
}

int ddb_load_row_error(struct ddb_load *l, const struct route_conf *route, const struct ierr *re,
                       struct ierr *e)
{
    bool skip = route && route->on_error == ON_ERROR_SKIP_ROW;
    uint64_t total = l->parse_rejects + l->row_rejects + 1;

    if (!skip) {
        *e = *re;
        return -1;
    }
    if ((int64_t)total > route->max_errors) {
        *e = *re;
        snprintf(e->reason, sizeof e->reason,
                 "more than max_errors = %" PRId64 " rejected rows; the last: %.400s",
                 route->max_errors, re->reason);
        return -1;
    }
    struct row_reject r = {re->line, re->column, re->reason, re->sample};
    char why[sizeof re->reason + 64];
    ierr_format_position(why, sizeof why, re->line, re->column, NULL, re->reason);
    log_warn("row skipped: %s", why);
    l->row_rejects++;
    store_reject(l, &r);
    return 0;
}

void ddb_load_ledger_rec(const struct ddb_load *l, const struct route_conf *route,
                         const char *target, uint64_t rows, const struct load_stats *st,
                         struct ddb_ledger_rec *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->id = l->ledger_id;
    rec->bucket = l->bucket;
    rec->key = l->key;
    rec->etag = l->etag;
    rec->version_id = l->version_id;
    rec->sequencer = l->sequencer;
    rec->route = route && route->name ? route->name : "";
    rec->target = target;
    rec->rows = rows;
    rec->rejected = l->parse_rejects + l->row_rejects;
    rec->bytes = st ? st->bytes : 0;
    rec->loaded_at_ms = now_realtime_ms();
    rec->rejects = l->rejects.data ? l->rejects.data : "";
    rec->rejects_dropped = l->not_stored;
}
