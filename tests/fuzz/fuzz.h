/* fuzz.h: what the harnesses in tests/fuzz share (docs/fuzzing.md).
 * Each harness defines LLVMFuzzerTestOneInput; libFuzzer's main (`make fuzz`, clang) or replay.c's
 * (tests/fuzz.sh, gcc) calls it once per input. The readers that take a path get the input through
 * one temporary file per process, rewritten for each input and removed at exit (in /dev/shm when it
 * can: on a disk a harness runs several times slower). FUZZ_CHECK states
 * a property of the reader's result: a failure aborts, which both drivers report as a crash. */
#ifndef KILN_FUZZ_H
#define KILN_FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The temporary file's path and descriptor (one per process). */
struct fuzz_file_state {
    char path[4096];
    int fd;
};

static inline struct fuzz_file_state *fuzz_file_state(void)
{
    static struct fuzz_file_state state = {"", -1};
    return &state;
}

static inline void fuzz_remove_file(void)
{
    unlink(fuzz_file_state()->path);
}

/* Where the temporary files go: /dev/shm (memory) when writable, else $TMPDIR, else /tmp. */
static inline const char *fuzz_temp_dir(void)
{
    const char *dir = getenv("TMPDIR");
    return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : dir && *dir ? dir : "/tmp";
}

/* The input as a file: its path (the same for every call in this process). */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    struct fuzz_file_state *f = fuzz_file_state();
    if (f->fd < 0) {
        snprintf(f->path, sizeof f->path, "%s/kiln-fuzz-XXXXXX", fuzz_temp_dir());
        f->fd = mkstemp(f->path);
        FUZZ_CHECK(f->fd >= 0);
        atexit(fuzz_remove_file);
    }
    FUZZ_CHECK(ftruncate(f->fd, 0) == 0);
    for (size_t done = 0; done < size;) {
        ssize_t n = pwrite(f->fd, data + done, size - done, (off_t)done);
        FUZZ_CHECK(n > 0);
        done += (size_t)n;
    }
    return f->path;
}
#endif
