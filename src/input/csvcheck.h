/*
 * csvcheck.h: per-row checks for csvstream: null strings, header names, validate.* rules.
 *
 * Internal to csvstream (and its tests): fields are given as offsets into an
 * arena of NUL-terminated values, NO_FIELD (SIZE_MAX) meaning NULL. Pure; the
 * route must outlive the struct csvcheck. Rules do not fire on NULL fields except
 * notnull: a NULL is "no value", which only notnull forbids.
 */
#ifndef INGESTD_CSVCHECK_H
#define INGESTD_CSVCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "base/ierr.h"

struct csvcheck {
    bool null_empty;    /* "" is in the null list: unquoted empty fields are NULL */
    const char **nulls; /* the non-empty null strings */
    size_t *null_lens;
    size_t nnulls;
    size_t null_minlen, null_maxlen;
    const struct rule **rules; /* the route's rules, resolved to columns */
    size_t *rule_col;
    size_t nrules;
};

void csvcheck_init(struct csvcheck *c, const struct route_conf *rc);
void csvcheck_free(struct csvcheck *c);

/* f == NULL is an unquoted empty field (libcsv's CSV_EMPTY_IS_NULL). */
static inline bool csvcheck_is_null(const struct csvcheck *c, const char *f, size_t len)
{
    if (f == NULL)
        return c->null_empty;
    if (c->nnulls == 0 || len < c->null_minlen || len > c->null_maxlen)
        return false;
    for (size_t i = 0; i < c->nnulls; i++)
        if (c->null_lens[i] == len && __builtin_memcmp(c->nulls[i], f, len) == 0)
            return true;
    return false;
}

/* Append a copy of name to l (the stream's own column list). */
void csvcheck_push_name(struct strlist *l, const char *name);

/* Header names: none empty, none repeated. -1 with e (IERR_PERMANENT, column set). */
int csvcheck_header(const struct strlist *cols, struct ierr *e);

/* The header names exactly the columns in want (the route's), in any order; cols has no
 * duplicates. -1 with e (IERR_PERMANENT) naming the first header name not in want, and a
 * name of want the header lacks. */
int csvcheck_header_is(const struct strlist *cols, const struct strlist *want, struct ierr *e);

/* Map each validate.COLUMN rule to its field; -1 with e when the column is absent. */
int csvcheck_resolve(struct csvcheck *c, const struct route_conf *rc, const struct strlist *cols,
                     struct ierr *e);

/* Apply the rules to one row. On the first failure writes reason, *col and sample. */
void csvcheck_rules(const struct csvcheck *c, const char *arena, const size_t *off,
                    const size_t *len, uint64_t line, char *reason, size_t reasonsz, unsigned *col,
                    char *sample, size_t samplesz);

/* The row as text for a reject record: fields joined by delim, NULL as empty,
 * "..." when fields or bytes were left out; always valid UTF-8. */
void csvcheck_raw_row(char *out, size_t outsz, const char *arena, const size_t *off,
                      const size_t *len, size_t n, bool more, char delim);

#endif
