/* pages.h: memory that every frame reads from end to end (pages.c). */
#ifndef KILN_PAGES_H
#define KILN_PAGES_H
#include <stddef.h>

/* bytes of memory, in whole 2 MiB pages (one for 0 bytes) on 2 MiB boundaries, advised to the
   kernel as transparent huge pages (Linux's madvise MADV_HUGEPAGE, where the system allows them),
   every page touched by the one pass that fills it: a copy of from's bytes (from NULL: zeros), the
   rest of the last page zeroed. NULL when out of memory. Free it with kiln_free_streamed. */
void *kiln_alloc_streamed(size_t bytes, const void *from);
void kiln_free_streamed(void *p);
#endif
