/* kernels.c: kiln's kernels built as kernel IR (kir.h), each in exactly one function here, for
 * every target and back end. A kernel is specialized for its shapes (every bound but the row
 * count T a constant) and named after what it is specialized for, so identical layers share it;
 * rows are contiguous: x[t][C] at x + t * C. A vector target's loops run over whole vectors and
 * then a scalar tail, which is left out where the shape has none.
 *
 * Two of them extend the target's vector vocabulary (target.c) rather than being kernels of their
 * own: vf_exp and vf_rope. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

int kernel_lookup(struct emitter *e, char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, KERNEL_NAME, fmt, ap);
    va_end(ap);
    return kir_find(&e->kir, name);
}

int whole_vectors(const struct emitter *e, int n, int per_step)
{
    const int step = per_step * e->kir.width;
    return e->kir.width > 1 ? n / step * step : 0;
}

/* Closes f; prints it into the kernels being written unless it is part of the vocabulary. */
static int finish(struct emitter *e, struct kir_func *f, bool print);
int kernel_finish(struct emitter *e, struct kir_func *f) { return finish(e, f, true); }
static int finish(struct emitter *e, struct kir_func *f, bool print)
{
    const int index = kir_end_function(f);
    if (!kir_verify_function(&e->kir, index))
        exit(2);
    if (print && !e->llvm)
        kir_print_c_function(e->kernels, &e->kir, index);
    return index;
}

/* ---- the vocabulary's composite operations --------------------------------------------------- */

/* vf_exp(x): e^x = 2^n e^r with n = floor(x log2(e)) and r = x - n ln(2) in about [0, ln 2), n ln(2)
   taken off in two parts (Cody and Waite: the high part has few bits, so n times it is exact); e^r
   by its Taylor series to degree 9 in Horner form (truncation below 1e-8 relative). x is clamped to
   where e^x is a normal float; a NaN becomes -87 on every ISA (MAX yields its second operand). */
static int vocabulary_exp(struct emitter *e)
{
    struct kir_func *f = kir_begin(&e->kir, "vf_exp", kir_vector_type(KIR_F32, e->kir.width), KIR_INLINE, NULL);
    struct kir_node *x = kir_param(f, "x", VF_TYPE, 0);
    struct kir_node *clamped = kir_decl(f, "clamped", kir_binary(f, KIR_MIN, kir_binary(f, KIR_MAX, x, SET1(F32(-87.0))), SET1(F32(88.0))),
                                        KIR_CONSTANT);
    struct kir_node *n = kir_decl(f, "n", kir_unary(f, KIR_FLOOR, MUL(clamped, SET1(F32(1.44269504)))), KIR_CONSTANT);
    struct kir_node *r = kir_decl(f, "r", kir_fma(f, n, SET1(F32(-1.42860677e-06)), kir_fma(f, n, SET1(F32(-0.693145751953125)), clamped)),
                                  KIR_CONSTANT);
    /* 1 / k! rounded to f32 as C's 1.0f / k is */
    float coefficient[10], factorial = 1.0f;
    for (int k = 0; k < 10; k++) {
        factorial *= k ? (float)k : 1.0f;
        coefficient[k] = 1.0f / factorial;
    }
    struct kir_node *p = kir_decl(f, "p", SET1(F32(coefficient[9])), 0);
    for (int k = 8; k >= 0; k--)
        kir_assign(f, p, kir_fma(f, p, r, SET1(F32(coefficient[k]))));
    kir_return(f, MUL(p, kir_unary(f, KIR_POW2I, n)));
    return finish(e, f, false);
}

/* vf_rope(x, c, s): interleaved RoPE of the pairs (x[2i], x[2i + 1]) from a table of [cos, cos] and
   [-sin, sin]: x * c + swap(x) * s, rounded as the scalar re * cos - im * sin and re * sin + im * cos
   are (generated code is compiled with -ffp-contract=off, so neither side is fused). */
static int vocabulary_rope(struct emitter *e)
{
    struct kir_func *f = kir_begin(&e->kir, "vf_rope", kir_vector_type(KIR_F32, e->kir.width), KIR_INLINE, NULL);
    struct kir_node *x = kir_param(f, "x", VF_TYPE, 0), *c = kir_param(f, "c", in_ptr(), 0), *s = kir_param(f, "s", in_ptr(), 0);
    kir_return(f, ADD(MUL(x, VLOAD(c, INT(0))), MUL(kir_unary(f, KIR_SWAP_PAIRS, x), VLOAD(s, INT(0)))));
    return finish(e, f, false);
}

void kernel_vocabulary(struct emitter *e)
{
    if (e->kir.width > 1 && kir_find(&e->kir, "vf_exp") < 0) {
        vocabulary_exp(e);
        vocabulary_rope(e);
    }
}

void print_vocabulary(struct emitter *e, FILE *out, bool simde)
{
    target_emit_vocabulary(out, e->target, simde);
    kernel_vocabulary(e);
    if (e->kir.width > 1) {
        fprintf(out, "/* e^x (kernels.c, vocabulary_exp) */\n");
        kir_print_c_function(out, &e->kir, kir_find(&e->kir, "vf_exp"));
        fprintf(out, "/* Interleaved RoPE of pairs (kernels.c, vocabulary_rope) */\n");
        kir_print_c_function(out, &e->kir, kir_find(&e->kir, "vf_rope"));
    }
}

/* ---- reductions and elementwise kernels ------------------------------------------------------ */

/* dot_N(a, b): the inner product of attention scores and row-major matmuls (a: a weight row, in
   `format`, widened to f32 as it is read). In vectors: two accumulators over pairs of vectors,
   their lanes' sum, then the scalar tail. */
int kernel_dot_of(struct emitter *e, int n, int format)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "dot%s_%d", format_suffix(format), n);
    if (index >= 0)
        return index;
    struct kir_func *f = kir_begin(&e->kir, name, f32_type(), KIR_INLINE, NULL);
    struct kir_node *a = kir_param(f, "a", weight_ptr(format), KIR_RESTRICT), *b = kir_param(f, "b", in_ptr(), KIR_RESTRICT);
    const int W = e->kir.width, whole = n >= 2 * W ? whole_vectors(e, n, 2) : 0;
    struct kir_node *acc;
    if (whole) {
        struct kir_node *s0 = kir_decl(f, "s0", SET1(F32(0)), 0), *s1 = kir_decl(f, "s1", SET1(F32(0)), 0);
        struct kir_node *i = kir_for(f, "i", INT(0), INT(whole), 2 * W, 0);
        kir_assign(f, s0, kir_fma(f, WVLOAD(a, i), VLOAD(b, i), s0));
        kir_assign(f, s1, kir_fma(f, WVLOAD(a, ADD(i, INT(W))), VLOAD(b, ADD(i, INT(W))), s1));
        kir_end(f);
        acc = kir_decl(f, "acc", kir_unary(f, KIR_REDUCE_ADD, ADD(s0, s1)), 0);
    } else {
        acc = kir_decl(f, "acc", F32(0), 0);
    }
    if (whole < n) {
        struct kir_node *i = kir_for(f, "i", INT(whole), INT(n), 1, 0);
        kir_assign(f, acc, ADD(acc, MUL(WLOAD(a, i), LOAD(b, i))));
        kir_end(f);
    }
    kir_return(f, acc);
    return finish(e, f, true);
}

int kernel_dot(struct emitter *e, int n) { return kernel_dot_of(e, n, KILN_F32); }

/* axpy_N(a, x, y): y += a * x (x in `format`), the accumulation of attention's values and of
   embedding rows. */
int kernel_axpy_of(struct emitter *e, int n, int format)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "axpy%s_%d", format_suffix(format), n);
    if (index >= 0)
        return index;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), KIR_INLINE, NULL);
    struct kir_node *a = kir_param(f, "a", f32_type(), 0), *x = kir_param(f, "x", weight_ptr(format), KIR_RESTRICT),
                    *y = kir_param(f, "y", out_ptr(), KIR_RESTRICT);
    const int W = e->kir.width, whole = whole_vectors(e, n, 1);
    if (whole) {
        struct kir_node *va = kir_decl(f, "va", SET1(a), KIR_CONSTANT);
        struct kir_node *i = kir_for(f, "i", INT(0), INT(whole), W, 0);
        kir_store(f, y, i, kir_fma(f, va, WVLOAD(x, i), VLOAD(y, i)));
        kir_end(f);
    }
    if (whole < n) {
        struct kir_node *i = kir_for(f, "i", INT(whole), INT(n), 1, 0);
        kir_store(f, y, i, ADD(LOAD(y, i), MUL(a, WLOAD(x, i))));
        kir_end(f);
    }
    return finish(e, f, true);
}

int kernel_axpy(struct emitter *e, int n) { return kernel_axpy_of(e, n, KILN_F32); }

const char *kernel_embed_add(struct emitter *e, int n, int format)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "embed_add%s_%d", format_suffix(format), n);
    if (index < 0) {
        const int axpy = kernel_axpy_of(e, n, format);
        struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                       "out += table[token]; token -1 is Moshi's zero token (adds nothing)");
        struct kir_node *out = kir_param(f, "out", out_ptr(), KIR_RESTRICT), *table = kir_param(f, "table", weight_ptr(format), KIR_RESTRICT),
                        *token = kir_param(f, "token", i32_type(), 0);
        kir_if(f, kir_binary(f, KIR_GE, token, INT(0)));
        kir_eval(f, kir_call(f, axpy, 3, (struct kir_node *[]){F32(1.0), kir_addr(f, table, MUL(WIDE(token), INT(n))), out}));
        kir_end(f);
        index = finish(e, f, true);
    }
    return e->kir.funcs[index]->symbol;
}

const char *kernel_rms(struct emitter *e, int n, bool materialize)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "%s_%d", materialize ? "rms_norm" : "rms_scale", n);
    if (index >= 0)
        return e->kir.funcs[index]->symbol;
    const int dot = kernel_dot(e, n);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0, "%s",
                                   materialize ? "out[t] = x[t] * (alpha * rsqrt(eps + mean(x[t]^2))), in f32 (Moshi's RMSNorm)"
                                               : "s[t] = rsqrt(eps + mean(x[t]^2)): RMSNorm whose alpha the next matmuls hold");
    struct kir_node *x = kir_param(f, "x", in_ptr(), KIR_RESTRICT), *alpha = NULL;
    if (materialize)
        alpha = kir_param(f, "alpha", in_ptr(), KIR_RESTRICT);
    struct kir_node *eps = kir_param(f, "eps", f32_type(), 0);
    struct kir_node *out = kir_param(f, materialize ? "out" : "s", out_ptr(), KIR_RESTRICT), *T = kir_param(f, "T", i32_type(), 0);
    struct kir_node *t = kir_for(f, "t", INT(0), T, 1, 0);
    struct kir_node *xt = kir_decl(f, "xt", kir_addr(f, x, MUL(t, INT(n))), KIR_CONSTANT);
    struct kir_node *mean = DIV(kir_call(f, dot, 2, (struct kir_node *[]){xt, xt}), F32(n));
    struct kir_node *r = kir_decl(f, "r", DIV(F32(1.0), kir_unary(f, KIR_SQRT, ADD(mean, eps))), KIR_CONSTANT);
    if (materialize) {
        struct kir_node *i = kir_for(f, "i", INT(0), INT(n), 1, 0);
        kir_store(f, out, ADD(MUL(t, INT(n)), i), MUL(LOAD(xt, i), MUL(LOAD(alpha, i), r)));
        kir_end(f);
    } else {
        kir_store(f, out, t, r);
    }
    kir_end(f);
    const int defined = finish(e, f, true);
    return e->kir.funcs[defined]->symbol;
}

const char *kernel_add(struct emitter *e, int n)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "add_%d", n);
    if (index < 0) {
        struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0, NULL);
        struct kir_node *x = kir_param(f, "x", out_ptr(), KIR_RESTRICT), *y = kir_param(f, "y", in_ptr(), KIR_RESTRICT),
                        *T = kir_param(f, "T", i32_type(), 0);
        struct kir_node *i = kir_for(f, "i", INT(0), MUL(T, INT(n)), 1, 0);
        kir_store(f, x, i, ADD(LOAD(x, i), LOAD(y, i)));
        kir_end(f);
        index = finish(e, f, true);
    }
    return e->kir.funcs[index]->symbol;
}

/* silu(a) * b, as a / (1 + e^-a) * b */
struct kir_node *silu_times(struct kir_func *f, struct kir_node *a, struct kir_node *b)
{
    return MUL(DIV(a, ADD(F32(1.0), kir_unary(f, KIR_EXP, kir_unary(f, KIR_NEG, a)))), b);
}

const char *kernel_silu_gate(struct emitter *e, int n)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "silu_gate_%d", n);
    if (index < 0) {
        struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0, "out[t][i] = silu(h[t][i]) * h[t][%d + i]", n);
        struct kir_node *h = kir_param(f, "h", in_ptr(), KIR_RESTRICT), *out = kir_param(f, "out", out_ptr(), KIR_RESTRICT),
                        *T = kir_param(f, "T", i32_type(), 0);
        struct kir_node *t = kir_for(f, "t", INT(0), T, 1, 0), *i = kir_for(f, "i", INT(0), INT(n), 1, 0);
        struct kir_node *a = kir_decl(f, "a", LOAD(h, ADD(MUL(t, INT(2 * n)), i)), KIR_CONSTANT);
        kir_store(f, out, ADD(MUL(t, INT(n)), i), silu_times(f, a, LOAD(h, ADD(ADD(MUL(t, INT(2 * n)), INT(n)), i))));
        index = finish(e, f, true);
    }
    return e->kir.funcs[index]->symbol;
}

const char *kernel_gelu_gate(struct emitter *e, int n)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "gelu_gate_%d", n);
    if (index < 0) {
        struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0, "x[t][i] *= gelu_tanh(g[t][i]): TTT's output gate");
        struct kir_node *x = kir_param(f, "x", out_ptr(), KIR_RESTRICT), *g = kir_param(f, "g", in_ptr(), KIR_RESTRICT),
                        *T = kir_param(f, "T", i32_type(), 0);
        struct kir_node *i = kir_for(f, "i", INT(0), MUL(T, INT(n)), 1, 0);
        struct kir_node *gi = LOAD(g, i);
        /* 0.5 g (1 + tanh(sqrt(2 / pi) (g + 0.044715 g^3))), in this order of operations */
        struct kir_node *inner = MUL(F32(0.7978845608), ADD(gi, MUL(MUL(MUL(F32(0.044715), gi), gi), gi)));
        kir_store(f, x, i, MUL(LOAD(x, i), MUL(MUL(F32(0.5), gi), ADD(F32(1.0), kir_unary(f, KIR_TANH, inner)))));
        index = finish(e, f, true);
    }
    return e->kir.funcs[index]->symbol;
}

/* ---- RoPE and the KV ring -------------------------------------------------------------------- */

/* rope_pair_HD(o, re, im, cs): one pair rotated into o by the per-call table's entry at cs (its
   [cos, cos] row; the [-sin, sin] row is HD floats on): the scalar RoPE of every kernel's non-vector
   path. */
int kernel_rope_pair(struct emitter *e, int head_dim)
{
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "rope_pair_%d", head_dim);
    if (index >= 0)
        return index;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), KIR_INLINE,
                                   "One pair (re, im) rotated into o by the per-call table's entry at cs (its [cos, cos] "
                                   "row; the\n   [-sin, sin] row is %d floats on): the scalar RoPE of every kernel's "
                                   "non-vector path.", head_dim);
    struct kir_node *o = kir_param(f, "o", out_ptr(), 0), *re = kir_param(f, "re", f32_type(), 0), *im = kir_param(f, "im", f32_type(), 0),
                    *cs = kir_param(f, "cs", in_ptr(), 0);
    struct kir_node *c = kir_decl(f, "c", LOAD(cs, INT(0)), KIR_CONSTANT), *sn = kir_decl(f, "sn", LOAD(cs, INT(head_dim + 1)), KIR_CONSTANT);
    kir_store(f, o, INT(0), SUB(MUL(re, c), MUL(im, sn)));
    kir_store(f, o, INT(1), ADD(MUL(re, sn), MUL(im, c)));
    return finish(e, f, true);
}

/* Interleaved RoPE on the q and k thirds of qkv: in vectors where a vector never straddles two
   heads (the head size a multiple of its width), else pair by pair; both round alike. */
const char *kernel_rope_qk(struct emitter *e, const struct ir_graph *g)
{
    const int D = g->dim, HD = g->head_dim, W = e->kir.width;
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "rope_qk_%d", D);
    if (index >= 0)
        return e->kir.funcs[index]->symbol;
    const bool vectors = W > 1 && HD % W == 0;
    const int callee = vectors ? kir_find(&e->kir, "vf_rope") : kernel_rope_pair(e, HD);
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "Interleaved RoPE on the q and k thirds of qkv[t][%d] (rope_cs: this call's table).", 3 * D);
    struct kir_node *qkv = kir_param(f, "qkv", out_ptr(), 0), *rope_cs = kir_param(f, "rope_cs", in_ptr(), KIR_RESTRICT),
                    *T = kir_param(f, "T", i32_type(), 0);
    struct kir_node *t = kir_for(f, "t", INT(0), T, 1, 0), *r = kir_for(f, "r", INT(0), INT(2 * D), vectors ? W : 2, 0);
    struct kir_node *cs = kir_addr(f, rope_cs, ADD(MUL(WIDE(t), INT(2 * HD)), kir_binary(f, KIR_REM, r, INT(HD))));
    if (vectors) {
        struct kir_node *c = kir_decl(f, "c", cs, KIR_CONSTANT), *row = ADD(MUL(t, INT(3 * D)), r);
        kir_store(f, qkv, row, kir_call(f, callee, 3, (struct kir_node *[]){VLOAD(qkv, row), c, kir_addr(f, c, INT(HD))}));
    } else {
        struct kir_node *x = kir_decl(f, "x", kir_addr(f, qkv, ADD(MUL(t, INT(3 * D)), r)), KIR_CONSTANT);
        kir_eval(f, kir_call(f, callee, 4, (struct kir_node *[]){x, LOAD(x, INT(0)), LOAD(x, INT(1)), cs}));
    }
    const int defined = finish(e, f, true);
    return e->kir.funcs[defined]->symbol;
}

const char *kernel_kv_write(struct emitter *e, const struct ir_graph *g)
{
    const int D = g->dim, HD = g->head_dim, cap = g->kv_capacity;
    char name[KERNEL_NAME];
    int index = kernel_lookup(e, name, "kv_write%s_%d_ring%d", format_suffix(g->kv_format), D, cap);
    if (index >= 0)
        return e->kir.funcs[index]->symbol;
    struct kir_func *f = kir_begin(&e->kir, name, void_type(), 0,
                                   "The k and v thirds of qkv[t][%d] into ring slot (pos0 + t) %% %d, head by head ([head][slot][%d]).",
                                   3 * D, cap, HD);
    const struct kir_type ring = kir_pointer_type(format_scalar(g->kv_format), false);
    struct kir_node *qkv = kir_param(f, "qkv", in_ptr(), 0), *k_ring = kir_param(f, "k_ring", ring, 0),
                    *v_ring = kir_param(f, "v_ring", ring, 0), *pos0 = kir_param(f, "pos0", i64_type(), 0),
                    *T = kir_param(f, "T", i32_type(), 0);
    struct kir_node *t = kir_for(f, "t", INT(0), T, 1, 0);
    struct kir_node *slot = kir_decl(f, "slot", kir_binary(f, KIR_REM, ADD(pos0, t), INT(cap)), KIR_CONSTANT);
    struct kir_node *h = kir_for(f, "h", INT(0), INT(g->heads), 1, 0);
    struct kir_node *at = MUL(ADD(MUL(WIDE(h), INT(cap)), slot), INT(HD));
    struct kir_node *k = kir_addr(f, qkv, ADD(ADD(MUL(t, INT(3 * D)), INT(D)), MUL(h, INT(HD))));
    struct kir_node *v = kir_addr(f, qkv, ADD(ADD(MUL(t, INT(3 * D)), INT(2 * D)), MUL(h, INT(HD))));
    if (g->kv_format == KILN_F32) {
        kir_copy(f, kir_addr(f, k_ring, at), k, INT(HD));
        kir_copy(f, kir_addr(f, v_ring, at), v, INT(HD));
    } else { /* (rounded to the ring's format) */
        struct kir_node *c = kir_for(f, "c", INT(0), INT(HD), 1, 0);
        kir_store(f, k_ring, ADD(at, c), store_as(f, g->kv_format, LOAD(k, c)));
        kir_store(f, v_ring, ADD(at, c), store_as(f, g->kv_format, LOAD(v, c)));
        kir_end(f);
    }
    const int defined = finish(e, f, true);
    return e->kir.funcs[defined]->symbol;
}

/* ---- the sampling's reductions (kiln_rt.h argmax, softmax_exp) -------------------------------- */

/* argmax keeps the scalar rule exactly: the first index of the largest value, NaNs never chosen
   unless x[0] is one (then 0). In vectors: the largest value first (MAX keeps its second operand,
   the running maximum, where x is NaN, so no lane is ever NaN), then the first index holding it. */
static void kernel_argmax(struct emitter *e)
{
    struct kir_func *f = kir_begin(&e->kir, "argmax", i32_type(), 0, "Sampling (kiln_rt.h argmax): the first index of the largest of x[n].");
    struct kir_node *x = kir_param(f, "x", in_ptr(), 0), *n = kir_param(f, "n", i32_type(), 0);
    const int W = e->kir.width;
    if (W == 1) {
        struct kir_node *best = kir_decl(f, "best", INT(0), 0);
        struct kir_node *i = kir_for(f, "i", INT(1), n, 1, 0);
        kir_if(f, kir_binary(f, KIR_GT, LOAD(x, i), LOAD(x, best)));
        kir_assign(f, best, i);
        kir_end(f);
        kir_end(f);
        kir_return(f, best);
        finish(e, f, true);
        return;
    }
    struct kir_node *x0 = LOAD(x, INT(0));
    kir_if(f, kir_binary(f, KIR_NE, x0, x0));
    kir_return(f, INT(0));
    kir_end(f);
    struct kir_node *whole = kir_decl(f, "whole", MUL(DIV(n, INT(W)), INT(W)), KIR_CONSTANT);
    struct kir_node *vm = kir_decl(f, "vm", SET1(x0), 0);
    struct kir_node *i = kir_for(f, "i", INT(0), whole, W, 0);
    kir_assign(f, vm, kir_binary(f, KIR_MAX, VLOAD(x, i), vm));
    kir_end(f);
    struct kir_node *m = kir_decl(f, "m", kir_unary(f, KIR_REDUCE_MAX, vm), 0);
    i = kir_for(f, "i", whole, n, 1, 0);
    kir_assign(f, m, kir_binary(f, KIR_MAX, LOAD(x, i), m));
    kir_end(f);
    i = kir_for(f, "i", INT(0), n, 1, 0);
    kir_if(f, kir_binary(f, KIR_EQ, LOAD(x, i), m));
    kir_return(f, i);
    kir_end(f);
    kir_end(f);
    kir_return(f, INT(0)); /* (not reached: m is one of x's values) */
    finish(e, f, true);
}

void exp_sum(struct emitter *e, struct kir_func *f, struct kir_node *in, struct kir_node *out, struct kir_node *n,
             struct kir_node *temp, struct kir_node *max, struct kir_node *sum, bool vectors)
{
    const int W = e->kir.width;
    struct kir_node *whole = INT(0);
    if (vectors) {
        whole = kir_decl(f, "whole", MUL(DIV(n, INT(W)), INT(W)), KIR_CONSTANT);
        struct kir_node *vtemp = temp ? kir_decl(f, "vtemp", SET1(temp), KIR_CONSTANT) : NULL;
        struct kir_node *vmax = kir_decl(f, "vmax", SET1(max), KIR_CONSTANT), *vsum = kir_decl(f, "vsum", SET1(F32(0)), 0);
        struct kir_node *i = kir_for(f, "i", INT(0), whole, W, 0);
        struct kir_node *shifted = SUB(temp ? DIV(VLOAD(in, i), vtemp) : VLOAD(in, i), vmax);
        struct kir_node *x = kir_decl(f, "x", kir_call(f, kir_find(&e->kir, "vf_exp"), 1, &shifted), KIR_CONSTANT);
        kir_store(f, out, i, x);
        kir_assign(f, vsum, ADD(vsum, x));
        kir_end(f);
        kir_assign(f, sum, ADD(sum, kir_unary(f, KIR_REDUCE_ADD, vsum)));
    }
    struct kir_node *i = kir_for(f, "i", whole, n, 1, 0);
    kir_store(f, out, i, kir_unary(f, KIR_EXP, SUB(temp ? DIV(LOAD(in, i), temp) : LOAD(in, i), max)));
    kir_assign(f, sum, ADD(sum, LOAD(out, i)));
    kir_end(f);
}

/* p[i] = exp(logits[i] / temp - max), and their sum. */
static void kernel_softmax_exp(struct emitter *e)
{
    struct kir_func *f = kir_begin(&e->kir, "softmax_exp", f32_type(), 0,
                                   "Sampling (kiln_rt.h softmax_exp): p[i] = exp(logits[i] / temp - max), and their sum.");
    struct kir_node *logits = kir_param(f, "logits", in_ptr(), 0), *n = kir_param(f, "n", i32_type(), 0),
                    *temp = kir_param(f, "temp", f32_type(), 0), *max = kir_param(f, "max", f32_type(), 0), *p = kir_param(f, "p", out_ptr(), 0);
    struct kir_node *sum = kir_decl(f, "sum", F32(0), 0);
    exp_sum(e, f, logits, p, n, temp, max, sum, e->kir.width > 1);
    kir_return(f, sum);
    finish(e, f, true);
}

void kernel_sampling(struct emitter *e)
{
    kernel_argmax(e);
    kernel_softmax_exp(e);
}
