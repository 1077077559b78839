/*
 * tap.h: a tiny unit-test helper printing TAP ("ok N - name" / "not ok N - name").
 *
 *   DEF_TEST(parses_empty) { EXPECT_EQ_INT(0, f("")); }
 *   int main(void) { RUN_TEST(parses_empty); return tap_done(); }
 *
 * A failed expectation prints the file, line and both values and marks the
 * current test failed; the test keeps running so that one run shows every
 * difference. tap_done() prints the plan and returns the exit status
 * (0 when all passed, 1 otherwise), which is what automake's harness reads.
 */
#ifndef INGESTD_TAP_H
#define INGESTD_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tap_run_count;
static int tap_fail_count;
static int tap_cur_failed;

#define DEF_TEST(name) static void test_##name(void)

#define RUN_TEST(name)                                                                             \
    do {                                                                                           \
        tap_cur_failed = 0;                                                                        \
        test_##name();                                                                             \
        tap_run_count++;                                                                           \
        if (tap_cur_failed)                                                                        \
            tap_fail_count++;                                                                      \
        printf("%s %d - %s\n", tap_cur_failed ? "not ok" : "ok", tap_run_count, #name);            \
        fflush(stdout);                                                                            \
    } while (0)

#define TAP_FAIL(...)                                                                              \
    do {                                                                                           \
        printf("# %s:%d: ", __FILE__, __LINE__);                                                   \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        tap_cur_failed = 1;                                                                        \
    } while (0)

#define EXPECT_TRUE(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            TAP_FAIL("expected true: %s", #cond);                                                  \
    } while (0)

#define EXPECT_EQ_INT(expect, actual)                                                              \
    do {                                                                                           \
        long long e_ = (long long)(expect), a_ = (long long)(actual);                              \
        if (e_ != a_)                                                                              \
            TAP_FAIL("%s: expected %lld, got %lld", #actual, e_, a_);                              \
    } while (0)

#define EXPECT_EQ_STR(expect, actual)                                                              \
    do {                                                                                           \
        const char *e_ = (expect), *a_ = (actual);                                                 \
        if (e_ == NULL || a_ == NULL ? e_ != a_ : strcmp(e_, a_) != 0)                             \
            TAP_FAIL("%s: expected \"%s\", got \"%s\"", #actual, e_ ? e_ : "(null)",               \
                     a_ ? a_ : "(null)");                                                          \
    } while (0)

#define EXPECT_CONTAINS(needle, hay)                                                               \
    do {                                                                                           \
        const char *n_ = (needle), *h_ = (hay);                                                    \
        if (h_ == NULL || strstr(h_, n_) == NULL)                                                  \
            TAP_FAIL("%s: \"%s\" not found in \"%s\"", #hay, n_, h_ ? h_ : "(null)");              \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_run_count);
    printf("# %d passed, %d failed\n", tap_run_count - tap_fail_count, tap_fail_count);
    return tap_fail_count ? 1 : 0;
}

#endif
