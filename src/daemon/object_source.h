/*
 * object_source.h: where a job's bytes come from when they do not come from S3.
 *
 * A job with source == NULL reads its object with s3_get_object(); a job with a
 * source (an HTTP request body, body_pipe.h) reads it through stream(). Either
 * way the worker feeds the same callback, so parsing, validation, transform, sink
 * and ledger are one code path.
 */
#ifndef INGESTD_OBJECT_SOURCE_H
#define INGESTD_OBJECT_SOURCE_H

#include <stddef.h>

#include "base/ierr.h"

/* Takes the next bytes; non-zero stops the stream (the caller has its reason). */
typedef int (*object_data_fn)(const void *p, size_t n, void *arg);

struct object_source {
    /* Feeds fn every byte up to the end: 0, or -1 with e set (or fn stopped it). Blocks. */
    int (*stream)(struct object_source *src, object_data_fn fn, void *arg, struct ierr *e);
};

#endif
