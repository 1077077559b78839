/*
 * sigv4.h: AWS Signature Version 4, pure: no I/O, the clock is a parameter.
 *
 * The caller describes the request as it will go on the wire (method, encoded
 * path, encoded query, headers, body or its hash); sigv4_sign() returns the
 * headers to add (Authorization, X-Amz-Date, optionally X-Amz-Security-Token
 * and x-amz-content-sha256) plus the intermediate strings for tests.
 */
#ifndef INGESTD_SIGV4_H
#define INGESTD_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct aws_creds {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL for long-term keys */
};

struct sigv4_header {
    const char *name;
    const char *value;
};

struct sigv4_request {
    const char *method;
    const char *path;                   /* as sent, e.g. "/bucket/a%20b.csv"; "" means "/" */
    const char *query;                  /* as sent, without '?'; NULL or "" when none */
    const struct sigv4_header *headers; /* must include Host */
    size_t nheaders;
    const void *body; /* hashed unless payload_hash is set */
    size_t body_len;
};

struct sigv4_params {
    const char *region;
    const char *service;      /* "s3", "sqs", "dynamodb", ... */
    time_t now;               /* UTC seconds */
    bool double_uri_encode;   /* true for every service but S3 */
    bool normalize_path;      /* true for every service but S3 */
    bool sign_body_header;    /* add + sign x-amz-content-sha256 (S3) */
    const char *payload_hash; /* optional: e.g. "UNSIGNED-PAYLOAD"; implies the header */
    bool omit_session_token;  /* add the token after signing (legacy) */
};

/* Presets: sigv4_params_s3() / sigv4_params_service() fill the S3 / non-S3 rules. */
void sigv4_params_s3(struct sigv4_params *p, const char *region, time_t now);
void sigv4_params_service(struct sigv4_params *p, const char *region, const char *service,
                          time_t now);

#define SIGV4_MAX_ADD 4

/* Signing replaces any X-Amz-Date, Authorization (and, when it adds them, X-Amz-Security-Token
 * and x-amz-content-sha256) present in req->headers: the caller must not send its own copies.
 * Without payload_hash/sign_body_header, a caller-supplied x-amz-content-sha256 header is signed
 * and its value used as the payload hash, as AWS servers do. */

struct sigv4_result {
    char *canonical_request; /* owned */
    char *string_to_sign;    /* owned */
    char signature[65];
    char amz_date[17]; /* YYYYMMDDTHHMMSSZ */
    /* Headers the caller must add to the request, in this order (owned strings): X-Amz-Date,
     * x-amz-content-sha256 (when signed), X-Amz-Security-Token (when a token is set, signed or
     * not), Authorization. sigv4_result_free() frees them and the strings above. */
    struct {
        char *name;
        char *value;
    } add[SIGV4_MAX_ADD];
    size_t nadd;
};

/* 0 on success, -1 on a malformed request (reason in errbuf). */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_params *params,
               const struct aws_creds *creds, struct sigv4_result *out, char *errbuf,
               size_t errlen);
void sigv4_result_free(struct sigv4_result *r);

/* Building blocks of sigv4_sign(), exposed for the unit tests. Results are malloc'd and owned
 * by the caller. Pure and reentrant, like everything in this module: any thread may call. */
/* Canonical URI: path as sent; normalize removes dot segments and collapses "//";
 * double_encode URI-encodes the (normalised) path once more, keeping '/'. */
char *sigv4_canonical_uri(const char *path, bool normalize, bool double_encode);
/* Canonical query: pieces split on '&' (empty ones skipped), key/value split at the first '=',
 * percent-decoded ('+' stays '+'), AWS-encoded again, sorted by key then value. */
char *sigv4_canonical_query(const char *query);
/* Canonical header block ("name:value\n" per distinct lower-cased name, sorted; duplicate names
 * merged with ',' in order; values trimmed, inner whitespace runs and obs-folds collapsed to one
 * space) and the ';'-joined signed-header list. 0, or -1 on an invalid header name. */
int sigv4_canonical_headers(const struct sigv4_header *h, size_t n, char **block,
                            char **signed_list, char *errbuf, size_t errlen);

/* Helpers shared with the HTTP clients. */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);
/* AWS URI encoding: unreserved A-Za-z0-9-_.~ kept, everything else %XX (upper case);
 * '/' kept when keep_slash. Appends to a malloc'd string returned to the caller. */
char *aws_uri_encode(const char *s, size_t len, bool keep_slash);

#endif
