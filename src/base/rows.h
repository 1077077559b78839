/*
 * rows.h: the rows the pipeline carries from a parser to a sink, and what is said about
 * them: a batch of rows of borrowed fields, a skipped row, the column types inferred for
 * create_table, the counts of a finished load.
 *
 * The parsers (input/) produce these, the sinks consume them; neither knows the other.
 * A batch and its fields are borrowed: valid during the call that hands them over.
 */
#ifndef INGESTD_ROWS_H
#define INGESTD_ROWS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Column types for create_table, database-neutral; each sink maps them to its own SQL
 * types (PostgreSQL: text, bigint, numeric, double precision, boolean, date, timestamp,
 * timestamptz, jsonb). The pipeline infers them from the header and the first rows.
 */
enum column_type {
    COLUMN_TEXT = 0,
    COLUMN_BIGINT,
    COLUMN_NUMERIC,
    COLUMN_DOUBLE,
    COLUMN_BOOL,
    COLUMN_DATE,
    COLUMN_TIMESTAMP, /* without time zone */
    COLUMN_TIMESTAMPTZ,
    COLUMN_JSON,
};

struct field {
    const char *ptr; /* NULL = SQL NULL */
    size_t len;
};

struct row {
    uint64_t line;              /* line of the object where the record starts */
    const struct field *fields; /* columns->n fields */
};

struct batch {
    const struct row *rows;
    size_t nrows;
};

struct load_stats {
    uint64_t rows;        /* rows committed */
    uint64_t bytes;       /* object bytes read */
    uint64_t rejected;    /* rows skipped under on_error = skip_row */
    uint64_t blank_lines; /* blank lines skipped (CSV/TSV files of more than one column) */
};

/* A row skipped under on_error = skip_row, recorded by the sink in the same transaction. */
struct row_reject {
    uint64_t line;
    unsigned column;
    const char *reason;
    const char *raw;
};

#endif
