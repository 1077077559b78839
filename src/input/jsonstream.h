/*
 * jsonstream.h: incremental JSON Lines / JSON array parsing into row batches for a sink.
 *
 * The JSON counterpart of csvstream.h, with the same callbacks (struct
 * csvstream_cb), the same batches of borrowed struct field (valid only
 * during the callback, NUL-terminated) and the same stats. Memory stays constant
 * whatever the object size: one batch plus the record being read, which may not
 * exceed the route's max_row_bytes of JSON text (JSONSTREAM_MAX_RECORD when 0),
 * and jansson's tree while the record is checked, refused past
 * JSONSTREAM_CHECK_FACTOR times that plus JSONSTREAM_CHECK_SLACK (jsonmem.h).
 *
 * Formats, from the route:
 *   jsonl  one JSON object per line (LF or CRLF); blank lines are skipped.
 *   json   one JSON value holding an array of objects, never loaded whole: a
 *          tokenizer finds each element's bounds and only that element is parsed.
 *          The array is the top-level value, or, when the top level is an object,
 *          the array at the route's json_path (member names joined by '.', e.g.
 *          "data" or "result.items"); without json_path, the first member of the
 *          top-level object whose value is an array. Other members are skipped
 *          (their syntax is checked loosely: strings and bracket nesting).
 * A UTF-8 BOM at the start is skipped (it still counts in byte offsets).
 *
 * Records to rows: every record must be an object. Its top-level members are the
 * fields. The columns are the route's `columns` when given (other members are
 * ignored: the list selects fields), otherwise the first record's member names in
 * the order written; a later record with a member not among them is a bad row
 * ("unknown field"). A column missing from a record is NULL. Values: a string is
 * its decoded text; a number is kept exactly as written (no reformatting);
 * true/false are "true"/"false"; null is NULL; an object or array is its JSON text
 * with insignificant whitespace removed (numbers and escapes as written). The
 * route's null strings, header, delimiter, quote and skip_lines do not apply.
 * Duplicate member names in one object are an error (as is any invalid JSON).
 *
 * Positions: rows carry the 1-based line on which their record starts. Error
 * reasons name the line and the 0-based byte offset in the (decompressed) object
 * of the problem ("line 7, byte offset 412: ..."), or, for a field, the line of
 * its member ("line 9: unknown field ..."): in a record written over several
 * lines that is not the record's first line. struct ierr's line is the line the
 * reason names; column is 1-based with column_name when a field is at fault. A
 * skipped row is passed to the reject callback with its record's line.
 *
 * Columns and members: records are matched by member name, never by position.
 * With the route's columns, members not listed are ignored and a missing one is
 * NULL (unlike a CSV header, which must name exactly those columns: a JSON
 * record cannot put a value under the wrong name by its order).
 *
 * Errors: a bad record (invalid JSON, not an object, unknown field, a validate.*
 * rule failed) fails the stream under on_error = abort; under skip_row it goes to
 * the reject callback (raw: the record's compact text, truncated) until more than
 * max_errors were rejected. For json, a problem the tokenizer sees (brackets that
 * do not match, a missing ',' between elements, data after the value, the end of
 * data inside the array, a record over the size limit, nesting deeper than
 * JSONSTREAM_MAX_DEPTH, no array at json_path) always fails the stream: the next
 * record cannot be found reliably. For jsonl only an over-long line does. So does,
 * for both, a record whose check needs more memory than the cap above.
 * All are IERR_PERMANENT unless a callback returns its own error, or memory for
 * the record cannot be had (IERR_TRANSIENT: the load fails, the process goes on).
 *
 * Not thread-safe: one stream belongs to one worker. The route must outlive it.
 */
#ifndef INGESTD_JSONSTREAM_H
#define INGESTD_JSONSTREAM_H

#include <stddef.h>

#include "base/config.h"
#include "base/ierr.h"
#include "base/rows.h"
#include "input/csvstream.h"

#define JSONSTREAM_MAX_RECORD   (64u << 20) /* max_row_bytes default: JSON text per record */
#define JSONSTREAM_CHECK_FACTOR 4           /* jansson's tree: this times max_row_bytes, */
#define JSONSTREAM_CHECK_SLACK  (4u << 20)  /* plus this, at most */
#define JSONSTREAM_MAX_DEPTH    512         /* nesting of arrays/objects */

struct jsonstream_limits {
    size_t batch_rows;
    size_t batch_bytes;
    size_t max_record;
};

struct jsonstream;

/* NULL with e set (IERR_CONFIG) when the route's format is not jsonl or json. cb is copied. */
struct jsonstream *jsonstream_new(const struct route_conf *rc, const struct csvstream_cb *cb,
                                  struct ierr *e);
/* Zero members keep their current value. Call before the first feed. */
void jsonstream_set_limits(struct jsonstream *s, const struct jsonstream_limits *l);
/* 0, or -1 with e set; after -1 the stream only fails again. */
int jsonstream_feed(struct jsonstream *s, const void *data, size_t len, struct ierr *e);
/* End of object: the last record and batch. 0 or -1 with e set. */
int jsonstream_finish(struct jsonstream *s, struct ierr *e);
/* The columns once known, else NULL. Owned by the stream. */
const struct strlist *jsonstream_columns(const struct jsonstream *s);
void jsonstream_get_stats(const struct jsonstream *s, struct csvstream_stats *st);
void jsonstream_free(struct jsonstream *s); /* NULL-safe */

#endif
