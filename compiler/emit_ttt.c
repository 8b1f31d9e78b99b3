/* emit_ttt.c: the TTT sequence mixers' kernels (docs/ttt.md §2-§3), as C text.
 *
 * One kernel serves both modes: a call takes T rows from absolute position pos0 and cuts them at
 * mini-batch boundaries into pieces. A piece of m rows (in-batch offset i0) runs the dual form
 * against the weights W, c at the last boundary and the lr-weighted gradient sums GW, gc of the
 * earlier pieces of the same mini-batch:
 *     z_i = q_i W + c - tok_i (q_i GW + gc + sum_{j <= i} lr_j (q_i . k_j + 1) g_j),
 * every gradient g_j taken at (W, c); the piece then adds its gradients into GW, gc, and the row
 * that closes a mini-batch commits W -= tok_{b-1} GW, c -= tok_{b-1} gc. A teacher-forced forward
 * passes whole mini-batches (the reference's dual form); streaming passes one row at a time (its
 * decode path). Weights come in as one `struct ttt_weights`; the state is the stream's. The heads
 * are shared out among the calling team (each head's result is one thread's), the rest is single. */
#include <stdlib.h>
#include <string.h>
#include "emit_internal.h"


/* Writes tmpl with every "$X" replaced by the value of the substitution named X. */
struct subst { const char *name; char value[72]; };

static void expand(FILE *out, const char *tmpl, const struct subst *subs, int n)
{
    for (const char *p = tmpl; *p; p++) {
        if (*p != '$') {
            fputc(*p, out);
            continue;
        }
        int best = -1;
        size_t best_len = 0;
        for (int i = 0; i < n; i++) {
            size_t len = strlen(subs[i].name);
            if (len > best_len && strncmp(p + 1, subs[i].name, len) == 0)
                best = i, best_len = len;
        }
        if (best < 0) {
            fputc('$', out);
            continue;
        }
        fputs(subs[best].value, out);
        p += best_len;
    }
}

/* One value or pair at a time: a LayerNorm gradient's terms, RoPE on pairs (the scalar forms and
   the vector forms' tails both call them). */
static const char *const one_at_a_time[] = {
    "/* LN(z)'s normalized xhat of one z, and gx = (gamma xhat + beta - target) gamma */\n"
    "static inline float ttt_ln_gx(float z, float mu, float std, float gamma, float beta, float target, float *xhat)\n{\n"
    "    *xhat = (z - mu) / std;\n    return (gamma * *xhat + beta - target) * gamma;\n}\n\n",
    "/* Interleaved RoPE on the pairs of every head of x[D] (cs: [cos, cos] and [-sin, sin], [2][hd]) */\n"
    "static inline void ttt_rope_pairs(float *x, const float *cs, int D, int hd)\n{\n"
    "    for (int c = 0; c < D; c += 2) {\n"
    "        const float co = cs[c % hd], sn = cs[hd + c % hd + 1], x0 = x[c], x1 = x[c + 1];\n"
    "        x[c] = x0 * co - x1 * sn;\n        x[c + 1] = x1 * co + x0 * sn;\n    }\n}\n\n",
};

/* The inner loop's linear algebra, plain: y = x W (+ b), W += a x^T y, x . y, y += a x. */
static const char *const algebra_scalar[] = {
    "/* y[n_out] = x[n_in] W[n_in][n_out] (+ bias) */\n"
    "static inline void ttt_vec_mat(const float *restrict x, const float *restrict W, const float *restrict bias,\n"
    "    float *restrict y, int n_in, int n_out)\n{\n"
    "    for (int o = 0; o < n_out; o++)\n        y[o] = bias ? bias[o] : 0.0f;\n"
    "    for (int i = 0; i < n_in; i++)\n        for (int o = 0; o < n_out; o++)\n"
    "            y[o] += x[i] * W[(size_t)i * n_out + o];\n}\n\n",
    "/* W[n_in][n_out] += a * x^T y (a rank-1 update) */\n"
    "static inline void ttt_rank1(float *restrict W, float a, const float *restrict x, const float *restrict y,\n"
    "    int n_in, int n_out)\n{\n"
    "    for (int i = 0; i < n_in; i++)\n        for (int o = 0; o < n_out; o++)\n"
    "            W[(size_t)i * n_out + o] += a * x[i] * y[o];\n}\n\n",
    "static inline float ttt_dot(const float *a, const float *b, int n)\n{\n"
    "    float s = 0.0f;\n    for (int i = 0; i < n; i++)\n        s += a[i] * b[i];\n    return s;\n}\n\n",
    "/* LayerNorm statistics: mean and sqrt(biased variance + eps) */\n"
    "static inline void ttt_ln_stats(const float *x, int n, float eps, float *mu, float *std)\n{\n"
    "    float m = 0.0f, v = 0.0f;\n    for (int i = 0; i < n; i++)\n        m += x[i];\n    m /= (float)n;\n"
    "    for (int i = 0; i < n; i++)\n        v += (x[i] - m) * (x[i] - m);\n"
    "    *mu = m;\n    *std = sqrtf(v / (float)n + eps);\n}\n\n",
    "static inline void ttt_ln(const float *x, const float *gamma, const float *beta, float eps, float *y, int n)\n{\n"
    "    float mu, std;\n    ttt_ln_stats(x, n, eps, &mu, &std);\n"
    "    for (int i = 0; i < n; i++)\n        y[i] = gamma[i] * ((x[i] - mu) / std) + beta[i];\n}\n\n",
    "/* The gradient of 1/2 |LN(z) - target|^2 with respect to z (ttt.py ln_fused_l2_bwd): a pass for\n"
    "   the two sums, then one for g, each recomputing xhat and gx rather than keeping them. */\n"
    "static inline void ttt_ln_l2_grad(const float *z, const float *target, const float *gamma, const float *beta,\n"
    "    float eps, float *g, int n)\n{\n"
    "    float mu, std, sum_g = 0.0f, sum_gx = 0.0f;\n"
    "    ttt_ln_stats(z, n, eps, &mu, &std);\n"
    "    for (int i = 0; i < n; i++) {\n"
    "        float xhat;\n        const float gx = ttt_ln_gx(z[i], mu, std, gamma[i], beta[i], target[i], &xhat);\n"
    "        sum_g += gx;\n        sum_gx += gx * xhat;\n    }\n"
    "    for (int i = 0; i < n; i++) {\n"
    "        float xhat;\n        const float gx = ttt_ln_gx(z[i], mu, std, gamma[i], beta[i], target[i], &xhat);\n"
    "        g[i] = (1.0f / (float)n) * ((float)n * gx - sum_g - xhat * sum_gx) / std;\n    }\n}\n\n",
    "static inline void ttt_rope(float *x, const float *cs, int D, int hd)\n{\n"
    "    ttt_rope_pairs(x, cs, D, hd);\n}\n\n",
    "/* y[n] += a x[n] */\n"
    "static inline void ttt_axpy(float *restrict y, float a, const float *restrict x, int n)\n{\n"
    "    for (int i = 0; i < n; i++)\n        y[i] += a * x[i];\n}\n\n",
};

/* The same in the target's vector vocabulary (compiler/target.c): four output vectors at a time, so
   four FMA chains are in flight; scalar tails. */
static const char *const algebra_vector[] = {
    "/* y[n_out] = x[n_in] W[n_in][n_out] (+ bias) */\n"
    "static inline void ttt_vec_mat(const float *restrict x, const float *restrict W, const float *restrict bias,\n"
    "    float *restrict y, int n_in, int n_out)\n{\n"
    "    int o = 0;\n"
    "    for (; o + 4 * VF_WIDTH <= n_out; o += 4 * VF_WIDTH) {\n"
    "        vf a0 = bias ? vf_load(bias + o) : vf_zero(), a1 = bias ? vf_load(bias + o + VF_WIDTH) : vf_zero();\n"
    "        vf a2 = bias ? vf_load(bias + o + 2 * VF_WIDTH) : vf_zero(), a3 = bias ? vf_load(bias + o + 3 * VF_WIDTH) : vf_zero();\n"
    "        for (int i = 0; i < n_in; i++) {\n"
    "            const vf xi = vf_set1(x[i]);\n"
    "            const float *Wi = W + (size_t)i * n_out + o;\n"
    "            a0 = vf_fma(xi, vf_load(Wi), a0);\n            a1 = vf_fma(xi, vf_load(Wi + VF_WIDTH), a1);\n"
    "            a2 = vf_fma(xi, vf_load(Wi + 2 * VF_WIDTH), a2);\n            a3 = vf_fma(xi, vf_load(Wi + 3 * VF_WIDTH), a3);\n"
    "        }\n"
    "        vf_store(y + o, a0);\n        vf_store(y + o + VF_WIDTH, a1);\n"
    "        vf_store(y + o + 2 * VF_WIDTH, a2);\n        vf_store(y + o + 3 * VF_WIDTH, a3);\n"
    "    }\n"
    "    for (; o < n_out; o++) {\n"
    "        float acc = bias ? bias[o] : 0.0f;\n"
    "        for (int i = 0; i < n_in; i++)\n            acc += x[i] * W[(size_t)i * n_out + o];\n"
    "        y[o] = acc;\n    }\n}\n\n",
    "/* W[n_in][n_out] += a * x^T y (a rank-1 update) */\n"
    "static inline void ttt_rank1(float *restrict W, float a, const float *restrict x, const float *restrict y,\n"
    "    int n_in, int n_out)\n{\n"
    "    for (int i = 0; i < n_in; i++) {\n"
    "        const float axi = a * x[i];\n        const vf vaxi = vf_set1(axi);\n"
    "        float *Wi = W + (size_t)i * n_out;\n        int o = 0;\n"
    "        for (; o + VF_WIDTH <= n_out; o += VF_WIDTH)\n"
    "            vf_store(Wi + o, vf_fma(vaxi, vf_load(y + o), vf_load(Wi + o)));\n"
    "        for (; o < n_out; o++)\n            Wi[o] += axi * y[o];\n    }\n}\n\n",
    "static inline float ttt_dot(const float *a, const float *b, int n)\n{\n"
    "    vf s0 = vf_zero(), s1 = vf_zero();\n    int i = 0;\n"
    "    for (; i + 2 * VF_WIDTH <= n; i += 2 * VF_WIDTH) {\n"
    "        s0 = vf_fma(vf_load(a + i), vf_load(b + i), s0);\n"
    "        s1 = vf_fma(vf_load(a + i + VF_WIDTH), vf_load(b + i + VF_WIDTH), s1);\n    }\n"
    "    float s = vf_sum(vf_add(s0, s1));\n"
    "    for (; i < n; i++)\n        s += a[i] * b[i];\n    return s;\n}\n\n",
    "/* LayerNorm statistics: mean and sqrt(biased variance + eps) */\n"
    "static inline void ttt_ln_stats(const float *x, int n, float eps, float *mu, float *std)\n{\n"
    "    vf vs = vf_zero();\n    int i = 0;\n"
    "    for (; i + VF_WIDTH <= n; i += VF_WIDTH)\n        vs = vf_add(vs, vf_load(x + i));\n"
    "    float m = vf_sum(vs);\n    for (; i < n; i++)\n        m += x[i];\n    m /= (float)n;\n"
    "    const vf vm = vf_set1(m);\n    vf vv = vf_zero();\n"
    "    for (i = 0; i + VF_WIDTH <= n; i += VF_WIDTH) {\n"
    "        const vf d = vf_sub(vf_load(x + i), vm);\n        vv = vf_fma(d, d, vv);\n    }\n"
    "    float v = vf_sum(vv);\n    for (; i < n; i++)\n        v += (x[i] - m) * (x[i] - m);\n"
    "    *mu = m;\n    *std = sqrtf(v / (float)n + eps);\n}\n\n",
    "static inline void ttt_ln(const float *x, const float *gamma, const float *beta, float eps, float *y, int n)\n{\n"
    "    float mu, std;\n    ttt_ln_stats(x, n, eps, &mu, &std);\n"
    "    const vf vmu = vf_set1(mu), vstd = vf_set1(std);\n    int i = 0;\n"
    "    for (; i + VF_WIDTH <= n; i += VF_WIDTH)\n"
    "        vf_store(y + i, vf_add(vf_mul(vf_load(gamma + i), vf_div(vf_sub(vf_load(x + i), vmu), vstd)), vf_load(beta + i)));\n"
    "    for (; i < n; i++)\n        y[i] = gamma[i] * ((x[i] - mu) / std) + beta[i];\n}\n\n",
    "/* The gradient of 1/2 |LN(z) - target|^2 with respect to z (ttt.py ln_fused_l2_bwd), as above */\n"
    "static inline void ttt_ln_l2_grad(const float *z, const float *target, const float *gamma, const float *beta,\n"
    "    float eps, float *g, int n)\n{\n"
    "    float mu, std;\n    ttt_ln_stats(z, n, eps, &mu, &std);\n"
    "    const vf vmu = vf_set1(mu), vstd = vf_set1(std);\n    vf vg = vf_zero(), vgx = vf_zero();\n    int i = 0;\n"
    "    for (; i + VF_WIDTH <= n; i += VF_WIDTH) {\n"
    "        const vf xhat = vf_div(vf_sub(vf_load(z + i), vmu), vstd), gm = vf_load(gamma + i);\n"
    "        const vf gx = vf_mul(vf_sub(vf_add(vf_mul(gm, xhat), vf_load(beta + i)), vf_load(target + i)), gm);\n"
    "        vg = vf_add(vg, gx);\n        vgx = vf_fma(gx, xhat, vgx);\n    }\n"
    "    float sum_g = vf_sum(vg), sum_gx = vf_sum(vgx);\n"
    "    for (; i < n; i++) {\n"
    "        float xhat;\n        const float gx = ttt_ln_gx(z[i], mu, std, gamma[i], beta[i], target[i], &xhat);\n"
    "        sum_g += gx;\n        sum_gx += gx * xhat;\n    }\n"
    "    const vf inv_n = vf_set1(1.0f / (float)n), vn = vf_set1((float)n), vsg = vf_set1(sum_g), vsgx = vf_set1(sum_gx);\n"
    "    for (i = 0; i + VF_WIDTH <= n; i += VF_WIDTH) {\n"
    "        const vf xhat = vf_div(vf_sub(vf_load(z + i), vmu), vstd), gm = vf_load(gamma + i);\n"
    "        const vf gx = vf_mul(vf_sub(vf_add(vf_mul(gm, xhat), vf_load(beta + i)), vf_load(target + i)), gm);\n"
    "        vf_store(g + i, vf_div(vf_mul(inv_n, vf_sub(vf_sub(vf_mul(vn, gx), vsg), vf_mul(xhat, vsgx))), vstd));\n    }\n"
    "    for (; i < n; i++) {\n"
    "        float xhat;\n        const float gx = ttt_ln_gx(z[i], mu, std, gamma[i], beta[i], target[i], &xhat);\n"
    "        g[i] = (1.0f / (float)n) * ((float)n * gx - sum_g - xhat * sum_gx) / std;\n    }\n}\n\n",
    "/* Interleaved RoPE on the pairs of every head of x[D] (cs: [cos, cos] and [-sin, sin], [2][hd]);\n"
    "   in vectors where none straddles two heads. */\n"
    "static inline void ttt_rope(float *x, const float *cs, int D, int hd)\n{\n"
    "    if (hd % VF_WIDTH == 0) {\n"
    "        for (int c = 0; c < D; c += VF_WIDTH)\n"
    "            vf_store(x + c, vf_rope(vf_load(x + c), cs + c % hd, cs + hd + c % hd));\n"
    "        return;\n    }\n"
    "    ttt_rope_pairs(x, cs, D, hd);\n}\n\n",
    "/* y[n] += a x[n] */\n"
    "static inline void ttt_axpy(float *restrict y, float a, const float *restrict x, int n)\n{\n"
    "    const vf va = vf_set1(a);\n    int i = 0;\n"
    "    for (; i + VF_WIDTH <= n; i += VF_WIDTH)\n        vf_store(y + i, vf_fma(va, vf_load(x + i), vf_load(y + i)));\n"
    "    for (; i < n; i++)\n        y[i] += a * x[i];\n}\n\n",
};

/* TTT-MLP's tanh-GELU and its derivative: one value at a time, then over a row, plain or in the
   target's vectors (with scalar tails). Written only into files with a TTT-MLP layer. */
static const char *const gelu_one[] = {
    "static inline float ttt_gelu(float x)\n{\n"
    "    return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));\n}\n\n",
    "/* Megatron's tanh-GELU derivative, as ttt.py's gelu_bwd */\n"
    "static inline float ttt_gelu_grad(float x)\n{\n"
    "    float t = tanhf(0.79788456f * x * (1.0f + 0.044715f * x * x));\n"
    "    return 0.5f * x * ((1.0f - t * t) * (0.79788456f + 0.1070322243f * x * x)) + 0.5f * (1.0f + t);\n}\n\n",
};

static const char *const gelu_scalar[] = {
    "static inline void ttt_gelu_n(const float *z, float *x, int n)\n{\n"
    "    for (int i = 0; i < n; i++)\n        x[i] = ttt_gelu(z[i]);\n}\n\n",
    "static inline void ttt_gelu_grad_n(const float *z, float *d, int n)\n{\n"
    "    for (int i = 0; i < n; i++)\n        d[i] = ttt_gelu_grad(z[i]);\n}\n\n",
};

static const char *const gelu_vector[] = {
    "/* tanh(u) = 1 - 2 / (e^(2u) + 1): what GELU needs (1 + tanh, 1 - tanh^2) to an absolute 1e-7 */\n"
    "static inline vf ttt_vtanh(vf u)\n{\n"
    "    return vf_sub(vf_set1(1.0f), vf_div(vf_set1(2.0f), vf_add(vf_exp(vf_add(u, u)), vf_set1(1.0f))));\n}\n\n",
    "static inline void ttt_gelu_n(const float *z, float *x, int n)\n{\n"
    "    int i = 0;\n"
    "    for (; i + VF_WIDTH <= n; i += VF_WIDTH) {\n"
    "        const vf v = vf_load(z + i);\n"
    "        const vf u = vf_mul(vf_set1(0.7978845608f), vf_add(v, vf_mul(vf_set1(0.044715f), vf_mul(v, vf_mul(v, v)))));\n"
    "        vf_store(x + i, vf_mul(vf_mul(vf_set1(0.5f), v), vf_add(vf_set1(1.0f), ttt_vtanh(u))));\n    }\n"
    "    for (; i < n; i++)\n        x[i] = ttt_gelu(z[i]);\n}\n\n",
    "static inline void ttt_gelu_grad_n(const float *z, float *d, int n)\n{\n"
    "    int i = 0;\n"
    "    for (; i + VF_WIDTH <= n; i += VF_WIDTH) {\n"
    "        const vf v = vf_load(z + i), v2 = vf_mul(v, v);\n"
    "        const vf t = ttt_vtanh(vf_mul(vf_mul(vf_set1(0.79788456f), v), vf_add(vf_set1(1.0f), vf_mul(vf_set1(0.044715f), v2))));\n"
    "        const vf slope = vf_mul(vf_sub(vf_set1(1.0f), vf_mul(t, t)), vf_add(vf_set1(0.79788456f), vf_mul(vf_set1(0.1070322243f), v2)));\n"
    "        vf_store(d + i, vf_add(vf_mul(vf_mul(vf_set1(0.5f), v), slope), vf_mul(vf_set1(0.5f), vf_add(vf_set1(1.0f), t))));\n    }\n"
    "    for (; i < n; i++)\n        d[i] = ttt_gelu_grad(z[i]);\n}\n\n",
};

/* Helpers every TTT kernel shares; written once per file (after the linear algebra). */
static const char *const common[] = {
    "/* Everything a TTT kernel reads besides its state (docs/ttt.md §1.1 names). */\n"
    "struct ttt_weights {\n"
    "    const float *W1, *b1, *W2, *b2;          /* initial inner weights: [nh][in][out], [nh][1][out] */\n"
    "    const float *norm_w, *norm_b;            /* ttt_norm: per-head LayerNorm [nh][hd] */\n"
    "    const float *lr_bias;                    /* learnable_ttt_lr_bias [nh] (its weight is a matmul) */\n"
    "    const float *token_idx;                  /* learnable_token_idx [b] */\n"
    "    const float *post_w, *post_b;            /* post_norm over the whole width */\n"
    "    const float *conv_q_w, *conv_q_b, *conv_k_w, *conv_k_b; /* share_qk: causal depthwise convs */\n"
    "    const float *rope_cs;                    /* [b][2][hd]: RoPE at in-batch position pos, [cos, cos]\n"
    "                                                and [-sin, sin] of pos / base^(2i / hd) per pair i */\n"
    "    float base_lr, eps;\n"
    "};\n\n",
    "/* tok_i = max(0, 1 / (i + 1) + learnable_token_idx[i]) */\n"
    "static inline float ttt_token_scale(const struct ttt_weights *p, int i)\n{\n"
    "    float t = 1.0f / (float)(i + 1) + p->token_idx[i];\n    return t > 0.0f ? t : 0.0f;\n}\n\n",
    "/* q, k rows for the inner loop: the causal depthwise convs of share_qk (history: the last ks - 1\n"
    "   rows of q_proj's output) or the projections as they are, then RoPE at position mod b. */\n"
    "static void ttt_prepare_qk(const struct ttt_weights *p, float *restrict history, const float *restrict xq,\n"
    "    const float *restrict xk, int64_t pos0, int T, int D, int hd, int b, int ks, float *restrict Q,\n"
    "    float *restrict K)\n{\n"
    "    for (int t = 0; t < T; t++) {\n"
    "        float *q = Q + (size_t)t * D, *k = K + (size_t)t * D;\n"
    "        if (!xk) {\n"
    "            for (int c = 0; c < D; c++) {\n"
    "                float sq = p->conv_q_b[c], sk = p->conv_k_b[c];\n"
    "                for (int j = 0; j < ks; j++) {\n"
    "                    int r = t - (ks - 1) + j;\n"
    "                    float x = r >= 0 ? xq[(size_t)r * D + c] : history[(size_t)(ks - 1 + r) * D + c];\n"
    "                    sq += p->conv_q_w[c * ks + j] * x;\n                    sk += p->conv_k_w[c * ks + j] * x;\n"
    "                }\n                q[c] = sq;\n                k[c] = sk;\n            }\n"
    "        } else {\n"
    "            memcpy(q, xq + (size_t)t * D, (size_t)D * sizeof(float));\n"
    "            memcpy(k, xk + (size_t)t * D, (size_t)D * sizeof(float));\n        }\n"
    "        const float *cs = p->rope_cs + (size_t)((pos0 + t) % b) * 2 * hd; /* the same for every head */\n"
    "        ttt_rope(q, cs, D, hd);\n        ttt_rope(k, cs, D, hd);\n    }\n"
    "    if (!xk && ks > 1) { /* keep the last ks - 1 rows of (history, xq) */\n"
    "        for (int j = 0; j < ks - 1; j++) {\n"
    "            int r = T - (ks - 1) + j;\n"
    "            if (r >= 0)\n                memcpy(history + (size_t)j * D, xq + (size_t)r * D, (size_t)D * sizeof(float));\n"
    "            else\n                memmove(history + (size_t)j * D, history + (size_t)(j + T) * D, (size_t)D * sizeof(float));\n"
    "        }\n    }\n}\n\n",
    "/* post_norm over the width, in place, for T rows (shared out among the team) */\n"
    "static void ttt_post_norm(const struct ttt_weights *p, float *out, int T, int D)\n{\n"
    "    #pragma omp for schedule(static)\n"
    "    for (int t = 0; t < T; t++)\n        ttt_ln(out + (size_t)t * D, p->post_w, p->post_b, p->eps, out + (size_t)t * D, D);\n}\n\n",
};

/* The piece loop shared by both kinds; $START, $HEAD, $GRAD, $ROW, $ACCUMULATE and $COMMIT are the parts
   that differ. */
static const char kernel_frame[] =
    "/* TTT-$KIND, $NH heads of $HD, mini-batch $MB: T rows from position pos0 (see emit_ttt.c). */\n"
    "static void $NAME(const struct ttt_weights *p, struct $NAME_state *st, const float *xq, const float *xk,\n"
    "    const float *xv, const float *lr_logit, int64_t pos0, int T, float *work, float *out)\n{\n"
    "    enum { NH = $NH, HD = $HD, F = $F, D = $D, MB = $MB };\n"
    "    float *Q = work, *K = work + (size_t)T * D, *pieces = K + (size_t)T * D;\n"
    "    #pragma omp single\n    {\n"
    "        if (!st->ready) {\n"
    "$START"
    "            memset(st->history, 0, sizeof st->history);\n"
    "            st->ready = 1;\n        }\n"
    "        ttt_prepare_qk(p, &st->history[0][0], xq, xk, pos0, T, D, HD, MB, $KS, Q, K);\n"
    "    }\n"
    "    for (int t0 = 0; t0 < T;) {\n"
    "        const int i0 = (int)((pos0 + t0) % MB), m = T - t0 < MB - i0 ? T - t0 : MB - i0;\n"
    "        /* heads are independent: shared out among the team, each with its own scratch */\n"
    "        #pragma omp for schedule(static)\n"
    "        for (int h = 0; h < NH; h++) {\n"
    "            float *const piece = pieces + (size_t)h * $PIECE, lr[MB];\n"
    "            const float *gamma = p->norm_w + h * HD, *beta = p->norm_b + h * HD;\n"
    "$HEAD"
    "            for (int j = 0; j < m; j++) {\n"
    "                const float *k = K + (size_t)(t0 + j) * D + h * HD, *v = xv + (size_t)(t0 + j) * D + h * HD;\n"
    "                float target[HD];\n"
    "                for (int e = 0; e < HD; e++)\n                    target[e] = v[e] - k[e];\n"
    "$GRAD"
    "                float logit = lr_logit[(t0 + j) * NH + h] + p->lr_bias[h];\n"
    "                lr[j] = p->base_lr * (1.0f / (1.0f + expf(-logit))) / (float)HD;\n"
    "            }\n"
    "            for (int i = 0; i < m; i++) {\n"
    "                const float *q = Q + (size_t)(t0 + i) * D + h * HD;\n"
    "                const float tok = ttt_token_scale(p, i0 + i);\n"
    "                float *o = out + (size_t)(t0 + i) * D + h * HD;\n"
    "$ROW"
    "            }\n"
    "            for (int j = 0; j < m; j++) {\n"
    "                const float *k = K + (size_t)(t0 + j) * D + h * HD;\n"
    "$ACCUMULATE"
    "            }\n"
    "            if (i0 + m == MB) { /* this piece closes the mini-batch: commit with tok_{b-1} */\n"
    "                const float tok = ttt_token_scale(p, MB - 1);\n"
    "$COMMIT"
    "            }\n"
    "        }\n"
    "        t0 += m;\n"
    "    }\n"
    "    ttt_post_norm(p, out, T, D);\n"
    "}\n\n";

static const char linear_state[] =
    "/* TTT-Linear state of one layer: $NH heads of $HD */\n"
    "struct $NAME_state {\n"
    "    int ready;                 /* 0 until W, c are taken from the weights */\n"
    "    float W[$NH][$HD][$HD];      /* inner weights at the last mini-batch boundary */\n"
    "    float c[$NH][$HD];\n"
    "    float GW[$NH][$HD][$HD];     /* lr-weighted gradient sums of the current mini-batch */\n"
    "    float gc[$NH][$HD];\n"
    "    float history[$HIST][$D];   /* share_qk: the last conv_kernel - 1 rows of q_proj's output */\n"
    "};\n\n";

static const struct { const char *name, *text; } linear_parts[] = {
    {"START", "            memcpy(st->W, p->W1, sizeof st->W);\n            memcpy(st->c, p->b1, sizeof st->c);\n"
              "            memset(st->GW, 0, sizeof st->GW);\n            memset(st->gc, 0, sizeof st->gc);\n"},
    {"HEAD", "            float *W = &st->W[h][0][0], *c = st->c[h], *GW = &st->GW[h][0][0], *gc = st->gc[h];\n"
             "            float *g = piece; /* [m][HD] gradients at (W, c) */\n"},
    {"GRAD", "                float z[HD];\n                ttt_vec_mat(k, W, c, z, HD, HD);\n"
             "                ttt_ln_l2_grad(z, target, gamma, beta, p->eps, g + j * HD, HD);\n"},
    {"ROW", "                float z[HD], corr[HD];\n"
            "                ttt_vec_mat(q, W, c, z, HD, HD);\n                ttt_vec_mat(q, GW, gc, corr, HD, HD);\n"
            "                for (int j = 0; j <= i; j++) {\n"
            "                    float a = lr[j] * (ttt_dot(q, K + (size_t)(t0 + j) * D + h * HD, HD) + 1.0f);\n"
            "                    ttt_axpy(corr, a, g + j * HD, HD);\n"
            "                }\n"
            "                ttt_axpy(z, -tok, corr, HD);\n"
            "                ttt_ln(z, gamma, beta, p->eps, o, HD);\n"
            "                ttt_axpy(o, 1.0f, q, HD);\n"},
    {"ACCUMULATE", "                ttt_rank1(GW, lr[j], k, g + j * HD, HD, HD);\n"
                   "                ttt_axpy(gc, lr[j], g + j * HD, HD);\n"},
    {"COMMIT", "                ttt_axpy(W, -tok, GW, HD * HD);\n                memset(GW, 0, HD * HD * sizeof *GW);\n"
               "                ttt_axpy(c, -tok, gc, HD);\n                memset(gc, 0, HD * sizeof *gc);\n"},
};

static const char mlp_state[] =
    "/* TTT-MLP state of one layer: $NH heads, $HD -> $F -> $HD */\n"
    "struct $NAME_state {\n"
    "    int ready;                 /* 0 until the inner weights are taken from the weights */\n"
    "    float W1[$NH][$HD][$F], c1[$NH][$F], W2[$NH][$F][$HD], c2[$NH][$HD]; /* at the last boundary */\n"
    "    float GW1[$NH][$HD][$F], gc1[$NH][$F], GW2[$NH][$F][$HD], gc2[$NH][$HD]; /* this mini-batch's sums */\n"
    "    float history[$HIST][$D];   /* share_qk: the last conv_kernel - 1 rows of q_proj's output */\n"
    "};\n\n";

static const struct { const char *name, *text; } mlp_parts[] = {
    {"START", "            memcpy(st->W1, p->W1, sizeof st->W1);\n            memcpy(st->c1, p->b1, sizeof st->c1);\n"
              "            memcpy(st->W2, p->W2, sizeof st->W2);\n            memcpy(st->c2, p->b2, sizeof st->c2);\n"
              "            memset(st->GW1, 0, sizeof st->GW1);\n            memset(st->gc1, 0, sizeof st->gc1);\n"
              "            memset(st->GW2, 0, sizeof st->GW2);\n            memset(st->gc2, 0, sizeof st->gc2);\n"},
    {"HEAD", "            float *W1 = &st->W1[h][0][0], *c1 = st->c1[h], *W2 = &st->W2[h][0][0], *c2 = st->c2[h];\n"
             "            float *GW1 = &st->GW1[h][0][0], *gc1 = st->gc1[h], *GW2 = &st->GW2[h][0][0], *gc2 = st->gc2[h];\n"
             "            /* per row j of the piece, all at the boundary weights: */\n"
             "            float *Z1 = piece, *X2 = Z1 + MB * F, *G1 = X2 + MB * F, *G2 = G1 + MB * F;\n"},
    {"GRAD", "                float z2[HD];\n"
             "                ttt_vec_mat(k, W1, c1, Z1 + j * F, HD, F);\n"
             "                ttt_gelu_n(Z1 + j * F, X2 + j * F, F);\n"
             "                ttt_vec_mat(X2 + j * F, W2, c2, z2, F, HD);\n"
             "                ttt_ln_l2_grad(z2, target, gamma, beta, p->eps, G2 + j * HD, HD);\n"
             "                float slope[F];\n                ttt_gelu_grad_n(Z1 + j * F, slope, F);\n"
             "                for (int r = 0; r < F; r++)\n"
             "                    G1[j * F + r] = ttt_dot(G2 + j * HD, W2 + (size_t)r * HD, HD) * slope[r];\n"},
    {"ROW", "                float z1[F], corr1[F], x2[F], z2[HD], corr2[HD];\n"
            "                ttt_vec_mat(q, W1, c1, z1, HD, F);\n                ttt_vec_mat(q, GW1, gc1, corr1, HD, F);\n"
            "                for (int j = 0; j <= i; j++) {\n"
            "                    float a = lr[j] * (ttt_dot(q, K + (size_t)(t0 + j) * D + h * HD, HD) + 1.0f);\n"
            "                    ttt_axpy(corr1, a, G1 + j * F, F);\n"
            "                }\n"
            "                ttt_axpy(z1, -tok, corr1, F);\n                ttt_gelu_n(z1, x2, F);\n"
            "                ttt_vec_mat(x2, W2, c2, z2, F, HD);\n                ttt_vec_mat(x2, GW2, gc2, corr2, F, HD);\n"
            "                for (int j = 0; j <= i; j++) {\n"
            "                    float a = lr[j] * (ttt_dot(x2, X2 + j * F, F) + 1.0f);\n"
            "                    ttt_axpy(corr2, a, G2 + j * HD, HD);\n"
            "                }\n"
            "                ttt_axpy(z2, -tok, corr2, HD);\n"
            "                ttt_ln(z2, gamma, beta, p->eps, o, HD);\n"
            "                ttt_axpy(o, 1.0f, q, HD);\n"},
    {"ACCUMULATE", "                ttt_rank1(GW1, lr[j], k, G1 + j * F, HD, F);\n"
                   "                ttt_rank1(GW2, lr[j], X2 + j * F, G2 + j * HD, F, HD);\n"
                   "                ttt_axpy(gc1, lr[j], G1 + j * F, F);\n                ttt_axpy(gc2, lr[j], G2 + j * HD, HD);\n"},
    {"COMMIT", "                ttt_axpy(W1, -tok, GW1, HD * F);\n                memset(GW1, 0, HD * F * sizeof *GW1);\n"
               "                ttt_axpy(W2, -tok, GW2, F * HD);\n                memset(GW2, 0, F * HD * sizeof *GW2);\n"
               "                ttt_axpy(c1, -tok, gc1, F);\n                memset(gc1, 0, F * sizeof *gc1);\n"
               "                ttt_axpy(c2, -tok, gc2, HD);\n                memset(gc2, 0, HD * sizeof *gc2);\n"},
};

void ttt_kernel_name(char *buf, size_t size, const struct ttt_shape *s)
{
    snprintf(buf, size, "ttt_%s_%dx%d_b%d%s", s->mlp ? "mlp" : "linear", s->heads, s->head_dim, s->mini_batch,
             s->conv_kernel > 0 ? "_conv" : "");
}

static void set(struct subst *subs, int *n, const char *name, int value)
{
    subs[*n].name = name;
    snprintf(subs[*n].value, sizeof subs[*n].value, "%d", value);
    (*n)++;
}

static int make_substs(const struct ttt_shape *s, struct subst *subs)
{
    int n = 0;
    subs[n].name = "NAME";
    ttt_kernel_name(subs[n].value, sizeof subs[n].value, s);
    n++;
    subs[n].name = "KIND";
    snprintf(subs[n].value, sizeof subs[n].value, "%s", s->mlp ? "MLP" : "Linear");
    n++;
    set(subs, &n, "NH", s->heads);
    set(subs, &n, "HD", s->head_dim);
    set(subs, &n, "F", s->mlp ? 4 * s->head_dim : s->head_dim);
    set(subs, &n, "D", s->heads * s->head_dim);
    set(subs, &n, "MB", s->mini_batch);
    set(subs, &n, "KS", s->conv_kernel);
    set(subs, &n, "HIST", s->conv_kernel > 1 ? s->conv_kernel - 1 : 1);
    set(subs, &n, "PIECE", ttt_piece_floats(s));
    return n;
}

#define PUT_ALL(out, texts)                                                                                    \
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)                                                \
        fputs(texts[i], out)

void emit_ttt_common(FILE *out, const struct target *target, bool mlp)
{
    fputs(common[0], out); /* struct ttt_weights */
    PUT_ALL(out, one_at_a_time);
    if (target->width > 1) {
        PUT_ALL(out, algebra_vector);
    } else {
        PUT_ALL(out, algebra_scalar);
    }
    if (mlp) {
        PUT_ALL(out, gelu_one);
        if (target->width > 1) {
            PUT_ALL(out, gelu_vector);
        } else {
            PUT_ALL(out, gelu_scalar);
        }
    }
    for (size_t i = 1; i < sizeof common / sizeof common[0]; i++)
        fputs(common[i], out);
}

void emit_ttt_state_type(FILE *out, const struct ttt_shape *s)
{
    struct subst subs[16];
    int n = make_substs(s, subs);
    expand(out, s->mlp ? mlp_state : linear_state, subs, n);
}

void emit_ttt_kernel(FILE *out, const struct ttt_shape *s)
{
    /* First splice the kind's parts into the frame, then expand the shape's names. */
    char *frame = NULL;
    size_t frame_size = 0;
    FILE *mem = open_memstream(&frame, &frame_size);
    for (const char *p = kernel_frame; *p; p++) {
        bool spliced = false;
        for (int i = 0; *p == '$' && i < 6 && !spliced; i++) {
            const char *name = s->mlp ? mlp_parts[i].name : linear_parts[i].name;
            size_t len = strlen(name);
            if (strncmp(p + 1, name, len) == 0) {
                fputs(s->mlp ? mlp_parts[i].text : linear_parts[i].text, mem);
                p += len;
                spliced = true;
            }
        }
        if (!spliced)
            fputc(*p, mem);
    }
    fclose(mem);
    struct subst subs[16];
    expand(out, frame, subs, make_substs(s, subs));
    free(frame);
}

