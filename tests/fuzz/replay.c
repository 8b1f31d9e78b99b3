/* replay.c: a main for the harnesses without libFuzzer (tests/fuzz.sh builds each with gcc and
 * -fsanitize=address,undefined): calls LLVMFuzzerTestOneInput once on each file named on the
 * command line, in order, and prints how many it ran. A crash aborts it with the sanitizer's report;
 * "replay: FILE" on stderr before each input says which one it was. */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz.h"

/* The whole file in a malloc'd buffer of exactly its size (so that ASan catches any over-read). */
static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        uint8_t *bigger = realloc(buf, cap);
        if (!bigger)
            free(buf);
        buf = bigger;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    uint8_t *exact = malloc(n ? n : 1);
    if (exact)
        memcpy(exact, buf, n);
    free(buf);
    *size = n;
    return exact;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        size_t size = 0;
        uint8_t *data = read_all(argv[i], &size);
        if (!data) {
            fprintf(stderr, "replay: cannot read '%s'\n", argv[i]);
            return 2;
        }
        fprintf(stderr, "replay: %s\n", argv[i]);
        LLVMFuzzerTestOneInput(data, size);
        free(data);
    }
    printf("replayed %d inputs\n", argc - 1);
    return 0;
}
