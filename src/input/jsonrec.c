/*
 * jsonrec.c: what jsonstream.c and jsonframe.c both do to the stream: fail it once
 * with a reason and a line, gather the bytes of the record being read under
 * max_row_bytes, and decode a member name.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "input/jsonstream_int.h"

void jsonstream_fail(struct jsonstream *s, uint64_t line, const char *fmt, ...)
{
    va_list ap;

    if (s->failed)
        return;
    s->failed = true;
    memset(&s->err, 0, sizeof(s->err));
    s->err.cls = IERR_PERMANENT;
    va_start(ap, fmt);
    vsnprintf(s->err.reason, sizeof(s->err.reason), fmt, ap);
    va_end(ap);
    s->err.line = line;
}

void jsonstream_fail_nomem(struct jsonstream *s, size_t bytes)
{
    if (s->failed)
        return;
    jsonstream_fail(s, s->rec_line,
                    "line %llu, byte offset %llu: out of memory: %zu bytes for the record",
                    (unsigned long long)s->rec_line, (unsigned long long)s->rec_off, bytes);
    s->err.cls = IERR_TRANSIENT;
}

bool jsonstream_rec_append(struct jsonstream *s, const void *d, size_t n)
{
    char max[32];

    if (s->failed)
        return false;
    if (n > s->lim.max_record - s->rec.len) {
        size_text(max, sizeof(max), s->lim.max_record);
        jsonstream_fail(s, s->rec_line,
                        "line %llu, byte offset %llu: record longer than max_row_bytes = %s",
                        (unsigned long long)s->rec_line, (unsigned long long)s->rec_off, max);
        return false;
    }
    if (buf_try_reserve(&s->rec, n) < 0) {
        jsonstream_fail_nomem(s, s->rec.len + n);
        return false;
    }
    buf_append(&s->rec, d, n);
    return true;
}

int jsonstream_member_name(struct jsonstream *s, const struct jsonrow_span *k)
{
    buf_reset(&s->scratch);
    if (buf_try_reserve(&s->scratch, k->len) < 0) {
        jsonstream_fail_nomem(s, k->len);
        return -1;
    }
    buf_append(&s->scratch, "", 0); /* data is never NULL, even for "" */
    return jsonrow_string(k, &s->scratch);
}
