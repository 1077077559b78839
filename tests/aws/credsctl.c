/*
 * credsctl: a driver for the credential chain's integration tests.
 *
 * Resolves AWS credentials with ingestd's provider for the configuration given with -c
 * and prints, one line each on stdout, what happened: resolutions ("creds ok=1 gen=N
 * source=S access_key_id=K expires_in_ms=E detail=D" or "creds ok=0 error=..."), signed
 * SQS ListQueues calls made with the current credentials through the loop's HTTP
 * client ("call n=N ok=1 status=200 attempts=1 access_key_id=K"), and a final
 * "summary". The secret key and session token are never printed.
 *
 *   credsctl -c FILE --once [--timeout-ms N]     creds_resolve_once(), then exit
 *   credsctl -c FILE [--run SECONDS] [--call-every MS] [--log-level L]
 *
 * Without --run it stops after the first resolution. Exit status: 0 when credentials
 * were resolved and every call succeeded at its first attempt, 1 otherwise, 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_endpoint.h"
#include "base/config.h"
#include "aws/creds.h"
#include "aws/http.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/util.h"

struct ctl {
    struct loop *loop;
    struct http *http;
    struct creds_provider *prov;
    struct config *cfg;
    struct loop_timer *call_timer;
    struct loop_timer *stop_timer;
    char *sqs_url;
    int call_every_ms;
    bool run;
    bool stopping; /* --run time is over: waiting for calls in flight */
    bool stopped;  /* no new calls */
    struct call_ctx *inflight;
    bool resolved;
    unsigned calls, failed, retried, pending, events;
};

static void usage(void)
{
    fprintf(stderr, "usage: credsctl -c FILE [--once] [--timeout-ms N] [--run SECONDS]\n"
                    "                [--call-every MS] [--log-level LEVEL]\n");
    exit(2);
}

static void print_creds(const struct creds *c, unsigned gen)
{
    printf("creds ok=1 gen=%u source=%s access_key_id=%s has_token=%d expires_in_ms=%lld "
           "detail=%s\n",
           gen, c->source, c->aws.access_key_id, c->aws.session_token != NULL,
           c->expiry_ms ? (long long)(c->expiry_ms - now_realtime_ms()) : -1LL, c->detail);
    fflush(stdout);
}

struct call_ctx {
    struct ctl *ctl;
    unsigned n;
    char *akid;
    struct call_ctx *next;
};

static void call_unlink(struct ctl *ctl, struct call_ctx *cc)
{
    for (struct call_ctx **pp = &ctl->inflight; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == cc) {
            *pp = cc->next;
            break;
        }
    }
    free(cc->akid);
    free(cc);
}

static void on_call(struct http_response *r, void *arg)
{
    struct call_ctx *cc = arg;
    struct ctl *ctl = cc->ctl;
    char why[768] = "";
    bool ok = r->err.kind == AWS_OK;

    if (!ok) {
        aws_error_str(&r->err, why, sizeof(why));
        ctl->failed++;
    }
    if (r->attempts > 1)
        ctl->retried++;
    printf("call n=%u ok=%d status=%ld attempts=%d access_key_id=%s%s%s\n", cc->n, ok, r->status,
           r->attempts, cc->akid, ok ? "" : " error=", why);
    fflush(stdout);
    ctl->pending--;
    call_unlink(ctl, cc);
    if (ctl->stopping && ctl->pending == 0)
        loop_stop(ctl->loop);
}

static void make_call(struct loop_timer *t, void *arg)
{
    static const char *const headers[] = {
        "Content-Type: application/x-amz-json-1.0",
        "X-Amz-Target: AmazonSQS.ListQueues",
        NULL,
    };
    struct ctl *ctl = arg;
    struct call_ctx *cc;
    struct creds *c;
    struct http_request req = {
        .service = "sqs",
        .method = "POST",
        .url = ctl->sqs_url,
        .headers = headers,
        .body = "{}",
        .body_len = 2,
        .label = "sqs ListQueues",
    };

    (void)t;
    if (ctl->stopped)
        return; /* fired in the same turn as the stop timer */
    cc = xcalloc(1, sizeof(*cc));
    c = creds_current(ctl->prov);
    cc->next = ctl->inflight;
    ctl->inflight = cc;
    cc->ctl = ctl;
    cc->n = ++ctl->calls;
    cc->akid = xstrdup(c ? c->aws.access_key_id : "-");
    creds_unref(c);
    ctl->pending++;
    http_send(ctl->http, &req, on_call, cc);
}

static void on_event(struct creds_provider *p, bool ok, void *arg)
{
    struct ctl *ctl = arg;
    struct creds *c = creds_current(p);

    ctl->events++;
    if (ok && c != NULL) {
        print_creds(c, creds_generation(p));
        if (!ctl->resolved && ctl->call_every_ms > 0)
            loop_timer_arm(ctl->call_timer, 0, (uint64_t)ctl->call_every_ms);
        ctl->resolved = true;
    } else {
        printf("creds ok=0 error=%s\n", creds_last_error(p));
        fflush(stdout);
    }
    creds_unref(c);
    if (!ctl->run)
        loop_stop(ctl->loop);
}

static void on_stop(struct loop_timer *t, void *arg)
{
    struct ctl *ctl = arg;

    (void)t;
    ctl->stopped = true;
    loop_timer_disarm(ctl->call_timer);
    /* Let calls in flight finish, for at most a few seconds more. */
    if (ctl->pending > 0 && !ctl->stopping) {
        ctl->stopping = true;
        loop_timer_arm(ctl->stop_timer, 5000, 0);
        return;
    }
    loop_stop(ctl->loop);
}

static int run_once(struct config *cfg, int timeout_ms)
{
    char err[768];
    struct creds *c = creds_resolve_once(cfg, timeout_ms, err, sizeof(err));

    if (c == NULL) {
        printf("creds ok=0 error=%s\n", err);
        return 1;
    }
    print_creds(c, 1);
    creds_unref(c);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"once", no_argument, NULL, 'o'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"run", required_argument, NULL, 'r'},
        {"call-every", required_argument, NULL, 'e'},
        {"log-level", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    struct ctl ctl = {0};
    const char *path = NULL;
    bool once = false;
    int opt, level = LOG_INFO, timeout_ms = 10000, run_s = 0, rc;
    struct strlist errors = {0};

    while ((opt = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'o':
            once = true;
            break;
        case 't':
            timeout_ms = atoi(optarg);
            break;
        case 'r':
            run_s = atoi(optarg);
            break;
        case 'e':
            ctl.call_every_ms = atoi(optarg);
            break;
        case 'l':
            if (log_level_parse(optarg, &level) != 0)
                usage();
            break;
        default:
            usage();
        }
    }
    if (path == NULL || optind != argc)
        usage();
    log_init();
    log_force_stderr(true);
    log_set_level(level);
    ctl.cfg = config_load(path, &errors);
    if (ctl.cfg == NULL) {
        for (size_t i = 0; i < errors.n; i++)
            fprintf(stderr, "credsctl: %s\n", errors.v[i]);
        strlist_free(&errors);
        return 2;
    }
    if (once) {
        rc = run_once(ctl.cfg, timeout_ms);
        config_unref(ctl.cfg);
        return rc;
    }

    ctl.run = run_s > 0;
    ctl.loop = loop_new();
    ctl.http = http_new(ctl.loop, ctl.cfg);
    if (ctl.loop == NULL || ctl.http == NULL)
        return 1;
    char *base = aws_endpoint_url(ctl.cfg, "sqs");
    ctl.sqs_url = xasprintf("%s/", base);
    free(base);
    ctl.prov = creds_provider_new(ctl.loop, ctl.http, ctl.cfg);
    if (ctl.prov == NULL)
        return 1;
    http_set_creds_source(ctl.http, creds_http_source, ctl.prov);
    creds_provider_set_listener(ctl.prov, on_event, &ctl);
    ctl.call_timer = loop_timer_new(ctl.loop, make_call, &ctl);
    ctl.stop_timer = loop_timer_new(ctl.loop, on_stop, &ctl);
    loop_timer_arm(ctl.stop_timer, ctl.run ? (uint64_t)run_s * 1000 : (uint64_t)timeout_ms, 0);
    rc = loop_run(ctl.loop);

    printf("summary resolved=%d generations=%u calls=%u failed=%u retried=%u unfinished=%u\n",
           ctl.resolved, creds_generation(ctl.prov), ctl.calls, ctl.failed, ctl.retried,
           ctl.pending);
    rc = rc == 0 && ctl.resolved && ctl.failed == 0 && ctl.retried == 0 && ctl.pending == 0 ? 0 : 1;
    loop_timer_free(ctl.call_timer);
    loop_timer_free(ctl.stop_timer);
    creds_provider_free(ctl.prov);
    http_free(ctl.http); /* cancels calls still in flight: no callbacks */
    while (ctl.inflight != NULL)
        call_unlink(&ctl, ctl.inflight);
    loop_free(ctl.loop);
    config_unref(ctl.cfg);
    free(ctl.sqs_url);
    return rc;
}
