/*
 * pg_binary_numeric.c: numeric_in (with apply_typmod) -> numeric_send format.
 *
 * The text is read the way set_var_from_str() reads it: a string of decimal digits,
 * the power of ten of the first one (dweight) and the display scale (dscale), an
 * exponent moving both. A typmod (precision p, scale s; PostgreSQL 15 allows s < 0
 * and s > p) then rounds half away from zero at 10^-s, sets dscale = max(s, 0) and
 * refuses values of more than p - s integer digits ("numeric field overflow"), the
 * same decisions apply_typmod() takes on the base-10000 form. The result goes out
 * as numeric_send writes it: ndigits, weight, sign, dscale (int16 each), then
 * base-10000 digits, the first and last nonzero.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/postgres/pg_binary_int.h"
#include "base/util.h"

#define NUMERIC_POS  0x0000
#define NUMERIC_NEG  0x4000
#define NUMERIC_NAN  0xC000
#define NUMERIC_PINF 0xD000
#define NUMERIC_NINF 0xF000
#define DSCALE_MAX   0x3FFF
#define ERR_SYNTAX   "invalid input syntax"
#define ERR_OVERFLOW "numeric field overflow"
#define STACK_DIGITS 256

/* A decimal value: digits d[0..nd) (leading zeros allowed), d[k] at 10^(dweight - k). */
struct decimal {
    unsigned char *d;
    int64_t nd;
    int64_t dweight;
    int64_t dscale;
    uint16_t sign;
};

static bool prefix_ieq(const char *p, const char *end, const char *word)
{
    size_t k = strlen(word);
    if ((size_t)(end - p) < k)
        return false;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)p[i], w = (unsigned char)word[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 'a' - 'A');
        if (w >= 'A' && w <= 'Z')
            w = (unsigned char)(w + 'a' - 'A');
        if (c != w)
            return false;
    }
    return true;
}

static bool rest_is_space(const char *p, const char *end)
{
    while (p < end && pgbin_space((unsigned char)*p))
        p++;
    return p == end;
}

/* NaN and the infinities, in numeric_in's order of tests. 1 when one was found. */
static int special(struct pgbin_val *v, const char *p, const char *end, int32_t typmod,
                   enum pgbin_status *st)
{
    static const struct {
        const char *word;
        uint16_t sign;
    } words[] = {{"NaN", NUMERIC_NAN},        {"Infinity", NUMERIC_PINF},
                 {"+Infinity", NUMERIC_PINF}, {"-Infinity", NUMERIC_NINF},
                 {"inf", NUMERIC_PINF},       {"+inf", NUMERIC_PINF},
                 {"-inf", NUMERIC_NINF}};
    for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
        if (!prefix_ieq(p, end, words[i].word))
            continue;
        if (!rest_is_space(p + strlen(words[i].word), end))
            *st = pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
        else if (words[i].sign != NUMERIC_NAN && typmod >= 4)
            *st = pgbin_refuse(v, PGBIN_INVALID, ERR_OVERFLOW); /* no room for infinity */
        else {
            unsigned char *o = pgbin_put32(v->out, 0); /* ndigits, weight */
            o = pgbin_put16(o, words[i].sign);
            pgbin_put16(o, 0);
            v->outlen = 8;
            *st = PGBIN_OK;
        }
        return 1;
    }
    return 0;
}

/* The exponent after 'e', read as strtol() reads it. */
static enum pgbin_status exponent(struct pgbin_val *v, const char **pp, const char *end,
                                  int64_t *out)
{
    const char *p = *pp;
    bool neg = false;
    int64_t x = 0;
    while (p < end && pgbin_space((unsigned char)*p))
        p++;
    if (p < end && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    if (p == end || !pgbin_digit((unsigned char)*p))
        return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
    for (; p < end && pgbin_digit((unsigned char)*p); p++)
        if (x < INT_MAX)
            x = x * 10 + (*p - '0');
    if (x >= INT_MAX / 2)
        return pgbin_refuse(v, PGBIN_INVALID, "value overflows numeric format");
    *out = neg ? -x : x;
    *pp = p;
    return PGBIN_OK;
}

/* set_var_from_str() and the trailing-space rule of numeric_in(). */
static enum pgbin_status parse(struct pgbin_val *v, const char *p, const char *end,
                               struct decimal *x)
{
    bool have_dp = false;

    x->sign = NUMERIC_POS;
    if (p < end && (*p == '+' || *p == '-'))
        x->sign = *p++ == '-' ? NUMERIC_NEG : NUMERIC_POS;
    if (p < end && *p == '.') {
        have_dp = true;
        p++;
    }
    if (p == end || !pgbin_digit((unsigned char)*p))
        return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
    x->dweight = -1;
    for (; p < end; p++) {
        if (pgbin_digit((unsigned char)*p)) {
            x->d[x->nd++] = (unsigned char)(*p - '0');
            if (have_dp)
                x->dscale++;
            else
                x->dweight++;
        } else if (*p == '.' && !have_dp) {
            have_dp = true;
        } else if (*p == '.') {
            return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
        } else {
            break;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int64_t e;
        p++;
        if (exponent(v, &p, end, &e) != PGBIN_OK)
            return PGBIN_INVALID;
        x->dweight += e;
        x->dscale -= e;
        if (x->dscale < 0)
            x->dscale = 0;
    }
    if (!rest_is_space(p, end))
        return pgbin_refuse(v, PGBIN_INVALID, ERR_SYNTAX);
    return PGBIN_OK;
}

static int64_t first_nonzero(const struct decimal *x)
{
    for (int64_t k = 0; k < x->nd; k++)
        if (x->d[k])
            return k;
    return -1;
}

/* apply_typmod(): round at 10^-scale, then the overflow check. */
static enum pgbin_status apply_typmod(struct pgbin_val *v, struct decimal *x, int32_t typmod)
{
    int precision = ((typmod - 4) >> 16) & 0xffff;
    int scale = (((typmod - 4) & 0x7ff) ^ 1024) - 1024;
    int64_t keep = x->dweight + scale + 1; /* digits at 10^-scale and above */

    if (keep < x->nd) {
        bool up = keep >= 0 && x->d[keep] >= 5;
        x->nd = keep < 0 ? 0 : keep;
        int64_t i = x->nd - 1;
        while (up && i >= 0 && x->d[i] == 9)
            x->d[i--] = 0;
        if (up && i >= 0) {
            x->d[i]++;
        } else if (up) { /* 9.99 -> 10.0: a new leading digit */
            memmove(x->d + 1, x->d, (size_t)x->nd);
            x->d[0] = 1;
            x->nd++;
            x->dweight++;
        }
    }
    x->dscale = scale < 0 ? 0 : scale;
    int64_t f = first_nonzero(x);
    if (f >= 0 && x->dweight - f + 1 > precision - scale)
        return pgbin_refuse(v, PGBIN_INVALID, ERR_OVERFLOW);
    return PGBIN_OK;
}

static int64_t floor_div4(int64_t a)
{
    return a >= 0 ? a / 4 : -((-a + 3) / 4);
}

static int digit_at(const struct decimal *x, int64_t power)
{
    int64_t k = x->dweight - power;
    return k >= 0 && k < x->nd ? x->d[k] : 0;
}

/* numeric_send(): base-10000 digits from the first nonzero one to the last. */
static enum pgbin_status emit(struct pgbin_val *v, const struct decimal *x)
{
    int64_t f = first_nonzero(x), l = x->nd - 1;
    unsigned char *o = v->out;

    if (x->dscale > DSCALE_MAX)
        return pgbin_refuse(v, PGBIN_INVALID, "value overflows numeric format");
    if (f < 0) { /* zero: weight 0, positive */
        o = pgbin_put32(o, 0);
        o = pgbin_put16(o, NUMERIC_POS);
        pgbin_put16(o, (uint16_t)x->dscale);
        v->outlen = 8;
        return PGBIN_OK;
    }
    while (x->d[l] == 0)
        l--;
    int64_t top = floor_div4(x->dweight - f), bottom = floor_div4(x->dweight - l);
    if (top > INT16_MAX || top < INT16_MIN)
        return pgbin_refuse(v, PGBIN_INVALID, "value overflows numeric format");
    int64_t ndigits = top - bottom + 1;
    o = pgbin_put16(o, (uint16_t)ndigits);
    o = pgbin_put16(o, (uint16_t)(int16_t)top);
    o = pgbin_put16(o, x->sign);
    o = pgbin_put16(o, (uint16_t)x->dscale);
    for (int64_t w = top; w >= bottom; w--) {
        int nb = 0;
        for (int j = 3; j >= 0; j--)
            nb = nb * 10 + digit_at(x, 4 * w + j);
        o = pgbin_put16(o, (uint16_t)nb);
    }
    v->outlen = (size_t)(o - v->out);
    return PGBIN_OK;
}

enum pgbin_status pgbin_numeric(struct pgbin_val *v, int32_t typmod)
{
    const char *p = v->p, *end = v->p + v->n;
    unsigned char stack[STACK_DIGITS];
    struct decimal x = {stack, 0, 0, 0, NUMERIC_POS};
    enum pgbin_status st;

    if (pgbin_has_high_bit(v->p, v->n))
        return pgbin_refuse(v, PGBIN_UNCERTAIN, "non-ASCII bytes");
    while (p < end && pgbin_space((unsigned char)*p))
        p++;
    if (special(v, p, end, typmod, &st))
        return st;
    if (v->n > STACK_DIGITS)
        x.d = xmalloc(v->n);
    st = parse(v, p, end, &x);
    if (st == PGBIN_OK && typmod >= 4)
        st = apply_typmod(v, &x, typmod);
    if (st == PGBIN_OK)
        st = emit(v, &x);
    if (x.d != stack)
        free(x.d);
    return st;
}
