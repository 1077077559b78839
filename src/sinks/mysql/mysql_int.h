/*
 * mysql_int.h: state shared by the files of the MySQL/MariaDB sink (sink_mysql.c:
 * transaction, ledger, commit; mysql_load.c: the LOAD DATA stream and its helper
 * thread; mysql_schema.c: the target table; mysql_wait.c: running statements;
 * mysql_conn.c: opening a connection). Calls run one way: sink_mysql.c ->
 * mysql_load.c, mysql_schema.c -> mysql_wait.c -> mysql_conn.c. Not a public
 * interface: the rest of the daemon sees only sink_mysql_ops through sink.h.
 *
 * A struct sink belongs to one worker thread. While a LOAD DATA runs, its helper
 * thread alone uses the connection; the worker touches it again only after joining.
 */
#ifndef INGESTD_MYSQL_INT_H
#define INGESTD_MYSQL_INT_H

#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sinks/linemap.h"
#include "sinks/mysql/mysql_pipe.h"
#include "sinks/mysql/mysql_sql.h"
#include "sinks/sink.h"
#include "base/util.h"

#define MY_LOCK_TIMEOUT 60 /* seconds, when the configuration does not say */

enum my_state {
    MY_IDLE, /* no transaction */
    MY_TXN,  /* inside START TRANSACTION, no LOAD running */
    MY_LOAD, /* a LOAD DATA statement runs on the helper thread */
};

/* What the helper thread saw; read by the worker after joining. */
struct my_load_result {
    int rc; /* mysql_real_query's */
    unsigned err;
    char sqlstate[6];
    char msg[512];
    uint64_t affected;
    unsigned warnings;
};

struct my_conn_params {
    char *host, *user, *database, *ssl_mode, *ssl_ca;
    char *password; /* resolved once at open(), zeroed when freed */
    unsigned port;
    int lock_timeout; /* seconds: lock_wait_timeout and innodb_lock_wait_timeout */
};

struct my_col_limit {
    bool notnull;  /* NULL draws "Column set to default value; NULL supplied ..." */
    long maxchars; /* longer values draw "Data truncated"; 0 = no limit known */
};

struct sink {
    MYSQL *conn; /* NULL: reconnect at the next begin() */
    char *name;  /* [sink NAME], for messages */
    struct my_conn_params cp;
    bool tables_ready; /* ledger and rejects tables checked on this connection */
    bool key_locked;   /* GET_LOCK held for this load's (bucket, key) */
    bool stage_made;   /* the temporary staging table exists */
    enum my_state state;
    bool prepared;             /* prepare() done: only COMMIT is left of this load */
    unsigned last_err;         /* of the last failed statement, 0 = none */
    unsigned long thread_id;   /* the server's id of conn, for KILL QUERY */
    char *qledger, *qrejects;  /* `database`.`ingestd_ledger`, `database`.`ingestd_rejects` */
    const atomic_bool *cancel; /* the load's shutdown flag (mysql_wait.c), NULL between loads */
    bool kill_sent;            /* KILL QUERY done for this load */

    /* One load; cleared by load_clear(). */
    char *bucket, *key, *etag, *route;
    char *qtable; /* quoted target */
    size_t ncols;
    char **obj_cols;             /* the object's column names */
    char **tcols;                /* the table column each object column loads into */
    enum my_conv *conv;          /* per column */
    struct my_col_limit *limits; /* per column: what the server would warn about */
    char **keys;                 /* upsert key columns (table names), nkeys of them */
    size_t nkeys;
    bool staged;      /* rows go through ingestd_stage (upsert, skip_row) */
    bool null_empty;  /* the route reads unquoted empty CSV fields as NULL */
    char *null_route; /* its name, for the hint on a NOT NULL violation */
    bool skip_rows;   /* on_error = skip_row: warned rows become rejects */
    int64_t max_errors;
    char *load_sql;
    struct buf out;     /* encoded rows not yet in the pipe */
    uint64_t rows_sent; /* rows encoded for this load */
    uint64_t load_base; /* rows sent before the running LOAD DATA started */
    struct linemap lines;
    struct buf rejects; /* "(...), (...)" tuples for ingestd_rejects, not yet inserted */
    uint64_t nrejects;  /* rejects recorded (stream and server) */
    uint64_t *warned;   /* staged ordinals of rows the server warned about */
    size_t nwarned, capwarned;
    /* The first row seen to break a limit: the server's warning about it names the row
     * and column but not the value, so the value (or the row, for a NULL) is kept here. */
    struct {
        uint64_t ord; /* 0: none yet */
        size_t column;
        char sample[256];
    } suspect;

    /* The LOAD DATA stream (mysql_load.c). */
    struct my_pipe *pipe;
    pthread_t thread;
    bool thread_running;
    struct my_load_result res;
};

/* ---- mysql_wait.c: statements and their errors ---- */
/* Runs one statement; 0, or -1 with e filled (and s->last_err, and the connection
 * dropped when the error broke it). */
int my_run(struct sink *s, const char *sql, size_t len, const char *what, struct ierr *e);
/* The same for a statement with a result: the caller frees it. NULL on error. */
MYSQL_RES *my_query(struct sink *s, const char *sql, const char *what, struct ierr *e);
/* Fills e from an error number and message; marks the connection broken when it is. */
void my_fill_error(struct sink *s, unsigned err, const char *msg, const char *what, struct ierr *e);

/* Closes a connection that cannot be used any more; the next begin() reconnects. */
void my_drop_connection(struct sink *s);
/* Error texts name the target, never the staging table; a NOT NULL violation that an
 * empty field read as NULL may have caused says which setting changes that. */
void my_name_target(struct sink *s, struct ierr *e);
/* mysql_real_query on the worker thread, waiting in slices that look at s->cancel. */
int my_query_wait(struct sink *s, const char *sql, size_t len);
/* KILL QUERY of s's running statement over a second connection, once per load, when
 * s->cancel is set. Worker thread only. */
void my_cancel_if_asked(struct sink *s);

/* ---- mysql_conn.c ---- */
/* A new connection with the session settings every statement relies on; NULL with e. */
MYSQL *my_connect(const struct my_conn_params *p, const char *name, struct ierr *e);

/* ---- mysql_schema.c ---- */
/*
 * Outside any transaction: finds the target table (creating it when the route allows;
 * CREATE TABLE commits implicitly in MySQL, so it cannot share the load's transaction),
 * maps the object's columns to it, checks NOT NULL columns and the upsert key, and
 * fills qtable, tcols, conv and keys. 0 or -1 with e filled.
 */
int my_schema_prepare(struct sink *s, const struct load_target *t, struct ierr *e);

/* ---- mysql_load.c ---- */
/* Starts LOAD DATA (s->load_sql) on the helper thread; state becomes MY_LOAD. */
int my_load_start(struct sink *s, struct ierr *e);
/* Encodes rows and feeds the pipe; -1 with e filled when the statement failed early. */
int my_load_write(struct sink *s, const struct batch *b, struct ierr *e);
/* Ends the data, joins, checks the result and the warnings (rejects under skip_row);
 * state becomes MY_TXN. */
int my_load_finish(struct sink *s, struct ierr *e);
/* Stops a running LOAD DATA whatever it is doing and joins; the connection is dropped
 * when the helper could not be stopped cleanly. Never fails. */
void my_load_cancel(struct sink *s);
/* Appends one reject tuple to s->rejects. */
void my_reject_tuple(struct sink *s, uint64_t line, unsigned column, const char *reason,
                     const char *raw);

#endif
