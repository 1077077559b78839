/*
 * creds_fetch.c: one run of the credential chain. It picks the first configured
 * source (see creds.h for the order), turns it into a plan (creds_parse.h: base
 * credentials + roles to assume) and executes it on the loop: static keys and
 * environment variables at once, web identity and roles through STS, the ECS and
 * EC2 endpoints through http.h. It keeps nothing between runs except the IMDSv2
 * token the provider lends it.
 *
 * Files (shared config, token files) are read synchronously: they are small local
 * files. Everything that talks to the network is asynchronous.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "aws/aws_endpoint.h"
#include "base/config.h"
#include "aws/creds_int.h"
#include "aws/http.h"
#include "base/log.h"
#include "aws/sts.h"
#include "base/util.h"

#define SMALL_FILE_MAX           (1u << 20)
#define ECS_DEFAULT_HOST         "http://169.254.170.2"
#define IMDS_DEFAULT_ENDPOINT    "http://169.254.169.254"
#define IMDS_DEFAULT_ENDPOINT_V6 "http://[fd00:ec2::254]"

enum imds_step { IMDS_TOKEN, IMDS_ROLE, IMDS_CREDS };

struct creds_fetch {
    struct http *http;
    const struct config *cfg;
    struct imds_cache *imds;
    creds_fetch_done_fn done;
    void *arg;

    const char *source;
    struct buf detail;
    struct profile_plan plan;
    struct creds_fields cur; /* credentials obtained so far */
    size_t next_role;

    struct sts_call *sts;
    const char *sts_action; /* the STS call in flight, for messages */
    const char *sts_role;
    bool sts_chained; /* it assumes plan.roles[next_role] */
    struct http_call *call;
    char *base_url; /* ECS credentials URL / IMDS endpoint */
    char *auth;     /* ECS Authorization value */
    enum imds_step imds_step;
    bool imds_retried;
    char *imds_role;
};

void imds_cache_clear(struct imds_cache *c)
{
    free(c->token);
    c->token = NULL;
    c->expires_mono_ms = 0;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return str_empty(v) ? NULL : v;
}

static void fetch_free(struct creds_fetch *f)
{
    sts_cancel(f->sts);
    if (f->call != NULL)
        http_cancel(f->call);
    buf_free(&f->detail);
    profile_plan_free(&f->plan);
    creds_fields_free(&f->cur);
    free(f->base_url);
    if (f->auth != NULL)
        memset(f->auth, 0, strlen(f->auth));
    free(f->auth);
    free(f->imds_role);
    free(f);
}

static void finish_ok(struct creds_fetch *f)
{
    f->done(f->arg, &f->cur, f->source, f->detail.data ? f->detail.data : "", NULL);
    fetch_free(f);
}

static void finish_err(struct creds_fetch *f, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void finish_err(struct creds_fetch *f, const char *fmt, ...)
{
    struct buf b;
    va_list ap;

    buf_init(&b);
    if (f->source != NULL)
        buf_printf(&b, "%s: ", f->source);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    f->done(f->arg, NULL, f->source, f->detail.data ? f->detail.data : "", b.data);
    buf_free(&b);
    fetch_free(f);
}

/* ---- files ---- */

/* "~/x" -> "$HOME/x". Owned by the caller. */
static char *expand_home(const char *path)
{
    const char *home;

    if (path[0] != '~' || (path[1] != '/' && path[1] != '\0'))
        return xstrdup(path);
    home = env("HOME");
    if (home == NULL) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : "/";
    }
    return xasprintf("%s%s", home, path + 1);
}

/* The whole file; NULL with errno ENOENT when missing, or with a reason in err. */
static char *read_small_file(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "re");
    struct buf b;
    char chunk[4096];
    size_t n;

    if (fp == NULL) {
        int e = errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        buf_append(&b, chunk, n);
        if (b.len > SMALL_FILE_MAX)
            break;
    }
    if (ferror(fp) || b.len > SMALL_FILE_MAX) {
        snprintf(err, errlen, "cannot read %s: %s", path,
                 ferror(fp) ? strerror(errno) : "larger than 1 MiB");
        fclose(fp);
        buf_free(&b);
        errno = EIO;
        return NULL;
    }
    fclose(fp);
    buf_putc(&b, '\0');
    b.len--;
    return buf_steal(&b);
}

/* A token file's content without trailing white space; NULL with err. */
static char *read_token_file(const char *path, char *err, size_t errlen)
{
    char *p = expand_home(path), *t = read_small_file(p, err, errlen);
    free(p);
    if (t == NULL)
        return NULL;
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t'))
        t[--n] = '\0';
    if (n == 0) {
        snprintf(err, errlen, "%s is empty", path);
        free(t);
        return NULL;
    }
    return t;
}

/* Loads both shared files into sf; a missing file counts as empty. */
static int load_shared_files(struct shared_files *sf, char *err, size_t errlen)
{
    static const struct {
        const char *var, *def;
        bool is_config;
    } files[] = {
        {"AWS_CONFIG_FILE", "~/.aws/config", true},
        {"AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", false},
    };
    char why[256];

    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        const char *v = env(files[i].var);
        char *path = expand_home(v ? v : files[i].def);
        char *text = read_small_file(path, err, errlen);
        if (text == NULL && errno != ENOENT) {
            free(path);
            return -1;
        }
        if (text != NULL && shared_files_add(sf, text, files[i].is_config, why, sizeof(why))) {
            snprintf(err, errlen, "%s:%s", path, why);
            free(text);
            free(path);
            return -1;
        }
        free(text);
        free(path);
    }
    return 0;
}

/* ---- choosing the source ---- */

static void role_set(struct profile_role *r, const char *arn, const char *session)
{
    memset(r, 0, sizeof(*r));
    r->role_arn = xstrdup(arn);
    r->session_name = session ? xstrdup(session) : NULL;
}

static int statics_set(struct creds_fetch *f, const char *ak, const char *sk, const char *tok,
                       const char *what)
{
    if (ak == NULL || sk == NULL) {
        finish_err(f, "%s: the access key id and the secret access key must be set together", what);
        return -1;
    }
    f->plan.base = PROFILE_BASE_STATIC;
    f->plan.statics.access_key_id = xstrdup(ak);
    f->plan.statics.secret_access_key = xstrdup(sk);
    f->plan.statics.session_token = tok ? xstrdup(tok) : NULL;
    return 0;
}

/* The profile stage: 0 planned, 1 nothing here, -1 finished with an error. */
static int choose_profile(struct creds_fetch *f)
{
    const char *name = !str_empty(f->cfg->aws.profile) ? f->cfg->aws.profile : env("AWS_PROFILE");
    struct shared_files sf;
    char err[512];
    int r;

    if (name == NULL)
        name = "default";
    shared_files_init(&sf);
    if (load_shared_files(&sf, err, sizeof(err)) != 0) {
        shared_files_free(&sf);
        f->source = "profile";
        finish_err(f, "%s", err);
        return -1;
    }
    if (shared_files_profile(&sf, name) == NULL && strcmp(name, "default") != 0) {
        shared_files_free(&sf);
        f->source = "profile";
        finish_err(f, "profile %s is in neither shared file", name);
        return -1;
    }
    r = profile_plan_build(&sf, name, &f->plan, err, sizeof(err));
    shared_files_free(&sf);
    if (r == 1)
        return 1;
    f->source = "profile";
    buf_printf(&f->detail, "profile %s", name);
    if (r < 0) {
        finish_err(f, "%s", err);
        return -1;
    }
    return 0;
}

/* Picks the source and fills f->plan. 0 planned, -1 finished (error or none). */
static int choose(struct creds_fetch *f)
{
    const struct config *c = f->cfg;
    const char *v;
    int r;

    if (!str_empty(c->aws.access_key_id) || !str_empty(c->aws.secret_access_key)) {
        f->source = "config";
        buf_puts(&f->detail, "[aws] access_key_id");
        return statics_set(f, str_empty(c->aws.access_key_id) ? NULL : c->aws.access_key_id,
                           str_empty(c->aws.secret_access_key) ? NULL : c->aws.secret_access_key,
                           str_empty(c->aws.session_token) ? NULL : c->aws.session_token, "[aws]");
    }
    if (env("AWS_ACCESS_KEY_ID") || env("AWS_SECRET_ACCESS_KEY")) {
        f->source = "environment";
        buf_puts(&f->detail, "AWS_ACCESS_KEY_ID");
        return statics_set(f, env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"),
                           env("AWS_SESSION_TOKEN"), "environment");
    }
    if (env("AWS_WEB_IDENTITY_TOKEN_FILE") && env("AWS_ROLE_ARN")) {
        f->source = "web-identity";
        buf_printf(&f->detail, "role %s", env("AWS_ROLE_ARN"));
        f->plan.base = PROFILE_BASE_WEB_IDENTITY;
        f->plan.web_identity_token_file = xstrdup(env("AWS_WEB_IDENTITY_TOKEN_FILE"));
        role_set(&f->plan.web_role, env("AWS_ROLE_ARN"), env("AWS_ROLE_SESSION_NAME"));
        return 0;
    }
    r = choose_profile(f);
    if (r <= 0)
        return r;
    if (env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") ||
        env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
        f->source = "ecs";
        f->plan.base = PROFILE_BASE_ECS;
        return 0;
    }
    v = env("AWS_EC2_METADATA_DISABLED");
    if (v != NULL && strcasecmp(v, "true") == 0) {
        finish_err(f, "no AWS credentials: none configured in [aws], the environment or the "
                      "shared files, no container credentials, and instance metadata is disabled");
        return -1;
    }
    f->source = "imds";
    f->plan.base = PROFILE_BASE_IMDS;
    return 0;
}

/* ---- roles ---- */

static void run_roles(struct creds_fetch *f);

static char *session_name(const struct profile_role *r)
{
    return r->session_name ? xstrdup(r->session_name)
                           : xasprintf("ingestd-%lld", (long long)now_realtime_ms());
}

static void on_role(void *arg, struct creds_fields *c, const struct aws_error *err)
{
    struct creds_fetch *f = arg;
    char why[700];

    f->sts = NULL;
    if (c == NULL) {
        finish_err(f, "STS %s for %s failed: %s", f->sts_action, f->sts_role,
                   aws_error_str(err, why, sizeof(why)));
        return;
    }
    if (f->sts_chained)
        f->next_role++;
    creds_fields_free(&f->cur);
    f->cur = *c;
    memset(c, 0, sizeof(*c));
    run_roles(f);
}

/* Assumes the next role with f->cur, or finishes. */
static void run_roles(struct creds_fetch *f)
{
    if (f->next_role == f->plan.nroles) {
        finish_ok(f);
        return;
    }
    const struct profile_role *r = &f->plan.roles[f->next_role];
    char *sn = session_name(r);
    struct sts_role_params p = {
        .role_arn = r->role_arn,
        .session_name = sn,
        .external_id = r->external_id,
        .duration_seconds = r->duration_seconds,
    };
    struct aws_creds signer = {
        .access_key_id = f->cur.access_key_id,
        .secret_access_key = f->cur.secret_access_key,
        .session_token = f->cur.session_token,
    };
    buf_printf(&f->detail, ", role %s", r->role_arn);
    f->sts_action = "AssumeRole";
    f->sts_role = r->role_arn;
    f->sts_chained = true;
    f->sts = sts_assume_role(f->http, f->cfg, &signer, &p, on_role, f);
    free(sn);
}

static void run_web_identity(struct creds_fetch *f)
{
    char err[512];
    char *token = read_token_file(f->plan.web_identity_token_file, err, sizeof(err));

    if (token == NULL) {
        finish_err(f, "web identity token: %s", err);
        return;
    }
    char *sn = session_name(&f->plan.web_role);
    struct sts_role_params p = {
        .role_arn = f->plan.web_role.role_arn,
        .session_name = sn,
        .duration_seconds = f->plan.web_role.duration_seconds,
        .web_identity_token = token,
    };
    if (f->source != NULL && strcmp(f->source, "profile") == 0)
        buf_printf(&f->detail, ", role %s", p.role_arn);
    f->sts_action = "AssumeRoleWithWebIdentity";
    f->sts_role = f->plan.web_role.role_arn;
    f->sts_chained = false; /* the web role is not one of plan.roles */
    f->sts = sts_assume_role_with_web_identity(f->http, f->cfg, &p, on_role, f);
    memset(token, 0, strlen(token));
    free(token);
    free(sn);
}

/* ---- ECS container endpoint ---- */

static bool host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    char h[64];
    size_t n = strlen(host);

    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127 || strcmp(host, "169.254.170.2") == 0 ||
               strcmp(host, "169.254.170.23") == 0;
    if (n > 2 && n < sizeof(h) && host[0] == '[' && host[n - 1] == ']') {
        memcpy(h, host + 1, n - 2);
        h[n - 2] = '\0';
        if (inet_pton(AF_INET6, h, &a6) == 1) {
            static const unsigned char eks[16] = {0xfd, 0, 0x0e, 0xc2, [15] = 0x23};
            return IN6_IS_ADDR_LOOPBACK(&a6) || memcmp(&a6, eks, 16) == 0;
        }
    }
    return false;
}

bool creds_ecs_uri_allowed(const char *url)
{
    struct aws_url u;
    bool ok;

    if (aws_url_parse(url, &u) != 0)
        return false;
    ok = strcmp(u.scheme, "https") == 0 || host_is_loopback(u.host);
    aws_url_free(&u);
    return ok;
}

static void on_ecs(struct http_response *r, void *arg)
{
    struct creds_fetch *f = arg;
    char why[700];

    f->call = NULL;
    if (r->err.kind != AWS_OK) {
        finish_err(f, "GET %s failed: %s", f->base_url, aws_error_str(&r->err, why, sizeof(why)));
        return;
    }
    creds_fields_free(&f->cur);
    if (creds_parse_json(r->body.data, r->body.len, &f->cur, why, sizeof(why)) != 0) {
        finish_err(f, "%s: %s", f->base_url, why);
        return;
    }
    run_roles(f);
}

static void run_ecs(struct creds_fetch *f)
{
    const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *tfile = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *headers[2] = {NULL, NULL};
    char err[512];

    if (rel != NULL) {
        f->base_url = xasprintf("%s%s%s", ECS_DEFAULT_HOST, rel[0] == '/' ? "" : "/", rel);
    } else if (full != NULL && creds_ecs_uri_allowed(full)) {
        f->base_url = xstrdup(full);
    } else {
        finish_err(f,
                   "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or name a loopback "
                   "host%s",
                   full ? "" : " (it is not set)");
        return;
    }
    if (f->source != NULL && strcmp(f->source, "ecs") == 0)
        buf_puts(&f->detail, f->base_url);
    if (tfile != NULL) {
        f->auth = read_token_file(tfile, err, sizeof(err));
        if (f->auth == NULL) {
            finish_err(f, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %s", err);
            return;
        }
    } else if (env("AWS_CONTAINER_AUTHORIZATION_TOKEN") != NULL) {
        f->auth = xstrdup(env("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
    }
    if (f->auth != NULL && strpbrk(f->auth, "\r\n") != NULL) {
        finish_err(f, "the container authorization token holds a line break");
        return;
    }
    char *auth_header = f->auth ? xasprintf("Authorization: %s", f->auth) : NULL;
    headers[0] = auth_header;
    struct http_request req = {
        .method = "GET",
        .url = f->base_url,
        .headers = headers,
        .timeout_ms = ECS_TIMEOUT_MS,
        .max_attempts = ECS_ATTEMPTS,
        .label = "ecs credentials",
    };
    f->call = http_send(f->http, &req, on_ecs, f);
    if (auth_header != NULL) {
        memset(auth_header, 0, strlen(auth_header));
        free(auth_header);
    }
}

/* ---- EC2 instance metadata (IMDSv2) ---- */

static void imds_next(struct creds_fetch *f);

static void on_imds(struct http_response *r, void *arg)
{
    struct creds_fetch *f = arg;
    char why[700];

    f->call = NULL;
    if (r->status == 401 && f->imds_step != IMDS_TOKEN && !f->imds_retried) {
        /* The token expired or the service restarted: get a new one, once. */
        imds_cache_clear(f->imds);
        f->imds_retried = true;
        f->imds_step = IMDS_TOKEN;
        imds_next(f);
        return;
    }
    if (r->err.kind != AWS_OK) {
        static const char *const what[] = {"token PUT", "role list", "role credentials"};
        finish_err(f, "instance metadata %s at %s failed: %s%s", what[f->imds_step], f->base_url,
                   aws_error_str(&r->err, why, sizeof(why)),
                   r->status == 404 && f->imds_step == IMDS_ROLE
                       ? " (no IAM role attached to the instance)"
                       : "");
        return;
    }
    switch (f->imds_step) {
    case IMDS_TOKEN:
        imds_cache_clear(f->imds);
        f->imds->token = buf_steal(&r->body);
        f->imds->expires_mono_ms = now_monotonic_ms() + (IMDS_TOKEN_TTL_S - 60) * 1000ull;
        f->imds_step = IMDS_ROLE;
        break;
    case IMDS_ROLE: {
        const char *s = r->body.data ? r->body.data : "";
        size_t n = strcspn(s, "\r\n");
        while (n > 0 && s[n - 1] == ' ')
            n--;
        if (n == 0) {
            finish_err(f, "instance metadata lists no IAM role");
            return;
        }
        free(f->imds_role);
        f->imds_role = xstrndup(s, n);
        if (strcmp(f->source, "imds") == 0)
            buf_printf(&f->detail, "role %s", f->imds_role);
        f->imds_step = IMDS_CREDS;
        break;
    }
    case IMDS_CREDS:
        creds_fields_free(&f->cur);
        if (creds_parse_json(r->body.data, r->body.len, &f->cur, why, sizeof(why)) != 0) {
            finish_err(f, "instance metadata: %s", why);
            return;
        }
        run_roles(f);
        return;
    }
    imds_next(f);
}

static void imds_next(struct creds_fetch *f)
{
    const char *headers[2] = {NULL, NULL};
    char *hdr = NULL, *url = NULL;
    struct http_request req = {
        .timeout_ms = IMDS_TIMEOUT_MS,
        .max_attempts = 1,
        .headers = headers,
    };

    if (f->imds_step == IMDS_TOKEN && f->imds->token != NULL &&
        f->imds->expires_mono_ms > now_monotonic_ms())
        f->imds_step = IMDS_ROLE;
    if (f->imds_step == IMDS_TOKEN) {
        url = xasprintf("%s/latest/api/token", f->base_url);
        hdr = xasprintf("X-aws-ec2-metadata-token-ttl-seconds: %d", IMDS_TOKEN_TTL_S);
        req.method = "PUT";
        req.label = "imds token";
    } else {
        url = f->imds_step == IMDS_ROLE
                  ? xasprintf("%s/latest/meta-data/iam/security-credentials/", f->base_url)
                  : xasprintf("%s/latest/meta-data/iam/security-credentials/%s", f->base_url,
                              f->imds_role);
        hdr = xasprintf("X-aws-ec2-metadata-token: %s", f->imds->token);
        req.method = "GET";
        req.label = "imds credentials";
    }
    headers[0] = hdr;
    req.url = url;
    f->call = http_send(f->http, &req, on_imds, f);
    free(hdr);
    free(url);
}

static void run_imds(struct creds_fetch *f)
{
    const char *ep = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");

    if (ep == NULL)
        ep = mode && strcasecmp(mode, "IPv6") == 0 ? IMDS_DEFAULT_ENDPOINT_V6
                                                   : IMDS_DEFAULT_ENDPOINT;
    f->base_url = xstrdup(ep);
    size_t n = strlen(f->base_url);
    while (n > 0 && f->base_url[n - 1] == '/')
        f->base_url[--n] = '\0';
    f->imds_step = IMDS_TOKEN;
    imds_next(f);
}

/* ---- entry points ---- */

struct creds_fetch *creds_fetch_new(struct http *h, const struct config *cfg,
                                    struct imds_cache *imds, creds_fetch_done_fn done, void *arg)
{
    struct creds_fetch *f = xcalloc(1, sizeof(*f));

    f->http = h;
    f->cfg = cfg;
    f->imds = imds;
    f->done = done;
    f->arg = arg;
    buf_init(&f->detail);
    return f;
}

void creds_fetch_run(struct creds_fetch *f)
{
    if (choose(f) != 0)
        return;
    switch (f->plan.base) {
    case PROFILE_BASE_STATIC:
        f->cur = f->plan.statics;
        memset(&f->plan.statics, 0, sizeof(f->plan.statics));
        run_roles(f);
        return;
    case PROFILE_BASE_ENVIRONMENT:
        if (!env("AWS_ACCESS_KEY_ID") || !env("AWS_SECRET_ACCESS_KEY")) {
            finish_err(f, "credential_source Environment but AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY are not both set");
            return;
        }
        f->cur.access_key_id = xstrdup(env("AWS_ACCESS_KEY_ID"));
        f->cur.secret_access_key = xstrdup(env("AWS_SECRET_ACCESS_KEY"));
        f->cur.session_token = env("AWS_SESSION_TOKEN") ? xstrdup(env("AWS_SESSION_TOKEN")) : NULL;
        run_roles(f);
        return;
    case PROFILE_BASE_WEB_IDENTITY:
        run_web_identity(f);
        return;
    case PROFILE_BASE_ECS:
        run_ecs(f);
        return;
    case PROFILE_BASE_IMDS:
        run_imds(f);
        return;
    }
}

void creds_fetch_cancel(struct creds_fetch *f)
{
    if (f != NULL)
        fetch_free(f);
}
