/*
 * report.h: the error report sent to the dead-letter queue for a permanent failure.
 *
 * The format is part of the contract (DESIGN.md): one JSON object
 *   {"ingestd_error": 1, "class", "reason", "bucket", "key", "etag", "route", "line",
 *    "column", "sample", "receive_count", "original_body"}
 * where key is the decoded object key, line the 1-based line of the object on which the
 * first bad record starts (null when unknown), column 1-based or the column name when
 * known (null when unknown), and original_body the SQS message body as received.
 * Pure: no I/O. Any thread.
 */
#ifndef INGESTD_REPORT_H
#define INGESTD_REPORT_H

#include "sink.h"

struct report_input {
    const struct ierr *err;
    const char *bucket; /* NULL when the body named no object */
    const char *key;
    const char *etag;
    const char *route;
    int receive_count;
    const char *original_body;
};

/* Returns an owned, compact JSON string. */
char *report_build(const struct report_input *in);

#endif
