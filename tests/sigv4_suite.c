/*
 * sigv4_suite: runs SigV4 test cases in the aws-c-auth "v4" layout against sigv4_sign().
 *
 *   tests/sigv4_suite DIR...
 *
 * Each DIR is a case folder (context.json + request.txt) or a folder searched recursively for
 * case folders. For every case the canonical request, string to sign and signature are compared
 * with header-canonical-request.txt, header-string-to-sign.txt and header-signature.txt; one line
 * is printed per case ("ok CASE" or "FAIL CASE: reason" plus a short diff), then
 * "N passed, M failed". The exit status is non-zero when anything failed, including a DIR with
 * no case in it. The contract is in the suite's README ("Runner contract"). Presigned-URL
 * (query-*) expectations are not checked: ingestd only signs with the Authorization header.
 * `make check` runs it through tests/sigv4_suite.sh.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "aws/sigv4.h"
#include "base/util.h"

static int n_pass, n_fail;

struct parsed {
    char *method;
    char *path;
    char *query; /* NULL when the target has no '?' */
    struct sigv4_header *headers;
    size_t nheaders;
    const char *body; /* points into the request text */
    size_t body_len;
};

static void parsed_free(struct parsed *p)
{
    free(p->method);
    free(p->path);
    free(p->query);
    for (size_t i = 0; i < p->nheaders; i++) {
        free((char *)p->headers[i].name);
        free((char *)p->headers[i].value);
    }
    free(p->headers);
    memset(p, 0, sizeof(*p));
}

/* Whole file, NUL-terminated (it may also contain NULs); NULL if it cannot be read. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    char chunk[4096];
    size_t n;

    if (f == NULL)
        return NULL;
    buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        buf_free(&b);
        return NULL;
    }
    if (len != NULL)
        *len = b.len;
    return buf_steal(&b);
}

static char *path_join(const char *dir, const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

static bool file_exists(const char *dir, const char *name)
{
    char *p = path_join(dir, name);
    struct stat st;
    bool ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);

    free(p);
    return ok;
}

/* Next line of [*pos, end): returns its start and length without "\n" (and a "\r" before it). */
static const char *next_line(const char **pos, const char *end, size_t *len)
{
    const char *s = *pos, *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl ? nl : end;

    *pos = nl ? nl + 1 : end;
    *len = (size_t)(e - s);
    if (*len > 0 && s[*len - 1] == '\r')
        (*len)--;
    return s;
}

static int parse_request_line(const char *line, size_t len, struct parsed *p, const char **why)
{
    const char *sp1 = memchr(line, ' ', len), *sp2 = NULL;

    if (sp1 == NULL || sp1 == line) {
        *why = "request line has no method";
        return -1;
    }
    for (const char *c = line + len; c > sp1; c--) {
        if (c[-1] == ' ') {
            sp2 = c - 1;
            break;
        }
    }
    if (sp2 == sp1)
        sp2 = line + len; /* no HTTP version: the target runs to the end */
    p->method = xstrndup(line, (size_t)(sp1 - line));
    const char *t = sp1 + 1;
    size_t tlen = (size_t)(sp2 - t);
    const char *q = memchr(t, '?', tlen);
    p->path = xstrndup(t, q ? (size_t)(q - t) : tlen);
    if (q != NULL)
        p->query = xstrndup(q + 1, (size_t)(sp2 - q - 1));
    return 0;
}

static int parse_request(const char *text, size_t len, struct parsed *p, const char **why)
{
    const char *pos = text, *end = text + len, *line;
    size_t llen, cap = 8;

    memset(p, 0, sizeof(*p));
    line = next_line(&pos, end, &llen);
    if (parse_request_line(line, llen, p, why) != 0)
        return -1;
    p->headers = xcalloc(cap, sizeof(*p->headers));
    while (pos < end) {
        line = next_line(&pos, end, &llen);
        if (llen == 0)
            break;
        if (line[0] == ' ' || line[0] == '\t') {
            if (p->nheaders == 0) {
                *why = "continuation line before the first header";
                return -1;
            }
            /* Keep the fold: the signer must treat it as whitespace. */
            struct sigv4_header *h = &p->headers[p->nheaders - 1];
            char *v = xasprintf("%s\n%.*s", h->value, (int)llen, line);
            free((char *)h->value);
            h->value = v;
            continue;
        }
        const char *colon = memchr(line, ':', llen);
        if (colon == NULL) {
            *why = "header line without ':'";
            return -1;
        }
        if (p->nheaders == cap) {
            cap *= 2;
            p->headers = xrealloc(p->headers, cap * sizeof(*p->headers));
        }
        size_t nlen = (size_t)(colon - line);
        while (nlen > 0 && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t'))
            nlen--;
        p->headers[p->nheaders].name = xstrndup(line, nlen);
        p->headers[p->nheaders].value = xstrndup(colon + 1, (size_t)(line + llen - colon - 1));
        p->nheaders++;
    }
    p->body = pos;
    p->body_len = (size_t)(end - pos);
    return 0;
}

static int digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* ISO 8601 date-time: extended (2015-08-30T12:36:00Z, optional fraction, Z or +hh:mm) or
 * basic (20150830T123600Z). */
static int parse_time(const char *s, time_t *out)
{
    bool ext = strlen(s) >= 19 && s[4] == '-';
    int w[] = {4, 2, 2, 2, 2, 2}, v[6];
    const char *p = s;

    for (int i = 0; i < 6; i++) {
        if ((v[i] = digits(p, w[i])) < 0)
            return -1;
        p += w[i];
        char sep = i == 2 ? 'T' : (i < 2 ? '-' : ':');
        if (i < 5 && (ext || i == 2)) {
            if (*p != sep && !(i == 2 && *p == 't'))
                return -1;
            p++;
        }
    }
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh = digits(p + 1, 2), mm = p[3] == ':' ? digits(p + 4, 2) : digits(p + 3, 2);
        if (hh < 0 || mm < 0)
            return -1;
        off = (*p == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
        p += p[3] == ':' ? 6 : 5;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    struct tm tm = {.tm_year = v[0] - 1900,
                    .tm_mon = v[1] - 1,
                    .tm_mday = v[2],
                    .tm_hour = v[3],
                    .tm_min = v[4],
                    .tm_sec = v[5]};
    *out = timegm(&tm) - off;
    return 0;
}

static bool ctx_bool(json_t *ctx, const char *key, bool dflt)
{
    json_t *v = json_object_get(ctx, key);

    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *ctx_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Fills params/creds from context.json; strings borrowed from ctx. */
static int load_context(json_t *ctx, struct sigv4_params *params, struct aws_creds *creds,
                        const char **why)
{
    json_t *c = json_object_get(ctx, "credentials");
    const char *ts = ctx_str(ctx, "timestamp");
    time_t now;

    if (!json_is_object(c) || ctx_str(c, "access_key_id") == NULL ||
        ctx_str(c, "secret_access_key") == NULL) {
        *why = "context.json: credentials missing";
        return -1;
    }
    if (ctx_str(ctx, "region") == NULL || ctx_str(ctx, "service") == NULL) {
        *why = "context.json: region or service missing";
        return -1;
    }
    if (ts == NULL || parse_time(ts, &now) != 0) {
        *why = "context.json: timestamp missing or not ISO 8601";
        return -1;
    }
    creds->access_key_id = ctx_str(c, "access_key_id");
    creds->secret_access_key = ctx_str(c, "secret_access_key");
    creds->session_token = ctx_str(c, "token");
    memset(params, 0, sizeof(*params));
    params->region = ctx_str(ctx, "region");
    params->service = ctx_str(ctx, "service");
    params->now = now;
    params->normalize_path = ctx_bool(ctx, "normalize", true);
    params->double_uri_encode = ctx_bool(ctx, "double_uri_encode", true);
    params->sign_body_header = ctx_bool(ctx, "sign_body", false);
    params->omit_session_token = ctx_bool(ctx, "omit_session_token", false);
    params->payload_hash = ctx_str(ctx, "payload_hash");
    return 0;
}

static void print_escaped(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

/* Compares got with the expected file (trailing newlines of the file ignored). Returns true
 * when equal; otherwise prints the first differing line. A missing file counts as absent. */
static bool check_part(const char *dir, const char *file, const char *what, const char *got,
                       const char *name, bool *failed, int *checked)
{
    char *path = path_join(dir, file);
    size_t len = 0;
    char *want = read_file(path, &len);

    free(path);
    if (want == NULL)
        return true;
    (*checked)++;
    while (len > 0 && (want[len - 1] == '\n' || want[len - 1] == '\r'))
        want[--len] = '\0';
    if (strlen(got) == len && memcmp(got, want, len) == 0) {
        free(want);
        return true;
    }
    if (!*failed)
        printf("FAIL %s: %s differs\n", name, what);
    else
        printf("     %s: %s differs too\n", name, what);
    *failed = true;
    const char *a = want, *b = got;
    for (int line = 1;; line++) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || memcmp(a, b, la) != 0 || (a[la] == '\0') != (b[lb] == '\0')) {
            printf("  line %d expected: ", line);
            print_escaped(a, la);
            printf("\n  line %d got:      ", line);
            print_escaped(b, lb);
            printf("\n");
            break;
        }
        if (a[la] == '\0')
            break;
        a += la + 1;
        b += lb + 1;
    }
    free(want);
    return false;
}

static void report(const char *name, const char *why)
{
    printf("FAIL %s: %s\n", name, why);
    n_fail++;
}

static void run_case(const char *dir)
{
    char *ctx_path = path_join(dir, "context.json"), *req_path = path_join(dir, "request.txt");
    size_t req_len = 0;
    char *req_text = read_file(req_path, &req_len);
    json_error_t jerr;
    json_t *ctx = json_load_file(ctx_path, 0, &jerr);
    struct parsed p = {0};
    struct sigv4_params params;
    struct aws_creds creds = {0};
    struct sigv4_result res = {0};
    char err[256] = "";
    const char *why = NULL;

    if (req_text == NULL) {
        report(dir, "cannot read request.txt");
        goto out;
    }
    if (!json_is_object(ctx)) {
        printf("FAIL %s: context.json: %s (line %d)\n", dir, jerr.text, jerr.line);
        n_fail++;
        goto out;
    }
    if (load_context(ctx, &params, &creds, &why) != 0 ||
        parse_request(req_text, req_len, &p, &why) != 0) {
        report(dir, why);
        goto out;
    }
    struct sigv4_request req = {
        .method = p.method,
        .path = p.path,
        .query = p.query,
        .headers = p.headers,
        .nheaders = p.nheaders,
        .body = p.body,
        .body_len = p.body_len,
    };
    if (sigv4_sign(&req, &params, &creds, &res, err, sizeof(err)) != 0) {
        printf("FAIL %s: signer error: %s\n", dir, err);
        n_fail++;
        goto out;
    }
    bool failed = false;
    int checked = 0;
    check_part(dir, "header-canonical-request.txt", "canonical request", res.canonical_request, dir,
               &failed, &checked);
    check_part(dir, "header-string-to-sign.txt", "string to sign", res.string_to_sign, dir, &failed,
               &checked);
    check_part(dir, "header-signature.txt", "signature", res.signature, dir, &failed, &checked);
    if (checked == 0) {
        report(dir, "no header-*.txt expectation");
    } else if (failed) {
        n_fail++;
    } else {
        printf("ok %s\n", dir);
        n_pass++;
    }
out:
    sigv4_result_free(&res);
    parsed_free(&p);
    json_decref(ctx);
    free(req_text);
    free(ctx_path);
    free(req_path);
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static bool is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Returns the number of cases found under dir. */
static int walk(const char *dir)
{
    struct dirent **ents = NULL;
    int n, found = 0;

    if (file_exists(dir, "context.json") && file_exists(dir, "request.txt")) {
        run_case(dir);
        return 1;
    }
    n = scandir(dir, &ents, NULL, name_cmp);
    if (n < 0)
        return 0;
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.') {
            char *sub = path_join(dir, ents[i]->d_name);
            if (is_dir(sub))
                found += walk(sub);
            free(sub);
        }
        free(ents[i]);
    }
    free(ents);
    return found;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        char *dir = xstrdup(argv[i]);
        size_t len = strlen(dir);
        while (len > 1 && dir[len - 1] == '/')
            dir[--len] = '\0';
        if (!is_dir(dir))
            report(dir, strerror(ENOENT));
        else if (walk(dir) == 0)
            report(dir, "no case folder (context.json + request.txt) found");
        free(dir);
    }
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail > 0 ? 1 : 0;
}
