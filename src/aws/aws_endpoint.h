/*
 * aws_endpoint.h: which URL to send an AWS service's requests to, and how to take a
 * URL apart for signing.
 *
 * aws_endpoint_url() resolves, first match wins:
 *   1. the per-service key in [aws]: sqs_endpoint, s3_endpoint, dynamodb_endpoint,
 *      secretsmanager_endpoint, sts_endpoint;
 *   2. the SDKs' per-service variable AWS_ENDPOINT_URL_<ID>: SQS, S3, DYNAMODB,
 *      SECRETS_MANAGER, STS (other services: the name upper-cased);
 *   3. [aws] endpoint_url;
 *   4. AWS_ENDPOINT_URL;
 *   5. the public endpoint https://<service>.<region>.amazonaws.com (".amazonaws.com.cn"
 *      for cn-* regions), region from cfg->aws.region (config.c defaults it from
 *      AWS_REGION / AWS_DEFAULT_REGION), or from those variables when cfg is NULL.
 * An empty value counts as unset. The result never ends in '/'. The environment is read
 * at each call, so tests may set it; getenv is not thread-safe against setenv, which
 * the daemon never calls after start.
 *
 * No I/O, no logging. Any thread.
 */
#ifndef INGESTD_AWS_ENDPOINT_H
#define INGESTD_AWS_ENDPOINT_H

#include <stdbool.h>

struct config;

/* service: the signing name: "sqs", "s3", "dynamodb", "secretsmanager", "sts", ...
 * Returns a malloc'd string owned by the caller (free()). cfg may be NULL. */
char *aws_endpoint_url(const struct config *cfg, const char *service);

/* The region to sign with: cfg->aws.region, else $AWS_REGION, $AWS_DEFAULT_REGION,
 * "us-east-1". Borrowed from cfg or the environment; do not free. */
const char *aws_endpoint_region(const struct config *cfg);

/*
 * A URL split for signing and for building request URLs. All strings are owned by the
 * struct (aws_url_free). "http://127.0.0.1:4566/q/1?a=b" gives scheme "http",
 * host "127.0.0.1", port 4566, host_header "127.0.0.1:4566", path "/q/1", query "a=b".
 * The port is omitted from host_header when it is the scheme's default (what curl
 * sends). IPv6 literals keep their brackets in host and host_header. path is "/" when
 * the URL has none; query is "" when absent. Userinfo and fragments are rejected.
 */
struct aws_url {
    char *scheme; /* "http" or "https" (lower case) */
    char *host;
    int port; /* explicit or the scheme's default */
    char *host_header;
    char *path;  /* as written (already percent-encoded by the caller) */
    char *query; /* without '?' */
};

/* 0 on success; -1 (out zeroed) for a URL that is not http(s)://host[:port][/path][?q]. */
int aws_url_parse(const char *url, struct aws_url *out);
void aws_url_free(struct aws_url *u); /* NULL-safe; leaves u zeroed */

#endif
