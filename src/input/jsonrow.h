/*
 * jsonrow.h: the members of one JSON object's text, and how their values become fields.
 *
 * Internal to jsonstream. The text given to these functions has already been
 * accepted by jansson (valid JSON, an object, no duplicate names), so they only
 * find bounds and never report syntax errors; on text that is not valid they stay
 * within bounds and return nonsense, nothing worse. Values are appended to a
 * struct buf, NUL-terminated by the caller. Pure: any thread.
 */
#ifndef INGESTD_JSONROW_H
#define INGESTD_JSONROW_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

struct jsonrow_span {
    const char *p;
    size_t len;
};

/* The next member of the object text t[0..n): *pos starts at 0 and is advanced.
 * key is the name with its quotes, val the value as written. False at the end. */
bool jsonrow_next(const char *t, size_t n, size_t *pos, struct jsonrow_span *key,
                  struct jsonrow_span *val);

/* Append the decoded contents of a JSON string (span with its quotes) to out.
 * -1 when the string cannot be decoded (then out is unchanged). */
int jsonrow_string(const struct jsonrow_span *s, struct buf *out);

/* Append t[0..n) without whitespace outside strings. Works on any text. */
void jsonrow_compact(const char *t, size_t n, struct buf *out);

#endif
