/*
 * test_csvstream.c: csvstream against hand-written inputs and the sample files.
 *
 * Every input is fed at every chunk size from 1 byte to the whole input (and
 * with batches of 1, 2 and 1000 rows); each run's complete outcome (columns,
 * rows with their lines, rejects, the error with its position) is rendered as
 * text and must equal the expected text exactly ("blank N" ends it when blank
 * lines were skipped).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/csvstream.h"
#include "input/rowbatch.h"
#include "../tap.h"
#include "base/util.h"

static char *null_default[] = {""};

static struct route_conf rc_csv(void)
{
    struct route_conf rc;
    memset(&rc, 0, sizeof(rc));
    rc.name = "t";
    rc.format = FORMAT_CSV;
    rc.header = true;
    rc.delimiter = ',';
    rc.quote = '"';
    rc.null.v = null_default;
    rc.null.n = 1;
    rc.on_error = ON_ERROR_ABORT;
    return rc;
}

/* Rows and rejects are rendered apart: how they interleave depends on the batch size.
 * Rows are left out when the stream fails: the load is abandoned then. */
struct out {
    struct buf b;
    struct buf rej;
    int fail_batch_at; /* make the Nth batch callback fail (1-based), 0: never */
    int nbatch;
    size_t ncols;
};

static const char *cls_name(enum ierr_class c)
{
    return c == IERR_TRANSIENT   ? "transient"
           : c == IERR_PERMANENT ? "permanent"
           : c == IERR_CONFIG    ? "config"
                                 : "none";
}

static void put_field(struct buf *b, const char *p, size_t len)
{
    if (!p) {
        buf_puts(b, "\\N");
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n')
            buf_puts(b, "\\n");
        else if (p[i] == '\r')
            buf_puts(b, "\\r");
        else
            buf_putc(b, p[i]);
    }
}

static int on_columns(void *arg, const struct strlist *c, struct ierr *e)
{
    struct out *o = arg;
    (void)e;
    o->ncols = c->n;
    buf_puts(&o->b, "cols:");
    for (size_t i = 0; i < c->n; i++)
        buf_printf(&o->b, "%s%s", i ? "|" : "", c->v[i]);
    buf_putc(&o->b, '\n');
    return 0;
}

static int on_batch(void *arg, const struct batch *bt, struct ierr *e)
{
    struct out *o = arg;
    if (++o->nbatch == o->fail_batch_at) {
        memset(e, 0, sizeof(*e));
        e->cls = IERR_TRANSIENT;
        snprintf(e->reason, sizeof(e->reason), "sink down");
        return -1;
    }
    for (size_t r = 0; r < bt->nrows; r++) {
        const struct row *row = &bt->rows[r];
        buf_printf(&o->b, "%llu:", (unsigned long long)row->line);
        for (size_t i = 0; i < o->ncols; i++) {
            if (i)
                buf_putc(&o->b, '|');
            put_field(&o->b, row->fields[i].ptr, row->fields[i].len);
            if (row->fields[i].ptr && row->fields[i].ptr[row->fields[i].len] != '\0')
                buf_puts(&o->b, "<not NUL-terminated>");
        }
        buf_putc(&o->b, '\n');
    }
    return 0;
}

static int on_reject(void *arg, const struct row_reject *r, struct ierr *e)
{
    struct out *o = arg;
    (void)e;
    buf_printf(&o->rej, "reject %llu c%u: %s [%s]\n", (unsigned long long)r->line, r->column,
               r->reason, r->raw);
    return 0;
}

/* One run: the whole outcome as text. */
static char *run(const struct route_conf *rc, const char *in, size_t len, size_t chunk,
                 size_t batch_rows, size_t max_field, int fail_batch_at)
{
    struct out o = {.fail_batch_at = fail_batch_at};
    struct csvstream_cb cb = {on_columns, on_batch, on_reject, &o};
    struct csvstream_limits lim = {batch_rows, 0, max_field};
    struct ierr e;
    struct csvstream *s;
    int rc_ = 0;

    buf_init(&o.b);
    buf_init(&o.rej);
    buf_puts(&o.b, "");
    buf_puts(&o.rej, "");
    s = csvstream_new(rc, &cb, &e);
    if (!s) {
        buf_printf(&o.b, "new: %s\n", e.reason);
        buf_free(&o.rej);
        return buf_steal(&o.b);
    }
    csvstream_set_limits(s, &lim);
    for (size_t off = 0; off < len && rc_ == 0; off += chunk)
        rc_ = csvstream_feed(s, in + off, len - off < chunk ? len - off : chunk, &e);
    if (rc_ == 0)
        rc_ = csvstream_finish(s, &e);
    if (rc_ < 0) {
        char *cols = strstr(o.b.data, "cols:");
        if (cols) /* keep the columns line only */
            o.b.len = (size_t)(strchr(cols, '\n') + 1 - o.b.data);
        else
            o.b.len = 0;
    }
    buf_append(&o.b, o.rej.data, o.rej.len);
    buf_free(&o.rej);
    if (rc_ < 0)
        buf_printf(&o.b, "error %s line %llu col %u [%s] {%s}: %s\n", cls_name(e.cls),
                   (unsigned long long)e.line, e.column, e.column_name, e.sample, e.reason);
    else {
        struct csvstream_stats st;
        csvstream_get_stats(s, &st);
        if (st.bytes != len)
            buf_printf(&o.b, "bytes %llu != %zu\n", (unsigned long long)st.bytes, len);
        if (st.blank_lines)
            buf_printf(&o.b, "blank %llu\n", (unsigned long long)st.blank_lines);
    }
    csvstream_free(s);
    return buf_steal(&o.b);
}

static void expect_all(const struct route_conf *rc, const char *in, size_t len, const char *want,
                       size_t max_field)
{
    static const size_t batches[] = {1, 2, 1000};
    int shown = 0;

    for (size_t bi = 0; bi < ARRAY_SIZE(batches); bi++) {
        for (size_t chunk = 1; chunk <= (len ? len : 1); chunk++) {
            /* past 300 bytes, every size is too slow under sanitizers: sample them */
            if (chunk > 300 && chunk != len && chunk % 97 != 0)
                continue;
            char *got = run(rc, in, len, chunk, batches[bi], max_field, 0);
            if (strcmp(got, want) != 0 && shown++ < 1)
                TAP_FAIL("chunk %zu batch %zu:\n--- want\n%s--- got\n%s", chunk, batches[bi], want,
                         got);
            free(got);
        }
    }
}

#define EXPECT_CSV(rc, in, want) expect_all(&(rc), (in), strlen(in), (want), 0)

DEF_TEST(simple_lf_crlf_cr_and_no_final_newline)
{
    struct route_conf rc = rc_csv();
    const char *want = "cols:a|b\n2:1|x\n3:2|y\n";
    EXPECT_CSV(rc, "a,b\n1,x\n2,y\n", want);
    EXPECT_CSV(rc, "a,b\r\n1,x\r\n2,y\r\n", want);
    EXPECT_CSV(rc, "a,b\r1,x\r2,y\r", want);
    EXPECT_CSV(rc, "a,b\n1,x\n2,y", want);
    EXPECT_CSV(rc,
               "\xEF\xBB\xBF"
               "a,b\n1,x\n2,y\n",
               want);
}

DEF_TEST(blank_lines_are_skipped_but_counted)
{
    struct route_conf rc = rc_csv();
    static char *cols[] = {"a", "b"};
    /* in a file of two columns a blank line cannot be a row: skipped, counted, lines kept */
    EXPECT_CSV(rc, "\n\na,b\n\n1,x\n\r\n\r\n2,y\n\n\n", "cols:a|b\n5:1|x\n8:2|y\nblank 7\n");
    /* a final newline ends the last record: no blank line */
    EXPECT_CSV(rc, "a,b\n1,x\n", "cols:a|b\n2:1|x\n");
    EXPECT_CSV(rc, "a,b\r\n1,x\r\n", "cols:a|b\n2:1|x\n");
    /* a lone CR ends a line too; CR LF is one line end, LF CR two */
    EXPECT_CSV(rc, "a,b\r\r1,x\r", "cols:a|b\n3:1|x\nblank 1\n");
    EXPECT_CSV(rc, "a,b\n\r1,x\n", "cols:a|b\n3:1|x\nblank 1\n");
    /* a header only, then blank lines */
    EXPECT_CSV(rc, "a,b\n\n\r\n", "cols:a|b\nblank 2\n");
    /* a line of one space is a record of one field, not a blank line */
    EXPECT_CSV(rc, "a,b\n \n",
               "cols:a|b\nerror permanent line 2 col 2 [b] {}: line 2: 1 fields, expected 2\n");
    /* the route's columns without a header */
    rc.header = false;
    rc.columns.v = cols;
    rc.columns.n = 2;
    EXPECT_CSV(rc, "\n1,x\n\n2,y\n", "cols:a|b\n2:1|x\n4:2|y\nblank 2\n");
}

/* RFC 4180: a blank line is a record of one empty field. In a one-column file that is a row,
 * as psql's \copy and LOAD DATA load it: NULL under the default null, the empty string when ""
 * is not a null string (LOAD DATA's reading). */
DEF_TEST(blank_lines_in_one_column_files_are_records)
{
    struct route_conf rc = rc_csv();
    static char *v[] = {"v"};
    static char *backslash_n[] = {"\\N"};
    EXPECT_CSV(rc, "a\nfoo\n\nbar\n", "cols:a\n2:foo\n3:\\N\n4:bar\n");
    EXPECT_CSV(rc, "a\r\nfoo\r\n\r\n", "cols:a\n2:foo\n3:\\N\n");
    EXPECT_CSV(rc, "a\rfoo\r\r", "cols:a\n2:foo\n3:\\N\n");
    EXPECT_CSV(rc, "a\nfoo\n", "cols:a\n2:foo\n");
    EXPECT_CSV(rc, "a\nfoo", "cols:a\n2:foo\n");
    EXPECT_CSV(rc, "a\n\n\n", "cols:a\n2:\\N\n3:\\N\n");
    EXPECT_CSV(rc, "a\n\"\"\n\n", "cols:a\n2:\n3:\\N\n");
    /* before the header no column is known yet: skipped and counted */
    EXPECT_CSV(rc, "\n\r\na\nfoo\n", "cols:a\n4:foo\nblank 2\n");
    /* `foo\n\n` without a header: two records, as psql \copy and LOAD DATA give */
    rc.header = false;
    rc.columns.v = v;
    rc.columns.n = 1;
    EXPECT_CSV(rc, "foo\n\n", "cols:v\n1:foo\n2:\\N\n");
    EXPECT_CSV(rc, "foo\r\n\r\n", "cols:v\n1:foo\n2:\\N\n");
    EXPECT_CSV(rc, "\n\n", "cols:v\n1:\\N\n2:\\N\n");
    EXPECT_CSV(rc, "\n", "cols:v\n1:\\N\n");
    EXPECT_CSV(rc, "", "cols:v\n");
    rc.null.v = backslash_n;
    EXPECT_CSV(rc, "foo\n\n\\N\n\n", "cols:v\n1:foo\n2:\n3:\\N\n4:\n");
    rc.null.v = null_default;
    /* skipped lines are not blank lines */
    rc.skip_lines = 2;
    EXPECT_CSV(rc, "\n\n\nfoo\n", "cols:v\n3:\\N\n4:foo\n");
    rc.skip_lines = 0;
    /* TSV reads them the same way */
    rc.format = FORMAT_TSV;
    rc.delimiter = '\t';
    EXPECT_CSV(rc, "foo\n\nbar\n", "cols:v\n1:foo\n2:\\N\n3:bar\n");
}

/* A blank record is a row like any other: validate rules and skip_row apply. */
DEF_TEST(blank_records_meet_the_rules)
{
    struct route_conf rc = rc_csv();
    struct rule rule = {.column = "a", .kind = RULE_NOTNULL, .text = "notnull"};
    rc.rules = &rule;
    rc.nrules = 1;
    EXPECT_CSV(rc, "a\nfoo\n\n",
               "cols:a\nerror permanent line 3 col 1 [a] {}: line 3: column \"a\" is NULL "
               "(validate.a = notnull)\n");
    rc.on_error = ON_ERROR_SKIP_ROW;
    rc.max_errors = 5;
    EXPECT_CSV(rc, "a\nfoo\n\nbar\n",
               "cols:a\n2:foo\n4:bar\nreject 3 c1: line 3: column \"a\" is NULL "
               "(validate.a = notnull) []\n");
}

DEF_TEST(quoting)
{
    struct route_conf rc = rc_csv();
    EXPECT_CSV(rc, "a,b\n\"x,1\",\"he said \"\"hi\"\"\"\n\"multi\nline\r\nvalue\",z\nlast,\"\"\n",
               "cols:a|b\n2:x,1|he said \"hi\"\n3:multi\\nline\\r\\nvalue|z\n6:last|\n");
    /* quoted and plain lines mixed, CRLF, a lone CR, a quoted newline */
    EXPECT_CSV(rc, "a,b\r\n1,\"x\"\r\n2,y\r\n\r\n3,\"p\r\nq\"\r\n4,z\n5,w\r6,v\n,\n\"\",\r\n",
               "cols:a|b\n2:1|x\n3:2|y\n5:3|p\\r\\nq\n7:4|z\n8:5|w\n9:6|v\n10:\\N|\\N\n11:|\\N\n"
               "blank 1\n");
    /* spaces are data, inside and outside quotes */
    EXPECT_CSV(rc, "a, b \n  1 ,\"  1,000,000.00 \"\n", "cols:a| b \n2:  1 |  1,000,000.00 \n");
}

DEF_TEST(nulls)
{
    struct route_conf rc = rc_csv();
    static char *nl[] = {"NULL", "\\N"};
    EXPECT_CSV(rc, "a,b,c\n,\"\",x\n\"\",,\n", "cols:a|b|c\n2:\\N||x\n3:|\\N|\\N\n");
    rc.null.v = nl;
    rc.null.n = 2;
    EXPECT_CSV(rc, "a,b,c\n,NULL,\\N\nNULLx,\"\",N\n", "cols:a|b|c\n2:|\\N|\\N\n3:NULLx||N\n");
    rc.null.n = 0;
    EXPECT_CSV(rc, "a,b\n,\"\"\n", "cols:a|b\n2:|\n");
    /* null strings never apply to the header */
    rc.null.v = nl;
    rc.null.n = 1;
    EXPECT_CSV(rc, "NULL,b\nNULL,1\n", "cols:NULL|b\n2:\\N|1\n");
}

DEF_TEST(skip_lines_and_columns)
{
    struct route_conf rc = rc_csv();
    static char *cols[] = {"id", "name"};
    rc.skip_lines = 2;
    EXPECT_CSV(rc, "junk \"\n,,,\r\na,b\n1,2\n", "cols:a|b\n4:1|2\n");
    rc.header = false;
    rc.columns.v = cols;
    rc.columns.n = 2;
    EXPECT_CSV(rc, "junk\njunk\n1,2\n3,4", "cols:id|name\n3:1|2\n4:3|4\n");
    rc.skip_lines = 5;
    EXPECT_CSV(rc, "junk\njunk\n1,2\n3,4", "cols:id|name\n");
    /* renaming a header by position: skip it and give the columns */
    rc.skip_lines = 1;
    EXPECT_CSV(rc, "A,B\n1,2\n", "cols:id|name\n2:1|2\n");
    /* neither header nor columns */
    rc.skip_lines = 0;
    rc.columns.n = 0;
    EXPECT_CSV(rc, "1,2,3\n4,5,6\n", "cols:column1|column2|column3\n1:1|2|3\n2:4|5|6\n");
    EXPECT_CSV(rc, "", "");
    EXPECT_CSV(rc, "\n\n", "blank 2\n");
}

/* header = true with the route's columns: the header must name exactly those columns, in any
 * order, and the fields are mapped by name (the columns are the header's, in its order). */
DEF_TEST(header_must_name_the_columns)
{
    struct route_conf rc = rc_csv();
    static char *foo_bar[] = {"foo", "bar"};
    static char *three[] = {"foo", "bar", "baz"};
    rc.columns.v = foo_bar;
    rc.columns.n = 2;
    EXPECT_CSV(rc, "foo,bar\n1,2\n", "cols:foo|bar\n2:1|2\n");
    EXPECT_CSV(rc, "bar,foo\n1,2\n", "cols:bar|foo\n2:1|2\n");
    EXPECT_CSV(rc, "bar,foo\n", "cols:bar|foo\n");
    EXPECT_CSV(rc, "foo,bar,qux\n1,2,3\n",
               "error permanent line 1 col 3 [qux] {qux}: header: column 3 is \"qux\", not one "
               "of the route's columns (foo, bar)\n");
    EXPECT_CSV(rc, "foo\n1\n",
               "error permanent line 1 col 0 [bar] {}: header: no column \"bar\", one of the "
               "route's columns (foo, bar)\n");
    /* names are compared exactly: case and spaces count */
    EXPECT_CSV(rc, "Foo,bar\n1,2\n",
               "error permanent line 1 col 1 [Foo] {Foo}: header: column 1 is \"Foo\", not one "
               "of the route's columns (foo, bar); it lacks \"foo\"\n");
    EXPECT_CSV(rc, "foo, bar\n1,2\n",
               "error permanent line 1 col 2 [ bar] { bar}: header: column 2 is \" bar\", not "
               "one of the route's columns (foo, bar); it lacks \"bar\"\n");
    /* a repeated name is reported as such first */
    EXPECT_CSV(rc, "foo,foo\n1,2\n",
               "error permanent line 1 col 2 [foo] {foo}: header: duplicate column name \"foo\" "
               "(columns 1 and 2)\n");
    rc.columns.v = three;
    rc.columns.n = 3;
    EXPECT_CSV(rc, "qux,quux,quuz\n1,2,3\n",
               "error permanent line 1 col 1 [qux] {qux}: header: column 1 is \"qux\", not one "
               "of the route's columns (foo, bar, baz); it lacks \"foo\"\n");
    EXPECT_CSV(rc, "baz,foo,bar\n3,1,2\n\n", "cols:baz|foo|bar\n2:3|1|2\nblank 1\n");
    /* after skip_lines, the header is the next line */
    rc.skip_lines = 1;
    EXPECT_CSV(rc, "export of 2024-01-02\nbar,baz,foo\n2,3,1\n", "cols:bar|baz|foo\n3:2|3|1\n");
}

DEF_TEST(empty_and_header_only)
{
    struct route_conf rc = rc_csv();
    EXPECT_CSV(rc, "",
               "error permanent line 0 col 0 [] {}: no header line: the object has no "
               "records\n");
    EXPECT_CSV(rc, "\xEF\xBB",
               "error permanent line 1 col 1 [] {\\xEF\\xBB}: header: line 1, "
               "column 1: invalid UTF-8 at byte 1 of the field\n");
    EXPECT_CSV(rc, "\xEF\xBB\xBF",
               "error permanent line 0 col 0 [] {}: no header line: the "
               "object has no records\n");
    EXPECT_CSV(rc, "a,b\n", "cols:a|b\n");
    EXPECT_CSV(rc, "a,b", "cols:a|b\n");
    EXPECT_CSV(rc, "a,b,\n1,2,\n",
               "error permanent line 1 col 3 [] {}: header: column 3 has an "
               "empty name\n");
    EXPECT_CSV(rc, "a,b,a\n",
               "error permanent line 1 col 3 [a] {a}: header: duplicate column "
               "name \"a\" (columns 1 and 3)\n");
}

DEF_TEST(tsv_has_no_quoting)
{
    struct route_conf rc = rc_csv();
    rc.format = FORMAT_TSV;
    rc.delimiter = '\t';
    EXPECT_CSV(rc, "a\tb\n\"x\"\t5\" screen\n\t\n", "cols:a|b\n2:\"x\"|5\" screen\n3:\\N|\\N\n");
}

DEF_TEST(bad_dialects)
{
    struct route_conf rc = rc_csv();
    rc.delimiter = '"';
    EXPECT_CSV(rc, "a\n", "new: route t: unusable CSV dialect (delimiter 0x22, quote 0x22)\n");
    rc = rc_csv();
    rc.delimiter = '\n';
    EXPECT_CSV(rc, "a\n", "new: route t: unusable CSV dialect (delimiter 0x0a, quote 0x22)\n");
    rc = rc_csv();
    rc.format = FORMAT_JSONL;
    EXPECT_CSV(rc, "a\n", "new: route t: format is not csv or tsv\n");
}

DEF_TEST(quote_errors)
{
    struct route_conf rc = rc_csv();
    EXPECT_CSV(rc, "a,b\n1,\"x\ny\n",
               "cols:a|b\nerror permanent line 2 col 2 [b] {x\\x0Ay\\x0A}: unterminated quoted "
               "field starting at line 2\n");
    EXPECT_CSV(rc, "a,b\n1,2\n\"abc\"x,3\n",
               "cols:a|b\nerror permanent line 3 col 1 [a] {abc\"}: line 3, column 1: "
               "character 'x' after the closing quote\n");
    EXPECT_CSV(rc, "a,b\n1,\"a\nb\" \n",
               "cols:a|b\nerror permanent line 2 col 2 [b] {a\\x0Ab\"}: line 3, column 2: "
               "character ' ' after the closing quote\n");
    EXPECT_CSV(rc, "a,b\n1,5\" screen\n",
               "cols:a|b\nerror permanent line 2 col 2 [b] {5}: line 2, column 2: quote "
               "character inside an unquoted field (quote the whole field and double the "
               "quote)\n");
}

DEF_TEST(ragged_rows_abort)
{
    struct route_conf rc = rc_csv();
    EXPECT_CSV(rc, "a,b\n1,2\n\n1,2,3\n",
               "cols:a|b\nerror permanent line 4 col 3 [] {3}: line 4: 3 fields, "
               "expected 2\n");
    EXPECT_CSV(rc, "a,b,c\n1,2,3\n4\n",
               "cols:a|b|c\nerror permanent line 3 col 2 [b] {}: line 3: 1 fields, "
               "expected 3\n");
}

DEF_TEST(skip_row_and_max_errors)
{
    struct route_conf rc = rc_csv();
    const char *in = "a,b\n1,2\n3\n4,5\n6,7,8\n\"9\nx\",\xff\n10,11\n";
    rc.on_error = ON_ERROR_SKIP_ROW;
    rc.max_errors = 3;
    EXPECT_CSV(rc, in,
               "cols:a|b\n2:1|2\n4:4|5\n8:10|11\n"
               "reject 3 c2: line 3: 1 fields, expected 2 [3]\n"
               "reject 5 c3: line 5: 3 fields, expected 2 [6,7,...]\n"
               "reject 6 c2: line 6, column 2: invalid UTF-8 at byte 1 of the field "
               "[9\\x0Ax,\\xFF]\n");
    rc.max_errors = 2;
    EXPECT_CSV(rc, in,
               "cols:a|b\nreject 3 c2: line 3: 1 fields, expected 2 [3]\n"
               "reject 5 c3: line 5: 3 fields, expected 2 [6,7,...]\n"
               "error permanent line 6 col 2 [b] {\\xFF}: more than max_errors = 2 bad rows; "
               "the last: line 6, column 2: invalid UTF-8 at byte 1 of the field\n");
    rc.max_errors = 0;
    EXPECT_CSV(rc, in,
               "cols:a|b\nerror permanent line 3 col 2 [b] {}: more than max_errors = 0 "
               "bad rows; the last: line 3: 1 fields, expected 2\n");
}

DEF_TEST(invalid_utf8)
{
    struct route_conf rc = rc_csv();
    EXPECT_CSV(rc, "a,b\n1,caf\xc3\xa9\n2,ok \xe2\x82\n",
               "cols:a|b\nerror permanent line 3 col 2 [b] {ok \\xE2\\x82}: "
               "line 3, column 2: invalid UTF-8 at byte 4 of the field\n");
    EXPECT_CSV(rc, "a,b\n1,\xed\xa0\x80\n",
               "cols:a|b\nerror permanent line 2 col 2 [b] {\\xED\\xA0\\x80}: line 2, column 2: "
               "invalid UTF-8 at byte 1 of the field\n");
    EXPECT_CSV(rc, "a,\xc0\xaf\n",
               "error permanent line 1 col 2 [] {\\xC0\\xAF}: header: line 1, column 2: invalid "
               "UTF-8 at byte 1 of the field\n");
}

DEF_TEST(nul_byte_refused)
{
    struct route_conf rc = rc_csv();
    expect_all(&rc, "a,b\n1,2\n3,x\0y\n", 14,
               "cols:a|b\nerror permanent line 3 col 2 [b] {}: line 3: NUL byte at object "
               "offset 11: not a text file (UTF-16?)\n",
               0);
}

DEF_TEST(field_size_limit)
{
    struct route_conf rc = rc_csv();
    expect_all(&rc, "a,b\n1,0123456789\n2,\"0123456789\n0\"\n", 34,
               "cols:a|b\nerror permanent line 3 col 2 [b] {}: line 3: field 2 "
               "is longer than 10 bytes\n",
               10);
}

DEF_TEST(row_size_limit)
{
    struct route_conf rc = rc_csv();
    const char *over = "line 3, column 2: row longer than max_row_bytes = 16\n";
    char want[256];

    rc.max_row_bytes = 16; /* the fields after unquoting, plus one byte per field */
    EXPECT_CSV(rc, "a,b\n1234567,8901234\n", "cols:a|b\n2:1234567|8901234\n");
    EXPECT_CSV(rc, "a,b\n\"1234567\",\"8901234\"\n", "cols:a|b\n2:1234567|8901234\n");
    EXPECT_CSV(rc, "a,b\n\"12\"\"4567\",\"8901234\"\n", "cols:a|b\n2:12\"4567|8901234\n");
    snprintf(want, sizeof(want), "cols:a|b\nerror permanent line 3 col 2 [b] {}: %s", over);
    EXPECT_CSV(rc, "a,b\n1,x\n1234567,89012345\n", want);
    EXPECT_CSV(rc, "a,b\n1,x\n\"1234567\",\"890\n12345\"\n", want);
    EXPECT_CSV(rc, "a,b\n1,x\n1234567,89012345678901234567890\n", want);
    EXPECT_CSV(rc, "abcdefgh,ijklmnop\n1,2\n",
               "error permanent line 1 col 2 [] {}: line 1, column 2: row longer than "
               "max_row_bytes = 16\n");
    rc.header = false; /* empty fields count one byte each */
    EXPECT_CSV(rc, ",,,,,,,,,,,,,,,,,,,\n",
               "error permanent line 1 col 17 [] {}: line 1, column 17: row longer than "
               "max_row_bytes = 16\n");
    rc.format = FORMAT_TSV;
    rc.delimiter = '\t';
    EXPECT_CSV(rc, "1234567\t8901234\n", "cols:column1|column2\n1:1234567|8901234\n");
    EXPECT_CSV(rc, "1234567\t89012345\n",
               "error permanent line 1 col 2 [] {}: line 1, column 2: row longer than "
               "max_row_bytes = 16\n");
}

struct wide {
    size_t ncols, rows, max_batch;
};

static int wide_columns(void *arg, const struct strlist *c, struct ierr *e)
{
    (void)e;
    ((struct wide *)arg)->ncols = c->n;
    return 0;
}

static int wide_batch(void *arg, const struct batch *b, struct ierr *e)
{
    struct wide *w = arg;
    (void)e;
    w->rows += b->nrows;
    if (b->nrows > w->max_batch)
        w->max_batch = b->nrows;
    return 0;
}

/* 4096 columns of NULLs take no field bytes: the batch is cut by its field count, so its
 * arrays stay small (1000 rows of 4096 fields would be 98 MB). */
DEF_TEST(wide_rows_make_small_batches)
{
    struct route_conf rc = rc_csv();
    struct wide w = {0};
    struct csvstream_cb cb = {wide_columns, wide_batch, NULL, &w};
    struct csvstream *s;
    struct ierr e;
    struct buf in;

    buf_init(&in);
    for (int i = 1; i <= 4096; i++)
        buf_printf(&in, "%sc%d", i > 1 ? "," : "", i);
    buf_putc(&in, '\n');
    for (int r = 0; r < 100; r++) {
        for (int i = 1; i < 4096; i++)
            buf_putc(&in, ',');
        buf_putc(&in, '\n');
    }
    s = csvstream_new(&rc, &cb, &e);
    EXPECT_EQ_INT(0, csvstream_feed(s, in.data, in.len, &e));
    EXPECT_EQ_INT(0, csvstream_finish(s, &e));
    EXPECT_EQ_INT(4096, w.ncols);
    EXPECT_EQ_INT(100, w.rows);
    EXPECT_EQ_INT(ROWBATCH_MAX_FIELDS / 4096, w.max_batch);
    csvstream_free(s);
    buf_free(&in);
}

/* Found by tests/fuzz/fuzz_csvstream: a quoted field of exactly max_field bytes failed as too
 * long when a chunk ended right after its closing quote (libcsv holds that quote until it
 * sees what follows). Every chunk size must accept it. */
DEF_TEST(field_size_limit_quoted_at_the_limit)
{
    struct route_conf rc = rc_csv();
    expect_all(&rc, "a,b\n1,\"0123456789\"\n2,\"x\"\n", 25, "cols:a|b\n2:1|0123456789\n3:2|x\n",
               10);
    expect_all(&rc, "a,b\n1,\"0123456789\"", 18, "cols:a|b\n2:1|0123456789\n", 10);
}

DEF_TEST(rules)
{
    struct route_conf rc = rc_csv();
    struct rule rules[4];
    memset(rules, 0, sizeof(rules));
    rules[0] = (struct rule){.column = "email", .kind = RULE_REGEX, .text = "regex:^[^@]+@[^@]+$"};
    EXPECT_EQ_INT(0, regcomp(&rules[0].re, "^[^@]+@[^@]+$", REG_EXTENDED | REG_NOSUB));
    rules[1] = (struct rule){
        .column = "n", .kind = RULE_INT, .text = "int:1..100", .min = 1, .max = 100};
    rules[2] = (struct rule){
        .column = "name", .kind = RULE_LEN, .text = "len:2..4", .min = 2, .max = 4};
    rules[3] = (struct rule){.column = "n", .kind = RULE_NOTNULL, .text = "notnull"};
    rc.rules = rules;
    rc.nrules = 4;
    rc.on_error = ON_ERROR_SKIP_ROW;
    rc.max_errors = 100;
    EXPECT_CSV(rc,
               "name,email,n\n"
               "\xc3\xa9t\xc3\xa9s,a@b,1\n" /* 4 characters, 6 bytes */
               "ab,nope,5\n"
               "ab,a@b,101\n"
               "ab,a@b,+7\n"
               "ab,a@b,7x\n"
               "a,a@b,7\n"
               "ab,,\n"
               "abcde,a@b,\n",
               "cols:name|email|n\n2:\xc3\xa9t\xc3\xa9s|a@b|1\n5:ab|a@b|+7\n"
               "reject 3 c2: line 3: column \"email\" value \"nope\" fails validate.email = "
               "regex:^[^@]+@[^@]+$ [ab,nope,5]\n"
               "reject 4 c3: line 4: column \"n\" value \"101\" fails validate.n = int:1..100 "
               "[ab,a@b,101]\n"
               "reject 6 c3: line 6: column \"n\" value \"7x\" fails validate.n = int:1..100 "
               "[ab,a@b,7x]\n"
               "reject 7 c1: line 7: column \"name\" value \"a\" fails validate.name = len:2..4 "
               "[a,a@b,7]\n"
               "reject 8 c3: line 8: column \"n\" is NULL (validate.n = notnull) [ab,,]\n"
               "reject 9 c1: line 9: column \"name\" value \"abcde\" fails validate.name = "
               "len:2..4 [abcde,a@b,]\n");
    /* a rule on a column the object lacks */
    rules[0].column = "mail";
    EXPECT_CSV(rc, "name,email,n\n",
               "error permanent line 0 col 0 [mail] {}: validate.mail: the object has no column "
               "\"mail\"\n");
    regfree(&rules[0].re);
}

DEF_TEST(callback_errors_pass_through)
{
    struct route_conf rc = rc_csv();
    const char *in = "a\n1\n2\n3\n";
    char *got = run(&rc, in, strlen(in), 3, 2, 0, 1);
    EXPECT_EQ_STR("cols:a\nerror transient line 0 col 0 [] {}: sink down\n", got);
    free(got);
    got = run(&rc, in, strlen(in), 100, 2, 0, 2);
    EXPECT_EQ_STR("cols:a\nerror transient line 0 col 0 [] {}: sink down\n", got);
    free(got);
}

/*
 * Random inputs over a small alphabet rich in delimiters, quotes and line ends:
 * the outcome must not depend on the chunk size. Lines cut by a chunk boundary
 * go through libcsv while whole ones take the fast path, so this also compares
 * the two ways of splitting a line.
 */
DEF_TEST(random_inputs_chunk_invariant)
{
    static const char alphabet[] = "ab,,\"\"\r\n\n x\xc3\xa9";
    struct route_conf rc = rc_csv();
    unsigned seed = 12345;
    char in[64];

    rc.header = false;
    rc.on_error = ON_ERROR_SKIP_ROW;
    rc.max_errors = 1000;
    for (int iter = 0; iter < 400; iter++) {
        size_t len = (size_t)(iter % 60) + 1;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        char *want = run(&rc, in, len, len, 1000, 0, 0);
        int before = tap_cur_failed;
        expect_all(&rc, in, len, want, 0);
        if (tap_cur_failed && !before)
            TAP_FAIL("input %d of %zu bytes", iter, len);
        free(want);
    }
}

/* ---- sample files ---- */

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    free(path);
    if (!f)
        return NULL;
    data = xmalloc(1 << 20);
    *len = fread(data, 1, (1 << 20) - 1, f);
    data[*len] = '\0';
    fclose(f);
    return data;
}

static const char *srcdir(void)
{
    const char *d = getenv("INGESTD_SRCDIR");
    return d && *d ? d : ".";
}

static char *file_rows(const struct route_conf *rc, const char *data, size_t len)
{
    char *want = run(rc, data, len, len ? len : 1, 1000, 0, 0);
    expect_all(rc, data, len, want, 0); /* the same at every chunk size */
    return want;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The files data/ ships a copy of; dir is data/ or the prior-art folder. Returns false
 * when dir does not hold them. */
static bool check_copied_files(const char *dir)
{
    size_t len;
    char *d, *got;
    struct route_conf rc = rc_csv();
    static char *cols[] = {"id", "description"};

    d = slurp(dir, "aurora-eventual-s3-load/db-data.csv", &len);
    if (!d)
        return false;
    rc.header = false;
    rc.delimiter = ';';
    rc.columns.v = cols;
    rc.columns.n = 2;
    got = file_rows(&rc, d, len);
    EXPECT_EQ_STR("cols:id|description\n1:1|Teste\n2:2|Teste 2\n3:30|Teste 30\n4:33|Teste 33\n",
                  got);
    free(got);
    free(d);

    d = slurp(dir, "aurora-eventual-s3-load/db-data-with-error.csv", &len);
    EXPECT_TRUE(d != NULL);
    got = file_rows(&rc, d ? d : "", d ? len : 0);
    EXPECT_EQ_STR("cols:id|description\nerror permanent line 1 col 3 [] {aaaa}: line 1: 3 "
                  "fields, expected 2\n",
                  got);
    free(got);
    free(d);

    rc = rc_csv();
    d = slurp(dir, "aws-data-pipeline/data.csv", &len);
    EXPECT_TRUE(d != NULL && d[len - 1] == '0');
    got = file_rows(&rc, d ? d : "", d ? len : 0);
    EXPECT_EQ_INT(11, count_lines(got));
    EXPECT_CONTAINS("cols:id|first_name|last_name|email|ip_address|timestamp|amount\n", got);
    EXPECT_CONTAINS("\n11:10|", got);
    EXPECT_CONTAINS("|2023-06-15T11:15:00Z|42.50\n", got);
    free(got);
    free(d);
    return true;
}

DEF_TEST(prior_art_files)
{
    const char *shared = getenv("INGESTD_SHARED_DIR");
    char *dir = shared && *shared ? xasprintf("%s/prior-art-data", shared)
                                  : xasprintf("%s/../shared/prior-art-data", srcdir());
    size_t len;
    char *d, *got;
    struct route_conf rc = rc_csv();

    if (!check_copied_files(dir)) {
        printf("# %s absent: prior-art checks skipped\n", dir);
        free(dir);
        return;
    }

    d = slurp(dir, "cdc-sql-nosql-dw/txns.csv", &len);
    EXPECT_TRUE(d != NULL);
    got = file_rows(&rc, d ? d : "", d ? len : 0);
    EXPECT_EQ_INT(25, count_lines(got));
    EXPECT_CONTAINS("cols:Account No|DATE|TRANSACTION DETAILS|CHIP USED|VALUE DATE| WITHDRAWAL "
                    "AMT | DEPOSIT AMT |BALANCE AMT\n",
                    got);
    EXPECT_CONTAINS("|  1,000,000.00 |", got);
    EXPECT_CONTAINS("TRF FROM  Indiaforensic SERVICES", got);
    EXPECT_CONTAINS("\n25:", got);
    free(got);
    free(d);

    d = slurp(dir, "lambda-fullstack/customers_20230828.csv", &len);
    EXPECT_TRUE(d != NULL);
    got = file_rows(&rc, d ? d : "", d ? len : 0);
    /* it ends in a blank line: skipped in a file of two columns */
    EXPECT_EQ_STR("cols:customer_id|customer_name\n2:1|John Doe\n3:2|Jane Smith\n4:3|Alice "
                  "Johnson\nblank 1\n",
                  got);
    free(got);
    free(d);
    free(dir);
}

DEF_TEST(shipped_samples)
{
    char *dir = xasprintf("%s/data", srcdir());
    size_t len;
    char *d, *got;
    struct route_conf rc = rc_csv();

    EXPECT_TRUE(check_copied_files(dir));
    d = slurp(dir, "samples/transactions.csv", &len);
    EXPECT_TRUE(d != NULL);
    if (d) {
        got = file_rows(&rc, d, len);
        EXPECT_CONTAINS("| WITHDRAWAL AMT | DEPOSIT AMT |", got);
        EXPECT_CONTAINS("|  1,000,000.00 |", got);
        EXPECT_CONTAINS("|\\N|", got);
        EXPECT_TRUE(strstr(got, "error") == NULL);
        free(got);
        free(d);
    }
    d = slurp(dir, "samples/customers.csv", &len);
    EXPECT_TRUE(d != NULL);
    if (d) {
        got = file_rows(&rc, d, len);
        EXPECT_CONTAINS("cols:customer_id|customer_name\n2:", got);
        EXPECT_TRUE(strstr(got, "error") == NULL);
        free(got);
        free(d);
    }
    free(dir);
}

int main(void)
{
    RUN_TEST(simple_lf_crlf_cr_and_no_final_newline);
    RUN_TEST(blank_lines_are_skipped_but_counted);
    RUN_TEST(blank_lines_in_one_column_files_are_records);
    RUN_TEST(blank_records_meet_the_rules);
    RUN_TEST(quoting);
    RUN_TEST(nulls);
    RUN_TEST(skip_lines_and_columns);
    RUN_TEST(header_must_name_the_columns);
    RUN_TEST(empty_and_header_only);
    RUN_TEST(tsv_has_no_quoting);
    RUN_TEST(bad_dialects);
    RUN_TEST(quote_errors);
    RUN_TEST(ragged_rows_abort);
    RUN_TEST(skip_row_and_max_errors);
    RUN_TEST(invalid_utf8);
    RUN_TEST(nul_byte_refused);
    RUN_TEST(field_size_limit);
    RUN_TEST(field_size_limit_quoted_at_the_limit);
    RUN_TEST(row_size_limit);
    RUN_TEST(wide_rows_make_small_batches);
    RUN_TEST(rules);
    RUN_TEST(callback_errors_pass_through);
    RUN_TEST(random_inputs_chunk_invariant);
    RUN_TEST(prior_art_files);
    RUN_TEST(shipped_samples);
    return tap_done();
}
