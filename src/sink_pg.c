/*
 * sink_pg.c: the PostgreSQL sink (libpq). One connection per worker, kept between
 * loads and reset by the next begin() after it broke.
 *
 * A load is one transaction:
 *   BEGIN
 *   INSERT INTO ingestd_ledger ... ON CONFLICT DO NOTHING RETURNING   -- claims the object
 *   [CREATE TABLE] [TRUNCATE | CREATE TEMP TABLE ingestd_stage]
 *   COPY target-or-stage FROM STDIN (binary or text format, 256 KB PQputCopyData chunks)
 *   [COPY ingestd_rejects] [INSERT ... ON CONFLICT DO UPDATE from the stage]
 *   UPDATE ingestd_ledger SET rows, bytes
 *   COMMIT
 * Claiming the ledger row first makes two instances racing on one object safe: the
 * second one's INSERT waits on the unique index until the first commits, then finds
 * the conflict and reports already_loaded; if the first rolls back, the second loads.
 *
 * Rows skipped under on_error = skip_row are buffered as COPY text in memory; at
 * commit, or when the buffer passes PG_REJECTS_FLUSH, the data COPY is ended, the
 * rejects are COPYed into ingestd_rejects and (mid-load) the data COPY restarts. All
 * of it is in the load's transaction, so rejects commit or vanish with the rows.
 *
 * Errors: every failing call ends the transaction before it returns, so abort() after
 * an error is a harmless no-op. SQLSTATEs are classified by pg_sqlstate_class(); a
 * COPY error's "line N, column c" is mapped back to the object's line and column.
 * Binary COPY (the conversion of each value, the fallback to text) is pg_copybin.c.
 * This file does not read the catalog (pg_schema.c) or format SQL (pg_sql.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "pg_int.h"

#define PG_COPY_CHUNK    ((size_t)256 << 10)
#define PG_REJECTS_FLUSH ((size_t)1 << 20)

/* ---- errors ---- */

static void set_sample(struct ierr *e, const char *s)
{
    if (s && !e->sample[0])
        snprintf(e->sample, sizeof(e->sample), "%s", s);
}

void pg_fill_error(struct sink *s, const PGresult *res, const char *what, struct ierr *e)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    bool broken = PQstatus(s->conn) != CONNECTION_OK;

    snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", st ? st : "");
    if (!msg)
        msg = res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res)
                                                : PQerrorMessage(s->conn);
    enum ierr_class cls = broken ? IERR_TRANSIENT : pg_sqlstate_class(st);
    char clean[400];
    snprintf(clean, sizeof(clean), "%s", msg);
    clean[strcspn(clean, "\n")] = '\0';
    if (st)
        ierr_set(e, cls, "%s: %s (SQLSTATE %s)", what, clean, st);
    else
        ierr_set(e, cls, "%s: %s%s", what, broken ? "connection lost: " : "", clean);
    if (res)
        set_sample(e, PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
}

PGresult *pg_exec(struct sink *s, const char *sql, int nparams, const char *const *params,
                  ExecStatusType want, const char *what, struct ierr *e)
{
    PGresult *r = nparams ? PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0)
                          : PQexec(s->conn, sql);
    if (r && PQresultStatus(r) == want)
        return r;
    pg_fill_error(s, r, what, e);
    PQclear(r);
    return NULL;
}

/* Runs a statement that returns nothing of interest. */
static int pg_run(struct sink *s, const char *sql, const char *what, struct ierr *e)
{
    PGresult *r = pg_exec(s, sql, 0, NULL, PGRES_COMMAND_OK, what, e);
    PQclear(r);
    return r ? 0 : -1;
}

/* ---- connection ---- */

static PGconn *pg_connect(const struct sink_conf *sc, const struct config *cfg, struct ierr *e)
{
    char *password = NULL;
    if (sink_resolve_password(sc, cfg, &password, e))
        return NULL;
    /* Later entries win: our defaults first, then the operator's conninfo, then what
     * must hold whatever conninfo says (the encoding we send, the resolved password). */
    const char *keys[] = {"connect_timeout",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "application_name",
                          "dbname",
                          "client_encoding",
                          password ? "password" : NULL,
                          NULL};
    const char *vals[] = {
        "10",   "1",      "60", "10", "6", "ingestd", sc->conninfo ? sc->conninfo : "",
        "UTF8", password, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (password) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
        msg[strcspn(msg, "\n")] = '\0';
        ierr_set(e, pg_connect_error_class(msg), "sink %s: cannot connect to PostgreSQL: %s",
                 sc->name ? sc->name : "?", msg);
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Server notices ("relation already exists, skipping") go to the debug log. */
static void on_notice(void *arg, const char *msg)
{
    const char *name = arg;
    log_debug("sink %s: %.*s", name, (int)strcspn(msg, "\n"), msg);
}

static int pg_open(const struct sink_conf *sc, const struct config *cfg, struct sink **out,
                   struct ierr *e)
{
    PGconn *c = pg_connect(sc, cfg, e);
    *out = NULL;
    if (!c)
        return -1;
    struct sink *s = xcalloc(1, sizeof(*s));
    s->conn = c;
    s->name = xstrdup(sc->name ? sc->name : "postgres");
    s->copy_format = sc->copy_format;
    buf_init(&s->out);
    buf_init(&s->rejects);
    linemap_init(&s->lines);
    PQsetNoticeProcessor(c, on_notice, s->name);
    log_debug("sink %s: connected to PostgreSQL %s", s->name,
              PQparameterStatus(c, "server_version"));
    *out = s;
    return 0;
}

/* A broken connection is reset here, between loads, never inside one. */
static int ensure_connection(struct sink *s, struct ierr *e)
{
    if (PQstatus(s->conn) == CONNECTION_OK)
        return 0;
    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(s->conn));
        msg[strcspn(msg, "\n")] = '\0';
        ierr_set(e, pg_connect_error_class(msg), "sink %s: cannot reconnect to PostgreSQL: %s",
                 s->name, msg);
        return -1;
    }
    s->tables_ready = false;
    log_info("sink %s: reconnected to PostgreSQL", s->name);
    return 0;
}

/*
 * Outside a transaction: runs sql, and if the connection turns out to have died since
 * the last load (server restart), resets it and tries once more.
 */
static int run_idle(struct sink *s, const char *sql, const char *what, struct ierr *e)
{
    if (pg_run(s, sql, what, e) == 0)
        return 0;
    if (PQstatus(s->conn) == CONNECTION_OK || ensure_connection(s, e))
        return -1;
    return pg_run(s, sql, what, e);
}

/* Whether table exists on the search path; the first statement on a connection that
 * may have died since the last load, so it resets and retries once. */
static int table_exists(struct sink *s, const char *table, bool *exists, struct ierr *e)
{
    const char *params[1] = {table};
    const char *sql = "SELECT to_regclass($1) IS NOT NULL";
    PGresult *r = pg_exec(s, sql, 1, params, PGRES_TUPLES_OK, "ledger lookup", e);
    if (!r && PQstatus(s->conn) != CONNECTION_OK && ensure_connection(s, e) == 0)
        r = pg_exec(s, sql, 1, params, PGRES_TUPLES_OK, "ledger lookup", e);
    if (!r)
        return -1;
    *exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}

/*
 * The ledger and rejects tables. Only missing ones are created, so a role without
 * CREATE on the schema works with tables an administrator made. Two instances creating
 * one at the same moment: the loser gets 23505, 42P07 or 42710 (the table's row type
 * "already exists") and tries once more.
 */
static int ensure_tables(struct sink *s, struct ierr *e)
{
    static const char *const names[] = {PG_LEDGER_TABLE, PG_REJECTS_TABLE};
    const char *ddl[] = {pg_sql_ledger_ddl, pg_sql_rejects_ddl};
    for (size_t i = 0; i < ARRAY_SIZE(ddl); i++) {
        bool exists;
        if (table_exists(s, names[i], &exists, e))
            return -1;
        if (exists || pg_run(s, ddl[i], "creating the ledger", e) == 0)
            continue;
        if (strcmp(s->sqlstate, "23505") && strcmp(s->sqlstate, "42P07") &&
            strcmp(s->sqlstate, "42710"))
            return -1;
        if (pg_run(s, ddl[i], "creating the ledger", e))
            return -1;
    }
    s->tables_ready = true;
    return 0;
}

/* ---- one load ---- */

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void load_clear(struct sink *s)
{
    free(s->bucket);
    free(s->key);
    free(s->etag);
    free(s->route);
    free(s->schema);
    free(s->rel);
    free(s->qtable);
    free_list(s->obj_cols, s->ncols);
    free_list(s->tcols, s->ncols);
    free(s->copy_sql);
    free(s->merge_sql);
    free(s->merge_dedupe_sql);
    s->merge_dedupe_sql = NULL;
    s->bucket = s->key = s->etag = s->route = s->schema = s->rel = s->qtable = NULL;
    s->obj_cols = s->tcols = NULL;
    s->copy_sql = s->merge_sql = NULL;
    s->copy_rel = NULL;
    s->ncols = 0;
    s->upsert = false;
    s->rows_sent = s->copy_base = s->nrejects = 0;
    buf_reset(&s->out);
    buf_reset(&s->rejects);
    linemap_free(&s->lines);
    linemap_init(&s->lines);
    pg_copybin_clear(&s->bin);
}

/* Ends the transaction whatever state it is in; never fails. */
static void rollback(struct sink *s)
{
    if (s->state == PG_COPY && PQstatus(s->conn) == CONNECTION_OK) {
        PQputCopyEnd(s->conn, "load aborted by ingestd");
        PGresult *r;
        while ((r = PQgetResult(s->conn)))
            PQclear(r);
    }
    if (s->state != PG_IDLE && PQstatus(s->conn) == CONNECTION_OK)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    s->state = PG_IDLE;
    load_clear(s);
}

/* Claims the object in the ledger; *claimed false means another load holds it. */
static int claim_ledger(struct sink *s, const struct load_object *o, bool *claimed, struct ierr *e)
{
    const char *params[] = {s->bucket, s->key, s->etag, o->version_id, o->sequencer, s->route};
    PGresult *r = pg_exec(s,
                          "INSERT INTO " PG_LEDGER_TABLE " (bucket, key, etag, version_id, "
                          "sequencer, route, rows, bytes) VALUES ($1, $2, $3, $4, $5, $6, 0, 0) "
                          "ON CONFLICT DO NOTHING RETURNING 1",
                          6, params, PGRES_TUPLES_OK, "ledger", e);
    if (!r)
        return -1;
    *claimed = PQntuples(r) == 1;
    PQclear(r);
    return 0;
}

/*
 * upsert / replace: an event that arrives after a newer version of the same key was
 * loaded must not overwrite it. S3 sequencers of one key order its events: the greater
 * hex value is later, the shorter one right-padded with zeros before comparing. A
 * transaction-level advisory lock on (bucket, key) serialises loads of one key, so the
 * check sees every version committed before ours.
 */
static int check_superseded(struct sink *s, const struct load_object *o,
                            const struct load_target *t, bool *superseded, struct ierr *e)
{
    *superseded = false;
    if (str_empty(o->sequencer) || !t->route || t->route->mode == MODE_APPEND)
        return 0;
    const char *params[] = {s->bucket, s->key, s->etag, o->sequencer};
    PGresult *r = pg_exec(s,
                          "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, "
                          "7210))",
                          2, params, PGRES_TUPLES_OK, "ledger lock", e);
    if (!r)
        return -1;
    PQclear(r);
    r = pg_exec(s,
                "SELECT max(sequencer) FROM " PG_LEDGER_TABLE " WHERE bucket = $1 AND "
                "key = $2 AND etag <> $3 AND sequencer IS NOT NULL AND "
                "upper(rpad(sequencer, greatest(length(sequencer), length($4)), '0')) "
                "COLLATE \"C\" > upper(rpad($4, greatest(length(sequencer), length($4)), '0')) "
                "COLLATE \"C\"",
                4, params, PGRES_TUPLES_OK, "ledger", e);
    if (!r)
        return -1;
    if (!PQgetisnull(r, 0, 0)) {
        log_info("s3://%s/%s (sequencer %s) is older than the loaded version (sequencer %s): "
                 "skipped",
                 s->bucket, s->key, o->sequencer, PQgetvalue(r, 0, 0));
        *superseded = true;
    }
    PQclear(r);
    return 0;
}

/* TRUNCATE, or DELETE when foreign keys forbid TRUNCATE (SQLSTATE 0A000). */
static int empty_table(struct sink *s, struct ierr *e)
{
    struct buf sql;
    int rc = -1;
    buf_init(&sql);
    if (pg_run(s, "SAVEPOINT ingestd_truncate", "replace", e))
        goto out;
    buf_printf(&sql, "TRUNCATE %s", s->qtable);
    if (pg_run(s, sql.data, "replace (TRUNCATE)", e) == 0) {
        rc = pg_run(s, "RELEASE SAVEPOINT ingestd_truncate", "replace", e);
        goto out;
    }
    if (strcmp(s->sqlstate, "0A000") ||
        pg_run(s, "ROLLBACK TO SAVEPOINT ingestd_truncate", "replace", e))
        goto out;
    buf_reset(&sql);
    buf_printf(&sql, "DELETE FROM %s", s->qtable);
    rc = pg_run(s, sql.data, "replace (DELETE)", e);
out:
    buf_free(&sql);
    return rc;
}

static int copy_start(struct sink *s, struct ierr *e)
{
    PGresult *r = pg_exec(s, s->copy_sql, 0, NULL, PGRES_COPY_IN, "COPY", e);
    if (!r)
        return -1;
    PQclear(r);
    s->state = PG_COPY;
    s->copy_base = s->rows_sent;
    if (s->bin.on)
        pg_copybin_header(&s->out);
    return 0;
}

static int prepare_target(struct sink *s, const struct load_target *t, struct ierr *e)
{
    struct buf sql;
    int rc = -1;

    buf_init(&sql);
    if (pg_schema_prepare(s, t, e))
        goto out;
    s->upsert = t->route->mode == MODE_UPSERT;
    if (t->route->mode == MODE_REPLACE && empty_table(s, e))
        goto out;
    if (s->upsert) {
        pg_sql_stage(&sql, s->qtable, (const char *const *)s->tcols, s->ncols);
        if (pg_run(s, sql.data, "staging table", e))
            goto out;
        buf_reset(&sql);
        pg_sql_copy(&sql, PG_STAGE_TABLE, (const char *const *)s->tcols, s->ncols, true);
        s->copy_rel = PG_STAGE_TABLE;
    } else {
        pg_sql_copy(&sql, s->qtable, (const char *const *)s->tcols, s->ncols, false);
        s->copy_rel = s->rel;
    }
    s->copy_sql = buf_steal(&sql);
    if (pg_copybin_prepare(s, t, s->upsert ? "pg_temp." PG_STAGE_TABLE : s->qtable, e))
        goto out;
    rc = copy_start(s, e);
out:
    buf_free(&sql);
    return rc;
}

static int pg_begin(struct sink *s, const struct load_object *o, const struct load_target *t,
                    bool *already_loaded, struct ierr *e)
{
    bool claimed = false, superseded = false;
    *already_loaded = false;
    if (s->state != PG_IDLE)
        rollback(s);
    load_clear(s);
    if (ensure_connection(s, e) || (!s->tables_ready && ensure_tables(s, e)) ||
        run_idle(s, "BEGIN", "BEGIN", e))
        return -1;
    s->state = PG_TXN;
    s->bucket = xstrdup(o->bucket);
    s->key = xstrdup(o->key);
    s->etag = xstrdup(o->etag ? o->etag : "");
    s->route = xstrdup(t->route->name ? t->route->name : "");
    if (claim_ledger(s, o, &claimed, e))
        goto fail;
    if (!claimed)
        log_debug("s3://%s/%s (etag %s) is already in %s", s->bucket, s->key, s->etag,
                  PG_LEDGER_TABLE);
    else if (check_superseded(s, o, t, &superseded, e))
        goto fail;
    if (!claimed || superseded) {
        *already_loaded = true;
        rollback(s);
        return 0;
    }
    if (prepare_target(s, t, e))
        goto fail;
    return 0;
fail:
    rollback(s);
    return -1;
}

/* ---- the COPY stream ---- */

/* Fills e from a failed COPY, with the object's line and column when the server says. */
static void copy_error(struct sink *s, const PGresult *r, struct ierr *e)
{
    struct pg_copy_context cc;
    pg_fill_error(s, r, "COPY", e);
    if (!r)
        return;
    e->sample[0] = '\0';
    const char *ctx = PQresultErrorField(r, PG_DIAG_CONTEXT);
    if (pg_parse_copy_context(ctx, s->copy_rel, (const char *const *)s->tcols, s->ncols, &cc) ==
        0) {
        e->line = linemap_lookup(&s->lines, s->copy_base + cc.line);
        if (cc.column >= 0) {
            e->column = (unsigned)cc.column + 1;
            snprintf(e->column_name, sizeof(e->column_name), "%s", s->obj_cols[cc.column]);
        }
        set_sample(e, cc.sample);
    }
    const char *col = PQresultErrorField(r, PG_DIAG_COLUMN_NAME);
    for (size_t i = 0; col && !e->column && i < s->ncols; i++) {
        if (!strcmp(s->tcols[i], col)) {
            e->column = (unsigned)i + 1;
            snprintf(e->column_name, sizeof(e->column_name), "%s", s->obj_cols[i]);
        }
    }
    set_sample(e, PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL));
    pg_copybin_copy_failed(s, e);
}

/* Hands the buffered COPY data to libpq. A server error (bad value) surfaces here
 * as soon as libpq has read it, so a bad row early in a large object stops it early. */
static int copy_flush(struct sink *s, struct ierr *e)
{
    if (s->out.len == 0)
        return 0;
    PQconsumeInput(s->conn);
    if (PQputCopyData(s->conn, s->out.data, (int)s->out.len) == 1) {
        buf_reset(&s->out);
        return 0;
    }
    PGresult *r = PQgetResult(s->conn);
    copy_error(s, r, e);
    PQclear(r);
    return -1;
}

/* Ends the running COPY and checks its result. */
static int copy_end(struct sink *s, struct ierr *e)
{
    if (s->bin.on)
        pg_copybin_trailer(&s->out);
    if (copy_flush(s, e))
        return -1;
    if (PQputCopyEnd(s->conn, NULL) != 1) {
        pg_fill_error(s, NULL, "COPY", e);
        return -1;
    }
    s->state = PG_TXN;
    PGresult *r = PQgetResult(s->conn);
    int rc = 0;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        copy_error(s, r, e);
        rc = -1;
    }
    PQclear(r);
    while ((r = PQgetResult(s->conn)))
        PQclear(r);
    return rc;
}

/* Writes v in decimal at o; returns the digits written. */
static size_t put_u64(char *o, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        o[i] = tmp[n - 1 - i];
    return n;
}

/* One row in COPY text format: reserved once, then written in place. */
static void encode_row(struct sink *s, const struct sink_row *row)
{
    size_t need = 24;
    for (size_t c = 0; c < s->ncols; c++)
        need += 2 * row->fields[c].len + 3;
    buf_reserve(&s->out, need);
    char *o = s->out.data + s->out.len;
    for (size_t c = 0; c < s->ncols; c++) {
        const struct sink_field *f = &row->fields[c];
        if (c)
            *o++ = '\t';
        if (f->ptr) {
            o += pg_copy_escape_into(o, f->ptr, f->len);
        } else {
            *o++ = '\\';
            *o++ = 'N';
        }
    }
    s->rows_sent++;
    if (s->upsert) {
        *o++ = '\t';
        o += put_u64(o, s->rows_sent);
    }
    *o++ = '\n';
    s->out.len = (size_t)(o - s->out.data);
    *o = '\0';
}

static int pg_write(struct sink *s, const struct sink_batch *b, struct ierr *e)
{
    if (s->state != PG_COPY) {
        ierr_set(e, IERR_PERMANENT, "sink %s: write() outside a load", s->name);
        return -1;
    }
    for (size_t i = 0; i < b->nrows; i++) {
        linemap_add(&s->lines, b->rows[i].line);
        if (!s->bin.on)
            encode_row(s, &b->rows[i]);
        else if (pg_copybin_row(s, &b->rows[i], e)) {
            rollback(s);
            return -1;
        }
        if (s->out.len >= PG_COPY_CHUNK && copy_flush(s, e)) {
            rollback(s);
            return -1;
        }
    }
    return 0;
}

/* ---- rejects ---- */

static int flush_rejects(struct sink *s, struct ierr *e)
{
    if (s->rejects.len == 0)
        return 0;
    bool in_copy = s->state == PG_COPY;
    if (in_copy && copy_end(s, e))
        return -1;
    PGresult *r = pg_exec(s,
                          "COPY " PG_REJECTS_TABLE " (bucket, key, etag, route, line, col, "
                          "column_name, reason, raw) FROM STDIN",
                          0, NULL, PGRES_COPY_IN, "rejects", e);
    if (!r)
        return -1;
    PQclear(r);
    if (PQputCopyData(s->conn, s->rejects.data, (int)s->rejects.len) != 1 ||
        PQputCopyEnd(s->conn, NULL) != 1) {
        pg_fill_error(s, NULL, "rejects", e);
        return -1;
    }
    r = PQgetResult(s->conn);
    int rc = 0;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_fill_error(s, r, "rejects", e);
        rc = -1;
    }
    PQclear(r);
    while ((r = PQgetResult(s->conn)))
        PQclear(r);
    buf_reset(&s->rejects);
    if (rc == 0 && in_copy)
        rc = copy_start(s, e);
    return rc;
}

static void put_text(struct buf *b, const char *s, bool last)
{
    pg_copy_put_field(b, s, s ? strlen(s) : 0, s == NULL);
    buf_putc(b, last ? '\n' : '\t');
}

static int pg_reject(struct sink *s, const struct sink_reject *rj, struct ierr *e)
{
    char line[24], col[16];
    if (s->state == PG_IDLE) {
        ierr_set(e, IERR_PERMANENT, "sink %s: reject() outside a load", s->name);
        return -1;
    }
    snprintf(line, sizeof(line), "%" PRIu64, rj->line);
    snprintf(col, sizeof(col), "%u", rj->column);
    put_text(&s->rejects, s->bucket, false);
    put_text(&s->rejects, s->key, false);
    put_text(&s->rejects, s->etag, false);
    put_text(&s->rejects, s->route, false);
    put_text(&s->rejects, rj->line ? line : NULL, false);
    put_text(&s->rejects, rj->column ? col : NULL, false);
    put_text(&s->rejects, rj->column && rj->column <= s->ncols ? s->obj_cols[rj->column - 1] : NULL,
             false);
    put_text(&s->rejects, rj->reason, false);
    put_text(&s->rejects, rj->raw, true);
    s->nrejects++;
    if (s->rejects.len >= PG_REJECTS_FLUSH && flush_rejects(s, e)) {
        rollback(s);
        return -1;
    }
    return 0;
}

/* ---- commit ---- */

/* After a NULL in a NOT NULL column stopped the merge: the first staged row with it. */
static void locate_null(struct sink *s, const char *col, struct ierr *e)
{
    struct ierr ignored;
    struct buf sql;
    size_t i;

    for (i = 0; i < s->ncols && strcmp(s->tcols[i], col); i++)
        ;
    if (i == s->ncols || pg_run(s, "ROLLBACK TO SAVEPOINT ingestd_merge", "upsert", &ignored))
        return;
    buf_init(&sql);
    buf_puts(&sql, "SELECT min(\"" PG_STAGE_ORD "\") FROM pg_temp." PG_STAGE_TABLE " WHERE ");
    pg_quote_ident(&sql, col);
    buf_puts(&sql, " IS NULL");
    PGresult *r = pg_exec(s, sql.data, 0, NULL, PGRES_TUPLES_OK, "upsert", &ignored);
    if (r && !PQgetisnull(r, 0, 0)) {
        e->line = linemap_lookup(&s->lines, strtoull(PQgetvalue(r, 0, 0), NULL, 10));
        e->column = (unsigned)i + 1;
        snprintf(e->column_name, sizeof(e->column_name), "%s", s->obj_cols[i]);
    }
    PQclear(r);
    buf_free(&sql);
}

/* INSERT ... ON CONFLICT from the stage. Most files have unique keys, so the plain
 * statement runs first; a file that repeats a key makes it fail with 21000 ("cannot
 * affect row a second time"), and then the sorting, de-duplicating one runs instead.
 * The savepoint costs nothing when it works and lets a failure be traced back to the
 * object's line. */
static int merge(struct sink *s, struct ierr *e)
{
    if (pg_run(s, "SAVEPOINT ingestd_merge", "upsert", e))
        return -1;
    PGresult *r = PQexec(s->conn, s->merge_sql);
    if (r && PQresultStatus(r) == PGRES_FATAL_ERROR &&
        !strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE) ? PQresultErrorField(r, PG_DIAG_SQLSTATE)
                                                        : "",
                "21000")) {
        PQclear(r);
        if (pg_run(s, "ROLLBACK TO SAVEPOINT ingestd_merge", "upsert", e))
            return -1;
        r = PQexec(s->conn, s->merge_dedupe_sql);
    }
    if (r && PQresultStatus(r) == PGRES_COMMAND_OK) {
        PQclear(r);
        return 0;
    }
    pg_fill_error(s, r, "upsert", e);
    const char *col = r ? PQresultErrorField(r, PG_DIAG_COLUMN_NAME) : NULL;
    char *colname = col ? xstrdup(col) : NULL;
    PQclear(r);
    if (colname && !strcmp(s->sqlstate, "23502"))
        locate_null(s, colname, e);
    free(colname);
    return -1;
}

static int update_ledger(struct sink *s, const struct load_stats *st, struct ierr *e)
{
    char rows[24], bytes[24];
    snprintf(rows, sizeof(rows), "%" PRIu64, s->rows_sent);
    snprintf(bytes, sizeof(bytes), "%" PRIu64, st ? st->bytes : 0);
    const char *params[] = {s->bucket, s->key, s->etag, rows, bytes};
    PGresult *r = pg_exec(s,
                          "UPDATE " PG_LEDGER_TABLE " SET rows = $4, bytes = $5, "
                          "loaded_at = now() WHERE bucket = $1 AND key = $2 AND etag = $3",
                          5, params, PGRES_COMMAND_OK, "ledger", e);
    if (!r)
        return -1;
    bool one = !strcmp(PQcmdTuples(r), "1");
    PQclear(r);
    if (!one) {
        ierr_set(e, IERR_TRANSIENT, "ledger row for s3://%s/%s vanished during the load", s->bucket,
                 s->key);
        return -1;
    }
    return 0;
}

static int pg_commit(struct sink *s, const struct load_stats *st, bool *already_loaded,
                     struct ierr *e)
{
    *already_loaded = false;
    if (s->state == PG_IDLE) {
        ierr_set(e, IERR_PERMANENT, "sink %s: commit() outside a load", s->name);
        return -1;
    }
    if (s->state == PG_COPY && copy_end(s, e))
        goto fail;
    if (flush_rejects(s, e))
        goto fail;
    if (s->merge_sql && merge(s, e))
        goto fail;
    if (update_ledger(s, st, e))
        goto fail;
    PGresult *r = PQexec(s->conn, "COMMIT");
    /* COMMIT of a failed transaction "succeeds" with the tag ROLLBACK. */
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(r), "COMMIT")) {
        pg_fill_error(s, r, "COMMIT", e);
        if (!strcmp(s->sqlstate, "23505") && r &&
            strstr(PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) ?: "", PG_LEDGER_TABLE))
            *already_loaded = true;
        PQclear(r);
        goto fail;
    }
    PQclear(r);
    log_debug("loaded %" PRIu64 " rows (%" PRIu64 " rejected) from s3://%s/%s into %s",
              s->rows_sent, s->nrejects, s->bucket, s->key, s->qtable);
    s->state = PG_IDLE;
    load_clear(s);
    return 0;
fail:
    rollback(s);
    return *already_loaded ? 0 : -1;
}

static void pg_abort(struct sink *s)
{
    if (s)
        rollback(s);
}

static void pg_close(struct sink *s)
{
    if (!s)
        return;
    rollback(s);
    PQfinish(s->conn);
    buf_free(&s->out);
    buf_free(&s->rejects);
    linemap_free(&s->lines);
    free(s->name);
    free(s);
}

static int pg_check(const struct sink_conf *sc, const struct config *cfg, struct ierr *e)
{
    const char *name = sc->name ? sc->name : "postgres";
    PGconn *c = pg_connect(sc, cfg, e);
    if (!c)
        return -1;
    PQsetNoticeProcessor(c, on_notice, (void *)name);
    PGresult *r = PQexec(c, "SELECT 1");
    int rc = 0;
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        ierr_set(e, pg_sqlstate_class(st), "sink %s: SELECT 1 failed: %s", name, PQerrorMessage(c));
        rc = -1;
    } else {
        log_info("sink %s: PostgreSQL %s at %s:%s, database %s", name,
                 PQparameterStatus(c, "server_version"), PQhost(c), PQport(c), PQdb(c));
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

const struct sink_ops sink_pg_ops = {
    .name = "postgres",
    .type = SINK_POSTGRES,
    .max_batch_rows = 0,
    .open = pg_open,
    .begin = pg_begin,
    .write = pg_write,
    .reject = pg_reject,
    .commit = pg_commit,
    .abort = pg_abort,
    .close = pg_close,
    .check = pg_check,
};
