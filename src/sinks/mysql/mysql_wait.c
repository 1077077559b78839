/*
 * mysql_wait.c: statements of the MySQL/MariaDB sink that a shutdown can interrupt.
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
