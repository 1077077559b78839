/*
 * sink_mysql.c: the MySQL/MariaDB sink (libmariadb). One connection per worker, kept
 * between loads, dropped after an error that broke it and reopened by the next begin().
 *
 * A load is one transaction:
 *   [CREATE TABLE]                                   -- commits implicitly: before it
 *   [GET_LOCK(bucket/key)]                           -- upsert/replace with a sequencer
 *   [CREATE TEMPORARY TABLE ingestd_stage]           -- upsert, or on_error = skip_row
 *   START TRANSACTION
 *   INSERT INTO ingestd_ledger ...                   -- claims the object
 *   [DELETE FROM target]                             -- replace (TRUNCATE would commit)
 *   LOAD DATA LOCAL INFILE ... INTO target-or-stage  -- streamed, see mysql_load.c
 *   SHOW WARNINGS                                    -- any warning fails the file...
 *   [DELETE warned rows FROM stage; INSERT INTO ingestd_rejects]   -- ...or skip_row
 *   [INSERT INTO target SELECT FROM stage ORDER BY ord [ON DUPLICATE KEY UPDATE]]
 *   UPDATE ingestd_ledger SET rows, bytes
 *   COMMIT
 * Claiming the ledger row first makes two instances racing on one object safe: the
 * second one's INSERT waits on the unique index until the first commits, then fails
 * with a duplicate key and reports already_loaded; if the first rolls back, the second
 * loads. A cheap lookup before any of it spares an already loaded object the DDL.
 *
 * on_error = skip_row: the server cannot skip rows of a LOAD DATA, so such loads always
 * go through the staging table; rows the server warned about are deleted from it by
 * their ordinal, recorded in ingestd_rejects (same transaction) and the rest is copied
 * into the target in file order.
 *
 * Names: an unqualified target, the ledger and the rejects table are qualified with the
 * sink's `database`; a target in a system database or named like one of ingestd's own
 * tables is refused (sink_guard.h). Every session sets lock_wait_timeout and
 * innodb_lock_wait_timeout to the sink's `lock_timeout`, so a lock held too long fails
 * the load as transient (1205) instead of holding it for hours; at shutdown a waiting
 * statement is stopped with KILL QUERY (mysql_wait.c).
 *
 * Errors: every failing call ends the transaction before it returns, so abort() after
 * an error is a harmless no-op. Error numbers are classified by my_errno_class(); a
 * LOAD DATA warning's "at row N" is mapped back to the object's line and column.
 * This file does not read the catalog (mysql_schema.c), run the stream
 * (mysql_load.c), run statements (mysql_wait.c), connect (mysql_conn.c) or format SQL
 * (mysql_sql.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "sinks/mysql/mysql_int.h"
#include "sinks/sink_guard.h"

#define MY_REJECTS_FLUSH ((size_t)1 << 20)
#define MY_KEY_LOCK_WAIT 60
#define MY_DELETE_CHUNK  1000

static int run(struct sink *s, const char *sql, const char *what, struct ierr *e)
{
    return my_run(s, sql, strlen(sql), what, e);
}

/* ---- connection ---- */

static void params_free(struct my_conn_params *p)
{
    free(p->host);
    free(p->user);
    free(p->database);
    free(p->ssl_mode);
    free(p->ssl_ca);
    if (p->password) {
        explicit_bzero(p->password, strlen(p->password));
        free(p->password);
    }
    memset(p, 0, sizeof(*p));
}

static int params_from_conf(const struct sink_conf *sc, const struct config *cfg,
                            struct my_conn_params *p, struct ierr *e)
{
    memset(p, 0, sizeof(*p));
    if (sink_resolve_password(sc, cfg, &p->password, e))
        return -1;
    p->host = xstrdup(sc->host ? sc->host : "127.0.0.1");
    p->user = sc->user ? xstrdup(sc->user) : NULL;
    p->database = sc->database ? xstrdup(sc->database) : NULL;
    p->ssl_mode = sc->ssl_mode ? xstrdup(sc->ssl_mode) : NULL;
    p->ssl_ca = sc->ssl_ca ? xstrdup(sc->ssl_ca) : NULL;
    p->port = sc->port > 0 ? (unsigned)sc->port : 3306;
    p->lock_timeout = sc->lock_timeout > 0 ? sc->lock_timeout : MY_LOCK_TIMEOUT;
    return 0;
}

/* `database`.`table`, or `table` alone when the sink names no database. */
static void qualify(struct buf *b, const char *database, const char *table)
{
    if (database) {
        my_quote_ident(b, database);
        buf_putc(b, '.');
    }
    my_quote_ident(b, table);
}

static int my_open(const struct sink_conf *sc, const struct config *cfg, struct sink **out,
                   struct ierr *e)
{
    struct my_conn_params p;
    *out = NULL;
    if (params_from_conf(sc, cfg, &p, e))
        return -1;
    const char *name = sc->name ? sc->name : "mysql";
    MYSQL *m = my_connect(&p, name, e);
    if (!m) {
        params_free(&p);
        return -1;
    }
    struct sink *s = xcalloc(1, sizeof(*s));
    struct buf q;
    s->conn = m;
    s->thread_id = mysql_thread_id(m);
    s->cp = p;
    s->name = xstrdup(name);
    buf_init(&q);
    qualify(&q, p.database, MY_LEDGER_TABLE);
    s->qledger = buf_steal(&q);
    qualify(&q, p.database, MY_REJECTS_TABLE);
    s->qrejects = buf_steal(&q);
    buf_init(&s->out);
    buf_init(&s->rejects);
    linemap_init(&s->lines);
    log_debug("sink %s: connected to MySQL %s", s->name, mysql_get_server_info(m));
    *out = s;
    return 0;
}

/* Between loads: reconnect a dropped connection, and one that died while idle. */
static int ensure_connection(struct sink *s, struct ierr *e)
{
    if (s->conn && mysql_ping(s->conn) == 0)
        return 0;
    my_drop_connection(s);
    s->conn = my_connect(&s->cp, s->name, e);
    if (!s->conn)
        return -1;
    s->thread_id = mysql_thread_id(s->conn);
    log_info("sink %s: reconnected to MySQL", s->name);
    return 0;
}

/* The ledger and rejects tables; only missing ones are created, so an account without
 * CREATE works with tables an administrator made. */
static int ensure_tables(struct sink *s, struct ierr *e)
{
    struct buf sql;
    buf_init(&sql);
    buf_puts(&sql, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ");
    if (s->cp.database)
        my_put_str(&sql, s->cp.database);
    else
        buf_puts(&sql, "DATABASE()");
    buf_puts(&sql, " AND TABLE_NAME IN ('" MY_LEDGER_TABLE "', '" MY_REJECTS_TABLE "')");
    MYSQL_RES *r = my_query(s, sql.data, "ledger lookup", e);
    buf_reset(&sql);
    if (!r) {
        buf_free(&sql);
        return -1;
    }
    bool ledger = false, rejects = false;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r))) {
        ledger |= row[0] && !strcmp(row[0], MY_LEDGER_TABLE);
        rejects |= row[0] && !strcmp(row[0], MY_REJECTS_TABLE);
    }
    mysql_free_result(r);
    int rc = 0;
    if (!ledger) {
        my_sql_ledger_ddl(&sql, s->qledger);
        rc = my_run(s, sql.data, sql.len, "creating the ledger", e);
        buf_reset(&sql);
    }
    if (rc == 0 && !rejects) {
        my_sql_rejects_ddl(&sql, s->qrejects);
        rc = my_run(s, sql.data, sql.len, "creating the rejects table", e);
    }
    buf_free(&sql);
    if (rc)
        return -1;
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
    free(s->qtable);
    free_list(s->obj_cols, s->ncols);
    free_list(s->tcols, s->ncols);
    free_list(s->keys, s->nkeys);
    free(s->conv);
    free(s->limits);
    free(s->load_sql);
    free(s->warned);
    free(s->null_route);
    s->null_route = NULL;
    s->null_empty = false;
    s->prepared = false;
    s->cancel = NULL;
    s->kill_sent = false;
    s->bucket = s->key = s->etag = s->route = s->qtable = s->load_sql = NULL;
    s->obj_cols = s->tcols = s->keys = NULL;
    s->conv = NULL;
    s->limits = NULL;
    s->suspect.ord = 0;
    s->warned = NULL;
    s->ncols = s->nkeys = s->nwarned = s->capwarned = 0;
    s->staged = s->skip_rows = false;
    s->rows_sent = s->load_base = s->nrejects = 0;
    buf_shrink(&s->out, (size_t)1 << 20); /* a big row does not keep its memory */
    buf_reset(&s->rejects);
    linemap_free(&s->lines);
    linemap_init(&s->lines);
}

/* The object's identity as the ledger's generated column computes it. */
static void put_object_id(struct sink *s, struct buf *b)
{
    buf_puts(b, "UNHEX(SHA2(CONCAT_WS(CHAR(0), ");
    my_put_str(b, s->bucket);
    buf_puts(b, ", ");
    my_put_str(b, s->key);
    buf_puts(b, ", ");
    my_put_str(b, s->etag);
    buf_puts(b, "), 256))");
}

static void put_lock_name(struct sink *s, struct buf *b)
{
    buf_puts(b, "CONCAT('ingestd:', LEFT(SHA2(CONCAT_WS(CHAR(0), ");
    my_put_str(b, s->bucket);
    buf_puts(b, ", ");
    my_put_str(b, s->key);
    buf_puts(b, "), 256), 48))");
}

/* Outside the transaction: drops the stage and the key lock; never fails. */
static void release_load(struct sink *s)
{
    struct ierr ignored;
    if (s->conn && s->stage_made)
        run(s, "DROP TEMPORARY TABLE IF EXISTS " MY_STAGE_TABLE, "staging table", &ignored);
    s->stage_made = false;
    if (s->conn && s->key_locked) {
        struct buf sql;
        buf_init(&sql);
        buf_puts(&sql, "DO RELEASE_LOCK(");
        put_lock_name(s, &sql);
        buf_putc(&sql, ')');
        run(s, sql.data, "key lock", &ignored);
        buf_free(&sql);
    }
    s->key_locked = false;
}

/* Ends the transaction whatever state it is in; never fails. */
static void rollback(struct sink *s)
{
    struct ierr ignored;
    if (s->state == MY_LOAD)
        my_load_cancel(s);
    if (s->state != MY_IDLE && s->conn && run(s, "ROLLBACK", "ROLLBACK", &ignored))
        my_drop_connection(s);
    s->state = MY_IDLE;
    release_load(s);
    load_clear(s);
}

static int ledger_has(struct sink *s, bool *has, struct ierr *e)
{
    struct buf sql;
    buf_init(&sql);
    buf_printf(&sql, "SELECT 1 FROM %s WHERE object_id = ", s->qledger);
    put_object_id(s, &sql);
    MYSQL_RES *r = my_query(s, sql.data, "ledger lookup", e);
    buf_free(&sql);
    if (!r)
        return -1;
    *has = mysql_num_rows(r) > 0;
    mysql_free_result(r);
    return 0;
}

/* Claims the object in the ledger; *claimed false when another load holds it. */
static int claim_ledger(struct sink *s, const struct load_object *o, bool *claimed, struct ierr *e)
{
    struct buf sql;
    buf_init(&sql);
    buf_printf(&sql,
               "INSERT INTO %s (bucket, `key`, etag, version_id, sequencer, route, `rows`, "
               "bytes, loaded_at) VALUES (",
               s->qledger);
    const char *vals[] = {s->bucket, s->key, s->etag, o->version_id, o->sequencer, s->route};
    for (size_t i = 0; i < ARRAY_SIZE(vals); i++) {
        my_put_str(&sql, vals[i]);
        buf_puts(&sql, ", ");
    }
    buf_puts(&sql, "0, 0, UTC_TIMESTAMP(6))");
    int rc = my_run(s, sql.data, sql.len, "ledger", e);
    buf_free(&sql);
    *claimed = rc == 0;
    if (rc && s->last_err == 1062)
        return 0;
    return rc;
}

/*
 * upsert / replace: an event older than the loaded version of its key (S3 sequencers
 * of one key order its events) must not overwrite it. A named lock on (bucket, key),
 * taken before the transaction's snapshot, serialises loads of one key so the check
 * sees every version committed before ours.
 */
static int lock_key(struct sink *s, struct ierr *e)
{
    struct buf sql;
    buf_init(&sql);
    buf_puts(&sql, "SELECT GET_LOCK(");
    put_lock_name(s, &sql);
    buf_printf(&sql, ", %d)", MY_KEY_LOCK_WAIT);
    MYSQL_RES *r = my_query(s, sql.data, "key lock", e);
    buf_free(&sql);
    if (!r)
        return -1;
    MYSQL_ROW row = mysql_fetch_row(r);
    bool got = row && row[0] && !strcmp(row[0], "1");
    mysql_free_result(r);
    if (!got) {
        ierr_set(e, IERR_TRANSIENT, "another load of s3://%s/%s held its key lock for %d s",
                 s->bucket, s->key, MY_KEY_LOCK_WAIT);
        return -1;
    }
    s->key_locked = true;
    return 0;
}

static int check_superseded(struct sink *s, const struct load_object *o, bool *superseded,
                            struct ierr *e)
{
    struct buf sql;
    buf_init(&sql);
    buf_printf(&sql, "SELECT sequencer FROM %s WHERE bucket = ", s->qledger);
    my_put_str(&sql, s->bucket);
    buf_puts(&sql, " AND `key` = ");
    my_put_str(&sql, s->key);
    buf_puts(&sql, " AND etag <> ");
    my_put_str(&sql, s->etag);
    buf_puts(&sql, " AND sequencer IS NOT NULL");
    MYSQL_RES *r = my_query(s, sql.data, "ledger", e);
    buf_free(&sql);
    if (!r)
        return -1;
    MYSQL_ROW row;
    *superseded = false;
    while (!*superseded && (row = mysql_fetch_row(r))) {
        if (row[0] && my_sequencer_cmp(row[0], o->sequencer) > 0) {
            log_info("s3://%s/%s (sequencer %s) is older than the loaded version (sequencer "
                     "%s): skipped",
                     s->bucket, s->key, o->sequencer, row[0]);
            *superseded = true;
        }
    }
    mysql_free_result(r);
    return 0;
}

static int make_stage(struct sink *s, struct ierr *e)
{
    struct buf sql;
    buf_init(&sql);
    my_sql_stage(&sql, s->qtable, (const char *const *)s->tcols, s->ncols);
    int rc = run(s, "DROP TEMPORARY TABLE IF EXISTS " MY_STAGE_TABLE, "staging table", e);
    if (rc == 0)
        rc = my_run(s, sql.data, sql.len, "staging table", e);
    buf_free(&sql);
    s->stage_made = rc == 0;
    return rc;
}

/* skip_row loads: room for every warning max_errors allows (each row may raise several). */
static int set_warning_room(struct sink *s, struct ierr *e)
{
    int64_t room = s->max_errors * 4 + 64;
    char sql[80];
    snprintf(sql, sizeof(sql), "SET SESSION max_error_count = %" PRId64,
             room > 65535 ? (int64_t)65535 : room);
    return run(s, sql, "session", e);
}

static int start_txn(struct sink *s, const struct load_object *o, const struct load_target *t,
                     bool *already, struct ierr *e)
{
    bool claimed = false, superseded = false;
    bool ordered = t->route->mode != MODE_APPEND && !str_empty(o->sequencer);

    if ((ordered && lock_key(s, e)) || (s->staged && make_stage(s, e)) ||
        (s->skip_rows && set_warning_room(s, e)) ||
        run(s, "START TRANSACTION", "START TRANSACTION", e))
        return -1;
    s->state = MY_TXN;
    if (claim_ledger(s, o, &claimed, e))
        return -1;
    if (!claimed)
        log_debug("s3://%s/%s (etag %s) is already in %s", s->bucket, s->key, s->etag,
                  MY_LEDGER_TABLE);
    else if (ordered && check_superseded(s, o, &superseded, e))
        return -1;
    *already = !claimed || superseded;
    return 0;
}

/* A target in a system database, or one of ingestd's own tables, is never loaded. */
static int check_target(struct sink *s, const struct load_target *t, struct ierr *e)
{
    const char *dot = strchr(t->table, '.');
    char *db = dot ? xstrndup(t->table, (size_t)(dot - t->table)) : NULL;
    struct buf shown;
    buf_init(&shown);
    qualify(&shown, db ? db : s->cp.database, dot ? dot + 1 : t->table);
    int rc = sink_guard_target(db ? db : s->cp.database, dot ? dot + 1 : t->table, shown.data,
                               sink_guard_mysql_catalog, e);
    buf_free(&shown);
    free(db);
    return rc;
}

static int my_begin(struct sink *s, const struct load_object *o, const struct load_target *t,
                    bool *already_loaded, struct ierr *e)
{
    bool has = false;
    struct buf sql;

    *already_loaded = false;
    if (s->state != MY_IDLE)
        rollback(s);
    load_clear(s);
    if (check_target(s, t, e))
        return -1;
    s->cancel = o->cancel;
    s->null_empty = (t->route->format == FORMAT_CSV || t->route->format == FORMAT_TSV) &&
                    strlist_contains(&t->route->null, "");
    s->null_route = xstrdup(t->route->name ? t->route->name : "?");
    if (ensure_connection(s, e) || (!s->tables_ready && ensure_tables(s, e)))
        goto fail;
    s->bucket = xstrdup(o->bucket);
    s->key = xstrdup(o->key);
    s->etag = xstrdup(o->etag ? o->etag : "");
    s->route = xstrdup(t->route->name ? t->route->name : "");
    if (ledger_has(s, &has, e))
        goto fail;
    if (has) {
        log_debug("s3://%s/%s (etag %s) is already in %s", s->bucket, s->key, s->etag,
                  MY_LEDGER_TABLE);
        *already_loaded = true;
        rollback(s);
        return 0;
    }
    if (my_schema_prepare(s, t, e))
        goto fail;
    s->skip_rows = t->route->on_error == ON_ERROR_SKIP_ROW;
    s->max_errors = t->route->max_errors;
    s->staged = t->route->mode == MODE_UPSERT || s->skip_rows;
    if (start_txn(s, o, t, already_loaded, e))
        goto fail;
    if (*already_loaded) {
        rollback(s);
        return 0;
    }
    if (t->route->mode == MODE_REPLACE) {
        buf_init(&sql);
        buf_printf(&sql, "DELETE FROM %s", s->qtable);
        int rc = my_run(s, sql.data, sql.len, "replace (DELETE)", e);
        buf_free(&sql);
        if (rc)
            goto fail;
    }
    buf_init(&sql);
    my_sql_load(&sql, s->qtable, (const char *const *)s->tcols, s->ncols, s->staged);
    s->load_sql = buf_steal(&sql);
    if (my_load_start(s, e))
        goto fail;
    return 0;
fail:
    rollback(s);
    return -1;
}

static int my_write(struct sink *s, const struct batch *b, struct ierr *e)
{
    if (s->state != MY_LOAD) {
        ierr_set(e, IERR_PERMANENT, "sink %s: write() outside a load", s->name);
        return -1;
    }
    if (my_load_write(s, b, e)) {
        rollback(s);
        return -1;
    }
    return 0;
}

/* ---- rejects ---- */

static int flush_rejects(struct sink *s, struct ierr *e)
{
    if (s->rejects.len == 0)
        return 0;
    bool loading = s->state == MY_LOAD;
    if (loading && my_load_finish(s, e))
        return -1;
    struct buf sql;
    buf_init(&sql);
    buf_printf(&sql,
               "INSERT INTO %s (bucket, `key`, etag, route, line, col, column_name, reason, "
               "raw) VALUES ",
               s->qrejects);
    buf_append(&sql, s->rejects.data, s->rejects.len);
    int rc = my_run(s, sql.data, sql.len, "rejects", e);
    buf_free(&sql);
    buf_reset(&s->rejects);
    if (rc == 0 && loading)
        rc = my_load_start(s, e);
    return rc;
}

static int my_reject(struct sink *s, const struct row_reject *rj, struct ierr *e)
{
    if (s->state == MY_IDLE) {
        ierr_set(e, IERR_PERMANENT, "sink %s: reject() outside a load", s->name);
        return -1;
    }
    my_reject_tuple(s, rj->line, rj->column, rj->reason, rj->raw);
    s->nrejects++;
    if (s->rejects.len >= MY_REJECTS_FLUSH && flush_rejects(s, e)) {
        rollback(s);
        return -1;
    }
    return 0;
}

/* ---- commit ---- */

/* Warnings of the last statement other than notes fail it (the merge runs strict).
 * 1287 is MySQL 8's deprecation of VALUES() in ON DUPLICATE KEY UPDATE, which MariaDB
 * has no alternative to. */
static int no_warnings(struct sink *s, const char *what, struct ierr *e)
{
    if (!s->conn || mysql_warning_count(s->conn) == 0)
        return 0;
    MYSQL_RES *r = my_query(s, "SHOW WARNINGS", what, e);
    if (!r)
        return -1;
    MYSQL_ROW row;
    int rc = 0;
    while (rc == 0 && (row = mysql_fetch_row(r))) {
        if ((row[0] && !strcmp(row[0], "Note")) || (row[1] && !strcmp(row[1], "1287")))
            continue;
        ierr_set(e, IERR_PERMANENT, "%s into %s: %s (MySQL %s %s)", what, s->qtable,
                 row[2] ? row[2] : "", row[0] ? row[0] : "", row[1] ? row[1] : "");
        my_name_target(s, e);
        rc = -1;
    }
    mysql_free_result(r);
    return rc;
}

/* The staged rows, less the warned ones, into the target in file order. */
static int merge(struct sink *s, struct ierr *e)
{
    struct buf sql;
    int rc = 0;
    buf_init(&sql);
    for (size_t i = 0; rc == 0 && i < s->nwarned; i += MY_DELETE_CHUNK) {
        buf_reset(&sql);
        buf_puts(&sql, "DELETE FROM " MY_STAGE_TABLE " WHERE `" MY_STAGE_ORD "` IN (");
        for (size_t j = i; j < s->nwarned && j < i + MY_DELETE_CHUNK; j++)
            buf_printf(&sql, "%s%" PRIu64, j > i ? ", " : "", s->warned[j]);
        buf_putc(&sql, ')');
        rc = my_run(s, sql.data, sql.len, "skip_row", e);
    }
    if (rc == 0) {
        buf_reset(&sql);
        my_sql_merge(&sql, s->qtable, (const char *const *)s->tcols, s->ncols,
                     (const char *const *)s->keys, s->nkeys);
        rc = my_run(s, sql.data, sql.len, s->nkeys ? "upsert" : "insert from stage", e);
        if (rc == 0)
            rc = no_warnings(s, s->nkeys ? "upsert" : "insert from stage", e);
    }
    buf_free(&sql);
    return rc;
}

static int update_ledger(struct sink *s, const struct load_stats *st, struct ierr *e)
{
    struct buf sql;
    buf_init(&sql);
    buf_printf(&sql,
               "UPDATE %s SET `rows` = %" PRIu64 ", bytes = %" PRIu64
               ", loaded_at = UTC_TIMESTAMP(6) WHERE object_id = ",
               s->qledger, s->rows_sent - s->nwarned, st ? st->bytes : 0);
    put_object_id(s, &sql);
    int rc = my_run(s, sql.data, sql.len, "ledger", e);
    buf_free(&sql);
    if (rc)
        return -1;
    if (mysql_affected_rows(s->conn) != 1) {
        ierr_set(e, IERR_TRANSIENT, "ledger row for s3://%s/%s vanished during the load", s->bucket,
                 s->key);
        return -1;
    }
    return 0;
}

/* Everything of the load but COMMIT: the rows' own errors show up here. */
static int my_prepare(struct sink *s, const struct load_stats *st, struct ierr *e)
{
    if (s->state == MY_IDLE) {
        ierr_set(e, IERR_PERMANENT, "sink %s: commit() outside a load", s->name);
        return -1;
    }
    if (s->prepared)
        return 0;
    if (s->state == MY_LOAD && my_load_finish(s, e))
        goto fail;
    if (flush_rejects(s, e))
        goto fail;
    if (s->staged && merge(s, e))
        goto fail;
    if (update_ledger(s, st, e))
        goto fail;
    s->prepared = true;
    return 0;
fail:
    rollback(s);
    return -1;
}

static int my_commit(struct sink *s, const struct load_stats *st, bool *already_loaded,
                     struct ierr *e)
{
    *already_loaded = false;
    if (my_prepare(s, st, e))
        return -1;
    if (run(s, "COMMIT", "COMMIT", e))
        goto fail;
    s->state = MY_IDLE;
    log_debug("loaded %" PRIu64 " rows (%" PRIu64 " rejected) from s3://%s/%s into %s",
              s->rows_sent - s->nwarned, s->nrejects, s->bucket, s->key, s->qtable);
    release_load(s);
    load_clear(s);
    return 0;
fail:
    rollback(s);
    return -1;
}

static void my_abort(struct sink *s)
{
    if (s)
        rollback(s);
}

static void my_close(struct sink *s)
{
    if (!s)
        return;
    rollback(s);
    my_drop_connection(s);
    my_pipe_free(s->pipe);
    params_free(&s->cp);
    buf_free(&s->out);
    buf_free(&s->rejects);
    linemap_free(&s->lines);
    free(s->name);
    free(s->qledger);
    free(s->qrejects);
    free(s);
}

static int my_check(const struct sink_conf *sc, const struct config *cfg, struct ierr *e)
{
    const char *name = sc->name ? sc->name : "mysql";
    struct my_conn_params p;
    if (params_from_conf(sc, cfg, &p, e))
        return -1;
    MYSQL *m = my_connect(&p, name, e);
    int rc = -1;
    if (!m)
        goto out;
    MYSQL_RES *r = NULL;
    if (mysql_query(m, "SELECT VERSION()") || !(r = mysql_store_result(m))) {
        unsigned err = mysql_errno(m);
        ierr_set(e, my_errno_class(err),
                 "sink %s: SELECT VERSION() failed: %s (MySQL error "
                 "%u)",
                 name, mysql_error(m), err);
        goto out;
    }
    MYSQL_ROW row = mysql_fetch_row(r);
    const char *cipher = mysql_get_ssl_cipher(m);
    log_info("sink %s: MySQL %s at %s:%u, database %s, TLS %s", name, row && row[0] ? row[0] : "?",
             p.host, p.port, p.database ? p.database : "(none)", cipher ? cipher : "off");
    mysql_free_result(r);
    rc = 0;
out:
    if (m)
        mysql_close(m);
    params_free(&p);
    return rc;
}

/* The configuration's check of a MySQL sink: its database is not a system one. */
static int my_check_conf(const struct sink_conf *sc, const char *key, struct buf *why)
{
    if (strcmp(key, "database") || !sc->database || !sink_guard_mysql_catalog(sc->database))
        return 0;
    buf_printf(why, "\"%s\" is a system database: loads never write there", sc->database);
    return -1;
}

const struct sink_ops sink_mysql_ops = {
    .name = "mysql",
    .type = SINK_MYSQL,
    .max_batch_rows = 0,
    .open = my_open,
    .begin = my_begin,
    .write = my_write,
    .reject = my_reject,
    .commit = my_commit,
    .abort = my_abort,
    .prepare = my_prepare,
    .close = my_close,
    .check = my_check,
    .check_conf = my_check_conf,
};
