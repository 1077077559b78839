/*
 * ident.c: identifier validity and quoting for the SQL sinks.
 *
 * Quoting doubles the quote character and nothing else: inside a quoted
 * identifier PostgreSQL and MySQL take every other byte literally. A NUL cannot
 * be quoted, and C strings cannot carry one anyway.
 */
#include "sinks/ident.h"

#include <string.h>

bool ident_valid(const char *s, size_t n)
{
    if (n == 0 || n > IDENT_MAX_LEN)
        return false;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

bool ident_valid_table(const char *name)
{
    const char *dot = strchr(name, '.');

    if (!dot)
        return ident_valid(name, strlen(name));
    return ident_valid(name, (size_t)(dot - name)) && ident_valid(dot + 1, strlen(dot + 1));
}

static void quote_n(struct buf *b, const char *s, size_t n, char q)
{
    buf_putc(b, q);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == q)
            buf_putc(b, q);
        buf_putc(b, s[i]);
    }
    buf_putc(b, q);
}

void ident_quote(struct buf *b, const char *name, enum ident_dialect d)
{
    quote_n(b, name, strlen(name), d == IDENT_MYSQL ? '`' : '"');
}

void ident_quote_table(struct buf *b, const char *name, enum ident_dialect d)
{
    const char *dot = strchr(name, '.');
    char q = d == IDENT_MYSQL ? '`' : '"';

    if (!dot) {
        quote_n(b, name, strlen(name), q);
        return;
    }
    quote_n(b, name, (size_t)(dot - name), q);
    buf_putc(b, '.');
    quote_n(b, dot + 1, strlen(dot + 1), q);
}
