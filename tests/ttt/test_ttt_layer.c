/* test_ttt_layer.c: one TTT layer (ttt-lm-pytorch's TTTLinear / TTTMLP) through the kernel kilnc
 * emits, against the reference's outputs (tests/goldens/ttt_*): the full-sequence dual form, the
 * decode path one token at a time, and a 32-token prefill followed by decoding; f32 and bf16
 * weights. The projections around the kernel are plain loops here.
 * Built by tests/ttt.sh with -include of gen_ttt's output.
 * usage: test_ttt_layer GOLDEN_DIR linear|mlp HEADS MINI_BATCH */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "npy.h"
#include "safetensors.h"

struct layer {
    int D, NH, HD, MB;
    float *q, *k, *v, *o, *lr_w;       /* [D][D] (out, in), lr_w [NH][D] */
    struct ttt_weights p;
};

static float *tensor(const struct st_file *f, const char *name, size_t expect)
{
    const struct st_tensor *t = st_find(f, name);
    if (!t) {
        fprintf(stderr, "%s: missing %s\n", f->path, name);
        exit(1);
    }
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->shape[i];
    if (expect && n != expect) {
        fprintf(stderr, "%s: %s has %zu values, expected %zu\n", f->path, name, n, expect);
        exit(1);
    }
    float *x = malloc(n * sizeof *x);
    st_to_f32(t, x);
    return x;
}

static void load(const char *path, struct layer *L, float base_lr, bool mlp)
{
    struct st_file f;
    char err[512];
    if (st_open(path, &f, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    const int D = L->D, F = mlp ? 4 * L->HD : L->HD;
    L->q = tensor(&f, "q_proj.weight", (size_t)D * D), L->k = tensor(&f, "k_proj.weight", (size_t)D * D);
    L->v = tensor(&f, "v_proj.weight", (size_t)D * D), L->o = tensor(&f, "o_proj.weight", (size_t)D * D);
    L->lr_w = tensor(&f, "learnable_ttt_lr_weight", (size_t)L->NH * D);
    float *rope_cs = malloc((size_t)L->MB * 2 * L->HD * sizeof *rope_cs); /* [b][2][hd], struct ttt_weights */
    for (int pos = 0; pos < L->MB; pos++)
        for (int j = 0; j < L->HD; j++) {
            const float angle = (float)pos * (1.0f / powf(10000.0f, (float)(j / 2 * 2) / (float)L->HD));
            rope_cs[((size_t)pos * 2 + 0) * L->HD + j] = cosf(angle);
            rope_cs[((size_t)pos * 2 + 1) * L->HD + j] = j % 2 ? sinf(angle) : -sinf(angle);
        }
    L->p = (struct ttt_weights){
        .W1 = tensor(&f, "W1", (size_t)L->NH * L->HD * F), .b1 = tensor(&f, "b1", (size_t)L->NH * F),
        .W2 = mlp ? tensor(&f, "W2", (size_t)L->NH * L->HD * F) : NULL, .b2 = mlp ? tensor(&f, "b2", (size_t)D) : NULL,
        .norm_w = tensor(&f, "ttt_norm_weight", (size_t)D), .norm_b = tensor(&f, "ttt_norm_bias", (size_t)D),
        .lr_bias = tensor(&f, "learnable_ttt_lr_bias", (size_t)L->NH),
        .token_idx = tensor(&f, "learnable_token_idx", (size_t)L->MB),
        .post_w = tensor(&f, "post_norm.weight", (size_t)D), .post_b = tensor(&f, "post_norm.bias", (size_t)D),
        .rope_cs = rope_cs, .base_lr = base_lr, .eps = 1e-6f};
    st_close(&f);
}

static void free_layer(struct layer *L)
{
    free(L->q), free(L->k), free(L->v), free(L->o), free(L->lr_w);
    free((void *)L->p.W1), free((void *)L->p.b1), free((void *)L->p.W2), free((void *)L->p.b2);
    free((void *)L->p.norm_w), free((void *)L->p.norm_b), free((void *)L->p.lr_bias), free((void *)L->p.token_idx);
    free((void *)L->p.post_w), free((void *)L->p.post_b), free((void *)L->p.rope_cs);
}

/* y[T][R] = x[T][C] W^T, W [R][C] */
static void linear(const float *x, const float *W, float *y, int T, int R, int C)
{
    for (int t = 0; t < T; t++)
        for (int r = 0; r < R; r++) {
            float s = 0.0f;
            for (int c = 0; c < C; c++)
                s += x[(size_t)t * C + c] * W[(size_t)r * C + c];
            y[(size_t)t * R + r] = s;
        }
}

/* The layer over X[T][D] fed in calls of the given sizes (summing to T). */
static void run_layer(const struct layer *L, const float *X, int T, const int *calls, int ncalls, float *out)
{
    const int D = L->D;
    float *xq = malloc((size_t)T * D * sizeof(float)), *xk = malloc((size_t)T * D * sizeof(float));
    float *xv = malloc((size_t)T * D * sizeof(float)), *lr = malloc((size_t)T * L->NH * sizeof(float));
    float *z = malloc((size_t)T * D * sizeof(float));
    linear(X, L->q, xq, T, D, D), linear(X, L->k, xk, T, D, D), linear(X, L->v, xv, T, D, D);
    linear(X, L->lr_w, lr, T, L->NH, D);
    TTT_STATE *st = calloc(1, sizeof *st);
    float *work = malloc((size_t)(2 * T * D + L->NH * 4 * L->MB * 4 * L->HD) * sizeof(float));
    int t0 = 0;
    for (int c = 0; c < ncalls; c++) {
        TTT_KERNEL(&L->p, st, xq + (size_t)t0 * D, xk + (size_t)t0 * D, xv + (size_t)t0 * D, lr + (size_t)t0 * L->NH,
                   t0, calls[c], work, z + (size_t)t0 * D);
        t0 += calls[c];
    }
    linear(z, L->o, out, T, D, D);
    free(xq), free(xk), free(xv), free(lr), free(z), free(st), free(work);
}

static double compare(const float *got, const char *dir, const char *file, size_t n)
{
    char path[1024], err[512];
    struct npy_array ref;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (npy_read(path, &ref, err, sizeof err) || ref.count != n) {
        fprintf(stderr, "%s: %s\n", path, err);
        return INFINITY;
    }
    double max_ref = 0, max_err = 0;
    for (size_t i = 0; i < n; i++) {
        float r = ((float *)ref.data)[i];
        max_ref = fmax(max_ref, fabs(r));
        max_err = fmax(max_err, fabs((double)got[i] - r));
    }
    npy_free(&ref);
    return max_err / max_ref;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: test_ttt_layer GOLDEN_DIR linear|mlp HEADS MINI_BATCH\n");
        return 2;
    }
    const char *dir = argv[1];
    bool mlp = strcmp(argv[2], "mlp") == 0;
    char path[1024], err[512];
    struct npy_array x;
    snprintf(path, sizeof path, "%s/hidden_states.npy", dir);
    if (npy_read(path, &x, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const int T = (int)x.shape[1], D = (int)x.shape[2];
    struct layer L = {.D = D, .NH = atoi(argv[3]), .MB = atoi(argv[4])};
    L.HD = D / L.NH;
    float *out = malloc((size_t)T * D * sizeof(float));
    int whole[1] = {T}, ones[4096], prefill[4096];
    for (int t = 0; t < T; t++)
        ones[t] = 1, prefill[t] = 1;
    prefill[0] = 32;
    static const struct { const char *weights, *golden, *what; int mode; } cases[] = {
        {"weights.safetensors", "output.npy", "full sequence (dual form)", 0},
        {"weights.safetensors", "output_decode_1by1.npy", "one token at a time", 1},
        {"weights.safetensors", "output_prefill32_decode.npy", "32-token prefill, then one at a time", 2},
        {"weights_bf16.safetensors", "output_bf16w.npy", "full sequence, bf16 weights", 0},
    };
    for (int c = 0; c < 4; c++) {
        snprintf(path, sizeof path, "%s/%s", dir, cases[c].weights);
        load(path, &L, 1.0f, mlp);
        if (cases[c].mode == 0)
            run_layer(&L, x.data, T, whole, 1, out);
        else if (cases[c].mode == 1)
            run_layer(&L, x.data, T, ones, T, out);
        else
            run_layer(&L, x.data, T, prefill, T - 31, out);
        double e = compare(out, dir, cases[c].golden, (size_t)T * D);
        free_layer(&L);
        printf("  %s %s: relative error %.3g\n", argv[2], cases[c].what, e);
        CHECK(e <= 1e-5, "%s %s: %g", argv[2], cases[c].what, e);
    }
    npy_free(&x);
    free(out);
    return check_finish();
}
