/*
 * jsonmem.h: a cap on the memory jansson may take on the calling thread.
 *
 * jsonstream checks each record by parsing it whole with jansson, whose tree costs
 * up to some 40 times the record's text (`[[],[],...]`). While a budget is open on
 * a thread, jansson's allocations on that thread are counted and refused past the
 * limit, so json_loadb() fails cleanly instead of the process growing without
 * bound. Outside a budget, and on every other thread, jansson allocates as before.
 *
 * jsonmem_init() installs the counting allocator (json_set_alloc_funcs) once per
 * process; call it before threads start (main) or before the first budget.
 */
#ifndef INGESTD_JSONMEM_H
#define INGESTD_JSONMEM_H

#include <stdbool.h>
#include <stddef.h>

void jsonmem_init(void);
/* Counts jansson's allocations on this thread from now on, refusing those past limit. */
void jsonmem_begin(size_t limit);
/* Ends the budget; true when an allocation was refused for the limit (not for lack of
 * memory: that one shows as a plain allocation failure). */
bool jsonmem_end(void);

#endif
