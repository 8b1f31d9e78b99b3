/* safetensors.c: fuzzes the safetensors reader (runtime/safetensors.c: the header length, the
 * hand-written JSON scanner, dtypes, shapes, data_offsets, duplicate and overlapping tensors) and
 * the checkpoint loader over it (runtime/weights.c: kiln_weights_load for fuzz_model.h's model:
 * presence, dtype and shape checks, conversion, folds, packing). The input is the file. What opens
 * must keep st_open's promises: every tensor's data inside the file, sorted, unique names. */
#include "fuzz.h"
#include "fuzz_model.h"
#include "safetensors.h"

/* A message from a failed open starts with the path. */
static void check_error(const char *path, const char *err)
{
    FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
}

static void check_tensors(const struct st_file *f)
{
    const uint8_t *begin = f->map, *end = begin + f->map_size;
    for (int i = 0; i < f->num_tensors; i++) {
        const struct st_tensor *t = &f->tensors[i];
        size_t item = st_dtype_size(t->dtype_name);
        FUZZ_CHECK(item > 0 && t->nbytes % item == 0 && t->rank >= 0 && t->rank <= 8);
        FUZZ_CHECK(t->nbytes == 0 || (t->data >= begin + 8 && t->nbytes <= (size_t)(end - t->data)));
        FUZZ_CHECK(i == 0 || strcmp(f->tensors[i - 1].name, t->name) < 0);
        FUZZ_CHECK(st_find(f, t->name) == t);
        char shape[160];
        st_format_shape(shape, sizeof shape, t->rank, t->shape);
        if (t->dtype != ST_OTHER && t->nbytes <= (1u << 20)) {
            float *values = malloc(t->nbytes / item * sizeof *values + 1);
            FUZZ_CHECK(values);
            st_to_f32(t, values);
            free(values);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    char err[512] = "";
    struct st_file f;
    if (st_open(path, &f, err, sizeof err) == 0) {
        check_tensors(&f);
        FUZZ_CHECK(st_find(&f, "") == NULL || f.num_tensors > 0);
        st_close(&f);
    } else {
        check_error(path, err);
    }
    struct kiln_weights w;
    if (kiln_weights_load(&fuzz_model, path, &w, err, sizeof err) == 0) {
        const struct fuzz_model_weights *table = w.table;
        FUZZ_CHECK(table->norm && table->proj && table->gate && table->emb);
        kiln_weights_free(&w);
    } else {
        check_error(path, err);
    }
    return 0;
}
