/*
 * job.c: allocation and release of struct job (see job.h), and what its log line says.
 */
#include "daemon/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "base/util.h"

struct job *job_new(struct config *cfg, const struct route_conf *route)
{
    static _Atomic uint64_t next_id = 1;
    struct job *j = xcalloc(1, sizeof *j);

    j->id = atomic_fetch_add(&next_id, 1);
    j->cfg = config_ref(cfg);
    j->route = route;
    atomic_init(&j->cancel, false);
    atomic_init(&j->bytes, 0);
    return j;
}

void job_free(struct job *j)
{
    if (!j)
        return;
    free(j->bucket);
    free(j->key);
    free(j->etag);
    free(j->version_id);
    free(j->sequencer);
    free(j->message_id);
    creds_unref(j->creds);
    free(j->table);
    config_unref(j->cfg);
    free(j);
}

const char *job_blank_note(const struct job *j, char *buf, size_t len)
{
    uint64_t n = j->stats.blank_lines;

    if (n == 0)
        buf[0] = '\0';
    else
        snprintf(buf, len, "; %llu blank line%s skipped", (unsigned long long)n, n == 1 ? "" : "s");
    return buf;
}

const char *job_target(const struct job *j, char *buf, size_t bufsz)
{
    const struct sink_conf *sc = j->route->sink;

    if (j->route->nsinks > 1)
        snprintf(buf, bufsz, "%s in sinks %s", j->table ? j->table : "?", j->route->sink_name);
    else if (sc->type == SINK_SQS)
        snprintf(buf, bufsz, "SQS queue %s", sc->queue_url ? sc->queue_url : "?");
    else
        snprintf(buf, bufsz, "%s", j->table ? j->table : "?");
    return buf;
}
