/* check.h: the zero-dependency test counter every test program uses.
 * CHECK(cond, fmt, ...) counts a check and prints the failing expression with a message;
 * check_finish() prints "RESULT passed=N failed=M" for tests/run.sh to add up, and returns the
 * exit status (0 when nothing failed). */
#ifndef KILN_CHECK_H
#define KILN_CHECK_H
#include <stdio.h>

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

static inline int check_finish(void)
{
    printf("RESULT passed=%d failed=%d\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}
#endif
