/*
 * s3_url.h: where an S3 object request goes, and how its key is written on the wire.
 *
 * Pure: builds the URL, the Host header and the signed path/query for one object from the
 * endpoint, region, addressing style, bucket, key and version id. No I/O, no logging, no
 * clock; any thread may call it. It does not sign (sigv4.c) and does not send (s3.c).
 *
 * Rules, as S3 applies them:
 *   - The key is percent-encoded byte by byte leaving only A-Z a-z 0-9 - _ . ~ / (upper-case
 *     hex). That string is the path sent and also the SigV4 canonical URI: S3 neither
 *     double-encodes nor normalises, so "a//b", "./x" and "../y" stay as written (the sender
 *     must keep them too: CURLOPT_PATH_AS_IS).
 *   - Virtual-hosted addressing (https://BUCKET.s3.REGION.amazonaws.com/KEY) is used for
 *     AWS endpoints unless path style is forced or the bucket name cannot be a DNS label
 *     (not DNS-compatible, or dotted over https where the wildcard certificate would not
 *     match). Any other endpoint (a local or compatible store) gets path style
 *     (ENDPOINT/BUCKET/KEY), which is what such stores serve.
 *   - A version id becomes the signed query "versionId=<encoded>".
 */
#ifndef INGESTD_S3_URL_H
#define INGESTD_S3_URL_H

#include <stdbool.h>
#include <stddef.h>

/* A built request target. Every string is owned by the struct (s3_target_free). */
struct s3_target {
    char *url;         /* what curl is given: scheme://host_header path[?query] */
    char *host_header; /* Host value sent and signed; no default port */
    char *path;        /* the encoded path, also the canonical URI */
    char *query;       /* "" or "versionId=..." (already encoded) */
    bool virtual_host; /* true: bucket in the host name */
};

/* The key's encoded form (see above), malloc'd, owned by the caller. */
char *s3_key_encode(const char *key);

/* True when bucket is a DNS-compatible name: 3-63 characters of a-z 0-9 . -, starting and
 * ending with a letter or digit, no "..", ".-" or "-.", not shaped like an IPv4 address. */
bool s3_bucket_dns_compatible(const char *bucket);

/* True when the endpoint host is one of AWS's S3 endpoints (ends in .amazonaws.com or
 * .amazonaws.com.cn), where virtual-hosted addressing works. */
bool s3_host_is_aws(const char *host);

/*
 * endpoint: base URL ("http://127.0.0.1:5000", "https://s3.eu-west-1.amazonaws.com", may
 * carry a path prefix); NULL or "" means AWS's public endpoint for region. version_id may
 * be NULL. Returns 0, or -1 with a reason in errbuf (t zeroed) for an unusable endpoint, an
 * empty bucket or an empty key.
 */
int s3_target_build(const char *endpoint, const char *region, bool force_path_style,
                    const char *bucket, const char *key, const char *version_id,
                    struct s3_target *t, char *errbuf, size_t errlen);
void s3_target_free(struct s3_target *t); /* NULL-safe; leaves t zeroed */

#endif
