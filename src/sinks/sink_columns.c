/*
 * sink_columns.c: see sink_columns.h. Linear scans: tables have tens of columns and
 * this runs once per load.
 */
#include "sinks/sink_columns.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

int sink_key_index(char *const *obj_cols, size_t ncols, const char *key)
{
    for (size_t i = 0; i < ncols; i++)
        if (!strcmp(obj_cols[i], key))
            return (int)i;
    for (size_t i = 0; i < ncols; i++)
        if (!strcasecmp(obj_cols[i], key))
            return (int)i;
    return -1;
}

struct sink_tcol *sink_find_tcol(struct sink_tcol *tc, size_t ntc, const char *name,
                                 enum sink_case rule)
{
    struct sink_tcol *hit = NULL;

    for (size_t i = 0; i < ntc; i++)
        if (!strcmp(tc[i].name, name))
            return &tc[i];
    for (size_t i = 0; i < ntc; i++) {
        if (!strcasecmp(tc[i].name, name)) {
            if (rule == SINK_CASE_FIRST)
                return &tc[i];
            if (hit)
                return NULL;
            hit = &tc[i];
        }
    }
    return hit;
}

int sink_map_columns(char *const *obj_cols, size_t ncols, struct sink_tcol *tc, size_t ntc,
                     enum sink_case rule, const char *qtable, char **tcols, size_t *idx,
                     struct ierr *e)
{
    for (size_t i = 0; i < ncols; i++) {
        struct sink_tcol *c = sink_find_tcol(tc, ntc, obj_cols[i], rule);
        const char *why = NULL;
        if (!c)
            why = "is not a column of table";
        else if (c->used)
            why = "appears twice for table";
        else if (c->generated)
            why = "is a generated column of table";
        if (why) {
            ierr_set(e, IERR_PERMANENT, "column \"%s\" of the object %s %s", obj_cols[i], why,
                     qtable);
            e->column = (unsigned)i + 1;
            snprintf(e->column_name, sizeof(e->column_name), "%s", obj_cols[i]);
            return -1;
        }
        c->used = true;
        tcols[i] = xstrdup(c->name);
        if (idx)
            idx[i] = (size_t)(c - tc);
    }
    for (size_t j = 0; j < ntc; j++) {
        if (!tc[j].used && tc[j].notnull && !tc[j].hasdef) {
            ierr_set(e, IERR_PERMANENT,
                     "column \"%s\" of table %s is NOT NULL without a "
                     "default and the object does not have it",
                     tc[j].name, qtable);
            snprintf(e->column_name, sizeof(e->column_name), "%s", tc[j].name);
            return -1;
        }
    }
    return 0;
}

int sink_create_keys(char *const *obj_cols, size_t ncols, const struct strlist *keys,
                     const char *qtable, const char **knames, struct ierr *e)
{
    for (size_t k = 0; k < keys->n; k++) {
        int i = sink_key_index(obj_cols, ncols, keys->v[k]);
        if (i < 0) {
            ierr_set(e, IERR_PERMANENT,
                     "cannot create table %s: key column \"%s\" is not "
                     "in the object",
                     qtable, keys->v[k]);
            return -1;
        }
        knames[k] = obj_cols[i];
    }
    return 0;
}
