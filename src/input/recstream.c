/*
 * recstream.c: dispatch to csvstream or jsonstream by the route's format.
 *
 * A tagged pair rather than a table of function pointers: there are two parsers
 * and the compiler checks every call. Nothing here parses.
 */
#include "input/recstream.h"

#include <stdlib.h>

#include "input/jsonstream.h"
#include "base/util.h"

struct recstream {
    struct csvstream *csv; /* exactly one of the two is set */
    struct jsonstream *json;
};

struct recstream *recstream_new(const struct route_conf *rc, const struct csvstream_cb *cb,
                                struct ierr *e)
{
    struct recstream *s = xcalloc(1, sizeof(*s));

    if (rc->format == FORMAT_JSONL || rc->format == FORMAT_JSON)
        s->json = jsonstream_new(rc, cb, e);
    else
        s->csv = csvstream_new(rc, cb, e);
    if (!s->csv && !s->json) {
        free(s);
        return NULL;
    }
    return s;
}

int recstream_feed(struct recstream *s, const void *data, size_t len, struct ierr *e)
{
    return s->json ? jsonstream_feed(s->json, data, len, e) : csvstream_feed(s->csv, data, len, e);
}

int recstream_finish(struct recstream *s, struct ierr *e)
{
    return s->json ? jsonstream_finish(s->json, e) : csvstream_finish(s->csv, e);
}

void recstream_get_stats(const struct recstream *s, struct csvstream_stats *st)
{
    if (s->json)
        jsonstream_get_stats(s->json, st);
    else
        csvstream_get_stats(s->csv, st);
}

void recstream_free(struct recstream *s)
{
    if (!s)
        return;
    jsonstream_free(s->json);
    csvstream_free(s->csv);
    free(s);
}
