/*
 * route.h: which route takes an object, and the table its rows go to.
 *
 * Routing is first match in file order over cfg->routes. A route matches when
 * every condition it sets holds on the bucket and the decoded key: bucket
 * (exact), match_prefix, match_suffix (byte comparisons, case-sensitive, as S3
 * keys are) and match_regex (POSIX ERE, searched anywhere in the key unless
 * anchored). A route with no condition matches everything.
 *
 * Table templates (validated for syntax by config.c) expand per object:
 *   {bucket}    the bucket name
 *   {key}       the whole decoded key
 *   {dirname}   the last directory of the key ("" for a key without '/')
 *   {basename}  the file name without its directory and without ALL extensions:
 *               data/2024/orders.csv.gz -> orders. Extensions start at the first
 *               '.' after the first character, so a leading dot belongs to the
 *               name: .orders.csv -> ".orders", which is not a valid identifier.
 * A template with one '.' is schema.table; each side is expanded on its own, so
 * a '.' coming from the key never splits it. The result must be a valid
 * identifier (ident.h): nothing is replaced or case-folded. A key whose
 * expansion is not valid is a permanent error naming the key and the template.
 *
 * Pure; any thread may call these on a configuration snapshot it holds.
 */
#ifndef INGESTD_ROUTE_H
#define INGESTD_ROUTE_H

#include <stdbool.h>

#include "base/config.h"
#include "base/ierr.h"

bool route_matches(const struct route_conf *r, const char *bucket, const char *key);
/* The first matching route, or NULL. */
const struct route_conf *route_match(const struct config *cfg, const char *bucket, const char *key);

/* Expand r->table for this object into *out (owned by the caller, free()). 0, or -1 with e
 * set (IERR_PERMANENT) and *out untouched. */
int route_expand_table(const struct route_conf *r, const char *bucket, const char *key, char **out,
                       struct ierr *e);

#endif
