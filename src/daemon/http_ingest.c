/*
 * http_ingest.c: the ingest routes on the [http] listener (see http_ingest.h).
 *
 * DESIGN
 * on_head checks, in this order: the size of the head (431, or 414 for the request
 * line), the token (401), the path and its route (404), the method (405), the
 * Idempotency-Key (400), the size of the body (413) and the media type and
 * encoding (415). Then the job is made, with a body pipe as its source, and goes to
 * the workers once the body is complete or START_BYTES of it have arrived; from then
 * the worker parses while the body arrives: on_body writes into the pipe, and a
 * full pipe suspends the connection until the worker has drained it (the wake
 * eventfd). PUT writes its one record, built from the query string as a JSON
 * object, and closes the pipe in the head. The job comes back through its on_done
 * hook: the answer is written, the request resumed, and the request logged.
 *
 * The ledger key of a request: bucket "http", key "ROUTE/IDEMPOTENCY-KEY" (or
 * "ROUTE/" and 32 random hex digits without the header, so that each request is a
 * new load), etag the first 32 hex digits of the SHA-256 of that key. A repeated
 * Idempotency-Key on the same route finds its ledger row and writes nothing.
 */
#include "daemon/http_ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "aws/creds.h"
#include "base/log.h"
#include "base/utf8.h"
#include "base/util.h"
#include "daemon/app.h"
#include "daemon/body_pipe.h"
#include "daemon/http_tokens.h"
#include "daemon/job.h"
#include "daemon/observe.h"
#include "daemon/pool.h"
#include "httpd/httpd.h"

#define PATH_PREFIX "/v1/ingest/"
#define PIPE_BYTES  (4 * 1024 * 1024)
/* A load takes a worker once its body is complete or this much of it has arrived, so that
 * slow clients sending small bodies hold memory, never a worker. */
#define START_BYTES     (256 * 1024)
#define HEAD_TIMEOUT_MS 5000
/* The largest request head taken: a larger one is refused first, while its connection
 * still has room for that answer (see httpd_head_refusal()). */
#define HEAD_MAX_BYTES (256 * 1024)
#define IDEM_KEY_MAX   200
#define PUT_MAX_BYTES  (1024 * 1024)
#define RETRY_AFTER    "5"
#define JSON_TYPE      "application/json"

struct ireq {
    struct ireq *next, *prev;
    struct http_ingest *ing;
    struct httpd_req *r; /* NULL once the connection has gone */
    struct job *job;     /* NULL once it came back */
    struct body_pipe *pipe;
    struct route_conf parse; /* the route as this request's body is parsed */
    char route[128];
    char method[8];
    char peer[64];
    uint64_t start_us, body_bytes;
    bool waits_for_room;
    bool closed_pipe;
    bool accounted; /* its log line is written */
    bool submitted; /* its job is in the pool */
};

struct http_ingest {
    struct app *app;
    struct httpd *srv;
    int wake_fd;
    struct http_tokens *tokens;
    struct ireq *reqs;
    size_t running;
};

/* ---- answers ---- */

static void answer_json(struct ireq *q, struct httpd_req *r, int status, json_t *body,
                        const char *const *extra)
{
    char *text = json_dumps(body, JSON_COMPACT);
    size_t n = text ? strlen(text) : 0;

    (void)q;
    if (text) {
        text = xrealloc(text, n + 2);
        text[n++] = '\n';
        text[n] = '\0';
    }
    httpd_respond(r, status, JSON_TYPE, text ? text : "", n, extra);
    free(text);
    json_decref(body);
}

static void answer_error(struct httpd_req *r, int status, const char *reason,
                         const char *const *extra)
{
    char clean[512];

    utf8_sample(clean, sizeof clean, reason, strlen(reason));
    answer_json(NULL, r, status, json_pack("{s:[{s:s}]}", "errors", "reason", clean), extra);
}

/* The request's log line and metrics, for an answer given in the head as for a load. */
static void account(struct ireq *q, const char *route, int status, uint64_t rows)
{
    uint64_t ms = (now_monotonic_us() - q->start_us) / 1000;
    char rows_s[24], ms_s[24], st_s[12];
    const struct log_field f[] = {
        {"ROUTE", route},      {"ROWS", rows_s},       {"DURATION_MS", ms_s},
        {"HTTP_STATUS", st_s}, {"HTTP_PEER", q->peer}, {"HTTP_METHOD", q->method},
    };

    if (q->accounted)
        return;
    q->accounted = true;
    snprintf(rows_s, sizeof rows_s, "%llu", (unsigned long long)rows);
    snprintf(ms_s, sizeof ms_s, "%llu", (unsigned long long)ms);
    snprintf(st_s, sizeof st_s, "%d", status);
    log_fields(status < 400 ? LOG_INFO : LOG_NOTICE, f, ARRAY_SIZE(f),
               "http %s route %s from %s: %d, %llu rows in %llu ms", q->method, route, q->peer,
               status, (unsigned long long)rows, (unsigned long long)ms);
    observe_http(route, status, q->body_bytes, ms);
}

/* ---- requests ---- */

static struct ireq *ireq_new(struct http_ingest *ing, struct httpd_req *r)
{
    struct ireq *q = xcalloc(1, sizeof *q);

    q->ing = ing;
    q->r = r;
    q->start_us = now_monotonic_us();
    snprintf(q->method, sizeof q->method, "%s", httpd_method(r));
    snprintf(q->peer, sizeof q->peer, "%s", httpd_peer(r));
    q->next = ing->reqs;
    if (ing->reqs)
        ing->reqs->prev = q;
    ing->reqs = q;
    return q;
}

static void ireq_free(struct ireq *q)
{
    struct http_ingest *ing = q->ing;

    if (q->prev)
        q->prev->next = q->next;
    else
        ing->reqs = q->next;
    if (q->next)
        q->next->prev = q->prev;
    body_pipe_unref(q->pipe);
    free(q);
}

static const struct route_conf *find_route(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (cfg->routes[i].http && strcmp(cfg->routes[i].name, name) == 0)
            return &cfg->routes[i];
    return NULL;
}

/* "text/csv; charset=utf-8" -> FORMAT_CSV; -1 for a media type we do not read. */
static int format_of(const char *ctype)
{
    static const struct {
        const char *type;
        enum input_format f;
    } types[] = {
        {"text/csv", FORMAT_CSV},
        {"text/tab-separated-values", FORMAT_TSV},
        {"application/x-ndjson", FORMAT_JSONL},
        {"application/jsonl", FORMAT_JSONL},
        {"application/json", FORMAT_JSON},
    };
    size_t n = strcspn(ctype, ";");

    while (n && (ctype[n - 1] == ' ' || ctype[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        if (strlen(types[i].type) == n && strncasecmp(ctype, types[i].type, n) == 0)
            return (int)types[i].f;
    return -1;
}

static int compression_of(const char *enc)
{
    if (!enc || !*enc || strcasecmp(enc, "identity") == 0)
        return COMPRESSION_NONE;
    if (strcasecmp(enc, "gzip") == 0 || strcasecmp(enc, "x-gzip") == 0)
        return COMPRESSION_GZIP;
    if (strcasecmp(enc, "zstd") == 0)
        return COMPRESSION_ZSTD;
    return -1;
}

static bool idem_key_ok(const char *k)
{
    size_t n = strlen(k);

    if (n == 0 || n > IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] <= ' ' || k[i] > '~')
            return false;
    return true;
}

/* ---- PUT: one record from the query string ---- */

struct put_walk {
    const struct route_conf *rc;
    json_t *rec;
    char err[300];
};

static bool put_arg(void *arg, const char *k, const char *v)
{
    struct put_walk *w = arg;
    char shown[128];
    bool known = w->rc->columns.n == 0;

    utf8_sample(shown, sizeof shown, k, strlen(k));
    for (size_t i = 0; i < w->rc->columns.n && !known; i++)
        known = strcmp(w->rc->columns.v[i], k) == 0;
    if (!*k || !known) {
        snprintf(w->err, sizeof w->err, "query parameter \"%s\" is not a column of route %s", shown,
                 w->rc->name);
        return false;
    }
    if (json_object_get(w->rec, k)) {
        snprintf(w->err, sizeof w->err, "query parameter \"%s\" given more than once", shown);
        return false;
    }
    if (!utf8_valid(k, strlen(k), NULL) || (v && !utf8_valid(v, strlen(v), NULL))) {
        snprintf(w->err, sizeof w->err, "query parameter \"%s\" is not valid UTF-8", shown);
        return false;
    }
    json_object_set_new(w->rec, k, v ? json_string(v) : json_null());
    return true;
}

/* The record as one JSON line, or NULL with err set. */
static char *put_record(struct httpd_req *r, const struct route_conf *rc, char *err, size_t errlen)
{
    struct put_walk w = {rc, json_object(), ""};
    char *line = NULL;

    httpd_args(r, put_arg, &w);
    if (w.err[0])
        snprintf(err, errlen, "%s", w.err);
    else if (json_object_size(w.rec) == 0)
        snprintf(err, errlen, "PUT takes one record as query parameters: ?column=value&...");
    else
        line = json_dumps(w.rec, JSON_COMPACT);
    json_decref(w.rec);
    if (line && strlen(line) > PUT_MAX_BYTES) {
        snprintf(err, errlen, "the record is over %d bytes", PUT_MAX_BYTES);
        free(line);
        line = NULL;
    }
    return line;
}

/* ---- the job ---- */

static void job_done(struct job *j);

static void ledger_key(struct job *j, const char *route, const char *idem)
{
    unsigned char d[SHA256_DIGEST_LENGTH], rnd[16];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    struct buf b;

    buf_init(&b);
    if (idem) {
        buf_printf(&b, "%s/%s", route, idem);
    } else {
        char r[33];
        if (RAND_bytes(rnd, sizeof rnd) != 1)
            for (size_t i = 0; i < sizeof rnd; i++)
                rnd[i] = (unsigned char)(now_monotonic_us() >> (i % 8));
        hex_encode(rnd, sizeof rnd, r);
        buf_printf(&b, "%s/%s", route, r);
    }
    SHA256((const unsigned char *)b.data, b.len, d);
    hex_encode(d, sizeof d, hex);
    hex[32] = '\0';
    j->bucket = xstrdup("http");
    j->key = buf_steal(&b);
    j->etag = xstrdup(hex);
}

static void start_job(struct http_ingest *ing, struct ireq *q, const struct route_conf *rc,
                      const char *idem)
{
    struct app *app = ing->app;
    struct job *j = job_new(app->cfg, rc);

    ledger_key(j, rc->name, idem);
    j->creds = creds_current(app->creds);
    j->parse = &q->parse;
    j->on_done = job_done;
    j->owner = q;
    q->pipe = body_pipe_new(PIPE_BYTES, ing->wake_fd, &j->cancel,
                            (unsigned)app->cfg->http.timeout * 1000u);
    j->source = body_pipe_source(q->pipe);
    q->job = j;
}

static void submit_job(struct http_ingest *ing, struct ireq *q)
{
    if (!q->job || q->submitted)
        return;
    q->submitted = true;
    ing->running++;
    pool_submit(ing->app->pool, &q->job->item);
}

/* A job that never ran (its body did not arrive): nothing to roll back. */
static void drop_unsubmitted(struct ireq *q)
{
    if (!q->job || q->submitted)
        return;
    body_pipe_unref(q->pipe); /* the job's reference */
    q->job->source = NULL;
    job_free(q->job);
    q->job = NULL;
}

static json_t *error_entry(const struct ierr *e)
{
    return json_pack("{s:I,s:I,s:s,s:s,s:s}", "line", (json_int_t)e->line, "column",
                     (json_int_t)e->column, "column_name", e->column_name, "reason", e->reason,
                     "sample", e->sample);
}

static void job_done(struct job *j)
{
    static const char *const retry[] = {"Retry-After", RETRY_AFTER, NULL};
    struct ireq *q = j->owner;
    struct http_ingest *ing = q->ing;
    struct httpd_req *r = q->r;
    int status = 200;
    json_t *body = NULL;

    ing->running--;
    q->job = NULL;
    switch (j->result) {
    case JOB_LOADED:
        body = json_pack("{s:I,s:I}", "rows", (json_int_t)j->stats.rows, "rejected",
                         (json_int_t)j->stats.rejected);
        break;
    case JOB_DUPLICATE:
        body = json_pack("{s:I,s:I,s:b}", "rows", 0, "rejected", 0, "already_loaded", 1);
        break;
    case JOB_SUPERSEDED:
    case JOB_CANCELLED:
        status = 503;
        body = json_pack("{s:[{s:s}]}", "errors", "reason", "the daemon is stopping");
        break;
    case JOB_FAILED:
        status = j->err.cls == IERR_PERMANENT ? 400 : 503;
        body = json_pack("{s:[o]}", "errors", error_entry(&j->err));
        break;
    }
    if (r && !httpd_responded(r)) {
        answer_json(q, r, status, body ? body : json_object(), status == 503 ? retry : NULL);
        body = NULL;
        account(q, q->route, status, j->result == JOB_LOADED ? j->stats.rows : 0);
        httpd_resume(r);
    } else if (!r) {
        account(q, q->route, 499, 0);
    }
    json_decref(body);
    if (j->result == JOB_FAILED && status != 400) {
        char why[sizeof j->err.reason + 64];
        ierr_describe(&j->err, why, sizeof why);
        log_warn("http load for route %s failed: %s", q->route, why);
    }
    body_pipe_unref(q->pipe); /* the job's reference */
    j->source = NULL;
    job_free(j);
    if (!q->r)
        ireq_free(q);
    if (ing->app->stopping && !ing->running && ing->app->exit_after_http)
        loop_stop(ing->app->loop);
}

/* ---- the server's callbacks ---- */

static void on_head(void *arg, struct httpd_req *r)
{
    static const char *const allow[] = {"Allow", "POST, PUT", NULL};
    static const char *const bearer[] = {"WWW-Authenticate", "Bearer", NULL};
    struct http_ingest *ing = arg;
    const struct config *cfg = ing->app->cfg;
    const char *path = httpd_path(r), *method = httpd_method(r);
    const char *idem = httpd_header(r, "Idempotency-Key");
    const char *clen = httpd_header(r, "Content-Length");
    const struct route_conf *rc = NULL;
    struct ireq *q = ireq_new(ing, r);
    bool put = strcmp(method, "PUT") == 0;
    char why[400];
    int fmt, comp, status;

    httpd_set_data(r, q);
    snprintf(q->route, sizeof q->route, "-");
    if ((status = httpd_head_refusal(r)) != 0) {
        answer_error(r, status, "the request head is over 256 KiB", NULL);
        account(q, q->route, status, 0);
        return;
    }
    if (cfg->http.auth == HTTP_AUTH_TOKEN &&
        !http_tokens_check(ing->tokens, httpd_header(r, "Authorization"))) {
        answer_error(r, 401, "missing or unknown bearer token", bearer);
        account(q, q->route, 401, 0);
        return;
    }
    if (str_has_prefix(path, PATH_PREFIX))
        rc = find_route(cfg, path + strlen(PATH_PREFIX));
    if (!rc) {
        answer_error(r, 404, "no such route accepts HTTP: POST or PUT " PATH_PREFIX "ROUTE", NULL);
        account(q, q->route, 404, 0);
        return;
    }
    snprintf(q->route, sizeof q->route, "%s", rc->name);
    if (!put && strcmp(method, "POST") != 0) {
        answer_error(r, 405, "use POST (rows in the body) or PUT (one record in the query)", allow);
        account(q, q->route, 405, 0);
        return;
    }
    if (idem && !idem_key_ok(idem)) {
        answer_error(r, 400, "Idempotency-Key: 1 to 200 printable ASCII characters", NULL);
        account(q, q->route, 400, 0);
        return;
    }
    q->parse = *rc;
    if (put && ((clen && strcmp(clen, "0") != 0) || httpd_header(r, "Transfer-Encoding"))) {
        answer_error(r, 400, "PUT takes its record from the query string and no body", NULL);
        account(q, q->route, 400, 0);
        return;
    }
    if (put) {
        char *line = put_record(r, rc, why, sizeof why);
        if (!line) {
            answer_json(q, r, 400,
                        json_pack("{s:[{s:I,s:I,s:s,s:s,s:s}]}", "errors", "line", 1, "column", 0,
                                  "column_name", "", "reason", why, "sample", ""),
                        NULL);
            account(q, q->route, 400, 0);
            return;
        }
        q->parse.format = FORMAT_JSONL;
        q->parse.json_path = NULL;
        q->parse.compression = COMPRESSION_NONE;
        start_job(ing, q, rc, idem);
        q->body_bytes = strlen(line);
        body_pipe_write(q->pipe, line, strlen(line));
        body_pipe_close(q->pipe);
        q->closed_pipe = true;
        free(line);
        submit_job(ing, q);
        return;
    }
    if (clen && strtoull(clen, NULL, 10) > (unsigned long long)cfg->http.max_body) {
        snprintf(why, sizeof why, "the body is over max_body (%lld bytes)",
                 (long long)cfg->http.max_body);
        answer_error(r, 413, why, NULL);
        account(q, q->route, 413, 0);
        return;
    }
    fmt = httpd_header(r, "Content-Type") ? format_of(httpd_header(r, "Content-Type"))
                                          : (int)rc->format;
    comp = compression_of(httpd_header(r, "Content-Encoding"));
    if (fmt < 0 || comp < 0) {
        answer_error(r, 415,
                     fmt < 0 ? "Content-Type: text/csv, text/tab-separated-values, "
                               "application/x-ndjson, application/jsonl or application/json"
                             : "Content-Encoding: gzip, zstd or identity",
                     NULL);
        account(q, q->route, 415, 0);
        return;
    }
    if ((enum input_format)fmt != rc->format) {
        q->parse.format = (enum input_format)fmt;
        q->parse.delimiter = fmt == FORMAT_TSV ? '\t' : ',';
    }
    q->parse.compression = (enum compression)comp;
    start_job(ing, q, rc, idem);
}

/* Refuses a request whose body has begun: the load, if it runs, stops before its commit. */
static void refuse_body(struct ireq *q, struct httpd_req *r, int status, const char *why)
{
    body_pipe_abort(q->pipe, why);
    q->closed_pipe = true;
    drop_unsubmitted(q);
    answer_error(r, status, why, NULL);
    account(q, q->route, status, 0);
}

static size_t on_body(void *arg, struct httpd_req *r, const char *p, size_t n)
{
    struct http_ingest *ing = arg;
    struct ireq *q = httpd_data(r);
    size_t took;

    if (!q || !q->pipe || q->closed_pipe)
        return n;
    if (q->body_bytes + n > (uint64_t)ing->app->cfg->http.max_body) {
        char why[128];
        snprintf(why, sizeof why, "the body is over max_body (%lld bytes)",
                 (long long)ing->app->cfg->http.max_body);
        refuse_body(q, r, 413, why);
        return n;
    }
    took = body_pipe_write(q->pipe, p, n);
    q->body_bytes += took;
    q->waits_for_room = took < n;
    if (q->body_bytes >= START_BYTES || took < n)
        submit_job(ing, q);
    return took;
}

/* Trailers land in the memory the head left: past the cap, the answer might not fit,
 * so the load is stopped before its end, which it waits for to commit. */
static bool trailers_too_large(struct ireq *q, struct httpd_req *r)
{
    static const char why[] = "the request head with the body's trailers is over 256 KiB";
    int status = httpd_head_refusal(r);

    if (status)
        refuse_body(q, r, status, why);
    return status != 0;
}

static void on_end(void *arg, struct httpd_req *r)
{
    struct ireq *q = httpd_data(r);

    if (q && q->pipe && !q->closed_pipe && !trailers_too_large(q, r)) {
        body_pipe_close(q->pipe);
        q->closed_pipe = true;
        submit_job(arg, q);
    }
}

static void on_close(void *arg, struct httpd_req *r)
{
    struct ireq *q = httpd_data(r);

    (void)arg;
    if (!q)
        return;
    q->r = NULL;
    if (q->pipe && !q->closed_pipe)
        body_pipe_abort(q->pipe, "the client closed the connection before the end of the body");
    drop_unsubmitted(q);
    if (!q->job)
        ireq_free(q);
}

/* A worker made room in a pipe whose connection waits: resume it. */
static void on_wake(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct http_ingest *ing = arg;
    eventfd_t v;

    (void)l;
    (void)events;
    (void)eventfd_read(fd, &v);
    for (struct ireq *q = ing->reqs; q; q = q->next) {
        if (q->waits_for_room && q->r && body_pipe_has_room(q->pipe)) {
            q->waits_for_room = false;
            httpd_resume(q->r);
        }
    }
}

/* ---- lifecycle ---- */

static int load_tokens(struct http_ingest *ing, const struct config *cfg)
{
    struct http_tokens *t;
    char err[512];

    if (cfg->http.auth != HTTP_AUTH_TOKEN || !cfg->http.token_file) {
        http_tokens_free(ing->tokens);
        ing->tokens = NULL;
        return 0;
    }
    t = http_tokens_load(cfg->http.token_file, err, sizeof err);
    if (!t) {
        log_err("[http] token_file: %s%s", err,
                ing->tokens ? "; keeping the tokens read before" : "");
        return -1;
    }
    http_tokens_free(ing->tokens);
    ing->tokens = t;
    log_info("[http] %zu bearer token%s from %s", http_tokens_count(t),
             http_tokens_count(t) == 1 ? "" : "s", cfg->http.token_file);
    return 0;
}

int http_ingest_start(struct app *app)
{
    const struct config *cfg = app->cfg;
    struct http_ingest *ing;
    struct httpd_opts o = {
        .name = "http listener",
        .max_conns = (unsigned)cfg->http.max_connections,
        .head_timeout_ms = HEAD_TIMEOUT_MS,
        .idle_timeout_s = (unsigned)cfg->http.timeout,
        .head_max = HEAD_MAX_BYTES,
        .tls_cert_pem = cfg->http.tls_cert,
        .tls_key_pem = cfg->http.tls_key,
    };
    struct httpd_handler h;
    char err[256];

    if (!cfg->http.listen)
        return 0;
    ing = xcalloc(1, sizeof *ing);
    ing->app = app;
    ing->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    app->ingest = ing;
    h = (struct httpd_handler){on_head, on_body, on_end, on_close, ing};
    if (ing->wake_fd < 0 || loop_add_fd(app->loop, ing->wake_fd, EPOLLIN, on_wake, ing) < 0) {
        log_err("[http] eventfd: %s", strerror(errno));
        return -1;
    }
    if (load_tokens(ing, cfg) < 0)
        return -1;
    ing->srv = httpd_new(app->loop, &o, &h, err, sizeof err);
    if (!ing->srv) {
        log_err("[http] %s", err);
        return -1;
    }
    if (httpd_listen(ing->srv, cfg->http.listen, err, sizeof err) < 0) {
        log_err("[http] listen = %s: %s", cfg->http.listen, err);
        return -1;
    }
    log_info("rows over HTTP%s on %s%s/v1/ingest/ROUTE", cfg->http.tls_cert ? "S" : "",
             cfg->http.tls_cert ? "https://" : "http://", cfg->http.listen);
    return 0;
}

void http_ingest_reload(struct app *app)
{
    struct http_ingest *ing = app->ingest;
    const char *addr = app->cfg->http.listen;
    char err[256];

    if (!ing) {
        if (addr)
            log_warn("[http] listen = %s: a new listener needs a restart", addr);
        return;
    }
    load_tokens(ing, app->cfg);
    if (httpd_listen(ing->srv, addr, err, sizeof err) < 0)
        log_err("[http] listen = %s: %s; still listening on the previous address", addr, err);
}

void http_ingest_stop(struct app *app)
{
    struct http_ingest *ing = app->ingest;

    if (!ing)
        return;
    httpd_listen(ing->srv, NULL, NULL, 0);
    for (struct ireq *q = ing->reqs; q; q = q->next)
        if (q->pipe && !q->closed_pipe) {
            body_pipe_abort(q->pipe, "the daemon is stopping");
            q->closed_pipe = true;
            if (q->r && !q->submitted) {
                answer_error(q->r, 503, "the daemon is stopping", NULL);
                account(q, q->route, 503, 0);
            }
            drop_unsubmitted(q);
        }
}

void http_ingest_cancel(struct app *app)
{
    struct http_ingest *ing = app->ingest;

    if (!ing)
        return;
    for (struct ireq *q = ing->reqs; q; q = q->next)
        if (q->job)
            atomic_store(&q->job->cancel, true);
}

size_t http_ingest_running(const struct app *app)
{
    return app->ingest ? app->ingest->running : 0;
}

void http_ingest_free(struct app *app)
{
    struct http_ingest *ing = app->ingest;

    if (!ing)
        return;
    httpd_free(ing->srv); /* on_close for every request left */
    while (ing->reqs) {   /* requests whose job never came back */
        struct ireq *q = ing->reqs;
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): ireq_free() unlinks it */
        if (q->job && !q->submitted)
            drop_unsubmitted(q);
        else if (q->job)
            q->job->owner = NULL;
        ireq_free(q);
    }
    if (ing->wake_fd >= 0) {
        loop_del_fd(app->loop, ing->wake_fd);
        close(ing->wake_fd);
    }
    http_tokens_free(ing->tokens);
    free(ing);
    app->ingest = NULL;
}
