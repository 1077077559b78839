/*
 * creds.h: where ingestd's AWS credentials come from, and keeping them fresh.
 *
 * The provider runs the AWS SDKs' default chain, in their order, and uses the first
 * source that is configured:
 *   1. "config":       [aws] access_key_id + secret_access_key (+ session_token);
 *   2. "environment":  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *   3. "web-identity": AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *                      (+ AWS_ROLE_SESSION_NAME) -> STS AssumeRoleWithWebIdentity;
 *   4. "profile":      the shared files (AWS_SHARED_CREDENTIALS_FILE, default
 *                      ~/.aws/credentials; AWS_CONFIG_FILE, default ~/.aws/config),
 *                      profile [aws] profile, else AWS_PROFILE, else "default": static
 *                      keys, or role_arn with source_profile / credential_source /
 *                      web_identity_token_file -> STS (see creds_parse.h);
 *   5. "ecs":          AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (http://169.254.170.2) or
 *                      AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback
 *                      address), with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 *                      AWS_CONTAINER_AUTHORIZATION_TOKEN as the Authorization header;
 *   6. "imds":         EC2 instance metadata, IMDSv2 only (token PUT, TTL 21600 s), at
 *                      AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254, one
 *                      attempt with a 1 s timeout per request; skipped when
 *                      AWS_EC2_METADATA_DISABLED=true.
 * A configured source that fails does not fall through to the next one (a daemon must
 * not silently change identity); a half-configured source (a key id without a
 * secret) is an error. Not supported: SSO, credential_process, IMDSv1.
 *
 * Refresh: every resolution runs the whole chain again, so an edited credentials
 * file is picked up. Credentials with an expiry are refreshed on the loop at the
 * time creds_refresh_at_ms() gives (5 min before expiry, or at half the lifetime
 * when it is under 10 min). A failed refresh keeps the current credentials while
 * they are valid and retries after backoff_full_jitter_ms(failures, 1 s, 60 s) (no
 * later than a third of the time left). Credentials count as expired
 * CREDS_EXPIRY_MARGIN_MS before their expiry: from then on creds_http_source()
 * returns -1, so no request is signed with them. The source is logged at info when
 * first used and when it changes; refreshes are logged at info; a secret or token
 * never is.
 */
#ifndef INGESTD_CREDS_H
#define INGESTD_CREDS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "aws/sigv4.h"

struct loop;
struct http;
struct config;
struct creds_fields;

/*
 * An immutable credentials snapshot. Any thread may read it and drop its reference;
 * the last creds_unref() frees (and wipes) it.
 */
struct creds {
    atomic_int refs;
    struct aws_creds aws; /* strings owned by the snapshot */
    int64_t expiry_ms;    /* realtime ms; 0 = never expires */
    const char *source;   /* "config", "environment", "web-identity", "profile", "ecs",
                             "imds" (static string) */
    char *detail;         /* e.g. "profile dev, role arn:aws:iam::1:role/r"; no secret */
};

/* A snapshot with one reference, copying f's strings. */
struct creds *creds_new(const struct creds_fields *f, const char *source, const char *detail);
struct creds *creds_ref(struct creds *c);
void creds_unref(struct creds *c);                                 /* NULL-safe; any thread */
bool creds_usable(const struct creds *c, int64_t now_realtime_ms); /* non-NULL, not expired */

struct creds_provider;

/*
 * Creates the provider and starts resolving on the loop at once (nothing is done
 * before the loop runs). cfg is referenced (config_ref) until reconfigured or freed.
 * Requests go through h (STS, ECS, IMDS); h may use creds_http_source() itself.
 * NULL (logged) only when the loop cannot create a timer. Loop thread only, as
 * everything below but creds_unref.
 */
struct creds_provider *creds_provider_new(struct loop *l, struct http *h, struct config *cfg);

/* A new configuration (SIGHUP): resolves the chain again with it. Current
 * credentials stay in use until the new resolution succeeds. */
void creds_reconfigure(struct creds_provider *p, struct config *cfg);

/* Called after every resolution (ok: new credentials were published; else the
 * attempt failed and the old ones, if any, remain). fn may be NULL. */
typedef void (*creds_event_fn)(struct creds_provider *p, bool ok, void *arg);
void creds_provider_set_listener(struct creds_provider *p, creds_event_fn fn, void *arg);

/* The current credentials with a new reference, or NULL when none are usable. */
struct creds *creds_current(struct creds_provider *p);

/* The last resolution error ("" when the last one succeeded); borrowed. */
const char *creds_last_error(const struct creds_provider *p);

/* Number of successful resolutions so far (1 after the first). */
unsigned creds_generation(const struct creds_provider *p);

/* An http_creds_fn: fills out from the current credentials (valid until the provider
 * publishes new ones, which happens only on the loop); -1 when none are usable. */
int creds_http_source(void *provider, struct aws_creds *out);

void creds_provider_free(struct creds_provider *p); /* cancels pending work; NULL-safe */

/*
 * For `ingestd --check-config` and `ingestd load`: runs the chain once on a private
 * loop and HTTP client, waiting at most timeout_ms. Returns the credentials (one
 * reference) or NULL with the reason in err. Any thread that runs no other loop.
 */
struct creds *creds_resolve_once(struct config *cfg, int timeout_ms, char *err, size_t errlen);

#endif
