/*
 * mysql_sql.h: the pure parts of the MySQL/MariaDB sink, with no libmariadb and no I/O:
 * error-number classification, the LOAD DATA field encoding (and the value conversions
 * for tables the route created), string literals, the SQL the sink sends, the parsing
 * of LOAD DATA warnings (the map from LOAD DATA row numbers back to object lines is
 * linemap.h).
 *
 * Every function here is reentrant.
 */
#ifndef INGESTD_MYSQL_SQL_H
#define INGESTD_MYSQL_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ierr.h"
#include "base/rows.h"
#include "base/util.h"
#include "sinks/sink_guard.h"

/* ingestd's own tables (sink_guard.h), in the sink's database; the stage is temporary. */
#define MY_LEDGER_TABLE  SINK_LEDGER_TABLE
#define MY_REJECTS_TABLE SINK_REJECTS_TABLE
#define MY_STAGE_TABLE   SINK_STAGE_TABLE
/* Extra column of the staging table: the LOAD DATA row number (file order). */
#define MY_STAGE_ORD "__ingestd_ord"

/*
 * The ledger. S3 keys are up to 1024 bytes, which in utf8mb4 is past InnoDB's 3072-byte
 * index limit, so uniqueness on (bucket, key, etag) is enforced through object_id, a
 * stored generated column holding SHA-256 of the three joined by NUL bytes (a NUL
 * cannot occur in any of them). Columns use utf8mb4_bin: keys compare byte for byte.
 * Both append CREATE TABLE IF NOT EXISTS of the quoted, qualified name.
 */
void my_sql_ledger_ddl(struct buf *out, const char *qledger);
void my_sql_rejects_ddl(struct buf *out, const char *qrejects);
/* Run once per connection: strict sql_mode, UTC, utf8mb4. */
extern const char my_sql_session[];

/*
 * Error number (server ER_* or client CR_*) -> class. Transient: lock wait timeout
 * (1205), deadlock (1213), too many connections (1040, 1203), shutdown and killed
 * connections, read-only server (failover), out of memory or disk, interrupted queries
 * and every client-side network error (2002, 2003, 2006, 2013, 2055, ...). Config:
 * access denied (1044, 1045, 1142, 1143, 1227, 1698), unknown database (1049), LOCAL
 * INFILE refused by the server or client, TLS and authentication-plugin failures.
 * Everything else is permanent: duplicate key (1062), missing table (1146) or column
 * (1054), bad values (1366, 1292, 1406, 1264, 1265, 1048, 1261, 1262, 1263), ...
 */
enum ierr_class my_errno_class(unsigned err);
/* The connection cannot be used any more after this error (client error 2xxx). */
bool my_errno_breaks_connection(unsigned err);

/* Conversions applied to a column's values while encoding (see mysql_schema.c). */
enum my_conv {
    MY_CONV_NONE = 0,
    MY_CONV_BOOL, /* true/false (any case) -> 1/0 */
    MY_CONV_UTC,  /* ISO-8601 with a zone -> UTC "YYYY-MM-DD HH:MM:SS[.f]" */
};

/* The buffer a value may need after conversion (the UTC form, with 9 fractional digits). */
#define MY_CONV_MAX 40

/*
 * The boolean form of p[0..n): '1' or '0' in *out and true, or false when the value
 * is not true/false (it is then sent as it is and the server judges it).
 */
bool my_conv_bool(const char *p, size_t n, char *out);
/*
 * YYYY-MM-DD[T ]HH:MM[:SS[.fraction]] followed by Z or an offset (+HH, +HHMM, +HH:MM)
 * written as UTC "YYYY-MM-DD HH:MM:SS[.fraction]" into out (MY_CONV_MAX bytes);
 * returns its length, or 0 when the value has no zone or does not parse.
 */
size_t my_conv_utc(const char *p, size_t n, char *out);

/*
 * LOAD DATA ... FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n':
 * writes one non-NULL field into out (room for 2 * n bytes) with backslash, tab,
 * newline, carriage return and NUL escaped; returns the bytes written. NULL is "\N".
 */
size_t my_escape_into(char *out, const char *p, size_t n);
/* The same appended to a buffer; is_null writes \N. */
void my_put_field(struct buf *b, const char *p, size_t n, bool is_null);

/* A string literal: 'text' with \ ' NUL \n \r and ^Z escaped (the session does not set
 * NO_BACKSLASH_ESCAPES); p == NULL appends NULL. Safe for utf8mb4. */
void my_put_literal(struct buf *b, const char *p, size_t n);
void my_put_str(struct buf *b, const char *s); /* NUL-terminated or NULL */

/* `name` with backticks doubled; "db.table" (validated identifiers) as `db`.`table`. */
void my_quote_ident(struct buf *b, const char *name);
void my_quote_table(struct buf *b, const char *table);

/*
 * SQL generation. qtable is the quoted target; cols are table column names in object
 * order; keys are table column names. Each appends one statement to out.
 *
 * my_sql_load: LOAD DATA LOCAL INFILE into qtable (or the staging table when with_ord,
 * the ordinal being the last field of each line).
 * my_sql_stage: a temporary table with the target's columns (types and nullability, no
 * keys, no defaults) plus the ordinal as its primary key, so it is read back in file
 * order without a sort.
 * my_sql_merge: INSERT INTO the target from the stage in file order; with nkeys > 0 it
 * ends with ON DUPLICATE KEY UPDATE of every non-key column, so the last row of a key
 * wins (a table of key columns only gets a no-op update).
 */
/* MySQL/MariaDB type name for a neutral column type: BIGINT, DECIMAL(38,10) (every value
 * infer.h calls numeric fits it exactly), DOUBLE, BOOLEAN (TINYINT(1): true/false are sent
 * as 1/0), DATE, DATETIME(6) for both timestamp kinds (offsets are converted to UTC:
 * MariaDB has no zone-aware type), JSON, LONGTEXT, or VARCHAR(255) for a key column (a
 * TEXT column cannot be a key without a prefix length). */
const char *my_type_name(enum column_type t, bool is_key);
void my_sql_create_table(struct buf *out, const char *qtable, const char *const *cols,
                         const enum column_type *types, size_t ncols, const char *const *keys,
                         size_t nkeys);
void my_sql_load(struct buf *out, const char *qtable, const char *const *cols, size_t ncols,
                 bool with_ord);
void my_sql_stage(struct buf *out, const char *qtable, const char *const *cols, size_t ncols);
void my_sql_merge(struct buf *out, const char *qtable, const char *const *cols, size_t ncols,
                  const char *const *keys, size_t nkeys);

/*
 * A warning (or error) message of LOAD DATA: "... for column 'c' at row N",
 * "... column `db`.`t`.`c` at row N", "Row N was truncated ...", "Row N doesn't
 * contain data for all columns", "Incorrect integer value: 'v' for column ...".
 * row is 0 when the message names none (e.g. 1062 Duplicate entry), column -1 when it
 * names no column of cols (table column names), sample the quoted value if any.
 */
struct my_warning {
    uint64_t row;
    int column;
    char sample[256];
};

void my_parse_warning(const char *msg, const char *const *cols, size_t ncols,
                      struct my_warning *out);

/*
 * Hex S3 sequencers of one key compare as numbers once the shorter is right-padded
 * with zeros: <0, 0, >0 like strcmp, case-insensitive.
 */
int my_sequencer_cmp(const char *a, const char *b);

#endif
