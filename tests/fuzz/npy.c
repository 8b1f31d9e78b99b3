/* npy.c: fuzzes the .npy reader (runtime/npy.c: the preamble, versions 1 to 3, the header dict,
 * dtypes, shapes and the data's size). The input is the file. What reads must have a count equal
 * to its shape's product and exactly that many elements of data (read them all). */
#include "fuzz.h"
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    char err[512] = "";
    struct npy_array a;
    if (npy_read(path, &a, err, sizeof err) != 0) {
        FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 && !a.data);
        return 0;
    }
    static const size_t item[] = {[NPY_I32] = 4, [NPY_I64] = 8, [NPY_F32] = 4, [NPY_U8] = 1};
    FUZZ_CHECK(a.rank >= 0 && a.rank <= 8 && a.data);
    size_t count = 1;
    for (int i = 0; i < a.rank; i++) {
        FUZZ_CHECK(a.shape[i] >= 0);
        count *= (size_t)a.shape[i];
    }
    FUZZ_CHECK(count == a.count && a.count * item[a.dtype] <= size);
    const uint8_t *bytes = a.data;
    uint8_t x = 0;
    for (size_t i = 0; i < a.count * item[a.dtype]; i++)
        x ^= bytes[i];
    volatile uint8_t keep = x;
    (void)keep;
    npy_free(&a);
    return 0;
}
