/*
 * pg_conninfo.c: see pg_conninfo.h.
 */
#include "sinks/postgres/pg_conninfo.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

/* What libpq's messages say, and how we say it without the quoted text. */
static const struct {
    const char *libpq;
    const char *ours;
} mistakes[] = {
    {"missing \"=\"", "a word without \"=\" (write KEY=VALUE; quote a value with spaces: "
                      "KEY='a b')"},
    {"unterminated quoted string", "a quoted value without its closing quote"},
    {"invalid connection option", "an unknown parameter name"},
    {"percent-encoded", "an invalid %XX escape in the URI"},
    {"invalid URI", "a malformed URI"},
    {"URI", "a malformed URI"},
};

/* libpq expands a connection string or URI; any other string is a database name. */
static bool is_connection_string(const char *s)
{
    return strchr(s, '=') || !strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11);
}

int pg_conninfo_check(const char *conninfo, const char **why)
{
    char *msg = NULL;
    *why = NULL;
    if (!conninfo || !is_connection_string(conninfo))
        return 0;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    if (opts) {
        PQconninfoFree(opts);
        return 0;
    }
    *why = "not a valid libpq connection string or URI";
    for (size_t i = 0; msg && i < ARRAY_SIZE(mistakes); i++) {
        if (strstr(msg, mistakes[i].libpq)) {
            *why = mistakes[i].ours;
            break;
        }
    }
    if (msg) {
        explicit_bzero(msg, strlen(msg));
        PQfreemem(msg);
    }
    return -1;
}

static void redact(char *text, size_t size, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    struct buf b;
    const char *p = text, *hit;
    if (n < 3 || !strstr(text, secret)) /* shorter ones would blank unrelated words */
        return;
    buf_init(&b);
    while ((hit = strstr(p, secret))) {
        buf_append(&b, p, (size_t)(hit - p));
        buf_puts(&b, "***");
        p = hit + n;
    }
    buf_puts(&b, p);
    snprintf(text, size, "%s", b.data);
    buf_free(&b);
}

void pg_conninfo_redact(char *text, size_t size, const char *conninfo, const char *password)
{
    redact(text, size, password);
    if (!conninfo || !is_connection_string(conninfo))
        return;
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, "password") && o->val)
            redact(text, size, o->val);
    PQconninfoFree(opts);
}
