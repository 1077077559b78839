/*
 * daemon.h: the long-running service and the one-shot modes built on the same parts.
 *
 * daemon_run() owns the main thread: it blocks every signal (so that worker
 * threads inherit the mask and signals arrive only through the loop's signalfd),
 * builds the loop, and returns the process exit status when the loop stops.
 */
#ifndef INGESTD_DAEMON_H
#define INGESTD_DAEMON_H

#include <stdbool.h>

#include "base/config.h"

struct daemon_opts {
    const char *config_path;
    bool exit_when_idle;
};

/* Each takes its own reference to cfg; returns an exit status (0, 3). */
int daemon_run(const struct daemon_opts *o, struct config *cfg);
int daemon_preflight(struct config *cfg);
int daemon_load_one(struct config *cfg, const char *s3_url, const char *route);

#endif
