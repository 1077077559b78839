/*
 * test_s3_url.c: S3 key encoding, bucket-name checks and the path-style / virtual-hosted
 * addressing decision of s3_url.c.
 */
#include <stdlib.h>
#include <string.h>

#include "aws/s3_url.h"
#include "../tap.h"
#include "base/util.h"

static void expect_encoded(const char *key, const char *want)
{
    char *got = s3_key_encode(key);
    EXPECT_EQ_STR(want, got);
    free(got);
}

DEF_TEST(key_unreserved_and_slash_kept)
{
    expect_encoded("AZaz09-_.~/", "AZaz09-_.~/");
    expect_encoded("dir/sub/file.csv", "dir/sub/file.csv");
}

DEF_TEST(key_reserved_characters_encoded)
{
    expect_encoded("a b+c=d&e%f(g)h!i", "a%20b%2Bc%3Dd%26e%25f%28g%29h%21i");
    expect_encoded("*'\"#?:;@$,[]{}|\\^`<>",
                   "%2A%27%22%23%3F%3A%3B%40%24%2C%5B%5D%7B%7D%7C%5C%5E%60%3C%3E");
    expect_encoded("\x01\x1f\x7f", "%01%1F%7F");
}

DEF_TEST(key_utf8_bytes_upper_hex)
{
    expect_encoded("\xc3\xa9", "%C3%A9");                             /* é */
    expect_encoded("\xc3\xbc", "%C3%BC");                             /* ü */
    expect_encoded("\xe6\x97\xa5\xe6\x9c\xac", "%E6%97%A5%E6%9C%AC"); /* 日本 */
    expect_encoded("\xff", "%FF");
}

DEF_TEST(key_dot_segments_and_double_slash_untouched)
{
    expect_encoded("a//b/./c/../d", "a//b/./c/../d");
    expect_encoded("../x", "../x");
    expect_encoded("/lead", "/lead");
    expect_encoded("trail/", "trail/");
}

DEF_TEST(key_long)
{
    char key[1025];
    for (size_t i = 0; i < 1024; i += 2) {
        key[i] = '\xc3';
        key[i + 1] = '\xa9';
    }
    key[1024] = '\0';
    char *got = s3_key_encode(key);
    EXPECT_EQ_INT(3072, strlen(got));
    EXPECT_TRUE(strncmp(got, "%C3%A9%C3%A9", 12) == 0);
    free(got);
}

DEF_TEST(bucket_dns_compatible)
{
    EXPECT_TRUE(s3_bucket_dns_compatible("my-bucket"));
    EXPECT_TRUE(s3_bucket_dns_compatible("abc"));
    EXPECT_TRUE(s3_bucket_dns_compatible("my.bucket.name"));
    EXPECT_TRUE(s3_bucket_dns_compatible("0ab9"));
    char name[65];
    memset(name, 'a', 64);
    name[63] = '\0';
    EXPECT_TRUE(s3_bucket_dns_compatible(name));
    name[63] = 'a';
    name[64] = '\0';
    EXPECT_TRUE(!s3_bucket_dns_compatible(name));
    EXPECT_TRUE(!s3_bucket_dns_compatible("ab"));
    EXPECT_TRUE(!s3_bucket_dns_compatible(""));
    EXPECT_TRUE(!s3_bucket_dns_compatible(NULL));
    EXPECT_TRUE(!s3_bucket_dns_compatible("My-Bucket"));
    EXPECT_TRUE(!s3_bucket_dns_compatible("my_bucket"));
    EXPECT_TRUE(!s3_bucket_dns_compatible("-abc"));
    EXPECT_TRUE(!s3_bucket_dns_compatible("abc-"));
    EXPECT_TRUE(!s3_bucket_dns_compatible(".abc"));
    EXPECT_TRUE(!s3_bucket_dns_compatible("a..b"));
    EXPECT_TRUE(!s3_bucket_dns_compatible("a.-b"));
    EXPECT_TRUE(!s3_bucket_dns_compatible("a-.b"));
    EXPECT_TRUE(!s3_bucket_dns_compatible("192.168.1.10"));
    EXPECT_TRUE(s3_bucket_dns_compatible("192.168.1.10a"));
}

DEF_TEST(host_is_aws)
{
    EXPECT_TRUE(s3_host_is_aws("s3.us-east-1.amazonaws.com"));
    EXPECT_TRUE(s3_host_is_aws("S3.EU-WEST-1.AMAZONAWS.COM"));
    EXPECT_TRUE(s3_host_is_aws("s3.cn-north-1.amazonaws.com.cn"));
    EXPECT_TRUE(!s3_host_is_aws("127.0.0.1"));
    EXPECT_TRUE(!s3_host_is_aws("amazonaws.com.example.org"));
    EXPECT_TRUE(!s3_host_is_aws("notamazonaws.com"));
    EXPECT_TRUE(!s3_host_is_aws(NULL));
}

struct want {
    const char *url, *host, *path, *query;
    bool virtual_host;
};

static void expect_target(const char *endpoint, const char *region, bool force_path,
                          const char *bucket, const char *key, const char *version, struct want w)
{
    struct s3_target t;
    char err[128] = "";

    if (s3_target_build(endpoint, region, force_path, bucket, key, version, &t, err, sizeof(err)) !=
        0) {
        TAP_FAIL("build failed for %s %s/%s: %s", endpoint ? endpoint : "(aws)", bucket, key, err);
        return;
    }
    EXPECT_EQ_STR(w.url, t.url);
    EXPECT_EQ_STR(w.host, t.host_header);
    EXPECT_EQ_STR(w.path, t.path);
    EXPECT_EQ_STR(w.query, t.query);
    EXPECT_EQ_INT(w.virtual_host, t.virtual_host);
    s3_target_free(&t);
    EXPECT_TRUE(t.url == NULL);
}

DEF_TEST(custom_endpoint_is_path_style)
{
    expect_target("http://127.0.0.1:5000", "us-east-1", false, "bkt", "dir/a b.csv", NULL,
                  (struct want){"http://127.0.0.1:5000/bkt/dir/a%20b.csv", "127.0.0.1:5000",
                                "/bkt/dir/a%20b.csv", "", false});
    expect_target(
        "http://127.0.0.1:5000/", "us-east-1", false, "bkt", "k", NULL,
        (struct want){"http://127.0.0.1:5000/bkt/k", "127.0.0.1:5000", "/bkt/k", "", false});
    expect_target(
        "HTTP://LOCALHOST:9000/s3/", "us-east-1", false, "bkt", "k", NULL,
        (struct want){"http://localhost:9000/s3/bkt/k", "localhost:9000", "/s3/bkt/k", "", false});
    expect_target("http://[::1]:9000", "us-east-1", false, "bkt", "k", NULL,
                  (struct want){"http://[::1]:9000/bkt/k", "[::1]:9000", "/bkt/k", "", false});
}

DEF_TEST(default_port_not_in_host)
{
    expect_target(
        "https://store.example:443", "us-east-1", false, "bkt", "k", NULL,
        (struct want){"https://store.example/bkt/k", "store.example", "/bkt/k", "", false});
    expect_target(
        "http://store.example:80", "us-east-1", false, "bkt", "k", NULL,
        (struct want){"http://store.example/bkt/k", "store.example", "/bkt/k", "", false});
}

DEF_TEST(dot_segments_survive_in_path)
{
    expect_target("http://127.0.0.1:5000", "us-east-1", false, "bkt", "a//b/./c/../d", NULL,
                  (struct want){"http://127.0.0.1:5000/bkt/a//b/./c/../d", "127.0.0.1:5000",
                                "/bkt/a//b/./c/../d", "", false});
    expect_target("http://127.0.0.1:5000", "us-east-1", false, "bkt", "../up", NULL,
                  (struct want){"http://127.0.0.1:5000/bkt/../up", "127.0.0.1:5000", "/bkt/../up",
                                "", false});
}

DEF_TEST(aws_default_is_virtual_hosted)
{
    expect_target(NULL, "eu-west-1", false, "my-bucket", "x/y.csv", NULL,
                  (struct want){"https://my-bucket.s3.eu-west-1.amazonaws.com/x/y.csv",
                                "my-bucket.s3.eu-west-1.amazonaws.com", "/x/y.csv", "", true});
    expect_target("", "cn-north-1", false, "my-bucket", "k", NULL,
                  (struct want){"https://my-bucket.s3.cn-north-1.amazonaws.com.cn/k",
                                "my-bucket.s3.cn-north-1.amazonaws.com.cn", "/k", "", true});
    expect_target("https://s3.us-west-2.amazonaws.com", "us-west-2", false, "abc", "k", NULL,
                  (struct want){"https://abc.s3.us-west-2.amazonaws.com/k",
                                "abc.s3.us-west-2.amazonaws.com", "/k", "", true});
}

DEF_TEST(aws_path_style_when_forced_or_needed)
{
    expect_target(NULL, "eu-west-1", true, "my-bucket", "k", NULL,
                  (struct want){"https://s3.eu-west-1.amazonaws.com/my-bucket/k",
                                "s3.eu-west-1.amazonaws.com", "/my-bucket/k", "", false});
    /* A dotted bucket over https would not match the *.s3 wildcard certificate. */
    expect_target(NULL, "eu-west-1", false, "my.bucket", "k", NULL,
                  (struct want){"https://s3.eu-west-1.amazonaws.com/my.bucket/k",
                                "s3.eu-west-1.amazonaws.com", "/my.bucket/k", "", false});
    expect_target("http://s3.eu-west-1.amazonaws.com", "eu-west-1", false, "my.bucket", "k", NULL,
                  (struct want){"http://my.bucket.s3.eu-west-1.amazonaws.com/k",
                                "my.bucket.s3.eu-west-1.amazonaws.com", "/k", "", true});
    /* Legacy names that are not DNS labels. */
    expect_target(NULL, "us-east-1", false, "Legacy_Bucket", "k", NULL,
                  (struct want){"https://s3.us-east-1.amazonaws.com/Legacy_Bucket/k",
                                "s3.us-east-1.amazonaws.com", "/Legacy_Bucket/k", "", false});
}

DEF_TEST(version_id_query)
{
    expect_target("http://127.0.0.1:5000", "us-east-1", false, "bkt", "k", "3/L4kqtJl+cV=_.~",
                  (struct want){"http://127.0.0.1:5000/bkt/k?versionId=3%2FL4kqtJl%2BcV%3D_.~",
                                "127.0.0.1:5000", "/bkt/k", "versionId=3%2FL4kqtJl%2BcV%3D_.~",
                                false});
    expect_target(
        "http://127.0.0.1:5000", "us-east-1", false, "bkt", "k", "",
        (struct want){"http://127.0.0.1:5000/bkt/k", "127.0.0.1:5000", "/bkt/k", "", false});
}

static void expect_fail(const char *endpoint, const char *region, const char *bucket,
                        const char *key)
{
    struct s3_target t;
    char err[128] = "";

    EXPECT_EQ_INT(
        -1, s3_target_build(endpoint, region, false, bucket, key, NULL, &t, err, sizeof(err)));
    EXPECT_TRUE(err[0] != '\0');
    EXPECT_TRUE(t.url == NULL && t.host_header == NULL && t.path == NULL);
}

DEF_TEST(bad_inputs)
{
    expect_fail("http://127.0.0.1:5000", "us-east-1", "bkt", "");
    expect_fail("http://127.0.0.1:5000", "us-east-1", "", "k");
    expect_fail("http://127.0.0.1:5000", "us-east-1", NULL, "k");
    expect_fail("ftp://127.0.0.1:5000", "us-east-1", "bkt", "k");
    expect_fail("http://127.0.0.1:5000/?x=1", "us-east-1", "bkt", "k");
    expect_fail("http://user@127.0.0.1:5000", "us-east-1", "bkt", "k");
    expect_fail(NULL, "", "bkt", "k");
    expect_fail(NULL, NULL, "bkt", "k");
}

int main(void)
{
    RUN_TEST(key_unreserved_and_slash_kept);
    RUN_TEST(key_reserved_characters_encoded);
    RUN_TEST(key_utf8_bytes_upper_hex);
    RUN_TEST(key_dot_segments_and_double_slash_untouched);
    RUN_TEST(key_long);
    RUN_TEST(bucket_dns_compatible);
    RUN_TEST(host_is_aws);
    RUN_TEST(custom_endpoint_is_path_style);
    RUN_TEST(default_port_not_in_host);
    RUN_TEST(dot_segments_survive_in_path);
    RUN_TEST(aws_default_is_virtual_hosted);
    RUN_TEST(aws_path_style_when_forced_or_needed);
    RUN_TEST(version_id_query);
    RUN_TEST(bad_inputs);
    return tap_done();
}
