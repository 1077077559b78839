/*
 * transform.h: a route's Lua 5.4 script, run in a sandbox with memory and time caps.
 *
 * One struct transform is one Lua state holding one compiled script. A worker keeps one
 * per route and reuses it across rows and objects; it is recreated when the configuration
 * changes or after a limit was hit (transform_spent()). It knows rows as fields and column
 * names only: no database, no queue, no S3.
 *
 * The script's contract (see ingestd.conf(5), TRANSFORMS):
 *   function transform(row, ctx)  -- required; row: column -> string (NULL = nil).
 *       returns a row (table), nil to drop the row, or a list of rows ({row, row, ...}).
 *   function finish(ctx)          -- optional; returns rows written after the last one.
 * Returned rows are read by the output columns' names; a key that is not an output column
 * is an error (a misspelt column would otherwise vanish). Values: strings as they are,
 * integers in decimal, floats in the shortest form that reads back exactly (%.15g to
 * %.17g), booleans as true/false, nil as NULL; anything else is an error.
 *
 * Globals: every object starts from fresh globals. transform_begin() runs the script's top
 * level again in a new environment (fresh copies of the library tables), so nothing a
 * script keeps in globals outlives the object, and no object sees what another object, on
 * this or another worker, left behind.
 *
 * Sandbox: the base functions without load/loadstring/dofile/loadfile/require/print
 * (pcall and xpcall cannot swallow a limit; setmetatable refuses __gc; collectgarbage
 * takes only "collect", "count", "step" and "isrunning"), string (without dump; the
 * pattern functions refuse calls whose worst case exceeds the time budget, see
 * lua_pattern_cost.h), table, math, utf8, os.time, os.date, os.clock. No io, no os.execute
 * or getenv, no debug, no package, no coroutine.
 *
 * Limits: every allocation of the state counts against `memory` (an allocation past it
 * fails: a Lua memory error). Each call (the top level, one transform(), finish()) must
 * return within timeout_us; a count hook checks a monotonic deadline every
 * TRANSFORM_HOOK_COUNT instructions. Work inside one C library call is bounded by the
 * memory cap (string.rep, table.concat) or refused up front (pattern bombs).
 *
 * Errors: a script error fills struct transform_error with a reason that names the script
 * and its line ("upper.lua:12: attempt to index a nil value"), and the output column when
 * a returned value was at fault. One thread at a time per struct transform.
 */
#ifndef INGESTD_TRANSFORM_H
#define INGESTD_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/ierr.h"
#include "base/rows.h"

#define TRANSFORM_HOOK_COUNT 1000 /* VM instructions between two deadline checks */

struct transform_limits {
    size_t memory;       /* bytes the Lua state may hold */
    uint64_t timeout_us; /* per call */
};

/* What ctx holds for one object. Strings are borrowed for the object's duration. */
struct transform_ctx {
    const char *bucket;
    const char *key;
    const char *etag;
    const char *route;
    uint64_t size;
    int64_t event_time_ms; /* 0: unknown (ctx.event_time is nil) */
    int64_t now_ms;        /* ctx.now, RFC 3339 UTC with milliseconds */
};

enum transform_fault {
    TRANSFORM_OK = 0,
    TRANSFORM_SCRIPT, /* runtime error or a bad returned value */
    TRANSFORM_MEMORY, /* memory cap */
    TRANSFORM_TIME,   /* time cap */
};

struct transform_error {
    enum transform_fault fault;
    char reason[480];
    int script_line;     /* 0: unknown */
    const char *column;  /* the output column at fault, or NULL */
    size_t column_index; /* its index in the output columns */
};

struct transform;

/* Called for every row the script produces: `input` is the index of the input row that
 * produced it (TRANSFORM_FINISH for finish()), fields has one entry per output column (ptr
 * NULL = NULL), valid during the call. Non-zero asks transform_rows() to return after the
 * current input row (the caller's batch is full). */
#define TRANSFORM_FINISH SIZE_MAX
typedef int (*transform_emit_fn)(void *arg, size_t input, const struct field *fields);

/* Compiles the script (chunkname: its path, for messages). NULL with err set ("path:3:
 * syntax error near ...") when it does not compile. */
struct transform *transform_new(const char *chunkname, const char *src, size_t len,
                                const struct transform_limits *lim, char *err, size_t errsz);
void transform_free(struct transform *t); /* NULL-safe */

/* A new object: fresh globals, the top level run, transform/finish looked up. in and out
 * (the output columns, may be in) must outlive the object. 0, or -1 with err set. */
int transform_begin(struct transform *t, const struct transform_ctx *ctx, const struct strlist *in,
                    const struct strlist *out, struct transform_error *err);
/*
 * Input rows rows[*next..n) (in->n fields each) through transform(); the rows they yield
 * go to emit. Returns 0 with *next = n, or at the first row after emit asked for a pause;
 * or -1 with err set and *next the index of the row that failed (its output, if any, was
 * already emitted: the caller takes it back). One protected call for many rows.
 */
int transform_rows(struct transform *t, const struct row *rows, size_t n, size_t *next,
                   transform_emit_fn emit, void *arg, struct transform_error *err);
/* After the last row: finish(ctx), when the script has one, with ctx.line = last_line. */
int transform_finish(struct transform *t, uint64_t last_line, transform_emit_fn emit, void *arg,
                     struct transform_error *err);
/* Drops the object's globals (the memory is reclaimed by the next collection). */
void transform_end(struct transform *t);

/* A limit was hit since the state was made: the owner should make a new one. */
bool transform_spent(const struct transform *t);
/* Bytes the state holds now (tests, logs). */
size_t transform_memory_used(const struct transform *t);

/*
 * For the configuration check: compiles the script, runs its top level once in a fresh
 * sandbox and checks that it defines function transform (and finish, if anything, as a
 * function). 0, or -1 with err set: "path:LINE: message".
 */
int transform_check(const char *chunkname, const char *src, size_t len,
                    const struct transform_limits *lim, char *err, size_t errsz);
/* The same for a route's transform keys: config_set_transform_checker's function. */
int transform_check_conf(const struct transform_conf *tc, char *err, size_t errsz);

#endif
