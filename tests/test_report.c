/* Unit tests for the DLQ error report. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "tap.h"

DEF_TEST(every_contract_field_present)
{
    struct ierr e;
    struct report_input in = {
        .err = &e,
        .bucket = "b",
        .key = "in/a b.csv",
        .etag = "abc",
        .route = "orders",
        .receive_count = 2,
        .original_body = "{\"Records\":[]}",
    };
    static const char *const fields[] = {
        "ingestd_error", "class", "reason", "bucket", "key",           "etag",
        "route",         "line",  "column", "sample", "receive_count", "original_body"};
    json_error_t jerr;
    json_t *o;
    char *s;

    ierr_set(&e, IERR_PERMANENT, "invalid input syntax for type bigint");
    e.line = 3;
    e.column = 1;
    strcpy(e.sample, "a1");
    s = report_build(&in);
    o = json_loads(s, 0, &jerr);
    EXPECT_TRUE(o != NULL);
    for (size_t i = 0; o && i < sizeof fields / sizeof fields[0]; i++)
        EXPECT_TRUE(json_object_get(o, fields[i]) != NULL);
    EXPECT_EQ_INT(1, json_integer_value(json_object_get(o, "ingestd_error")));
    EXPECT_EQ_STR("permanent", json_string_value(json_object_get(o, "class")));
    EXPECT_EQ_STR("in/a b.csv", json_string_value(json_object_get(o, "key")));
    EXPECT_EQ_INT(3, json_integer_value(json_object_get(o, "line")));
    EXPECT_EQ_INT(1, json_integer_value(json_object_get(o, "column")));
    EXPECT_EQ_STR("a1", json_string_value(json_object_get(o, "sample")));
    EXPECT_EQ_INT(2, json_integer_value(json_object_get(o, "receive_count")));
    EXPECT_EQ_STR("{\"Records\":[]}", json_string_value(json_object_get(o, "original_body")));
    json_decref(o);
    free(s);
}

DEF_TEST(column_name_wins_and_unknowns_are_null)
{
    struct ierr e;
    struct report_input in = {.err = &e, .original_body = "not json \xff"};
    json_t *o;
    char *s;

    ierr_set(&e, IERR_PERMANENT, "body is not JSON");
    s = report_build(&in);
    o = json_loads(s, 0, NULL);
    EXPECT_TRUE(o != NULL);
    EXPECT_TRUE(json_is_null(json_object_get(o, "line")));
    EXPECT_TRUE(json_is_null(json_object_get(o, "column")));
    EXPECT_TRUE(json_is_null(json_object_get(o, "bucket")));
    EXPECT_EQ_STR("not json \\xff", json_string_value(json_object_get(o, "original_body")));
    json_decref(o);
    free(s);

    e.column = 4;
    strcpy(e.column_name, "price");
    s = report_build(&in);
    o = json_loads(s, 0, NULL);
    EXPECT_EQ_STR("price", json_string_value(json_object_get(o, "column")));
    json_decref(o);
    free(s);
}

int main(void)
{
    RUN_TEST(every_contract_field_present);
    RUN_TEST(column_name_wins_and_unknowns_are_null);
    return tap_done();
}
