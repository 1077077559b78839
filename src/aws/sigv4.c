/*
 * sigv4.c: AWS Signature Version 4 (header signing) as a pure function.
 *
 * Builds the canonical request, the string to sign, the signature and the headers the caller
 * must add (X-Amz-Date, x-amz-content-sha256, X-Amz-Security-Token, Authorization). Two path
 * rules exist: S3 signs the wire path verbatim, every other service normalises it (dot segments,
 * "//") and URI-encodes it a second time. The module does no I/O, reads no clock and holds no
 * state, so any thread may call it. It does not do presigned URLs (query signing), chunked
 * payload signing or SigV4a.
 *
 * OpenSSL failing to hash a buffer is not a condition any caller can handle (it means memory
 * or the provider is gone), so it aborts like the x* allocators.
 */
#include "aws/sigv4.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "base/util.h"

#define ALGORITHM    "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void set_err(char *errbuf, size_t errlen, const char *msg)
{
    if (errbuf != NULL && errlen > 0)
        snprintf(errbuf, errlen, "%s", msg);
}

/* ---- hashing ---- */

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int outlen = 0;

    if (EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL) != 1 || outlen != 32)
        abort();
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];

    sha256(data, len, md);
    hex_encode(md, sizeof(md), out);
}

/* HMAC through an EVP_PKEY so the same code runs on OpenSSL 1.1.1 and 3.x without the
 * deprecated HMAC_CTX API. */
static void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                        unsigned char out[32])
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, NULL, key, keylen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t outlen = 32;
    int ok = pkey != NULL && ctx != NULL &&
             EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
             EVP_DigestSignUpdate(ctx, msg, msglen) == 1 &&
             EVP_DigestSignFinal(ctx, out, &outlen) == 1 && outlen == 32;

    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    if (!ok)
        abort();
}

/* ---- URI encoding ---- */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static void uri_encode_into(struct buf *b, const char *s, size_t len, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            buf_putc(b, (char)c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(b, esc, 3);
        }
    }
}

char *aws_uri_encode(const char *s, size_t len, bool keep_slash)
{
    struct buf b;

    buf_init(&b);
    uri_encode_into(&b, s, len, keep_slash);
    return buf_steal(&b);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A '%' not followed by two hex digits is taken literally (re-encoded as %25) rather than
 * failing the request. '+' is not a space here: SigV4 is not form decoding. */
static void percent_decode_into(struct buf *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            buf_putc(b, (char)(hi << 4 | lo));
            i += 2;
        } else {
            buf_putc(b, s[i]);
        }
    }
}

/* ---- canonical URI ---- */

/* Segment-wise dot removal that also drops empty segments, as AWS services expect. A trailing
 * '/' survives only when something is left before it ("/a/b/" -> "/a/b/", "/a/.." -> "/"). */
static void normalize_path_into(struct buf *b, const char *path)
{
    size_t plen = strlen(path), nseg = 0, cap = plen / 2 + 1;
    struct {
        const char *p;
        size_t len;
    } *seg = xcalloc(cap, sizeof(*seg));

    for (size_t i = 0; i <= plen;) {
        size_t j = i;
        while (j < plen && path[j] != '/')
            j++;
        size_t len = j - i;
        if (len == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (nseg > 0)
                nseg--;
        } else if (len > 0 && !(len == 1 && path[i] == '.')) {
            seg[nseg].p = path + i;
            seg[nseg].len = len;
            nseg++;
        }
        i = j + 1;
    }
    buf_putc(b, '/');
    for (size_t k = 0; k < nseg; k++) {
        if (k > 0)
            buf_putc(b, '/');
        buf_append(b, seg[k].p, seg[k].len);
    }
    if (nseg > 0 && plen > 0 && path[plen - 1] == '/')
        buf_putc(b, '/');
    free(seg);
}

char *sigv4_canonical_uri(const char *path, bool normalize, bool double_encode)
{
    struct buf norm, out;

    if (path == NULL || path[0] == '\0')
        path = "/";
    buf_init(&norm);
    if (normalize)
        normalize_path_into(&norm, path);
    else
        buf_puts(&norm, path);
    if (!double_encode)
        return buf_steal(&norm);
    buf_init(&out);
    uri_encode_into(&out, norm.data, norm.len, true);
    buf_free(&norm);
    return buf_steal(&out);
}

/* ---- canonical query ---- */

struct qpair {
    char *key;
    char *value;
};

static int qpair_cmp(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static char *reencode(const char *s, size_t len)
{
    struct buf dec, enc;

    buf_init(&dec);
    buf_init(&enc);
    percent_decode_into(&dec, s, len);
    uri_encode_into(&enc, dec.data ? dec.data : "", dec.len, false);
    buf_free(&dec);
    return buf_steal(&enc);
}

char *sigv4_canonical_query(const char *query)
{
    struct buf out;
    size_t n = 0, cap = 1;

    buf_init(&out);
    if (query == NULL || query[0] == '\0')
        return buf_steal(&out);
    for (const char *p = query; *p; p++)
        cap += *p == '&';
    struct qpair *pairs = xcalloc(cap, sizeof(*pairs));
    for (const char *p = query; *p;) {
        size_t len = strcspn(p, "&");
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            pairs[n].key = reencode(p, klen);
            pairs[n].value = eq ? reencode(eq + 1, len - klen - 1) : reencode("", 0);
            n++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    qsort(pairs, n, sizeof(*pairs), qpair_cmp);
    for (size_t i = 0; i < n; i++) {
        buf_printf(&out, "%s%s=%s", i ? "&" : "", pairs[i].key, pairs[i].value);
        free(pairs[i].key);
        free(pairs[i].value);
    }
    free(pairs);
    return buf_steal(&out);
}

/* ---- canonical headers ---- */

struct chdr {
    char *name;        /* lower case, owned */
    const char *value; /* borrowed */
    size_t order;      /* input position: keeps duplicates in order under qsort */
};

static int chdr_cmp(const void *a, const void *b)
{
    const struct chdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* RFC 9110 token characters. */
static bool is_tchar(unsigned char c)
{
    return is_unreserved(c) || (c != '\0' && strchr("!#$%&'*+^`|", c) != NULL);
}

static bool is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trimall: obs-fold line breaks count as whitespace, so a folded value joins with one space. */
static void trimall_into(struct buf *b, const char *v)
{
    bool pending = false;

    while (is_lws(*v))
        v++;
    for (; *v; v++) {
        if (is_lws(*v)) {
            pending = true;
            continue;
        }
        if (pending)
            buf_putc(b, ' ');
        pending = false;
        buf_putc(b, *v);
    }
}

int sigv4_canonical_headers(const struct sigv4_header *h, size_t n, char **block,
                            char **signed_list, char *errbuf, size_t errlen)
{
    struct chdr *hs = xcalloc(n ? n : 1, sizeof(*hs));
    struct buf blk, sl;
    int rc = -1;

    buf_init(&blk);
    buf_init(&sl);
    for (size_t i = 0; i < n; i++) {
        const char *name = h[i].name ? h[i].name : "";
        hs[i].name = xstrdup(name);
        hs[i].value = h[i].value ? h[i].value : "";
        hs[i].order = i;
        if (name[0] == '\0') {
            set_err(errbuf, errlen, "empty header name");
            goto out;
        }
        for (char *c = hs[i].name; *c; c++) {
            if (!is_tchar((unsigned char)*c)) {
                set_err(errbuf, errlen, "invalid character in header name");
                goto out;
            }
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        }
    }
    qsort(hs, n, sizeof(*hs), chdr_cmp);
    for (size_t i = 0; i < n; i++) {
        bool same = i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0;
        if (same) {
            buf_putc(&blk, ',');
        } else {
            if (i > 0)
                buf_putc(&blk, '\n');
            buf_printf(&blk, "%s:", hs[i].name);
            buf_printf(&sl, "%s%s", i ? ";" : "", hs[i].name);
        }
        trimall_into(&blk, hs[i].value);
    }
    if (n > 0)
        buf_putc(&blk, '\n');
    *block = buf_steal(&blk);
    *signed_list = buf_steal(&sl);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(hs[i].name);
    free(hs);
    buf_free(&blk);
    buf_free(&sl);
    return rc;
}

/* ---- signing ---- */

void sigv4_params_s3(struct sigv4_params *p, const char *region, time_t now)
{
    memset(p, 0, sizeof(*p));
    p->region = region;
    p->service = "s3";
    p->now = now;
    p->double_uri_encode = false;
    p->normalize_path = false;
    p->sign_body_header = true;
}

void sigv4_params_service(struct sigv4_params *p, const char *region, const char *service,
                          time_t now)
{
    memset(p, 0, sizeof(*p));
    p->region = region;
    p->service = service;
    p->now = now;
    p->double_uri_encode = true;
    p->normalize_path = true;
}

static bool name_is(const char *name, const char *want)
{
    return name != NULL && strcasecmp(name, want) == 0;
}

static void add_header(struct sigv4_result *out, const char *name, const char *value)
{
    out->add[out->nadd].name = xstrdup(name);
    out->add[out->nadd].value = xstrdup(value);
    out->nadd++;
}

static int check_inputs(const struct sigv4_request *req, const struct sigv4_params *params,
                        const struct aws_creds *creds, char *errbuf, size_t errlen)
{
    bool have_host = false;

    if (str_empty(req->method) || str_empty(params->region) || str_empty(params->service) ||
        creds == NULL || str_empty(creds->access_key_id) || str_empty(creds->secret_access_key)) {
        set_err(errbuf, errlen, "method, region, service and credentials are required");
        return -1;
    }
    for (const char *m = req->method; *m; m++) {
        if (!is_tchar((unsigned char)*m)) {
            set_err(errbuf, errlen, "invalid HTTP method");
            return -1;
        }
    }
    if (strchr(params->region, '/') || strchr(params->service, '/')) {
        set_err(errbuf, errlen, "region and service must not contain '/'");
        return -1;
    }
    if (params->payload_hash != NULL && strlen(params->payload_hash) > 64) {
        set_err(errbuf, errlen, "payload hash longer than 64 characters");
        return -1;
    }
    for (size_t i = 0; i < req->nheaders; i++)
        have_host |= name_is(req->headers[i].name, "host");
    if (!have_host) {
        set_err(errbuf, errlen, "request has no Host header");
        return -1;
    }
    return 0;
}

/* Caller headers that signing replaces. */
static bool replaced(const char *name, bool has_token, bool sets_content_hash)
{
    return name_is(name, "x-amz-date") || name_is(name, "authorization") ||
           (has_token && name_is(name, "x-amz-security-token")) ||
           (sets_content_hash && name_is(name, "x-amz-content-sha256"));
}

static int payload_hash_of(const struct sigv4_request *req, const struct sigv4_params *params,
                           char out[65], char *errbuf, size_t errlen)
{
    if (params->payload_hash != NULL) {
        snprintf(out, 65, "%s", params->payload_hash);
        return 0;
    }
    for (size_t i = 0; i < req->nheaders && !params->sign_body_header; i++) {
        if (name_is(req->headers[i].name, "x-amz-content-sha256")) {
            struct buf v;
            buf_init(&v);
            trimall_into(&v, req->headers[i].value ? req->headers[i].value : "");
            int rc = v.len <= 64 ? 0 : -1;
            snprintf(out, 65, "%s", v.data ? v.data : "");
            buf_free(&v);
            if (rc != 0)
                set_err(errbuf, errlen, "x-amz-content-sha256 longer than 64 characters");
            return rc;
        }
    }
    if (req->body_len == 0)
        memcpy(out, EMPTY_SHA256, 65);
    else
        sigv4_sha256_hex(req->body, req->body_len, out);
    return 0;
}

static void signing_key(const char *secret, const char *date, const char *region,
                        const char *service, unsigned char key[32])
{
    char *k0 = xasprintf("AWS4%s", secret);

    hmac_sha256(k0, strlen(k0), date, strlen(date), key);
    explicit_bzero(k0, strlen(k0));
    free(k0);
    hmac_sha256(key, 32, region, strlen(region), key);
    hmac_sha256(key, 32, service, strlen(service), key);
    hmac_sha256(key, 32, "aws4_request", 12, key);
}

/* Everything up to the signature: fills out->amz_date, out->canonical_request and returns the
 * signed-header list (owned). */
static char *build_canonical(const struct sigv4_request *req, const struct sigv4_params *params,
                             const struct aws_creds *creds, const char *content_hash,
                             struct sigv4_result *out, char *errbuf, size_t errlen)
{
    bool has_token = !str_empty(creds->session_token);
    bool sets_hash = params->sign_body_header || params->payload_hash != NULL;
    struct sigv4_header *hs = xcalloc(req->nheaders + 3, sizeof(*hs));
    size_t n = 0;
    char *uri = NULL, *query = NULL, *block = NULL, *signed_list = NULL;

    for (size_t i = 0; i < req->nheaders; i++) {
        if (!replaced(req->headers[i].name, has_token, sets_hash))
            hs[n++] = req->headers[i];
    }
    hs[n++] = (struct sigv4_header){"x-amz-date", out->amz_date};
    if (has_token && !params->omit_session_token)
        hs[n++] = (struct sigv4_header){"x-amz-security-token", creds->session_token};
    if (sets_hash)
        hs[n++] = (struct sigv4_header){"x-amz-content-sha256", content_hash};
    if (sigv4_canonical_headers(hs, n, &block, &signed_list, errbuf, errlen) != 0)
        goto out;
    uri = sigv4_canonical_uri(req->path, params->normalize_path, params->double_uri_encode);
    query = sigv4_canonical_query(req->query);
    out->canonical_request = xasprintf("%s\n%s\n%s\n%s\n%s\n%s", req->method, uri, query, block,
                                       signed_list, content_hash);
out:
    free(hs);
    free(uri);
    free(query);
    free(block);
    return signed_list;
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_params *params,
               const struct aws_creds *creds, struct sigv4_result *out, char *errbuf, size_t errlen)
{
    char content_hash[65], creq_hash[65], date[9];
    unsigned char key[32], sig[32];
    struct tm tm;
    char *signed_list = NULL, *scope = NULL, *auth = NULL;

    memset(out, 0, sizeof(*out));
    if (check_inputs(req, params, creds, errbuf, errlen) != 0)
        return -1;
    if (gmtime_r(&params->now, &tm) == NULL ||
        strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16) {
        set_err(errbuf, errlen, "time out of range");
        return -1;
    }
    memcpy(date, out->amz_date, 8);
    date[8] = '\0';
    if (payload_hash_of(req, params, content_hash, errbuf, errlen) != 0)
        return -1;
    signed_list = build_canonical(req, params, creds, content_hash, out, errbuf, errlen);
    if (signed_list == NULL)
        return -1;

    scope = xasprintf("%s/%s/%s/aws4_request", date, params->region, params->service);
    sigv4_sha256_hex(out->canonical_request, strlen(out->canonical_request), creq_hash);
    out->string_to_sign = xasprintf(ALGORITHM "\n%s\n%s\n%s", out->amz_date, scope, creq_hash);
    signing_key(creds->secret_access_key, date, params->region, params->service, key);
    hmac_sha256(key, sizeof(key), out->string_to_sign, strlen(out->string_to_sign), sig);
    explicit_bzero(key, sizeof(key));
    hex_encode(sig, sizeof(sig), out->signature);

    add_header(out, "X-Amz-Date", out->amz_date);
    if (params->sign_body_header || params->payload_hash != NULL)
        add_header(out, "x-amz-content-sha256", content_hash);
    if (!str_empty(creds->session_token))
        add_header(out, "X-Amz-Security-Token", creds->session_token);
    auth = xasprintf(ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                     creds->access_key_id, scope, signed_list, out->signature);
    add_header(out, "Authorization", auth);
    free(auth);
    free(scope);
    free(signed_list);
    return 0;
}

void sigv4_result_free(struct sigv4_result *r)
{
    if (r == NULL)
        return;
    free(r->canonical_request);
    free(r->string_to_sign);
    for (size_t i = 0; i < r->nadd; i++) {
        free(r->add[i].name);
        free(r->add[i].value);
    }
    memset(r, 0, sizeof(*r));
}
