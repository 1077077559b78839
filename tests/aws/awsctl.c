/*
 * awsctl.c: a test driver for the loop-side AWS client (http.c, sqs.c, secrets.c).
 *
 * Runs one event loop and performs the commands given on the command line, all
 * started at once on that loop (so a long poll and a send really overlap), and
 * prints one JSON line per finished command, then a summary line. Used by
 * tests/integration/test_aws_http.py against moto, directly or through
 * tests/fault_proxy.py. Credentials come from AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN through a creds source (so every attempt
 * asks for them), endpoints from AWS_ENDPOINT_URL* or --endpoint.
 *
 *   awsctl [options] CMD ARGS [-- CMD ARGS]...
 *   options: --endpoint URL   --region R   --max-attempts N   --backoff BASE_MS CAP_MS
 *            --secret-key KEY (sign with this secret instead)   --verbose
 *            --no-creds (the creds source has nothing)   --timeout-ms N (for `call`)
 *   commands:
 *     receive QUEUE_URL MAX WAIT [VISIBILITY]
 *     delete QUEUE_URL RECEIPT...
 *     visibility QUEUE_URL SECONDS RECEIPT...
 *     send QUEUE_URL BODY
 *     attrs QUEUE_URL
 *     secret SECRET_ID                 (on the loop)
 *     secret-blocking SECRET_ID        (http_perform_blocking, from a second thread)
 *     call SERVICE TARGET CONTENT_TYPE BODY   (raw signed POST to the service endpoint)
 *     after MS CMD ARGS                (start CMD after MS milliseconds)
 *   exit status: 0 when every command succeeded, 1 otherwise, 2 on usage errors.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "aws/aws_endpoint.h"
#include "base/config.h"
#include "aws/http.h"
#include "base/log.h"
#include "base/loop.h"
#include "aws/secrets.h"
#include "aws/sqs.h"
#include "base/util.h"

struct cmd {
    int index;
    char **argv;
    int argc;
    uint64_t delay_ms;
    uint64_t started_ms;
    struct loop_timer *timer;
    bool done, ok;
};

static struct {
    struct loop *loop;
    struct http *http;
    struct sqs *sqs;
    struct config cfg;
    struct cmd *cmds;
    int ncmds, remaining, failures;
    char *secret_override;
    bool no_creds;
    long timeout_ms;
    atomic_int creds_calls;
    pthread_mutex_t lock;
} G;

static int creds_source(void *arg, struct aws_creds *out)
{
    (void)arg;
    G.creds_calls++;
    if (G.no_creds)
        return -1;
    out->access_key_id = getenv("AWS_ACCESS_KEY_ID");
    out->secret_access_key = G.secret_override ? G.secret_override
                                               : getenv("AWS_SECRET_ACCESS_KEY");
    out->session_token = getenv("AWS_SESSION_TOKEN");
    return out->access_key_id && out->secret_access_key ? 0 : -1;
}

static json_t *error_json(const struct aws_error *e)
{
    return json_pack(
        "{s:s, s:s, s:I, s:s, s:s, s:b, s:b, s:b}", "kind", aws_error_kind_name(e->kind), "service",
        e->service, "status", (json_int_t)e->http_status, "code", e->code, "message", e->message,
        "retryable", e->retryable, "throttling", e->throttling, "clock_skew", e->clock_skew);
}

/* Prints the command's result line and stops the loop after the last one. */
static void finish(struct cmd *c, const struct aws_error *e, json_t *result)
{
    json_t *line = json_pack("{s:i, s:s, s:b, s:I}", "index", c->index, "cmd", c->argv[0], "ok",
                             e == NULL || e->kind == AWS_OK, "elapsed_ms",
                             (json_int_t)(now_monotonic_ms() - c->started_ms));
    char *s;

    if (e != NULL && e->kind != AWS_OK)
        json_object_set_new(line, "error", error_json(e));
    if (result != NULL)
        json_object_set_new(line, "result", result);
    s = json_dumps(line, JSON_COMPACT);
    pthread_mutex_lock(&G.lock);
    printf("%s\n", s);
    fflush(stdout);
    c->done = true;
    c->ok = e == NULL || e->kind == AWS_OK;
    if (!c->ok)
        G.failures++;
    if (--G.remaining == 0)
        loop_stop(G.loop);
    pthread_mutex_unlock(&G.lock);
    free(s);
    json_decref(line);
}

static void on_receive(void *arg, const struct aws_error *err, struct sqs_message *m, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:s?, s:i, s:I}", "id", m[i].message_id, "receipt",
                           m[i].receipt_handle, "body", m[i].body, "md5", m[i].md5, "receive_count",
                           m[i].receive_count, "sent_ms", (json_int_t)m[i].sent_ms));
    sqs_messages_free(m, n);
    if (err->kind != AWS_OK) {
        json_decref(arr);
        arr = NULL;
    }
    finish(arg, err, arr ? json_pack("{s:o}", "messages", arr) : NULL);
}

static void on_batch(void *arg, const struct aws_error *err, const struct sqs_batch_entry *e,
                     size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:b, s:b, s:s, s:s}", "ok", e[i].ok, "sender_fault",
                                             e[i].sender_fault, "code", e[i].code, "message",
                                             e[i].message));
    finish(arg, err, e ? json_pack("{s:o}", "entries", arr) : (json_decref(arr), NULL));
}

static void on_send(void *arg, const struct aws_error *err, const char *id)
{
    finish(arg, err, id ? json_pack("{s:s}", "message_id", id) : NULL);
}

static void on_attrs(void *arg, const struct aws_error *err, const struct sqs_queue_attrs *a)
{
    json_t *r = NULL;

    if (a != NULL)
        r = json_pack("{s:s?, s:i, s:I, s:b, s:s?, s:i}", "queue_arn", a->queue_arn,
                      "visibility_timeout", a->visibility_timeout, "approx_messages",
                      (json_int_t)a->approx_messages, "has_redrive", a->has_redrive,
                      "dead_letter_target_arn", a->dead_letter_target_arn, "max_receive_count",
                      a->max_receive_count);
    finish(arg, err, r);
}

static json_t *secret_result(const char *value)
{
    struct aws_error pe;
    char *pw;
    json_t *r;

    if (value == NULL)
        return NULL;
    aws_error_clear(&pe);
    pw = secrets_extract_password(value, &pe);
    r = json_pack("{s:s, s:s?}", "value", value, "password", pw);
    free(pw);
    return r;
}

static void on_secret(void *arg, const struct aws_error *err, const char *value)
{
    finish(arg, err, secret_result(value));
}

static void on_call(struct http_response *r, void *arg)
{
    json_t *res = json_pack("{s:I, s:i, s:s%}", "status", (json_int_t)r->status, "attempts",
                            r->attempts, "body", r->body.data ? r->body.data : "", r->body.len);

    finish(arg, &r->err, res);
}

/* The blocking call runs on its own thread; its result is handed to the loop through
 * an eventfd, as worker results are in the daemon. */
struct blocking_job {
    struct cmd *c;
    char *id;
    int efd;
    pthread_t thread;
    char *value;
    struct aws_error err;
};

static void *blocking_thread(void *arg)
{
    struct blocking_job *j = arg;
    struct aws_creds creds;
    uint64_t one = 1;

    creds_source(NULL, &creds);
    j->value = secrets_get_blocking(&G.cfg, &creds, j->id, &j->err);
    if (write(j->efd, &one, sizeof one) != (ssize_t)sizeof one)
        abort();
    return NULL;
}

static void on_blocking_done(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct blocking_job *j = arg;

    (void)events;
    loop_del_fd(l, fd);
    close(fd);
    pthread_join(j->thread, NULL);
    finish(j->c, j->value ? NULL : &j->err, secret_result(j->value));
    free(j->value);
    free(j);
}

static int nargs_ok(struct cmd *c, int min)
{
    if (c->argc >= min)
        return 1;
    fprintf(stderr, "awsctl: %s: missing arguments\n", c->argv[0]);
    exit(2);
}

static void start_cmd(struct cmd *c)
{
    char **a = c->argv;

    c->started_ms = now_monotonic_ms();
    if (strcmp(a[0], "receive") == 0 && nargs_ok(c, 4)) {
        sqs_receive(G.sqs, a[1], atoi(a[2]), atoi(a[3]), c->argc > 4 ? atoi(a[4]) : -1, on_receive,
                    c);
    } else if (strcmp(a[0], "delete") == 0 && nargs_ok(c, 3)) {
        sqs_delete_batch(G.sqs, a[1], (const char *const *)a + 2, (size_t)c->argc - 2, on_batch, c);
    } else if (strcmp(a[0], "visibility") == 0 && nargs_ok(c, 4)) {
        int t[SQS_MAX_BATCH];
        for (int i = 0; i < c->argc - 3 && i < SQS_MAX_BATCH; i++)
            t[i] = atoi(a[2]);
        sqs_change_visibility_batch(G.sqs, a[1], (const char *const *)a + 3, t, (size_t)c->argc - 3,
                                    on_batch, c);
    } else if (strcmp(a[0], "send") == 0 && nargs_ok(c, 3)) {
        sqs_send(G.sqs, a[1], a[2], on_send, c);
    } else if (strcmp(a[0], "attrs") == 0 && nargs_ok(c, 2)) {
        sqs_get_attributes(G.sqs, a[1], on_attrs, c);
    } else if (strcmp(a[0], "secret") == 0 && nargs_ok(c, 2)) {
        secrets_get(G.http, &G.cfg, a[1], on_secret, c);
    } else if (strcmp(a[0], "secret-blocking") == 0 && nargs_ok(c, 2)) {
        struct blocking_job *j = xcalloc(1, sizeof *j);
        j->c = c;
        j->id = a[1];
        j->efd = eventfd(0, EFD_CLOEXEC);
        if (j->efd < 0 || loop_add_fd(G.loop, j->efd, EPOLLIN, on_blocking_done, j) != 0)
            abort();
        pthread_create(&j->thread, NULL, blocking_thread, j);
    } else if (strcmp(a[0], "call") == 0 && nargs_ok(c, 5)) {
        char *url = aws_endpoint_url(&G.cfg, a[1]);
        char *target = xasprintf("X-Amz-Target: %s", a[2]);
        char *ctype = xasprintf("Content-Type: %s", a[3]);
        const char *hdrs[] = {target, ctype, NULL};
        struct http_request req = {.service = a[1],
                                   .method = "POST",
                                   .url = url,
                                   .headers = hdrs,
                                   .body = a[4],
                                   .body_len = strlen(a[4]),
                                   .timeout_ms = G.timeout_ms};
        http_send(G.http, &req, on_call, c);
        free(url);
        free(target);
        free(ctype);
    } else {
        fprintf(stderr, "awsctl: unknown command %s\n", a[0]);
        exit(2);
    }
}

static void on_delay(struct loop_timer *t, void *arg)
{
    (void)t;
    start_cmd(arg);
}

static void usage(void)
{
    fprintf(stderr, "usage: awsctl [--endpoint URL] [--region R] [--max-attempts N] "
                    "[--backoff BASE_MS CAP_MS] [--secret-key KEY] [--no-creds] [--timeout-ms N] "
                    "[--verbose] CMD ARGS "
                    "[-- CMD ARGS]...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t base = 0, cap = 0;
    int i = 1;

    log_init();
    log_force_stderr(true);
    log_set_level(LOG_WARNING);
    pthread_mutex_init(&G.lock, NULL);
    memset(&G.cfg, 0, sizeof G.cfg);
    for (; i < argc && str_has_prefix(argv[i], "--") && argv[i][2]; i++) {
        if (strcmp(argv[i], "--endpoint") == 0 && i + 1 < argc)
            G.cfg.aws.endpoint_url = argv[++i];
        else if (strcmp(argv[i], "--region") == 0 && i + 1 < argc)
            G.cfg.aws.region = argv[++i];
        else if (strcmp(argv[i], "--max-attempts") == 0 && i + 1 < argc)
            G.cfg.aws.max_attempts = atoi(argv[++i]);
        else if (strcmp(argv[i], "--backoff") == 0 && i + 2 < argc) {
            base = strtoull(argv[++i], NULL, 10);
            cap = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--secret-key") == 0 && i + 1 < argc)
            G.secret_override = argv[++i];
        else if (strcmp(argv[i], "--no-creds") == 0)
            G.no_creds = true;
        else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
            G.timeout_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--verbose") == 0)
            log_set_level(LOG_DEBUG);
        else
            usage();
    }
    if (i >= argc)
        usage();
    G.cmds = xcalloc((size_t)argc, sizeof *G.cmds);
    while (i < argc) {
        struct cmd *c = &G.cmds[G.ncmds];
        c->index = G.ncmds++;
        if (strcmp(argv[i], "after") == 0 && i + 2 < argc) {
            c->delay_ms = strtoull(argv[i + 1], NULL, 10);
            i += 2;
        }
        c->argv = argv + i;
        while (i < argc && strcmp(argv[i], "--") != 0)
            i++;
        c->argc = (int)(argv + i - c->argv);
        if (c->argc == 0)
            usage();
        if (i < argc)
            argv[i++] = NULL;
    }
    G.remaining = G.ncmds;
    G.loop = loop_new();
    G.http = http_new(G.loop, &G.cfg);
    if (G.loop == NULL || G.http == NULL)
        return 1;
    if (base || cap)
        http_set_backoff(G.http, base, cap);
    http_set_creds_source(G.http, creds_source, NULL);
    G.sqs = sqs_new(G.http, &G.cfg);
    for (int k = 0; k < G.ncmds; k++) {
        G.cmds[k].timer = loop_timer_new(G.loop, on_delay, &G.cmds[k]);
        loop_timer_arm_us(G.cmds[k].timer, G.cmds[k].delay_ms * 1000);
    }
    loop_run(G.loop);
    printf("{\"summary\":true,\"failures\":%d,\"creds_calls\":%d,\"clock_offset\":%lld,"
           "\"pending\":%zu}\n",
           G.failures, atomic_load(&G.creds_calls), (long long)http_clock_offset(G.http),
           http_pending(G.http));
    fflush(stdout);
    for (int k = 0; k < G.ncmds; k++)
        loop_timer_free(G.cmds[k].timer);
    sqs_free(G.sqs);
    http_free(G.http);
    loop_free(G.loop);
    free(G.cmds);
    return G.failures ? 1 : 0;
}
