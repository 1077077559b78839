/*
 * creds_profile.c: the SDKs' shared credentials and config files (~/.aws/credentials,
 * ~/.aws/config) and the resolution of a profile into a plan: base credentials and
 * the roles to assume on top of them.
 *
 * The files have their own small reader rather than inih: inih as packaged cuts lines
 * at 200 bytes, and a session token in a credentials file is longer than that. The
 * reader follows botocore (configparser): full-line comments only, keys
 * case-insensitive, section names case-sensitive, indented lines are nested
 * sub-sections and are skipped.
 *
 * Not supported (an error or no credentials, never a silent substitute): sso_*
 * settings, credential_process, and the [sso-session] / [services] sections.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/creds_parse.h"
#include "base/util.h"

void shared_files_init(struct shared_files *sf)
{
    memset(sf, 0, sizeof(*sf));
}

void shared_files_free(struct shared_files *sf)
{
    for (size_t i = 0; i < sf->n; i++) {
        struct shared_profile *p = &sf->p[i];
        for (size_t j = 0; j < p->n; j++) {
            free(p->kv[j].key);
            if (p->kv[j].value != NULL)
                memset(p->kv[j].value, 0, strlen(p->kv[j].value));
            free(p->kv[j].value);
        }
        free(p->kv);
        free(p->name);
    }
    free(sf->p);
    memset(sf, 0, sizeof(*sf));
}

const struct shared_profile *shared_files_profile(const struct shared_files *sf, const char *name)
{
    for (size_t i = 0; i < sf->n; i++)
        if (strcmp(sf->p[i].name, name) == 0)
            return &sf->p[i];
    return NULL;
}

const char *shared_profile_get(const struct shared_profile *p, const char *key)
{
    if (p == NULL)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->kv[i].key, key) == 0)
            return p->kv[i].value[0] ? p->kv[i].value : NULL;
    return NULL;
}

static struct shared_profile *profile_get_or_add(struct shared_files *sf, const char *name,
                                                 size_t name_len)
{
    for (size_t i = 0; i < sf->n; i++)
        if (strlen(sf->p[i].name) == name_len && memcmp(sf->p[i].name, name, name_len) == 0)
            return &sf->p[i];
    sf->p = xrealloc(sf->p, (sf->n + 1) * sizeof(*sf->p));
    struct shared_profile *p = &sf->p[sf->n++];
    memset(p, 0, sizeof(*p));
    p->name = xstrndup(name, name_len);
    return p;
}

static void profile_set(struct shared_profile *p, char *key, char *value)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->kv[i].key, key) == 0) {
            free(key);
            free(p->kv[i].value);
            p->kv[i].value = value;
            return;
        }
    }
    p->kv = xrealloc(p->kv, (p->n + 1) * sizeof(*p->kv));
    p->kv[p->n].key = key;
    p->kv[p->n].value = value;
    p->n++;
}

/* Trims [*s, *e) of outer white space. */
static void trim_range(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* The profile a section header names, or NULL (ignored section) via *name. */
static void section_profile(const char *s, const char *e, bool is_config, const char **name,
                            size_t *name_len)
{
    *name = NULL;
    trim_range(&s, &e);
    if (!is_config) {
        *name = s;
        *name_len = (size_t)(e - s);
        return;
    }
    if (e - s == 7 && memcmp(s, "default", 7) == 0) {
        *name = s;
        *name_len = 7;
    } else if (e - s > 8 && memcmp(s, "profile", 7) == 0 && isspace((unsigned char)s[7])) {
        s += 8;
        trim_range(&s, &e);
        *name = s;
        *name_len = (size_t)(e - s);
    }
}

int shared_files_add(struct shared_files *sf, const char *text, bool is_config, char *err,
                     size_t errlen)
{
    struct shared_profile *cur = NULL;
    bool in_section = false;
    int lineno = 0;

    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n');
        const char *e = nl ? nl : line + strlen(line), *s = line;
        line = nl ? nl + 1 : NULL;
        lineno++;

        bool indented = s < e && (*s == ' ' || *s == '\t');
        trim_range(&s, &e);
        if (s == e || *s == '#' || *s == ';')
            continue;
        if (indented && in_section)
            continue; /* nested sub-section value */
        if (*s == '[') {
            const char *close = memchr(s, ']', (size_t)(e - s));
            const char *name;
            size_t name_len = 0;
            if (close == NULL || close == s + 1) {
                snprintf(err, errlen, "%d: malformed section header", lineno);
                return -1;
            }
            section_profile(s + 1, close, is_config, &name, &name_len);
            cur = name != NULL && name_len > 0 ? profile_get_or_add(sf, name, name_len) : NULL;
            in_section = true;
            continue;
        }
        if (!in_section) {
            snprintf(err, errlen, "%d: setting before the first section", lineno);
            return -1;
        }
        const char *eq = s;
        while (eq < e && *eq != '=' && *eq != ':')
            eq++;
        const char *ke = eq, *vs = eq + 1, *ks = s;
        trim_range(&ks, &ke);
        if (eq == e || ks == ke) {
            snprintf(err, errlen, "%d: expected \"key = value\"", lineno);
            return -1;
        }
        if (cur == NULL)
            continue; /* a section we ignore */
        char *key = xstrndup(ks, (size_t)(ke - ks));
        for (char *k = key; *k; k++)
            *k = (char)tolower((unsigned char)*k);
        const char *ve = e;
        trim_range(&vs, &ve);
        profile_set(cur, key, xstrndup(vs, (size_t)(ve - vs)));
    }
    return 0;
}

/* ---- profile resolution ---- */

static void role_free(struct profile_role *r)
{
    free(r->profile);
    free(r->role_arn);
    free(r->session_name);
    free(r->external_id);
    memset(r, 0, sizeof(*r));
}

void profile_plan_free(struct profile_plan *plan)
{
    if (plan == NULL)
        return;
    free(plan->base_profile);
    creds_fields_free(&plan->statics);
    free(plan->web_identity_token_file);
    role_free(&plan->web_role);
    for (size_t i = 0; i < plan->nroles; i++)
        role_free(&plan->roles[i]);
    free(plan->roles);
    memset(plan, 0, sizeof(*plan));
}

static int role_from_profile(const struct shared_profile *p, struct profile_role *r, char *err,
                             size_t errlen)
{
    const char *dur = shared_profile_get(p, "duration_seconds");
    const char *sn = shared_profile_get(p, "role_session_name");
    const char *ext = shared_profile_get(p, "external_id");
    int64_t d = 0;

    memset(r, 0, sizeof(*r));
    if (dur != NULL && parse_int64(dur, 900, 43200, &d) != 0) {
        snprintf(err, errlen, "profile %.64s: duration_seconds must be 900..43200", p->name);
        return -1;
    }
    r->profile = xstrdup(p->name);
    r->role_arn = xstrdup(shared_profile_get(p, "role_arn"));
    r->session_name = sn ? xstrdup(sn) : NULL;
    r->external_id = ext ? xstrdup(ext) : NULL;
    r->duration_seconds = (int)d;
    return 0;
}

/* Static keys of p: 0 found, 1 none at all, -1 partial. */
static int statics_from_profile(const struct shared_profile *p, struct creds_fields *f, char *err,
                                size_t errlen)
{
    const char *ak = shared_profile_get(p, "aws_access_key_id");
    const char *sk = shared_profile_get(p, "aws_secret_access_key");
    const char *tok = shared_profile_get(p, "aws_session_token");

    if (ak == NULL && sk == NULL)
        return 1;
    if (ak == NULL || sk == NULL) {
        snprintf(err, errlen,
                 "profile %.64s: aws_access_key_id and aws_secret_access_key "
                 "must be set together",
                 p->name);
        return -1;
    }
    memset(f, 0, sizeof(*f));
    f->access_key_id = xstrdup(ak);
    f->secret_access_key = xstrdup(sk);
    f->session_token = tok ? xstrdup(tok) : NULL;
    return 0;
}

static int credential_source_base(const struct shared_profile *p, const char *cs,
                                  enum profile_base *base, char *err, size_t errlen)
{
    if (strcmp(cs, "Environment") == 0)
        *base = PROFILE_BASE_ENVIRONMENT;
    else if (strcmp(cs, "Ec2InstanceMetadata") == 0)
        *base = PROFILE_BASE_IMDS;
    else if (strcmp(cs, "EcsContainer") == 0)
        *base = PROFILE_BASE_ECS;
    else {
        snprintf(err, errlen, "profile %.64s: unsupported credential_source \"%.64s\"", p->name,
                 cs);
        return -1;
    }
    return 0;
}

struct resolve_state {
    const struct shared_files *sf;
    const char *visited[PROFILE_MAX_CHAIN + 1];
    size_t nvisited;
    struct profile_plan *plan;
    char *err;
    size_t errlen;
};

static int push_role(struct resolve_state *st, const struct shared_profile *p)
{
    struct profile_plan *plan = st->plan;
    plan->roles = xrealloc(plan->roles, (plan->nroles + 1) * sizeof(*plan->roles));
    if (role_from_profile(p, &plan->roles[plan->nroles], st->err, st->errlen) != 0)
        return -1;
    plan->nroles++;
    return 0;
}

/* Resolves profile `name`; top is false for a source_profile. 0 / 1 / -1 as
 * profile_plan_build. */
static int resolve(struct resolve_state *st, const char *name, bool top)
{
    const struct shared_profile *p = shared_files_profile(st->sf, name);
    struct profile_plan *plan = st->plan;
    const char *role, *src, *cs, *wif;
    int r;

    if (p == NULL) {
        if (top)
            return 1;
        snprintf(st->err, st->errlen, "source_profile %.64s does not exist", name);
        return -1;
    }
    for (size_t i = 0; i < st->nvisited; i++) {
        if (strcmp(st->visited[i], name) == 0) {
            snprintf(st->err, st->errlen, "source_profile loop through profile %.64s", name);
            return -1;
        }
    }
    if (st->nvisited == PROFILE_MAX_CHAIN) {
        snprintf(st->err, st->errlen, "role chain longer than %d profiles", PROFILE_MAX_CHAIN);
        return -1;
    }
    st->visited[st->nvisited++] = p->name;

    /* A source profile with static keys provides them, even with a role_arn (botocore);
     * the profile asked for assumes its role first. */
    if (!top) {
        r = statics_from_profile(p, &plan->statics, st->err, st->errlen);
        if (r <= 0) {
            plan->base = PROFILE_BASE_STATIC;
            plan->base_profile = xstrdup(p->name);
            return r;
        }
    }
    role = shared_profile_get(p, "role_arn");
    if (role == NULL) {
        if (top) {
            r = statics_from_profile(p, &plan->statics, st->err, st->errlen);
            if (r == 0) {
                plan->base = PROFILE_BASE_STATIC;
                plan->base_profile = xstrdup(p->name);
            }
            return r;
        }
        snprintf(st->err, st->errlen, "source_profile %.64s holds no credentials", name);
        return -1;
    }
    src = shared_profile_get(p, "source_profile");
    cs = shared_profile_get(p, "credential_source");
    wif = shared_profile_get(p, "web_identity_token_file");
    if (src != NULL && cs != NULL) {
        snprintf(st->err, st->errlen,
                 "profile %.64s: source_profile and credential_source "
                 "are mutually exclusive",
                 name);
        return -1;
    }
    if (src != NULL) {
        if (strcmp(src, name) == 0) {
            /* A profile that names itself uses its own keys as the source. */
            r = statics_from_profile(p, &plan->statics, st->err, st->errlen);
            if (r == 1)
                snprintf(st->err, st->errlen,
                         "profile %.64s is its own source_profile but "
                         "holds no keys",
                         name);
            if (r != 0)
                return -1;
            plan->base = PROFILE_BASE_STATIC;
            plan->base_profile = xstrdup(p->name);
        } else if (resolve(st, src, false) != 0) {
            return -1;
        }
        return push_role(st, p);
    }
    if (cs != NULL) {
        if (credential_source_base(p, cs, &plan->base, st->err, st->errlen) != 0)
            return -1;
        plan->base_profile = xstrdup(p->name);
        return push_role(st, p);
    }
    if (wif != NULL) {
        plan->base = PROFILE_BASE_WEB_IDENTITY;
        plan->base_profile = xstrdup(p->name);
        plan->web_identity_token_file = xstrdup(wif);
        return role_from_profile(p, &plan->web_role, st->err, st->errlen);
    }
    snprintf(st->err, st->errlen,
             "profile %.64s: role_arn needs source_profile, "
             "credential_source or web_identity_token_file",
             name);
    return -1;
}

int profile_plan_build(const struct shared_files *sf, const char *profile, struct profile_plan *out,
                       char *err, size_t errlen)
{
    struct resolve_state st = {.sf = sf, .plan = out, .err = err, .errlen = errlen};

    memset(out, 0, sizeof(*out));
    int r = resolve(&st, profile, true);
    if (r != 0)
        profile_plan_free(out);
    return r;
}
