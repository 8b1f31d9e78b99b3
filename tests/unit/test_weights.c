/* test_weights.c: kiln_weights_load on hand-built .safetensors files for a tiny model descriptor:
 * exact values in F32, BF16 and F16, the norm fold, escapes in names, unused-tensor warnings, the
 * exact message of every validation error, and kiln_weights_random's determinism. */
#include "check.h"
#include "kiln_rt.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The tiny model: an RMS norm alpha [1, 1, 4] folded into a [3, 4] projection, and a bias [3]. */
struct tiny_weights {
    const float *norm_alpha;         /* [1, 1, 4] */
    const float *proj;               /* [3, 4], columns scaled by norm_alpha at load */
    const float *bias;               /* [3] */
};

static const struct kiln_weight_desc tiny_weight_descs[] = {
    {.name = "norm.alpha", .rank = 3, .shape = {1, 1, 4}, .fold_alpha = -1,
     .field_offset = offsetof(struct tiny_weights, norm_alpha)},
    {.name = "proj.weight", .rank = 2, .shape = {3, 4}, .fold_alpha = 0,
     .field_offset = offsetof(struct tiny_weights, proj)},
    {.name = "out.bias", .rank = 1, .shape = {3}, .fold_alpha = -1, .field_offset = offsetof(struct tiny_weights, bias)},
};
static const struct kiln_model_desc tiny = {
    .name = "tiny", .num_weights = 3, .weights = tiny_weight_descs, .weights_struct_size = sizeof(struct tiny_weights),
};

static const float alpha[4] = {1, 2, 0.5f, -1};
static const float proj[12] = {0.25f, -0.5f, 0.75f, 1, 1.25f, -1.5f, 1.75f, 2, 2.25f, -2.5f, 2.75f, 3};
static const float bias[3] = {0.5f, -0.5f, 3};

static char path[256];               /* the file every test writes and loads */

/* Writes the parts one after the other into `path`. */
static void write_file(const void *part1, size_t len1, const void *part2, size_t len2, const void *part3, size_t len3)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len1 && fwrite(part1, 1, len1, f) != len1) || (len2 && fwrite(part2, 1, len2, f) != len2) ||
        (len3 && fwrite(part3, 1, len3, f) != len3) || fclose(f) != 0) {
        perror(path);                /* the test cannot run, rather than fail */
        exit(2);
    }
}

/* Writes u64 LE header length, the header's len bytes, then the data. */
static void write_raw_bytes(const char *header, size_t len, const void *data, size_t data_len)
{
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (unsigned char)(len >> (8 * i));
    write_file(prefix, 8, header, len, data, data_len);
}

static void write_raw(const char *header, const void *data, size_t data_len)
{
    write_raw_bytes(header, strlen(header), data, data_len);
}

struct entry {
    const char *name, *dtype;
    int rank;
    int64_t shape[4];
    const void *data;
    size_t nbytes;
};

/* A well-formed file holding the entries' data back to back (header padded to 8 bytes). */
static void write_safetensors(const struct entry *entries, int n)
{
    char header[4096];
    unsigned char data[1 << 13];
    size_t used = (size_t)snprintf(header, sizeof header, "{\"__metadata__\": {\"format\": \"pt\"}"), offset = 0;
    for (int i = 0; i < n; i++) {
        const struct entry *e = &entries[i];
        used += (size_t)snprintf(header + used, sizeof header - used, ", \"%s\": {\"dtype\": \"%s\", \"shape\": [",
                                 e->name, e->dtype);
        for (int d = 0; d < e->rank; d++)
            used += (size_t)snprintf(header + used, sizeof header - used, "%s%lld", d ? ", " : "", (long long)e->shape[d]);
        used += (size_t)snprintf(header + used, sizeof header - used, "], \"data_offsets\": [%zu, %zu]}", offset,
                                 offset + e->nbytes);
        memcpy(data + offset, e->data, e->nbytes);
        offset += e->nbytes;
    }
    used += (size_t)snprintf(header + used, sizeof header - used, "}");
    while (used % 8)
        header[used++] = ' ';
    header[used] = 0;
    write_raw(header, data, offset);
}

static uint16_t bf16_of(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, 4);
    return (uint16_t)(bits >> 16);   /* exact for the values used here */
}

/* float -> IEEE half for normal values with at most 11 significant bits (exact, no rounding). */
static uint16_t f16_of(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, 4);
    return (uint16_t)((bits >> 16 & 0x8000) | (((bits >> 23 & 0xFF) - 112) << 10) | (bits >> 13 & 0x3FF));
}

static void check_tiny_values(const struct kiln_weights *w, const char *what)
{
    const struct tiny_weights *t = w->table;
    CHECK(t && t->norm_alpha && t->proj && t->bias, "%s: table not filled", what);
    if (!t || !t->norm_alpha || !t->proj || !t->bias)
        return;
    CHECK(w->arena_bytes == 48 * sizeof(float), "%s: arena holds %zu bytes", what, w->arena_bytes);
    CHECK((uintptr_t)t->norm_alpha % KILN_ALIGN == 0 && (uintptr_t)t->proj % KILN_ALIGN == 0 &&
          (uintptr_t)t->bias % KILN_ALIGN == 0, "%s: a weight is not %d-byte aligned", what, KILN_ALIGN);
    CHECK(memcmp(t->norm_alpha, alpha, sizeof alpha) == 0, "%s: the alpha changed", what);
    CHECK(memcmp(t->bias, bias, sizeof bias) == 0, "%s: bias %g %g %g", what, t->bias[0], t->bias[1], t->bias[2]);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            CHECK(t->proj[4 * r + c] == proj[4 * r + c] * alpha[c], "%s: proj[%d][%d] = %g, expected %g", what,
                  r, c, t->proj[4 * r + c], proj[4 * r + c] * alpha[c]);
}

static void test_good_files(void)
{
    char err[512] = "";
    struct kiln_weights w;
    struct entry f32[] = {
        {"out.bias", "F32", 1, {3}, bias, 12},
        {"proj.weight", "F32", 2, {3, 4}, proj, 48},
        {"norm.alpha", "F32", 3, {1, 1, 4}, alpha, 16},
    };
    write_safetensors(f32, 3);
    CHECK(kiln_weights_load(&tiny, path, &w, err, sizeof err) == 0, "F32: %s", err);
    check_tiny_values(&w, "F32");
    kiln_weights_free(&w);
    CHECK(w.table == NULL && w.arena == NULL, "kiln_weights_free leaves pointers");

    uint16_t alpha16[4], proj16[12], bias16[3], alpha_h[4], proj_h[12], bias_h[3];
    for (int i = 0; i < 12; i++) {
        proj16[i] = bf16_of(proj[i]), proj_h[i] = f16_of(proj[i]);
        if (i < 4)
            alpha16[i] = bf16_of(alpha[i]), alpha_h[i] = f16_of(alpha[i]);
        if (i < 3)
            bias16[i] = bf16_of(bias[i]), bias_h[i] = f16_of(bias[i]);
    }
    struct entry bf16[] = {
        {"norm.alpha", "BF16", 3, {1, 1, 4}, alpha16, 8},
        {"proj.weight", "BF16", 2, {3, 4}, proj16, 24},
        {"out.bias", "BF16", 1, {3}, bias16, 6},
    };
    write_safetensors(bf16, 3);
    CHECK(kiln_weights_load(&tiny, path, &w, err, sizeof err) == 0, "BF16: %s", err);
    check_tiny_values(&w, "BF16");
    kiln_weights_free(&w);

    struct entry f16[] = {
        {"norm.alpha", "F16", 3, {1, 1, 4}, alpha_h, 8},
        {"proj.weight", "F16", 2, {3, 4}, proj_h, 24},
        {"out.bias", "F16", 1, {3}, bias_h, 6},
    };
    write_safetensors(f16, 3);
    CHECK(kiln_weights_load(&tiny, path, &w, err, sizeof err) == 0, "F16: %s", err);
    check_tiny_values(&w, "F16");
    kiln_weights_free(&w);

    /* F16 specials: the smallest subnormal, the largest subnormal (negative), the largest normal,
       then inf, -inf and NaN. */
    uint16_t specials[2][3] = {{0x0001, 0x83FF, 0x7BFF}, {0x7C00, 0xFC00, 0x7E00}};
    f16[2] = (struct entry){"out.bias", "F16", 1, {3}, specials[0], 6};
    write_safetensors(f16, 3);
    CHECK(kiln_weights_load(&tiny, path, &w, err, sizeof err) == 0, "F16 specials: %s", err);
    const struct tiny_weights *t = w.table;
    CHECK(t && t->bias[0] == 0x1p-24f && t->bias[1] == -1023 * 0x1p-24f && t->bias[2] == 65504.0f,
          "F16 subnormal/max: %g %g %g", t->bias[0], t->bias[1], t->bias[2]);
    kiln_weights_free(&w);
    f16[2].data = specials[1];
    write_safetensors(f16, 3);
    CHECK(kiln_weights_load(&tiny, path, &w, err, sizeof err) == 0, "F16 inf/nan: %s", err);
    t = w.table;
    CHECK(t && isinf(t->bias[0]) && t->bias[0] > 0 && isinf(t->bias[1]) && t->bias[1] < 0 && isnan(t->bias[2]),
          "F16 inf/nan: %g %g %g", t->bias[0], t->bias[1], t->bias[2]);
    kiln_weights_free(&w);
}

/* Names with \u escapes match the model's; an unused tensor (its name with \/, \" and a surrogate
   pair) is a warning on stderr, not an error. */
static void test_escapes_and_unused(void)
{
    unsigned char data[16 + 48 + 12 + 4];
    memcpy(data, alpha, 16);
    memcpy(data + 16, proj, 48);
    memcpy(data + 64, bias, 12);
    memcpy(data + 76, "\0\0\0\0", 4);
    write_raw("{\"norm\\u002ealpha\": {\"shape\": [1, 1, 4], \"dtype\": \"F32\", \"data_offsets\": [0, 16]},\n"
              " \"proj.weight\":{\"data_offsets\":[16,64],\"dtype\":\"F32\",\"shape\":[3,4]},"
              " \"out\\u002Ebias\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [64, 76]},"
              " \"extra\\/\\\"q\\ud83d\\ude00\": {\"dtype\": \"I32\", \"shape\": [], \"data_offsets\": [76, 80]}}  ",
              data, sizeof data);
    char log_path[300], err[512] = "", log[512] = "", expected[512];
    snprintf(log_path, sizeof log_path, "%s.log", path);
    fflush(stderr);
    int saved_stderr = dup(2);
    FILE *log_file = fopen(log_path, "w+");
    CHECK(log_file && dup2(fileno(log_file), 2) >= 0, "cannot redirect stderr");
    struct kiln_weights w;
    int rc = kiln_weights_load(&tiny, path, &w, err, sizeof err);
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    if (log_file) {
        rewind(log_file);
        size_t got = fread(log, 1, sizeof log - 1, log_file);
        log[got] = 0;
        fclose(log_file);
    }
    remove(log_path);
    CHECK(rc == 0, "escaped names: %s", err);
    check_tiny_values(&w, "escaped names");
    kiln_weights_free(&w);
    snprintf(expected, sizeof expected, "%s: warning: unused tensor 'extra/\"q\xF0\x9F\x98\x80'\n", path);
    CHECK(strcmp(log, expected) == 0, "\n  got      '%s'\n  expected '%s'", log, expected);
}

/* Loading must fail with exactly "PATH: message" and leave `out` zeroed. */
static void check_load_error(const char *message)
{
    char err[512] = "", expected[512];
    snprintf(expected, sizeof expected, "%s: %s", path, message);
    struct kiln_weights w = {(void *)1, (float *)1, 1, (void *)1, 1};
    CHECK(kiln_weights_load(&tiny, path, &w, err, sizeof err) == 1, "load should fail with %s", message);
    CHECK(strcmp(err, expected) == 0, "\n  got      '%s'\n  expected '%s'", err, expected);
    CHECK(w.table == NULL && w.arena == NULL && w.arena_bytes == 0 && w.map == NULL, "a failed load leaves `out` set");
}

/* A header with one tensor entry `w` (as text) over `data_len` zero bytes. */
static void write_one_tensor(const char *entry, size_t data_len)
{
    char header[512];
    static const unsigned char zeros[512];
    snprintf(header, sizeof header, "{\"w\": %s}", entry);
    write_raw(header, zeros, data_len);
}

static void test_file_errors(void)
{
    write_file("abc", 3, NULL, 0, NULL, 0);
    check_load_error("file too short for a safetensors header (3 bytes)");
    write_file("\xe8\x03\0\0\0\0\0\0", 8, "{\"a\": 1}  ", 10, NULL, 0);
    check_load_error("header length 1000 past the end of the file (18 bytes)");

    write_raw("{\"a\" 1}", NULL, 0);
    check_load_error("header is not valid JSON: expected ':' at byte 13");
    write_raw("[1]", NULL, 0);
    check_load_error("header is not valid JSON: expected '{' at byte 8");
    write_raw("{} x", NULL, 0);
    check_load_error("header is not valid JSON: expected the end of the header at byte 11");
    write_raw("{\"w\\q\": 1}", NULL, 0);
    check_load_error("header is not valid JSON: expected an escape character at byte 12");
    write_raw("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]", NULL, 0);
    check_load_error("header is not valid JSON: expected '}' at byte 67");

    write_one_tensor("{\"dtype\": \"F32\", \"shape\": [1]}", 4);
    check_load_error("tensor 'w': missing data_offsets");
    write_one_tensor("{\"dtype\": \"F32\", \"data_offsets\": [0, 4]}", 4);
    check_load_error("tensor 'w': missing shape");
    write_one_tensor("{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4], \"dtype\": \"F32\"}", 4);
    check_load_error("tensor 'w': duplicate field 'dtype'");
    write_one_tensor("{\"dtype\": \"Q8\", \"shape\": [1], \"data_offsets\": [0, 4]}", 4);
    check_load_error("tensor 'w': unknown dtype 'Q8'");
    write_one_tensor("{\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}", 4);
    check_load_error("tensor 'w': shape holds -1, not a non-negative integer");
    write_one_tensor("{\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}", 4);
    check_load_error("tensor 'w': shape holds 1.5, not a non-negative integer");
    write_one_tensor("{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}", 8);
    check_load_error("tensor 'w': data_offsets [8, 4] end before they begin");
    write_one_tensor("{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}", 4);
    check_load_error("tensor 'w': data_offsets must be [begin, end]");
    write_one_tensor("{\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 16]}", 16);
    check_load_error("tensor 'w': shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 16] hold 16");

    write_raw("{\"text_emb.weight\": {\"dtype\": \"F32\", \"shape\": [100], \"data_offsets\": [0, 400]}}",
              proj, 48);
    check_load_error("tensor 'text_emb.weight': data_offsets [0, 400] past the end of the data (48 bytes)");
    write_raw("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
              " \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", proj, 24);
    check_load_error("tensors 'a' and 'b' overlap: data_offsets [0, 16] and [8, 24]");
    write_raw("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
              " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", proj, 8);
    check_load_error("duplicate tensor 'w'");

    write_one_tensor("{\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 4]}", 4);
    check_load_error("tensor 'w': shape [4294967296, 4294967296] of F32 needs more than 9223372036854775807 bytes "
                     "but data_offsets [0, 4] hold 4");

    remove(path);
    char message[256];
    snprintf(message, sizeof message, "%s", strerror(ENOENT));
    check_load_error(message);
}

/* Every proper prefix of a good header, and the header with any one byte replaced, must fail
   cleanly or load: never crash or read out of bounds (run under AddressSanitizer). */
static void test_damaged_headers(void)
{
    const char *good = "{\"__metadata__\":{\"k\":\"v\\u00e9\"},\"norm.alpha\":{\"dtype\":\"F32\",\"shape\":[1,1,4],"
                       "\"data_offsets\":[0,16]},\"proj.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":"
                       "[16,64]},\"out.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[64,76]}}";
    unsigned char data[76];
    memcpy(data, alpha, 16);
    memcpy(data + 16, proj, 48);
    memcpy(data + 64, bias, 12);
    size_t len = strlen(good);
    char damaged[512], err[512];
    struct kiln_weights w;
    int prefixes_failed = 0, bad_failures = 0, loads = 0;
    for (size_t n = 0; n < len; n++) {
        write_raw_bytes(good, n, data, sizeof data);
        prefixes_failed += kiln_weights_load(&tiny, path, &w, err, sizeof err) == 1;
    }
    static const char replacements[] = {'"', '\\', '{', '}', '[', ',', ':', '0', '-', 'x', 0, (char)0xFF};
    for (size_t i = 0; i < len; i++)
        for (size_t r = 0; r < sizeof replacements; r++) {
            memcpy(damaged, good, len);
            damaged[i] = replacements[r];
            write_raw_bytes(damaged, len, data, sizeof data);
            err[0] = 0;
            if (kiln_weights_load(&tiny, path, &w, err, sizeof err) == 0) {
                loads++;
                kiln_weights_free(&w);
            } else {
                bad_failures += strncmp(err, path, strlen(path)) != 0 || w.table != NULL || w.arena != NULL;
            }
        }
    CHECK(prefixes_failed == (int)len, "%d of %zu header prefixes loaded", (int)len - prefixes_failed, len);
    CHECK(bad_failures == 0, "%d failures without a message naming the file", bad_failures);
    CHECK(loads > 0, "no damaged header loaded (some only change a metadata value)");
}

static void test_model_errors(void)
{
    int64_t i64[12] = {0};
    struct entry entries[] = {
        {"norm.alpha", "F32", 3, {1, 1, 4}, alpha, 16},
        {"proj.weight", "I64", 2, {3, 4}, i64, 96},
        {"out.bias", "F32", 1, {3}, bias, 12},
    };
    write_safetensors(entries, 3);
    check_load_error("tensor 'proj.weight' has dtype I64; expected F32, BF16 or F16");
    entries[1] = (struct entry){"proj.weight", "F32", 2, {4, 3}, proj, 48};
    write_safetensors(entries, 3);
    check_load_error("tensor 'proj.weight' has shape [4, 3]; the model expects [3, 4]");
    entries[1] = (struct entry){"proj.weight", "F32", 3, {1, 3, 4}, proj, 48};
    write_safetensors(entries, 3);
    check_load_error("tensor 'proj.weight' has shape [1, 3, 4]; the model expects [3, 4]");
    entries[1] = (struct entry){"proj.weight", "F32", 2, {3, 4}, proj, 48};
    write_safetensors(entries, 2);
    check_load_error("missing tensor 'out.bias' (the model expects [3])");
}

/* Many floats: the conversion runs in several parallel chunks. */
static void test_large_tensor(void)
{
    enum { ROWS = 600, COLS = 1000 };
    static const struct kiln_weight_desc big_weight[] = {
        {.name = "big", .rank = 2, .shape = {ROWS, COLS}, .fold_alpha = -1, .field_offset = 0}};
    static const struct kiln_model_desc big = {.name = "big", .num_weights = 1, .weights = big_weight,
                                               .weights_struct_size = sizeof(float *)};
    uint16_t *data = malloc(2 * ROWS * COLS);
    for (int i = 0; i < ROWS * COLS; i++)
        data[i] = bf16_of((float)(i % 251 - 125));
    char header[128], err[512] = "";
    snprintf(header, sizeof header, "{\"big\":{\"dtype\":\"BF16\",\"shape\":[%d,%d],\"data_offsets\":[0,%d]}}", ROWS,
             COLS, 2 * ROWS * COLS);
    write_raw(header, data, 2 * ROWS * COLS);
    free(data);
    struct kiln_weights w;
    CHECK(kiln_weights_load(&big, path, &w, err, sizeof err) == 0, "big: %s", err);
    const float *values = w.table ? *(const float **)w.table : NULL;
    int wrong = values ? 0 : -1;
    for (int i = 0; values && i < ROWS * COLS; i++)
        wrong += values[i] != (float)(i % 251 - 125);
    CHECK(wrong == 0, "%d of the big tensor's values differ", wrong);
    kiln_weights_free(&w);
}

static void test_random(void)
{
    char err[512] = "";
    struct kiln_weights a, b, c;
    CHECK(kiln_weights_random(&tiny, 42, &a, err, sizeof err) == 0, "%s", err);
    CHECK(kiln_weights_random(&tiny, 42, &b, err, sizeof err) == 0, "%s", err);
    CHECK(kiln_weights_random(&tiny, 43, &c, err, sizeof err) == 0, "%s", err);
    CHECK(a.arena_bytes == 48 * sizeof(float) && memcmp(a.arena, b.arena, 48 * sizeof(float)) == 0, "same seed, different weights");
    CHECK(memcmp(a.arena, c.arena, 48 * sizeof(float)) != 0, "different seeds, same weights");
    const struct tiny_weights *t = a.table;
    int in_range = 1;
    for (int i = 0; i < 4; i++)
        in_range &= fabsf(t->norm_alpha[i] - 1) <= 1.0f / 16;
    for (int i = 0; i < 3; i++)
        in_range &= fabsf(t->bias[i]) <= 1 / sqrtf(3);
    for (int i = 0; i < 12; i++)
        in_range &= fabsf(t->proj[i] / t->norm_alpha[i % 4]) <= 0.5f + 1e-6f;
    CHECK(in_range, "random weights out of their documented ranges");
    CHECK(t->proj[0] != t->proj[1] && t->bias[0] != t->bias[1], "random weights repeat");
    kiln_weights_free(&a);
    kiln_weights_free(&b);
    kiln_weights_free(&c);
}

int main(void)
{
    char dir[64] = "/tmp/kiln_test_weights_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    test_good_files();
    test_escapes_and_unused();
    test_file_errors();
    test_model_errors();
    test_damaged_headers();
    test_large_tensor();
    test_random();
    remove(path);
    rmdir(dir);
    return check_finish();
}
