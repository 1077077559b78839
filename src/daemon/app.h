/*
 * app.h: the daemon's state, owned by the loop thread.
 *
 * One struct app exists per process; daemon.c creates it and wires the parts
 * together. Parts reach each other only through it, on the loop thread. Worker
 * threads never see it: they get a struct job (job.h) and nothing else.
 */
#ifndef INGESTD_APP_H
#define INGESTD_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/loop.h"

struct http;
struct creds_provider;
struct pool;
struct poller;
struct http_ingest;

/* Counters for STATUS= and logs; loop thread only. */
struct app_stats {
    uint64_t received; /* SQS messages received */
    uint64_t deleted;
    uint64_t returned;   /* made visible again for a retry */
    uint64_t loaded;     /* objects committed */
    uint64_t duplicates; /* objects the ledger already had */
    uint64_t failed;     /* objects that failed (any class) */
    uint64_t ignored;    /* events with no route, test events, removals */
    uint64_t dlq_reports;
    uint64_t rows;
    uint64_t bytes;
};

struct app {
    struct loop *loop;
    struct config *cfg; /* current snapshot; jobs hold their own references */
    const char *config_path;
    bool exit_when_idle;
    bool ready_sent;
    bool stopping;
    int exit_code;
    int sigfd;
    struct loop_timer *watchdog_timer;
    struct loop_timer *status_timer;
    struct loop_timer *shutdown_timer;
    struct http *http;
    struct creds_provider *creds;
    struct pool *pool;
    struct poller *poller;
    struct http_ingest *ingest; /* NULL without [http] listen */
    bool exit_after_http;       /* the queue side is done: exit when the last request is */
    struct app_stats stats;
};

/* Refreshes STATUS= now. */
void app_status(struct app *app);

#endif
