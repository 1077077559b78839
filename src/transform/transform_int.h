/*
 * transform_int.h: the Lua state behind struct transform, shared by the engine
 * (transform.c) and the sandbox it opens (transform_sandbox.c). Nothing else includes it.
 */
#ifndef INGESTD_TRANSFORM_INT_H
#define INGESTD_TRANSFORM_INT_H

#include <lua.h>

#include "transform/transform.h"
#include "base/util.h"

enum transform_op { OP_INIT, OP_BEGIN, OP_ROWS, OP_FINISH, OP_END };

struct transform {
    lua_State *L;
    size_t used, limit; /* bytes held by the state, and the cap */
    uint64_t timeout_us;
    uint64_t deadline_us;     /* of the call under way (monotonic) */
    double pattern_budget;    /* matcher steps a pattern call may take */
    enum transform_fault hit; /* a limit hit during the call under way */
    bool spent;               /* a limit was hit since the state was made */
    int near_line;            /* where the hook last saw the script while memory ran high */
    int err_line;             /* set by the message handler */
    char short_src[LUA_IDSIZE];
    const char *src; /* OP_INIT only */
    size_t srclen;
    const char *chunkname;

    /* registry slots, allocated once */
    int template_ref, chunk_ref, env_ref, fn_ref, finish_ref, ctx_ref, in_ref, out_ref;

    /* the call under way */
    enum transform_op op;
    const struct transform_ctx *ctx;
    const struct strlist *in, *out;
    const struct row *rows; /* OP_ROWS: rows[next..nrows) */
    size_t nrows, next;
    uint64_t line; /* OP_FINISH */
    transform_emit_fn emit;
    void *emit_arg;
    bool pause; /* emit asked to stop after the current row */
    struct transform_error *err;
    struct field *outf; /* out->n */
    size_t *numoff;     /* out->n: offsets into numbuf, SIZE_MAX if none */
    struct buf numbuf;
    /* the output column names' interned strings -> index + 1 (open addressing) */
    const char **keyptr; /* keymask + 1 slots */
    size_t *keyidx;
    size_t keymask;
};

static inline struct transform *transform_of(lua_State *L)
{
    return *(struct transform **)lua_getextraspace(L);
}

/* Opens the allowed libraries into a template table kept at t->template_ref (OP_INIT). */
void transform_sandbox_open(lua_State *L, struct transform *t);
/* Pushes a new environment: the template with fresh copies of its library tables. */
void transform_sandbox_env(lua_State *L, struct transform *t);

#endif
