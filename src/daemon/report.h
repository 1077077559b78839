/*
 * report.h: the error report sent to the dead-letter queue for a message that failed
 * permanently.
 *
 * The format is part of the contract (DESIGN.md): one JSON object per message,
 *   {"ingestd_error": 1, "class", "reason", "bucket", "key", "etag", "route", "line",
 *    "column", "column_name", "sample", "receive_count", "failures", "failures_omitted",
 *    "original_body"[, "original_body_truncated": true]}
 * where the top-level fields describe the message's first failure and "failures"
 * lists every failed record of the message, that one included, as objects with the
 * same ten members (class .. sample). key is the decoded object key; line the
 * 1-based line of the object on which the first bad record starts (null when
 * unknown); column the 1-based column number (0 when unknown) and column_name its
 * name (null when unknown); sample the offending value or record (null when there is
 * none); original_body the SQS message body as received.
 *
 * A report always fits one SQS message (REPORT_MAX_BYTES, counted after JSON
 * escaping): when it would not, failures past those that fit are left out and
 * counted in failures_omitted (with those the caller could not keep), then
 * original_body is cut and original_body_truncated added. It is ASCII only (other
 * characters as \uXXXX), so SQS accepts every character of it.
 * Pure: no I/O. Any thread.
 */
#ifndef INGESTD_REPORT_H
#define INGESTD_REPORT_H

#include <stddef.h>

#include "base/ierr.h"

#define REPORT_MAX_BYTES 262144 /* SQS's limit for one message: 256 KiB */

/* One failed record of a message (or the body itself: bucket NULL). Borrowed. */
struct report_item {
    const struct ierr *err;
    const char *bucket; /* NULL when the body named no object */
    const char *key;
    const char *etag;
    const char *route;
};

struct report_input {
    const struct report_item *items; /* at least one */
    size_t nitems;
    size_t nlost; /* further failures the caller did not keep */
    int receive_count;
    const char *original_body;
    size_t max_bytes; /* 0: REPORT_MAX_BYTES (tests use less) */
};

/* Returns an owned, compact JSON string of at most max_bytes bytes. */
char *report_build(const struct report_input *in);

#endif
