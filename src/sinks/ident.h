/*
 * ident.h: SQL identifiers: validity of expanded table names and quoting.
 *
 * A table name produced from a route's template must be a plain identifier,
 * optionally qualified: ^[A-Za-z_][A-Za-z0-9_]{0,62}$, or two of those joined by
 * one '.' (schema.table). 63 characters is PostgreSQL's limit (MySQL allows 64).
 * Case is kept as written: the SQL sinks always quote identifiers, so `Orders`
 * and `orders` are different tables in PostgreSQL.
 *
 * The quoting helpers accept any name (column names come from CSV headers and
 * may hold spaces or quotes) and append to a caller-owned buffer. Pure; any thread.
 */
#ifndef INGESTD_IDENT_H
#define INGESTD_IDENT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

#define IDENT_MAX_LEN 63

enum ident_dialect { IDENT_PG, IDENT_MYSQL };

/* s[0..n) is one plain identifier as defined above. */
bool ident_valid(const char *s, size_t n);
/* name is "table" or "schema.table" with each part valid. */
bool ident_valid_table(const char *name);

/* "na""me" (PostgreSQL) or `na``me` (MySQL). */
void ident_quote(struct buf *b, const char *name, enum ident_dialect d);
/* A table name: each part of "schema.table" quoted on its own: "s"."t". */
void ident_quote_table(struct buf *b, const char *name, enum ident_dialect d);

#endif
