/* safetensors.h: a checked reader of .safetensors files over mmap.
 * Every header field, offset, size and dtype is validated before anything is read; each error
 * names the file (and the tensor, where there is one). */
#ifndef KILN_SAFETENSORS_H
#define KILN_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

enum st_dtype { ST_F32, ST_BF16, ST_F16, ST_OTHER };

struct st_tensor {
    char *name;
    enum st_dtype dtype;
    char dtype_name[16];             /* as written in the header, e.g. "F32", "I64" */
    int rank;
    int64_t shape[8];
    const uint8_t *data;             /* into the mapping */
    size_t nbytes;
};

struct st_file {
    const char *path;
    void *map;
    size_t map_size;
    int num_tensors;
    struct st_tensor *tensors;       /* sorted by name (st_find searches them by bisection) */
};

/* Opens and validates the file. Returns 0, or 1 with "PATH: message" in err. */
int st_open(const char *path, struct st_file *f, char *err, size_t errlen);
const struct st_tensor *st_find(const struct st_file *f, const char *name);
/* Converts every element of a F32/BF16/F16 tensor to f32 (exactly; F16 subnormals, inf and NaN
   included). dst holds nbytes / element size floats. */
void st_to_f32(const struct st_tensor *t, float *dst);
/* The same for elements first..first+count-1 only (so that callers can convert in parallel). */
void st_to_f32_range(const struct st_tensor *t, size_t first, size_t count, float *dst);
/* Drops the pages of the mapping that only t's data occupies (read: they come back from the file
   if read again), so that converting a checkpoint tensor by tensor keeps little of it resident. */
void st_release(const struct st_file *f, const struct st_tensor *t);
/* Bytes per element of a dtype name ("F32" -> 4, "BOOL" -> 1), or 0 for an unknown name. */
size_t st_dtype_size(const char *dtype_name);
/* Writes a shape as "[2, 3]" ("[]" for rank 0) into buf. */
void st_format_shape(char *buf, size_t len, int rank, const int64_t *shape);
void st_close(struct st_file *f);
#endif
