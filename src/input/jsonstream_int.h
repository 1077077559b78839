/*
 * jsonstream_int.h: the state shared by jsonstream.c (records, batches, JSON Lines),
 * jsonframe.c (finding the records of a JSON array) and jsonrec.c (the record being
 * gathered, failing the stream). Calls run one way: jsonstream.c -> jsonframe.c ->
 * jsonrec.c. Nothing else includes it.
 */
#ifndef INGESTD_JSONSTREAM_INT_H
#define INGESTD_JSONSTREAM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "input/csvcheck.h"
#include "input/jsonrow.h"
#include "input/jsonstream.h"
#include "input/rowbatch.h"
#include "base/util.h"

#define JSONSTREAM_NO_FIELD ROWBATCH_NO_FIELD
#define JSONSTREAM_KEY_MAX  1024 /* longer member names on the way to the records never match */

enum jstate {
    J_TOP,       /* before the top-level value */
    J_OBJ_FIRST, /* after '{': a member name or '}' */
    J_OBJ_KEY,   /* after ',': a member name */
    J_KEY,       /* inside a member name */
    J_OBJ_COLON, /* after a member name */
    J_OBJ_VALUE, /* after ':' */
    J_OBJ_NEXT,  /* after a member's value: ',' or '}' */
    J_SKIP,      /* inside a member value that is not on the path */
    J_ARR_FIRST, /* after the records array's '[': a record or ']' */
    J_ARR_ELEM,  /* after ',': a record */
    J_ELEM,      /* inside a record */
    J_ARR_NEXT,  /* after a record: ',' or ']' */
    J_END,       /* after the top-level value: whitespace only */
};

enum member { M_SKIP, M_RECORDS, M_RECORDS_IF_ARRAY, M_DESCEND };

struct jsonstream {
    const struct route_conf *rc;
    struct csvstream_cb cb;
    struct jsonstream_limits lim;
    bool lines; /* jsonl */

    unsigned char bom[3];
    size_t bomlen;
    bool bom_done;
    uint64_t off;  /* object bytes consumed */
    uint64_t line; /* physical line of the next byte */

    /* the record being gathered */
    struct buf rec;
    uint64_t rec_line, rec_off;
    bool rec_done; /* jsonframe_feed() stopped after a complete record (in rec) */

    /* json framing */
    enum jstate st;
    char *stack; /* open brackets of the value being scanned */
    size_t depth;
    bool in_str, esc, scalar;
    size_t nav; /* objects open on the way to the records array */
    bool found; /* the records array was reached */
    enum member member;
    struct buf key;
    uint64_t key_line, key_off;
    struct strlist path;

    /* columns */
    bool route_cols;
    bool announced;
    struct strlist cols;
    size_t ncols;
    struct csvcheck check;

    /* the record's fields, offsets into the arena */
    size_t *cur_off;
    size_t *cur_len;
    size_t rec_arena_start;
    char row_reason[256];
    uint64_t row_line; /* where the problem is: the member's line, not the record's */
    unsigned row_col;
    char row_colname[128];
    char row_sample[256];
    struct buf scratch;

    struct rowbatch b; /* its arena also holds the record being converted */

    struct csvstream_stats st_;
    bool failed;
    struct ierr err;
};

/* ---- jsonrec.c ---- */
/* Fails the stream once (IERR_PERMANENT, err.line = line); later failures are ignored. */
void jsonstream_fail(struct jsonstream *s, uint64_t line, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* Appends n bytes of the record being gathered (s->rec): false, with the stream failed,
 * past max_row_bytes or when the memory cannot be had. */
bool jsonstream_rec_append(struct jsonstream *s, const void *d, size_t n);
/* Memory for the record could not be had: the load fails, to be tried again later. */
void jsonstream_fail_nomem(struct jsonstream *s, size_t bytes);

/* A problem at the current position (the byte about to be consumed). */
#define JSONSTREAM_FAIL_HERE(s, fmt, ...)                                                          \
    jsonstream_fail((s), (s)->line, "line %llu, byte offset %llu: " fmt,                           \
                    (unsigned long long)(s)->line, (unsigned long long)(s)->off, ##__VA_ARGS__)

/* The decoded member name k in s->scratch (never NULL); -1 when it cannot be decoded. */
int jsonstream_member_name(struct jsonstream *s, const struct jsonrow_span *k);

/* ---- jsonframe.c ---- */
/* Bytes of a JSON array object (format = json), up to the end of the next record: returns
 * how many were consumed, fewer than n when the stream failed or a record is complete
 * (s->rec_done set; the caller takes s->rec and clears it). */
size_t jsonframe_feed(struct jsonstream *s, const unsigned char *d, size_t n);

#endif
