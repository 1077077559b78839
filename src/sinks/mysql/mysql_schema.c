/*
 * mysql_schema.c: the target table of a MySQL/MariaDB load. Finds it through
 * information_schema (db.table names, identifiers always quoted), creates it when the
 * route allows and it is missing, and maps the object's columns onto it.
 *
 * Mapping rules (sink_columns.h, as for PostgreSQL, except that MySQL column names are
 * caseless anyway): an object column loads into the table column of the same name. An object
 * column with no table column is a permanent error, as is a table column the object
 * lacks that is NOT NULL without a default. Upsert needs a primary key or unique index
 * on exactly the route's key columns, checked here so a 1 GB object does not fail only
 * at the merge.
 *
 * Conversions: when the route has create_table = true, a BOOLEAN (tinyint(1)) column
 * gets true/false as 1/0 and a DATETIME/TIMESTAMP column gets ISO-8601 values with a
 * zone converted to UTC, the forms create_table's inferred types were chosen for.
 * Otherwise values go as they are and the server, in strict mode, judges them.
 *
 * Runs outside the load's transaction: CREATE TABLE would commit it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/config.h"
#include "base/log.h"
#include "sinks/mysql/mysql_int.h"
#include "sinks/sink_columns.h"

/* The information_schema columns are struct sink_tcol, name owned and aux the
 * enum my_conv of the column. */
static void free_tcols(struct sink_tcol *tc, size_t n)
{
    for (size_t i = 0; tc && i < n; i++)
        free(tc[i].name);
    free(tc);
}

/* "db.table" or "table": the schema literal for information_schema (DATABASE() when
 * none: only a sink without a database) and the bare table name. */
static void split_table(const char *table, struct buf *where)
{
    const char *dot = strchr(table, '.');
    buf_puts(where, "TABLE_SCHEMA = ");
    if (dot)
        my_put_literal(where, table, (size_t)(dot - table));
    else
        buf_puts(where, "DATABASE()");
    buf_puts(where, " AND TABLE_NAME = ");
    my_put_str(where, dot ? dot + 1 : table);
}

static int load_columns(struct sink *s, const char *table, bool convert, struct sink_tcol **out,
                        size_t *nout, struct ierr *e)
{
    struct buf sql;
    buf_init(&sql);
    buf_puts(&sql, "SELECT COLUMN_NAME, IS_NULLABLE, COLUMN_DEFAULT IS NOT NULL OR "
                   "EXTRA LIKE '%auto_increment%' OR GENERATION_EXPRESSION IS NOT NULL AND "
                   "GENERATION_EXPRESSION <> '', EXTRA LIKE '%GENERATED%' OR EXTRA LIKE "
                   "'%VIRTUAL%' OR EXTRA LIKE '%PERSISTENT%' OR EXTRA LIKE '%STORED%', "
                   "DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH "
                   "FROM information_schema.COLUMNS WHERE ");
    split_table(table, &sql);
    buf_puts(&sql, " ORDER BY ORDINAL_POSITION");
    MYSQL_RES *r = my_query(s, sql.data, "column lookup", e);
    buf_free(&sql);
    if (!r)
        return -1;
    size_t n = (size_t)mysql_num_rows(r);
    struct sink_tcol *tc = xcalloc(n + 1, sizeof(*tc));
    MYSQL_ROW row;
    for (size_t i = 0; i < n && (row = mysql_fetch_row(r)); i++) {
        tc[i].name = xstrdup(row[0] ? row[0] : "");
        tc[i].notnull = row[1] && !strcmp(row[1], "NO");
        tc[i].hasdef = row[2] && row[2][0] == '1';
        tc[i].generated = row[3] && row[3][0] == '1';
        const char *dt = row[4] ? row[4] : "", *ct = row[5] ? row[5] : "";
        if (row[6] && (!strcasecmp(dt, "char") || !strcasecmp(dt, "varchar")))
            tc[i].maxchars = strtol(row[6], NULL, 10);
        if (convert && !strcasecmp(ct, "tinyint(1)"))
            tc[i].aux = MY_CONV_BOOL;
        else if (convert && (!strcasecmp(dt, "datetime") || !strcasecmp(dt, "timestamp")))
            tc[i].aux = MY_CONV_UTC;
    }
    mysql_free_result(r);
    *out = tc;
    *nout = n;
    return 0;
}

static int create_table(struct sink *s, const struct load_target *t, struct ierr *e)
{
    const struct strlist *keys = &t->route->key;
    const char **knames = xcalloc(keys->n + 1, sizeof(*knames));
    struct buf sql;
    int rc = -1;

    buf_init(&sql);
    if (sink_create_keys(s->obj_cols, s->ncols, keys, s->qtable, knames, e) < 0)
        goto out;
    my_sql_create_table(&sql, s->qtable, (const char *const *)s->obj_cols, t->column_types,
                        s->ncols, knames, keys->n);
    if (my_run(s, sql.data, sql.len, "CREATE TABLE", e))
        goto out;
    log_info("created table %s", s->qtable);
    rc = 0;
out:
    free(knames);
    buf_free(&sql);
    return rc;
}

static int map_columns(struct sink *s, struct sink_tcol *tc, size_t ntc, struct ierr *e)
{
    size_t *idx = xcalloc(s->ncols + 1, sizeof(*idx));
    int rc;

    s->tcols = xcalloc(s->ncols + 1, sizeof(*s->tcols));
    s->conv = xcalloc(s->ncols + 1, sizeof(*s->conv));
    s->limits = xcalloc(s->ncols + 1, sizeof(*s->limits));
    rc = sink_map_columns(s->obj_cols, s->ncols, tc, ntc, SINK_CASE_FIRST, s->qtable, s->tcols, idx,
                          e);
    for (size_t i = 0; rc == 0 && i < s->ncols; i++) {
        s->conv[i] = (enum my_conv)tc[idx[i]].aux;
        s->limits[i].notnull = tc[idx[i]].notnull;
        s->limits[i].maxchars = tc[idx[i]].maxchars;
    }
    free(idx);
    return rc;
}

/* Upsert: a PRIMARY KEY or UNIQUE index on exactly the key columns (any order). */
static int check_upsert_key(struct sink *s, const struct load_target *t, const char *table,
                            struct sink_tcol *tc, size_t ntc, struct ierr *e)
{
    const struct strlist *keys = &t->route->key;
    struct buf sql;
    MYSQL_RES *r = NULL;
    int rc = -1;

    buf_init(&sql);
    if (keys->n == 0) {
        ierr_set(e, IERR_CONFIG, "route %s: mode upsert needs key columns", t->route->name);
        goto out;
    }
    s->keys = xcalloc(keys->n + 1, sizeof(*s->keys));
    s->nkeys = keys->n;
    for (size_t k = 0; k < keys->n; k++) {
        int i = sink_key_index(s->obj_cols, s->ncols, keys->v[k]);
        struct sink_tcol *c = i < 0 ? NULL
                                    : sink_find_tcol(tc, ntc, s->obj_cols[i], SINK_CASE_FIRST);
        if (!c) {
            ierr_set(e, IERR_PERMANENT, "upsert key column \"%s\" is not in the object",
                     keys->v[k]);
            snprintf(e->column_name, sizeof(e->column_name), "%s", keys->v[k]);
            goto out;
        }
        s->keys[k] = xstrdup(c->name);
    }
    buf_puts(&sql, "SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME SEPARATOR '\\n'), "
                   "COUNT(SUB_PART) FROM information_schema.STATISTICS WHERE NON_UNIQUE = 0 AND ");
    split_table(table, &sql);
    buf_puts(&sql, " GROUP BY INDEX_NAME");
    r = my_query(s, sql.data, "index lookup", e);
    if (!r)
        goto out;
    bool found = false;
    MYSQL_ROW row;
    while (!found && (row = mysql_fetch_row(r))) {
        if (!row[1] || (row[2] && strcmp(row[2], "0")))
            continue; /* a prefix index is not unique on the whole value */
        size_t n = 0;
        bool all = true;
        char *save = NULL, *list = xstrdup(row[1]);
        for (char *c = strtok_r(list, "\n", &save); c; c = strtok_r(NULL, "\n", &save)) {
            bool hit = false;
            for (size_t k = 0; k < s->nkeys; k++)
                hit |= !strcasecmp(c, s->keys[k]);
            all &= hit;
            n++;
        }
        free(list);
        found = all && n == s->nkeys;
    }
    if (!found) {
        ierr_set(e, IERR_PERMANENT,
                 "upsert into %s needs a primary key or unique index on "
                 "exactly the key columns",
                 s->qtable);
        goto out;
    }
    rc = 0;
out:
    if (r)
        mysql_free_result(r);
    buf_free(&sql);
    return rc;
}

int my_schema_prepare(struct sink *s, const struct load_target *t, struct ierr *e)
{
    struct sink_tcol *tc = NULL;
    size_t ntc = 0;
    struct buf q;
    bool convert = t->route->create_table;
    int rc = -1;
    /* Unqualified names are in the sink's database, whatever the session's default. */
    char *table = strchr(t->table, '.') || !s->cp.database
                      ? xstrdup(t->table)
                      : xasprintf("%s.%s", s->cp.database, t->table);

    buf_init(&q);
    my_quote_table(&q, table);
    s->qtable = buf_steal(&q);
    s->ncols = t->columns->n;
    s->obj_cols = xcalloc(s->ncols + 1, sizeof(*s->obj_cols));
    for (size_t i = 0; i < s->ncols; i++)
        s->obj_cols[i] = xstrdup(t->columns->v[i]);

    if (load_columns(s, table, convert, &tc, &ntc, e))
        goto out;
    if (ntc == 0) {
        if (!t->route->create_table) {
            ierr_set(e, IERR_PERMANENT, "table %s does not exist", s->qtable);
            goto out;
        }
        free_tcols(tc, ntc);
        tc = NULL;
        if (create_table(s, t, e) || load_columns(s, table, convert, &tc, &ntc, e))
            goto out;
        if (ntc == 0) {
            ierr_set(e, IERR_PERMANENT, "table %s does not exist after CREATE TABLE", s->qtable);
            goto out;
        }
    }
    if (map_columns(s, tc, ntc, e))
        goto out;
    if (t->route->mode == MODE_UPSERT && check_upsert_key(s, t, table, tc, ntc, e))
        goto out;
    rc = 0;
out:
    free_tcols(tc, ntc);
    free(table);
    return rc;
}
