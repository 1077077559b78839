/*
 * lua_pattern_cost.h: an upper bound on the work of one Lua pattern-matching call.
 *
 * Lua's string.find, match, gmatch and gsub match patterns in C by backtracking, where
 * no instruction-count hook can interrupt them: string.find(("a"):rep(1e5),
 * ".-.-.-.-.-b") would run for years. The transform sandbox asks this estimate before
 * each call and refuses the ones whose worst case exceeds its time budget.
 *
 * The estimate follows the matcher's structure: a repeated item (*, +, -) multiplies the
 * cost of what follows it by the subject's length n, except when what follows can only
 * start where the repetition must stop (its first character class is disjoint from the
 * repeated one, as in "%d+-") or always succeeds (".*" to the end); '?' doubles it; %b
 * and back-references add n; a scan over start positions (unanchored find and match,
 * gmatch, gsub) multiplies by n once more. It is pessimistic, never optimistic: common
 * patterns ("^%s*(.-)%s*$", "(%d+)-(%d+)") cost about n^2 and pass on fields of
 * kilobytes. A malformed pattern costs 0 here: Lua reports it.
 *
 * Pure; any thread.
 */
#ifndef INGESTD_LUA_PATTERN_COST_H
#define INGESTD_LUA_PATTERN_COST_H

#include <stddef.h>

enum lua_pattern_call { LPC_FIND, LPC_MATCH, LPC_GMATCH, LPC_GSUB };

/* Worst-case matcher steps for pattern p (plen bytes) over a subject of n bytes. */
double lua_pattern_cost(const char *p, size_t plen, size_t n, enum lua_pattern_call call);

#endif
