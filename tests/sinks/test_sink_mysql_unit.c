/*
 * test_sink_mysql_unit.c: the pure parts of the MySQL/MariaDB sink: error-number
 * classes, the LOAD DATA escaping and value conversions, string literals, the SQL it
 * generates, the parsing of LOAD DATA warnings, sequencer order, and the bounded pipe
 * between the worker and the LOAD DATA thread (both directions of stopping, with real
 * threads). No server needed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "sinks/mysql/mysql_pipe.h"
#include "sinks/mysql/mysql_sql.h"
#include "base/util.h"
#include "sinks/sink.h"
#include "../tap.h"

DEF_TEST(error_classes)
{
    unsigned transient[] = {1205, 1213, 2002, 2003, 2006, 2013, 2055,
                            1040, 1053, 1927, 1290, 1836, 1317, 1969};
    unsigned permanent[] = {1062, 1146, 1054, 1366, 1292, 1406, 1264,
                            1265, 1048, 1261, 1262, 1263, 1452, 1064};
    unsigned config[] = {1044, 1045, 1049, 1142, 1148, 1698, 2026, 3948};
    for (size_t i = 0; i < ARRAY_SIZE(transient); i++)
        if (my_errno_class(transient[i]) != IERR_TRANSIENT)
            TAP_FAIL("%u should be transient", transient[i]);
    for (size_t i = 0; i < ARRAY_SIZE(permanent); i++)
        if (my_errno_class(permanent[i]) != IERR_PERMANENT)
            TAP_FAIL("%u should be permanent", permanent[i]);
    for (size_t i = 0; i < ARRAY_SIZE(config); i++)
        if (my_errno_class(config[i]) != IERR_CONFIG)
            TAP_FAIL("%u should be config", config[i]);
    EXPECT_TRUE(my_errno_breaks_connection(2013));
    EXPECT_TRUE(my_errno_breaks_connection(2006));
    EXPECT_TRUE(my_errno_breaks_connection(1927));
    EXPECT_TRUE(!my_errno_breaks_connection(1062));
    EXPECT_TRUE(!my_errno_breaks_connection(1205));
    EXPECT_TRUE(!my_errno_breaks_connection(1105)); /* our own cancel */
}

static char *field(const char *p, size_t n, bool is_null)
{
    static char out[256];
    struct buf b;
    buf_init(&b);
    my_put_field(&b, p, n, is_null);
    snprintf(out, sizeof(out), "%s", b.data ? b.data : "");
    buf_free(&b);
    return out;
}

DEF_TEST(load_escaping)
{
    EXPECT_EQ_STR("plain", field("plain", 5, false));
    EXPECT_EQ_STR("\\N", field(NULL, 0, true));
    EXPECT_EQ_STR("", field("", 0, false)); /* empty string, not NULL */
    EXPECT_EQ_STR("a\\tb\\nc\\\\d\\re", field("a\tb\nc\\d\re", 9, false));
    EXPECT_EQ_STR("N", field("N", 1, false));
    EXPECT_EQ_STR("\\\\N", field("\\N", 2, false)); /* a literal backslash-N stays text */
    EXPECT_EQ_STR("x\\0y", field("x\0y", 3, false));
    EXPECT_EQ_STR("\\\\\\\\", field("\\\\", 2, false));
    char out[16];
    EXPECT_EQ_INT(4, my_escape_into(out, "a\tb", 3));
    EXPECT_TRUE(!memcmp(out, "a\\tb", 4));
    /* UTF-8 passes untouched */
    EXPECT_EQ_STR("Müller 日本", field("Müller 日本", strlen("Müller 日本"), false));
}

static char *lit(const char *s)
{
    static char out[256];
    struct buf b;
    buf_init(&b);
    my_put_str(&b, s);
    snprintf(out, sizeof(out), "%s", b.data);
    buf_free(&b);
    return out;
}

DEF_TEST(literals)
{
    EXPECT_EQ_STR("NULL", lit(NULL));
    EXPECT_EQ_STR("''", lit(""));
    EXPECT_EQ_STR("'it\\'s'", lit("it's"));
    EXPECT_EQ_STR("'a\\\\b\\nc\\rd\\Z'", lit("a\\b\nc\rd\032"));
    EXPECT_EQ_STR("'people/ünïcødé日本.csv'", lit("people/ünïcødé日本.csv"));
}

DEF_TEST(bool_conversion)
{
    char c = 0;
    EXPECT_TRUE(my_conv_bool("true", 4, &c) && c == '1');
    EXPECT_TRUE(my_conv_bool("FALSE", 5, &c) && c == '0');
    EXPECT_TRUE(my_conv_bool("True", 4, &c) && c == '1');
    EXPECT_TRUE(!my_conv_bool("1", 1, &c));
    EXPECT_TRUE(!my_conv_bool("yes", 3, &c));
    EXPECT_TRUE(!my_conv_bool("truer", 5, &c));
}

static const char *utc(const char *s)
{
    static char out[MY_CONV_MAX];
    size_t n = my_conv_utc(s, strlen(s), out);
    return n ? out : "-";
}

DEF_TEST(utc_conversion)
{
    EXPECT_EQ_STR("2023-06-15 10:30:00", utc("2023-06-15T10:30:00Z"));
    EXPECT_EQ_STR("2023-06-15 08:35:00", utc("2023-06-15T10:35:00+02:00"));
    EXPECT_EQ_STR("2023-06-15 12:05:00", utc("2023-06-15 10:35:00-0130"));
    EXPECT_EQ_STR("2023-06-15 07:35:00", utc("2023-06-15T10:35:00+03"));
    EXPECT_EQ_STR("2023-06-15 10:30:00.123456", utc("2023-06-15T10:30:00.123456Z"));
    EXPECT_EQ_STR("2023-12-31 23:30:00", utc("2024-01-01T01:00:00+01:30")); /* year back */
    EXPECT_EQ_STR("2024-03-01 01:00:00", utc("2024-02-29T23:00:00-02:00")); /* leap day */
    EXPECT_EQ_STR("2023-06-15 10:30:00", utc("2023-06-15T10:30Z"));         /* no seconds */
    EXPECT_EQ_STR("-", utc("2023-06-15T10:30:00")); /* no zone: sent as it is */
    EXPECT_EQ_STR("-", utc("2023-06-15"));
    EXPECT_EQ_STR("-", utc("2023-02-30T10:30:00Z")); /* not a date: the server says */
    EXPECT_EQ_STR("-", utc("2023-06-15T25:30:00Z"));
    EXPECT_EQ_STR("-", utc("2023-06-15T10:30:00+2"));
    EXPECT_EQ_STR("-", utc("2023-06-15T10:30:00Zjunk"));
    EXPECT_EQ_STR("-", utc("not a time at all"));
}

DEF_TEST(type_names)
{
    EXPECT_EQ_STR("BIGINT", my_type_name(COLUMN_BIGINT, false));
    EXPECT_EQ_STR("DECIMAL(38,10)", my_type_name(COLUMN_NUMERIC, false));
    EXPECT_EQ_STR("DOUBLE", my_type_name(COLUMN_DOUBLE, false));
    EXPECT_EQ_STR("BOOLEAN", my_type_name(COLUMN_BOOL, false));
    EXPECT_EQ_STR("DATE", my_type_name(COLUMN_DATE, false));
    EXPECT_EQ_STR("DATETIME(6)", my_type_name(COLUMN_TIMESTAMPTZ, false));
    EXPECT_EQ_STR("LONGTEXT", my_type_name(COLUMN_TEXT, false));
    EXPECT_EQ_STR("VARCHAR(255)", my_type_name(COLUMN_TEXT, true));
}

DEF_TEST(sql_generation)
{
    const char *cols[] = {"id", "na`me", "when"};
    const char *keys[] = {"id"};
    enum column_type types[] = {COLUMN_BIGINT, COLUMN_TEXT, COLUMN_TIMESTAMPTZ};
    struct buf b;
    buf_init(&b);
    my_sql_load(&b, "`t`", cols, 3, false);
    EXPECT_EQ_STR("LOAD DATA LOCAL INFILE 'ingestd-stream' INTO TABLE `t` CHARACTER SET utf8mb4 "
                  "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                  "(`id`, `na``me`, `when`)",
                  b.data);
    buf_reset(&b);
    my_sql_load(&b, "`t`", cols, 1, true);
    EXPECT_CONTAINS("INTO TABLE ingestd_stage ", b.data);
    EXPECT_CONTAINS("(`id`, `__ingestd_ord`)", b.data);
    buf_reset(&b);
    my_sql_stage(&b, "`db`.`t`", cols, 2);
    EXPECT_EQ_STR("CREATE TEMPORARY TABLE ingestd_stage (`__ingestd_ord` BIGINT UNSIGNED NOT "
                  "NULL DEFAULT 0, PRIMARY KEY (`__ingestd_ord`)) ENGINE=InnoDB SELECT `id`, "
                  "`na``me` FROM `db`.`t` LIMIT 0",
                  b.data);
    buf_reset(&b);
    my_sql_merge(&b, "`t`", cols, 3, keys, 1);
    EXPECT_EQ_STR("INSERT INTO `t` (`id`, `na``me`, `when`) SELECT `id`, `na``me`, `when` FROM "
                  "ingestd_stage ORDER BY `__ingestd_ord` ON DUPLICATE KEY UPDATE `na``me` = "
                  "VALUES(`na``me`), `when` = VALUES(`when`)",
                  b.data);
    buf_reset(&b);
    my_sql_merge(&b, "`t`", cols, 1, keys, 1); /* key columns only */
    EXPECT_CONTAINS("ON DUPLICATE KEY UPDATE `id` = `id`", b.data);
    buf_reset(&b);
    my_sql_merge(&b, "`t`", cols, 2, NULL, 0); /* skip_row append: plain insert */
    EXPECT_EQ_STR("INSERT INTO `t` (`id`, `na``me`) SELECT `id`, `na``me` FROM ingestd_stage "
                  "ORDER BY `__ingestd_ord`",
                  b.data);
    buf_reset(&b);
    my_sql_create_table(&b, "`m`", cols, types, 3, keys, 1);
    EXPECT_EQ_STR("CREATE TABLE IF NOT EXISTS `m` (`id` BIGINT NOT NULL, `na``me` LONGTEXT, "
                  "`when` DATETIME(6), PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT "
                  "CHARSET=utf8mb4",
                  b.data);
    buf_reset(&b);
    const char *skeys[] = {"na`me"};
    my_sql_create_table(&b, "`m`", cols, NULL, 2, skeys, 1);
    EXPECT_CONTAINS("`na``me` VARCHAR(255) NOT NULL", b.data); /* a text key needs a length */
    buf_reset(&b);
    my_quote_table(&b, "db.t");
    EXPECT_EQ_STR("`db`.`t`", b.data);
    buf_reset(&b);
    my_sql_ledger_ddl(&b, "`shop`.`ingestd_ledger`");
    EXPECT_CONTAINS("IF NOT EXISTS `shop`.`ingestd_ledger` (", b.data);
    EXPECT_CONTAINS("UNIQUE KEY ingestd_ledger_object (object_id)", b.data);
    buf_reset(&b);
    my_sql_rejects_ddl(&b, "`shop`.`ingestd_rejects`");
    EXPECT_CONTAINS("IF NOT EXISTS `shop`.`ingestd_rejects` (", b.data);
    buf_free(&b);
    EXPECT_CONTAINS("STRICT_ALL_TABLES", my_sql_session);
    EXPECT_CONTAINS("time_zone = '+00:00'", my_sql_session);
}

DEF_TEST(warnings)
{
    const char *cols[] = {"id", "d", "score", "d2"};
    struct my_warning w;
    my_parse_warning("Incorrect integer value: 'x3' for column `ingest`.`t`.`id` at row 3", cols, 4,
                     &w);
    EXPECT_EQ_INT(3, w.row);
    EXPECT_EQ_INT(0, w.column);
    EXPECT_EQ_STR("x3", w.sample);
    my_parse_warning("Incorrect integer value: 'x3' for column 'id' at row 12", cols, 4, &w);
    EXPECT_EQ_INT(12, w.row);
    EXPECT_EQ_INT(0, w.column);
    my_parse_warning("Column set to default value; NULL supplied to NOT NULL column 'd' at "
                     "row 4",
                     cols, 4, &w);
    EXPECT_EQ_INT(4, w.row);
    EXPECT_EQ_INT(1, w.column);
    my_parse_warning("Data truncated for column 'd2' at row 5", cols, 4, &w);
    EXPECT_EQ_INT(5, w.row);
    EXPECT_EQ_INT(3, w.column); /* the longest name wins: d2, not d */
    my_parse_warning("Row 6 doesn't contain data for all columns", cols, 4, &w);
    EXPECT_EQ_INT(6, w.row);
    EXPECT_EQ_INT(-1, w.column);
    my_parse_warning("Row 7 was truncated; it contained more data than there were input "
                     "columns",
                     cols, 4, &w);
    EXPECT_EQ_INT(7, w.row);
    my_parse_warning("Duplicate entry '1' for key 'PRIMARY'", cols, 4, &w);
    EXPECT_EQ_INT(0, w.row);
    EXPECT_EQ_STR("1", w.sample);
    my_parse_warning("Out of range value for column 'score' at row 100000", cols, 4, &w);
    EXPECT_EQ_INT(100000, w.row);
    EXPECT_EQ_INT(2, w.column);
    my_parse_warning("Incorrect datetime value: '2023-13-01' for column `db`.`t`.`nope` at "
                     "row 2",
                     cols, 4, &w);
    EXPECT_EQ_INT(-1, w.column);
    EXPECT_EQ_STR("2023-13-01", w.sample);
    my_parse_warning(NULL, cols, 4, &w);
    EXPECT_EQ_INT(0, w.row);
}

DEF_TEST(sequencers)
{
    EXPECT_TRUE(my_sequencer_cmp("0055AED6DCD90281E5", "0055AED6DCD90281E6") < 0);
    EXPECT_TRUE(my_sequencer_cmp("0055AED6DCD90281E6", "0055aed6dcd90281e5") > 0);
    EXPECT_EQ_INT(0, my_sequencer_cmp("0055AE", "0055ae00")); /* right-padded */
    EXPECT_TRUE(my_sequencer_cmp("0056", "0055FFFFFF") > 0);
    EXPECT_TRUE(my_sequencer_cmp("", "01") < 0);
}

/* ---- the pipe, with a real reader thread ---- */

struct reader {
    struct my_pipe *p;
    size_t chunk;
    size_t got;
    uint64_t sum;
    ssize_t last;
    int stop_after; /* bytes; 0 = read to the end */
};

static void *read_all(void *arg)
{
    struct reader *r = arg;
    char *b = malloc(r->chunk);
    ssize_t n;
    while ((n = my_pipe_read(r->p, b, r->chunk)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            r->sum += (unsigned char)b[i];
        r->got += (size_t)n;
        if (r->stop_after && r->got >= (size_t)r->stop_after)
            break;
    }
    r->last = n;
    my_pipe_close_read(r->p);
    free(b);
    return NULL;
}

DEF_TEST(pipe_streams_everything_in_order)
{
    struct my_pipe *p = my_pipe_new(1000); /* small ring: many wrap-arounds */
    struct reader r = {.p = p, .chunk = 333};
    pthread_t t;
    pthread_create(&t, NULL, read_all, &r);
    char data[777];
    uint64_t sum = 0;
    size_t total = 0;
    for (int k = 0; k < 500; k++) {
        size_t n = 1 + (size_t)(k * 37) % sizeof(data);
        for (size_t i = 0; i < n; i++) {
            data[i] = (char)(i * 7 + (size_t)k);
            sum += (unsigned char)data[i];
        }
        EXPECT_EQ_INT(0, my_pipe_write(p, data, n));
        total += n;
    }
    my_pipe_finish(p);
    pthread_join(t, NULL);
    EXPECT_EQ_INT(total, r.got);
    EXPECT_TRUE(r.sum == sum);
    EXPECT_EQ_INT(0, r.last); /* end of file */
    my_pipe_free(p);
}

DEF_TEST(pipe_reader_stopping_unblocks_writer)
{
    /* The statement ends early (the server refused the load): a writer blocked on a full
     * ring must get -1, not wait forever. */
    struct my_pipe *p = my_pipe_new(64);
    struct reader r = {.p = p, .chunk = 16, .stop_after = 100};
    pthread_t t;
    pthread_create(&t, NULL, read_all, &r);
    char data[4096];
    memset(data, 'x', sizeof(data));
    int rc = 0;
    for (int k = 0; k < 100 && rc == 0; k++)
        rc = my_pipe_write(p, data, sizeof(data));
    EXPECT_EQ_INT(-1, rc);
    pthread_join(t, NULL);
    EXPECT_EQ_INT(-1, my_pipe_write(p, "y", 1));
    my_pipe_free(p);
}

static void *abort_later(void *arg)
{
    usleep(50000);
    my_pipe_abort(arg);
    return NULL;
}

DEF_TEST(pipe_writer_abort_unblocks_reader)
{
    /* The worker gives up while the reader waits on an empty ring: the reader gets -1
     * (the LOAD DATA is cancelled), never a clean end of file. */
    struct my_pipe *p = my_pipe_new(64);
    struct reader r = {.p = p, .chunk = 16};
    pthread_t t, a;
    EXPECT_EQ_INT(0, my_pipe_write(p, "abc", 3));
    pthread_create(&t, NULL, read_all, &r);
    pthread_create(&a, NULL, abort_later, p);
    pthread_join(t, NULL);
    pthread_join(a, NULL);
    EXPECT_EQ_INT(3, r.got);
    EXPECT_EQ_INT(-1, r.last);
    /* reset makes it usable for the next statement */
    my_pipe_reset(p);
    struct reader r2 = {.p = p, .chunk = 16};
    pthread_create(&t, NULL, read_all, &r2);
    EXPECT_EQ_INT(0, my_pipe_write(p, "hello", 5));
    my_pipe_finish(p);
    pthread_join(t, NULL);
    EXPECT_EQ_INT(5, r2.got);
    EXPECT_EQ_INT(0, r2.last);
    my_pipe_free(p);
}

DEF_TEST(registry_has_mysql)
{
    const struct sink_ops *ops = sink_ops_for(SINK_MYSQL);
    EXPECT_TRUE(ops != NULL);
    if (ops) {
        EXPECT_EQ_STR("mysql", ops->name);
        EXPECT_TRUE(ops->open && ops->begin && ops->write && ops->reject && ops->commit &&
                    ops->abort && ops->close && ops->check && ops->check_conf);
    }
}

/* What config_load() reports through sink_check_conf for a MySQL sink. */
DEF_TEST(configuration_checks)
{
    struct sink_conf sc = {.name = "m", .type = SINK_MYSQL, .database = (char *)"app"};
    struct buf why;

    buf_init(&why);
    EXPECT_EQ_INT(0, sink_check_conf(&sc, "database", &why));
    sc.database = (char *)"Performance_Schema";
    EXPECT_EQ_INT(-1, sink_check_conf(&sc, "database", &why));
    EXPECT_EQ_STR("\"Performance_Schema\" is a system database: loads never write there", why.data);
    buf_reset(&why);
    EXPECT_EQ_INT(0, sink_check_conf(&sc, "host", &why));
    buf_free(&why);
}

int main(void)
{
    RUN_TEST(error_classes);
    RUN_TEST(load_escaping);
    RUN_TEST(literals);
    RUN_TEST(bool_conversion);
    RUN_TEST(utc_conversion);
    RUN_TEST(type_names);
    RUN_TEST(sql_generation);
    RUN_TEST(warnings);
    RUN_TEST(sequencers);
    RUN_TEST(pipe_streams_everything_in_order);
    RUN_TEST(pipe_reader_stopping_unblocks_writer);
    RUN_TEST(pipe_writer_abort_unblocks_reader);
    RUN_TEST(registry_has_mysql);
    RUN_TEST(configuration_checks);
    return tap_done();
}
