/* Unit tests for iso8601.c: the forms S3 events and inferred timestamps use, and what is refused.
 */
#include <stdint.h>

#include "base/iso8601.h"
#include "../tap.h"
#include "base/util.h"

DEF_TEST(date_times)
{
    static const struct {
        const char *s;
        long long ms;
    } ok[] = {
        {"2026-11-21T22:43:55.770119", 1795301035770},
        {"2026-11-21T22:43:55.770119Z", 1795301035770},
        {"2024-01-02T05:04:07+02:00", 1704164647000},
        {"2024-01-02T01:34:07-0130", 1704164647000},
        {"2024-01-02T05:04:07+02", 1704164647000},
        {"2024-01-02 03:04:07", 1704164647000},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59Z", -1000},
        {"2000-02-29T12:00:00.5Z", 951825600500},
    };
    static const char *bad[] = {"",
                                "2024-01-02",
                                "2024-13-01T00:00:00Z",
                                "2023-02-29T00:00:00Z",
                                "2024-01-02T24:00:00Z",
                                "2024-01-02T03:04:05.Z",
                                "2024-01-02T03:04:05+2",
                                "2024-01-02T03:04:05 junk",
                                "2024/01/02T03:04:05"};
    int64_t ms;

    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        ms = 12345;
        EXPECT_EQ_INT(0, iso8601_to_ms(ok[i].s, &ms));
        EXPECT_EQ_INT(ok[i].ms, ms);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (iso8601_to_ms(bad[i], &ms) == 0)
            TAP_FAIL("\"%s\" parsed", bad[i]);
}

int main(void)
{
    RUN_TEST(date_times);
    return tap_done();
}
