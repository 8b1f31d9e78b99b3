/* weights.c: fills a model's generated weight table from a checkpoint (or with random values for
 * bench). Every weight lives in one KILN_ALIGN-aligned arena, each tensor starting on a KILN_ALIGN
 * boundary, in its format (kiln_format.h) and layout; the table's pointer fields point into it. A
 * tensor is converted to f32 first (in its slot, or one tensor at a time beside it), norm weights
 * that the descriptor folds into a following matmul scale that matrix's columns once, in f32, then
 * it is stored in its format, packed. A codec's codebook (embedding_sum) is divided row by row by
 * its cluster_usage as it is converted, before it is rounded or laid out. */
#include "kiln_format.h"
#include "kiln_rt.h"
#include "kw.h"
#include "pages.h"
#include "report.h"
#include "safetensors.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef _OPENMP
#define PRAGMA(text) _Pragma(#text)
#define PARALLEL_FOR(condition) PRAGMA(omp parallel for schedule(static) if(condition))
#define PARALLEL_FOR_SUM(sum, condition) PRAGMA(omp parallel for schedule(static) reduction(+ : sum) if(condition))
#else
#define PARALLEL_FOR(condition)
#define PARALLEL_FOR_SUM(sum, condition)
#endif

#define CONVERT_CHUNK ((size_t)1 << 18) /* floats per parallel conversion task */

static size_t weight_numel(const struct kiln_weight_desc *w)
{
    size_t numel = 1;
    for (int i = 0; i < w->rank; i++)
        numel *= (size_t)w->shape[i];
    return numel;
}

static void *weight_data(const struct kiln_model_desc *desc, const struct kiln_weights *out, int i)
{
    return *(void **)((char *)out->table + desc->weights[i].field_offset);
}

/* Rows of w as a matrix [rows][last dimension] (a vector is one row) */
static size_t weight_rows(const struct kiln_weight_desc *w)
{
    const size_t cols = kiln_matrix_cols(w->rank, w->shape, w->transposed);
    return cols ? weight_numel(w) / cols : 0;
}

/* Whether weight j is what another weight's rows are divided by (a codebook's cluster_usage) */
static bool is_divisor(const struct kiln_model_desc *desc, int j)
{
    for (int i = 0; i < desc->num_weights; i++)
        if (desc->weights[i].fold_alpha == j && desc->weights[i].fold == KILN_FOLD_DIVIDE_ROWS)
            return true;
    return false;
}

/* Checks the descriptor's own consistency: ranks, and that each fold reads a weight that is not
   itself folded (folds read it as the checkpoint holds it) with one value per column of an f32
   matrix (KILN_FOLD_COLUMNS) or one per row of a weight of any format (KILN_FOLD_DIVIDE_ROWS). */
static int check_desc(const struct kiln_model_desc *desc, char *err, size_t errlen)
{
    for (int i = 0; i < desc->num_weights; i++) {
        const struct kiln_weight_desc *w = &desc->weights[i];
        if (w->rank < 0 || w->rank > KILN_MAX_RANK)
            return kiln_report(err, errlen, desc->name, "weight '%s' has rank %d", w->name, w->rank);
        for (int d = 0; d < w->rank; d++)
            if (w->shape[d] < 0)
                return kiln_report(err, errlen, desc->name, "weight '%s' has a negative dimension", w->name);
        if (w->format < 0 || w->format >= KILN_NUM_FORMATS || w->rounding < 0 || w->rounding >= KILN_NUM_FORMATS)
            return kiln_report(err, errlen, desc->name, "weight '%s' has an unknown format", w->name);
        if (w->transposed && (w->rank < 2 || w->fold_alpha >= 0))
            return kiln_report(err, errlen, desc->name, "weight '%s' cannot be transposed", w->name);
        int j = w->fold_alpha;
        if (j < 0)
            continue;
        if (w->fold != KILN_FOLD_COLUMNS && w->fold != KILN_FOLD_DIVIDE_ROWS)
            return kiln_report(err, errlen, desc->name, "weight '%s' has an unknown fold %d", w->name, w->fold);
        if (j >= desc->num_weights || j == i || desc->weights[j].fold_alpha >= 0 || w->rank < 1)
            return kiln_report(err, errlen, desc->name, "weight '%s' cannot fold weight %d", w->name, j);
        const size_t other = weight_numel(&desc->weights[j]);
        if (w->fold == KILN_FOLD_COLUMNS && (w->format != KILN_F32 || desc->weights[j].format != KILN_F32 ||
                                             other != (size_t)w->shape[w->rank - 1]))
            return kiln_report(err, errlen, desc->name, "weight '%s' cannot fold weight %d", w->name, j);
        if (w->fold == KILN_FOLD_DIVIDE_ROWS && other != weight_rows(w))
            return kiln_report(err, errlen, desc->name, "weight '%s' cannot divide its %zu rows by weight %d's %zu "
                               "values", w->name, weight_rows(w), j, other);
    }
    return 0;
}

static size_t stored_elements(const struct kiln_weight_desc *w)
{
    return kiln_stored_elements(weight_numel(w), kiln_matrix_cols(w->rank, w->shape, w->transposed), w->pack_nr, w->pack_rows,
                                w->pack_gated != 0);
}

size_t weights_stored_bytes(const struct kiln_weight_desc *w) { return kiln_format_bytes_of(w->format, stored_elements(w)); }

static size_t slot_bytes(const struct kiln_weight_desc *w)
{
    return kiln_slot_bytes(weight_numel(w), kiln_matrix_cols(w->rank, w->shape, w->transposed), w->pack_nr, w->pack_rows,
                           w->pack_gated != 0, w->format);
}

/* (a packed slot's padding is 0; a block format's values are finite where its scales are: the
   count is of the scales, as f16) */
size_t weights_count_nonfinite(const struct kiln_weight_desc *w, const void *data)
{
    size_t bad = 0, n = stored_elements(w);
    if (kiln_format_is_block(w->format)) {
        const uint8_t *bytes = data;
        const size_t units = n / KILN_QBLOCK, nr = w->pack_nr ? (size_t)w->pack_nr : 1, unit = kiln_unit_bytes(w->format);
        for (size_t u = 0; u < units; u++) { /* unit u: scale u % nr of the u / nr-th group of nr units */
            uint16_t h;
            memcpy(&h, bytes + u / nr * unit * nr + (w->pack_nr ? 2 * (u % nr) : 0), 2);
            bad += !isfinite(kiln_f32_from_f16(h));
        }
        return bad;
    }
    for (size_t e = 0; e < n; e++)
        bad += !isfinite(kiln_load_as_f32(w->format, data, e));
    return bad;
}

/* Lane j of a panel (of w's block b, panel p): the row of src it holds, or -1 for padding */
static long long panel_row(const struct kiln_weight_desc *w, size_t b, size_t p, size_t j)
{
    const size_t nr = (size_t)w->pack_nr, half = nr / 2, block_rows = (size_t)w->pack_rows;
    const size_t row = w->pack_gated ? p * half + j % half : p * nr + j;
    if (row >= block_rows)
        return -1;
    return (long long)(b * (w->pack_gated ? 2 * block_rows : block_rows) + row + (w->pack_gated && j >= half ? block_rows : 0));
}

/* A panel of a block format, [column block][scales: nr f16][quants]: the quants in groups of 4
   columns of W = nr / 2 rows ([group][half][W][4] bytes), the unit an integer dot product of 4 bytes
   per lane reads; a q8_0 quant offset to unsigned, a q4_0 byte as ggml's (columns g and g + 16 in its
   nibbles; kiln_panel_zero). Padding lanes are zero. */
static void lay_out_block_panel(const struct kiln_weight_desc *w, const float *src, uint8_t *panel, size_t b, size_t p)
{
    const size_t cols = kiln_matrix_cols(w->rank, w->shape, w->transposed), nr = (size_t)w->pack_nr, W = nr / 2;
    const size_t unit = kiln_unit_bytes(w->format), groups = kiln_panel_groups(w->format);
    uint8_t block[2 + KILN_QBLOCK];
    for (size_t k = 0; k < cols / KILN_QBLOCK; k++) {
        uint8_t *dst = panel + k * unit * nr;
        for (size_t j = 0; j < nr; j++) {
            const long long row = panel_row(w, b, p, j);
            if (row < 0)
                continue;
            kiln_quantize_row(w->format, src + (size_t)row * cols + k * KILN_QBLOCK, block, KILN_QBLOCK);
            memcpy(dst + 2 * j, block, 2);
            for (size_t g = 0; g < groups; g++)
                for (size_t i = 0; i < 4; i++)
                    dst[2 * nr + ((g * 2 + j / W) * W + j % W) * 4 + i] =
                        (uint8_t)(block[2 + 4 * g + i] + (w->format == KILN_Q8_0 ? kiln_panel_zero(w->format) : 0));
        }
    }
}

/* Row-major f32 values src -> dst in w's layout and format (see kiln_weight_desc). */
static void lay_out(const struct kiln_weight_desc *w, const float *src, void *dst)
{
    const size_t numel = weight_numel(w), cols = kiln_matrix_cols(w->rank, w->shape, w->transposed);
    if (!w->pack_nr && kiln_format_is_block(w->format)) { /* ggml's blocks, row after row */
        const long long rows = (long long)(numel / cols);
        PARALLEL_FOR(rows > 64)
        for (long long r = 0; r < rows; r++)
            kiln_quantize_row(w->format, src + (size_t)r * cols, (uint8_t *)dst + kiln_format_bytes_of(w->format, (size_t)r * cols), cols);
        return;
    }
    if (!w->pack_nr) {
        const long long n = (long long)numel;
        PARALLEL_FOR(n > (long long)CONVERT_CHUNK)
        for (long long e = 0; e < n; e++)
            kiln_store_from_f32(w->format, dst, (size_t)e, src[e]);
        return;
    }
    const size_t nr = (size_t)w->pack_nr, panels = kiln_panels_per_block(w->pack_nr, w->pack_rows, w->pack_gated != 0);
    const size_t blocks = numel / cols / (w->pack_gated ? 2 * (size_t)w->pack_rows : (size_t)w->pack_rows);
    long long units = (long long)(blocks * panels);
    PARALLEL_FOR(units > 8)
    for (long long u = 0; u < units; u++) {
        size_t b = (size_t)u / panels, p = (size_t)u % panels, panel = (size_t)u * cols * nr;
        if (kiln_format_is_block(w->format)) {
            lay_out_block_panel(w, src, (uint8_t *)dst + kiln_format_bytes_of(w->format, panel), b, p);
            continue;
        }
        for (size_t j = 0; j < nr; j++) {
            const long long row = panel_row(w, b, p, j);
            for (size_t c = 0; c < cols; c++)
                kiln_store_from_f32(w->format, dst, panel + c * nr + j, row >= 0 ? src[(size_t)row * cols + c] : 0.0f);
        }
    }
}

/* After the folds: every f32 weight that is packed into its panels (the others were laid out as
   they were converted). */
static int apply_packing(const struct kiln_model_desc *desc, struct kiln_weights *out, const char *prefix, char *err,
                         size_t errlen)
{
    for (int i = 0; i < desc->num_weights; i++) {
        const struct kiln_weight_desc *w = &desc->weights[i];
        if (!w->pack_nr || w->format != KILN_F32)
            continue;
        float *copy = malloc(weight_numel(w) * sizeof *copy);
        if (!copy)
            return kiln_report(err, errlen, prefix, "out of memory packing '%s'", w->name);
        memcpy(copy, weight_data(desc, out, i), weight_numel(w) * sizeof *copy);
        lay_out(w, copy, weight_data(desc, out, i));
        free(copy);
    }
    return 0;
}

size_t kiln_weight_bytes(const struct kiln_weight_desc *w) { return slot_bytes(w); }

size_t kiln_weights_bytes(const struct kiln_model_desc *desc)
{
    size_t total = 0;
    for (int i = 0; i < desc->num_weights; i++)
        total += slot_bytes(&desc->weights[i]);
    return total;
}

/* Values rounded through w->rounding, in place (an f32 weight of a low-precision model) */
static void apply_rounding(const struct kiln_weight_desc *w, float *values)
{
    if (w->rounding == KILN_F32)
        return;
    const long long n = (long long)weight_numel(w);
    PARALLEL_FOR(n > (long long)CONVERT_CHUNK)
    for (long long e = 0; e < n; e++)
        values[e] = kiln_round_to(w->rounding, values[e]);
}

/* Lays the weights out in one arena (padding zeroed, so that equal weights give equal arenas) and
   points the table's fields into it. */
static int allocate(const struct kiln_model_desc *desc, struct kiln_weights *out, const char *prefix,
                    char *err, size_t errlen)
{
    const size_t total = kiln_weights_bytes(desc);
    size_t staging = 0; /* (the f32 copy of the largest weight stored in another format: f32_values) */
    for (int i = 0; i < desc->num_weights; i++)
        if (desc->weights[i].format != KILN_F32 && weight_numel(&desc->weights[i]) * sizeof(float) > staging)
            staging = weight_numel(&desc->weights[i]) * sizeof(float);
    if (kiln_memory_guard(desc, (int64_t)staging, err, errlen))
        return 1;
    out->arena = kiln_alloc_streamed(total, NULL);
    out->table = calloc(1, desc->weights_struct_size ? desc->weights_struct_size : 1);
    if (!out->arena || !out->table) {
        kiln_weights_free(out);
        return kiln_report(err, errlen, prefix, "out of memory (%zu bytes for the weights)", total);
    }
    out->arena_bytes = total;
    char *next = out->arena;
    for (int i = 0; i < desc->num_weights; i++) {
        *(void **)((char *)out->table + desc->weights[i].field_offset) = next;
        next += slot_bytes(&desc->weights[i]);
    }
    return 0;
}

/* W[r][c] *= alpha[c] for every matrix with a column fold; the alphas themselves are never folded. */
static void apply_folds(const struct kiln_model_desc *desc, struct kiln_weights *out)
{
    for (int i = 0; i < desc->num_weights; i++) {
        const struct kiln_weight_desc *w = &desc->weights[i];
        if (w->fold_alpha < 0 || w->fold != KILN_FOLD_COLUMNS)
            continue;
        const float *alpha = weight_data(desc, out, w->fold_alpha);
        float *matrix = weight_data(desc, out, i);
        size_t cols = (size_t)w->shape[w->rank - 1];
        long long rows = cols ? (long long)(weight_numel(w) / cols) : 0;
        PARALLEL_FOR(rows > 256)
        for (long long r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++)
                matrix[(size_t)r * cols + c] *= alpha[c];
    }
}

/* W[r][c] /= max(usage[r], 1e-5), in f32 (Mimi's codebook vectors: embedding_sum / cluster_usage
   clamped as torch's clamp(min=eps) does, NaN kept) */
static void divide_rows(const struct kiln_weight_desc *w, const float *usage, float *values)
{
    const long long rows = (long long)weight_rows(w);
    const size_t cols = rows ? weight_numel(w) / (size_t)rows : 0;
    PARALLEL_FOR(rows > 256)
    for (long long r = 0; r < rows; r++) {
        const float divisor = usage[r] < 1e-5f ? 1e-5f : usage[r];
        for (size_t c = 0; c < cols; c++)
            values[(size_t)r * cols + c] /= divisor;
    }
}

/* Finds every weight in the file and checks its dtype and shape; found[i] is weight i's tensor. */
static int match_tensors(const struct kiln_model_desc *desc, const struct st_file *file,
                         const struct st_tensor **found, char *err, size_t errlen)
{
    for (int i = 0; i < desc->num_weights; i++) {
        const struct kiln_weight_desc *w = &desc->weights[i];
        const struct st_tensor *t = st_find(file, w->name);
        char expected[160], actual[160];
        st_format_shape(expected, sizeof expected, w->rank, w->shape);
        if (!t)
            return kiln_report(err, errlen, file->path, "missing tensor '%s' (the model expects %s)", w->name, expected);
        if (t->dtype == ST_OTHER)
            return kiln_report(err, errlen, file->path, "tensor '%s' has dtype %s; expected F32, BF16 or F16",
                        w->name, t->dtype_name);
        int same = t->rank == w->rank;
        for (int d = 0; same && d < w->rank; d++)
            same = t->shape[d] == w->shape[d];
        st_format_shape(actual, sizeof actual, t->rank, t->shape);
        if (!same)
            return kiln_report(err, errlen, file->path, "tensor '%s' has shape %s; the model expects %s", w->name,
                        actual, expected);
        found[i] = t;
    }
    return 0;
}

static size_t count_nonfinite(const float *x, size_t n)
{
    size_t bad = 0;
    for (size_t e = 0; e < n; e++)
        bad += !isfinite(x[e]);
    return bad;
}

/* Converts t into dst (f32), chunks in parallel; returns how many of its values are NaN or Inf (counted
   while each chunk is still in cache). */
static size_t convert(const struct st_tensor *t, float *dst, size_t numel)
{
    long long chunks = (long long)((numel + CONVERT_CHUNK - 1) / CONVERT_CHUNK);
    size_t bad = 0;
    PARALLEL_FOR_SUM(bad, chunks > 1)
    for (long long c = 0; c < chunks; c++) {
        size_t first = (size_t)c * CONVERT_CHUNK;
        size_t count = numel - first < CONVERT_CHUNK ? numel - first : CONVERT_CHUNK;
        st_to_f32_range(t, first, count, dst + first);
        bad += count_nonfinite(dst + first, count);
    }
    return bad;
}

static bool strict_weights; /* kiln_set_strict_weights */
static bool copy_weights;   /* kiln_set_copy_weights */

void kiln_set_strict_weights(int strict)
{
    strict_weights = strict != 0;
}

void kiln_set_copy_weights(int copy)
{
    copy_weights = copy != 0;
}

/* `bad` NaN or Inf values in weight w: a warning naming the tensor, or (strict) an error. */
static int check_finite(const struct kiln_weight_desc *w, size_t bad, const char *path, char *err, size_t errlen)
{
    if (!bad)
        return 0;
    if (strict_weights)
        return kiln_report(err, errlen, path, "tensor '%s' holds %zu NaN or Inf values (of %zu); strict loading "
                           "refuses them", w->name, bad, weight_numel(w));
    fprintf(stderr, "%s: warning: tensor '%s' holds %zu NaN or Inf values (of %zu)\n", path, w->name, bad,
            weight_numel(w));
    return 0;
}

/* The length of name's codebook prefix, "quantizer.<part>.vq.layers.<N>._codebook.", or 0 */
static size_t codebook_prefix(const char *name)
{
    static const char head[] = "quantizer.", layers[] = ".vq.layers.", tail[] = "._codebook.";
    const char *p = strncmp(name, head, sizeof head - 1) == 0 ? strstr(name, layers) : NULL;
    if (!p || !isdigit((unsigned char)p[sizeof layers - 1]))
        return 0;
    for (p += sizeof layers - 1; isdigit((unsigned char)*p);)
        p++;
    return strncmp(p, tail, sizeof tail - 1) == 0 ? (size_t)(p - name) + sizeof tail - 1 : 0;
}

/* Whether one of desc's first `count` weights is of the codebook whose names begin with prefix[0..n) */
static bool reads_codebook(const struct kiln_model_desc *desc, int count, const char *prefix, size_t n)
{
    for (int i = 0; i < count; i++)
        if (strncmp(desc->weights[i].name, prefix, n) == 0 && codebook_prefix(desc->weights[i].name) == n)
            return true;
    return false;
}

/* The codebooks desc reads */
static int codebooks_read(const struct kiln_model_desc *desc)
{
    int codebooks = 0;
    for (int i = 0; i < desc->num_weights; i++) {
        const size_t n = codebook_prefix(desc->weights[i].name);
        codebooks += n && !reads_codebook(desc, i, desc->weights[i].name, n);
    }
    return codebooks;
}

/* One warning line per tensor in the file that no weight reads. A codec's checkpoint holds more
   quantizer codebooks than a model may use (Mimi: 32, Moshi's 8): those are counted in one note, and
   the `_initialized` flags of the codebooks it uses are passed over. */
static void warn_unused(const struct kiln_model_desc *desc, const struct st_file *file, const struct st_tensor **found)
{
    char *used = calloc((size_t)file->num_tensors + 1, 1);
    for (int i = 0; used && i < desc->num_weights; i++)
        used[found[i] - file->tensors] = 1;
    int skipped = 0;
    const char *last = NULL;         /* a tensor of the last codebook skipped (the file's names are sorted) */
    for (int i = 0; i < file->num_tensors; i++) {
        const char *name = file->tensors[i].name;
        const size_t n = desc->kind == KILN_MODEL_CODEC ? codebook_prefix(name) : 0;
        const bool read = n && reads_codebook(desc, desc->num_weights, name, n);
        if ((used && used[i]) || (read && strcmp(name + n, "_initialized") == 0))
            continue;
        if (n && !read) {
            skipped += !last || strncmp(last, name, n) != 0 || codebook_prefix(last) != n;
            last = name;
            continue;
        }
        char escaped[512];
        kiln_escape(escaped, sizeof escaped, name);
        fprintf(stderr, "%s: warning: unused tensor '%s'\n", file->path, escaped);
    }
    if (skipped)
        fprintf(stderr, "note: %s: skipping %d quantizer codebooks beyond the %d the model uses\n", file->path, skipped,
                codebooks_read(desc));
    free(used);
}

/* Where weight w's f32 values go first: its slot itself (folded and packed later), or for another
   format an f32 copy of this tensor alone; NULL when out of memory. */
static float *f32_values(const struct kiln_weight_desc *w, void *slot)
{
    return w->format == KILN_F32 ? slot : malloc(weight_numel(w) * sizeof(float) + 1);
}

/* The values (rounded through w->rounding already, or now) laid out in the slot in another format
   and freed */
static void store_values(const struct kiln_weight_desc *w, float *values, void *slot, bool rounded)
{
    if (!rounded)
        apply_rounding(w, values);
    if (w->format != KILN_F32) {
        lay_out(w, values, slot);
        free(values);
    }
}

/* values [shape[0]][rest] -> [rest][shape[0]]: a transposed weight as its kernels read it */
static int transpose(const struct kiln_weight_desc *w, float *values)
{
    const size_t rows = (size_t)w->shape[0], cols = weight_numel(w) / rows;
    float *copy = malloc(weight_numel(w) * sizeof *copy + 1);
    if (!copy)
        return 1;
    memcpy(copy, values, weight_numel(w) * sizeof *copy);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            values[c * rows + r] = copy[r * cols + c];
    free(copy);
    return 0;
}

static bool divides_rows(const struct kiln_weight_desc *w)
{
    return w->fold_alpha >= 0 && w->fold == KILN_FOLD_DIVIDE_ROWS;
}

/* A codebook: its embedding sums and their divisors each rounded through its own format, as the
   checkpoint's tensors are stored, then divided in f32 (the quotient is not rounded again) */
static void divide_rounded(const struct kiln_model_desc *desc, const struct kiln_weight_desc *w, float *usage, float *values)
{
    apply_rounding(&desc->weights[w->fold_alpha], usage);
    apply_rounding(w, values);
    divide_rows(w, usage, values);
}

/* Weight i from its tensor (found[i]); a row fold reads its divisor's tensor as the file holds it. */
static int load_one(const struct kiln_model_desc *desc, int i, const struct st_tensor **found, void *slot,
                    const char *path, char *err, size_t errlen)
{
    const struct kiln_weight_desc *w = &desc->weights[i];
    float *values = f32_values(w, slot);
    if (!values)
        return kiln_report(err, errlen, path, "out of memory converting '%s'", w->name);
    int rc = check_finite(w, convert(found[i], values, weight_numel(w)), path, err, errlen);
    if (!rc && w->transposed && transpose(w, values))
        rc = kiln_report(err, errlen, path, "out of memory converting '%s'", w->name);
    if (!rc && divides_rows(w)) {
        float *usage = malloc(weight_rows(w) * sizeof *usage + 1);
        if (usage) {
            st_to_f32(found[w->fold_alpha], usage);
            divide_rounded(desc, w, usage, values);
        } else
            rc = kiln_report(err, errlen, path, "out of memory converting '%s'", w->name);
        free(usage);
    }
    store_values(w, values, slot, divides_rows(w));
    return rc;
}

int kiln_weights_load(const struct kiln_model_desc *desc, const char *path, struct kiln_weights *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (check_desc(desc, err, errlen))
        return 1;
    if (kw_is_kw(path)) {
        /* (a mapped file is only read through when strict: `pack` warned when it was written) */
        if (kw_load(desc, path, copy_weights, out, err, errlen))
            return 1;
        int rc = 0;
        for (int i = 0; strict_weights && !rc && i < desc->num_weights; i++)
            rc = check_finite(&desc->weights[i], weights_count_nonfinite(&desc->weights[i], weight_data(desc, out, i)),
                              path, err, errlen);
        if (rc)
            kiln_weights_free(out);
        return rc;
    }
    struct st_file file;
    if (st_open(path, &file, err, errlen))
        return 1;
    const struct st_tensor **found = calloc((size_t)desc->num_weights + 1, sizeof *found);
    int rc = !found ? kiln_report(err, errlen, path, "out of memory")
                    : match_tensors(desc, &file, found, err, errlen) || allocate(desc, out, path, err, errlen);
    if (!rc) {
        for (int i = 0; i < desc->num_weights && !rc; i++) {
            rc = load_one(desc, i, found, weight_data(desc, out, i), path, err, errlen);
            st_release(&file, found[i]);
        }
        if (!rc) {
            apply_folds(desc, out);
            rc = apply_packing(desc, out, path, err, errlen);
        }
        if (!rc)
            warn_unused(desc, &file, found);
        else
            kiln_weights_free(out);
    }
    free(found);
    st_close(&file);
    return rc;
}

/* The random generator (stable: bench numbers and tests depend on it): element e of weight i is
   u = mix(mix(seed ^ (i + 1) * G) + (e + 1) * G), G = 0x9E3779B97F4A7C15 and mix splitmix64's
   finalizer; x = the top 24 bits of u as a uniform in [-1, 1). Norm weights (names ending in
   ".alpha" or "norm_weight", or shape [1, 1, D]; in a codec also a LayerNorm's "normN.weight") get
   1 + x / 16; every other weight x / sqrt(last dimension), or in a codec x / sqrt(fan-in), its
   values per first index (a conv's in x kernel). A weight that another's rows are divided by (a
   codebook's cluster_usage) gets |v| + 1 of its value v. Each value depends on (seed, i, e) only, so
   the thread count does not matter. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* A LayerNorm's weight: "...normN.weight" or "...norm.weight" */
static bool is_layer_norm_weight(const struct kiln_weight_desc *w)
{
    const size_t len = strlen(w->name);
    if (w->rank != 1 || len < 11 || strcmp(w->name + len - 7, ".weight") != 0)
        return false;
    size_t end = len - 7;
    while (end > 0 && isdigit((unsigned char)w->name[end - 1]))
        end--;
    return end >= 4 && strncmp(w->name + end - 4, "norm", 4) == 0;
}

static bool is_norm_weight(const struct kiln_model_desc *desc, const struct kiln_weight_desc *w)
{
    size_t len = strlen(w->name);
    return (len >= 6 && !strcmp(w->name + len - 6, ".alpha")) ||
           (len >= 11 && !strcmp(w->name + len - 11, "norm_weight")) ||
           (w->rank == 3 && w->shape[0] == 1 && w->shape[1] == 1) ||
           (desc->kind == KILN_MODEL_CODEC && is_layer_norm_weight(w));
}

/* What x is scaled by (see above) */
static float random_scale(const struct kiln_model_desc *desc, const struct kiln_weight_desc *w)
{
    if (!w->rank)
        return 1.0f;
    const size_t fan_in = desc->kind == KILN_MODEL_CODEC && w->rank >= 2 && w->shape[0] ? weight_numel(w) / (size_t)w->shape[0]
                                                                                        : (size_t)w->shape[w->rank - 1];
    return 1.0f / sqrtf((float)fan_in);
}

/* Weight i's random values */
static void fill_random(const struct kiln_model_desc *desc, int i, uint64_t seed, float *dst)
{
    const uint64_t golden = 0x9E3779B97F4A7C15u, weight_seed = mix64(seed ^ (uint64_t)(i + 1) * golden);
    const struct kiln_weight_desc *w = &desc->weights[i];
    long long numel = (long long)weight_numel(w);
    const bool norm = is_norm_weight(desc, w), divisor = is_divisor(desc, i);
    float scale = norm ? 1.0f / 16 : random_scale(desc, w);
    PARALLEL_FOR(numel > 65536)
    for (long long e = 0; e < numel; e++) {
        uint64_t u = mix64(weight_seed + (uint64_t)(e + 1) * golden);
        float x = (float)(u >> 40) * 0x1p-23f - 1.0f;
        dst[e] = (norm ? 1.0f : 0.0f) + scale * x;
        if (divisor)
            dst[e] = fabsf(dst[e]) + 1.0f;
    }
}

int kiln_weights_random(const struct kiln_model_desc *desc, uint64_t seed, struct kiln_weights *out,
                        char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (check_desc(desc, err, errlen) || allocate(desc, out, desc->name, err, errlen))
        return 1;
    for (int i = 0; i < desc->num_weights; i++) {
        const struct kiln_weight_desc *w = &desc->weights[i];
        void *slot = weight_data(desc, out, i);
        float *values = f32_values(w, slot);
        if (!values) {
            kiln_weights_free(out);
            return kiln_report(err, errlen, desc->name, "out of memory converting '%s'", w->name);
        }
        fill_random(desc, i, seed, values);
        float *usage = divides_rows(w) ? malloc(weight_rows(w) * sizeof *usage + 1) : NULL;
        const bool failed = divides_rows(w) && !usage;
        if (usage) {
            fill_random(desc, w->fold_alpha, seed, usage);
            divide_rounded(desc, w, usage, values);
            free(usage);
        }
        store_values(w, values, slot, divides_rows(w));
        if (failed) {
            kiln_weights_free(out);
            return kiln_report(err, errlen, desc->name, "out of memory converting '%s'", w->name);
        }
    }
    apply_folds(desc, out);
    if (apply_packing(desc, out, desc->name, err, errlen)) {
        kiln_weights_free(out);
        return 1;
    }
    return 0;
}

void kiln_weights_free(struct kiln_weights *w)
{
    if (w->map)
        munmap(w->map, w->map_bytes);
    kiln_free_streamed(w->arena);
    free(w->table);
    memset(w, 0, sizeof *w);
}
