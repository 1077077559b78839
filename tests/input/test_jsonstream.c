/*
 * test_jsonstream.c: jsonstream against hand-written JSON Lines and JSON arrays.
 *
 * As in test_csvstream.c, every input is fed at every chunk size from 1 byte to
 * the whole input, with batches of 1, 2 and 1000 rows, and the complete outcome
 * (columns, rows with their lines, rejects, the error with its position) is
 * rendered as text that must equal the expected text exactly. Random inputs check
 * that the outcome never depends on how the bytes were cut.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/jsonstream.h"
#include "../tap.h"
#include "base/util.h"

static char *null_default[] = {""};

static struct route_conf rc_json(enum input_format f)
{
    struct route_conf rc;
    memset(&rc, 0, sizeof(rc));
    rc.name = "t";
    rc.format = f;
    rc.header = true;
    rc.delimiter = ',';
    rc.quote = '"';
    rc.null.v = null_default;
    rc.null.n = 1;
    rc.on_error = ON_ERROR_ABORT;
    return rc;
}

struct out {
    struct buf b;
    struct buf rej;
    int fail_batch_at;
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
        ierr_set(e, IERR_TRANSIENT, "sink down");
        return -1;
    }
    for (size_t r = 0; r < bt->nrows; r++) {
        const struct row *row = &bt->rows[r];
        buf_printf(&o->b, "%llu:", (unsigned long long)row->line);
        for (size_t i = 0; i < o->ncols; i++) {
            const struct field *f = &row->fields[i];
            if (i)
                buf_putc(&o->b, '|');
            if (!f->ptr) {
                buf_puts(&o->b, "\\N");
                continue;
            }
            for (size_t k = 0; k < f->len; k++)
                if (f->ptr[k] == '\n')
                    buf_puts(&o->b, "\\n");
                else
                    buf_putc(&o->b, f->ptr[k]);
            if (f->ptr[f->len] != '\0')
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

static char *run(const struct route_conf *rc, const char *in, size_t len, size_t chunk,
                 size_t batch_rows, size_t max_record, int fail_batch_at)
{
    struct out o = {.fail_batch_at = fail_batch_at};
    struct csvstream_cb cb = {on_columns, on_batch, on_reject, &o};
    struct jsonstream_limits lim = {batch_rows, 0, max_record};
    struct ierr e;
    struct jsonstream *s;
    int rc_ = 0;

    buf_init(&o.b);
    buf_init(&o.rej);
    buf_puts(&o.b, "");
    buf_puts(&o.rej, "");
    s = jsonstream_new(rc, &cb, &e);
    if (!s) {
        buf_printf(&o.b, "new: %s\n", e.reason);
        buf_free(&o.rej);
        return buf_steal(&o.b);
    }
    jsonstream_set_limits(s, &lim);
    for (size_t off = 0; off < len && rc_ == 0; off += chunk)
        rc_ = jsonstream_feed(s, in + off, len - off < chunk ? len - off : chunk, &e);
    if (rc_ == 0)
        rc_ = jsonstream_finish(s, &e);
    if (rc_ < 0) {
        char *cols = strstr(o.b.data, "cols:");
        o.b.len = cols ? (size_t)(strchr(cols, '\n') + 1 - o.b.data) : 0;
    }
    buf_append(&o.b, o.rej.data, o.rej.len);
    buf_free(&o.rej);
    if (rc_ < 0) {
        buf_printf(&o.b, "error %s line %llu col %u [%s] {%s}: %s\n", cls_name(e.cls),
                   (unsigned long long)e.line, e.column, e.column_name, e.sample, e.reason);
    } else {
        struct csvstream_stats st;
        jsonstream_get_stats(s, &st);
        if (st.bytes != len)
            buf_printf(&o.b, "bytes %llu != %zu\n", (unsigned long long)st.bytes, len);
    }
    jsonstream_free(s);
    return buf_steal(&o.b);
}

static void expect_all(const struct route_conf *rc, const char *in, size_t len, const char *want,
                       size_t max_record)
{
    static const size_t batches[] = {1, 2, 1000};
    int shown = 0;

    for (size_t bi = 0; bi < ARRAY_SIZE(batches); bi++) {
        for (size_t chunk = 1; chunk <= (len ? len : 1); chunk++) {
            if (chunk > 300 && chunk != len && chunk % 97 != 0)
                continue;
            char *got = run(rc, in, len, chunk, batches[bi], max_record, 0);
            if (strcmp(got, want) != 0 && shown++ < 1)
                TAP_FAIL("chunk %zu batch %zu:\n--- want\n%s--- got\n%s", chunk, batches[bi], want,
                         got);
            free(got);
        }
    }
}

#define EXPECT_JSON(rc, in, want) expect_all(&(rc), (in), strlen(in), (want), 0)

DEF_TEST(jsonl_lines_crlf_blank_bom_no_final_newline)
{
    struct route_conf rc = rc_json(FORMAT_JSONL);
    const char *want = "cols:a|b\n1:1|x\n2:2|y\n";

    EXPECT_JSON(rc, "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n", want);
    EXPECT_JSON(rc, "{\"a\":1,\"b\":\"x\"}\r\n{\"a\":2,\"b\":\"y\"}\r\n", want);
    EXPECT_JSON(rc, "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}", want);
    EXPECT_JSON(rc, "\xEF\xBB\xBF{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n", want);
    EXPECT_JSON(rc, "{\"a\":1,\"b\":\"x\"}\n\n  \r\n\t{\"a\":3,\"b\":\"z\"}\n",
                "cols:a|b\n1:1|x\n4:3|z\n");
    EXPECT_JSON(rc, "", "");
    EXPECT_JSON(rc, "\n\n", "");
}

DEF_TEST(values_are_kept_as_written)
{
    struct route_conf rc = rc_json(FORMAT_JSONL);

    EXPECT_JSON(rc,
                "{\"s\":\"x\\\"y\\\\z\\n\\u00e9\\ud83d\\ude00\\/\",\"n\":110.50,\"e\":-1.5E+3,"
                "\"z\":-0,\"t\":true,\"f\":false,\"u\":null,\"o\":{ \"k\" : [1, 2.0, {\"x\": \"a "
                "b\"}] },\"a\":[ ],\"q\":\"\"}\n",
                "cols:s|n|e|z|t|f|u|o|a|q\n"
                "1:x\"y\\z\\n\xC3\xA9\xF0\x9F\x98\x80/|110.50|-1.5E+3|-0|true|false|\\N|"
                "{\"k\":[1,2.0,{\"x\":\"a b\"}]}|[]|\n");
    /* escapes inside nested values stay escaped, whitespace inside strings stays */
    EXPECT_JSON(rc, "{\"o\":{\"k\\n\": \"a\\\"  }\\t\"}}\n",
                "cols:o\n1:{\"k\\n\":\"a\\\"  }\\t\"}\n");
}

DEF_TEST(missing_and_unknown_fields)
{
    struct route_conf rc = rc_json(FORMAT_JSONL);
    static char *cols[] = {"id", "ticket", "x"};

    EXPECT_JSON(rc, "{\"id\":1,\"b\":2}\n{\"id\":2}\n{\"b\":3}\n",
                "cols:id|b\n1:1|2\n2:2|\\N\n3:\\N|3\n");
    EXPECT_JSON(rc, "{\"id\":1}\n{\"b\":2,\"id\":3}\n",
                "cols:id\nerror permanent line 2 col 0 [b] {b}: line 2: unknown field \"b\" "
                "(not in the first record)\n");
    rc.on_error = ON_ERROR_SKIP_ROW;
    rc.max_errors = 5;
    EXPECT_JSON(rc, "{\"id\":1}\n{\"b\":2,\"id\":3}\n{\"id\":4}\n",
                "cols:id\n1:1\n3:4\nreject 2 c0: line 2: unknown field \"b\" (not in the first "
                "record) [{\"b\":2,\"id\":3}]\n");
    /* the route's columns select fields: others are ignored, missing ones NULL */
    rc = rc_json(FORMAT_JSONL);
    rc.columns.v = cols;
    rc.columns.n = 3;
    EXPECT_JSON(rc, "{\"id\":1,\"other\":{\"a\":1}}\n{\"x\":\"y\",\"ticket\":\"z101\",\"id\":2}\n",
                "cols:id|ticket|x\n1:1|\\N|\\N\n2:2|z101|y\n");
    /* columns are announced even for an object without records */
    EXPECT_JSON(rc, "", "cols:id|ticket|x\n");
}

DEF_TEST(first_record_names_columns)
{
    struct route_conf rc = rc_json(FORMAT_JSONL);

    EXPECT_JSON(rc, "{}\n{\"a\":1}\n",
                "error permanent line 1 col 0 [] {}: line 1: the first record has no fields to "
                "name the columns (set columns)\n");
    EXPECT_JSON(rc, "{\"\":1}\n",
                "error permanent line 1 col 1 [] {}: line 1: first record: column 1 has an "
                "empty name\n");
    EXPECT_JSON(rc, "{\"a\\u0062\":1}\n{\"ab\":2}\n", "cols:ab\n1:1\n2:2\n");
}

DEF_TEST(jsonl_bad_records)
{
    struct route_conf rc = rc_json(FORMAT_JSONL);

    EXPECT_JSON(rc, "{\"a\":1}\n{\"a\": tru}\n",
                "cols:a\nerror permanent line 2 col 0 [] {{\"a\": tru}}: line 2, byte offset 17: "
                "invalid JSON: invalid token near 'tru'\n");
    EXPECT_JSON(rc, "{\"a\":1}\n[1,2]\n",
                "cols:a\nerror permanent line 2 col 0 [] {[1,2]}: line 2, byte offset 8: the "
                "record is an array, not an object\n");
    EXPECT_JSON(rc, "{\"a\":1,\"a\":2}\n",
                "error permanent line 1 col 0 [] {{\"a\":1,\"a\":2}}: line 1, byte offset 10: "
                "invalid JSON: duplicate object key near '\"a\"'\n");
    EXPECT_JSON(rc, "{\"a\":\"\xff\"}\n",
                "error permanent line 1 col 0 [] {{\"a\":\"\\xFF\"}}: line 1, byte offset 6: "
                "invalid JSON: unable to decode byte 0xff near '\"'\n");
    rc.on_error = ON_ERROR_SKIP_ROW;
    rc.max_errors = 1;
    EXPECT_JSON(rc, "{\"a\":1}\nnull\n{\"a\":3}\n",
                "cols:a\n1:1\n3:3\nreject 2 c0: line 2, byte offset 8: the record is null, not an "
                "object [null]\n");
    EXPECT_JSON(rc, "{\"a\":1}\nnull\n{\"a\":3}\n{\"a\"\n",
                "cols:a\nreject 2 c0: line 2, byte offset 8: the record is null, not an object "
                "[null]\nerror permanent line 4 col 0 [] {{\"a\"}: more than max_errors = 1 bad "
                "rows; the last: line 4, byte offset 25: invalid JSON: ':' expected near end of "
                "file\n");
}

/* Found by tests/fuzz/fuzz_jsonstream: jansson accepts a raw NUL right after a number, and the
 * number was kept as written, NUL included, in a field that no sink can store. */
DEF_TEST(raw_nul_byte_is_invalid_json)
{
    static const char in[] = "{\"a\":1}\n{\"a\":1\0}\n{\"a\":3}\n";
    struct route_conf rc = rc_json(FORMAT_JSONL);

    expect_all(&rc, in, sizeof(in) - 1,
               "cols:a\nerror permanent line 2 col 0 [] {{\"a\":1\\x00}}: line 2, byte offset 14: "
               "invalid JSON: NUL byte\n",
               0);
    rc.on_error = ON_ERROR_SKIP_ROW;
    rc.max_errors = 1;
    expect_all(&rc, in, sizeof(in) - 1,
               "cols:a\n1:1\n3:3\nreject 2 c0: line 2, byte offset 14: invalid JSON: NUL byte "
               "[{\"a\":1\\x00}]\n",
               0);
}

DEF_TEST(record_size_limit)
{
    struct route_conf rc = rc_json(FORMAT_JSONL);

    expect_all(&rc, "{\"a\":1}\n{\"a\":\"0123456789\"}\n", 27,
               "cols:a\nerror permanent line 2 col 0 [] {}: line 2, byte offset 8: record longer "
               "than max_row_bytes = 16\n",
               16);
    rc = rc_json(FORMAT_JSON);
    expect_all(&rc, "[{\"a\":1},\n {\"a\":\"0123456789\"}]", 31,
               "cols:a\nerror permanent line 2 col 0 [] {}: line 2, byte offset 11: record longer "
               "than max_row_bytes = 16\n",
               16);
}

DEF_TEST(route_max_row_bytes)
{
    struct route_conf rc = rc_json(FORMAT_JSONL);

    rc.max_row_bytes = 16;
    expect_all(&rc, "{\"a\":1}\n{\"a\":\"01234567\"}\n{\"a\":\"0123456789\"}\n", 44,
               "cols:a\nerror permanent line 3 col 0 [] {}: line 3, byte offset 25: record longer "
               "than max_row_bytes = 16\n",
               0);
    rc.format = FORMAT_JSON;
    expect_all(&rc, "[{\"a\":1},\n {\"a\":\"01234567\"},\n {\"a\":\"0123456789\"}]", 49,
               "cols:a\nerror permanent line 3 col 0 [] {}: line 3, byte offset 30: record longer "
               "than max_row_bytes = 16\n",
               0);
}

/* jansson's tree for {"a":[[],[],...]} takes some 40 times the text: checking a record may
 * take 4 x max_row_bytes + 4 MiB, and a record that needs more fails the object. */
DEF_TEST(check_memory_limit)
{
    static const size_t chunks[] = {1, 7, 4096, SIZE_MAX};
    struct route_conf rc = rc_json(FORMAT_JSONL);
    struct buf in, want;

    buf_init(&in);
    buf_init(&want);
    buf_puts(&in, "{\"a\":[[]");
    for (int i = 0; i < 60000; i++)
        buf_puts(&in, ",[]");
    buf_puts(&in, "]}\n");
    rc.max_row_bytes = 256 << 10;
    for (size_t i = 0; i < ARRAY_SIZE(chunks); i++) {
        char *got = run(&rc, in.data, in.len, chunks[i], 1000, 0, 0);
        EXPECT_EQ_STR("error permanent line 1 col 0 [] {}: line 1, byte offset 0: checking the "
                      "record needs more memory than 4 times max_row_bytes = 256K (too many "
                      "values)\n",
                      got);
        free(got);
    }
    rc.max_row_bytes = 4 << 20;
    buf_printf(&want, "cols:a\n1:%.*s\n", (int)in.len - 7, in.data + 5);
    for (size_t i = 0; i < ARRAY_SIZE(chunks); i++) {
        char *got = run(&rc, in.data, in.len, chunks[i], 1000, 0, 0);
        EXPECT_EQ_STR(want.data, got);
        free(got);
    }
    buf_free(&in);
    buf_free(&want);
}

DEF_TEST(json_arrays)
{
    struct route_conf rc = rc_json(FORMAT_JSON);

    EXPECT_JSON(rc, "[{\"a\":1,\"b\":\"x\"},{\"a\":2,\"b\":\"y\"}]", "cols:a|b\n1:1|x\n1:2|y\n");
    EXPECT_JSON(rc,
                "\xEF\xBB\xBF[\n  {\n    \"a\": 1,\n    \"b\": [1, 2]\n  },\n  {\"a\": 2, \"b\": "
                "\"]}\"}\n]\n",
                "cols:a|b\n2:1|[1,2]\n6:2|]}\n");
    EXPECT_JSON(rc, "[]", "");
    EXPECT_JSON(rc, "  [ ]  \n", "");
    EXPECT_JSON(rc, "", "");
    EXPECT_JSON(rc, "{\"data\": []}", "");
}

DEF_TEST(json_object_wrapping)
{
    struct route_conf rc = rc_json(FORMAT_JSON);
    const char *wrapped = "{\"meta\": {\"n\": [1, {\"x\": \"[\"}]}, \"count\": 2,\n"
                          " \"data\": [{\"id\": \"a\"}, {\"id\": \"b\"}],\n"
                          " \"more\": [{\"id\": \"no\"}], \"tail\": \"}\"}";

    /* without json_path: the first member holding an array */
    EXPECT_JSON(rc, wrapped, "cols:id\n2:a\n2:b\n");
    rc.json_path = "more";
    EXPECT_JSON(rc, wrapped, "cols:id\n3:no\n");
    rc.json_path = "meta.n";
    EXPECT_JSON(rc, wrapped,
                "error permanent line 1 col 0 [] {1}: line 1, byte offset 16: the record is a "
                "number, not an object\n");
    rc.json_path = "result.items";
    EXPECT_JSON(rc, "{\"result\": {\"x\": 1, \"items\": [{\"k\": 1}]}, \"z\": null}",
                "cols:k\n1:1\n");
    EXPECT_JSON(rc, "{\"result\": {\"x\": 1}}",
                "error permanent line 1 col 0 [] {}: line 1, byte offset 18: no array at "
                "json_path = result.items\n");
    EXPECT_JSON(rc, "{\"result\": {\"items\": {}}}",
                "error permanent line 1 col 0 [] {}: line 1, byte offset 21: json_path = "
                "result.items: the member is not an array\n");
    EXPECT_JSON(rc, "{\"result\": []}",
                "error permanent line 1 col 0 [] {}: line 1, byte offset 11: json_path = "
                "result.items: the member is not an object\n");
    EXPECT_JSON(rc, "[{\"k\": 1}]",
                "error permanent line 1 col 0 [] {}: line 1, byte offset 0: json_path = "
                "result.items, but the top level is an array\n");
    rc.json_path = "we\"ird";
    EXPECT_JSON(rc, "{\"w\\u0065\\\"ird\": [{\"k\": 2}]}", "cols:k\n1:2\n");
    rc.json_path = NULL;
    EXPECT_JSON(rc, "{\"a\": 1, \"b\": {\"c\": []}}",
                "error permanent line 1 col 0 [] {}: line 1, byte offset 23: the top-level "
                "object has no array member (set json_path)\n");
}

DEF_TEST(json_framing_errors)
{
    struct route_conf rc = rc_json(FORMAT_JSON);

    EXPECT_JSON(rc, "[{\"a\":1},\n {\"a\":2]]",
                "cols:a\nerror permanent line 2 col 0 [] {}: line 2, byte offset 17: ']' does not "
                "close '{'\n");
    EXPECT_JSON(rc, "[{\"a\":1} {\"a\":2}]",
                "cols:a\nerror permanent line 1 col 0 [] {}: line 1, byte offset 9: expected ',' "
                "or ']' after a record\n");
    EXPECT_JSON(rc, "[{\"a\":1},]",
                "cols:a\nerror permanent line 1 col 0 [] {}: line 1, byte offset 9: expected a "
                "record\n");
    EXPECT_JSON(rc, "[,{\"a\":1}]",
                "error permanent line 1 col 0 [] {}: line 1, byte offset 1: expected a record\n");
    EXPECT_JSON(rc, "[{\"a\":1}]\n x",
                "cols:a\nerror permanent line 2 col 0 [] {}: line 2, byte offset 11: data after "
                "the end of the JSON value\n");
    EXPECT_JSON(rc, "[{\"a\":1},\n{\"a\":",
                "cols:a\nerror permanent line 2 col 0 [] {}: line 2, byte offset 15: unexpected "
                "end of data in the record starting at line 2, byte offset 10\n");
    EXPECT_JSON(rc, "[{\"a\":1}",
                "cols:a\nerror permanent line 1 col 0 [] {}: line 1, byte offset 8: unexpected "
                "end of data inside the JSON value\n");
    EXPECT_JSON(rc, "\"just a string\"",
                "error permanent line 1 col 0 [] {}: line 1, byte offset 0: the top level is not "
                "an array or an object\n");
    EXPECT_JSON(rc, "{\"a\" 1}",
                "error permanent line 1 col 0 [] {}: line 1, byte offset 5: expected ':'\n");
    EXPECT_JSON(rc, "{1: []}",
                "error permanent line 1 col 0 [] {}: line 1, byte offset 1: expected a member "
                "name\n");
    /* a skipped member is checked for bracket structure */
    EXPECT_JSON(rc, "{\"x\": {\"y\": [1, 2}}, \"d\": []}",
                "error permanent line 1 col 0 [] {}: line 1, byte offset 17: '}' does not close "
                "'['\n");
}

DEF_TEST(json_bad_records)
{
    struct route_conf rc = rc_json(FORMAT_JSON);

    /* jansson's position inside the record, added to the record's own */
    EXPECT_JSON(rc, "[\n {\"a\": 1},\n {\"a\":\n   tru}\n]",
                "cols:a\nerror permanent line 4 col 0 [] {{\"a\":\\x0A   tru}}: line 4, byte "
                "offset 26: invalid JSON: invalid token near 'tru'\n");
    EXPECT_JSON(rc, "[{\"a\":1}, 2, \"x\"]",
                "cols:a\nerror permanent line 1 col 0 [] {2}: line 1, byte offset 10: the record "
                "is a number, not an object\n");
    rc.on_error = ON_ERROR_SKIP_ROW;
    rc.max_errors = 10;
    EXPECT_JSON(rc, "[{\"a\":1}, 2, \"x\", {\"a\" : [ 3 ]}, {\"a\": tru}]",
                "cols:a\n1:1\n1:[3]\nreject 1 c0: line 1, byte offset 10: the record is a "
                "number, not an object [2]\nreject 1 c0: line 1, byte offset 13: the record is a "
                "string, not an object [\"x\"]\nreject 1 c0: line 1, byte offset 42: invalid "
                "JSON: invalid token near 'tru' [{\"a\":tru}]\n");
}

DEF_TEST(nesting_limit)
{
    struct route_conf rc = rc_json(FORMAT_JSON);
    struct buf b;
    char *want;

    buf_init(&b);
    buf_puts(&b, "[{\"a\":");
    for (int i = 0; i < JSONSTREAM_MAX_DEPTH; i++)
        buf_putc(&b, '[');
    want = xasprintf("error permanent line 1 col 0 [] {}: line 1, byte offset %d: nesting deeper "
                     "than %d levels\n",
                     JSONSTREAM_MAX_DEPTH + 5, JSONSTREAM_MAX_DEPTH);
    {
        char *got = run(&rc, b.data, b.len, b.len, 1000, 0, 0);
        EXPECT_EQ_STR(want, got);
        free(got);
        got = run(&rc, b.data, b.len, 7, 1000, 0, 0);
        EXPECT_EQ_STR(want, got);
        free(got);
    }
    free(want);
    buf_free(&b);
}

DEF_TEST(rules)
{
    struct route_conf rc = rc_json(FORMAT_JSONL);
    struct rule r[2];

    memset(r, 0, sizeof(r));
    r[0].column = "id";
    r[0].kind = RULE_INT;
    r[0].text = "int:1..10";
    r[0].min = 1;
    r[0].max = 10;
    r[1].column = "id";
    r[1].kind = RULE_NOTNULL;
    r[1].text = "notnull";
    rc.rules = r;
    rc.nrules = 2;
    EXPECT_JSON(rc, "{\"id\":1}\n{\"id\":11}\n",
                "cols:id\nerror permanent line 2 col 1 [id] {11}: line 2: column \"id\" value "
                "\"11\" fails validate.id = int:1..10\n");
    EXPECT_JSON(rc, "{\"id\":1}\n{\"id\":null}\n",
                "cols:id\nerror permanent line 2 col 1 [id] {}: line 2: column \"id\" is NULL "
                "(validate.id = notnull)\n");
    r[0].column = "nope";
    EXPECT_JSON(rc, "{\"id\":1}\n",
                "error permanent line 0 col 0 [nope] {}: validate.nope: the object has no column "
                "\"nope\"\n");
}

/* A record written over several lines: an error names the line of the member at fault (in
 * the text and as the error's line), not the line where the record starts. A skipped row keeps
 * the record's line as its own. */
DEF_TEST(errors_name_the_member_line)
{
    struct route_conf rc = rc_json(FORMAT_JSON);
    static char *cols[] = {"id", "name"};
    struct rule r[2];
    const char *pretty = "[\n"
                         "  {\n"
                         "    \"id\": 1,\n"
                         "    \"name\": \"a\"\n"
                         "  },\n"
                         "  {\n"
                         "    \"id\": 2,\n"
                         "    \"name\": \"b\",\n"
                         "    \"extra\": true\n"
                         "  }\n"
                         "]\n";

    /* a member not in the first record: line 9, where "extra" is */
    EXPECT_JSON(
        rc, pretty,
        "cols:id|name\n"
        "error permanent line 9 col 0 [extra] {extra}: line 9: unknown field \"extra\" (not "
        "in the first record)\n");
    /* an empty member name in the first record */
    EXPECT_JSON(rc, "[\n  {\n    \"id\": 1,\n    \"\": 2\n  }\n]",
                "error permanent line 4 col 2 [] {}: line 4: first record: column 2 has an empty "
                "name\n");
    /* a validate rule: the line of the member it looked at */
    memset(r, 0, sizeof(r));
    r[0] = (struct rule){
        .column = "name", .kind = RULE_LEN, .text = "len:2..5", .min = 2, .max = 5};
    r[1] = (struct rule){.column = "id", .kind = RULE_NOTNULL, .text = "notnull"};
    rc.rules = r;
    rc.nrules = 2;
    rc.columns.v = cols;
    rc.columns.n = 2;
    EXPECT_JSON(
        rc, "[{\"id\": 1, \"name\": \"ok\"},\n {\"id\": 2,\n  \"name\":\n   \"x\"}]",
        "cols:id|name\n"
        "error permanent line 3 col 2 [name] {x}: line 3: column \"name\" value \"x\" fails "
        "validate.name = len:2..5\n");
    /* a missing member has no line of its own: the record's */
    EXPECT_JSON(rc, "[{\"id\": 1, \"name\": \"ok\"},\n {\n  \"name\": \"xy\"}]",
                "cols:id|name\n"
                "error permanent line 2 col 1 [id] {}: line 2: column \"id\" is NULL "
                "(validate.id = notnull)\n");
    /* skipped rows: the reason names the member's line, the row is the record's */
    rc.on_error = ON_ERROR_SKIP_ROW;
    rc.max_errors = 5;
    EXPECT_JSON(rc, "[{\"id\": 1,\n  \"name\": \"x\"},\n {\"id\": 2, \"name\": \"yy\"}]",
                "cols:id|name\n3:2|yy\n"
                "reject 1 c2: line 2: column \"name\" value \"x\" fails validate.name = len:2..5 "
                "[{\"id\":1,\"name\":\"x\"}]\n");
    /* past max_errors: the error is at the member's line */
    rc.max_errors = 0;
    EXPECT_JSON(rc, "[{\"id\": 1,\n  \"name\": \"x\"}]",
                "cols:id|name\n"
                "error permanent line 2 col 2 [name] {x}: more than max_errors = 0 bad rows; the "
                "last: line 2: column \"name\" value \"x\" fails validate.name = len:2..5\n");
}

DEF_TEST(callback_errors_pass_through)
{
    struct route_conf rc = rc_json(FORMAT_JSON);
    char *got = run(&rc, "[{\"a\":1},{\"a\":2},{\"a\":3}]", 25, 3, 1, 0, 2);

    EXPECT_EQ_STR("cols:a\nerror transient line 0 col 0 [] {}: sink down\n", got);
    free(got);
}

DEF_TEST(not_a_json_route)
{
    struct route_conf rc = rc_json(FORMAT_CSV);
    char *got = run(&rc, "", 0, 1, 1, 0, 0);

    EXPECT_EQ_STR("new: route t: format is not jsonl or json\n", got);
    free(got);
}

/* The outcome never depends on chunking, whatever the bytes (ASan catches overruns). */
DEF_TEST(random_inputs_chunk_invariant)
{
    static const char *atoms[] = {"{",
                                  "}",
                                  "[",
                                  "]",
                                  ",",
                                  ":",
                                  "\"a\"",
                                  "\"b\"",
                                  "1",
                                  "-2.5",
                                  " ",
                                  "\n",
                                  "\"",
                                  "\\",
                                  "true",
                                  "null",
                                  "\"x\\\"y\"",
                                  "{\"a\":1}",
                                  "\xEF\xBB\xBF",
                                  "\"\\u00e9\""};
    unsigned seed = 12345;

    for (int iter = 0; iter < 600; iter++) {
        struct route_conf rc = rc_json(iter % 2 ? FORMAT_JSON : FORMAT_JSONL);
        struct buf in;
        char *want;
        int before = tap_cur_failed;
        int n;

        rc.on_error = iter % 3 ? ON_ERROR_SKIP_ROW : ON_ERROR_ABORT;
        rc.max_errors = 3;
        buf_init(&in);
        seed = seed * 1103515245u + 12345u;
        n = (int)(seed >> 16) % 24;
        if (iter % 4 == 1)
            buf_puts(&in, "[{\"a\":1,\"b\":[2]},");
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            buf_puts(&in, atoms[(seed >> 16) % ARRAY_SIZE(atoms)]);
        }
        want = run(&rc, in.data, in.len, in.len ? in.len : 1, 1000, 0, 0);
        expect_all(&rc, in.data, in.len, want, 0);
        if (tap_cur_failed && !before)
            TAP_FAIL("input %d: %s", iter, in.data);
        free(want);
        buf_free(&in);
        if (tap_cur_failed)
            break;
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data;

    if (!f)
        return NULL;
    data = xmalloc(1 << 20);
    *len = fread(data, 1, (1 << 20) - 1, f);
    data[*len] = '\0';
    fclose(f);
    return data;
}

DEF_TEST(prior_art_trades)
{
    const char *shared = getenv("INGESTD_SHARED_DIR");
    const char *src = getenv("INGESTD_SRCDIR");
    char *path = shared && *shared
                     ? xasprintf("%s/prior-art-data/cdc-sql-nosql-dw/trades.json", shared)
                     : xasprintf("%s/../shared/prior-art-data/cdc-sql-nosql-dw/trades.json",
                                 src && *src ? src : ".");
    struct route_conf rc = rc_json(FORMAT_JSON);
    static char *cols[] = {"id", "details", "price", "shares", "ticker", "ticket", "time"};
    size_t len;
    char *d = slurp(path, &len), *got;

    if (!d) {
        printf("# %s absent: skipped\n", path);
        free(path);
        return;
    }
    /* The first trade has no "ticket": with columns from the first record the second
     * is a bad row; with the route's columns it loads as NULL. */
    got = run(&rc, d, len, len, 1000, 0, 0);
    EXPECT_CONTAINS("unknown field \"ticket\"", got);
    free(got);
    rc.columns.v = cols;
    rc.columns.n = 7;
    got = run(&rc, d, len, len, 1000, 0, 0);
    expect_all(&rc, d, len, got, 0);
    EXPECT_CONTAINS("cols:id|details|price|shares|ticker|ticket|time\n", got);
    EXPECT_CONTAINS(":5597a1617df886b33f839f9a|{\"asks\":[", got);
    EXPECT_CONTAINS("],\"lag\":0,\"system\":\"abc\"}|110|200|abcd|\\N|{\"date\":\"", got);
    EXPECT_CONTAINS("|abcd|z107|", got);
    EXPECT_TRUE(strstr(got, "error") == NULL);
    {
        size_t rows = 0;
        for (const char *p = got; (p = strchr(p, '\n')) != NULL; p++)
            rows++;
        EXPECT_EQ_INT(9, rows); /* cols line + 8 trades */
    }
    free(got);
    free(d);
    free(path);
}

int main(void)
{
    RUN_TEST(jsonl_lines_crlf_blank_bom_no_final_newline);
    RUN_TEST(values_are_kept_as_written);
    RUN_TEST(missing_and_unknown_fields);
    RUN_TEST(first_record_names_columns);
    RUN_TEST(jsonl_bad_records);
    RUN_TEST(raw_nul_byte_is_invalid_json);
    RUN_TEST(record_size_limit);
    RUN_TEST(route_max_row_bytes);
    RUN_TEST(check_memory_limit);
    RUN_TEST(json_arrays);
    RUN_TEST(json_object_wrapping);
    RUN_TEST(json_framing_errors);
    RUN_TEST(json_bad_records);
    RUN_TEST(nesting_limit);
    RUN_TEST(rules);
    RUN_TEST(errors_name_the_member_line);
    RUN_TEST(callback_errors_pass_through);
    RUN_TEST(not_a_json_route);
    RUN_TEST(random_inputs_chunk_invariant);
    RUN_TEST(prior_art_trades);
    return tap_done();
}
