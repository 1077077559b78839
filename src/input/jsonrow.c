/*
 * jsonrow.c: member bounds, string decoding and compaction over validated JSON text.
 *
 * jansson validates a record but keeps neither the text of numbers (it converts
 * them to long long or double, so 110.50 would come back as 110.5 and 0.1 as
 * 0.10000000000000001) nor the text of nested values. A record's fields are
 * therefore taken from its text: this file walks the members of an object and
 * hands back each value as written. It does no validation and no allocation
 * besides growing the caller's buffer.
 */
#include "input/jsonrow.h"

#include <string.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *t, size_t i, size_t n)
{
    while (i < n && is_ws(t[i]))
        i++;
    return i;
}

/* End (exclusive) of the value that starts at t[i]. */
static size_t value_end(const char *t, size_t i, size_t n)
{
    size_t depth = 0;
    bool str = false;

    if (i >= n)
        return n;
    if (t[i] == '"') {
        for (i++; i < n; i++) {
            if (t[i] == '\\')
                i++;
            else if (t[i] == '"')
                return i + 1;
        }
        return n;
    }
    if (t[i] == '{' || t[i] == '[') {
        for (; i < n; i++) {
            char c = t[i];
            if (str) {
                if (c == '\\')
                    i++;
                else if (c == '"')
                    str = false;
            } else if (c == '"') {
                str = true;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                return i + 1;
            }
        }
        return n;
    }
    while (i < n && !is_ws(t[i]) && t[i] != ',' && t[i] != '}' && t[i] != ']')
        i++;
    return i;
}

bool jsonrow_next(const char *t, size_t n, size_t *pos, struct jsonrow_span *key,
                  struct jsonrow_span *val)
{
    size_t i = skip_ws(t, *pos, n), e;

    if (*pos == 0) {
        if (i >= n || t[i] != '{')
            return false;
        i = skip_ws(t, i + 1, n);
    } else if (i < n && t[i] == ',') {
        i = skip_ws(t, i + 1, n);
    }
    if (i >= n || t[i] != '"')
        return false;
    e = value_end(t, i, n);
    key->p = t + i;
    key->len = e - i;
    i = skip_ws(t, e, n);
    if (i >= n || t[i] != ':')
        return false;
    i = skip_ws(t, i + 1, n);
    e = value_end(t, i, n);
    val->p = t + i;
    val->len = e - i;
    *pos = e;
    return e > i;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;

    for (int k = 0; k < 4; k++) {
        char c = p[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void put_utf8(struct buf *b, unsigned cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, u, n);
}

/* One escape at p (after the backslash), end is the closing quote; advances *p. */
static int unescape(const char **p, const char *end, struct buf *b)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *q = *p, *hit;
    unsigned cp, lo;

    if (q >= end)
        return -1;
    if (*q != 'u') {
        hit = memchr(from, *q, sizeof(from) - 1);
        if (!hit)
            return -1;
        buf_putc(b, to[hit - from]);
        *p = q + 1;
        return 0;
    }
    if (end - q < 5 || hex4(q + 1, &cp) < 0)
        return -1;
    q += 5;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, &lo) < 0 || lo < 0xDC00 ||
            lo > 0xDFFF)
            return -1;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        q += 6;
    } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
        return -1; /* a lone low surrogate; NUL cannot be held by a text field */
    }
    put_utf8(b, cp);
    *p = q;
    return 0;
}

int jsonrow_string(const struct jsonrow_span *s, struct buf *out)
{
    const char *p, *end, *bs;
    size_t start = out->len;

    if (s->len < 2 || s->p[0] != '"' || s->p[s->len - 1] != '"')
        return -1;
    p = s->p + 1;
    end = s->p + s->len - 1;
    while (p < end) {
        bs = memchr(p, '\\', (size_t)(end - p));
        if (!bs) {
            buf_append(out, p, (size_t)(end - p));
            break;
        }
        buf_append(out, p, (size_t)(bs - p));
        p = bs + 1;
        if (unescape(&p, end, out) < 0) {
            out->len = start;
            return -1;
        }
    }
    return 0;
}

void jsonrow_compact(const char *t, size_t n, struct buf *out)
{
    bool str = false;
    size_t run = 0;

    buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (str) {
            if (c == '\\' && i + 1 < n)
                i++;
            else if (c == '"')
                str = false;
            continue;
        }
        if (c == '"') {
            str = true;
        } else if (is_ws(c)) {
            buf_append(out, t + run, i - run);
            run = i + 1;
        }
    }
    buf_append(out, t + run, n - run);
}
