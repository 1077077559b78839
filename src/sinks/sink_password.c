/*
 * sink_password.c: passwords of SQL sinks (sink_resolve_password(), sink.h).
 *
 * Nothing here talks to AWS: Secrets Manager is reached through the resolver main
 * installs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "sinks/sink.h"

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
