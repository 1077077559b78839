/*
 * utf8.h: UTF-8 validation and safe samples for error messages.
 *
 * Pure functions on caller-owned buffers; any thread may call them. Validation
 * follows RFC 3629: no overlong forms, no surrogates (U+D800..U+DFFF), nothing
 * above U+10FFFF. NUL is valid UTF-8 but is reported separately where the
 * caller cares (PostgreSQL text cannot hold it).
 */
#ifndef INGESTD_UTF8_H
#define INGESTD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

/* True when s[0..n) is valid UTF-8; otherwise false and *bad (if not NULL) is the offset
 * of the first byte of the first invalid sequence. */
bool utf8_valid(const char *s, size_t n, size_t *bad);

/* Number of code points in valid UTF-8 s[0..n) (continuation bytes are not counted). */
size_t utf8_count(const char *s, size_t n);

/*
 * Copy s[0..n) into out (outsz bytes, NUL-terminated) for a log line or an error
 * report: valid UTF-8 is kept, invalid bytes and control characters other than tab
 * become "\xNN", a code point is never cut in half, and "..." marks truncation.
 * The result is always valid UTF-8 (JSON-safe once escaped by jansson).
 */
void utf8_sample(char *out, size_t outsz, const char *s, size_t n);

/*
 * Append s[0..n) to out so that it cannot end a line, move the cursor or start a
 * terminal sequence: valid UTF-8 is kept; a backslash is doubled, each character of
 * `quote` (NULL: none) gets a backslash, newline, carriage return and tab become \n,
 * \r and \t, and the other C0 controls, DEL, the C1 controls (U+0080..U+009F) and
 * invalid bytes become \xNN (one per byte). Lossless, and the result is valid UTF-8.
 */
void utf8_escape(struct buf *out, const char *s, size_t n, const char *quote);

#endif
