/* kw.c: fuzzes the packed weight file reader (runtime/kw.c: kw_is_kw, kw_load) for the model of
 * fuzz_model.h. The input is the .kw file. When it loads, every weight must lie inside the mapping
 * with all of its stored elements, and reading them all must be safe. */
#include "fuzz.h"
#include "fuzz_model.h"
#include "kw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    bool is_kw = kw_is_kw(path);
    char err[512] = "";
    struct kiln_weights w;
    if (kw_load(&fuzz_model, path, false, &w, err, sizeof err) != 0) {
        FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 && !w.table && !w.map);
        return 0;
    }
    FUZZ_CHECK(is_kw && w.map && w.map_bytes == size);
    const char *begin = w.map, *end = (const char *)w.map + w.map_bytes;
    float sum = 0;
    for (int i = 0; i < fuzz_model.num_weights; i++) {
        const struct kiln_weight_desc *desc = &fuzz_model.weights[i];
        const char *weight = *(const char *const *)((const char *)w.table + desc->field_offset);
        size_t bytes = weights_stored_bytes(desc);
        FUZZ_CHECK(weight >= begin && bytes <= (size_t)(end - weight));
        for (size_t j = 0; j < bytes; j++)
            sum += (float)(unsigned char)weight[j];
    }
    volatile float keep = sum;
    (void)keep;
    kiln_weights_free(&w);
    return 0;
}
