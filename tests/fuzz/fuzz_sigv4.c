/*
 * fuzz_sigv4.c: the SigV4 canonicaliser and signer on arbitrary requests.
 *
 * The first bytes choose the service rules (S3 or not, normalisation, double encoding, body hash
 * header, payload hash, session token) and the clock; the rest is split at '\n' into method, path,
 * query, then "name:value" header lines up to an empty line, then the body. Invariants: a
 * normalised canonical URI (or one of a path starting with '/') starts with '/'; a normalised one
 * has no empty, "." or ".." segment; an untouched one is the path itself; the canonical query is
 * sorted, fully and canonically encoded and a fixed point (canonicalising it again changes
 * nothing); the header block has one line per signed name, names sorted, unique and lower-case,
 * values without line breaks; signing is deterministic, the string to sign carries the canonical
 * request's hash, the signature is 64 lower-case hex digits and appears in Authorization; a
 * refusal says why.
 */
#include "fuzz.h"
#include "aws/sigv4.h"

#define MAX_HEADERS 16

static bool is_unreserved(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static bool is_hex_upper(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* s[0..n) is AWS-encoded: unreserved bytes, and %XX escapes of reserved bytes only. */
static void check_encoded(const char *s, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            FUZZ_CHECK(i + 2 < n && is_hex_upper(s[i + 1]) && is_hex_upper(s[i + 2]),
                       "%s: bad escape at %zu", what, i);
            i += 2;
        } else {
            FUZZ_CHECK(is_unreserved(s[i]), "%s: byte 0x%02x not encoded", what,
                       (unsigned char)s[i]);
        }
    }
}

static void check_uri(const char *path, bool normalize, bool dbl)
{
    char *u = sigv4_canonical_uri(path, normalize, dbl);

    FUZZ_CHECK(u && (u[0] == '/' || (!normalize && path[0] && path[0] != '/')), "uri %s", u);
    if (!normalize && !dbl)
        FUZZ_CHECK(!strcmp(u, path[0] ? path : "/"), "uri %s for %s", u, path);
    if (normalize) {
        /* segments between slashes: none empty (but a trailing '/'), ".", ".." */
        for (const char *s = u + 1; *s;) {
            size_t len = strcspn(s, "/");
            FUZZ_CHECK(len > 0 || s[len] == '\0', "empty segment in %s", u);
            FUZZ_CHECK(!(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.'),
                       "dot segment in %s", u);
            s += len;
            if (*s == '/')
                s++;
        }
    }
    if (dbl) {
        for (const char *s = u; *s;) {
            size_t len = strcspn(s, "/");
            check_encoded(s, len, "uri");
            s += len;
            if (*s == '/')
                s++;
        }
    }
    free(u);
}

static void check_query(const char *q)
{
    char *c = sigv4_canonical_query(q), *again, *prev = NULL;
    size_t prev_len = 0;

    for (const char *s = c; *s;) {
        size_t len = strcspn(s, "&"), klen;
        const char *eq = memchr(s, '=', len);

        FUZZ_CHECK(eq, "pair without '=' in %s", c);
        klen = (size_t)(eq - s);
        check_encoded(s, klen, "query key");
        check_encoded(eq + 1, len - klen - 1, "query value");
        if (prev) {
            /* sorted by key, then value: compare as the two-level key */
            size_t pk = strcspn(prev, "=");
            char *a = strndup(prev, pk), *b = strndup(s, klen);
            int k = strcmp(a, b);
            if (k == 0) {
                char *av = strndup(prev + pk + 1, prev_len - pk - 1);
                char *bv = strndup(eq + 1, len - klen - 1);
                k = strcmp(av, bv);
                free(av);
                free(bv);
            }
            FUZZ_CHECK(k <= 0, "query not sorted: %s", c);
            free(a);
            free(b);
        }
        prev = (char *)s;
        prev_len = len;
        s += len;
        if (*s == '&')
            s++;
    }
    again = sigv4_canonical_query(c);
    FUZZ_CHECK(!strcmp(again, c), "not a fixed point: %s -> %s", c, again);
    free(again);
    free(c);
}

static void check_headers(const struct sigv4_header *h, size_t n)
{
    char *block = NULL, *list = NULL, err[128] = "";
    size_t lines = 0, names = 0;

    if (sigv4_canonical_headers(h, n, &block, &list, err, sizeof(err)) != 0) {
        FUZZ_CHECK(err[0], "refused without a reason");
        return;
    }
    for (const char *p = block; *p; p++)
        lines += *p == '\n';
    for (const char *p = list, *prev = NULL; *p;) {
        size_t len = strcspn(p, ";");
        FUZZ_CHECK(len > 0, "empty name in %s", list);
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK(!(p[i] >= 'A' && p[i] <= 'Z'), "upper case in %s", list);
        if (prev) {
            size_t pl = strcspn(prev, ";");
            int k = strncmp(prev, p, pl < len ? pl : len);
            FUZZ_CHECK(k < 0 || (k == 0 && pl < len), "names not sorted and unique: %s", list);
        }
        prev = p;
        names++;
        p += len;
        if (*p == ';')
            p++;
    }
    FUZZ_CHECK(lines == names, "%zu lines for %zu names", lines, names);
    FUZZ_CHECK(n == 0 || names >= 1, "no names");
    free(block);
    free(list);
}

int fuzz_sigv4(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t f = fuzz_u8(&in);
    uint32_t t = (uint32_t)fuzz_u16(&in) << 16 | fuzz_u16(&in);
    char *text = fuzz_cstr(in.p, in.n), *p = text, *method, *path, *query;
    struct sigv4_header h[MAX_HEADERS + 1];
    size_t nh = 0;
    struct sigv4_request req = {0};
    struct sigv4_params params;
    struct aws_creds creds = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                              (f & 0x10) ? "token/with+chars" : NULL};
    struct sigv4_result r1, r2;
    char err[128] = "";

    method = strsep(&p, "\n");
    path = p ? strsep(&p, "\n") : "";
    query = p ? strsep(&p, "\n") : "";
    while (p && nh < MAX_HEADERS) {
        char *line = strsep(&p, "\n"), *colon;
        if (line[0] == '\0')
            break;
        colon = strchr(line, ':');
        if (colon)
            *colon = '\0';
        h[nh].name = line;
        h[nh].value = colon ? colon + 1 : "";
        nh++;
    }
    if (f & 0x20)
        h[nh++] = (struct sigv4_header){"Host", "example.amazonaws.com"};

    check_uri(path, f & 1, f & 2);
    check_query(query);
    check_headers(h, nh);

    if (f & 4)
        sigv4_params_s3(&params, "us-east-1", (time_t)t);
    else
        sigv4_params_service(&params, "eu-west-1", (f & 8) ? "sqs" : "dynamodb", (time_t)t);
    if (f & 0x40)
        params.payload_hash = "UNSIGNED-PAYLOAD";
    params.omit_session_token = f & 0x80;
    req.method = method;
    req.path = path;
    req.query = query;
    req.headers = h;
    req.nheaders = nh;
    req.body = p;
    req.body_len = p ? strlen(p) : 0;
    if (sigv4_sign(&req, &params, &creds, &r1, err, sizeof(err)) == 0) {
        char hash[65], *auth = NULL;

        FUZZ_CHECK(sigv4_sign(&req, &params, &creds, &r2, err, sizeof(err)) == 0,
                   "second signing failed");
        FUZZ_CHECK(!strcmp(r1.signature, r2.signature) &&
                       !strcmp(r1.canonical_request, r2.canonical_request),
                   "signing is not deterministic");
        sigv4_result_free(&r2);
        FUZZ_CHECK(strlen(r1.signature) == 64 && strspn(r1.signature, "0123456789abcdef") == 64,
                   "signature %s", r1.signature);
        FUZZ_CHECK(strlen(r1.amz_date) == 16, "date %s", r1.amz_date);
        FUZZ_CHECK(!strncmp(r1.canonical_request, method, strlen(method)) &&
                       r1.canonical_request[strlen(method)] == '\n',
                   "canonical request does not start with the method");
        sigv4_sha256_hex(r1.canonical_request, strlen(r1.canonical_request), hash);
        FUZZ_CHECK(strlen(r1.string_to_sign) > 64 &&
                       !strcmp(r1.string_to_sign + strlen(r1.string_to_sign) - 64, hash),
                   "string to sign does not end with the request hash");
        FUZZ_CHECK(r1.nadd >= 2 && r1.nadd <= SIGV4_MAX_ADD, "%zu headers added", r1.nadd);
        for (size_t i = 0; i < r1.nadd; i++)
            if (!strcmp(r1.add[i].name, "Authorization"))
                auth = r1.add[i].value;
        FUZZ_CHECK(auth && strstr(auth, r1.signature), "Authorization without the signature");
        sigv4_result_free(&r1);
    } else {
        FUZZ_CHECK(err[0], "refused without a reason");
        FUZZ_CHECK(!r1.canonical_request && !r1.string_to_sign && r1.nadd == 0,
                   "refusal left results");
    }
    free(text);
    return 0;
}

FUZZ_MAIN(fuzz_sigv4)
