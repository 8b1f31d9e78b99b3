/* test_pages.c: the memory every frame streams (runtime/pages.c): kiln_alloc_streamed gives zeroed
 * memory (or a copy of a source, zeros after it) on 2 MiB boundaries, one page for 0 bytes, NULL (not a short block) for a size that does
 * not fit in size_t; and where Linux allows transparent huge pages (not "[never]"), the kernel
 * counts the block as eligible for them (smaps' THPeligible), so that the advice took. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "pages.h"

/* smaps' THPeligible of the mapping that holds address p: 1, 0, or -1 when not reported */
static int thp_eligible(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    int in_mapping = 0, eligible = -1;
    while (eligible < 0 && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        int flag;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in_mapping = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in_mapping && sscanf(line, "THPeligible: %d", &flag) == 1)
            eligible = flag;
    }
    fclose(f);
    return eligible;
}

static int system_allows_thp(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    if (f) {
        if (!fgets(mode, sizeof mode, f))
            mode[0] = 0;
        fclose(f);
    }
    return f && !strstr(mode, "[never]");
}

int main(void)
{
    const size_t huge = (size_t)2 << 20, sizes[] = {1, huge - 1, huge, huge + 1, 3 * huge + 12345};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = kiln_alloc_streamed(sizes[i], NULL);
        CHECK(p && (uintptr_t)p % huge == 0, "%zu bytes: %p is on a 2 MiB boundary", sizes[i], (void *)p);
        if (!p)
            continue;
        int zero = 1;
        for (size_t j = 0; j < sizes[i]; j += 4093)
            zero &= p[j] == 0;
        CHECK(zero && p[sizes[i] - 1] == 0, "%zu bytes: zeroed", sizes[i]);
        memset(p, 0xA5, sizes[i]); /* (all of it writable: ASan's and the kernel's word) */
        if (system_allows_thp() && thp_eligible(p) >= 0)
            CHECK(thp_eligible(p) == 1, "%zu bytes: the mapping is eligible for huge pages", sizes[i]);
        kiln_free_streamed(p);
    }
    unsigned char *none = kiln_alloc_streamed(0, NULL);
    CHECK(none && (uintptr_t)none % huge == 0, "0 bytes: one page, not NULL");
    kiln_free_streamed(none);
    CHECK(kiln_alloc_streamed(SIZE_MAX, NULL) == NULL, "SIZE_MAX bytes: NULL");
    CHECK(kiln_alloc_streamed(SIZE_MAX - huge / 2, NULL) == NULL, "a size that rounds past SIZE_MAX: NULL");
    kiln_free_streamed(NULL);

    /* filled from a source: its bytes, then zeros to the page's end */
    unsigned char from[3000];
    for (size_t j = 0; j < sizeof from; j++)
        from[j] = (unsigned char)(j * 7 + 1);
    unsigned char *copy = kiln_alloc_streamed(sizeof from, from);
    CHECK(copy && memcmp(copy, from, sizeof from) == 0 && copy[sizeof from] == 0 && copy[huge - 1] == 0,
          "a copy: the source's bytes, then zeros");
    kiln_free_streamed(copy);
    return check_finish();
}
