/*
 * pg_binary.h: text values -> PostgreSQL binary send format, for COPY ... (FORMAT
 * binary). Pure functions: no libpq, no I/O, any thread.
 *
 * The contract is PostgreSQL's own text input: a value is converted only when the
 * client is certain that the server's input function (int4in, numeric_in with the
 * column's typmod, float8in, boolin, date_in, timestamptz_in under the session's
 * TimeZone, uuid_in, json_in, ...) accepts exactly this text and stores exactly
 * these bits. Everything else is refused, and the refusal says which of two kinds
 * it is:
 *   PGBIN_INVALID    the server refuses this text too (syntax, range, overflow);
 *   PGBIN_UNCERTAIN  the server may accept it, but the client does not reproduce
 *                    that input form (time zone names, 'now', DateStyle-dependent
 *                    dates, hexadecimal floats, NaN payloads, ...).
 * Either way the caller must not send the value in binary; the PostgreSQL sink then
 * loads the object with text COPY, which lets the server decide and report.
 *
 * The rules follow PostgreSQL 15's input functions. Refusals are only claimed to be
 * certain for that release: for a newer server every INVALID becomes UNCERTAIN.
 */
#ifndef INGESTD_PG_BINARY_H
#define INGESTD_PG_BINARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Column types the client converts, by PostgreSQL's built-in type OIDs. */
enum pgbin_kind {
    PGBIN_BOOL,
    PGBIN_INT2,
    PGBIN_INT4,
    PGBIN_INT8,
    PGBIN_FLOAT4,
    PGBIN_FLOAT8,
    PGBIN_NUMERIC,
    PGBIN_TEXT,
    PGBIN_VARCHAR,
    PGBIN_BPCHAR,
    PGBIN_DATE,
    PGBIN_TIMESTAMP,
    PGBIN_TIMESTAMPTZ,
    PGBIN_UUID,
    PGBIN_JSON,
    PGBIN_JSONB,
};

struct pgbin_type {
    enum pgbin_kind kind;
    int32_t typmod; /* pg_attribute.atttypmod; -1 = none */
};

/* The session settings text input depends on, read once per load. */
struct pgbin_session {
    int server_version; /* PQserverVersion(): 150000 and up */
    /* TimeZone is UTC: a timestamptz without an offset is read as UTC. Otherwise such
     * a value is uncertain (the zone's rules live in the server). */
    bool utc;
    /* timezone_abbreviations = Default: "Z" and "UTC" after a time mean +00. */
    bool default_abbrevs;
};

enum pgbin_status {
    PGBIN_OK = 0,
    PGBIN_INVALID,
    PGBIN_UNCERTAIN,
};

/* Bytes a converted value of n input bytes may need, at most. */
#define PGBIN_MAX_OUT(n) ((n) + 32)

/*
 * Converts the text value p[0..n) (not NUL-terminated) for a column of type t.
 * PGBIN_OK: the binary send format is in out[0..*outlen) (out holds PGBIN_MAX_OUT(n)
 * bytes). Otherwise out is garbage and *why a static phrase for messages ("invalid
 * input syntax", "time zone name", ...).
 */
enum pgbin_status pgbin_convert(const struct pgbin_type *t, const struct pgbin_session *ss,
                                const char *p, size_t n, unsigned char *out, size_t *outlen,
                                const char **why);

/* The kind for a type OID, or -1 when the client does not convert that type (domains,
 * arrays, enums, and every other type: they load through text COPY). */
int pgbin_kind_for_oid(uint32_t oid, enum pgbin_kind *kind);

/* Whether a TimeZone setting (SHOW TimeZone) is UTC at every instant: UTC, Etc/UTC,
 * GMT, Zulu and the other tzdata names of the zero offset, in any case. */
bool pgbin_timezone_is_utc(const char *zone);

/* "numeric", "timestamp with time zone", ... */
const char *pgbin_kind_name(enum pgbin_kind kind);

#endif
