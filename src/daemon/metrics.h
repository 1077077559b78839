/*
 * metrics.h: a small registry of counters, gauges and histograms with labels, and
 * its exposition in the Prometheus text format 0.0.4.
 *
 * It knows nothing of ingestd: observe.h defines the daemon's metric set on top of
 * it, httpd/httpd.h serves it (observe.c). A registry is created once, its metrics declared
 * before any thread may update them; from then on every function here is
 * thread-safe (one mutex per registry, held for a lookup and an addition, so
 * contention stays negligible at ingestd's event rates).
 *
 * Label values are passed as an array holding one string per declared label name,
 * in declaration order (ML("route", "sink") builds one); NULL values are read as
 * "". A metric pointer may be NULL: every update is then a no-op, which lets code
 * that also runs outside the daemon (ingestd load) call the same hooks.
 */
#ifndef INGESTD_METRICS_H
#define INGESTD_METRICS_H

#include <stddef.h>

#include "base/util.h"

/* A compound literal of label values: metric_add(m, ML(route, sink), 1). */
#define ML(...) ((const char *const[]){__VA_ARGS__})

/* Series kept per metric; further label combinations are dropped (and logged once). */
#define METRICS_MAX_SERIES 1000

struct metrics;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *r); /* NULL-safe; frees every metric */

/*
 * Declares a metric. name must match [a-zA-Z_:][a-zA-Z0-9_:]* and be new in r;
 * labels is a NULL-terminated list of names matching [a-zA-Z_][a-zA-Z0-9_]* (not
 * starting with "__", not "le" for histograms), or NULL. help is one line of text.
 * bounds are the histogram's upper bounds, strictly ascending and finite (+Inf is
 * implied). Returns NULL when any of that does not hold. The strings are copied.
 */
struct metric *metrics_counter(struct metrics *r, const char *name, const char *help,
                               const char *const *labels);
struct metric *metrics_gauge(struct metrics *r, const char *name, const char *help,
                             const char *const *labels);
struct metric *metrics_histogram(struct metrics *r, const char *name, const char *help,
                                 const char *const *labels, const double *bounds, size_t nbounds);

/* Counter or gauge: adds v (a counter ignores v < 0). values: see above; NULL when the
 * metric has no labels. */
void metric_add(struct metric *m, const char *const *values, double v);
/* Gauge, or a counter mirrored from a monotonic source: sets the value. */
void metric_set(struct metric *m, const char *const *values, double v);
/* Histogram: one observation. */
void metric_observe(struct metric *m, const char *const *values, double v);
/* Creates the series with value 0 if it does not exist, so that it is exposed before
 * its first event. */
void metric_touch(struct metric *m, const char *const *values);

/* The value of a series (a histogram's: its count); 0 when the series does not exist. */
double metric_get(struct metric *m, const char *const *values);

/* Appends the whole registry in the text format 0.0.4, metrics in declaration order,
 * series in creation order. */
void metrics_render(struct metrics *r, struct buf *out);

/* Formatting helpers of the format, exposed for tests: a sample value ("+Inf", "NaN",
 * integers without a fraction, else the shortest form that reads back exactly) and a
 * label value between quotes (\\, \" and \n escaped). */
void metrics_format_value(struct buf *out, double v);
void metrics_escape_label(struct buf *out, const char *s);

#endif
