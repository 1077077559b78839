/* Unit tests for util.c. */
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "base/util.h"

DEF_TEST(buf_grows_and_stays_terminated)
{
    struct buf b;

    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    EXPECT_EQ_INT(3890, b.len);
    EXPECT_EQ_INT('\0', b.data[b.len]);
    EXPECT_TRUE(str_has_prefix(b.data, "0,1,2,"));
    EXPECT_TRUE(str_has_suffix(b.data, "998,999,"));
    buf_reset(&b);
    EXPECT_EQ_INT(0, b.len);
    EXPECT_EQ_STR("", b.data);
    buf_append(&b, "a\0b", 3);
    EXPECT_EQ_INT(3, b.len);
    char *s = buf_steal(&b);
    EXPECT_EQ_INT(0, memcmp(s, "a\0b", 4));
    EXPECT_TRUE(b.data == NULL && b.len == 0);
    free(s);
    buf_free(&b);
}

DEF_TEST(parse_int64_bounds)
{
    int64_t v = 0;

    EXPECT_EQ_INT(0, parse_int64("42", 0, 100, &v));
    EXPECT_EQ_INT(42, v);
    EXPECT_EQ_INT(-1, parse_int64("101", 0, 100, &v));
    EXPECT_EQ_INT(-1, parse_int64("-1", 0, 100, &v));
    EXPECT_EQ_INT(-1, parse_int64("4x", 0, 100, &v));
    EXPECT_EQ_INT(-1, parse_int64("", 0, 100, &v));
    EXPECT_EQ_INT(-1, parse_int64("99999999999999999999", 0, INT64_MAX, &v));
}

DEF_TEST(parse_size_units)
{
    int64_t v = 0;
    char t[32];

    EXPECT_EQ_INT(0, parse_size("64M", 0, INT64_MAX, &v));
    EXPECT_EQ_INT(64 << 20, v);
    EXPECT_EQ_INT(0, parse_size("1k", 0, INT64_MAX, &v));
    EXPECT_EQ_INT(1024, v);
    EXPECT_EQ_INT(0, parse_size("2G", 0, INT64_MAX, &v));
    EXPECT_TRUE(v == (int64_t)2 << 30);
    EXPECT_EQ_INT(0, parse_size("1000", 0, INT64_MAX, &v));
    EXPECT_EQ_INT(1000, v);
    EXPECT_EQ_INT(-1, parse_size("1.5M", 0, INT64_MAX, &v));
    EXPECT_EQ_INT(-1, parse_size("1MB", 0, INT64_MAX, &v));
    EXPECT_EQ_INT(-1, parse_size("M", 0, INT64_MAX, &v));
    EXPECT_EQ_INT(-1, parse_size("-1", 0, INT64_MAX, &v));
    EXPECT_EQ_INT(-1, parse_size(" 1M", 0, INT64_MAX, &v));
    EXPECT_EQ_INT(-1, parse_size("", 0, INT64_MAX, &v));
    EXPECT_EQ_INT(-1, parse_size("9999999999G", 0, INT64_MAX, &v));
    EXPECT_EQ_INT(-1, parse_size("99999999999999999999", 0, INT64_MAX, &v));
    EXPECT_EQ_INT(-1, parse_size("2K", 0, 1024, &v));
    EXPECT_EQ_INT(-1, parse_size("1023", 1024, 2048, &v));
    size_text(t, sizeof(t), 64 << 20);
    EXPECT_EQ_STR("64M", t);
    size_text(t, sizeof(t), 1536 * 1024);
    EXPECT_EQ_STR("1536K", t);
    size_text(t, sizeof(t), (uint64_t)1 << 40);
    EXPECT_EQ_STR("1024G", t);
    size_text(t, sizeof(t), 1000);
    EXPECT_EQ_STR("1000", t);
    size_text(t, sizeof(t), 0);
    EXPECT_EQ_STR("0", t);
}

DEF_TEST(buf_try_reserve_and_shrink)
{
    struct buf b;

    buf_init(&b);
    EXPECT_EQ_INT(0, buf_try_reserve(&b, 100));
    EXPECT_TRUE(b.cap >= 101 && b.len == 0);
    buf_append(&b, "abc", 3);
    EXPECT_EQ_INT(-1, buf_try_reserve(&b, SIZE_MAX - 2)); /* unchanged on failure */
    EXPECT_EQ_STR("abc", b.data);
    buf_shrink(&b, 1 << 20); /* small: kept, emptied */
    EXPECT_TRUE(b.data != NULL && b.len == 0 && b.data[0] == '\0');
    EXPECT_EQ_INT(0, buf_try_reserve(&b, 4 << 20));
    buf_shrink(&b, 1 << 20); /* grew past keep: freed */
    EXPECT_TRUE(b.data == NULL && b.cap == 0 && b.len == 0);
    buf_free(&b);
}

DEF_TEST(parse_bool_words)
{
    bool b = false;

    EXPECT_EQ_INT(0, parse_bool("yes", &b));
    EXPECT_TRUE(b);
    EXPECT_EQ_INT(0, parse_bool("FALSE", &b));
    EXPECT_TRUE(!b);
    EXPECT_EQ_INT(0, parse_bool("1", &b));
    EXPECT_TRUE(b);
    EXPECT_EQ_INT(-1, parse_bool("maybe", &b));
}

DEF_TEST(trim_and_affixes)
{
    char s[] = "  \t hello world \n";

    EXPECT_EQ_STR("hello world", str_trim(s));
    EXPECT_TRUE(str_empty(NULL));
    EXPECT_TRUE(str_empty(""));
    EXPECT_TRUE(!str_empty(" "));
    EXPECT_TRUE(str_has_suffix("a.csv.gz", ".gz"));
    EXPECT_TRUE(!str_has_suffix("gz", ".gz"));
}

DEF_TEST(hex)
{
    char out[9];
    const unsigned char in[] = {0x00, 0xab, 0x10, 0xff};

    hex_encode(in, sizeof in, out);
    EXPECT_EQ_STR("00ab10ff", out);
}

DEF_TEST(backoff_is_bounded)
{
    for (unsigned attempt = 0; attempt < 40; attempt++) {
        uint64_t d = backoff_full_jitter_ms(attempt, 100, 20000);
        uint64_t ceiling = attempt < 8 ? (100ull << attempt) : 20000;
        if (ceiling > 20000)
            ceiling = 20000;
        EXPECT_TRUE(d <= ceiling);
    }
    EXPECT_EQ_INT(0, backoff_full_jitter_ms(3, 0, 0));
}

DEF_TEST(clocks_move_forward)
{
    uint64_t a = now_monotonic_us(), b = now_monotonic_us();

    EXPECT_TRUE(b >= a);
    EXPECT_TRUE(now_realtime_ms() > 1700000000000LL);
}

int main(void)
{
    RUN_TEST(buf_grows_and_stays_terminated);
    RUN_TEST(parse_int64_bounds);
    RUN_TEST(parse_size_units);
    RUN_TEST(buf_try_reserve_and_shrink);
    RUN_TEST(parse_bool_words);
    RUN_TEST(trim_and_affixes);
    RUN_TEST(hex);
    RUN_TEST(backoff_is_bounded);
    RUN_TEST(clocks_move_forward);
    return tap_done();
}
