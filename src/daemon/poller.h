/*
 * poller.h: the loop side of the pipeline: SQS in, jobs out, results back to SQS.
 *
 * DESIGN
 * The poller keeps at most one ReceiveMessage long poll in flight, asking for no
 * more messages than there are free workers. Each message body is decoded into
 * object references (event.h), each routed (route.h); routed objects become jobs
 * on the pool, the rest are counted as ignored. A message is finished when its
 * last job comes back:
 *   every object loaded, already loaded, superseded or ignored -> DeleteMessage;
 *   a transient failure      -> visibility set to a jittered exponential backoff;
 *   a permanent failure      -> error report to dlq_url, then delete (no dlq_url:
 *                               left for the queue's redrive policy);
 *   cancelled at shutdown    -> visibility 0, so another consumer takes it at once.
 * A message is never deleted unless its error report reached the DLQ. While jobs
 * run, a heartbeat extends the visibility of their messages before it lapses (up
 * to SQS's 12-hour limit). Loop thread only.
 */
#ifndef INGESTD_POLLER_H
#define INGESTD_POLLER_H

#include <stddef.h>

struct app;
struct poller;

/* What the poller tells its owner (daemon.c), on the loop thread. */
struct poller_hooks {
    void (*ready)(void *arg);                 /* a ReceiveMessage succeeded */
    void (*finish)(void *arg, int exit_code); /* nothing left to do: idle with
                                               * --exit-when-idle, or drained after
                                               * poller_stop() */
    void *arg;
};

/* hooks is copied. */
struct poller *poller_new(struct app *app, const struct poller_hooks *hooks);
void poller_start(struct poller *p);
void poller_reconfigure(struct poller *p); /* after app->cfg changed */
/* Stop receiving; the finish hook is called once every message is settled. */
void poller_stop(struct poller *p);
/* Shutdown timeout: cancel running jobs (they roll back) and hand their messages back. */
void poller_cancel_all(struct poller *p);
size_t poller_inflight(const struct poller *p); /* messages being worked on */
void poller_free(struct poller *p);

#endif
