/*
 * config.h: the parsed, validated configuration, as an immutable snapshot.
 *
 * config_load() reads an INI file (inih), checks every section and key against
 * the key table in config.c and returns a snapshot with one reference, or NULL
 * with every error found ("FILE:LINE: [section] key: reason") appended to errors.
 * Snapshots are never modified after config_load() returns; any thread may hold a
 * reference (config_ref) and read it; the last config_unref() frees it. The loop
 * owns the "current" pointer; a job takes its own reference when it is started.
 * Secrets (passwords, secret keys, tokens) never appear in error messages.
 */
#ifndef INGESTD_CONFIG_H
#define INGESTD_CONFIG_H

#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strlist.h"

#define CONFIG_DEFAULT_PATH "/etc/ingestd.conf"

enum sink_type { SINK_POSTGRES, SINK_MYSQL, SINK_DYNAMODB, SINK_SQS };
enum load_mode { MODE_APPEND, MODE_UPSERT, MODE_REPLACE, MODE_UPDATE };
/* mode = update (DynamoDB): what `update.COLUMN` does with the column's value. */
enum update_action { UPDATE_SET, UPDATE_ADD, UPDATE_APPEND, UPDATE_SET_IF_ABSENT };
enum input_format { FORMAT_CSV, FORMAT_TSV, FORMAT_JSONL, FORMAT_JSON };
enum compression { COMPRESSION_AUTO, COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_ZSTD };
enum on_error { ON_ERROR_ABORT, ON_ERROR_SKIP_ROW };
enum null_as { NULL_AS_ABSENT, NULL_AS_NULL };           /* DynamoDB / SQS sinks */
enum attr_type { ATTR_S, ATTR_N, ATTR_BOOL, ATTR_JSON }; /* `types = col:N, ...` */

/* PostgreSQL sinks: COPY (FORMAT binary) when every value converts, else text. */
enum copy_format { COPY_FORMAT_AUTO, COPY_FORMAT_BINARY, COPY_FORMAT_TEXT };
/* postgres upsert: what becomes of a row the table already holds exactly as the file does */
enum upsert_unchanged { UPSERT_UNCHANGED_UPDATE, UPSERT_UNCHANGED_SKIP };

struct col_type {
    char *column;
    enum attr_type type;
};

enum rule_kind { RULE_REGEX, RULE_INT, RULE_LEN, RULE_NOTNULL };

/* validate.COLUMN = regex:ERE | int:MIN..MAX | len:MIN..MAX | notnull (key may repeat) */
struct rule {
    char *column;
    enum rule_kind kind;
    char *text;       /* the rule as written, for error messages */
    regex_t re;       /* RULE_REGEX, compiled REG_EXTENDED|REG_NOSUB */
    int64_t min, max; /* RULE_INT, RULE_LEN (bounds inclusive) */
    int line;         /* where it was written in the file */
};

struct col_update {
    char *column;
    enum update_action action;
    int line; /* where it was written in the file */
};

struct sink_conf {
    char *name; /* from [sink NAME] */
    int line;   /* line of the section header */
    enum sink_type type;
    char *conninfo; /* postgres */
    char *schema;   /* postgres: where unqualified names resolve, default "public" */
    char *host;     /* mysql */
    int port;       /* mysql, default 3306 */
    char *user;     /* mysql */
    char *database; /* mysql */
    char *ssl_mode; /* mysql: disabled | preferred | required | verify_ca | verify_identity */
    char *ssl_ca;   /* mysql: CA file */
    char *password; /* SQL sinks: one of password / password_file / password_secret */
    char *password_file;
    char *password_secret;
    int lock_timeout;   /* SQL sinks: seconds a statement waits for a lock, default 60 */
    char *queue_url;    /* sqs */
    char *ledger_table; /* dynamodb / sqs: ledger table name, default "ingestd_ledger" */
    /* sqs: bytes an object's messages may take in the spool file, default 1G */
    int64_t max_spool_bytes;

    enum copy_format copy_format;           /* postgres: auto (the default), binary or text */
    enum upsert_unchanged upsert_unchanged; /* postgres: update (the default) or skip */
};

/* transform = FILE and its keys (config_transform.c). */
struct transform_conf {
    char *path;   /* as written; NULL: the route has no transform */
    char *file;   /* resolved against the configuration file's directory */
    char *source; /* the script as read when the configuration was loaded */
    size_t source_len;
    struct strlist output_columns; /* empty: the input's columns */
    int64_t memory;                /* transform_memory, bytes */
    int64_t timeout_ms;            /* transform_timeout */
};

#define ROUTE_MAX_SINKS 8 /* sinks one route may fan out to */

struct route_conf {
    char *name; /* from [route NAME] */
    int line;
    char *sink_name;              /* as written: one name, or several for a fan-out ("a, b") */
    const struct sink_conf *sink; /* the first, resolved, points into the same snapshot */
    /* Every sink of the route, in the order written (sinks[0] == sink); a fan-out writes
     * the same rows to each, and each records the object in its own ledger. */
    const struct sink_conf *sinks[ROUTE_MAX_SINKS];
    size_t nsinks;
    char *bucket; /* NULL: any */
    char *match_prefix;
    char *match_suffix;
    char *match_regex;
    regex_t regex; /* valid when match_regex != NULL */
    char *table;   /* template: {basename} {dirname} {bucket} {key} */
    enum load_mode mode;
    bool create_table;
    struct strlist key; /* upsert key columns */
    enum input_format format;
    bool header;
    struct strlist columns; /* explicit column list (no header) */
    char delimiter;         /* ',' (csv) or '\t' (tsv) by default */
    char quote;             /* '"' */
    struct strlist null;    /* strings read as NULL; default: the empty string */
    int skip_lines;
    enum compression compression;
    enum on_error on_error;
    int64_t max_errors;
    struct col_type *types;
    size_t ntypes;
    struct rule *rules;
    size_t nrules;
    struct col_update *updates; /* mode = update: update.COLUMN (default set) */
    size_t nupdates;
    struct transform_conf transform;
    enum null_as null_as;
    char *json_path; /* format = json: member names to the records array, '.'-joined */
    bool http;       /* POST/PUT /v1/ingest/NAME on the [http] listener */
    /* bytes of one record (CSV: its fields, JSON: its text), default 64M */
    int64_t max_row_bytes;
    /* largest zstd window accepted, a power of two, default 8M */
    int64_t zstd_window_max;
};

struct config {
    atomic_int refs;
    uint64_t generation; /* increases by one per successful load in this process */
    char *path;

    struct {
        int workers;          /* 1..256, default 4 */
        int log_level;        /* syslog priority, default LOG_INFO */
        int log_format;       /* enum log_format: text (default) | json */
        char *metrics_listen; /* NULL: no listener; else "HOST:PORT" */
        int shutdown_timeout; /* seconds, default 30 */
    } ingestd;

    struct {
        char *region; /* default: $AWS_REGION, $AWS_DEFAULT_REGION, "us-east-1" */
        char *endpoint_url;
        char *sqs_endpoint;
        char *s3_endpoint;
        char *dynamodb_endpoint;
        char *secretsmanager_endpoint;
        char *sts_endpoint;
        bool s3_force_path_style;
        char *access_key_id;
        char *secret_access_key;
        char *session_token;
        char *profile;       /* shared-files profile, default $AWS_PROFILE or "default" */
        char *ca_file;       /* TLS trust store override */
        int max_attempts;    /* AWS standard retry mode attempts, default 3 */
        int connect_timeout; /* seconds, default 10 */
    } aws;

    struct {
        char *queue_url;        /* required */
        int wait_time_seconds;  /* 0..20, default 20 */
        int max_messages;       /* 1..10, default 10 */
        int visibility_timeout; /* 0..43200, default 60 */
        char *dlq_url;
    } sqs;

    struct {
        char *listen;        /* NULL: no ingest listener; else "HOST:PORT" */
        char *token_file;    /* bearer tokens, one per line */
        int auth;            /* enum http_auth */
        int64_t max_body;    /* bytes of one request body, default 64M */
        int max_connections; /* open connections, default 256 */
        int timeout;         /* seconds a connection may stay silent, default 30 */
        char *tls_cert;      /* PEM files: HTTPS when both are set */
        char *tls_key;
    } http;

    struct sink_conf *sinks;
    size_t nsinks;
    struct route_conf *routes; /* in file order: first match wins */
    size_t nroutes;
};

enum http_auth { HTTP_AUTH_TOKEN, HTTP_AUTH_NONE };

/* True when addr ("HOST:PORT") can only be reached from this machine. */
bool config_listen_is_loopback(const char *addr);

struct config *config_load(const char *path, struct strlist *errors);
/* The same from memory (tests, stdin); name stands for the file in errors. */
struct config *config_load_buffer(const char *name, const char *text, size_t len,
                                  struct strlist *errors);
struct config *config_ref(struct config *c);
void config_unref(struct config *c); /* NULL-safe */

const struct sink_conf *config_find_sink(const struct config *c, const char *name);
const struct route_conf *config_find_route(const struct config *c, const char *name);

/*
 * A sink type's own rules for a key's value, which the configuration does not know (a
 * PostgreSQL conninfo that parses, a schema or database that is not a catalog): 0, or -1
 * with the reason in why. config_load() calls the checker for every key set in a [sink]
 * section that applies to its type, once the section is complete, and reports a failure
 * as "FILE:LINE: [sink NAME] key: reason". main installs the sink registry's
 * (sink_check_conf, sink.h) before the first load; without one there are no such checks.
 */
struct buf;
typedef int (*config_sink_check_fn)(const struct sink_conf *sc, const char *key, struct buf *why);
void config_set_sink_checker(config_sink_check_fn fn);
/* A value quoted for an error message: "s", truncated when long (for such checkers). */
void cfg_quote_value(struct buf *b, const char *s);

/*
 * The check of a route's transform script, run when a configuration loads (at start, on
 * SIGHUP, for --check-config): compiles t->source and runs its top level once. 0, or -1
 * with "path:LINE: message" in err. main installs transform_check_conf (transform.h) in
 * builds with Lua; without one the script is read but not compiled.
 */
typedef int (*config_transform_check_fn)(const struct transform_conf *t, char *err, size_t errsz);
void config_set_transform_checker(config_transform_check_fn fn);

/* The key table, for tests that compare it with etc/ingestd.conf and the man page:
 * calls fn once per key as "section.key" (sink and route keys as "sink.KEY", "route.KEY"). */
void config_each_key(void (*fn)(const char *section, const char *key, void *arg), void *arg);

#endif
