/*
 * pg_sql.h: the pure parts of the PostgreSQL sink, with no libpq and no I/O:
 * SQLSTATE classification, identifier quoting, COPY text-format encoding, the SQL
 * the sink sends, and the parsing of COPY's error CONTEXT line (the map from COPY row
 * numbers back to object lines is linemap.h).
 *
 * Every function here is reentrant.
 */
#ifndef INGESTD_PG_SQL_H
#define INGESTD_PG_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ierr.h"
#include "base/rows.h"
#include "base/util.h"
#include "sinks/sink_guard.h"

/* ingestd's own tables (sink_guard.h): the ledger and the rejects table live in the sink's
 * schema; the upsert staging table is temporary (pg_temp). Extra column of the staging
 * table: the COPY row number, so the last row wins. */
#define PG_STAGE_TABLE   SINK_STAGE_TABLE
#define PG_STAGE_QUAL    "pg_temp." SINK_STAGE_TABLE
#define PG_STAGE_ORD     "__ingestd_ord"
#define PG_LEDGER_TABLE  SINK_LEDGER_TABLE
#define PG_REJECTS_TABLE SINK_REJECTS_TABLE

/* CREATE TABLE IF NOT EXISTS of the ledger and the rejects table, by quoted,
 * qualified name. */
void pg_sql_ledger_ddl(struct buf *out, const char *qledger);
void pg_sql_rejects_ddl(struct buf *out, const char *qrejects);

/*
 * SQLSTATE -> error class. Transient: 08 (connection), 40001 (serialization), 40P01
 * (deadlock), 53 (resources), 57P (shutdown, crash recovery), 57014 (statement timeout
 * or cancel), 55P03 (lock not available), 58 (system I/O), and NULL/"" (no SQLSTATE:
 * the connection broke). Config: 28 (authentication), 3D000 (no such database).
 * Everything else, including 42P01 (missing table) and 42703 (undefined column), is
 * permanent: the object cannot load into this table as it is.
 */
enum ierr_class pg_sqlstate_class(const char *sqlstate);

/* A failed connection has no SQLSTATE: config for authentication, unknown database or
 * role and malformed conninfo (from libpq's message), transient otherwise. */
enum ierr_class pg_connect_error_class(const char *msg);

/* Appends "name" with embedded double quotes doubled. */
void pg_quote_ident(struct buf *b, const char *name);

/*
 * Splits a table name into schema and relation. "a.b" is schema a, table b; each part
 * may be double-quoted ("my.schema"."T") with "" for a quote; unquoted parts are taken
 * verbatim (case is kept: every identifier is quoted when sent). A name that does not
 * split into one or two parts is a table name as a whole. *schema is NULL when none
 * was given. Both outputs are owned by the caller.
 */
void pg_split_qualified(const char *name, char **schema, char **rel);

/* Appends the quoted, qualified name. */
void pg_quote_qualified(struct buf *b, const char *schema, const char *rel);

/*
 * COPY text format: appends one field (ptr NULL = \N), escaping backslash, tab, newline
 * and carriage return. The caller separates fields with '\t' and ends rows with '\n'.
 */
void pg_copy_put_field(struct buf *b, const char *p, size_t n, bool is_null);
/* The same for a non-NULL field into out, which has room for 2 * n bytes; returns the
 * bytes written. */
size_t pg_copy_escape_into(char *out, const char *p, size_t n);

/* PostgreSQL type name for a neutral column type. */
const char *pg_type_name(enum column_type t);

/*
 * SQL generation. cols are table column names in object order; keys the key columns;
 * table is the quoted, qualified target. Each appends one statement to out.
 */
void pg_sql_create_table(struct buf *out, const char *table, const char *const *cols,
                         const enum column_type *types, size_t ncols, const char *const *keys,
                         size_t nkeys);
void pg_sql_copy(struct buf *out, const char *table, const char *const *cols, size_t ncols,
                 bool with_ord);
void pg_sql_stage(struct buf *out, const char *table, const char *const *cols, size_t ncols);
/* dedupe: keep only the last staged row per key (DISTINCT ON ... ORDER BY ordinal DESC);
 * without it the statement fails with 21000 when the file repeats a key. skip_unchanged
 * (here and in pg_sql_merge_join): a stored row whose values are byte for byte the staged
 * one's is left as it is, no new row version and no UPDATE trigger. */
void pg_sql_merge(struct buf *out, const char *table, const char *const *cols, size_t ncols,
                  const char *const *keys, size_t nkeys, bool dedupe, bool skip_unchanged);
/* MERGE from the stage, joined on the keys: no speculative insertion and no row lock
 * before each update, so faster than INSERT ... ON CONFLICT on PostgreSQL 15 and later.
 * A file that repeats a key fails it (21000 or 23505), as does a row another session
 * inserted meanwhile (23505): pg_sql_merge's statements are the way on from there. */
void pg_sql_merge_join(struct buf *out, const char *table, const char *const *cols, size_t ncols,
                       const char *const *keys, size_t nkeys, bool skip_unchanged);

/*
 * The CONTEXT of a COPY error: "COPY rel, line N[, column c][: "value" | : null input]".
 * relname is the relation COPY was loading (unqualified, as PostgreSQL prints it);
 * cols are its column names, used to find where a column name ends. Returns 0 and
 * fills the fields when a COPY line was found, else -1.
 */
struct pg_copy_context {
    uint64_t line; /* COPY line, 1-based */
    int column;    /* index into cols, -1 = none */
    bool null_input;
    char sample[256]; /* the value (or the whole line) as quoted by the server */
};

int pg_parse_copy_context(const char *context, const char *relname, const char *const *cols,
                          size_t ncols, struct pg_copy_context *out);

#endif
