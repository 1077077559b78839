/*
 * strlist.h: a list of owned strings (column names, NULL spellings, errors).
 *
 * An all-zero struct strlist is an empty list. Not synchronised: one thread at a time,
 * or read-only once shared (configuration snapshots).
 */
#ifndef INGESTD_STRLIST_H
#define INGESTD_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

struct strlist {
    char **v;
    size_t n;
};

void strlist_push(struct strlist *l, const char *s); /* copies s */
void strlist_free(struct strlist *l);
bool strlist_contains(const struct strlist *l, const char *s);

#endif
