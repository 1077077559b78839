/*
 * test_infer.c: value classification, column narrowing, NULL handling and the SQL names.
 */
#include <string.h>

#include "input/infer.h"
#include "../tap.h"
#include "base/util.h"

static enum sink_col_type v(const char *s)
{
    return infer_value(s, strlen(s));
}

DEF_TEST(single_values)
{
    static const struct {
        const char *s;
        enum sink_col_type t;
    } cases[] = {
        {"0", SINK_COL_BIGINT},
        {"-0", SINK_COL_BIGINT},
        {"42", SINK_COL_BIGINT},
        {"-42", SINK_COL_BIGINT},
        {"9223372036854775807", SINK_COL_BIGINT},
        {"-9223372036854775808", SINK_COL_BIGINT},
        {"9223372036854775808", SINK_COL_NUMERIC},
        {"1234567890123456789012345678", SINK_COL_NUMERIC},
        {"12345678901234567890123456789", SINK_COL_TEXT},
        {"007", SINK_COL_TEXT},
        {"+5", SINK_COL_TEXT},
        {"42.50", SINK_COL_NUMERIC},
        {"0.5", SINK_COL_NUMERIC},
        {"-0.0000000001", SINK_COL_NUMERIC},
        {"0.00000000001", SINK_COL_DOUBLE},
        {"1.5e3", SINK_COL_DOUBLE},
        {"1E-7", SINK_COL_DOUBLE},
        {".5", SINK_COL_TEXT},
        {"5.", SINK_COL_TEXT},
        {"1e", SINK_COL_TEXT},
        {"NaN", SINK_COL_TEXT},
        {"  1,000,000.00 ", SINK_COL_TEXT},
        {" 42", SINK_COL_TEXT},
        {"true", SINK_COL_BOOL},
        {"FALSE", SINK_COL_BOOL},
        {"True", SINK_COL_BOOL},
        {"t", SINK_COL_TEXT},
        {"yes", SINK_COL_TEXT},
        {"2023-06-15", SINK_COL_DATE},
        {"2024-02-29", SINK_COL_DATE},
        {"2023-02-29", SINK_COL_TEXT},
        {"2023-13-01", SINK_COL_TEXT},
        {"29-Jun-17", SINK_COL_TEXT},
        {"2023-06-15T10:30:00Z", SINK_COL_TIMESTAMPTZ},
        {"2023-06-15T10:30:00.123456+02:00", SINK_COL_TIMESTAMPTZ},
        {"2023-06-15 10:30:00-0130", SINK_COL_TIMESTAMPTZ},
        {"2023-06-15T10:30:00", SINK_COL_TIMESTAMP},
        {"2023-06-15 10:30:00.5", SINK_COL_TIMESTAMP},
        {"2023-06-15T25:30:00Z", SINK_COL_TEXT},
        {"2023-06-15T10:30", SINK_COL_TEXT},
        {"2023-06-15X10:30:00", SINK_COL_TEXT},
        {"", SINK_COL_TEXT},
        {"John Doe", SINK_COL_TEXT},
        {"192.168.1.1", SINK_COL_TEXT},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        if (v(cases[i].s) != cases[i].t)
            TAP_FAIL("\"%s\": got %d, want %d", cases[i].s, (int)v(cases[i].s), (int)cases[i].t);
}

/* Columns given as strings per row; "\\N" is NULL. */
static void infer_rows(size_t ncols, size_t nrows, const char *const *cells,
                       enum sink_col_type *out)
{
    struct sink_field f[8 * 8];
    struct sink_row rows[8];
    struct sink_batch b = {rows, nrows};

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
    enum sink_col_type t[8];

    infer_rows(8, 3, cells, t);
    EXPECT_EQ_INT(SINK_COL_BIGINT, t[0]);
    EXPECT_EQ_INT(SINK_COL_NUMERIC, t[1]);
    EXPECT_EQ_INT(SINK_COL_BOOL, t[2]);
    EXPECT_EQ_INT(SINK_COL_DATE, t[3]);
    EXPECT_EQ_INT(SINK_COL_TIMESTAMPTZ, t[4]);
    EXPECT_EQ_INT(SINK_COL_TEXT, t[5]);
    EXPECT_EQ_INT(SINK_COL_TEXT, t[6]); /* only NULLs */
    EXPECT_EQ_INT(SINK_COL_TEXT, t[7]);
}

DEF_TEST(mixtures)
{
    static const char *const a[] = {"1", "1e3"}; /* bigint + double = double */
    static const char *const b[] = {"2023-06-15", "2023-06-15T10:00:00"}; /* text */
    static const char *const c[] = {"1", ""};                             /* '' is not a number */
    static const char *const d[] = {"0.12345678901", "1"};                /* double */
    static const char *const e[] = {"true", "1"};                         /* text */
    static const char *const f[] = {"2023-06-15T10:00:00", "2023-06-15T10:00:00Z"};
    enum sink_col_type t[1];

    infer_rows(1, 2, a, t);
    EXPECT_EQ_INT(SINK_COL_DOUBLE, t[0]);
    infer_rows(1, 2, b, t);
    EXPECT_EQ_INT(SINK_COL_TEXT, t[0]);
    infer_rows(1, 2, c, t);
    EXPECT_EQ_INT(SINK_COL_TEXT, t[0]);
    infer_rows(1, 2, d, t);
    EXPECT_EQ_INT(SINK_COL_DOUBLE, t[0]);
    infer_rows(1, 2, e, t);
    EXPECT_EQ_INT(SINK_COL_TEXT, t[0]);
    infer_rows(1, 2, f, t);
    EXPECT_EQ_INT(SINK_COL_TEXT, t[0]);
    infer_column_types(1, NULL, t);
    EXPECT_EQ_INT(SINK_COL_TEXT, t[0]);
}

DEF_TEST(sample_is_bounded)
{
    struct infer in;
    struct sink_field num = {"12", 2}, word = {"x", 1};

    infer_init(&in, 1);
    for (int i = 0; i < INFER_SAMPLE_ROWS; i++)
        infer_row(&in, &num);
    infer_row(&in, &word); /* past the sample: not looked at */
    EXPECT_EQ_INT(SINK_COL_BIGINT, infer_result(&in, 0));
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
    enum sink_col_type t[7];
    static const enum sink_col_type want[] = {SINK_COL_BIGINT, SINK_COL_TEXT, SINK_COL_TEXT,
                                              SINK_COL_TEXT,   SINK_COL_TEXT, SINK_COL_TIMESTAMPTZ,
                                              SINK_COL_NUMERIC};
    infer_rows(7, 2, cells, t);
    for (size_t i = 0; i < 7; i++)
        EXPECT_EQ_INT(want[i], t[i]);
}

DEF_TEST(sql_names)
{
    EXPECT_EQ_STR("bigint", infer_pg_type(SINK_COL_BIGINT));
    EXPECT_EQ_STR("numeric", infer_pg_type(SINK_COL_NUMERIC));
    EXPECT_EQ_STR("double precision", infer_pg_type(SINK_COL_DOUBLE));
    EXPECT_EQ_STR("boolean", infer_pg_type(SINK_COL_BOOL));
    EXPECT_EQ_STR("date", infer_pg_type(SINK_COL_DATE));
    EXPECT_EQ_STR("timestamp", infer_pg_type(SINK_COL_TIMESTAMP));
    EXPECT_EQ_STR("timestamptz", infer_pg_type(SINK_COL_TIMESTAMPTZ));
    EXPECT_EQ_STR("text", infer_pg_type(SINK_COL_TEXT));
    EXPECT_EQ_STR("BIGINT", infer_mysql_type(SINK_COL_BIGINT, false));
    EXPECT_EQ_STR("DECIMAL(38,10)", infer_mysql_type(SINK_COL_NUMERIC, false));
    EXPECT_EQ_STR("DOUBLE", infer_mysql_type(SINK_COL_DOUBLE, false));
    EXPECT_EQ_STR("BOOLEAN", infer_mysql_type(SINK_COL_BOOL, false));
    EXPECT_EQ_STR("DATE", infer_mysql_type(SINK_COL_DATE, false));
    EXPECT_EQ_STR("DATETIME(6)", infer_mysql_type(SINK_COL_TIMESTAMPTZ, false));
    EXPECT_EQ_STR("LONGTEXT", infer_mysql_type(SINK_COL_TEXT, false));
    EXPECT_EQ_STR("VARCHAR(255)", infer_mysql_type(SINK_COL_TEXT, true));
}

int main(void)
{
    RUN_TEST(single_values);
    RUN_TEST(columns_narrow_over_rows);
    RUN_TEST(mixtures);
    RUN_TEST(sample_is_bounded);
    RUN_TEST(data_csv_like_columns);
    RUN_TEST(sql_names);
    return tap_done();
}
