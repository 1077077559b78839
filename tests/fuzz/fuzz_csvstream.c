/*
 * fuzz_csvstream.c: csvstream (and decompress in front of it) on arbitrary objects under arbitrary
 * dialects.
 *
 * The first bytes of the input choose the route: format csv or tsv, header, delimiter, quote (or
 * none), explicit columns, null strings, skip_lines, on_error and max_errors, validate.* rules,
 * batch and field limits, whether the object goes through decompress (auto, none, gzip or zstd)
 * and where the consumer's callbacks fail. The rest is the object, fed in chunk sizes also taken
 * from the input, then once more in a single chunk: both runs must give the same rows, rejects and
 * error (see same_outcome for the one tolerated difference).
 *
 * Invariants checked on every callback: columns announced once, before any batch, non-empty and
 * unique names; every row has columns->n fields, each NULL or NUL-terminated, without NUL bytes,
 * valid UTF-8, within max_field, satisfying every validate rule; TSV fields hold no delimiter, CR
 * or LF; row lines and reject lines are each non-decreasing (rows come in batches, rejects at
 * once), past skip_lines and never beyond the line terminators seen; rejects only under skip_row
 * and never more than max_errors; an error has a reason and a line >= 1 (0 only for the
 * whole-object errors "no header line" and a validate column the object lacks); a consumer's error
 * comes back unchanged; nothing is called back after a failure; the stats add up.
 */
#include <regex.h>

#include "base/config.h"
#include "input/csvstream.h"
#include "input/decompress.h"
#include "fuzz.h"
#include "base/utf8.h"
#include "base/util.h"

#define OUT_CAP (2u << 20) /* decompressed bytes a run may produce: bounds zstd/gzip bombs */

static const char *const col_names[] = {"a", "b", "c", "d", "column1", "column2"};
static const char *const regexes[] = {"^[0-9]+$", "^a", "x|y", "^.{0,3}$", "[[:alpha:]]"};

struct dialect {
    struct route_conf rc;
    char nullbuf[3][5];
    char *nullv[4];
    char *colv[4];
    char *rule_text[3];
    bool decompress;
    enum compression comp;
    struct csvstream_limits lim;
    unsigned fail_columns; /* 1: the columns callback fails */
    unsigned fail_batch;   /* the batch callback fails on this batch (1-based); 0 never */
    unsigned fail_reject;  /* the reject callback fails on this reject; 0 never */
    uint8_t chunk_seed[4];
};

struct run {
    const struct dialect *d;
    struct csvstream *s;
    struct decompress *z;
    const uint8_t *object; /* the raw input, to compare with a pass-through decompress */
    size_t object_len;
    size_t out_off; /* decompressed bytes so far */
    bool capped;
    uint64_t terminators; /* CR and LF bytes given to the stream so far */
    uint64_t fed;
    bool announced;
    size_t ncols;
    bool failed;                              /* the stream reported failure: no more callbacks */
    uint64_t last_row_line, last_reject_line; /* rows are batched, rejects are not */
    uint64_t rows, rejects, batches;
    struct ierr mine; /* the error a callback returned */
    struct buf log;   /* the outcome, compared between chunkings */
};

static void take_dialect(struct fuzz_in *in, struct dialect *d)
{
    static const char delims[] = {',', ';', '|', '\t', ' ', 'a', '"', '\''};
    static const char quotes[] = {'"', '\'', '\0', '|', ',', '\t', 'x', '"'};
    uint8_t f = fuzz_u8(in), v;
    unsigned ncols, nnull, nrules;

    memset(d, 0, sizeof(*d));
    d->rc.name = "fuzz";
    d->rc.format = (f & 1) ? FORMAT_TSV : FORMAT_CSV;
    if ((f & 0x0e) == 0x0e)
        d->rc.format = FORMAT_JSONL; /* csvstream_new must refuse it */
    d->rc.header = f & 0x10;
    d->rc.on_error = (f & 0x20) ? ON_ERROR_SKIP_ROW : ON_ERROR_ABORT;
    d->decompress = f & 0x40;
    v = fuzz_u8(in);
    d->rc.delimiter = (v & 0x80) ? (char)v : delims[v % sizeof(delims)];
    if (v == 0x80)
        d->rc.delimiter = d->rc.format == FORMAT_TSV ? '\t' : ','; /* the config default */
    v = fuzz_u8(in);
    d->rc.quote = (v & 0x80) ? (char)v : quotes[v % sizeof(quotes)];
    v = fuzz_u8(in);
    d->rc.skip_lines = v & 3;
    d->rc.max_errors = ((v >> 2) & 7) % 6;
    d->comp = (enum compression)((v >> 5) & 3);
    v = fuzz_u8(in);
    ncols = (v & 7) % 5;
    nnull = (v >> 3) & 3;
    nrules = (v >> 5) & 3;
    for (unsigned i = 0; i < ncols; i++)
        d->colv[i] = (char *)col_names[i];
    d->rc.columns.v = d->colv;
    d->rc.columns.n = ncols;
    /* the config default is one null string, "" */
    for (unsigned i = 0; i < nnull; i++) {
        fuzz_str(in, d->nullbuf[i], 4);
        d->nullv[i] = d->nullbuf[i];
    }
    if (nnull == 0) {
        d->nullv[0] = d->nullbuf[0];
        nnull = (f & 0x80) ? 0 : 1;
    }
    d->rc.null.v = d->nullv;
    d->rc.null.n = nnull;
    d->rc.rules = xcalloc(nrules + 1, sizeof(*d->rc.rules));
    for (unsigned i = 0; i < nrules; i++) {
        struct rule *r = &d->rc.rules[d->rc.nrules];
        uint8_t k = fuzz_u8(in), a = fuzz_u8(in), b = fuzz_u8(in);

        r->column = (char *)col_names[(k & 7) % ARRAY_SIZE(col_names)];
        r->kind = (enum rule_kind)((k >> 3) & 3);
        r->min = r->kind == RULE_INT ? (int64_t)(int8_t)a : a % 8;
        r->max = r->min + b % 16;
        if (r->kind == RULE_REGEX) {
            const char *re = regexes[a % ARRAY_SIZE(regexes)];
            if (regcomp(&r->re, re, REG_EXTENDED | REG_NOSUB) != 0)
                abort();
            d->rule_text[i] = xasprintf("regex:%s", re);
        } else {
            d->rule_text[i] = xasprintf("rule %u", i);
        }
        r->text = d->rule_text[i];
        r->line = 1;
        d->rc.nrules++;
    }
    v = fuzz_u8(in);
    d->lim.batch_rows = 1 + v % 8;
    d->lim.batch_bytes = (v & 0x80) ? 64 : 0;
    v = fuzz_u8(in);
    d->lim.max_field = (v & 0x80) ? 0 : 1 + (size_t)v * 4;
    v = fuzz_u8(in);
    d->fail_columns = (v & 7) == 7;
    d->fail_batch = (v >> 3) % 8 == 7 ? 1 + (v >> 6) : 0;
    d->fail_reject = (v >> 6) == 3 ? 1 + (v & 1) : 0;
    for (size_t i = 0; i < sizeof(d->chunk_seed); i++)
        d->chunk_seed[i] = fuzz_u8(in);
}

static void free_dialect(struct dialect *d)
{
    for (size_t i = 0; i < d->rc.nrules; i++) {
        if (d->rc.rules[i].kind == RULE_REGEX)
            regfree(&d->rc.rules[i].re);
        free(d->rule_text[i]);
    }
    free(d->rc.rules);
}

static bool no_quoting(const struct route_conf *rc)
{
    return rc->format == FORMAT_TSV || rc->quote == '\0';
}

static size_t column_index(const struct strlist *cols, const char *name)
{
    for (size_t i = 0; i < cols->n; i++)
        if (strcmp(cols->v[i], name) == 0)
            return i;
    return SIZE_MAX;
}

static bool int_in(const char *v, size_t len, int64_t lo, int64_t hi)
{
    char *end;
    long long x;

    if (len == 0 || len > 20)
        return false;
    x = strtoll(v, &end, 10);
    return end == v + len && x >= lo && x <= hi;
}

static void check_rules(const struct run *r, const struct strlist *cols, const struct field *f)
{
    const struct route_conf *rc = &r->d->rc;

    for (size_t i = 0; i < rc->nrules; i++) {
        const struct rule *ru = &rc->rules[i];
        size_t k = column_index(cols, ru->column);
        const char *v;

        FUZZ_CHECK(k != SIZE_MAX, "rule on %s delivered without that column", ru->column);
        v = f[k].ptr;
        if (!v) {
            FUZZ_CHECK(ru->kind != RULE_NOTNULL, "NULL delivered in notnull column %s", ru->column);
            continue;
        }
        switch (ru->kind) {
        case RULE_NOTNULL:
            break;
        case RULE_REGEX:
            FUZZ_CHECK(regexec(&ru->re, v, 0, NULL, 0) == 0, "%s fails %s", v, ru->text);
            break;
        case RULE_INT:
            FUZZ_CHECK(int_in(v, f[k].len, ru->min, ru->max), "%s not int in [%lld, %lld]", v,
                       (long long)ru->min, (long long)ru->max);
            break;
        case RULE_LEN: {
            int64_t n = (int64_t)utf8_count(v, f[k].len);
            FUZZ_CHECK(n >= ru->min && n <= ru->max, "length %lld not in [%lld, %lld]",
                       (long long)n, (long long)ru->min, (long long)ru->max);
            break;
        }
        }
    }
}

static int on_columns(void *arg, const struct strlist *cols, struct ierr *e)
{
    struct run *r = arg;
    const struct route_conf *rc = &r->d->rc;

    FUZZ_CHECK(!r->failed, "columns callback after a failure");
    FUZZ_CHECK(!r->announced, "columns announced twice");
    FUZZ_CHECK(cols->n >= 1 && cols->n <= CSVSTREAM_MAX_COLUMNS, "%zu columns", cols->n);
    if (rc->columns.n > 0)
        FUZZ_CHECK(cols->n == rc->columns.n, "%zu columns, route has %zu", cols->n, rc->columns.n);
    for (size_t i = 0; i < cols->n; i++) {
        size_t bad;
        FUZZ_CHECK(cols->v[i][0] != '\0', "column %zu has an empty name", i + 1);
        FUZZ_CHECK(utf8_valid(cols->v[i], strlen(cols->v[i]), &bad), "column %zu not UTF-8", i + 1);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(cols->v[i], cols->v[j]) != 0, "duplicate column %s", cols->v[i]);
    }
    for (size_t i = 0; i < rc->nrules; i++)
        FUZZ_CHECK(column_index(cols, rc->rules[i].column) != SIZE_MAX,
                   "announced without the validate column %s", rc->rules[i].column);
    r->announced = true;
    r->ncols = cols->n;
    buf_printf(&r->log, "columns %zu:", cols->n);
    for (size_t i = 0; i < cols->n; i++)
        buf_printf(&r->log, " %s", cols->v[i]);
    buf_putc(&r->log, '\n');
    if (r->d->fail_columns) {
        ierr_set(e, IERR_TRANSIENT, "fuzz: columns refused");
        r->mine = *e;
        return -1;
    }
    return 0;
}

static void check_line(struct run *r, uint64_t line, uint64_t *last, const char *what)
{
    FUZZ_CHECK(line >= 1 + (uint64_t)r->d->rc.skip_lines, "%s line %llu within skip_lines %d", what,
               (unsigned long long)line, r->d->rc.skip_lines);
    FUZZ_CHECK(line <= r->terminators + 1, "%s line %llu after %llu line ends", what,
               (unsigned long long)line, (unsigned long long)r->terminators);
    FUZZ_CHECK(line >= *last, "%s line %llu before %llu", what, (unsigned long long)line,
               (unsigned long long)*last);
    *last = line;
}

static int on_batch(void *arg, const struct batch *b, struct ierr *e)
{
    struct run *r = arg;
    const struct route_conf *rc = &r->d->rc;
    const struct strlist *cols = csvstream_columns(r->s);
    bool null_empty = strlist_contains(&rc->null, "");

    FUZZ_CHECK(!r->failed, "batch after a failure");
    FUZZ_CHECK(r->announced, "batch before the columns");
    FUZZ_CHECK(cols && cols->n == r->ncols, "csvstream_columns disagrees with the callback");
    FUZZ_CHECK(b->nrows >= 1, "empty batch");
    FUZZ_CHECK(b->nrows <= r->d->lim.batch_rows, "batch of %zu rows > %zu", b->nrows,
               r->d->lim.batch_rows);
    r->batches++;
    for (size_t i = 0; i < b->nrows; i++) {
        const struct row *row = &b->rows[i];

        check_line(r, row->line, &r->last_row_line, "row");
        buf_printf(&r->log, "row %llu:", (unsigned long long)row->line);
        for (size_t k = 0; k < r->ncols; k++) {
            const struct field *f = &row->fields[k];
            size_t bad;

            if (!f->ptr) {
                FUZZ_CHECK(rc->null.n > 0, "NULL field with no null strings");
                buf_puts(&r->log, " \\N");
                continue;
            }
            FUZZ_CHECK(f->ptr[f->len] == '\0', "field not NUL-terminated");
            FUZZ_CHECK(!memchr(f->ptr, '\0', f->len), "NUL inside a field");
            FUZZ_CHECK(utf8_valid(f->ptr, f->len, &bad), "invalid UTF-8 delivered");
            FUZZ_CHECK(f->len <= (r->d->lim.max_field ? r->d->lim.max_field : CSVSTREAM_MAX_FIELD),
                       "field of %zu bytes", f->len);
            if (no_quoting(rc)) {
                FUZZ_CHECK(!memchr(f->ptr, rc->delimiter, f->len),
                           "unquoted field holds the delimiter");
                FUZZ_CHECK(!memchr(f->ptr, '\n', f->len) && !memchr(f->ptr, '\r', f->len),
                           "unquoted field holds a line end");
                FUZZ_CHECK(!(f->len == 0 && null_empty), "empty unquoted field not NULL");
                FUZZ_CHECK(!(f->len > 0 && strlist_contains(&rc->null, f->ptr)),
                           "null string %s delivered as a value", f->ptr);
            }
            buf_printf(&r->log, " %zu:", f->len);
            buf_append(&r->log, f->ptr, f->len);
        }
        buf_putc(&r->log, '\n');
        check_rules(r, cols, row->fields);
    }
    r->rows += b->nrows;
    if (r->d->fail_batch && r->batches == r->d->fail_batch) {
        ierr_set(e, IERR_TRANSIENT, "fuzz: batch refused");
        r->mine = *e;
        return -1;
    }
    return 0;
}

static int on_reject(void *arg, const struct row_reject *rj, struct ierr *e)
{
    struct run *r = arg;
    size_t bad;

    FUZZ_CHECK(!r->failed, "reject after a failure");
    FUZZ_CHECK(r->d->rc.on_error == ON_ERROR_SKIP_ROW, "reject under on_error = abort");
    FUZZ_CHECK(r->announced, "reject before the columns");
    FUZZ_CHECK(rj->reason && rj->reason[0], "reject without a reason");
    FUZZ_CHECK(rj->raw && utf8_valid(rj->raw, strlen(rj->raw), &bad), "raw row not UTF-8");
    FUZZ_CHECK(rj->column <= CSVSTREAM_MAX_COLUMNS + 1, "reject column %u", rj->column);
    check_line(r, rj->line, &r->last_reject_line, "reject");
    r->rejects++;
    FUZZ_CHECK((int64_t)r->rejects <= r->d->rc.max_errors, "%llu rejects > max_errors %lld",
               (unsigned long long)r->rejects, (long long)r->d->rc.max_errors);
    buf_printf(&r->log, "reject %llu c%u: %s [%s]\n", (unsigned long long)rj->line, rj->column,
               rj->reason, rj->raw);
    if (r->d->fail_reject && r->rejects == r->d->fail_reject) {
        ierr_set(e, IERR_TRANSIENT, "fuzz: reject refused");
        r->mine = *e;
        return -1;
    }
    return 0;
}

static void count_terminators(struct run *r, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        r->terminators += p[i] == '\n' || p[i] == '\r';
}

static int feed_csv(struct run *r, const void *p, size_t n, struct ierr *e)
{
    count_terminators(r, p, n);
    r->fed += n;
    return csvstream_feed(r->s, p, n, e);
}

static int on_decompressed(void *arg, const void *p, size_t n, struct ierr *e)
{
    struct run *r = arg;

    FUZZ_CHECK(n <= DECOMPRESS_OUT_CHUNK, "decompress gave %zu bytes at once", n);
    if (decompress_kind(r->z) == COMPRESSION_NONE) {
        FUZZ_CHECK(r->out_off + n <= r->object_len && !memcmp(r->object + r->out_off, p, n),
                   "pass-through changed the bytes at %zu", r->out_off);
    }
    r->out_off += n;
    if (r->out_off > OUT_CAP) {
        r->capped = true;
        ierr_set(e, IERR_PERMANENT, "fuzz: output cap");
        return -1;
    }
    return feed_csv(r, p, n, e);
}

static void check_error(struct run *r, const struct ierr *e, bool from_decompress)
{
    FUZZ_CHECK(e->cls != IERR_NONE, "error without a class");
    FUZZ_CHECK(e->reason[0] != '\0', "error without a reason");
    FUZZ_CHECK(memchr(e->reason, '\0', sizeof(e->reason)), "reason not terminated");
    if (r->mine.reason[0]) {
        FUZZ_CHECK(e->cls == r->mine.cls && !strcmp(e->reason, r->mine.reason),
                   "consumer error not passed through: %s", e->reason);
        return;
    }
    if (from_decompress && r->capped)
        return;
    FUZZ_CHECK(e->cls == IERR_PERMANENT, "class %d for %s", (int)e->cls, e->reason);
    if (from_decompress && r->fed == 0 && r->d->decompress)
        return; /* a decoding error before any byte reached the parser */
    if (e->line == 0) {
        FUZZ_CHECK(!strncmp(e->reason, "no header line", 14) ||
                       !strncmp(e->reason, "validate.", 9) ||
                       (from_decompress &&
                        (!strncmp(e->reason, "gzip:", 5) || !strncmp(e->reason, "zstd:", 5))),
                   "error at line 0: %s", e->reason);
    } else {
        FUZZ_CHECK(e->line <= r->terminators + 1, "error line %llu after %llu line ends",
                   (unsigned long long)e->line, (unsigned long long)r->terminators);
    }
}

/* One pass over the object; chunked selects the input's chunk sizes, else one feed. Returns
 * whether the outcome is comparable between chunkings: not when decompression failed or was
 * capped, since how much a decoder gives out before it finds damage depends on its input. */
static bool run_once(const struct dialect *d, const uint8_t *obj, size_t len, bool chunked,
                     struct buf *log)
{
    struct run r = {.d = d, .object = obj, .object_len = len};
    struct csvstream_cb cb = {on_columns, on_batch, on_reject, &r};
    struct csvstream_stats st;
    struct ierr e;
    size_t off = 0, ci = 0;
    int rc = 0;
    bool via_z = d->decompress, comparable, csv_failed = !via_z;

    buf_init(&r.log);
    r.s = csvstream_new(&d->rc, &cb, &e);
    if (!r.s) {
        FUZZ_CHECK(e.cls == IERR_CONFIG && e.reason[0], "csvstream_new failed without a reason");
        FUZZ_CHECK(
            d->rc.format != FORMAT_CSV && d->rc.format != FORMAT_TSV
                ? true
                : d->rc.delimiter == '\0' || d->rc.delimiter == '\n' || d->rc.delimiter == '\r' ||
                      (d->rc.format == FORMAT_CSV && (d->rc.quote == d->rc.delimiter ||
                                                      d->rc.quote == '\n' || d->rc.quote == '\r')),
            "usable dialect refused: %s", e.reason);
        buf_printf(log, "refused: %s\n", e.reason);
        buf_free(&r.log);
        return true;
    }
    FUZZ_CHECK(d->rc.format == FORMAT_CSV || d->rc.format == FORMAT_TSV, "json accepted");
    csvstream_set_limits(r.s, &d->lim);
    if (via_z)
        r.z = decompress_new(d->comp, on_decompressed, &r);
    while (off < len && rc == 0) {
        size_t n = len - off;

        if (chunked) {
            uint8_t c = d->chunk_seed[ci++ % sizeof(d->chunk_seed)];
            size_t want = (c & 0x80) ? (size_t)(c & 0x7f) * 67 + 1 : (size_t)c % 17 + 1;
            if (want < n)
                n = want;
        }
        rc = via_z ? decompress_feed(r.z, obj + off, n, &e) : feed_csv(&r, obj + off, n, &e);
        off += n;
    }
    if (rc == 0)
        rc = via_z ? decompress_finish(r.z, &e) : 0;
    if (rc == 0) {
        rc = csvstream_finish(r.s, &e);
        csv_failed = true; /* if rc < 0: the stream failed, not the decompressor */
    }
    comparable = rc == 0 || !via_z;
    if (rc < 0) {
        struct ierr again;
        check_error(&r, &e, via_z);
        r.failed = true;
        /* after a failure the stream (or the decompressor in front of it, when the failure
         * came through it) only fails again, with no callbacks */
        if (via_z && !csv_failed) {
            FUZZ_CHECK(decompress_feed(r.z, "x,y\n", 4, &again) < 0,
                       "decompress_feed after failure succeeded");
            FUZZ_CHECK(decompress_finish(r.z, &again) < 0,
                       "decompress_finish after failure succeeded");
        } else {
            FUZZ_CHECK(csvstream_feed(r.s, "x,y\n", 4, &again) < 0, "feed after failure succeeded");
            FUZZ_CHECK(csvstream_finish(r.s, &again) < 0, "finish after failure succeeded");
            FUZZ_CHECK(!strcmp(again.reason, e.reason), "a second, different error: %s",
                       again.reason);
        }
        if (r.capped)
            buf_puts(&r.log, "capped\n");
        else
            buf_printf(&r.log, "error %d line %llu col %u: %s\n", (int)e.cls,
                       (unsigned long long)e.line, e.column, e.reason);
    } else {
        csvstream_get_stats(r.s, &st);
        FUZZ_CHECK(st.rows == r.rows, "stats rows %llu, delivered %llu",
                   (unsigned long long)st.rows, (unsigned long long)r.rows);
        FUZZ_CHECK(st.rejected == r.rejects, "stats rejected %llu, seen %llu",
                   (unsigned long long)st.rejected, (unsigned long long)r.rejects);
        FUZZ_CHECK(st.bytes == r.fed, "stats bytes %llu, fed %llu", (unsigned long long)st.bytes,
                   (unsigned long long)r.fed);
        if (d->rc.header)
            FUZZ_CHECK(r.announced, "header route finished without columns");
        if (via_z)
            FUZZ_CHECK(decompress_bytes_in(r.z) == len, "decompress took %llu of %zu bytes",
                       (unsigned long long)decompress_bytes_in(r.z), len);
        buf_printf(&r.log, "ok %llu rows %llu rejected\n", (unsigned long long)r.rows,
                   (unsigned long long)r.rejects);
    }
    buf_append(log, r.log.data ? r.log.data : "", r.log.len);
    buf_free(&r.log);
    decompress_free(r.z);
    csvstream_free(r.s);
    return comparable;
}

/*
 * The two outcomes agree. One difference is allowed: a field over max_field is noticed when it
 * ends or at the end of a feed slice, so when that field also holds a quoting error, which of
 * the two is reported first depends on where the chunks end. The rows before it, the line and
 * the class are still the same.
 */
static bool same_outcome(const struct buf *a, const struct buf *b)
{
    const char *la, *lb;
    size_t pa, pb;

    if (a->len == b->len && !memcmp(a->data, b->data, a->len))
        return true;
    /* the last line of each: "error CLASS line N col C: reason\n" */
    la = memrchr(a->data, '\n', a->len - 1);
    lb = memrchr(b->data, '\n', b->len - 1);
    pa = la ? (size_t)(la - a->data) + 1 : 0;
    pb = lb ? (size_t)(lb - b->data) + 1 : 0;
    if (pa != pb || memcmp(a->data, b->data, pa) != 0)
        return false;
    la = a->data + pa;
    lb = b->data + pb;
    if (strncmp(la, "error ", 6) || strncmp(lb, "error ", 6))
        return false;
    if (!strstr(la, "is longer than") && !strstr(lb, "is longer than"))
        return false;
    return strcspn(la, "c") == strcspn(lb, "c") && !strncmp(la, lb, strcspn(la, "c"));
}

int fuzz_csvstream(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct dialect d;
    struct buf a, b;
    uint8_t *obj;

    if (size > 64 * 1024)
        return 0;
    take_dialect(&in, &d);
    obj = fuzz_dup(in.p, in.n);
    buf_init(&a);
    buf_init(&b);
    bool ca = run_once(&d, obj, in.n, true, &a);
    bool cb = run_once(&d, obj, in.n, false, &b);
    FUZZ_CHECK(!ca || !cb || same_outcome(&a, &b),
               "chunking changed the outcome:\n--- chunked\n%s--- whole\n%s", a.data, b.data);
    buf_free(&a);
    buf_free(&b);
    free(obj);
    free_dialect(&d);
    return 0;
}

FUZZ_MAIN(fuzz_csvstream)
