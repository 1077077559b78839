/*
 * pg_binary_time.c: date_in, timestamp_in and timestamptz_in -> date_send (int32
 * days since 2000-01-01) and timestamp_send (int64 microseconds since 2000-01-01
 * 00:00:00, UTC for timestamptz).
 *
 * PostgreSQL's datetime reader (ParseDateTime + DecodeDateTime) takes dozens of
 * forms, several of them settings-dependent (DateStyle field order, TimeZone, the
 * timezone_abbreviations file) or time-dependent ('now', 'today'). The client
 * converts one unambiguous family and calls everything else uncertain:
 *
 *   [sp] YYYY-M[M]-D[D] [ (T | sp+) H[H]:MM[:SS[.frac]] [sp] [zone] ] [sp+ BC|AD] [sp]
 *   [sp] epoch | infinity | -infinity [sp]
 *   zone: +HH | +HHMM | +HH:MM (or -) | Z | UTC
 *
 * A four-digit year first makes the date read year-month-day whatever DateStyle
 * says. Alphabetic tokens (T, Z, UTC, BC, AD and the special words) are looked up in
 * the abbreviation file before the built-in words, so they are converted only under
 * timezone_abbreviations = Default. A timestamptz without a zone is in the session's
 * TimeZone: converted only when that is UTC. The checks then follow ValidateDate,
 * DecodeTimeCommon, time_overflows, DecodeTimezone and tm2timestamp, including
 * 24:00:00, second 60 and fractions rounded with rint() as ParseFractionalSecond
 * does. Zones are read and checked for date and timestamp, then ignored, as the
 * server does. Precision typmods (timestamp(3)) are applied by the server's receive
 * function exactly as by its input function.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/postgres/pg_binary_int.h"

#define POSTGRES_EPOCH_JDATE 2451545
#define USECS_PER_DAY        INT64_C(86400000000)
#define USECS_PER_SEC        INT64_C(1000000)
#define MIN_TIMESTAMP        INT64_C(-211813488000000000)
#define END_TIMESTAMP        INT64_C(9223371331200000000)
#define DATE_END_JULIAN      2147483494
#define EPOCH_DATE           (-10957)                  /* 1970-01-01 */
#define EPOCH_TIMESTAMP      INT64_C(-946684800000000) /* 1970-01-01 00:00:00 */
#define MAX_FRAC_DIGITS      30

#define ERR_SYNTAX "invalid input syntax"
#define ERR_FIELD  "date/time field value out of range"
#define ERR_RANGE  "out of range"
#define ERR_FORM   "date/time form not converted"

/* The fields DecodeDateTime would fill. */
struct dt {
    int year, mon, mday;
    bool bc;
    int hour, min, sec;
    int fsec; /* microseconds, up to 1000000 */
    bool have_zone;
    int tz; /* seconds west of UTC, as DecodeTimezone's *tzp */
};

struct scan {
    const char *p, *end;
};

static bool at_space(const struct scan *s)
{
    return s->p < s->end && pgbin_space((unsigned char)*s->p);
}

static void skip_space(struct scan *s)
{
    while (at_space(s))
        s->p++;
}

/* Reads min..max digits; -1 when there are fewer or more. */
static int digits(struct scan *s, int min, int max)
{
    int n = 0, val = 0;
    while (s->p < s->end && pgbin_digit((unsigned char)*s->p)) {
        if (++n > max)
            return -1;
        val = val * 10 + (*s->p++ - '0');
    }
    return n < min ? -1 : val;
}

/* Exactly two digits (more may follow); -1 when there are not two. */
static int two_digits(struct scan *s)
{
    if (s->end - s->p < 2 || !pgbin_digit((unsigned char)s->p[0]) ||
        !pgbin_digit((unsigned char)s->p[1]))
        return -1;
    s->p += 2;
    return (s->p[-2] - '0') * 10 + (s->p[-1] - '0');
}

/* A whole alphabetic token equal to w (lower case), case-insensitively: consumed. */
static bool word(struct scan *s, const char *w)
{
    const char *p = s->p;
    for (; *w; w++, p++)
        if (p == s->end || (*p | 0x20) != *w)
            return false;
    if (p < s->end && (unsigned char)((*p | 0x20) - 'a') < 26)
        return false;
    s->p = p;
    return true;
}

/* BC or AD comes next (not consumed). */
static bool at_era(const struct scan *s)
{
    struct scan t = *s;
    return word(&t, "bc") || word(&t, "ad");
}

/* ParseFractionalSecond(): rint(strtod(".ddd") * 1000000), with strtod's rounding. */
static int fraction(struct scan *s)
{
    char buf[MAX_FRAC_DIGITS + 2];
    size_t n = 1;
    buf[0] = '.';
    s->p++;
    while (s->p < s->end && pgbin_digit((unsigned char)*s->p)) {
        if (n > MAX_FRAC_DIGITS)
            return -1;
        buf[n++] = *s->p++;
    }
    buf[n] = '\0';
    return n == 1 ? 0 : (int)rint(strtod(buf, NULL) * 1000000);
}

static enum pgbin_status parse_time(struct pgbin_val *v, struct scan *s, struct dt *t)
{
    t->hour = digits(s, 1, 2);
    if (t->hour < 0 || s->p == s->end || *s->p++ != ':')
        return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
    t->min = digits(s, 2, 2);
    if (t->min < 0)
        return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
    if (s->p < s->end && *s->p == ':') {
        s->p++;
        t->sec = digits(s, 2, 2);
        if (t->sec < 0)
            return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
        if (s->p < s->end && *s->p == '.' && (t->fsec = fraction(s)) < 0)
            return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
    }
    /* the server's time field also takes more ':' and '.' groups */
    if (s->p < s->end && (*s->p == ':' || *s->p == '.' || pgbin_digit((unsigned char)*s->p)))
        return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
    return PGBIN_OK;
}

static enum pgbin_status parse_zone(struct pgbin_val *v, struct scan *s, struct dt *t,
                                    const struct pgbin_session *ss)
{
    if (*s->p == '+' || *s->p == '-') {
        int sign = *s->p++ == '-' ? -1 : 1, hr = two_digits(s), mn = 0;
        if (hr < 0)
            return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
        if (s->p < s->end && *s->p == ':')
            s->p++;
        if (s->p < s->end && pgbin_digit((unsigned char)*s->p) && (mn = two_digits(s)) < 0)
            return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
        if (s->p < s->end && !at_space(s))
            return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
        if (hr > 15 || mn > 59)
            return pgbin_refuse(v, PGBIN_INVALID, "time zone displacement out of range");
        t->tz = -sign * (hr * 60 + mn) * 60;
    } else if (ss->default_abbrevs && (word(s, "z") || word(s, "utc"))) {
        t->tz = 0;
    } else {
        return pgbin_refuse(v, PGBIN_UNCERTAIN, "time zone name");
    }
    t->have_zone = true;
    return PGBIN_OK;
}

/* Everything after the date. */
static enum pgbin_status parse_rest(struct pgbin_val *v, struct scan *s, struct dt *t,
                                    const struct pgbin_session *ss)
{
    enum pgbin_status st;
    bool time = false;

    if (s->p < s->end && (*s->p | 0x20) == 't') {
        if (!ss->default_abbrevs)
            return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
        s->p++;
        time = true;
    } else if (at_space(s)) {
        skip_space(s);
        time = s->p < s->end && pgbin_digit((unsigned char)*s->p);
    } else if (s->p < s->end) {
        return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
    }
    if (time) {
        if ((st = parse_time(v, s, t)) != PGBIN_OK)
            return st;
        skip_space(s);
        if (s->p < s->end && !at_era(s) && (st = parse_zone(v, s, t, ss)) != PGBIN_OK)
            return st;
        skip_space(s);
    }
    if (s->p < s->end) {
        bool bc = false;
        if (!ss->default_abbrevs || !((bc = word(s, "bc")) || word(s, "ad")))
            return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
        t->bc = bc;
        skip_space(s);
    }
    return s->p == s->end ? PGBIN_OK : pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
}

static bool isleap(int y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/* ValidateDate(), DecodeTimeCommon()'s sanity check and time_overflows(). */
static enum pgbin_status validate(struct pgbin_val *v, struct dt *t)
{
    static const int mdays[2][12] = {{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31},
                                     {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}};
    if (t->year <= 0)
        return pgbin_refuse(v, PGBIN_INVALID, ERR_FIELD); /* there is no year zero */
    if (t->bc)
        t->year = -(t->year - 1);
    if (t->mon < 1 || t->mon > 12 || t->mday < 1 || t->mday > mdays[isleap(t->year)][t->mon - 1])
        return pgbin_refuse(v, PGBIN_INVALID, ERR_FIELD);
    if (t->hour > 24 || t->min > 59 || t->sec > 60 || t->fsec > 1000000)
        return pgbin_refuse(v, PGBIN_INVALID, ERR_FIELD);
    if (((t->hour * INT64_C(60) + t->min) * 60 + t->sec) * USECS_PER_SEC + t->fsec > USECS_PER_DAY)
        return pgbin_refuse(v, PGBIN_INVALID, ERR_FIELD);
    return PGBIN_OK;
}

static bool valid_julian(int y, int m)
{
    return (y > -4713 || (y == -4713 && m >= 11)) && (y < 5874898 || (y == 5874898 && m < 6));
}

static int date2j(int y, int m, int d)
{
    if (m > 2) {
        m += 1;
        y += 4800;
    } else {
        m += 13;
        y += 4799;
    }
    int century = y / 100;
    int julian = y * 365 - 32167;
    julian += y / 4 - century + century / 4;
    julian += 7834 * m / 256 + d;
    return julian;
}

/* tm2timestamp(), with the zone when tz is not NULL. */
static enum pgbin_status to_timestamp(struct pgbin_val *v, const struct dt *t, const int *tz,
                                      int64_t *out)
{
    if (!valid_julian(t->year, t->mon))
        return pgbin_refuse(v, PGBIN_INVALID, ERR_RANGE);
    int64_t date = date2j(t->year, t->mon, t->mday) - POSTGRES_EPOCH_JDATE;
    int64_t time = ((t->hour * INT64_C(60) + t->min) * 60 + t->sec) * USECS_PER_SEC + t->fsec;
    int64_t r = date * USECS_PER_DAY + time;
    if ((r < 0 && date > 0) || (r > 0 && date < -1))
        return pgbin_refuse(v, PGBIN_INVALID, ERR_RANGE);
    if (tz)
        r += *tz * USECS_PER_SEC;
    if (r < MIN_TIMESTAMP || r >= END_TIMESTAMP)
        return pgbin_refuse(v, PGBIN_INVALID, ERR_RANGE);
    *out = r;
    return PGBIN_OK;
}

/* 'epoch', 'infinity', '-infinity': 1 when the whole value is one of them. */
static int special(struct pgbin_val *v, struct scan s, enum pgbin_kind kind,
                   const struct pgbin_session *ss)
{
    int which = -1;
    if (!ss->default_abbrevs)
        return 0;
    if (s.p < s.end && *s.p == '-') {
        s.p++;
        which = word(&s, "infinity") ? 2 : -1;
    } else if (word(&s, "epoch")) {
        which = 0;
    } else if (word(&s, "infinity")) {
        which = 1;
    }
    skip_space(&s);
    if (which < 0 || s.p != s.end)
        return 0;
    if (kind == PGBIN_DATE) {
        const int32_t d[] = {EPOCH_DATE, INT32_MAX, INT32_MIN};
        pgbin_put32(v->out, (uint32_t)d[which]);
        v->outlen = 4;
    } else {
        const int64_t ts[] = {EPOCH_TIMESTAMP, INT64_MAX, INT64_MIN};
        pgbin_put64(v->out, (uint64_t)ts[which]);
        v->outlen = 8;
    }
    return 1;
}

enum pgbin_status pgbin_datetime(struct pgbin_val *v, enum pgbin_kind kind,
                                 const struct pgbin_session *ss)
{
    struct scan s = {v->p, v->p + v->n};
    struct dt t = {0};
    enum pgbin_status st;
    int64_t ts;

    if (pgbin_has_high_bit(v->p, v->n))
        return pgbin_refuse(v, PGBIN_UNCERTAIN, "non-ASCII bytes");
    skip_space(&s);
    if (s.p == s.end)
        return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
    if (special(v, s, kind, ss))
        return PGBIN_OK;
    t.year = digits(&s, 4, 4);
    if (t.year < 0 || s.p == s.end || *s.p++ != '-' || (t.mon = digits(&s, 1, 2)) < 0 ||
        s.p == s.end || *s.p++ != '-' || (t.mday = digits(&s, 1, 2)) < 0)
        return pgbin_refuse(v, PGBIN_UNCERTAIN, ERR_FORM);
    if ((st = parse_rest(v, &s, &t, ss)) != PGBIN_OK || (st = validate(v, &t)) != PGBIN_OK)
        return st;
    if (kind == PGBIN_DATE) {
        if (!valid_julian(t.year, t.mon))
            return pgbin_refuse(v, PGBIN_INVALID, ERR_RANGE);
        int64_t d = date2j(t.year, t.mon, t.mday) - POSTGRES_EPOCH_JDATE;
        if (d < -POSTGRES_EPOCH_JDATE || d >= DATE_END_JULIAN - POSTGRES_EPOCH_JDATE)
            return pgbin_refuse(v, PGBIN_INVALID, ERR_RANGE);
        pgbin_put32(v->out, (uint32_t)(int32_t)d);
        v->outlen = 4;
        return PGBIN_OK;
    }
    if (kind == PGBIN_TIMESTAMPTZ && !t.have_zone && !ss->utc)
        return pgbin_refuse(v, PGBIN_UNCERTAIN, "no offset and the session time zone is not UTC");
    st = to_timestamp(v, &t, kind == PGBIN_TIMESTAMPTZ ? &t.tz : NULL, &ts);
    if (st != PGBIN_OK)
        return st;
    pgbin_put64(v->out, (uint64_t)ts);
    v->outlen = 8;
    return PGBIN_OK;
}
