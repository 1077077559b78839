/*
 * config_value.c: what every value parser and check of the configuration shares: how a
 * value is quoted in an error, what a name may be, splitting a list of names, and adding
 * an error with its line to the list config_load() returns.
 *
 * It knows no key and no section: the key table (config_keys.c), the route parsers
 * (config_route.c) and the loader (config.c) all build on it.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/config_int.h"

void cfg_quote_value(struct buf *b, const char *s)
{
    size_t n = strlen(s);

    if (n > 64)
        buf_printf(b, "\"%.60s...\"", s);
    else
        buf_printf(b, "\"%s\"", s);
}

bool cfg_is_ident(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63)
        return false;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    }
    return true;
}

bool cfg_is_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
            return false;
    }
    return true;
}

/* Splits "a, b ,c" into identifiers; an empty string gives an empty list. */
int cfg_split_list(const char *s, struct strlist *out, struct buf *why)
{
    struct strlist l = {0};
    char *copy = xstrdup(s), *p = copy, *item;

    if (*str_trim(copy) == '\0')
        goto done;
    while ((item = strsep(&p, ",")) != NULL) {
        item = str_trim(item);
        if (!cfg_is_ident(item)) {
            buf_puts(why, "column ");
            cfg_quote_value(why, item);
            buf_puts(why, " is not a name of letters, digits and _ (at most 63)");
            goto fail;
        }
        if (strlist_contains(&l, item)) {
            buf_puts(why, "column ");
            cfg_quote_value(why, item);
            buf_puts(why, " is listed twice");
            goto fail;
        }
        strlist_push(&l, item);
    }
done:
    free(copy);
    strlist_free(out);
    *out = l;
    return 0;
fail:
    free(copy);
    strlist_free(&l);
    return -1;
}

void cfg_error(struct cfg_errs *e, int line, const char *section, const char *key, const char *fmt,
               ...)
{
    struct buf b;
    va_list ap;

    e->count++;
    if (!e->list)
        return;
    buf_init(&b);
    buf_puts(&b, e->file);
    if (line > 0)
        buf_printf(&b, ":%d", line);
    buf_puts(&b, ":");
    if (section)
        buf_printf(&b, " [%s]", section);
    if (key)
        buf_printf(&b, " %s", key);
    buf_puts(&b, section || key ? ": " : " ");
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    strlist_push(e->list, b.data);
    buf_free(&b);
}
