/*
 * transform_stage.h: the pipeline stage that runs a route's transform script between the
 * record parser and the sink.
 *
 *   recstream --batches--> transform stage --batches--> sink
 *
 * The stage takes the parser's callbacks (columns, batch, reject) and calls the
 * downstream ones with the script's rows: the columns it announces are the route's
 * output_columns (or the input's), so create_table infers types from output rows and
 * upsert keys name output columns; validate.* rules have already run on the input.
 * A script error on a row is a row error under the route's on_error: the row is passed
 * to the reject callback and counted, or the stream fails permanently naming the input
 * row's line, the output column when one was at fault, and the script's line. Rows of
 * finish() carry the line of the object's last row. An error of the script's top level or
 * of finish() fails the object: there is no row to skip.
 *
 * struct transform_cache holds a worker's Lua states, one per route, reused across
 * objects until the configuration changes or a limit was hit.
 *
 * Builds without Lua have inline stand-ins: a route with `transform` is then a
 * configuration error, so no stage is ever opened.
 */
#ifndef INGESTD_TRANSFORM_STAGE_H
#define INGESTD_TRANSFORM_STAGE_H

#include <stdint.h>

#include "base/config.h"
#include "input/csvstream.h"
#include "base/ierr.h"
#include "base/rows.h"

/* What the stage tells the script about the object; strings borrowed for the load. */
struct transform_object {
    const char *bucket;
    const char *key;
    const char *etag;
    uint64_t size;
    int64_t event_time_ms; /* 0: unknown */
};

struct transform_cache;
struct transform_stage;

#ifdef WITH_LUA
struct transform_cache *transform_cache_new(void);
void transform_cache_free(struct transform_cache *c); /* NULL-safe */

/*
 * For a route with a transform: *out is a new stage and *up the callbacks to give the
 * record parser (down is copied). For other routes *out is NULL and *up a copy of down.
 * -1 with e set (IERR_CONFIG) when the script cannot be made ready.
 */
int transform_stage_open(struct transform_cache *c, const struct config *cfg,
                         const struct route_conf *rc, const struct transform_object *obj,
                         const struct csvstream_cb *down, struct csvstream_cb *up,
                         struct transform_stage **out, struct ierr *e);
/* After the parser's last batch: finish() and the last rows. 0 or -1 with e set. */
int transform_stage_finish(struct transform_stage *s, struct ierr *e);
/* The load's counts as the sink sees them: rows written, rows rejected (parser and script). */
void transform_stage_stats(const struct transform_stage *s, struct load_stats *st);
/* NULL-safe; returns the Lua state to the cache, or drops it after a limit was hit. */
void transform_stage_close(struct transform_stage *s);
#else
static inline struct transform_cache *transform_cache_new(void)
{
    return NULL;
}
static inline void transform_cache_free(struct transform_cache *c)
{
    (void)c;
}
static inline int transform_stage_open(struct transform_cache *c, const struct config *cfg,
                                       const struct route_conf *rc,
                                       const struct transform_object *obj,
                                       const struct csvstream_cb *down, struct csvstream_cb *up,
                                       struct transform_stage **out, struct ierr *e)
{
    (void)c, (void)cfg, (void)rc, (void)obj, (void)e;
    *up = *down;
    *out = NULL;
    return 0;
}
static inline int transform_stage_finish(struct transform_stage *s, struct ierr *e)
{
    (void)s, (void)e;
    return 0;
}
static inline void transform_stage_stats(const struct transform_stage *s, struct load_stats *st)
{
    (void)s, (void)st;
}
static inline void transform_stage_close(struct transform_stage *s)
{
    (void)s;
}
#endif

#endif
