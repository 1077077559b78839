/*
 * test_sink_guard.c: what a load may touch (ingestd's own tables, catalog schemas and
 * system databases) and error texts that name the target instead of the staging table.
 */
#include <string.h>

#include "sinks/sink_guard.h"
#include "../tap.h"

DEF_TEST(own_tables)
{
    EXPECT_TRUE(sink_guard_own_table("ingestd_ledger"));
    EXPECT_TRUE(sink_guard_own_table("ingestd_rejects"));
    EXPECT_TRUE(sink_guard_own_table("ingestd_stage"));
    EXPECT_TRUE(sink_guard_own_table("INGESTD_Ledger"));
    EXPECT_TRUE(!sink_guard_own_table("ingestd_ledger2"));
    EXPECT_TRUE(!sink_guard_own_table("payments"));
    EXPECT_TRUE(!sink_guard_own_table("ingestd"));
}

DEF_TEST(catalogs)
{
    EXPECT_TRUE(sink_guard_pg_catalog("pg_catalog"));
    EXPECT_TRUE(sink_guard_pg_catalog("pg_toast"));
    EXPECT_TRUE(sink_guard_pg_catalog("pg_temp_3"));
    EXPECT_TRUE(sink_guard_pg_catalog("information_schema"));
    EXPECT_TRUE(sink_guard_pg_catalog("PG_CATALOG"));
    EXPECT_TRUE(!sink_guard_pg_catalog("public"));
    EXPECT_TRUE(!sink_guard_pg_catalog("pgx"));
    EXPECT_TRUE(sink_guard_mysql_catalog("mysql"));
    EXPECT_TRUE(sink_guard_mysql_catalog("information_schema"));
    EXPECT_TRUE(sink_guard_mysql_catalog("performance_schema"));
    EXPECT_TRUE(sink_guard_mysql_catalog("SYS"));
    EXPECT_TRUE(!sink_guard_mysql_catalog("shop"));
    EXPECT_TRUE(!sink_guard_mysql_catalog("mysql2"));
}

DEF_TEST(targets)
{
    struct ierr e;
    EXPECT_EQ_INT(0, sink_guard_target(NULL, "payments", "payments", sink_guard_pg_catalog, &e));
    EXPECT_EQ_INT(0, sink_guard_target("app", "payments", "x", sink_guard_pg_catalog, &e));
    EXPECT_EQ_INT(-1, sink_guard_target("public", "ingestd_ledger", "\"public\".\"ingestd_ledger\"",
                                        sink_guard_pg_catalog, &e));
    EXPECT_EQ_INT(IERR_PERMANENT, e.cls);
    EXPECT_TRUE(strstr(e.reason, "\"public\".\"ingestd_ledger\" is one of ingestd's own") != NULL);
    EXPECT_EQ_INT(-1, sink_guard_target("pg_catalog", "pg_description", "pg_catalog.pg_description",
                                        sink_guard_pg_catalog, &e));
    EXPECT_TRUE(strstr(e.reason, "system catalog schema pg_catalog") != NULL);
    EXPECT_EQ_INT(
        -1, sink_guard_target("mysql", "user", "`mysql`.`user`", sink_guard_mysql_catalog, &e));
    EXPECT_EQ_INT(0,
                  sink_guard_target("shop", "user", "`shop`.`user`", sink_guard_mysql_catalog, &e));
}

static const char *named(const char *in, char q, const char *target)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s", in);
    sink_guard_name_target(buf, sizeof(buf), q, target);
    return buf;
}

DEF_TEST(errors_name_the_target)
{
    EXPECT_EQ_STR("Incorrect integer value: 'x' for column `demo`.`orders`.`id` at row 1",
                  named("Incorrect integer value: 'x' for column `demo`.`ingestd_stage`.`id` at "
                        "row 1",
                        '`', "`demo`.`orders`"));
    EXPECT_EQ_STR("Table `demo`.`orders` is full",
                  named("Table `ingestd_stage` is full", '`', "`demo`.`orders`"));
    EXPECT_EQ_STR("Table 'demo.orders' doesn't exist",
                  named("Table 'demo.ingestd_stage' doesn't exist", '`', "demo.orders"));
    EXPECT_EQ_STR(
        "value in \"public\".\"t\" and \"public\".\"t\"",
        named("value in \"ingestd_stage\" and pg_temp.ingestd_stage", '"', "\"public\".\"t\""));
    EXPECT_EQ_STR("ingestd_stage2 and my_ingestd_stage stay",
                  named("ingestd_stage2 and my_ingestd_stage stay", '"', "t"));
    EXPECT_EQ_STR("no staging here", named("no staging here", '"', "t"));
}

int main(void)
{
    RUN_TEST(own_tables);
    RUN_TEST(catalogs);
    RUN_TEST(targets);
    RUN_TEST(errors_name_the_target);
    return tap_done();
}
