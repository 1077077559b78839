/*
 * test_config.c: config_load() on the shipped example, the fixtures in data/config/
 * and small inline files: defaults, every kind of bad value (exact line and key),
 * quoting, long lines, cross-key rules, secrets kept out of errors, refcounting.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "base/config.h"
#include "base/log.h"
#include "../tap.h"
#include "base/util.h"
#include "sinks/sink.h"

static char *path_of(const char *rel)
{
    const char *srcdir = getenv("INGESTD_SRCDIR");
    static const char *const guesses[] = {".", "..", "../.."};
    char *p;

    if (srcdir)
        return xasprintf("%s/%s", srcdir, rel);
    for (size_t i = 0; i < ARRAY_SIZE(guesses); i++) {
        p = xasprintf("%s/%s", guesses[i], rel);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    /* out-of-tree builds compile this file by its path in the source tree */
    if (strrchr(__FILE__, '/')) {
        p = xasprintf("%.*s/../../%s", (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__, rel);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    return xstrdup(rel);
}

/* The sink types' own checks (conninfo, catalogs), as main installs them in the daemon. */
static void install_sink_checks(void)
{
    config_set_sink_checker(sink_check_conf);
}

static struct config *load_file(const char *rel, char **path, struct strlist *e)
{
    install_sink_checks();
    *path = path_of(rel);
    return config_load(*path, e);
}

static struct config *load(const char *text, struct strlist *e)
{
    install_sink_checks();
    return config_load_buffer("t.conf", text, strlen(text), e);
}

#define SQS "[sqs]\nqueue_url = http://127.0.0.1:4566/000000000000/q\n"
#define PG  "[sink p]\ntype = postgres\nconninfo = dbname=x\n"

static void dump(const struct strlist *e)
{
    for (size_t i = 0; i < e->n; i++)
        printf("#   %s\n", e->v[i]);
}

/* The error "PREFIX:REST" must be in e (prefix: the file name). */
#define EXPECT_ERR(e, prefix, rest)                                                                \
    do {                                                                                           \
        char *want_ = xasprintf("%s:%s", (prefix), (rest));                                        \
        if (!strlist_contains((e), want_)) {                                                       \
            TAP_FAIL("missing error: %s", want_);                                                  \
            dump(e);                                                                               \
        }                                                                                          \
        free(want_);                                                                               \
    } while (0)

/* text must fail to load with exactly one error, "t.conf:REST". */
#define EXPECT_ONLY_ERR(text, rest)                                                                \
    do {                                                                                           \
        struct strlist errs_ = {0};                                                                \
        struct config *cfg_ = load((text), &errs_);                                                \
        EXPECT_TRUE(cfg_ == NULL);                                                                 \
        EXPECT_EQ_INT(1, errs_.n);                                                                 \
        EXPECT_ERR(&errs_, "t.conf", (rest));                                                      \
        config_unref(cfg_);                                                                        \
        strlist_free(&errs_);                                                                      \
    } while (0)

static bool any_error_contains(const struct strlist *e, const char *needle)
{
    for (size_t i = 0; i < e->n; i++) {
        if (strstr(e->v[i], needle))
            return true;
    }
    return false;
}

DEF_TEST(example_config_loads)
{
    struct strlist e = {0};
    char *path;
    struct config *c = load_file("etc/ingestd.conf", &path, &e);
    const struct route_conf *orders, *products;

    EXPECT_TRUE(c != NULL);
    dump(&e);
    EXPECT_EQ_INT(0, e.n);
    if (c) {
        EXPECT_EQ_INT(2, c->nsinks);
        EXPECT_EQ_INT(2, c->nroutes);
        EXPECT_EQ_STR("https://sqs.us-east-1.amazonaws.com/123456789012/ingest-events",
                      c->sqs.queue_url);
        orders = config_find_route(c, "orders");
        products = config_find_route(c, "products");
        EXPECT_TRUE(orders && products);
        if (orders && products) {
            EXPECT_EQ_STR("warehouse", orders->sink->name);
            EXPECT_EQ_INT(SINK_POSTGRES, orders->sink->type);
            EXPECT_EQ_INT(2, orders->nrules);
            EXPECT_EQ_INT(SINK_DYNAMODB, products->sink->type);
            EXPECT_EQ_STR("ingestd_ledger", products->sink->ledger_table);
            EXPECT_EQ_INT(4, products->ntypes);
            EXPECT_EQ_INT(MODE_UPSERT, products->mode);
        }
    }
    config_unref(c);
    strlist_free(&e);
    free(path);
}

DEF_TEST(global_defaults)
{
    struct strlist e = {0};
    char *path;
    struct config *c;

    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_PROFILE");
    c = load_file("data/config/minimal.conf", &path, &e);
    EXPECT_TRUE(c != NULL);
    EXPECT_EQ_INT(0, e.n);
    if (c) {
        EXPECT_EQ_INT(1, c->refs);
        EXPECT_EQ_INT(4, c->ingestd.workers);
        EXPECT_EQ_INT(LOG_INFO, c->ingestd.log_level);
        EXPECT_EQ_STR(NULL, c->ingestd.metrics_listen);
        EXPECT_EQ_INT(30, c->ingestd.shutdown_timeout);
        EXPECT_EQ_STR("us-east-1", c->aws.region);
        EXPECT_EQ_STR(NULL, c->aws.endpoint_url);
        EXPECT_EQ_STR(NULL, c->aws.sqs_endpoint);
        EXPECT_EQ_STR(NULL, c->aws.s3_endpoint);
        EXPECT_EQ_STR(NULL, c->aws.dynamodb_endpoint);
        EXPECT_EQ_STR(NULL, c->aws.secretsmanager_endpoint);
        EXPECT_EQ_STR(NULL, c->aws.sts_endpoint);
        EXPECT_EQ_INT(false, c->aws.s3_force_path_style);
        EXPECT_EQ_STR(NULL, c->aws.access_key_id);
        EXPECT_EQ_STR(NULL, c->aws.secret_access_key);
        EXPECT_EQ_STR(NULL, c->aws.session_token);
        EXPECT_EQ_STR("default", c->aws.profile);
        EXPECT_EQ_STR(NULL, c->aws.ca_file);
        EXPECT_EQ_INT(3, c->aws.max_attempts);
        EXPECT_EQ_INT(10, c->aws.connect_timeout);
        EXPECT_EQ_INT(20, c->sqs.wait_time_seconds);
        EXPECT_EQ_INT(10, c->sqs.max_messages);
        EXPECT_EQ_INT(60, c->sqs.visibility_timeout);
        EXPECT_EQ_STR(NULL, c->sqs.dlq_url);
        EXPECT_EQ_INT(0, c->nsinks);
        EXPECT_EQ_INT(0, c->nroutes);
        EXPECT_EQ_STR(path, c->path);
    }
    config_unref(c);
    strlist_free(&e);
    free(path);
}

DEF_TEST(region_and_profile_from_environment)
{
    struct strlist e = {0};
    struct config *c;

    setenv("AWS_DEFAULT_REGION", "eu-north-1", 1);
    setenv("AWS_PROFILE", "ops", 1);
    c = load(SQS, &e);
    EXPECT_TRUE(c && strcmp(c->aws.region, "eu-north-1") == 0);
    EXPECT_TRUE(c && strcmp(c->aws.profile, "ops") == 0);
    config_unref(c);
    setenv("AWS_REGION", "ap-south-2", 1);
    c = load(SQS, &e);
    EXPECT_TRUE(c && strcmp(c->aws.region, "ap-south-2") == 0);
    config_unref(c);
    c = load("[aws]\nregion = sa-east-1\n" SQS, &e);
    EXPECT_TRUE(c && strcmp(c->aws.region, "sa-east-1") == 0);
    config_unref(c);
    c = load("[aws]\nregion =\n" SQS, &e); /* empty: the default again */
    EXPECT_TRUE(c && strcmp(c->aws.region, "ap-south-2") == 0);
    config_unref(c);
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_PROFILE");
    EXPECT_EQ_INT(0, e.n);
    strlist_free(&e);
}

DEF_TEST(route_and_sink_defaults)
{
    struct strlist e = {0};
    struct config *c = load(SQS "[sink p]\ntype = postgres\nconninfo = dbname=x\n"
                                "[sink m]\ntype = mysql\ndatabase = d\n"
                                "[sink d]\ntype = dynamodb\n"
                                "[route r]\nsink = p\n"
                                "[route t]\nsink = d\nformat = tsv\n",
                            &e);
    const struct route_conf *r, *t;
    const struct sink_conf *p, *m, *d;

    EXPECT_TRUE(c != NULL);
    dump(&e);
    if (!c)
        return;
    r = config_find_route(c, "r");
    t = config_find_route(c, "t");
    p = config_find_sink(c, "p");
    m = config_find_sink(c, "m");
    d = config_find_sink(c, "d");
    EXPECT_TRUE(r && t && p && m && d && !config_find_sink(c, "r") && !config_find_route(c, "p"));
    EXPECT_TRUE(r->sink == p);
    EXPECT_EQ_STR(NULL, r->bucket);
    EXPECT_EQ_STR(NULL, r->match_prefix);
    EXPECT_EQ_STR(NULL, r->match_suffix);
    EXPECT_EQ_STR(NULL, r->match_regex);
    EXPECT_EQ_STR("{basename}", r->table);
    EXPECT_EQ_INT(MODE_APPEND, r->mode);
    EXPECT_EQ_INT(false, r->create_table);
    EXPECT_EQ_INT(0, r->key.n);
    EXPECT_EQ_INT(FORMAT_CSV, r->format);
    EXPECT_EQ_INT(true, r->header);
    EXPECT_EQ_INT(0, r->columns.n);
    EXPECT_EQ_INT(',', r->delimiter);
    EXPECT_EQ_INT('"', r->quote);
    EXPECT_EQ_INT(1, r->null.n);
    EXPECT_EQ_STR("", r->null.n ? r->null.v[0] : NULL);
    EXPECT_EQ_INT(0, r->skip_lines);
    EXPECT_EQ_INT(COMPRESSION_AUTO, r->compression);
    EXPECT_EQ_INT(ON_ERROR_ABORT, r->on_error);
    EXPECT_EQ_INT(0, r->max_errors);
    EXPECT_EQ_INT(0, r->ntypes);
    EXPECT_EQ_INT(0, r->nrules);
    EXPECT_EQ_INT(NULL_AS_ABSENT, r->null_as);
    EXPECT_EQ_INT('\t', t->delimiter);
    EXPECT_EQ_STR(NULL, p->host);
    EXPECT_EQ_INT(0, p->port);
    EXPECT_EQ_STR(NULL, p->ledger_table);
    EXPECT_EQ_STR("127.0.0.1", m->host);
    EXPECT_EQ_INT(3306, m->port);
    EXPECT_EQ_STR(NULL, m->ssl_mode);
    EXPECT_EQ_STR(NULL, m->ledger_table);
    EXPECT_EQ_STR("ingestd_ledger", d->ledger_table);
    EXPECT_EQ_INT(6, m->line);
    config_unref(c);
    strlist_free(&e);
}

DEF_TEST(every_key_set)
{
    struct strlist e = {0};
    char *path;
    struct config *c = load_file("data/config/full.conf", &path, &e);
    const struct route_conf *r;
    const struct sink_conf *s;

    EXPECT_TRUE(c != NULL);
    dump(&e);
    if (!c)
        goto out;
    EXPECT_EQ_INT(16, c->ingestd.workers);
    EXPECT_EQ_INT(LOG_DEBUG, c->ingestd.log_level);
    EXPECT_EQ_STR("127.0.0.1:9464", c->ingestd.metrics_listen);
    EXPECT_EQ_INT(120, c->ingestd.shutdown_timeout);
    EXPECT_EQ_STR("eu-west-3", c->aws.region);
    EXPECT_EQ_STR("http://127.0.0.1:4566", c->aws.endpoint_url);
    EXPECT_EQ_STR("http://127.0.0.1:4567", c->aws.sqs_endpoint);
    EXPECT_EQ_STR("https://s3.local:4568/", c->aws.s3_endpoint);
    EXPECT_EQ_STR("http://127.0.0.1:4569", c->aws.dynamodb_endpoint);
    EXPECT_EQ_STR("http://127.0.0.1:4570", c->aws.secretsmanager_endpoint);
    EXPECT_EQ_STR("http://127.0.0.1:4571", c->aws.sts_endpoint);
    EXPECT_EQ_INT(true, c->aws.s3_force_path_style);
    EXPECT_EQ_STR("AKIDEXAMPLE", c->aws.access_key_id);
    EXPECT_EQ_STR("wJalrXUtnFEMI/K7MDENG;with/a+semicolon", c->aws.secret_access_key);
    EXPECT_EQ_STR("token/+=", c->aws.session_token);
    EXPECT_EQ_STR("staging", c->aws.profile);
    EXPECT_EQ_STR("/etc/ssl/local-ca.pem", c->aws.ca_file);
    EXPECT_EQ_INT(7, c->aws.max_attempts);
    EXPECT_EQ_INT(3, c->aws.connect_timeout);
    EXPECT_EQ_INT(0, c->sqs.wait_time_seconds);
    EXPECT_EQ_INT(1, c->sqs.max_messages);
    EXPECT_EQ_INT(43200, c->sqs.visibility_timeout);
    EXPECT_EQ_STR("http://127.0.0.1:4566/000000000000/events-dlq", c->sqs.dlq_url);

    s = config_find_sink(c, "pg");
    EXPECT_TRUE(s && s->type == SINK_POSTGRES);
    EXPECT_EQ_STR("host=/run/postgresql dbname=app", s ? s->conninfo : NULL);
    EXPECT_EQ_STR("arn:aws:secretsmanager:eu-west-3:000000000000:secret:pg",
                  s ? s->password_secret : NULL);
    s = config_find_sink(c, "my");
    EXPECT_TRUE(s && s->type == SINK_MYSQL);
    if (s) {
        EXPECT_EQ_STR("db.local", s->host);
        EXPECT_EQ_INT(3307, s->port);
        EXPECT_EQ_STR("loader", s->user);
        EXPECT_EQ_STR("shop", s->database);
        EXPECT_EQ_STR("verify_identity", s->ssl_mode);
        EXPECT_EQ_STR("/etc/ssl/db-ca.pem", s->ssl_ca);
        EXPECT_EQ_STR("/run/credentials/ingestd.service/my", s->password_file);
        EXPECT_EQ_STR(NULL, s->password);
    }
    s = config_find_sink(c, "rows");
    EXPECT_TRUE(s && s->type == SINK_SQS);
    EXPECT_EQ_STR("http://127.0.0.1:4566/000000000000/rows", s ? s->queue_url : NULL);
    EXPECT_EQ_STR("rows.ledger-1", s ? s->ledger_table : NULL);

    r = config_find_route(c, "everything");
    EXPECT_TRUE(r != NULL);
    if (!r)
        goto out;
    EXPECT_EQ_STR("my", r->sink->name);
    EXPECT_EQ_STR("incoming-bucket", r->bucket);
    EXPECT_EQ_STR("exports/", r->match_prefix);
    EXPECT_EQ_STR(".tsv.zst", r->match_suffix);
    EXPECT_EQ_STR("^exports/[0-9]{4}/", r->match_regex);
    EXPECT_EQ_INT(0, regexec(&r->regex, "exports/2024/a.tsv", 0, NULL, 0));
    EXPECT_EQ_INT(REG_NOMATCH, regexec(&r->regex, "exports/24/a.tsv", 0, NULL, 0));
    EXPECT_EQ_STR("staging.{dirname}_{basename}", r->table);
    EXPECT_EQ_INT(MODE_UPSERT, r->mode);
    EXPECT_EQ_INT(true, r->create_table);
    EXPECT_EQ_INT(2, r->key.n);
    EXPECT_EQ_STR("day", r->key.n == 2 ? r->key.v[1] : NULL);
    EXPECT_EQ_INT(FORMAT_TSV, r->format);
    EXPECT_EQ_INT(false, r->header);
    EXPECT_EQ_INT(4, r->columns.n);
    EXPECT_EQ_STR("amount", r->columns.n == 4 ? r->columns.v[3] : NULL);
    EXPECT_EQ_INT('\t', r->delimiter);
    EXPECT_EQ_INT('\'', r->quote);
    EXPECT_EQ_INT(3, r->null.n);
    if (r->null.n == 3) {
        EXPECT_EQ_STR("NA", r->null.v[0]);
        EXPECT_EQ_STR("", r->null.v[1]);
        EXPECT_EQ_STR("\\N", r->null.v[2]);
    }
    EXPECT_EQ_INT(2, r->skip_lines);
    EXPECT_EQ_INT(COMPRESSION_ZSTD, r->compression);
    EXPECT_EQ_INT(ON_ERROR_SKIP_ROW, r->on_error);
    EXPECT_EQ_INT(1000, r->max_errors);
    EXPECT_EQ_INT(2, r->ntypes);
    if (r->ntypes == 2) {
        EXPECT_EQ_STR("amount", r->types[1].column);
        EXPECT_EQ_INT(ATTR_N, r->types[1].type);
    }
    EXPECT_EQ_INT(NULL_AS_NULL, r->null_as);
    EXPECT_EQ_INT(4, r->nrules);
    if (r->nrules == 4) {
        EXPECT_EQ_INT(RULE_REGEX, r->rules[0].kind);
        EXPECT_EQ_STR("email", r->rules[0].column);
        EXPECT_EQ_INT(0, regexec(&r->rules[0].re, "a@b", 0, NULL, 0));
        EXPECT_EQ_INT(REG_NOMATCH, regexec(&r->rules[0].re, "ab", 0, NULL, 0));
        EXPECT_EQ_INT(RULE_LEN, r->rules[1].kind);
        EXPECT_EQ_INT(3, r->rules[1].min);
        EXPECT_EQ_INT(254, r->rules[1].max);
        EXPECT_EQ_INT(RULE_INT, r->rules[2].kind);
        EXPECT_EQ_INT(-100, r->rules[2].min);
        EXPECT_EQ_STR("int:-100..100", r->rules[2].text);
        EXPECT_EQ_INT(RULE_NOTNULL, r->rules[3].kind);
        EXPECT_EQ_INT(79, r->rules[3].line);
    }
    r = config_find_route(c, "second");
    EXPECT_TRUE(r && r->sink && r->sink->type == SINK_DYNAMODB && r->format == FORMAT_JSONL);
out:
    config_unref(c);
    strlist_free(&e);
    free(path);
}

DEF_TEST(every_bad_value_reported_at_its_line)
{
    static const char *const want[] = {
        "3: [ingestd] workers: \"0\" is not an integer from 1 to 256",
        "4: [ingestd] log_level: \"verbose\" is not one of debug | info | notice | warning | err",
        "5: [ingestd] metrics_listen: \"127.0.0.1:0\" is not HOST:PORT with a port from 1 to 65535",
        "6: [ingestd] shutdown_timeout: \"3601\" is not an integer from 0 to 3600",
        "9: [aws] region: \"us east 1\" is not a region name such as us-east-1",
        "10: [aws] endpoint_url: \"localhost:4566\" is not an http:// or https:// URL",
        "11: [aws] s3_force_path_style: \"maybe\" is not a boolean (true or false)",
        "12: [aws] max_attempts: \"11\" is not an integer from 1 to 10",
        "13: [aws] connect_timeout: \"0\" is not an integer from 1 to 300",
        "14: [aws] sts_endpoint: \"https://\" is not an http:// or https:// URL",
        "17: [sqs] queue_url: \"sqs://queue\" is not an http:// or https:// URL",
        "18: [sqs] wait_time_seconds: \"21\" is not an integer from 0 to 20",
        "19: [sqs] max_messages: \"0\" is not an integer from 1 to 10",
        "20: [sqs] visibility_timeout: \"-1\" is not an integer from 0 to 43200",
        "21: [sqs] dlq_url: \"http://has space\" is not an http:// or https:// URL",
        "26: [sink m] port: \"65536\" is not an integer from 1 to 65535",
        "27: [sink m] ssl_mode: \"sometimes\" is not one of disabled | preferred | required | "
        "verify_ca | verify_identity",
        "28: [sink m] ledger_table: \"x\" is not a DynamoDB table name",
        "28: [sink m] ledger_table: not valid for a sink of type mysql",
        "31: [sink d] type: \"cassandra\" is not one of postgres | mysql | dynamodb | sqs",
        "35: [route r] table: unknown placeholder {nope} (use {basename} {dirname} {bucket} {key})",
        "36: [route r] mode: \"merge\" is not one of append | upsert | replace | update",
        "37: [route r] create_table: \"perhaps\" is not a boolean (true or false)",
        "38: [route r] key: column \"bad-name\" is not a name of letters, digits and _ (at most "
        "63)",
        "39: [route r] format: \"xml\" is not one of csv | tsv | jsonl | json",
        "40: [route r] header: \"2\" is not a boolean (true or false)",
        "41: [route r] columns: column \"\" is not a name of letters, digits and _ (at most 63)",
        "42: [route r] delimiter: \"ab\" is not one character or tab",
        "43: [route r] quote: \"\" is not one character",
        "44: [route r] skip_lines: \"-1\" is not an integer >= 0",
        "45: [route r] compression: \"lz4\" is not one of auto | none | gzip | zstd",
        "46: [route r] on_error: \"ignore\" is not one of abort | skip_row",
        "47: [route r] max_errors: \"many\" is not an integer >= 0",
        "48: [route r] types: expected COLUMN:TYPE, got \"id\"",
        "49: [route r] null_as: \"null\" is not one of absent | NULL",
        "50: [route r] validate.id: \"between:1..2\" is not regex:ERE, int:MIN..MAX, len:MIN..MAX "
        "or notnull",
        "51: [route r] validate.id: \"len:-1..5\": expected MIN..MAX with integers MIN <= MAX",
        "52: [route r] bucket: \"ab\" is not a bucket name",
        "53: [route r] match_regex: bad regular expression \"[z-a]\": Invalid range end",
    };
    struct strlist e = {0};
    char *path;
    struct config *c = load_file("data/config/bad-values.conf", &path, &e);

    EXPECT_TRUE(c == NULL);
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        EXPECT_ERR(&e, path, want[i]);
    EXPECT_EQ_INT(ARRAY_SIZE(want), e.n);
    config_unref(c);
    strlist_free(&e);
    free(path);
}

DEF_TEST(quoting_comments_and_indentation)
{
    struct strlist e = {0};
    char *path;
    struct config *c = load_file("data/config/quoting.conf", &path, &e);
    const struct route_conf *r;

    EXPECT_TRUE(c != NULL);
    dump(&e);
    if (!c)
        goto out;
    EXPECT_EQ_STR("http://127.0.0.1:4566/000000000000/events", c->sqs.queue_url);
    EXPECT_EQ_STR("  host=127.0.0.1 options='-c search_path=a;b' application_name=#not-a-comment  ",
                  c->sinks[0].conninfo);
    r = config_find_route(c, "semicolon");
    EXPECT_EQ_INT(';', r->delimiter);
    EXPECT_EQ_INT('"', r->quote);
    EXPECT_EQ_INT(1, r->null.n);
    EXPECT_EQ_STR(" ", r->null.v[0]);
    EXPECT_EQ_STR("#hash/", r->match_prefix);
    EXPECT_EQ_STR(".csv;x", r->match_suffix);
    r = config_find_route(c, "tab");
    EXPECT_EQ_INT('\t', r->delimiter);
    EXPECT_EQ_STR("", r->null.v[0]);
    EXPECT_EQ_STR(";semi", r->match_prefix);
    EXPECT_TRUE(r->match_regex && strlen(r->match_regex) > 200);
    EXPECT_EQ_INT(0, regexec(&r->regex, "logs/nun/2024-01-02/part-7.csv", 0, NULL, 0));
    r = config_find_route(c, "empty");
    EXPECT_EQ_STR(NULL, r->match_prefix);
    EXPECT_EQ_INT(1, r->null.n);
    EXPECT_EQ_STR("\"a\"b", r->match_suffix);
    EXPECT_EQ_INT('|', r->delimiter);
out:
    config_unref(c);
    strlist_free(&e);
    free(path);
}

DEF_TEST(quoting_inline)
{
    struct strlist e = {0};
    struct config *c;

    c = load(SQS "[sink p]\ntype=postgres\nconninfo=x\n[route a]\nsink=p\ndelimiter=;\n"
                 "quote = \"'\"  ; single quote\n[route b]\nsink = p\ndelimiter = \" \"\n"
                 "match_prefix = \"\" ; empty\nmatch_suffix = \"a b\"c\n",
             &e);
    EXPECT_TRUE(c != NULL);
    dump(&e);
    if (c) {
        EXPECT_EQ_INT(';', c->routes[0].delimiter);
        EXPECT_EQ_INT('\'', c->routes[0].quote);
        EXPECT_EQ_INT(' ', c->routes[1].delimiter);
        EXPECT_EQ_STR(NULL, c->routes[1].match_prefix);
        EXPECT_EQ_STR("\"a b\"c", c->routes[1].match_suffix);
    }
    config_unref(c);
    EXPECT_EQ_INT(0, e.n);
    strlist_free(&e);
}

/* `key = ; note`: a comment right after `=` empties the value. Where empty means "not set" that
 * is how the example file writes optional keys; where it means nothing, it is refused. */
DEF_TEST(values_emptied_by_a_comment)
{
    struct strlist e = {0};
    struct config *c;

    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\ndelimiter = ;\n",
                    "8: [route r] delimiter: empty value: ';' after whitespace starts a comment; "
                    "to use ';', quote it: delimiter = \";\"");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nquote = ; none\n",
                    "8: [route r] quote: empty value: ';' after whitespace starts a comment; "
                    "to use ';', quote it: quote = \";\"");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nmax_errors = ; 10\n",
                    "8: [route r] max_errors: empty value: ';' after whitespace starts a "
                    "comment; write the value before it, or quote a value that begins with ';' "
                    "(max_errors = \";...\")");
    EXPECT_ONLY_ERR(SQS "[ingestd]\nworkers =\t; 4\nlog_level = debug\n",
                    "4: [ingestd] workers: empty value: ';' after whitespace starts a comment; "
                    "write the value before it, or quote a value that begins with ';' "
                    "(workers = \";...\")");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nheader = ; false\n",
                    "8: [route r] header: empty value: ';' after whitespace starts a comment; "
                    "write the value before it, or quote a value that begins with ';' "
                    "(header = \";...\")");
    /* a secret is refused too, and the error does not show what followed the `;` */
    c = load(SQS "[sink m]\ntype = mysql\ndatabase = d\npassword = ;hunter2\n", &e);
    EXPECT_TRUE(c == NULL);
    EXPECT_EQ_INT(1, e.n);
    EXPECT_TRUE(!any_error_contains(&e, "hunter2"));
    EXPECT_TRUE(any_error_contains(&e, "6: [sink m] password: empty value"));
    config_unref(c);
    strlist_free(&e);
    /* quoted, or with no whitespace before it, `;` is the value */
    c = load(SQS PG "[route a]\nsink = p\ndelimiter = \";\" ; semicolon\n[route b]\nsink = p\n"
                    "delimiter=;\nmatch_prefix = ; none\nbucket = ; any\nnull = ; default\n"
                    "columns = ;\nheader = true\ntable = ; the default\n",
             &e);
    dump(&e);
    EXPECT_TRUE(c != NULL);
    if (c) {
        EXPECT_EQ_INT(';', c->routes[0].delimiter);
        EXPECT_EQ_INT(';', c->routes[1].delimiter);
        EXPECT_EQ_STR(NULL, c->routes[1].match_prefix);
        EXPECT_EQ_STR(NULL, c->routes[1].bucket);
        EXPECT_EQ_INT(1, c->routes[1].null.n);
        EXPECT_EQ_INT(0, c->routes[1].columns.n);
    }
    config_unref(c);
    EXPECT_EQ_INT(0, e.n);
    strlist_free(&e);
}

/* on_error = skip_row with max_errors = 0 would reject at the first bad row: refused. */
DEF_TEST(skip_row_needs_max_errors)
{
    struct strlist e = {0};
    struct config *c;

    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\non_error = skip_row\n",
                    "8: [route r] max_errors: on_error = skip_row needs max_errors >= 1, the bad "
                    "rows an object may have before it is rejected whole (with 0 the first bad "
                    "row rejects it)");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nmax_errors = 0\non_error = skip_row\n",
                    "8: [route r] max_errors: on_error = skip_row needs max_errors >= 1, the bad "
                    "rows an object may have before it is rejected whole (with 0 the first bad "
                    "row rejects it)");
    c = load(SQS PG "[route r]\nsink = p\non_error = skip_row\nmax_errors = 1\n", &e);
    EXPECT_TRUE(c != NULL && c->routes[0].max_errors == 1);
    config_unref(c);
    c = load(SQS PG "[route r]\nsink = p\non_error = abort\n", &e);
    EXPECT_TRUE(c != NULL && c->routes[0].max_errors == 0);
    config_unref(c);
    EXPECT_EQ_INT(0, e.n);
    strlist_free(&e);
}

DEF_TEST(long_lines_are_read_whole)
{
    struct strlist e = {0};
    struct buf text, value;
    struct config *c;

    buf_init(&text);
    buf_init(&value);
    buf_puts(&value, "options='");
    for (int i = 0; i < 500; i++)
        buf_printf(&value, "k%d=v ", i);
    buf_puts(&value, "x'");
    buf_printf(&text,
               SQS "[sink p]\ntype = postgres\nconninfo = \"%s\"   ; long\n"
                   "[route r]\nsink = p\nmatch_prefix = %s\nwhat = 1\n",
               value.data, value.data);
    c = load(text.data, &e);
    EXPECT_TRUE(c == NULL);
    EXPECT_EQ_INT(1, e.n);
    EXPECT_ERR(&e, "t.conf", "9: [route r] what: unknown key");
    strlist_free(&e);
    buf_reset(&text);
    buf_printf(&text,
               SQS "[sink p]\ntype = postgres\nconninfo = \"%s\"   ; long\n"
                   "[route r]\nsink = p\nmatch_prefix = %s\n",
               value.data, value.data);
    c = load(text.data, &e);
    EXPECT_TRUE(c != NULL);
    EXPECT_TRUE(value.len > 3000);
    if (c) {
        EXPECT_EQ_STR(value.data, c->sinks[0].conninfo);
        EXPECT_EQ_STR(value.data, c->routes[0].match_prefix);
    }
    config_unref(c);
    strlist_free(&e);
    buf_free(&text);
    buf_free(&value);
}

DEF_TEST(long_section_names)
{
    static const char name1[] = "a_route_name_that_is_longer_than_fifty_bytes_of_inih_1";
    static const char name2[] = "a_route_name_that_is_longer_than_fifty_bytes_of_inih_2";
    struct strlist e = {0};
    char *text = xasprintf(SQS PG "[route %s]\nsink = p\n[route %s]\nsink = p\n", name1, name2);
    struct config *c = load(text, &e);

    EXPECT_TRUE(c && config_find_route(c, name1) && config_find_route(c, name2));
    EXPECT_EQ_INT(0, e.n);
    config_unref(c);
    free(text);
    strlist_free(&e);
}

DEF_TEST(line_endings_bom_and_nul)
{
    static const char crlf[] = "\xEF\xBB\xBF[sqs]\r\nqueue_url = http://h/q\r\n"
                               "wait_time_seconds = 5\r\n";
    static const char nul[] = "[sqs]\nqueue_url = http://h/q\nx = a\0b\n";
    struct strlist e = {0};
    struct config *c = load(crlf, &e);

    EXPECT_TRUE(c && c->sqs.wait_time_seconds == 5 && !strcmp(c->sqs.queue_url, "http://h/q"));
    config_unref(c);
    EXPECT_EQ_INT(0, e.n);
    c = config_load_buffer("t.conf", nul, sizeof(nul) - 1, &e);
    EXPECT_TRUE(c == NULL);
    EXPECT_ERR(&e, "t.conf", "3: NUL byte in line");
    strlist_free(&e);
    c = load("", &e);
    EXPECT_TRUE(c == NULL);
    EXPECT_ERR(&e, "t.conf", " [sqs] queue_url: required (there is no [sqs] section)");
    strlist_free(&e);
}

DEF_TEST(http_section)
{
    static const char ok[] = SQS PG "[http]\nlisten = 127.0.0.1:8080\nauth = none\n"
                                    "[route r]\nsink = p\nhttp = true\ntable = t\n";
    struct strlist e = {0};
    struct config *c = load(ok, &e);

    EXPECT_TRUE(c != NULL);
    if (c) {
        EXPECT_EQ_STR("127.0.0.1:8080", c->http.listen);
        EXPECT_TRUE(c->http.max_body == (int64_t)64 << 20);
        EXPECT_EQ_INT(256, c->http.max_connections);
        EXPECT_TRUE(c->routes[0].http);
    }
    config_unref(c);
    strlist_free(&e);
    /* a request names its route, never its table */
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nhttp = true\n",
                    "6: [r] table: a route with http = true needs a table without {...} "
                    "placeholders");
    EXPECT_ONLY_ERR(SQS "[http]\nlisten = 0.0.0.0:8080\nauth = none\ntoken_file = /t\n",
                    "5: [http] auth: none is only allowed on a loopback listen address");
    EXPECT_ONLY_ERR(SQS "[http]\nlisten = 127.0.0.1:8080\n",
                    "3: [http] token_file: required (or auth = none on a loopback listen "
                    "address)");
    EXPECT_ONLY_ERR(SQS "[http]\nlisten = [::1]:8080\nauth = none\ntls_cert = /c\n",
                    "3: [http] tls_key: tls_cert and tls_key go together");
    EXPECT_TRUE(config_listen_is_loopback("127.0.0.2:1") && config_listen_is_loopback("[::1]:1"));
    EXPECT_TRUE(!config_listen_is_loopback("0.0.0.0:1") && !config_listen_is_loopback("[::]:1") &&
                !config_listen_is_loopback("10.0.0.1:80"));
}

DEF_TEST(unknown_sections_and_keys)
{
    EXPECT_ONLY_ERR(SQS "[sqs2]\nqueue_url = x\n",
                    "3: [sqs2]: unknown section (expected ingestd, aws, sqs, http, sink NAME or "
                    "route NAME)");
    EXPECT_ONLY_ERR(SQS "[ingestd]\nworker = 2\n", "4: [ingestd] worker: unknown key");
    EXPECT_ONLY_ERR("workers = 2\n" SQS, "1: workers: key outside any [section]");
    EXPECT_ONLY_ERR(SQS "[aws name]\n", "3: [aws name]: [aws] takes no name");
    EXPECT_ONLY_ERR(SQS "[route]\n",
                    "3: [route]: expected [route NAME] with a NAME of letters, digits, '_', "
                    "'.' or '-'");
    EXPECT_ONLY_ERR(SQS "[sink a/b]\ntype = x\n",
                    "3: malformed section header: expected [NAME] or [sink NAME]");
    EXPECT_ONLY_ERR(SQS "[ingestd] workers = 2\n", "3: unexpected text after the section header");
    EXPECT_ONLY_ERR(SQS "[ingestd\nworkers = 2\n",
                    "3: malformed section header: expected [NAME] or [sink NAME]");
    EXPECT_ONLY_ERR(SQS "wait_time_seconds 5\n", "3: expected KEY = VALUE");
    EXPECT_ONLY_ERR(SQS "wait time = 5\n",
                    "3: invalid key name: expected letters, digits, '_', '.' or '-'");
    EXPECT_ONLY_ERR(SQS "= 5\n", "3: missing key name");
    /* a section with no keys is still seen */
    EXPECT_ONLY_ERR(SQS "[sink empty]\n",
                    "3: [sink empty] type: required (postgres | mysql | dynamodb | sqs)");
}

DEF_TEST(duplicates)
{
    struct strlist e = {0};
    struct config *c;

    EXPECT_ONLY_ERR(SQS "max_messages = 1\nmax_messages = 2\n",
                    "4: [sqs] max_messages: duplicate key (first on line 3)");
    EXPECT_ONLY_ERR(SQS "[sqs]\nmax_messages = 1\n",
                    "3: [sqs]: duplicate section (first on line 1)");
    EXPECT_ONLY_ERR(SQS "[sink a]\ntype = dynamodb\n[sink a]\ntype = dynamodb\n",
                    "5: [sink a]: duplicate section (first on line 3)");
    EXPECT_ONLY_ERR(SQS "[sink a]\ntype = dynamodb\n[route r]\nsink = a\n[route r]\nsink = a\n",
                    "7: [route r]: duplicate section (first on line 5)");
    /* a sink and a route may share a name; validate.COLUMN may repeat */
    c = load(SQS "[sink a]\ntype = dynamodb\n[route a]\nsink = a\nvalidate.x = notnull\n"
                 "validate.x = len:1..2\n",
             &e);
    EXPECT_TRUE(c && c->routes[0].nrules == 2);
    config_unref(c);
    EXPECT_EQ_INT(0, e.n);
    strlist_free(&e);
}

DEF_TEST(routes_name_defined_sinks)
{
    struct strlist e = {0};
    struct config *c;

    EXPECT_ONLY_ERR(SQS "[route r]\nmatch_prefix = a/\nsink = nosuch\n",
                    "5: [route r] sink: no [sink nosuch] section");
    EXPECT_ONLY_ERR(SQS "[route r]\nmatch_prefix = a/\n", "3: [route r] sink: required");
    /* a route may come before its sink */
    c = load(SQS "[route r]\nsink = p\n" PG, &e);
    EXPECT_TRUE(c && c->routes[0].sink == &c->sinks[0]);
    config_unref(c);
    EXPECT_EQ_INT(0, e.n);
    strlist_free(&e);
}

#define DDB "[sink d]\ntype = dynamodb\n"

/* sink = a, b: a fan-out, each name a section, none twice. */
DEF_TEST(route_fans_out_to_a_list_of_sinks)
{
    struct strlist e = {0};
    struct config *c;

    c = load(SQS PG DDB "[route r]\nsink = p , d\n", &e);
    EXPECT_TRUE(c && c->routes[0].nsinks == 2 && c->routes[0].sinks[0] == &c->sinks[0] &&
                c->routes[0].sinks[1] == &c->sinks[1] && c->routes[0].sink == &c->sinks[0]);
    config_unref(c);
    EXPECT_EQ_INT(0, e.n);
    strlist_free(&e);
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p, p\n", "7: [route r] sink: sink p named twice");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p, q\n", "7: [route r] sink: no [sink q] section");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p,,\n",
                    "7: [route r] sink: an empty sink name in the list");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p, d1, d2, d3, d4, d5, d6, d7, d8\n"
                           "[sink d1]\ntype=dynamodb\n[sink d2]\ntype=dynamodb\n"
                           "[sink d3]\ntype=dynamodb\n[sink d4]\ntype=dynamodb\n"
                           "[sink d5]\ntype=dynamodb\n[sink d6]\ntype=dynamodb\n"
                           "[sink d7]\ntype=dynamodb\n[sink d8]\ntype=dynamodb\n",
                    "7: [route r] sink: at most 8 sinks");
}

/* mode = update and its update.COLUMN keys. */
DEF_TEST(update_mode_keys)
{
    struct strlist e = {0};
    struct config *c;

    c = load(SQS DDB "[route r]\nsink = d\nmode = update\nupdate.total = add\n"
                     "update.tags = append\nupdate.first = set_if_absent\n",
             &e);
    EXPECT_TRUE(c && c->routes[0].mode == MODE_UPDATE && c->routes[0].nupdates == 3);
    if (c && c->routes[0].nupdates == 3) {
        EXPECT_EQ_STR("total", c->routes[0].updates[0].column);
        EXPECT_EQ_INT(UPDATE_ADD, c->routes[0].updates[0].action);
        EXPECT_EQ_INT(UPDATE_APPEND, c->routes[0].updates[1].action);
        EXPECT_EQ_INT(UPDATE_SET_IF_ABSENT, c->routes[0].updates[2].action);
        EXPECT_EQ_INT(10, c->routes[0].updates[2].line);
    }
    config_unref(c);
    EXPECT_EQ_INT(0, e.n);
    strlist_free(&e);
    EXPECT_ONLY_ERR(SQS DDB "[route r]\nsink = d\nmode = update\nupdate.total = sum\n",
                    "8: [route r] update.total: \"sum\" is not set, add, append or set_if_absent");
    EXPECT_ONLY_ERR(SQS DDB "[route r]\nsink = d\nmode = update\nupdate.t = add\nupdate.t = set\n",
                    "9: [route r] update.t: column t already has an update action");
    EXPECT_ONLY_ERR(SQS DDB "[route r]\nsink = d\nupdate.total = add\n",
                    "7: [route r] update.COLUMN: applies to mode = update only");
    EXPECT_ONLY_ERR(SQS PG DDB "[route r]\nsink = d, p\nmode = update\n",
                    "10: [route r] mode: update applies to DynamoDB sinks (and SQS sinks beside "
                    "them, which send each row as in append); sink p is postgres");
    EXPECT_ONLY_ERR(SQS DDB "[route r]\nsink = d\nmode = update\nkey = id\nupdate.id = add\n",
                    "9: [route r] update.id: id is a key column: it names the item and is never "
                    "updated");
}

DEF_TEST(regular_expressions)
{
    EXPECT_ONLY_ERR(
        SQS PG "[route r]\nsink = p\nmatch_regex = (a|b\n",
        "8: [route r] match_regex: bad regular expression \"(a|b\": Unmatched ( or \\(");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nvalidate.c = regex:a{2,1}\n",
                    "8: [route r] validate.c: bad regular expression \"a{2,1}\": Invalid content "
                    "of \\{\\}");
}

/* Found by tests/fuzz/fuzz_config: glibc's regcomp copies the operand of '+' and of {m,n},
 * so stacked or nested repetitions took memory exponential in the pattern's length (the first
 * pattern here needs terabytes), and stacked stars took minutes. Such patterns are refused
 * before regcomp sees them. */
#define EXPLODE_PLUS "a++++++++++++++++++++++++++++++++++++++++"
#define EXPLODE_NEST "((((((((((((((((((((x+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+"
DEF_TEST(regular_expressions_that_would_explode)
{
    struct strlist e = {0};
    struct config *c;

    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nmatch_regex = " EXPLODE_PLUS "\n",
                    "8: [route r] match_regex: bad regular expression \"" EXPLODE_PLUS
                    "\": a repetition operator follows another (* + ? or {})");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nmatch_regex = a*****************************+*\n",
                    "8: [route r] match_regex: bad regular expression "
                    "\"a*****************************+*\": a repetition operator follows another "
                    "(* + ? or {})");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nmatch_regex = x{2}?\n",
                    "8: [route r] match_regex: bad regular expression \"x{2}?\": a repetition "
                    "operator follows another (* + ? or {})");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nvalidate.c = regex:" EXPLODE_NEST "\n",
                    "8: [route r] validate.c: bad regular expression \"" EXPLODE_NEST
                    "\": its repetitions expand to more than 100000 elements");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nmatch_regex = (x{1000}){1000}\n",
                    "8: [route r] match_regex: bad regular expression \"(x{1000}){1000}\": its "
                    "repetitions expand to more than 100000 elements");
    /* real patterns, repetitions and brackets holding '(' '{' '+' included, still load */
    c = load(SQS PG "[route r]\nsink = p\n"
                    "match_regex = ^exports/[0-9]{4}/[a-z]{2,8}(/[^/]+)+\\.csv$\n"
                    "validate.c = regex:^([(){}+*]|x{1,300})+$\n"
                    "validate.d = regex:^(a|b)+c{2,}d{1000}$\n",
             &e);
    EXPECT_TRUE(c != NULL);
    dump(&e);
    config_unref(c);
    strlist_free(&e);
}

/* One value of one key: accepted or rejected with this reason. */
DEF_TEST(value_shapes)
{
    static const struct {
        const char *section, *key, *value, *error;
    } cases[] = {
        {"ingestd", "metrics_listen", "127.0.0.1:9464", NULL},
        {"ingestd", "metrics_listen", "[::1]:9464", NULL},
        {"ingestd", "metrics_listen", "localhost:1", NULL},
        {"ingestd", "metrics_listen", ":9464", "is not HOST:PORT"},
        {"ingestd", "metrics_listen", "::1:9464", "is not HOST:PORT"},
        {"ingestd", "metrics_listen", "[::1:9464", "is not HOST:PORT"},
        {"ingestd", "metrics_listen", "host:65536", "is not HOST:PORT"},
        {"ingestd", "metrics_listen", "host:80x", "is not HOST:PORT"},
        {"ingestd", "log_level", "warning", NULL},
        {"ingestd", "log_level", "warn", "is not one of"},
        {"ingestd", "workers", "256", NULL},
        {"ingestd", "workers", "257", "is not an integer from 1 to 256"},
        {"ingestd", "workers", "4x", "is not an integer from 1 to 256"},
        {"ingestd", "shutdown_timeout", "0", NULL},
        {"aws", "endpoint_url", "http://127.0.0.1:4566", NULL},
        {"aws", "endpoint_url", "https://h/path?x=1", NULL},
        {"aws", "endpoint_url", "http:///x", "is not an http:// or https:// URL"},
        {"aws", "endpoint_url", "HTTP://h", "is not an http:// or https:// URL"},
        {"aws", "s3_force_path_style", "on", NULL},
        {"aws", "s3_force_path_style", "0", NULL},
        {"aws", "profile", "team-a.prod", NULL},
        {"aws", "profile", "a b", "is not a profile name"},
        {"aws", "max_attempts", "1", NULL},
        {"aws", "connect_timeout", "300", NULL},
        {"sqs", "wait_time_seconds", "0", NULL},
        {"sqs", "visibility_timeout", "43201", "is not an integer from 0 to 43200"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct strlist e = {0};
        char *text = xasprintf("[%s]\n%s = %s\n%s", cases[i].section, cases[i].key, cases[i].value,
                               strcmp(cases[i].section, "sqs") ? SQS : "queue_url = http://h/q\n");
        struct config *c = load(text, &e);

        if (cases[i].error) {
            EXPECT_TRUE(c == NULL && e.n == 1);
            EXPECT_CONTAINS(cases[i].error, e.n ? e.v[0] : NULL);
            EXPECT_CONTAINS(cases[i].key, e.n ? e.v[0] : NULL);
            EXPECT_CONTAINS("t.conf:2:", e.n ? e.v[0] : NULL);
        } else if (!c) {
            TAP_FAIL("[%s] %s = %s rejected", cases[i].section, cases[i].key, cases[i].value);
            dump(&e);
        }
        config_unref(c);
        strlist_free(&e);
        free(text);
    }
}

DEF_TEST(size_keys)
{
    static const struct {
        const char *where, *key, *value, *error;
    } cases[] = {
        {"[route r]\nsink = p\n", "max_row_bytes", "1K", NULL},
        {"[route r]\nsink = p\n", "max_row_bytes", "1g", NULL},
        {"[route r]\nsink = p\n", "max_row_bytes", "5000", NULL},
        {"[route r]\nsink = p\n", "max_row_bytes", "1023", "is not a size from 1K to 1G"},
        {"[route r]\nsink = p\n", "max_row_bytes", "2G", "is not a size from 1K to 1G"},
        {"[route r]\nsink = p\n", "max_row_bytes", "1.5M", "(bytes, or a number with K, M or G)"},
        {"[route r]\nsink = p\n", "max_row_bytes", "64MB", "is not a size"},
        {"[route r]\nsink = p\n", "zstd_window_max", "128M", NULL},
        {"[route r]\nsink = p\n", "zstd_window_max", "1K", NULL},
        {"[route r]\nsink = p\n", "zstd_window_max", "2G", NULL},
        {"[route r]\nsink = p\n", "zstd_window_max", "10M", "is not a power of two"},
        {"[route r]\nsink = p\n", "zstd_window_max", "4G", "is not a size from 1K to 2G"},
        {"[route r]\nsink = p\n", "zstd_window_max", "512", "is not a size from 1K to 2G"},
        {"[sink s]\ntype = sqs\nqueue_url = http://h/q2\n", "max_spool_bytes", "64K", NULL},
        {"[sink s]\ntype = sqs\nqueue_url = http://h/q2\n", "max_spool_bytes", "2T",
         "is not a size from 1K to 1024G"},
        {"[sink s]\ntype = postgres\nconninfo = dbname=x\n", "max_spool_bytes", "1G",
         "not valid for a sink of type postgres"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct strlist e = {0};
        char *text = xasprintf(SQS PG "%s%s = %s\n", cases[i].where, cases[i].key, cases[i].value);
        struct config *c = load(text, &e);

        if (cases[i].error) {
            EXPECT_TRUE(c == NULL && e.n == 1);
            EXPECT_CONTAINS(cases[i].error, e.n ? e.v[0] : NULL);
            EXPECT_CONTAINS(cases[i].key, e.n ? e.v[0] : NULL);
        } else if (!c) {
            TAP_FAIL("%s = %s rejected", cases[i].key, cases[i].value);
            dump(&e);
        }
        config_unref(c);
        strlist_free(&e);
        free(text);
    }
}

DEF_TEST(size_defaults)
{
    struct strlist e = {0};
    struct config *c = load(SQS PG "[sink s]\ntype = sqs\nqueue_url = http://h/q2\n"
                                   "[route r]\nsink = p\n"
                                   "[route big]\nsink = s\nmax_row_bytes = 1G\n"
                                   "zstd_window_max = 128M\n",
                            &e);

    EXPECT_TRUE(c != NULL);
    dump(&e);
    if (!c)
        return;
    EXPECT_TRUE(config_find_route(c, "r")->max_row_bytes == (int64_t)64 << 20);
    EXPECT_TRUE(config_find_route(c, "r")->zstd_window_max == (int64_t)8 << 20);
    EXPECT_TRUE(config_find_route(c, "big")->max_row_bytes == (int64_t)1 << 30);
    EXPECT_TRUE(config_find_route(c, "big")->zstd_window_max == (int64_t)128 << 20);
    EXPECT_TRUE(config_find_sink(c, "s")->max_spool_bytes == (int64_t)1 << 30);
    config_unref(c);
    strlist_free(&e);
}

DEF_TEST(table_templates)
{
    static const char *const good[] = {"{basename}", "t1", "s.{bucket}_{key}",
                                       "{dirname}.x_{basename}", "Orders_2024"};
    static const struct {
        const char *table, *error;
    } bad[] = {
        {"a.b.c", "at most one '.' (schema.table)"},
        {"{base}", "unknown placeholder {base} (use {basename} {dirname} {bucket} {key})"},
        {"a-b", "character '-' is not allowed (letters, digits, _ and {placeholders})"},
        {".t", "empty schema or table name"},
        {"s.2024_{basename}", "a schema or table name must not start with a digit"},
        {"t.", "empty schema or table name"},
        {"{basename", "'{' without '}'"},
        {"\"\"", "must not be empty"},
        {"\"a b\"", "character ' ' is not allowed (letters, digits, _ and {placeholders})"},
    };
    struct strlist e = {0};

    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        char *text = xasprintf(SQS PG "[route r]\nsink = p\ntable = %s\n", good[i]);
        struct config *c = load(text, &e);

        EXPECT_TRUE(c && strcmp(c->routes[0].table, good[i]) == 0);
        config_unref(c);
        free(text);
    }
    EXPECT_EQ_INT(0, e.n);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *text = xasprintf(SQS PG "[route r]\nsink = p\ntable = %s\n", bad[i].table);
        char *want = xasprintf("8: [route r] table: %s", bad[i].error);

        EXPECT_ONLY_ERR(text, want);
        free(text);
        free(want);
    }
    strlist_free(&e);
}

DEF_TEST(rules_between_keys)
{
    struct strlist e = {0};
    struct config *c;

    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nmode = upsert\n",
                    "8: [route r] key: required with mode = upsert for a postgres sink");
    c = load(SQS "[sink d]\ntype = dynamodb\n[route r]\nsink = d\nmode = upsert\n", &e);
    EXPECT_TRUE(c != NULL); /* DynamoDB upserts by the table's own key */
    config_unref(c);
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nheader = false\n",
                    "8: [route r] columns: required with header = false");
    c = load(SQS PG "[route r]\nsink = p\nheader = false\nformat = jsonl\n", &e);
    EXPECT_TRUE(c != NULL);
    config_unref(c);
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\ncolumns = a, b\nkey = c\nmode = upsert\n",
                    "9: [route r] key: column c is not in columns");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\ncolumns = a\ntypes = b:N\n",
                    "9: [route r] types: column b is not in columns");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\ncolumns = a\nvalidate.b = notnull\n",
                    "9: [route r] validate.b: column b is not in columns");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nquote = '\ndelimiter = '\n",
                    "9: [route r] delimiter: delimiter and quote are the same character");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nquote = ,\n",
                    "8: [route r] quote: delimiter and quote are the same character");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\ntypes = a:N, a:S\n",
                    "8: [route r] types: column a is typed twice");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\ncolumns = a, a\n",
                    "8: [route r] columns: column \"a\" is listed twice");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nformat = jsonl\njson_path = data\n",
                    "9: [route r] json_path: applies to format = json only");
    EXPECT_ONLY_ERR(SQS PG "[route r]\nsink = p\nformat = json\njson_path = a..b\n",
                    "9: [route r] json_path: member names joined by '.', none empty");
    c = load(SQS PG "[route r]\nsink = p\nformat = json\njson_path = result.items\n", &e);
    EXPECT_TRUE(c != NULL && strcmp(c->routes[0].json_path, "result.items") == 0);
    config_unref(c);
    EXPECT_EQ_INT(0, e.n);
    strlist_free(&e);
}

DEF_TEST(sink_rules)
{
    EXPECT_ONLY_ERR(SQS "[sink p]\ntype = postgres\n",
                    "3: [sink p] conninfo: required for a postgres sink");
    EXPECT_ONLY_ERR(SQS "[sink p]\ntype = postgres\nconninfo =\n",
                    "5: [sink p] conninfo: required for a postgres sink");
    EXPECT_ONLY_ERR(SQS "[sink m]\ntype = mysql\nuser = u\n",
                    "3: [sink m] database: required for a mysql sink");
    EXPECT_ONLY_ERR(SQS "[sink q]\ntype = sqs\n", "3: [sink q] queue_url: required for a sqs sink");
    EXPECT_ONLY_ERR(SQS "[sink d]\nhost = h\ntype = dynamodb\n",
                    "4: [sink d] host: not valid for a sink of type dynamodb");
    EXPECT_ONLY_ERR(SQS "[sink d]\ntype = postgres\nconninfo = x\nledger_table = abc\n",
                    "6: [sink d] ledger_table: not valid for a sink of type postgres");
    EXPECT_ONLY_ERR(SQS "[sink m]\ntype = mysql\ndatabase = d\npassword_secret = s\n"
                        "password_file = /f\n",
                    "7: [sink m] password_file: only one of password, password_file and "
                    "password_secret may be set");
    EXPECT_ONLY_ERR(SQS "[aws]\naccess_key_id = AKID\n",
                    "4: [aws] secret_access_key: required with access_key_id");
    EXPECT_ONLY_ERR(SQS "[aws]\nsecret_access_key = s3cr3t\n",
                    "4: [aws] access_key_id: required with secret_access_key");
    EXPECT_ONLY_ERR(SQS "[aws]\nsession_token = t0k3n\n",
                    "4: [aws] session_token: needs access_key_id and secret_access_key");
    EXPECT_ONLY_ERR("[sqs]\nwait_time_seconds = 1\n", "1: [sqs] queue_url: required");
}

DEF_TEST(sink_names_locks_and_conninfo)
{
    struct strlist e = {0};
    struct config *c = load(SQS PG "[sink m]\ntype = mysql\ndatabase = shop\n", &e);

    EXPECT_TRUE(c != NULL);
    if (c) {
        EXPECT_EQ_STR("public", c->sinks[0].schema);
        EXPECT_EQ_INT(60, c->sinks[0].lock_timeout);
        EXPECT_EQ_INT(60, c->sinks[1].lock_timeout);
        EXPECT_TRUE(c->sinks[1].schema == NULL);
    }
    config_unref(c);
    strlist_free(&e);
    c = load(SQS PG "schema = app\nlock_timeout = 5\n", &e);
    EXPECT_TRUE(c != NULL && !strcmp(c->sinks[0].schema, "app") && c->sinks[0].lock_timeout == 5);
    config_unref(c);
    strlist_free(&e);
    EXPECT_ONLY_ERR(SQS PG "schema = pg_catalog\n",
                    "6: [sink p] schema: \"pg_catalog\" is a system catalog schema: loads never "
                    "write there");
    EXPECT_ONLY_ERR(SQS PG "schema = pg_toast\n",
                    "6: [sink p] schema: \"pg_toast\" is a system catalog schema: loads never "
                    "write there");
    EXPECT_ONLY_ERR(SQS PG "schema = information_schema\n",
                    "6: [sink p] schema: \"information_schema\" is a system catalog schema: "
                    "loads never write there");
    EXPECT_ONLY_ERR(SQS PG "schema = a-b\n",
                    "6: [sink p] schema: \"a-b\" is not a schema name (letters, digits and _, "
                    "not starting with a digit, at most 63 characters)");
    EXPECT_ONLY_ERR(SQS "[sink m]\ntype = mysql\ndatabase = mysql\n",
                    "5: [sink m] database: \"mysql\" is a system database: loads never write "
                    "there");
    EXPECT_ONLY_ERR(SQS "[sink m]\ntype = mysql\ndatabase = Performance_Schema\n",
                    "5: [sink m] database: \"Performance_Schema\" is a system database: loads "
                    "never write there");
    EXPECT_ONLY_ERR(SQS "[sink m]\ntype = mysql\ndatabase = d\nschema = d\n",
                    "6: [sink m] schema: not valid for a sink of type mysql");
    EXPECT_ONLY_ERR(SQS PG "lock_timeout = 0\n",
                    "6: [sink p] lock_timeout: \"0\" is not an integer from 1 to 86400");
    EXPECT_ONLY_ERR(SQS "[sink d]\ntype = dynamodb\nlock_timeout = 5\n",
                    "5: [sink d] lock_timeout: not valid for a sink of type dynamodb");
    /* A plain word is a database name to libpq, as it always was. */
    c = load(SQS "[sink p]\ntype = postgres\nconninfo = app\n", &e);
    EXPECT_TRUE(c != NULL);
    config_unref(c);
    strlist_free(&e);
}

/* libpq quotes what it cannot parse; the configuration check never does. */
DEF_TEST(malformed_conninfo_never_echoed)
{
    static const struct {
        const char *conninfo, *secret, *why;
    } cases[] = {
        {"postgresql://ingest:Hunter2%ZZsecret@127.0.0.1/app", "Hunter2", "%XX escape"},
        {"host=127.0.0.1 password=correct horse battery staple", "horse", "without \"=\""},
        {"host=127.0.0.1 password='s3cr3t-value", "s3cr3t", "closing quote"},
        {"host=127.0.0.1 password=abc s3cr3tword=1", "s3cr3tword", "unknown parameter"},
        {"postgresql://ingest:pw@[::1/app?password=s3cr3tx", "s3cr3tx", "URI"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct strlist e = {0};
        char *text = xasprintf(SQS "[sink p]\ntype = postgres\nconninfo = %s\n", cases[i].conninfo);
        struct config *c = load(text, &e);

        EXPECT_TRUE(c == NULL);
        EXPECT_EQ_INT(1, e.n);
        if (any_error_contains(&e, cases[i].secret) || any_error_contains(&e, "pw@")) {
            TAP_FAIL("conninfo %zu echoed", i);
            dump(&e);
        }
        if (!any_error_contains(&e, "t.conf:5: [sink p] conninfo: ") ||
            !any_error_contains(&e, cases[i].why)) {
            TAP_FAIL("conninfo %zu: error does not name the line, key and mistake", i);
            dump(&e);
        }
        config_unref(c);
        strlist_free(&e);
        free(text);
    }
}

DEF_TEST(copy_format)
{
    struct strlist e = {0};
    struct config *c = load(SQS "[sink p]\ntype = postgres\nconninfo = x\n"
                                "[sink b]\ntype = postgres\nconninfo = x\ncopy_format = binary\n"
                                "[sink t]\ntype = postgres\nconninfo = x\ncopy_format = text\n",
                            &e);

    EXPECT_TRUE(c != NULL);
    dump(&e);
    if (c) {
        EXPECT_EQ_INT(COPY_FORMAT_AUTO, config_find_sink(c, "p")->copy_format);
        EXPECT_EQ_INT(COPY_FORMAT_BINARY, config_find_sink(c, "b")->copy_format);
        EXPECT_EQ_INT(COPY_FORMAT_TEXT, config_find_sink(c, "t")->copy_format);
    }
    config_unref(c);
    strlist_free(&e);
    EXPECT_ONLY_ERR(SQS "[sink p]\ntype = postgres\nconninfo = x\ncopy_format = csv\n",
                    "6: [sink p] copy_format: \"csv\" is not one of auto | binary | text");
    EXPECT_ONLY_ERR(SQS "[sink m]\ntype = mysql\ndatabase = d\ncopy_format = text\n",
                    "6: [sink m] copy_format: not valid for a sink of type mysql");
}

DEF_TEST(secrets_never_in_errors)
{
    static const char *const files[] = {
        SQS "[sink m]\ntype = mysql\ndatabase = d\npassword = \"hunter2\tx\"\n",
        SQS "[sink m]\ntype = mysql\ndatabase = d\npassword = hunter2\npassword = hunter2\n",
        SQS "[sink d]\ntype = dynamodb\npassword = hunter2\n",
        SQS "[sink m]\ntype = mysql\ndatabase = d\npassword hunter2\n",
        SQS "[sink m]\ntype = mysql\ndatabase = d\npassword: hunter2\n",
        "password = hunter2\n" SQS,
        SQS "[aws]\nsecret_access_key = hunter2 x\n",
        SQS "[aws]\nsecret_access_key = hunter2\n",
        SQS "[aws]\naccess_key_id = A\nsecret_access_key = k\nsession_token = \"hunter2\x01\"\n",
        SQS "[aws]\naccess_key_id = A\nsecret_access_key = k\nsession_token = a\n"
            "session_token = hunter2\n",
    };

    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        struct strlist e = {0};
        struct config *c = load(files[i], &e);

        EXPECT_TRUE(c == NULL);
        EXPECT_TRUE(e.n > 0);
        if (any_error_contains(&e, "hunter2")) {
            TAP_FAIL("secret echoed for file %zu", i);
            dump(&e);
        }
        config_unref(c);
        strlist_free(&e);
    }
    EXPECT_ONLY_ERR(SQS "[sink m]\ntype = mysql\ndatabase = d\npassword = \"hunter2\tx\"\n",
                    "6: [sink m] password: invalid value");
    EXPECT_ONLY_ERR(SQS "[aws]\naccess_key_id = A\nsecret_access_key = hunter2 x\n",
                    "5: [aws] secret_access_key: invalid value");
}

DEF_TEST(no_routes_is_valid)
{
    struct strlist e = {0};
    struct config *c = load(SQS PG, &e);

    EXPECT_TRUE(c != NULL && c->nroutes == 0 && c->nsinks == 1);
    EXPECT_EQ_INT(0, e.n);
    config_unref(c);
    strlist_free(&e);
}

DEF_TEST(missing_file)
{
    struct strlist e = {0};
    struct config *c = config_load("/nonexistent/ingestd.conf", &e);

    EXPECT_TRUE(c == NULL);
    EXPECT_EQ_INT(1, e.n);
    EXPECT_ERR(&e, "/nonexistent/ingestd.conf", " cannot open: No such file or directory");
    strlist_free(&e);
    /* errors may be counted without being collected */
    EXPECT_TRUE(load("[sqs]\n", NULL) == NULL);
}

static void *ref_churn(void *arg)
{
    struct config *c = arg;

    for (int i = 0; i < 10000; i++)
        config_unref(config_ref(c));
    config_unref(c);
    return NULL;
}

DEF_TEST(refcount_and_generation)
{
    struct strlist e = {0};
    struct config *a = load(SQS, &e), *b = load(SQS, &e);
    uint64_t gen_b;
    pthread_t t[4];

    EXPECT_TRUE(a && b);
    if (!a || !b)
        return;
    gen_b = b->generation;
    EXPECT_TRUE(gen_b > a->generation);
    EXPECT_TRUE(config_ref(a) == a);
    EXPECT_EQ_INT(2, a->refs);
    config_unref(a);
    EXPECT_EQ_INT(1, a->refs);
    for (size_t i = 0; i < ARRAY_SIZE(t); i++)
        pthread_create(&t[i], NULL, ref_churn, config_ref(a));
    for (size_t i = 0; i < ARRAY_SIZE(t); i++)
        pthread_join(t[i], NULL);
    EXPECT_EQ_INT(1, a->refs);
    config_unref(a); /* the last reference: freed (the sanitizers watch) */
    config_unref(b);
    config_unref(NULL);
    EXPECT_TRUE(load("[sqs]\nqueue_url = nope\n", &e) == NULL);
    a = load(SQS, &e);
    EXPECT_TRUE(a && a->generation == gen_b + 1); /* failed loads take none */
    config_unref(a);
    strlist_free(&e);
}

static void count_key(const char *section, const char *key, void *arg)
{
    size_t *n = arg;

    if (section && key && *section && *key)
        (*n)++;
}

DEF_TEST(key_table_is_enumerated)
{
    size_t n = 0;

    config_each_key(count_key, &n);
    EXPECT_EQ_INT(5 + 15 + 5 + 8 + 18 + 31, n);
}

int main(void)
{
    log_force_stderr(true);
    log_set_level(LOG_ERR);
    RUN_TEST(example_config_loads);
    RUN_TEST(global_defaults);
    RUN_TEST(region_and_profile_from_environment);
    RUN_TEST(route_and_sink_defaults);
    RUN_TEST(every_key_set);
    RUN_TEST(every_bad_value_reported_at_its_line);
    RUN_TEST(quoting_comments_and_indentation);
    RUN_TEST(quoting_inline);
    RUN_TEST(values_emptied_by_a_comment);
    RUN_TEST(skip_row_needs_max_errors);
    RUN_TEST(long_lines_are_read_whole);
    RUN_TEST(long_section_names);
    RUN_TEST(line_endings_bom_and_nul);
    RUN_TEST(unknown_sections_and_keys);
    RUN_TEST(duplicates);
    RUN_TEST(routes_name_defined_sinks);
    RUN_TEST(route_fans_out_to_a_list_of_sinks);
    RUN_TEST(update_mode_keys);
    RUN_TEST(regular_expressions);
    RUN_TEST(regular_expressions_that_would_explode);
    RUN_TEST(value_shapes);
    RUN_TEST(size_keys);
    RUN_TEST(size_defaults);
    RUN_TEST(table_templates);
    RUN_TEST(rules_between_keys);
    RUN_TEST(sink_rules);
    RUN_TEST(sink_names_locks_and_conninfo);
    RUN_TEST(malformed_conninfo_never_echoed);
    RUN_TEST(copy_format);
    RUN_TEST(secrets_never_in_errors);
    RUN_TEST(no_routes_is_valid);
    RUN_TEST(missing_file);
    RUN_TEST(refcount_and_generation);
    RUN_TEST(key_table_is_enumerated);
    RUN_TEST(http_section);
    return tap_done();
}
