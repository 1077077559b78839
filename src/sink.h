/*
 * sink.h: the interface between the load pipeline and a target database.
 *
 * A sink module is a `struct sink_ops` in its own file (sink_pg.c, sink_mysql.c,
 * sink_dynamodb.c, ...), registered by name in sink.c. The core never knows which
 * database it talks to. A `struct sink` (a connection and its state) belongs to
 * one worker thread; it stays open between jobs and is reopened after failures.
 *
 * One load is: begin() -> write() ... -> commit() (or abort()). Rows arrive in
 * batches of borrowed fields; a field with ptr == NULL is NULL. begin() may
 * report that the ledger already holds this object (bucket, key, etag): then
 * the caller skips the load and deletes the message as "already loaded". In
 * upsert and replace modes a sink may report the same when the ledger holds a
 * newer version of the key (a greater S3 sequencer): a late, older event must
 * not overwrite it. A sink that fails a call has already rolled back; abort()
 * is then a no-op, and always safe to call.
 */
#ifndef INGESTD_SINK_H
#define INGESTD_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct aws_creds;

enum ierr_class {
    IERR_NONE = 0,
    IERR_TRANSIENT, /* retry later: network, deadlock, DB down, throttling */
    IERR_PERMANENT, /* this object will never load: report to the DLQ */
    IERR_CONFIG,    /* the configuration is wrong (missing table, bad credentials) */
    /* The sink rolled back and asks for the object once more, from its first byte, with
     * load_target.restarted set (PostgreSQL: binary COPY met a value it cannot carry).
     * The pipeline does so once; a sink never asks again on a restarted load. */
    IERR_RESTART,
};

/* An error with its position in the object when known (line/column are 1-based, 0 = unknown). */
struct ierr {
    enum ierr_class cls;
    char reason[512];
    uint64_t line;
    unsigned column;
    char column_name[128];
    char sample[256]; /* the offending value or row, truncated */
};

/* Sets cls and reason and clears the position fields (line, column, column_name, sample);
 * callers fill those afterwards. e may be NULL. */
void ierr_set(struct ierr *e, enum ierr_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ierr_class_name(enum ierr_class cls); /* "transient", "permanent", "config" */

/* The object being loaded. */
struct load_object {
    const char *bucket;
    const char *key;        /* decoded */
    const char *etag;       /* without quotes; may be "" */
    const char *version_id; /* may be NULL */
    const char *sequencer;  /* may be NULL */
    uint64_t size;
    /* The job's AWS credentials, for sinks that call AWS themselves (DynamoDB); valid
     * from begin() to commit()/abort(); NULL when the job has none. */
    const struct aws_creds *creds;
};

/*
 * Column types for create_table, database-neutral; each sink maps them to its own SQL
 * types (PostgreSQL: text, bigint, numeric, double precision, boolean, date, timestamp,
 * timestamptz, jsonb). The pipeline infers them from the header and the first rows.
 */
enum sink_col_type {
    SINK_COL_TEXT = 0,
    SINK_COL_BIGINT,
    SINK_COL_NUMERIC,
    SINK_COL_DOUBLE,
    SINK_COL_BOOL,
    SINK_COL_DATE,
    SINK_COL_TIMESTAMP, /* without time zone */
    SINK_COL_TIMESTAMPTZ,
    SINK_COL_JSON,
};

/* What is being loaded where. */
struct load_target {
    const struct route_conf *route;
    const char *table;             /* expanded from the route's template, validated identifier */
    const struct strlist *columns; /* the object's columns, in field order */
    /* Used only when the table is missing and route->create_table is set: one type per
     * entry of columns, borrowed for the duration of begin(); NULL = every column text. */
    const enum sink_col_type *column_types;
    bool restarted; /* the second pass after an IERR_RESTART */
};

struct sink_field {
    const char *ptr; /* NULL = SQL NULL */
    size_t len;
};

struct sink_row {
    uint64_t line;                   /* line of the object where the record starts */
    const struct sink_field *fields; /* columns->n fields */
};

struct sink_batch {
    const struct sink_row *rows;
    size_t nrows;
};

struct load_stats {
    uint64_t rows;     /* rows committed */
    uint64_t bytes;    /* object bytes read */
    uint64_t rejected; /* rows skipped under on_error = skip_row */
};

/* A row skipped under on_error = skip_row, recorded by the sink in the same transaction. */
struct sink_reject {
    uint64_t line;
    unsigned column;
    const char *reason;
    const char *raw;
};

struct sink;

struct sink_ops {
    const char *name; /* "postgres", "mysql", "dynamodb", "sqs" */
    enum sink_type type;
    size_t max_batch_rows; /* 0 = no limit */

    int (*open)(const struct sink_conf *sc, const struct config *cfg, struct sink **out,
                struct ierr *e);
    /* Look up the ledger, prepare the target (create, truncate, staging). */
    int (*begin)(struct sink *s, const struct load_object *obj, const struct load_target *t,
                 bool *already_loaded, struct ierr *e);
    int (*write)(struct sink *s, const struct sink_batch *b, struct ierr *e);
    int (*reject)(struct sink *s, const struct sink_reject *r, struct ierr *e);
    /* Finish the load and write the ledger record atomically with the rows. */
    int (*commit)(struct sink *s, const struct load_stats *st, bool *already_loaded,
                  struct ierr *e);
    void (*abort)(struct sink *s); /* never fails; best-effort rollback */
    void (*close)(struct sink *s); /* NULL-safe */
    /* For `ingestd check`: connect and verify; 0 ok. */
    int (*check)(const struct sink_conf *sc, const struct config *cfg, struct ierr *e);
};

const struct sink_ops *sink_ops_for(enum sink_type type); /* NULL when not built in */

/*
 * Passwords of SQL sinks. A sink's open() calls sink_resolve_password(): `password` is
 * used as is; `password_file` is read at that moment (first line, trimmed; unreadable
 * -> IERR_CONFIG naming the file and errno); `password_secret` is passed to the resolver
 * installed with sink_set_secret_resolver() (Secrets Manager, installed once by main
 * before any worker starts; no resolver -> IERR_CONFIG). *out is NULL when the sink has
 * no password configured, else an owned string the caller frees (after zeroing it).
 * Any thread may call sink_resolve_password(); the resolver must be thread-safe.
 */
typedef int (*sink_secret_fn)(const struct config *cfg, const char *secret_id, char **out,
                              struct ierr *e);
void sink_set_secret_resolver(sink_secret_fn fn);
int sink_resolve_password(const struct sink_conf *sc, const struct config *cfg, char **out,
                          struct ierr *e);

#endif
