/*
 * pg_int.h: state shared by the files of the PostgreSQL sink (sink_pg.c: connection,
 * transaction, COPY stream, ledger; pg_schema.c: the target table; pg_copybin.c: binary
 * COPY; pg_wait.c: running statements). Calls run one way: sink_pg.c -> pg_schema.c ->
 * pg_wait.c. Not a public interface: the rest of the daemon sees only sink_pg_ops through
 * sink.h.
 *
 * A struct sink is used by one worker thread at a time.
 */
#ifndef INGESTD_PG_INT_H
#define INGESTD_PG_INT_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sinks/linemap.h"
#include "sinks/postgres/pg_copybin.h"
#include "sinks/postgres/pg_sql.h"
#include "sinks/sink.h"
#include "base/util.h"

enum pg_state {
    PG_IDLE, /* no transaction */
    PG_TXN,  /* inside BEGIN, no COPY running */
    PG_COPY, /* COPY ... FROM STDIN running */
};

struct sink {
    PGconn *conn;
    char *name;        /* [sink NAME], for messages */
    char *home;        /* [sink] schema: where unqualified names resolve */
    char *qledger;     /* "home"."ingestd_ledger" */
    char *qrejects;    /* "home"."ingestd_rejects" */
    int lock_timeout;  /* seconds, SET lock_timeout on every connection */
    bool tables_ready; /* ledger and rejects tables checked on this connection */
    enum pg_state state;
    bool prepared;             /* prepare() done: only COMMIT is left of this load */
    char sqlstate[6];          /* of the last error pg_fill_error() saw, "" = none */
    const atomic_bool *cancel; /* the load's shutdown flag (pg_wait.c), NULL between loads */
    bool cancel_sent;          /* PQcancel done for this load */

    /* One load; cleared by pg_load_clear(). */
    char *bucket, *key, *etag, *route;
    char *schema, *rel; /* target table, split; schema is home when the name has none */
    char *qtable;       /* quoted, qualified target */
    size_t ncols;
    char **obj_cols; /* the object's column names */
    char **tcols;    /* the table column each object column loads into */
    bool upsert;
    bool null_empty;        /* the route reads unquoted empty CSV fields as NULL */
    char *null_route;       /* its name, for the hint on a NOT NULL violation */
    char *copy_sql;         /* COPY into the target or the staging table */
    const char *copy_rel;   /* the relation COPY errors name: rel or the staging table */
    char *merge_sql;        /* upsert only: straight from the stage */
    char *merge_dedupe_sql; /* upsert only: last row per key, when the file repeats keys */
    char *merge_join_sql;   /* upsert only: MERGE, tried first when the index allows */
    struct buf out;         /* COPY data not yet handed to libpq */
    uint64_t rows_sent;     /* rows encoded into COPY for this load */
    uint64_t copy_base;     /* rows sent before the running COPY started */
    struct linemap lines;
    struct buf rejects; /* ingestd_rejects rows, COPY-encoded, not yet inserted */
    uint64_t nrejects;

    enum copy_format copy_format; /* [sink] copy_format */
    bool skip_unchanged;          /* [sink] upsert_unchanged = skip */
    struct pg_copybin bin;        /* binary COPY of this load (pg_copybin.h) */
};

/* ---- pg_wait.c: statements a shutdown can interrupt ---- */
/* Like PQexec / PQexecParams, waiting in slices that look at s->cancel. */
PGresult *pg_exec_wait(struct sink *s, const char *sql, int nparams, const char *const *params);
/* Like PQgetResult, waiting the same way. */
PGresult *pg_result_wait(struct sink *s);
/* Sends what libpq has buffered: 0, or -1 when the connection failed. */
int pg_flush_wait(struct sink *s);
/* PQcancel of the running statement, once per load, when s->cancel is set. */
void pg_cancel_if_asked(struct sink *s);

/* ---- pg_wait.c: statements and their errors ---- */
/* Runs sql (with text parameters) and expects status want; NULL with e filled if not. */
PGresult *pg_exec(struct sink *s, const char *sql, int nparams, const char *const *params,
                  ExecStatusType want, const char *what, struct ierr *e);
/* Fills e from a failed result (res may be NULL: the connection's message is used). */
void pg_fill_error(struct sink *s, const PGresult *res, const char *what, struct ierr *e);
/* The server's detail (s may be NULL) as e's sample, unless e already has one. */
void pg_set_sample(struct ierr *e, const char *s);

/* ---- pg_schema.c ---- */
/*
 * Inside the load's transaction: finds (or creates) the target table s->qtable, maps the
 * object's columns to it, checks NOT NULL columns and the upsert key, and fills
 * s->tcols. 0 or -1 with e filled (the caller rolls back).
 */
int pg_schema_prepare(struct sink *s, const struct load_target *t, struct ierr *e);

#endif
