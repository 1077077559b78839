/*
 * fanout.h: one load into every sink of its route (`sink = a, b`).
 *
 * The worker parses the object once and hands each batch to every member; each
 * member is a sink of its own, with its own begin/write/commit and its own ledger.
 * The rules, which keep "nothing lost, nothing twice" per sink:
 *
 *  - begin: a member whose ledger already holds the object is skipped (logged
 *    "already loaded", aborted) and the others go on; the load is a duplicate only
 *    when every member holds it.
 *  - A member that fails with a transient or configuration error (its database
 *    down) is rolled back and dropped; the others go on and commit. The load then
 *    fails with that member's error, the message comes back, and the retry loads
 *    only the members that did not commit (the others find it in their ledgers).
 *  - A permanent error (a bad row, a type the target refuses) or a restart fails
 *    every member: nothing is committed anywhere.
 *  - Commits run only after the whole object was parsed: first every member's
 *    prepare() (the SQL sinks end their COPY / LOAD DATA, merge and write the ledger
 *    row, so the rows' own errors show up), where a permanent error still fails
 *    them all; then the COMMITs, one member after the other in the route's order. A member's commit
 * that fails after another's leaves the message for a retry, which skips the committed one.
 *
 * With one sink the members reduce to that sink and its behaviour is unchanged.
 * Single-threaded: one fanout belongs to one load on one worker.
 */
#ifndef INGESTD_FANOUT_H
#define INGESTD_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "daemon/job.h"
#include "sinks/sink.h"

enum fanout_state {
    FANOUT_IDLE,      /* not begun */
    FANOUT_ACTIVE,    /* begun, taking rows */
    FANOUT_ALREADY,   /* its ledger holds the object: skipped */
    FANOUT_FAILED,    /* rolled back with err */
    FANOUT_COMMITTED, /* rows and ledger record committed */
};

struct fanout_member {
    const struct sink_conf *sc;
    const struct sink_ops *ops;
    struct sink *sink; /* NULL when it could not be opened (err says why) */
    enum fanout_state state;
    struct ierr err;
};

struct fanout {
    struct fanout_member m[ROUTE_MAX_SINKS];
    size_t n;
};

/* Adds the route's next sink: opened (ops and sink), or not (sink NULL, e why). */
void fanout_add(struct fanout *f, const struct sink_conf *sc, const struct sink_ops *ops,
                struct sink *s, const struct ierr *open_err);
/* -1 with e when no member can take the load (every one failed to open). */
int fanout_ready(const struct fanout *f, struct ierr *e);

/* Begins every member; *already when all of them hold the object. -1 with e: nothing
 * begun is left open. */
int fanout_begin(struct fanout *f, const struct load_object *obj, const struct load_target *t,
                 bool *already, struct ierr *e);
bool fanout_begun(const struct fanout *f); /* some member is ACTIVE */
int fanout_write(struct fanout *f, const struct batch *b, struct ierr *e);
int fanout_reject(struct fanout *f, const struct row_reject *r, struct ierr *e);
/*
 * Commits the active members. 0 when every member committed or already held the
 * object (*already when none committed now); -1 with e (the first failure, its class
 * kept) when some member failed at any point: the ones that committed stay committed.
 */
int fanout_commit(struct fanout *f, const struct load_stats *st, bool *already, struct ierr *e);
void fanout_abort(struct fanout *f); /* rolls back every ACTIVE member; always safe */

/* What each member did, into job->sink_results (job.h). */
void fanout_results(const struct fanout *f, struct job *job);

/* The member whose sink is s, for the worker's reconnect-after-failure rule. */
bool fanout_failed_transiently(const struct fanout *f, const struct sink *s);

#endif
