/*
 * sqs_msg.h: rows as SQS messages for the SQS sink: the JSON body, the message
 * attributes, the FIFO ids, SendMessageBatch requests and their answers.
 *
 * A row becomes one JSON object, one member per column in column order, typed by
 * the route's `types` (default S):
 *   S     a JSON string;
 *   N     the field as a JSON number, exactly as written; a field that is not a
 *         JSON number (RFC 8259: "-12.5e3", no "+", no leading zeros, no spaces)
 *         is a row error;
 *   BOOL  true/false; the field must be true, false (any case), 1 or 0;
 *   JSON  the field's JSON text embedded as it is (any JSON value); invalid JSON
 *         is a row error.
 * A NULL field leaves the member out (null_as = absent) or writes null (NULL).
 *
 * Every message carries the attributes ingestd_bucket, ingestd_key, ingestd_etag
 * (left out when the object has no ETag), ingestd_line (Number: the row's line)
 * and ingestd_row_id = hex SHA-256 of bucket NUL key NUL etag NUL line (then "#N"
 * for the N-th further row of one line: a transform's finish() rows, or several rows
 * it made of one): the same row of the same object version always has the same id,
 * so consumers can drop repeats. On FIFO queues, MessageGroupId is the hex SHA-256 of bucket NUL
 * key (an object's rows stay in order) and MessageDeduplicationId is the row id.
 *
 * Sizes are counted as SQS counts them (body plus attribute names, types and
 * values): SQS_MSG_MAX_BYTES per message and per SendMessageBatch request. A body
 * is never shorter than its row's values, so a row whose values alone exceed the
 * limit is refused before it is encoded: a big row never sizes the buffers.
 *
 * Pure: no I/O, no logging; any thread.
 */
#ifndef INGESTD_SQS_MSG_H
#define INGESTD_SQS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/ierr.h"
#include "base/rows.h"
#include "base/util.h"

#define SQS_MSG_MAX_BYTES     ((size_t)256 * 1024)
#define SQS_BATCH_MAX_ENTRIES 10

struct sqs_layout {
    size_t ncols;
    char **qnames; /* each column name as a JSON string with its quotes (owned) */
    enum attr_type *types;
    bool null_as_null;
};

/* The layout of an object's columns under the route's types and null_as. */
void sqs_layout_init(struct sqs_layout *l, const struct strlist *columns,
                     const struct route_conf *rc);
void sqs_layout_free(struct sqs_layout *l); /* leaves it zeroed */

/* Appends the row's message body to out. 0, or -1 with e (IERR_PERMANENT, the row's
 * line, column, its name and the value as sample); out is then unchanged. */
int sqs_msg_body(const struct sqs_layout *l, const struct row *row, struct buf *out,
                 struct ierr *e);

/* Appends p[0..n) (valid UTF-8) as a JSON string with its quotes. */
void sqs_json_string(struct buf *out, const char *p, size_t n);

/* True when p[0..n) is a JSON number (RFC 8259 grammar). */
bool sqs_json_number(const char *p, size_t n);

/* What every message of one object shares. Strings are borrowed. */
struct sqs_msg_ctx {
    const char *bucket, *key, *etag;
    bool fifo;
    char group_id[65];
    /* Rows that share a line (a script's finish() rows, or several rows it made of one)
     * are told apart by their order among them: 0 for the first, whose id is the line's
     * alone. sqs_msg_next_line() keeps it. */
    uint64_t line;
    uint32_t line_seq;
};

void sqs_msg_ctx_init(struct sqs_msg_ctx *c, const char *bucket, const char *key, const char *etag,
                      bool fifo);
/* The row id (hex SHA-256, see above; with "#N" after the line for the row N > 0 of
 * a line, c->line_seq). */
void sqs_row_id(const struct sqs_msg_ctx *c, uint64_t line, char out[65]);
/* Before each row's message, in the object's order: counts the rows of one line. */
void sqs_msg_next_line(struct sqs_msg_ctx *c, uint64_t line);
/* True when a queue URL names a FIFO queue (its name ends in ".fifo"). */
bool sqs_queue_is_fifo(const char *queue_url);

/* Appends one SendMessageBatch entry without its opening '{' and Id member:
 * "MessageBody":...,"MessageAttributes":{...}[,"MessageGroupId":..,
 * "MessageDeduplicationId":..]} and returns the size SQS counts for it. */
size_t sqs_msg_entry(const struct sqs_msg_ctx *c, const char *body, size_t n, uint64_t line,
                     struct buf *out);

/* A SendMessageBatch request built entry by entry: open, add (Id = the entry's index
 * in the request, as text), close. */
void sqs_batch_open(struct buf *b, const char *queue_url);
void sqs_batch_add(struct buf *b, size_t index, const char *entry, size_t n);
void sqs_batch_close(struct buf *b);

/* One entry of a SendMessageBatch answer's Failed list. */
struct sqs_failed {
    size_t index; /* from the entry's Id */
    bool sender_fault;
    char code[128];
    char message[256];
};

/* Parses an answer: *nfailed entries into failed (at most max). 0, or -1 (why) for a
 * body that is not a SendMessageBatch answer. */
int sqs_batch_parse(const char *body, size_t len, struct sqs_failed *failed, size_t max,
                    size_t *nfailed, const char **why);

#endif
