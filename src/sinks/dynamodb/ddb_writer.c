/*
 * ddb_writer.c: BatchWriteItem groups in flight, retries and ordering (see ddb_writer.h).
 *
 * The writer keeps at most DDB_WRITER_MAX_IN_FLIGHT groups outstanding: sent, or
 * waiting for their retry time. There is no timer: pump() starts the groups whose
 * time has come and waits on the HTTP client at most until the next of them.
 */
#include "sinks/dynamodb/ddb_writer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/dynamodb/ddb_proto.h"
#include "base/log.h"

#define BACKOFF_BASE_MS 50
#define BACKOFF_CAP_MS  5000
#define SINGLE_ATTEMPTS 5

struct pitem {
    size_t off, len;   /* in items */
    size_t koff, klen; /* in keys */
    uint64_t line;
    bool dead; /* replaced by a later item with the same key */
};

struct group {
    struct buf items, keys;
    struct pitem *v;
    size_t n, cap, live;
    size_t bytes; /* of the live items */
    unsigned retries;
    struct ddb_call *call; /* in flight; NULL while waiting for ready_at */
    uint64_t ready_at;
};

struct ddb_writer {
    struct ddb_http *h;
    char *table;
    const struct ddb_key_schema *ks;
    struct group *cur;
    struct group *out[DDB_WRITER_MAX_IN_FLIGHT];
    size_t nout;
    bool failed;
    bool table_missing;
    struct ierr err;
    struct ddb_writer_stats st;
    uint64_t backoff_base_ms, backoff_cap_ms;
};

static struct group *group_new(void)
{
    return xcalloc(1, sizeof(struct group));
}

static void group_free(struct group *g)
{
    if (!g)
        return;
    buf_free(&g->items);
    buf_free(&g->keys);
    free(g->v);
    free(g);
}

static bool same_key(const struct group *a, const struct pitem *x, const struct group *b,
                     const struct pitem *y)
{
    return x->klen == y->klen &&
           memcmp(a->keys.data + x->koff, b->keys.data + y->koff, x->klen) == 0;
}

/* Appends an item; an earlier live item with the same key dies. Returns true if one did. */
static bool group_push(struct group *g, const char *item, size_t n, const char *key, size_t kn,
                       uint64_t line)
{
    struct pitem p = {g->items.len, n, g->keys.len, kn, line, false};
    bool replaced = false;

    buf_append(&g->items, item, n);
    buf_append(&g->keys, key, kn);
    for (size_t i = 0; i < g->n; i++) {
        struct pitem *q = &g->v[i];
        if (!q->dead && same_key(g, q, g, &p)) {
            q->dead = true;
            g->live--;
            g->bytes -= q->len;
            replaced = true;
        }
    }
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 32;
        g->v = xrealloc(g->v, g->cap * sizeof *g->v);
    }
    g->v[g->n++] = p;
    g->live++;
    g->bytes += n;
    return replaced;
}

static uint64_t first_line(const struct group *g)
{
    for (size_t i = 0; i < g->n; i++)
        if (!g->v[i].dead)
            return g->v[i].line;
    return 0;
}

struct ddb_writer *ddb_writer_new(struct ddb_http *h)
{
    struct ddb_writer *w = xcalloc(1, sizeof *w);
    w->h = h;
    w->backoff_base_ms = BACKOFF_BASE_MS;
    w->backoff_cap_ms = BACKOFF_CAP_MS;
    return w;
}

void ddb_writer_set_backoff(struct ddb_writer *w, uint64_t base_ms, uint64_t cap_ms)
{
    w->backoff_base_ms = base_ms;
    w->backoff_cap_ms = cap_ms;
}

void ddb_writer_begin(struct ddb_writer *w, const char *table, const struct ddb_key_schema *ks)
{
    ddb_writer_reset(w);
    free(w->table);
    w->table = xstrdup(table);
    w->ks = ks;
}

void ddb_writer_reset(struct ddb_writer *w)
{
    for (size_t i = 0; i < w->nout; i++)
        w->out[i]->call = NULL; /* freed by cancel_all below */
    ddb_http_cancel_all(w->h);
    for (size_t i = 0; i < w->nout; i++)
        group_free(w->out[i]);
    w->nout = 0;
    group_free(w->cur);
    w->cur = NULL;
    w->failed = false;
    w->table_missing = false;
    memset(&w->err, 0, sizeof w->err);
    memset(&w->st, 0, sizeof w->st);
}

void ddb_writer_free(struct ddb_writer *w)
{
    if (!w)
        return;
    ddb_writer_reset(w);
    free(w->table);
    free(w);
}

void ddb_writer_get_stats(const struct ddb_writer *w, struct ddb_writer_stats *st)
{
    *st = w->st;
}

bool ddb_writer_table_missing(const struct ddb_writer *w)
{
    return w->table_missing;
}

static void fail(struct ddb_writer *w, const struct ierr *e)
{
    if (!w->failed)
        w->err = *e;
    w->failed = true;
}

static void body_of(const struct ddb_writer *w, const struct group *g, size_t only, struct buf *b)
{
    bool first = true;

    buf_init(b);
    buf_reserve(b, g->bytes + ddb_batch_overhead(w->table, g->live));
    ddb_batch_open(b, w->table);
    for (size_t i = 0; i < g->n; i++) {
        if (g->v[i].dead || (only != SIZE_MAX && i != only))
            continue;
        ddb_batch_put(b, g->items.data + g->v[i].off, g->v[i].len, first);
        first = false;
    }
    ddb_batch_close(b);
}

static void start(struct ddb_writer *w, struct group *g)
{
    struct buf body;

    body_of(w, g, SIZE_MAX, &body);
    g->call = ddb_http_start(w->h, "BatchWriteItem", &body, g);
    w->st.requests++;
}

static void remove_out(struct ddb_writer *w, struct group *g)
{
    for (size_t i = 0; i < w->nout; i++) {
        if (w->out[i] == g) {
            memmove(w->out + i, w->out + i + 1, (w->nout - i - 1) * sizeof *w->out);
            w->nout--;
            break;
        }
    }
    group_free(g);
}

static void schedule_retry(struct ddb_writer *w, struct group *g, const char *why)
{
    struct ierr e;

    if (g->retries >= DDB_WRITER_MAX_RETRIES) {
        ierr_set(&e, IERR_TRANSIENT, "BatchWriteItem into %s: %s, still after %u retries", w->table,
                 why, g->retries);
        e.line = first_line(g);
        fail(w, &e);
        return;
    }
    uint64_t ms = backoff_full_jitter_ms(g->retries, w->backoff_base_ms, w->backoff_cap_ms);
    g->retries++;
    g->ready_at = now_monotonic_ms() + ms;
    log_debug("BatchWriteItem into %s: %s; %zu items again in %" PRIu64 " ms (retry %u)", w->table,
              why, g->live, ms, g->retries);
}

/* The group's items become the unprocessed ones, with their lines where the keys match. */
static void group_replace(struct group *g, const struct ddb_unprocessed *u)
{
    struct group *ng = group_new();

    for (size_t i = 0; i < u->n; i++) {
        struct pitem probe = {0, 0, 0, u->key_len[i], 0, false};
        struct group kg = {.keys = {u->keys[i], u->key_len[i], u->key_len[i]}};
        uint64_t line = 0;
        for (size_t j = 0; j < g->n && !line; j++)
            if (!g->v[j].dead && same_key(g, &g->v[j], &kg, &probe))
                line = g->v[j].line;
        group_push(ng, u->items[i], strlen(u->items[i]), u->keys[i], u->key_len[i], line);
    }
    buf_free(&g->items);
    buf_free(&g->keys);
    free(g->v);
    g->items = ng->items;
    g->keys = ng->keys;
    g->v = ng->v;
    g->n = ng->n;
    g->cap = ng->cap;
    g->live = ng->live;
    g->bytes = ng->bytes;
    free(ng);
}

static enum ierr_class class_of(const struct aws_error *ae)
{
    static const char *const config_codes[] = {
        "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
        "MissingAuthenticationTokenException", "IncompleteSignatureException"};
    if (ae->retryable || ae->kind == AWS_ERR_NETWORK || ae->kind == AWS_ERR_CREDENTIALS ||
        strstr(ae->code, "ExpiredToken"))
        return IERR_TRANSIENT;
    for (size_t i = 0; i < ARRAY_SIZE(config_codes); i++)
        if (!strcmp(ae->code, config_codes[i]))
            return IERR_CONFIG;
    return IERR_PERMANENT;
}

static void fail_aws(struct ddb_writer *w, const struct aws_error *ae, uint64_t line)
{
    char eb[800];
    struct ierr e;

    if (!strcmp(ae->code, "ResourceNotFoundException")) {
        w->table_missing = true;
        ierr_set(&e, IERR_PERMANENT, "DynamoDB table %s does not exist", w->table);
    } else if (line) {
        ierr_set(&e, class_of(ae), "line %" PRIu64 ": BatchWriteItem into %s: %s", line, w->table,
                 aws_error_str(ae, eb, sizeof eb));
    } else {
        ierr_set(&e, class_of(ae), "BatchWriteItem into %s: %s", w->table,
                 aws_error_str(ae, eb, sizeof eb));
    }
    e.line = line;
    fail(w, &e);
}

/* Writes one item alone, retrying throttling and unprocessed answers. 0 when written. */
static int write_single(struct ddb_writer *w, const struct group *g, size_t i, struct aws_error *ae)
{
    for (int attempt = 0; attempt < SINGLE_ATTEMPTS; attempt++) {
        struct ddb_unprocessed u;
        const char *why;
        struct buf body;

        body_of(w, g, i, &body);
        struct ddb_call *c = ddb_http_call(w->h, "BatchWriteItem", &body, SINGLE_ATTEMPTS);
        w->st.requests++;
        *ae = c->err;
        if (c->err.kind != AWS_OK) {
            ddb_call_free(c);
            return -1;
        }
        int rc = ddb_parse_batch(c->resp.data, c->resp.len, w->table, w->ks, &u, &why);
        ddb_call_free(c);
        if (rc == 0 && u.n == 0)
            return 0;
        ddb_unprocessed_free(&u);
        uint64_t ms = backoff_full_jitter_ms((unsigned)attempt, w->backoff_base_ms,
                                             w->backoff_cap_ms);
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    aws_error_set(ae, AWS_ERR_HTTP, "dynamodb", "item still unprocessed after %d attempts",
                  SINGLE_ATTEMPTS);
    ae->retryable = true;
    return -1;
}

/* A group was refused as invalid: find the row by writing its items one at a time.
 * Puts are idempotent, so items that were (or get) written twice do no harm. */
static void narrow(struct ddb_writer *w, struct group *g, const struct aws_error *group_err)
{
    struct aws_error ae;

    if (g->live == 1) {
        fail_aws(w, group_err, first_line(g));
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        if (g->v[i].dead)
            continue;
        if (write_single(w, g, i, &ae) < 0) {
            fail_aws(w, &ae, g->v[i].line);
            return;
        }
    }
    /* Each item was fine alone: the group is written. */
    log_info("BatchWriteItem into %s: a group of %zu items was refused (%s), written one by one",
             w->table, g->live, group_err->message);
    w->st.written += g->live;
    remove_out(w, g);
}

static void on_done(struct ddb_writer *w, struct group *g)
{
    struct ddb_call *c = g->call;
    struct ddb_unprocessed u;
    const char *why;
    char eb[800];

    g->call = NULL;
    if (c->err.kind == AWS_OK) {
        if (ddb_parse_batch(c->resp.data, c->resp.len, w->table, w->ks, &u, &why) < 0) {
            struct ierr e;
            ierr_set(&e, IERR_TRANSIENT, "BatchWriteItem into %s: unreadable answer: %s", w->table,
                     why);
            fail(w, &e);
        } else if (u.n == 0) {
            w->st.written += g->live;
            remove_out(w, g);
        } else {
            w->st.written += g->live - (u.n < g->live ? u.n : g->live);
            w->st.unprocessed += u.n;
            group_replace(g, &u);
            snprintf(eb, sizeof eb, "%zu unprocessed items", u.n);
            schedule_retry(w, g, eb);
        }
        ddb_unprocessed_free(&u);
    } else if (c->err.retryable) {
        schedule_retry(w, g, aws_error_str(&c->err, eb, sizeof eb));
    } else if (!strcmp(c->err.code, "ValidationException")) {
        narrow(w, g, &c->err);
    } else {
        fail_aws(w, &c->err, first_line(g));
    }
    ddb_call_free(c);
}

/* Starts groups whose retry time has come; collects at most one completion, waiting
 * for it when block is set (never longer than until the next retry is due). */
static void pump(struct ddb_writer *w, bool block)
{
    uint64_t now = now_monotonic_ms(), next = UINT64_MAX;
    struct ddb_call *c;
    long timeout = 0;

    for (size_t i = 0; i < w->nout; i++) {
        struct group *g = w->out[i];
        if (g->call)
            continue;
        if (g->ready_at <= now) {
            start(w, g);
            w->st.retries++;
        } else if (g->ready_at < next) {
            next = g->ready_at;
        }
    }
    if (block)
        timeout = next == UINT64_MAX ? 1000 : (long)(next - now);
    c = ddb_http_wait(w->h, timeout);
    if (c)
        on_done(w, c->user);
}

static bool conflicts(const struct ddb_writer *w, const struct group *g)
{
    for (size_t o = 0; o < w->nout; o++) {
        const struct group *x = w->out[o];
        for (size_t i = 0; i < x->n; i++) {
            if (x->v[i].dead)
                continue;
            for (size_t j = 0; j < g->n; j++)
                if (!g->v[j].dead && same_key(x, &x->v[i], g, &g->v[j]))
                    return true;
        }
    }
    return false;
}

static int send_cur(struct ddb_writer *w, struct ierr *e)
{
    struct group *g = w->cur;

    w->cur = NULL;
    if (!g || g->live == 0) {
        group_free(g);
        return 0;
    }
    while (!w->failed && (w->nout >= DDB_WRITER_MAX_IN_FLIGHT || conflicts(w, g)))
        pump(w, true);
    if (w->failed) {
        group_free(g);
        *e = w->err;
        return -1;
    }
    w->out[w->nout++] = g;
    start(w, g);
    return 0;
}

int ddb_writer_add(struct ddb_writer *w, const char *item, size_t n, const char *key, size_t keylen,
                   uint64_t line, struct ierr *e)
{
    if (w->failed) {
        *e = w->err;
        return -1;
    }
    if (w->cur && w->cur->live &&
        w->cur->bytes + n + ddb_batch_overhead(w->table, w->cur->live + 1) > DDB_BATCH_MAX_BYTES &&
        send_cur(w, e) < 0)
        return -1;
    if (!w->cur)
        w->cur = group_new();
    w->st.items++;
    if (group_push(w->cur, item, n, key, keylen, line))
        w->st.replaced++;
    if (w->cur->live == DDB_BATCH_MAX_ITEMS && send_cur(w, e) < 0)
        return -1;
    pump(w, false);
    if (w->failed) {
        *e = w->err;
        return -1;
    }
    return 0;
}

int ddb_writer_flush(struct ddb_writer *w, struct ierr *e)
{
    if (!w->failed && send_cur(w, e) < 0)
        return -1;
    while (!w->failed && w->nout)
        pump(w, true);
    if (w->failed) {
        *e = w->err;
        return -1;
    }
    return 0;
}
