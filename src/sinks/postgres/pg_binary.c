/*
 * pg_binary.c: the dispatch of pg_binary.h and the small converters: integers
 * (pg_strtoint16/32/64), floats (float4in/float8in), bool (boolin), uuid (uuid_in)
 * and the string types (text, varchar(n), char(n)). Numeric, date/time and JSON have
 * files of their own.
 *
 * Every function mirrors the PostgreSQL 15 input function named beside it; the
 * differential tests (tests/integration/test_pg_binary.py) hold them to the server.
 */
#include "sinks/postgres/pg_binary.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sinks/postgres/pg_binary_int.h"
#include "base/util.h"

#define ERR_SYNTAX   "invalid input syntax"
#define ERR_RANGE    "value out of range"
#define ERR_NONASCII "non-ASCII bytes"

static bool ascii_ieq(const char *p, size_t n, const char *word)
{
    size_t k = strlen(word);
    if (n != k)
        return false;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 'a' - 'A');
        if (c != (unsigned char)word[i])
            return false;
    }
    return true;
}

/* ---- integers: pg_strtoint16/32/64 ---- */

static enum pgbin_status conv_int(struct pgbin_val *v, int bytes)
{
    const char *p = v->p, *end = v->p + v->n;
    const uint64_t limit = bytes == 2 ? 0x7fff : bytes == 4 ? 0x7fffffff : INT64_MAX;
    bool neg = false;
    uint64_t acc = 0;

    if (pgbin_has_high_bit(v->p, v->n))
        return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_NONASCII);
    while (p < end && pgbin_space((unsigned char)*p))
        p++;
    if (p < end && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    if (p == end || !pgbin_digit((unsigned char)*p))
        return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
    for (; p < end && pgbin_digit((unsigned char)*p); p++) {
        acc = acc * 10 + (uint64_t)(*p - '0');
        if (acc > limit + 1) /* the magnitude of the most negative value is limit + 1 */
            return pgbin_refuse(v, PGBIN_INVALID, ERR_RANGE);
    }
    while (p < end && pgbin_space((unsigned char)*p))
        p++;
    if (p != end)
        return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
    if (acc > limit + (neg ? 1 : 0))
        return pgbin_refuse(v, PGBIN_INVALID, ERR_RANGE);
    uint64_t bits = neg ? (uint64_t)0 - acc : acc; /* two's complement */
    if (bytes == 2)
        pgbin_put16(v->out, (uint16_t)bits);
    else if (bytes == 4)
        pgbin_put32(v->out, (uint32_t)bits);
    else
        pgbin_put64(v->out, bits);
    v->outlen = (size_t)bytes;
    return PGBIN_OK;
}

/* ---- floats: float4in / float8in ---- */

/* The end of [+-](digits[.digits*]|.digits)([eE][+-]digits) or of [+-]inf[inity] and
 * an unsigned nan at p, or NULL. Signed NaNs and hexadecimal forms are left out: their
 * bits depend on the server's strtod. */
static const char *float_token(const char *p, const char *end)
{
    bool sign = p < end && (*p == '+' || *p == '-');
    if (sign)
        p++;
    size_t left = (size_t)(end - p);
    if (left >= 8 && ascii_ieq(p, 8, "infinity"))
        return p + 8;
    if (left >= 3 && ascii_ieq(p, 3, "inf"))
        return p + 3;
    if (!sign && left >= 3 && ascii_ieq(p, 3, "nan"))
        return p + 3;
    const char *d = p;
    while (p < end && pgbin_digit((unsigned char)*p))
        p++;
    bool any = p > d;
    if (p < end && *p == '.') {
        const char *f = ++p;
        while (p < end && pgbin_digit((unsigned char)*p))
            p++;
        any |= p > f;
    }
    if (!any)
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *x = p;
        while (p < end && pgbin_digit((unsigned char)*p))
            p++;
        if (p == x)
            return NULL;
    }
    return p;
}

static bool only_space(const char *p, const char *end)
{
    while (p < end && pgbin_space((unsigned char)*p))
        p++;
    return p == end;
}

/* float8in/float4in on a NUL-terminated copy, to tell a refused value (INVALID) from
 * one the server takes in a form the client does not convert (UNCERTAIN). */
static enum pgbin_status float_server_verdict(const char *num, bool is4)
{
    static const char *const words[] = {"nan",  "infinity", "+infinity", "-infinity",
                                        "+inf", "-inf",     "inf"};
    char *e;
    while (*num && pgbin_space((unsigned char)*num))
        num++;
    if (!*num)
        return PGBIN_INVALID;
    errno = 0;
    double val = is4 ? (double)strtof(num, &e) : strtod(num, &e);
    if (e == num || errno) {
        int saved = errno;
        size_t len = 0;
        for (size_t i = 0; i < ARRAY_SIZE(words) && !len; i++)
            if (strncasecmp(num, words[i], strlen(words[i])) == 0)
                len = strlen(words[i]);
        if (len)
            e = (char *)num + len;
        else if (saved != ERANGE || val == 0.0 || isinf(val))
            return PGBIN_INVALID;
    }
    return only_space(e, e + strlen(e)) ? PGBIN_UNCERTAIN : PGBIN_INVALID;
}

static enum pgbin_status conv_float(struct pgbin_val *v, bool is4)
{
    const char *p = v->p, *end = v->p + v->n;
    char stack[128], *num = stack;
    enum pgbin_status st = PGBIN_OK;

    if (pgbin_has_high_bit(v->p, v->n))
        return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_NONASCII);
    while (p < end && pgbin_space((unsigned char)*p))
        p++;
    const char *tok = float_token(p, end);
    if (v->n >= sizeof(stack))
        num = xmalloc(v->n + 1);
    if (!tok || !only_space(tok, end)) {
        memcpy(num, v->p, v->n);
        num[v->n] = '\0';
        st = float_server_verdict(num, is4);
        v->why = st == PGBIN_INVALID ? ERR_SYNTAX : "float form not converted";
        goto out;
    }
    memcpy(num, p, (size_t)(tok - p));
    num[tok - p] = '\0';
    errno = 0;
    if (is4) {
        float f = strtof(num, NULL);
        uint32_t bits;
        if (errno == ERANGE && (f == 0.0f || isinf(f))) {
            st = pgbin_refuse(v, PGBIN_INVALID, ERR_RANGE);
            goto out;
        }
        memcpy(&bits, &f, sizeof bits);
        pgbin_put32(v->out, bits);
        v->outlen = 4;
    } else {
        double d = strtod(num, NULL);
        uint64_t bits;
        if (errno == ERANGE && (d == 0.0 || isinf(d))) {
            st = pgbin_refuse(v, PGBIN_INVALID, ERR_RANGE);
            goto out;
        }
        memcpy(&bits, &d, sizeof bits);
        pgbin_put64(v->out, bits);
        v->outlen = 8;
    }
out:
    if (num != stack)
        free(num);
    return st;
}

/* ---- bool: boolin, parse_bool_with_len ---- */

/* p[0..n) is a case-insensitive prefix of word of at least min bytes. */
static bool bool_prefix(const char *p, size_t n, const char *word, size_t min)
{
    size_t k = strlen(word);
    if (n < min || n > k)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != word[i])
            return false;
    return true;
}

static enum pgbin_status conv_bool(struct pgbin_val *v)
{
    const char *p = v->p, *end = v->p + v->n;
    int val = -1;

    if (pgbin_has_high_bit(v->p, v->n))
        return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_NONASCII);
    while (p < end && pgbin_space((unsigned char)*p))
        p++;
    while (end > p && pgbin_space((unsigned char)end[-1]))
        end--;
    size_t n = (size_t)(end - p);
    if (bool_prefix(p, n, "true", 1) || bool_prefix(p, n, "yes", 1) || bool_prefix(p, n, "on", 2) ||
        (n == 1 && *p == '1'))
        val = 1;
    else if (bool_prefix(p, n, "false", 1) || bool_prefix(p, n, "no", 1) ||
             bool_prefix(p, n, "off", 2) || (n == 1 && *p == '0'))
        val = 0;
    if (val < 0)
        return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
    v->out[0] = (unsigned char)val;
    v->outlen = 1;
    return PGBIN_OK;
}

/* ---- uuid: string_to_uuid ---- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static enum pgbin_status conv_uuid(struct pgbin_val *v)
{
    const char *p = v->p, *end = v->p + v->n;
    bool braces = p < end && *p == '{';

    if (pgbin_has_high_bit(v->p, v->n))
        return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_NONASCII);
    if (braces)
        p++;
    for (int i = 0; i < 16; i++) {
        int hi = end - p >= 2 ? hexval((unsigned char)p[0]) : -1;
        int lo = end - p >= 2 ? hexval((unsigned char)p[1]) : -1;
        if (hi < 0 || lo < 0)
            return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
        v->out[i] = (unsigned char)(hi << 4 | lo);
        p += 2;
        /* one optional hyphen after every group of four digits */
        if (p < end && *p == '-' && i % 2 == 1 && i < 15)
            p++;
    }
    if (braces && (p == end || *p++ != '}'))
        return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
    if (p != end)
        return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
    v->outlen = 16;
    return PGBIN_OK;
}

/* ---- strings: textin, varchar_input, bpchar_input ---- */

/* varchar(n) and char(n): the server clips the characters past n when they are all
 * spaces (char pads a short value); anything else past n is an error. The value is
 * sent as it is and the receive function applies the same rule. */
static enum pgbin_status conv_string(struct pgbin_val *v, int32_t typmod)
{
    if (typmod >= 4) {
        size_t max = (size_t)(typmod - 4), chars = 0, i = 0;
        for (; i < v->n; i++) {
            if (((unsigned char)v->p[i] & 0xC0) == 0x80)
                continue;
            if (chars == max)
                break;
            chars++;
        }
        for (; i < v->n; i++)
            if (v->p[i] != ' ')
                return pgbin_refuse(v, PGBIN_INVALID, "value too long");
    }
    memcpy(v->out, v->p, v->n);
    v->outlen = v->n;
    return PGBIN_OK;
}

/* ---- dispatch ---- */

enum pgbin_status pgbin_convert(const struct pgbin_type *t, const struct pgbin_session *ss,
                                const char *p, size_t n, unsigned char *out, size_t *outlen,
                                const char **why)
{
    struct pgbin_val v = {p, n, out, 0, NULL};
    enum pgbin_status st = PGBIN_UNCERTAIN;

    switch (t->kind) {
    case PGBIN_BOOL:
        st = conv_bool(&v);
        break;
    case PGBIN_INT2:
        st = conv_int(&v, 2);
        break;
    case PGBIN_INT4:
        st = conv_int(&v, 4);
        break;
    case PGBIN_INT8:
        st = conv_int(&v, 8);
        break;
    case PGBIN_FLOAT4:
    case PGBIN_FLOAT8:
        st = conv_float(&v, t->kind == PGBIN_FLOAT4);
        break;
    case PGBIN_NUMERIC:
        st = pgbin_numeric(&v, t->typmod);
        break;
    case PGBIN_TEXT:
    case PGBIN_VARCHAR:
    case PGBIN_BPCHAR:
        st = conv_string(&v, t->kind == PGBIN_TEXT ? -1 : t->typmod);
        break;
    case PGBIN_DATE:
    case PGBIN_TIMESTAMP:
    case PGBIN_TIMESTAMPTZ:
        st = pgbin_datetime(&v, t->kind, ss);
        break;
    case PGBIN_UUID:
        st = conv_uuid(&v);
        break;
    case PGBIN_JSON:
    case PGBIN_JSONB:
        st = pgbin_json(&v, t->kind == PGBIN_JSONB);
        break;
    }
    /* Later releases accept more spellings (16: 0x1F, 1_000): claim certainty only for
     * the release the rules were checked against. */
    if (st == PGBIN_INVALID && ss->server_version >= 160000)
        st = PGBIN_UNCERTAIN;
    *outlen = v.outlen;
    *why = v.why ? v.why : "not converted";
    return st;
}

/* TimeZone settings that are UTC at every instant (tzdata zones and links). */
static const char *const utc_zones[] = {
    "UTC",   "Etc/UTC",   "UCT",   "Etc/UCT",   "Universal", "Etc/Universal",
    "Zulu",  "Etc/Zulu",  "GMT",   "Etc/GMT",   "GMT0",      "Etc/GMT0",
    "GMT+0", "Etc/GMT+0", "GMT-0", "Etc/GMT-0", "Greenwich", "Etc/Greenwich",
};

bool pgbin_timezone_is_utc(const char *zone)
{
    for (size_t i = 0; zone && i < ARRAY_SIZE(utc_zones); i++)
        if (!strcasecmp(zone, utc_zones[i]))
            return true;
    return false;
}

static const struct {
    uint32_t oid;
    enum pgbin_kind kind;
    const char *name;
} kinds[] = {
    {16, PGBIN_BOOL, "boolean"},
    {21, PGBIN_INT2, "smallint"},
    {23, PGBIN_INT4, "integer"},
    {20, PGBIN_INT8, "bigint"},
    {700, PGBIN_FLOAT4, "real"},
    {701, PGBIN_FLOAT8, "double precision"},
    {1700, PGBIN_NUMERIC, "numeric"},
    {25, PGBIN_TEXT, "text"},
    {1043, PGBIN_VARCHAR, "character varying"},
    {1042, PGBIN_BPCHAR, "character"},
    {1082, PGBIN_DATE, "date"},
    {1114, PGBIN_TIMESTAMP, "timestamp without time zone"},
    {1184, PGBIN_TIMESTAMPTZ, "timestamp with time zone"},
    {2950, PGBIN_UUID, "uuid"},
    {114, PGBIN_JSON, "json"},
    {3802, PGBIN_JSONB, "jsonb"},
};

int pgbin_kind_for_oid(uint32_t oid, enum pgbin_kind *kind)
{
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (kinds[i].oid == oid) {
            *kind = kinds[i].kind;
            return 0;
        }
    }
    return -1;
}

const char *pgbin_kind_name(enum pgbin_kind kind)
{
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        if (kinds[i].kind == kind)
            return kinds[i].name;
    return "?";
}
