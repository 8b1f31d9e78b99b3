/* pages.c: memory that every frame reads from end to end: the weights, a stream's KV cache, the
 * read probe's buffer. Over 4 KiB pages a core streaming a matrix misses the TLB once every 4 KiB
 * of each of its streams, and its prefetchers stop at each page's end; over 2 MiB pages one core
 * streams a 7B q4 matrix about 18% faster (docs/performance.md, "Huge pages"). The probe takes the
 * same memory, so that the floor it measures is that of the weights' kind of pages. */
#define _DEFAULT_SOURCE /* madvise */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "pages.h"

enum { HUGE_PAGE = 2 << 20 };

void *kiln_alloc_streamed(size_t bytes, const void *from)
{
    if (bytes > SIZE_MAX - HUGE_PAGE)
        return NULL;
    const size_t whole = bytes ? (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE : HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, whole);
    if (!p)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, whole, MADV_HUGEPAGE); /* (advice: without it, or refused, the pages are 4 KiB) */
#endif
    const size_t copied = from ? bytes : 0;
    if (copied)
        memcpy(p, from, copied);
    memset((char *)p + copied, 0, whole - copied);
    return p;
}

void kiln_free_streamed(void *p) { free(p); }
