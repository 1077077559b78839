/*
 * creds_int.h: between creds.c (the provider: schedule, publish, log) and
 * creds_fetch.c (one run of the chain: pick the source, fetch, assume roles).
 * Loop thread only. Not for other modules.
 */
#ifndef INGESTD_CREDS_INT_H
#define INGESTD_CREDS_INT_H

#include <stdint.h>

#include "aws/creds_parse.h"

struct http;
struct config;
struct creds_fetch;

/* The IMDSv2 session token, kept by the provider across refreshes. */
struct imds_cache {
    char *token;
    uint64_t expires_mono_ms;
};

void imds_cache_clear(struct imds_cache *c);

#define IMDS_TOKEN_TTL_S 21600
#define IMDS_TIMEOUT_MS  1000
#define ECS_TIMEOUT_MS   2000
#define ECS_ATTEMPTS     3

/*
 * Result of one run: f non-NULL on success (the callee may take its strings: copy
 * the struct and zero the original), source a static name, detail a description
 * without secrets; on failure f is NULL and err says why. Called exactly once per
 * run unless cancelled, possibly from inside creds_fetch_run(); the fetch object is
 * freed right after the callback returns.
 */
typedef void (*creds_fetch_done_fn)(void *arg, struct creds_fields *f, const char *source,
                                    const char *detail, const char *err);

/* cfg and imds are borrowed and must outlive the fetch. */
struct creds_fetch *creds_fetch_new(struct http *h, const struct config *cfg,
                                    struct imds_cache *imds, creds_fetch_done_fn done, void *arg);
void creds_fetch_run(struct creds_fetch *f);
void creds_fetch_cancel(struct creds_fetch *f); /* no callback; frees; NULL-safe */

/* Pure helpers, exposed for tests. */
/* true when an AWS_CONTAINER_CREDENTIALS_FULL_URI may be used: https, or http to a
 * loopback host or to the ECS/EKS link-local addresses the SDKs allow. */
bool creds_ecs_uri_allowed(const char *url);

#endif
