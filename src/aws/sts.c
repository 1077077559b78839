/*
 * sts.c: AssumeRole and AssumeRoleWithWebIdentity over http.h (Query protocol).
 *
 * The request is a form POST; the answer's <Credentials> are read by creds_parse.c.
 * Errors come back as aws_error (http.h decodes STS's <ErrorResponse>). Retries are
 * http.h's standard mode: STS answers throttling and 5xx like any other service,
 * and InvalidIdentityToken / AccessDenied are not retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_endpoint.h"
#include "aws/http.h"
#include "base/log.h"
#include "aws/sts.h"
#include "base/util.h"

struct sts_call {
    struct http_call *call;
    sts_done_fn done;
    void *arg;
};

static void form_add(struct buf *b, const char *name, const char *value)
{
    char *enc = aws_uri_encode(value, strlen(value), false);
    buf_printf(b, "&%s=%s", name, enc);
    free(enc);
}

char *sts_form_body(const char *action, const struct sts_role_params *p)
{
    struct buf b;

    buf_init(&b);
    buf_printf(&b, "Action=%s&Version=2011-06-15", action);
    form_add(&b, "RoleArn", p->role_arn);
    form_add(&b, "RoleSessionName", p->session_name);
    if (p->duration_seconds > 0)
        buf_printf(&b, "&DurationSeconds=%d", p->duration_seconds);
    if (!str_empty(p->external_id))
        form_add(&b, "ExternalId", p->external_id);
    if (p->web_identity_token != NULL)
        form_add(&b, "WebIdentityToken", p->web_identity_token);
    return buf_steal(&b);
}

static void on_done(struct http_response *r, void *arg)
{
    struct sts_call *c = arg;
    struct creds_fields f;
    struct aws_error err;
    char why[256];

    if (r->err.kind != AWS_OK) {
        c->done(c->arg, NULL, &r->err);
    } else if (sts_parse_credentials(r->body.data, r->body.len, &f, why, sizeof(why)) != 0) {
        aws_error_clear(&err);
        aws_error_set(&err, AWS_ERR_PARSE, "sts", "%s", why);
        err.http_status = r->status;
        c->done(c->arg, NULL, &err);
    } else {
        c->done(c->arg, &f, NULL);
        creds_fields_free(&f);
    }
    free(c);
}

static struct sts_call *start(struct http *h, const struct config *cfg,
                              const struct aws_creds *signer, const char *action,
                              const struct sts_role_params *p, sts_done_fn done, void *arg)
{
    static const char *const headers[] = {
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
        "Accept: text/xml",
        NULL,
    };
    struct sts_call *c = xcalloc(1, sizeof(*c));
    char *url = aws_endpoint_url(cfg, "sts");
    char *body = sts_form_body(action, p);
    char *endpoint = xasprintf("%s/", url);
    struct http_request req = {
        .service = signer ? "sts" : NULL,
        .region = aws_endpoint_region(cfg),
        .method = "POST",
        .url = endpoint,
        .headers = headers,
        .body = body,
        .body_len = strlen(body),
        .creds = signer,
        .label = signer ? "sts AssumeRole" : "sts AssumeRoleWithWebIdentity",
    };

    c->done = done;
    c->arg = arg;
    log_debug("sts %s for %s at %s", action, p->role_arn, url);
    c->call = http_send(h, &req, on_done, c);
    /* http_send copied the body; it holds a web identity token: wipe our copy. */
    memset(body, 0, strlen(body));
    free(body);
    free(endpoint);
    free(url);
    return c;
}

struct sts_call *sts_assume_role(struct http *h, const struct config *cfg,
                                 const struct aws_creds *signer, const struct sts_role_params *p,
                                 sts_done_fn done, void *arg)
{
    return start(h, cfg, signer, "AssumeRole", p, done, arg);
}

struct sts_call *sts_assume_role_with_web_identity(struct http *h, const struct config *cfg,
                                                   const struct sts_role_params *p,
                                                   sts_done_fn done, void *arg)
{
    return start(h, cfg, NULL, "AssumeRoleWithWebIdentity", p, done, arg);
}

void sts_cancel(struct sts_call *c)
{
    if (c == NULL)
        return;
    http_cancel(c->call);
    free(c);
}
