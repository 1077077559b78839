/*
 * infer.h: column types for create_table, inferred from the first rows of an object.
 *
 * Each column's type is the most specific one that every non-NULL value in the
 * sample fits; NULLs say nothing; a column with no values is text. Kinds, in the
 * order of preference, with the values each accepts:
 *   bigint       -?(0|[1-9][0-9]*) within int64 (no '+', no leading zeros: "007"
 *                is an identifier or a zip code, kept as text)
 *   numeric      as bigint, or with a fraction: -?(0|[1-9][0-9]*)\.[0-9]+, at most
 *                28 integer and 10 fractional digits, so every value fits MySQL's
 *                DECIMAL(38,10) exactly
 *   double       decimals beyond that, or with an exponent (1.5e3)
 *   boolean      true / false, any case
 *   date         YYYY-MM-DD, a real calendar date
 *   timestamp    YYYY-MM-DD[T ]HH:MM:SS[.frac] without a zone
 *   timestamptz  the same with Z or an offset (+02:00, -0130, +02)
 *   text         anything else, the empty string included
 * Mixed kinds fall back along that order (bigint+numeric = numeric) or to text
 * (date+timestamp = text: neither database would read both the same way).
 *
 * Each sink maps the kinds to its own SQL types (pg_type_name, my_type_name).
 *
 * Pure; any thread.
 */
#ifndef INGESTD_INFER_H
#define INGESTD_INFER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/rows.h"

#define INFER_SAMPLE_ROWS 1000

struct infer {
    size_t ncols;
    unsigned *cand; /* per column: bit set of the kinds still possible */
    bool *seen;     /* per column: a non-NULL value was seen */
    size_t rows;
};

void infer_init(struct infer *in, size_t ncols);
void infer_free(struct infer *in);
/* One row of in->ncols fields; rows past INFER_SAMPLE_ROWS are ignored. */
void infer_row(struct infer *in, const struct field *fields);
enum column_type infer_result(const struct infer *in, size_t col);

/* The whole thing for the first batch (NULL: every column is text). */
void infer_column_types(size_t ncols, const struct batch *first, enum column_type *types);

/* The kind one value fits best, as if it were the whole column (for tests and logs). */
enum column_type infer_value(const char *s, size_t len);

#endif
