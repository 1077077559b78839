/*
 * aws_endpoint.c: endpoint resolution for AWS services and URL splitting.
 *
 * The order of sources is the SDKs' ("service-specific endpoints", AWS SDKs and
 * Tools reference guide), with ingestd's own [aws] keys in front of the matching
 * environment variables. No FIPS/dual-stack variants and no S3 virtual-host
 * rewriting here: s3_url.c builds S3 object URLs from the endpoint this returns.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "aws/aws_endpoint.h"
#include "base/config.h"
#include "base/util.h"

struct service_keys {
    const char *service; /* signing name */
    const char *env_id;  /* AWS_ENDPOINT_URL_<env_id> */
    size_t cfg_offset;   /* char * field inside struct config */
};

static const struct service_keys known[] = {
    {"sqs", "SQS", offsetof(struct config, aws.sqs_endpoint)},
    {"s3", "S3", offsetof(struct config, aws.s3_endpoint)},
    {"dynamodb", "DYNAMODB", offsetof(struct config, aws.dynamodb_endpoint)},
    {"secretsmanager", "SECRETS_MANAGER", offsetof(struct config, aws.secretsmanager_endpoint)},
    {"sts", "STS", offsetof(struct config, aws.sts_endpoint)},
};

static const struct service_keys *find_service(const char *service)
{
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (strcmp(known[i].service, service) == 0)
            return &known[i];
    return NULL;
}

static const char *nonempty(const char *s)
{
    return str_empty(s) ? NULL : s;
}

static char *strip_slash(const char *url)
{
    size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/')
        n--;
    return xstrndup(url, n);
}

const char *aws_endpoint_region(const struct config *cfg)
{
    const char *r;

    if (cfg != NULL && nonempty(cfg->aws.region))
        return cfg->aws.region;
    if ((r = nonempty(getenv("AWS_REGION"))) != NULL)
        return r;
    if ((r = nonempty(getenv("AWS_DEFAULT_REGION"))) != NULL)
        return r;
    return "us-east-1";
}

char *aws_endpoint_url(const struct config *cfg, const char *service)
{
    const struct service_keys *k = find_service(service);
    char env[96];
    const char *v = NULL;
    const char *region;

    if (k != NULL && cfg != NULL)
        v = nonempty(*(char *const *)((const char *)cfg + k->cfg_offset));
    if (v == NULL) {
        size_t n = (size_t)snprintf(env, sizeof env, "AWS_ENDPOINT_URL_%s",
                                    k ? k->env_id : service);
        /* Unknown services: the SDKs' ID rules, upper case with '_' for '-' and ' '. */
        for (size_t i = sizeof "AWS_ENDPOINT_URL_" - 1; k == NULL && i < n && i < sizeof env; i++)
            env[i] = env[i] == '-' || env[i] == ' ' ? '_' : (char)toupper((unsigned char)env[i]);
        v = nonempty(getenv(env));
    }
    if (v == NULL && cfg != NULL)
        v = nonempty(cfg->aws.endpoint_url);
    if (v == NULL)
        v = nonempty(getenv("AWS_ENDPOINT_URL"));
    if (v != NULL)
        return strip_slash(v);
    region = aws_endpoint_region(cfg);
    return xasprintf("https://%s.%s.amazonaws.com%s", service, region,
                     str_has_prefix(region, "cn-") ? ".cn" : "");
}

void aws_url_free(struct aws_url *u)
{
    if (u == NULL)
        return;
    free(u->scheme);
    free(u->host);
    free(u->host_header);
    free(u->path);
    free(u->query);
    memset(u, 0, sizeof *u);
}

static int parse_port(const char *s, size_t n, int *port)
{
    int v = 0;

    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = v;
    return 0;
}

int aws_url_parse(const char *url, struct aws_url *out)
{
    const char *p, *auth_end, *host_end, *q;
    int defport, port;

    memset(out, 0, sizeof *out);
    if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
        defport = 443;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
        defport = 80;
    } else {
        return -1;
    }
    auth_end = p + strcspn(p, "/?#");
    if (auth_end == p || memchr(p, '@', (size_t)(auth_end - p)) != NULL || strchr(p, '#'))
        return -1;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(auth_end - p));
        if (rb == NULL)
            return -1;
        host_end = rb + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(auth_end - p));
        if (host_end == NULL)
            host_end = auth_end;
    }
    if (host_end == p || (host_end < auth_end && *host_end != ':'))
        return -1;
    port = defport;
    if (host_end < auth_end && parse_port(host_end + 1, (size_t)(auth_end - host_end - 1), &port))
        return -1;
    out->scheme = xstrdup(defport == 443 ? "https" : "http");
    out->host = xstrndup(p, (size_t)(host_end - p));
    for (char *c = out->host; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    out->port = port;
    out->host_header = port == defport ? xstrdup(out->host) : xasprintf("%s:%d", out->host, port);
    q = strchr(auth_end, '?');
    if (q == NULL) {
        out->path = xstrdup(*auth_end ? auth_end : "/");
        out->query = xstrdup("");
    } else {
        out->path = q == auth_end ? xstrdup("/") : xstrndup(auth_end, (size_t)(q - auth_end));
        out->query = xstrdup(q + 1);
    }
    return 0;
}
