/*
 * mysql_load.c: the LOAD DATA LOCAL INFILE stream of the MySQL/MariaDB sink.
 *
 * DESIGN
 * The worker pushes row batches into write(); libmariadb pulls the "file" of a LOAD
 * DATA LOCAL INFILE statement through a read callback on the thread that runs the
 * statement. A helper thread per statement runs mysql_real_query(LOAD DATA ...); its
 * local-infile read callback takes bytes from a bounded pipe (mysql_pipe.h, 4 MB) that
 * write() fills with rows encoded in the statement's escaped text format. No temporary
 * file, no buffering beyond the pipe and one 256 KB chunk: memory is flat whatever the
 * object's size, and parsing, sending and the server's inserting overlap.
 *
 * Either side stops the other:
 *  - the statement ends early (server error, lost connection): the helper closes the
 *    pipe's read end, the worker's next write returns -1 at once, joins and reports;
 *  - the worker gives up (bad CSV, shutdown, abort()): the pipe is aborted, the read
 *    callback returns -1, libmariadb ends the upload with an empty packet and reads the
 *    server's answer, the helper returns and the transaction is rolled back. If the
 *    helper is stuck in network I/O (a hung server) past MY_CANCEL_WAIT_MS, the socket
 *    is shut down to wake it and the connection is dropped.
 *
 * At shutdown the worker's waits (for room in the pipe, for the thread's end) look at
 * the load's cancel flag every MY_TICK_MS and stop a statement still waiting on the
 * server, e.g. for a table lock, with KILL QUERY (mysql_wait.c).
 *
 * With LOCAL the server turns data errors into warnings and keeps reading (it cannot
 * stop the client mid-file), so after the statement SHOW WARNINGS decides: any warning
 * fails the file with its row mapped back to the object's line, or, under
 * on_error = skip_row, the warned rows become rejects (their staged copies are deleted
 * by ordinal before the merge, see sink_mysql.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/log.h"
#include "sinks/mysql/mysql_int.h"
#include "sinks/sink_guard.h"
#include "base/utf8.h"

#define MY_PIPE_BYTES     ((size_t)4 << 20)
#define MY_CHUNK          ((size_t)256 << 10)
#define MY_OUT_KEEP       (4 * MY_CHUNK) /* encoded rows buffer kept between chunks */
#define MY_CANCEL_WAIT_MS 5000
#define MY_TICK_MS        100

/* ---- the helper thread ---- */

static int infile_init(void **ptr, const char *filename, void *userdata)
{
    (void)filename;
    *ptr = userdata;
    return 0;
}

static int infile_read(void *ptr, char *buf, unsigned int len)
{
    struct sink *s = ptr;
    return (int)my_pipe_read(s->pipe, buf, len);
}

static void infile_end(void *ptr)
{
    (void)ptr;
}

static int infile_error(void *ptr, char *msg, unsigned int len)
{
    (void)ptr;
    snprintf(msg, len, "load cancelled by ingestd");
    return 1105; /* ER_UNKNOWN_ERROR: the connection itself is fine */
}

static void *load_main(void *arg)
{
    struct sink *s = arg;
    struct my_load_result *r = &s->res;

    mysql_thread_init();
    r->rc = mysql_real_query(s->conn, s->load_sql, strlen(s->load_sql));
    if (r->rc) {
        r->err = mysql_errno(s->conn);
        snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", mysql_sqlstate(s->conn));
        snprintf(r->msg, sizeof(r->msg), "%s", mysql_error(s->conn));
    } else {
        r->affected = (uint64_t)mysql_affected_rows(s->conn);
        r->warnings = mysql_warning_count(s->conn);
    }
    my_pipe_close_read(s->pipe);
    mysql_thread_end();
    return NULL;
}

/* The worker, waiting on the pipe or the thread: stop the statement at shutdown. */
static void tick(void *arg)
{
    my_cancel_if_asked(arg);
}

int my_load_start(struct sink *s, struct ierr *e)
{
    if (!s->conn) {
        ierr_set(e, IERR_TRANSIENT, "sink %s: connection lost", s->name);
        return -1;
    }
    if (!s->pipe) {
        s->pipe = my_pipe_new(MY_PIPE_BYTES);
        my_pipe_set_writer_tick(s->pipe, tick, s, MY_TICK_MS);
    } else
        my_pipe_reset(s->pipe);
    mysql_set_local_infile_handler(s->conn, infile_init, infile_read, infile_end, infile_error, s);
    memset(&s->res, 0, sizeof(s->res));
    s->load_base = s->rows_sent;
    int rc = pthread_create(&s->thread, NULL, load_main, s);
    if (rc) {
        ierr_set(e, IERR_TRANSIENT, "sink %s: cannot start the LOAD DATA thread: %s", s->name,
                 strerror(rc));
        return -1;
    }
    s->thread_running = true;
    s->state = MY_LOAD;
    return 0;
}

static void join(struct sink *s)
{
    struct timespec ts;
    if (!s->thread_running)
        return;
    for (;;) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += MY_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_timedjoin_np(s->thread, NULL, &ts) == 0)
            break;
        my_cancel_if_asked(s);
    }
    s->thread_running = false;
    s->state = MY_TXN;
}

/* ---- errors and warnings ---- */

/* e from a message of the LOAD DATA statement, with the object's line and column. */
static void locate(struct sink *s, const char *msg, struct ierr *e)
{
    struct my_warning w;
    my_parse_warning(msg, (const char *const *)s->tcols, s->ncols, &w);
    if (w.row)
        e->line = linemap_lookup(&s->lines, s->load_base + w.row);
    if (w.column >= 0) {
        e->column = (unsigned)w.column + 1;
        snprintf(e->column_name, sizeof(e->column_name), "%s", s->obj_cols[w.column]);
    }
    snprintf(e->sample, sizeof(e->sample), "%s", w.sample);
    if (!e->sample[0] && w.row && s->suspect.ord == s->load_base + w.row && w.column >= 0 &&
        (size_t)w.column == s->suspect.column)
        snprintf(e->sample, sizeof(e->sample), "%s", s->suspect.sample);
}

static void result_error(struct sink *s, struct ierr *e)
{
    if (s->res.rc == 0) {
        ierr_set(e, IERR_TRANSIENT, "LOAD DATA ended before its data was sent");
        return;
    }
    my_fill_error(s, s->res.err, s->res.msg, "LOAD DATA", e);
    locate(s, s->res.msg, e);
}

void my_reject_tuple(struct sink *s, uint64_t line, unsigned column, const char *reason,
                     const char *raw)
{
    struct buf *b = &s->rejects;
    if (b->len)
        buf_puts(b, ", ");
    buf_putc(b, '(');
    my_put_str(b, s->bucket);
    buf_puts(b, ", ");
    my_put_str(b, s->key);
    buf_puts(b, ", ");
    my_put_str(b, s->etag);
    buf_puts(b, ", ");
    my_put_str(b, s->route);
    if (line)
        buf_printf(b, ", %" PRIu64, line);
    else
        buf_puts(b, ", NULL");
    if (column)
        buf_printf(b, ", %u, ", column);
    else
        buf_puts(b, ", NULL, ");
    my_put_str(b, column && column <= s->ncols ? s->obj_cols[column - 1] : NULL);
    buf_puts(b, ", ");
    my_put_literal(b, reason, reason ? strnlen(reason, 60000) : 0);
    buf_puts(b, ", ");
    my_put_str(b, raw);
    buf_putc(b, ')');
}

static void add_warned(struct sink *s, uint64_t ord)
{
    if (s->nwarned == s->capwarned) {
        s->capwarned = s->capwarned ? 2 * s->capwarned : 64;
        s->warned = xrealloc(s->warned, s->capwarned * sizeof(*s->warned));
    }
    s->warned[s->nwarned++] = ord;
}

/* SHOW WARNINGS after a LOAD DATA that reported some. */
static int check_warnings(struct sink *s, struct ierr *e)
{
    MYSQL_RES *r = my_query(s, "SHOW WARNINGS", "SHOW WARNINGS", e);
    if (!r)
        return -1;
    unsigned shown = 0;
    int rc = 0;
    MYSQL_ROW row;
    while (rc == 0 && (row = mysql_fetch_row(r))) {
        const char *level = row[0] ? row[0] : "", *code = row[1] ? row[1] : "0";
        const char *raw = row[2] ? row[2] : "";
        char msg[512];
        shown++;
        if (!strcmp(level, "Note"))
            continue;
        struct my_warning w;
        my_parse_warning(raw, (const char *const *)s->tcols, s->ncols, &w);
        /* Messages about the staging table name the target instead. */
        snprintf(msg, sizeof(msg), "%s", raw);
        sink_guard_name_target(msg, sizeof(msg), '`', s->qtable);
        if (!s->skip_rows || !w.row) {
            ierr_set(e, IERR_PERMANENT, "LOAD DATA into %s: %s (MySQL %s %s)", s->qtable, msg,
                     level, code);
            my_name_target(s, e);
            locate(s, raw, e);
            rc = -1;
            break;
        }
        uint64_t ord = s->load_base + w.row;
        if (s->nwarned && s->warned[s->nwarned - 1] == ord)
            continue; /* one reject per row, with its first warning */
        add_warned(s, ord);
        uint64_t line = linemap_lookup(&s->lines, ord);
        log_warn("line %" PRIu64 ": row skipped: %s", line, msg);
        my_reject_tuple(s, line, w.column >= 0 ? (unsigned)w.column + 1 : 0, msg, NULL);
        s->nrejects++;
        if ((int64_t)s->nrejects > s->max_errors) {
            ierr_set(e, IERR_PERMANENT,
                     "more than max_errors (%" PRId64 ") rows rejected; "
                     "the last: %s",
                     s->max_errors, msg);
            my_name_target(s, e);
            locate(s, raw, e);
            rc = -1;
        }
    }
    mysql_free_result(r);
    if (rc == 0 && shown < s->res.warnings) {
        ierr_set(e, IERR_PERMANENT,
                 "LOAD DATA into %s raised %u warnings; only %u could be "
                 "read back",
                 s->qtable, s->res.warnings, shown);
        rc = -1;
    }
    return rc;
}

/* ---- encoding ---- */

static size_t put_u64(char *o, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        o[i] = tmp[n - 1 - i];
    return n;
}

/* Keeps the first value the server will warn about without quoting it (see struct sink). */
static void watch_limits(struct sink *s, const struct row *row, size_t start)
{
    for (size_t c = 0; s->limits && c < s->ncols; c++) {
        const struct field *f = &row->fields[c];
        const struct my_col_limit *lim = &s->limits[c];

        if (!f->ptr && lim->notnull) /* the row, as PostgreSQL shows it */
            utf8_sample(s->suspect.sample, sizeof s->suspect.sample, s->out.data + start,
                        s->out.len - start);
        else if (f->ptr && lim->maxchars > 0 && f->len > (size_t)lim->maxchars &&
                 utf8_count(f->ptr, f->len) > (size_t)lim->maxchars)
            utf8_sample(s->suspect.sample, sizeof s->suspect.sample, f->ptr, f->len);
        else
            continue;
        s->suspect.ord = s->rows_sent;
        s->suspect.column = c;
        return;
    }
}

/* The row's size comes from the object (up to max_row_bytes): -1 with e set (transient)
 * when the memory for it cannot be had. */
static int encode_row(struct sink *s, const struct row *row, struct ierr *e)
{
    size_t start = s->out.len;
    size_t need = 26;
    for (size_t c = 0; c < s->ncols; c++) {
        size_t n = 2 * row->fields[c].len + 3;
        need += s->conv[c] && n < MY_CONV_MAX + 3 ? MY_CONV_MAX + 3 : n;
    }
    if (buf_try_reserve(&s->out, need) < 0) {
        ierr_set(e, IERR_TRANSIENT, "line %" PRIu64 ": out of memory: %zu bytes for the row",
                 row->line, need);
        e->line = row->line;
        return -1;
    }
    char *o = s->out.data + s->out.len;
    for (size_t c = 0; c < s->ncols; c++) {
        const struct field *f = &row->fields[c];
        size_t n;
        if (c)
            *o++ = '\t';
        if (!f->ptr) {
            *o++ = '\\';
            *o++ = 'N';
        } else if (s->conv[c] == MY_CONV_BOOL && my_conv_bool(f->ptr, f->len, o)) {
            o++;
        } else if (s->conv[c] == MY_CONV_UTC && (n = my_conv_utc(f->ptr, f->len, o))) {
            o += n;
        } else {
            o += my_escape_into(o, f->ptr, f->len);
        }
    }
    s->rows_sent++;
    s->out.len = (size_t)(o - s->out.data);
    if (!s->suspect.ord)
        watch_limits(s, row, start);
    if (s->staged) {
        *o++ = '\t';
        o += put_u64(o, s->rows_sent);
    }
    *o++ = '\n';
    s->out.len = (size_t)(o - s->out.data);
    *o = '\0';
    return 0;
}

/* Hands the encoded rows to the pipe; when the statement has already ended, joins it
 * and reports why. */
static int push(struct sink *s, struct ierr *e)
{
    if (s->out.len == 0)
        return 0;
    if (my_pipe_write(s->pipe, s->out.data, s->out.len) == 0) {
        buf_shrink(&s->out, MY_OUT_KEEP); /* a big row does not keep its memory */
        return 0;
    }
    join(s);
    buf_reset(&s->out);
    result_error(s, e);
    return -1;
}

int my_load_write(struct sink *s, const struct batch *b, struct ierr *e)
{
    for (size_t i = 0; i < b->nrows; i++) {
        linemap_add(&s->lines, b->rows[i].line);
        if (encode_row(s, &b->rows[i], e) < 0 || (s->out.len >= MY_CHUNK && push(s, e)))
            return -1;
    }
    return 0;
}

int my_load_finish(struct sink *s, struct ierr *e)
{
    if (push(s, e))
        return -1;
    my_pipe_finish(s->pipe);
    join(s);
    if (s->res.rc) {
        result_error(s, e);
        return -1;
    }
    log_debug("LOAD DATA into %s: %" PRIu64 " rows, %u warnings", s->qtable, s->res.affected,
              s->res.warnings);
    return s->res.warnings ? check_warnings(s, e) : 0;
}

void my_load_cancel(struct sink *s)
{
    struct timespec ts;

    if (!s->thread_running)
        return;
    /* A statement waiting on the server does not read the pipe: at shutdown, stop it. */
    my_cancel_if_asked(s);
    my_pipe_abort(s->pipe);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += MY_CANCEL_WAIT_MS / 1000;
    if (pthread_timedjoin_np(s->thread, NULL, &ts) != 0) {
        /* Stuck in a socket read or write: shutting the socket down wakes it. */
        log_warn("sink %s: LOAD DATA did not stop within %d ms: closing the connection", s->name,
                 MY_CANCEL_WAIT_MS);
        my_socket fd = mysql_get_socket(s->conn);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        pthread_join(s->thread, NULL);
        s->res.rc = 1;
        s->res.err = 2013;
    }
    s->thread_running = false;
    s->state = MY_TXN;
    buf_reset(&s->out);
    if (s->res.rc && my_errno_breaks_connection(s->res.err))
        my_drop_connection(s);
}
