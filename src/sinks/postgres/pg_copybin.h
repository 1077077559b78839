/*
 * pg_copybin.h: COPY ... FROM STDIN (FORMAT binary) for the PostgreSQL sink, with
 * the text-to-binary conversion (pg_binary.h) done on the worker thread, so the
 * server skips its own parsing of integers, numerics and timestamps.
 *
 * At begin() the sink asks pg_copybin_prepare() whether this load can go binary: the
 * route's sink says copy_format = auto | binary | text; the server must be
 * PostgreSQL 15 to 17 with server_encoding UTF8, and every column COPY fills must
 * have a type the client converts (pg_attribute.atttypid and atttypmod of the
 * relation COPY writes: the target or the upsert staging table). The session facts
 * the conversion depends on (TimeZone, timezone_abbreviations) are read there too.
 *
 * During the load, a value the client cannot convert with certainty (or, under auto,
 * any permanent error the server raises during the binary COPY) makes the load fail
 * with IERR_RESTART after the sink rolled back: the pipeline streams the object
 * again and the second pass uses text COPY, whose errors the server reports with the
 * value and position. The fallback is logged once at info with the line, column and
 * value. Under copy_format = binary the value is a permanent error at its line and
 * column instead.
 *
 * Everything here runs on the thread that owns the sink.
 */
#ifndef INGESTD_PG_COPYBIN_H
#define INGESTD_PG_COPYBIN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "sinks/postgres/pg_binary.h"
#include "sinks/sink.h"
#include "base/util.h"

struct sink;

struct pg_copybin {
    bool on; /* this load's COPY is binary */
    struct pgbin_session ss;
    struct pgbin_type *types; /* one per object column */
    char **type_names;        /* format_type() of each, for messages */
    size_t ncols;
};

void pg_copybin_clear(struct pg_copybin *b); /* frees and zeroes; NULL-safe arrays */

/*
 * Inside the load's transaction, after pg_schema_prepare() and the staging table:
 * decides whether the load goes binary, and if so fills s->bin and appends
 * "(FORMAT binary)" to s->copy_sql. copy_rel is the quoted, qualified relation COPY
 * writes. 0, or -1 with e set (catalog query failed, or copy_format = binary and the
 * load cannot be binary).
 */
int pg_copybin_prepare(struct sink *s, const struct load_target *t, const char *copy_rel,
                       struct ierr *e);

/* The session facts of conn the converters depend on; abbrevs is the value of
 * timezone_abbreviations. Also used by the differential test driver. */
void pg_copybin_session(PGconn *conn, const char *abbrevs, struct pgbin_session *ss);

/* The file header and trailer of a binary COPY stream, appended to out. */
void pg_copybin_header(struct buf *out);
void pg_copybin_trailer(struct buf *out);

/* Appends one row (and the staging ordinal in upsert mode) to s->out and counts it in
 * s->rows_sent. -1 with e set when a value cannot be converted (IERR_RESTART under
 * auto, a positioned permanent error under binary); nothing is appended then. */
int pg_copybin_row(struct sink *s, const struct row *row, struct ierr *e);

/* A binary COPY failed with e (filled from the server's error): under auto a
 * permanent error becomes IERR_RESTART, so that text COPY reports it. */
void pg_copybin_copy_failed(struct sink *s, struct ierr *e);

#endif
