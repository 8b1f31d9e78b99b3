/* kernels_ttt.c: the TTT sequence mixers' kernels (docs/ttt.md §2-§3) as kernel IR (kir.h).
 *
 * One kernel serves both modes: a call takes T rows from absolute position pos0 and cuts them at
 * mini-batch boundaries into pieces. A piece of m rows (in-batch offset i0) runs the dual form
 * against the weights W, c at the last boundary and the lr-weighted gradient sums GW, gc of the
 * earlier pieces of the same mini-batch:
 *     z_i = q_i W + c - tok_i (q_i GW + gc + sum_{j <= i} lr_j (q_i . k_j + 1) g_j),
 * every gradient g_j taken at (W, c); the piece then adds its gradients into GW, gc, and the row
 * that closes a mini-batch commits W -= tok_{b-1} GW, c -= tok_{b-1} gc. A teacher-forced forward
 * passes whole mini-batches (the reference's dual form); streaming passes one row at a time (its
 * decode path). The heads are shared out among the calling team (each head's result is one
 * thread's), the rest is one thread's (single). The kernel takes the layer's weights and state as
 * pointers (the state's arrays are fields of the stream: glue.c). */
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

/* The helpers a TTT kernel calls, each specialized for its sizes and built once per size. */

/* y[n_out] = x[n_in] W[n_in][n_out] + bias: four output vectors at a time (four FMA chains in
   flight), then a scalar tail; plainly on the scalar target */
static int vec_mat(struct emitter *e, int n_in, int n_out)
{
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "ttt_vec_mat_%dx%d", n_in, n_out);
    if (found >= 0)
        return found;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), KIR_INLINE, "y[%d] = x[%d] W[%d][%d] + bias", n_out, n_in, n_in, n_out);
    struct kir_node *x = kir_param(f, "x", in_ptr(), KIR_RESTRICT), *W = kir_param(f, "W", in_ptr(), KIR_RESTRICT),
                    *bias = kir_param(f, "bias", in_ptr(), KIR_RESTRICT), *y = kir_param(f, "y", out_ptr(), KIR_RESTRICT);
    const int V = e->kir.width, whole = whole_vectors(e, n_out, 4);
    if (V == 1) {
        struct kir_node *o = kir_for(f, "o", INT(0), INT(n_out), 1, 0);
        kir_store(f, y, o, LOAD(bias, o));
        kir_end(f);
        struct kir_node *i = kir_for(f, "i", INT(0), INT(n_in), 1, 0);
        o = kir_for(f, "o", INT(0), INT(n_out), 1, 0);
        kir_store(f, y, o, ADD(LOAD(y, o), MUL(LOAD(x, i), LOAD(W, ADD(MUL(WIDE(i), INT(n_out)), o)))));
        return kernel_finish(e, f);
    }
    if (whole) {
        struct kir_node *o = kir_for(f, "o", INT(0), INT(whole), 4 * V, 0), *a[4];
        for (int k = 0; k < 4; k++) {
            char var[32];
            snprintf(var, sizeof var, "a%d", k);
            a[k] = kir_decl(f, var, VLOAD(bias, ADD(o, INT(k * V))), 0);
        }
        struct kir_node *i = kir_for(f, "i", INT(0), INT(n_in), 1, 0);
        struct kir_node *xi = kir_decl(f, "xi", SET1(LOAD(x, i)), KIR_CONSTANT);
        struct kir_node *Wi = kir_decl(f, "Wi", kir_addr(f, W, ADD(MUL(WIDE(i), INT(n_out)), o)), KIR_CONSTANT);
        for (int k = 0; k < 4; k++)
            kir_assign(f, a[k], kir_fma(f, xi, VLOAD(Wi, INT(k * V)), a[k]));
        kir_end(f);
        for (int k = 0; k < 4; k++)
            kir_store(f, y, ADD(o, INT(k * V)), a[k]);
        kir_end(f);
    }
    if (whole < n_out) {
        struct kir_node *o = kir_for(f, "o", INT(whole), INT(n_out), 1, 0);
        struct kir_node *acc = kir_decl(f, "acc", LOAD(bias, o), 0);
        struct kir_node *i = kir_for(f, "i", INT(0), INT(n_in), 1, 0);
        kir_assign(f, acc, ADD(acc, MUL(LOAD(x, i), LOAD(W, ADD(MUL(WIDE(i), INT(n_out)), o)))));
        kir_end(f);
        kir_store(f, y, o, acc);
        kir_end(f);
    }
    return kernel_finish(e, f);
}

/* W[n_in][n_out] += a * x^T y (a rank-1 update) */
static int rank1(struct emitter *e, int n_in, int n_out)
{
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "ttt_rank1_%dx%d", n_in, n_out);
    if (found >= 0)
        return found;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), KIR_INLINE, "W[%d][%d] += a * x^T y (a rank-1 update)", n_in, n_out);
    struct kir_node *W = kir_param(f, "W", out_ptr(), KIR_RESTRICT), *a = kir_param(f, "a", f32_type(), 0),
                    *x = kir_param(f, "x", in_ptr(), KIR_RESTRICT), *y = kir_param(f, "y", in_ptr(), KIR_RESTRICT);
    const int axpy = kernel_axpy(e, n_out); /* (row i of W += (a x[i]) y) */
    struct kir_node *i = kir_for(f, "i", INT(0), INT(n_in), 1, 0);
    kir_eval(f, kir_call(f, axpy, 3, (struct kir_node *[]){MUL(a, LOAD(x, i)), y, kir_addr(f, W, MUL(WIDE(i), INT(n_out)))}));
    kir_end(f);
    return kernel_finish(e, f);
}

/* LayerNorm statistics of x[n] into new variables: the mean and sqrt(biased variance + eps) */
static void ln_stats(struct emitter *e, struct kir_func *f, struct kir_node *x, int n, struct kir_node *eps,
                     struct kir_node **mu, struct kir_node **std)
{
    const int V = e->kir.width, whole = whole_vectors(e, n, 1);
    struct kir_node *m = kir_decl(f, "m", F32(0), 0);
    if (whole) {
        struct kir_node *vs = kir_decl(f, "vs", SET1(F32(0)), 0);
        struct kir_node *i = kir_for(f, "i", INT(0), INT(whole), V, 0);
        kir_assign(f, vs, ADD(vs, VLOAD(x, i)));
        kir_end(f);
        kir_assign(f, m, kir_unary(f, KIR_REDUCE_ADD, vs));
    }
    struct kir_node *i = kir_for(f, "i", INT(whole), INT(n), 1, 0);
    kir_assign(f, m, ADD(m, LOAD(x, i)));
    kir_end(f);
    kir_assign(f, m, DIV(m, F32(n)));
    struct kir_node *v = kir_decl(f, "v", F32(0), 0);
    if (whole) {
        struct kir_node *vm = kir_decl(f, "vm", SET1(m), KIR_CONSTANT), *vv = kir_decl(f, "vv", SET1(F32(0)), 0);
        i = kir_for(f, "i", INT(0), INT(whole), V, 0);
        struct kir_node *d = kir_decl(f, "d", SUB(VLOAD(x, i), vm), KIR_CONSTANT);
        kir_assign(f, vv, kir_fma(f, d, d, vv));
        kir_end(f);
        kir_assign(f, v, kir_unary(f, KIR_REDUCE_ADD, vv));
    }
    i = kir_for(f, "i", INT(whole), INT(n), 1, 0);
    kir_assign(f, v, ADD(v, MUL(SUB(LOAD(x, i), m), SUB(LOAD(x, i), m))));
    kir_end(f);
    *mu = m;
    *std = kir_decl(f, "std", kir_unary(f, KIR_SQRT, ADD(DIV(v, F32(n)), eps)), KIR_CONSTANT);
}

/* y[n] = gamma * (x - mu) / std + beta (x and y may be one array) */
static int layer_norm(struct emitter *e, int n)
{
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "ttt_ln_%d", n);
    if (found >= 0)
        return found;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), KIR_INLINE, NULL);
    struct kir_node *x = kir_param(f, "x", in_ptr(), 0), *gamma = kir_param(f, "gamma", in_ptr(), 0),
                    *beta = kir_param(f, "beta", in_ptr(), 0), *eps = kir_param(f, "eps", f32_type(), 0),
                    *y = kir_param(f, "y", out_ptr(), 0), *mu, *std;
    ln_stats(e, f, x, n, eps, &mu, &std);
    const int V = e->kir.width, whole = whole_vectors(e, n, 1);
    if (whole) {
        struct kir_node *vmu = kir_decl(f, "vmu", SET1(mu), KIR_CONSTANT), *vstd = kir_decl(f, "vstd", SET1(std), KIR_CONSTANT);
        struct kir_node *i = kir_for(f, "i", INT(0), INT(whole), V, 0);
        kir_store(f, y, i, ADD(MUL(VLOAD(gamma, i), DIV(SUB(VLOAD(x, i), vmu), vstd)), VLOAD(beta, i)));
        kir_end(f);
    }
    struct kir_node *i = kir_for(f, "i", INT(whole), INT(n), 1, 0);
    kir_store(f, y, i, ADD(MUL(LOAD(gamma, i), DIV(SUB(LOAD(x, i), mu), std)), LOAD(beta, i)));
    kir_end(f);
    return kernel_finish(e, f);
}

/* LN(z)'s normalized xhat of z[i] (a new variable), and gx = (gamma xhat + beta - target) gamma; in
   vectors of lanes > 1 at i */
static struct kir_node *ln_gx(struct kir_func *f, int lanes, struct kir_node *z, struct kir_node *target,
                              struct kir_node *gamma, struct kir_node *beta, struct kir_node *i, struct kir_node *mu,
                              struct kir_node *std, struct kir_node **xhat)
{
    struct kir_node *gm = kir_load(f, gamma, i, lanes);
    *xhat = kir_decl(f, "xhat", DIV(SUB(kir_load(f, z, i, lanes), mu), std), KIR_CONSTANT);
    return kir_decl(f, "gx", MUL(SUB(ADD(MUL(gm, *xhat), kir_load(f, beta, i, lanes)), kir_load(f, target, i, lanes)), gm),
                    KIR_CONSTANT);
}

/* g[n]: the gradient of 1/2 |LN(z) - target|^2 with respect to z (ttt.py ln_fused_l2_bwd): a pass
   for the two sums, then one for g, each recomputing xhat and gx rather than keeping them */
static int ln_l2_grad(struct emitter *e, int n)
{
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "ttt_ln_l2_grad_%d", n);
    if (found >= 0)
        return found;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), KIR_INLINE, NULL);
    struct kir_node *z = kir_param(f, "z", in_ptr(), 0), *target = kir_param(f, "target", in_ptr(), 0),
                    *gamma = kir_param(f, "gamma", in_ptr(), 0), *beta = kir_param(f, "beta", in_ptr(), 0),
                    *eps = kir_param(f, "eps", f32_type(), 0), *g = kir_param(f, "g", out_ptr(), 0), *mu, *std, *xhat;
    ln_stats(e, f, z, n, eps, &mu, &std);
    const int V = e->kir.width, whole = whole_vectors(e, n, 1);
    struct kir_node *sum_g = kir_decl(f, "sum_g", F32(0), 0), *sum_gx = kir_decl(f, "sum_gx", F32(0), 0);
    struct kir_node *vmu = NULL, *vstd = NULL;
    if (whole) {
        vmu = kir_decl(f, "vmu", SET1(mu), KIR_CONSTANT), vstd = kir_decl(f, "vstd", SET1(std), KIR_CONSTANT);
        struct kir_node *vg = kir_decl(f, "vg", SET1(F32(0)), 0), *vgx = kir_decl(f, "vgx", SET1(F32(0)), 0);
        struct kir_node *i = kir_for(f, "i", INT(0), INT(whole), V, 0);
        struct kir_node *gx = ln_gx(f, V, z, target, gamma, beta, i, vmu, vstd, &xhat);
        kir_assign(f, vg, ADD(vg, gx));
        kir_assign(f, vgx, kir_fma(f, gx, xhat, vgx));
        kir_end(f);
        kir_assign(f, sum_g, kir_unary(f, KIR_REDUCE_ADD, vg));
        kir_assign(f, sum_gx, kir_unary(f, KIR_REDUCE_ADD, vgx));
    }
    struct kir_node *i = kir_for(f, "i", INT(whole), INT(n), 1, 0);
    struct kir_node *gx = ln_gx(f, 1, z, target, gamma, beta, i, mu, std, &xhat);
    kir_assign(f, sum_g, ADD(sum_g, gx));
    kir_assign(f, sum_gx, ADD(sum_gx, MUL(gx, xhat)));
    kir_end(f);
    const float inv_n = 1.0f / (float)n;
    if (whole) {
        struct kir_node *vinv = kir_decl(f, "inv_n", SET1(F32(inv_n)), KIR_CONSTANT), *vn = kir_decl(f, "vn", SET1(F32(n)), KIR_CONSTANT);
        struct kir_node *vsg = kir_decl(f, "vsg", SET1(sum_g), KIR_CONSTANT), *vsgx = kir_decl(f, "vsgx", SET1(sum_gx), KIR_CONSTANT);
        i = kir_for(f, "i", INT(0), INT(whole), V, 0);
        gx = ln_gx(f, V, z, target, gamma, beta, i, vmu, vstd, &xhat);
        kir_store(f, g, i, DIV(MUL(vinv, SUB(SUB(MUL(vn, gx), vsg), MUL(xhat, vsgx))), vstd));
        kir_end(f);
    }
    i = kir_for(f, "i", INT(whole), INT(n), 1, 0);
    gx = ln_gx(f, 1, z, target, gamma, beta, i, mu, std, &xhat);
    kir_store(f, g, i, DIV(MUL(F32(inv_n), SUB(SUB(MUL(F32(n), gx), sum_g), MUL(xhat, sum_gx))), std));
    kir_end(f);
    return kernel_finish(e, f);
}

/* Interleaved RoPE on the pairs of every head of x[D] (cs: [cos, cos] and [-sin, sin], [2][hd]); in
   vectors where none straddles two heads */
static int ttt_rope(struct emitter *e, int D, int hd)
{
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "ttt_rope_%d_%d", D, hd);
    if (found >= 0)
        return found;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), KIR_INLINE, NULL);
    struct kir_node *x = kir_param(f, "x", out_ptr(), 0), *cs = kir_param(f, "cs", in_ptr(), 0);
    const int V = e->kir.width;
    if (V > 1 && hd % V == 0) {
        struct kir_node *c = kir_for(f, "c", INT(0), INT(D), V, 0);
        struct kir_node *at = kir_binary(f, KIR_REM, c, INT(hd));
        kir_store(f, x, c, kir_call(f, kir_find(&e->kir, "vf_rope"), 3,
                                    (struct kir_node *[]){VLOAD(x, c), kir_addr(f, cs, at), kir_addr(f, cs, ADD(INT(hd), at))}));
        return kernel_finish(e, f);
    }
    struct kir_node *c = kir_for(f, "c", INT(0), INT(D), 2, 0);
    struct kir_node *co = kir_decl(f, "co", LOAD(cs, kir_binary(f, KIR_REM, c, INT(hd))), KIR_CONSTANT);
    struct kir_node *sn = kir_decl(f, "sn", LOAD(cs, ADD(ADD(INT(hd), kir_binary(f, KIR_REM, c, INT(hd))), INT(1))), KIR_CONSTANT);
    struct kir_node *x0 = kir_decl(f, "x0", LOAD(x, c), KIR_CONSTANT), *x1 = kir_decl(f, "x1", LOAD(x, ADD(c, INT(1))), KIR_CONSTANT);
    kir_store(f, x, c, SUB(MUL(x0, co), MUL(x1, sn)));
    kir_store(f, x, ADD(c, INT(1)), ADD(MUL(x1, co), MUL(x0, sn)));
    return kernel_finish(e, f);
}

/* TTT-MLP's tanh-GELU and (Megatron's, as ttt.py's gelu_bwd) its derivative, of one value */
static struct kir_node *gelu_of(struct kir_func *f, struct kir_node *x)
{
    struct kir_node *inner = MUL(F32(0.7978845608), ADD(x, MUL(MUL(MUL(F32(0.044715), x), x), x)));
    return MUL(MUL(F32(0.5), x), ADD(F32(1.0), kir_unary(f, KIR_TANH, inner)));
}

static struct kir_node *gelu_grad_of(struct kir_func *f, struct kir_node *x)
{
    struct kir_node *t = kir_decl(f, "t", kir_unary(f, KIR_TANH, MUL(MUL(F32(0.79788456), x), ADD(F32(1.0), MUL(MUL(F32(0.044715), x), x)))),
                                  KIR_CONSTANT);
    struct kir_node *slope = MUL(SUB(F32(1.0), MUL(t, t)), ADD(F32(0.79788456), MUL(MUL(F32(0.1070322243), x), x)));
    return ADD(MUL(MUL(F32(0.5), x), slope), MUL(F32(0.5), ADD(F32(1.0), t)));
}

/* tanh(u) = 1 - 2 / (e^(2u) + 1): what GELU needs (1 + tanh, 1 - tanh^2) to an absolute 1e-7 */
static struct kir_node *vtanh(struct emitter *e, struct kir_func *f, struct kir_node *u)
{
    struct kir_node *twice = ADD(u, u);
    return SUB(SET1(F32(1.0)), DIV(SET1(F32(2.0)), ADD(kir_call(f, kir_find(&e->kir, "vf_exp"), 1, &twice), SET1(F32(1.0)))));
}

/* out[n] = GELU(z) (grad false) or GELU'(z) (grad true): in vectors, then a scalar tail */
static int gelu_row(struct emitter *e, int n, bool grad)
{
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "ttt_gelu%s_%d", grad ? "_grad" : "", n);
    if (found >= 0)
        return found;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), KIR_INLINE, NULL);
    struct kir_node *z = kir_param(f, "z", in_ptr(), 0), *out = kir_param(f, "out", out_ptr(), 0);
    const int V = e->kir.width, whole = whole_vectors(e, n, 1);
    if (whole) {
        struct kir_node *i = kir_for(f, "i", INT(0), INT(whole), V, 0);
        struct kir_node *v = kir_decl(f, "v", VLOAD(z, i), KIR_CONSTANT);
        if (!grad) {
            struct kir_node *u = kir_decl(f, "u", MUL(SET1(F32(0.7978845608)), ADD(v, MUL(SET1(F32(0.044715)), MUL(v, MUL(v, v))))),
                                          KIR_CONSTANT);
            kir_store(f, out, i, MUL(MUL(SET1(F32(0.5)), v), ADD(SET1(F32(1.0)), vtanh(e, f, u))));
        } else {
            struct kir_node *v2 = kir_decl(f, "v2", MUL(v, v), KIR_CONSTANT);
            struct kir_node *t = kir_decl(f, "t", vtanh(e, f, MUL(MUL(SET1(F32(0.79788456)), v), ADD(SET1(F32(1.0)), MUL(SET1(F32(0.044715)), v2)))),
                                          KIR_CONSTANT);
            struct kir_node *slope = kir_decl(f, "slope", MUL(SUB(SET1(F32(1.0)), MUL(t, t)), ADD(SET1(F32(0.79788456)), MUL(SET1(F32(0.1070322243)), v2))),
                                              KIR_CONSTANT);
            kir_store(f, out, i, ADD(MUL(MUL(SET1(F32(0.5)), v), slope), MUL(SET1(F32(0.5)), ADD(SET1(F32(1.0)), t))));
        }
        kir_end(f);
    }
    struct kir_node *i = kir_for(f, "i", INT(whole), INT(n), 1, 0);
    struct kir_node *x = kir_decl(f, "x", LOAD(z, i), KIR_CONSTANT);
    kir_store(f, out, i, grad ? gelu_grad_of(f, x) : gelu_of(f, x));
    kir_end(f);
    return kernel_finish(e, f);
}

static void zero(struct kir_func *f, struct kir_node *p, int n)
{
    struct kir_node *i = kir_for(f, "i", INT(0), INT(n), 1, 0);
    kir_store(f, p, i, F32(0));
    kir_end(f);
}

/* tok_i = max(0, 1 / (i + 1) + learnable_token_idx[i]) */
static int token_scale(struct emitter *e)
{
    char name[KERNEL_NAME];
    const int found = kernel_lookup(e, name, "ttt_token_scale");
    if (found >= 0)
        return found;
    struct kir_func *f = kir_begin(&e->kir, name, f32_type(), KIR_INLINE, "tok_i = max(0, 1 / (i + 1) + learnable_token_idx[i])");
    struct kir_node *token_idx = kir_param(f, "token_idx", in_ptr(), 0), *i = kir_param(f, "i", i32_type(), 0);
    struct kir_node *t = kir_decl(f, "t", ADD(DIV(F32(1.0), kir_cast(f, f32_type(), ADD(i, INT(1)))), LOAD(token_idx, i)), KIR_CONSTANT);
    kir_return(f, kir_binary(f, KIR_MAX, t, F32(0)));
    return kernel_finish(e, f);
}

/* What the TTT kernel's builder refers to: the shape, the kernel's parameters, the helpers. */
struct ttt {
    const struct ttt_shape *s;
    int NH, HD, F, D, MB, KS;
    /* weights */
    struct kir_node *W1, *b1, *W2, *b2, *norm_w, *norm_b, *lr_bias, *token_idx, *post_w, *post_b;
    struct kir_node *conv_q_w, *conv_q_b, *conv_k_w, *conv_k_b, *rope_cs, *base_lr, *eps;
    struct kir_node *ready, *state[TTT_SLOTS], *history; /* state[slot], NULL where the kind has none */
    struct kir_node *xq, *xk, *xv, *lr_logit, *pos0, *T, *work, *out;
};

void ttt_kernel_name(char *buf, size_t size, const struct ttt_shape *s)
{
    snprintf(buf, size, "ttt_%s_%dx%d_b%d%s", s->mlp ? "mlp" : "linear", s->heads, s->head_dim, s->mini_batch,
             s->conv_kernel > 0 ? "_conv" : "");
}

/* q, k rows for the inner loop: the causal depthwise convs of share_qk (history: the last ks - 1
   rows of q_proj's output) or the projections as they are, then RoPE at position mod b */
static void prepare_qk(struct emitter *e, struct kir_func *f, const struct ttt *a, struct kir_node *Q, struct kir_node *K)
{
    const int D = a->D, ks = a->KS, rope = ttt_rope(e, D, a->HD);
    struct kir_node *t = kir_for(f, "t", INT(0), a->T, 1, 0);
    struct kir_node *q = kir_decl(f, "q", kir_addr(f, Q, MUL(WIDE(t), INT(D))), KIR_CONSTANT);
    struct kir_node *k = kir_decl(f, "k", kir_addr(f, K, MUL(WIDE(t), INT(D))), KIR_CONSTANT);
    if (ks) {
        struct kir_node *c = kir_for(f, "c", INT(0), INT(D), 1, 0);
        struct kir_node *sq = kir_decl(f, "sq", LOAD(a->conv_q_b, c), 0), *sk = kir_decl(f, "sk", LOAD(a->conv_k_b, c), 0);
        struct kir_node *j = kir_for(f, "j", INT(0), INT(ks), 1, 0);
        struct kir_node *r = kir_decl(f, "r", ADD(SUB(t, INT(ks - 1)), j), KIR_CONSTANT);
        struct kir_node *x = kir_decl(f, "x", kir_select(f, kir_binary(f, KIR_GE, r, INT(0)), LOAD(a->xq, ADD(MUL(WIDE(r), INT(D)), c)),
                                                         LOAD(a->history, ADD(MUL(WIDE(ADD(INT(ks - 1), r)), INT(D)), c))), KIR_CONSTANT);
        kir_assign(f, sq, ADD(sq, MUL(LOAD(a->conv_q_w, ADD(MUL(c, INT(ks)), j)), x)));
        kir_assign(f, sk, ADD(sk, MUL(LOAD(a->conv_k_w, ADD(MUL(c, INT(ks)), j)), x)));
        kir_end(f);
        kir_store(f, q, c, sq);
        kir_store(f, k, c, sk);
        kir_end(f);
    } else {
        kir_copy(f, q, kir_addr(f, a->xq, MUL(WIDE(t), INT(D))), INT(D));
        kir_copy(f, k, kir_addr(f, a->xk, MUL(WIDE(t), INT(D))), INT(D));
    }
    kir_comment(f, "the same for every head");
    struct kir_node *cs = kir_decl(f, "cs", kir_addr(f, a->rope_cs, MUL(kir_binary(f, KIR_REM, ADD(a->pos0, t), INT(a->MB)), INT(2 * a->HD))),
                                   KIR_CONSTANT);
    kir_eval(f, kir_call(f, rope, 2, (struct kir_node *[]){q, cs}));
    kir_eval(f, kir_call(f, rope, 2, (struct kir_node *[]){k, cs}));
    kir_end(f);
    if (ks > 1) { /* keep the last ks - 1 rows of (history, xq) */
        struct kir_node *j = kir_for(f, "j", INT(0), INT(ks - 1), 1, 0);
        struct kir_node *r = kir_decl(f, "r", ADD(SUB(a->T, INT(ks - 1)), j), KIR_CONSTANT);
        struct kir_node *row = kir_addr(f, a->history, MUL(WIDE(j), INT(D)));
        kir_if(f, kir_binary(f, KIR_GE, r, INT(0)));
        kir_copy(f, row, kir_addr(f, a->xq, MUL(WIDE(r), INT(D))), INT(D));
        kir_else(f);
        kir_copy(f, row, kir_addr(f, a->history, MUL(WIDE(ADD(j, a->T)), INT(D))), INT(D)); /* (rows j + T > j: not yet overwritten) */
        kir_end(f);
        kir_end(f);
    }
}

/* What one head's piece refers to (the kernel's loop variables and the head's slices). */
struct head {
    struct kir_node *h, *t0, *i0, *m, *Q, *K, *lr, *gamma, *beta, *piece;
    struct kir_node *W1, *c1, *W2, *c2, *GW1, *gc1, *GW2, *gc2;   /* linear: W, c, GW, gc in the first four */
    int dot_hd, dot_f, axpy_hd, axpy_f, axpy_w1, axpy_w2;         /* helpers of the head's sizes */
};

/* row r's head slice of a [T][D] array: p + (t0 + r) D + h hd */
static struct kir_node *head_row(struct kir_func *f, const struct ttt *a, const struct head *hd, struct kir_node *p,
                                 struct kir_node *r)
{
    return kir_addr(f, p, ADD(MUL(WIDE(ADD(hd->t0, r)), INT(a->D)), MUL(hd->h, INT(a->HD))));
}

static void call(struct kir_func *f, int callee, int n, struct kir_node **args) { kir_eval(f, kir_call(f, callee, n, args)); }
#define CALL(callee, ...) call(f, callee, (int)(sizeof (struct kir_node *[]){__VA_ARGS__} / sizeof(struct kir_node *)), \
                                (struct kir_node *[]){__VA_ARGS__})

/* The gradient of row j (k, target) at the boundary weights, into the piece. */
static void gradient(struct emitter *e, struct kir_func *f, const struct ttt *a, const struct head *hd, struct kir_node *j,
                     struct kir_node *k, struct kir_node *target)
{
    const int HD = a->HD, F = a->F;
    if (!a->s->mlp) {
        struct kir_node *z = kir_array(f, "z", KIR_F32, HD);
        CALL(vec_mat(e, HD, HD), k, hd->W1, hd->c1, z);
        CALL(ln_l2_grad(e, HD), z, target, hd->gamma, hd->beta, a->eps, kir_addr(f, hd->piece, MUL(j, INT(HD))));
        return;
    }
    struct kir_node *Z1 = hd->piece, *X2 = kir_addr(f, Z1, INT(a->MB * F)), *G1 = kir_addr(f, X2, INT(a->MB * F)),
                    *G2 = kir_addr(f, G1, INT(a->MB * F));
    struct kir_node *z2 = kir_array(f, "z2", KIR_F32, HD), *slope = kir_array(f, "slope", KIR_F32, F);
    CALL(vec_mat(e, HD, F), k, hd->W1, hd->c1, kir_addr(f, Z1, MUL(j, INT(F))));
    CALL(gelu_row(e, F, false), kir_addr(f, Z1, MUL(j, INT(F))), kir_addr(f, X2, MUL(j, INT(F))));
    CALL(vec_mat(e, F, HD), kir_addr(f, X2, MUL(j, INT(F))), hd->W2, hd->c2, z2);
    CALL(ln_l2_grad(e, HD), z2, target, hd->gamma, hd->beta, a->eps, kir_addr(f, G2, MUL(j, INT(HD))));
    CALL(gelu_row(e, F, true), kir_addr(f, Z1, MUL(j, INT(F))), slope);
    struct kir_node *r = kir_for(f, "r", INT(0), INT(F), 1, 0);
    struct kir_node *d = kir_call(f, hd->dot_hd, 2, (struct kir_node *[]){kir_addr(f, G2, MUL(j, INT(HD))),
                                                                          kir_addr(f, hd->W2, MUL(WIDE(r), INT(HD)))});
    kir_store(f, G1, ADD(MUL(j, INT(F)), r), MUL(d, LOAD(slope, r)));
    kir_end(f);
}

/* corr += sum_{j <= i} lr_j (x . X_j + 1) G_j over the piece's rows so far; then z -= tok corr */
static void correction(struct kir_func *f, const struct head *hd, struct kir_node *i, struct kir_node *x, int dot,
                       struct kir_node *(*X)(struct kir_func *, const struct head *, struct kir_node *, void *), void *ctx,
                       struct kir_node *G, int width, int axpy, struct kir_node *corr, struct kir_node *z, struct kir_node *tok)
{
    struct kir_node *j = kir_for(f, "j", INT(0), ADD(i, INT(1)), 1, 0);
    struct kir_node *lr_j = kir_decl(f, "a", MUL(LOAD(hd->lr, j), ADD(kir_call(f, dot, 2, (struct kir_node *[]){x, X(f, hd, j, ctx)}), F32(1.0))),
                                     KIR_CONSTANT);
    CALL(axpy, lr_j, kir_addr(f, G, MUL(j, INT(width))), corr);
    kir_end(f);
    CALL(axpy, kir_unary(f, KIR_NEG, tok), corr, z);
}

/* the row j of K in this head (correction's X for the first layer) */
static struct kir_node *key_row(struct kir_func *f, const struct head *hd, struct kir_node *j, void *ctx)
{
    return head_row(f, ctx, hd, hd->K, j);
}

/* the row j of the piece's X2 (correction's X for TTT-MLP's second layer) */
static struct kir_node *x2_row(struct kir_func *f, const struct head *hd, struct kir_node *j, void *ctx)
{
    const struct ttt *a = ctx;
    return kir_addr(f, hd->piece, ADD(INT(a->MB * a->F), MUL(j, INT(a->F))));
}

/* Output row i of the piece: the inner model at the boundary weights, corrected (dual form). */
static void output_row(struct emitter *e, struct kir_func *f, const struct ttt *a, const struct head *hd, struct kir_node *i,
                       struct kir_node *q, struct kir_node *tok, struct kir_node *o)
{
    const int HD = a->HD, F = a->F, first = a->s->mlp ? F : HD;
    struct kir_node *z1 = kir_array(f, a->s->mlp ? "z1" : "z", KIR_F32, first);
    struct kir_node *corr1 = kir_array(f, a->s->mlp ? "corr1" : "corr", KIR_F32, first);
    CALL(vec_mat(e, HD, first), q, hd->W1, hd->c1, z1);
    CALL(vec_mat(e, HD, first), q, hd->GW1, hd->gc1, corr1);
    struct kir_node *G1 = a->s->mlp ? kir_addr(f, hd->piece, INT(2 * a->MB * F)) : hd->piece;
    correction(f, hd, i, q, hd->dot_hd, key_row, (void *)a, G1, first, a->s->mlp ? hd->axpy_f : hd->axpy_hd, corr1, z1, tok);
    struct kir_node *last = z1;
    if (a->s->mlp) {
        struct kir_node *x2 = kir_array(f, "x2", KIR_F32, F), *z2 = kir_array(f, "z2", KIR_F32, HD);
        struct kir_node *corr2 = kir_array(f, "corr2", KIR_F32, HD);
        CALL(gelu_row(e, F, false), z1, x2);
        CALL(vec_mat(e, F, HD), x2, hd->W2, hd->c2, z2);
        CALL(vec_mat(e, F, HD), x2, hd->GW2, hd->gc2, corr2);
        struct kir_node *G2 = kir_addr(f, hd->piece, INT(3 * a->MB * F));
        correction(f, hd, i, x2, hd->dot_f, x2_row, (void *)a, G2, HD, hd->axpy_hd, corr2, z2, tok);
        last = z2;
    }
    CALL(layer_norm(e, HD), last, hd->gamma, hd->beta, a->eps, o);
    CALL(hd->axpy_hd, F32(1.0), q, o);
}

/* The piece's gradients into the mini-batch's sums: GW += lr_j k_j^T g_j, gc += lr_j g_j */
static void accumulate(struct emitter *e, struct kir_func *f, const struct ttt *a, const struct head *hd, struct kir_node *j,
                       struct kir_node *k)
{
    const int HD = a->HD, F = a->F;
    struct kir_node *lr_j = LOAD(hd->lr, j);
    if (!a->s->mlp) {
        struct kir_node *g = kir_addr(f, hd->piece, MUL(j, INT(HD)));
        CALL(rank1(e, HD, HD), hd->GW1, lr_j, k, g);
        CALL(hd->axpy_hd, lr_j, g, hd->gc1);
        return;
    }
    struct kir_node *X2 = kir_addr(f, hd->piece, ADD(INT(a->MB * F), MUL(j, INT(F))));
    struct kir_node *G1 = kir_addr(f, hd->piece, ADD(INT(2 * a->MB * F), MUL(j, INT(F))));
    struct kir_node *G2 = kir_addr(f, hd->piece, ADD(INT(3 * a->MB * F), MUL(j, INT(HD))));
    CALL(rank1(e, HD, F), hd->GW1, lr_j, k, G1);
    CALL(rank1(e, F, HD), hd->GW2, lr_j, X2, G2);
    CALL(hd->axpy_f, lr_j, G1, hd->gc1);
    CALL(hd->axpy_hd, lr_j, G2, hd->gc2);
}

/* The row that closes a mini-batch: W -= tok_{b-1} GW, c -= tok_{b-1} gc, the sums back to 0 */
static void commit(struct kir_func *f, const struct ttt *a, const struct head *hd, struct kir_node *tok)
{
    const int HD = a->HD, F = a->F;
    struct kir_node *minus = kir_unary(f, KIR_NEG, tok);
    CALL(hd->axpy_w1, minus, hd->GW1, hd->W1);
    zero(f, hd->GW1, HD * F);
    if (a->s->mlp) {
        CALL(hd->axpy_w2, minus, hd->GW2, hd->W2);
        zero(f, hd->GW2, F * HD);
        CALL(hd->axpy_f, minus, hd->gc1, hd->c1);
        zero(f, hd->gc1, F);
        CALL(hd->axpy_hd, minus, hd->gc2, hd->c2);
        zero(f, hd->gc2, HD);
        return;
    }
    CALL(hd->axpy_hd, minus, hd->gc1, hd->c1);
    zero(f, hd->gc1, HD);
}

/* One head's piece: gradients of its rows at the boundary weights, the output rows, the sums, and
   the commit when the piece closes the mini-batch. */
static void piece(struct emitter *e, struct kir_func *f, const struct ttt *a, struct head *hd)
{
    const int HD = a->HD, NH = a->NH, scale_token = token_scale(e);
    hd->piece = kir_decl(f, "piece", kir_addr(f, kir_addr(f, a->work, MUL(MUL(WIDE(a->T), INT(a->D)), INT(2))),
                                              MUL(WIDE(hd->h), INT(ttt_piece_floats(a->s)))), KIR_CONSTANT);
    hd->lr = kir_array(f, "lr", KIR_F32, a->MB);
    hd->gamma = kir_decl(f, "gamma", kir_addr(f, a->norm_w, MUL(hd->h, INT(HD))), KIR_CONSTANT);
    hd->beta = kir_decl(f, "beta", kir_addr(f, a->norm_b, MUL(hd->h, INT(HD))), KIR_CONSTANT);
    /* the head's inner weights at the boundary and its sums of the mini-batch */
    struct kir_node **slices[TTT_SLOTS] = {&hd->W1, &hd->c1, &hd->W2, &hd->c2, &hd->GW1, &hd->gc1, &hd->GW2, &hd->gc2};
    for (int slot = 0; slot < TTT_SLOTS; slot++)
        if (a->state[slot])
            *slices[slot] = kir_decl(f, ttt_inner_names[a->s->mlp][slot],
                                     kir_addr(f, a->state[slot], MUL(WIDE(hd->h), INT(ttt_slot_floats(a->s, slot)))), KIR_CONSTANT);
    struct kir_node *j = kir_for(f, "j", INT(0), hd->m, 1, 0);
    struct kir_node *k = kir_decl(f, "k", head_row(f, a, hd, hd->K, j), KIR_CONSTANT);
    struct kir_node *v = kir_decl(f, "v", head_row(f, a, hd, a->xv, j), KIR_CONSTANT);
    struct kir_node *target = kir_array(f, "target", KIR_F32, HD);
    struct kir_node *c = kir_for(f, "e", INT(0), INT(HD), 1, 0);
    kir_store(f, target, c, SUB(LOAD(v, c), LOAD(k, c)));
    kir_end(f);
    gradient(e, f, a, hd, j, k, target);
    struct kir_node *logit = kir_decl(f, "logit", ADD(LOAD(a->lr_logit, ADD(MUL(ADD(hd->t0, j), INT(NH)), hd->h)), LOAD(a->lr_bias, hd->h)),
                                      KIR_CONSTANT);
    kir_store(f, hd->lr, j, DIV(MUL(a->base_lr, DIV(F32(1.0), ADD(F32(1.0), kir_unary(f, KIR_EXP, kir_unary(f, KIR_NEG, logit))))), F32(HD)));
    kir_end(f);
    struct kir_node *i = kir_for(f, "i", INT(0), hd->m, 1, 0);
    struct kir_node *q = kir_decl(f, "q", head_row(f, a, hd, hd->Q, i), KIR_CONSTANT);
    struct kir_node *tok = kir_decl(f, "tok", kir_call(f, scale_token, 2, (struct kir_node *[]){a->token_idx, ADD(hd->i0, i)}), KIR_CONSTANT);
    struct kir_node *o = kir_decl(f, "o", head_row(f, a, hd, a->out, i), KIR_CONSTANT);
    output_row(e, f, a, hd, i, q, tok, o);
    kir_end(f);
    j = kir_for(f, "j", INT(0), hd->m, 1, 0);
    accumulate(e, f, a, hd, j, kir_decl(f, "k", head_row(f, a, hd, hd->K, j), KIR_CONSTANT));
    kir_end(f);
    kir_if(f, kir_binary(f, KIR_EQ, ADD(hd->i0, hd->m), INT(a->MB)));
    kir_comment(f, "this piece closes the mini-batch: commit with tok_{b-1}");
    commit(f, a, hd, kir_decl(f, "tok", kir_call(f, scale_token, 2, (struct kir_node *[]){a->token_idx, INT(a->MB - 1)}), KIR_CONSTANT));
    kir_end(f);
}

int kernel_ttt(struct emitter *e, const struct ttt_shape *s)
{
    char shape[64], name[KERNEL_NAME];
    ttt_kernel_name(shape, sizeof shape, s);
    const int found = kernel_lookup(e, name, "%s_kernel", shape);
    if (found >= 0)
        return found;
    struct ttt a = {.s = s, .NH = s->heads, .HD = s->head_dim, .F = s->mlp ? 4 * s->head_dim : s->head_dim,
                    .D = s->heads * s->head_dim, .MB = s->mini_batch, .KS = s->conv_kernel};
    struct head hd = {.dot_hd = kernel_dot(e, a.HD), .dot_f = kernel_dot(e, a.F), .axpy_hd = kernel_axpy(e, a.HD),
                      .axpy_f = kernel_axpy(e, a.F), .axpy_w1 = kernel_axpy(e, a.HD * a.F), .axpy_w2 = kernel_axpy(e, a.F * a.HD)};
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0, "TTT-%s, %d heads of %d, mini-batch %d: T rows from position pos0 "
                                   "(see kernels_ttt.c)", s->mlp ? "MLP" : "Linear", a.NH, a.HD, a.MB);
    /* the weights, in the order of the TTT op's weights (lower.c, lower_ttt) */
    a.W1 = kir_param(f, "init_W1", in_ptr(), 0), a.b1 = kir_param(f, "init_b1", in_ptr(), 0);
    if (s->mlp)
        a.W2 = kir_param(f, "init_W2", in_ptr(), 0), a.b2 = kir_param(f, "init_b2", in_ptr(), 0);
    a.norm_w = kir_param(f, "norm_w", in_ptr(), 0), a.norm_b = kir_param(f, "norm_b", in_ptr(), 0);
    a.lr_bias = kir_param(f, "lr_bias", in_ptr(), 0), a.token_idx = kir_param(f, "token_idx", in_ptr(), 0);
    a.post_w = kir_param(f, "post_w", in_ptr(), 0), a.post_b = kir_param(f, "post_b", in_ptr(), 0);
    if (a.KS) {
        a.conv_q_w = kir_param(f, "conv_q_w", in_ptr(), 0), a.conv_q_b = kir_param(f, "conv_q_b", in_ptr(), 0);
        a.conv_k_w = kir_param(f, "conv_k_w", in_ptr(), 0), a.conv_k_b = kir_param(f, "conv_k_b", in_ptr(), 0);
    }
    a.rope_cs = kir_param(f, "rope_cs", in_ptr(), 0);
    a.base_lr = kir_param(f, "base_lr", f32_type(), 0), a.eps = kir_param(f, "eps", f32_type(), 0);
    /* the state: the stream's arrays of the layer (glue.c) */
    a.ready = kir_param(f, "ready", kir_pointer_type(KIR_I32, false), 0);
    for (int slot = 0; slot < TTT_SLOTS; slot++)
        if (ttt_inner_names[s->mlp][slot]) {
            char param[16];
            snprintf(param, sizeof param, "st_%s", ttt_inner_names[s->mlp][slot]);
            a.state[slot] = kir_param(f, param, out_ptr(), 0);
        }
    a.history = kir_param(f, "history", out_ptr(), 0);
    a.xq = kir_param(f, "xq", in_ptr(), 0), a.xk = kir_param(f, "xk", in_ptr(), 0), a.xv = kir_param(f, "xv", in_ptr(), 0);
    a.lr_logit = kir_param(f, "lr_logit", in_ptr(), 0), a.pos0 = kir_param(f, "pos0", i64_type(), 0);
    a.T = kir_param(f, "T", i32_type(), 0), a.work = kir_param(f, "work", out_ptr(), 0), a.out = kir_param(f, "out", out_ptr(), 0);

    hd.Q = kir_decl(f, "Q", a.work, KIR_CONSTANT);
    hd.K = kir_decl(f, "K", kir_addr(f, a.work, MUL(WIDE(a.T), INT(a.D))), KIR_CONSTANT);
    kir_single(f);
    kir_if(f, kir_binary(f, KIR_EQ, LOAD(a.ready, INT(0)), INT(0)));
    struct kir_node *initial[TTT_GW1] = {a.W1, a.b1, a.W2, a.b2};
    for (int slot = 0; slot < TTT_SLOTS; slot++) {
        if (!a.state[slot])
            continue;
        if (slot < TTT_GW1)
            kir_copy(f, a.state[slot], initial[slot], INT(a.NH * ttt_slot_floats(s, slot)));
        else
            zero(f, a.state[slot], a.NH * ttt_slot_floats(s, slot));
    }
    zero(f, a.history, ttt_history_floats(s));
    kir_store(f, a.ready, INT(0), INT(1));
    kir_end(f);
    prepare_qk(e, f, &a, hd.Q, hd.K);
    kir_end(f);
    /* pieces: from each row at a mini-batch boundary (and the call's first) to the next boundary */
    hd.t0 = kir_for(f, "t0", INT(0), a.T, 1, 0);
    kir_if(f, kir_binary(f, KIR_AND, kir_binary(f, KIR_GT, hd.t0, INT(0)),
                         kir_binary(f, KIR_NE, kir_binary(f, KIR_REM, ADD(a.pos0, hd.t0), INT(a.MB)), kir_const_int(f, KIR_I64, 0))));
    kir_continue(f);
    kir_end(f);
    hd.i0 = kir_decl(f, "i0", kir_cast(f, i32_type(), kir_binary(f, KIR_REM, ADD(a.pos0, hd.t0), INT(a.MB))), KIR_CONSTANT);
    hd.m = kir_decl(f, "m", MIN(SUB(a.T, hd.t0), SUB(INT(a.MB), hd.i0)), KIR_CONSTANT);
    kir_comment(f, "heads are independent: shared out among the team, each with its own scratch");
    hd.h = kir_for(f, "h", INT(0), INT(a.NH), 1, KIR_PARALLEL);
    piece(e, f, &a, &hd);
    kir_end(f);
    kir_end(f);
    kir_comment(f, "post_norm over the width, in place");
    struct kir_node *t = kir_for(f, "t", INT(0), a.T, 1, KIR_PARALLEL);
    struct kir_node *row = kir_addr(f, a.out, MUL(WIDE(t), INT(a.D)));
    CALL(layer_norm(e, a.D), row, a.post_w, a.post_b, a.eps, row);
    kir_end(f);
    return kernel_finish(e, f);
}
