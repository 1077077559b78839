/*
 * mysql_conn.c: a new connection of the MySQL/MariaDB sink, with TLS as ssl_mode says
 * and the session settings every statement relies on (utf8mb4, lock timeouts, local
 * infile, the non-blocking interface mysql_wait.c uses). Used by open() and every
 * reconnect, and for the second connection that stops a statement at shutdown.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sinks/mysql/mysql_int.h"

#define MY_CONNECT_TIMEOUT 10u
/* libmariadb's per-call socket timeouts. A server that takes no bytes for a minute is
 * gone (and the worker's write() waits on the pipe behind it); one that answers nothing
 * for 15 minutes may still be merging a very large stage. */
#define MY_WRITE_TIMEOUT 60u
#define MY_READ_TIMEOUT  900u

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
    mysql_library_init(0, NULL, NULL);
}

/*
 * ssl_mode: disabled (no TLS); preferred (the default: TLS when the server offers it,
 * unverified); required (TLS or fail, unverified); verify_ca and verify_identity (TLS,
 * certificate checked against ssl_ca or the system store; this connector checks the
 * host name in both).
 */
static int apply_tls(MYSQL *m, const struct my_conn_params *p, const char *name, struct ierr *e)
{
    const char *mode = p->ssl_mode ? p->ssl_mode : "preferred";
    my_bool yes = 1, no = 0;

    if (!strcmp(mode, "disabled"))
        return 0;
    bool enforce = strcmp(mode, "preferred") != 0;
    bool verify = !strcmp(mode, "verify_ca") || !strcmp(mode, "verify_identity");
    if (!enforce && strcmp(mode, "preferred")) {
        ierr_set(e, IERR_CONFIG, "sink %s: unknown ssl_mode \"%s\"", name, mode);
        return -1;
    }
    if (enforce && !verify && strcmp(mode, "required")) {
        ierr_set(e, IERR_CONFIG, "sink %s: unknown ssl_mode \"%s\"", name, mode);
        return -1;
    }
    mysql_ssl_set(m, NULL, NULL, p->ssl_ca, NULL, NULL);
    mysql_options(m, MYSQL_OPT_SSL_ENFORCE, enforce ? &yes : &no);
    mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, verify ? &yes : &no);
    return 0;
}

MYSQL *my_connect(const struct my_conn_params *p, const char *name, struct ierr *e)
{
    unsigned connect_timeout = MY_CONNECT_TIMEOUT, read_timeout = MY_READ_TIMEOUT;
    unsigned write_timeout = MY_WRITE_TIMEOUT, on = 1;

    pthread_once(&lib_once, lib_init);
    MYSQL *m = mysql_init(NULL);
    if (!m) {
        ierr_set(e, IERR_TRANSIENT, "sink %s: mysql_init failed", name);
        return NULL;
    }
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &write_timeout);
    mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &on);
    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* For mysql_wait.c; blocking calls work as before. */
    mysql_options(m, MYSQL_OPT_NONBLOCK, 0);
    mysql_optionsv(m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "ingestd");
    if (apply_tls(m, p, name, e))
        goto fail;
    /* CLIENT_FOUND_ROWS: UPDATE reports matched rows, so the ledger update counts 1
     * even when nothing changed. */
    if (!mysql_real_connect(m, p->host, p->user, p->password, p->database, p->port, NULL,
                            CLIENT_FOUND_ROWS)) {
        unsigned err = mysql_errno(m);
        ierr_set(e, my_errno_class(err),
                 "sink %s: cannot connect to MySQL at %s:%u: %s "
                 "(MySQL error %u)",
                 name, p->host, p->port, mysql_error(m), err);
        goto fail;
    }
    /* libmariadb goes on in clear when the server offers no TLS unless it verifies the
     * certificate: ssl_mode = required must not. */
    if (p->ssl_mode && strcmp(p->ssl_mode, "disabled") && strcmp(p->ssl_mode, "preferred") &&
        !mysql_get_ssl_cipher(m)) {
        ierr_set(e, IERR_CONFIG, "sink %s: ssl_mode = %s but the server at %s:%u offers no TLS",
                 name, p->ssl_mode, p->host, p->port);
        goto fail;
    }
    char locks[128];
    snprintf(locks, sizeof(locks),
             "SET SESSION lock_wait_timeout = %d, innodb_lock_wait_timeout = %d",
             p->lock_timeout > 0 ? p->lock_timeout : MY_LOCK_TIMEOUT,
             p->lock_timeout > 0 ? p->lock_timeout : MY_LOCK_TIMEOUT);
    if (mysql_real_query(m, my_sql_session, strlen(my_sql_session)) ||
        mysql_real_query(m, locks, strlen(locks))) {
        unsigned err = mysql_errno(m);
        ierr_set(e, my_errno_class(err), "sink %s: session setup: %s (MySQL error %u)", name,
                 mysql_error(m), err);
        goto fail;
    }
    return m;
fail:
    mysql_close(m);
    return NULL;
}
