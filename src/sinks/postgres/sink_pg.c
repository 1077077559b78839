/*
 * sink_pg.c: the PostgreSQL sink (libpq). One connection per worker, kept between
 * loads and reset by the next begin() after it broke.
 *
 * Every name the sink sends is qualified: the target with its own schema or the sink's
 * `schema`, the ledger and rejects tables with the sink's `schema`, the staging table
 * with pg_temp; nothing depends on search_path (which always searches pg_catalog
 * first: an unqualified "pg_description" would be the catalog's). A target that is
 * one of ingestd's own tables or in a catalog schema is refused (sink_guard.h).
 *
 * A load is one transaction:
 *   BEGIN
 *   INSERT INTO ingestd_ledger ... ON CONFLICT DO NOTHING RETURNING   -- claims the object
 *   [CREATE TABLE] [TRUNCATE | CREATE TEMP TABLE ingestd_stage]
 *   COPY target-or-stage FROM STDIN (binary or text format, 256 KB PQputCopyData chunks)
 *   [COPY ingestd_rejects] [MERGE or INSERT ... ON CONFLICT DO UPDATE from the stage]
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
 * Every connection gets SET lock_timeout (the sink's `lock_timeout`): a lock another
 * session holds too long fails the load as transient (55P03) and it is retried later,
 * rather than waiting while the message's visibility is extended for hours. At
 * shutdown a statement still waiting is cancelled (pg_wait.c).
 *
 * Errors: every failing call ends the transaction before it returns, so abort() after
 * an error is a harmless no-op. SQLSTATEs are classified by pg_sqlstate_class(); a
 * COPY error's "line N, column c" is mapped back to the object's line and column.
 * Binary COPY (the conversion of each value, the fallback to text) is pg_copybin.c.
 * This file does not read the catalog (pg_schema.c), run statements (pg_wait.c) or
 * format SQL (pg_sql.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "sinks/ident.h"
#include "sinks/postgres/pg_conninfo.h"
#include "sinks/postgres/pg_int.h"

#define PG_COPY_CHUNK    ((size_t)256 << 10)
#define PG_OUT_KEEP      (4 * PG_COPY_CHUNK) /* COPY buffer kept between chunks and loads */
#define PG_REJECTS_FLUSH ((size_t)1 << 20)
#define PG_LOCK_TIMEOUT  60 /* seconds, when the configuration does not say */

static void pg_close(struct sink *s);

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
    char msg[400];
    if (PQstatus(c) != CONNECTION_OK) {
        /* libpq may quote what it could not parse: never a piece of the password. */
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
        msg[strcspn(msg, "\n")] = '\0';
        pg_conninfo_redact(msg, sizeof(msg), sc->conninfo, password);
        ierr_set(e, pg_connect_error_class(msg), "sink %s: cannot connect to PostgreSQL: %s",
                 sc->name ? sc->name : "?", msg);
        PQfinish(c);
        c = NULL;
    }
    if (password) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
    return c;
}

/*
 * What every connection (and every reset) gets: non-blocking mode for pg_wait.c, and
 * the lock timeout. A failure leaves the connection usable; it is reported and the
 * load retried.
 */
static int session_setup(struct sink *s, struct ierr *e)
{
    char sql[64];
    if (PQsetnonblocking(s->conn, 1) != 0) {
        ierr_set(e, IERR_TRANSIENT, "sink %s: cannot make the connection non-blocking", s->name);
        return -1;
    }
    snprintf(sql, sizeof(sql), "SET lock_timeout = '%ds'", s->lock_timeout);
    PGresult *r = pg_exec(s, sql, 0, NULL, PGRES_COMMAND_OK, "SET lock_timeout", e);
    PQclear(r);
    return r ? 0 : -1;
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
    struct buf q;
    s->conn = c;
    s->name = xstrdup(sc->name ? sc->name : "postgres");
    s->home = xstrdup(!str_empty(sc->schema) ? sc->schema : "public");
    s->lock_timeout = sc->lock_timeout > 0 ? sc->lock_timeout : PG_LOCK_TIMEOUT;
    buf_init(&q);
    pg_quote_qualified(&q, s->home, PG_LEDGER_TABLE);
    s->qledger = buf_steal(&q);
    pg_quote_qualified(&q, s->home, PG_REJECTS_TABLE);
    s->qrejects = buf_steal(&q);
    s->copy_format = sc->copy_format;
    s->skip_unchanged = sc->upsert_unchanged == UPSERT_UNCHANGED_SKIP;
    buf_init(&s->out);
    buf_init(&s->rejects);
    linemap_init(&s->lines);
    PQsetNoticeProcessor(c, on_notice, s->name);
    if (session_setup(s, e)) {
        pg_close(s);
        return -1;
    }
    log_debug("sink %s: connected to PostgreSQL %s (schema %s, lock_timeout %d s)", s->name,
              PQparameterStatus(c, "server_version"), s->home, s->lock_timeout);
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
    if (session_setup(s, e))
        return -1;
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

/* Whether table (quoted, qualified) exists; the first statement on a connection that
 * may have died since the last load, so it resets and retries once. */
static int table_exists(struct sink *s, const char *table, bool *exists, struct ierr *e)
{
    const char *params[1] = {table};
    const char *sql = "SELECT pg_catalog.to_regclass($1) IS NOT NULL";
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
    const char *names[] = {s->qledger, s->qrejects};
    void (*ddl[])(struct buf *, const char *) = {pg_sql_ledger_ddl, pg_sql_rejects_ddl};
    struct buf sql;
    int rc = -1;
    buf_init(&sql);
    for (size_t i = 0; i < ARRAY_SIZE(ddl); i++) {
        bool exists;
        buf_reset(&sql);
        ddl[i](&sql, names[i]);
        if (table_exists(s, names[i], &exists, e))
            goto out;
        if (exists || pg_run(s, sql.data, "creating the ledger", e) == 0)
            continue;
        if (strcmp(s->sqlstate, "23505") && strcmp(s->sqlstate, "42P07") &&
            strcmp(s->sqlstate, "42710"))
            goto out;
        if (pg_run(s, sql.data, "creating the ledger", e))
            goto out;
    }
    s->tables_ready = true;
    rc = 0;
out:
    buf_free(&sql);
    return rc;
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
    free(s->merge_join_sql);
    free(s->null_route);
    s->merge_dedupe_sql = s->merge_join_sql = s->null_route = NULL;
    s->null_empty = false;
    s->prepared = false;
    s->cancel = NULL;
    s->cancel_sent = false;
    s->bucket = s->key = s->etag = s->route = s->schema = s->rel = s->qtable = NULL;
    s->obj_cols = s->tcols = NULL;
    s->copy_sql = s->merge_sql = NULL;
    s->copy_rel = NULL;
    s->ncols = 0;
    s->upsert = false;
    s->rows_sent = s->copy_base = s->nrejects = 0;
    buf_shrink(&s->out, PG_OUT_KEEP); /* a big row does not keep its memory */
    buf_reset(&s->rejects);
    linemap_free(&s->lines);
    linemap_init(&s->lines);
    pg_copybin_clear(&s->bin);
}

/* Ends the transaction whatever state it is in; never fails. */
static void rollback(struct sink *s)
{
    if (s->state == PG_COPY && PQstatus(s->conn) == CONNECTION_OK) {
        /* A server stuck on a lock reads nothing more: at shutdown, cancel first. */
        pg_cancel_if_asked(s);
        PQputCopyEnd(s->conn, "load aborted by ingestd");
        PGresult *r;
        while ((r = pg_result_wait(s)))
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
    struct buf sql;
    buf_init(&sql);
    buf_printf(&sql,
               "INSERT INTO %s (bucket, key, etag, version_id, sequencer, route, rows, bytes) "
               "VALUES ($1, $2, $3, $4, $5, $6, 0, 0) ON CONFLICT DO NOTHING RETURNING 1",
               s->qledger);
    PGresult *r = pg_exec(s, sql.data, 6, params, PGRES_TUPLES_OK, "ledger", e);
    buf_free(&sql);
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
    struct buf sql;
    buf_init(&sql);
    buf_printf(&sql,
               "SELECT max(sequencer) FROM %s WHERE bucket = $1 AND "
               "key = $2 AND etag <> $3 AND sequencer IS NOT NULL AND "
               "upper(rpad(sequencer, greatest(length(sequencer), length($4)), '0')) "
               "COLLATE \"C\" > upper(rpad($4, greatest(length(sequencer), length($4)), '0')) "
               "COLLATE \"C\"",
               s->qledger);
    r = pg_exec(s, sql.data, 4, params, PGRES_TUPLES_OK, "ledger", e);
    buf_free(&sql);
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
        pg_sql_copy(&sql, PG_STAGE_QUAL, (const char *const *)s->tcols, s->ncols, true);
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

/* The target's schema and name, and whether a load may write there at all. */
static int target_name(struct sink *s, const struct load_target *t, struct ierr *e)
{
    struct buf q;
    char *given = NULL;
    pg_split_qualified(t->table, &given, &s->rel);
    s->schema = given ? given : xstrdup(s->home);
    buf_init(&q);
    pg_quote_qualified(&q, s->schema, s->rel);
    s->qtable = buf_steal(&q);
    return sink_guard_target(s->schema, s->rel, s->qtable, sink_guard_pg_catalog, e);
}

/* Unquoted empty CSV fields are NULL under the route's null list (the default). */
static bool null_empty(const struct route_conf *r)
{
    return r && (r->format == FORMAT_CSV || r->format == FORMAT_TSV) &&
           strlist_contains(&r->null, "");
}

/* A NOT NULL violation (23502) may come from an empty field the route reads as NULL:
 * say which setting changes that. */
static void null_hint(struct sink *s, struct ierr *e)
{
    if (strcmp(s->sqlstate, "23502") || !s->null_empty)
        return;
    size_t n = strlen(e->reason);
    snprintf(e->reason + n, sizeof(e->reason) - n,
             "; an unquoted empty field is NULL under route %s's null = \"\" (the default): "
             "quote it (\"\") or set null = \"\\N\" to load empty fields as empty strings",
             s->null_route ? s->null_route : "?");
}

static int pg_begin(struct sink *s, const struct load_object *o, const struct load_target *t,
                    bool *already_loaded, struct ierr *e)
{
    bool claimed = false, superseded = false;
    *already_loaded = false;
    if (s->state != PG_IDLE)
        rollback(s);
    load_clear(s);
    if (target_name(s, t, e))
        goto fail;
    s->cancel = o->cancel;
    s->null_empty = null_empty(t->route);
    s->null_route = xstrdup(t->route->name ? t->route->name : "?");
    if (ensure_connection(s, e) || (!s->tables_ready && ensure_tables(s, e)) ||
        run_idle(s, "BEGIN", "BEGIN", e))
        goto fail;
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
        pg_set_sample(e, cc.sample);
    }
    const char *col = PQresultErrorField(r, PG_DIAG_COLUMN_NAME);
    for (size_t i = 0; col && !e->column && i < s->ncols; i++) {
        if (!strcmp(s->tcols[i], col)) {
            e->column = (unsigned)i + 1;
            snprintf(e->column_name, sizeof(e->column_name), "%s", s->obj_cols[i]);
        }
    }
    pg_set_sample(e, PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL));
    null_hint(s, e);
    pg_copybin_copy_failed(s, e);
}

/* Hands the buffered COPY data to libpq, in pieces of at most PG_COPY_CHUNK: libpq's
 * output buffer grows to the largest piece and keeps that size with the connection.
 * A server error (bad value) surfaces here as soon as libpq has read it, so a bad row
 * early in a large object stops it early. */
static int copy_flush(struct sink *s, struct ierr *e)
{
    size_t done = 0;

    if (s->out.len == 0)
        return 0;
    PQconsumeInput(s->conn);
    while (done < s->out.len) {
        size_t n = s->out.len - done < PG_COPY_CHUNK ? s->out.len - done : PG_COPY_CHUNK;
        if (PQputCopyData(s->conn, s->out.data + done, (int)n) != 1 || pg_flush_wait(s) != 0)
            break;
        done += n;
    }
    if (done == s->out.len) {
        buf_shrink(&s->out, PG_OUT_KEEP);
        return 0;
    }
    PGresult *r = pg_result_wait(s);
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
    PGresult *r = pg_result_wait(s);
    int rc = 0;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        copy_error(s, r, e);
        rc = -1;
    }
    PQclear(r);
    while ((r = pg_result_wait(s)))
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

/* One row in COPY text format: reserved once, then written in place. The row's size
 * comes from the object (up to max_row_bytes): -1 with e set (transient) when the
 * memory cannot be had. */
static int encode_row(struct sink *s, const struct row *row, struct ierr *e)
{
    size_t need = 24;
    for (size_t c = 0; c < s->ncols; c++)
        need += 2 * row->fields[c].len + 3;
    if (buf_try_reserve(&s->out, need) < 0) {
        ierr_set(e, IERR_TRANSIENT, "line %" PRIu64 ": out of memory: %zu bytes for the row",
                 row->line, need);
        e->line = row->line;
        return -1;
    }
    char *o = s->out.data + s->out.len;
    for (size_t c = 0; c < s->ncols; c++) {
        const struct field *f = &row->fields[c];
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
    return 0;
}

static int pg_write(struct sink *s, const struct batch *b, struct ierr *e)
{
    if (s->state != PG_COPY) {
        ierr_set(e, IERR_PERMANENT, "sink %s: write() outside a load", s->name);
        return -1;
    }
    for (size_t i = 0; i < b->nrows; i++) {
        linemap_add(&s->lines, b->rows[i].line);
        if ((s->bin.on ? pg_copybin_row(s, &b->rows[i], e) : encode_row(s, &b->rows[i], e)) < 0 ||
            (s->out.len >= PG_COPY_CHUNK && copy_flush(s, e))) {
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
    struct buf sql;
    buf_init(&sql);
    buf_printf(&sql,
               "COPY %s (bucket, key, etag, route, line, col, column_name, reason, raw) "
               "FROM STDIN",
               s->qrejects);
    PGresult *r = pg_exec(s, sql.data, 0, NULL, PGRES_COPY_IN, "rejects", e);
    buf_free(&sql);
    if (!r)
        return -1;
    PQclear(r);
    if (PQputCopyData(s->conn, s->rejects.data, (int)s->rejects.len) != 1 || pg_flush_wait(s) ||
        PQputCopyEnd(s->conn, NULL) != 1) {
        pg_fill_error(s, NULL, "rejects", e);
        return -1;
    }
    r = pg_result_wait(s);
    int rc = 0;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_fill_error(s, r, "rejects", e);
        rc = -1;
    }
    PQclear(r);
    while ((r = pg_result_wait(s)))
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

static int pg_reject(struct sink *s, const struct row_reject *rj, struct ierr *e)
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
    buf_puts(&sql, "SELECT min(\"" PG_STAGE_ORD "\") FROM " PG_STAGE_QUAL " WHERE ");
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

static bool failed_with(const PGresult *r, const char *sqlstate)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return r && PQresultStatus(r) == PGRES_FATAL_ERROR && st && !strcmp(st, sqlstate);
}

/*
 * MERGE from the stage, when the target's key index allows it (pg_schema.c): one index
 * probe per staged row and a plain update, where INSERT ... ON CONFLICT first inserts
 * speculatively and locks each row before updating it. The join is kept to a nested
 * loop over the key index: the planner, without statistics on the fresh stage, would
 * otherwise hash it into batches on disk. SET LOCAL ends with the transaction, and the
 * rest of it (the ledger update) has no join to plan.
 *
 * MERGE is only the faster way: when it fails for a reason a retry would not mend (a key
 * repeated in the file: 21000, or 23505 between two new rows; a row another session
 * inserted since: 23505; anything else MERGE refuses), INSERT ... ON CONFLICT runs in its
 * place, and its error, if it has one, is the one reported, as before. A transient failure
 * (connection, lock timeout, cancel) is returned as it is. Returns 1 when INSERT ... ON CONFLICT is
 * to run (the savepoint rolled back to), 0 with *r the result otherwise, -1 when not even the
 * settings could be made.
 */
static int merge_join(struct sink *s, PGresult **r, struct ierr *e)
{
    if (pg_run(s, "SET LOCAL enable_hashjoin = off", "upsert", e) ||
        pg_run(s, "SET LOCAL enable_mergejoin = off", "upsert", e))
        return -1;
    *r = pg_exec_wait(s, s->merge_join_sql, 0, NULL);
    if (!*r || PQresultStatus(*r) != PGRES_FATAL_ERROR ||
        pg_sqlstate_class(PQresultErrorField(*r, PG_DIAG_SQLSTATE)) != IERR_PERMANENT)
        return 0;
    log_debug("upsert into %s: MERGE failed (%s), INSERT ... ON CONFLICT instead", s->qtable,
              PQresultErrorField(*r, PG_DIAG_SQLSTATE));
    PQclear(*r);
    *r = NULL;
    return pg_run(s, "ROLLBACK TO SAVEPOINT ingestd_merge", "upsert", e) ? -1 : 1;
}

/* Into the target from the stage: MERGE where it can, else INSERT ... ON CONFLICT. Most
 * files have unique keys, so the plain statement runs first; a file that repeats a key
 * makes it fail with 21000 ("cannot affect row a second time"), and then the sorting,
 * de-duplicating one runs instead. The savepoint costs nothing when it works and lets a
 * failure be traced back to the object's line. */
static int merge(struct sink *s, struct ierr *e)
{
    PGresult *r = NULL;
    if (pg_run(s, "SAVEPOINT ingestd_merge", "upsert", e))
        return -1;
    int joined = s->merge_join_sql ? merge_join(s, &r, e) : 1;
    if (joined < 0)
        return -1;
    if (joined == 1)
        r = pg_exec_wait(s, s->merge_sql, 0, NULL);
    if (failed_with(r, "21000")) {
        PQclear(r);
        if (pg_run(s, "ROLLBACK TO SAVEPOINT ingestd_merge", "upsert", e))
            return -1;
        r = pg_exec_wait(s, s->merge_dedupe_sql, 0, NULL);
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
    null_hint(s, e);
    free(colname);
    return -1;
}

static int update_ledger(struct sink *s, const struct load_stats *st, struct ierr *e)
{
    char rows[24], bytes[24];
    snprintf(rows, sizeof(rows), "%" PRIu64, s->rows_sent);
    snprintf(bytes, sizeof(bytes), "%" PRIu64, st ? st->bytes : 0);
    const char *params[] = {s->bucket, s->key, s->etag, rows, bytes};
    struct buf sql;
    buf_init(&sql);
    buf_printf(&sql,
               "UPDATE %s SET rows = $4, bytes = $5, loaded_at = now() "
               "WHERE bucket = $1 AND key = $2 AND etag = $3",
               s->qledger);
    PGresult *r = pg_exec(s, sql.data, 5, params, PGRES_COMMAND_OK, "ledger", e);
    buf_free(&sql);
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

/* Everything of the load but COMMIT: the rows' own errors show up here. */
static int pg_prepare(struct sink *s, const struct load_stats *st, struct ierr *e)
{
    if (s->state == PG_IDLE) {
        ierr_set(e, IERR_PERMANENT, "sink %s: commit() outside a load", s->name);
        return -1;
    }
    if (s->prepared)
        return 0;
    if (s->state == PG_COPY && copy_end(s, e))
        goto fail;
    if (flush_rejects(s, e))
        goto fail;
    if (s->merge_sql && merge(s, e))
        goto fail;
    if (update_ledger(s, st, e))
        goto fail;
    s->prepared = true;
    return 0;
fail:
    rollback(s);
    return -1;
}

static int pg_commit(struct sink *s, const struct load_stats *st, bool *already_loaded,
                     struct ierr *e)
{
    *already_loaded = false;
    if (pg_prepare(s, st, e))
        return -1;
    PGresult *r = pg_exec_wait(s, "COMMIT", 0, NULL);
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
    free(s->home);
    free(s->qledger);
    free(s->qrejects);
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

/*
 * The configuration's checks of a PostgreSQL sink: a conninfo libpq would accept (its
 * mistake named by kind, never quoting it: the text may be a piece of the password) and
 * a schema of ingestd's choosing, never a catalog (sink_guard.h).
 */
static int pg_check_conf(const struct sink_conf *sc, const char *key, struct buf *why)
{
    const char *v, *what;

    if (!strcmp(key, "conninfo") && sc->conninfo && pg_conninfo_check(sc->conninfo, &what)) {
        buf_printf(why, "%s; the value is not shown because it may hold the password", what);
        return -1;
    }
    if (strcmp(key, "schema"))
        return 0;
    v = sc->schema ? sc->schema : "";
    if (!ident_valid(v, strlen(v))) {
        cfg_quote_value(why, v);
        buf_printf(why,
                   " is not a schema name (letters, digits and _, not starting with a digit, "
                   "at most %d characters)",
                   IDENT_MAX_LEN);
        return -1;
    }
    if (sink_guard_pg_catalog(v)) {
        cfg_quote_value(why, v);
        buf_puts(why, " is a system catalog schema: loads never write there");
        return -1;
    }
    return 0;
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
    .prepare = pg_prepare,
    .close = pg_close,
    .check = pg_check,
    .check_conf = pg_check_conf,
};
