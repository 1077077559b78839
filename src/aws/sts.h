/*
 * sts.h: the two STS calls the credential chain needs, over the loop's HTTP client:
 * AssumeRole (signed with caller-supplied credentials, signing name "sts") and
 * AssumeRoleWithWebIdentity (unsigned: the token is the proof). Both use the Query
 * protocol (form POST, Version 2011-06-15) against aws_endpoint_url(cfg, "sts") and
 * return the <Credentials> of the XML answer.
 *
 * It does not cache, refresh or choose roles; creds.c does. Loop thread only.
 */
#ifndef INGESTD_STS_H
#define INGESTD_STS_H

#include "aws/aws_error.h"
#include "aws/creds_parse.h"
#include "aws/sigv4.h"

struct http;
struct config;
struct sts_call;

struct sts_role_params {
    const char *role_arn;           /* required */
    const char *session_name;       /* required; [\w+=,.@-]{2,64} */
    const char *external_id;        /* AssumeRole only; NULL when not used */
    int duration_seconds;           /* 0: STS's default (1 hour) */
    const char *web_identity_token; /* AssumeRoleWithWebIdentity only */
};

/*
 * Completion: creds non-NULL on success; the callee may take its strings (copy the
 * struct and zero the original), otherwise they are freed after the callback. On
 * failure creds is NULL and err says why (an AWS error code such as AccessDenied
 * or InvalidIdentityToken, a network failure, or an unreadable answer).
 */
typedef void (*sts_done_fn)(void *arg, struct creds_fields *creds, const struct aws_error *err);

/* The request body (form-encoded, owned by the caller); action is "AssumeRole" or
 * "AssumeRoleWithWebIdentity". Pure; exposed for tests. */
char *sts_form_body(const char *action, const struct sts_role_params *p);

/* Start a call. cfg is read now (endpoint, region) and not kept; the strings of p
 * and signer are copied. The callback runs later on the loop, once, unless the call
 * is cancelled. Never returns NULL. */
struct sts_call *sts_assume_role(struct http *h, const struct config *cfg,
                                 const struct aws_creds *signer, const struct sts_role_params *p,
                                 sts_done_fn done, void *arg);
struct sts_call *sts_assume_role_with_web_identity(struct http *h, const struct config *cfg,
                                                   const struct sts_role_params *p,
                                                   sts_done_fn done, void *arg);

/* Abandons a call: its callback is not run. NULL-safe. */
void sts_cancel(struct sts_call *c);

#endif
