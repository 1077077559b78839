/*
 * test_transform.c: the Lua transform engine (src/transform.c) and its sandbox: the row
 * contract, value formatting, ctx, fresh globals per object, finish(), error lines,
 * sandbox escapes, the memory and time caps, pattern bombs, and the pattern cost model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transform/lua_pattern_cost.h"
#include "../tap.h"
#include "transform/transform.h"
#include "base/util.h"

#define LIMITS_DEFAULT                                                                             \
    {                                                                                              \
        64u << 20, 1000000                                                                         \
    }

/* Rows emitted, as "a=1,b=NULL;" per row. */
static struct buf out;
static const struct strlist *out_cols;

static int collect(void *arg, size_t input, const struct field *f)
{
    (void)arg;
    (void)input;
    for (size_t j = 0; j < out_cols->n; j++) {
        buf_printf(&out, "%s%s=", j ? "," : "", out_cols->v[j]);
        if (f[j].ptr)
            buf_append(&out, f[j].ptr, f[j].len);
        else
            buf_puts(&out, "NULL");
    }
    buf_puts(&out, ";");
    return 0;
}

static struct strlist list(const char *csv)
{
    struct strlist l = {0};
    char *copy = xstrdup(csv), *p = copy, *item;

    while ((item = strsep(&p, ",")) != NULL)
        strlist_push(&l, item);
    free(copy);
    return l;
}

static const struct transform_ctx ctx = {
    "bkt", "dir/obj.csv", "abc123", "r1", 42, 1700000000123, 1700000001000,
};

static struct transform *make(const char *src, const struct transform_limits *lim)
{
    static const struct transform_limits def = LIMITS_DEFAULT;
    char err[512];
    struct transform *t = transform_new("test.lua", src, strlen(src), lim ? lim : &def, err,
                                        sizeof err);

    if (!t)
        printf("# transform_new: %s\n", err);
    return t;
}

/*
 * One object: columns in/outc, rows given as values separated by '|' (one row per string,
 * "~" = NULL). Returns 0 or the failing row's index + 1 (err filled); out holds the rows.
 */
static int object(struct transform *t, const char *inc, const char *outc, const char *const *rows,
                  size_t nrows, struct transform_error *err)
{
    struct strlist in = list(inc), o = outc ? list(outc) : (struct strlist){0};
    const struct strlist *op = outc ? &o : &in;
    int rc = 0;

    buf_reset(&out);
    out_cols = op;
    if (transform_begin(t, &ctx, &in, op, err) < 0) {
        rc = -1;
        goto done;
    }
    for (size_t r = 0; r < nrows && rc == 0; r++) {
        struct field f[16];
        char *copy = xstrdup(rows[r]), *p = copy, *item;
        size_t n = 0;

        while ((item = strsep(&p, "|")) != NULL && n < 16) {
            f[n].ptr = strcmp(item, "~") == 0 ? NULL : item;
            f[n].len = f[n].ptr ? strlen(item) : 0;
            n++;
        }
        struct row row = {r + 2, f};
        size_t next = 0;

        if (transform_rows(t, &row, 1, &next, collect, NULL, err) < 0)
            rc = (int)r + 1;
        free(copy);
    }
    if (rc == 0 && transform_finish(t, nrows + 1, collect, NULL, err) < 0)
        rc = (int)nrows + 1;
    transform_end(t);
done:
    if (rc != 0 && err->column) { /* the name lives in the lists freed below */
        static char col[64];

        snprintf(col, sizeof col, "%s", err->column);
        err->column = col;
    }
    strlist_free(&in);
    strlist_free(&o);
    return rc;
}

DEF_TEST(upper_case_one_column)
{
    struct transform *t = make("function transform(row, ctx)\n"
                               "  if row.name then row.name = row.name:upper() end\n"
                               "  return row\n"
                               "end\n",
                               NULL);
    const char *rows[] = {"1|ann", "2|~", "3|Ünï"};
    struct transform_error err;

    EXPECT_EQ_INT(0, object(t, "id,name", NULL, rows, 3, &err));
    EXPECT_EQ_STR("id=1,name=ANN;id=2,name=NULL;id=3,name=ÜNï;", out.data);
    transform_free(t);
}

DEF_TEST(values_are_formatted_exactly)
{
    struct transform *t = make("function transform(row)\n"
                               "  return {i = 42, neg = -7, f = 0.1, third = 1/3, whole = 3.0,\n"
                               "          big = 1e20, t = true, f2 = false, n = nil, s = 'x'}\n"
                               "end\n",
                               NULL);
    const char *rows[] = {"1"};
    struct transform_error err;

    EXPECT_EQ_INT(0, object(t, "id", "i,neg,f,third,whole,big,t,f2,n,s", rows, 1, &err));
    EXPECT_EQ_STR("i=42,neg=-7,f=0.1,third=0.3333333333333333,whole=3,big=1e+20,t=true,"
                  "f2=false,n=NULL,s=x;",
                  out.data);
    transform_free(t);
}

DEF_TEST(drop_one_to_many_and_finish)
{
    struct transform *t = make("local n = 0\n"
                               "total = 0\n"
                               "function transform(row)\n"
                               "  n = n + 1; total = total + tonumber(row.v)\n"
                               "  if row.v == '0' then return nil end\n"
                               "  if row.v == '2' then return {{k = 'a', v = '2'}, {k = 'b', v = "
                               "'2'}} end\n"
                               "  return {k = row.k, v = row.v}\n"
                               "end\n"
                               "function finish(ctx)\n"
                               "  return {k = 'rows', v = n .. '/' .. total .. '@' .. ctx.line}\n"
                               "end\n",
                               NULL);
    const char *rows[] = {"x|1", "y|0", "z|2"};
    struct transform_error err;

    EXPECT_EQ_INT(0, object(t, "k,v", NULL, rows, 3, &err));
    EXPECT_EQ_STR("k=x,v=1;k=a,v=2;k=b,v=2;k=rows,v=3/3@4;", out.data);
    /* globals and upvalues start afresh with every object */
    EXPECT_EQ_INT(0, object(t, "k,v", NULL, rows, 1, &err));
    EXPECT_EQ_STR("k=x,v=1;k=rows,v=1/1@2;", out.data);
    transform_free(t);
}

DEF_TEST(ctx_fields)
{
    struct transform *t = make("function transform(row, ctx)\n"
                               "  return {a = ctx.bucket .. ' ' .. ctx.key .. ' ' .. ctx.etag .. "
                               "' ' .. ctx.size .. ' ' .. ctx.route .. ' ' .. ctx.line,\n"
                               "          b = ctx.now, c = ctx.event_time}\n"
                               "end\n",
                               NULL);
    const char *rows[] = {"1"};
    struct transform_error err;

    EXPECT_EQ_INT(0, object(t, "id", "a,b,c", rows, 1, &err));
    EXPECT_EQ_STR("a=bkt dir/obj.csv abc123 42 r1 2,b=2023-11-14T22:13:21.000Z,"
                  "c=2023-11-14T22:13:20.123Z;",
                  out.data);
    transform_free(t);
}

DEF_TEST(bad_rows_name_column_and_line)
{
    struct transform *t = make("function transform(row)\n"
                               "  if row.id == '1' then return {id = {}} end\n"
                               "  if row.id == '2' then return {id = 1, nope = 2} end\n"
                               "  if row.id == '3' then return 5 end\n"
                               "  if row.id == '4' then local x = nil; return x.y end\n"
                               "  if row.id == '5' then return {id = ('x'):rep(-1, {})} end\n"
                               "  if row.id == '6' then return {id = '\\255'} end\n"
                               "  if row.id == '7' then error({}) end\n"
                               "  return row\n"
                               "end\n",
                               NULL);
    struct transform_error err;
    const char *r1[] = {"1"}, *r2[] = {"2"}, *r3[] = {"3"}, *r4[] = {"4"}, *r5[] = {"5"},
               *r6[] = {"6"}, *r7[] = {"7"}, *r8[] = {"8"};

    EXPECT_EQ_INT(1, object(t, "id", NULL, r1, 1, &err));
    EXPECT_EQ_INT(TRANSFORM_SCRIPT, err.fault);
    EXPECT_EQ_STR("test.lua: column id: a table is not a value (strings, numbers, booleans or "
                  "nil)",
                  err.reason);
    EXPECT_EQ_STR("id", err.column);
    EXPECT_EQ_INT(1, object(t, "id", NULL, r2, 1, &err));
    EXPECT_CONTAINS("column nope that is not an output column", err.reason);
    EXPECT_EQ_INT(1, object(t, "id", NULL, r3, 1, &err));
    EXPECT_CONTAINS("transform returned a number", err.reason);
    EXPECT_EQ_INT(1, object(t, "id", NULL, r4, 1, &err));
    EXPECT_CONTAINS("test.lua:5: attempt to index a nil value", err.reason);
    EXPECT_EQ_INT(5, err.script_line);
    EXPECT_EQ_INT(1, object(t, "id", NULL, r5, 1, &err));
    EXPECT_CONTAINS("test.lua:6: bad argument", err.reason);
    EXPECT_EQ_INT(1, object(t, "id", NULL, r6, 1, &err));
    EXPECT_CONTAINS("not UTF-8 text", err.reason);
    EXPECT_EQ_INT(1, object(t, "id", NULL, r7, 1, &err));
    EXPECT_CONTAINS("test.lua:8: (error object is a table value)", err.reason);
    /* the state is still good after script errors */
    EXPECT_EQ_INT(0, object(t, "id", NULL, r8, 1, &err));
    EXPECT_EQ_STR("id=8;", out.data);
    EXPECT_TRUE(!transform_spent(t));
    transform_free(t);
}

DEF_TEST(syntax_errors_and_missing_functions)
{
    static const struct transform_limits lim = LIMITS_DEFAULT;
    char err[512];

    EXPECT_TRUE(transform_new("s.lua", "x = 1\nfunction (\n", 13, &lim, err, sizeof err) == NULL);
    EXPECT_CONTAINS("s.lua:2:", err);
    EXPECT_EQ_INT(-1, transform_check("s.lua", "x = 1\n", 6, &lim, err, sizeof err));
    EXPECT_CONTAINS("defines no function transform", err);
    EXPECT_EQ_INT(-1, transform_check("s.lua", "function transform() end\nfinish = 1\n", 36, &lim,
                                      err, sizeof err));
    EXPECT_CONTAINS("finish is a number", err);
    EXPECT_EQ_INT(-1, transform_check("s.lua", "function transform() end\nerror('top')\n", 37, &lim,
                                      err, sizeof err));
    EXPECT_CONTAINS("s.lua:2: top", err);
    EXPECT_EQ_INT(0, transform_check("s.lua", "function transform(r) return r end\n", 35, &lim, err,
                                     sizeof err));
    /* precompiled chunks are refused */
    EXPECT_TRUE(transform_new("b.lua", "\x1bLua\x54", 5, &lim, err, sizeof err) == NULL);
    EXPECT_CONTAINS("binary", err);
}

DEF_TEST(sandbox_has_no_escapes)
{
    struct transform *t = make(
        "function transform(row)\n"
        "  local out = {}\n"
        "  for _, name in ipairs({'io', 'load', 'loadstring', 'dofile', 'loadfile', 'require',\n"
        "      'debug', 'package', 'coroutine', 'print'}) do\n"
        "    out[#out + 1] = name .. '=' .. type(_G[name])\n"
        "  end\n"
        "  for _, name in ipairs({'execute', 'getenv', 'remove', 'rename', 'tmpname', 'exit'}) do\n"
        "    out[#out + 1] = 'os.' .. name .. '=' .. type(os[name])\n"
        "  end\n"
        "  out[#out + 1] = 'dump=' .. type(string.dump)\n"
        "  out[#out + 1] = 'strmeta=' .. tostring(getmetatable(''))\n"
        "  out[#out + 1] = 'time=' .. math.type(os.time())\n"
        "  out[#out + 1] = 'gcstop=' .. tostring(pcall(collectgarbage, 'stop'))\n"
        "  out[#out + 1] = 'gc=' .. tostring(pcall(setmetatable, {}, {__gc = function() end}))\n"
        "  return {r = table.concat(out, ' ')}\n"
        "end\n",
        NULL);
    const char *rows[] = {"1"};
    struct transform_error err;

    EXPECT_EQ_INT(0, object(t, "id", "r", rows, 1, &err));
    EXPECT_EQ_STR("r=io=nil load=nil loadstring=nil dofile=nil loadfile=nil require=nil "
                  "debug=nil package=nil coroutine=nil print=nil os.execute=nil os.getenv=nil "
                  "os.remove=nil os.rename=nil os.tmpname=nil os.exit=nil dump=nil "
                  "strmeta=false time=integer gcstop=false gc=false;",
                  out.data);
    transform_free(t);
}

DEF_TEST(a_script_changes_only_its_own_library_copies)
{
    struct transform *t = make("if seen then error('globals leaked') end\n"
                               "seen = true\n"
                               "local up = string.upper\n"
                               "string.upper = nil\n"
                               "function transform(row) return {v = up(row.v)} end\n",
                               NULL);
    const char *rows[] = {"a"};
    struct transform_error err;

    EXPECT_EQ_INT(0, object(t, "v", NULL, rows, 1, &err));
    EXPECT_EQ_INT(0, object(t, "v", NULL, rows, 1, &err));
    EXPECT_EQ_STR("v=A;", out.data);
    transform_free(t);
}

DEF_TEST(endless_loops_are_stopped)
{
    struct transform_limits lim = {64u << 20, 100000};
    struct transform *t = make("function transform(row)\n"
                               "  if row.v == 'a' then while true do end end\n"
                               "  if row.v == 'b' then\n"
                               "    while true do pcall(function() while true do end end) end\n"
                               "  end\n"
                               "  return row\n"
                               "end\n",
                               &lim);
    const char *a[] = {"a"}, *b[] = {"b"}, *c[] = {"c"};
    struct transform_error err;
    uint64_t t0 = now_monotonic_ms();

    EXPECT_EQ_INT(1, object(t, "v", NULL, a, 1, &err));
    EXPECT_EQ_INT(TRANSFORM_TIME, err.fault);
    EXPECT_CONTAINS("test.lua:2: time limit exceeded", err.reason);
    EXPECT_EQ_INT(1, object(t, "v", NULL, b, 1, &err));
    EXPECT_EQ_INT(TRANSFORM_TIME, err.fault);
    EXPECT_TRUE(now_monotonic_ms() - t0 < 2000);
    EXPECT_TRUE(transform_spent(t));
    EXPECT_EQ_INT(0, object(t, "v", NULL, c, 1, &err));
    transform_free(t);
}

DEF_TEST(memory_bombs_are_stopped)
{
    struct transform_limits lim = {8u << 20, 1000000};
    struct transform *t = make("function transform(row)\n"
                               "  if row.v == 'rep' then return {v = ('x'):rep(1e9)} end\n"
                               "  if row.v == 'cat' then\n"
                               "    local s = 'x'\n"
                               "    while true do s = s .. s end\n"
                               "  end\n"
                               "  if row.v == 'grow' then\n"
                               "    local t = {}\n"
                               "    while true do t[#t + 1] = ('y'):rep(1 << 16) .. #t end\n"
                               "  end\n"
                               "  if row.v == 'catch' then\n"
                               "    local ok = pcall(string.rep, 'x', 1e9)\n"
                               "    return {v = tostring(ok)}\n"
                               "  end\n"
                               "  return row\n"
                               "end\n",
                               &lim);
    const char *rows[] = {"rep", "cat", "grow", "catch"}, *fine[] = {"ok"};
    struct transform_error err;

    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        EXPECT_EQ_INT(1, object(t, "v", NULL, rows + i, 1, &err));
        EXPECT_EQ_INT(TRANSFORM_MEMORY, err.fault);
        EXPECT_CONTAINS("memory limit exceeded", err.reason);
    }
    EXPECT_TRUE(transform_spent(t));
    EXPECT_TRUE(transform_memory_used(t) <= lim.memory);
    EXPECT_EQ_INT(0, object(t, "v", NULL, fine, 1, &err));
    EXPECT_EQ_STR("v=ok;", out.data);
    transform_free(t);
}

DEF_TEST(pattern_bombs_are_refused)
{
    struct transform *t = make(
        "function transform(row)\n"
        "  local s = ('a'):rep(tonumber(row.n))\n"
        "  if row.p == 'bomb' then return {v = tostring(s:find('.-.-.-.-.-b'))} end\n"
        "  if row.p == 'gsub' then return {v = tostring(string.gsub(s, '(a*)*b', ''))} end\n"
        "  if row.p == 'trim' then return {v = #(' ' .. s .. ' '):match('^%s*(.-)%s*$')} end\n"
        "  if row.p == 'dash' then return {v = tostring(('1'):rep(#s) .. "
        "'-2'):match('(%d+)-(%d+)')} end\n"
        "  if row.p == 'plain' then return {v = tostring(s:find('.-.-b', 1, true))} end\n"
        "  return {v = tostring(s:find('.-.-b'))}\n"
        "end\n",
        NULL);
    const char *bomb[] = {"100000|bomb"}, *gsub[] = {"100000|gsub"}, *trim[] = {"5000|trim"},
               *dash[] = {"5000|dash"}, *plain[] = {"100000|plain"}, *small[] = {"50|small"};
    struct transform_error err;
    uint64_t t0 = now_monotonic_ms();

    EXPECT_EQ_INT(1, object(t, "n,p", "v", bomb, 1, &err));
    EXPECT_CONTAINS("test.lua:3: pattern too complex for a subject of 100000 bytes", err.reason);
    EXPECT_EQ_INT(1, object(t, "n,p", "v", gsub, 1, &err));
    EXPECT_CONTAINS("pattern too complex", err.reason);
    EXPECT_EQ_INT(0, object(t, "n,p", "v", trim, 1, &err));
    EXPECT_EQ_STR("v=5000;", out.data);
    EXPECT_EQ_INT(0, object(t, "n,p", "v", dash, 1, &err));
    EXPECT_EQ_INT(0, object(t, "n,p", "v", plain, 1, &err));
    EXPECT_EQ_STR("v=nil;", out.data);
    EXPECT_EQ_INT(0, object(t, "n,p", "v", small, 1, &err));
    EXPECT_EQ_STR("v=nil;", out.data);
    EXPECT_TRUE(now_monotonic_ms() - t0 < 3000);
    transform_free(t);
}

static int pause_after_each(void *arg, size_t input, const struct field *f)
{
    collect(arg, input, f);
    buf_printf(&out, "@%zu;", input);
    return 1;
}

DEF_TEST(many_rows_in_one_call)
{
    struct transform *t = make("function transform(row)\n"
                               "  if row.v == 'bad' then error('bad row') end\n"
                               "  return {row, {v = row.v .. '!'}}\n"
                               "end\n",
                               NULL);
    struct strlist in = list("v");
    struct field f[3] = {{"a", 1}, {"bad", 3}, {"c", 1}};
    struct row rows[3] = {{2, &f[0]}, {3, &f[1]}, {4, &f[2]}};
    struct transform_error err;
    size_t next = 0;

    out_cols = &in;
    EXPECT_EQ_INT(0, transform_begin(t, &ctx, &in, &in, &err));
    buf_reset(&out);
    EXPECT_EQ_INT(-1, transform_rows(t, rows, 3, &next, collect, NULL, &err));
    EXPECT_EQ_INT(1, next);
    EXPECT_CONTAINS("test.lua:2: bad row", err.reason);
    EXPECT_EQ_STR("v=a;v=a!;", out.data);
    next = 2;
    EXPECT_EQ_INT(0, transform_rows(t, rows, 3, &next, collect, NULL, &err));
    EXPECT_EQ_INT(3, next);
    EXPECT_EQ_STR("v=a;v=a!;v=c;v=c!;", out.data);
    /* a full batch pauses after the row under way, not in the middle of its rows */
    buf_reset(&out);
    rows[1] = rows[2];
    next = 0;
    EXPECT_EQ_INT(0, transform_rows(t, rows, 2, &next, pause_after_each, NULL, &err));
    EXPECT_EQ_INT(1, next);
    EXPECT_EQ_STR("v=a;@0;v=a!;@0;", out.data);
    transform_end(t);
    strlist_free(&in);
    transform_free(t);
}

DEF_TEST(pattern_cost_model)
{
    /* literal and anchored patterns are linear or cheaper */
    EXPECT_TRUE(lua_pattern_cost("abc", 3, 1000, LPC_FIND) <= 1001.0 * 4);
    EXPECT_TRUE(lua_pattern_cost("^abc", 4, 1000, LPC_MATCH) <= 4);
    /* a repetition followed by a disjoint class is additive */
    EXPECT_TRUE(lua_pattern_cost("^%d+-%d+$", 9, 1000, LPC_MATCH) < 5000);
    /* trim is quadratic, not cubic */
    EXPECT_TRUE(lua_pattern_cost("^%s*(.-)%s*$", 12, 1000, LPC_MATCH) < 1e7);
    /* each overlapping repetition multiplies */
    EXPECT_TRUE(lua_pattern_cost(".-.-b", 5, 1000, LPC_FIND) > 1e9);
    EXPECT_TRUE(lua_pattern_cost("a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?a?aaaaaaaaaaaaaaaaaaaa", 60,
                                 20, LPC_MATCH) > 1e6);
    /* gmatch and gsub scan every position */
    EXPECT_TRUE(lua_pattern_cost("^a", 2, 1000, LPC_GMATCH) >= 1000);
    EXPECT_TRUE(lua_pattern_cost("%bxy", 4, 100, LPC_FIND) >= 100);
    /* malformed: left to Lua */
    EXPECT_TRUE(lua_pattern_cost("[a", 2, 100, LPC_FIND) == 0);
    EXPECT_TRUE(lua_pattern_cost("%", 1, 100, LPC_FIND) == 0);
}

int main(void)
{
    buf_init(&out);
    RUN_TEST(upper_case_one_column);
    RUN_TEST(values_are_formatted_exactly);
    RUN_TEST(drop_one_to_many_and_finish);
    RUN_TEST(ctx_fields);
    RUN_TEST(bad_rows_name_column_and_line);
    RUN_TEST(syntax_errors_and_missing_functions);
    RUN_TEST(sandbox_has_no_escapes);
    RUN_TEST(a_script_changes_only_its_own_library_copies);
    RUN_TEST(endless_loops_are_stopped);
    RUN_TEST(memory_bombs_are_stopped);
    RUN_TEST(pattern_bombs_are_refused);
    RUN_TEST(many_rows_in_one_call);
    RUN_TEST(pattern_cost_model);
    buf_free(&out);
    return tap_done();
}
