/*
 * s3.h: the worker-side S3 client: GetObject streamed into a callback, and HeadObject.
 *
 * One struct s3_client wraps one blocking curl easy handle, reused from call to call so
 * that connections are kept. It belongs to one worker thread: every function here blocks
 * and must only be called by the thread that owns the client (never by the loop).
 * curl_global_init() must have run before the first s3_client_new() (main does it before
 * starting threads).
 *
 * GetObject never holds the object in memory: bytes go to the caller's callback as they
 * arrive. Transient failures (connection errors, stalls below the low-speed limit, 5xx,
 * SlowDown and other throttling) are retried inside s3_get_object() with jittered
 * exponential backoff. A body cut off after N bytes is resumed with "Range: bytes=N-" and
 * "If-Match" on the ETag of the first response, and only the new bytes are passed on, so
 * the callback sees one continuous stream of exactly the object's bytes or an error; it
 * never sees a mix of two versions of the object.
 *
 * Errors come back as struct aws_error (aws_error.h), service "s3":
 *   - code "PreconditionFailed" (HTTP 412, not retryable): the object no longer has the
 *     ETag asked for with if_match (or changed between a cut and its resume): it was
 *     overwritten, so the request is superseded by a newer event.
 *   - "NoSuchKey" (404), "AccessDenied" (403), "SignatureDoesNotMatch" ... : permanent.
 *     HEAD answers carry no body: 404 is reported as "NoSuchKey", 403 as "AccessDenied",
 *     412 as "PreconditionFailed".
 *   - retryable errors are returned only once the attempts are used up.
 *   - a signature refused for clock skew (RequestTimeTooSkewed, ...) is retried once with
 *     the clock offset taken from the answer's Date header; the client keeps that offset.
 *   - code "Aborted": the callback returned non-zero; "Cancelled": *cancel became true.
 *     Both have kind AWS_ERR_NETWORK and are not retryable; bytes already delivered stay
 *     delivered.
 */
#ifndef INGESTD_S3_H
#define INGESTD_S3_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "aws/aws_error.h"
#include "aws/sigv4.h"

#define S3_CODE_ABORTED      "Aborted"
#define S3_CODE_CANCELLED    "Cancelled"
#define S3_CODE_PRECONDITION "PreconditionFailed"

/* Client settings; copied by s3_client_new(), so the caller's strings may go afterwards.
 * Zero means "the default" for every number. */
struct s3_opts {
    const char *endpoint_url; /* NULL/"": AWS for region; see s3_url.h for addressing */
    const char *region;       /* signing region, required */
    bool force_path_style;
    const char *ca_file;      /* NULL: the system trust store; TLS is always verified */
    long connect_timeout_s;   /* default 10 */
    long low_speed_limit;     /* bytes/s below which a transfer counts as stalled; 1 */
    long low_speed_time_s;    /* ... for this long; default 30 */
    unsigned max_attempts;    /* attempts in a row without progress; default 4 */
    unsigned max_requests;    /* hard cap on requests per call, resumes included; 32 */
    unsigned backoff_base_ms; /* retry delay: full jitter in [0, base * 2^n]; 100 */
    unsigned backoff_cap_ms;  /* ... capped here; default 5000 */
    int64_t clock_offset_s;   /* added to the local clock when signing; normally 0 */
};

/* Per-request options; all optional (a NULL struct means none). Borrowed for the call. */
struct s3_get_opts {
    const char *if_match;      /* ETag from the event, quoted or not */
    const char *version_id;    /* a specific version; NULL: the current one */
    uint64_t offset;           /* start at this byte (Range: bytes=offset-) */
    const atomic_bool *cancel; /* polled during transfers and backoff sleeps */
};

/* Receives the next n bytes of the object (n > 0). Return 0 to go on, non-zero to abort. */
typedef int (*s3_data_fn)(const void *p, size_t n, void *arg);

/* What S3 said about the object, plus transfer statistics. Plain data. */
struct s3_object_info {
    char etag[128]; /* as sent, with its quotes */
    uint64_t size;  /* the whole object's size (valid when size_known) */
    bool size_known;
    char content_type[128];
    char content_encoding[64];
    char version_id[256]; /* x-amz-version-id, "" when unversioned */
    time_t last_modified; /* 0 when absent */
    uint64_t bytes;       /* bytes passed to the callback (GET) */
    unsigned requests;    /* HTTP requests made, the first included */
    unsigned resumes;     /* requests that continued a cut-off body */
};

struct s3_client;

/* NULL (reason in errbuf) when the options are unusable (no region, bad endpoint).
 * The caller owns the client; free it with s3_client_free() on the same thread. */
struct s3_client *s3_client_new(const struct s3_opts *o, char *errbuf, size_t errlen);
void s3_client_free(struct s3_client *c); /* NULL-safe */

/*
 * Streams s3://bucket/key into on_data. creds may be NULL (or have an empty key id) for an
 * anonymous, unsigned request. info (may be NULL) is filled as far as known, also on
 * failure. Returns 0 when every byte from g->offset to the end was delivered, else -1 with
 * err filled.
 */
int s3_get_object(struct s3_client *c, const struct aws_creds *creds, const char *bucket,
                  const char *key, const struct s3_get_opts *g, s3_data_fn on_data, void *arg,
                  struct s3_object_info *info, struct aws_error *err);

/* HeadObject: the same metadata without the body; g->offset is ignored. */
int s3_head_object(struct s3_client *c, const struct aws_creds *creds, const char *bucket,
                   const char *key, const struct s3_get_opts *g, struct s3_object_info *info,
                   struct aws_error *err);

#endif
