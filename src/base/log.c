/*
 * log.c: records to journald (native protocol, structured fields) or to stderr.
 *
 * The sink is chosen once in log_init(): journald when $JOURNAL_STREAM names the
 * device and inode of our stderr (systemd sets it for services whose output goes
 * to the journal), otherwise stderr lines: text, or JSON objects with
 * log_format = json (which wins over the journal: an operator who asks for JSON
 * gets it on stderr wherever that goes). Text lines escape everything that could end
 * a line or drive a terminal, so an object key or a database message cannot forge a
 * record. Each record is formatted in a local buffer and written with a single
 * write(2), so lines from workers never interleave. Level and format are atomics so
 * that a reload may change them while workers log.
 */
#include "base/log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/utf8.h"

#ifdef WITH_SYSTEMD
#include <systemd/sd-journal.h>
#endif

static atomic_int log_level = LOG_INFO;
static atomic_bool use_journal;
static atomic_int log_format = LOG_FORMAT_TEXT;

static _Thread_local struct log_field ctx_fields[LOG_CONTEXT_MAX];
static _Thread_local size_t ctx_count;

static const struct {
    const char *name;
    int level;
} level_names[] = {
    {"err", LOG_ERR},       {"error", LOG_ERR}, {"warning", LOG_WARNING}, {"warn", LOG_WARNING},
    {"notice", LOG_NOTICE}, {"info", LOG_INFO}, {"debug", LOG_DEBUG},
};

static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (str_empty(js) || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(void)
{
#ifdef WITH_SYSTEMD
    atomic_store(&use_journal, stderr_is_journal());
#else
    (void)stderr_is_journal;
#endif
}

void log_force_stderr(bool on)
{
    if (on)
        atomic_store(&use_journal, false);
}

void log_set_format(enum log_format format)
{
    atomic_store(&log_format, (int)format);
}

void log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int log_get_level(void)
{
    return atomic_load(&log_level);
}

int log_level_parse(const char *s, int *level)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (strcmp(s, level_names[i].name) == 0) {
            *level = level_names[i].level;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(int level)
{
    switch (level) {
    case LOG_EMERG:
    case LOG_ALERT:
    case LOG_CRIT:
    case LOG_ERR:
        return "err";
    case LOG_WARNING:
        return "warning";
    case LOG_NOTICE:
        return "notice";
    case LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

void log_context_set(const struct log_field *fields, size_t n)
{
    if (n > LOG_CONTEXT_MAX)
        n = LOG_CONTEXT_MAX;
    memcpy(ctx_fields, fields, n * sizeof *fields);
    ctx_count = n;
}

void log_context_clear(void)
{
    ctx_count = 0;
}

static void append_fields(struct buf *out, const struct log_field *f, size_t n, bool *first)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = f[i].value;
        size_t len;

        if (v == NULL)
            continue;
        len = strlen(v);
        buf_puts(out, *first ? " [" : " ");
        *first = false;
        buf_printf(out, "%s=", f[i].name);
        /* Quote values with spaces so the line stays parseable by eye and by awk; inside,
         * a quote is escaped, so a value cannot close its quotes early. */
        if (strpbrk(v, " \t\"[]") || len == 0) {
            buf_putc(out, '"');
            utf8_escape(out, v, len, "\"");
            buf_putc(out, '"');
        } else {
            utf8_escape(out, v, len, NULL);
        }
    }
}

static void put_stamp(struct buf *out, int64_t realtime_ms)
{
    time_t secs = (time_t)(realtime_ms / 1000);
    struct tm tm;
    char stamp[32];

    gmtime_r(&secs, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    buf_printf(out, "%s.%03dZ", stamp, (int)(realtime_ms % 1000));
}

void log_format_line(struct buf *out, int64_t realtime_ms, int level, const struct log_field *ctx,
                     size_t nctx, const struct log_field *fields, size_t nfields, const char *msg)
{
    bool first = true;

    put_stamp(out, realtime_ms);
    buf_printf(out, " %s: ", log_level_name(level));
    utf8_escape(out, msg, strlen(msg), NULL);
    append_fields(out, ctx, nctx, &first);
    append_fields(out, fields, nfields, &first);
    if (!first)
        buf_putc(out, ']');
}

/* A JSON string of s; bytes that are not UTF-8 are written as \xNN text. */
static json_t *json_text(const char *s)
{
    size_t n = strlen(s);
    struct buf b;
    json_t *j;

    if (utf8_valid(s, n, NULL))
        return json_stringn(s, n);
    buf_init(&b);
    utf8_escape(&b, s, n, NULL);
    j = json_stringn(b.data, b.len);
    buf_free(&b);
    return j;
}

/* Counts are numbers in JSON, so that queries can compare and sum them. */
static json_t *json_field(const char *name, const char *v)
{
    static const char *const numeric[] = {"ROWS", "BYTES", "DURATION_MS"};
    int64_t n;

    for (size_t i = 0; i < ARRAY_SIZE(numeric); i++)
        if (strcmp(name, numeric[i]) == 0 && parse_int64(v, 0, INT64_MAX, &n) == 0)
            return json_integer((json_int_t)n);
    return json_text(v);
}

static void json_fields(json_t *o, const struct log_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char key[64];
        size_t k;

        if (f[i].value == NULL)
            continue;
        for (k = 0; f[i].name[k] && k + 1 < sizeof key; k++)
            key[k] = (char)(f[i].name[k] >= 'A' && f[i].name[k] <= 'Z' ? f[i].name[k] + 32
                                                                       : f[i].name[k]);
        key[k] = '\0';
        json_object_set_new(o, key, json_field(f[i].name, f[i].value));
    }
}

void log_format_json(struct buf *out, int64_t realtime_ms, int level, const struct log_field *ctx,
                     size_t nctx, const struct log_field *fields, size_t nfields, const char *msg)
{
    json_t *o = json_object();
    struct buf ts;
    char *text;

    buf_init(&ts);
    put_stamp(&ts, realtime_ms);
    json_object_set_new(o, "ts", json_string(ts.data));
    json_object_set_new(o, "level", json_string(log_level_name(level)));
    json_object_set_new(o, "msg", json_text(msg));
    json_fields(o, ctx, nctx);
    json_fields(o, fields, nfields);
    /* ASCII only: no C1 control or odd code point reaches a terminal raw. */
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (text == NULL)
        abort(); /* only on allocation failure */
    buf_puts(out, text);
    free(text);
    json_decref(o);
    buf_free(&ts);
}

size_t log_journal_record(char **out, size_t max, int level, const char *file, int line,
                          const char *func, const struct log_field *fields, size_t nfields,
                          const char *msg)
{
    size_t n = 0;

#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (n < max)                                                                               \
            out[n++] = xasprintf(__VA_ARGS__);                                                     \
    } while (0)
    ADD("MESSAGE=%s", msg);
    ADD("PRIORITY=%d", level);
    ADD("CODE_FILE=%s", file);
    ADD("CODE_LINE=%d", line);
    ADD("CODE_FUNC=%s", func);
    ADD("SYSLOG_IDENTIFIER=ingestd");
    for (size_t i = 0; i < ctx_count; i++)
        if (ctx_fields[i].value)
            ADD("%s=%s", ctx_fields[i].name, ctx_fields[i].value);
    for (size_t i = 0; i < nfields; i++)
        if (fields[i].value)
            ADD("%s=%s", fields[i].name, fields[i].value);
#undef ADD
    return n;
}

#ifdef WITH_SYSTEMD
static void journal_write(int level, const char *file, int line, const char *func,
                          const struct log_field *fields, size_t nfields, const char *msg)
{
    char *owned[LOG_JOURNAL_MAX];
    struct iovec iov[LOG_JOURNAL_MAX];
    size_t n = log_journal_record(owned, ARRAY_SIZE(owned), level, file, line, func, fields,
                                  nfields, msg);

    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = owned[i];
        iov[i].iov_len = strlen(owned[i]);
    }
    sd_journal_sendv(iov, (int)n);
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
}
#endif

void log_write(int level, const char *file, int line, const char *func,
               const struct log_field *fields, size_t nfields, const char *fmt, ...)
{
    struct buf msg, out;
    va_list ap;
    int saved_errno = errno;

    if (level > atomic_load(&log_level))
        return;
    buf_init(&msg);
    va_start(ap, fmt);
    buf_vprintf(&msg, fmt, ap);
    va_end(ap);

#ifdef WITH_SYSTEMD
    if (atomic_load(&use_journal) && atomic_load(&log_format) == LOG_FORMAT_TEXT) {
        journal_write(level, file, line, func, fields, nfields, msg.data ? msg.data : "");
        buf_free(&msg);
        errno = saved_errno;
        return;
    }
#else
    (void)file;
    (void)line;
    (void)func;
#endif
    buf_init(&out);
    if (atomic_load(&log_format) == LOG_FORMAT_JSON)
        log_format_json(&out, now_realtime_ms(), level, ctx_fields, ctx_count, fields, nfields,
                        msg.data ? msg.data : "");
    else
        log_format_line(&out, now_realtime_ms(), level, ctx_fields, ctx_count, fields, nfields,
                        msg.data ? msg.data : "");
    buf_putc(&out, '\n');
    /* A short write to stderr has nowhere better to be reported. */
    if (write(STDERR_FILENO, out.data, out.len) < 0)
        (void)0;
    buf_free(&out);
    buf_free(&msg);
    errno = saved_errno;
}

#define COMPLAIN_FIRST_INTERVAL_MS 60000ull
#define COMPLAIN_MAX_INTERVAL_MS   3600000ull

void complain(struct complaint *c, int level, const char *fmt, ...)
{
    uint64_t now = now_monotonic_ms();
    struct buf msg;
    va_list ap;

    c->count++;
    if (c->failing && now < c->next_ms)
        return;
    buf_init(&msg);
    va_start(ap, fmt);
    buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    if (!c->failing) {
        log_write(level, __FILE__, __LINE__, __func__, NULL, 0, "%s", msg.data);
        c->failing = true;
        c->interval_ms = COMPLAIN_FIRST_INTERVAL_MS;
    } else {
        log_write(level, __FILE__, __LINE__, __func__, NULL, 0, "still failing (%u times): %s",
                  c->count, msg.data);
        c->interval_ms = c->interval_ms * 2 > COMPLAIN_MAX_INTERVAL_MS ? COMPLAIN_MAX_INTERVAL_MS
                                                                       : c->interval_ms * 2;
    }
    c->next_ms = now + c->interval_ms;
    buf_free(&msg);
}

void complain_release(struct complaint *c, int level, const char *fmt, ...)
{
    struct buf msg;
    va_list ap;

    if (!c->failing)
        return;
    buf_init(&msg);
    va_start(ap, fmt);
    buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    log_write(level, __FILE__, __LINE__, __func__, NULL, 0, "recovered after %u failures: %s",
              c->count, msg.data);
    buf_free(&msg);
    memset(c, 0, sizeof *c);
}
