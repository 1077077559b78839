/*
 * jsonstream.c: JSON Lines and JSON arrays, fed in chunks, into row batches.
 *
 * Framing comes first. For jsonl a record is a line (here). For json the records
 * of the array are found by jsonframe.c, which stops after each one; the record being
 * gathered and the stream's failure are jsonrec.c's. Each complete record is validated by
 * jansson (json_loadb), whose error position is added to the record's own to
 * name the exact line and byte, and then turned into a row: the member walk and
 * value conversion are in jsonrow.c (jansson keeps neither numbers nor nested
 * values as written).
 *
 * Rows take the shape csvstream produces: field values are copied into one arena
 * per batch (NUL-terminated), recorded as offsets while the arena grows and
 * turned into pointers when the batch is handed out (rowbatch.c, shared with
 * csvstream). validate.* rules run through csvcheck.c. This file does no I/O and
 * no logging.
 */
#include "input/jsonstream.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "input/jsonmem.h"
#include "input/jsonstream_int.h"
#include "base/utf8.h"

/* ---- errors ---- */

static void fail_with(struct jsonstream *s, const struct ierr *e)
{
    if (s->failed)
        return;
    s->failed = true;
    s->err = *e;
    if (s->err.cls == IERR_NONE)
        s->err.cls = IERR_PERMANENT;
}

/* The line of `at`, a byte of the record text that starts on s->rec_line. */
static uint64_t line_of(const struct jsonstream *s, const char *text, const char *at)
{
    uint64_t l = s->rec_line;

    for (const char *q = text; q < at; q++)
        l += *q == '\n';
    return l;
}

/* The first problem of the record, found at `line` (which the text names too). */
static void PRINTF_LIKE(4, 5)
    row_problem(struct jsonstream *s, unsigned col, uint64_t line, const char *fmt, ...)
{
    va_list ap;

    if (s->row_reason[0])
        return;
    s->row_line = line;
    va_start(ap, fmt);
    vsnprintf(s->row_reason, sizeof(s->row_reason), fmt, ap);
    va_end(ap);
    s->row_col = col;
    if (col > 0 && col <= s->cols.n)
        utf8_sample(s->row_colname, sizeof(s->row_colname), s->cols.v[col - 1],
                    strlen(s->cols.v[col - 1]));
}

/* ---- setup ---- */

static void split_path(struct strlist *l, const char *path)
{
    const char *p = path;

    while (p && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char *part = xstrndup(p, n);
        strlist_push(l, part);
        free(part);
        p = dot ? dot + 1 : NULL;
    }
}

struct jsonstream *jsonstream_new(const struct route_conf *rc, const struct csvstream_cb *cb,
                                  struct ierr *e)
{
    struct jsonstream *s;

    memset(e, 0, sizeof(*e));
    if (rc->format != FORMAT_JSONL && rc->format != FORMAT_JSON) {
        ierr_set(e, IERR_CONFIG, "route %s: format is not jsonl or json",
                 rc->name ? rc->name : "?");
        return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    s->rc = rc;
    s->cb = *cb;
    s->lim.batch_rows = CSVSTREAM_BATCH_ROWS;
    s->lim.batch_bytes = CSVSTREAM_BATCH_BYTES;
    s->lim.max_record = rc->max_row_bytes > 0 ? (size_t)rc->max_row_bytes : JSONSTREAM_MAX_RECORD;
    jsonmem_init();
    s->lines = rc->format == FORMAT_JSONL;
    s->line = 1;
    s->st = J_TOP;
    buf_init(&s->rec);
    buf_init(&s->key);
    rowbatch_init(&s->b);
    buf_init(&s->scratch);
    if (!s->lines && rc->json_path)
        split_path(&s->path, rc->json_path);
    csvcheck_init(&s->check, rc);
    if (rc->columns.n > 0) {
        s->route_cols = true;
        for (size_t i = 0; i < rc->columns.n; i++)
            csvcheck_push_name(&s->cols, rc->columns.v[i]);
        s->ncols = s->cols.n;
        s->cur_off = xcalloc(s->ncols, sizeof(*s->cur_off));
        s->cur_len = xcalloc(s->ncols, sizeof(*s->cur_len));
    }
    return s;
}

void jsonstream_set_limits(struct jsonstream *s, const struct jsonstream_limits *l)
{
    if (l->batch_rows)
        s->lim.batch_rows = l->batch_rows;
    if (l->batch_bytes)
        s->lim.batch_bytes = l->batch_bytes;
    if (l->max_record)
        s->lim.max_record = l->max_record;
}

const struct strlist *jsonstream_columns(const struct jsonstream *s)
{
    return s->announced ? &s->cols : NULL;
}

void jsonstream_get_stats(const struct jsonstream *s, struct csvstream_stats *st)
{
    *st = s->st_;
    st->lines = s->line;
}

void jsonstream_free(struct jsonstream *s)
{
    if (!s)
        return;
    csvcheck_free(&s->check);
    strlist_free(&s->cols);
    strlist_free(&s->path);
    buf_free(&s->rec);
    buf_free(&s->key);
    rowbatch_free(&s->b);
    buf_free(&s->scratch);
    free(s->stack);
    free(s->cur_off);
    free(s->cur_len);
    free(s);
}

/* ---- batches ---- */

static int announce(struct jsonstream *s)
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

static void flush(struct jsonstream *s)
{
    struct ierr e = {0};

    if (s->failed)
        return;
    if (rowbatch_flush(&s->b, &s->cb, &s->st_, &e) < 0)
        fail_with(s, &e);
}

/* ---- records ---- */

static void bad_row(struct jsonstream *s, const char *text, size_t len)
{
    struct ierr e = {0};
    char raw[1024];
    char why[sizeof(s->err.reason)];

    s->b.arena.len = s->rec_arena_start;
    if (s->failed)
        return;
    if (rowbatch_bad_row_fails(s->rc, &s->st_, s->row_reason, why, sizeof(why))) {
        jsonstream_fail(s, s->row_line, "%s", why);
        s->err.column = s->row_col;
        memcpy(s->err.column_name, s->row_colname, sizeof(s->err.column_name));
        memcpy(s->err.sample, s->row_sample, sizeof(s->err.sample));
        return;
    }
    buf_reset(&s->scratch);
    jsonrow_compact(text, len < sizeof(raw) * 2 ? len : sizeof(raw) * 2, &s->scratch);
    utf8_sample(raw, sizeof(raw), s->scratch.data, s->scratch.len);
    if (rowbatch_reject(&s->cb, &s->st_, s->rec_line, s->row_col, s->row_reason, raw, &e) < 0)
        fail_with(s, &e);
}

/* The line of the record's n-th member (1-based); the record's own line for 0 or past the
 * end. Only on the error path: it walks the members again. */
static uint64_t member_line(const struct jsonstream *s, const char *text, size_t len, size_t n)
{
    struct jsonrow_span k, v;
    size_t pos = 0;

    for (size_t i = 1; n > 0 && jsonrow_next(text, len, &pos, &k, &v); i++) {
        if (i == n)
            return line_of(s, text, k.p);
    }
    return s->rec_line;
}

/* The line of the member that holds column col (1-based), found by name; the record's own
 * line when the record lacks it (a missing member is NULL). Only on the error path. */
static uint64_t column_line(struct jsonstream *s, const char *text, size_t len, unsigned col)
{
    struct jsonrow_span k, v;
    size_t pos = 0;

    while (col > 0 && jsonrow_next(text, len, &pos, &k, &v)) {
        if (jsonstream_member_name(s, &k) == 0 && strcmp(s->scratch.data, s->cols.v[col - 1]) == 0)
            return line_of(s, text, k.p);
    }
    return s->rec_line;
}

/* The first record names the columns when the route does not. */
static int take_columns(struct jsonstream *s, const char *text, size_t len)
{
    struct jsonrow_span k, v;
    struct ierr e = {0};
    size_t pos = 0;

    while (jsonrow_next(text, len, &pos, &k, &v)) {
        uint64_t l;
        if (s->cols.n == CSVSTREAM_MAX_COLUMNS) {
            l = line_of(s, text, k.p);
            jsonstream_fail(s, l, "line %llu: more than %u fields", (unsigned long long)l,
                            CSVSTREAM_MAX_COLUMNS);
            return -1;
        }
        if (jsonstream_member_name(s, &k) < 0) {
            l = line_of(s, text, k.p);
            jsonstream_fail(s, l, "line %llu: a field name cannot be decoded",
                            (unsigned long long)l);
            return -1;
        }
        csvcheck_push_name(&s->cols, s->scratch.data);
    }
    if (s->cols.n == 0) {
        jsonstream_fail(
            s, s->rec_line,
            "line %llu: the first record has no fields to name the columns (set columns)",
            (unsigned long long)s->rec_line);
        return -1;
    }
    if (csvcheck_header(&s->cols, &e) < 0) {
        const char *r = str_has_prefix(e.reason, "header: ") ? e.reason + 8 : e.reason;
        uint64_t l = member_line(s, text, len, e.column);
        char *why = xasprintf("line %llu: first record: %s", (unsigned long long)l, r);
        size_t n = strlen(why) < sizeof(e.reason) ? strlen(why) : sizeof(e.reason) - 1;
        memcpy(e.reason, why, n);
        e.reason[n] = '\0';
        free(why);
        e.line = l;
        fail_with(s, &e);
        return -1;
    }
    s->ncols = s->cols.n;
    s->cur_off = xcalloc(s->ncols, sizeof(*s->cur_off));
    s->cur_len = xcalloc(s->ncols, sizeof(*s->cur_len));
    return 0;
}

static size_t find_column(const struct jsonstream *s, size_t hint, const char *name)
{
    if (hint < s->ncols && strcmp(s->cols.v[hint], name) == 0)
        return hint;
    for (size_t i = 0; i < s->ncols; i++)
        if (strcmp(s->cols.v[i], name) == 0)
            return i;
    return SIZE_MAX;
}

/* One member's value into the arena as field k (text: the record, for error positions). */
static void put_value(struct jsonstream *s, const char *text, size_t k,
                      const struct jsonrow_span *v)
{
    size_t start = s->b.arena.len;

    switch (v->p[0]) {
    case 'n':
        s->cur_off[k] = JSONSTREAM_NO_FIELD;
        s->cur_len[k] = 0;
        return;
    case '"':
        if (jsonrow_string(v, &s->b.arena) < 0) {
            uint64_t l = line_of(s, text, v->p);
            row_problem(s, (unsigned)k + 1, l, "line %llu: field \"%s\": string cannot be decoded",
                        (unsigned long long)l, s->cols.v[k]);
            return;
        }
        break;
    case '{':
    case '[':
        jsonrow_compact(v->p, v->len, &s->b.arena);
        break;
    default: /* numbers as written, true, false */
        buf_append(&s->b.arena, v->p, v->len);
        break;
    }
    s->cur_off[k] = start;
    s->cur_len[k] = s->b.arena.len - start;
    buf_putc(&s->b.arena, '\0');
}

static void fields(struct jsonstream *s, const char *text, size_t len)
{
    struct jsonrow_span k, v;
    size_t pos = 0, i = 0;

    for (size_t c = 0; c < s->ncols; c++) {
        s->cur_off[c] = JSONSTREAM_NO_FIELD;
        s->cur_len[c] = 0;
    }
    for (; jsonrow_next(text, len, &pos, &k, &v) && !s->row_reason[0]; i++) {
        size_t col;
        if (jsonstream_member_name(s, &k) < 0) {
            uint64_t l = line_of(s, text, k.p);
            row_problem(s, 0, l, "line %llu: a field name cannot be decoded",
                        (unsigned long long)l);
            break;
        }
        col = find_column(s, i, s->scratch.data);
        if (col == SIZE_MAX) {
            uint64_t l;
            if (s->route_cols)
                continue; /* the route's columns select fields */
            l = line_of(s, text, k.p);
            row_problem(s, 0, l, "line %llu: unknown field \"%s\" (not in the first record)",
                        (unsigned long long)l, s->scratch.data);
            utf8_sample(s->row_colname, sizeof(s->row_colname), s->scratch.data, s->scratch.len);
            utf8_sample(s->row_sample, sizeof(s->row_sample), s->scratch.data, s->scratch.len);
            break;
        }
        put_value(s, text, col, &v);
    }
}

static const char *type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    default:
        return "an object";
    }
}

/* jansson's tree for the record would outgrow its cap (jsonmem.h). */
static void check_too_big(struct jsonstream *s)
{
    char max[32];

    size_text(max, sizeof(max), s->lim.max_record);
    jsonstream_fail(s, s->rec_line,
                    "line %llu, byte offset %llu: checking the record needs more memory than "
                    "%d times max_row_bytes = %s (too many values)",
                    (unsigned long long)s->rec_line, (unsigned long long)s->rec_off,
                    JSONSTREAM_CHECK_FACTOR, max);
}

/* A complete record's text: validate, then a row or a bad row. */
static void jsonstream_record(struct jsonstream *s, const char *text, size_t len)
{
    json_error_t je;
    json_t *root;
    const char *nul;

    s->row_reason[0] = '\0';
    s->row_line = s->rec_line;
    s->row_col = 0;
    s->row_colname[0] = '\0';
    s->row_sample[0] = '\0';
    s->rec_arena_start = s->b.arena.len;
    /* JSON has no raw NUL, but jansson lets one through after a number ({"a":1<NUL>}), and
     * values are kept as written: the field would hold a NUL that no sink can store. */
    nul = memchr(text, '\0', len);
    if (nul) {
        uint64_t l = s->rec_line, o = s->rec_off + (uint64_t)(nul - text);
        for (const char *q = text; q < nul; q++)
            l += *q == '\n';
        row_problem(s, 0, l, "line %llu, byte offset %llu: invalid JSON: NUL byte",
                    (unsigned long long)l, (unsigned long long)o);
        utf8_sample(s->row_sample, sizeof(s->row_sample), text, len);
        bad_row(s, text, len);
        return;
    }
    jsonmem_begin(s->lim.max_record * JSONSTREAM_CHECK_FACTOR + JSONSTREAM_CHECK_SLACK);
    root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (jsonmem_end()) {
        check_too_big(s);
        return;
    }
    if (!root && (je.text[0] == '\0' || json_error_code(&je) == json_error_out_of_memory)) {
        jsonstream_fail_nomem(s, len);
        return;
    }
    if (!root) {
        uint64_t l = s->rec_line + (je.line > 0 ? (uint64_t)je.line - 1 : 0);
        uint64_t o = s->rec_off + (je.position > 0 ? (uint64_t)je.position : 0);
        row_problem(s, 0, l, "line %llu, byte offset %llu: invalid JSON: %s", (unsigned long long)l,
                    (unsigned long long)o, je.text);
        utf8_sample(s->row_sample, sizeof(s->row_sample), text, len);
        bad_row(s, text, len);
        return;
    }
    if (!json_is_object(root)) {
        row_problem(
            s, 0, s->rec_line, "line %llu, byte offset %llu: the record is %s, not an object",
            (unsigned long long)s->rec_line, (unsigned long long)s->rec_off, type_name(root));
        utf8_sample(s->row_sample, sizeof(s->row_sample), text, len);
        json_decref(root);
        bad_row(s, text, len);
        return;
    }
    json_decref(root);
    if (s->ncols == 0 && !s->route_cols && take_columns(s, text, len) < 0)
        return;
    if (!s->announced && announce(s) < 0)
        return;
    /* values are never longer than their text: after this the arena does not move */
    if (buf_try_reserve(&s->b.arena, len + s->ncols + 1) < 0) {
        jsonstream_fail_nomem(s, s->b.arena.len + len + s->ncols + 1);
        return;
    }
    fields(s, text, len);
    if (!s->row_reason[0]) {
        unsigned col = 0;
        csvcheck_rules(&s->check, s->b.arena.data, s->cur_off, s->cur_len, s->rec_line,
                       s->row_reason, sizeof(s->row_reason), &col, s->row_sample,
                       sizeof(s->row_sample));
        if (s->row_reason[0]) {
            /* Name the member's line: the rules are pure, so running them again with it gives
             * the same first failure, worded with that line. */
            s->row_line = column_line(s, text, len, col);
            if (s->row_line != s->rec_line)
                csvcheck_rules(&s->check, s->b.arena.data, s->cur_off, s->cur_len, s->row_line,
                               s->row_reason, sizeof(s->row_reason), &col, s->row_sample,
                               sizeof(s->row_sample));
            s->row_col = col;
            utf8_sample(s->row_colname, sizeof(s->row_colname), s->cols.v[col - 1],
                        strlen(s->cols.v[col - 1]));
        }
    }
    if (s->row_reason[0]) {
        bad_row(s, text, len);
        return;
    }
    rowbatch_add(&s->b, s->cur_off, s->cur_len, s->rec_line);
    if (s->b.nrows == s->b.max_rows || s->b.arena.len >= s->lim.batch_bytes)
        flush(s);
}

/* ---- jsonl ---- */

static bool blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

static void feed_lines(struct jsonstream *s, const unsigned char *d, size_t n)
{
    while (n > 0 && !s->failed) {
        const unsigned char *nl = memchr(d, '\n', n);
        size_t l = nl ? (size_t)(nl - d) : n;

        if (s->rec.len == 0) {
            s->rec_line = s->line;
            s->rec_off = s->off;
        }
        if (!jsonstream_rec_append(s, d, l))
            return;
        s->off += l;
        if (!nl)
            return;
        if (!blank(s->rec.data, s->rec.len))
            jsonstream_record(s, s->rec.data, s->rec.len);
        buf_shrink(&s->rec, ROWBATCH_ARENA_KEEP); /* a big record does not keep its memory */
        s->off++;
        s->line++;
        d += l + 1;
        n -= l + 1;
    }
}

/* ---- input ---- */

static void feed_plain(struct jsonstream *s, const unsigned char *d, size_t n)
{
    if (s->lines) {
        feed_lines(s, d, n);
        return;
    }
    while (n > 0 && !s->failed) {
        size_t used = jsonframe_feed(s, d, n);

        d += used;
        n -= used;
        if (s->rec_done) {
            s->rec_done = false;
            jsonstream_record(s, s->rec.data, s->rec.len);
            buf_shrink(&s->rec, ROWBATCH_ARENA_KEEP); /* a big record does not keep its memory */
        }
    }
}

int jsonstream_feed(struct jsonstream *s, const void *data, size_t len, struct ierr *e)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    const unsigned char *d = data;

    s->st_.bytes += len;
    while (!s->bom_done && len > 0 && !s->failed) {
        s->bom[s->bomlen++] = *d++;
        len--;
        if (memcmp(s->bom, bom, s->bomlen) != 0) {
            s->bom_done = true;
            feed_plain(s, s->bom, s->bomlen);
        } else if (s->bomlen == 3) {
            s->bom_done = true;
            s->off = 3;
        }
    }
    if (len > 0 && !s->failed)
        feed_plain(s, d, len);
    if (s->failed) {
        *e = s->err;
        return -1;
    }
    return 0;
}

int jsonstream_finish(struct jsonstream *s, struct ierr *e)
{
    if (!s->failed && !s->bom_done) {
        s->bom_done = true;
        feed_plain(s, s->bom, s->bomlen);
    }
    if (!s->failed && s->lines && s->rec.len > 0 && !blank(s->rec.data, s->rec.len))
        jsonstream_record(s, s->rec.data, s->rec.len);
    if (!s->failed && !s->lines && s->st == J_ELEM)
        JSONSTREAM_FAIL_HERE(
            s, "unexpected end of data in the record starting at line %llu, byte offset %llu",
            (unsigned long long)s->rec_line, (unsigned long long)s->rec_off);
    if (!s->failed && !s->lines && s->st != J_TOP && s->st != J_END)
        JSONSTREAM_FAIL_HERE(s, "unexpected end of data inside the JSON value");
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
