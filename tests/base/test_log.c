/* Unit tests for log.c: line format, escaping, JSON records, levels, context and the
 * complaint limiter. */
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "../tap.h"
#include "base/util.h"

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

/* A key with %0A and an ESC sequence decoded, as an event would carry it. */
DEF_TEST(text_lines_cannot_be_forged)
{
    static const char key[] = "in/x.csv\n2025-11-22T01:02:03.456Z info: loaded s3://b/payroll.csv"
                              " \x1b[2J\x1b]0;owned\x07\r\"q\" \\ \xc2\x9b\xff";
    const struct log_field ctx[] = {{"S3_KEY", key}, {"ROUTE", "a\"b"}, {"SINK", "x]"}};
    struct buf b;

    buf_init(&b);
    log_format_line(&b, 0, LOG_ERR, ctx, 3, NULL, 0, key);
    EXPECT_TRUE(strchr(b.data, '\n') == NULL);
    EXPECT_TRUE(strchr(b.data, '\r') == NULL);
    EXPECT_TRUE(strchr(b.data, '\x1b') == NULL);
    EXPECT_TRUE(strchr(b.data, '\x07') == NULL);
    EXPECT_TRUE(strstr(b.data, "\xc2\x9b") == NULL);
    EXPECT_EQ_STR("1970-01-01T00:00:00.000Z err: in/x.csv\\n2025-11-22T01:02:03.456Z info: loaded "
                  "s3://b/payroll.csv \\x1B[2J\\x1B]0;owned\\x07\\r\"q\" \\\\ \\xC2\\x9B\\xFF "
                  "[S3_KEY=\"in/x.csv\\n2025-11-22T01:02:03.456Z info: loaded s3://b/payroll.csv "
                  "\\x1B[2J\\x1B]0;owned\\x07\\r\\\"q\\\" \\\\ \\xC2\\x9B\\xFF\" "
                  "ROUTE=\"a\\\"b\" SINK=\"x]\"]",
                  b.data);
    buf_reset(&b);
    /* Valid UTF-8 stays readable; a tab is escaped but does not force quotes by itself. */
    log_format_line(&b, 0, LOG_INFO, NULL, 0, NULL, 0, "caf\xc3\xa9 \xe2\x82\xac\t.");
    EXPECT_EQ_STR("1970-01-01T00:00:00.000Z info: caf\xc3\xa9 \xe2\x82\xac\\t.", b.data);
    buf_free(&b);
}

DEF_TEST(json_records)
{
    const struct log_field ctx[] = {{"S3_BUCKET", "b"}, {"S3_KEY", "a\nb\x1b\xff\xc3\xa9"}};
    const struct log_field extra[] = {{"ROWS", "10"}, {"SKIPPED", NULL}, {"DURATION_MS", "x"}};
    json_error_t jerr;
    json_t *o;
    struct buf b;

    buf_init(&b);
    log_format_json(&b, 1763773323456LL, LOG_WARNING, ctx, 2, extra, 3, "loaded \"it\"\n");
    EXPECT_TRUE(strchr(b.data, '\n') == NULL);
    EXPECT_TRUE(strchr(b.data, '\x1b') == NULL);
    for (size_t i = 0; i < b.len; i++)
        EXPECT_TRUE((unsigned char)b.data[i] < 0x80);
    EXPECT_TRUE(str_has_prefix(b.data, "{\"ts\":\"2025-11-22T01:02:03.456Z\",\"level\":\"warning\","
                                       "\"msg\":"));
    o = json_loads(b.data, 0, &jerr);
    EXPECT_TRUE(o != NULL);
    EXPECT_EQ_STR("loaded \"it\"\n", json_string_value(json_object_get(o, "msg")));
    EXPECT_EQ_STR("b", json_string_value(json_object_get(o, "s3_bucket")));
    /* not UTF-8: escaped as in text mode, the rest kept */
    EXPECT_EQ_STR("a\\nb\\x1B\\xFF\xc3\xa9", json_string_value(json_object_get(o, "s3_key")));
    EXPECT_TRUE(json_is_integer(json_object_get(o, "rows")));
    EXPECT_EQ_INT(10, json_integer_value(json_object_get(o, "rows")));
    EXPECT_EQ_STR("x", json_string_value(json_object_get(o, "duration_ms")));
    EXPECT_TRUE(json_object_get(o, "skipped") == NULL);
    EXPECT_EQ_INT(7, json_object_size(o));
    json_decref(o);
    buf_free(&b);
}

static void log_json_then_text(void)
{
    const struct log_field ctx[] = {{"ROUTE", "orders"}};

    log_set_format(LOG_FORMAT_JSON);
    log_context_set(ctx, 1);
    log_info("first\nsecond");
    log_context_clear();
    log_set_format(LOG_FORMAT_TEXT);
    log_info("plain");
}

DEF_TEST(format_switches_at_run_time)
{
    char *out = capture_stderr(log_json_then_text);
    char *nl = strchr(out, '\n');

    EXPECT_TRUE(nl != NULL);
    if (nl) {
        json_t *o = json_loadb(out, (size_t)(nl - out), 0, NULL);
        EXPECT_TRUE(o != NULL);
        EXPECT_EQ_STR("info", json_string_value(json_object_get(o, "level")));
        EXPECT_EQ_STR("first\nsecond", json_string_value(json_object_get(o, "msg")));
        EXPECT_EQ_STR("orders", json_string_value(json_object_get(o, "route")));
        json_decref(o);
        EXPECT_CONTAINS(" info: plain\n", nl + 1);
    }
    free(out);
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
    RUN_TEST(text_lines_cannot_be_forged);
    RUN_TEST(json_records);
    RUN_TEST(format_switches_at_run_time);
    RUN_TEST(level_names_round_trip);
    RUN_TEST(levels_filter_and_context_applies);
    RUN_TEST(complaints_are_rate_limited);
    return tap_done();
}
