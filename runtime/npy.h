/* npy.h: reading and writing NumPy .npy files (format 1.0/2.0, little-endian, C order).
 * Reads int32, int64, float32, uint8 arrays; writes int32 and float32. Writes go to a temporary
 * file renamed into place, so an error never leaves a half-written output. */
#ifndef KILN_NPY_H
#define KILN_NPY_H
#include <stddef.h>
#include <stdint.h>

enum npy_dtype { NPY_I32, NPY_I64, NPY_F32, NPY_U8 };

struct npy_array {
    enum npy_dtype dtype;
    int rank;
    int64_t shape[8];
    size_t count;                    /* product of shape */
    void *data;                      /* malloc'd, count elements of dtype */
};

/* Returns 0, or 1 with "PATH: message" in err. */
int npy_read(const char *path, struct npy_array *a, char *err, size_t errlen);
int npy_write(const char *path, enum npy_dtype dtype, int rank, const int64_t *shape, const void *data,
              char *err, size_t errlen);
void npy_free(struct npy_array *a);
#endif
