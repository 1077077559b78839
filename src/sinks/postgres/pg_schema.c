/*
 * pg_schema.c: the target table of a PostgreSQL load. Finds it through the catalog
 * (s->qtable: always schema-qualified, identifiers always quoted), creates it when the route
 * allows and it is missing, and maps the object's columns onto it.
 *
 * Mapping rules (sink_columns.h): an object column loads into the table column of the
 * same name; when there is none, into the one column whose name matches ignoring case
 * (a header "ID" for a column id). An object column with no table column is a
 * permanent error, as is a table column the object lacks that is NOT NULL without a
 * default. Upsert needs a unique index (or primary key) on exactly the route's key
 * columns, checked here so a 1 GB object does not fail only at commit.
 *
 * Everything runs inside the load's transaction; on error the caller rolls back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "sinks/postgres/pg_int.h"
#include "sinks/sink_columns.h"

/* The catalog's columns are struct sink_tcol, name pointing into the catalog result
 * and aux the attnum. */

/* The table's oid as text, or NULL when it does not exist (e stays clear). */
static char *lookup_oid(struct sink *s, struct ierr *e, bool *failed)
{
    const char *params[1] = {s->qtable};
    *failed = false;
    PGresult *r = pg_exec(s, "SELECT pg_catalog.to_regclass($1)::oid", 1, params, PGRES_TUPLES_OK,
                          "table lookup", e);
    if (!r) {
        *failed = true;
        return NULL;
    }
    char *oid = PQgetisnull(r, 0, 0) ? NULL : xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return oid;
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
    pg_sql_create_table(&sql, s->qtable, (const char *const *)s->obj_cols, t->column_types,
                        s->ncols, knames, keys->n);
    PGresult *r = pg_exec(s, sql.data, 0, NULL, PGRES_COMMAND_OK, "CREATE TABLE", e);
    if (!r) {
        /* Another instance created it at the same moment: a retry will find it. */
        if (!strcmp(s->sqlstate, "42P07") || !strcmp(s->sqlstate, "23505"))
            e->cls = IERR_TRANSIENT;
        goto out;
    }
    PQclear(r);
    log_info("created table %s", s->qtable);
    rc = 0;
out:
    free(knames);
    buf_free(&sql);
    return rc;
}

/* True when indkey (e.g. "1 3 2") holds exactly the attnums in want[0..n). */
static bool index_matches(const char *indkey, int nkeyatts, const int *want, size_t n)
{
    if ((size_t)nkeyatts != n)
        return false;
    const char *p = indkey;
    for (int k = 0; k < nkeyatts; k++) {
        char *end;
        long att = strtol(p, &end, 10);
        if (end == p)
            return false;
        p = end;
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found |= want[i] == att;
        if (!found)
            return false;
    }
    return true;
}

static int check_upsert_key(struct sink *s, const struct load_target *t, const char *oid,
                            struct sink_tcol *tc, size_t ntc, struct ierr *e)
{
    const struct strlist *keys = &t->route->key;
    int *want = xcalloc(keys->n + 1, sizeof(*want));
    const char **knames = xcalloc(keys->n + 1, sizeof(*knames));
    PGresult *r = NULL;
    int rc = -1;

    if (keys->n == 0) {
        ierr_set(e, IERR_CONFIG, "route %s: mode upsert needs key columns", t->route->name);
        goto out;
    }
    for (size_t k = 0; k < keys->n; k++) {
        int i = sink_key_index(s->obj_cols, s->ncols, keys->v[k]);
        struct sink_tcol *c = i < 0 ? NULL
                                    : sink_find_tcol(tc, ntc, s->obj_cols[i], SINK_CASE_UNIQUE);
        if (!c) {
            ierr_set(e, IERR_PERMANENT, "upsert key column \"%s\" is not in the object",
                     keys->v[k]);
            snprintf(e->column_name, sizeof(e->column_name), "%s", keys->v[k]);
            goto out;
        }
        want[k] = c->aux;
        knames[k] = c->name;
    }
    const char *params[1] = {oid};
    /* The third column: whether MERGE may join on the keys through this index: a plain
     * table without children (MERGE would also reach into inheritance children, INSERT
     * does not), an immediate constraint, and the types' default operator classes, so
     * "t.k = s.k" is the index's own equality. */
    r = pg_exec(
        s,
        "SELECT i.indkey::text, i.indnkeyatts, i.indimmediate AND c.relkind = 'r' "
        "AND NOT c.relhassubclass AND NOT EXISTS (SELECT 1 FROM "
        "pg_catalog.unnest(i.indclass::pg_catalog.oid[]) AS x(oc) JOIN pg_catalog.pg_opclass o "
        "ON o.oid = x.oc WHERE NOT o.opcdefault) FROM pg_catalog.pg_index i "
        "JOIN pg_catalog.pg_class c ON c.oid = i.indrelid WHERE i.indrelid = $1::oid "
        "AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL",
        1, params, PGRES_TUPLES_OK, "index lookup", e);
    if (!r)
        goto out;
    bool found = false, joinable = false;
    for (int row = 0; row < PQntuples(r) && !found; row++) {
        found = index_matches(PQgetvalue(r, row, 0), atoi(PQgetvalue(r, row, 1)), want, keys->n);
        joinable = found && PQgetvalue(r, row, 2)[0] == 't';
    }
    if (!found) {
        ierr_set(e, IERR_PERMANENT,
                 "upsert into %s needs a primary key or unique index on "
                 "exactly the key columns",
                 s->qtable);
        goto out;
    }
    struct buf sql;
    buf_init(&sql);
    pg_sql_merge(&sql, s->qtable, (const char *const *)s->tcols, s->ncols, knames, keys->n, false,
                 s->skip_unchanged);
    s->merge_sql = buf_steal(&sql);
    pg_sql_merge(&sql, s->qtable, (const char *const *)s->tcols, s->ncols, knames, keys->n, true,
                 s->skip_unchanged);
    s->merge_dedupe_sql = buf_steal(&sql);
    if (joinable && PQserverVersion(s->conn) >= 150000) {
        pg_sql_merge_join(&sql, s->qtable, (const char *const *)s->tcols, s->ncols, knames, keys->n,
                          s->skip_unchanged);
        s->merge_join_sql = buf_steal(&sql);
    }
    rc = 0;
out:
    PQclear(r);
    free(want);
    free(knames);
    return rc;
}

int pg_schema_prepare(struct sink *s, const struct load_target *t, struct ierr *e)
{
    PGresult *r = NULL;
    struct sink_tcol *tc = NULL;
    char *oid = NULL;
    bool failed;
    int rc = -1;

    s->ncols = t->columns->n;
    s->obj_cols = xcalloc(s->ncols + 1, sizeof(*s->obj_cols));
    for (size_t i = 0; i < s->ncols; i++)
        s->obj_cols[i] = xstrdup(t->columns->v[i]);

    oid = lookup_oid(s, e, &failed);
    if (!oid && !failed) {
        if (!t->route->create_table) {
            ierr_set(e, IERR_PERMANENT, "table %s does not exist", s->qtable);
            goto out;
        }
        if (create_table(s, t, e) == 0)
            oid = lookup_oid(s, e, &failed);
    }
    if (!oid)
        goto out;

    const char *params[1] = {oid};
    r = pg_exec(
        s,
        "SELECT attname, attnum, attnotnull, atthasdef OR attidentity <> '', "
        "attgenerated <> '' FROM pg_catalog.pg_attribute WHERE attrelid = $1::oid AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum",
        1, params, PGRES_TUPLES_OK, "column lookup", e);
    if (!r)
        goto out;
    size_t ntc = (size_t)PQntuples(r);
    tc = xcalloc(ntc + 1, sizeof(*tc));
    for (size_t i = 0; i < ntc; i++) {
        tc[i].name = PQgetvalue(r, (int)i, 0);
        tc[i].aux = atoi(PQgetvalue(r, (int)i, 1));
        tc[i].notnull = PQgetvalue(r, (int)i, 2)[0] == 't';
        tc[i].hasdef = PQgetvalue(r, (int)i, 3)[0] == 't';
        tc[i].generated = PQgetvalue(r, (int)i, 4)[0] == 't';
    }
    s->tcols = xcalloc(s->ncols, sizeof(*s->tcols));
    if (sink_map_columns(s->obj_cols, s->ncols, tc, ntc, SINK_CASE_UNIQUE, s->qtable, s->tcols,
                         NULL, e))
        goto out;
    if (t->route->mode == MODE_UPSERT && check_upsert_key(s, t, oid, tc, ntc, e))
        goto out;
    rc = 0;
out:
    free(tc);
    PQclear(r);
    free(oid);
    return rc;
}
