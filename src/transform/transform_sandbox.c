/*
 * transform_sandbox.c: what a transform script can reach (see transform.h, "Sandbox").
 *
 * The allowed functions are copied into a template table once per state; every object
 * gets a new environment with fresh copies of the library tables, so a script that
 * replaces string.upper does so for its own object only. The real global table, the
 * registry and the library tables the string metatable uses are out of reach: there is
 * no debug library, and getmetatable("") answers false.
 *
 * The wrappers close the holes a plain allowlist leaves: pcall/xpcall would let a script
 * catch the error that stops it at a limit and carry on, a __gc metamethod would run
 * script code at collection time (outside any call's deadline), collectgarbage("stop")
 * or ("generational") would change how the memory cap is reached, and the pattern
 * functions run in C where the instruction hook never fires.
 */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

#include "transform/lua_pattern_cost.h"
#include "transform/transform_int.h"

static const char *const base_allowed[] = {
    "assert", "error",  "ipairs",   "next",     "pairs", "rawequal",     "rawget",   "rawlen",
    "rawset", "select", "tonumber", "tostring", "type",  "getmetatable", "_VERSION", NULL,
};
static const char *const os_allowed[] = {"time", "date", "clock", NULL};
static const char *const libs_copied[] = {LUA_TABLIBNAME, LUA_MATHLIBNAME, LUA_UTF8LIBNAME, NULL};

/* After a pcall inside the script: a limit is not the script's to catch. */
static void rethrow_limits(lua_State *L, int status)
{
    struct transform *t = transform_of(L);

    if (status == LUA_ERRMEM && t->hit == TRANSFORM_OK)
        t->hit = TRANSFORM_MEMORY;
    if (status != LUA_OK && t->hit != TRANSFORM_OK)
        lua_error(L);
}

static int sb_pcall(lua_State *L)
{
    int status;

    luaL_checkany(L, 1);
    status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    rethrow_limits(L, status);
    lua_pushboolean(L, status == LUA_OK);
    lua_insert(L, 1);
    return lua_gettop(L);
}

static int sb_xpcall(lua_State *L)
{
    int n = lua_gettop(L), status;

    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 1); /* the function, then the handler below it, as lbaselib does */
    lua_copy(L, 2, 1);
    lua_replace(L, 2);
    status = lua_pcall(L, n - 2, LUA_MULTRET, 1);
    rethrow_limits(L, status);
    lua_pushboolean(L, status == LUA_OK);
    lua_replace(L, 1);
    return lua_gettop(L);
}

static int sb_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "__gc metamethods are not allowed in a transform script");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int sb_collectgarbage(lua_State *L)
{
    static const char *const ok[] = {"collect", "count", "step", "isrunning", NULL};
    const char *opt = luaL_optstring(L, 1, "collect");

    for (int i = 0; ok[i]; i++) {
        if (strcmp(opt, ok[i]) == 0) {
            lua_pushvalue(L, lua_upvalueindex(1));
            lua_insert(L, 1);
            lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
            return lua_gettop(L);
        }
    }
    return luaL_error(L, "collectgarbage(\"%s\") is not allowed in a transform script", opt);
}

/* string.find/match/gmatch/gsub: refused when the worst case exceeds the budget. */
static int sb_pattern(lua_State *L)
{
    struct transform *t = transform_of(L);
    enum lua_pattern_call call = (enum lua_pattern_call)lua_tointeger(L, lua_upvalueindex(2));
    size_t slen, plen, from = 0;
    const char *p;
    double cost;

    luaL_checklstring(L, 1, &slen);
    p = luaL_checklstring(L, 2, &plen);
    if (call != LPC_GSUB) {
        lua_Integer init = luaL_optinteger(L, 3, 1);

        if (init > 0)
            from = (size_t)init - 1 < slen ? (size_t)init - 1 : slen;
        else if (init < 0 && (size_t)0 - (size_t)init < slen)
            from = slen - ((size_t)0 - (size_t)init);
    }
    if (!(call == LPC_FIND && lua_toboolean(L, 4))) {
        cost = lua_pattern_cost(p, plen, slen - from, call);
        if (cost > t->pattern_budget) {
            char msg[200];

            snprintf(msg, sizeof msg,
                     "pattern too complex for a subject of %zu bytes (worst case about %.1e "
                     "steps, more than transform_timeout allows)",
                     slen - from, cost);
            return luaL_error(L, "%s", msg);
        }
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* The wrapped function f (at the top) as field `name` of the table at idx. */
static void set_wrapped(lua_State *L, int idx, const char *name, lua_CFunction fn, int extra)
{
    lua_getfield(L, idx, name); /* the original, as upvalue 1 */
    if (extra >= 0)
        lua_pushinteger(L, extra);
    lua_pushcclosure(L, fn, extra >= 0 ? 2 : 1);
    lua_setfield(L, idx, name);
}

static void copy_fields(lua_State *L, int from, int to, const char *const *names)
{
    for (int i = 0; names[i]; i++) {
        lua_getfield(L, from, names[i]);
        lua_setfield(L, to, names[i]);
    }
}

/* Shallow copy of the table at idx, pushed. */
static void push_copy(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_createtable(L, 0, 32);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
}

static void open_string(lua_State *L, int tmpl, int g)
{
    static const struct {
        const char *name;
        enum lua_pattern_call call;
    } patterns[] = {
        {"find", LPC_FIND}, {"match", LPC_MATCH}, {"gmatch", LPC_GMATCH}, {"gsub", LPC_GSUB}};
    int s;

    lua_getfield(L, g, LUA_STRLIBNAME);
    push_copy(L, -1);
    s = lua_gettop(L);
    lua_pushnil(L);
    lua_setfield(L, s, "dump");
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
        set_wrapped(L, s, patterns[i].name, sb_pattern, (int)patterns[i].call);
    /* methods on strings ("x":upper()) find this table; the script cannot reach it */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushvalue(L, s);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    lua_setfield(L, tmpl, LUA_STRLIBNAME);
    lua_pop(L, 1);
}

void transform_sandbox_open(lua_State *L, struct transform *t)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_OSLIBNAME, luaopen_os},
    };
    int tmpl, g;

    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    g = lua_gettop(L);
    lua_createtable(L, 0, 32);
    tmpl = g + 1;
    copy_fields(L, g, tmpl, base_allowed);
    lua_pushcfunction(L, sb_pcall);
    lua_setfield(L, tmpl, "pcall");
    lua_pushcfunction(L, sb_xpcall);
    lua_setfield(L, tmpl, "xpcall");
    lua_getfield(L, g, "setmetatable");
    lua_pushcclosure(L, sb_setmetatable, 1);
    lua_setfield(L, tmpl, "setmetatable");
    lua_getfield(L, g, "collectgarbage");
    lua_pushcclosure(L, sb_collectgarbage, 1);
    lua_setfield(L, tmpl, "collectgarbage");
    open_string(L, tmpl, g);
    for (int i = 0; libs_copied[i]; i++) {
        lua_getfield(L, g, libs_copied[i]);
        push_copy(L, -1);
        lua_setfield(L, tmpl, libs_copied[i]);
        lua_pop(L, 1);
    }
    lua_getfield(L, g, LUA_OSLIBNAME);
    lua_createtable(L, 0, 3);
    copy_fields(L, -2, lua_gettop(L), os_allowed);
    lua_setfield(L, tmpl, LUA_OSLIBNAME);
    lua_pop(L, 1);
    lua_rawseti(L, LUA_REGISTRYINDEX, t->template_ref);
    lua_pop(L, 1);
}

void transform_sandbox_env(lua_State *L, struct transform *t)
{
    int tmpl, env;

    lua_rawgeti(L, LUA_REGISTRYINDEX, t->template_ref);
    tmpl = lua_gettop(L);
    lua_createtable(L, 0, 32);
    env = tmpl + 1;
    lua_pushnil(L);
    while (lua_next(L, tmpl)) {
        lua_pushvalue(L, -2);
        if (lua_type(L, -2) == LUA_TTABLE)
            push_copy(L, -2);
        else
            lua_pushvalue(L, -2);
        lua_rawset(L, env);
        lua_pop(L, 1);
    }
    lua_pushvalue(L, env);
    lua_setfield(L, env, LUA_GNAME);
    lua_remove(L, tmpl);
}
