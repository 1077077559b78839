/*
 * fuzz_creds.c: the pure credential parsers (creds_parse.h): the ECS/IMDS JSON document, the
 * XML extractor and STS's AssumeRole answers, ISO 8601 times, the shared config and
 * credentials files with profile resolution, and the refresh schedule.
 *
 * The first byte picks the parser. For the shared files the input is split at the first NUL
 * byte into the config file and the credentials file; the profile to resolve is the first
 * line of the rest. Invariants: parsed credentials have a key id and a secret; failures say
 * why; xml_find's content lies inside the document; xml_text is NUL-free text; a profile plan
 * is complete (a base profile, static keys for a static base, at most PROFILE_MAX_CHAIN roles
 * each with a role ARN); the refresh time is at least a second from now and, when there is
 * time, not after the credentials stop being usable (for plausible clocks).
 */
#include "aws/creds_parse.h"
#include "fuzz.h"

static const char *const names[] = {"Code",    "Credentials", "AccessKeyId", "Error",
                                    "Message", "a",           "x:y",         ""};

static void json_doc(const char *body, size_t len)
{
    struct creds_fields f = {0};
    char err[256] = "";

    if (creds_parse_json(body, len, &f, err, sizeof(err)) == 0) {
        FUZZ_CHECK(f.access_key_id && f.access_key_id[0], "no key id");
        FUZZ_CHECK(f.secret_access_key && f.secret_access_key[0], "no secret");
    } else {
        FUZZ_CHECK(err[0], "failure without a reason");
    }
    creds_fields_free(&f);
    FUZZ_CHECK(!f.access_key_id && !f.secret_access_key && !f.session_token, "free left data");
}

static void xml(const char *doc, size_t len, const char *name)
{
    const char *content = NULL;
    size_t clen = 0;
    struct creds_fields f = {0};
    char err[256] = "", *t;

    if (xml_find(doc, len, name, &content, &clen)) {
        FUZZ_CHECK(content >= doc && clen <= len && content + clen <= doc + len,
                   "content outside the document");
        t = xml_unescape(content, clen);
        if (t) {
            FUZZ_CHECK(strlen(t) <= clen, "unescaped text grew");
            free(t);
        }
    }
    t = xml_text(doc, len, name);
    if (t) {
        FUZZ_CHECK(strlen(t) <= len, "text longer than the document");
        free(t);
    }
    if (sts_parse_credentials(doc, len, &f, err, sizeof(err)) == 0) {
        FUZZ_CHECK(f.access_key_id && f.access_key_id[0] && f.secret_access_key &&
                       f.secret_access_key[0],
                   "incomplete credentials");
    } else {
        FUZZ_CHECK(err[0], "failure without a reason");
    }
    creds_fields_free(&f);
}

static void check_role(const struct profile_role *r)
{
    FUZZ_CHECK(r->profile && r->role_arn && r->role_arn[0], "incomplete role");
    FUZZ_CHECK(r->duration_seconds >= 0, "duration %d", r->duration_seconds);
}

static void shared(const uint8_t *p, size_t n, bool creds_first)
{
    const uint8_t *nul = memchr(p, '\0', n);
    size_t n1 = nul ? (size_t)(nul - p) : n;
    char *config = fuzz_cstr(p, n1);
    char *rest = fuzz_cstr(nul ? nul + 1 : p + n, nul ? n - n1 - 1 : 0);
    char *profile = strdup(rest), *nl = strchr(profile, '\n');
    const char *creds_text = nl ? rest + (nl - profile) + 1 : rest;
    struct shared_files sf;
    struct profile_plan plan;
    char err[256] = "";
    int rc;

    if (nl)
        *nl = '\0';
    shared_files_init(&sf);
    rc = shared_files_add(&sf, config, !creds_first, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || err[0], "failure without a reason");
    err[0] = '\0';
    rc = shared_files_add(&sf, creds_text, creds_first, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || err[0], "failure without a reason");
    for (size_t i = 0; i < sf.n; i++) {
        FUZZ_CHECK(sf.p[i].name, "profile %zu without a name", i);
        FUZZ_CHECK(shared_files_profile(&sf, sf.p[i].name) != NULL, "profile %s not found",
                   sf.p[i].name);
        for (size_t k = 0; k < sf.p[i].n; k++)
            FUZZ_CHECK(sf.p[i].kv[k].key && sf.p[i].kv[k].value, "incomplete key");
    }
    for (int round = 0; round < 2; round++) {
        const char *name = round == 0 ? profile : sf.n ? sf.p[0].name : "default";

        memset(&plan, 0, sizeof(plan));
        err[0] = '\0';
        rc = profile_plan_build(&sf, name, &plan, err, sizeof(err));
        FUZZ_CHECK(rc >= -1 && rc <= 1, "rc %d", rc);
        if (rc == -1)
            FUZZ_CHECK(err[0], "failure without a reason");
        if (rc == 0) {
            FUZZ_CHECK(plan.base_profile, "no base profile");
            FUZZ_CHECK(plan.nroles <= PROFILE_MAX_CHAIN, "%zu roles", plan.nroles);
            if (plan.base == PROFILE_BASE_STATIC)
                FUZZ_CHECK(plan.statics.access_key_id && plan.statics.secret_access_key,
                           "static base without keys");
            if (plan.base == PROFILE_BASE_WEB_IDENTITY) {
                FUZZ_CHECK(plan.web_identity_token_file, "web identity without a token file");
                check_role(&plan.web_role);
            }
            for (size_t i = 0; i < plan.nroles; i++)
                check_role(&plan.roles[i]);
            profile_plan_free(&plan);
        }
    }
    shared_files_free(&sf);
    free(profile);
    free(rest);
    free(config);
}

static void schedule(struct fuzz_in *in)
{
    /* plausible realtime clocks: 0 .. about year 2100, lifetimes up to a few days */
    int64_t now = (int64_t)(fuzz_u16(in)) * 60000000 + fuzz_u16(in);
    int64_t obtained = now - (int64_t)fuzz_u16(in) * 1000;
    int64_t expiry = fuzz_bool(in) ? 0 : now + ((int64_t)fuzz_u16(in) - 4000) * 100;
    int64_t at = creds_refresh_at_ms(now, obtained, expiry);

    if (expiry == 0) {
        FUZZ_CHECK(at == 0, "refresh %lld for credentials that never expire", (long long)at);
        FUZZ_CHECK(!creds_expired_at(now, 0), "never-expiring credentials expired");
        return;
    }
    FUZZ_CHECK(at >= now + 1000, "refresh at %lld, now %lld", (long long)at, (long long)now);
    if (expiry - CREDS_EXPIRY_MARGIN_MS - now >= 2000)
        FUZZ_CHECK(at <= expiry - CREDS_EXPIRY_MARGIN_MS, "refresh %lld after usable end %lld",
                   (long long)at, (long long)(expiry - CREDS_EXPIRY_MARGIN_MS));
    FUZZ_CHECK(creds_expired_at(now, expiry) == (now >= expiry - CREDS_EXPIRY_MARGIN_MS),
               "creds_expired_at");
}

int fuzz_creds(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t sel = fuzz_u8(&in);
    char *doc = (char *)fuzz_dup(in.p, in.n), *cstr = fuzz_cstr(in.p, in.n);
    int64_t ms;

    switch (sel % 6) {
    case 0:
        json_doc(doc, in.n);
        break;
    case 1:
        xml(doc, in.n, names[(sel >> 3) % (sizeof(names) / sizeof(names[0]))]);
        break;
    case 2:
    case 3:
        shared(in.p, in.n, sel & 1);
        break;
    case 4:
        if (iso8601_parse_ms(cstr, &ms) == 0)
            FUZZ_CHECK(strlen(cstr) >= 19, "%s parsed as a time", cstr);
        break;
    case 5:
        schedule(&in);
        break;
    }
    free(cstr);
    free(doc);
    return 0;
}

FUZZ_MAIN(fuzz_creds)
