/*
 * pg_conninfo.h: a PostgreSQL sink's `conninfo` checked and kept out of messages.
 *
 * libpq's own parse errors quote the text they stumble on ('missing "=" after
 * "horse"', 'invalid percent-encoded token: "Hunter2%ZZsecret"'), and in a connection
 * string that text is as likely as not a piece of the password. The configuration
 * check here parses the string with PQconninfoParse and reports only what kind of
 * mistake it is, never any of its text. Pure (no connection); any thread.
 */
#ifndef INGESTD_PG_CONNINFO_H
#define INGESTD_PG_CONNINFO_H

#include <stddef.h>

/*
 * 0 when libpq would accept conninfo (a plain word is a database name, as libpq takes
 * it), else -1 and *why a fixed description of the mistake that quotes nothing.
 */
int pg_conninfo_check(const char *conninfo, const char **why);

/* Replaces every occurrence of conninfo's password (when it has one) and of password
 * (may be NULL) in text[0..size) with "***". */
void pg_conninfo_redact(char *text, size_t size, const char *conninfo, const char *password);

#endif
