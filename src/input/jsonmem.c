/*
 * jsonmem.c: see jsonmem.h. Sizes come from malloc_usable_size(), so a block freed
 * under a budget is accounted for whoever allocated it, and the allocator can be
 * installed while blocks from plain malloc() are alive. No I/O, no logging.
 */
#include "input/jsonmem.h"

#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

struct budget {
    bool on;
    bool hit;
    size_t used;
    size_t limit;
};

static _Thread_local struct budget budget;
static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void *counted_malloc(size_t n)
{
    void *p;

    if (budget.on && (n > budget.limit || budget.used > budget.limit - n)) {
        budget.hit = true;
        return NULL;
    }
    p = malloc(n);
    if (p && budget.on)
        budget.used += malloc_usable_size(p);
    return p;
}

static void counted_free(void *p)
{
    if (p && budget.on) {
        size_t n = malloc_usable_size(p);
        budget.used -= n < budget.used ? n : budget.used;
    }
    free(p);
}

static void install(void)
{
    json_set_alloc_funcs(counted_malloc, counted_free);
}

void jsonmem_init(void)
{
    pthread_once(&installed, install);
}

void jsonmem_begin(size_t limit)
{
    jsonmem_init();
    budget.on = true;
    budget.hit = false;
    budget.used = 0;
    budget.limit = limit;
}

bool jsonmem_end(void)
{
    bool hit = budget.hit;

    budget.on = false;
    budget.hit = false;
    return hit;
}
