/* test_fold.c: a codec's load-time fold, KILN_FOLD_DIVIDE_ROWS (Mimi's codebook vectors: embedding_sum
 * divided row by row by max(cluster_usage, 1e-5), in f32, before rounding or packing), on a tiny
 * codec descriptor loaded from hand-written .safetensors files: the values in f32 and stored as bf16,
 * the note for the checkpoint's codebooks beyond those the model reads (and no word on their
 * `_initialized` flags), the descriptor checks, random weights (usages positive), and a packed .kw. */
#include "check.h"
#include "kiln_rt.h"
#include "kw.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The tiny codec: one codebook of 4 entries of 3 values, its usage, and a projection */
struct tiny_codec_weights {
    const void *embedding;           /* [4, 3]: embedding_sum / max(cluster_usage, 1e-5), per row */
    const float *usage;              /* [4] */
    const float *proj;               /* [2, 3] */
};

#define CODEBOOK "quantizer.rvq_first.vq.layers.0._codebook."
static struct kiln_weight_desc codec_weights[] = {
    {.name = CODEBOOK "embedding_sum", .rank = 2, .shape = {4, 3}, .fold_alpha = 1, .fold = KILN_FOLD_DIVIDE_ROWS,
     .field_offset = offsetof(struct tiny_codec_weights, embedding)},
    {.name = CODEBOOK "cluster_usage", .rank = 1, .shape = {4}, .fold_alpha = -1,
     .field_offset = offsetof(struct tiny_codec_weights, usage)},
    {.name = "quantizer.rvq_first.input_proj.weight", .rank = 2, .shape = {2, 3}, .fold_alpha = -1,
     .field_offset = offsetof(struct tiny_codec_weights, proj)},
};
static struct kiln_model_desc codec = {
    .name = "tiny_codec", .target = "scalar", .weight_format = "f32", .kind = KILN_MODEL_CODEC, .num_weights = 3,
    .weights = codec_weights, .weights_struct_size = sizeof(struct tiny_codec_weights),
};

static const float embedding_sum[12] = {1, 2, 3, -4, 5, -6, 1e-3f, 2e-3f, -3e-3f, 7, 8, 9};
static const float usage[4] = {2, 0.5f, 0, 3}; /* (0: divided by 1e-5 instead) */
static const float proj[6] = {0.5f, -1, 2, 0.25f, 3, -0.5f};

static char path[256], log_path[300];

/* A .safetensors of `count` F32 tensors: names[i] of shape shapes[i] (rank 1 or 2), values data[i] */
static void write_checkpoint(int count, const char *const *names, const int64_t (*shapes)[2], const float *const *data)
{
    char header[4096];
    size_t used = (size_t)snprintf(header, sizeof header, "{"), offset = 0;
    for (int i = 0; i < count; i++) {
        const size_t bytes = (size_t)(shapes[i][0] * (shapes[i][1] ? shapes[i][1] : 1)) * sizeof(float);
        char shape[64];
        if (shapes[i][1])
            snprintf(shape, sizeof shape, "%lld, %lld", (long long)shapes[i][0], (long long)shapes[i][1]);
        else
            snprintf(shape, sizeof shape, "%lld", (long long)shapes[i][0]);
        used += (size_t)snprintf(header + used, sizeof header - used, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [%s], "
                                 "\"data_offsets\": [%zu, %zu]}", i ? ", " : "", names[i], shape, offset, offset + bytes);
        offset += bytes;
    }
    used += (size_t)snprintf(header + used, sizeof header - used, "}");
    FILE *f = fopen(path, "wb");
    unsigned char length[8];
    for (int i = 0; i < 8; i++)
        length[i] = (unsigned char)((uint64_t)used >> (8 * i));
    int ok = f && fwrite(length, 1, 8, f) == 8 && fwrite(header, 1, used, f) == used;
    for (int i = 0; ok && i < count; i++) {
        const size_t n = (size_t)(shapes[i][0] * (shapes[i][1] ? shapes[i][1] : 1));
        ok = fwrite(data[i], sizeof(float), n, f) == n;
    }
    if (!f || fclose(f) != 0 || !ok) {
        perror(path);                /* the test cannot run, rather than fail */
        exit(2);
    }
}

/* The tiny codec's checkpoint: its three tensors, the `_initialized` flag of its codebook, two
   codebooks of rvq_rest it does not use (three tensors each) and one other tensor */
static void write_codec_checkpoint(void)
{
    static const float one[1] = {1};
    static const char *const names[] = {
        CODEBOOK "embedding_sum", CODEBOOK "cluster_usage", "quantizer.rvq_first.input_proj.weight", CODEBOOK "_initialized",
        "quantizer.rvq_rest.vq.layers.0._codebook._initialized", "quantizer.rvq_rest.vq.layers.0._codebook.cluster_usage",
        "quantizer.rvq_rest.vq.layers.0._codebook.embedding_sum", "quantizer.rvq_rest.vq.layers.12._codebook._initialized",
        "quantizer.rvq_rest.vq.layers.12._codebook.cluster_usage", "quantizer.rvq_rest.vq.layers.12._codebook.embedding_sum",
        "encoder.extra.weight"};
    static const int64_t shapes[][2] = {{4, 3}, {4, 0}, {2, 3}, {1, 0}, {1, 0}, {4, 0}, {4, 3}, {1, 0}, {4, 0}, {4, 3}, {1, 0}};
    static const float *const data[] = {embedding_sum, usage, proj, one, one, usage, embedding_sum, one, usage,
                                        embedding_sum, one};
    write_checkpoint(11, names, shapes, data);
}

/* Loads codec from path, stderr captured into *log; 0 or 1 as kiln_weights_load */
static int load_logged(struct kiln_weights *w, char *log, size_t size, char *err, size_t errlen)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(log_path, "w+");
    CHECK(f && dup2(fileno(f), 2) >= 0, "cannot redirect stderr");
    int rc = kiln_weights_load(&codec, path, w, err, errlen);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t got = 0;
    if (f) {
        rewind(f);
        got = fread(log, 1, size - 1, f);
        fclose(f);
    }
    log[got] = '\0';
    remove(log_path);
    return rc;
}

static float expected_value(int r, int c, int format)
{
    const float divisor = usage[r] < 1e-5f ? 1e-5f : usage[r];
    return kiln_round_to(format, embedding_sum[3 * r + c] / divisor);
}

static void check_codebook(const struct kiln_weights *w, int format, const char *what)
{
    const struct tiny_codec_weights *t = w->table;
    int wrong = 0;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++)
            wrong += kiln_load_as_f32(format, t->embedding, (size_t)(3 * r + c)) != expected_value(r, c, format);
    CHECK(wrong == 0, "%s: %d codebook values are not embedding_sum / max(cluster_usage, 1e-5)", what, wrong);
    CHECK(memcmp(t->usage, usage, sizeof usage) == 0, "%s: the usage itself changed", what);
    CHECK(memcmp(t->proj, proj, sizeof proj) == 0, "%s: the projection changed", what);
}

static void test_load(void)
{
    char err[512] = "", log[1024], expected[1024];
    struct kiln_weights w;
    write_codec_checkpoint();
    CHECK(load_logged(&w, log, sizeof log, err, sizeof err) == 0, "%s", err);
    check_codebook(&w, KILN_F32, "f32");
    snprintf(expected, sizeof expected, "%s: warning: unused tensor 'encoder.extra.weight'\n"
             "note: %s: skipping 2 quantizer codebooks beyond the 1 the model uses\n", path, path);
    CHECK(strcmp(log, expected) == 0, "\n  got      '%s'\n  expected '%s'", log, expected);

    /* packed and mapped back: the same bytes */
    char kw_path[300];
    snprintf(kw_path, sizeof kw_path, "%s.kw", path);
    CHECK(kw_write(&codec, &w, kw_path, err, sizeof err) == 0, "%s", err);
    struct kiln_weights mapped;
    CHECK(kiln_weights_load(&codec, kw_path, &mapped, err, sizeof err) == 0, "%s", err);
    CHECK(mapped.arena_bytes == w.arena_bytes && memcmp(((const struct tiny_codec_weights *)mapped.table)->embedding,
                                                        ((const struct tiny_codec_weights *)w.table)->embedding, 48) == 0,
          "the .kw holds other values");
    CHECK(mapped.map && !mapped.arena, "a .kw is mapped, not copied, by default");
    kiln_weights_free(&mapped);
    /* copied (kiln_set_copy_weights): the same bytes in memory of its own, the file unmapped; refused
       by the memory guard where it would not fit, while mapping still loads */
    kiln_set_copy_weights(1);
    struct kiln_weights copied;
    CHECK(kiln_weights_load(&codec, kw_path, &copied, err, sizeof err) == 0, "copied: %s", err);
    CHECK(!copied.map && copied.arena && copied.arena_bytes == w.arena_bytes &&
              memcmp(((const struct tiny_codec_weights *)copied.table)->embedding,
                     ((const struct tiny_codec_weights *)w.table)->embedding, 48) == 0,
          "the copied .kw holds other values, or is still mapped");
    kiln_weights_free(&copied);
    setenv("KILN_MEM_AVAILABLE", "1", 1);
    CHECK(kiln_weights_load(&codec, kw_path, &copied, err, sizeof err) == 1 && strstr(err, "memory") && !copied.table,
          "a copy that does not fit: '%s'", err);
    kiln_set_copy_weights(0);
    CHECK(kiln_weights_load(&codec, kw_path, &copied, err, sizeof err) == 0 && copied.map, "mapped in 1 byte: %s", err);
    kiln_weights_free(&copied);
    unsetenv("KILN_MEM_AVAILABLE");
    /* a .kw records each weight's fold: one packed with the other kind does not load */
    codec_weights[0].fold = KILN_FOLD_COLUMNS;
    snprintf(expected, sizeof expected, "%s: packed for tiny_codec (target scalar, weights f32), and this binary is "
             "tiny_codec (target scalar, weights f32): another weight layout; pack it again with this binary", kw_path);
    CHECK(kw_load(&codec, kw_path, false, &mapped, err, sizeof err) == 1 && strcmp(err, expected) == 0,
          "\n  got      '%s'\n  expected '%s'", err, expected);
    codec_weights[0].fold = KILN_FOLD_DIVIDE_ROWS;
    remove(kw_path);
    kiln_weights_free(&w);

    /* stored in bf16: divided in f32 first, then rounded once */
    codec_weights[0].format = KILN_BF16;
    CHECK(load_logged(&w, log, sizeof log, err, sizeof err) == 0, "bf16: %s", err);
    check_codebook(&w, KILN_BF16, "bf16");
    kiln_weights_free(&w);
    codec_weights[0].format = KILN_F32;

    /* an LM reading the same file: every unused tensor is a warning of its own */
    codec.kind = KILN_MODEL_LM;
    CHECK(load_logged(&w, log, sizeof log, err, sizeof err) == 0, "as an LM: %s", err);
    int lines = 0;
    for (const char *p = log; (p = strchr(p, '\n')); p++)
        lines++;
    CHECK(lines == 8 && !strstr(log, "note:"), "an LM's warnings: '%s'", log);
    codec.kind = KILN_MODEL_CODEC;
    kiln_weights_free(&w);
}

static void test_descriptor_errors(void)
{
    char err[512] = "";
    struct kiln_weights w;
    codec_weights[1].shape[0] = 3; /* a usage of 3 values for 4 rows */
    CHECK(kiln_weights_random(&codec, 1, &w, err, sizeof err) == 1 &&
          strcmp(err, "tiny_codec: weight '" CODEBOOK "embedding_sum' cannot divide its 4 rows by weight 1's 3 values") == 0,
          "got '%s'", err);
    codec_weights[1].shape[0] = 4;
    codec_weights[0].fold = 7;
    CHECK(kiln_weights_random(&codec, 1, &w, err, sizeof err) == 1 &&
          strcmp(err, "tiny_codec: weight '" CODEBOOK "embedding_sum' has an unknown fold 7") == 0, "got '%s'", err);
    codec_weights[0].fold = KILN_FOLD_COLUMNS; /* (a column fold reads one value per column: 3, not 4) */
    CHECK(kiln_weights_random(&codec, 1, &w, err, sizeof err) == 1 &&
          strcmp(err, "tiny_codec: weight '" CODEBOOK "embedding_sum' cannot fold weight 1") == 0, "got '%s'", err);
    codec_weights[0].fold = KILN_FOLD_DIVIDE_ROWS;
}

/* Random weights: a usage is |v| + 1 of its random value v, and the codebook is divided by it */
static void test_random(void)
{
    char err[512] = "";
    struct kiln_weights a, b;
    CHECK(kiln_weights_random(&codec, 5, &a, err, sizeof err) == 0, "%s", err);
    CHECK(kiln_weights_random(&codec, 5, &b, err, sizeof err) == 0, "%s", err);
    CHECK(memcmp(a.arena, b.arena, a.arena_bytes) == 0, "same seed, different weights");
    const struct tiny_codec_weights *t = a.table;
    int sane = 1;
    for (int r = 0; r < 4; r++) {
        sane &= t->usage[r] >= 1.0f && t->usage[r] <= 1.0f + 1.0f / 2; /* (|x| / sqrt(4) + 1) */
        for (int c = 0; c < 3; c++) {
            const float raw = ((const float *)t->embedding)[3 * r + c] * t->usage[r];
            sane &= fabsf(raw) <= 1 / sqrtf(3) + 1e-6f && raw != 0;
        }
    }
    CHECK(sane, "random usages not in [1, 1.5], or the codebook not divided by them");
    kiln_weights_free(&a);
    kiln_weights_free(&b);
}

int main(void)
{
    char dir[64] = "/tmp/kiln_test_fold_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/codec.safetensors", dir);
    snprintf(log_path, sizeof log_path, "%s/stderr.log", dir);
    test_load();
    test_descriptor_errors();
    test_random();
    remove(path);
    rmdir(dir);
    return check_finish();
}
