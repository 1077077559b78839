/* Unit tests for the DLQ error report: its fields and types, and that it always fits. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/report.h"
#include "../tap.h"
#include "base/util.h"

static const char *const failure_fields[] = {"class", "reason", "bucket",      "key",    "etag",
                                             "route", "line",   "column_name", "sample", "column"};

static json_t *build(const struct report_input *in, char **text)
{
    json_error_t jerr;
    char *s = report_build(in);
    json_t *o = json_loads(s, 0, &jerr);

    EXPECT_TRUE(o != NULL);
    EXPECT_TRUE(strlen(s) <= (in->max_bytes ? in->max_bytes : REPORT_MAX_BYTES));
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p >= 0x80) {
            TAP_FAIL("byte 0x%02x in the report", (unsigned char)*p);
            break;
        }
    if (text)
        *text = s;
    else
        free(s);
    return o;
}

/* Every member of one failure, with its JSON type. */
static void expect_failure_shape(const json_t *f)
{
    EXPECT_EQ_INT(ARRAY_SIZE(failure_fields), json_object_size(f));
    for (size_t i = 0; i < ARRAY_SIZE(failure_fields); i++)
        EXPECT_TRUE(json_object_get(f, failure_fields[i]) != NULL);
    EXPECT_TRUE(json_is_integer(json_object_get(f, "column")));
    EXPECT_TRUE(json_is_string(json_object_get(f, "column_name")) ||
                json_is_null(json_object_get(f, "column_name")));
    EXPECT_TRUE(json_is_integer(json_object_get(f, "line")) ||
                json_is_null(json_object_get(f, "line")));
}

DEF_TEST(every_contract_field_present)
{
    struct ierr e;
    struct report_item it = {&e, "b", "in/a b.csv", "abc", "orders"};
    struct report_input in = {&it, 1, 0, 2, "{\"Records\":[]}", 0};
    static const char *const top[] = {"ingestd_error", "receive_count", "failures",
                                      "failures_omitted", "original_body"};
    json_t *o, *arr;

    ierr_set(&e, IERR_PERMANENT, "invalid input syntax for type bigint");
    e.line = 3;
    e.column = 1;
    strcpy(e.column_name, "id");
    strcpy(e.sample, "a1");
    o = build(&in, NULL);
    for (size_t i = 0; o && i < ARRAY_SIZE(top); i++)
        EXPECT_TRUE(json_object_get(o, top[i]) != NULL);
    EXPECT_EQ_INT(ARRAY_SIZE(top) + ARRAY_SIZE(failure_fields), json_object_size(o));
    EXPECT_EQ_INT(1, json_integer_value(json_object_get(o, "ingestd_error")));
    EXPECT_EQ_STR("permanent", json_string_value(json_object_get(o, "class")));
    EXPECT_EQ_STR("in/a b.csv", json_string_value(json_object_get(o, "key")));
    EXPECT_EQ_INT(3, json_integer_value(json_object_get(o, "line")));
    EXPECT_EQ_INT(1, json_integer_value(json_object_get(o, "column")));
    EXPECT_EQ_STR("id", json_string_value(json_object_get(o, "column_name")));
    EXPECT_EQ_STR("a1", json_string_value(json_object_get(o, "sample")));
    EXPECT_EQ_INT(2, json_integer_value(json_object_get(o, "receive_count")));
    EXPECT_EQ_STR("{\"Records\":[]}", json_string_value(json_object_get(o, "original_body")));
    EXPECT_TRUE(json_object_get(o, "original_body_truncated") == NULL);
    EXPECT_EQ_INT(0, json_integer_value(json_object_get(o, "failures_omitted")));
    arr = json_object_get(o, "failures");
    EXPECT_EQ_INT(1, json_array_size(arr));
    expect_failure_shape(json_array_get(arr, 0));
    EXPECT_EQ_STR("id", json_string_value(json_object_get(json_array_get(arr, 0), "column_name")));
    json_decref(o);
}

DEF_TEST(unknowns_are_zero_or_null)
{
    struct ierr e;
    struct report_item it = {&e, NULL, NULL, NULL, NULL};
    struct report_input in = {&it, 1, 0, 1, "not json \xff", 0};
    json_t *o;

    ierr_set(&e, IERR_PERMANENT, "body is not JSON");
    o = build(&in, NULL);
    expect_failure_shape(o ? json_array_get(json_object_get(o, "failures"), 0) : NULL);
    EXPECT_TRUE(json_is_null(json_object_get(o, "line")));
    EXPECT_TRUE(json_is_integer(json_object_get(o, "column")));
    EXPECT_EQ_INT(0, json_integer_value(json_object_get(o, "column")));
    EXPECT_TRUE(json_is_null(json_object_get(o, "column_name")));
    EXPECT_TRUE(json_is_null(json_object_get(o, "sample")));
    EXPECT_TRUE(json_is_null(json_object_get(o, "bucket")));
    EXPECT_EQ_STR("not json \\xff", json_string_value(json_object_get(o, "original_body")));
    json_decref(o);
}

/* 600 KB of what escaping blows up the most: quotes, backslashes, control characters. */
DEF_TEST(a_large_body_is_cut_to_fit)
{
    const size_t n = 600 * 1024;
    char *body = xmalloc(n + 1);
    struct ierr e;
    struct report_item it = {&e, "b", "k", NULL, "r"};
    struct report_input in = {&it, 1, 0, 1, body, 0};
    char *s;
    json_t *o;
    const char *got;

    for (size_t i = 0; i < n; i++)
        body[i] = "\"\\\x01x\xc3\xa9"[i % 6];
    body[n] = '\0';
    ierr_set(&e, IERR_PERMANENT, "bad");
    o = build(&in, &s);
    EXPECT_TRUE(strlen(s) > REPORT_MAX_BYTES - 64); /* filled, not emptied */
    EXPECT_TRUE(json_is_true(json_object_get(o, "original_body_truncated")));
    got = json_string_value(json_object_get(o, "original_body"));
    EXPECT_TRUE(got && strlen(got) > 1000 && strncmp(got, body, strlen(got)) == 0);
    EXPECT_EQ_INT(1, json_array_size(json_object_get(o, "failures")));
    free(s);
    json_decref(o);

    /* the limit holds at any size, to the byte */
    for (size_t limit = 2000; limit < 2100; limit += 7) {
        in.max_bytes = limit;
        o = build(&in, NULL);
        EXPECT_TRUE(json_is_true(json_object_get(o, "original_body_truncated")));
        json_decref(o);
    }
    free(body);
}

DEF_TEST(every_failure_listed_or_counted)
{
    enum { N = 2000 };
    struct ierr *e = xcalloc(N, sizeof *e);
    struct report_item *it = xcalloc(N, sizeof *it);
    char(*keys)[32] = xcalloc(N, sizeof *keys);
    struct report_input in = {it, N, 0, 1, "{\"Records\":[\"...\"]}", 0};
    json_t *o, *arr;
    size_t listed;

    for (size_t i = 0; i < N; i++) {
        ierr_set(&e[i], IERR_PERMANENT,
                 "S3 GetObject: NoSuchKey: The specified key does not "
                 "exist. (HTTP 404)");
        snprintf(keys[i], sizeof keys[i], "in/object-%04zu.csv", i);
        it[i] = (struct report_item){&e[i], "bucket", keys[i], NULL, "orders"};
    }
    o = build(&in, NULL);
    arr = json_object_get(o, "failures");
    listed = json_array_size(arr);
    EXPECT_TRUE(listed > 100 && listed < N);
    EXPECT_EQ_INT(N, listed + (size_t)json_integer_value(json_object_get(o, "failures_omitted")));
    EXPECT_EQ_STR("in/object-0000.csv",
                  json_string_value(json_object_get(json_array_get(arr, 0), "key")));
    /* a short body is kept whole */
    EXPECT_TRUE(json_object_get(o, "original_body_truncated") == NULL);
    EXPECT_EQ_STR(in.original_body, json_string_value(json_object_get(o, "original_body")));
    json_decref(o);

    /* failures the caller could not keep are counted too */
    in.nitems = 3;
    in.nlost = 40;
    o = build(&in, NULL);
    EXPECT_EQ_INT(3, json_array_size(json_object_get(o, "failures")));
    EXPECT_EQ_INT(40, json_integer_value(json_object_get(o, "failures_omitted")));
    json_decref(o);
    free(keys);
    free(it);
    free(e);
}

/* SQS refuses U+FFFF and friends in a message: they go out as \uXXXX escapes. */
DEF_TEST(only_ascii_goes_out)
{
    struct ierr e;
    char key[1500];
    struct report_item it = {&e, "b", key, NULL, "r"};
    struct report_input in = {&it, 1, 0, 1, "caf\xc3\xa9 \xef\xbf\xbf", 0};
    char *s;
    json_t *o;

    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    ierr_set(&e, IERR_PERMANENT, "\xef\xbf\xbf");
    o = build(&in, &s);
    EXPECT_CONTAINS("\\uFFFF", s);
    EXPECT_EQ_STR("caf\xc3\xa9 \xef\xbf\xbf",
                  json_string_value(json_object_get(o, "original_body")));
    /* no real S3 key is longer than 1024 bytes */
    EXPECT_EQ_INT(1024 + 3, strlen(json_string_value(json_object_get(o, "key"))));
    free(s);
    json_decref(o);
}

/* Log lines state a position once: the parser's own, or one made from the fields. */
DEF_TEST(position_stated_once)
{
    static const struct {
        uint64_t line;
        unsigned column;
        const char *name, *reason, *want;
    } cases[] = {
        {2, 2, "c2", "line 2, column 2: invalid UTF-8", "line 2, column 2: invalid UTF-8"},
        {3, 3, NULL, "line 3: 3 fields, expected 2", "line 3: 3 fields, expected 2"},
        {3, 1, "id", "COPY: invalid input syntax for type integer: \"x\"",
         "line 3, column id: COPY: invalid input syntax for type integer: \"x\""},
        {3, 2, NULL, "bad", "line 3, column 2: bad"},
        {3, 0, NULL, "bad", "line 3: bad"},
        {0, 0, NULL, "table \"t\" does not exist", "table \"t\" does not exist"},
        {7, 0, NULL, "unterminated quoted field starting at line 7",
         "unterminated quoted field starting at line 7"},
        {4, 0, NULL, "deadline 5 missed", "line 4: deadline 5 missed"},
    };
    char out[1024];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        ierr_format_position(out, sizeof out, cases[i].line, cases[i].column, cases[i].name,
                             cases[i].reason);
        EXPECT_EQ_STR(cases[i].want, out);
    }
}

int main(void)
{
    RUN_TEST(every_contract_field_present);
    RUN_TEST(unknowns_are_zero_or_null);
    RUN_TEST(a_large_body_is_cut_to_fit);
    RUN_TEST(every_failure_listed_or_counted);
    RUN_TEST(only_ascii_goes_out);
    RUN_TEST(position_stated_once);
    return tap_done();
}
