/*
 * util.h: memory, growable buffers, time and small string helpers shared by every module.
 *
 * The x* allocators log and abort instead of returning NULL: they serve the
 * daemon's own allocations, which are small and bounded. Memory whose size an
 * object decides (a row, a field, a batch of a wide table) is taken with checked
 * calls instead (buf_try_reserve, plain malloc with a NULL check), so that a
 * failed allocation fails that load (transient) and never the process.
 */
#ifndef INGESTD_UTIL_H
#define INGESTD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a)          (sizeof(a) / sizeof((a)[0]))
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* A growable byte buffer, always NUL-terminated (data may also hold NULs). */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);  /* frees the storage, leaves an empty buffer */
void buf_reset(struct buf *b); /* len = 0, keeps the storage */
void buf_reserve(struct buf *b, size_t extra);
/* Room for extra more bytes, or -1 (b unchanged) when the memory cannot be had. */
int buf_try_reserve(struct buf *b, size_t extra);
/* Empties b, and frees its storage when it grew over keep bytes (for one big row). */
void buf_shrink(struct buf *b, size_t keep);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) PRINTF_LIKE(2, 0);
char *buf_steal(struct buf *b); /* returns data (owned by caller), resets b */

/* Time. */
uint64_t now_monotonic_ms(void);
uint64_t now_monotonic_us(void);
int64_t now_realtime_ms(void);

/* Hex of n bytes into out (2n+1 bytes, lower case). */
void hex_encode(const unsigned char *in, size_t n, char *out);

/* Strings. */
bool str_empty(const char *s); /* NULL or "" */
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
char *str_trim(char *s); /* in place; returns s advanced past leading space */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out); /* 0 ok, -1 bad */
/* A byte count: digits, optionally followed by K, M or G (powers of 1024). 0 ok, -1 bad. */
int parse_size(const char *s, int64_t min, int64_t max, int64_t *out);
/* n as parse_size reads it, in the largest unit that divides it: "64M", "1536K", "1000". */
void size_text(char *out, size_t outsz, uint64_t n);
int parse_bool(const char *s, bool *out); /* true/false/yes/no/on/off/1/0 */

/* Exponential backoff with full jitter: random in [0, min(cap, base * 2^attempt)]. */
uint64_t backoff_full_jitter_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms);

#endif
