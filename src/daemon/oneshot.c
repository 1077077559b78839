/*
 * oneshot.c: the modes that do one thing and exit: `ingestd check` (operator
 * preflight) and `ingestd load s3://BUCKET/KEY` (load one object now).
 *
 * Both reuse the daemon's parts: the credential chain resolved once, the SQS client
 * on a private loop, and worker_run() on the calling thread, so a backfill takes
 * exactly the path (and the ledger) an event would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "daemon/daemon.h"
#include "aws/http.h"
#include "daemon/job.h"
#include "base/log.h"
#include "base/loop.h"
#include "daemon/route.h"
#include "aws/s3.h"
#include "aws/secret_source.h"
#include "sinks/sink.h"
#include "aws/sqs.h"
#include "base/util.h"
#include "daemon/worker.h"

#define EXIT_RUNTIME     3
#define CREDS_TIMEOUT_MS 15000

/* ---- ingestd check ---- */

struct attrs_call {
    struct loop *loop;
    bool done;
    struct aws_error err;
    struct sqs_queue_attrs attrs;
    bool have_attrs;
};

static int fixed_creds(void *arg, struct aws_creds *out)
{
    *out = ((struct creds *)arg)->aws;
    return 0;
}

static void on_attrs(void *arg, const struct aws_error *err, const struct sqs_queue_attrs *a)
{
    struct attrs_call *c = arg;

    c->done = true;
    c->err = *err;
    if (err->kind == AWS_OK && a) {
        c->attrs = *a;
        c->attrs.queue_arn = a->queue_arn ? xstrdup(a->queue_arn) : NULL;
        c->attrs.dead_letter_target_arn = a->dead_letter_target_arn
                                              ? xstrdup(a->dead_letter_target_arn)
                                              : NULL;
        c->have_attrs = true;
    }
    loop_stop(c->loop);
}

/* GetQueueAttributes on a private loop; 0 with c filled, -1 with c->err. */
static int queue_attributes(struct config *cfg, struct creds *cr, const char *url,
                            struct attrs_call *c)
{
    struct http *h;
    struct sqs *s;

    memset(c, 0, sizeof *c);
    c->loop = loop_new();
    if (!c->loop)
        return -1;
    h = http_new(c->loop, cfg);
    s = h ? sqs_new(h, cfg) : NULL;
    if (s) {
        http_set_creds_source(h, fixed_creds, cr);
        sqs_get_attributes(s, url, on_attrs, c);
        loop_run(c->loop);
    }
    sqs_free(s);
    http_free(h);
    loop_free(c->loop);
    return c->done && c->err.kind == AWS_OK ? 0 : -1;
}

static void report(bool ok, const char *what, const char *detail)
{
    printf("%-4s %s: %s\n", ok ? "ok" : "FAIL", what, detail);
}

static bool check_queue(struct config *cfg, struct creds *cr, const char *label, const char *url,
                        bool want_redrive)
{
    struct attrs_call c;
    char line[1024];
    bool ok = queue_attributes(cfg, cr, url, &c) == 0;

    if (!ok) {
        snprintf(line, sizeof line, "%s: %s: %s", url, c.err.code[0] ? c.err.code : "error",
                 c.err.message);
    } else if (want_redrive && c.attrs.has_redrive) {
        snprintf(line, sizeof line, "%s: redrive to %s after %d receives", url,
                 c.attrs.dead_letter_target_arn, c.attrs.max_receive_count);
    } else if (want_redrive) {
        snprintf(line, sizeof line,
                 "%s: reachable, but it has no redrive policy: failing "
                 "messages are retried forever",
                 url);
    } else {
        snprintf(line, sizeof line, "%s: reachable", url);
    }
    report(ok, label, line);
    sqs_queue_attrs_free(&c.attrs);
    return ok;
}

int daemon_preflight(struct config *cfg)
{
    char err[512], line[1024];
    struct creds *cr = creds_resolve_once(cfg, CREDS_TIMEOUT_MS, err, sizeof err);
    bool ok = true;

    if (!cr) {
        report(false, "credentials", err);
        return EXIT_RUNTIME;
    }
    snprintf(line, sizeof line, "%s%s%s, access key %s", cr->source, cr->detail ? ", " : "",
             cr->detail ? cr->detail : "", cr->aws.access_key_id);
    report(true, "credentials", line);
    secret_source_set_creds(cr);
    ok &= check_queue(cfg, cr, "queue", cfg->sqs.queue_url, true);
    if (!str_empty(cfg->sqs.dlq_url))
        ok &= check_queue(cfg, cr, "dlq", cfg->sqs.dlq_url, false);
    for (size_t i = 0; i < cfg->nsinks; i++) {
        const struct sink_conf *sc = &cfg->sinks[i];
        const struct sink_ops *ops = sink_ops_for(sc->type);
        struct ierr e;
        char label[160];

        memset(&e, 0, sizeof e);
        snprintf(label, sizeof label, "sink %s", sc->name);
        if (!ops) {
            report(false, label, "this build does not include its type");
            ok = false;
        } else if (ops->check(sc, cfg, &e) < 0) {
            report(false, label, e.reason);
            ok = false;
        } else {
            report(true, label, e.reason[0] ? e.reason : "connected");
        }
    }
    secret_source_set_creds(NULL);
    creds_unref(cr);
    return ok ? 0 : EXIT_RUNTIME;
}

/* ---- ingestd load ---- */

static int parse_s3_url(const char *url, char **bucket, char **key)
{
    const char *b, *slash;

    if (!str_has_prefix(url, "s3://"))
        return -1;
    b = url + 5;
    slash = strchr(b, '/');
    if (!slash || slash == b || slash[1] == '\0')
        return -1;
    *bucket = xstrndup(b, (size_t)(slash - b));
    *key = xstrdup(slash + 1);
    return 0;
}

/* The object's current ETag and size, so the ledger records what was loaded. */
static int head(struct config *cfg, struct creds *cr, struct job *j)
{
    struct s3_object_info info;
    struct aws_error ae;
    struct ierr e;
    struct s3_client *s3 = worker_s3_client_new(cfg, &e);
    int rc;

    if (!s3) {
        log_err("%s", e.reason);
        return -1;
    }
    memset(&info, 0, sizeof info);
    rc = s3_head_object(s3, &cr->aws, j->bucket, j->key, NULL, &info, &ae);
    s3_client_free(s3);
    if (rc < 0) {
        log_err("s3://%s/%s: %s: %s", j->bucket, j->key, ae.code, ae.message);
        return -1;
    }
    /* The ledger keeps ETags without their quotes, as events carry them. */
    j->etag = xstrdup(info.etag[0] == '"' ? info.etag + 1 : info.etag);
    if (j->etag[0] && j->etag[strlen(j->etag) - 1] == '"')
        j->etag[strlen(j->etag) - 1] = '\0';
    j->size = info.size;
    if (info.version_id[0])
        j->version_id = xstrdup(info.version_id);
    return 0;
}

int daemon_load_one(struct config *cfg, const char *s3_url, const char *route_name)
{
    const struct route_conf *rc;
    struct worker_state *ws = NULL;
    struct creds *cr = NULL;
    struct job *j = NULL;
    char *bucket = NULL, *key = NULL;
    char blank[48];
    char err[512], target[512];
    int status = EXIT_RUNTIME;

    if (parse_s3_url(s3_url, &bucket, &key) < 0) {
        log_err("%s: not an s3://BUCKET/KEY URL", s3_url);
        return 2;
    }
    rc = route_name ? config_find_route(cfg, route_name) : route_match(cfg, bucket, key);
    if (!rc) {
        log_err(route_name ? "no route named %s" : "no route matches s3://%s/%s",
                route_name ? route_name : bucket, key);
        goto out;
    }
    cr = creds_resolve_once(cfg, CREDS_TIMEOUT_MS, err, sizeof err);
    if (!cr) {
        log_err("credentials: %s", err);
        goto out;
    }
    secret_source_set_creds(cr);
    j = job_new(cfg, rc);
    j->bucket = bucket;
    j->key = key;
    bucket = key = NULL;
    j->creds = creds_ref(cr);
    j->message_id = xstrdup("-");
    if (head(cfg, cr, j) < 0)
        goto out;
    ws = worker_state_new();
    worker_run(ws, j);
    switch (j->result) {
    case JOB_LOADED:
        printf("loaded s3://%s/%s into %s: %llu rows, %llu bytes in %llu ms%s\n", j->bucket, j->key,
               job_target(j, target, sizeof target), (unsigned long long)j->stats.rows,
               (unsigned long long)j->stats.bytes, (unsigned long long)j->duration_ms,
               job_blank_note(j, blank, sizeof blank));
        status = 0;
        break;
    case JOB_DUPLICATE:
        printf("s3://%s/%s (etag %s) was already loaded: nothing to do\n", j->bucket, j->key,
               j->etag);
        status = 0;
        break;
    case JOB_SUPERSEDED:
        log_err("s3://%s/%s changed while it was read: run the load again", j->bucket, j->key);
        break;
    default: {
        char why[sizeof j->err.reason + sizeof j->err.column_name + 64];
        ierr_describe(&j->err, why, sizeof why);
        log_err("%s failure: %s", ierr_class_name(j->err.cls), why);
        break;
    }
    }
out:
    worker_state_free(ws);
    job_free(j);
    secret_source_set_creds(NULL);
    creds_unref(cr);
    free(bucket);
    free(key);
    return status;
}
