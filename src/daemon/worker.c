/*
 * worker.c: one load, start to end, on a worker thread (see worker.h).
 *
 * DESIGN
 * The object flows through three stages chained by callbacks, so that nothing is
 * buffered beyond one batch:
 *
 *   s3_get_object --bytes--> decompress --bytes--> recstream --batches--> sink
 *
 * (recstream.h: csvstream or jsonstream, by the route's format.) A route with a
 * transform script puts transform_stage.h between recstream and the sink.
 *
 * The sink's begin() runs as soon as the columns are known (or, with
 * create_table, at the first batch, whose rows give the column types), so a
 * duplicate found in the ledger stops the download early. Every stage reports
 * into one struct ierr; the first error wins and aborts the download. Anything
 * that fails after begin() is rolled back with the sink's abort(): a file is
 * loaded whole or not at all.
 *
 * A sink may fail a load with IERR_RESTART (PostgreSQL: binary COPY met a value
 * it cannot carry): the object is then streamed a second time from S3, with
 * load_target.restarted telling the sink to load it the plain way.
 */
#include "daemon/worker.h"

#include <stdlib.h>
#include <string.h>

#include "aws/aws_endpoint.h"
#include "aws/creds.h"
#include "input/decompress.h"
#include "input/infer.h"
#include "base/log.h"
#include "daemon/object_source.h"
#include "daemon/fanout.h"
#include "daemon/observe.h"
#include "input/recstream.h"
#include "daemon/route.h"
#include "aws/s3.h"
#include "sinks/sink.h"
#include "transform/transform_stage.h"
#include "base/util.h"

#define MAX_SINK_SLOTS 16

struct sink_slot {
    char *name;
    uint64_t generation;
    const struct sink_ops *ops;
    struct sink *sink;
};

struct worker_state {
    struct s3_client *s3;
    uint64_t s3_generation;
    struct sink_slot slots[MAX_SINK_SLOTS];
    struct transform_cache *transforms; /* Lua states, one per route with a script */
};

/* The state of one load while it runs. */
struct load {
    struct job *job;
    struct fanout fo; /* the route's sinks: one, or several for a fan-out */
    struct decompress *dz;
    struct recstream *rs;
    struct transform_stage *ts; /* NULL: the route has no transform */
    struct load_object obj;
    struct load_target target;
    const struct s3_object_info *info; /* filled by s3.c before the first byte */
    bool begun;
    bool duplicate;
    bool stop; /* an error or a duplicate: stop feeding */
    struct ierr err;
};

struct worker_state *worker_state_new(void)
{
    return xcalloc(1, sizeof(struct worker_state));
}

static void slot_close(struct sink_slot *s)
{
    if (s->ops && s->sink)
        s->ops->close(s->sink);
    free(s->name);
    memset(s, 0, sizeof *s);
}

void worker_state_free(struct worker_state *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < MAX_SINK_SLOTS; i++)
        slot_close(&ws->slots[i]);
    s3_client_free(ws->s3);
    transform_cache_free(ws->transforms);
    free(ws);
}

struct s3_client *worker_s3_client_new(const struct config *cfg, struct ierr *e)
{
    struct s3_opts o;
    struct s3_client *c;
    char errbuf[256];
    char *endpoint = aws_endpoint_url(cfg, "s3");

    memset(&o, 0, sizeof o);
    o.endpoint_url = endpoint;
    o.region = aws_endpoint_region(cfg);
    o.force_path_style = cfg->aws.s3_force_path_style;
    o.ca_file = cfg->aws.ca_file;
    o.connect_timeout_s = cfg->aws.connect_timeout;
    c = s3_client_new(&o, errbuf, sizeof errbuf);
    free(endpoint);
    if (!c)
        ierr_set(e, IERR_CONFIG, "S3 client: %s", errbuf);
    return c;
}

/* The S3 client for this configuration generation, created on first use. */
static struct s3_client *get_s3(struct worker_state *ws, const struct config *cfg, struct ierr *e)
{
    if (ws->s3 && ws->s3_generation == cfg->generation)
        return ws->s3;
    s3_client_free(ws->s3);
    ws->s3 = worker_s3_client_new(cfg, e);
    if (ws->s3)
        ws->s3_generation = cfg->generation;
    return ws->s3;
}

/* The open sink for the route's sink section, reopened for a new configuration. */
static struct sink_slot *get_sink(struct worker_state *ws, const struct config *cfg,
                                  const struct sink_conf *sc, struct ierr *e)
{
    struct sink_slot *free_slot = NULL, *slot = NULL;

    for (size_t i = 0; i < MAX_SINK_SLOTS; i++) {
        struct sink_slot *s = &ws->slots[i];
        if (s->name && strcmp(s->name, sc->name) == 0) {
            slot = s;
            break;
        }
        if (!s->name && !free_slot)
            free_slot = s;
    }
    if (slot && slot->generation == cfg->generation && slot->sink)
        return slot;
    if (slot)
        slot_close(slot);
    else if (free_slot)
        slot = free_slot;
    else {
        slot = &ws->slots[0]; /* more sinks than slots: recycle the first */
        slot_close(slot);
    }
    slot->ops = sink_ops_for(sc->type);
    if (!slot->ops) {
        ierr_set(e, IERR_CONFIG, "sink %s: this build has no support for its type", sc->name);
        return NULL;
    }
    if (slot->ops->open(sc, cfg, &slot->sink, e) < 0) {
        slot->ops = NULL;
        slot->sink = NULL;
        return NULL;
    }
    slot->name = xstrdup(sc->name);
    slot->generation = cfg->generation;
    return slot;
}

/* Every sink of the route into the load's fan-out; one that cannot be opened is a
 * failed member, and the others go on. */
static int open_sinks(struct worker_state *ws, struct load *ld, struct ierr *e)
{
    const struct route_conf *rc = ld->job->route;
    size_t n = rc->nsinks ? rc->nsinks : 1;

    for (size_t i = 0; i < n; i++) {
        const struct sink_conf *sc = rc->nsinks ? rc->sinks[i] : rc->sink;
        struct sink_slot *slot;
        struct ierr oe;

        memset(&oe, 0, sizeof oe);
        slot = get_sink(ws, ld->job->cfg, sc, &oe);
        fanout_add(&ld->fo, sc, slot ? slot->ops : NULL, slot ? slot->sink : NULL, &oe);
    }
    return fanout_ready(&ld->fo, e);
}

static void fail(struct load *ld, const struct ierr *e)
{
    if (!ld->stop)
        ld->err = *e;
    ld->stop = true;
}

/* Events do not always carry the ETag (EventBridge may not; hand-made events do not):
 * the ledger then records the one S3 answered with, so a redelivery still matches. */
static void adopt_response_etag(struct load *ld)
{
    const char *t = ld->info->etag;
    size_t n;

    if (ld->obj.etag[0] || !t[0])
        return;
    if (*t == '"')
        t++;
    n = strlen(t);
    if (n && t[n - 1] == '"')
        n--;
    free(ld->job->etag);
    ld->job->etag = xstrndup(t, n);
    ld->obj.etag = ld->job->etag;
}

static int begin_load(struct load *ld, const struct batch *first, struct ierr *e)
{
    enum column_type *types = NULL;
    bool already = false;
    int rc;

    adopt_response_etag(ld);
    if (ld->job->route->create_table && ld->target.columns) {
        types = xcalloc(ld->target.columns->n ? ld->target.columns->n : 1, sizeof *types);
        infer_column_types(ld->target.columns->n, first, types);
        ld->target.column_types = types;
    }
    rc = fanout_begin(&ld->fo, &ld->obj, &ld->target, &already, e);
    ld->target.column_types = NULL;
    free(types);
    if (rc < 0)
        return -1;
    ld->begun = true;
    if (already) {
        ld->duplicate = true;
        ld->stop = true;
        return -1;
    }
    return 0;
}

static int on_columns(void *arg, const struct strlist *columns, struct ierr *e)
{
    struct load *ld = arg;

    ld->target.columns = columns;
    /* Without create_table nothing waits for rows: check the ledger now. */
    if (!ld->job->route->create_table)
        return begin_load(ld, NULL, e);
    return 0;
}

static int on_batch(void *arg, const struct batch *b, struct ierr *e)
{
    struct load *ld = arg;

    if (atomic_load(&ld->job->cancel)) {
        ierr_set(e, IERR_TRANSIENT, "cancelled by shutdown");
        return -1;
    }
    if (!ld->begun && begin_load(ld, b, e) < 0)
        return -1;
    if (fanout_write(&ld->fo, b, e) < 0)
        return -1;
    return 0;
}

static int on_reject(void *arg, const struct row_reject *r, struct ierr *e)
{
    struct load *ld = arg;

    if (!ld->begun && begin_load(ld, NULL, e) < 0)
        return -1;
    char why[1024];

    ierr_format_position(why, sizeof why, r->line, r->column, NULL, r->reason);
    log_warn("row skipped: %s", why);
    return fanout_reject(&ld->fo, r, e);
}

/* Decompressed bytes into the record parser. */
static int on_plain(void *arg, const void *p, size_t n, struct ierr *e)
{
    struct load *ld = arg;

    return recstream_feed(ld->rs, p, n, e);
}

/* Object bytes from S3 into the decompressor; non-zero aborts the download. */
static int on_object_data(const void *p, size_t n, void *arg)
{
    struct load *ld = arg;
    struct ierr e;

    atomic_fetch_add(&ld->job->bytes, n);
    if (ld->stop)
        return 1;
    memset(&e, 0, sizeof e);
    if (decompress_feed(ld->dz, p, n, &e) < 0) {
        if (!ld->duplicate)
            fail(ld, &e);
        return 1;
    }
    return 0;
}

/* A body from elsewhere (object_source.h): its errors are the load's. */
static int stream_source(struct load *ld)
{
    struct ierr e;

    memset(&e, 0, sizeof e);
    if (ld->job->source->stream(ld->job->source, on_object_data, ld, &e) == 0)
        return 0;
    if (!ld->stop)
        fail(ld, &e);
    return -1;
}

/* S3 errors: a changed object is superseded, throttling and 5xx are transient. */
static void s3_error_to_ierr(const struct aws_error *ae, struct ierr *e)
{
    enum ierr_class cls = ae->retryable ? IERR_TRANSIENT : IERR_PERMANENT;

    if (strcmp(ae->code, S3_CODE_CANCELLED) == 0)
        cls = IERR_TRANSIENT;
    ierr_set(e, cls, "S3 GetObject: %s%s%s (HTTP %ld)", ae->code[0] ? ae->code : "error",
             ae->message[0] ? ": " : "", ae->message, ae->http_status);
}

static void finish_stream(struct load *ld)
{
    struct ierr e;

    memset(&e, 0, sizeof e);
    if (decompress_finish(ld->dz, &e) < 0 || recstream_finish(ld->rs, &e) < 0 ||
        transform_stage_finish(ld->ts, &e) < 0) {
        if (!ld->duplicate)
            fail(ld, &e);
        return;
    }
    /* Columns known but no row arrived (header only): still record the object. */
    if (!ld->begun && ld->target.columns && begin_load(ld, NULL, &e) < 0 && !ld->duplicate)
        fail(ld, &e);
}

static void commit_load(struct load *ld)
{
    struct job *job = ld->job;
    struct csvstream_stats cs;
    bool already = false;
    struct ierr e;
    int rc;

    recstream_get_stats(ld->rs, &cs);
    job->stats.rows = cs.rows;
    job->stats.rejected = cs.rejected;
    job->stats.blank_lines = cs.blank_lines;
    transform_stage_stats(ld->ts, &job->stats);
    job->stats.bytes = atomic_load(&job->bytes);
    if (!ld->begun) {
        /* An object without records: nothing to load and nothing to record. */
        job->result = JOB_LOADED;
        return;
    }
    memset(&e, 0, sizeof e);
    rc = fanout_commit(&ld->fo, &job->stats, &already, &e);
    fanout_results(&ld->fo, job);
    if (rc < 0) {
        fanout_abort(&ld->fo);
        ld->begun = false;
        fail(ld, &e);
        return;
    }
    ld->begun = false;
    job->result = already ? JOB_DUPLICATE : JOB_LOADED;
}

static int setup(struct worker_state *ws, struct load *ld, struct s3_client **s3)
{
    struct job *job = ld->job;
    const struct route_conf *rc = job->route;
    struct csvstream_cb cb = {on_columns, on_batch, on_reject, ld}, parser_cb;
    struct ierr e;

    memset(&e, 0, sizeof e);
    if (route_expand_table(rc, job->bucket, job->key, &job->table, &e) < 0)
        goto fail;
    *s3 = get_s3(ws, job->cfg, &e);
    if (!*s3)
        goto fail;
    if (open_sinks(ws, ld, &e) < 0)
        goto fail;
    if (!ws->transforms)
        ws->transforms = transform_cache_new();
    if (transform_stage_open(ws->transforms, job->cfg, rc,
                             &(struct transform_object){job->bucket, job->key, job->etag, job->size,
                                                        job->event_time_ms},
                             &cb, &parser_cb, &ld->ts, &e) < 0)
        goto fail;
    ld->rs = recstream_new(job->parse ? job->parse : rc, &parser_cb, &e);
    if (!ld->rs)
        goto fail;
    ld->dz = decompress_new(job->parse ? job->parse->compression : rc->compression, on_plain, ld);
    if (rc->zstd_window_max > 0)
        decompress_set_zstd_window_max(ld->dz, (size_t)rc->zstd_window_max);
    ld->obj = (struct load_object){job->bucket,     job->key,       job->etag ? job->etag : "",
                                   job->version_id, job->sequencer, job->size};
    ld->obj.creds = job->creds ? &job->creds->aws : NULL;
    ld->obj.cancel = &job->cancel;
    ld->target.route = rc;
    ld->target.table = job->table;
    return 0;
fail:
    fail(ld, &e);
    return -1;
}

static void drop_sink_after_failure(struct worker_state *ws, const struct load *ld)
{
    /* A transient failure may have left the connection unusable: reopen next time. */
    for (size_t i = 0; i < MAX_SINK_SLOTS; i++)
        if (fanout_failed_transiently(&ld->fo, ws->slots[i].sink))
            slot_close(&ws->slots[i]);
}

/*
 * One pass over the object: stream it into the sink and commit, or roll back. True when
 * the sink asked for the object once more (IERR_RESTART) on a first pass: the job's
 * result is left to the second pass then.
 */
static bool run_pass(struct worker_state *ws, struct job *job, bool restarted)
{
    struct s3_client *s3 = NULL;
    struct s3_object_info info;
    struct aws_error ae;
    struct load ld;
    bool restart;

    memset(&ld, 0, sizeof ld);
    memset(&info, 0, sizeof info);
    ld.job = job;
    ld.info = &info;
    ld.target.restarted = restarted;
    if (setup(ws, &ld, &s3) == 0) {
        struct s3_get_opts g = {.if_match = job->etag && job->etag[0] ? job->etag : NULL,
                                .version_id = job->version_id,
                                .cancel = &job->cancel};
        struct aws_creds none = {0};
        int rc = job->source ? stream_source(&ld)
                             : s3_get_object(s3, job->creds ? &job->creds->aws : &none, job->bucket,
                                             job->key, &g, on_object_data, &ld, &info, &ae);

        if (rc < 0 && !ld.stop) {
            observe_s3_error(&ae);
            if (strcmp(ae.code, S3_CODE_PRECONDITION) == 0) {
                job->result = JOB_SUPERSEDED;
                ld.stop = true;
            } else {
                struct ierr e;
                s3_error_to_ierr(&ae, &e);
                fail(&ld, &e);
            }
        }
        if (rc == 0 && !ld.stop)
            finish_stream(&ld);
        if (!ld.stop)
            commit_load(&ld);
    }
    if (ld.begun)
        fanout_abort(&ld.fo);
    restart = ld.stop && !ld.duplicate && ld.err.cls == IERR_RESTART && !restarted;
    if (ld.duplicate)
        job->result = JOB_DUPLICATE;
    else if (ld.stop && job->result != JOB_SUPERSEDED && !restart) {
        job->err = ld.err;
        if (job->err.cls == IERR_RESTART) /* a sink must not ask twice: retry later */
            job->err.cls = IERR_TRANSIENT;
        job->result = atomic_load(&job->cancel) ? JOB_CANCELLED : JOB_FAILED;
        drop_sink_after_failure(ws, &ld);
    }
    job->stats.bytes = atomic_load(&job->bytes);
    recstream_free(ld.rs);
    transform_stage_close(ld.ts);
    decompress_free(ld.dz);
    return restart;
}

void worker_run(struct worker_state *ws, struct job *job)
{
    const struct log_field ctx[] = {
        {"S3_BUCKET", job->bucket},
        {"S3_KEY", job->key},
        {"ROUTE", job->route->name},
        {"SINK", job->route->nsinks > 1 ? job->route->sink_name : job->route->sink->name},
        {"SQS_MESSAGE_ID", job->message_id},
    };
    uint64_t start = now_monotonic_ms();

    log_context_set(ctx, ARRAY_SIZE(ctx));
    /* A source that cannot be read twice is loaded the plain way from the start. */
    if (run_pass(ws, job, job->source != NULL)) {
        /* The sink rolled back and wants the object again, loaded the plain way. */
        job->restarted = true;
        free(job->table);
        job->table = NULL;
        atomic_store(&job->bytes, 0);
        run_pass(ws, job, true);
    }
    job->duration_ms = now_monotonic_ms() - start;
    log_context_clear();
}

static void *pool_init(void *ctx)
{
    (void)ctx;
    return worker_state_new();
}

static void pool_run(struct pool_item *item, void *state, void *ctx)
{
    (void)ctx;
    worker_run(state, (struct job *)item);
}

static void pool_fini(void *state, void *ctx)
{
    (void)ctx;
    worker_state_free(state);
}

void worker_pool_hooks(struct pool_hooks *hooks)
{
    hooks->init = pool_init;
    hooks->run = pool_run;
    hooks->fini = pool_fini;
    hooks->ctx = NULL;
}
