/*
 * log.h: the daemon's only way to say something.
 *
 * Records go to journald with structured fields when stderr is connected to the
 * journal ($JOURNAL_STREAM matches stderr's dev:ino), otherwise to stderr as one
 * readable line: "2026-11-22T01:02:03.456Z warning: message [S3_KEY=a.csv ...]"
 * (control characters, invalid UTF-8 and backslashes escaped; quotes too inside quoted
 * values). With LOG_FORMAT_JSON every record is one JSON object on stderr instead,
 * journal or not: {"ts", "level", "msg", then the fields in lower case}.
 * Thread-safe: workers log freely. Each thread may set a context (job id, bucket,
 * key, route, ...) that is attached to every record it writes until cleared.
 */
#ifndef INGESTD_LOG_H
#define INGESTD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include "base/util.h"

/* Levels are syslog priorities: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG. */

/* A structured field: NAME must be upper case [A-Z0-9_] as journald requires. */
struct log_field {
    const char *name;
    const char *value;
};

#define LOG_CONTEXT_MAX 8

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON }; /* [ingestd] log_format */

void log_init(void); /* detects journald; call once from main */
void log_set_level(int level);
int log_get_level(void);
int log_level_parse(const char *s, int *level); /* "debug".."err" -> 0, else -1 */
const char *log_level_name(int level);
void log_force_stderr(bool on); /* tests: never use journald */
void log_set_format(enum log_format format);

/* Per-thread context; strings are borrowed and must outlive the context. */
void log_context_set(const struct log_field *fields, size_t n);
void log_context_clear(void);

void log_write(int level, const char *file, int line, const char *func,
               const struct log_field *fields, size_t nfields, const char *fmt, ...)
    PRINTF_LIKE(7, 8);

#define log_err(...)    log_write(LOG_ERR, __FILE__, __LINE__, __func__, NULL, 0, __VA_ARGS__)
#define log_warn(...)   log_write(LOG_WARNING, __FILE__, __LINE__, __func__, NULL, 0, __VA_ARGS__)
#define log_notice(...) log_write(LOG_NOTICE, __FILE__, __LINE__, __func__, NULL, 0, __VA_ARGS__)
#define log_info(...)   log_write(LOG_INFO, __FILE__, __LINE__, __func__, NULL, 0, __VA_ARGS__)
#define log_debug(...)  log_write(LOG_DEBUG, __FILE__, __LINE__, __func__, NULL, 0, __VA_ARGS__)
/* With extra fields for this record only: log_fields(LOG_INFO, f, ARRAY_SIZE(f), "fmt", ...) */
#define log_fields(level, f, n, ...)                                                               \
    log_write(level, __FILE__, __LINE__, __func__, f, n, __VA_ARGS__)

/*
 * The journald record of a message, as journal fields "NAME=value" (MESSAGE, PRIORITY,
 * CODE_FILE, CODE_LINE, CODE_FUNC, SYSLOG_IDENTIFIER, then the calling thread's
 * context and `fields`; NULL values are left out) into out[0..max). Returns the count;
 * the caller frees each string. This is what is sent to journald; exposed for tests.
 */
#define LOG_JOURNAL_MAX (8 + 2 * LOG_CONTEXT_MAX + 16)
size_t log_journal_record(char **out, size_t max, int level, const char *file, int line,
                          const char *func, const struct log_field *fields, size_t nfields,
                          const char *msg);

/* Format one stderr line (no trailing newline) into out, as text or as a JSON object;
 * exposed for tests. */
void log_format_line(struct buf *out, int64_t realtime_ms, int level, const struct log_field *ctx,
                     size_t nctx, const struct log_field *fields, size_t nfields, const char *msg);
void log_format_json(struct buf *out, int64_t realtime_ms, int level, const struct log_field *ctx,
                     size_t nctx, const struct log_field *fields, size_t nfields, const char *msg);

/*
 * Rate limiting for repeated failures (SQS unreachable, DB down): the first
 * complain() logs; later ones log "still failing (N times)" at doubling intervals
 * (up to an hour); complain_release() logs "recovered" once, if it had failed.
 * A struct complaint is used by one thread only; zero-initialise it.
 */
struct complaint {
    uint64_t next_ms;
    uint64_t interval_ms;
    unsigned count;
    bool failing;
};

void complain(struct complaint *c, int level, const char *fmt, ...) PRINTF_LIKE(3, 4);
void complain_release(struct complaint *c, int level, const char *fmt, ...) PRINTF_LIKE(3, 4);

#endif
