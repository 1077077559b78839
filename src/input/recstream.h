/*
 * recstream.h: one parser interface over csvstream and jsonstream, chosen by the route's format.
 *
 * The worker feeds an object's decompressed bytes to a record stream without
 * knowing its format: csv and tsv go to csvstream.h, jsonl and json to
 * jsonstream.h. Both call back through struct csvstream_cb with the same batch
 * and error contract (see csvstream.h and jsonstream.h for what each format
 * accepts). Ownership and threads as for the wrapped streams: one stream belongs
 * to one worker, the route must outlive it.
 */
#ifndef INGESTD_RECSTREAM_H
#define INGESTD_RECSTREAM_H

#include <stddef.h>

#include "base/config.h"
#include "base/ierr.h"
#include "input/csvstream.h"

struct recstream;

/* NULL with e set (IERR_CONFIG) when the route's format or dialect is unusable. cb is copied. */
struct recstream *recstream_new(const struct route_conf *rc, const struct csvstream_cb *cb,
                                struct ierr *e);
/* 0, or -1 with e set; after -1 the stream only fails again. */
int recstream_feed(struct recstream *s, const void *data, size_t len, struct ierr *e);
/* End of object: the last record and batch. 0 or -1 with e set. */
int recstream_finish(struct recstream *s, struct ierr *e);
void recstream_get_stats(const struct recstream *s, struct csvstream_stats *st);
void recstream_free(struct recstream *s); /* NULL-safe */

#endif
