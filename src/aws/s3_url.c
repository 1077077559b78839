/*
 * s3_url.c: request targets for S3 objects (see s3_url.h for the rules).
 *
 * The endpoint is taken apart with aws_url_parse() so that the Host header computed here is
 * the one curl would send (default ports dropped, IPv6 brackets kept); s3.c sends it
 * explicitly anyway, so what is signed is what goes on the wire.
 */
#include "aws/s3_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/aws_endpoint.h"
#include "aws/sigv4.h"
#include "base/util.h"

char *s3_key_encode(const char *key)
{
    return aws_uri_encode(key, strlen(key), true);
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool looks_like_ipv4(const char *s)
{
    int dots = 0;

    for (; *s != '\0'; s++) {
        if (*s == '.')
            dots++;
        else if (*s < '0' || *s > '9')
            return false;
    }
    return dots == 3;
}

bool s3_bucket_dns_compatible(const char *bucket)
{
    size_t n = bucket != NULL ? strlen(bucket) : 0;

    if (n < 3 || n > 63 || !is_lower_alnum(bucket[0]) || !is_lower_alnum(bucket[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = bucket[i];
        if (!is_lower_alnum(c) && c != '-' && c != '.')
            return false;
        if (c == '.' && (bucket[i + 1] == '.' || bucket[i + 1] == '-' || bucket[i - 1] == '-'))
            return false;
    }
    return !looks_like_ipv4(bucket);
}

static bool has_suffix_nocase(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

bool s3_host_is_aws(const char *host)
{
    return host != NULL && (has_suffix_nocase(host, ".amazonaws.com") ||
                            has_suffix_nocase(host, ".amazonaws.com.cn"));
}

static void set_err(char *errbuf, size_t errlen, const char *msg)
{
    if (errbuf != NULL && errlen > 0)
        snprintf(errbuf, errlen, "%s", msg);
}

/* The endpoint AWS serves S3 on in a region; China regions live under amazonaws.com.cn. */
static char *aws_default_endpoint(const char *region)
{
    return xasprintf("https://s3.%s.amazonaws.com%s", region,
                     str_has_prefix(region, "cn-") ? ".cn" : "");
}

/* "host[:port]" with the bucket label in front, for virtual-hosted requests. */
static char *virtual_host_header(const struct aws_url *u, const char *bucket)
{
    return xasprintf("%s.%s", bucket, u->host_header);
}

int s3_target_build(const char *endpoint, const char *region, bool force_path_style,
                    const char *bucket, const char *key, const char *version_id,
                    struct s3_target *t, char *errbuf, size_t errlen)
{
    struct aws_url u = {0};
    char *owned_endpoint = NULL, *enc_key = NULL, *enc_bucket = NULL;
    const char *prefix;
    struct buf path;

    memset(t, 0, sizeof(*t));
    buf_init(&path);
    if (str_empty(bucket) || str_empty(key)) {
        set_err(errbuf, errlen, "empty bucket or key");
        goto fail;
    }
    if (str_empty(endpoint)) {
        if (str_empty(region)) {
            set_err(errbuf, errlen, "no endpoint and no region");
            goto fail;
        }
        endpoint = owned_endpoint = aws_default_endpoint(region);
    }
    if (aws_url_parse(endpoint, &u) != 0 || u.query[0] != '\0') {
        set_err(errbuf, errlen, "endpoint is not an http(s)://host[:port][/path] URL");
        goto fail;
    }
    t->virtual_host = s3_host_is_aws(u.host) && !force_path_style &&
                      s3_bucket_dns_compatible(bucket) &&
                      !(strcmp(u.scheme, "https") == 0 && strchr(bucket, '.') != NULL);

    /* A prefix of "/" adds nothing; "/base/" and "/base" both mean "/base". */
    prefix = u.path;
    size_t plen = strlen(prefix);
    while (plen > 0 && prefix[plen - 1] == '/')
        plen--;
    buf_append(&path, prefix, plen);
    if (!t->virtual_host) {
        enc_bucket = s3_key_encode(bucket);
        buf_printf(&path, "/%s", enc_bucket);
    }
    enc_key = s3_key_encode(key);
    buf_printf(&path, "/%s", enc_key);

    t->host_header = t->virtual_host ? virtual_host_header(&u, bucket) : xstrdup(u.host_header);
    t->path = buf_steal(&path);
    if (!str_empty(version_id)) {
        char *v = aws_uri_encode(version_id, strlen(version_id), false);
        t->query = xasprintf("versionId=%s", v);
        free(v);
    } else {
        t->query = xstrdup("");
    }
    t->url = xasprintf("%s://%s%s%s%s", u.scheme, t->host_header, t->path,
                       t->query[0] != '\0' ? "?" : "", t->query);
    aws_url_free(&u);
    free(owned_endpoint);
    free(enc_key);
    free(enc_bucket);
    return 0;

fail:
    aws_url_free(&u);
    free(owned_endpoint);
    free(enc_key);
    free(enc_bucket);
    buf_free(&path);
    s3_target_free(t);
    return -1;
}

void s3_target_free(struct s3_target *t)
{
    if (t == NULL)
        return;
    free(t->url);
    free(t->host_header);
    free(t->path);
    free(t->query);
    memset(t, 0, sizeof(*t));
}
