/*
 * transform.c: the Lua state of one route's script on one worker (see transform.h).
 *
 * DESIGN
 * Every call into Lua runs inside one lua_pcall of body(), which switches on t->op: not
 * only the script's functions but building the row table and reading the returned rows
 * may raise (a memory error is an error like any other), and an error outside a
 * protected call would end the process. The message handler records the script line of
 * the failing frame; the reason is rebuilt as "SCRIPT:LINE: message" from it, so errors
 * raised by C functions (bad argument to 'rep') carry the line of the script too.
 *
 * Limits: the allocator counts every byte the state holds and refuses past the cap; the
 * count hook compares the monotonic clock with the call's deadline every
 * TRANSFORM_HOOK_COUNT instructions and raises. Both set t->hit, which the sandbox's
 * pcall/xpcall re-raise. Lua stays consistent after either error; the owner still
 * replaces a spent state at the next object, since the script's own globals may be
 * half-updated.
 *
 * Per row, what can be cached is: the column names live in registry tables (one per
 * direction), pushed by index instead of interned again; the row table is created with
 * its final size; ctx is one table per object of which only `line` changes.
 */
#include "transform/transform.h"

#include <inttypes.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transform/transform_int.h"
#include "base/utf8.h"

#define PATTERN_STEPS_PER_SECOND 2e8 /* matcher steps a pattern call may take per second */

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct transform *t = ud;
    size_t old = ptr ? osize : 0;
    void *p;

    if (nsize == 0) {
        free(ptr);
        t->used -= old;
        return NULL;
    }
    if (nsize > old && t->used - old + nsize > t->limit)
        return NULL;
    p = realloc(ptr, nsize);
    if (p)
        t->used = t->used - old + nsize;
    return p;
}

static void hook(lua_State *L, lua_Debug *ar)
{
    struct transform *t = transform_of(L);

    /* where the script is when memory runs high: named if the cap is then hit in C */
    if (t->used > t->limit / 2 && lua_getinfo(L, "l", ar) && ar->currentline > 0)
        t->near_line = ar->currentline;
    if (now_monotonic_us() > t->deadline_us) {
        t->hit = TRANSFORM_TIME;
        luaL_error(L, "time limit exceeded (transform_timeout = %d ms)",
                   (int)(t->timeout_us / 1000));
    }
}

static int panic(lua_State *L)
{
    fprintf(stderr, "ingestd: Lua error outside a protected call: %s\n", lua_tostring(L, -1));
    abort();
}

/* Message handler: the line of the innermost frame that has one. */
static int msgh(lua_State *L)
{
    struct transform *t = transform_of(L);
    lua_Debug ar;

    t->err_line = 0;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0 &&
            strcmp(ar.short_src, t->short_src) == 0) {
            t->err_line = ar.currentline;
            break;
        }
    }
    if (lua_type(L, 1) != LUA_TSTRING) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    return 1;
}

/* "src:12: msg" -> "msg" when src is the script, so that the line is stated once. */
static const char *strip_position(const struct transform *t, const char *msg)
{
    size_t n = strlen(t->short_src);
    const char *p = msg + n + 1;

    if (strncmp(msg, t->short_src, n) != 0 || msg[n] != ':' || *p < '0' || *p > '9')
        return msg;
    while (*p >= '0' && *p <= '9')
        p++;
    return *p == ':' ? p + (p[1] == ' ' ? 2 : 1) : msg;
}

static void set_error(struct transform *t, int status, struct transform_error *err)
{
    lua_State *L = t->L;
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error";
    int line = t->err_line;

    if (t->op == OP_INIT && status != LUA_ERRMEM) {
        /* a syntax error reads "path:LINE: message" already */
        err->fault = TRANSFORM_SCRIPT;
        snprintf(err->reason, sizeof err->reason, "%s", msg);
        return;
    }
    if (status == LUA_ERRMEM || t->hit == TRANSFORM_MEMORY) {
        err->fault = TRANSFORM_MEMORY;
        msg = "memory limit exceeded (transform_memory)";
        line = t->near_line;
    } else {
        err->fault = t->hit == TRANSFORM_TIME ? TRANSFORM_TIME : TRANSFORM_SCRIPT;
    }
    if (err->fault != TRANSFORM_SCRIPT)
        t->spent = true;
    err->script_line = line;
    if (line > 0)
        snprintf(err->reason, sizeof err->reason, "%s:%d: %s", t->short_src, line,
                 strip_position(t, msg));
    else
        snprintf(err->reason, sizeof err->reason, "%s: %s", t->short_src, strip_position(t, msg));
}

/* ---- values ---- */

static const char *value_type(lua_State *L, int idx)
{
    return luaL_typename(L, idx);
}

/* Integers in decimal; floats in the shortest %.Ng that reads back to the same double. */
static void format_number(lua_State *L, struct transform *t, size_t j, const char *col)
{
    char tmp[64];

    if (lua_isinteger(L, -1)) {
        snprintf(tmp, sizeof tmp, "%" PRId64, (int64_t)lua_tointeger(L, -1));
    } else {
        double d = lua_tonumber(L, -1);

        if (!isfinite(d)) {
            t->err->column = col;
            t->err->column_index = j;
            luaL_error(L, "column %s: %f cannot be stored", col, d);
        }
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
    }
    t->numoff[j] = t->numbuf.len;
    buf_append(&t->numbuf, tmp, strlen(tmp) + 1);
    t->outf[j].len = strlen(tmp);
}

/* Rows leave as the parsers deliver them: valid UTF-8 without NUL bytes. */
static void check_text(lua_State *L, struct transform *t, size_t j)
{
    const struct field *f = &t->outf[j];
    const unsigned char *p = (const unsigned char *)f->ptr;
    unsigned bad = 0;

    for (size_t i = 0; i < f->len; i++)
        bad |= (unsigned)(p[i] - 1u) >= 0x7fu; /* NUL or not ASCII: look closer */
    if (!bad || (memchr(f->ptr, '\0', f->len) == NULL && utf8_valid(f->ptr, f->len, NULL)))
        return;
    t->err->column = t->out->v[j];
    t->err->column_index = j;
    luaL_error(L, "column %s: the value is not UTF-8 text without NUL bytes", t->out->v[j]);
}

static size_t ptr_hash(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull);
}

/* The output columns' names, interned by Lua, by address: a returned row's keys are found
 * without a string comparison (long names, which Lua does not intern, fall back to one). */
static void build_key_map(lua_State *L, struct transform *t, int names)
{
    size_t n = t->out->n, size = 8;

    while (size < 2 * n)
        size *= 2;
    free(t->keyptr);
    free(t->keyidx);
    t->keyptr = xcalloc(size, sizeof *t->keyptr);
    t->keyidx = xcalloc(size, sizeof *t->keyidx);
    t->keymask = size - 1;
    for (size_t j = 0; j < n; j++) {
        const char *p;
        size_t h;

        lua_rawgeti(L, names, (lua_Integer)j + 1);
        p = lua_tostring(L, -1); /* kept alive by the names table in the registry */
        lua_pop(L, 1);
        for (h = ptr_hash(p) & t->keymask; t->keyptr[h]; h = (h + 1) & t->keymask)
            ;
        t->keyptr[h] = p;
        t->keyidx[h] = j;
    }
}

/* The output column of the key at idx (a string), or raises. */
static size_t column_of(lua_State *L, struct transform *t, int idx)
{
    const char *k;

    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L,
                   "the returned row has a key of type %s; rows are tables keyed by "
                   "column name",
                   value_type(L, idx));
    k = lua_tostring(L, idx);
    for (size_t h = ptr_hash(k) & t->keymask; t->keyptr[h]; h = (h + 1) & t->keymask)
        if (t->keyptr[h] == k)
            return t->keyidx[h];
    for (size_t j = 0; j < t->out->n; j++)
        if (strcmp(t->out->v[j], k) == 0)
            return j;
    return (size_t)luaL_error(
        L, "the returned row has a column %s that is not an output column%s", k,
        t->out == t->in ? " (name the columns the script writes in output_columns)" : "");
}

/* Reads the row table at idx (one pass over its keys) and hands it to emit. */
static void emit_row(lua_State *L, struct transform *t, int row, size_t input)
{
    int base = lua_gettop(L);
    size_t nout = t->out->n;

    for (size_t j = 0; j < nout; j++) {
        t->outf[j].ptr = NULL;
        t->outf[j].len = 0;
        t->numoff[j] = SIZE_MAX;
    }
    buf_reset(&t->numbuf);
    lua_pushnil(L);
    while (lua_next(L, row)) {
        size_t j = column_of(L, t, -2);

        /* a string value stays alive in the row table, which is on the stack */
        switch (lua_type(L, -1)) {
        case LUA_TSTRING:
            t->outf[j].ptr = lua_tolstring(L, -1, &t->outf[j].len);
            check_text(L, t, j);
            break;
        case LUA_TNUMBER:
            format_number(L, t, j, t->out->v[j]);
            break;
        case LUA_TBOOLEAN:
            t->outf[j].ptr = lua_toboolean(L, -1) ? "true" : "false";
            t->outf[j].len = strlen(t->outf[j].ptr);
            break;
        default:
            t->err->column = t->out->v[j];
            t->err->column_index = j;
            luaL_error(L, "column %s: a %s is not a value (strings, numbers, booleans or nil)",
                       t->out->v[j], value_type(L, -1));
        }
        lua_pop(L, 1);
    }
    for (size_t j = 0; j < nout; j++)
        if (t->numoff[j] != SIZE_MAX)
            t->outf[j].ptr = t->numbuf.data + t->numoff[j];
    if (t->emit(t->emit_arg, input, t->outf))
        t->pause = true;
    lua_settop(L, base);
}

/* What transform() or finish() returned (at the top): nil, a row or a list of rows. */
static void take_result(lua_State *L, struct transform *t, size_t input)
{
    int res = lua_gettop(L);

    if (lua_isnil(L, res))
        return;
    if (!lua_istable(L, res))
        luaL_error(L, "%s returned a %s; it must return a row (a table), a list of rows or nil",
                   t->op == OP_FINISH ? "finish" : "transform", value_type(L, res));
    if (lua_rawgeti(L, res, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        emit_row(L, t, res, input);
        return;
    }
    lua_pop(L, 1);
    for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, res); i <= n; i++) {
        if (lua_rawgeti(L, res, i) != LUA_TTABLE)
            luaL_error(L, "item %d of the returned list is a %s, not a row", (int)i,
                       value_type(L, -1));
        emit_row(L, t, lua_gettop(L), input);
        lua_pop(L, 1);
    }
}

static void set_slot(lua_State *L, int ref)
{
    lua_rawseti(L, LUA_REGISTRYINDEX, ref);
}

/* A sequence of the names, kept in registry slot ref. */
static void names_table(lua_State *L, const struct strlist *l, int ref)
{
    lua_createtable(L, (int)l->n, 0);
    for (size_t i = 0; i < l->n; i++) {
        lua_pushstring(L, l->v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    set_slot(L, ref);
}

static void rfc3339(char *out, size_t n, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void push_ctx(lua_State *L, const struct transform_ctx *c, const char *route)
{
    char when[96];

    lua_createtable(L, 0, 9);
    lua_pushstring(L, c->bucket ? c->bucket : "");
    lua_setfield(L, -2, "bucket");
    lua_pushstring(L, c->key ? c->key : "");
    lua_setfield(L, -2, "key");
    lua_pushstring(L, c->etag ? c->etag : "");
    lua_setfield(L, -2, "etag");
    lua_pushinteger(L, (lua_Integer)c->size);
    lua_setfield(L, -2, "size");
    lua_pushstring(L, route);
    lua_setfield(L, -2, "route");
    rfc3339(when, sizeof when, c->now_ms);
    lua_pushstring(L, when);
    lua_setfield(L, -2, "now");
    if (c->event_time_ms) {
        rfc3339(when, sizeof when, c->event_time_ms);
        lua_pushstring(L, when);
        lua_setfield(L, -2, "event_time");
    }
    lua_pushinteger(L, 0);
    lua_setfield(L, -2, "line");
}

static void start_clock(struct transform *t)
{
    t->hit = TRANSFORM_OK;
    t->deadline_us = now_monotonic_us() + t->timeout_us;
}

static void op_init(lua_State *L, struct transform *t)
{
    int *slots[] = {&t->template_ref, &t->chunk_ref, &t->env_ref, &t->fn_ref,
                    &t->finish_ref,   &t->ctx_ref,   &t->in_ref,  &t->out_ref};
    lua_Debug ar;

    for (size_t i = 0; i < ARRAY_SIZE(slots); i++) {
        lua_pushboolean(L, 0);
        *slots[i] = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_gc(L, LUA_GCGEN, 0, 0); /* rows are short-lived: the generational mode suits them */
    transform_sandbox_open(L, t);
    if (luaL_loadbufferx(L, t->src, t->srclen, t->chunkname, "t") != LUA_OK)
        lua_error(L);
    lua_pushvalue(L, -1);
    lua_getinfo(L, ">S", &ar);
    snprintf(t->short_src, sizeof t->short_src, "%s", ar.short_src);
    set_slot(L, t->chunk_ref);
}

static void op_begin(lua_State *L, struct transform *t)
{
    int env;

    transform_sandbox_env(L, t);
    env = lua_gettop(L);
    lua_pushvalue(L, env);
    set_slot(L, t->env_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->chunk_ref);
    lua_pushvalue(L, env);
    lua_setupvalue(L, -2, 1); /* the chunk's only upvalue is _ENV */
    start_clock(t);
    lua_call(L, 0, 0);
    if (lua_getfield(L, env, "transform") != LUA_TFUNCTION)
        luaL_error(L, "the script defines no function transform(row, ctx)");
    set_slot(L, t->fn_ref);
    if (lua_getfield(L, env, "finish") != LUA_TNIL && !lua_isfunction(L, -1))
        luaL_error(L, "finish is a %s; it must be a function or left undefined", value_type(L, -1));
    set_slot(L, t->finish_ref);
    push_ctx(L, t->ctx, t->ctx->route ? t->ctx->route : "");
    set_slot(L, t->ctx_ref);
    names_table(L, t->in, t->in_ref);
    names_table(L, t->out, t->out_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->out_ref);
    build_key_map(L, t, lua_gettop(L));
}

/* The rows from t->next on, each in its own table, until done or emit asks for a pause. */
static void op_rows(lua_State *L, struct transform *t)
{
    size_t nin = t->in->n;

    lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn_ref);  /* 1 */
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->in_ref);  /* 2 */
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ctx_ref); /* 3 */
    for (; t->next < t->nrows; t->next++) {
        const struct row *r = &t->rows[t->next];

        lua_pushvalue(L, 1);
        lua_createtable(L, 0, (int)nin);
        for (size_t i = 0; i < nin; i++) {
            if (!r->fields[i].ptr)
                continue;
            lua_rawgeti(L, 2, (lua_Integer)i + 1);
            lua_pushlstring(L, r->fields[i].ptr, r->fields[i].len);
            lua_rawset(L, -3);
        }
        lua_pushinteger(L, (lua_Integer)r->line);
        lua_setfield(L, 3, "line");
        lua_pushvalue(L, 3);
        start_clock(t);
        lua_call(L, 2, 1);
        take_result(L, t, t->next);
        lua_settop(L, 3);
        if (t->pause) {
            t->next++;
            break;
        }
    }
}

static void op_finish(lua_State *L, struct transform *t)
{
    if (lua_rawgeti(L, LUA_REGISTRYINDEX, t->finish_ref) != LUA_TFUNCTION)
        return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ctx_ref);
    lua_pushinteger(L, (lua_Integer)t->line);
    lua_setfield(L, -2, "line");
    start_clock(t);
    lua_call(L, 1, 1);
    take_result(L, t, TRANSFORM_FINISH);
}

static void op_end(lua_State *L, struct transform *t)
{
    int refs[] = {t->env_ref, t->fn_ref, t->finish_ref, t->ctx_ref};

    for (size_t i = 0; i < ARRAY_SIZE(refs); i++) {
        lua_pushboolean(L, 0);
        set_slot(L, refs[i]);
    }
}

static int body(lua_State *L)
{
    struct transform *t = transform_of(L);

    lua_settop(L, 0);
    switch (t->op) {
    case OP_INIT:
        op_init(L, t);
        break;
    case OP_BEGIN:
        op_begin(L, t);
        break;
    case OP_ROWS:
        op_rows(L, t);
        break;
    case OP_FINISH:
        op_finish(L, t);
        break;
    case OP_END:
        op_end(L, t);
        break;
    }
    return 0;
}

/* Runs op protected; 0, or -1 with err filled. */
static int run(struct transform *t, enum transform_op op, struct transform_error *err)
{
    lua_State *L = t->L;
    int status;

    t->op = op;
    t->err = err;
    memset(err, 0, sizeof *err);
    lua_settop(L, 0);
    lua_pushcfunction(L, msgh);
    lua_pushcfunction(L, body);
    status = lua_pcall(L, 0, 0, 1);
    if (status != LUA_OK)
        set_error(t, status, err);
    lua_settop(L, 0);
    t->hit = TRANSFORM_OK;
    return status == LUA_OK ? 0 : -1;
}

struct transform *transform_new(const char *chunkname, const char *src, size_t len,
                                const struct transform_limits *lim, char *errbuf, size_t errsz)
{
    struct transform *t = xcalloc(1, sizeof *t);
    struct transform_error err;
    char *name = xasprintf("@%s", chunkname);

    t->limit = lim->memory;
    t->timeout_us = lim->timeout_us;
    t->pattern_budget = PATTERN_STEPS_PER_SECOND * ((double)lim->timeout_us / 1e6);
    buf_init(&t->numbuf);
    snprintf(t->short_src, sizeof t->short_src, "%s", chunkname);
    t->L = lua_newstate(l_alloc, t);
    if (!t->L) {
        snprintf(errbuf, errsz, "%s: transform_memory is too small for a Lua state", chunkname);
        free(name);
        free(t);
        return NULL;
    }
    *(struct transform **)lua_getextraspace(t->L) = t;
    lua_atpanic(t->L, panic);
    lua_sethook(t->L, hook, LUA_MASKCOUNT, TRANSFORM_HOOK_COUNT);
    t->src = src;
    t->srclen = len;
    t->chunkname = name;
    if (run(t, OP_INIT, &err) < 0) {
        snprintf(errbuf, errsz, "%s", err.reason);
        t->chunkname = NULL;
        free(name);
        transform_free(t);
        return NULL;
    }
    t->src = NULL;
    t->chunkname = NULL;
    free(name);
    return t;
}

void transform_free(struct transform *t)
{
    if (!t)
        return;
    if (t->L)
        lua_close(t->L);
    buf_free(&t->numbuf);
    free(t->outf);
    free(t->numoff);
    free(t->keyptr);
    free(t->keyidx);
    free(t);
}

int transform_begin(struct transform *t, const struct transform_ctx *ctx, const struct strlist *in,
                    const struct strlist *out, struct transform_error *err)
{
    t->ctx = ctx;
    t->in = in;
    t->out = out;
    free(t->outf);
    free(t->numoff);
    t->outf = xcalloc(out->n ? out->n : 1, sizeof *t->outf);
    t->numoff = xcalloc(out->n ? out->n : 1, sizeof *t->numoff);
    return run(t, OP_BEGIN, err);
}

int transform_rows(struct transform *t, const struct row *rows, size_t n, size_t *next,
                   transform_emit_fn emit, void *arg, struct transform_error *err)
{
    int rc;

    t->rows = rows;
    t->nrows = n;
    t->next = *next;
    t->emit = emit;
    t->emit_arg = arg;
    t->pause = false;
    rc = run(t, OP_ROWS, err);
    *next = t->next;
    return rc;
}

int transform_finish(struct transform *t, uint64_t last_line, transform_emit_fn emit, void *arg,
                     struct transform_error *err)
{
    t->line = last_line;
    t->emit = emit;
    t->emit_arg = arg;
    t->pause = false;
    return run(t, OP_FINISH, err);
}

void transform_end(struct transform *t)
{
    struct transform_error err;

    (void)run(t, OP_END, &err);
}

bool transform_spent(const struct transform *t)
{
    return t->spent;
}

size_t transform_memory_used(const struct transform *t)
{
    return t->used;
}

int transform_check(const char *chunkname, const char *src, size_t len,
                    const struct transform_limits *lim, char *errbuf, size_t errsz)
{
    static const struct strlist none = {0};
    struct transform_ctx ctx = {.bucket = "", .key = "", .etag = "", .route = ""};
    struct transform_error err;
    struct transform *t = transform_new(chunkname, src, len, lim, errbuf, errsz);
    int rc;

    if (!t)
        return -1;
    ctx.now_ms = now_realtime_ms();
    rc = transform_begin(t, &ctx, &none, &none, &err);
    if (rc < 0)
        snprintf(errbuf, errsz, "%s", err.reason);
    transform_free(t);
    return rc;
}

int transform_check_conf(const struct transform_conf *tc, char *err, size_t errsz)
{
    struct transform_limits lim = {(size_t)tc->memory, (uint64_t)tc->timeout_ms * 1000};

    return transform_check(tc->file, tc->source, tc->source_len, &lim, err, errsz);
}
