/*
 * test_creds_parse.c: the pure parts of the credential chain (creds_parse.h), the STS
 * form body, snapshots, and the choice of source for the sources that need no network
 * (static config, environment, shared files), driven through creds_fetch directly.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "aws/creds.h"
#include "aws/creds_int.h"
#include "aws/creds_parse.h"
#include "base/log.h"
#include "aws/sts.h"
#include "../tap.h"
#include "base/util.h"

static char err[512];

/* ---- ISO 8601 ---- */

static int64_t iso(const char *s)
{
    int64_t v = -42;
    return iso8601_parse_ms(s, &v) == 0 ? v : -1;
}

DEF_TEST(iso8601_forms)
{
    EXPECT_EQ_INT(0, iso("1970-01-01T00:00:00Z"));
    EXPECT_EQ_INT(1714566896000LL, iso("2024-05-01T12:34:56Z"));
    EXPECT_EQ_INT(1714566896123LL, iso("2024-05-01T12:34:56.123Z"));
    EXPECT_EQ_INT(1714566896120LL, iso("2024-05-01T12:34:56.12Z"));
    EXPECT_EQ_INT(1714566896999LL, iso("2024-05-01T12:34:56.999999Z"));
    EXPECT_EQ_INT(1714566896000LL, iso("2024-05-01T12:34:56")); /* moto: no zone */
    EXPECT_EQ_INT(1714566896000LL, iso("2024-05-01T14:34:56+02:00"));
    EXPECT_EQ_INT(1714566896000LL, iso("2024-05-01T07:34:56-0500"));
    EXPECT_EQ_INT(1714566896000LL, iso("2024-05-01T12:34:56+00:00"));
    EXPECT_EQ_INT(951782400000LL, iso("2000-02-29T00:00:00Z")); /* leap year */
    EXPECT_EQ_INT(4102444800000LL, iso("2100-01-01T00:00:00Z"));
}

DEF_TEST(iso8601_rejects)
{
    EXPECT_EQ_INT(-1, iso(""));
    EXPECT_EQ_INT(-1, iso("2024-13-01T00:00:00Z"));
    EXPECT_EQ_INT(-1, iso("2023-02-29T00:00:00Z"));
    EXPECT_EQ_INT(-1, iso("1900-02-29T00:00:00Z"));
    EXPECT_EQ_INT(-1, iso("2024-04-31T00:00:00Z"));
    EXPECT_EQ_INT(-1, iso("2024-05-01T24:00:00Z"));
    EXPECT_EQ_INT(-1, iso("2024-05-01T12:34:56Zjunk"));
    EXPECT_EQ_INT(-1, iso("2024-05-01T12:34:56."));
    EXPECT_EQ_INT(-1, iso("2024-05-01 12:34"));
    EXPECT_EQ_INT(-1, iso("1714566896"));
    EXPECT_EQ_INT(-1, iso(NULL));
}

/* ---- JSON ---- */

DEF_TEST(json_imds_document)
{
    const char *doc = "{\n  \"Code\" : \"Success\",\n"
                      "  \"LastUpdated\" : \"2024-05-01T11:00:00Z\",\n"
                      "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAEXAMPLE\",\n"
                      "  \"SecretAccessKey\" : \"s3cr3t/+x\",\n  \"Token\" : \"tok==\",\n"
                      "  \"Expiration\" : \"2024-05-01T12:34:56Z\"\n}";
    struct creds_fields f;

    EXPECT_EQ_INT(0, creds_parse_json(doc, strlen(doc), &f, err, sizeof(err)));
    EXPECT_EQ_STR("ASIAEXAMPLE", f.access_key_id);
    EXPECT_EQ_STR("s3cr3t/+x", f.secret_access_key);
    EXPECT_EQ_STR("tok==", f.session_token);
    EXPECT_EQ_INT(1714566896000LL, f.expiry_ms);
    creds_fields_free(&f);
    EXPECT_TRUE(f.access_key_id == NULL);
}

DEF_TEST(json_ecs_document)
{
    const char *doc = "{\"AccessKeyId\":\"AKID\",\"Expiration\":\"2024-05-01T12:34:56.5Z\","
                      "\"RoleArn\":\"arn:aws:iam::123456789012:role/r\","
                      "\"SecretAccessKey\":\"sk\",\"Token\":\"t\"}";
    const char *no_exp = "{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"sk\"}";
    struct creds_fields f;

    EXPECT_EQ_INT(0, creds_parse_json(doc, strlen(doc), &f, err, sizeof(err)));
    EXPECT_EQ_INT(1714566896500LL, f.expiry_ms);
    creds_fields_free(&f);
    EXPECT_EQ_INT(0, creds_parse_json(no_exp, strlen(no_exp), &f, err, sizeof(err)));
    EXPECT_EQ_INT(0, f.expiry_ms);
    EXPECT_TRUE(f.session_token == NULL);
    creds_fields_free(&f);
}

DEF_TEST(json_rejects)
{
    static const char *bad[] = {
        "",
        "[]",
        "not json",
        "{\"AccessKeyId\":\"a\"}",
        "{\"SecretAccessKey\":\"a\"}",
        "{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"s\"}",
        "{\"AccessKeyId\":\"a\",\"SecretAccessKey\":\"s\",\"Expiration\":\"tomorrow\"}",
        ("{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"no\","
         "\"AccessKeyId\":\"a\",\"SecretAccessKey\":\"s\"}"),
    };
    struct creds_fields f;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err[0] = '\0';
        EXPECT_EQ_INT(-1, creds_parse_json(bad[i], strlen(bad[i]), &f, err, sizeof(err)));
        EXPECT_TRUE(err[0] != '\0');
        EXPECT_TRUE(f.access_key_id == NULL);
    }
    EXPECT_CONTAINS("AssumeRoleUnauthorizedAccess", err);
}

/* ---- XML ---- */

static char *xt(const char *xml, const char *name)
{
    return xml_text(xml, strlen(xml), name);
}

#define EXPECT_XML(expect, xml, name)                                                              \
    do {                                                                                           \
        char *v_ = xt(xml, name);                                                                  \
        EXPECT_EQ_STR(expect, v_);                                                                 \
        free(v_);                                                                                  \
    } while (0)

DEF_TEST(xml_elements)
{
    const char *x = "<?xml version=\"1.0\"?>\n<!-- <A>no</A> -->\n"
                    "<Root xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                    "<Ab>wrong</Ab><A attr=\"x>y\" other='1'> one </A>"
                    "<Empty/><Empty2 a=\"b\" /><ns:Pre>prefixed</ns:Pre>"
                    "<Outer><Outer>inner</Outer><B>b</B></Outer></Root>";
    const char *c;
    size_t n;

    EXPECT_XML("one", x, "A");
    EXPECT_XML("wrong", x, "Ab");
    EXPECT_XML("", x, "Empty");
    EXPECT_XML("", x, "Empty2");
    EXPECT_XML("prefixed", x, "Pre");
    EXPECT_XML("b", x, "B");
    EXPECT_TRUE(xt(x, "Missing") == NULL);
    EXPECT_TRUE(xt(x, "Outer") == NULL); /* has children: not text */
    EXPECT_TRUE(xml_find(x, strlen(x), "Outer", &c, &n));
    EXPECT_EQ_INT(strlen("<Outer>inner</Outer><B>b</B>"), n);
    EXPECT_TRUE(memcmp(c, "<Outer>inner</Outer><B>b</B>", n) == 0);
}

DEF_TEST(xml_entities_and_cdata)
{
    EXPECT_XML("a&b<c>\"d'", "<T>a&amp;b&lt;c&gt;&quot;d&apos;</T>", "T");
    EXPECT_XML("AB\xc3\xa9\xe2\x82\xac", "<T>&#65;&#x42;&#233;&#x20AC;</T>", "T");
    EXPECT_XML("x<y>&amp;z", "<T><![CDATA[x<y>&amp;]]>z</T>", "T");
    EXPECT_TRUE(xt("<T>a&bogus;b</T>", "T") == NULL);
    EXPECT_TRUE(xt("<T>a & b</T>", "T") == NULL);
    EXPECT_TRUE(xt("<T>&#0;</T>", "T") == NULL);
    EXPECT_TRUE(xt("<T>&#xD800;</T>", "T") == NULL);
    EXPECT_TRUE(xt("<T>&#x110000;</T>", "T") == NULL);
    EXPECT_TRUE(xt("<T>&#;</T>", "T") == NULL);
}

DEF_TEST(xml_malformed)
{
    EXPECT_TRUE(xt("<T>unterminated", "T") == NULL);
    EXPECT_TRUE(xt("<T>x</U>", "T") == NULL);
    EXPECT_TRUE(xt("<!-- <T>x</T>", "T") == NULL);
    EXPECT_TRUE(xt("<T attr=\"never closed>x</T>", "T") == NULL);
    EXPECT_TRUE(xt("<>", "T") == NULL);
    EXPECT_TRUE(xt("", "T") == NULL);
}

/* Found by tests/fuzz/fuzz_creds: a closing tag before any opening one took depth to -1,
 * the value meaning "not inside the element yet", and was read as the element's end with a
 * NULL start (xml_text then read address 0). */
DEF_TEST(xml_stray_closing_tag)
{
    const char *content = "unchanged";
    size_t n = 7;

    EXPECT_TRUE(!xml_find("</T>x", 5, "T", &content, &n));
    EXPECT_EQ_STR("unchanged", content);
    EXPECT_TRUE(xt("</T>x", "T") == NULL);
    EXPECT_TRUE(xt("</T><T>y</T>", "T") == NULL);
    EXPECT_TRUE(xt("<E></sts:Code></E>", "Code") == NULL);
}

static const char assume_role_xml[] =
    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleResult>\n"
    "    <SourceIdentity>Alice</SourceIdentity>\n"
    "    <AssumedRoleUser>\n"
    "      <Arn>arn:aws:sts::123456789012:assumed-role/demo/TestAR</Arn>\n"
    "      <AssumedRoleId>ARO123EXAMPLE123:TestAR</AssumedRoleId>\n"
    "    </AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
    "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>\n"
    "      <SessionToken>\n       AQoDYXdzEPT//////////wEXAMPLEtc764&amp;bNrC==\n"
    "      </SessionToken>\n"
    "      <Expiration>2019-11-09T13:34:41Z</Expiration>\n"
    "    </Credentials>\n"
    "    <PackedPolicySize>6</PackedPolicySize>\n"
    "  </AssumeRoleResult>\n"
    "  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>"
    "</ResponseMetadata>\n"
    "</AssumeRoleResponse>\n";

DEF_TEST(sts_response)
{
    struct creds_fields f;

    EXPECT_EQ_INT(
        0, sts_parse_credentials(assume_role_xml, strlen(assume_role_xml), &f, err, sizeof(err)));
    EXPECT_EQ_STR("ASIAIOSFODNN7EXAMPLE", f.access_key_id);
    EXPECT_EQ_STR("wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", f.secret_access_key);
    EXPECT_EQ_STR("AQoDYXdzEPT//////////wEXAMPLEtc764&bNrC==", f.session_token);
    EXPECT_EQ_INT(1573306481000LL, f.expiry_ms);
    creds_fields_free(&f);
}

DEF_TEST(sts_web_identity_response)
{
    const char *x = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                    "<SubjectFromWebIdentityToken>sub</SubjectFromWebIdentityToken>"
                    "<Credentials><SessionToken>tok</SessionToken>"
                    "<SecretAccessKey>sk</SecretAccessKey>"
                    "<Expiration>2024-05-01T12:34:56.789Z</Expiration>"
                    "<AccessKeyId>ASIA</AccessKeyId></Credentials>"
                    "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
    struct creds_fields f;

    EXPECT_EQ_INT(0, sts_parse_credentials(x, strlen(x), &f, err, sizeof(err)));
    EXPECT_EQ_STR("ASIA", f.access_key_id);
    EXPECT_EQ_STR("tok", f.session_token);
    EXPECT_EQ_INT(1714566896789LL, f.expiry_ms);
    creds_fields_free(&f);
}

DEF_TEST(sts_response_rejects)
{
    static const char *bad[] = {
        ("<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
         "<Message>no</Message></Error></ErrorResponse>"),
        ("<R><Credentials><AccessKeyId>a</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
         "<SessionToken>t</SessionToken></Credentials></R>"),
        ("<R><Credentials><AccessKeyId>a</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
         "<SessionToken>t</SessionToken><Expiration>soon</Expiration></Credentials></R>"),
        ("<R><Credentials><AccessKeyId>a</AccessKeyId><SessionToken>t</SessionToken>"
         "<Expiration>2024-05-01T12:34:56Z</Expiration></Credentials></R>"),
    };
    struct creds_fields f;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        EXPECT_EQ_INT(-1, sts_parse_credentials(bad[i], strlen(bad[i]), &f, err, sizeof(err)));
        EXPECT_TRUE(f.access_key_id == NULL && f.secret_access_key == NULL);
    }
}

DEF_TEST(sts_form)
{
    struct sts_role_params p = {
        .role_arn = "arn:aws:iam::123456789012:role/a b",
        .session_name = "s=1",
        .external_id = "x&y",
        .duration_seconds = 900,
    };
    char *b = sts_form_body("AssumeRole", &p);

    EXPECT_EQ_STR("Action=AssumeRole&Version=2011-06-15"
                  "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fa%20b"
                  "&RoleSessionName=s%3D1&DurationSeconds=900&ExternalId=x%26y",
                  b);
    free(b);
    p.external_id = NULL;
    p.duration_seconds = 0;
    p.web_identity_token = "eyJ.a+b/c=";
    b = sts_form_body("AssumeRoleWithWebIdentity", &p);
    EXPECT_CONTAINS("Action=AssumeRoleWithWebIdentity&", b);
    EXPECT_CONTAINS("&WebIdentityToken=eyJ.a%2Bb%2Fc%3D", b);
    EXPECT_TRUE(strstr(b, "Duration") == NULL && strstr(b, "ExternalId") == NULL);
    free(b);
}

/* ---- shared files ---- */

static const char config_text[] = "# comment\n"
                                  "[default]\n"
                                  "region = us-west-2\n"
                                  "\n"
                                  "[profile dev]\n"
                                  "Role_Arn = arn:aws:iam::123456789012:role/dev\n"
                                  "source_profile = base\n"
                                  "role_session_name = dev-session\n"
                                  "external_id = ext\n"
                                  "duration_seconds = 1800\n"
                                  "s3 =\n"
                                  "    max_concurrent_requests = 20\n"
                                  "[profile chained]\n"
                                  "role_arn = arn:aws:iam::123456789012:role/chained\n"
                                  "source_profile = dev\n"
                                  "[sso-session corp]\n"
                                  "sso_region = us-east-1\n"
                                  "[notaprofile]\n"
                                  "aws_access_key_id = IGNORED\n"
                                  "[profile   spaced  ]\n"
                                  "aws_access_key_id = SPACED\n"
                                  "aws_secret_access_key = spaced\n"
                                  "[profile base]\n"
                                  "aws_access_key_id = FROM_CONFIG\n";

DEF_TEST(shared_files_parse)
{
    struct shared_files sf;
    struct buf creds;
    const struct shared_profile *p;

    buf_init(&creds);
    buf_puts(&creds, "[base]\r\naws_access_key_id=AKIABASE\r\n"
                     "aws_secret_access_key = base/secret+=;#x \r\n"
                     "; comment\r\naws_session_token: ");
    for (int i = 0; i < 100; i++)
        buf_puts(&creds, "TOKEN1234/");
    buf_puts(&creds, "\n[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = d\n");

    shared_files_init(&sf);
    EXPECT_EQ_INT(0, shared_files_add(&sf, config_text, true, err, sizeof(err)));
    EXPECT_EQ_INT(0, shared_files_add(&sf, creds.data, false, err, sizeof(err)));
    p = shared_files_profile(&sf, "dev");
    EXPECT_EQ_STR("arn:aws:iam::123456789012:role/dev", shared_profile_get(p, "role_arn"));
    EXPECT_TRUE(shared_profile_get(p, "max_concurrent_requests") == NULL);
    EXPECT_TRUE(shared_profile_get(p, "s3") == NULL); /* empty value counts as unset */
    p = shared_files_profile(&sf, "base");
    EXPECT_EQ_STR("AKIABASE", shared_profile_get(p, "aws_access_key_id")); /* credentials win */
    EXPECT_EQ_STR("base/secret+=;#x", shared_profile_get(p, "aws_secret_access_key"));
    EXPECT_EQ_INT(1000, strlen(shared_profile_get(p, "aws_session_token")));
    p = shared_files_profile(&sf, "default");
    EXPECT_EQ_STR("us-west-2", shared_profile_get(p, "region"));
    EXPECT_EQ_STR("AKIADEF", shared_profile_get(p, "aws_access_key_id"));
    EXPECT_TRUE(shared_files_profile(&sf, "notaprofile") == NULL);
    EXPECT_TRUE(shared_files_profile(&sf, "corp") == NULL);
    EXPECT_EQ_STR("SPACED",
                  shared_profile_get(shared_files_profile(&sf, "spaced"), "aws_access_key_id"));
    shared_files_free(&sf);
    buf_free(&creds);
}

DEF_TEST(shared_files_errors)
{
    struct shared_files sf;

    shared_files_init(&sf);
    EXPECT_EQ_INT(-1, shared_files_add(&sf, "key = before section\n", false, err, sizeof(err)));
    EXPECT_CONTAINS("1:", err);
    EXPECT_EQ_INT(-1, shared_files_add(&sf, "[a]\nx = 1\njust words\n", false, err, sizeof(err)));
    EXPECT_CONTAINS("3:", err);
    EXPECT_TRUE(strstr(err, "just words") == NULL); /* lines may hold secrets */
    EXPECT_EQ_INT(-1, shared_files_add(&sf, "[unclosed\n", false, err, sizeof(err)));
    EXPECT_EQ_INT(-1, shared_files_add(&sf, "[a]\n= v\n", false, err, sizeof(err)));
    shared_files_free(&sf);
}

static int plan(const char *cfgtext, const char *credtext, const char *name,
                struct profile_plan *out)
{
    struct shared_files sf;
    int r;

    shared_files_init(&sf);
    if (shared_files_add(&sf, cfgtext, true, err, sizeof(err)) != 0 ||
        shared_files_add(&sf, credtext, false, err, sizeof(err)) != 0) {
        shared_files_free(&sf);
        return -2;
    }
    r = profile_plan_build(&sf, name, out, err, sizeof(err));
    shared_files_free(&sf);
    return r;
}

DEF_TEST(profile_static_and_missing)
{
    struct profile_plan p;

    EXPECT_EQ_INT(0, plan("",
                          "[default]\naws_access_key_id=A\naws_secret_access_key=S\n"
                          "aws_session_token=T\n",
                          "default", &p));
    EXPECT_EQ_INT(PROFILE_BASE_STATIC, p.base);
    EXPECT_EQ_STR("A", p.statics.access_key_id);
    EXPECT_EQ_STR("T", p.statics.session_token);
    EXPECT_EQ_INT(0, p.nroles);
    profile_plan_free(&p);
    EXPECT_EQ_INT(1, plan("", "[default]\naws_access_key_id=A\n", "other", &p));
    EXPECT_EQ_INT(1, plan("[default]\nregion=x\n", "", "default", &p));
    EXPECT_EQ_INT(-1, plan("", "[default]\naws_access_key_id=A\n", "default", &p));
    EXPECT_CONTAINS("together", err);
}

DEF_TEST(profile_role_chain)
{
    struct profile_plan p;
    const char *creds = "[base]\naws_access_key_id=AKIABASE\naws_secret_access_key=S\n";

    EXPECT_EQ_INT(0, plan(config_text, creds, "chained", &p));
    EXPECT_EQ_INT(PROFILE_BASE_STATIC, p.base);
    EXPECT_EQ_STR("base", p.base_profile);
    EXPECT_EQ_STR("AKIABASE", p.statics.access_key_id);
    EXPECT_EQ_INT(2, p.nroles);
    if (p.nroles == 2) {
        EXPECT_EQ_STR("arn:aws:iam::123456789012:role/dev", p.roles[0].role_arn);
        EXPECT_EQ_STR("dev-session", p.roles[0].session_name);
        EXPECT_EQ_STR("ext", p.roles[0].external_id);
        EXPECT_EQ_INT(1800, p.roles[0].duration_seconds);
        EXPECT_EQ_STR("arn:aws:iam::123456789012:role/chained", p.roles[1].role_arn);
        EXPECT_TRUE(p.roles[1].session_name == NULL);
    }
    profile_plan_free(&p);
}

DEF_TEST(profile_source_rules)
{
    struct profile_plan p;

    /* A profile that is its own source uses its own keys. */
    EXPECT_EQ_INT(0, plan("",
                          "[me]\nrole_arn=arn:r\nsource_profile=me\naws_access_key_id=A\n"
                          "aws_secret_access_key=S\n",
                          "me", &p));
    EXPECT_EQ_INT(PROFILE_BASE_STATIC, p.base);
    EXPECT_EQ_INT(1, p.nroles);
    profile_plan_free(&p);
    /* At the top, role_arn wins over the profile's own static keys. */
    EXPECT_EQ_INT(0, plan("",
                          "[top]\nrole_arn=arn:r\nsource_profile=src\naws_access_key_id=TOP\n"
                          "aws_secret_access_key=S\n[src]\naws_access_key_id=SRC\n"
                          "aws_secret_access_key=S\n",
                          "top", &p));
    EXPECT_EQ_STR("SRC", p.statics.access_key_id);
    EXPECT_EQ_INT(1, p.nroles);
    profile_plan_free(&p);
    /* A source with keys and a role_arn provides its keys. */
    EXPECT_EQ_INT(0, plan("",
                          "[top]\nrole_arn=arn:r\nsource_profile=src\n"
                          "[src]\nrole_arn=arn:s\nsource_profile=x\naws_access_key_id=SRC\n"
                          "aws_secret_access_key=S\n",
                          "top", &p));
    EXPECT_EQ_INT(1, p.nroles);
    profile_plan_free(&p);

    EXPECT_EQ_INT(-1, plan("",
                           "[a]\nrole_arn=arn:a\nsource_profile=b\n"
                           "[b]\nrole_arn=arn:b\nsource_profile=a\n",
                           "a", &p));
    EXPECT_CONTAINS("loop", err);
    EXPECT_EQ_INT(-1, plan("", "[a]\nrole_arn=arn:a\nsource_profile=a\n", "a", &p));
    EXPECT_EQ_INT(-1, plan("", "[a]\nrole_arn=arn:a\nsource_profile=nope\n", "a", &p));
    EXPECT_CONTAINS("nope", err);
    EXPECT_EQ_INT(-1, plan("", "[a]\nrole_arn=arn:a\nsource_profile=b\n[b]\nregion=x\n", "a", &p));
    EXPECT_EQ_INT(-1, plan("", "[a]\nrole_arn=arn:a\n", "a", &p));
    EXPECT_EQ_INT(-1, plan("",
                           "[a]\nrole_arn=arn:a\nsource_profile=b\n"
                           "credential_source=Environment\n[b]\naws_access_key_id=A\n"
                           "aws_secret_access_key=S\n",
                           "a", &p));
    EXPECT_CONTAINS("mutually exclusive", err);
    EXPECT_EQ_INT(-1, plan("", "[a]\nrole_arn=arn:a\ncredential_source=Elsewhere\n", "a", &p));
    EXPECT_EQ_INT(-1, plan("",
                           "[a]\nrole_arn=arn:a\ncredential_source=Environment\n"
                           "duration_seconds=5\n",
                           "a", &p));
}

DEF_TEST(profile_chain_limit)
{
    struct buf b;
    struct profile_plan p;

    buf_init(&b);
    for (int i = 0; i < PROFILE_MAX_CHAIN + 2; i++)
        buf_printf(&b, "[p%d]\nrole_arn=arn:%d\nsource_profile=p%d\n", i, i, i + 1);
    buf_printf(&b, "[p%d]\naws_access_key_id=A\naws_secret_access_key=S\n", PROFILE_MAX_CHAIN + 2);
    EXPECT_EQ_INT(-1, plan("", b.data, "p0", &p));
    EXPECT_CONTAINS("longer", err);
    EXPECT_EQ_INT(0, plan("", b.data, "p4", &p));
    EXPECT_EQ_INT(PROFILE_MAX_CHAIN + 2 - 4, p.nroles);
    profile_plan_free(&p);
    buf_free(&b);
}

DEF_TEST(profile_credential_sources)
{
    static const struct {
        const char *cs;
        enum profile_base base;
    } cases[] = {
        {"Environment", PROFILE_BASE_ENVIRONMENT},
        {"Ec2InstanceMetadata", PROFILE_BASE_IMDS},
        {"EcsContainer", PROFILE_BASE_ECS},
    };
    struct profile_plan p;
    char text[256];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        snprintf(text, sizeof(text), "[profile r]\nrole_arn=arn:r\ncredential_source=%s\n",
                 cases[i].cs);
        EXPECT_EQ_INT(0, plan(text, "", "r", &p));
        EXPECT_EQ_INT(cases[i].base, p.base);
        EXPECT_EQ_INT(1, p.nroles);
        profile_plan_free(&p);
    }
    EXPECT_EQ_INT(0, plan("[profile w]\nrole_arn=arn:w\nweb_identity_token_file=/t\n"
                          "role_session_name=sn\n",
                          "", "w", &p));
    EXPECT_EQ_INT(PROFILE_BASE_WEB_IDENTITY, p.base);
    EXPECT_EQ_STR("/t", p.web_identity_token_file);
    EXPECT_EQ_STR("arn:w", p.web_role.role_arn);
    EXPECT_EQ_STR("sn", p.web_role.session_name);
    EXPECT_EQ_INT(0, p.nroles);
    profile_plan_free(&p);
}

/* ---- refresh schedule ---- */

DEF_TEST(refresh_schedule)
{
    const int64_t t0 = 1700000000000LL;

    EXPECT_EQ_INT(0, creds_refresh_at_ms(t0, t0, 0));
    /* One hour: 5 minutes before expiry. */
    EXPECT_EQ_INT(t0 + 3300000, creds_refresh_at_ms(t0, t0, t0 + 3600000));
    /* Exactly 10 minutes: both rules agree. */
    EXPECT_EQ_INT(t0 + 300000, creds_refresh_at_ms(t0, t0, t0 + 600000));
    /* 30 s: at half. */
    EXPECT_EQ_INT(t0 + 15000, creds_refresh_at_ms(t0, t0, t0 + 30000));
    /* 10 s: half would be when they stop being usable; one second before that. */
    EXPECT_EQ_INT(t0 + 10000 - CREDS_EXPIRY_MARGIN_MS - 1000,
                  creds_refresh_at_ms(t0, t0, t0 + 10000));
    EXPECT_EQ_INT(t0 + 12000, creds_refresh_at_ms(t0, t0, t0 + 24000));
    /* Handed out again with 2 minutes left (obtained long ago): half of the usable rest. */
    EXPECT_EQ_INT(t0 + (120000 - CREDS_EXPIRY_MARGIN_MS) / 2,
                  creds_refresh_at_ms(t0, t0 - 3600000, t0 + 120000));
    /* Already expired: one second from now, never in the past. */
    EXPECT_EQ_INT(t0 + 1000, creds_refresh_at_ms(t0, t0 - 10000, t0 - 1));
    EXPECT_TRUE(creds_refresh_at_ms(t0, t0, t0 + 1500) >= t0 + 1000);

    EXPECT_TRUE(!creds_expired_at(t0, 0));
    EXPECT_TRUE(!creds_expired_at(t0, t0 + CREDS_EXPIRY_MARGIN_MS + 1));
    EXPECT_TRUE(creds_expired_at(t0, t0 + CREDS_EXPIRY_MARGIN_MS));
    EXPECT_TRUE(creds_expired_at(t0, t0 - 1));
}

/* ---- snapshots ---- */

DEF_TEST(snapshot_refs)
{
    struct creds_fields f = {
        .access_key_id = "AK",
        .secret_access_key = "SK",
        .session_token = NULL,
        .expiry_ms = now_realtime_ms() + 60000,
    };
    struct creds *c = creds_new(&f, "environment", "AWS_ACCESS_KEY_ID");

    EXPECT_TRUE(c->aws.access_key_id != f.access_key_id);
    EXPECT_EQ_STR("SK", c->aws.secret_access_key);
    EXPECT_TRUE(c->aws.session_token == NULL);
    EXPECT_TRUE(creds_usable(c, now_realtime_ms()));
    EXPECT_TRUE(!creds_usable(c, f.expiry_ms));
    EXPECT_TRUE(!creds_usable(NULL, 0));
    EXPECT_TRUE(creds_ref(c) == c);
    EXPECT_EQ_INT(2, atomic_load(&c->refs));
    creds_unref(c);
    creds_unref(c);
    creds_unref(NULL);
}

DEF_TEST(ecs_full_uri_rules)
{
    EXPECT_TRUE(creds_ecs_uri_allowed("http://127.0.0.1:8080/creds"));
    EXPECT_TRUE(creds_ecs_uri_allowed("http://127.1.2.3/creds"));
    EXPECT_TRUE(creds_ecs_uri_allowed("http://localhost/creds"));
    EXPECT_TRUE(creds_ecs_uri_allowed("http://[::1]:9/creds"));
    EXPECT_TRUE(creds_ecs_uri_allowed("http://169.254.170.23/v1/credentials"));
    EXPECT_TRUE(creds_ecs_uri_allowed("http://[fd00:ec2::23]/v1/credentials"));
    EXPECT_TRUE(creds_ecs_uri_allowed("https://creds.example.com/x"));
    EXPECT_TRUE(!creds_ecs_uri_allowed("http://10.0.0.1/creds"));
    EXPECT_TRUE(!creds_ecs_uri_allowed("http://example.com/creds"));
    EXPECT_TRUE(!creds_ecs_uri_allowed("http://128.0.0.1/creds"));
    EXPECT_TRUE(!creds_ecs_uri_allowed("ftp://127.0.0.1/creds"));
    EXPECT_TRUE(!creds_ecs_uri_allowed("not a url"));
}

/* ---- choosing the source (no network needed for these) ---- */

struct result {
    bool called;
    bool ok;
    char ak[64];
    char source[32];
    char detail[256];
    char err[512];
};

static void on_result(void *arg, struct creds_fields *f, const char *source, const char *detail,
                      const char *e)
{
    struct result *r = arg;

    r->called = true;
    r->ok = f != NULL;
    snprintf(r->ak, sizeof(r->ak), "%s", f ? f->access_key_id : "");
    snprintf(r->source, sizeof(r->source), "%s", source ? source : "");
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
    snprintf(r->err, sizeof(r->err), "%s", e ? e : "");
}

static struct config test_cfg;
static struct imds_cache test_imds;

static struct result run_chain(void)
{
    struct result r = {0};
    struct creds_fetch *f = creds_fetch_new(NULL, &test_cfg, &test_imds, on_result, &r);
    creds_fetch_run(f);
    if (!r.called)
        creds_fetch_cancel(f); /* would need the network: not in these tests */
    return r;
}

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
    free(path);
}

static void clear_env(void)
{
    static const char *vars[] = {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    };
    for (size_t i = 0; i < ARRAY_SIZE(vars); i++)
        unsetenv(vars[i]);
    /* Never reach for a real metadata service from a unit test. */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    memset(&test_cfg, 0, sizeof(test_cfg));
}

DEF_TEST(chain_order_without_network)
{
    struct result r;
    char *path;

    clear_env();
    path = xasprintf("%s/credentials", tmpdir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    free(path);
    path = xasprintf("%s/config", tmpdir);
    setenv("AWS_CONFIG_FILE", path, 1);
    free(path);
    write_file("credentials", "[default]\naws_access_key_id = AKIAFILE\n"
                              "aws_secret_access_key = filesecret\n"
                              "[other]\naws_access_key_id = AKIAOTHER\n"
                              "aws_secret_access_key = o\n");
    write_file("config", "[profile regiononly]\nregion = eu-west-1\n");

    r = run_chain();
    EXPECT_TRUE(r.ok);
    EXPECT_EQ_STR("profile", r.source);
    EXPECT_EQ_STR("AKIAFILE", r.ak);
    EXPECT_EQ_STR("profile default", r.detail);

    setenv("AWS_PROFILE", "other", 1);
    r = run_chain();
    EXPECT_EQ_STR("AKIAOTHER", r.ak);
    test_cfg.aws.profile = "default"; /* [aws] profile beats AWS_PROFILE */
    r = run_chain();
    EXPECT_EQ_STR("AKIAFILE", r.ak);
    test_cfg.aws.profile = NULL;

    setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent", 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/w", 1);
    r = run_chain();
    EXPECT_EQ_STR("environment", r.source); /* env beats web identity and files */
    EXPECT_EQ_STR("AKIAENV", r.ak);

    test_cfg.aws.access_key_id = "AKIACONFIG";
    test_cfg.aws.secret_access_key = "configsecret";
    r = run_chain();
    EXPECT_EQ_STR("config", r.source); /* [aws] keys beat everything */
    EXPECT_EQ_STR("AKIACONFIG", r.ak);

    test_cfg.aws.secret_access_key = NULL; /* half-configured: an error, no fall-through */
    r = run_chain();
    EXPECT_TRUE(r.called && !r.ok);
    EXPECT_CONTAINS("together", r.err);
    test_cfg.aws.access_key_id = NULL;

    unsetenv("AWS_SECRET_ACCESS_KEY");
    r = run_chain();
    EXPECT_TRUE(r.called && !r.ok);
    EXPECT_EQ_STR("environment", r.source);
    unsetenv("AWS_ACCESS_KEY_ID");

    /* Web identity with a missing token file fails without falling through to files. */
    r = run_chain();
    EXPECT_TRUE(r.called && !r.ok);
    EXPECT_EQ_STR("web-identity", r.source);
    EXPECT_CONTAINS("/nonexistent", r.err);
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_ROLE_ARN");

    /* A named profile that exists nowhere is an error; one without keys falls through. */
    setenv("AWS_PROFILE", "missing", 1);
    r = run_chain();
    EXPECT_TRUE(r.called && !r.ok);
    EXPECT_CONTAINS("missing", r.err);
    setenv("AWS_PROFILE", "regiononly", 1);
    r = run_chain();
    EXPECT_TRUE(r.called && !r.ok);
    EXPECT_CONTAINS("instance metadata is disabled", r.err);
    unsetenv("AWS_PROFILE");

    /* A broken file is an error that names the file and line, not its content. */
    write_file("credentials", "[default]\naws_secret_access_key\n");
    r = run_chain();
    EXPECT_TRUE(r.called && !r.ok);
    EXPECT_CONTAINS("credentials:2:", r.err);

    /* ECS: an http URL to a non-loopback host is refused before any request. */
    write_file("credentials", "");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds", 1);
    r = run_chain();
    EXPECT_TRUE(r.called && !r.ok);
    EXPECT_EQ_STR("ecs", r.source);
    EXPECT_CONTAINS("loopback", r.err);
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_creds_XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    log_force_stderr(true);

    RUN_TEST(iso8601_forms);
    RUN_TEST(iso8601_rejects);
    RUN_TEST(json_imds_document);
    RUN_TEST(json_ecs_document);
    RUN_TEST(json_rejects);
    RUN_TEST(xml_elements);
    RUN_TEST(xml_entities_and_cdata);
    RUN_TEST(xml_malformed);
    RUN_TEST(xml_stray_closing_tag);
    RUN_TEST(sts_response);
    RUN_TEST(sts_web_identity_response);
    RUN_TEST(sts_response_rejects);
    RUN_TEST(sts_form);
    RUN_TEST(shared_files_parse);
    RUN_TEST(shared_files_errors);
    RUN_TEST(profile_static_and_missing);
    RUN_TEST(profile_role_chain);
    RUN_TEST(profile_source_rules);
    RUN_TEST(profile_chain_limit);
    RUN_TEST(profile_credential_sources);
    RUN_TEST(refresh_schedule);
    RUN_TEST(snapshot_refs);
    RUN_TEST(ecs_full_uri_rules);
    RUN_TEST(chain_order_without_network);

    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", tmpdir);
    free(cmd);
    return tap_done();
}
