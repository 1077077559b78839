/*
 * report.c: builds the DLQ error report (see report.h) with jansson, which escapes
 * every string, so a hostile key or body cannot break the JSON.
 */
#include "report.h"

#include <jansson.h>
#include <stdlib.h>

#include "util.h"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* jansson rejects invalid UTF-8; a report must still go out, so fall back to a lossless
 * escape of the bytes. */
static json_t *text(const char *s)
{
    json_t *j;
    struct buf b;

    if (!s)
        return json_null();
    j = json_string(s);
    if (j)
        return j;
    buf_init(&b);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x80)
            buf_putc(&b, (char)*p);
        else
            buf_printf(&b, "\\x%02x", *p);
    }
    j = json_string(b.data ? b.data : "");
    buf_free(&b);
    return j;
}

char *report_build(const struct report_input *in)
{
    const struct ierr *e = in->err;
    json_t *o = json_object();
    json_t *column;
    char *out;

    if (e->column_name[0])
        column = text(e->column_name);
    else if (e->column > 0)
        column = json_integer(e->column);
    else
        column = json_null();

    json_object_set_new(o, "ingestd_error", json_integer(1));
    json_object_set_new(o, "class", json_string(ierr_class_name(e->cls)));
    json_object_set_new(o, "reason", text(e->reason));
    json_object_set_new(o, "bucket", text(in->bucket));
    json_object_set_new(o, "key", text(in->key));
    json_object_set_new(o, "etag", str_or_null(in->etag));
    json_object_set_new(o, "route", text(in->route));
    json_object_set_new(o, "line", e->line ? json_integer((json_int_t)e->line) : json_null());
    json_object_set_new(o, "column", column);
    json_object_set_new(o, "sample", e->sample[0] ? text(e->sample) : json_null());
    json_object_set_new(o, "receive_count", json_integer(in->receive_count));
    json_object_set_new(o, "original_body", text(in->original_body));
    out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!out)
        abort(); /* only on allocation failure */
    return out;
}
