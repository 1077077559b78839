/*
 * pg_binary_int.h: what the converter files of pg_binary.h share: the byte order of
 * the send format, PostgreSQL's notion of white space, and one entry point per type
 * family (pg_binary.c: integers, floats, bool, uuid, strings; pg_binary_numeric.c;
 * pg_binary_time.c; pg_binary_json.c). Not a public interface.
 */
#ifndef INGESTD_PG_BINARY_INT_H
#define INGESTD_PG_BINARY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sinks/postgres/pg_binary.h"

/* One conversion: the text, its result and the phrase of a refusal. */
struct pgbin_val {
    const char *p;
    size_t n;
    unsigned char *out; /* PGBIN_MAX_OUT(n) bytes */
    size_t outlen;
    const char *why;
};

static inline enum pgbin_status pgbin_refuse(struct pgbin_val *v, enum pgbin_status st,
                                             const char *why)
{
    v->why = why;
    return st;
}

/* isspace() of the server's C library for ASCII. A byte >= 0x80 is never taken for
 * space here: the callers refuse such values as uncertain before this matters. */
static inline bool pgbin_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline bool pgbin_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* True when p[0..n) holds a byte >= 0x80. */
static inline bool pgbin_has_high_bit(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return true;
    return false;
}

static inline unsigned char *pgbin_put16(unsigned char *o, uint16_t v)
{
    o[0] = (unsigned char)(v >> 8);
    o[1] = (unsigned char)v;
    return o + 2;
}

static inline unsigned char *pgbin_put32(unsigned char *o, uint32_t v)
{
    o[0] = (unsigned char)(v >> 24);
    o[1] = (unsigned char)(v >> 16);
    o[2] = (unsigned char)(v >> 8);
    o[3] = (unsigned char)v;
    return o + 4;
}

static inline unsigned char *pgbin_put64(unsigned char *o, uint64_t v)
{
    o = pgbin_put32(o, (uint32_t)(v >> 32));
    return pgbin_put32(o, (uint32_t)v);
}

enum pgbin_status pgbin_numeric(struct pgbin_val *v, int32_t typmod);
enum pgbin_status pgbin_datetime(struct pgbin_val *v, enum pgbin_kind kind,
                                 const struct pgbin_session *ss);
enum pgbin_status pgbin_json(struct pgbin_val *v, bool jsonb);

#endif
