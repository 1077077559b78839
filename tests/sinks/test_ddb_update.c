/*
 * test_ddb_update.c: the pure parts of DynamoDB's update mode: exact decimal sums for
 * `add` and the reading of a TransactWriteItems cancellation.
 */
#include <stdlib.h>
#include <string.h>

#include "sinks/dynamodb/ddb_update.h"
#include "../tap.h"

static const char *sum(const char *a, const char *b)
{
    static char out[200];
    const char *why = NULL;
    struct buf r;

    buf_init(&r);
    if (ddb_decimal_add(a, b, &r, &why) < 0)
        snprintf(out, sizeof out, "error: %s", why);
    else
        snprintf(out, sizeof out, "%s", r.data);
    buf_free(&r);
    return out;
}

DEF_TEST(decimal_add_is_exact)
{
    EXPECT_EQ_STR("400", sum("250.00", "150.00"));
    EXPECT_EQ_STR("0.3", sum("0.1", "0.2")); /* a double says 0.30000000000000004 */
    EXPECT_EQ_STR("-1.5", sum("1", "-2.5"));
    EXPECT_EQ_STR("0", sum("2.50", "-2.5"));
    EXPECT_EQ_STR("100000", sum("99999.99", "0.01"));
    EXPECT_EQ_STR("1000.001", sum("1E3", "1e-3"));
    EXPECT_EQ_STR("12345678901234567890123456789012345679",
                  sum("12345678901234567890123456789012345678", "1"));
    EXPECT_EQ_STR("5", sum("+2", "3"));
    EXPECT_EQ_STR("0.000123", sum("0", "0.000123"));
}

DEF_TEST(decimal_add_refuses)
{
    EXPECT_CONTAINS("error:", sum("abc", "1"));
    /* 39 significant digits: past DynamoDB's 38 */
    EXPECT_CONTAINS("error:", sum("99999999999999999999999999999999999999", "1.5"));
    EXPECT_CONTAINS("error:", sum("1E125", "9.99E125"));
}

static enum ddb_txn_outcome classify(const char *body, size_t n, size_t *bad, char *code)
{
    return ddb_txn_classify(body, strlen(body), n, bad, code, 64);
}

DEF_TEST(cancellation_reasons)
{
    char code[64];
    size_t bad;

    EXPECT_EQ_INT(DDB_TXN_APPLIED_BEFORE,
                  classify("{\"CancellationReasons\":[{\"Code\":\"None\"},{\"Code\":\"None\"},"
                           "{\"Code\":\"ConditionalCheckFailed\"}]}",
                           2, &bad, code));
    EXPECT_EQ_INT(DDB_TXN_RETRY,
                  classify("{\"CancellationReasons\":[{\"Code\":\"TransactionConflict\"},"
                           "{\"Code\":\"None\"}]}",
                           1, &bad, code));
    EXPECT_EQ_STR("TransactionConflict", code);
    EXPECT_EQ_INT(
        DDB_TXN_RETRY,
        classify("{\"CancellationReasons\":[{\"Code\":\"None\"},{\"Code\":\"ThrottlingError\"},"
                 "{\"Code\":\"None\"}]}",
                 2, &bad, code));
    EXPECT_EQ_INT(
        DDB_TXN_PERMANENT,
        classify("{\"CancellationReasons\":[{\"Code\":\"None\"},{\"Code\":\"ValidationError\","
                 "\"Message\":\"An operand in the update expression has an incorrect "
                 "data type\"},{\"Code\":\"None\"}]}",
                 2, &bad, code));
    EXPECT_EQ_INT(1, (int)bad);
    EXPECT_EQ_STR("ValidationError", code);
    EXPECT_EQ_INT(DDB_TXN_PERMANENT, classify("not json", 1, &bad, code));
    EXPECT_EQ_INT(1, (int)bad);
}

int main(void)
{
    RUN_TEST(decimal_add_is_exact);
    RUN_TEST(decimal_add_refuses);
    RUN_TEST(cancellation_reasons);
    return tap_done();
}
