/*
 * secrets.c: GetSecretValue, on the loop and blocking, and password extraction.
 *
 * The request is tiny and the answer small, so both variants share the request
 * builder and parser and differ only in how they drive http (http_send vs
 * http_perform_blocking). Buffers that held a secret are wiped before being freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/aws_endpoint.h"
#include "aws/http.h"
#include "aws/secrets.h"
#include "base/util.h"

static const char *const get_headers[] = {
    "Content-Type: application/x-amz-json-1.1",
    "X-Amz-Target: secretsmanager.GetSecretValue",
    NULL,
};

struct secrets_op {
    struct http_call *call;
    secrets_cb cb;
    void *arg;
};

static void wipe_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void wipe_buf(struct buf *b)
{
    if (b->data != NULL)
        explicit_bzero(b->data, b->cap);
}

char *secrets_build_get(const char *secret_id)
{
    json_t *root = json_pack("{s:s}", "SecretId", secret_id);
    char *s = json_dumps(root, JSON_COMPACT);
    char *out = xstrdup(s);

    free(s);
    json_decref(root);
    return out;
}

static void parse_error(struct aws_error *e, const char *code, const char *msg)
{
    aws_error_clear(e);
    snprintf(e->code, sizeof e->code, "%s", code);
    aws_error_set(e, AWS_ERR_PARSE, "secretsmanager", "%s", msg);
}

char *secrets_parse_get(const char *body, size_t len, struct aws_error *e)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *v;
    char *out = NULL;

    if (root == NULL || !json_is_object(root)) {
        parse_error(e, "", "GetSecretValue answer is not a JSON object");
        json_decref(root);
        return NULL;
    }
    v = json_string_value(json_object_get(root, "SecretString"));
    if (v != NULL)
        out = xstrdup(v);
    else
        parse_error(e, "BinarySecretUnsupported", "the secret has no SecretString");
    /* jansson's copy of the value is freed without wiping; nothing we can do there. */
    json_decref(root);
    return out;
}

char *secrets_extract_password(const char *secret_string, struct aws_error *e)
{
    json_t *root;
    const char *pw;
    char *out = NULL;

    root = json_loads(secret_string, JSON_DECODE_ANY, NULL);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return xstrdup(secret_string);
    }
    pw = json_string_value(json_object_get(root, "password"));
    if (pw != NULL)
        out = xstrdup(pw);
    else
        parse_error(e, "NoPasswordInSecret",
                    "the secret is a JSON object without a string \"password\"");
    json_decref(root);
    return out;
}

static void fill_request(struct http_request *req, const char *url, const char *body)
{
    memset(req, 0, sizeof *req);
    req->service = "secretsmanager";
    req->method = "POST";
    req->url = url;
    req->headers = get_headers;
    req->body = body;
    req->body_len = strlen(body);
    req->label = "secretsmanager GetSecretValue";
}

/* The value from a finished call, or NULL with e set. */
static char *result_of(struct http_response *r, struct aws_error *e)
{
    char *value = NULL;

    if (r->err.kind != AWS_OK)
        *e = r->err;
    else
        value = secrets_parse_get(r->body.data, r->body.len, e);
    wipe_buf(&r->body);
    return value;
}

static void on_done(struct http_response *r, void *arg)
{
    struct secrets_op *op = arg;
    struct aws_error e;
    char *value;

    aws_error_clear(&e);
    value = result_of(r, &e);
    op->cb(op->arg, &e, value);
    wipe_free(value);
    free(op);
}

struct secrets_op *secrets_get(struct http *h, const struct config *cfg, const char *secret_id,
                               secrets_cb cb, void *arg)
{
    struct secrets_op *op = xcalloc(1, sizeof *op);
    char *url = aws_endpoint_url(cfg, "secretsmanager");
    char *body = secrets_build_get(secret_id);
    struct http_request req;

    op->cb = cb;
    op->arg = arg;
    fill_request(&req, url, body);
    op->call = http_send(h, &req, on_done, op);
    free(url);
    free(body);
    return op;
}

void secrets_cancel(struct secrets_op *op)
{
    if (op == NULL)
        return;
    http_cancel(op->call);
    free(op);
}

char *secrets_get_blocking(const struct config *cfg, const struct aws_creds *creds,
                           const char *secret_id, struct aws_error *e)
{
    char *url = aws_endpoint_url(cfg, "secretsmanager");
    char *body = secrets_build_get(secret_id);
    struct http_request req;
    struct http_response r;
    char *value;

    aws_error_clear(e);
    fill_request(&req, url, body);
    req.creds = creds;
    http_perform_blocking(cfg, &req, &r);
    value = result_of(&r, e);
    http_response_free(&r);
    free(url);
    free(body);
    return value;
}
