/*
 * test_event.c: SQS bodies from data/events (moto's and AWS's shapes, SNS, EventBridge,
 * TestEvent, several records, removals, malformed bodies), key decoding and event times.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/event.h"
#include "../tap.h"
#include "base/util.h"

static char *slurp(const char *name, size_t *len)
{
    const char *dir = getenv("INGESTD_SRCDIR");
    char *path = xasprintf("%s/data/events/%s", dir && *dir ? dir : ".", name);
    FILE *f = fopen(path, "rb");
    char *d;
    free(path);
    if (!f)
        return NULL;
    d = xmalloc(65536);
    *len = fread(d, 1, 65535, f);
    d[*len] = '\0';
    fclose(f);
    return d;
}

static const char *kind_name(enum s3_event_kind k)
{
    return k == S3_EVENT_CREATED   ? "created"
           : k == S3_EVENT_IGNORED ? "ignored"
           : k == S3_EVENT_INVALID ? "invalid"
                                   : "test";
}

/* The decoded event as text, or "error: reason". */
static char *render(const char *file)
{
    struct buf b;
    struct s3_event ev;
    struct ierr e;
    size_t len;
    char *body = slurp(file, &len);

    buf_init(&b);
    if (!body) {
        buf_printf(&b, "missing fixture %s", file);
        return buf_steal(&b);
    }
    memset(&e, 0, sizeof(e));
    if (s3_event_decode(body, len, &ev, &e) < 0) {
        buf_printf(&b, "error: %s", e.reason);
        EXPECT_EQ_INT(IERR_PERMANENT, e.cls);
        EXPECT_EQ_INT(0, ev.n);
    } else {
        buf_printf(&b, "source %d\n", (int)ev.source);
        for (size_t i = 0; i < ev.n; i++) {
            const struct s3_event_obj *o = &ev.objs[i];
            buf_printf(&b, "%s %s|%s|%s|etag=%s|ver=%s|seq=%s|", kind_name(o->kind), o->event_name,
                       o->bucket ? o->bucket : "-", o->key ? o->key : "-", o->etag ? o->etag : "-",
                       o->version_id ? o->version_id : "-", o->sequencer ? o->sequencer : "-");
            if (o->has_size)
                buf_printf(&b, "size=%llu|", (unsigned long long)o->size);
            buf_printf(&b, "t=%lld\n", (long long)o->event_time_ms);
        }
    }
    s3_event_free(&ev);
    free(body);
    return buf_steal(&b);
}

#define EXPECT_EVENT(file, want)                                                                   \
    do {                                                                                           \
        char *got_ = render(file);                                                                 \
        EXPECT_EQ_STR(want, got_);                                                                 \
        free(got_);                                                                                \
    } while (0)

DEF_TEST(s3_notifications)
{
    EXPECT_EVENT("moto-put.json",
                 "source 0\ncreated ObjectCreated:Put|n-bucket|incoming/2024/data file.csv|"
                 "etag=97570fe1797bcf3e469b9a17b9f0abf4|ver=-|seq=-|size=12|t=1795301035770\n");
    EXPECT_EVENT("aws-put.json",
                 "source 0\ncreated ObjectCreated:CompleteMultipartUpload|acme-data|"
                 "data/2024/caf\xc3\xa9 & bar/orders+1.csv.gz|"
                 "etag=d41d8cd98f00b204e9800998ecf8427e-3|ver=096fKKXTRRtxgQ2zWUeGdmOqWXNbWH3y|"
                 "seq=0055AED6DCD90281E5|size=1048576|t=1709630127123\n");
    EXPECT_EVENT("multi-record.json",
                 "source 0\n"
                 "created ObjectCreated:Put|b1|a/one.csv|etag=0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a|"
                 "ver=-|seq=0001|size=10|t=1704164645006\n"
                 "ignored ObjectRemoved:Delete|b1|a/gone.csv|etag=-|ver=-|seq=-|t=1704164646000\n"
                 "created ObjectCreated:Copy|b2|b/two words.csv|"
                 "etag=0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b-12|ver=-|seq=-|t=1704164647000\n");
    EXPECT_EVENT("object-removed.json",
                 "source 0\nignored ObjectRemoved:DeleteMarkerCreated|n-bucket|incoming/old.csv|"
                 "etag=-|ver=-|seq=-|t=1795301400000\n");
}

DEF_TEST(sns_eventbridge_and_test_events)
{
    EXPECT_EVENT("sns-wrapped.json",
                 "source 1\ncreated ObjectCreated:Put|sns-bucket|in/customers_20240601.csv|"
                 "etag=0123456789abcdef0123456789abcdef|ver=-|seq=00665B0E2C8B4F1A22|size=67|"
                 "t=1717243200000\n");
    EXPECT_EVENT("eventbridge-created.json",
                 "source 2\ncreated Object Created|eb-bucket|exports/daily report+v2.csv|"
                 "etag=b1946ac92492d2347c6235b4d2611184|ver=IYV3p45BT0ac8hjHg1houSdS1a.Mro8e|"
                 "seq=617f08299329d189|size=5|t=1731369600000\n");
    EXPECT_EVENT("eventbridge-deleted.json",
                 "source 2\nignored Object Deleted|eb-bucket|exports/old.csv|etag=-|ver=-|seq=-|"
                 "t=1731369600000\n");
    EXPECT_EVENT("test-event.json",
                 "source 0\ntest s3:TestEvent|n-bucket|-|etag=-|ver=-|seq=-|t=1795301030123\n");
    EXPECT_EVENT("sns-test-event.json",
                 "source 1\ntest s3:TestEvent|sns-bucket|-|etag=-|ver=-|seq=-|t=1717243140000\n");
}

DEF_TEST(malformed_bodies)
{
    EXPECT_EVENT("malformed-not-json.json",
                 "error: body is not JSON: line 1 column 7: '[' or '{' expected near 'Records'");
    EXPECT_EVENT("malformed-truncated.json",
                 "error: body is not JSON: line 1 column 54: unexpected token near end of file");
    EXPECT_EVENT("malformed-no-records.json", "error: no Records, not an SNS or EventBridge event");
    EXPECT_EVENT("malformed-bad-escape.json",
                 "error: record 1: key \"data/100%25/bad%zzname.csv\": invalid percent escape at "
                 "byte 16 of the key");
    EXPECT_EVENT("malformed-bad-utf8.json",
                 "error: record 1: key \"data/caf%E9.csv\": the decoded key is not UTF-8 (byte 9)");
    EXPECT_EVENT("malformed-missing-key.json",
                 "error: record 1 (ObjectCreated:Put): s3.object.key missing");
}

static char *decode_str(const char *body)
{
    struct s3_event ev;
    struct ierr e;
    char *r;
    if (s3_event_decode(body, strlen(body), &ev, &e) < 0)
        return xasprintf("error: %s", e.reason);
    r = xasprintf("%zu", ev.n);
    s3_event_free(&ev);
    return r;
}

#define EXPECT_BODY(body, want)                                                                    \
    do {                                                                                           \
        char *got_ = decode_str(body);                                                             \
        EXPECT_EQ_STR(want, got_);                                                                 \
        free(got_);                                                                                \
    } while (0)

DEF_TEST(inline_bodies)
{
    EXPECT_BODY("{\"Records\": []}", "0");
    EXPECT_BODY("[1,2]", "error: body is not a JSON object");
    EXPECT_BODY("{\"Records\": {}}", "error: \"Records\" is not an array");
    EXPECT_BODY("{\"Records\": [1]}", "error: record 1 is not an object");
    EXPECT_BODY("{\"Records\": [{}]}", "error: record 1: no eventName");
    EXPECT_BODY("{\"Records\": [{\"eventName\": \"ObjectCreated:Put\", \"s3\": {\"object\": "
                "{\"key\": \"k\"}}}]}",
                "error: record 1 (ObjectCreated:Put): s3.bucket.name missing");
    EXPECT_BODY("{\"Type\": \"Notification\", \"Message\": \"not json\"}",
                "error: SNS Message is not JSON: line 1 column 3: '[' or '{' expected near 'not'");
    EXPECT_BODY("{\"Type\": \"Notification\"}", "error: SNS notification without a Message "
                                                "string");
    EXPECT_BODY("{\"Type\": \"Notification\", \"Message\": \"{\\\"a\\\": 1}\"}",
                "error: SNS Message: no Records, not an SNS or EventBridge event");
    EXPECT_BODY("{\"source\": \"aws.s3\", \"detail-type\": \"Object Created\", \"detail\": "
                "{\"bucket\": {\"name\": \"b\"}, \"object\": {}}}",
                "error: EventBridge Object Created: detail.object.key missing");
    EXPECT_BODY("{\"source\": \"aws.s3\"}", "error: EventBridge event without detail-type or "
                                            "detail");
    /* the whole body fails when one creation record is bad, even after a good one */
    EXPECT_BODY("{\"Records\": [{\"eventName\": \"ObjectCreated:Put\", \"s3\": {\"bucket\": "
                "{\"name\": \"b\"}, \"object\": {\"key\": \"ok\"}}}, {\"eventName\": "
                "\"ObjectCreated:Put\", \"s3\": {\"bucket\": {\"name\": \"b\"}, \"object\": "
                "{\"key\": \"bad%2\"}}}]}",
                "error: record 2: key \"bad%2\": invalid percent escape at byte 4 of the key");
    /* ignored records carry "" for what they lack, so that they can be logged */
    {
        const char *body = "{\"Records\": [{\"eventName\": \"ObjectRemoved:Delete\"}]}";
        struct s3_event ev;
        struct ierr e;
        EXPECT_EQ_INT(0, s3_event_decode(body, strlen(body), &ev, &e));
        EXPECT_EQ_INT(1, ev.n);
        if (ev.n == 1) {
            EXPECT_EQ_INT(S3_EVENT_IGNORED, ev.objs[0].kind);
            EXPECT_EQ_STR("", ev.objs[0].bucket);
            EXPECT_EQ_STR("", ev.objs[0].key);
        }
        s3_event_free(&ev);
    }
    /* a record from another service is ignored, not loaded */
    EXPECT_BODY("{\"Records\": [{\"eventSource\": \"aws:sqs\", \"eventName\": "
                "\"ObjectCreated:Put\"}]}",
                "1");
}

/* One record of body with the given eTag member ("" for none) and size text. */
static char *one_record(const char *etag_json, const char *size_json)
{
    return xasprintf("{\"Records\": [{\"eventName\": \"ObjectCreated:Put\", \"s3\": {\"bucket\": "
                     "{\"name\": \"b\"}, \"object\": {\"key\": \"k.csv\"%s%s%s%s}}}]}",
                     *etag_json ? ", \"eTag\": " : "", etag_json, *size_json ? ", \"size\": " : "",
                     size_json);
}

DEF_TEST(etags_that_could_reach_a_header_are_refused)
{
    static const char *const good[] = {
        "\"d41d8cd98f00b204e9800998ecf8427e\"",
        "\"\\\"d41d8cd98f00b204e9800998ecf8427e\\\"\"",
        "\"d41d8cd98f00b204e9800998ecf8427e-1\"",
        "\"d41d8cd98f00b204e9800998ecf8427e-10000\"",
    };
    static const char *const bad[] = {
        "\"d41d8cd98f00b204e9800998ecf8427e\\r\\nX-Injected: 1\"",
        "\"d41d8cd98f00b204e9800998ecf8427e\\r\\nRange: bytes=0-1\"",
        "\"D41D8CD98F00B204E9800998ECF8427E\"",
        "\"d41d8cd98f00b204e9800998ecf8427\"",
        "\"d41d8cd98f00b204e9800998ecf8427e0\"",
        "\"d41d8cd98f00b204e9800998ecf8427e-\"",
        "\"d41d8cd98f00b204e9800998ecf8427e-0\"",
        "\"d41d8cd98f00b204e9800998ecf8427e-123456\"",
        "\"d41d8cd98f00b204e9800998ecf8427e-1x\"",
        "\"W/\\\"d41d8cd98f00b204e9800998ecf8427e\\\"\"",
        "\"aaaa\"",
        "\"\\\"\"",
    };

    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        char *body = one_record(good[i], "");
        struct s3_event ev;
        struct ierr e;
        EXPECT_EQ_INT(0, s3_event_decode(body, strlen(body), &ev, &e));
        EXPECT_EQ_INT(1, ev.n);
        if (ev.n == 1) {
            EXPECT_EQ_INT(S3_EVENT_CREATED, ev.objs[0].kind);
            EXPECT_TRUE(ev.objs[0].etag && str_has_prefix(ev.objs[0].etag, "d41d8cd98f00"));
        }
        s3_event_free(&ev);
        free(body);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *body = one_record(bad[i], "");
        struct s3_event ev;
        struct ierr e;
        EXPECT_EQ_INT(0, s3_event_decode(body, strlen(body), &ev, &e));
        EXPECT_EQ_INT(1, ev.n);
        if (ev.n == 1) {
            const struct s3_event_obj *o = &ev.objs[0];
            if (o->kind != S3_EVENT_INVALID)
                TAP_FAIL("eTag %s accepted", bad[i]);
            EXPECT_TRUE(o->etag == NULL);
            EXPECT_EQ_STR("b", o->bucket);
            EXPECT_EQ_STR("k.csv", o->key);
            EXPECT_TRUE(o->why && strstr(o->why, "is not an S3 ETag") && !strchr(o->why, '\n') &&
                        !strchr(o->why, '\r'));
        }
        s3_event_free(&ev);
        free(body);
    }
    /* an empty eTag is no eTag */
    {
        char *body = one_record("\"\"", "");
        struct s3_event ev;
        struct ierr e;
        EXPECT_EQ_INT(0, s3_event_decode(body, strlen(body), &ev, &e));
        EXPECT_TRUE(ev.n == 1 && ev.objs[0].kind == S3_EVENT_CREATED && !ev.objs[0].etag);
        s3_event_free(&ev);
        free(body);
    }
    /* EventBridge's "etag" is checked the same way */
    {
        const char *body = "{\"source\": \"aws.s3\", \"detail-type\": \"Object Created\", "
                           "\"detail\": {\"bucket\": {\"name\": \"b\"}, \"object\": {\"key\": "
                           "\"k\", \"etag\": \"x\\r\\nX: y\"}}}";
        struct s3_event ev;
        struct ierr e;
        EXPECT_EQ_INT(0, s3_event_decode(body, strlen(body), &ev, &e));
        EXPECT_TRUE(ev.n == 1 && ev.objs[0].kind == S3_EVENT_INVALID);
        s3_event_free(&ev);
    }
}

/* Sizes no uint64_t holds are left out; converting them would be undefined behaviour
 * (caught by -fsanitize=float-cast-overflow). */
DEF_TEST(sizes_out_of_range_are_ignored)
{
    static const struct {
        const char *json;
        bool has;
        unsigned long long size;
    } cases[] = {
        {"12", true, 12},
        {"12.0", true, 12},
        {"1e3", true, 1000},
        {"1e300", false, 0},
        {"18446744073709551616.0", false, 0},
        {"1.8e19", true, 18000000000000000000ull},
        {"-1", false, 0},
        {"-1e300", false, 0},
        {"9223372036854775807", true, 9223372036854775807ull},
        {"\"12\"", false, 0},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *body = one_record("", cases[i].json);
        struct s3_event ev;
        struct ierr e;
        EXPECT_EQ_INT(0, s3_event_decode(body, strlen(body), &ev, &e));
        if (ev.n == 1) {
            EXPECT_EQ_INT(cases[i].has, ev.objs[0].has_size);
            EXPECT_EQ_INT(cases[i].size, ev.objs[0].size);
        }
        s3_event_free(&ev);
        free(body);
    }
}

DEF_TEST(key_decoding)
{
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"a+b", "a b"},
        {"a%2Bb", "a+b"},
        {"%2F%2f", "//"},
        {"%25", "%"},
        {"x%20%2B+y", "x + y"},
        {"%E2%82%AC", "\xe2\x82\xac"},
        {"plain/key.csv", "plain/key.csv"},
        {"", ""},
    };
    static const char *bad[] = {"%", "%2", "%zz", "a%2x", "%00", "%C0%AF", "%ED%A0%80", "%FF"};
    char why[128];

    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        char *d = s3_key_decode(ok[i].in, why, sizeof(why));
        EXPECT_EQ_STR(ok[i].out, d);
        free(d);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *d = s3_key_decode(bad[i], why, sizeof(why));
        if (d)
            TAP_FAIL("%s decoded to \"%s\"", bad[i], d);
        free(d);
    }
}

int main(void)
{
    RUN_TEST(s3_notifications);
    RUN_TEST(sns_eventbridge_and_test_events);
    RUN_TEST(malformed_bodies);
    RUN_TEST(inline_bodies);
    RUN_TEST(etags_that_could_reach_a_header_are_refused);
    RUN_TEST(sizes_out_of_range_are_ignored);
    RUN_TEST(key_decoding);
    return tap_done();
}
