/* npyedit: what the conversation tests do to .npy arrays (tests/converse.sh).
 *   npyedit slice IN.npy START END OUT.npy   elements [START, END) of IN's last axis
 *   npyedit cat A.npy B.npy OUT.npy           A then B along the last axis (the other axes equal)
 *   npyedit raw IN.npy OUT.raw                a float32 array's values as raw little-endian f32
 *   npyedit fromraw IN.raw OUT.npy            raw little-endian f32 as a float32 [1, 1, N] array
 *   npyedit zeros N OUT.npy                   float32 [1, 1, N] zeros (silence)
 * Exit status 0, or 1 with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "npy.h"

static size_t element_size(enum npy_dtype t) { return t == NPY_I64 ? 8 : t == NPY_U8 ? 1 : 4; }

static int fail(const char *what)
{
    fprintf(stderr, "npyedit: %s\n", what);
    return 1;
}

/* Writes a (its dtype int32 or float32; int64 written as int32) with the last axis `last` long from rows of data */
static int write_like(const char *path, const struct npy_array *a, int64_t last, const void *data)
{
    int64_t shape[8];
    memcpy(shape, a->shape, sizeof shape);
    shape[a->rank - 1] = last;
    size_t count = 1;
    for (int d = 0; d < a->rank; d++)
        count *= (size_t)shape[d];
    int32_t *narrowed = NULL;
    if (a->dtype == NPY_I64) {
        if (!(narrowed = malloc(count * sizeof *narrowed)))
            return fail("out of memory");
        for (size_t i = 0; i < count; i++)
            narrowed[i] = (int32_t)((const int64_t *)data)[i];
    }
    char err[1024];
    int rc = npy_write(path, a->dtype == NPY_F32 ? NPY_F32 : NPY_I32, a->rank, shape, narrowed ? narrowed : data, err,
                       sizeof err);
    free(narrowed);
    return rc ? fail(err) : 0;
}

int main(int argc, char **argv)
{
    char err[1024];
    struct npy_array a, b;
    if (argc == 6 && strcmp(argv[1], "slice") == 0) {
        if (npy_read(argv[2], &a, err, sizeof err) || a.rank < 1)
            return fail(err);
        const int64_t n = a.shape[a.rank - 1], start = atoll(argv[3]), end = atoll(argv[4]);
        if (start < 0 || end > n || start > end)
            return fail("slice outside the last axis");
        const size_t rows = n ? a.count / (size_t)n : 0, es = element_size(a.dtype);
        char *out = malloc(rows * (size_t)(end - start) * es + 1);
        for (size_t r = 0; out && r < rows; r++)
            memcpy(out + r * (size_t)(end - start) * es, (char *)a.data + (r * (size_t)n + (size_t)start) * es,
                   (size_t)(end - start) * es);
        int rc = out ? write_like(argv[5], &a, end - start, out) : fail("out of memory");
        free(out), npy_free(&a);
        return rc;
    }
    if (argc == 5 && strcmp(argv[1], "cat") == 0) {
        if (npy_read(argv[2], &a, err, sizeof err) || npy_read(argv[3], &b, err, sizeof err))
            return fail(err);
        if (a.rank != b.rank || a.dtype != b.dtype || a.rank < 1)
            return fail("the arrays differ in rank or dtype");
        const int64_t na = a.shape[a.rank - 1], nb = b.shape[b.rank - 1];
        const size_t rows = na ? a.count / (size_t)na : 0, es = element_size(a.dtype);
        if ((nb ? b.count / (size_t)nb : 0) != rows)
            return fail("the arrays differ in their other axes");
        char *out = malloc((a.count + b.count) * es + 1);
        for (size_t r = 0; out && r < rows; r++) {
            memcpy(out + r * (size_t)(na + nb) * es, (char *)a.data + r * (size_t)na * es, (size_t)na * es);
            memcpy(out + (r * (size_t)(na + nb) + (size_t)na) * es, (char *)b.data + r * (size_t)nb * es, (size_t)nb * es);
        }
        int rc = out ? write_like(argv[4], &a, na + nb, out) : fail("out of memory");
        free(out), npy_free(&a), npy_free(&b);
        return rc;
    }
    if (argc == 4 && strcmp(argv[1], "raw") == 0) {
        if (npy_read(argv[2], &a, err, sizeof err) || a.dtype != NPY_F32)
            return fail(a.dtype != NPY_F32 ? "raw wants a float32 array" : err);
        FILE *f = fopen(argv[3], "wb");
        int rc = !f || fwrite(a.data, 4, a.count, f) != a.count;
        rc |= f && fclose(f) != 0;
        npy_free(&a);
        return rc ? fail("cannot write the raw file") : 0;
    }
    if (argc == 4 && strcmp(argv[1], "fromraw") == 0) {
        FILE *f = fopen(argv[2], "rb");
        if (!f)
            return fail("cannot read the raw file");
        fseek(f, 0, SEEK_END);
        const long bytes = ftell(f);
        fseek(f, 0, SEEK_SET);
        float *x = malloc((size_t)(bytes > 0 ? bytes : 1));
        const size_t n = x && bytes > 0 ? fread(x, 4, (size_t)bytes / 4, f) : 0;
        fclose(f);
        const int64_t shape[3] = {1, 1, (int64_t)n};
        int rc = npy_write(argv[3], NPY_F32, 3, shape, x, err, sizeof err);
        free(x);
        return rc ? fail(err) : 0;
    }
    if (argc == 4 && strcmp(argv[1], "zeros") == 0) {
        const int64_t shape[3] = {1, 1, atoll(argv[2])};
        float *x = calloc((size_t)(shape[2] > 0 ? shape[2] : 1), sizeof *x);
        int rc = !x || shape[2] < 0 || npy_write(argv[3], NPY_F32, 3, shape, x, err, sizeof err);
        free(x);
        return rc ? fail("cannot write the zeros") : 0;
    }
    fprintf(stderr, "usage: npyedit slice IN.npy START END OUT.npy | cat A.npy B.npy OUT.npy | raw IN.npy OUT.raw | "
                    "fromraw IN.raw OUT.npy | zeros N OUT.npy\n");
    return 1;
}
