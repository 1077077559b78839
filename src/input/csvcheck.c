/*
 * csvcheck.c: the row checks behind csvstream: null strings, header names and the
 * validate.* rules (regex, int range, length range in characters, notnull).
 *
 * Runs once per field or row on the hot path, so nothing here allocates after
 * csvcheck_init/csvcheck_resolve. It does not parse CSV and does not decide what
 * happens to a bad row (csvstream does).
 */
#include "input/csvcheck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "base/util.h"

#define NO_FIELD SIZE_MAX

void csvcheck_init(struct csvcheck *c, const struct route_conf *rc)
{
    memset(c, 0, sizeof(*c));
    c->nulls = xcalloc(rc->null.n + 1, sizeof(*c->nulls));
    c->null_lens = xcalloc(rc->null.n + 1, sizeof(*c->null_lens));
    c->null_minlen = SIZE_MAX;
    for (size_t i = 0; i < rc->null.n; i++) {
        size_t l = strlen(rc->null.v[i]);
        if (l == 0) {
            c->null_empty = true;
            continue;
        }
        c->nulls[c->nnulls] = rc->null.v[i];
        c->null_lens[c->nnulls++] = l;
        if (l < c->null_minlen)
            c->null_minlen = l;
        if (l > c->null_maxlen)
            c->null_maxlen = l;
    }
}

void csvcheck_free(struct csvcheck *c)
{
    free(c->nulls);
    free(c->null_lens);
    free(c->rules);
    free(c->rule_col);
    memset(c, 0, sizeof(*c));
}

void csvcheck_push_name(struct strlist *l, const char *name)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = xstrdup(name);
}

static void set_err(struct ierr *e, unsigned col, const char *name, const char *fmt, ...)
    PRINTF_LIKE(4, 5);

static void set_err(struct ierr *e, unsigned col, const char *name, const char *fmt, ...)
{
    va_list ap;

    memset(e, 0, sizeof(*e));
    e->cls = IERR_PERMANENT;
    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
    va_end(ap);
    e->column = col;
    if (name)
        utf8_sample(e->column_name, sizeof(e->column_name), name, strlen(name));
}

int csvcheck_header(const struct strlist *cols, struct ierr *e)
{
    /* Headers are short: a quadratic scan beats building a hash for a few dozen names. */
    for (size_t i = 0; i < cols->n; i++) {
        if (cols->v[i][0] == '\0') {
            set_err(e, (unsigned)i + 1, NULL, "header: column %zu has an empty name", i + 1);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cols->v[i], cols->v[j]) == 0) {
                char name[128];
                utf8_sample(name, sizeof(name), cols->v[i], strlen(cols->v[i]));
                set_err(e, (unsigned)i + 1, cols->v[i],
                        "header: duplicate column name \"%s\" (columns %zu and %zu)", name, j + 1,
                        i + 1);
                snprintf(e->sample, sizeof(e->sample), "%s", name);
                return -1;
            }
        }
    }
    return 0;
}

/* "a, b, c" for an error text, cut short with "..." past about 160 bytes. */
static void list_names(char *out, size_t outsz, const struct strlist *l)
{
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < l->n && b.len < 160; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", l->v[i]);
    if (b.len >= 160)
        buf_puts(&b, ", ...");
    utf8_sample(out, outsz, b.data ? b.data : "", b.len);
    buf_free(&b);
}

int csvcheck_header_is(const struct strlist *cols, const struct strlist *want, struct ierr *e)
{
    const char *missing = NULL;
    char names[200], name[128], lacks[160] = "";

    for (size_t j = 0; j < want->n && !missing; j++) {
        if (!strlist_contains(cols, want->v[j]))
            missing = want->v[j];
    }
    if (missing)
        snprintf(lacks, sizeof(lacks), "; it lacks \"%s\"", missing);
    list_names(names, sizeof(names), want);
    for (size_t i = 0; i < cols->n; i++) {
        if (strlist_contains(want, cols->v[i]))
            continue;
        utf8_sample(name, sizeof(name), cols->v[i], strlen(cols->v[i]));
        set_err(e, (unsigned)i + 1, cols->v[i],
                "header: column %zu is \"%s\", not one of the route's columns (%s)%s", i + 1, name,
                names, lacks);
        snprintf(e->sample, sizeof(e->sample), "%s", name);
        return -1;
    }
    if (missing) {
        set_err(e, 0, missing, "header: no column \"%s\", one of the route's columns (%s)", missing,
                names);
        return -1;
    }
    return 0;
}

int csvcheck_resolve(struct csvcheck *c, const struct route_conf *rc, const struct strlist *cols,
                     struct ierr *e)
{
    free(c->rules);
    free(c->rule_col);
    c->rules = xcalloc(rc->nrules + 1, sizeof(*c->rules));
    c->rule_col = xcalloc(rc->nrules + 1, sizeof(*c->rule_col));
    c->nrules = 0;
    for (size_t r = 0; r < rc->nrules; r++) {
        size_t k;
        for (k = 0; k < cols->n; k++)
            if (strcmp(cols->v[k], rc->rules[r].column) == 0)
                break;
        if (k == cols->n) {
            set_err(e, 0, rc->rules[r].column, "validate.%s: the object has no column \"%s\"",
                    rc->rules[r].column, rc->rules[r].column);
            return -1;
        }
        c->rules[c->nrules] = &rc->rules[r];
        c->rule_col[c->nrules++] = k;
    }
    return 0;
}

/* Strict integer: optional sign, digits, nothing else; false on overflow. */
static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    char *end;

    if (len == 0 || len > 20 || !(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')))
        return false;
    if ((s[0] == '-' || s[0] == '+') && (len == 1 || s[1] < '0' || s[1] > '9'))
        return false;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && end == s + len;
}

static bool rule_ok(const struct rule *r, const char *v, size_t len)
{
    int64_t x;

    if (v == NULL)
        return r->kind != RULE_NOTNULL;
    switch (r->kind) {
    case RULE_NOTNULL:
        return true;
    case RULE_REGEX:
        return regexec(&r->re, v, 0, NULL, 0) == 0;
    case RULE_INT:
        return parse_i64(v, len, &x) && x >= r->min && x <= r->max;
    case RULE_LEN:
        x = (int64_t)utf8_count(v, len);
        return x >= r->min && x <= r->max;
    }
    return false;
}

void csvcheck_rules(const struct csvcheck *c, const char *arena, const size_t *off,
                    const size_t *len, uint64_t line, char *reason, size_t reasonsz, unsigned *col,
                    char *sample, size_t samplesz)
{
    for (size_t i = 0; i < c->nrules; i++) {
        size_t k = c->rule_col[i];
        const char *v = off[k] == NO_FIELD ? NULL : arena + off[k];
        const struct rule *r = c->rules[i];
        char shown[128];

        if (rule_ok(r, v, len[k]))
            continue;
        *col = (unsigned)k + 1;
        if (v) {
            utf8_sample(sample, samplesz, v, len[k]);
            utf8_sample(shown, sizeof(shown), v, len[k]);
            snprintf(reason, reasonsz,
                     "line %llu: column \"%s\" value \"%s\" fails validate.%s = %s",
                     (unsigned long long)line, r->column, shown, r->column, r->text);
        } else {
            sample[0] = '\0';
            snprintf(reason, reasonsz, "line %llu: column \"%s\" is NULL (validate.%s = %s)",
                     (unsigned long long)line, r->column, r->column, r->text);
        }
        return;
    }
}

void csvcheck_raw_row(char *out, size_t outsz, const char *arena, const size_t *off,
                      const size_t *len, size_t n, bool more, char delim)
{
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < n && b.len < outsz; i++) {
        if (i > 0)
            buf_putc(&b, delim);
        if (off[i] != NO_FIELD)
            buf_append(&b, arena + off[i], len[i] < outsz ? len[i] : outsz);
    }
    if (more && b.len < outsz) {
        buf_putc(&b, delim);
        buf_puts(&b, "...");
    }
    utf8_sample(out, outsz, b.data ? b.data : "", b.len);
    buf_free(&b);
}
