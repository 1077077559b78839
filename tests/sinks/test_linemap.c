/*
 * test_linemap.c: the row -> object line map the database sinks share (linemap.c):
 * consecutive lines cost nothing, multi-line records, skipped and backward lines map
 * back exactly, and past the byte cap rows map to 0 (unknown), never to a wrong line.
 */
#include <stdint.h>
#include <stdio.h>

#include "sinks/linemap.h"
#include "../tap.h"
#include "base/util.h"

DEF_TEST(linemap_sequential_is_free)
{
    struct linemap m;
    linemap_init(&m);
    for (uint64_t i = 0; i < 100000; i++)
        linemap_add(&m, 2 + i); /* a header on line 1 */
    EXPECT_TRUE(m.enc.len <= 4);
    EXPECT_EQ_INT(2, linemap_lookup(&m, 1));
    EXPECT_EQ_INT(100001, linemap_lookup(&m, 100000));
    EXPECT_EQ_INT(0, linemap_lookup(&m, 0));
    EXPECT_EQ_INT(0, linemap_lookup(&m, 100001));
    linemap_free(&m);
}

DEF_TEST(linemap_divergent_rows)
{
    /* Rows on lines 2, 3, 4-6 (multi-line record), 7, skip 8-9, 10, 11, then 5 (back). */
    const uint64_t lines[] = {2, 3, 4, 7, 10, 11, 5, 6, 1000000000000ULL, 1000000000001ULL};
    struct linemap m;
    linemap_init(&m);
    for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
        linemap_add(&m, lines[i]);
    for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
        EXPECT_EQ_INT(lines[i], linemap_lookup(&m, i + 1));
    linemap_free(&m);

    /* Every row multi-line: a couple of bytes per row, no more. */
    linemap_init(&m);
    for (uint64_t i = 0; i < 10000; i++)
        linemap_add(&m, 2 + 3 * i);
    EXPECT_TRUE(m.enc.len <= 2 * 10000 + 8);
    EXPECT_EQ_INT(2 + 3 * 9999, linemap_lookup(&m, 10000));
    EXPECT_EQ_INT(2 + 3 * 4321, linemap_lookup(&m, 4322));
    linemap_free(&m);
}

DEF_TEST(linemap_bounded)
{
    struct linemap m;
    linemap_init(&m);
    m.max_bytes = 64;
    for (uint64_t i = 0; i < 1000; i++)
        linemap_add(&m, 1 + 2 * i);
    EXPECT_TRUE(m.enc.len <= 64 + 20);
    EXPECT_TRUE(m.overflow_row > 0);
    EXPECT_EQ_INT(1, linemap_lookup(&m, 1));
    EXPECT_EQ_INT(1 + 2 * 9, linemap_lookup(&m, 10));
    EXPECT_EQ_INT(0, linemap_lookup(&m, 999)); /* unknown, never wrong */
    EXPECT_EQ_INT(1000, m.rows);
    linemap_free(&m);
}

DEF_TEST(linemap_segments_and_cap)
{
    struct linemap m;
    linemap_init(&m);
    /* header at line 1; a 3-line record at 4; lines 9-10 skipped */
    uint64_t lines[] = {2, 3, 4, 7, 8, 11, 12};
    for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
        linemap_add(&m, lines[i]);
    for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
        EXPECT_EQ_INT(lines[i], linemap_lookup(&m, i + 1));
    EXPECT_EQ_INT(0, linemap_lookup(&m, 0));
    EXPECT_EQ_INT(0, linemap_lookup(&m, 8));
    linemap_free(&m);

    linemap_init(&m);
    for (uint64_t r = 1; r <= 1000000; r++)
        linemap_add(&m, r + 1);
    EXPECT_TRUE(m.enc.len < 8); /* consecutive lines cost nothing */
    EXPECT_EQ_INT(500001, linemap_lookup(&m, 500000));
    linemap_free(&m);

    linemap_init(&m);
    m.max_bytes = 4;
    for (uint64_t r = 1; r <= 100; r++)
        linemap_add(&m, 3 * r); /* every row is a new segment */
    EXPECT_EQ_INT(3, linemap_lookup(&m, 1));
    EXPECT_EQ_INT(0, linemap_lookup(&m, 100)); /* past the cap: unknown, not wrong */
    linemap_free(&m);
}

int main(void)
{
    RUN_TEST(linemap_sequential_is_free);
    RUN_TEST(linemap_divergent_rows);
    RUN_TEST(linemap_bounded);
    RUN_TEST(linemap_segments_and_cap);
    return tap_done();
}
