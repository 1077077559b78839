/*
 * test_secrets.c: GetSecretValue request/answer handling and password extraction
 * from RDS-style JSON secrets and plain strings (fixtures in data/aws/).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_error.h"
#include "aws/secrets.h"
#include "../tap.h"
#include "base/util.h"

static char *fixture(const char *name, size_t *len)
{
    const char *src = getenv("INGESTD_SRCDIR");
    char path[4096], chunk[4096];
    struct buf b;
    FILE *f;
    size_t n;

    if (src != NULL) {
        snprintf(path, sizeof path, "%s/data/aws/%s", src, name);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int dirlen = slash ? (int)(slash - __FILE__) : 1;
        snprintf(path, sizeof path, "%.*s/../../data/aws/%s", dirlen, slash ? __FILE__ : ".", name);
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        printf("Bail out! cannot open fixture %s\n", path);
        exit(1);
    }
    buf_init(&b);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return buf_steal(&b);
}

DEF_TEST(rds_json_secret)
{
    size_t len;
    char *body = fixture("secrets_get_rds.json", &len);
    struct aws_error e;
    char *value, *pw;

    aws_error_clear(&e);
    value = secrets_parse_get(body, len, &e);
    EXPECT_CONTAINS("\"username\": \"ingest\"", value);
    pw = secrets_extract_password(value, &e);
    EXPECT_EQ_STR("p@ss;w\"ord", pw);
    free(pw);
    free(value);
    free(body);
}

DEF_TEST(plain_secret_kept_as_written)
{
    size_t len;
    char *body = fixture("secrets_get_plain.json", &len);
    struct aws_error e;
    char *value, *pw;

    value = secrets_parse_get(body, len, &e);
    EXPECT_EQ_STR("  s3cr3t with spaces ", value);
    pw = secrets_extract_password(value, &e);
    EXPECT_EQ_STR("  s3cr3t with spaces ", pw);
    free(pw);
    free(value);
    free(body);
    /* JSON that is not an object is a plain password too. */
    pw = secrets_extract_password("12345", &e);
    EXPECT_EQ_STR("12345", pw);
    free(pw);
    pw = secrets_extract_password("\"quoted\"", &e);
    EXPECT_EQ_STR("\"quoted\"", pw);
    free(pw);
    pw = secrets_extract_password("", &e);
    EXPECT_EQ_STR("", pw);
    free(pw);
}

DEF_TEST(json_without_password)
{
    struct aws_error e;

    aws_error_clear(&e);
    EXPECT_TRUE(secrets_extract_password("{\"username\":\"u\"}", &e) == NULL);
    EXPECT_EQ_INT(AWS_ERR_PARSE, e.kind);
    EXPECT_EQ_STR("NoPasswordInSecret", e.code);
    EXPECT_TRUE(secrets_extract_password("{\"password\":5}", &e) == NULL);
}

DEF_TEST(binary_and_malformed_answers)
{
    struct aws_error e;
    const char *binary = "{\"Name\":\"b\",\"SecretBinary\":\"AAEC\"}";

    EXPECT_TRUE(secrets_parse_get(binary, strlen(binary), &e) == NULL);
    EXPECT_EQ_STR("BinarySecretUnsupported", e.code);
    EXPECT_TRUE(secrets_parse_get("<html>", 6, &e) == NULL);
    EXPECT_EQ_INT(AWS_ERR_PARSE, e.kind);
}

DEF_TEST(not_found_by_code_not_status)
{
    size_t len;
    char *moto = fixture("secrets_error_not_found.json", &len);
    struct aws_error e;

    aws_error_from_response("secretsmanager", 404, moto, len, NULL, &e);
    EXPECT_EQ_STR("ResourceNotFoundException", e.code);
    EXPECT_TRUE(!e.retryable);
    free(moto);
    moto = fixture("secrets_error_not_found_aws.json", &len);
    aws_error_from_response("secretsmanager", 400, moto, len, NULL, &e);
    EXPECT_EQ_STR("ResourceNotFoundException", e.code);
    EXPECT_CONTAINS("can't find", e.message);
    free(moto);
}

DEF_TEST(request_body)
{
    char *s = secrets_build_get("arn:aws:secretsmanager:us-east-1:1:secret:db/\"pg\"-AbC");
    json_t *j = json_loads(s, 0, NULL);

    EXPECT_EQ_STR("arn:aws:secretsmanager:us-east-1:1:secret:db/\"pg\"-AbC",
                  json_string_value(json_object_get(j, "SecretId")));
    json_decref(j);
    free(s);
}

int main(void)
{
    RUN_TEST(rds_json_secret);
    RUN_TEST(plain_secret_kept_as_written);
    RUN_TEST(json_without_password);
    RUN_TEST(binary_and_malformed_answers);
    RUN_TEST(not_found_by_code_not_status);
    RUN_TEST(request_body);
    return tap_done();
}
