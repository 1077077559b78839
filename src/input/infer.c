/*
 * infer.c: the value classifiers and the per-column narrowing behind create_table.
 *
 * Each value is classified once into the set of kinds it fits; a column keeps
 * the intersection over its values, and the most preferred kind left wins.
 * Classification is byte-level and locale-free. It does not convert values
 * (the sinks send the text as it is) and it does not look past the sample.
 */
#include "input/infer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/iso8601.h"
#include "base/util.h"

#define K(t) (1u << (t))
#define ALL_KINDS                                                                                  \
    (K(COLUMN_BIGINT) | K(COLUMN_NUMERIC) | K(COLUMN_DOUBLE) | K(COLUMN_BOOL) | K(COLUMN_DATE) |   \
     K(COLUMN_TIMESTAMP) | K(COLUMN_TIMESTAMPTZ))

static const enum column_type preference[] = {
    COLUMN_BIGINT, COLUMN_NUMERIC,   COLUMN_DOUBLE,      COLUMN_BOOL,
    COLUMN_DATE,   COLUMN_TIMESTAMP, COLUMN_TIMESTAMPTZ,
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Count digits from *i. */
static size_t run_digits(const char *s, size_t n, size_t *i)
{
    size_t start = *i;
    while (*i < n && is_digit(s[*i]))
        (*i)++;
    return *i - start;
}

static unsigned classify_number(const char *s, size_t n)
{
    size_t i = 0, idig, fdig = 0;
    bool frac = false;

    if (i < n && s[i] == '-')
        i++;
    idig = run_digits(s, n, &i);
    if (idig == 0 || (idig > 1 && s[i - idig] == '0'))
        return 0;
    if (i < n && s[i] == '.') {
        i++;
        frac = true;
        fdig = run_digits(s, n, &i);
        if (fdig == 0)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (run_digits(s, n, &i) == 0 || i != n)
            return 0;
        return K(COLUMN_DOUBLE);
    }
    if (i != n)
        return 0;
    if (idig > 28)
        return 0; /* an identifier, not a quantity */
    if (!frac && idig <= 19) {
        /* int64: 19 digits may still overflow */
        if (idig < 19 ||
            strncmp(s + (s[0] == '-'), s[0] == '-' ? "9223372036854775808" : "9223372036854775807",
                    19) <= 0)
            return K(COLUMN_BIGINT) | K(COLUMN_NUMERIC) | K(COLUMN_DOUBLE);
    }
    if (fdig <= 10)
        return K(COLUMN_NUMERIC) | K(COLUMN_DOUBLE);
    return K(COLUMN_DOUBLE);
}

static bool valid_date(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : !is_digit(s[i]))
            return false;
    y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    return !(m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

static unsigned classify_time(const char *s, size_t n)
{
    char tmp[48];
    int64_t ms;
    size_t i = 19;

    if (n == 10)
        return valid_date(s) ? K(COLUMN_DATE) : 0;
    if (n < 19 || n >= sizeof(tmp) || (s[10] != 'T' && s[10] != ' '))
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (iso8601_to_ms(tmp, &ms) != 0)
        return 0;
    if (i < n && s[i] == '.')
        for (i++; i < n && is_digit(s[i]); i++)
            ;
    return i == n ? K(COLUMN_TIMESTAMP) : K(COLUMN_TIMESTAMPTZ);
}

static unsigned classify(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    if ((n == 4 && !strncasecmp(s, "true", 4)) || (n == 5 && !strncasecmp(s, "false", 5)))
        return K(COLUMN_BOOL);
    if (n >= 10 && is_digit(s[0]) && s[4] == '-')
        return classify_time(s, n);
    return classify_number(s, n);
}

static enum column_type best(unsigned cand)
{
    for (size_t i = 0; i < ARRAY_SIZE(preference); i++)
        if (cand & K(preference[i]))
            return preference[i];
    return COLUMN_TEXT;
}

enum column_type infer_value(const char *s, size_t len)
{
    return best(classify(s, len));
}

void infer_init(struct infer *in, size_t ncols)
{
    in->ncols = ncols;
    in->cand = xcalloc(ncols ? ncols : 1, sizeof(*in->cand));
    in->seen = xcalloc(ncols ? ncols : 1, sizeof(*in->seen));
    in->rows = 0;
    for (size_t i = 0; i < ncols; i++)
        in->cand[i] = ALL_KINDS;
}

void infer_free(struct infer *in)
{
    free(in->cand);
    free(in->seen);
    memset(in, 0, sizeof(*in));
}

void infer_row(struct infer *in, const struct field *f)
{
    if (in->rows >= INFER_SAMPLE_ROWS)
        return;
    in->rows++;
    for (size_t i = 0; i < in->ncols; i++) {
        if (!f[i].ptr || !in->cand[i])
            continue;
        in->seen[i] = true;
        in->cand[i] &= classify(f[i].ptr, f[i].len);
    }
}

enum column_type infer_result(const struct infer *in, size_t col)
{
    return in->seen[col] ? best(in->cand[col]) : COLUMN_TEXT;
}

void infer_column_types(size_t ncols, const struct batch *first, enum column_type *types)
{
    struct infer in;

    infer_init(&in, ncols);
    for (size_t r = 0; first && r < first->nrows; r++)
        infer_row(&in, first->rows[r].fields);
    for (size_t i = 0; i < ncols; i++)
        types[i] = infer_result(&in, i);
    infer_free(&in);
}
