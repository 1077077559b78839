/*
 * metrics.c: the registry and its text exposition (see metrics.h).
 *
 * A metric holds its series in an array searched linearly: label sets are small
 * (routes, sinks, error classes and codes), so a hash would cost more than it
 * saves. One mutex per registry guards every series; values are doubles, which
 * count exactly up to 2^53. Nothing here logs except the one notice when a metric
 * reaches METRICS_MAX_SERIES, and nothing blocks but the mutex.
 */
#include "daemon/metrics.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct series {
    char **values;     /* one per label name */
    double value;      /* counter, gauge */
    uint64_t *buckets; /* histogram: count per bound (not cumulative), then +Inf */
    double sum;
    uint64_t count;
};

struct metric {
    struct metrics *reg;
    enum metric_type type;
    char *name;
    char *help;
    char **labels;
    size_t nlabels;
    double *bounds;
    size_t nbounds;
    struct series *series;
    size_t nseries, capseries;
    bool overflow_logged;
};

struct metrics {
    pthread_mutex_t lock;
    struct metric **v;
    size_t n, cap;
};

struct metrics *metrics_new(void)
{
    struct metrics *r = xcalloc(1, sizeof *r);

    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void metric_free(struct metric *m)
{
    for (size_t i = 0; i < m->nseries; i++) {
        struct series *s = &m->series[i];
        for (size_t j = 0; j < m->nlabels; j++)
            free(s->values[j]);
        free(s->values);
        free(s->buckets);
    }
    for (size_t j = 0; j < m->nlabels; j++)
        free(m->labels[j]);
    free(m->labels);
    free(m->series);
    free(m->bounds);
    free(m->name);
    free(m->help);
    free(m);
}

void metrics_free(struct metrics *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        metric_free(r->v[i]);
    free(r->v);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static bool valid_name(const char *s, bool colon)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_' || (colon && *s == ':')))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || (colon && *s == ':')))
            return false;
    return true;
}

static struct metric *declare(struct metrics *r, enum metric_type type, const char *name,
                              const char *help, const char *const *labels, const double *bounds,
                              size_t nbounds)
{
    struct metric *m;
    size_t nlabels = 0;

    if (!r || !valid_name(name, true) || !help || strchr(help, '\n'))
        return NULL;
    for (; labels && labels[nlabels]; nlabels++) {
        if (!valid_name(labels[nlabels], false) || str_has_prefix(labels[nlabels], "__") ||
            (type == METRIC_HISTOGRAM && strcmp(labels[nlabels], "le") == 0))
            return NULL;
        for (size_t j = 0; j < nlabels; j++)
            if (strcmp(labels[j], labels[nlabels]) == 0)
                return NULL;
    }
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return NULL;

    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->v[i]->name, name) == 0) {
            pthread_mutex_unlock(&r->lock);
            return NULL;
        }
    }
    m = xcalloc(1, sizeof *m);
    m->reg = r;
    m->type = type;
    m->name = xstrdup(name);
    m->help = xstrdup(help);
    m->nlabels = nlabels;
    m->labels = xcalloc(nlabels ? nlabels : 1, sizeof *m->labels);
    for (size_t j = 0; j < nlabels; j++)
        m->labels[j] = xstrdup(labels[j]);
    if (nbounds) {
        m->bounds = xmalloc(nbounds * sizeof *m->bounds);
        memcpy(m->bounds, bounds, nbounds * sizeof *m->bounds);
        m->nbounds = nbounds;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 32;
        r->v = xrealloc(r->v, r->cap * sizeof *r->v);
    }
    r->v[r->n++] = m;
    pthread_mutex_unlock(&r->lock);
    return m;
}

struct metric *metrics_counter(struct metrics *r, const char *name, const char *help,
                               const char *const *labels)
{
    return declare(r, METRIC_COUNTER, name, help, labels, NULL, 0);
}

struct metric *metrics_gauge(struct metrics *r, const char *name, const char *help,
                             const char *const *labels)
{
    return declare(r, METRIC_GAUGE, name, help, labels, NULL, 0);
}

struct metric *metrics_histogram(struct metrics *r, const char *name, const char *help,
                                 const char *const *labels, const double *bounds, size_t nbounds)
{
    return declare(r, METRIC_HISTOGRAM, name, help, labels, bounds, nbounds);
}

static const char *value_at(const char *const *values, size_t i)
{
    return values && values[i] ? values[i] : "";
}

/* The series for values, created when create is set; NULL when absent or over the cap.
 * Called with the registry locked. */
static struct series *find(struct metric *m, const char *const *values, bool create)
{
    struct series *s;

    for (size_t i = 0; i < m->nseries; i++) {
        size_t j = 0;
        while (j < m->nlabels && strcmp(m->series[i].values[j], value_at(values, j)) == 0)
            j++;
        if (j == m->nlabels)
            return &m->series[i];
    }
    if (!create)
        return NULL;
    if (m->nseries == METRICS_MAX_SERIES) {
        if (!m->overflow_logged)
            log_notice("metric %s reached %d label sets: new ones are not recorded", m->name,
                       METRICS_MAX_SERIES);
        m->overflow_logged = true;
        return NULL;
    }
    if (m->nseries == m->capseries) {
        m->capseries = m->capseries ? 2 * m->capseries : 4;
        m->series = xrealloc(m->series, m->capseries * sizeof *m->series);
    }
    s = &m->series[m->nseries++];
    memset(s, 0, sizeof *s);
    s->values = xcalloc(m->nlabels ? m->nlabels : 1, sizeof *s->values);
    for (size_t j = 0; j < m->nlabels; j++)
        s->values[j] = xstrdup(value_at(values, j));
    if (m->type == METRIC_HISTOGRAM)
        s->buckets = xcalloc(m->nbounds + 1, sizeof *s->buckets);
    return s;
}

void metric_add(struct metric *m, const char *const *values, double v)
{
    struct series *s;

    if (!m || m->type == METRIC_HISTOGRAM || (m->type == METRIC_COUNTER && !(v >= 0)))
        return;
    pthread_mutex_lock(&m->reg->lock);
    s = find(m, values, true);
    if (s)
        s->value += v;
    pthread_mutex_unlock(&m->reg->lock);
}

void metric_set(struct metric *m, const char *const *values, double v)
{
    struct series *s;

    if (!m || m->type == METRIC_HISTOGRAM)
        return;
    pthread_mutex_lock(&m->reg->lock);
    s = find(m, values, true);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&m->reg->lock);
}

void metric_observe(struct metric *m, const char *const *values, double v)
{
    struct series *s;
    size_t b = 0;

    if (!m || m->type != METRIC_HISTOGRAM || isnan(v))
        return;
    while (b < m->nbounds && v > m->bounds[b])
        b++;
    pthread_mutex_lock(&m->reg->lock);
    s = find(m, values, true);
    if (s) {
        s->buckets[b]++;
        s->count++;
        s->sum += v;
    }
    pthread_mutex_unlock(&m->reg->lock);
}

void metric_touch(struct metric *m, const char *const *values)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->reg->lock);
    find(m, values, true);
    pthread_mutex_unlock(&m->reg->lock);
}

double metric_get(struct metric *m, const char *const *values)
{
    struct series *s;
    double v = 0;

    if (!m)
        return 0;
    pthread_mutex_lock(&m->reg->lock);
    s = find(m, values, false);
    if (s)
        v = m->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&m->reg->lock);
    return v;
}

void metrics_format_value(struct buf *out, double v)
{
    char tmp[40];

    if (isnan(v)) {
        buf_puts(out, "NaN");
        return;
    }
    if (isinf(v)) {
        buf_puts(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (fabs(v) < 9007199254740992.0 && v == (double)(long long)v) {
        buf_printf(out, "%.0f", v == 0 ? 0.0 : v);
        return;
    }
    /* The shortest of %.15g..%.17g that reads back as the same double. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    buf_puts(out, tmp);
}

void metrics_escape_label(struct buf *out, const char *s)
{
    buf_putc(out, '"');
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '"')
            buf_puts(out, "\\\"");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else
            buf_putc(out, *s);
    }
    buf_putc(out, '"');
}

static void put_help(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else
            buf_putc(out, *s);
    }
}

/* name{labels[,le="b"]} value\n; le may be NULL. */
static void put_sample(struct buf *out, const struct metric *m, const char *suffix,
                       const struct series *s, const double *le, double v)
{
    bool any = m->nlabels > 0 || le;

    buf_printf(out, "%s%s", m->name, suffix);
    if (any)
        buf_putc(out, '{');
    for (size_t j = 0; j < m->nlabels; j++) {
        buf_printf(out, "%s%s=", j ? "," : "", m->labels[j]);
        metrics_escape_label(out, s->values[j]);
    }
    if (le) {
        struct buf b;
        buf_init(&b);
        metrics_format_value(&b, *le);
        buf_printf(out, "%sle=", m->nlabels ? "," : "");
        metrics_escape_label(out, b.data);
        buf_free(&b);
    }
    if (any)
        buf_putc(out, '}');
    buf_putc(out, ' ');
    metrics_format_value(out, v);
    buf_putc(out, '\n');
}

static const char *type_name(enum metric_type t)
{
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

void metrics_render(struct metrics *r, struct buf *out)
{
    const double inf = INFINITY;

    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++) {
        const struct metric *m = r->v[i];

        buf_printf(out, "# HELP %s ", m->name);
        put_help(out, m->help);
        buf_printf(out, "\n# TYPE %s %s\n", m->name, type_name(m->type));
        for (size_t k = 0; k < m->nseries; k++) {
            const struct series *s = &m->series[k];
            uint64_t cum = 0;

            if (m->type != METRIC_HISTOGRAM) {
                put_sample(out, m, "", s, NULL, s->value);
                continue;
            }
            for (size_t b = 0; b < m->nbounds; b++) {
                cum += s->buckets[b];
                put_sample(out, m, "_bucket", s, &m->bounds[b], (double)cum);
            }
            put_sample(out, m, "_bucket", s, &inf, (double)s->count);
            put_sample(out, m, "_sum", s, NULL, s->sum);
            put_sample(out, m, "_count", s, NULL, (double)s->count);
        }
    }
    pthread_mutex_unlock(&r->lock);
}
