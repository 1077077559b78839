/*
 * test_endpoint.c: endpoint precedence (config key > AWS_ENDPOINT_URL_<ID> >
 * [aws] endpoint_url > AWS_ENDPOINT_URL > public endpoint) and URL splitting.
 */
#include <stdlib.h>
#include <string.h>

#include "aws/aws_endpoint.h"
#include "base/config.h"
#include "../tap.h"

static const char *const env_names[] = {
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_KINESIS_VIDEO",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
};

static void clean_env(void)
{
    for (size_t i = 0; i < sizeof env_names / sizeof *env_names; i++)
        unsetenv(env_names[i]);
}

static void expect_url(const struct config *cfg, const char *service, const char *want)
{
    char *got = aws_endpoint_url(cfg, service);
    EXPECT_EQ_STR(want, got);
    free(got);
}

DEF_TEST(public_endpoints_follow_region)
{
    struct config cfg;

    clean_env();
    memset(&cfg, 0, sizeof cfg);
    cfg.aws.region = "eu-west-3";
    expect_url(&cfg, "sqs", "https://sqs.eu-west-3.amazonaws.com");
    expect_url(&cfg, "s3", "https://s3.eu-west-3.amazonaws.com");
    expect_url(&cfg, "dynamodb", "https://dynamodb.eu-west-3.amazonaws.com");
    expect_url(&cfg, "secretsmanager", "https://secretsmanager.eu-west-3.amazonaws.com");
    expect_url(&cfg, "sts", "https://sts.eu-west-3.amazonaws.com");
    cfg.aws.region = "cn-north-1";
    expect_url(&cfg, "sqs", "https://sqs.cn-north-1.amazonaws.com.cn");
}

DEF_TEST(region_without_config)
{
    clean_env();
    EXPECT_EQ_STR("us-east-1", aws_endpoint_region(NULL));
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    EXPECT_EQ_STR("ap-south-1", aws_endpoint_region(NULL));
    setenv("AWS_REGION", "eu-north-1", 1);
    EXPECT_EQ_STR("eu-north-1", aws_endpoint_region(NULL));
    expect_url(NULL, "sts", "https://sts.eu-north-1.amazonaws.com");
    clean_env();
}

DEF_TEST(precedence)
{
    struct config cfg;

    clean_env();
    memset(&cfg, 0, sizeof cfg);
    cfg.aws.region = "us-east-1";
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/", 1);
    expect_url(&cfg, "sqs", "http://127.0.0.1:1");
    cfg.aws.endpoint_url = "http://127.0.0.1:2";
    expect_url(&cfg, "sqs", "http://127.0.0.1:2");
    setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:3//", 1);
    expect_url(&cfg, "sqs", "http://127.0.0.1:3");
    expect_url(&cfg, "s3", "http://127.0.0.1:2"); /* other services unaffected */
    cfg.aws.sqs_endpoint = "http://127.0.0.1:4";
    expect_url(&cfg, "sqs", "http://127.0.0.1:4");
    cfg.aws.sqs_endpoint = ""; /* empty counts as unset */
    expect_url(&cfg, "sqs", "http://127.0.0.1:3");
    clean_env();
}

DEF_TEST(per_service_names)
{
    struct config cfg;

    clean_env();
    memset(&cfg, 0, sizeof cfg);
    setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://sm:1", 1);
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://ddb:1", 1);
    setenv("AWS_ENDPOINT_URL_S3", "http://s3:1", 1);
    setenv("AWS_ENDPOINT_URL_STS", "http://sts:1", 1);
    setenv("AWS_ENDPOINT_URL_KINESIS_VIDEO", "http://kv:1", 1);
    expect_url(&cfg, "secretsmanager", "http://sm:1");
    expect_url(&cfg, "dynamodb", "http://ddb:1");
    expect_url(&cfg, "s3", "http://s3:1");
    expect_url(&cfg, "sts", "http://sts:1");
    expect_url(&cfg, "kinesis-video", "http://kv:1");
    cfg.aws.secretsmanager_endpoint = "http://cfg-sm:2";
    cfg.aws.dynamodb_endpoint = "http://cfg-ddb:2";
    cfg.aws.s3_endpoint = "http://cfg-s3:2";
    cfg.aws.sts_endpoint = "http://cfg-sts:2";
    expect_url(&cfg, "secretsmanager", "http://cfg-sm:2");
    expect_url(&cfg, "dynamodb", "http://cfg-ddb:2");
    expect_url(&cfg, "s3", "http://cfg-s3:2");
    expect_url(&cfg, "sts", "http://cfg-sts:2");
    clean_env();
}

DEF_TEST(url_parse)
{
    struct aws_url u;

    EXPECT_EQ_INT(0, aws_url_parse("http://127.0.0.1:4566/123/q-1?a=b&c", &u));
    EXPECT_EQ_STR("http", u.scheme);
    EXPECT_EQ_STR("127.0.0.1", u.host);
    EXPECT_EQ_INT(4566, u.port);
    EXPECT_EQ_STR("127.0.0.1:4566", u.host_header);
    EXPECT_EQ_STR("/123/q-1", u.path);
    EXPECT_EQ_STR("a=b&c", u.query);
    aws_url_free(&u);

    EXPECT_EQ_INT(0, aws_url_parse("HTTPS://SQS.us-east-1.amazonaws.com", &u));
    EXPECT_EQ_STR("https", u.scheme);
    EXPECT_EQ_STR("sqs.us-east-1.amazonaws.com", u.host);
    EXPECT_EQ_INT(443, u.port);
    EXPECT_EQ_STR("sqs.us-east-1.amazonaws.com", u.host_header);
    EXPECT_EQ_STR("/", u.path);
    EXPECT_EQ_STR("", u.query);
    aws_url_free(&u);

    EXPECT_EQ_INT(0, aws_url_parse("https://h:443?x=1", &u));
    EXPECT_EQ_STR("h", u.host_header);
    EXPECT_EQ_STR("/", u.path);
    EXPECT_EQ_STR("x=1", u.query);
    aws_url_free(&u);

    EXPECT_EQ_INT(0, aws_url_parse("http://[::1]:9000/b/k%20x", &u));
    EXPECT_EQ_STR("[::1]", u.host);
    EXPECT_EQ_STR("[::1]:9000", u.host_header);
    EXPECT_EQ_STR("/b/k%20x", u.path);
    aws_url_free(&u);
    aws_url_free(&u); /* idempotent */
}

DEF_TEST(url_parse_rejects)
{
    static const char *const bad[] = {
        "ftp://h/",        "http://",     "http:///x",      "http://u:p@h/", "http://h:0/",
        "http://h:99999/", "http://h:x/", "http://h/#frag", "http://[::1/",  "h/x",
        "http://[::1]x/",
    };
    struct aws_url u;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (aws_url_parse(bad[i], &u) != -1)
            TAP_FAIL("accepted %s", bad[i]);
        EXPECT_TRUE(u.host == NULL && u.path == NULL);
    }
}

int main(void)
{
    RUN_TEST(public_endpoints_follow_region);
    RUN_TEST(region_without_config);
    RUN_TEST(precedence);
    RUN_TEST(per_service_names);
    RUN_TEST(url_parse);
    RUN_TEST(url_parse_rejects);
    return tap_done();
}
