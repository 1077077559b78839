/*
 * event.c: SQS message bodies (S3, SNS-wrapped, EventBridge, TestEvent) to object references.
 *
 * The decoder is strict where a mistake would load the wrong object (key
 * encoding, missing bucket or key on a creation record) and lenient elsewhere
 * (optional fields, unknown extra fields, ignored records). The whole body is
 * rejected when any creation record in it is unusable: a message is deleted as
 * a unit, so a partly understood message must not look done. No I/O.
 */
#include "daemon/event.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/iso8601.h"
#include "base/utf8.h"
#include "base/util.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *s3_key_decode(const char *s, char *why, size_t whysz)
{
    size_t n = strlen(s), o = 0, bad;
    char *out = xmalloc(n + 1);

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                snprintf(why, whysz, "invalid percent escape at byte %zu of the key", i + 1);
                free(out);
                return NULL;
            }
            if (hi == 0 && lo == 0) {
                snprintf(why, whysz, "the key decodes to a NUL byte (at byte %zu)", i + 1);
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (!utf8_valid(out, o, &bad)) {
        snprintf(why, whysz, "the decoded key is not UTF-8 (byte %zu)", bad + 1);
        free(out);
        return NULL;
    }
    return out;
}

/* ---- JSON helpers ---- */

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* o.a.b... with a NULL-terminated path. */
static const json_t *jpath(const json_t *o, const char *const *path)
{
    for (; *path && o; path++)
        o = json_object_get(o, *path);
    return o;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static char *dup_or_empty(const char *s)
{
    return xstrdup(s ? s : "");
}

bool s3_etag_valid(const char *s)
{
    size_t i, n = strlen(s);

    for (i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    if (n == 32)
        return true;
    /* a multipart upload: -N, N from 1 to 10000 parts */
    if (n < 34 || n > 38 || s[32] != '-' || s[33] == '0')
        return false;
    for (i = 33; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* The eTag without its quotes into o->etag; false when it is not an S3 ETag (o->why set). */
static bool set_etag(struct s3_event_obj *o, const char *s)
{
    size_t n;
    char shown[80];

    if (!s)
        return true;
    n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
        o->etag = xstrndup(s + 1, n - 2);
    else
        o->etag = xstrdup(s);
    if (o->etag[0] == '\0') {
        free(o->etag);
        o->etag = NULL;
        return true;
    }
    if (s3_etag_valid(o->etag))
        return true;
    utf8_sample(shown, sizeof shown, o->etag, strlen(o->etag));
    o->why = xasprintf("eTag \"%s\" is not an S3 ETag (32 hex digits, -N for a multipart "
                       "upload): not loaded",
                       shown);
    free(o->etag);
    o->etag = NULL;
    o->kind = S3_EVENT_INVALID;
    return false;
}

/* Only informative (metrics, logs): a value no uint64_t can hold is left out, never cast. */
static void set_size(struct s3_event_obj *o, const json_t *v)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        o->size = (uint64_t)json_integer_value(v);
        o->has_size = true;
    } else if (json_is_real(v) && json_real_value(v) >= 0 &&
               json_real_value(v) < 18446744073709551616.0 /* 2^64 */) {
        o->size = (uint64_t)json_real_value(v);
        o->has_size = true;
    }
}

static void set_time(struct s3_event_obj *o, const char *t)
{
    int64_t ms;
    if (t && iso8601_to_ms(t, &ms) == 0)
        o->event_time_ms = ms;
}

static struct s3_event_obj *push(struct s3_event *ev)
{
    ev->objs = xrealloc(ev->objs, (ev->n + 1) * sizeof(*ev->objs));
    memset(&ev->objs[ev->n], 0, sizeof(ev->objs[0]));
    return &ev->objs[ev->n++];
}

void s3_event_free(struct s3_event *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->n; i++) {
        struct s3_event_obj *o = &ev->objs[i];
        free(o->bucket);
        free(o->key);
        free(o->etag);
        free(o->version_id);
        free(o->sequencer);
        free(o->event_name);
        free(o->why);
    }
    free(ev->objs);
    memset(ev, 0, sizeof(*ev));
}

/* ---- shapes ---- */

static int decode_record(const json_t *r, size_t idx, struct s3_event *ev, struct ierr *e)
{
    static const char *const bucket_p[] = {"s3", "bucket", "name", NULL};
    static const char *const key_p[] = {"s3", "object", "key", NULL};
    const json_t *obj = jpath(r, (const char *const[]){"s3", "object", NULL});
    const char *name = jstr(r, "eventName"), *src = jstr(r, "eventSource");
    const json_t *bv = jpath(r, bucket_p), *kv = jpath(r, key_p);
    const char *bucket = json_is_string(bv) ? json_string_value(bv) : NULL;
    const char *key = json_is_string(kv) ? json_string_value(kv) : NULL;
    struct s3_event_obj *o;
    char why[128];

    if (!json_is_object(r)) {
        ierr_set(e, IERR_PERMANENT, "record %zu is not an object", idx + 1);
        return -1;
    }
    if (!name) {
        ierr_set(e, IERR_PERMANENT, "record %zu: no eventName", idx + 1);
        return -1;
    }
    if (!str_has_prefix(name, "ObjectCreated:") || (src && strcmp(src, "aws:s3") != 0)) {
        o = push(ev);
        o->kind = S3_EVENT_IGNORED;
        o->event_name = xstrdup(name);
        o->bucket = dup_or_empty(bucket);
        /* only logged: an undecodable key is shown as it came */
        if (!key || !(o->key = s3_key_decode(key, why, sizeof(why))))
            o->key = dup_or_empty(key);
        set_time(o, jstr(r, "eventTime"));
        return 0;
    }
    if (!bucket || !*bucket || !key || !*key) {
        ierr_set(e, IERR_PERMANENT, "record %zu (%s): %s missing", idx + 1, name,
                 !bucket || !*bucket ? "s3.bucket.name" : "s3.object.key");
        return -1;
    }
    o = push(ev);
    o->kind = S3_EVENT_CREATED;
    o->event_name = xstrdup(name);
    o->bucket = xstrdup(bucket);
    o->key = s3_key_decode(key, why, sizeof(why));
    if (!o->key) {
        char shown[200];
        utf8_sample(shown, sizeof(shown), key, strlen(key));
        ierr_set(e, IERR_PERMANENT, "record %zu: key \"%s\": %s", idx + 1, shown, why);
        snprintf(e->sample, sizeof(e->sample), "%s", shown);
        return -1;
    }
    set_etag(o, jstr(obj, "eTag"));
    o->version_id = dup_or_null(jstr(obj, "versionId"));
    o->sequencer = dup_or_null(jstr(obj, "sequencer"));
    set_size(o, json_object_get(obj, "size"));
    set_time(o, jstr(r, "eventTime"));
    return 0;
}

static int decode_records(const json_t *recs, struct s3_event *ev, struct ierr *e)
{
    if (!json_is_array(recs)) {
        ierr_set(e, IERR_PERMANENT, "\"Records\" is not an array");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(recs); i++)
        if (decode_record(json_array_get(recs, i), i, ev, e) < 0)
            return -1;
    return 0;
}

static int decode_eventbridge(const json_t *root, struct s3_event *ev, struct ierr *e)
{
    const char *dtype = jstr(root, "detail-type");
    const json_t *detail = json_object_get(root, "detail");
    const json_t *obj = json_object_get(detail, "object");
    const char *bucket = jstr(json_object_get(detail, "bucket"), "name");
    const char *key = jstr(obj, "key");
    struct s3_event_obj *o;

    ev->source = S3_SOURCE_EVENTBRIDGE;
    if (!dtype || !json_is_object(detail)) {
        ierr_set(e, IERR_PERMANENT, "EventBridge event without detail-type or detail");
        return -1;
    }
    o = push(ev);
    o->event_name = xstrdup(dtype);
    o->bucket = dup_or_empty(bucket);
    o->key = dup_or_empty(key);
    set_time(o, jstr(root, "time"));
    if (strcmp(dtype, "Object Created") != 0) {
        o->kind = S3_EVENT_IGNORED;
        return 0;
    }
    o->kind = S3_EVENT_CREATED;
    if (!bucket || !*bucket || !key || !*key) {
        ierr_set(e, IERR_PERMANENT, "EventBridge Object Created: %s missing",
                 !bucket || !*bucket ? "detail.bucket.name" : "detail.object.key");
        return -1;
    }
    set_etag(o, jstr(obj, "etag"));
    o->version_id = dup_or_null(jstr(obj, "version-id"));
    o->sequencer = dup_or_null(jstr(obj, "sequencer"));
    set_size(o, json_object_get(obj, "size"));
    return 0;
}

static int decode_root(const json_t *root, struct s3_event *ev, bool in_sns, struct ierr *e);

static int decode_sns(const json_t *root, struct s3_event *ev, struct ierr *e)
{
    const char *msg = jstr(root, "Message");
    json_error_t je;
    json_t *inner;
    int rc;

    if (!msg) {
        ierr_set(e, IERR_PERMANENT, "SNS notification without a Message string");
        return -1;
    }
    inner = json_loads(msg, 0, &je);
    if (!inner) {
        ierr_set(e, IERR_PERMANENT, "SNS Message is not JSON: line %d column %d: %s", je.line,
                 je.column, je.text);
        return -1;
    }
    rc = decode_root(inner, ev, true, e);
    ev->source = S3_SOURCE_SNS;
    json_decref(inner);
    return rc;
}

static int decode_root(const json_t *root, struct s3_event *ev, bool in_sns, struct ierr *e)
{
    const char *type = jstr(root, "Type"), *event = jstr(root, "Event");
    const char *source = jstr(root, "source");
    const json_t *recs = json_object_get(root, "Records");

    if (!json_is_object(root)) {
        ierr_set(e, IERR_PERMANENT, "%s is not a JSON object", in_sns ? "SNS Message" : "body");
        return -1;
    }
    if (recs) {
        ev->source = S3_SOURCE_S3;
        return decode_records(recs, ev, e);
    }
    if (event && strcmp(event, "s3:TestEvent") == 0) {
        struct s3_event_obj *o = push(ev);
        o->kind = S3_EVENT_TEST;
        o->event_name = xstrdup(event);
        o->bucket = dup_or_null(jstr(root, "Bucket"));
        set_time(o, jstr(root, "Time"));
        return 0;
    }
    if (!in_sns && type && strcmp(type, "Notification") == 0)
        return decode_sns(root, ev, e);
    if (source && strcmp(source, "aws.s3") == 0)
        return decode_eventbridge(root, ev, e);
    ierr_set(e, IERR_PERMANENT, "%sno Records, not an SNS or EventBridge event",
             in_sns ? "SNS Message: " : "");
    return -1;
}

int s3_event_decode(const char *body, size_t len, struct s3_event *ev, struct ierr *e)
{
    json_error_t je;
    json_t *root;
    int rc;

    memset(ev, 0, sizeof(*ev));
    root = json_loadb(body, len, 0, &je);
    if (!root) {
        ierr_set(e, IERR_PERMANENT, "body is not JSON: line %d column %d: %s", je.line, je.column,
                 je.text);
        return -1;
    }
    rc = decode_root(root, ev, false, e);
    json_decref(root);
    if (rc < 0)
        s3_event_free(ev);
    return rc;
}
