/*
 * fanout.c: one load into every sink of its route (see fanout.h for the rules).
 *
 * Whether a member's failure is its own or the object's is decided by the error's
 * class: transient and configuration errors belong to the sink (its database is down,
 * its table is missing) and drop that member only; permanent errors and restarts
 * belong to the data and fail every member before any commit.
 */
#include "daemon/fanout.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

static bool members_own_error(const struct ierr *e)
{
    return e->cls == IERR_TRANSIENT || e->cls == IERR_CONFIG;
}

void fanout_add(struct fanout *f, const struct sink_conf *sc, const struct sink_ops *ops,
                struct sink *s, const struct ierr *open_err)
{
    struct fanout_member *m;

    if (f->n == ROUTE_MAX_SINKS)
        return; /* the configuration caps the list */
    m = &f->m[f->n++];
    memset(m, 0, sizeof *m);
    m->sc = sc;
    m->ops = ops;
    m->sink = s;
    if (!s) {
        m->state = FANOUT_FAILED;
        if (open_err)
            m->err = *open_err;
    }
}

/* Keeps the member's error for the load's result, naming the sink when there are
 * several, and logs that the others go on. */
static void member_failed(struct fanout *f, struct fanout_member *m, const struct ierr *e)
{
    m->err = *e;
    m->state = FANOUT_FAILED;
    if (f->n > 1) {
        char why[sizeof e->reason + sizeof e->column_name + 64];

        struct buf r;

        buf_init(&r);
        buf_printf(&r, "sink %s: %s", m->sc->name, e->reason);
        snprintf(m->err.reason, sizeof m->err.reason, "%.*s", (int)(sizeof m->err.reason - 1),
                 r.data);
        buf_free(&r);
        ierr_describe(e, why, sizeof why);
        log_warn("sink %s: %s failure, rolled back there; the other sinks go on: %s", m->sc->name,
                 ierr_class_name(e->cls), why);
    }
}

int fanout_ready(const struct fanout *f, struct ierr *e)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->m[i].sink)
            return 0;
    }
    if (f->n)
        *e = f->m[0].err;
    else
        ierr_set(e, IERR_CONFIG, "the route has no sink");
    return -1;
}

/* The first failed member's error; false when none failed. */
static bool first_failure(const struct fanout *f, struct ierr *e)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->m[i].state == FANOUT_FAILED) {
            *e = f->m[i].err;
            return true;
        }
    }
    return false;
}

static size_t count(const struct fanout *f, enum fanout_state st)
{
    size_t n = 0;

    for (size_t i = 0; i < f->n; i++)
        n += f->m[i].state == st;
    return n;
}

bool fanout_begun(const struct fanout *f)
{
    return count(f, FANOUT_ACTIVE) > 0;
}

void fanout_abort(struct fanout *f)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->m[i].state == FANOUT_ACTIVE) {
            f->m[i].ops->abort(f->m[i].sink);
            f->m[i].state = FANOUT_IDLE;
        }
    }
}

/* The data's error: every member rolls back, nothing is committed anywhere. */
static int fail_all(struct fanout *f, const struct ierr *err, struct ierr *e)
{
    *e = *err;
    fanout_abort(f);
    return -1;
}

/* After a member dropped out: go on while another one takes rows. */
static int go_on(const struct fanout *f, struct ierr *e)
{
    if (count(f, FANOUT_ACTIVE) > 0)
        return 0;
    if (!first_failure(f, e))
        ierr_set(e, IERR_TRANSIENT, "no sink left to load into");
    return -1;
}

int fanout_begin(struct fanout *f, const struct load_object *obj, const struct load_target *t,
                 bool *already, struct ierr *e)
{
    *already = false;
    for (size_t i = 0; i < f->n; i++) {
        struct fanout_member *m = &f->m[i];
        bool dup = false;
        struct ierr me;

        if (m->state != FANOUT_IDLE)
            continue;
        memset(&me, 0, sizeof me);
        if (m->ops->begin(m->sink, obj, t, &dup, &me) < 0) {
            if (!members_own_error(&me))
                return fail_all(f, &me, e);
            member_failed(f, m, &me);
            continue;
        }
        if (dup) {
            m->ops->abort(m->sink);
            m->state = FANOUT_ALREADY;
            if (f->n > 1)
                log_info("s3://%s/%s (etag %s) already loaded into sink %s: skipped there",
                         obj->bucket, obj->key, obj->etag, m->sc->name);
            continue;
        }
        m->state = FANOUT_ACTIVE;
    }
    if (count(f, FANOUT_ACTIVE) > 0)
        return 0;
    if (first_failure(f, e))
        return -1;
    *already = true; /* every member holds it */
    return 0;
}

/* A member's write or reject failed. The data's error fails every member (-1); the
 * member's own (its server, its table) drops that member alone (0). */
static int row_failed(struct fanout *f, struct fanout_member *m, const struct ierr *me,
                      struct ierr *e)
{
    if (!members_own_error(me)) {
        m->state = FANOUT_IDLE; /* the sink rolled back itself */
        return fail_all(f, me, e);
    }
    m->ops->abort(m->sink);
    member_failed(f, m, me);
    return 0;
}

int fanout_write(struct fanout *f, const struct batch *b, struct ierr *e)
{
    for (size_t i = 0; i < f->n; i++) {
        struct fanout_member *m = &f->m[i];
        struct ierr me;

        if (m->state != FANOUT_ACTIVE)
            continue;
        memset(&me, 0, sizeof me);
        if (m->ops->write(m->sink, b, &me) < 0 && row_failed(f, m, &me, e) < 0)
            return -1;
    }
    return go_on(f, e);
}

int fanout_reject(struct fanout *f, const struct row_reject *r, struct ierr *e)
{
    for (size_t i = 0; i < f->n; i++) {
        struct fanout_member *m = &f->m[i];
        struct ierr me;

        if (m->state != FANOUT_ACTIVE)
            continue;
        memset(&me, 0, sizeof me);
        if (m->ops->reject(m->sink, r, &me) < 0 && row_failed(f, m, &me, e) < 0)
            return -1;
    }
    return go_on(f, e);
}

int fanout_commit(struct fanout *f, const struct load_stats *st, bool *already, struct ierr *e)
{
    size_t committed = 0;

    /* First every member's rows to their end: a bad row found by any sink fails them
     * all while none has committed. */
    for (size_t i = 0; i < f->n; i++) {
        struct fanout_member *m = &f->m[i];
        struct ierr me;

        if (m->state != FANOUT_ACTIVE || !m->ops->prepare)
            continue;
        memset(&me, 0, sizeof me);
        if (m->ops->prepare(m->sink, st, &me) < 0) {
            if (!members_own_error(&me)) {
                m->state = FANOUT_IDLE;
                *already = false;
                return fail_all(f, &me, e);
            }
            member_failed(f, m, &me);
        }
    }
    for (size_t i = 0; i < f->n; i++) {
        struct fanout_member *m = &f->m[i];
        bool dup = false;
        struct ierr me;

        if (m->state != FANOUT_ACTIVE)
            continue;
        memset(&me, 0, sizeof me);
        if (m->ops->commit(m->sink, st, &dup, &me) < 0) {
            /* The object parsed whole: whatever the class, the members that committed
             * stay committed and the retry skips them. */
            m->ops->abort(m->sink);
            member_failed(f, m, &me);
            continue;
        }
        m->state = dup ? FANOUT_ALREADY : FANOUT_COMMITTED;
        committed += !dup;
        if (f->n > 1)
            log_info("sink %s: %s", m->sc->name,
                     dup ? "already loaded (another instance committed it first)" : "committed");
    }
    *already = committed == 0 && count(f, FANOUT_COMMITTED) == 0;
    if (first_failure(f, e))
        return -1;
    return 0;
}

bool fanout_failed_transiently(const struct fanout *f, const struct sink *s)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->m[i].sink == s && s && f->m[i].state == FANOUT_FAILED &&
            f->m[i].err.cls == IERR_TRANSIENT)
            return true;
    }
    return false;
}

void fanout_results(const struct fanout *f, struct job *job)
{
    for (size_t i = 0; i < f->n; i++) {
        enum fanout_state st = f->m[i].state;

        job->sink_results[i] = st == FANOUT_COMMITTED ? JOB_LOADED
                               : st == FANOUT_ALREADY ? JOB_DUPLICATE
                                                      : JOB_FAILED;
    }
    job->nsink_results = f->n;
}
