/*
 * secret_source.h: resolves sink passwords kept in AWS Secrets Manager
 * (`password_secret`) for sinks opening on worker threads.
 *
 * Workers cannot reach the loop's credential provider, so the loop publishes each
 * new credentials snapshot here (secret_source_set_creds) and workers read it under
 * a mutex. secret_source_resolve() is a sink_secret_fn (sink.h): it performs a
 * blocking GetSecretValue and returns the password (plain SecretString, or the
 * "password" of an RDS-style JSON secret). Any thread.
 */
#ifndef INGESTD_SECRET_SOURCE_H
#define INGESTD_SECRET_SOURCE_H

#include "base/config.h"
#include "base/ierr.h"

struct creds;

/* Takes its own reference to c (NULL clears). */
void secret_source_set_creds(struct creds *c);
/* The credentials last published, with a new reference (creds_unref it), or NULL. */
struct creds *secret_source_get_creds(void);
int secret_source_resolve(const struct config *cfg, const char *secret_id, char **out,
                          struct ierr *e);

#endif
