/*
 * event.h: an SQS message body decoded into the S3 objects it names.
 *
 * Accepted shapes:
 *   - S3 event notifications: {"Records": [...]}, one entry per record;
 *   - the same wrapped by SNS: {"Type": "Notification", "Message": "<S3 event JSON>"};
 *   - EventBridge: {"source": "aws.s3", "detail-type": "Object Created", "detail": {...}};
 *   - s3:TestEvent (sent when a notification configuration is saved): one entry of
 *     kind S3_EVENT_TEST.
 * A record that is not an object creation (ObjectRemoved:*, ObjectRestore:*, an
 * EventBridge "Object Deleted", ...) gives an entry of kind S3_EVENT_IGNORED with
 * its event name, so the caller can log it and still delete the message.
 *
 * Keys in S3 and SNS records are form-encoded: '+' is a space, then %XX escapes
 * (moto also encodes '/' as %2F). An invalid escape, a decoded NUL or a key that
 * is not UTF-8 after decoding makes the whole body an error. EventBridge keys are
 * taken as they are (they are not URL-encoded there). size, eTag, versionId and
 * sequencer are used when present and never required; event times with or
 * without a zone designator ('Z' or +hh:mm; none means UTC, as moto writes them).
 * The eTag goes into a request header (If-Match), so only an S3 ETag is taken:
 * 32 lower-case hex digits, "-N" after them for a multipart upload, in quotes or
 * not (an empty one counts as absent). A creation record with any other eTag gives
 * an entry of kind S3_EVENT_INVALID that says why; the rest of the body still counts.
 * A size that is not a non-negative integer below 2^64 is ignored.
 *
 * Pure: no I/O, no logging; any thread may call it.
 */
#ifndef INGESTD_EVENT_H
#define INGESTD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ierr.h"

enum s3_event_kind {
    S3_EVENT_CREATED, /* an object to load */
    S3_EVENT_IGNORED, /* not a creation: event_name says what it was */
    S3_EVENT_TEST,    /* s3:TestEvent: bucket may be set, nothing else */
    S3_EVENT_INVALID, /* a creation that must not be loaded: bucket, key and why are set */
};

enum s3_event_source { S3_SOURCE_S3, S3_SOURCE_SNS, S3_SOURCE_EVENTBRIDGE };

struct s3_event_obj {
    enum s3_event_kind kind;
    char *bucket;     /* never NULL except for a TestEvent without "Bucket"; may be ""
                       * in an IGNORED entry */
    char *key;        /* decoded; NULL for TEST; may be "" in an IGNORED entry */
    char *etag;       /* without quotes; NULL when absent */
    char *version_id; /* NULL when absent */
    char *sequencer;  /* NULL when absent */
    uint64_t size;
    bool has_size;
    int64_t event_time_ms; /* Unix ms, 0 when absent or unparseable */
    char *event_name;      /* "ObjectCreated:Put", "Object Created", "s3:TestEvent", ... */
    char *why;             /* S3_EVENT_INVALID: the reason, else NULL */
};

struct s3_event {
    enum s3_event_source source;
    struct s3_event_obj *objs; /* owned */
    size_t n;
};

/* 0 with ev filled (free with s3_event_free, even when n == 0), or -1 with e set
 * (IERR_PERMANENT, reason says why) and ev empty. */
int s3_event_decode(const char *body, size_t len, struct s3_event *ev, struct ierr *e);
void s3_event_free(struct s3_event *ev); /* NULL-safe; leaves ev empty */

/* Form-decode an S3 event key ('+' then %XX). Returns a new string or NULL with why set. */
char *s3_key_decode(const char *s, char *why, size_t whysz);

/* True when s is an S3 ETag without its quotes: [0-9a-f]{32} or [0-9a-f]{32}-N. */
bool s3_etag_valid(const char *s);

#endif
