/*
 * sink.h: the interface between the load pipeline and a target database.
 *
 * A sink is a folder of its own (sinks/postgres, sinks/mysql, sinks/dynamodb,
 * sinks/sqs) whose `struct sink_ops` is listed in the registry, sink.c. The rest of
 * the daemon never knows which database it talks to. A `struct sink` (a connection and its state)
 * belongs to one worker thread; it stays open between jobs and is reopened after failures.
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

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/ierr.h"
#include "base/rows.h"

struct aws_creds;
struct buf;

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
    /* Set (by the loop, at shutdown_timeout) when the load must stop: a sink waiting on
     * its database (a lock held by another session) cancels the statement, rolls back
     * and fails. Valid from begin() to commit()/abort(); NULL: never set. */
    const atomic_bool *cancel;
};

/* What is being loaded where. */
struct load_target {
    const struct route_conf *route;
    const char *table;             /* expanded from the route's template, validated identifier */
    const struct strlist *columns; /* the object's columns, in field order */
    /* Used only when the table is missing and route->create_table is set: one type per
     * entry of columns, borrowed for the duration of begin(); NULL = every column text. */
    const enum column_type *column_types;
    bool restarted; /* the second pass after an IERR_RESTART */
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
    int (*write)(struct sink *s, const struct batch *b, struct ierr *e);
    int (*reject)(struct sink *s, const struct row_reject *r, struct ierr *e);
    /* Finish the load and write the ledger record atomically with the rows. */
    int (*commit)(struct sink *s, const struct load_stats *st, bool *already_loaded,
                  struct ierr *e);
    void (*abort)(struct sink *s); /* never fails; best-effort rollback */
    /* Optional (NULL: none): all of commit() but the final COMMIT, so that a fan-out
     * finds every sink's row errors before any sink commits. Failing, it has rolled
     * back; after it, commit() or abort() ends the load. */
    int (*prepare)(struct sink *s, const struct load_stats *st, struct ierr *e);
    void (*close)(struct sink *s); /* NULL-safe */
    /* For `ingestd check`: connect and verify; 0 ok. */
    int (*check)(const struct sink_conf *sc, const struct config *cfg, struct ierr *e);
    /* The sink type's own rules for the value of key in its [sink] section (config.h,
     * config_sink_check_fn): 0, or -1 with the reason in why. Pure; NULL: none. */
    int (*check_conf)(const struct sink_conf *sc, const char *key, struct buf *why);
};

const struct sink_ops *sink_ops_for(enum sink_type type); /* NULL when not built in */
/* The configuration checker main installs (config_set_sink_checker): the check_conf of
 * sc's type, when that sink is built in. */
int sink_check_conf(const struct sink_conf *sc, const char *key, struct buf *why);

/*
 * Passwords of SQL sinks (sink_password.c). A sink's open() calls
 * sink_resolve_password(): `password` is used as is; `password_file` is read at that
 * moment (first line, trimmed; unreadable -> IERR_CONFIG naming the file and errno);
 * `password_secret` is passed to the resolver installed with sink_set_secret_resolver()
 * (Secrets Manager, installed once by main before any worker starts; no resolver ->
 * IERR_CONFIG). *out is NULL when the sink has no password configured, else an owned
 * string the caller frees (after zeroing it). Any thread may call
 * sink_resolve_password(); the resolver must be thread-safe.
 */
typedef int (*sink_secret_fn)(const struct config *cfg, const char *secret_id, char **out,
                              struct ierr *e);
void sink_set_secret_resolver(sink_secret_fn fn);
int sink_resolve_password(const struct sink_conf *sc, const struct config *cfg, char **out,
                          struct ierr *e);

#endif
