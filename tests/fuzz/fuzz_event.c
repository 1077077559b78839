/*
 * fuzz_event.c: s3_event_decode on arbitrary SQS message bodies, plus the two helpers it is
 * built on (s3_key_decode, iso8601_to_ms) on the same bytes as a C string.
 *
 * The body is given as an exact-size heap copy without a terminating NUL, so a read past
 * `len` is an ASan report. Invariants: success gives entries whose kind is known, whose
 * creation records carry a non-empty bucket and a valid UTF-8 key without NUL bytes and an
 * event name and an ETag without its surrounding quotes, whose ignored records say what
 * they were; failure gives IERR_PERMANENT, a reason
 * and an empty event; s3_event_free leaves the event empty and may be called again. The key
 * decoder gives valid UTF-8 or a reason, and leaves a string without '%' or '+' unchanged.
 */
#include "base/iso8601.h"
#include "daemon/event.h"
#include "fuzz.h"
#include "base/utf8.h"

static void check_str(const char *s, const char *what)
{
    size_t bad;

    FUZZ_CHECK(utf8_valid(s, strlen(s), &bad), "%s is not UTF-8", what);
}

static void check_event(const struct s3_event *ev)
{
    FUZZ_CHECK(ev->source == S3_SOURCE_S3 || ev->source == S3_SOURCE_SNS ||
                   ev->source == S3_SOURCE_EVENTBRIDGE,
               "source %d", (int)ev->source);
    FUZZ_CHECK(ev->n == 0 || ev->objs, "%zu entries without an array", ev->n);
    for (size_t i = 0; i < ev->n; i++) {
        const struct s3_event_obj *o = &ev->objs[i];

        switch (o->kind) {
        case S3_EVENT_CREATED:
            FUZZ_CHECK(o->bucket && o->bucket[0], "created entry %zu without a bucket", i);
            FUZZ_CHECK(o->key && o->key[0], "created entry %zu without a key", i);
            check_str(o->key, "key");
            check_str(o->bucket, "bucket");
            FUZZ_CHECK(o->event_name, "created entry %zu without an event name", i);
            break;
        case S3_EVENT_IGNORED:
            FUZZ_CHECK(o->bucket && o->key, "ignored entry %zu with a NULL bucket or key", i);
            FUZZ_CHECK(o->event_name, "ignored entry %zu does not say what it was", i);
            break;
        case S3_EVENT_TEST:
            FUZZ_CHECK(o->key == NULL, "test entry %zu with a key", i);
            break;
        case S3_EVENT_INVALID:
            FUZZ_CHECK(o->bucket && o->key && o->why, "invalid entry %zu without its reason", i);
            FUZZ_CHECK(o->etag == NULL, "invalid entry %zu keeps its eTag", i);
            break;
        default:
            FUZZ_CHECK(0, "entry %zu of kind %d", i, (int)o->kind);
        }
        if (o->etag)
            FUZZ_CHECK(s3_etag_valid(o->etag), "etag %s is not an S3 ETag", o->etag);
        FUZZ_CHECK(o->has_size || o->size == 0, "size without has_size");
    }
}

int fuzz_event(const uint8_t *data, size_t size)
{
    char *body = (char *)fuzz_dup(data, size), *s = fuzz_cstr(data, size), *k;
    struct s3_event ev;
    struct ierr e;
    char why[256] = "";
    int64_t ms;

    memset(&e, 0, sizeof(e));
    if (s3_event_decode(body, size, &ev, &e) == 0) {
        check_event(&ev);
    } else {
        FUZZ_CHECK(e.cls == IERR_PERMANENT, "class %d", (int)e.cls);
        FUZZ_CHECK(e.reason[0], "failure without a reason");
        FUZZ_CHECK(ev.n == 0 && ev.objs == NULL, "failure left %zu entries", ev.n);
    }
    s3_event_free(&ev);
    FUZZ_CHECK(ev.n == 0 && ev.objs == NULL, "s3_event_free left entries");
    s3_event_free(&ev);

    k = s3_key_decode(s, why, sizeof(why));
    if (k) {
        check_str(k, "decoded key");
        FUZZ_CHECK(strlen(k) <= strlen(s), "decoding grew the key");
        if (!strpbrk(s, "%+"))
            FUZZ_CHECK(!strcmp(k, s), "a key without escapes changed");
        free(k);
    } else {
        FUZZ_CHECK(why[0], "key refused without a reason");
    }
    if (iso8601_to_ms(s, &ms) == 0)
        FUZZ_CHECK(strlen(s) >= 19, "%s parsed as a time", s);
    free(s);
    free(body);
    return 0;
}

FUZZ_MAIN(fuzz_event)
