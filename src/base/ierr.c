/*
 * ierr.c: see ierr.h.
 */
#include "base/ierr.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void ierr_set(struct ierr *e, enum ierr_class cls, const char *fmt, ...)
{
    if (!e)
        return;
    e->cls = cls;
    e->line = 0;
    e->column = 0;
    e->column_name[0] = '\0';
    e->sample[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
    va_end(ap);
}

static bool states_a_line(const char *reason)
{
    for (const char *p = strstr(reason, "line "); p; p = strstr(p + 5, "line "))
        if (p[5] >= '0' && p[5] <= '9' && (p == reason || p[-1] == ' ' || p[-1] == '('))
            return true;
    return false;
}

void ierr_format_position(char *out, size_t outsz, uint64_t line, unsigned column,
                          const char *column_name, const char *reason)
{
    if (line == 0 || states_a_line(reason))
        snprintf(out, outsz, "%s", reason);
    else if (column_name && *column_name)
        snprintf(out, outsz, "line %llu, column %s: %s", (unsigned long long)line, column_name,
                 reason);
    else if (column)
        snprintf(out, outsz, "line %llu, column %u: %s", (unsigned long long)line, column, reason);
    else
        snprintf(out, outsz, "line %llu: %s", (unsigned long long)line, reason);
}

void ierr_describe(const struct ierr *e, char *out, size_t outsz)
{
    ierr_format_position(out, outsz, e->line, e->column, e->column_name, e->reason);
}

const char *ierr_class_name(enum ierr_class cls)
{
    switch (cls) {
    case IERR_NONE:
        return "none";
    case IERR_TRANSIENT:
        return "transient";
    case IERR_PERMANENT:
        return "permanent";
    case IERR_CONFIG:
        return "config";
    case IERR_RESTART:
        return "restart";
    }
    return "unknown";
}
