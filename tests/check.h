/* check.h: the zero-dependency test counter every test program uses.
 * CHECK(cond, fmt, ...) counts a check and prints the failing expression with a message;
 * check_finish() prints "RESULT passed=N failed=M" for tests/run.sh to add up, and returns the
 * exit status (0 when nothing failed). rel_error() is the tests' distance between two arrays. */
#ifndef KILN_CHECK_H
#define KILN_CHECK_H
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h> /* mkdtemp (POSIX 2008) */

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (cond) {                                                                   \
            check_passed++;                                                           \
        } else {                                                                      \
            check_failed++;                                                           \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
        }                                                                             \
    } while (0)

/* max |got - ref| / max |ref| (the absolute error when ref is all 0) */
static inline double rel_error(const float *got, const float *ref, size_t n)
{
    double max_ref = 0, max_err = 0;
    for (size_t i = 0; i < n; i++) {
        max_ref = fmax(max_ref, fabs(ref[i]));
        max_err = fmax(max_err, fabs((double)got[i] - ref[i]));
    }
    return max_ref > 0 ? max_err / max_ref : max_err;
}

/* A test program's scratch folder: check_scratch_open("npy") makes /tmp/kiln_test_npy_XXXXXX (0, or
   1 after saying why it could not); check_scratch_path("x.npy") is FOLDER/x.npy (valid until the
   next call) */
static char check_scratch_dir[64];
static inline int check_scratch_open(const char *name)
{
    snprintf(check_scratch_dir, sizeof check_scratch_dir, "/tmp/kiln_test_%s_XXXXXX", name);
    if (mkdtemp(check_scratch_dir))
        return 0;
    perror("mkdtemp");
    return 1;
}
static inline const char *check_scratch_path(const char *file)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", check_scratch_dir, file);
    return path;
}

static inline int check_finish(void)
{
    printf("RESULT passed=%d failed=%d\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}
#endif
