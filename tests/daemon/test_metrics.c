/*
 * test_metrics.c: the metric registry (declaration rules, counters, gauges,
 * histograms, threads), the text exposition format 0.0.4 (value formatting,
 * label escaping, bucket lines), the HTTP request parser of the listener, and the
 * journal record of a load as journald would receive it (fields looked up by exact
 * NAME=value, as `journalctl S3_KEY=...` does).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/job.h"
#include "base/log.h"
#include "daemon/metrics.h"
#include "daemon/observe.h"
#include "../tap.h"
#include "base/util.h"

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

static char *render(struct metrics *r)
{
    struct buf b;

    buf_init(&b);
    metrics_render(r, &b);
    return buf_steal(&b);
}

static char *fmt_value(double v)
{
    struct buf b;

    buf_init(&b);
    metrics_format_value(&b, v);
    return buf_steal(&b);
}

static char *escape(const char *s)
{
    struct buf b;

    buf_init(&b);
    metrics_escape_label(&b, s);
    return buf_steal(&b);
}

DEF_TEST(declaration_rules)
{
    struct metrics *r = metrics_new();
    const double good[] = {1, 2}, unsorted[] = {2, 1}, inf[] = {1, INFINITY};

    EXPECT_TRUE(metrics_counter(r, "a_total", "help", NULL) != NULL);
    EXPECT_TRUE(metrics_counter(r, "a_total", "again", NULL) == NULL);
    EXPECT_TRUE(metrics_gauge(r, "ns:sub_g", "colons are allowed in names", NULL) != NULL);
    EXPECT_TRUE(metrics_gauge(r, "1abc", "leading digit", NULL) == NULL);
    EXPECT_TRUE(metrics_gauge(r, "a-b", "dash", NULL) == NULL);
    EXPECT_TRUE(metrics_gauge(r, "", "empty", NULL) == NULL);
    EXPECT_TRUE(metrics_gauge(r, "two_lines", "a\nb", NULL) == NULL);
    EXPECT_TRUE(metrics_gauge(r, "l1", "label with colon", NAMES("a:b")) == NULL);
    EXPECT_TRUE(metrics_gauge(r, "l2", "reserved label", NAMES("__x")) == NULL);
    EXPECT_TRUE(metrics_gauge(r, "l3", "duplicate label", NAMES("a", "a")) == NULL);
    EXPECT_TRUE(metrics_histogram(r, "h1", "le is reserved", NAMES("le"), good, 2) == NULL);
    EXPECT_TRUE(metrics_histogram(r, "h2", "unsorted", NULL, unsorted, 2) == NULL);
    EXPECT_TRUE(metrics_histogram(r, "h3", "infinite bound", NULL, inf, 2) == NULL);
    EXPECT_TRUE(metrics_histogram(r, "h4", "fine", NAMES("route"), good, 2) != NULL);
    metrics_free(r);
}

DEF_TEST(counters_and_gauges)
{
    struct metrics *r = metrics_new();
    struct metric *c = metrics_counter(r, "x_total", "Things", NAMES("route", "sink"));
    struct metric *g = metrics_gauge(r, "g", "Level", NULL);
    char *text;

    metric_add(c, ML("a", "pg"), 1);
    metric_add(c, ML("a", "pg"), 2);
    metric_add(c, ML("b", "pg"), 5);
    metric_add(c, ML("a", "pg"), -7); /* a counter never goes down */
    EXPECT_EQ_INT(3, metric_get(c, ML("a", "pg")));
    EXPECT_EQ_INT(5, metric_get(c, ML("b", "pg")));
    EXPECT_EQ_INT(0, metric_get(c, ML("c", "pg")));
    metric_set(g, NULL, 4);
    metric_add(g, NULL, -6);
    EXPECT_EQ_INT(-2, metric_get(g, NULL));
    /* NULL metrics are accepted and ignored. */
    metric_add(NULL, ML("a"), 1);
    metric_observe(NULL, NULL, 1);

    text = render(r);
    EXPECT_EQ_STR("# HELP x_total Things\n"
                  "# TYPE x_total counter\n"
                  "x_total{route=\"a\",sink=\"pg\"} 3\n"
                  "x_total{route=\"b\",sink=\"pg\"} 5\n"
                  "# HELP g Level\n"
                  "# TYPE g gauge\n"
                  "g -2\n",
                  text);
    free(text);
    metrics_free(r);
}

DEF_TEST(touch_exposes_zero)
{
    struct metrics *r = metrics_new();
    struct metric *c = metrics_counter(r, "y_total", "Y", NAMES("class"));
    char *text;

    metric_touch(c, ML("permanent"));
    text = render(r);
    EXPECT_CONTAINS("y_total{class=\"permanent\"} 0\n", text);
    free(text);
    metrics_free(r);
}

DEF_TEST(label_escaping)
{
    struct metrics *r = metrics_new();
    struct metric *c = metrics_counter(r, "e_total", "Back\\slash help", NAMES("key"));
    char *s, *text;

    s = escape("a\\b\"c\nd");
    EXPECT_EQ_STR("\"a\\\\b\\\"c\\nd\"", s);
    free(s);
    s = escape("");
    EXPECT_EQ_STR("\"\"", s);
    free(s);
    s = escape("caf\xc3\xa9 {x=1}, y");
    EXPECT_EQ_STR("\"caf\xc3\xa9 {x=1}, y\"", s);
    free(s);

    metric_add(c, ML("in \"q\"\n"), 1);
    metric_add(c, ML(NULL), 1); /* NULL reads as "" */
    metric_add(c, ML(""), 1);
    text = render(r);
    EXPECT_EQ_STR("# HELP e_total Back\\\\slash help\n"
                  "# TYPE e_total counter\n"
                  "e_total{key=\"in \\\"q\\\"\\n\"} 1\n"
                  "e_total{key=\"\"} 2\n",
                  text);
    free(text);
    metrics_free(r);
}

DEF_TEST(value_format)
{
    static const struct {
        double v;
        const char *s;
    } cases[] = {
        {0, "0"},
        {-0.0, "0"},
        {1, "1"},
        {42, "42"},
        {-3, "-3"},
        {1e15, "1000000000000000"},
        {0.1, "0.1"},
        {0.25, "0.25"},
        {1.5e-7, "1.5e-07"},
        {1.0 / 3, "0.3333333333333333"},
        {9007199254740993.0, "9007199254740992"},
        {1e300, "1e+300"},
        {0.1 + 0.2, "0.30000000000000004"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *s = fmt_value(cases[i].v);
        EXPECT_EQ_STR(cases[i].s, s);
        EXPECT_TRUE(strtod(s, NULL) == cases[i].v);
        free(s);
    }
    {
        char *a = fmt_value(INFINITY), *b = fmt_value(-INFINITY), *c = fmt_value(NAN);
        EXPECT_EQ_STR("+Inf", a);
        EXPECT_EQ_STR("-Inf", b);
        EXPECT_EQ_STR("NaN", c);
        free(a);
        free(b);
        free(c);
    }
}

DEF_TEST(histogram_buckets)
{
    struct metrics *r = metrics_new();
    const double bounds[] = {0.5, 1, 2.5};
    struct metric *h = metrics_histogram(r, "d_seconds", "Durations", NAMES("route"), bounds,
                                         ARRAY_SIZE(bounds));
    struct metric *u = metrics_histogram(r, "u_seconds", "No labels", NULL, bounds, 1);
    char *text;

    metric_observe(h, ML("r"), 0.5); /* on a bound: counted in it (le) */
    metric_observe(h, ML("r"), 0.7);
    metric_observe(h, ML("r"), 1);
    metric_observe(h, ML("r"), 100);
    metric_observe(h, ML("r"), NAN); /* ignored */
    metric_observe(u, NULL, 3);
    EXPECT_EQ_INT(4, metric_get(h, ML("r")));
    text = render(r);
    EXPECT_EQ_STR("# HELP d_seconds Durations\n"
                  "# TYPE d_seconds histogram\n"
                  "d_seconds_bucket{route=\"r\",le=\"0.5\"} 1\n"
                  "d_seconds_bucket{route=\"r\",le=\"1\"} 3\n"
                  "d_seconds_bucket{route=\"r\",le=\"2.5\"} 3\n"
                  "d_seconds_bucket{route=\"r\",le=\"+Inf\"} 4\n"
                  "d_seconds_sum{route=\"r\"} 102.2\n"
                  "d_seconds_count{route=\"r\"} 4\n"
                  "# HELP u_seconds No labels\n"
                  "# TYPE u_seconds histogram\n"
                  "u_seconds_bucket{le=\"0.5\"} 0\n"
                  "u_seconds_bucket{le=\"+Inf\"} 1\n"
                  "u_seconds_sum 3\n"
                  "u_seconds_count 1\n",
                  text);
    free(text);
    metrics_free(r);
}

DEF_TEST(series_cap)
{
    struct metrics *r = metrics_new();
    struct metric *c = metrics_counter(r, "many_total", "Many", NAMES("k"));
    char key[32];

    for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        metric_add(c, ML(key), 1);
    }
    EXPECT_EQ_INT(1, metric_get(c, ML("k0")));
    snprintf(key, sizeof key, "k%d", METRICS_MAX_SERIES - 1);
    EXPECT_EQ_INT(1, metric_get(c, ML(key)));
    snprintf(key, sizeof key, "k%d", METRICS_MAX_SERIES);
    EXPECT_EQ_INT(0, metric_get(c, ML(key)));
    /* existing series keep counting */
    metric_add(c, ML("k0"), 1);
    EXPECT_EQ_INT(2, metric_get(c, ML("k0")));
    metrics_free(r);
}

#define THREADS    4
#define PER_THREAD 20000

struct thread_arg {
    struct metric *c, *h;
    int id;
};

static void *hammer(void *p)
{
    struct thread_arg *a = p;
    const char *route = a->id % 2 ? "odd" : "even";

    for (int i = 0; i < PER_THREAD; i++) {
        metric_add(a->c, ML(route), 1);
        metric_observe(a->h, ML(route), 0.001 * (i % 10));
    }
    return NULL;
}

DEF_TEST(threads)
{
    struct metrics *r = metrics_new();
    const double bounds[] = {0.005};
    struct thread_arg args[THREADS];
    pthread_t t[THREADS];
    char *text;

    for (int i = 0; i < THREADS; i++) {
        args[i].c = metrics_counter(r, "t_total", "T", NAMES("route"));
        args[i].h = metrics_histogram(r, "t_seconds", "T", NAMES("route"), bounds, 1);
        args[i].id = i;
    }
    /* Declared once: later declarations of the same name are refused. */
    for (int i = 1; i < THREADS; i++) {
        EXPECT_TRUE(args[i].c == NULL);
        args[i].c = args[0].c;
        args[i].h = args[0].h;
    }
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, hammer, &args[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    EXPECT_EQ_INT(THREADS / 2 * PER_THREAD, metric_get(args[0].c, ML("odd")));
    EXPECT_EQ_INT(THREADS / 2 * PER_THREAD, metric_get(args[0].c, ML("even")));
    EXPECT_EQ_INT(THREADS / 2 * PER_THREAD, metric_get(args[0].h, ML("odd")));
    text = render(r);
    /* i % 10 in 0..5 is <= 0.005: 6 of every 10 observations */
    EXPECT_CONTAINS("t_seconds_bucket{route=\"odd\",le=\"0.005\"} 24000\n", text);
    free(text);
    metrics_free(r);
}

/* The record's entries, each checked to be NAME=value with a name journald accepts. */
static size_t journal_record(char **rec, const struct job *j, bool *names_ok)
{
    struct observe_job_fields jf;
    size_t n;

    observe_job_fields(j, &jf);
    n = log_journal_record(rec, LOG_JOURNAL_MAX, LOG_INFO, "poller.c", 1, "log_job_result", jf.f,
                           jf.n, "loaded s3://inbox/people/a b.csv");
    *names_ok = true;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(rec[i], '=');
        *names_ok = *names_ok && eq && eq != rec[i] && rec[i][0] != '_' &&
                    !(rec[i][0] >= '0' && rec[i][0] <= '9');
        for (const char *p = rec[i]; eq && p < eq; p++)
            *names_ok = *names_ok &&
                        ((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_');
    }
    return n;
}

static bool has(char **rec, size_t n, const char *entry)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rec[i], entry) == 0)
            return true;
    return false;
}

static bool has_name(char **rec, size_t n, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < n; i++)
        if (strncmp(rec[i], name, len) == 0 && rec[i][len] == '=')
            return true;
    return false;
}

static void free_record(char **rec, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rec[i]);
}

DEF_TEST(journal_fields_of_a_load)
{
    struct sink_conf sc;
    struct route_conf rc;
    struct job j;
    const struct log_field ctx[] = {{"JOB_CONTEXT", "worker-1"}, {"UNSET", NULL}};
    char *rec[LOG_JOURNAL_MAX];
    bool names_ok;
    size_t n;

    memset(&sc, 0, sizeof sc);
    memset(&rc, 0, sizeof rc);
    memset(&j, 0, sizeof j);
    sc.name = (char *)"pg";
    rc.name = (char *)"people";
    rc.sink = &sc;
    j.route = &rc;
    j.bucket = (char *)"inbox";
    j.key = (char *)"people/a b.csv";
    j.message_id = (char *)"0f1e-msg";
    j.stats.rows = 2;
    j.stats.bytes = 20;
    j.duration_ms = 53;
    j.result = JOB_LOADED;

    n = journal_record(rec, &j, &names_ok);
    EXPECT_TRUE(names_ok);
    EXPECT_TRUE(has(rec, n, "MESSAGE=loaded s3://inbox/people/a b.csv"));
    EXPECT_TRUE(has(rec, n, "PRIORITY=6"));
    EXPECT_TRUE(has(rec, n, "SYSLOG_IDENTIFIER=ingestd"));
    EXPECT_TRUE(has(rec, n, "S3_BUCKET=inbox"));
    EXPECT_TRUE(has(rec, n, "S3_KEY=people/a b.csv"));
    EXPECT_TRUE(has(rec, n, "ROUTE=people"));
    EXPECT_TRUE(has(rec, n, "SINK=pg"));
    EXPECT_TRUE(has(rec, n, "ROWS=2"));
    EXPECT_TRUE(has(rec, n, "BYTES=20"));
    EXPECT_TRUE(has(rec, n, "DURATION_MS=53"));
    EXPECT_TRUE(has(rec, n, "SQS_MESSAGE_ID=0f1e-msg"));
    EXPECT_TRUE(!has_name(rec, n, "ERROR_CLASS"));
    free_record(rec, n);

    /* A failure names its class; the thread's context is part of the record. */
    j.result = JOB_FAILED;
    j.err.cls = IERR_PERMANENT;
    log_context_set(ctx, ARRAY_SIZE(ctx));
    n = journal_record(rec, &j, &names_ok);
    log_context_clear();
    EXPECT_TRUE(names_ok);
    EXPECT_TRUE(has(rec, n, "ERROR_CLASS=permanent"));
    EXPECT_TRUE(has(rec, n, "JOB_CONTEXT=worker-1"));
    EXPECT_TRUE(!has_name(rec, n, "UNSET"));
    EXPECT_TRUE(has(rec, n, "S3_KEY=people/a b.csv"));
    free_record(rec, n);

    j.err.cls = IERR_TRANSIENT;
    n = journal_record(rec, &j, &names_ok);
    EXPECT_TRUE(has(rec, n, "ERROR_CLASS=transient"));
    free_record(rec, n);
}

int main(void)
{
    RUN_TEST(declaration_rules);
    RUN_TEST(counters_and_gauges);
    RUN_TEST(touch_exposes_zero);
    RUN_TEST(label_escaping);
    RUN_TEST(value_format);
    RUN_TEST(histogram_buckets);
    RUN_TEST(series_cap);
    RUN_TEST(threads);
    RUN_TEST(journal_fields_of_a_load);
    return tap_done();
}
