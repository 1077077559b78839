/*
 * test_sink_columns.c: mapping object columns onto table columns (sink_columns.c), as
 * both SQL sinks use it: exact names first, then caseless (unique for PostgreSQL, first
 * for MySQL), and each error naming the column at fault.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/sink_columns.h"
#include "../tap.h"
#include "base/util.h"

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
}

DEF_TEST(case_rules)
{
    struct sink_tcol tc[] = {{.name = (char *)"Id"}, {.name = (char *)"ID"}, {.name = (char *)"v"}};

    EXPECT_TRUE(sink_find_tcol(tc, 3, "ID", SINK_CASE_UNIQUE) == &tc[1]); /* exact wins */
    EXPECT_TRUE(sink_find_tcol(tc, 3, "id", SINK_CASE_UNIQUE) == NULL);   /* two caseless */
    EXPECT_TRUE(sink_find_tcol(tc, 3, "id", SINK_CASE_FIRST) == &tc[0]);
    EXPECT_TRUE(sink_find_tcol(tc, 3, "V", SINK_CASE_UNIQUE) == &tc[2]);
    EXPECT_TRUE(sink_find_tcol(tc, 3, "w", SINK_CASE_FIRST) == NULL);

    char *obj[] = {(char *)"a", (char *)"B"};
    EXPECT_EQ_INT(1, sink_key_index(obj, 2, "B"));
    EXPECT_EQ_INT(1, sink_key_index(obj, 2, "b"));
    EXPECT_EQ_INT(0, sink_key_index(obj, 2, "A"));
    EXPECT_EQ_INT(-1, sink_key_index(obj, 2, "c"));
}

DEF_TEST(map_and_errors)
{
    char *obj[] = {(char *)"ID", (char *)"name"};
    char *tcols[2] = {NULL, NULL};
    size_t idx[2];
    struct ierr e;

    struct sink_tcol ok[] = {{.name = (char *)"name"},
                             {.name = (char *)"id", .notnull = true},
                             {.name = (char *)"note", .notnull = true, .hasdef = true}};
    memset(&e, 0, sizeof(e));
    EXPECT_EQ_INT(0, sink_map_columns(obj, 2, ok, 3, SINK_CASE_UNIQUE, "t", tcols, idx, &e));
    EXPECT_EQ_STR("id", tcols[0]);
    EXPECT_EQ_STR("name", tcols[1]);
    EXPECT_EQ_INT(1, idx[0]);
    EXPECT_EQ_INT(0, idx[1]);
    free_names(tcols, 2);

    struct sink_tcol missing[] = {{.name = (char *)"id"}};
    memset(&e, 0, sizeof(e));
    memset(tcols, 0, sizeof(tcols));
    EXPECT_EQ_INT(-1, sink_map_columns(obj, 2, missing, 1, SINK_CASE_FIRST, "t", tcols, NULL, &e));
    EXPECT_EQ_INT(IERR_PERMANENT, e.cls);
    EXPECT_EQ_STR("column \"name\" of the object is not a column of table t", e.reason);
    EXPECT_EQ_INT(2, e.column);
    EXPECT_EQ_STR("name", e.column_name);
    free_names(tcols, 2);

    struct sink_tcol gen[] = {{.name = (char *)"id"}, {.name = (char *)"name", .generated = true}};
    memset(&e, 0, sizeof(e));
    memset(tcols, 0, sizeof(tcols));
    EXPECT_EQ_INT(-1, sink_map_columns(obj, 2, gen, 2, SINK_CASE_FIRST, "t", tcols, NULL, &e));
    EXPECT_EQ_STR("column \"name\" of the object is a generated column of table t", e.reason);
    free_names(tcols, 2);

    char *twice[] = {(char *)"id", (char *)"ID"};
    struct sink_tcol one[] = {{.name = (char *)"id"}};
    memset(&e, 0, sizeof(e));
    memset(tcols, 0, sizeof(tcols));
    EXPECT_EQ_INT(-1, sink_map_columns(twice, 2, one, 1, SINK_CASE_FIRST, "t", tcols, NULL, &e));
    EXPECT_EQ_STR("column \"ID\" of the object appears twice for table t", e.reason);
    free_names(tcols, 2);

    struct sink_tcol nn[] = {
        {.name = (char *)"id"}, {.name = (char *)"name"}, {.name = (char *)"req", .notnull = true}};
    memset(&e, 0, sizeof(e));
    memset(tcols, 0, sizeof(tcols));
    EXPECT_EQ_INT(-1, sink_map_columns(obj, 2, nn, 3, SINK_CASE_UNIQUE, "t", tcols, NULL, &e));
    EXPECT_EQ_STR("column \"req\" of table t is NOT NULL without a default and the object "
                  "does not have it",
                  e.reason);
    EXPECT_EQ_STR("req", e.column_name);
    free_names(tcols, 2);
}

DEF_TEST(create_keys)
{
    char *obj[] = {(char *)"Id", (char *)"v"};
    struct strlist keys = {0};
    const char *knames[2] = {NULL, NULL};
    struct ierr e;

    strlist_push(&keys, "id");
    memset(&e, 0, sizeof(e));
    EXPECT_EQ_INT(0, sink_create_keys(obj, 2, &keys, "t", knames, &e));
    EXPECT_EQ_STR("Id", knames[0]);
    strlist_push(&keys, "w");
    EXPECT_EQ_INT(-1, sink_create_keys(obj, 2, &keys, "t", knames, &e));
    EXPECT_EQ_STR("cannot create table t: key column \"w\" is not in the object", e.reason);
    strlist_free(&keys);
}

int main(void)
{
    RUN_TEST(case_rules);
    RUN_TEST(map_and_errors);
    RUN_TEST(create_keys);
    return tap_done();
}
