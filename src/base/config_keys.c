/*
 * config_keys.c: the configuration key table and the parsers of single values.
 *
 * Every key the file may hold is one row of cfg_keys[]: section, name, type,
 * default (as it would be written in the file, so the defaults go through the
 * same parsers as the operator's values), destination offset and flags. A value
 * parser looks at its own value only; rules that relate several keys (a sink's
 * type, upsert needs a key, ...) live in config.c, and a sink type's own rules for
 * its values (a PostgreSQL schema that is not a catalog) in that sink's check_conf.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/config_int.h"
#include "base/log.h"

const char *const cfg_sec_names[SEC_COUNT] = {"ingestd", "aws", "sqs", "http", "sink", "route"};
const char *const cfg_sink_type_names[] = {"postgres", "mysql", "dynamodb", "sqs", NULL};

static const char *const mode_names[] = {"append", "upsert", "replace", "update", NULL};
static const char *const format_names[] = {"csv", "tsv", "jsonl", "json", NULL};
static const char *const compression_names[] = {"auto", "none", "gzip", "zstd", NULL};
static const char *const log_format_names[] = {"text", "json", NULL};
static const char *const copy_format_names[] = {"auto", "binary", "text", NULL};
static const char *const upsert_unchanged_names[] = {"update", "skip", NULL};
static const char *const on_error_names[] = {"abort", "skip_row", NULL};
static const char *const http_auth_names[] = {"token", "none", NULL};
static const char *const null_as_names[] = {"absent", "NULL", NULL};
static const char *const ssl_mode_names[] = {"disabled",  "preferred",       "required",
                                             "verify_ca", "verify_identity", NULL};

#define FIELD(p, off, type) ((type *)((char *)(p) + (off)))

static int set_int(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why)
{
    int64_t n;

    if (v->text[0] == '\0') {
        if (k->type == CT_I64)
            *FIELD(base, k->off, int64_t) = 0;
        else
            *FIELD(base, k->off, int) = 0;
        return 0;
    }
    if (parse_int64(v->text, k->min, k->max, &n) < 0) {
        cfg_quote_value(why, v->text);
        if (k->max == INT64_MAX || k->max == INT32_MAX)
            buf_printf(why, " is not an integer >= %lld", (long long)k->min);
        else
            buf_printf(why, " is not an integer from %lld to %lld", (long long)k->min,
                       (long long)k->max);
        return -1;
    }
    if (k->type == CT_I64)
        *FIELD(base, k->off, int64_t) = n;
    else
        *FIELD(base, k->off, int) = (int)n;
    return 0;
}

static void put_size(struct buf *b, int64_t n)
{
    char t[32];

    size_text(t, sizeof(t), (uint64_t)n);
    buf_puts(b, t);
}

static int set_size(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why)
{
    if (parse_size(v->text, k->min, k->max, FIELD(base, k->off, int64_t)) < 0) {
        cfg_quote_value(why, v->text);
        buf_puts(why, " is not a size from ");
        put_size(why, k->min);
        buf_puts(why, " to ");
        put_size(why, k->max);
        buf_puts(why, " (bytes, or a number with K, M or G)");
        return -1;
    }
    return 0;
}

/* zstd windows are limited by their base-2 logarithm (ZSTD_d_windowLogMax). */
static int set_pow2_size(void *base, const struct cfg_key *k, const struct cfg_value *v,
                         struct buf *why)
{
    int64_t n;

    if (set_size(base, k, v, why) < 0)
        return -1;
    n = *FIELD(base, k->off, int64_t);
    if ((n & (n - 1)) != 0) {
        cfg_quote_value(why, v->text);
        buf_puts(why, " is not a power of two (such as 8M or 128M)");
        return -1;
    }
    return 0;
}

static int set_bool(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why)
{
    if (parse_bool(v->text, FIELD(base, k->off, bool)) < 0) {
        cfg_quote_value(why, v->text);
        buf_puts(why, " is not a boolean (true or false)");
        return -1;
    }
    return 0;
}

static void set_string(void *base, const struct cfg_key *k, const char *s)
{
    char **dst = FIELD(base, k->off, char *);

    free(*dst);
    *dst = s && *s ? xstrdup(s) : NULL;
}

/* http:// or https:// with a host, no spaces: enough to catch typos and bare hosts. */
static int set_url(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why)
{
    const char *s = v->text, *host;

    if (*s) {
        if (str_has_prefix(s, "https://"))
            host = s + 8;
        else if (str_has_prefix(s, "http://"))
            host = s + 7;
        else
            host = NULL;
        if (!host || *host == '\0' || *host == '/' || strpbrk(s, " \t") != NULL) {
            cfg_quote_value(why, s);
            buf_puts(why, " is not an http:// or https:// URL");
            return -1;
        }
    }
    set_string(base, k, s);
    return 0;
}

static int choice_index(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i]; i++) {
        if (strcmp(choices[i], s) == 0)
            return i;
    }
    return -1;
}

static void explain_choices(struct buf *why, const char *s, const char *const *choices)
{
    cfg_quote_value(why, s);
    buf_puts(why, " is not one of ");
    for (int i = 0; choices[i]; i++)
        buf_printf(why, "%s%s", i ? " | " : "", choices[i]);
}

static int set_enum(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why)
{
    int i = choice_index(k->choices, v->text);

    if (i < 0) {
        explain_choices(why, v->text, k->choices);
        return -1;
    }
    *FIELD(base, k->off, int) = i;
    return 0;
}

static int set_choice(void *base, const struct cfg_key *k, const struct cfg_value *v,
                      struct buf *why)
{
    if (*v->text && choice_index(k->choices, v->text) < 0) {
        explain_choices(why, v->text, k->choices);
        return -1;
    }
    set_string(base, k, v->text);
    return 0;
}

static int set_log_level(void *base, const struct cfg_key *k, const struct cfg_value *v,
                         struct buf *why)
{
    static const char *const names[] = {"debug", "info", "notice", "warning", "err", NULL};

    if (choice_index(names, v->text) < 0 || log_level_parse(v->text, FIELD(base, k->off, int))) {
        explain_choices(why, v->text, names);
        return -1;
    }
    return 0;
}

/* HOST:PORT or [V6ADDR]:PORT; the listener resolves HOST, we only check the shape. */
static int set_listen(void *base, const struct cfg_key *k, const struct cfg_value *v,
                      struct buf *why)
{
    const char *s = v->text, *colon = strrchr(s, ':');
    int64_t port;
    size_t hostlen;

    if (*s == '\0') {
        set_string(base, k, NULL);
        return 0;
    }
    hostlen = colon ? (size_t)(colon - s) : 0;
    if (!colon || hostlen == 0 || parse_int64(colon + 1, 1, 65535, &port) < 0)
        goto bad;
    if (s[0] == '[' ? s[hostlen - 1] != ']' || hostlen < 3 : memchr(s, ':', hostlen) != NULL)
        goto bad;
    for (size_t i = 0; i < hostlen; i++) {
        if (!isalnum((unsigned char)s[i]) && !strchr(".-_[]:", s[i]))
            goto bad;
    }
    set_string(base, k, s);
    return 0;
bad:
    cfg_quote_value(why, s);
    buf_puts(why, " is not HOST:PORT with a port from 1 to 65535");
    return -1;
}

/* A name made of the characters in `allowed` plus alphanumerics, with a length range. */
static int check_word(const char *s, const char *allowed, size_t min, size_t max, const char *what,
                      struct buf *why)
{
    size_t n = strlen(s);
    bool ok = n >= min && n <= max;

    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)s[i]) || strchr(allowed, s[i]) != NULL;
    if (!ok) {
        cfg_quote_value(why, s);
        buf_printf(why, " is not %s", what);
        return -1;
    }
    return 0;
}

static int set_region(void *base, const struct cfg_key *k, const struct cfg_value *v,
                      struct buf *why)
{
    if (*v->text && check_word(v->text, "-", 1, 64, "a region name such as us-east-1", why))
        return -1;
    set_string(base, k, v->text);
    return 0;
}

static int set_profile(void *base, const struct cfg_key *k, const struct cfg_value *v,
                       struct buf *why)
{
    if (*v->text && check_word(v->text, "-_.@+", 1, 128, "a profile name", why))
        return -1;
    set_string(base, k, v->text);
    return 0;
}

/* DynamoDB's rules for table names; also used for the S3 bucket (legacy names included). */
static int set_aws_name(void *base, const struct cfg_key *k, const struct cfg_value *v,
                        struct buf *why)
{
    const char *what = strcmp(k->name, "bucket") == 0 ? "a bucket name" : "a DynamoDB table name";

    if (*v->text && check_word(v->text, "-_.", 3, 255, what, why))
        return -1;
    set_string(base, k, v->text);
    return 0;
}

/*
 * Secrets are taken as written, except control characters (never part of a real
 * secret, often a paste accident) and, in AWS keys, spaces. The reason given here
 * is replaced by "invalid value" for CFG_SECRET keys anyway.
 */
static int set_secret(void *base, const struct cfg_key *k, const struct cfg_value *v,
                      struct buf *why)
{
    bool aws = k->sec == SEC_AWS;

    for (const unsigned char *p = (const unsigned char *)v->text; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (aws && *p == ' ')) {
            buf_puts(why, "invalid value");
            return -1;
        }
    }
    set_string(base, k, v->text);
    return 0;
}

static int set_list(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why)
{
    return cfg_split_list(v->text, FIELD(base, k->off, struct strlist), why);
}

int cfg_key_set(void *base, const struct cfg_key *k, const struct cfg_value *v, struct buf *why)
{
    switch (k->type) {
    case CT_INT:
    case CT_I64:
        return set_int(base, k, v, why);
    case CT_BOOL:
        return set_bool(base, k, v, why);
    case CT_STR:
        set_string(base, k, v->text);
        return 0;
    case CT_URL:
        return set_url(base, k, v, why);
    case CT_ENUM:
        return set_enum(base, k, v, why);
    case CT_CHOICE:
        return set_choice(base, k, v, why);
    case CT_LIST:
        return set_list(base, k, v, why);
    case CT_SIZE:
        return set_size(base, k, v, why);
    case CT_FN:
        return k->set(base, k, v, why);
    }
    return -1;
}

/*
 * `key = ; note` is accepted as "not set" for optional names, URLs, lists, patterns and the
 * like, as etc/ingestd.conf writes them. A single character (`delimiter = ;`), a number, a
 * choice, a boolean or a secret has no empty value of its own: there the `;` was most likely
 * meant as (the start of) the value, and silently taking the default would load every file
 * wrong.
 */
bool cfg_key_blank_ok(const struct cfg_key *k)
{
    if (k->flags & CFG_SECRET)
        return false;
    switch (k->type) {
    case CT_STR:
    case CT_URL:
    case CT_LIST:
        return true;
    case CT_FN:
        return k->set != cfg_set_char && k->set != set_log_level;
    default:
        return false;
    }
}

/* Row prefixes: section, name, type, default and destination of a global, sink or route key. */
/* clang-format off */
#define G(sec, name, type, def, member) sec, name, type, def, offsetof(struct config, member)
#define S(name, type, def, member) \
    SEC_SINK, name, type, def, offsetof(struct sink_conf, member)
#define R(name, type, def, member) \
    SEC_ROUTE, name, type, def, offsetof(struct route_conf, member)

const struct cfg_key cfg_keys[] = {
    {G(SEC_INGESTD, "workers", CT_INT, "4", ingestd.workers), .min = 1, .max = 256},
    {G(SEC_INGESTD, "log_level", CT_FN, "info", ingestd.log_level), .set = set_log_level},
    {G(SEC_INGESTD, "log_format", CT_ENUM, "text", ingestd.log_format), .choices = log_format_names},
    {G(SEC_INGESTD, "metrics_listen", CT_FN, "", ingestd.metrics_listen), .set = set_listen},
    {G(SEC_INGESTD, "shutdown_timeout", CT_INT, "30", ingestd.shutdown_timeout),
     .min = 0, .max = 3600},

    {G(SEC_AWS, "region", CT_FN, NULL, aws.region), .set = set_region, .flags = CFG_LATE},
    {G(SEC_AWS, "endpoint_url", CT_URL, "", aws.endpoint_url)},
    {G(SEC_AWS, "sqs_endpoint", CT_URL, "", aws.sqs_endpoint)},
    {G(SEC_AWS, "s3_endpoint", CT_URL, "", aws.s3_endpoint)},
    {G(SEC_AWS, "dynamodb_endpoint", CT_URL, "", aws.dynamodb_endpoint)},
    {G(SEC_AWS, "secretsmanager_endpoint", CT_URL, "", aws.secretsmanager_endpoint)},
    {G(SEC_AWS, "sts_endpoint", CT_URL, "", aws.sts_endpoint)},
    {G(SEC_AWS, "s3_force_path_style", CT_BOOL, "false", aws.s3_force_path_style)},
    {G(SEC_AWS, "access_key_id", CT_STR, "", aws.access_key_id)},
    {G(SEC_AWS, "secret_access_key", CT_FN, "", aws.secret_access_key), .set = set_secret,
     .flags = CFG_SECRET},
    {G(SEC_AWS, "session_token", CT_FN, "", aws.session_token), .set = set_secret,
     .flags = CFG_SECRET},
    {G(SEC_AWS, "profile", CT_FN, NULL, aws.profile), .set = set_profile, .flags = CFG_LATE},
    {G(SEC_AWS, "ca_file", CT_STR, "", aws.ca_file)},
    {G(SEC_AWS, "max_attempts", CT_INT, "3", aws.max_attempts), .min = 1, .max = 10},
    {G(SEC_AWS, "connect_timeout", CT_INT, "10", aws.connect_timeout), .min = 1, .max = 300},

    {G(SEC_SQS, "queue_url", CT_URL, NULL, sqs.queue_url)},
    {G(SEC_SQS, "wait_time_seconds", CT_INT, "20", sqs.wait_time_seconds), .min = 0, .max = 20},
    {G(SEC_SQS, "max_messages", CT_INT, "10", sqs.max_messages), .min = 1, .max = 10},
    {G(SEC_SQS, "visibility_timeout", CT_INT, "60", sqs.visibility_timeout),
     .min = 0, .max = 43200},
    {G(SEC_SQS, "dlq_url", CT_URL, "", sqs.dlq_url)},

    {G(SEC_HTTP, "listen", CT_FN, "", http.listen), .set = set_listen},
    {G(SEC_HTTP, "token_file", CT_STR, "", http.token_file)},
    {G(SEC_HTTP, "auth", CT_ENUM, "token", http.auth), .choices = http_auth_names},
    {G(SEC_HTTP, "max_body", CT_SIZE, "64M", http.max_body), .min = 1024,
     .max = (int64_t)1 << 40},
    {G(SEC_HTTP, "max_connections", CT_INT, "256", http.max_connections), .min = 4, .max = 10000},
    {G(SEC_HTTP, "timeout", CT_INT, "30", http.timeout), .min = 1, .max = 3600},
    {G(SEC_HTTP, "tls_cert", CT_STR, "", http.tls_cert)},
    {G(SEC_HTTP, "tls_key", CT_STR, "", http.tls_key)},

    {S("type", CT_ENUM, NULL, type), .choices = cfg_sink_type_names, .sinks = SINKS_ALL},
    {S("conninfo", CT_STR, NULL, conninfo), .sinks = SINK_BIT(SINK_POSTGRES)},
    {S("schema", CT_STR, "public", schema), .flags = CFG_LATE, .sinks = SINK_BIT(SINK_POSTGRES)},
    {S("copy_format", CT_ENUM, "auto", copy_format), .choices = copy_format_names,
     .sinks = SINK_BIT(SINK_POSTGRES)},
    {S("upsert_unchanged", CT_ENUM, "update", upsert_unchanged), .choices = upsert_unchanged_names,
     .sinks = SINK_BIT(SINK_POSTGRES)},
    {S("host", CT_STR, "127.0.0.1", host), .flags = CFG_LATE, .sinks = SINK_BIT(SINK_MYSQL)},
    {S("port", CT_INT, "3306", port), .min = 1, .max = 65535, .flags = CFG_LATE,
     .sinks = SINK_BIT(SINK_MYSQL)},
    {S("user", CT_STR, NULL, user), .sinks = SINK_BIT(SINK_MYSQL)},
    {S("database", CT_STR, NULL, database), .sinks = SINK_BIT(SINK_MYSQL)},
    {S("ssl_mode", CT_CHOICE, NULL, ssl_mode), .choices = ssl_mode_names,
     .sinks = SINK_BIT(SINK_MYSQL)},
    {S("ssl_ca", CT_STR, NULL, ssl_ca), .sinks = SINK_BIT(SINK_MYSQL)},
    {S("password", CT_FN, NULL, password), .set = set_secret, .flags = CFG_SECRET,
     .sinks = SINKS_SQL},
    {S("password_file", CT_STR, NULL, password_file), .sinks = SINKS_SQL},
    {S("password_secret", CT_STR, NULL, password_secret), .sinks = SINKS_SQL},
    {S("lock_timeout", CT_INT, "60", lock_timeout), .min = 1, .max = 86400, .flags = CFG_LATE,
     .sinks = SINKS_SQL},
    {S("queue_url", CT_URL, NULL, queue_url), .sinks = SINK_BIT(SINK_SQS)},
    {S("ledger_table", CT_FN, "ingestd_ledger", ledger_table), .set = set_aws_name,
     .flags = CFG_LATE, .sinks = SINK_BIT(SINK_DYNAMODB) | SINK_BIT(SINK_SQS)},
    {S("max_spool_bytes", CT_SIZE, "1G", max_spool_bytes), .min = 1024, .max = (int64_t)1 << 40,
     .flags = CFG_LATE, .sinks = SINK_BIT(SINK_SQS)},

    {R("sink", CT_STR, NULL, sink_name)},
    {R("bucket", CT_FN, NULL, bucket), .set = set_aws_name},
    {R("match_prefix", CT_STR, NULL, match_prefix)},
    {R("match_suffix", CT_STR, NULL, match_suffix)},
    {R("match_regex", CT_FN, NULL, match_regex), .set = cfg_set_match_regex},
    {R("table", CT_FN, "{basename}", table), .set = cfg_set_table},
    {R("mode", CT_ENUM, "append", mode), .choices = mode_names},
    {R("create_table", CT_BOOL, "false", create_table)},
    {R("key", CT_LIST, NULL, key)},
    {R("format", CT_ENUM, "csv", format), .choices = format_names},
    {R("header", CT_BOOL, "true", header)},
    {R("columns", CT_LIST, NULL, columns)},
    {R("delimiter", CT_FN, NULL, delimiter), .set = cfg_set_char, .flags = CFG_LATE},
    {R("quote", CT_FN, "\"", quote), .set = cfg_set_char},
    {R("null", CT_FN, "\"\"", null), .set = cfg_set_null},
    {R("skip_lines", CT_INT, "0", skip_lines), .min = 0, .max = INT32_MAX},
    {R("compression", CT_ENUM, "auto", compression), .choices = compression_names},
    {R("on_error", CT_ENUM, "abort", on_error), .choices = on_error_names},
    {R("max_errors", CT_I64, "0", max_errors), .min = 0, .max = INT64_MAX},
    {R("types", CT_FN, NULL, types), .set = cfg_set_types},
    {R("null_as", CT_ENUM, "absent", null_as), .choices = null_as_names},
    {R("transform", CT_STR, NULL, transform.path)},
    {R("output_columns", CT_LIST, NULL, transform.output_columns)},
    {R("transform_memory", CT_SIZE, "64M", transform.memory), .min = 1 << 20,
     .max = (int64_t)64 << 30},
    {R("transform_timeout", CT_FN, "1s", transform.timeout_ms),
     .set = cfg_set_transform_timeout},
    {R("json_path", CT_STR, NULL, json_path)},
    {R("max_row_bytes", CT_SIZE, "64M", max_row_bytes), .min = 1024, .max = (int64_t)1 << 30},
    {R("zstd_window_max", CT_FN, "8M", zstd_window_max), .set = set_pow2_size, .min = 1024,
     .max = (int64_t)1 << 31},
    {R("http", CT_BOOL, "false", http)},
    {R("validate.COLUMN", CT_FN, NULL, rules), .flags = CFG_REPEAT | CFG_PREFIX},
    {R("update.COLUMN", CT_FN, NULL, updates), .flags = CFG_REPEAT | CFG_PREFIX},
};
/* clang-format on */
const size_t cfg_nkeys = ARRAY_SIZE(cfg_keys);

const struct cfg_key *cfg_key_find(enum cfg_sec sec, const char *name)
{
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        size_t plen;

        if (k->sec != sec)
            continue;
        if (!(k->flags & CFG_PREFIX)) {
            if (strcmp(k->name, name) == 0)
                return k;
            continue;
        }
        plen = (size_t)(strchr(k->name, '.') - k->name) + 1;
        if (strncmp(k->name, name, plen) == 0)
            return k;
    }
    return NULL;
}

size_t cfg_key_index(const struct cfg_key *k)
{
    return (size_t)(k - cfg_keys);
}

bool cfg_key_bad(const struct cfg_section *s, const char *name)
{
    const struct cfg_key *k = s ? cfg_key_find(s->sec, name) : NULL;

    return k ? s->key_bad[cfg_key_index(k)] : false;
}

int cfg_key_line(const struct cfg_section *s, const char *name)
{
    const struct cfg_key *k = s ? cfg_key_find(s->sec, name) : NULL;

    return k ? s->key_line[cfg_key_index(k)] : 0;
}

int cfg_apply_defaults(enum cfg_sec sec, void *base, struct buf *why)
{
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        struct cfg_value v = {k->def, false};

        if (k->sec != sec || !k->def || (k->flags & CFG_LATE))
            continue;
        if (cfg_key_set(base, k, &v, why) < 0)
            return -1;
    }
    return 0;
}

void config_each_key(void (*fn)(const char *section, const char *key, void *arg), void *arg)
{
    for (size_t i = 0; i < cfg_nkeys; i++)
        fn(cfg_sec_names[cfg_keys[i].sec], cfg_keys[i].name, arg);
}
