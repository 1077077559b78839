/*
 * test_pg_binary.c: the text -> binary COPY converters (pg_binary.c and its family
 * files) on hand-checked values: the exact send-format bytes of accepted values, and
 * for refused ones whether the refusal is certain (the server refuses too) or
 * uncertain (a form the client leaves to the server). The same rules are held to a
 * real server, value by value, by tests/integration/test_pg_binary.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/postgres/pg_binary.h"
#include "../tap.h"
#include "base/util.h"

#define OK        PGBIN_OK
#define INVALID   PGBIN_INVALID
#define UNCERTAIN PGBIN_UNCERTAIN

static const struct pgbin_session utc = {150000, true, true};
static const struct pgbin_session berlin = {150000, false, true};
static const struct pgbin_session custom_abbrevs = {150000, true, false};
static const struct pgbin_session pg16 = {160000, true, true};

/* numeric(p,s) as atttypmod */
static int32_t nummod(int p, int s)
{
    return (int32_t)(((unsigned)p << 16) | ((unsigned)s & 0x7ff)) + 4;
}

/* Converts and returns the status; hex gets the output bytes in lower-case hex. */
static enum pgbin_status conv_ss(const struct pgbin_session *ss, enum pgbin_kind kind,
                                 int32_t typmod, const char *text, char *hex)
{
    struct pgbin_type t = {kind, typmod};
    size_t n = strlen(text), len = 0;
    unsigned char *out = xmalloc(PGBIN_MAX_OUT(n));
    const char *why = NULL;
    enum pgbin_status st = pgbin_convert(&t, ss, text, n, out, &len, &why);
    hex[0] = '\0';
    if (st == PGBIN_OK)
        hex_encode(out, len, hex);
    if (!why || !*why)
        st = (enum pgbin_status)99; /* every call names a reason, even on success */
    free(out);
    return st;
}

static enum pgbin_status conv(enum pgbin_kind kind, int32_t typmod, const char *text, char *hex)
{
    return conv_ss(&utc, kind, typmod, text, hex);
}

#define EXPECT_CONV(kind, typmod, text, want_hex)                                                  \
    do {                                                                                           \
        char h_[2048];                                                                             \
        EXPECT_EQ_INT(OK, conv(kind, typmod, text, h_));                                           \
        EXPECT_EQ_STR(want_hex, h_);                                                               \
    } while (0)

#define EXPECT_REFUSED(status, kind, typmod, text)                                                 \
    do {                                                                                           \
        char h_[2048];                                                                             \
        EXPECT_EQ_INT(status, conv(kind, typmod, text, h_));                                       \
    } while (0)

DEF_TEST(integers)
{
    EXPECT_CONV(PGBIN_INT4, -1, "  -42 ", "ffffffd6");
    EXPECT_CONV(PGBIN_INT4, -1, "+7", "00000007");
    EXPECT_CONV(PGBIN_INT2, -1, "32767", "7fff");
    EXPECT_CONV(PGBIN_INT2, -1, "-32768", "8000");
    EXPECT_CONV(PGBIN_INT8, -1, "-9223372036854775808", "8000000000000000");
    EXPECT_CONV(PGBIN_INT8, -1, "0009223372036854775807\n", "7fffffffffffffff");
    EXPECT_REFUSED(INVALID, PGBIN_INT2, -1, "32768");
    EXPECT_REFUSED(INVALID, PGBIN_INT8, -1, "9223372036854775808");
    EXPECT_REFUSED(INVALID, PGBIN_INT4, -1, "");
    EXPECT_REFUSED(INVALID, PGBIN_INT4, -1, " + 1");
    EXPECT_REFUSED(INVALID, PGBIN_INT4, -1, "1.0");
    EXPECT_REFUSED(INVALID, PGBIN_INT4, -1, "1_000");
    EXPECT_REFUSED(UNCERTAIN, PGBIN_INT4, -1, "1\xc2\xa0");
    char h[64];
    /* PostgreSQL 16 reads 0x1F and 1_000: a refusal there is no longer certain */
    EXPECT_EQ_INT(UNCERTAIN, conv_ss(&pg16, PGBIN_INT4, -1, "0x1F", h));
}

DEF_TEST(floats)
{
    EXPECT_CONV(PGBIN_FLOAT8, -1, "1.5", "3ff8000000000000");
    EXPECT_CONV(PGBIN_FLOAT8, -1, " -0 ", "8000000000000000");
    EXPECT_CONV(PGBIN_FLOAT8, -1, "1.e0", "3ff0000000000000");
    EXPECT_CONV(PGBIN_FLOAT8, -1, ".5E+1", "4014000000000000");
    EXPECT_CONV(PGBIN_FLOAT8, -1, "Infinity", "7ff0000000000000");
    EXPECT_CONV(PGBIN_FLOAT8, -1, "-INF", "fff0000000000000");
    EXPECT_CONV(PGBIN_FLOAT8, -1, "nan", "7ff8000000000000");
    EXPECT_CONV(PGBIN_FLOAT8, -1, "4.9e-324", "0000000000000001"); /* subnormal: kept */
    EXPECT_CONV(PGBIN_FLOAT4, -1, "3.4e38", "7f7fc99e");
    EXPECT_REFUSED(INVALID, PGBIN_FLOAT8, -1, "1e400");
    EXPECT_REFUSED(INVALID, PGBIN_FLOAT8, -1, "1e-400"); /* underflow to zero */
    EXPECT_REFUSED(INVALID, PGBIN_FLOAT4, -1, "3.5e38");
    EXPECT_REFUSED(INVALID, PGBIN_FLOAT8, -1, "1e");
    EXPECT_REFUSED(INVALID, PGBIN_FLOAT8, -1, "infinityx");
    EXPECT_REFUSED(INVALID, PGBIN_FLOAT8, -1, "   ");
    EXPECT_REFUSED(UNCERTAIN, PGBIN_FLOAT8, -1, "-NaN");     /* sign bit: libc's choice */
    EXPECT_REFUSED(UNCERTAIN, PGBIN_FLOAT8, -1, "0x1p3");    /* hexadecimal */
    EXPECT_REFUSED(UNCERTAIN, PGBIN_FLOAT8, -1, "nan(123)"); /* NaN payload */
}

DEF_TEST(booleans)
{
    const char *yes[] = {"t", "TRUE", "tr", " yes ", "y", "on", "ON", "1", "\ttrue\n"};
    const char *no[] = {"f", "false", "FAL", "n", "no", "of", "off", "0"};
    const char *bad[] = {"o", "10", "truex", "", "yess", "0.0", "t rue", "of f"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
        EXPECT_CONV(PGBIN_BOOL, -1, yes[i], "01");
    for (size_t i = 0; i < ARRAY_SIZE(no); i++)
        EXPECT_CONV(PGBIN_BOOL, -1, no[i], "00");
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        EXPECT_REFUSED(INVALID, PGBIN_BOOL, -1, bad[i]);
}

DEF_TEST(numerics)
{
    /* ndigits, weight, sign, dscale, then base-10000 digits */
    EXPECT_CONV(PGBIN_NUMERIC, nummod(5, 2), "12.345", "0002000000000002000c0dac");
    EXPECT_CONV(PGBIN_NUMERIC, nummod(5, 2), "-0.005", "0001ffff400000020064");
    EXPECT_CONV(PGBIN_NUMERIC, nummod(5, 2), "-0.004", "0000000000000002");
    EXPECT_CONV(PGBIN_NUMERIC, nummod(5, 2), " 999.994 ", "000200000000000203e726ac");
    EXPECT_CONV(PGBIN_NUMERIC, -1, "1e5", "0001000100000000000a");
    EXPECT_CONV(PGBIN_NUMERIC, -1, "1.500", "000200000000000300011388");
    EXPECT_CONV(PGBIN_NUMERIC, -1, "0.00", "0000000000000002");
    EXPECT_CONV(PGBIN_NUMERIC, -1, "-0", "0000000000000000");
    EXPECT_CONV(PGBIN_NUMERIC, -1, "NaN", "00000000c0000000");
    EXPECT_CONV(PGBIN_NUMERIC, nummod(3, 1), "nan", "00000000c0000000");
    EXPECT_CONV(PGBIN_NUMERIC, -1, "-Infinity", "00000000f0000000");
    EXPECT_CONV(PGBIN_NUMERIC, -1, "1e 5", "0001000100000000000a"); /* strtol skips space */
    EXPECT_CONV(PGBIN_NUMERIC, nummod(2, -3), "12345",
                "00020001000000000001"
                "07d0");                                             /* 12000 */
    EXPECT_REFUSED(INVALID, PGBIN_NUMERIC, nummod(5, 2), "999.995"); /* rounds to 1000.00 */
    EXPECT_REFUSED(INVALID, PGBIN_NUMERIC, nummod(5, 2), "inf");
    EXPECT_REFUSED(INVALID, PGBIN_NUMERIC, nummod(3, 5), "0.01"); /* must be < 10^-2 */
    EXPECT_REFUSED(INVALID, PGBIN_NUMERIC, -1, "1.2.3");
    EXPECT_REFUSED(INVALID, PGBIN_NUMERIC, -1, "+NaN");
    EXPECT_REFUSED(INVALID, PGBIN_NUMERIC, -1, "1e");
    EXPECT_REFUSED(INVALID, PGBIN_NUMERIC, -1, "1e-20000"); /* display scale > 16383 */
    EXPECT_REFUSED(INVALID, PGBIN_NUMERIC, -1, "1e1073741823");
    EXPECT_REFUSED(INVALID, PGBIN_NUMERIC, -1, ".");
}

DEF_TEST(dates_and_times)
{
    char h[64];
    EXPECT_CONV(PGBIN_DATE, -1, "2000-01-01", "00000000");
    EXPECT_CONV(PGBIN_DATE, -1, " 2024-02-29 ", "00002279");
    EXPECT_CONV(PGBIN_DATE, -1, "2024-2-29 23:59:59+05", "00002279"); /* time and zone ignored */
    EXPECT_CONV(PGBIN_DATE, -1, "epoch", "ffffd533");
    EXPECT_CONV(PGBIN_DATE, -1, "Infinity", "7fffffff");
    EXPECT_CONV(PGBIN_DATE, -1, "-infinity", "80000000");
    EXPECT_CONV(PGBIN_TIMESTAMPTZ, -1, "2024-01-02T03:04:05Z", "0002b0ec8515f340");
    EXPECT_CONV(PGBIN_TIMESTAMPTZ, -1, "2024-01-02 04:04:05+01", "0002b0ec8515f340");
    EXPECT_CONV(PGBIN_TIMESTAMPTZ, -1, "2024-01-02 01:34:05 -01:30", "0002b0ec8515f340");
    EXPECT_CONV(PGBIN_TIMESTAMPTZ, -1, "2024-01-02 03:04:05", "0002b0ec8515f340");
    EXPECT_CONV(PGBIN_TIMESTAMP, -1, "2024-01-02 03:04:05+09", "0002b0ec8515f340");
    EXPECT_CONV(PGBIN_TIMESTAMP, -1, "1999-12-31 24:00:00", "0000000000000000");
    EXPECT_CONV(PGBIN_TIMESTAMP, -1, "1999-12-31 23:59:60", "0000000000000000");
    EXPECT_CONV(PGBIN_TIMESTAMP, -1, "2000-01-01 00:00:00.000001", "0000000000000001");
    EXPECT_REFUSED(INVALID, PGBIN_DATE, -1, "2023-02-29");
    EXPECT_REFUSED(INVALID, PGBIN_DATE, -1, "2024-13-01");
    EXPECT_REFUSED(INVALID, PGBIN_DATE, -1, "0000-01-01");
    EXPECT_REFUSED(INVALID, PGBIN_TIMESTAMP, -1, "2024-01-01 24:00:01");
    EXPECT_REFUSED(INVALID, PGBIN_TIMESTAMPTZ, -1, "2024-01-01 10:00+16");
    EXPECT_REFUSED(UNCERTAIN, PGBIN_DATE, -1, "01/02/2024"); /* DateStyle */
    EXPECT_REFUSED(UNCERTAIN, PGBIN_DATE, -1, "today");
    EXPECT_REFUSED(UNCERTAIN, PGBIN_TIMESTAMPTZ, -1, "2024-01-02 03:04:05 Europe/Berlin");
    EXPECT_REFUSED(UNCERTAIN, PGBIN_TIMESTAMPTZ, -1, "2024-01-02 03:04:05 PST");
    EXPECT_REFUSED(UNCERTAIN, PGBIN_TIMESTAMPTZ, -1, "20240102T030405");
    /* no offset: the session's zone decides */
    EXPECT_EQ_INT(UNCERTAIN, conv_ss(&berlin, PGBIN_TIMESTAMPTZ, -1, "2024-01-02 03:04:05", h));
    EXPECT_EQ_INT(OK, conv_ss(&berlin, PGBIN_TIMESTAMPTZ, -1, "2024-01-02 03:04:05+01", h));
    EXPECT_EQ_INT(OK, conv_ss(&berlin, PGBIN_TIMESTAMP, -1, "2024-01-02 03:04:05", h));
    /* letters are looked up in the abbreviation file first */
    EXPECT_EQ_INT(UNCERTAIN,
                  conv_ss(&custom_abbrevs, PGBIN_TIMESTAMPTZ, -1, "2024-01-02T03:04:05Z", h));
    EXPECT_EQ_INT(OK, conv_ss(&custom_abbrevs, PGBIN_TIMESTAMPTZ, -1, "2024-01-02 03:04:05+00", h));
}

DEF_TEST(bc_dates)
{
    char a[64], b[64];
    /* 1 BC is the year before 1 AD, and a leap year (astronomical year 0) */
    EXPECT_EQ_INT(OK, conv(PGBIN_DATE, -1, "0001-01-01", a));
    EXPECT_EQ_INT(OK, conv(PGBIN_DATE, -1, "0001-12-31 BC", b));
    EXPECT_EQ_INT(1, (long long)strtoll(a, NULL, 16) - (long long)strtoll(b, NULL, 16));
    EXPECT_EQ_INT(OK, conv(PGBIN_DATE, -1, "0001-02-29 bc", a));
    EXPECT_REFUSED(INVALID, PGBIN_DATE, -1, "0002-02-29 BC");
    EXPECT_REFUSED(INVALID, PGBIN_DATE, -1, "0000-01-01 BC");
    EXPECT_REFUSED(INVALID, PGBIN_DATE, -1, "4714-11-23 BC"); /* before Julian day 0 */
    EXPECT_EQ_INT(OK, conv(PGBIN_DATE, -1, "4714-11-24 BC", a));
    EXPECT_EQ_STR("ffda97a7", a); /* -(2451545 - 0) days */
}

DEF_TEST(uuids)
{
    const char *want = "a0eebc999c0b4ef8bb6d6bb9bd380a11";
    EXPECT_CONV(PGBIN_UUID, -1, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", want);
    EXPECT_CONV(PGBIN_UUID, -1, "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}", want);
    EXPECT_CONV(PGBIN_UUID, -1, "a0eebc999c0b4ef8bb6d6bb9bd380a11", want);
    EXPECT_CONV(PGBIN_UUID, -1, "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", want);
    EXPECT_REFUSED(INVALID, PGBIN_UUID, -1, "a0e-ebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    EXPECT_REFUSED(INVALID, PGBIN_UUID, -1, "{a0eebc999c0b4ef8bb6d6bb9bd380a11");
    EXPECT_REFUSED(INVALID, PGBIN_UUID, -1, " a0eebc999c0b4ef8bb6d6bb9bd380a11");
    EXPECT_REFUSED(INVALID, PGBIN_UUID, -1, "a0eebc999c0b4ef8bb6d6bb9bd380a1");
    EXPECT_REFUSED(INVALID, PGBIN_UUID, -1, "a0eebc999c0b4ef8bb6d6bb9bd380a11-");
}

DEF_TEST(strings)
{
    EXPECT_CONV(PGBIN_TEXT, -1, "a\tb", "610962");
    EXPECT_CONV(PGBIN_VARCHAR, 3 + 4, "abc", "616263");
    EXPECT_CONV(PGBIN_VARCHAR, 3 + 4, "abc   ", "616263202020"); /* the server clips spaces */
    EXPECT_CONV(PGBIN_VARCHAR, 3 + 4, "\xc3\xa4\xc3\xb6\xc3\xbc", "c3a4c3b6c3bc"); /* chars */
    EXPECT_CONV(PGBIN_BPCHAR, 5 + 4, "ab", "6162"); /* the server pads */
    EXPECT_REFUSED(INVALID, PGBIN_VARCHAR, 3 + 4, "abcd");
    EXPECT_REFUSED(INVALID, PGBIN_VARCHAR, 3 + 4, "\xc3\xa4\xc3\xb6\xc3\xbcx");
    EXPECT_REFUSED(INVALID, PGBIN_BPCHAR, 1 + 4, "ab");
    EXPECT_REFUSED(INVALID, PGBIN_VARCHAR, 3 + 4, "abc \t");
}

DEF_TEST(json)
{
    char deep[2100];
    EXPECT_CONV(PGBIN_JSON, -1, " [1, -2.5e3, true, null, {\"a\": \"\\u00e9\"}] ",
                "205b312c202d322e3565332c20747275652c206e756c6c2c207b2261223a20225c7530306539"
                "227d5d20");
    EXPECT_CONV(PGBIN_JSONB, -1, "{}", "017b7d");
    EXPECT_CONV(PGBIN_JSON, -1, "\"\\u0000\"", "225c753030303022");
    EXPECT_CONV(PGBIN_JSON, -1, "\"\\ud800\"", "225c756438303022");
    EXPECT_CONV(PGBIN_JSONB, -1, "\"\\ud83d\\ude00\"", "01225c75643833645c756465303022");
    EXPECT_REFUSED(INVALID, PGBIN_JSONB, -1, "\"\\u0000\"");
    EXPECT_REFUSED(INVALID, PGBIN_JSONB, -1, "\"\\ud800\"");
    EXPECT_REFUSED(INVALID, PGBIN_JSONB, -1, "\"\\ude00\\ud83d\"");
    const char *bad[] = {"",      " ",   "01",          "1.",        "-",       "[1,]",  "{\"a\":}",
                         "{1:2}", "tru", "nulll",       "\"a\tb\"",  "\"\\x\"", "[1] 2", "1e",
                         "+1",    "1_0", "\"\\u12G4\"", "{\"a\" 1}", "[",       "'a'"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        EXPECT_REFUSED(INVALID, PGBIN_JSON, -1, bad[i]);
        EXPECT_REFUSED(INVALID, PGBIN_JSONB, -1, bad[i]);
    }
    memset(deep, '[', 1001);
    memset(deep + 1001, ']', 1001);
    deep[2002] = '\0';
    EXPECT_REFUSED(UNCERTAIN, PGBIN_JSON, -1, deep);
    EXPECT_REFUSED(UNCERTAIN, PGBIN_JSONB, -1, "1e100000");
    EXPECT_CONV(PGBIN_JSON, -1, "1e100000", "3165313030303030");
}

DEF_TEST(kinds_and_zones)
{
    enum pgbin_kind k;
    EXPECT_EQ_INT(0, pgbin_kind_for_oid(1700, &k));
    EXPECT_EQ_INT(PGBIN_NUMERIC, k);
    EXPECT_EQ_INT(-1, pgbin_kind_for_oid(790, &k)); /* money */
    EXPECT_EQ_STR("timestamp with time zone", pgbin_kind_name(PGBIN_TIMESTAMPTZ));
    EXPECT_TRUE(pgbin_timezone_is_utc("Etc/UTC"));
    EXPECT_TRUE(pgbin_timezone_is_utc("utc"));
    EXPECT_TRUE(pgbin_timezone_is_utc("GMT"));
    EXPECT_TRUE(!pgbin_timezone_is_utc("Europe/London"));
    EXPECT_TRUE(!pgbin_timezone_is_utc("<+00>-00"));
    EXPECT_TRUE(!pgbin_timezone_is_utc(NULL));
}

int main(void)
{
    RUN_TEST(integers);
    RUN_TEST(floats);
    RUN_TEST(booleans);
    RUN_TEST(numerics);
    RUN_TEST(dates_and_times);
    RUN_TEST(bc_dates);
    RUN_TEST(uuids);
    RUN_TEST(strings);
    RUN_TEST(json);
    RUN_TEST(kinds_and_zones);
    return tap_done();
}
