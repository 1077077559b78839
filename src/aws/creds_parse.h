/*
 * creds_parse.h: the pure parts of the credential chain: the shared credentials and
 * config files and the resolution of a profile into "base credentials + roles to
 * assume", the JSON documents of the ECS and EC2 credential endpoints, STS's XML
 * answers, ISO 8601 times and the refresh schedule.
 *
 * No I/O, no logging, no clock: every function takes its inputs as arguments, so
 * the unit tests drive them from literal documents. Any thread may call them.
 * Error texts never contain a secret, a session token or a web identity token.
 */
#ifndef INGESTD_CREDS_PARSE_H
#define INGESTD_CREDS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Credentials as read from a document; every string owned by the struct. */
struct creds_fields {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL for long-term keys */
    int64_t expiry_ms;   /* realtime ms since the epoch; 0 = never expires */
};

void creds_fields_free(struct creds_fields *f); /* frees the strings, zeroes f */

/* ---- ISO 8601 ---- */

/*
 * "2024-05-01T12:34:56Z", with optional fractional seconds and a "Z", "+hh:mm",
 * "-hh:mm" or "+hhmm" zone (none means UTC, as moto writes it) -> epoch ms.
 * 0 on success, -1 when malformed.
 */
int iso8601_parse_ms(const char *s, int64_t *out_ms);

/* ---- ECS container endpoint and EC2 instance metadata JSON ---- */

/*
 * {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", ["Code": "Success"]}.
 * A "Code" other than "Success" (IMDS), a missing key id or secret or a malformed
 * Expiration are errors. 0 on success (out filled, owned by the caller), -1 with a
 * reason in err.
 */
int creds_parse_json(const char *body, size_t len, struct creds_fields *out, char *err,
                     size_t errlen);

/* ---- XML (STS Query protocol answers) ---- */

/*
 * Finds the first element named `name` (exact local name, at any depth) in xml and
 * returns its raw content between the start and end tags. Handles attributes,
 * namespace prefixes on the tag ("<sts:Code>" matches "Code"), nested elements of the
 * same name, self-closing tags (empty content), comments, processing instructions
 * and CDATA sections. true when found.
 */
bool xml_find(const char *xml, size_t len, const char *name, const char **content,
              size_t *content_len);

/* The text of the first element `name`, entities (&amp; &lt; &gt; &quot; &apos;
 * &#N; &#xH;) decoded and CDATA unwrapped, surrounding white space trimmed.
 * A malloc'd string owned by the caller, or NULL when absent or malformed. */
char *xml_text(const char *xml, size_t len, const char *name);

/* Decodes XML character data (entities, CDATA) of n bytes; NULL when malformed. */
char *xml_unescape(const char *s, size_t n);

/*
 * The <Credentials> of an AssumeRole / AssumeRoleWithWebIdentity response.
 * 0 on success (out owned by the caller), -1 with a reason in err.
 */
int sts_parse_credentials(const char *xml, size_t len, struct creds_fields *out, char *err,
                          size_t errlen);

/* ---- shared credentials / config files ---- */

struct shared_kv {
    char *key; /* lower-cased, as the SDKs read it */
    char *value;
};

struct shared_profile {
    char *name;
    struct shared_kv *kv;
    size_t n;
};

/* The profiles of both files merged; a key in the credentials file wins. */
struct shared_files {
    struct shared_profile *p;
    size_t n;
};

void shared_files_init(struct shared_files *sf);
void shared_files_free(struct shared_files *sf);

/*
 * Adds one file's text. is_config selects the config file's section rules
 * ("[profile NAME]" and "[default]"; other sections such as "[sso-session x]" are
 * ignored) instead of the credentials file's ("[NAME]"). Later calls override keys of
 * earlier ones, so add the config file first and the credentials file second.
 * Lines: "[section]", "key = value" (also "key: value"), comments on lines starting
 * with '#' or ';'; indented lines (nested sub-sections such as "s3 =\n  foo = bar")
 * are ignored; values keep every character after the '=' except outer white space
 * (there are no inline comments, as in botocore), with no length limit.
 * 0 on success, -1 with "LINE: reason" in err for a line that is neither.
 */
int shared_files_add(struct shared_files *sf, const char *text, bool is_config, char *err,
                     size_t errlen);

const struct shared_profile *shared_files_profile(const struct shared_files *sf, const char *name);
/* Value of key in profile, NULL when absent or empty. */
const char *shared_profile_get(const struct shared_profile *p, const char *key);

/* Where a profile's chain starts. */
enum profile_base {
    PROFILE_BASE_STATIC,       /* aws_access_key_id / aws_secret_access_key [/ token] */
    PROFILE_BASE_WEB_IDENTITY, /* web_identity_token_file + role_arn of one profile */
    PROFILE_BASE_ENVIRONMENT,  /* credential_source = Environment */
    PROFILE_BASE_IMDS,         /* credential_source = Ec2InstanceMetadata */
    PROFILE_BASE_ECS,          /* credential_source = EcsContainer */
};

struct profile_role {
    char *profile; /* the profile that names this role */
    char *role_arn;
    char *session_name;   /* role_session_name, or NULL (the caller picks one) */
    char *external_id;    /* NULL when absent */
    int duration_seconds; /* 0 when absent */
};

/*
 * What a profile resolves to: base credentials, then roles assumed in order, each
 * signed with the credentials the previous step produced (role chaining through
 * source_profile). Strings owned by the plan.
 */
struct profile_plan {
    enum profile_base base;
    char *base_profile;            /* the profile holding the base */
    struct creds_fields statics;   /* PROFILE_BASE_STATIC */
    char *web_identity_token_file; /* PROFILE_BASE_WEB_IDENTITY ... */
    struct profile_role web_role;  /* ... the role assumed with the token */
    struct profile_role *roles;
    size_t nroles;
};

#define PROFILE_MAX_CHAIN 8

/*
 * Resolves `profile` as botocore does: a profile with role_arn assumes it with
 * credentials from source_profile (recursively; a profile naming itself as source
 * uses its own static keys), credential_source, or its own web_identity_token_file;
 * otherwise its static keys.
 * Returns 0 with out filled; 1 when the profile does not exist or holds no
 * credential settings at all (the chain moves on); -1 with a reason in err for a
 * profile that is configured but unusable (missing source profile, a loop,
 * source_profile together with credential_source, an unknown credential_source,
 * a key id without a secret, a chain longer than PROFILE_MAX_CHAIN).
 */
int profile_plan_build(const struct shared_files *sf, const char *profile, struct profile_plan *out,
                       char *err, size_t errlen);
void profile_plan_free(struct profile_plan *plan);

/* ---- refresh schedule ---- */

/* Credentials count as expired this long before their Expiration, so that a request
 * signed with them does not arrive after it. */
#define CREDS_EXPIRY_MARGIN_MS 5000

/*
 * When to refresh credentials obtained at obtained_ms that expire at expiry_ms
 * (realtime ms; now_ms is the present). Rule: with a lifetime of 10 minutes or more,
 * 5 minutes before expiry (what the SDKs do); with a shorter lifetime, at half of it,
 * which leaves the same margin at exactly 10 minutes and still refreshes well before
 * expiry with the 20-30 s credentials of the tests. Never later than one second
 * before they stop being usable (CREDS_EXPIRY_MARGIN_MS before expiry), which only
 * matters for lifetimes under 12 s. A time that is already past (an endpoint that
 * hands out the same, nearly expired credentials again) becomes half of the
 * remaining usable time from now, at least one second.
 * Returns the absolute realtime ms; 0 when expiry_ms is 0 (never refresh).
 */
int64_t creds_refresh_at_ms(int64_t now_ms, int64_t obtained_ms, int64_t expiry_ms);

/* True when credentials with this expiry must no longer sign a request. */
bool creds_expired_at(int64_t now_ms, int64_t expiry_ms);

#endif
