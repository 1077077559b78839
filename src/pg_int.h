/*
 * pg_int.h: state shared by the files of the PostgreSQL sink (sink_pg.c: connection,
 * transaction, COPY stream, ledger; pg_schema.c: the target table; pg_copybin.c:
 * binary COPY). Not a public interface: the rest of the daemon sees only sink_pg_ops
 * through sink.h.
 *
 * A struct sink is used by one worker thread at a time.
 */
#ifndef INGESTD_PG_INT_H
#define INGESTD_PG_INT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "linemap.h"
#include "pg_copybin.h"
#include "pg_sql.h"
#include "sink.h"
#include "util.h"

enum pg_state {
    PG_IDLE, /* no transaction */
    PG_TXN,  /* inside BEGIN, no COPY running */
    PG_COPY, /* COPY ... FROM STDIN running */
};

struct sink {
    PGconn *conn;
    char *name;        /* [sink NAME], for messages */
    bool tables_ready; /* ledger and rejects tables checked on this connection */
    enum pg_state state;
    char sqlstate[6]; /* of the last error pg_fill_error() saw, "" = none */

    /* One load; cleared by pg_load_clear(). */
    char *bucket, *key, *etag, *route;
    char *schema, *rel; /* target table, split */
    char *qtable;       /* quoted, qualified target */
    size_t ncols;
    char **obj_cols; /* the object's column names */
    char **tcols;    /* the table column each object column loads into */
    bool upsert;
    char *copy_sql;         /* COPY into the target or the staging table */
    const char *copy_rel;   /* the relation COPY errors name: rel or the staging table */
    char *merge_sql;        /* upsert only: straight from the stage */
    char *merge_dedupe_sql; /* upsert only: last row per key, when the file repeats keys */
    struct buf out;         /* COPY data not yet handed to libpq */
    uint64_t rows_sent;     /* rows encoded into COPY for this load */
    uint64_t copy_base;     /* rows sent before the running COPY started */
    struct linemap lines;
    struct buf rejects; /* ingestd_rejects rows, COPY-encoded, not yet inserted */
    uint64_t nrejects;

    enum copy_format copy_format; /* [sink] copy_format */
    struct pg_copybin bin;        /* binary COPY of this load (pg_copybin.h) */
};

/* Runs sql (with text parameters) and expects status want; NULL with e filled if not. */
PGresult *pg_exec(struct sink *s, const char *sql, int nparams, const char *const *params,
                  ExecStatusType want, const char *what, struct ierr *e);
/* Fills e from a failed result (res may be NULL: the connection's message is used). */
void pg_fill_error(struct sink *s, const PGresult *res, const char *what, struct ierr *e);

/*
 * Inside the load's transaction: finds (or creates) the target table, maps the object's
 * columns to it, checks NOT NULL columns and the upsert key, and fills s->qtable,
 * s->tcols. 0 or -1 with e filled (the caller rolls back).
 */
int pg_schema_prepare(struct sink *s, const struct load_target *t, struct ierr *e);

#endif
