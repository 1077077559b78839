/*
 * pg_wait.c: the PostgreSQL sink's statements, waited for in a way a shutdown can
 * interrupt, and their failures turned into a struct ierr (pg_exec, pg_fill_error), for
 * sink_pg.c and pg_schema.c alike.
 *
 * libpq's PQexec() blocks until the server answers, and a statement waiting for a lock
 * another session holds may not answer for hours. So the sink sends each statement
 * with PQsendQuery*() and waits for its result in poll() slices of PG_WAIT_TICK_MS; at
 * every slice it looks at the load's cancel flag (set by the loop when
 * shutdown_timeout expires) and, once it is set, asks the server to cancel the
 * statement (PQcancel over a new connection, as psql's Ctrl-C does). The server then
 * answers with SQLSTATE 57014, which the sink treats like any other failure: roll
 * back, and the message goes back to the queue.
 *
 * The connection is non-blocking so that COPY data, too, waits here rather than in a
 * send() that a server stuck on a lock never drains: after each chunk the output is
 * flushed before more is queued, which also keeps libpq's buffer at one chunk.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "sinks/postgres/pg_int.h"
#include "sinks/sink_guard.h"

#define PG_WAIT_TICK_MS 100

void pg_cancel_if_asked(struct sink *s)
{
    char err[256];

    if (s->cancel_sent || !s->cancel || !atomic_load(s->cancel))
        return;
    s->cancel_sent = true;
    PGcancel *c = PQgetCancel(s->conn);
    if (c && PQcancel(c, err, sizeof(err)))
        log_notice("sink %s: shutting down: cancelled the running statement", s->name);
    else
        log_warn("sink %s: shutting down: could not cancel the running statement: %s", s->name,
                 c ? err : "no connection");
    PQfreeCancel(c);
}

/* Waits until the socket is ready for events; the revents, or -1 when it cannot wait. */
static int wait_socket(struct sink *s, short events)
{
    struct pollfd p = {.fd = PQsocket(s->conn), .events = events};

    if (p.fd < 0)
        return -1;
    for (;;) {
        int n = poll(&p, 1, PG_WAIT_TICK_MS);
        if (n > 0)
            return p.revents;
        if (n < 0 && errno != EINTR)
            return -1;
        pg_cancel_if_asked(s);
    }
}

int pg_flush_wait(struct sink *s)
{
    int r;
    while ((r = PQflush(s->conn)) == 1) {
        int ev = wait_socket(s, POLLIN | POLLOUT);
        if (ev < 0)
            return -1;
        /* The server may be sending (an error, notices) and wait for us to read. */
        if ((ev & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(s->conn))
            return -1;
    }
    return r;
}

PGresult *pg_result_wait(struct sink *s)
{
    while (PQisBusy(s->conn)) {
        if (pg_flush_wait(s) < 0 || wait_socket(s, POLLIN) < 0 || !PQconsumeInput(s->conn))
            break; /* the connection failed: PQgetResult() reports it */
    }
    return PQgetResult(s->conn);
}

PGresult *pg_exec_wait(struct sink *s, const char *sql, int nparams, const char *const *params)
{
    PGresult *last = NULL, *r;
    int sent = nparams ? PQsendQueryParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0)
                       : PQsendQuery(s->conn, sql);

    if (!sent)
        return NULL;
    /* Like PQexec(): the last result, or the COPY state at once. */
    while ((r = pg_result_wait(s))) {
        ExecStatusType st = PQresultStatus(r);
        PQclear(last);
        last = r;
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH ||
            PQstatus(s->conn) == CONNECTION_BAD)
            break;
    }
    return last;
}

/* ---- statements and their errors ---- */

void pg_set_sample(struct ierr *e, const char *s)
{
    if (s && !e->sample[0])
        snprintf(e->sample, sizeof(e->sample), "%s", s);
}

void pg_fill_error(struct sink *s, const PGresult *res, const char *what, struct ierr *e)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    bool broken = PQstatus(s->conn) != CONNECTION_OK;

    snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", st ? st : "");
    if (!msg)
        msg = res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res)
                                                : PQerrorMessage(s->conn);
    enum ierr_class cls = broken ? IERR_TRANSIENT : pg_sqlstate_class(st);
    char clean[400];
    snprintf(clean, sizeof(clean), "%s", msg);
    clean[strcspn(clean, "\n")] = '\0';
    if (st)
        ierr_set(e, cls, "%s: %s (SQLSTATE %s)", what, clean, st);
    else
        ierr_set(e, cls, "%s: %s%s", what, broken ? "connection lost: " : "", clean);
    if (s->upsert && s->qtable)
        sink_guard_name_target(e->reason, sizeof(e->reason), '"', s->qtable);
    if (res)
        pg_set_sample(e, PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
    if (s->upsert && s->qtable)
        sink_guard_name_target(e->sample, sizeof(e->sample), '"', s->qtable);
}

PGresult *pg_exec(struct sink *s, const char *sql, int nparams, const char *const *params,
                  ExecStatusType want, const char *what, struct ierr *e)
{
    PGresult *r = pg_exec_wait(s, sql, nparams, params);
    if (r && PQresultStatus(r) == want)
        return r;
    pg_fill_error(s, r, what, e);
    PQclear(r);
    return NULL;
}
