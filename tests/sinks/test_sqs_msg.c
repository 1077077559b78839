/*
 * test_sqs_msg.c: rows as SQS messages: typed JSON bodies, row errors with their
 * position, attributes and FIFO ids (checked against SHA-256 values computed
 * independently), SendMessageBatch framing and answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/sqs/sqs_msg.h"
#include "../tap.h"
#include "base/util.h"

static char *cols_v[] = {"id", "name", "price", "ok", "attrs"};
static const struct strlist cols = {cols_v, 5};

static struct route_conf typed_route(struct col_type *types, size_t n, enum null_as na)
{
    struct route_conf rc;

    memset(&rc, 0, sizeof(rc));
    rc.name = "r";
    rc.types = types;
    rc.ntypes = n;
    rc.null_as = na;
    return rc;
}

/* Fields from strings; "\\N" stands for NULL. */
static char *body_of(const struct sqs_layout *l, const char *const *v, uint64_t line,
                     struct ierr *e)
{
    struct field f[8];
    struct row row = {line, f};
    struct buf b;

    for (size_t i = 0; i < l->ncols; i++) {
        f[i].ptr = strcmp(v[i], "\\N") == 0 ? NULL : v[i];
        f[i].len = f[i].ptr ? strlen(v[i]) : 0;
    }
    buf_init(&b);
    buf_puts(&b, "");
    memset(e, 0, sizeof(*e));
    if (sqs_msg_body(l, &row, &b, e) < 0) {
        EXPECT_EQ_INT(0, b.len); /* nothing left behind */
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b);
}

DEF_TEST(json_numbers)
{
    static const char *good[] = {"0", "-0", "12", "-12.5", "1e5", "1E+5", "2.50e-3", "250.00"};
    static const char *bad[] = {"",   "-",  "+1",   "01",  "1.",       ".5",    "1e", "1e+",
                                " 1", "1 ", "0x10", "NaN", "Infinity", "1,000", "--1"};

    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        if (!sqs_json_number(good[i], strlen(good[i])))
            TAP_FAIL("%s should be a JSON number", good[i]);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (sqs_json_number(bad[i], strlen(bad[i])))
            TAP_FAIL("\"%s\" should not be a JSON number", bad[i]);
}

DEF_TEST(typed_bodies)
{
    struct col_type types[] = {{"id", ATTR_N},
                               {"ok", ATTR_BOOL},
                               {"attrs", ATTR_JSON},
                               {"price", ATTR_N},
                               {"absent_column", ATTR_N}};
    struct route_conf rc = typed_route(types, ARRAY_SIZE(types), NULL_AS_ABSENT);
    struct sqs_layout l;
    struct ierr e;
    char *got;

    sqs_layout_init(&l, &cols, &rc);
    got = body_of(
        &l, (const char *[]){"1", "John \"JD\" Doe\n\\", "250.00", "TRUE", "{\"a\": [1, 2.50]}"}, 2,
        &e);
    EXPECT_EQ_STR("{\"id\":1,\"name\":\"John \\\"JD\\\" Doe\\n\\\\\",\"price\":250.00,\"ok\":true,"
                  "\"attrs\":{\"a\": [1, 2.50]}}",
                  got);
    free(got);
    got = body_of(&l, (const char *[]){"2", "\\N", "\\N", "0", "\\N"}, 3, &e);
    EXPECT_EQ_STR("{\"id\":2,\"ok\":false}", got);
    free(got);
    got = body_of(&l, (const char *[]){"3", "tab\there\x01", "-1e3", "false", "\"s\""}, 4, &e);
    EXPECT_EQ_STR("{\"id\":3,\"name\":\"tab\\there\\u0001\",\"price\":-1e3,\"ok\":false,"
                  "\"attrs\":\"s\"}",
                  got);
    free(got);
    sqs_layout_free(&l);

    rc.null_as = NULL_AS_NULL;
    sqs_layout_init(&l, &cols, &rc);
    got = body_of(&l, (const char *[]){"\\N", "x", "\\N", "1", "\\N"}, 3, &e);
    EXPECT_EQ_STR("{\"id\":null,\"name\":\"x\",\"price\":null,\"ok\":true,\"attrs\":null}", got);
    free(got);
    sqs_layout_free(&l);
}

DEF_TEST(row_errors_name_line_column_and_value)
{
    struct col_type types[] = {{"price", ATTR_N}, {"ok", ATTR_BOOL}, {"attrs", ATTR_JSON}};
    struct route_conf rc = typed_route(types, ARRAY_SIZE(types), NULL_AS_ABSENT);
    struct sqs_layout l;
    struct ierr e;

    sqs_layout_init(&l, &cols, &rc);
    EXPECT_TRUE(body_of(&l, (const char *[]){"1", "a", "1,000.00", "1", "[]"}, 7, &e) == NULL);
    EXPECT_EQ_STR("line 7: column price: not a JSON number (types says N)", e.reason);
    EXPECT_EQ_INT(IERR_PERMANENT, e.cls);
    EXPECT_EQ_INT(7, e.line);
    EXPECT_EQ_INT(3, e.column);
    EXPECT_EQ_STR("price", e.column_name);
    EXPECT_EQ_STR("1,000.00", e.sample);
    EXPECT_TRUE(body_of(&l, (const char *[]){"1", "a", "1", "yes", "[]"}, 8, &e) == NULL);
    EXPECT_EQ_STR("line 8: column ok: not true, false, 1 or 0 (types says BOOL)", e.reason);
    EXPECT_TRUE(body_of(&l, (const char *[]){"1", "a", "1", "1", "{\"a\":1,\"a\":2}"}, 9, &e) ==
                NULL);
    EXPECT_EQ_STR("line 9: column attrs: not valid JSON (types says JSON)", e.reason);
    EXPECT_EQ_INT(5, e.column);
    sqs_layout_free(&l);
}

/* A body is never shorter than its row's values: a row of more is refused before it is
 * encoded (300 KB of control characters would take 1.8 MB as JSON escapes). */
DEF_TEST(rows_over_the_limit_are_refused_before_encoding)
{
    struct route_conf rc = typed_route(NULL, 0, NULL_AS_ABSENT);
    size_t n = 300 * 1024;
    char *big = xmalloc(n + 1);
    struct sqs_layout l;
    struct ierr e;
    struct buf b;

    memset(big, 1, n);
    big[n] = '\0';
    sqs_layout_init(&l, &cols, &rc);
    buf_init(&b);
    struct field f[5] = {{"1", 1}, {big, n}, {"2", 1}, {"true", 4}, {NULL, 0}};
    struct row row = {12, f};
    EXPECT_EQ_INT(-1, sqs_msg_body(&l, &row, &b, &e));
    EXPECT_EQ_INT(IERR_PERMANENT, e.cls);
    EXPECT_EQ_INT(12, e.line);
    EXPECT_CONTAINS("line 12: the row's values hold 307206 bytes, over the SQS limit", e.reason);
    EXPECT_TRUE(b.cap < n);
    buf_free(&b);
    sqs_layout_free(&l);
    free(big);
}

/* Rows a script made of one line (or its finish() rows, all on the last line) get ids
 * of their own: the first keeps the line's id, the others add their order. */
DEF_TEST(rows_of_one_line_get_distinct_ids)
{
    struct sqs_msg_ctx c;
    char first[65], second[65], third[65], next[65];

    sqs_msg_ctx_init(&c, "b", "k/x.csv", "e1", true);
    sqs_msg_next_line(&c, 3);
    sqs_row_id(&c, 3, first);
    EXPECT_EQ_STR("43bf4b26d97e4f9f17b07c11c6665d61a7c99edc7977dcd15b2703a0c59eb845", first);
    sqs_msg_next_line(&c, 3);
    sqs_row_id(&c, 3, second);
    sqs_msg_next_line(&c, 3);
    sqs_row_id(&c, 3, third);
    EXPECT_TRUE(strcmp(first, second) != 0 && strcmp(second, third) != 0 &&
                strcmp(first, third) != 0);
    sqs_msg_next_line(&c, 4);
    sqs_row_id(&c, 4, next);
    EXPECT_EQ_INT(0, (int)c.line_seq);
    /* The same object again: the same ids in the same order. */
    sqs_msg_ctx_init(&c, "b", "k/x.csv", "e1", true);
    sqs_msg_next_line(&c, 3);
    sqs_msg_next_line(&c, 3);
    sqs_row_id(&c, 3, first);
    EXPECT_EQ_STR(second, first);
}

DEF_TEST(entries_attributes_and_fifo_ids)
{
    struct sqs_msg_ctx c;
    char id[65];
    struct buf b;
    size_t size;

    sqs_msg_ctx_init(&c, "b", "k/x.csv", "e1", false);
    sqs_row_id(&c, 3, id);
    EXPECT_EQ_STR("43bf4b26d97e4f9f17b07c11c6665d61a7c99edc7977dcd15b2703a0c59eb845", id);
    buf_init(&b);
    size = sqs_msg_entry(&c, "{\"a\":1}", 7, 3, &b);
    EXPECT_EQ_STR("\"MessageBody\":\"{\\\"a\\\":1}\",\"MessageAttributes\":{"
                  "\"ingestd_bucket\":{\"DataType\":\"String\",\"StringValue\":\"b\"},"
                  "\"ingestd_key\":{\"DataType\":\"String\",\"StringValue\":\"k/x.csv\"},"
                  "\"ingestd_etag\":{\"DataType\":\"String\",\"StringValue\":\"e1\"},"
                  "\"ingestd_line\":{\"DataType\":\"Number\",\"StringValue\":\"3\"},"
                  "\"ingestd_row_id\":{\"DataType\":\"String\",\"StringValue\":\"43bf4b26d97e4f9f"
                  "17b07c11c6665d61a7c99edc7977dcd15b2703a0c59eb845\"}}}",
                  b.data);
    /* body 7 + names 14+11+12+12+14 + types 6*4+6 + values 1+7+2+1+64 */
    EXPECT_EQ_INT(7 + 63 + 30 + 75, size);

    sqs_msg_ctx_init(&c, "b", "k/x.csv", "", true);
    EXPECT_EQ_STR("d0bef18fd2b43c6a0cb218f5ae7debb29f43f46849e898dbaaa5e84933dd12b9", c.group_id);
    buf_reset(&b);
    sqs_msg_entry(&c, "{}", 2, 3, &b);
    EXPECT_TRUE(strstr(b.data, "ingestd_etag") == NULL);
    sqs_row_id(&c, 3, id);
    EXPECT_CONTAINS(",\"MessageGroupId\":\"d0bef18fd2b43c6a0cb218f5ae7debb29f43f46849e898dbaaa5e8"
                    "4933dd12b9\",\"MessageDeduplicationId\":\"",
                    b.data);
    EXPECT_CONTAINS(id, b.data);
    buf_free(&b);
    EXPECT_TRUE(sqs_queue_is_fifo("http://127.0.0.1:1/123/q.fifo"));
    EXPECT_TRUE(!sqs_queue_is_fifo("http://127.0.0.1:1/123/q"));
}

DEF_TEST(batch_framing_and_answers)
{
    struct sqs_failed f[10];
    const char *why = NULL;
    size_t n = 99;
    struct buf b;

    buf_init(&b);
    sqs_batch_open(&b, "http://h/1/q\"x");
    sqs_batch_add(&b, 0, "\"MessageBody\":\"a\"}", 18);
    sqs_batch_add(&b, 1, "\"MessageBody\":\"b\"}", 18);
    sqs_batch_close(&b);
    EXPECT_EQ_STR("{\"QueueUrl\":\"http://h/1/q\\\"x\",\"Entries\":[{\"Id\":\"0\",\"MessageBody\":"
                  "\"a\"},{\"Id\":\"1\",\"MessageBody\":\"b\"}]}",
                  b.data);
    buf_free(&b);

    EXPECT_EQ_INT(0, sqs_batch_parse("{\"Successful\":[{\"Id\":\"0\"}]}", 27, f, 10, &n, &why));
    EXPECT_EQ_INT(0, n);
    {
        const char *ans = "{\"Successful\":[],\"Failed\":[{\"Id\":\"3\",\"SenderFault\":false,"
                          "\"Code\":\"InternalError\",\"Message\":\"try\"},{\"Id\":\"7\","
                          "\"SenderFault\":true,\"Code\":\"InvalidMessageContents\"}]}";
        EXPECT_EQ_INT(0, sqs_batch_parse(ans, strlen(ans), f, 10, &n, &why));
        EXPECT_EQ_INT(2, n);
        EXPECT_EQ_INT(3, f[0].index);
        EXPECT_TRUE(!f[0].sender_fault);
        EXPECT_EQ_STR("InternalError", f[0].code);
        EXPECT_EQ_STR("try", f[0].message);
        EXPECT_EQ_INT(7, f[1].index);
        EXPECT_TRUE(f[1].sender_fault);
    }
    EXPECT_EQ_INT(-1, sqs_batch_parse("<xml/>", 6, f, 10, &n, &why));
    EXPECT_CONTAINS("not a JSON object", why);
}

int main(void)
{
    RUN_TEST(json_numbers);
    RUN_TEST(typed_bodies);
    RUN_TEST(row_errors_name_line_column_and_value);
    RUN_TEST(rows_over_the_limit_are_refused_before_encoding);
    RUN_TEST(entries_attributes_and_fifo_ids);
    RUN_TEST(rows_of_one_line_get_distinct_ids);
    RUN_TEST(batch_framing_and_answers);
    return tap_done();
}
