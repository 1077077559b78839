/* Unit tests for log.c: line format, levels, context and the complaint limiter. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"
#include "util.h"

/* Runs fn with stderr redirected to a temp file; returns what was written. */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/ingestd-test-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    struct buf b;
    char chunk[4096];
    ssize_t n;

    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    buf_init(&b);
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        buf_append(&b, chunk, (size_t)n);
    close(fd);
    unlink(path);
    return buf_steal(&b);
}

DEF_TEST(line_format)
{
    struct buf b;
    const struct log_field ctx[] = {{"S3_BUCKET", "b"}, {"S3_KEY", "in/a b.csv"}};
    const struct log_field extra[] = {{"ROWS", "10"}, {"SKIPPED", NULL}};

    buf_init(&b);
    log_format_line(&b, 1763773323456LL, LOG_WARNING, ctx, 2, extra, 2, "loaded");
    EXPECT_EQ_STR("2025-11-22T01:02:03.456Z warning: loaded [S3_BUCKET=b S3_KEY=\"in/a b.csv\" "
                  "ROWS=10]",
                  b.data);
    buf_reset(&b);
    log_format_line(&b, 0, LOG_ERR, NULL, 0, NULL, 0, "plain");
    EXPECT_EQ_STR("1970-01-01T00:00:00.000Z err: plain", b.data);
    buf_free(&b);
}

DEF_TEST(level_names_round_trip)
{
    static const char *const names[] = {"debug", "info", "notice", "warning", "err"};
    int level;

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        EXPECT_EQ_INT(0, log_level_parse(names[i], &level));
        EXPECT_EQ_STR(names[i], log_level_name(level));
    }
    EXPECT_EQ_INT(-1, log_level_parse("loud", &level));
}

static void log_some(void)
{
    const struct log_field ctx[] = {{"ROUTE", "orders"}};

    log_set_level(LOG_NOTICE);
    log_info("hidden");
    log_notice("shown %d", 1);
    log_context_set(ctx, 1);
    log_err("with context");
    log_context_clear();
    log_warn("without context");
    log_set_level(LOG_INFO);
}

DEF_TEST(levels_filter_and_context_applies)
{
    char *out = capture_stderr(log_some);

    EXPECT_TRUE(strstr(out, "hidden") == NULL);
    EXPECT_CONTAINS("notice: shown 1\n", out);
    EXPECT_CONTAINS("err: with context [ROUTE=orders]\n", out);
    EXPECT_CONTAINS("warning: without context\n", out);
    free(out);
}

static void complain_many(void)
{
    struct complaint c = {0};

    for (int i = 0; i < 50; i++)
        complain(&c, LOG_ERR, "queue unreachable");
    complain_release(&c, LOG_INFO, "queue reachable");
    complain_release(&c, LOG_INFO, "queue reachable");
}

DEF_TEST(complaints_are_rate_limited)
{
    char *out = capture_stderr(complain_many);
    const char *p = out;
    int lines = 0;

    while ((p = strchr(p, '\n')) != NULL) {
        lines++;
        p++;
    }
    /* One "unreachable", then nothing for a minute, then one "recovered". */
    EXPECT_EQ_INT(2, lines);
    EXPECT_CONTAINS("err: queue unreachable\n", out);
    EXPECT_CONTAINS("recovered after 50 failures: queue reachable", out);
    free(out);
}

int main(void)
{
    log_force_stderr(true);
    RUN_TEST(line_format);
    RUN_TEST(level_names_round_trip);
    RUN_TEST(levels_filter_and_context_applies);
    RUN_TEST(complaints_are_rate_limited);
    return tap_done();
}
