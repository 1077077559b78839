/*
 * secrets.h: AWS Secrets Manager GetSecretValue (AWS JSON 1.1,
 * X-Amz-Target: secretsmanager.GetSecretValue), for sink passwords given as
 * `password_secret = <id or ARN>`.
 *
 * A missing secret is reported by its error code (ResourceNotFoundException), never
 * by HTTP status: moto answers 404 where AWS answers 400. Only SecretString is
 * supported; a binary-only secret is an error. The secret's value is never logged
 * and is wiped from our buffers before they are freed.
 *
 * Threads: secrets_get() is loop-only (it uses the loop's struct http);
 * secrets_get_blocking() is for worker threads and `ingestd --check-config`; the
 * pure helpers may be called from any thread.
 */
#ifndef INGESTD_SECRETS_H
#define INGESTD_SECRETS_H

#include <stddef.h>

#include "aws/aws_error.h"
#include "aws/sigv4.h"

struct http;
struct config;
struct secrets_op;

/* ---- pure ---- */

/* Request body {"SecretId": id} (malloc'd). */
char *secrets_build_get(const char *secret_id);
/* SecretString of a GetSecretValue answer (malloc'd, caller frees), or NULL with e set
 * (AWS_ERR_PARSE; a secret without SecretString is code "BinarySecretUnsupported"). */
char *secrets_parse_get(const char *body, size_t len, struct aws_error *e);
/*
 * The password in a secret string: the "password" member of an RDS-style JSON object
 * ({"username","password","host","port","dbname",...}); a string that is not a JSON
 * object is the password itself, as written. A JSON object without a string
 * "password" is an error (NULL, e: AWS_ERR_PARSE, code "NoPasswordInSecret").
 * Returns a malloc'd string the caller frees (and should wipe).
 */
char *secrets_extract_password(const char *secret_string, struct aws_error *e);

/* ---- calls ---- */

/* value: the SecretString, borrowed for the callback and wiped after it; NULL on
 * failure (err->kind != AWS_OK, e.g. err->code "ResourceNotFoundException"). */
typedef void (*secrets_cb)(void *arg, const struct aws_error *err, const char *value);

/* Loop thread. cfg gives the endpoint ([aws] secretsmanager_endpoint, ...); it is read
 * now, not kept. The handle is valid until the callback starts or secrets_cancel(). */
struct secrets_op *secrets_get(struct http *h, const struct config *cfg, const char *secret_id,
                               secrets_cb cb, void *arg);
void secrets_cancel(struct secrets_op *op); /* no callback; NULL-safe */

/* Any thread but the loop's: performs the call with retries, signing with creds.
 * Returns the SecretString (malloc'd, caller frees and wipes) or NULL with e set. */
char *secrets_get_blocking(const struct config *cfg, const struct aws_creds *creds,
                           const char *secret_id, struct aws_error *e);

#endif
