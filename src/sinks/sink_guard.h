/*
 * sink_guard.h: what a load may touch, and how errors name it.
 *
 * A table name comes from a route's template and so, through {basename}, {dirname} or
 * {key}, from whoever may put an object into the bucket. It must never reach ingestd's
 * own tables (the ledger, the rejects table, the staging table: a forged ledger row
 * makes the real object look "already loaded") nor a database's catalog. The SQL sinks
 * check every target with these helpers before their first statement; the DynamoDB
 * sink compares its target with every ledger table of the configuration itself.
 *
 * Names compare without regard to case: MySQL folds table names on some systems, and
 * refusing "INGESTD_LEDGER" too costs nothing. Pure; any thread.
 */
#ifndef INGESTD_SINK_GUARD_H
#define INGESTD_SINK_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "base/ierr.h"

/* The tables the SQL sinks keep for themselves, in the sink's schema or database. */
#define SINK_LEDGER_TABLE  "ingestd_ledger"
#define SINK_REJECTS_TABLE "ingestd_rejects"
#define SINK_STAGE_TABLE   "ingestd_stage"

/* rel is one of the three tables above. */
bool sink_guard_own_table(const char *rel);
/* PostgreSQL's catalog schemas: pg_catalog, information_schema and every pg_* schema
 * (pg_toast, pg_temp_N, ...: names PostgreSQL reserves for itself). */
bool sink_guard_pg_catalog(const char *schema);
/* MySQL's and MariaDB's system databases: information_schema, mysql,
 * performance_schema, sys. */
bool sink_guard_mysql_catalog(const char *database);

/*
 * A load's target, split into schema (NULL: the sink's own) and relation: 0 when a
 * load may write into it, else -1 with e (IERR_PERMANENT) saying why. shown is the
 * name as errors print it. catalog is sink_guard_pg_catalog or sink_guard_mysql_catalog.
 */
int sink_guard_target(const char *schema, const char *rel, const char *shown,
                      bool (*catalog)(const char *), struct ierr *e);

/*
 * Errors name the target, never the staging table: in text[0..size), every quoted
 * staging name (optionally qualified: `db`.`ingestd_stage`, "ingestd_stage") and every
 * bare one is replaced with target. quote is '`' or '"'.
 */
void sink_guard_name_target(char *text, size_t size, char quote, const char *target);

#endif
