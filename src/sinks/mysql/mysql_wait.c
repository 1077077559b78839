/*
 * mysql_wait.c: statements of the MySQL/MariaDB sink that a shutdown can interrupt, and
 * their failures turned into a struct ierr (my_run, my_query, my_fill_error).
 *
 * A statement waiting for a table lock another session holds (LOCK TABLES, a long
 * ALTER) blocks mysql_real_query() for as long as the server waits. Statements the
 * worker runs itself go through libmariadb's non-blocking interface instead: the
 * worker polls the socket in slices of MY_WAIT_TICK_MS and, at each slice, looks at
 * the load's cancel flag (set by the loop when shutdown_timeout expires). LOAD DATA
 * runs on its helper thread (mysql_load.c), whose waits on the pipe and on the
 * thread's end look at the flag the same way. Once the flag is set, the running
 * statement is stopped with KILL QUERY over a second connection (a session may kill
 * its own account's queries); the server answers the statement with error 1317, the
 * load fails, is rolled back and its message goes back to the queue.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "sinks/mysql/mysql_int.h"
#include "sinks/sink_guard.h"

#define MY_WAIT_TICK_MS 100

void my_cancel_if_asked(struct sink *s)
{
    struct ierr e;
    char sql[48];

    if (s->kill_sent || !s->cancel || !atomic_load(s->cancel) || !s->thread_id)
        return;
    s->kill_sent = true;
    memset(&e, 0, sizeof(e));
    MYSQL *m = my_connect(&s->cp, s->name, &e);
    if (!m) {
        log_warn("sink %s: shutting down: cannot connect to stop the running statement: %s",
                 s->name, e.reason);
        return;
    }
    snprintf(sql, sizeof(sql), "KILL QUERY %lu", s->thread_id);
    if (mysql_real_query(m, sql, strlen(sql)))
        log_warn("sink %s: shutting down: %s failed: %s", s->name, sql, mysql_error(m));
    else
        log_notice("sink %s: shutting down: stopped the running statement", s->name);
    mysql_close(m);
}

/* The events libmariadb asked for that poll() reported, as MYSQL_WAIT_* bits. */
static int ready_events(int status, short revents)
{
    int ready = 0;
    if (revents & (POLLIN | POLLHUP | POLLERR))
        ready |= status & MYSQL_WAIT_READ;
    if (revents & (POLLOUT | POLLHUP | POLLERR))
        ready |= status & MYSQL_WAIT_WRITE;
    if (revents & POLLPRI)
        ready |= status & MYSQL_WAIT_EXCEPT;
    return ready ? ready : status & ~MYSQL_WAIT_TIMEOUT;
}

/* Waits for what status asks; returns the MYSQL_WAIT_* bits that happened. */
static int wait_for(struct sink *s, int status)
{
    struct pollfd p = {.fd = mysql_get_socket(s->conn)};
    uint64_t deadline = 0;

    if (status & MYSQL_WAIT_READ)
        p.events |= POLLIN;
    if (status & MYSQL_WAIT_WRITE)
        p.events |= POLLOUT;
    if (status & MYSQL_WAIT_EXCEPT)
        p.events |= POLLPRI;
    if (status & MYSQL_WAIT_TIMEOUT)
        deadline = now_monotonic_ms() + mysql_get_timeout_value_ms(s->conn);
    for (;;) {
        int slice = MY_WAIT_TICK_MS;
        if (deadline) {
            uint64_t now = now_monotonic_ms();
            if (now >= deadline)
                return MYSQL_WAIT_TIMEOUT;
            if (deadline - now < (uint64_t)slice)
                slice = (int)(deadline - now);
        }
        int n = poll(&p, 1, slice);
        if (n > 0)
            return ready_events(status, p.revents);
        if (n < 0 && errno != EINTR)
            return status & ~MYSQL_WAIT_TIMEOUT; /* let libmariadb find the error */
        my_cancel_if_asked(s);
    }
}

int my_query_wait(struct sink *s, const char *sql, size_t len)
{
    int ret = 0;
    int status = mysql_real_query_start(&ret, s->conn, sql, (unsigned long)len);
    while (status)
        status = mysql_real_query_cont(&ret, s->conn, wait_for(s, status));
    return ret;
}

/* ---- statements and their errors ---- */

void my_drop_connection(struct sink *s)
{
    if (s->conn)
        mysql_close(s->conn);
    s->conn = NULL;
    s->tables_ready = s->key_locked = s->stage_made = false;
}

void my_name_target(struct sink *s, struct ierr *e)
{
    if (s->staged && s->qtable)
        sink_guard_name_target(e->reason, sizeof(e->reason), '`', s->qtable);
    if (!s->null_empty ||
        (!strstr(e->reason, "cannot be null") && !strstr(e->reason, "NULL supplied to NOT NULL")))
        return;
    size_t n = strlen(e->reason);
    snprintf(e->reason + n, sizeof(e->reason) - n,
             "; an unquoted empty field is NULL under route %s's null = \"\" (the default): "
             "quote it (\"\") or set null = \"\\N\" to load empty fields as empty strings, as "
             "LOAD DATA does",
             s->null_route ? s->null_route : "?");
}

void my_fill_error(struct sink *s, unsigned err, const char *msg, const char *what, struct ierr *e)
{
    char clean[400];
    snprintf(clean, sizeof(clean), "%s", msg && *msg ? msg : "unknown error");
    clean[strcspn(clean, "\n")] = '\0';
    s->last_err = err;
    ierr_set(e, my_errno_class(err), "%s: %s (MySQL error %u)", what, clean, err);
    my_name_target(s, e);
    if (my_errno_breaks_connection(err)) {
        log_debug("sink %s: connection dropped after error %u", s->name, err);
        my_drop_connection(s);
    }
}

static int not_connected(struct sink *s, struct ierr *e)
{
    s->last_err = 2006;
    ierr_set(e, IERR_TRANSIENT, "sink %s: connection lost", s->name);
    return -1;
}

int my_run(struct sink *s, const char *sql, size_t len, const char *what, struct ierr *e)
{
    if (!s->conn)
        return not_connected(s, e);
    if (my_query_wait(s, sql, len) == 0) {
        /* A statement with a result set here would leave the connection out of sync. */
        MYSQL_RES *r = mysql_store_result(s->conn);
        if (r)
            mysql_free_result(r);
        return 0;
    }
    my_fill_error(s, mysql_errno(s->conn), mysql_error(s->conn), what, e);
    return -1;
}

MYSQL_RES *my_query(struct sink *s, const char *sql, const char *what, struct ierr *e)
{
    if (!s->conn) {
        not_connected(s, e);
        return NULL;
    }
    MYSQL_RES *r = NULL;
    if (my_query_wait(s, sql, strlen(sql)) == 0 && (r = mysql_store_result(s->conn)))
        return r;
    if (mysql_errno(s->conn))
        my_fill_error(s, mysql_errno(s->conn), mysql_error(s->conn), what, e);
    else
        ierr_set(e, IERR_PERMANENT, "%s: the statement returned no result", what);
    return NULL;
}
