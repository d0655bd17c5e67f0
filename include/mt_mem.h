/* mt_mem: cache-line aligned allocation for the blocks that threads split
 * (parameters, gradients, optimizer moments, activations).  With glibc a large
 * malloc returns an address 16 bytes past a page boundary, so two threads
 * working on 64-byte-aligned column ranges would still share a cache line at
 * every row boundary (false sharing).  Free with free(). */
#ifndef MT_MEM_H
#define MT_MEM_H

#include <stdlib.h>
#include <string.h>

#define MT_CACHE_LINE 64

static inline void *mt_alloc_aligned(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, MT_CACHE_LINE, n ? n : MT_CACHE_LINE) == 0 ? p : NULL;
}

static inline void *mt_calloc_aligned(size_t n)
{
    void *p = mt_alloc_aligned(n);
    if (p)
        memset(p, 0, n);
    return p;
}

/* Zeroed, page-aligned, with at least a page after the data (mt_engine's
 * per-thread blocks): hardware prefetchers stay within a page, so they never
 * pull in lines of another thread's block. */
#define MT_PAGE 4096

static inline void *mt_calloc_pages(size_t n)
{
    void *p = NULL;
    size_t sz = (n + MT_PAGE - 1) / MT_PAGE * MT_PAGE + MT_PAGE;
    return posix_memalign(&p, MT_PAGE, sz) == 0 ? memset(p, 0, sz) : NULL;
}

#endif
