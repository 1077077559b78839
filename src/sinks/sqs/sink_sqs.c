/*
 * sink_sqs.c: the SQS sink: one JSON message per row (sqs_msg.h) to `queue_url`,
 * with the object recorded in a DynamoDB ledger table (`ledger_table`).
 *
 * A load:
 *   begin   the ledger table is described once per sink and created when missing
 *           (partition key id (S), on-demand, as the DynamoDB sink does; the two
 *           sinks may share it). GetItem(ledger, "s3://BUCKET/KEY#ETAG"), strongly
 *           consistent: present -> already loaded, nothing is sent. Otherwise the
 *           object is claimed (sqs_ledger.h): a worker handling a duplicate event
 *           for the same object at the same moment waits for the first to finish.
 *   write   each row is encoded into its message and appended to a spool file (an
 *           unlinked temporary file in $TMPDIR): nothing is sent while the object is
 *           still being read, so an object that fails (a bad row under
 *           on_error = abort, more than max_errors rejects, a parse error) sends
 *           nothing at all. A row whose message exceeds 256 KiB, or whose value does
 *           not fit its `types` entry, is a row error (rejected under skip_row). A
 *           spool that would grow past `max_spool_bytes` fails the object
 *           (permanent: a small gzip can expand into millions of rows); a write
 *           error such as a full disk fails it as transient.
 *   commit  the spool is sent with SendMessageBatch, up to 10 messages and 256 KiB
 *           per request. Throttling, 5xx and network errors are retried by
 *           http_perform_blocking; entries an answer lists as Failed without
 *           SenderFault are sent again with backoff; a SenderFault entry is a row
 *           error. Then the ledger item is put with attribute_not_exists(id).
 *
 * What exactly once means here. SQS standard queues deliver at least once to
 * consumers, and no SQS call can be committed together with the ledger, so:
 *   - a redelivered S3 event, or any event for an object version whose ledger item
 *     exists, sends nothing;
 *   - a load that fails before commit sends nothing;
 *   - two events for the same version handled at the same moment send once (the
 *     claim), unless the first load runs longer than the claim's lease;
 *   - a load that fails while sending (SQS unreachable after the retries, a crash)
 *     has sent a prefix of the rows; the event is retried and the whole object is
 *     sent again.
 * In those last cases a row is sent more than once, always with the same
 * ingestd_row_id attribute (bucket, key, etag, line): consumers dedupe on it. On a
 * FIFO queue (URL ending in .fifo) it is the MessageDeduplicationId, so SQS itself
 * drops repeats within its 5-minute deduplication window, and MessageGroupId keeps
 * an object's rows in order.
 *
 * The sink runs on a worker thread and blocks. Needs the DynamoDB client (ddb_http)
 * for its ledger, so it is built with the DynamoDB sink.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws_endpoint.h"
#include "aws/creds.h"
#include "sinks/dynamodb/ddb_load.h"
#include "sinks/dynamodb/ddb_proto.h"
#include "aws/http.h"
#include "base/log.h"
#include "aws/secret_source.h"
#include "sinks/sink.h"
#include "sinks/sqs/sqs_ledger.h"
#include "sinks/sqs/sqs_msg.h"

#define SQS_ENTRY_ATTEMPTS 8 /* sends of one entry the answer lists as Failed */

/* One spooled message: this header, then len bytes of entry text (sqs_msg_entry). */
struct spool_rec {
    uint64_t line;
    uint32_t size; /* as SQS counts it */
    uint32_t len;
};

struct pending {
    struct spool_rec h;
    struct buf text;
    int attempts;
};

struct sink {
    char *name, *queue_url, *ledger, *endpoint;
    bool fifo;
    const struct config *cfg; /* the snapshot this sink was opened for */
    struct sqs_ledger *ledger_db;

    /* The load in progress. */
    bool in_load;
    const struct route_conf *route;
    const struct aws_creds *creds;
    struct ddb_load load; /* the object, its columns and rejects, for the ledger item */
    struct sqs_layout layout;
    struct sqs_msg_ctx ctx;
    FILE *spool;
    uint64_t spool_bytes, max_spool; /* bytes written to the spool, and their cap */
    uint64_t spooled, sent;
    struct buf body, entry;
    struct pending batch[SQS_BATCH_MAX_ENTRIES];
    size_t nbatch;
    size_t batch_bytes;
};

/* The ledger item: 0 written, 1 another instance wrote it first, -1 error. */
static int ledger_put(struct sink *s, const struct load_stats *st, struct ierr *e)
{
    struct ddb_ledger_rec rec;

    ddb_load_ledger_rec(&s->load, s->route, s->queue_url, s->sent, st, &rec);
    return sqs_ledger_put(s->ledger_db, &rec, e);
}

/* ---- load state ---- */

static void load_clear(struct sink *s)
{
    sqs_ledger_release(s->ledger_db);
    if (s->spool)
        fclose(s->spool);
    s->spool = NULL;
    sqs_layout_free(&s->layout);
    ddb_load_clear(&s->load);
    for (size_t i = 0; i < SQS_BATCH_MAX_ENTRIES; i++)
        buf_reset(&s->batch[i].text);
    s->nbatch = 0;
    s->batch_bytes = 0;
    buf_reset(&s->body);
    buf_reset(&s->entry);
    s->spooled = s->sent = s->spool_bytes = 0;
    s->route = NULL;
    s->creds = NULL;
    s->in_load = false;
    sqs_ledger_set_creds(s->ledger_db, NULL);
}

/* An unlinked temporary file in $TMPDIR (or /tmp). */
static FILE *spool_open(struct ierr *e)
{
    const char *dir = getenv("TMPDIR");
    char *path = xasprintf("%s/ingestd-sqs-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    FILE *f = NULL;

    if (fd < 0) {
        ierr_set(e, IERR_TRANSIENT, "SQS sink spool file in %s: %s", dir && *dir ? dir : "/tmp",
                 strerror(errno));
    } else {
        unlink(path);
        f = fdopen(fd, "w+");
        if (!f) {
            ierr_set(e, IERR_TRANSIENT, "SQS sink spool file: %s", strerror(errno));
            close(fd);
        }
    }
    free(path);
    return f;
}

static int sqs_open(const struct sink_conf *sc, const struct config *cfg, struct sink **out,
                    struct ierr *e)
{
    struct sqs_ledger *l;
    struct sink *s;
    const char *table = !str_empty(sc->ledger_table) ? sc->ledger_table : "ingestd_ledger";

    *out = NULL;
    if (str_empty(sc->queue_url)) {
        ierr_set(e, IERR_CONFIG, "sink %s: queue_url is required", sc->name);
        return -1;
    }
    l = sqs_ledger_new(cfg, sc->name ? sc->name : "sqs", table, e);
    if (!l)
        return -1;
    s = xcalloc(1, sizeof *s);
    s->name = xstrdup(sc->name ? sc->name : "sqs");
    s->queue_url = xstrdup(sc->queue_url);
    s->ledger = xstrdup(table);
    s->endpoint = aws_endpoint_url(cfg, "sqs");
    s->fifo = sqs_queue_is_fifo(sc->queue_url);
    s->max_spool = sc->max_spool_bytes > 0 ? (uint64_t)sc->max_spool_bytes : (uint64_t)1 << 30;
    s->cfg = cfg;
    s->ledger_db = l;
    ddb_load_init(&s->load);
    log_debug("sink %s: SQS queue %s%s via %s, ledger table %s", s->name, s->queue_url,
              s->fifo ? " (FIFO)" : "", s->endpoint, s->ledger);
    *out = s;
    return 0;
}

static int sqs_begin(struct sink *s, const struct load_object *o, const struct load_target *t,
                     bool *already_loaded, struct ierr *e)
{
    bool found = false;

    *already_loaded = false;
    if (s->in_load)
        load_clear(s);
    /* In an update route (a fan-out with DynamoDB sinks) each row is a message, as in
     * append: a message is not updated. */
    if (t->route && t->route->mode != MODE_APPEND && t->route->mode != MODE_UPDATE) {
        ierr_set(e, IERR_CONFIG, "route %s: mode = %s does not apply to SQS sinks (use append)",
                 t->route->name, t->route->mode == MODE_UPSERT ? "upsert" : "replace");
        return -1;
    }
    if (!t->columns) {
        ierr_set(e, IERR_PERMANENT, "sink %s: the object's columns are unknown", s->name);
        return -1;
    }
    s->creds = o->creds;
    sqs_ledger_set_creds(s->ledger_db, o->creds);
    ddb_load_set_id(&s->load, o);
    s->in_load = true;
    if (sqs_ledger_lookup(s->ledger_db, s->load.ledger_id, &found, e) < 0)
        goto fail;
    if (!found && sqs_ledger_claim(s->ledger_db, s->load.ledger_id, &found, e) < 0)
        goto fail;
    if (found) {
        log_debug("s3://%s/%s (etag %s) is already in %s: no message sent", o->bucket, o->key,
                  o->etag, s->ledger);
        *already_loaded = true;
        load_clear(s);
        return 0;
    }
    s->spool = spool_open(e);
    if (!s->spool)
        goto fail;
    ddb_load_set_object(&s->load, o, t->columns);
    sqs_layout_init(&s->layout, t->columns, t->route);
    s->route = t->route;
    sqs_msg_ctx_init(&s->ctx, s->load.bucket, s->load.key, s->load.etag, s->fifo);
    return 0;
fail:
    load_clear(s);
    return -1;
}

static int spool_row(struct sink *s, const struct row *row, struct ierr *e)
{
    struct spool_rec h;
    struct ierr re;

    buf_reset(&s->body);
    buf_reset(&s->entry);
    if (sqs_msg_body(&s->layout, row, &s->body, &re) < 0)
        return ddb_load_row_error(&s->load, s->route, &re, e);
    h.line = row->line;
    sqs_msg_next_line(&s->ctx, row->line);
    h.size = (uint32_t)sqs_msg_entry(&s->ctx, s->body.data, s->body.len, row->line, &s->entry);
    h.len = (uint32_t)s->entry.len;
    if (h.size > SQS_MSG_MAX_BYTES) {
        ierr_set(&re, IERR_PERMANENT,
                 "line %" PRIu64 ": the message is %" PRIu32 " bytes, over the SQS limit of %zu",
                 row->line, h.size, SQS_MSG_MAX_BYTES);
        re.line = row->line;
        return ddb_load_row_error(&s->load, s->route, &re, e);
    }
    if (sizeof h + h.len > s->max_spool - s->spool_bytes) {
        char max[32];
        size_text(max, sizeof(max), s->max_spool);
        ierr_set(e, IERR_PERMANENT,
                 "line %" PRIu64 ": the object's messages need more than max_spool_bytes = %s "
                 "(sink %s)",
                 row->line, max, s->name);
        e->line = row->line;
        return -1;
    }
    s->spool_bytes += sizeof h + h.len;
    if (fwrite(&h, sizeof h, 1, s->spool) != 1 ||
        fwrite(s->entry.data, 1, s->entry.len, s->spool) != s->entry.len) {
        ierr_set(e, IERR_TRANSIENT, "SQS sink spool file: %s", strerror(errno));
        return -1;
    }
    s->spooled++;
    return 0;
}

static int sqs_write(struct sink *s, const struct batch *b, struct ierr *e)
{
    if (!s->in_load) {
        ierr_set(e, IERR_PERMANENT, "sink %s: write() outside a load", s->name);
        return -1;
    }
    for (size_t i = 0; i < b->nrows; i++) {
        if (spool_row(s, &b->rows[i], e) < 0) {
            load_clear(s);
            return -1;
        }
    }
    return 0;
}

static int sqs_reject(struct sink *s, const struct row_reject *r, struct ierr *e)
{
    if (!s->in_load) {
        ierr_set(e, IERR_PERMANENT, "sink %s: reject() outside a load", s->name);
        return -1;
    }
    ddb_load_reject(&s->load, r);
    return 0;
}

/* ---- sending ---- */

/* One SendMessageBatch of the pending entries; those sent leave the batch. */
static int send_once(struct sink *s, struct ierr *e)
{
    const char *headers[] = {"Content-Type: application/x-amz-json-1.0",
                             "X-Amz-Target: AmazonSQS.SendMessageBatch", NULL};
    struct sqs_failed failed[SQS_BATCH_MAX_ENTRIES];
    struct http_request req;
    struct http_response resp;
    bool keep[SQS_BATCH_MAX_ENTRIES] = {false}, dropped[SQS_BATCH_MAX_ENTRIES] = {false};
    size_t nfailed = 0, n = 0;
    const char *why;
    int rc = -1;

    buf_reset(&s->body);
    sqs_batch_open(&s->body, s->queue_url);
    for (size_t i = 0; i < s->nbatch; i++)
        sqs_batch_add(&s->body, i, s->batch[i].text.data, s->batch[i].text.len);
    sqs_batch_close(&s->body);
    memset(&req, 0, sizeof req);
    req.service = "sqs";
    req.method = "POST";
    req.url = s->endpoint;
    req.headers = headers;
    req.body = s->body.data;
    req.body_len = s->body.len;
    req.creds = s->creds; /* NULL: fails as AWS_ERR_CREDENTIALS, a transient error */
    req.label = "sqs SendMessageBatch";
    if (http_perform_blocking(s->cfg, &req, &resp) < 0) {
        sqs_set_aws_error(e, &resp.err, "SQS SendMessageBatch");
        goto out;
    }
    if (sqs_batch_parse(resp.body.data, resp.body.len, failed, SQS_BATCH_MAX_ENTRIES, &nfailed,
                        &why) < 0) {
        ierr_set(e, IERR_TRANSIENT, "SQS SendMessageBatch: %s", why);
        goto out;
    }
    for (size_t k = 0; k < nfailed; k++) {
        struct pending *p = failed[k].index < s->nbatch ? &s->batch[failed[k].index] : NULL;
        struct ierr re;

        if (!p)
            continue;
        if (!failed[k].sender_fault && ++p->attempts < SQS_ENTRY_ATTEMPTS) {
            keep[failed[k].index] = true;
            continue;
        }
        ierr_set(&re, failed[k].sender_fault ? IERR_PERMANENT : IERR_TRANSIENT,
                 "line %" PRIu64 ": SQS refused the message: %s: %s", p->h.line, failed[k].code,
                 failed[k].message);
        re.line = p->h.line;
        if (!failed[k].sender_fault || ddb_load_row_error(&s->load, s->route, &re, e) < 0) {
            if (!failed[k].sender_fault)
                *e = re;
            goto out;
        }
        dropped[failed[k].index] = true;
    }
    /* compact: entries to send again move to the front */
    for (size_t i = 0; i < s->nbatch; i++) {
        if (!keep[i]) {
            s->sent += !dropped[i];
            s->batch_bytes -= s->batch[i].h.size;
            continue;
        }
        if (n != i) {
            struct pending t = s->batch[n];
            s->batch[n] = s->batch[i];
            s->batch[i] = t;
        }
        n++;
    }
    s->nbatch = n;
    rc = 0;
out:
    http_response_free(&resp);
    return rc;
}

/* Sends the pending entries until none is left (retrying those listed as Failed). */
static int send_pending(struct sink *s, struct ierr *e)
{
    for (int round = 0; s->nbatch > 0; round++) {
        if (round > 0) {
            uint64_t ms = backoff_full_jitter_ms((unsigned)round, 100, 5000);
            struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (send_once(s, e) < 0)
            return -1;
    }
    s->batch_bytes = 0;
    return 0;
}

/* The spool, in requests of at most 10 entries and 256 KiB. */
static int send_spool(struct sink *s, struct ierr *e)
{
    struct spool_rec h;

    if (fflush(s->spool) != 0 || fseek(s->spool, 0, SEEK_SET) != 0) {
        ierr_set(e, IERR_TRANSIENT, "SQS sink spool file: %s", strerror(errno));
        return -1;
    }
    while (fread(&h, sizeof h, 1, s->spool) == 1) {
        struct pending *p;

        if (s->nbatch == SQS_BATCH_MAX_ENTRIES || s->batch_bytes + h.size > SQS_MSG_MAX_BYTES) {
            if (send_pending(s, e) < 0)
                return -1;
        }
        p = &s->batch[s->nbatch];
        p->h = h;
        p->attempts = 0;
        buf_reset(&p->text);
        buf_reserve(&p->text, h.len);
        if (fread(p->text.data, 1, h.len, s->spool) != h.len) {
            ierr_set(e, IERR_TRANSIENT, "SQS sink spool file: short read");
            return -1;
        }
        p->text.len = h.len;
        p->text.data[h.len] = '\0';
        s->nbatch++;
        s->batch_bytes += h.size;
    }
    if (ferror(s->spool)) {
        ierr_set(e, IERR_TRANSIENT, "SQS sink spool file: %s", strerror(errno));
        return -1;
    }
    return send_pending(s, e);
}

static int sqs_commit(struct sink *s, const struct load_stats *st, bool *already_loaded,
                      struct ierr *e)
{
    int rc = -1;

    *already_loaded = false;
    if (!s->in_load) {
        ierr_set(e, IERR_PERMANENT, "sink %s: commit() outside a load", s->name);
        return -1;
    }
    if (send_spool(s, e) < 0)
        goto out;
    switch (ledger_put(s, st, e)) { /* the claim is released by load_clear() */
    case 0:
        log_debug("loaded %" PRIu64 " rows (%" PRIu64 " rejected) from s3://%s/%s as messages "
                  "to %s",
                  s->sent, s->load.parse_rejects + s->load.row_rejects, s->load.bucket, s->load.key,
                  s->queue_url);
        rc = 0;
        break;
    case 1:
        log_warn("s3://%s/%s (etag %s) was loaded meanwhile by another worker: its %" PRIu64
                 " messages were sent twice (consumers dedupe on ingestd_row_id)",
                 s->load.bucket, s->load.key, s->load.etag, s->sent);
        *already_loaded = true;
        rc = 0;
        break;
    default:
        break;
    }
out:
    load_clear(s);
    return rc;
}

static void sqs_abort(struct sink *s)
{
    if (s && s->in_load)
        load_clear(s);
}

static void sqs_close(struct sink *s)
{
    if (!s)
        return;
    load_clear(s);
    sqs_ledger_free(s->ledger_db);
    for (size_t i = 0; i < SQS_BATCH_MAX_ENTRIES; i++)
        buf_free(&s->batch[i].text);
    buf_free(&s->body);
    buf_free(&s->entry);
    ddb_load_free(&s->load);
    free(s->endpoint);
    free(s->ledger);
    free(s->queue_url);
    free(s->name);
    free(s);
}

/* `ingestd check`: the queue answers GetQueueAttributes and the ledger table is usable. */
static int sqs_check(const struct sink_conf *sc, const struct config *cfg, struct ierr *e)
{
    const char *headers[] = {"Content-Type: application/x-amz-json-1.0",
                             "X-Amz-Target: AmazonSQS.GetQueueAttributes", NULL};
    struct creds *cr = secret_source_get_creds();
    struct http_request req;
    struct http_response resp;
    struct sink *s = NULL;
    struct buf body;
    int rc = -1;

    buf_init(&body);
    if (sqs_open(sc, cfg, &s, e) < 0)
        goto out;
    buf_puts(&body, "{\"QueueUrl\":");
    sqs_json_string(&body, s->queue_url, strlen(s->queue_url));
    buf_puts(&body, ",\"AttributeNames\":[\"QueueArn\"]}");
    memset(&req, 0, sizeof req);
    req.service = "sqs";
    req.method = "POST";
    req.url = s->endpoint;
    req.headers = headers;
    req.body = body.data;
    req.body_len = body.len;
    req.creds = cr ? &cr->aws : NULL;
    req.label = "sqs GetQueueAttributes";
    if (http_perform_blocking(cfg, &req, &resp) < 0) {
        sqs_set_aws_error(e, &resp.err, "SQS GetQueueAttributes");
        http_response_free(&resp);
        goto out;
    }
    http_response_free(&resp);
    sqs_ledger_set_creds(s->ledger_db, cr ? &cr->aws : NULL);
    rc = sqs_ledger_describe(s->ledger_db, e);
    if (rc >= 0) {
        ierr_set(e, IERR_NONE, "SQS queue %s%s; ledger table %s %s", s->queue_url,
                 s->fifo ? " (FIFO)" : "", s->ledger,
                 rc == 1 ? "will be created at the first load" : "exists");
        rc = 0;
    }
out:
    buf_free(&body);
    sqs_close(s);
    creds_unref(cr);
    return rc;
}

const struct sink_ops sink_sqs_ops = {
    .name = "sqs",
    .type = SINK_SQS,
    .max_batch_rows = 0,
    .open = sqs_open,
    .begin = sqs_begin,
    .write = sqs_write,
    .reject = sqs_reject,
    .commit = sqs_commit,
    .abort = sqs_abort,
    .close = sqs_close,
    .check = sqs_check,
};
