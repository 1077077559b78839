/*
 * test_health.c: the /healthz URL `ingestd health` derives from metrics_listen, and
 * its answer when no listener is configured (the daemon's answers are tested in
 * tests/integration/test_health.py).
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/health.h"
#include "../tap.h"

static void expect_url(const char *listen, const char *want)
{
    char *got = health_url(listen);
    EXPECT_EQ_STR(want, got);
    free(got);
}

DEF_TEST(url_from_listen_address)
{
    expect_url("127.0.0.1:9464", "http://127.0.0.1:9464/healthz");
    expect_url("localhost:80", "http://localhost:80/healthz");
    expect_url("[::1]:9464", "http://[::1]:9464/healthz");
    expect_url("10.0.0.5:9464", "http://10.0.0.5:9464/healthz");
}

DEF_TEST(wildcards_reached_through_loopback)
{
    expect_url("0.0.0.0:9464", "http://127.0.0.1:9464/healthz");
    expect_url("[::]:9464", "http://[::1]:9464/healthz");
}

DEF_TEST(no_listener_no_url)
{
    EXPECT_TRUE(health_url(NULL) == NULL);
    EXPECT_TRUE(health_url("") == NULL);
}

DEF_TEST(no_listener_is_unhealthy_with_reason)
{
    struct config cfg;
    char why[256] = "";

    memset(&cfg, 0, sizeof cfg);
    EXPECT_EQ_INT(-1, health_check(&cfg, why, sizeof why));
    EXPECT_CONTAINS("metrics_listen is not set", why);
}

int main(void)
{
    RUN_TEST(url_from_listen_address);
    RUN_TEST(wildcards_reached_through_loopback);
    RUN_TEST(no_listener_no_url);
    RUN_TEST(no_listener_is_unhealthy_with_reason);
    return tap_done();
}
