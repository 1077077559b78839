/*
 * sink.c: the sink registry, the error helpers every module uses, and password
 * resolution for SQL sinks.
 *
 * The registry maps a sink type to the ops table built into this binary; a sink
 * added to the build adds one line to sink_table[]. Nothing here talks to a database
 * or to AWS: Secrets Manager is reached through the resolver main installs.
 */
#include "sink.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#ifdef WITH_POSTGRES
extern const struct sink_ops sink_pg_ops;
#endif
#ifdef WITH_DYNAMODB
extern const struct sink_ops sink_dynamodb_ops;
extern const struct sink_ops sink_sqs_ops; /* its ledger is in DynamoDB */
#endif
#ifdef WITH_MYSQL
extern const struct sink_ops sink_mysql_ops;
#endif

static const struct sink_ops *const sink_table[] = {
#ifdef WITH_POSTGRES
    &sink_pg_ops,
#endif
#ifdef WITH_DYNAMODB
    &sink_dynamodb_ops,
    &sink_sqs_ops,
#endif
#ifdef WITH_MYSQL
    &sink_mysql_ops,
#endif
    NULL, /* keeps the array non-empty when no sink is built in */
};

const struct sink_ops *sink_ops_for(enum sink_type type)
{
    for (size_t i = 0; i < ARRAY_SIZE(sink_table); i++)
        if (sink_table[i] && sink_table[i]->type == type)
            return sink_table[i];
    return NULL;
}

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

/* Written once by main before workers start, read by workers afterwards. */
static sink_secret_fn secret_resolver;

void sink_set_secret_resolver(sink_secret_fn fn)
{
    secret_resolver = fn;
}

static int read_password_file(const char *path, char **out, struct ierr *e)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        ierr_set(e, IERR_CONFIG, "password_file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int rc = 0;
    if (!fgets(line, sizeof(line), f)) {
        if (ferror(f))
            ierr_set(e, IERR_CONFIG, "password_file %s: %s", path, strerror(errno));
        else
            ierr_set(e, IERR_CONFIG, "password_file %s: file is empty", path);
        rc = -1;
    } else {
        *out = xstrdup(str_trim(line));
    }
    explicit_bzero(line, sizeof(line));
    fclose(f);
    return rc;
}

int sink_resolve_password(const struct sink_conf *sc, const struct config *cfg, char **out,
                          struct ierr *e)
{
    *out = NULL;
    if (sc->password) {
        *out = xstrdup(sc->password);
        return 0;
    }
    if (sc->password_file)
        return read_password_file(sc->password_file, out, e);
    if (sc->password_secret) {
        if (!secret_resolver) {
            ierr_set(e, IERR_CONFIG,
                     "sink %s: password_secret is set but this build has "
                     "no secret resolver",
                     sc->name ? sc->name : "?");
            return -1;
        }
        return secret_resolver(cfg, sc->password_secret, out, e);
    }
    return 0;
}
