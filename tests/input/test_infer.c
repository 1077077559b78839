/*
 * test_infer.c: value classification, column narrowing, NULL handling and the SQL names.
 */
#include <string.h>

#include "input/infer.h"
#include "../tap.h"
#include "base/util.h"

static enum column_type v(const char *s)
{
    return infer_value(s, strlen(s));
}

DEF_TEST(single_values)
{
    static const struct {
        const char *s;
        enum column_type t;
    } cases[] = {
        {"0", COLUMN_BIGINT},
        {"-0", COLUMN_BIGINT},
        {"42", COLUMN_BIGINT},
        {"-42", COLUMN_BIGINT},
        {"9223372036854775807", COLUMN_BIGINT},
        {"-9223372036854775808", COLUMN_BIGINT},
        {"9223372036854775808", COLUMN_NUMERIC},
        {"1234567890123456789012345678", COLUMN_NUMERIC},
        {"12345678901234567890123456789", COLUMN_TEXT},
        {"007", COLUMN_TEXT},
        {"+5", COLUMN_TEXT},
        {"42.50", COLUMN_NUMERIC},
        {"0.5", COLUMN_NUMERIC},
        {"-0.0000000001", COLUMN_NUMERIC},
        {"0.00000000001", COLUMN_DOUBLE},
        {"1.5e3", COLUMN_DOUBLE},
        {"1E-7", COLUMN_DOUBLE},
        {".5", COLUMN_TEXT},
        {"5.", COLUMN_TEXT},
        {"1e", COLUMN_TEXT},
        {"NaN", COLUMN_TEXT},
        {"  1,000,000.00 ", COLUMN_TEXT},
        {" 42", COLUMN_TEXT},
        {"true", COLUMN_BOOL},
        {"FALSE", COLUMN_BOOL},
        {"True", COLUMN_BOOL},
        {"t", COLUMN_TEXT},
        {"yes", COLUMN_TEXT},
        {"2023-06-15", COLUMN_DATE},
        {"2024-02-29", COLUMN_DATE},
        {"2023-02-29", COLUMN_TEXT},
        {"2023-13-01", COLUMN_TEXT},
        {"29-Jun-17", COLUMN_TEXT},
        {"2023-06-15T10:30:00Z", COLUMN_TIMESTAMPTZ},
        {"2023-06-15T10:30:00.123456+02:00", COLUMN_TIMESTAMPTZ},
        {"2023-06-15 10:30:00-0130", COLUMN_TIMESTAMPTZ},
        {"2023-06-15T10:30:00", COLUMN_TIMESTAMP},
        {"2023-06-15 10:30:00.5", COLUMN_TIMESTAMP},
        {"2023-06-15T25:30:00Z", COLUMN_TEXT},
        {"2023-06-15T10:30", COLUMN_TEXT},
        {"2023-06-15X10:30:00", COLUMN_TEXT},
        {"", COLUMN_TEXT},
        {"John Doe", COLUMN_TEXT},
        {"192.168.1.1", COLUMN_TEXT},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        if (v(cases[i].s) != cases[i].t)
            TAP_FAIL("\"%s\": got %d, want %d", cases[i].s, (int)v(cases[i].s), (int)cases[i].t);
}

/* Columns given as strings per row; "\\N" is NULL. */
static void infer_rows(size_t ncols, size_t nrows, const char *const *cells, enum column_type *out)
{
    struct field f[8 * 8];
    struct row rows[8];
    struct batch b = {rows, nrows};

    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = cells[r * ncols + c];
            f[r * ncols + c].ptr = strcmp(s, "\\N") == 0 ? NULL : s;
            f[r * ncols + c].len = strlen(s);
        }
        rows[r].line = r + 2;
        rows[r].fields = f + r * ncols;
    }
    infer_column_types(ncols, &b, out);
}

DEF_TEST(columns_narrow_over_rows)
{
    /* clang-format off */
    static const char *const cells[] = {
        /* id  amount   active   day           at                       note   empty mixed */
        "1",  "10",    "true",  "2023-06-15", "2023-06-15T10:30:00Z",   "x",   "\\N", "2023-06-15",
        "2",  "10.25", "\\N",   "2023-06-16", "2023-06-15T10:35:00+01:00", "\\N", "\\N", "5",
        "30", "\\N",   "FALSE", "\\N",        "2023-06-15T10:40:00Z",   "7",   "\\N", "x",
    };
    /* clang-format on */
    enum column_type t[8];

    infer_rows(8, 3, cells, t);
    EXPECT_EQ_INT(COLUMN_BIGINT, t[0]);
    EXPECT_EQ_INT(COLUMN_NUMERIC, t[1]);
    EXPECT_EQ_INT(COLUMN_BOOL, t[2]);
    EXPECT_EQ_INT(COLUMN_DATE, t[3]);
    EXPECT_EQ_INT(COLUMN_TIMESTAMPTZ, t[4]);
    EXPECT_EQ_INT(COLUMN_TEXT, t[5]);
    EXPECT_EQ_INT(COLUMN_TEXT, t[6]); /* only NULLs */
    EXPECT_EQ_INT(COLUMN_TEXT, t[7]);
}

DEF_TEST(mixtures)
{
    static const char *const a[] = {"1", "1e3"}; /* bigint + double = double */
    static const char *const b[] = {"2023-06-15", "2023-06-15T10:00:00"}; /* text */
    static const char *const c[] = {"1", ""};                             /* '' is not a number */
    static const char *const d[] = {"0.12345678901", "1"};                /* double */
    static const char *const e[] = {"true", "1"};                         /* text */
    static const char *const f[] = {"2023-06-15T10:00:00", "2023-06-15T10:00:00Z"};
    enum column_type t[1];

    infer_rows(1, 2, a, t);
    EXPECT_EQ_INT(COLUMN_DOUBLE, t[0]);
    infer_rows(1, 2, b, t);
    EXPECT_EQ_INT(COLUMN_TEXT, t[0]);
    infer_rows(1, 2, c, t);
    EXPECT_EQ_INT(COLUMN_TEXT, t[0]);
    infer_rows(1, 2, d, t);
    EXPECT_EQ_INT(COLUMN_DOUBLE, t[0]);
    infer_rows(1, 2, e, t);
    EXPECT_EQ_INT(COLUMN_TEXT, t[0]);
    infer_rows(1, 2, f, t);
    EXPECT_EQ_INT(COLUMN_TEXT, t[0]);
    infer_column_types(1, NULL, t);
    EXPECT_EQ_INT(COLUMN_TEXT, t[0]);
}

DEF_TEST(sample_is_bounded)
{
    struct infer in;
    struct field num = {"12", 2}, word = {"x", 1};

    infer_init(&in, 1);
    for (int i = 0; i < INFER_SAMPLE_ROWS; i++)
        infer_row(&in, &num);
    infer_row(&in, &word); /* past the sample: not looked at */
    EXPECT_EQ_INT(COLUMN_BIGINT, infer_result(&in, 0));
    EXPECT_EQ_INT(INFER_SAMPLE_ROWS, in.rows);
    infer_free(&in);
}

DEF_TEST(data_csv_like_columns)
{
    /* the shape of the aws-data-pipeline sample: id, names, email, ip, ISO time, amount */
    /* clang-format off */
    static const char *const cells[] = {
        "1", "John", "Doe", "john@example.com", "192.168.1.1", "2023-06-15T10:30:00Z", "125.50",
        "2", "Jane", "Roe", "jane@example.com", "192.168.1.2", "2023-06-15T10:35:00Z", "42.50",
    };
    /* clang-format on */
    enum column_type t[7];
    static const enum column_type want[] = {COLUMN_BIGINT, COLUMN_TEXT, COLUMN_TEXT,
                                            COLUMN_TEXT,   COLUMN_TEXT, COLUMN_TIMESTAMPTZ,
                                            COLUMN_NUMERIC};
    infer_rows(7, 2, cells, t);
    for (size_t i = 0; i < 7; i++)
        EXPECT_EQ_INT(want[i], t[i]);
}

int main(void)
{
    RUN_TEST(single_values);
    RUN_TEST(columns_narrow_over_rows);
    RUN_TEST(mixtures);
    RUN_TEST(sample_is_bounded);
    RUN_TEST(data_csv_like_columns);
    return tap_done();
}
