/*
 * health.h: `ingestd health`, the container health check.
 *
 * It asks /healthz of the daemon's own metrics listener ([ingestd] metrics_listen)
 * over plain HTTP, as any client would: it knows nothing of the listener's
 * internals, so it works with whatever serves that address. A wildcard listen
 * address (0.0.0.0, [::]) is reached through the loopback address of its family.
 */
#ifndef INGESTD_HEALTH_H
#define INGESTD_HEALTH_H

#include <stddef.h>

#include "base/config.h"

/* The whole request (connect, send, answer) is given this long. */
#define HEALTH_TIMEOUT_MS 5000
/* At most this much of a 503 body is read for its reason. */
#define HEALTH_MAX_REASON 512

/* "http://HOST:PORT/healthz" for a metrics_listen value ("HOST:PORT" or "[V6]:PORT"),
 * wildcards mapped to loopback; NULL when listen is NULL or empty. Owned by the caller. */
char *health_url(const char *listen);

/* Asks the configured listener: 0 when /healthz answered 200; otherwise -1 with one
 * line (no newline) in why: no listener configured, not reachable, timed out, or the
 * status and the daemon's reason. */
int health_check(const struct config *cfg, char *why, size_t whylen);

/* `ingestd health`: 0 healthy, 1 otherwise with the reason on stderr. */
int health_run(const struct config *cfg);

#endif
