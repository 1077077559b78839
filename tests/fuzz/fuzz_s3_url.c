/*
 * fuzz_s3_url.c: S3 request targets (s3_url.h) from arbitrary endpoints, regions, buckets,
 * keys and version ids.
 *
 * The first byte sets path style and which fields are NULL; the rest is split at '\n' into
 * endpoint, region, bucket, key and version id. Invariants: s3_key_encode leaves only
 * A-Z a-z 0-9 - _ . ~ / and upper-case %XX, and decodes back to the key byte for byte; a
 * DNS-compatible bucket follows the stated rules; a built target is consistent (the URL is
 * scheme://host_header + path [+ ?query], the path starts with '/' and ends with the encoded
 * key, the query is versionId=<encoded version> or empty without one, virtual_host means the
 * bucket is in the host and not in the path); a refused target has a reason and is zeroed.
 */
#include <ctype.h>

#include "fuzz.h"
#include "aws/s3_url.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The encoded form is well made; returns the decoded length and checks it against key. */
static void check_encoded(const char *enc, const char *key)
{
    size_t k = 0;

    for (size_t i = 0; enc[i]; i++) {
        char c = enc[i];
        if (c == '%') {
            int hi = hexval(enc[i + 1]), lo = hi < 0 ? -1 : hexval(enc[i + 2]);
            FUZZ_CHECK(hi >= 0 && lo >= 0, "bad escape in %s", enc);
            c = (char)(hi * 16 + lo);
            FUZZ_CHECK(!(isalnum((unsigned char)c) || strchr("-_.~/", c)) || !c,
                       "unreserved byte 0x%02x escaped", (unsigned char)c);
            i += 2;
        } else {
            FUZZ_CHECK(isalnum((unsigned char)c) || strchr("-_.~/", c), "byte 0x%02x kept",
                       (unsigned char)c);
        }
        FUZZ_CHECK(key[k] == c, "decodes to something else at %zu", k);
        k++;
    }
    FUZZ_CHECK(key[k] == '\0', "decodes to a prefix");
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);

    return a >= b && !strcmp(s + a - b, suffix);
}

int fuzz_s3_url(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t f = fuzz_u8(&in);
    char *text = fuzz_cstr(in.p, in.n), *parts[5] = {0}, *p = text, *enc, errbuf[256];
    struct s3_target t;
    size_t blen;

    for (int i = 0; i < 5; i++)
        parts[i] = p ? strsep(&p, "\n") : NULL;
    for (int i = 0; i < 5; i++)
        if (!parts[i])
            parts[i] = "";
    const char *endpoint = (f & 1) ? NULL : parts[0], *region = parts[1], *bucket = parts[2];
    const char *key = parts[3], *version = (f & 2) ? NULL : parts[4];
    if (!region[0] && (f & 4))
        region = "us-east-1";

    enc = s3_key_encode(key);
    check_encoded(enc, key);
    blen = strlen(bucket);
    if (s3_bucket_dns_compatible(bucket)) {
        FUZZ_CHECK(blen >= 3 && blen <= 63, "bucket of %zu characters", blen);
        FUZZ_CHECK(strspn(bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") == blen, "bucket %s",
                   bucket);
        FUZZ_CHECK(isalnum((unsigned char)bucket[0]) && isalnum((unsigned char)bucket[blen - 1]),
                   "bucket %s", bucket);
        FUZZ_CHECK(!strstr(bucket, "..") && !strstr(bucket, ".-") && !strstr(bucket, "-."),
                   "bucket %s", bucket);
    }
    (void)s3_host_is_aws(parts[0]);

    memset(&t, 0xa5, sizeof(t));
    errbuf[0] = '\0';
    if (s3_target_build(endpoint, region, f & 8, bucket, key, version, &t, errbuf,
                        sizeof(errbuf)) == 0) {
        char *want;
        size_t sl;

        FUZZ_CHECK(t.url && t.host_header && t.path && t.query, "incomplete target");
        FUZZ_CHECK(t.path[0] == '/', "path %s", t.path);
        FUZZ_CHECK(ends_with(t.path, enc), "path %s does not end with %s", t.path, enc);
        FUZZ_CHECK(key[0] && bucket[0], "empty key or bucket accepted");
        if (version && version[0])
            FUZZ_CHECK(!strncmp(t.query, "versionId=", 10), "query %s", t.query);
        else
            FUZZ_CHECK(t.query[0] == '\0', "query %s without a version", t.query);
        sl = strcspn(t.url, ":");
        FUZZ_CHECK(!strncmp(t.url + sl, "://", 3), "url %s", t.url);
        want = malloc(strlen(t.url) + 1);
        snprintf(want, strlen(t.url) + 1, "%.*s://%s%s%s%s", (int)sl, t.url, t.host_header, t.path,
                 t.query[0] ? "?" : "", t.query);
        FUZZ_CHECK(!strcmp(want, t.url), "url %s is not %s", t.url, want);
        free(want);
        if (t.virtual_host) {
            FUZZ_CHECK(!strncmp(t.host_header, bucket, blen) && t.host_header[blen] == '.',
                       "virtual host %s for bucket %s", t.host_header, bucket);
            FUZZ_CHECK(s3_bucket_dns_compatible(bucket), "virtual host for bucket %s", bucket);
            FUZZ_CHECK(!(f & 8), "virtual host with path style forced");
        }
        s3_target_free(&t);
    } else {
        FUZZ_CHECK(errbuf[0], "refused without a reason");
        FUZZ_CHECK(!t.url && !t.host_header && !t.path && !t.query && !t.virtual_host,
                   "refused target not zeroed");
    }
    s3_target_free(&t);
    free(enc);
    free(text);
    return 0;
}

FUZZ_MAIN(fuzz_s3_url)
