/* kernels_codec.c: the kernels of a codec's ops (ops.h: conv_window, bias_add, conv_transpose,
 * elu, layer_norm, gelu, scale_add, vq_encode, vq_decode) as kernel IR. Activations are
 * time-major, [row][channel]; every shape is a constant of the kernel, named in it. All but the
 * quantizer's share their rows (or columns) among the team: parallel loops, each with its barrier. */
#include <math.h>
#include "kernels.h"

static const char *symbol(const struct emitter *e, int index) { return e->kir.funcs[index]->symbol; }

/* The left context a causal conv keeps: (kernel - 1) * dilation + 1 - stride rows */
static int left_context(const struct ir_op *op) { return (op->kernel - 1) * op->dilation + 1 - op->stride; }

/* row r of [context; x] (L rows of context): dst[j * step] = src row's channel j, for j < C */
static void gather_row(struct kir_func *f, struct kir_node *context, struct kir_node *x, struct kir_node *r, int L, int C,
                       struct kir_node *dst, int step)
{
    kir_if(f, kir_binary(f, KIR_LT, r, INT(L)));
    struct kir_node *i = kir_for(f, "i", INT(0), INT(C), 1, 0);
    kir_store(f, dst, MUL(i, INT(step)), LOAD(context, ADD(MUL(r, INT(C)), i)));
    kir_end(f);
    kir_else(f);
    i = kir_for(f, "i", INT(0), INT(C), 1, 0);
    kir_store(f, dst, MUL(i, INT(step)), LOAD(x, ADD(MUL(SUB(r, INT(L)), INT(C)), i)));
    kir_end(f);
    kir_end(f);
}

const char *kernel_conv_window(struct emitter *e, const struct ir_graph *g, const struct ir_op *op)
{
    const int C = g->values[op->in[0]].len, T = g->values[op->in[0]].time, K = op->kernel, S = op->stride,
              D = op->dilation, L = left_context(op), rows = T / S;
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "conv_window_%d_k%d_s%d_d%d_t%d%s", C, K, S, D, T, op->replicate ? "_replicate" : "");
    if (found >= 0)
        return symbol(e, found);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "A causal conv's windows: col[t][i * %d + k] = [context; x][t * %d + k * %d][i] for %d rows of x[%d][%d]\n"
                                   "   after the %d rows of context, which then keeps the last %d rows%s", K, S, D, T, T, C, L, L,
                                   op->replicate ? "; the first call's context is x[0] repeated" : "");
    struct kir_node *x = kir_param(f, "x", in_ptr(), KIR_RESTRICT);
    struct kir_node *context = L > 0 ? kir_param(f, "context", out_ptr(), KIR_RESTRICT) : NULL;
    struct kir_node *col = kir_param(f, "col", out_ptr(), KIR_RESTRICT);
    struct kir_node *first = op->replicate ? kir_param(f, "first", i32_type(), 0) : NULL;
    if (first && L > 0) {
        kir_single(f);
        kir_if(f, kir_binary(f, KIR_NE, first, INT(0)));
        struct kir_node *j = kir_for(f, "j", INT(0), INT(L), 1, 0);
        kir_copy(f, kir_addr(f, context, MUL(j, INT(C))), x, INT(C));
        kir_end(f);
        kir_end(f);
        kir_end(f);
    }
    struct kir_node *t = kir_for(f, "t", INT(0), INT(rows), 1, KIR_PARALLEL);
    struct kir_node *k = kir_for(f, "k", INT(0), INT(K), 1, 0);
    struct kir_node *r = kir_decl(f, "r", ADD(MUL(t, INT(S)), MUL(k, INT(D))), KIR_CONSTANT);
    gather_row(f, context, x, r, L, C, kir_addr(f, col, ADD(MUL(t, INT(C * K)), k)), K);
    kir_end(f);
    kir_end(f);
    if (L > 0) {
        kir_comment(f, "the context: the last %d rows of [context; x], in order (a row may move down)", L);
        kir_single(f);
        struct kir_node *j = kir_for(f, "j", INT(0), INT(L), 1, 0);
        gather_row(f, context, x, ADD(j, INT(T)), L, C, kir_addr(f, context, MUL(j, INT(C))), 1);
        kir_end(f);
        kir_end(f);
    }
    return symbol(e, kernel_finish(e, f));
}

const char *kernel_bias_add(struct emitter *e, int n)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "bias_add_%d", n);
    if (index < 0) {
        struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0, "x[t][c] += bias[c]");
        struct kir_node *x = kir_param(f, "x", out_ptr(), KIR_RESTRICT), *bias = kir_param(f, "bias", in_ptr(), KIR_RESTRICT),
                        *T = kir_param(f, "T", i32_type(), 0);
        struct kir_node *t = kir_for(f, "t", INT(0), T, 1, KIR_PARALLEL);
        struct kir_node *c = kir_for(f, "c", INT(0), INT(n), 1, 0);
        struct kir_node *at = ADD(MUL(t, INT(n)), c);
        kir_store(f, x, at, ADD(LOAD(x, at), LOAD(bias, c)));
        kir_end(f);
        kir_end(f);
        index = kernel_finish(e, f);
    }
    return symbol(e, index);
}

/* A depthwise transposed conv's products: cols[t][o * K + k] = x[t][o] W[o][0][k] (its overlap-add
   is the next op) */
const char *kernel_conv_transpose(struct emitter *e, const struct ir_graph *g, const struct ir_op *op)
{
    const int C = g->values[op->in[0]].len, K = g->values[op->out].len / C;
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "depthwise_products_%d_k%d", C, K);
    if (found >= 0)
        return symbol(e, found);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "cols[t][o * %d + k] = x[t][o] W[o][k]: a depthwise transposed conv's products", K);
    struct kir_node *W = kir_param(f, "W", in_ptr(), KIR_RESTRICT), *x = kir_param(f, "x", in_ptr(), KIR_RESTRICT),
                    *cols = kir_param(f, "cols", out_ptr(), KIR_RESTRICT), *T = kir_param(f, "T", i32_type(), 0);
    struct kir_node *t = kir_for(f, "t", INT(0), T, 1, KIR_PARALLEL);
    struct kir_node *o = kir_for(f, "o", INT(0), INT(C), 1, 0);
    struct kir_node *xo = kir_decl(f, "xo", LOAD(x, ADD(MUL(t, INT(C)), o)), KIR_CONSTANT);
    struct kir_node *k = kir_for(f, "k", INT(0), INT(K), 1, 0);
    kir_store(f, cols, ADD(MUL(t, INT(C * K)), ADD(MUL(o, INT(K)), k)), MUL(xo, LOAD(W, ADD(MUL(o, INT(K)), k))));
    kir_end(f);
    kir_end(f);
    kir_end(f);
    return symbol(e, kernel_finish(e, f));
}

/* dst[o] += cols[t][o * K + k] for every (t, k) with t * S + k = r (k ascending) */
static void overlap_row(struct kir_func *f, struct kir_node *cols, struct kir_node *r, struct kir_node *dst, int T, int Cout,
                        int K, int S)
{
    struct kir_node *k = kir_for(f, "k", kir_binary(f, KIR_REM, r, INT(S)), INT(K), S, 0);
    struct kir_node *t = kir_decl(f, "t", DIV(SUB(r, k), INT(S)), KIR_CONSTANT);
    kir_if(f, kir_binary(f, KIR_AND, kir_binary(f, KIR_GE, SUB(r, k), INT(0)), kir_binary(f, KIR_LT, t, INT(T))));
    struct kir_node *o = kir_for(f, "o", INT(0), INT(Cout), 1, 0);
    kir_store(f, dst, o, ADD(LOAD(dst, o), LOAD(cols, ADD(MUL(t, INT(Cout * K)), ADD(MUL(o, INT(K)), k)))));
    kir_end(f);
    kir_end(f);
    kir_end(f);
}

/* y = the transposed conv of the rows whose products are cols, as the reference streams it
   (docs/moshi.md §7.3): the products of row t are added at output rows t * S + k, whose first
   K - S start from the stored partial; what falls past the T * S rows emitted is the next
   partial; the bias is added to the emitted rows. Shared among the team by output rows (each
   gathers its products, k ascending: no two threads write one row). */
const char *kernel_overlap_add(struct emitter *e, const struct ir_graph *g, const struct ir_op *op)
{
    const int Cout = g->values[op->out].len, T = g->values[op->in[0]].time, K = op->kernel, S = op->stride, P = K - S,
              N = T * S;
    const bool bias = op->weight >= 0;
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "overlap_add_%d_k%d_s%d_t%d%s", Cout, K, S, T, bias ? "_bias" : "");
    if (found >= 0)
        return symbol(e, found);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "y[%d][%d] = cols[t][o * %d + k] added at rows t * %d + k after the %d rows of partial%s; the rows\n"
                                   "   beyond %d are the next partial (a transposed conv's overlap-add)",
                                   N, Cout, K, S, P, bias ? ", + bias" : "", N);
    struct kir_node *b = bias ? kir_param(f, "bias", in_ptr(), KIR_RESTRICT) : NULL;
    struct kir_node *partial = kir_param(f, "partial", out_ptr(), KIR_RESTRICT);
    struct kir_node *cols = kir_param(f, "cols", in_ptr(), KIR_RESTRICT), *y = kir_param(f, "y", out_ptr(), KIR_RESTRICT);
    struct kir_node *r = kir_for(f, "r", INT(0), INT(N), 1, KIR_PARALLEL);
    struct kir_node *yr = kir_decl(f, "yr", kir_addr(f, y, MUL(r, INT(Cout))), KIR_CONSTANT);
    kir_if(f, kir_binary(f, KIR_LT, r, INT(P)));
    kir_copy(f, yr, kir_addr(f, partial, MUL(r, INT(Cout))), INT(Cout));
    kir_else(f);
    struct kir_node *o = kir_for(f, "o", INT(0), INT(Cout), 1, 0);
    kir_store(f, yr, o, F32(0));
    kir_end(f);
    kir_end(f);
    overlap_row(f, cols, r, yr, T, Cout, K, S);
    if (b) {
        o = kir_for(f, "o", INT(0), INT(Cout), 1, 0);
        kir_store(f, yr, o, ADD(LOAD(yr, o), LOAD(b, o)));
        kir_end(f);
    }
    kir_end(f);
    kir_comment(f, "the next partial: the rows past %d", N);
    struct kir_node *q = kir_for(f, "q", INT(0), INT(P), 1, KIR_PARALLEL);
    struct kir_node *pq = kir_decl(f, "pq", kir_addr(f, partial, MUL(q, INT(Cout))), KIR_CONSTANT);
    o = kir_for(f, "o", INT(0), INT(Cout), 1, 0);
    kir_store(f, pq, o, F32(0));
    kir_end(f);
    overlap_row(f, cols, ADD(q, INT(N)), pq, T, Cout, K, S);
    kir_end(f);
    return symbol(e, kernel_finish(e, f));
}

/* expm1(t) of lanes t <= 0, without cancellation near 0: t = n ln 2 + r with n = round(t log2 e),
   |r| <= ln 2 / 2, expm1(r) by its Taylor series to degree 10 (truncation below 1e-9 relative),
   then 2^n expm1(r) + (2^n - 1) (for n <= -1 the result is below -0.29: nothing cancels) */
static struct kir_node *vector_expm1(struct kir_func *f, struct kir_node *t)
{
    t = kir_decl(f, "t", kir_binary(f, KIR_MAX, t, SET1(F32(-87.0))), KIR_CONSTANT);
    struct kir_node *n = kir_decl(f, "n", kir_unary(f, KIR_FLOOR, kir_fma(f, t, SET1(F32(1.44269504)), SET1(F32(0.5)))), KIR_CONSTANT);
    struct kir_node *r = kir_decl(f, "r", kir_fma(f, n, SET1(F32(-1.42860677e-06)), kir_fma(f, n, SET1(F32(-0.693145751953125)), t)),
                                  KIR_CONSTANT);
    float coefficient[11], factorial = 1.0f;
    for (int k = 1; k <= 10; k++)
        coefficient[k] = 1.0f / (factorial *= (float)k);
    struct kir_node *q = kir_decl(f, "q", SET1(F32(coefficient[10])), 0);
    for (int k = 9; k >= 1; k--)
        kir_assign(f, q, kir_fma(f, q, r, SET1(F32(coefficient[k]))));
    struct kir_node *scale = kir_decl(f, "scale", kir_unary(f, KIR_POW2I, n), KIR_CONSTANT);
    return kir_fma(f, scale, MUL(q, r), SUB(scale, SET1(F32(1))));
}

const char *kernel_elu(struct emitter *e, int n)
{
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "elu_%d", n);
    if (found >= 0)
        return symbol(e, found);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "out = x > 0 ? x : expm1(x): ELU, alpha 1, as max(x, 0) + expm1(min(x, 0)) in vectors, libm's\n"
                                   "   expm1f on the rest (x and out may be one)");
    struct kir_node *x = kir_param(f, "x", in_ptr(), 0), *out = kir_param(f, "out", out_ptr(), 0), *T = kir_param(f, "T", i32_type(), 0);
    struct kir_node *total = kir_decl(f, "total", MUL(T, INT(n)), KIR_CONSTANT), *from = INT(0);
    const int W = e->kir.width;
    if (W > 1) {
        from = kir_decl(f, "vectors", MUL(DIV(total, INT(W)), INT(W)), KIR_CONSTANT);
        struct kir_node *j = kir_for(f, "j", INT(0), from, W, KIR_PARALLEL | KIR_NOWAIT);
        struct kir_node *v = kir_decl(f, "v", VLOAD(x, j), KIR_CONSTANT);
        struct kir_node *negative = vector_expm1(f, kir_binary(f, KIR_MIN, v, SET1(F32(0))));
        kir_store(f, out, j, ADD(kir_binary(f, KIR_MAX, v, SET1(F32(0))), negative));
        kir_end(f);
    }
    struct kir_node *j = kir_for(f, "j", from, total, 1, KIR_PARALLEL);
    struct kir_node *v = kir_decl(f, "v", LOAD(x, j), KIR_CONSTANT);
    kir_store(f, out, j, kir_select(f, kir_binary(f, KIR_GT, v, F32(0)), v, kir_unary(f, KIR_EXPM1, v)));
    kir_end(f);
    return symbol(e, kernel_finish(e, f));
}

const char *kernel_gelu(struct emitter *e, int n)
{
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "gelu_%d", n);
    if (found >= 0)
        return symbol(e, found);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "out = x * 0.5 * (1 + erf(x / sqrt 2)): the exact GELU (x and out may be one)");
    struct kir_node *x = kir_param(f, "x", in_ptr(), 0), *out = kir_param(f, "out", out_ptr(), 0), *T = kir_param(f, "T", i32_type(), 0);
    struct kir_node *j = kir_for(f, "j", INT(0), MUL(T, INT(n)), 1, KIR_PARALLEL);
    struct kir_node *v = kir_decl(f, "v", LOAD(x, j), KIR_CONSTANT);
    kir_store(f, out, j, MUL(MUL(v, F32(0.5)), ADD(F32(1), kir_unary(f, KIR_ERF, MUL(v, F32(0.70710678118654752440))))));
    kir_end(f);
    return symbol(e, kernel_finish(e, f));
}

const char *kernel_layer_norm(struct emitter *e, int n)
{
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "layer_norm_%d", n);
    if (found >= 0)
        return symbol(e, found);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "out[t] = (x[t] - mean) / sqrt(var + eps) * weight + bias, over %d channels (LayerNorm)", n);
    struct kir_node *x = kir_param(f, "x", in_ptr(), KIR_RESTRICT), *w = kir_param(f, "weight", in_ptr(), KIR_RESTRICT),
                    *b = kir_param(f, "bias", in_ptr(), KIR_RESTRICT), *eps = kir_param(f, "eps", f32_type(), 0),
                    *out = kir_param(f, "out", out_ptr(), KIR_RESTRICT), *T = kir_param(f, "T", i32_type(), 0);
    struct kir_node *t = kir_for(f, "t", INT(0), T, 1, KIR_PARALLEL);
    struct kir_node *xt = kir_decl(f, "xt", kir_addr(f, x, MUL(t, INT(n))), KIR_CONSTANT);
    struct kir_node *sum = kir_decl(f, "sum", F32(0), 0);
    struct kir_node *c = kir_for(f, "c", INT(0), INT(n), 1, 0);
    kir_assign(f, sum, ADD(sum, LOAD(xt, c)));
    kir_end(f);
    struct kir_node *mean = kir_decl(f, "mean", DIV(sum, F32(n)), KIR_CONSTANT);
    struct kir_node *var = kir_decl(f, "var", F32(0), 0);
    c = kir_for(f, "c", INT(0), INT(n), 1, 0);
    struct kir_node *d = kir_decl(f, "d", SUB(LOAD(xt, c), mean), KIR_CONSTANT);
    kir_assign(f, var, kir_fma(f, d, d, var));
    kir_end(f);
    struct kir_node *r = kir_decl(f, "r", DIV(F32(1), kir_unary(f, KIR_SQRT, ADD(DIV(var, F32(n)), eps))), KIR_CONSTANT);
    c = kir_for(f, "c", INT(0), INT(n), 1, 0);
    kir_store(f, out, ADD(MUL(t, INT(n)), c), kir_fma(f, MUL(SUB(LOAD(xt, c), mean), r), LOAD(w, c), LOAD(b, c)));
    kir_end(f);
    kir_end(f);
    return symbol(e, kernel_finish(e, f));
}

const char *kernel_scale_add(struct emitter *e, int n)
{
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "scale_add_%d", n);
    if (found >= 0)
        return symbol(e, found);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0, "x[t][c] += scale[c] * y[t][c]: a branch through its layer scale");
    struct kir_node *x = kir_param(f, "x", out_ptr(), KIR_RESTRICT), *y = kir_param(f, "y", in_ptr(), KIR_RESTRICT),
                    *scale = kir_param(f, "scale", in_ptr(), KIR_RESTRICT), *T = kir_param(f, "T", i32_type(), 0);
    struct kir_node *t = kir_for(f, "t", INT(0), T, 1, KIR_PARALLEL);
    struct kir_node *c = kir_for(f, "c", INT(0), INT(n), 1, 0);
    struct kir_node *at = ADD(MUL(t, INT(n)), c);
    kir_store(f, x, at, ADD(LOAD(x, at), MUL(LOAD(scale, c), LOAD(y, at))));
    kir_end(f);
    kir_end(f);
    return symbol(e, kernel_finish(e, f));
}

/* codes[first + j] = argmin over b of |r - codebook_j[b]|^2 (as |c|^2 - 2 r.c; the first of equals),
   r -= codebook_j[code] before the next: residual vector quantization */
const char *kernel_vq_encode(struct emitter *e, const struct ir_op *op, int dim, int bins)
{
    char name[KERNEL_NAME];
    const int n = op->codebooks;
    const int found = kernel_lookup(e, name, "vq_encode_%dx%d_n%d_from%d", bins, dim, n, op->first_code);
    if (found >= 0)
        return symbol(e, found);
    const int dot = kernel_dot(e, dim);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "codes[%d + j] = the nearest of codebook j's %d entries to r (argmin |c|^2 - 2 r.c, the first\n"
                                   "   of equals), r -= that entry before codebook j + 1: %d codebook%s of %d",
                                   op->first_code, bins, n, n > 1 ? "s" : "", dim);
    struct kir_node *books[64];
    for (int j = 0; j < n; j++) {
        char param[24];
        snprintf(param, sizeof param, "codebook%d", j);
        books[j] = kir_param(f, param, in_ptr(), KIR_RESTRICT);
    }
    struct kir_node *r = kir_param(f, "r", out_ptr(), KIR_RESTRICT), *codes = kir_param(f, "codes", kir_pointer_type(KIR_I32, false), 0);
    for (int j = 0; j < n; j++) {
        kir_comment(f, "codebook %d", j);
        kir_block(f);
        struct kir_node *best = kir_decl(f, "best", INT(0), 0), *least = kir_decl(f, "least", F32(INFINITY), 0);
        struct kir_node *b = kir_for(f, "b", INT(0), INT(bins), 1, 0);
        struct kir_node *entry = kir_decl(f, "entry", kir_addr(f, books[j], MUL(b, INT(dim))), KIR_CONSTANT);
        struct kir_node *d = kir_decl(f, "d", SUB(kir_call(f, dot, 2, (struct kir_node *[]){entry, entry}),
                                                  MUL(F32(2), kir_call(f, dot, 2, (struct kir_node *[]){entry, r}))), KIR_CONSTANT);
        kir_if(f, kir_binary(f, KIR_LT, d, least));
        kir_assign(f, least, d);
        kir_assign(f, best, b);
        kir_end(f);
        kir_end(f);
        kir_store(f, codes, INT(op->first_code + j), best);
        if (j + 1 < n) {
            struct kir_node *c = kir_for(f, "c", INT(0), INT(dim), 1, 0);
            kir_store(f, r, c, SUB(LOAD(r, c), LOAD(books[j], ADD(MUL(best, INT(dim)), c))));
            kir_end(f);
        }
        kir_end(f);
    }
    return symbol(e, kernel_finish(e, f));
}

/* out = sum over j of codebook_j[codes[first + j]], in j's order */
const char *kernel_vq_decode(struct emitter *e, const struct ir_op *op, int dim)
{
    char name[KERNEL_NAME];
    const int n = op->codebooks;
    const int found = kernel_lookup(e, name, "vq_decode_%d_n%d_from%d", dim, n, op->first_code);
    if (found >= 0)
        return symbol(e, found);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "out[%d] = the sum of codebook j's entry codes[%d + j] over %d codebook%s", dim, op->first_code, n,
                                   n > 1 ? "s" : "");
    struct kir_node *books[64];
    for (int j = 0; j < n; j++) {
        char param[24];
        snprintf(param, sizeof param, "codebook%d", j);
        books[j] = kir_param(f, param, in_ptr(), KIR_RESTRICT);
    }
    struct kir_node *codes = kir_param(f, "codes", kir_pointer_type(KIR_I32, true), 0), *out = kir_param(f, "out", out_ptr(), KIR_RESTRICT);
    struct kir_node *c = kir_for(f, "c", INT(0), INT(dim), 1, 0);
    struct kir_node *sum = LOAD(books[0], ADD(MUL(LOAD(codes, INT(op->first_code)), INT(dim)), c));
    for (int j = 1; j < n; j++)
        sum = ADD(sum, LOAD(books[j], ADD(MUL(LOAD(codes, INT(op->first_code + j)), INT(dim)), c)));
    kir_store(f, out, c, sum);
    kir_end(f);
    return symbol(e, kernel_finish(e, f));
}
