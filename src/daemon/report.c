/*
 * report.c: builds the DLQ error report (see report.h) with jansson, which escapes
 * every string, so a hostile key or body cannot break the JSON.
 *
 * Sizes are measured on the encoded JSON (json_dumpb), never estimated: a body of
 * quotes and backslashes doubles when escaped, one of control characters grows six
 * times, and SQS refuses the whole message when a single byte is over its limit.
 */
#include "daemon/report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define DUMP_FLAGS     (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_ENCODE_ANY)
#define KEY_MAX_BYTES  1024 /* S3's longest key; a longer one did not come from S3 */
#define BODY_MIN_SHARE 4    /* failures leave at least 1/4 of the report to the body */

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

/* The first n bytes of the valid UTF-8 string s, never cutting a character. */
static json_t *prefix(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return json_stringn(s, n);
}

static json_t *capped_text(const char *s, size_t max)
{
    json_t *j = text(s), *cut;
    struct buf b;

    if (!json_is_string(j) || json_string_length(j) <= max)
        return j;
    cut = prefix(json_string_value(j), max);
    buf_init(&b);
    buf_printf(&b, "%s...", json_string_value(cut));
    json_decref(cut);
    json_decref(j);
    j = json_string(b.data);
    buf_free(&b);
    return j;
}

static size_t dumped_len(const json_t *j)
{
    return json_dumpb(j, NULL, 0, DUMP_FLAGS);
}

/* The ten members that describe one failure, in contract order, into o. */
static void put_failure(json_t *o, const struct report_item *it)
{
    const struct ierr *e = it->err;

    json_object_set_new(o, "class", json_string(ierr_class_name(e->cls)));
    json_object_set_new(o, "reason", text(e->reason));
    json_object_set_new(o, "bucket", text(it->bucket));
    json_object_set_new(o, "key", capped_text(it->key, KEY_MAX_BYTES));
    json_object_set_new(o, "etag", text(it->etag));
    json_object_set_new(o, "route", text(it->route));
    json_object_set_new(o, "line", e->line ? json_integer((json_int_t)e->line) : json_null());
    json_object_set_new(o, "column", json_integer(e->column));
    json_object_set_new(o, "column_name", e->column_name[0] ? text(e->column_name) : json_null());
    json_object_set_new(o, "sample", e->sample[0] ? text(e->sample) : json_null());
}

/* The longest prefix of body whose encoded string takes at most room bytes. */
static json_t *cut_body(const char *body, size_t len, size_t room)
{
    size_t lo = 0, hi = len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        json_t *j = prefix(body, mid);
        size_t n = dumped_len(j);
        json_decref(j);
        if (n <= room)
            lo = mid;
        else
            hi = mid - 1;
    }
    return prefix(body, lo);
}

/*
 * Makes an oversized report fit: keeps the failures that fit in what the body leaves
 * (the body keeps at least 1/BODY_MIN_SHARE of the report, or all of itself when
 * shorter), then cuts the body to what remains.
 */
static void fit(json_t *o, const struct report_input *in, json_t **items, size_t limit)
{
    json_t *arr = json_object_get(o, "failures");
    json_t *body = json_object_get(o, "original_body");
    char *whole = xstrdup(json_string_value(body));
    size_t wlen = json_string_length(body), base, reserve, used = 0, kept = 0, room, omitted;

    reserve = dumped_len(body);
    if (reserve > limit / BODY_MIN_SHARE)
        reserve = limit / BODY_MIN_SHARE;
    json_array_clear(arr);
    json_object_set_new(o, "original_body", json_string("")); /* body is gone from here on */
    json_object_set_new(o, "original_body_truncated", json_true());
    /* the widest count failures_omitted can take */
    omitted = in->nitems + in->nlost;
    json_object_set_new(o, "failures_omitted", json_integer((json_int_t)omitted));
    base = dumped_len(o);
    while (kept < in->nitems) {
        size_t n = dumped_len(items[kept]) + (kept > 0);
        if (base + used + n + reserve > limit)
            break;
        used += n;
        json_array_append(arr, items[kept++]);
    }
    omitted = in->nitems - kept + in->nlost;
    json_object_set_new(o, "failures_omitted", json_integer((json_int_t)omitted));
    used = dumped_len(o) - 2; /* without the "" of the empty body */
    room = used < limit ? limit - used : 2;
    body = cut_body(whole, wlen, room);
    if (json_string_length(body) == wlen)
        json_object_del(o, "original_body_truncated");
    json_object_set_new(o, "original_body", body);
    free(whole);
}

char *report_build(const struct report_input *in)
{
    const size_t limit = in->max_bytes ? in->max_bytes : REPORT_MAX_BYTES;
    json_t *o = json_object(), *arr = json_array();
    json_t **items = xcalloc(in->nitems ? in->nitems : 1, sizeof *items);
    char *out;

    for (size_t i = 0; i < in->nitems; i++) {
        items[i] = json_object();
        put_failure(items[i], &in->items[i]);
        json_array_append(arr, items[i]);
    }
    json_object_set_new(o, "ingestd_error", json_integer(1));
    put_failure(o, &in->items[0]);
    json_object_set_new(o, "receive_count", json_integer(in->receive_count));
    json_object_set_new(o, "failures", arr);
    json_object_set_new(o, "failures_omitted", json_integer((json_int_t)in->nlost));
    json_object_set_new(o, "original_body", text(in->original_body ? in->original_body : ""));
    if (dumped_len(o) > limit)
        fit(o, in, items, limit);
    out = json_dumps(o, DUMP_FLAGS);
    for (size_t i = 0; i < in->nitems; i++)
        json_decref(items[i]);
    free(items);
    json_decref(o);
    if (!out)
        abort(); /* only on allocation failure */
    return out;
}
