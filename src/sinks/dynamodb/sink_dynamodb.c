/*
 * sink_dynamodb.c: the DynamoDB sink. Rows become items (ddb_item.c) put with
 * BatchWriteItem (ddb_writer.c) on the worker's own HTTP client (ddb_http.c).
 *
 * A load:
 *   begin   DescribeTable of the target (cached per sink) for its key schema; a
 *           missing table is a permanent error naming it. The ledger table is
 *           described once per sink and created when missing (partition key id (S),
 *           on-demand). GetItem(ledger, id) strongly consistent: present -> the
 *           object is already loaded.
 *   write   items queued and sent 25 to a request, up to 8 requests in flight.
 *   commit  everything written (retries included), then PutItem of the ledger item
 *           with attribute_not_exists(id): ConditionalCheckFailed means another
 *           instance finished the same object first -> already loaded.
 *
 * DynamoDB has no transaction spanning thousands of items, so "nothing half-loaded"
 * means here: every write is a put keyed by the table's key, so writing the same
 * object again produces the same items; a load that fails (abort) may have written
 * some of its items, and its message is retried (or reported to the DLQ) until a
 * load of that object completes and writes the ledger item. A reload rewrites the
 * same items; it never duplicates one. Rows of one object with equal keys end as
 * the last of them (ddb_writer.h).
 *
 * Row errors (a bad N/BOOL/JSON value, a missing or empty key, an item over 400 KB)
 * fail the load under on_error = abort; under skip_row they are rejected like
 * parse errors, count towards max_errors, and are recorded with the parse rejects
 * in the ledger item's `rejects` list (the first DDB_LOAD_REJECTS_STORED, raw values
 * cut at DDB_LOAD_REJECT_RAW_MAX bytes; `rejects_not_stored` counts the rest; the
 * bookkeeping, shared with the SQS sink, is ddb_load.c).
 *
 * The ledger tables of every DynamoDB and SQS sink of the configuration (claim and
 * ledger items) are never a load's target, whatever the route's table template
 * expands to: a forged ledger item would make the real object look loaded.
 *
 * Not supported: mode = replace (DynamoDB cannot empty a table within a load) and
 * create_table (a table's key schema is a decision for its owner). Both are
 * configuration errors at begin().
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/creds.h"
#include "aws/ddb_http.h"
#include "sinks/dynamodb/ddb_item.h"
#include "sinks/dynamodb/ddb_load.h"
#include "sinks/dynamodb/ddb_proto.h"
#include "sinks/dynamodb/ddb_update.h"
#include "sinks/dynamodb/ddb_writer.h"
#include "base/log.h"
#include "aws/secret_source.h"
#include "sinks/sink.h"

#define DDB_TABLE_CACHE    16
#define DDB_CALL_ATTEMPTS  5
#define DDB_LEDGER_WAIT_MS 60000

struct table_info {
    char *name;
    struct ddb_key_schema ks;
};

struct sink {
    char *name;
    char *ledger;
    struct strlist ledgers; /* every DynamoDB or SQS sink's ledger table: never a target */
    struct ddb_http *http;
    struct ddb_writer *writer;
    struct ddb_update *update; /* mode = update */
    bool ledger_ready;
    struct table_info tables[DDB_TABLE_CACHE];
    size_t ntables;

    /* The load in progress. */
    bool in_load;
    const struct route_conf *route; /* valid during the load (the job holds cfg) */
    struct table_info *target;
    struct ddb_load load; /* the object, its columns and rejects, for the ledger item */
    struct ddb_layout layout;
    struct buf item, itemkey; /* scratch for one encoded row */
    uint64_t rows;            /* rows that became items */
};

/* ---- AWS calls ---- */

static enum ierr_class class_of(const struct aws_error *ae)
{
    if (ae->retryable || ae->kind == AWS_ERR_NETWORK || ae->kind == AWS_ERR_CREDENTIALS ||
        strstr(ae->code, "ExpiredToken"))
        return IERR_TRANSIENT;
    if (!strcmp(ae->code, "AccessDeniedException") ||
        !strcmp(ae->code, "UnrecognizedClientException") ||
        !strcmp(ae->code, "InvalidSignatureException"))
        return IERR_CONFIG;
    return IERR_PERMANENT;
}

static void set_aws_error(struct ierr *e, const struct aws_error *ae, const char *what)
{
    char eb[800];
    ierr_set(e, class_of(ae), "%s: %s", what, aws_error_str(ae, eb, sizeof eb));
}

/* One call with retries; the completed call (c->err) is the caller's to free. */
static struct ddb_call *call(struct sink *s, const char *op, struct buf *body)
{
    return ddb_http_call(s->http, op, body, DDB_CALL_ATTEMPTS);
}

/* DescribeTable: 0 with ks and status, 1 when the table does not exist, -1 on error. */
static int describe(struct sink *s, const char *table, struct ddb_key_schema *ks, char status[32],
                    struct ierr *e)
{
    struct buf body;
    const char *why;
    char what[300];
    int rc = -1;

    buf_init(&body);
    ddb_body_table(&body, table);
    struct ddb_call *c = call(s, "DescribeTable", &body);
    snprintf(what, sizeof what, "DescribeTable %s", table);
    if (c->err.kind != AWS_OK) {
        if (!strcmp(c->err.code, "ResourceNotFoundException"))
            rc = 1;
        else
            set_aws_error(e, &c->err, what);
    } else if (ddb_parse_describe(c->resp.data, c->resp.len, ks, status, &why) < 0) {
        ierr_set(e, IERR_TRANSIENT, "%s: %s", what, why);
    } else {
        rc = 0;
    }
    ddb_call_free(c);
    return rc;
}

/* The ledger table, created when missing and waited for until ACTIVE. */
static int ensure_ledger(struct sink *s, struct ierr *e)
{
    struct ddb_key_schema ks;
    char status[32];
    uint64_t deadline = now_monotonic_ms() + DDB_LEDGER_WAIT_MS;
    bool created = false;

    for (;;) {
        int rc = describe(s, s->ledger, &ks, status, e);
        if (rc < 0)
            return -1;
        if (rc == 1 && !created) {
            struct buf body;
            buf_init(&body);
            ddb_body_create_ledger(&body, s->ledger);
            struct ddb_call *c = call(s, "CreateTable", &body);
            bool ok = c->err.kind == AWS_OK || !strcmp(c->err.code, "ResourceInUseException");
            if (!ok) {
                char what[300];
                snprintf(what, sizeof what, "creating the ledger table %s", s->ledger);
                set_aws_error(e, &c->err, what);
            } else {
                log_notice("sink %s: created the ledger table %s (partition key id, string)",
                           s->name, s->ledger);
            }
            ddb_call_free(c);
            if (!ok)
                return -1;
            created = true;
            continue;
        }
        if (rc == 0) {
            bool good = ks.n == 1 && !strcmp(ks.name[0], "id") && ks.type[0] == DDB_KEY_S;
            ddb_key_schema_free(&ks);
            if (!good) {
                ierr_set(e, IERR_CONFIG,
                         "ledger table %s: its key must be a partition key "
                         "named id of type S",
                         s->ledger);
                return -1;
            }
            if (!strcmp(status, "ACTIVE") || !strcmp(status, "UPDATING")) {
                s->ledger_ready = true;
                return 0;
            }
        }
        if (now_monotonic_ms() > deadline) {
            ierr_set(e, IERR_TRANSIENT, "ledger table %s is not ACTIVE after %d s", s->ledger,
                     DDB_LEDGER_WAIT_MS / 1000);
            return -1;
        }
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void table_forget(struct sink *s, struct table_info *t)
{
    free(t->name);
    ddb_key_schema_free(&t->ks);
    *t = s->tables[--s->ntables];
    memset(&s->tables[s->ntables], 0, sizeof s->tables[0]);
}

static struct table_info *table_get(struct sink *s, const char *table, struct ierr *e)
{
    struct ddb_key_schema ks;
    char status[32];
    int rc;

    for (size_t i = 0; i < s->ntables; i++)
        if (!strcmp(s->tables[i].name, table))
            return &s->tables[i];
    rc = describe(s, table, &ks, status, e);
    if (rc == 1)
        ierr_set(e, IERR_PERMANENT,
                 "DynamoDB table %s does not exist (the sink does not create "
                 "tables: create it with the key schema the data needs)",
                 table);
    if (rc != 0)
        return NULL;
    if (s->ntables == DDB_TABLE_CACHE)
        table_forget(s, &s->tables[0]);
    struct table_info *t = &s->tables[s->ntables++];
    t->name = xstrdup(table);
    t->ks = ks;
    return t;
}

static int ledger_lookup(struct sink *s, bool *found, struct ierr *e)
{
    struct buf body;
    const char *why;
    int rc = -1;

    buf_init(&body);
    ddb_body_ledger_get(&body, s->ledger, s->load.ledger_id);
    struct ddb_call *c = call(s, "GetItem", &body);
    if (c->err.kind != AWS_OK) {
        set_aws_error(e, &c->err, "ledger GetItem");
        if (!strcmp(c->err.code, "ResourceNotFoundException"))
            s->ledger_ready = false;
    } else if (ddb_parse_get(c->resp.data, c->resp.len, found, &why) < 0) {
        ierr_set(e, IERR_TRANSIENT, "ledger GetItem: %s", why);
    } else {
        rc = 0;
    }
    ddb_call_free(c);
    return rc;
}

/* ---- load state ---- */

static void load_clear(struct sink *s)
{
    ddb_writer_reset(s->writer);
    ddb_update_reset(s->update);
    ddb_layout_free(&s->layout);
    ddb_load_clear(&s->load);
    buf_reset(&s->item);
    buf_reset(&s->itemkey);
    s->rows = 0;
    s->route = NULL;
    s->target = NULL;
    s->in_load = false;
    ddb_http_set_creds(s->http, NULL);
}

static int ddb_open(const struct sink_conf *sc, const struct config *cfg, struct sink **out,
                    struct ierr *e)
{
    struct ddb_http *h = ddb_http_new(cfg, e);

    *out = NULL;
    if (!h)
        return -1;
    struct sink *s = xcalloc(1, sizeof *s);
    s->name = xstrdup(sc->name ? sc->name : "dynamodb");
    s->ledger = xstrdup(!str_empty(sc->ledger_table) ? sc->ledger_table : "ingestd_ledger");
    strlist_push(&s->ledgers, s->ledger);
    for (size_t i = 0; i < cfg->nsinks; i++) {
        const struct sink_conf *o = &cfg->sinks[i];
        const char *t = !str_empty(o->ledger_table) ? o->ledger_table : "ingestd_ledger";
        if ((o->type == SINK_DYNAMODB || o->type == SINK_SQS) && !strlist_contains(&s->ledgers, t))
            strlist_push(&s->ledgers, t);
    }
    s->http = h;
    s->writer = ddb_writer_new(h);
    s->update = ddb_update_new(h);
    buf_init(&s->item);
    buf_init(&s->itemkey);
    ddb_load_init(&s->load);
    log_debug("sink %s: DynamoDB at %s, ledger table %s", s->name, ddb_http_endpoint(h), s->ledger);
    *out = s;
    return 0;
}

static bool updating(const struct sink *s)
{
    return s->route && s->route->mode == MODE_UPDATE;
}

/* update.COLUMN never names the table's key: the key says which item to update. */
static int check_update_keys(const struct sink *s, struct ierr *e)
{
    for (size_t i = 0; i < s->route->nupdates; i++) {
        for (size_t k = 0; k < s->target->ks.n; k++) {
            if (strcmp(s->route->updates[i].column, s->target->ks.name[k]) == 0) {
                ierr_set(e, IERR_CONFIG,
                         "route %s: update.%s: %s is a key attribute of DynamoDB table %s",
                         s->route->name, s->route->updates[i].column, s->route->updates[i].column,
                         s->target->name);
                return -1;
            }
        }
    }
    return 0;
}

/* The row's item into its update batch; a row error goes by the route's on_error. */
static int write_update(struct sink *s, const struct row *row, struct ierr *e)
{
    struct ierr re;
    int rc;

    memset(&re, 0, sizeof re);
    rc = ddb_update_add(s->update, s->item.data, s->item.len, s->itemkey.data, s->itemkey.len,
                        row->line, &re);
    if (rc == 0) {
        s->rows++;
        return 0;
    }
    if (rc < 0) {
        *e = re;
        return -1;
    }
    for (size_t c = 0; c < s->load.cols.n && re.column_name[0]; c++)
        if (strcmp(s->load.cols.v[c], re.column_name) == 0)
            re.column = (unsigned)c + 1;
    return ddb_load_row_error(&s->load, s->route, &re, e);
}

static int ddb_begin(struct sink *s, const struct load_object *o, const struct load_target *t,
                     bool *already_loaded, struct ierr *e)
{
    bool found = false;

    *already_loaded = false;
    if (s->in_load)
        load_clear(s);
    if (t->route && t->route->mode == MODE_REPLACE) {
        ierr_set(e, IERR_CONFIG, "route %s: mode = replace is not supported by DynamoDB sinks",
                 t->route->name);
        return -1;
    }
    if (!t->columns) {
        ierr_set(e, IERR_PERMANENT, "sink %s: the object's columns are unknown", s->name);
        return -1;
    }
    if (strlist_contains(&s->ledgers, t->table)) {
        ierr_set(e, IERR_PERMANENT,
                 "DynamoDB table %s is a ledger table of ingestd (ledger_table): no object loads "
                 "into it",
                 t->table);
        return -1;
    }
    ddb_http_set_creds(s->http, o->creds);
    ddb_load_set_id(&s->load, o);
    s->in_load = true;
    if (!s->ledger_ready && ensure_ledger(s, e) < 0)
        goto fail;
    if (ledger_lookup(s, &found, e) < 0)
        goto fail;
    if (found) {
        log_debug("s3://%s/%s (etag %s) is already in %s", o->bucket, o->key, o->etag, s->ledger);
        *already_loaded = true;
        load_clear(s);
        return 0;
    }
    s->target = table_get(s, t->table, e);
    if (!s->target)
        goto fail;
    if (t->route && t->route->create_table)
        log_debug("route %s: create_table does not apply to DynamoDB", t->route->name);
    if (ddb_layout_init(&s->layout, t->columns, t->route, &s->target->ks, t->table, e) < 0)
        goto fail;
    ddb_load_set_object(&s->load, o, t->columns);
    s->route = t->route;
    if (updating(s)) {
        if (check_update_keys(s, e) < 0)
            goto fail;
        ddb_update_begin(s->update, s->target->name, &s->target->ks, t->route, s->ledger,
                         s->load.ledger_id);
    } else {
        ddb_writer_begin(s->writer, t->table, &s->target->ks);
    }
    return 0;
fail:
    load_clear(s);
    return -1;
}

static int ddb_write(struct sink *s, const struct batch *b, struct ierr *e)
{
    if (!s->in_load) {
        ierr_set(e, IERR_PERMANENT, "sink %s: write() outside a load", s->name);
        return -1;
    }
    for (size_t i = 0; i < b->nrows; i++) {
        struct ierr re;
        size_t size;

        buf_reset(&s->item);
        buf_reset(&s->itemkey);
        if (ddb_item_encode(&s->layout, &b->rows[i], &s->item, &s->itemkey, &size, &re) < 0) {
            if (ddb_load_row_error(&s->load, s->route, &re, e) < 0)
                goto fail;
            continue;
        }
        if (updating(s)) {
            if (write_update(s, &b->rows[i], e) < 0)
                goto fail;
            continue;
        }
        s->rows++;
        if (ddb_writer_add(s->writer, s->item.data, s->item.len, s->itemkey.data, s->itemkey.len,
                           b->rows[i].line, e) < 0)
            goto fail;
    }
    return 0;
fail:
    if (ddb_writer_table_missing(s->writer) && s->target)
        table_forget(s, s->target);
    load_clear(s);
    return -1;
}

static int ddb_reject(struct sink *s, const struct row_reject *r, struct ierr *e)
{
    if (!s->in_load) {
        ierr_set(e, IERR_PERMANENT, "sink %s: reject() outside a load", s->name);
        return -1;
    }
    ddb_load_reject(&s->load, r);
    return 0;
}

static int ddb_commit(struct sink *s, const struct load_stats *st, bool *already_loaded,
                      struct ierr *e)
{
    struct ddb_writer_stats ws;
    struct ddb_ledger_rec rec;
    struct buf body;
    int rc = -1;

    *already_loaded = false;
    if (!s->in_load) {
        ierr_set(e, IERR_PERMANENT, "sink %s: commit() outside a load", s->name);
        return -1;
    }
    if (updating(s)) {
        struct ddb_update_stats us;

        if (ddb_update_flush(s->update, e) < 0)
            goto out;
        ddb_update_get_stats(s->update, &us);
        log_debug("update mode: %" PRIu64 " batches applied, %" PRIu64 " applied before, %" PRIu64
                  " item updates, %" PRIu64 " retries",
                  us.batches_applied, us.batches_skipped, us.updates, us.retries);
    } else if (ddb_writer_flush(s->writer, e) < 0) {
        if (ddb_writer_table_missing(s->writer) && s->target)
            table_forget(s, s->target);
        goto out;
    }
    ddb_writer_get_stats(s->writer, &ws);
    ddb_load_ledger_rec(&s->load, s->route, s->target->name, s->rows, st, &rec);
    buf_init(&body);
    ddb_body_ledger_put(&body, s->ledger, &rec);
    struct ddb_call *c = call(s, "PutItem", &body);
    if (c->err.kind == AWS_OK) {
        log_debug("loaded %" PRIu64 " rows (%" PRIu64 " rejected) from s3://%s/%s into DynamoDB "
                  "table %s: %" PRIu64 " items written, %" PRIu64 " requests, %" PRIu64
                  " retries, %" PRIu64 " unprocessed",
                  s->rows, rec.rejected, s->load.bucket, s->load.key, s->target->name, ws.written,
                  ws.requests, ws.retries, ws.unprocessed);
        rc = 0;
    } else if (!strcmp(c->err.code, "ConditionalCheckFailedException")) {
        log_info("s3://%s/%s (etag %s) was loaded meanwhile by another instance: already in %s",
                 s->load.bucket, s->load.key, s->load.etag, s->ledger);
        *already_loaded = true;
        rc = 0;
    } else {
        set_aws_error(e, &c->err, "ledger PutItem");
    }
    ddb_call_free(c);
out:
    load_clear(s);
    return rc;
}

static void ddb_abort(struct sink *s)
{
    if (s && s->in_load)
        load_clear(s);
}

static void ddb_close(struct sink *s)
{
    if (!s)
        return;
    load_clear(s);
    ddb_writer_free(s->writer);
    ddb_update_free(s->update);
    ddb_http_free(s->http);
    while (s->ntables)
        table_forget(s, &s->tables[0]);
    buf_free(&s->item);
    buf_free(&s->itemkey);
    ddb_load_free(&s->load);
    strlist_free(&s->ledgers);
    free(s->ledger);
    free(s->name);
    free(s);
}

/* `ingestd check`: the endpoint answers signed requests and the ledger table is usable. */
static int ddb_check(const struct sink_conf *sc, const struct config *cfg, struct ierr *e)
{
    struct creds *cr = secret_source_get_creds();
    struct ddb_key_schema ks;
    struct sink *s = NULL;
    char status[32];
    int rc = -1;

    if (ddb_open(sc, cfg, &s, e) < 0)
        goto out;
    ddb_http_set_creds(s->http, cr ? &cr->aws : NULL);
    rc = describe(s, s->ledger, &ks, status, e);
    if (rc == 0) {
        ddb_key_schema_free(&ks);
        ierr_set(e, IERR_NONE, "DynamoDB at %s, ledger table %s is %s", ddb_http_endpoint(s->http),
                 s->ledger, status);
    } else if (rc == 1) {
        ierr_set(e, IERR_NONE,
                 "DynamoDB at %s; the ledger table %s will be created at the "
                 "first load",
                 ddb_http_endpoint(s->http), s->ledger);
        rc = 0;
    }
out:
    ddb_close(s);
    creds_unref(cr);
    return rc;
}

const struct sink_ops sink_dynamodb_ops = {
    .name = "dynamodb",
    .type = SINK_DYNAMODB,
    .max_batch_rows = 0,
    .open = ddb_open,
    .begin = ddb_begin,
    .write = ddb_write,
    .reject = ddb_reject,
    .commit = ddb_commit,
    .abort = ddb_abort,
    .close = ddb_close,
    .check = ddb_check,
};
