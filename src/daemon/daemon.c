/*
 * daemon.c: the service lifecycle: start, reload, watchdog, status, drain, exit.
 *
 * DESIGN
 * main -> daemon_run(): block signals, build the loop, the HTTP client, the
 * credential chain, the worker pool and the SQS poller, then turn the loop.
 *   SIGHUP   RELOADING=1, parse the file into a new snapshot; on success swap it
 *            in (new jobs use it, running ones finish on theirs), else keep the
 *            old one and log every error; READY=1 either way.
 *   SIGTERM  STOPPING=1, stop receiving; running loads get shutdown_timeout
 *   SIGINT   seconds; then they are cancelled (rolled back) and their messages
 *            made visible again; exit 0 when the last one has come back.
 *   watchdog WATCHDOG=1 every WATCHDOG_USEC/2 while the loop turns.
 * READY=1 is sent after the first successful queue poll (app_ready()).
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "daemon/app.h"
#include "aws/creds.h"
#include "aws/http.h"
#include "base/log.h"
#include "daemon/http_ingest.h"
#include "daemon/notify.h"
#include "daemon/observe.h"
#include "daemon/poller.h"
#include "daemon/pool.h"
#include "aws/secret_source.h"
#include "base/util.h"
#include "daemon/worker.h"

#define EXIT_RUNTIME       3
#define STATUS_INTERVAL_MS 5000

static void block_signals(sigset_t *handled)
{
    sigemptyset(handled);
    sigaddset(handled, SIGHUP);
    sigaddset(handled, SIGTERM);
    sigaddset(handled, SIGINT);
    /* Blocked before any thread starts, so every thread inherits the mask. */
    pthread_sigmask(SIG_BLOCK, handled, NULL);
    /* Writes to a closed socket are reported by the libraries as errors. */
    signal(SIGPIPE, SIG_IGN);
    /* A spool file past a file size limit (LimitFSIZE=) fails its write (EFBIG), and so
     * that load, as a full disk does; by default the signal would end the process. */
    signal(SIGXFSZ, SIG_IGN);
}

void app_status(struct app *app)
{
    unsigned busy = app->pool ? pool_busy(app->pool) : 0;

    notify_status("%s; %u/%d workers busy; %llu loaded, %llu duplicate, %llu failed, "
                  "%llu ignored; %llu rows",
                  observe_state(app), busy, app->cfg->ingestd.workers,
                  (unsigned long long)app->stats.loaded, (unsigned long long)app->stats.duplicates,
                  (unsigned long long)app->stats.failed, (unsigned long long)app->stats.ignored,
                  (unsigned long long)app->stats.rows);
}

/* The poller's ready hook: after every successful ReceiveMessage; READY=1 once. */
static void app_ready(void *arg)
{
    struct app *app = arg;

    if (app->ready_sent)
        return;
    app->ready_sent = true;
    notify_ready();
    app_status(app);
    log_info("ready: polling %s with %d workers", app->cfg->sqs.queue_url,
             app->cfg->ingestd.workers);
}

/* The poller's finish hook: nothing left to do (--exit-when-idle, or drained). */
static void app_finish(void *arg, int exit_code)
{
    struct app *app = arg;

    app->exit_code = exit_code;
    if (http_ingest_running(app) > 0) {
        app->exit_after_http = true; /* the last request's answer stops the loop */
        return;
    }
    loop_stop(app->loop);
}

static void reload(struct app *app)
{
    struct strlist errors = {0};
    struct config *next;

    notify_reloading();
    log_info("SIGHUP: reloading %s", app->config_path);
    next = config_load(app->config_path, &errors);
    if (!next) {
        for (size_t i = 0; i < errors.n; i++)
            log_err("%s", errors.v[i]);
        log_err("reload failed, keeping the running configuration (generation %llu)",
                (unsigned long long)app->cfg->generation);
    } else {
        struct config *old = app->cfg;

        app->cfg = next;
        log_set_level(next->ingestd.log_level);
        log_set_format((enum log_format)next->ingestd.log_format);
        http_reconfigure(app->http, next);
        creds_reconfigure(app->creds, next);
        if (next->ingestd.workers != old->ingestd.workers)
            pool_resize(app->pool, (unsigned)next->ingestd.workers);
        poller_reconfigure(app->poller);
        http_ingest_reload(app);
        log_info("configuration reloaded (generation %llu): %zu sinks, %zu routes",
                 (unsigned long long)next->generation, next->nsinks, next->nroutes);
        config_unref(old);
    }
    observe_reload(app, next != NULL);
    strlist_free(&errors);
    notify_ready();
    app_status(app);
}

static void shutdown_expired(struct loop_timer *t, void *arg)
{
    struct app *app = arg;

    (void)t;
    log_warn("shutdown_timeout (%d s) reached: cancelling running loads",
             app->cfg->ingestd.shutdown_timeout);
    poller_cancel_all(app->poller);
    http_ingest_cancel(app);
}

static void begin_shutdown(struct app *app, int signo)
{
    if (app->stopping) {
        log_notice("%s again: still waiting for running loads", strsignal(signo));
        return;
    }
    app->stopping = true;
    notify_stopping();
    log_info("%s: stopping; %zu load%s running", strsignal(signo), poller_inflight(app->poller),
             poller_inflight(app->poller) == 1 ? "" : "s");
    app_status(app);
    http_ingest_stop(app);
    poller_stop(app->poller);
    if (poller_inflight(app->poller) > 0 || http_ingest_running(app) > 0)
        loop_timer_arm(app->shutdown_timer, (uint64_t)app->cfg->ingestd.shutdown_timeout * 1000u,
                       0);
}

static void on_signal(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct app *app = arg;
    struct signalfd_siginfo si;

    (void)l;
    (void)events;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP)
            reload(app);
        else
            begin_shutdown(app, (int)si.ssi_signo);
    }
}

static void on_watchdog(struct loop_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    notify_watchdog();
}

static void on_status(struct loop_timer *t, void *arg)
{
    (void)t;
    app_status(arg);
}

/* Workers read credentials for Secrets Manager from secret_source. */
static void on_creds(struct creds_provider *p, bool ok, void *arg)
{
    struct creds *c;

    (void)arg;
    observe_creds(p, ok);
    if (!ok)
        return;
    c = creds_current(p);
    secret_source_set_creds(c);
    creds_unref(c);
}

static int start_parts(struct app *app)
{
    struct pool_hooks hooks;
    uint64_t wd_usec;

    if (observe_start(app) < 0)
        return -1;
    app->http = http_new(app->loop, app->cfg);
    if (!app->http)
        return -1;
    app->creds = creds_provider_new(app->loop, app->http, app->cfg);
    if (!app->creds)
        return -1;
    http_set_creds_source(app->http, creds_http_source, app->creds);
    creds_provider_set_listener(app->creds, on_creds, app);

    worker_pool_hooks(&hooks);
    app->pool = pool_new((unsigned)app->cfg->ingestd.workers, &hooks);
    if (!app->pool)
        return -1;
    app->poller = poller_new(app, &(struct poller_hooks){app_ready, app_finish, app});
    if (!app->poller)
        return -1;
    if (http_ingest_start(app) < 0)
        return -1;

    app->status_timer = loop_timer_new(app->loop, on_status, app);
    app->shutdown_timer = loop_timer_new(app->loop, shutdown_expired, app);
    if (!app->status_timer || !app->shutdown_timer)
        return -1;
    loop_timer_arm(app->status_timer, STATUS_INTERVAL_MS, STATUS_INTERVAL_MS);
    wd_usec = notify_watchdog_usec();
    if (wd_usec) {
        app->watchdog_timer = loop_timer_new(app->loop, on_watchdog, app);
        if (!app->watchdog_timer)
            return -1;
        loop_timer_arm(app->watchdog_timer, 0, wd_usec / 2000u ? wd_usec / 2000u : 1);
    }
    poller_start(app->poller);
    return 0;
}

static void stop_parts(struct app *app)
{
    /* The poller hands back what the pool still holds, then the pool joins its threads. */
    http_ingest_free(app);
    if (app->poller)
        poller_free(app->poller);
    pool_free(app->pool);
    observe_stop();
    loop_timer_free(app->watchdog_timer);
    loop_timer_free(app->status_timer);
    loop_timer_free(app->shutdown_timer);
    creds_provider_free(app->creds);
    secret_source_set_creds(NULL);
    http_free(app->http);
}

int daemon_run(const struct daemon_opts *o, struct config *cfg)
{
    struct app app;
    sigset_t handled;
    int rc = EXIT_RUNTIME;

    memset(&app, 0, sizeof app);
    app.cfg = config_ref(cfg);
    app.config_path = o->config_path;
    app.exit_when_idle = o->exit_when_idle;
    app.sigfd = -1;

    block_signals(&handled);
    app.loop = loop_new();
    if (!app.loop)
        goto out;
    app.sigfd = signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
    if (app.sigfd < 0 || loop_add_fd(app.loop, app.sigfd, EPOLLIN, on_signal, &app) < 0) {
        log_err("signalfd: %s", strerror(errno));
        goto out;
    }
    log_info("ingestd %s starting (config %s, generation %llu)", PACKAGE_VERSION, app.config_path,
             (unsigned long long)cfg->generation);
    if (start_parts(&app) < 0)
        goto out;
    app_status(&app);
    if (loop_run(app.loop) == 0)
        rc = app.exit_code;
    notify_stopping();
out:
    stop_parts(&app);
    if (app.sigfd >= 0)
        close(app.sigfd);
    loop_free(app.loop);
    config_unref(app.cfg);
    log_info("ingestd stopped (exit status %d)", rc);
    return rc;
}
