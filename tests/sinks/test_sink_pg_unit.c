/*
 * test_sink_pg_unit.c: the pure parts of the PostgreSQL sink (pg_sql.c): SQLSTATE
 * classes, identifier quoting and splitting, COPY text escaping, generated SQL, COPY
 * error contexts; the registry (sink.c), the sink's configuration checks (check_conf)
 * and password resolution (sink_password.c). No server needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "base/config.h"
#include "sinks/postgres/pg_conninfo.h"
#include "sinks/postgres/pg_sql.h"
#include "base/util.h"
#include "sinks/sink.h"
#include "../tap.h"

DEF_TEST(sqlstate_classes)
{
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class(NULL));
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class(""));
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class("08006"));
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class("08P01"));
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class("40001"));
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class("40P01"));
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class("53300"));
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class("57P01"));
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class("57P03"));
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class("57014"));
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class("55P03"));
    EXPECT_EQ_INT(IERR_TRANSIENT, pg_sqlstate_class("58030"));
    EXPECT_EQ_INT(IERR_PERMANENT, pg_sqlstate_class("40002")); /* integrity at commit */
    EXPECT_EQ_INT(IERR_PERMANENT, pg_sqlstate_class("22P02"));
    EXPECT_EQ_INT(IERR_PERMANENT, pg_sqlstate_class("22001"));
    EXPECT_EQ_INT(IERR_PERMANENT, pg_sqlstate_class("23502"));
    EXPECT_EQ_INT(IERR_PERMANENT, pg_sqlstate_class("23505"));
    EXPECT_EQ_INT(IERR_PERMANENT, pg_sqlstate_class("42P01"));
    EXPECT_EQ_INT(IERR_PERMANENT, pg_sqlstate_class("42703"));
    EXPECT_EQ_INT(IERR_PERMANENT, pg_sqlstate_class("55000"));
    EXPECT_EQ_INT(IERR_PERMANENT, pg_sqlstate_class("57000"));
    EXPECT_EQ_INT(IERR_CONFIG, pg_sqlstate_class("28P01"));
    EXPECT_EQ_INT(IERR_CONFIG, pg_sqlstate_class("3D000"));
}

DEF_TEST(connect_error_classes)
{
    EXPECT_EQ_INT(IERR_TRANSIENT,
                  pg_connect_error_class(
                      "connection to server at \"127.0.0.1\", port 5 failed: Connection refused"));
    EXPECT_EQ_INT(IERR_CONFIG,
                  pg_connect_error_class("FATAL:  password authentication failed for user \"x\""));
    EXPECT_EQ_INT(IERR_CONFIG, pg_connect_error_class("FATAL:  database \"nope\" does not exist"));
    EXPECT_EQ_INT(IERR_CONFIG, pg_connect_error_class("invalid connection option \"hots\""));
    EXPECT_EQ_INT(IERR_TRANSIENT,
                  pg_connect_error_class("FATAL:  the database system is shutting down"));
}

static char *quoted(const char *name)
{
    struct buf b;
    buf_init(&b);
    pg_quote_ident(&b, name);
    return buf_steal(&b);
}

DEF_TEST(quote_ident)
{
    char *q = quoted("plain");
    EXPECT_EQ_STR("\"plain\"", q);
    free(q);
    q = quoted("My \"odd\" Name");
    EXPECT_EQ_STR("\"My \"\"odd\"\" Name\"", q);
    free(q);
    q = quoted("");
    EXPECT_EQ_STR("\"\"", q);
    free(q);
}

static void expect_split(const char *name, const char *schema, const char *rel)
{
    char *s, *r;
    pg_split_qualified(name, &s, &r);
    EXPECT_EQ_STR(schema, s);
    EXPECT_EQ_STR(rel, r);
    free(s);
    free(r);
}

DEF_TEST(split_qualified)
{
    expect_split("orders", NULL, "orders");
    expect_split("Sales.Orders", "Sales", "Orders");
    expect_split("\"my.schema\".\"T x\"", "my.schema", "T x");
    expect_split("\"a\"\"b\"", NULL, "a\"b");
    expect_split("\"with space\"", NULL, "with space");
    expect_split("a.b.c", NULL, "a.b.c");
    expect_split("\"unterminated", NULL, "\"unterminated");
    expect_split(".x", NULL, ".x");
    expect_split("x.", NULL, "x.");
    expect_split("\"q\"junk", NULL, "\"q\"junk");
    struct buf b;
    buf_init(&b);
    pg_quote_qualified(&b, "s\"", "T");
    EXPECT_EQ_STR("\"s\"\"\".\"T\"", b.data);
    buf_reset(&b);
    pg_quote_qualified(&b, NULL, "t");
    EXPECT_EQ_STR("\"t\"", b.data);
    buf_free(&b);
}

static char *escaped(const char *p, size_t n, bool is_null)
{
    struct buf b;
    buf_init(&b);
    pg_copy_put_field(&b, p, n, is_null);
    return buf_steal(&b);
}

DEF_TEST(copy_escaping)
{
    char *s = escaped("abc", 3, false);
    EXPECT_EQ_STR("abc", s);
    free(s);
    s = escaped(NULL, 0, true);
    EXPECT_EQ_STR("\\N", s);
    free(s);
    s = escaped("", 0, false);
    EXPECT_EQ_STR("", s);
    free(s);
    s = escaped("\\N", 2, false); /* the two characters, not NULL */
    EXPECT_EQ_STR("\\\\N", s);
    free(s);
    s = escaped("a\tb\nc\rd\\e", 9, false);
    EXPECT_EQ_STR("a\\tb\\nc\\rd\\\\e", s);
    free(s);
    s = escaped("\\.", 2, false); /* never the end-of-data marker */
    EXPECT_EQ_STR("\\\\.", s);
    free(s);
    s = escaped("\"quoted\",é", 12, false);
    EXPECT_EQ_STR("\"quoted\",é", s);
    free(s);
    s = escaped("\t\t\t\t", 4, false); /* worst case doubles */
    EXPECT_EQ_STR("\\t\\t\\t\\t", s);
    free(s);
    /* Appends: a second field after a first one. */
    struct buf b;
    buf_init(&b);
    pg_copy_put_field(&b, "x", 1, false);
    buf_putc(&b, '\t');
    pg_copy_put_field(&b, "y\n", 2, false);
    EXPECT_EQ_STR("x\ty\\n", b.data);
    EXPECT_EQ_INT(5, b.len);
    buf_free(&b);
}

DEF_TEST(type_names)
{
    EXPECT_EQ_STR("text", pg_type_name(COLUMN_TEXT));
    EXPECT_EQ_STR("bigint", pg_type_name(COLUMN_BIGINT));
    EXPECT_EQ_STR("numeric", pg_type_name(COLUMN_NUMERIC));
    EXPECT_EQ_STR("double precision", pg_type_name(COLUMN_DOUBLE));
    EXPECT_EQ_STR("boolean", pg_type_name(COLUMN_BOOL));
    EXPECT_EQ_STR("date", pg_type_name(COLUMN_DATE));
    EXPECT_EQ_STR("timestamp", pg_type_name(COLUMN_TIMESTAMP));
    EXPECT_EQ_STR("timestamptz", pg_type_name(COLUMN_TIMESTAMPTZ));
    EXPECT_EQ_STR("jsonb", pg_type_name(COLUMN_JSON));
}

DEF_TEST(sql_generation)
{
    const char *cols[] = {"id", "Name", "a\"b"};
    const enum column_type types[] = {COLUMN_BIGINT, COLUMN_TEXT, COLUMN_NUMERIC};
    const char *keys[] = {"id"};
    struct buf b;
    buf_init(&b);

    pg_sql_create_table(&b, "\"s\".\"t\"", cols, types, 3, keys, 1);
    EXPECT_EQ_STR("CREATE TABLE \"s\".\"t\" (\"id\" bigint, \"Name\" text, \"a\"\"b\" numeric, "
                  "PRIMARY KEY (\"id\"))",
                  b.data);
    buf_reset(&b);
    pg_sql_create_table(&b, "\"t\"", cols, NULL, 2, NULL, 0);
    EXPECT_EQ_STR("CREATE TABLE \"t\" (\"id\" text, \"Name\" text)", b.data);
    buf_reset(&b);

    pg_sql_copy(&b, "\"t\"", cols, 2, false);
    EXPECT_EQ_STR("COPY \"t\" (\"id\", \"Name\") FROM STDIN", b.data);
    buf_reset(&b);
    pg_sql_copy(&b, PG_STAGE_TABLE, cols, 2, true);
    EXPECT_EQ_STR("COPY ingestd_stage (\"id\", \"Name\", \"__ingestd_ord\") FROM STDIN", b.data);
    buf_reset(&b);

    pg_sql_stage(&b, "\"t\"", cols, 2);
    EXPECT_EQ_STR("CREATE TEMP TABLE ingestd_stage ON COMMIT DROP AS SELECT \"id\", \"Name\", "
                  "0::bigint AS \"__ingestd_ord\" FROM \"t\" WITH NO DATA",
                  b.data);
    buf_reset(&b);

    pg_sql_merge(&b, "\"t\"", cols, 3, keys, 1, false, false);
    EXPECT_EQ_STR("INSERT INTO \"t\" (\"id\", \"Name\", \"a\"\"b\") SELECT \"id\", \"Name\", "
                  "\"a\"\"b\" FROM pg_temp.ingestd_stage ON CONFLICT (\"id\") DO UPDATE SET "
                  "\"Name\" = EXCLUDED.\"Name\", \"a\"\"b\" = EXCLUDED.\"a\"\"b\"",
                  b.data);
    buf_reset(&b);
    pg_sql_merge(&b, "\"t\"", cols, 3, keys, 1, true, false);
    EXPECT_EQ_STR("INSERT INTO \"t\" (\"id\", \"Name\", \"a\"\"b\") SELECT DISTINCT ON (\"id\") "
                  "\"id\", \"Name\", \"a\"\"b\" FROM pg_temp.ingestd_stage ORDER BY \"id\", "
                  "\"__ingestd_ord\" DESC ON CONFLICT (\"id\") DO UPDATE SET \"Name\" = "
                  "EXCLUDED.\"Name\", \"a\"\"b\" = EXCLUDED.\"a\"\"b\"",
                  b.data);
    buf_reset(&b);

    pg_sql_merge_join(&b, "\"t\"", cols, 3, keys, 1, false);
    EXPECT_EQ_STR("MERGE INTO \"t\" AS t USING pg_temp.ingestd_stage AS s ON t.\"id\" = "
                  "s.\"id\" WHEN MATCHED THEN UPDATE SET \"Name\" = s.\"Name\", \"a\"\"b\" = "
                  "s.\"a\"\"b\" WHEN NOT MATCHED THEN INSERT (\"id\", \"Name\", \"a\"\"b\") "
                  "VALUES (s.\"id\", s.\"Name\", s.\"a\"\"b\")",
                  b.data);
    buf_reset(&b);

    pg_sql_merge(&b, "\"t\"", cols, 3, keys, 1, false, true);
    EXPECT_EQ_STR(
        "INSERT INTO \"t\" AS t (\"id\", \"Name\", \"a\"\"b\") SELECT \"id\", "
        "\"Name\", \"a\"\"b\" FROM pg_temp.ingestd_stage ON CONFLICT (\"id\") DO UPDATE "
        "SET \"Name\" = EXCLUDED.\"Name\", \"a\"\"b\" = EXCLUDED.\"a\"\"b\" WHERE NOT "
        "pg_catalog.record_image_eq(ROW(t.\"Name\", t.\"a\"\"b\"), ROW(EXCLUDED.\"Name\", "
        "EXCLUDED.\"a\"\"b\"))",
        b.data);
    buf_reset(&b);
    pg_sql_merge_join(&b, "\"t\"", cols, 3, keys, 1, true);
    EXPECT_EQ_STR(
        "MERGE INTO \"t\" AS t USING pg_temp.ingestd_stage AS s ON t.\"id\" = "
        "s.\"id\" WHEN MATCHED AND NOT pg_catalog.record_image_eq(ROW(t.\"Name\", "
        "t.\"a\"\"b\"), ROW(s.\"Name\", s.\"a\"\"b\")) THEN UPDATE SET \"Name\" = s.\"Name\", "
        "\"a\"\"b\" = s.\"a\"\"b\" WHEN NOT MATCHED THEN INSERT (\"id\", \"Name\", "
        "\"a\"\"b\") VALUES (s.\"id\", s.\"Name\", s.\"a\"\"b\")",
        b.data);
    buf_reset(&b);

    const char *kk[] = {"id", "Name"};
    pg_sql_merge_join(&b, "\"t\"", cols, 2, kk, 2, true);
    EXPECT_EQ_STR("MERGE INTO \"t\" AS t USING pg_temp.ingestd_stage AS s ON t.\"id\" = "
                  "s.\"id\" AND t.\"Name\" = s.\"Name\" WHEN MATCHED THEN DO NOTHING WHEN NOT "
                  "MATCHED THEN INSERT (\"id\", \"Name\") VALUES (s.\"id\", s.\"Name\")",
                  b.data);
    buf_reset(&b);
    pg_sql_merge(&b, "\"t\"", cols, 2, kk, 2, true, true);
    EXPECT_EQ_STR("INSERT INTO \"t\" AS t (\"id\", \"Name\") SELECT DISTINCT ON (\"id\", \"Name\") "
                  "\"id\", \"Name\" FROM pg_temp.ingestd_stage ORDER BY \"id\", \"Name\", "
                  "\"__ingestd_ord\" DESC ON CONFLICT (\"id\", \"Name\") DO NOTHING",
                  b.data);
    buf_reset(&b);
    pg_sql_ledger_ddl(&b, "\"app\".\"ingestd_ledger\"");
    EXPECT_CONTAINS("IF NOT EXISTS \"app\".\"ingestd_ledger\" (", b.data);
    EXPECT_CONTAINS("PRIMARY KEY (bucket, key, etag)", b.data);
    buf_reset(&b);
    pg_sql_rejects_ddl(&b, "\"app\".\"ingestd_rejects\"");
    EXPECT_CONTAINS("IF NOT EXISTS \"app\".\"ingestd_rejects\" (", b.data);
    buf_free(&b);
}

DEF_TEST(copy_context)
{
    const char *cols[] = {"id", "amount", "x: y", "x"};
    struct pg_copy_context cc;

    EXPECT_EQ_INT(
        0, pg_parse_copy_context("COPY t, line 3, column amount: \"abc\"", "t", cols, 4, &cc));
    EXPECT_EQ_INT(3, cc.line);
    EXPECT_EQ_INT(1, cc.column);
    EXPECT_EQ_STR("abc", cc.sample);

    /* Names that contain the punctuation of the message itself. */
    EXPECT_EQ_INT(0, pg_parse_copy_context("COPY a, line 5, line 12, column x: y: \"v\"\"w\"",
                                           "a, line 5", cols, 4, &cc));
    EXPECT_EQ_INT(12, cc.line);
    EXPECT_EQ_INT(2, cc.column);
    EXPECT_EQ_STR("v\"\"w", cc.sample);

    EXPECT_EQ_INT(
        0, pg_parse_copy_context("COPY t, line 7, column id: null input", "t", cols, 4, &cc));
    EXPECT_EQ_INT(7, cc.line);
    EXPECT_EQ_INT(0, cc.column);
    EXPECT_TRUE(cc.null_input);

    EXPECT_EQ_INT(0, pg_parse_copy_context("COPY t, line 9: \"1\tabc\"", "t", cols, 4, &cc));
    EXPECT_EQ_INT(9, cc.line);
    EXPECT_EQ_INT(-1, cc.column);
    EXPECT_EQ_STR("1\tabc", cc.sample);

    EXPECT_EQ_INT(0, pg_parse_copy_context("COPY t, line 2", "t", cols, 4, &cc));
    EXPECT_EQ_INT(2, cc.line);
    EXPECT_EQ_INT(-1, cc.column);

    /* A trigger's context lines come first. */
    EXPECT_EQ_INT(0, pg_parse_copy_context("PL/pgSQL function f() line 3 at RAISE\n"
                                           "COPY ingestd_stage, line 40000000000, column x: \"q\"",
                                           "ingestd_stage", cols, 4, &cc));
    EXPECT_EQ_INT(40000000000ULL, cc.line);
    EXPECT_EQ_INT(3, cc.column);

    /* An unexpected relation name still yields the line. */
    EXPECT_EQ_INT(0,
                  pg_parse_copy_context("COPY other, line 4, column id: \"z\"", "t", cols, 4, &cc));
    EXPECT_EQ_INT(4, cc.line);
    EXPECT_EQ_INT(0, cc.column);

    EXPECT_EQ_INT(-1, pg_parse_copy_context(NULL, "t", cols, 4, &cc));
    EXPECT_EQ_INT(-1, pg_parse_copy_context("SQL statement \"x\"", "t", cols, 4, &cc));
    EXPECT_EQ_INT(-1, pg_parse_copy_context("COPY t, line x", "t", cols, 4, &cc));
}

DEF_TEST(registry)
{
    const struct sink_ops *ops = sink_ops_for(SINK_POSTGRES);
    EXPECT_TRUE(ops != NULL);
    if (ops) {
        EXPECT_EQ_STR("postgres", ops->name);
        EXPECT_EQ_INT(SINK_POSTGRES, ops->type);
        EXPECT_TRUE(ops->open && ops->begin && ops->write && ops->reject && ops->commit &&
                    ops->abort && ops->close && ops->check && ops->check_conf);
        ops->close(NULL); /* NULL-safe */
    }
}

static int fake_secret(const struct config *cfg, const char *id, char **out, struct ierr *e)
{
    (void)cfg;
    if (strcmp(id, "prod/db")) {
        ierr_set(e, IERR_CONFIG, "secret %s: not found", id);
        return -1;
    }
    *out = xstrdup("from-secret");
    return 0;
}

DEF_TEST(password_resolution)
{
    struct sink_conf sc = {.name = "w", .type = SINK_POSTGRES};
    struct ierr e = {0};
    char *pw = (char *)"unchanged";

    EXPECT_EQ_INT(0, sink_resolve_password(&sc, NULL, &pw, &e));
    EXPECT_TRUE(pw == NULL);

    sc.password = (char *)"inline";
    EXPECT_EQ_INT(0, sink_resolve_password(&sc, NULL, &pw, &e));
    EXPECT_EQ_STR("inline", pw);
    free(pw);
    sc.password = NULL;

    char path[] = "/tmp/test_sink_pw_XXXXXX";
    int fd = mkstemp(path);
    EXPECT_TRUE(fd >= 0);
    const char text[] = "  s3cret \t\nsecond line\n";
    EXPECT_EQ_INT(sizeof(text) - 1, write(fd, text, sizeof(text) - 1));
    close(fd);
    sc.password_file = path;
    EXPECT_EQ_INT(0, sink_resolve_password(&sc, NULL, &pw, &e));
    EXPECT_EQ_STR("s3cret", pw);
    free(pw);
    unlink(path);
    EXPECT_EQ_INT(-1, sink_resolve_password(&sc, NULL, &pw, &e));
    EXPECT_EQ_INT(IERR_CONFIG, e.cls);
    EXPECT_CONTAINS(path, e.reason);
    EXPECT_CONTAINS("No such file", e.reason);
    fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
    close(fd);
    EXPECT_EQ_INT(-1, sink_resolve_password(&sc, NULL, &pw, &e));
    EXPECT_CONTAINS("empty", e.reason);
    unlink(path);
    sc.password_file = NULL;

    sc.password_secret = (char *)"prod/db";
    sink_set_secret_resolver(NULL);
    EXPECT_EQ_INT(-1, sink_resolve_password(&sc, NULL, &pw, &e));
    EXPECT_EQ_INT(IERR_CONFIG, e.cls);
    sink_set_secret_resolver(fake_secret);
    EXPECT_EQ_INT(0, sink_resolve_password(&sc, NULL, &pw, &e));
    EXPECT_EQ_STR("from-secret", pw);
    free(pw);
    sc.password_secret = (char *)"other";
    EXPECT_EQ_INT(-1, sink_resolve_password(&sc, NULL, &pw, &e));
    EXPECT_CONTAINS("other", e.reason);
    sink_set_secret_resolver(NULL);
}

DEF_TEST(conninfo_checked_and_redacted)
{
    const char *why = NULL;
    char msg[200];

    EXPECT_EQ_INT(0, pg_conninfo_check("host=h dbname=app user=u", &why));
    EXPECT_EQ_INT(0, pg_conninfo_check("postgresql://u:p%41ss@h:5432/app", &why));
    EXPECT_EQ_INT(0, pg_conninfo_check("app", &why)); /* a database name */
    EXPECT_EQ_INT(-1, pg_conninfo_check("postgresql://u:Hunter2%ZZsecret@h/app", &why));
    EXPECT_TRUE(why && strstr(why, "%XX") && !strstr(why, "Hunter2"));
    EXPECT_EQ_INT(-1, pg_conninfo_check("host=h password=correct horse", &why));
    EXPECT_TRUE(why && strstr(why, "without") && !strstr(why, "horse"));
    EXPECT_EQ_INT(-1, pg_conninfo_check("host=h password='open", &why));
    EXPECT_TRUE(why && strstr(why, "closing quote"));

    snprintf(msg, sizeof(msg), "failed for \"s3cr3t\" and s3cr3t; inline pw0rd!");
    pg_conninfo_redact(msg, sizeof(msg), "host=h password=pw0rd!", "s3cr3t");
    EXPECT_EQ_STR("failed for \"***\" and ***; inline ***", msg);
    snprintf(msg, sizeof(msg), "*** stays ***");
    pg_conninfo_redact(msg, sizeof(msg), NULL, "***");
    EXPECT_EQ_STR("*** stays ***", msg);
}

/* What config_load() reports through sink_check_conf for a PostgreSQL sink. */
static int check(struct sink_conf *sc, const char *key, struct buf *why)
{
    buf_reset(why);
    return sink_check_conf(sc, key, why);
}

DEF_TEST(configuration_checks)
{
    struct sink_conf sc = {.name = "p", .type = SINK_POSTGRES};
    struct buf why;

    buf_init(&why);
    sc.conninfo = (char *)"host=h dbname=app";
    sc.schema = (char *)"app";
    EXPECT_EQ_INT(0, check(&sc, "conninfo", &why));
    EXPECT_EQ_INT(0, check(&sc, "schema", &why));
    sc.conninfo = (char *)"host=h password=correct horse";
    EXPECT_EQ_INT(-1, check(&sc, "conninfo", &why));
    EXPECT_CONTAINS("the value is not shown", why.data);
    EXPECT_TRUE(!strstr(why.data, "horse"));
    EXPECT_EQ_INT(0, check(&sc, "lock_timeout", &why)); /* not a key it checks */
    sc.schema = (char *)"pg_catalog";
    EXPECT_EQ_INT(-1, check(&sc, "schema", &why));
    EXPECT_EQ_STR("\"pg_catalog\" is a system catalog schema: loads never write there", why.data);
    sc.schema = (char *)"2x";
    EXPECT_EQ_INT(-1, check(&sc, "schema", &why));
    EXPECT_CONTAINS("is not a schema name", why.data);
    sc.schema = NULL; /* set empty in the file */
    EXPECT_EQ_INT(-1, check(&sc, "schema", &why));
    EXPECT_CONTAINS("\"\" is not a schema name", why.data);
    sc.type = SINK_MYSQL; /* another type: that sink's rules, which ignore these keys */
    sc.schema = (char *)"pg_catalog";
    EXPECT_EQ_INT(0, check(&sc, "schema", &why));
    buf_free(&why);
}

int main(void)
{
    RUN_TEST(conninfo_checked_and_redacted);
    RUN_TEST(sqlstate_classes);
    RUN_TEST(connect_error_classes);
    RUN_TEST(quote_ident);
    RUN_TEST(split_qualified);
    RUN_TEST(copy_escaping);
    RUN_TEST(type_names);
    RUN_TEST(sql_generation);
    RUN_TEST(copy_context);
    RUN_TEST(registry);
    RUN_TEST(configuration_checks);
    RUN_TEST(password_resolution);
    return tap_done();
}
