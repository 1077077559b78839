/*
 * sink_columns.h: the database-neutral half of mapping an object's columns onto a
 * SQL table, shared by the PostgreSQL and MySQL/MariaDB sinks. The sinks read their
 * catalogs into struct sink_tcol; the rules and the error texts are here:
 *
 *   - an object column loads into the table column of the same name; failing that,
 *     into one whose name matches ignoring case (SINK_CASE_UNIQUE: only when exactly
 *     one does, as PostgreSQL names are case-sensitive; SINK_CASE_FIRST: the first,
 *     as MySQL names are caseless anyway);
 *   - an object column with no table column, one mapped twice, or one onto a
 *     generated column, is a permanent error naming it;
 *   - so is a table column the object lacks that is NOT NULL without a default;
 *   - a route's key column names an object column exactly, else ignoring case.
 *
 * Pure: no I/O, no server. Any thread; nothing is kept between calls.
 */
#ifndef INGESTD_SINK_COLUMNS_H
#define INGESTD_SINK_COLUMNS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "base/ierr.h"

enum sink_case { SINK_CASE_UNIQUE, SINK_CASE_FIRST };

struct sink_tcol {
    char *name; /* the caller's: owned or borrowed from the catalog result */
    bool notnull;
    bool hasdef; /* a default, identity, AUTO_INCREMENT or generated value */
    bool generated;
    bool used;     /* set by sink_map_columns */
    int aux;       /* the sink's own per-column datum (attnum, conversion) */
    long maxchars; /* CHAR/VARCHAR: the most characters it holds; 0 = not known */
};

/* The object column (index) a route key names, -1 when the object lacks it. */
int sink_key_index(char *const *obj_cols, size_t ncols, const char *key);

/* The table column an object column name loads into, or NULL. */
struct sink_tcol *sink_find_tcol(struct sink_tcol *tc, size_t ntc, const char *name,
                                 enum sink_case rule);

/* Every object column onto tc: tcols[i] (caller's array of ncols) gets an owned copy
 * of its table column's name and, when idx is not NULL, idx[i] that column's index in
 * tc. -1 with e (IERR_PERMANENT; qtable names the table) on the first column that does
 * not map; tcols may then be partly filled. */
int sink_map_columns(char *const *obj_cols, size_t ncols, struct sink_tcol *tc, size_t ntc,
                     enum sink_case rule, const char *qtable, char **tcols, size_t *idx,
                     struct ierr *e);

/* CREATE TABLE's key columns: knames[k] (caller's array of keys->n) = the object column
 * each route key names. -1 with e (IERR_PERMANENT) when the object lacks one. */
int sink_create_keys(char *const *obj_cols, size_t ncols, const struct strlist *keys,
                     const char *qtable, const char **knames, struct ierr *e);

#endif
