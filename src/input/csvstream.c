/*
 * csvstream.c: libcsv driven incrementally, with line tracking, batching and row checks.
 *
 * Input goes through three stages: BOM removal (the three bytes may arrive split
 * across chunks), skip_lines (whole physical lines dropped before parsing), then
 * libcsv. libcsv reports fields (cb1) and record ends (cb2) but no positions, so
 * positions are rebuilt from what it reports: with CSV_REPALL_NL every unquoted
 * CR and LF reaches cb2, including blank lines; newlines inside quoted fields are
 * counted in the field's bytes. CSV_EMPTY_IS_NULL tells an unquoted empty field
 * (NULL pointer) from a quoted one. A space function that accepts nothing keeps
 * libcsv from trimming unquoted fields.
 *
 * Fields are copied from libcsv's entry buffer into one arena per batch, each
 * NUL-terminated (regexec needs it; sinks may use it). Offsets, not pointers,
 * are recorded while the arena may still grow; pointers are fixed up when the
 * batch is handed out (rowbatch.c, shared with jsonstream). Row checks (field
 * count, UTF-8, validate.* rules) live in csvcheck.c. This file does no I/O and no
 * logging.
 */
#include "input/csvstream.h"

#include <csv.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "input/csvcheck.h"
#include "input/rowbatch.h"
#include "base/utf8.h"
#include "base/util.h"

#define FEED_SLICE (64u * 1024) /* bounds how far a field may overrun max_field */
#define NO_FIELD   ROWBATCH_NO_FIELD

struct csvstream {
    const struct route_conf *rc;
    struct csvstream_cb cb;
    struct csvstream_limits lim;
    struct csv_parser p;
    char delim;
    char quote; /* '\0' for TSV: no quoting */

    /* input stages */
    unsigned char bom[3];
    size_t bomlen;
    bool bom_done;
    int skip_left;
    uint64_t in_bytes; /* object bytes consumed by the stages so far */

    /* positions */
    uint64_t line;      /* physical line at the parser's last reported event */
    bool pending_cr;    /* the last record ended with CR: a following LF is CRLF */
    uint64_t rec_line;  /* line where the current record starts */
    size_t rec_nfields; /* fields seen in the current record */
    size_t rec_bytes;   /* its bytes so far, counted as max_row counts them */

    /* columns */
    bool header_pending;
    bool announced;
    struct strlist cols;
    size_t ncols; /* 0 until known */
    struct csvcheck check;

    /* the record being parsed: offsets into the arena, NO_FIELD for NULL */
    size_t *cur_off;
    size_t *cur_len;
    size_t cur_cap;
    size_t rec_arena_start;
    char row_reason[256]; /* first problem found in the current record */
    unsigned row_col;
    char row_sample[256];
    char extra_sample[256]; /* the first field past the column count */

    struct rowbatch b; /* its arena also holds the record being parsed */

    struct csvstream_stats st;
    bool failed;
    struct ierr err;
};

static int never_space(unsigned char c)
{
    (void)c;
    return 0;
}

/* Fails the stream once; later failures (libcsv keeps calling back) are ignored. */
static void PRINTF_LIKE(5, 6)
    fail(struct csvstream *s, uint64_t line, unsigned col, const char *sample, const char *fmt, ...)
{
    va_list ap;

    if (s->failed)
        return;
    s->failed = true;
    memset(&s->err, 0, sizeof(s->err));
    s->err.cls = IERR_PERMANENT;
    va_start(ap, fmt);
    vsnprintf(s->err.reason, sizeof(s->err.reason), fmt, ap);
    va_end(ap);
    s->err.line = line;
    s->err.column = col;
    if (col > 0 && col <= s->cols.n)
        snprintf(s->err.column_name, sizeof(s->err.column_name), "%s", s->cols.v[col - 1]);
    if (sample)
        snprintf(s->err.sample, sizeof(s->err.sample), "%s", sample);
}

/* Memory for the record could not be had: the load fails, to be tried again later. */
static void fail_nomem(struct csvstream *s, uint64_t line, unsigned col, size_t bytes)
{
    if (s->failed)
        return;
    fail(s, line, col, NULL, "line %llu, column %u: out of memory: %zu bytes for the row",
         (unsigned long long)line, col, bytes);
    s->err.cls = IERR_TRANSIENT;
}

static void fail_row_size(struct csvstream *s, uint64_t line, unsigned col)
{
    char max[32];

    size_text(max, sizeof(max), s->lim.max_row);
    fail(s, line, col, NULL, "line %llu, column %u: row longer than max_row_bytes = %s",
         (unsigned long long)line, col, max);
}

/* A callback failed: keep its error as it is. */
static void fail_with(struct csvstream *s, const struct ierr *e)
{
    if (s->failed)
        return;
    s->failed = true;
    s->err = *e;
    if (s->err.cls == IERR_NONE)
        s->err.cls = IERR_PERMANENT;
}

struct csvstream *csvstream_new(const struct route_conf *rc, const struct csvstream_cb *cb,
                                struct ierr *e)
{
    struct csvstream *s;
    char delim = rc->delimiter, quote = rc->quote;

    memset(e, 0, sizeof(*e));
    e->cls = IERR_CONFIG;
    if (rc->format != FORMAT_CSV && rc->format != FORMAT_TSV) {
        snprintf(e->reason, sizeof(e->reason), "route %s: format is not csv or tsv",
                 rc->name ? rc->name : "?");
        return NULL;
    }
    if (rc->format == FORMAT_TSV)
        quote = '\0'; /* the feed refuses NUL bytes, so libcsv never sees a quote */
    if (delim == '\0' || delim == '\n' || delim == '\r' || (quote && delim == quote) ||
        quote == '\n' || quote == '\r') {
        snprintf(e->reason, sizeof(e->reason),
                 "route %s: unusable CSV dialect (delimiter 0x%02x, quote 0x%02x)",
                 rc->name ? rc->name : "?", (unsigned char)delim, (unsigned char)quote);
        return NULL;
    }
    memset(e, 0, sizeof(*e));

    s = xcalloc(1, sizeof(*s));
    s->rc = rc;
    s->cb = *cb;
    s->lim.batch_rows = CSVSTREAM_BATCH_ROWS;
    s->lim.batch_bytes = CSVSTREAM_BATCH_BYTES;
    s->lim.max_field = CSVSTREAM_MAX_FIELD;
    s->lim.max_row = rc->max_row_bytes > 0 ? (size_t)rc->max_row_bytes : CSVSTREAM_MAX_ROW;
    s->delim = delim;
    s->quote = quote;
    csv_init(&s->p, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL | CSV_EMPTY_IS_NULL);
    csv_set_delim(&s->p, (unsigned char)delim);
    csv_set_quote(&s->p, (unsigned char)quote);
    csv_set_space_func(&s->p, never_space);
    /* libcsv grows its entry buffer linearly: large steps keep big fields O(n) */
    csv_set_blk_size(&s->p, 64 * 1024);
    s->skip_left = rc->skip_lines > 0 ? rc->skip_lines : 0;
    s->line = 1;
    s->header_pending = rc->header;
    rowbatch_init(&s->b);
    csvcheck_init(&s->check, rc);
    if (!rc->header && rc->columns.n > 0) {
        for (size_t i = 0; i < rc->columns.n; i++)
            csvcheck_push_name(&s->cols, rc->columns.v[i]);
        s->ncols = s->cols.n;
    }
    return s;
}

void csvstream_set_limits(struct csvstream *s, const struct csvstream_limits *l)
{
    if (l->batch_rows)
        s->lim.batch_rows = l->batch_rows;
    if (l->batch_bytes)
        s->lim.batch_bytes = l->batch_bytes;
    if (l->max_field)
        s->lim.max_field = l->max_field;
    if (l->max_row)
        s->lim.max_row = l->max_row;
}

const struct strlist *csvstream_columns(const struct csvstream *s)
{
    return s->ncols ? &s->cols : NULL;
}

void csvstream_get_stats(const struct csvstream *s, struct csvstream_stats *st)
{
    *st = s->st;
    st->lines = s->line;
}

void csvstream_free(struct csvstream *s)
{
    if (!s)
        return;
    csv_free(&s->p);
    csvcheck_free(&s->check);
    for (size_t i = 0; i < s->cols.n; i++)
        free(s->cols.v[i]);
    free(s->cols.v);
    free(s->cur_off);
    free(s->cur_len);
    rowbatch_free(&s->b);
    free(s);
}

/* ---- batches ---- */

/* Columns are known: size the batch arrays once and tell the consumer. */
static int announce(struct csvstream *s)
{
    struct ierr e = {0};

    if (s->announced)
        return 0;
    s->announced = true;
    if (rowbatch_announce(&s->b, &s->check, s->rc, &s->cols, s->lim.batch_rows, &s->cb, &e) < 0) {
        fail_with(s, &e);
        return -1;
    }
    return 0;
}

static int flush(struct csvstream *s)
{
    struct ierr e = {0};

    if (rowbatch_flush(&s->b, &s->cb, &s->st, &e) < 0) {
        fail_with(s, &e);
        return -1;
    }
    return 0;
}

/* ---- records ---- */

static void row_problem(struct csvstream *s, unsigned col, const char *sample, size_t slen,
                        const char *fmt, ...) PRINTF_LIKE(5, 6);

static void row_problem(struct csvstream *s, unsigned col, const char *sample, size_t slen,
                        const char *fmt, ...)
{
    va_list ap;

    if (s->row_reason[0])
        return;
    va_start(ap, fmt);
    vsnprintf(s->row_reason, sizeof(s->row_reason), fmt, ap);
    va_end(ap);
    s->row_col = col;
    utf8_sample(s->row_sample, sizeof(s->row_sample), sample ? sample : "", slen);
}

/* Room for n fields in the record's arrays; -1 when the memory cannot be had. */
static int cur_reserve(struct csvstream *s, size_t n)
{
    size_t cap = n < 16 ? 16 : n * 2;
    size_t *off, *len;

    if (n <= s->cur_cap)
        return 0;
    off = realloc(s->cur_off, cap * sizeof(*off));
    if (!off)
        return -1;
    s->cur_off = off;
    len = realloc(s->cur_len, cap * sizeof(*len));
    if (!len)
        return -1;
    s->cur_len = len;
    s->cur_cap = cap;
    return 0;
}

/* How many fields of a record are stored: all of them up to the known column count. */
static size_t store_limit(const struct csvstream *s)
{
    return s->ncols ? s->ncols : CSVSTREAM_MAX_COLUMNS;
}

/* A field: from libcsv (which may hold quoted newlines) or from the fast path (scan_nl false). */
static void field(struct csvstream *s, const char *f, size_t len, bool scan_nl)
{
    size_t k = s->rec_nfields, bad;
    bool is_null;

    if (s->failed)
        return;
    s->pending_cr = false;
    if (k == 0) {
        s->rec_line = s->line;
        s->rec_arena_start = s->b.arena.len;
        s->rec_bytes = 0;
        s->row_reason[0] = '\0';
    }
    s->rec_nfields++;
    if (scan_nl && len > 0 && memchr(f, '\n', len)) {
        for (const char *q = f; (q = memchr(q, '\n', len - (size_t)(q - f))) != NULL; q++)
            s->line++;
    }
    if (len > s->lim.max_field) {
        fail(s, s->rec_line, (unsigned)k + 1, NULL, "line %llu: field %zu is longer than %zu bytes",
             (unsigned long long)s->rec_line, k + 1, s->lim.max_field);
        return;
    }
    if (len + 1 > s->lim.max_row - s->rec_bytes) {
        fail_row_size(s, s->rec_line, (unsigned)k + 1);
        return;
    }
    s->rec_bytes += len + 1;
    if (k >= store_limit(s)) {
        if (s->ncols == 0) {
            fail(s, s->rec_line, (unsigned)k + 1, NULL, "line %llu: more than %u fields",
                 (unsigned long long)s->rec_line, CSVSTREAM_MAX_COLUMNS);
        } else if (k == s->ncols) {
            utf8_sample(s->extra_sample, sizeof(s->extra_sample), f ? f : "", len);
        }
        return;
    }
    if (f && !utf8_valid(f, len, &bad)) {
        row_problem(s, (unsigned)k + 1, f, len,
                    "line %llu, column %zu: invalid UTF-8 at byte %zu of the field",
                    (unsigned long long)s->rec_line, k + 1, bad + 1);
    }
    /* null strings never apply to header names */
    is_null = s->header_pending ? f == NULL : csvcheck_is_null(&s->check, f, len);
    if (cur_reserve(s, k + 1) < 0) {
        fail_nomem(s, s->rec_line, (unsigned)k + 1, (k + 1) * 2 * sizeof(size_t));
        return;
    }
    if (is_null) {
        s->cur_off[k] = NO_FIELD;
        s->cur_len[k] = 0;
        return;
    }
    if (buf_try_reserve(&s->b.arena, len + 1) < 0) {
        fail_nomem(s, s->rec_line, (unsigned)k + 1, s->b.arena.len + len + 1);
        return;
    }
    s->cur_off[k] = s->b.arena.len;
    s->cur_len[k] = len;
    if (len)
        memcpy(s->b.arena.data + s->b.arena.len, f, len);
    s->b.arena.data[s->b.arena.len + len] = '\0';
    s->b.arena.len += len + 1;
}

static void take_header(struct csvstream *s)
{
    size_t n = s->rec_nfields;
    struct ierr e = {0};

    s->header_pending = false;
    if (s->row_reason[0]) {
        fail(s, s->rec_line, s->row_col, s->row_sample, "header: %s", s->row_reason);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = s->cur_off[i] == NO_FIELD ? "" : s->b.arena.data + s->cur_off[i];
        csvcheck_push_name(&s->cols, name);
    }
    s->b.arena.len = s->rec_arena_start;
    /* With the route's columns the header only says which field is which: the columns stay
     * the header's, in its order, and sinks map them by name. */
    if (csvcheck_header(&s->cols, &e) < 0 ||
        (s->rc->columns.n > 0 && csvcheck_header_is(&s->cols, &s->rc->columns, &e) < 0)) {
        e.line = s->rec_line;
        fail_with(s, &e);
        return;
    }
    s->ncols = n;
    announce(s);
}

/* A bad row: fail, or reject and skip it. */
static void bad_row(struct csvstream *s)
{
    char raw[1024];
    char why[sizeof(s->err.reason)];
    struct ierr e = {0};
    size_t nstore = s->rec_nfields < store_limit(s) ? s->rec_nfields : store_limit(s);

    if (rowbatch_bad_row_fails(s->rc, &s->st, s->row_reason, why, sizeof(why))) {
        fail(s, s->rec_line, s->row_col, s->row_sample, "%s", why);
        return;
    }
    csvcheck_raw_row(raw, sizeof(raw), s->b.arena.data, s->cur_off, s->cur_len, nstore,
                     s->rec_nfields > nstore, s->delim);
    if (rowbatch_reject(&s->cb, &s->st, s->rec_line, s->row_col, s->row_reason, raw, &e) < 0)
        fail_with(s, &e);
}

static void end_record(struct csvstream *s)
{
    size_t n = s->rec_nfields;

    if (s->header_pending) {
        take_header(s);
        return;
    }
    if (s->ncols == 0) { /* no header, no columns: the first record decides */
        for (size_t i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof(name), "column%zu", i + 1);
            csvcheck_push_name(&s->cols, name);
        }
        s->ncols = n;
    }
    if (!s->announced && announce(s) < 0)
        return;
    if (!s->row_reason[0] && n != s->ncols) {
        unsigned col = (unsigned)(n > s->ncols ? s->ncols + 1 : n + 1);
        const char *sample = n > s->ncols ? s->extra_sample : "";
        row_problem(s, col, sample, strlen(sample), "line %llu: %zu fields, expected %zu",
                    (unsigned long long)s->rec_line, n, s->ncols);
    }
    if (!s->row_reason[0])
        csvcheck_rules(&s->check, s->b.arena.data, s->cur_off, s->cur_len, s->rec_line,
                       s->row_reason, sizeof(s->row_reason), &s->row_col, s->row_sample,
                       sizeof(s->row_sample));
    if (s->row_reason[0]) {
        s->b.arena.len = s->rec_arena_start;
        bad_row(s);
        return;
    }
    rowbatch_add(&s->b, s->cur_off, s->cur_len, s->rec_line);
    if (s->b.nrows == s->b.max_rows || s->b.arena.len >= s->lim.batch_bytes)
        flush(s);
}

/*
 * A line with nothing on it. RFC 4180 reads it as a record of one empty field, and so do
 * psql's \copy and LOAD DATA in a one-column table: there it is a row (NULL under the
 * default null). In a wider file it cannot be one, and before the columns are known it is
 * not yet clear which: skipped, and counted for the load's log line.
 */
static void blank_line(struct csvstream *s)
{
    if (s->ncols == 1 && !s->header_pending) {
        field(s, NULL, 0, false);
        end_record(s);
        s->rec_nfields = 0;
        return;
    }
    s->st.blank_lines++;
}

static void on_record(int c, void *arg)
{
    struct csvstream *s = arg;

    if (s->failed)
        return;
    if (s->rec_nfields > 0) {
        end_record(s);
        s->rec_nfields = 0;
    } else if (c == '\r' || (c == '\n' && !s->pending_cr)) {
        blank_line(s); /* not the LF of a CRLF, nor the end of the data (c == -1) */
        if (s->failed)
            return;
    }
    if (c == '\r') {
        s->line++;
        s->pending_cr = true;
    } else if (c == '\n') {
        if (!s->pending_cr)
            s->line++;
        s->pending_cr = false;
    }
}

static void on_field(void *data, size_t len, void *arg)
{
    field(arg, data, len, true);
}

/* ---- input ---- */

static uint64_t partial_line(const struct csvstream *s)
{
    uint64_t l = s->line;
    for (size_t i = 0; i < s->p.entry_pos; i++)
        l += s->p.entry_buf[i] == '\n';
    return l;
}

static void parse_error(struct csvstream *s, const unsigned char *at)
{
    char sample[256];
    uint64_t rec = s->rec_nfields ? s->rec_line : s->line;
    unsigned col = (unsigned)s->rec_nfields + 1;
    uint64_t phys = partial_line(s);
    unsigned char c = *at;

    utf8_sample(sample, sizeof(sample), (const char *)s->p.entry_buf, s->p.entry_pos);
    if (s->p.pstate == 2 /* FIELD_BEGUN */ && !s->p.quoted)
        fail(s, rec, col, sample,
             "line %llu, column %u: quote character inside an unquoted "
             "field (quote the whole field and double the quote)",
             (unsigned long long)phys, col);
    else if (c < 0x20 || c >= 0x7F)
        fail(s, rec, col, sample, "line %llu, column %u: byte 0x%02X after the closing quote",
             (unsigned long long)phys, col, c);
    else
        fail(s, rec, col, sample, "line %llu, column %u: character '%c' after the closing quote",
             (unsigned long long)phys, col, c);
}

static void check_pending_field(struct csvstream *s)
{
    /* Right after a closing quote (FIELD_MIGHT_HAVE_ENDED) libcsv already holds that quote in
     * its entry buffer and drops it again when the field ends: it is not part of the field.
     * (Trailing spaces are kept there too, but never_space means there are none.) Counting it
     * failed a field of exactly max_field bytes when a chunk ended just after its quote. */
    size_t pending = s->p.entry_pos - (s->p.pstate == 3 && s->p.entry_pos > 0);
    size_t done = s->rec_nfields ? s->rec_bytes : 0;
    uint64_t line = s->rec_nfields ? s->rec_line : s->line;

    if (pending > s->lim.max_field)
        fail(s, line, (unsigned)s->rec_nfields + 1, NULL,
             "line %llu: field %zu is longer than %zu bytes", (unsigned long long)line,
             s->rec_nfields + 1, s->lim.max_field);
    else if (pending + 1 > s->lim.max_row - done)
        fail_row_size(s, line, (unsigned)s->rec_nfields + 1);
}

/* Give bytes to libcsv; false when the stream failed. */
static bool run_libcsv(struct csvstream *s, const unsigned char *d, size_t n)
{
    size_t done = csv_parse(&s->p, d, n, on_field, on_record, s);

    if (s->failed)
        return false;
    if (done < n) {
        if (csv_error(&s->p) == CSV_EPARSE)
            parse_error(s, d + done);
        else if (csv_error(&s->p) == CSV_ENOMEM)
            fail_nomem(s, s->rec_nfields ? s->rec_line : s->line, (unsigned)s->rec_nfields + 1,
                       s->p.entry_size + s->p.blk_size);
        else
            fail(s, s->line, 0, NULL, "line %llu: CSV parser: %s", (unsigned long long)s->line,
                 csv_strerror(csv_error(&s->p)));
        return false;
    }
    return true;
}

/*
 * One whole line (d[n-1] is LF) while libcsv sits between records: when the line
 * holds no quote character and no CR other than a final CRLF, libcsv would only
 * split it at delimiters, so split it here with memchr instead of byte by byte,
 * making the same calls libcsv makes (empty fields as NULL, CR then LF as two
 * record ends). Returns false, having done nothing, when libcsv must see the line.
 */
static bool fast_line(struct csvstream *s, const unsigned char *d, size_t n)
{
    size_t end = n - 1;
    bool crlf = end > 0 && d[end - 1] == '\r';
    const unsigned char *p = d, *e;

    if (crlf)
        end--;
    if ((s->quote && memchr(d, s->quote, end)) || memchr(d, '\r', end))
        return false;
    e = d + end;
    if (end > 0) {
        for (;;) {
            const unsigned char *q = memchr(p, (unsigned char)s->delim, (size_t)(e - p));
            size_t flen = (size_t)((q ? q : e) - p);
            field(s, flen ? (const char *)p : NULL, flen, false);
            if (!q)
                break;
            p = q + 1;
        }
    }
    if (crlf)
        on_record('\r', s);
    on_record('\n', s);
    return true;
}

/*
 * A slice without NUL bytes: line by line through the fast path while it applies.
 * A line it cannot take goes to libcsv alone; when two in a row cannot (a file
 * that quotes every row), libcsv gets the rest of the slice in one call.
 * CSVSTREAM_NO_FAST_PATH (a test build) sends everything to libcsv, to show that
 * both ways give the same rows, lines and errors.
 */
static void parse_slice(struct csvstream *s, const unsigned char *d, size_t n)
{
#ifdef CSVSTREAM_NO_FAST_PATH
    const bool fast_path = false;
#else
    const bool fast_path = true;
#endif
    bool slow_before = false;

    while (n > 0 && !s->failed) {
        const unsigned char *nl = memchr(d, '\n', n);
        size_t l = nl ? (size_t)(nl - d) + 1 : n;

        if (fast_path && nl && s->p.pstate == 0 /* ROW_NOT_BEGUN */ && fast_line(s, d, l)) {
            slow_before = false;
        } else {
            if (slow_before || !fast_path)
                l = n;
            if (!run_libcsv(s, d, l))
                return;
            slow_before = true;
        }
        d += l;
        n -= l;
    }
}

/* Parse bytes that passed the BOM and skip_lines stages. */
static void parse(struct csvstream *s, const unsigned char *d, size_t len)
{
    while (len > 0 && !s->failed) {
        size_t n = len < FEED_SLICE ? len : FEED_SLICE;
        const unsigned char *nul = memchr(d, '\0', n);
        size_t upto = nul ? (size_t)(nul - d) : n;

        parse_slice(s, d, upto);
        if (s->failed)
            return;
        check_pending_field(s);
        if (nul && !s->failed) {
            fail(s, partial_line(s), (unsigned)s->rec_nfields + 1, NULL,
                 "line %llu: NUL byte at object offset %llu: not a text file (UTF-16?)",
                 (unsigned long long)partial_line(s),
                 (unsigned long long)s->in_bytes + (unsigned long long)(nul - d));
            return;
        }
        s->in_bytes += n;
        d += n;
        len -= n;
    }
}

static void skip_then_parse(struct csvstream *s, const unsigned char *d, size_t len)
{
    while (s->skip_left > 0 && len > 0) {
        const unsigned char *nl = memchr(d, '\n', len);
        size_t n = nl ? (size_t)(nl - d) + 1 : len;
        if (nl) {
            s->skip_left--;
            s->line++;
        }
        s->in_bytes += n;
        d += n;
        len -= n;
    }
    if (len > 0)
        parse(s, d, len);
}

int csvstream_feed(struct csvstream *s, const void *data, size_t len, struct ierr *e)
{
    const unsigned char *d = data;
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

    s->st.bytes += len;
    while (!s->bom_done && len > 0) {
        s->bom[s->bomlen++] = *d++;
        len--;
        if (memcmp(s->bom, bom, s->bomlen) != 0) {
            s->bom_done = true;
            skip_then_parse(s, s->bom, s->bomlen);
        } else if (s->bomlen == 3) {
            s->bom_done = true;
            s->in_bytes += 3;
        }
    }
    if (len > 0 && !s->failed)
        skip_then_parse(s, d, len);
    if (s->failed) {
        *e = s->err;
        return -1;
    }
    return 0;
}

int csvstream_finish(struct csvstream *s, struct ierr *e)
{
    if (!s->failed && !s->bom_done) {
        s->bom_done = true;
        skip_then_parse(s, s->bom, s->bomlen);
    }
    if (!s->failed && csv_fini(&s->p, on_field, on_record, s) != 0) {
        uint64_t rec = s->rec_nfields ? s->rec_line : s->line;
        char sample[256];
        utf8_sample(sample, sizeof(sample), (const char *)s->p.entry_buf, s->p.entry_pos);
        fail(s, rec, (unsigned)s->rec_nfields + 1, sample,
             "unterminated quoted field starting at line %llu", (unsigned long long)s->line);
    }
    if (!s->failed && s->header_pending)
        fail(s, 0, 0, NULL, "no header line: the object has no records");
    /* no header, no columns and no records: there is nothing to announce */
    if (!s->failed && !s->announced && s->ncols > 0)
        announce(s);
    if (!s->failed)
        flush(s);
    if (s->failed) {
        *e = s->err;
        return -1;
    }
    return 0;
}
