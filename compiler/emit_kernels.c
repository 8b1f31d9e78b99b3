/* emit_kernels.c: the kernels of the C back end, as text. Each is specialized for its shapes and
 * fusions (every bound but the row count T a literal), written once and named after what it is
 * specialized for, so identical layers share it. Rows are contiguous: x[t][C] at x + t * C. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "emit_internal.h"

static char kernel_name[96];

/* Records name; returns true when the kernel was already written. */
static bool seen(struct emitter *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool seen(struct emitter *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kernel_name, sizeof kernel_name, fmt, ap);
    va_end(ap);
    for (int i = 0; i < e->num_kernels; i++)
        if (strcmp(e->kernel_names[i], kernel_name) == 0)
            return true;
    e->kernel_names = realloc(e->kernel_names, (size_t)(e->num_kernels + 1) * sizeof *e->kernel_names);
    e->kernel_names[e->num_kernels++] = strdup(kernel_name);
    return false;
}

bool seen_kernel(struct emitter *e, const char *name) { return seen(e, "%s", name); }

/* A C float literal that reads back as exactly `value` ("1.0f", "9.99999994e-09f"). */
void float_literal(char *buf, size_t size, float value)
{
    snprintf(buf, size, "%.9g", (double)value);
    snprintf(buf + strlen(buf), size - strlen(buf), "%sf", strpbrk(buf, ".e") ? "" : ".0");
}

/* dot_N(a, b): the inner product of attention scores and row-major matmuls; on a vector target two
   vector accumulators (then the lanes, then a scalar tail), else the plain sum. */
static void dot(struct emitter *e, int n, char *name, size_t size)
{
    const int W = e->target->width;
    if (!seen(e, "dot_%d", n)) {
        fprintf(e->kernels, "static inline float dot_%d(const float *restrict a, const float *restrict b)\n{\n", n);
        if (W > 1 && n >= 2 * W)
            fprintf(e->kernels,
                    "    vf s0 = vf_zero(), s1 = vf_zero();\n    int i = 0;\n"
                    "    for (; i + 2 * VF_WIDTH <= %d; i += 2 * VF_WIDTH) {\n"
                    "        s0 = vf_fma(vf_load(a + i), vf_load(b + i), s0);\n"
                    "        s1 = vf_fma(vf_load(a + i + VF_WIDTH), vf_load(b + i + VF_WIDTH), s1);\n    }\n"
                    "    float acc = vf_sum(vf_add(s0, s1));\n"
                    "    for (; i < %d; i++)\n        acc += a[i] * b[i];\n    return acc;\n}\n\n", n, n);
        else
            fprintf(e->kernels, "    float acc = 0.0f;\n    for (int i = 0; i < %d; i++)\n        acc += a[i] * b[i];\n"
                                "    return acc;\n}\n\n", n);
    }
    snprintf(name, size, "dot_%d", n);
}

/* axpy_N(a, x, y): y += a * x, the accumulation of attention's values and of embedding rows. */
static void axpy(struct emitter *e, int n, char *name, size_t size)
{
    const int W = e->target->width;
    if (!seen(e, "axpy_%d", n)) {
        fprintf(e->kernels, "static inline void axpy_%d(float a, const float *restrict x, float *restrict y)\n{\n", n);
        if (W > 1 && n >= W)
            fprintf(e->kernels, "    const vf va = vf_set1(a);\n    int i = 0;\n"
                                "    for (; i + VF_WIDTH <= %d; i += VF_WIDTH)\n"
                                "        vf_store(y + i, vf_fma(va, vf_load(x + i), vf_load(y + i)));\n"
                                "    for (; i < %d; i++)\n        y[i] += a * x[i];\n}\n\n", n, n);
        else
            fprintf(e->kernels, "    for (int i = 0; i < %d; i++)\n        y[i] += a * x[i];\n}\n\n", n);
    }
    snprintf(name, size, "axpy_%d", n);
}

static const char *const epilogue_suffix[] = {"store", "acc", "silu_gate", "rope_kv"};

const char *kernel_matmul(struct emitter *e, const struct ir_graph *g, const struct ir_op *op)
{
    const struct ir_weight *w = &e->mod->weights[op->weight];
    const int R = w->rows, C = w->cols;
    const bool rope = op->epilogue == EPI_ROPE_KV && g->rope, scaled = op->scale >= 0;
    if (w->pack_nr) {
        char name[96];
        snprintf(name, sizeof name, "matmul_%dx%d_%s%s%s_p%d%s", R, C, epilogue_suffix[op->epilogue], rope ? "_rope" : "",
                 scaled ? "_scaled" : "", w->pack_nr, g->rows > 1 ? "_blocked" : "");
        if (!seen_kernel(e, name))
            packed_matmul_kernel(e, g, op, name);
        snprintf(kernel_name, sizeof kernel_name, "%s", name);
        return kernel_name;
    }
    char d[32];
    dot(e, C, d, sizeof d);
    if (seen(e, "matmul_%dx%d_%s%s%s", R, C, epilogue_suffix[op->epilogue], rope ? "_rope" : "", scaled ? "_scaled" : ""))
        return kernel_name;
    FILE *k = e->kernels;
    const char *s = scaled ? " * s[t]" : "";
    const char *sparam = scaled ? "const float *restrict s, " : "";
    switch (op->epilogue) {
    case EPI_STORE:
    case EPI_ACCUMULATE: {
        const char *assign = op->epilogue == EPI_STORE ? "=" : "+=";
        fprintf(k, "/* out[t][%d] %s W[%d, %d] . x[t][%d]%s */\n", R, assign, R, C, C, scaled ? " * s[t]" : "");
        fprintf(k, "static void %s(const float *restrict W, const float *restrict x, %sfloat *restrict out, int T)\n{\n"
                   "    for (int t = 0; t < T; t++)\n        for (int r = 0; r < %d; r++)\n"
                   "            out[t * %d + r] %s %s(W + (size_t)r * %d, x + t * %d)%s;\n}\n\n",
                kernel_name, sparam, R, R, assign, d, C, C, s);
        break;
    }
    case EPI_SILU_GATE:
        fprintf(k, "/* out[t][i] = silu(W[i] . x[t]) * (W[%d + i] . x[t])%s: Moshi's gated FFN, W [%d, %d] */\n",
                R / 2, scaled ? ", both scaled by s[t]" : "", R, C);
        fprintf(k, "static void %s(const float *restrict W, const float *restrict x, %sfloat *restrict out, int T)\n{\n"
                   "    for (int t = 0; t < T; t++)\n        for (int i = 0; i < %d; i++) {\n"
                   "            float a = %s(W + (size_t)i * %d, x + t * %d)%s;\n"
                   "            float b = %s(W + (size_t)(%d + i) * %d, x + t * %d)%s;\n"
                   "            out[t * %d + i] = a / (1.0f + expf(-a)) * b;\n        }\n}\n\n",
                kernel_name, sparam, R / 2, d, C, C, s, d, R / 2, C, C, s, R / 2);
        break;
    case EPI_ROPE_KV: {
        const int D = R / 3, cap = g->kv_capacity;
        const int HD = g->head_dim, stride = (cap - 1) * HD;
        fprintf(k, "/* [q; k; v] = W[%d, %d] . x[t]%s;%s q -> q[t]; k, v -> ring slot (pos0 + t) %% %d, whose\n"
                   "   channel r of head r / %d sits at [r / %d][slot][r %% %d] (rings are head-major) */\n", R, C,
                scaled ? " * s[t]" : "", rope ? " interleaved RoPE at position pos0 + t on q and k;" : "", cap, HD, HD, HD);
        fprintf(k, "static void %s(const float *restrict W, const float *restrict x, %sfloat *restrict q,\n"
                   "    float *restrict k_ring, float *restrict v_ring, int64_t pos0, %sint T)\n{\n"
                   "    for (int t = 0; t < T; t++) {\n"
                   "        const float *xt = x + t * %d;\n"
                   "        const int64_t slot = (pos0 + t) %% %d;\n"
                   "        float *dst[3] = {q + t * %d, k_ring + slot * %d, v_ring + slot * %d};\n"
                   "        const int stride[3] = {0, %d, %d}; /* channel r is at r + (r / %d) * stride */\n",
                kernel_name, sparam, rope ? "const float *restrict rope_cs, " : "", C, cap, D, HD, HD, stride, stride, HD);
        if (rope)
            fprintf(k, "        for (int part = 0; part < 2; part++)\n"
                       "            for (int r = 0; r < %d; r += 2) {\n"
                       "                const float *Wr = W + (size_t)(part * %d + r) * %d;\n"
                       "                float re = %s(Wr, xt)%s, im = %s(Wr + %d, xt)%s;\n"
                       "                rope_pair(dst[part] + r + (r / %d) * stride[part], re, im, rope_cs + (size_t)t * %d + r %% %d);\n"
                       "            }\n"
                       "        for (int r = 0; r < %d; r++)\n"
                       "            dst[2][r + (r / %d) * stride[2]] = %s(W + (size_t)(%d + r) * %d, xt)%s;\n",
                    D, D, C, d, s, d, C, s, HD, 2 * HD, HD, D, HD, d, 2 * D, C, s);
        else
            fprintf(k, "        for (int part = 0; part < 3; part++)\n"
                       "            for (int r = 0; r < %d; r++)\n"
                       "                dst[part][r + (r / %d) * stride[part]] = %s(W + (size_t)(part * %d + r) * %d, xt)%s;\n",
                    D, HD, d, D, C, s);
        fprintf(k, "    }\n}\n\n");
        break;
    }
    }
    return kernel_name;
}

/* Rings of more than ATTENTION_CHUNK slots (contexts beyond ~16k frames): a thread's score buffers
   would outgrow its stack, so the slots are taken a chunk at a time with an online softmax (the
   sums so far rescaled whenever a chunk raises the max). Smaller rings are one chunk: one pass. */
#define ATTENTION_CHUNK 16384

/* The scores of the visible slots j in [from, to) into weight[n], slot[n], their max into `max`;
   `in` indents the loop. */
static void attention_scores(FILE *k, const char *in, const char *from, const char *to, const char *max, int window,
                             const char *d, int cap, int HD, const char *scale)
{
    fprintf(k, "%sfor (int j = %s; j < %s; j++) {\n"
               "%s    int64_t age = pos0 + t - slot_pos[j];\n"
               "%s    if (slot_pos[j] < 0 || age < 0 || age >= %d)\n%s        continue;\n"
               "%s    weight[n] = %s(qh, k + ((size_t)h * %d + j) * %d) * %s;\n"
               "%s    %s = weight[n] > %s ? weight[n] : %s;\n"
               "%s    slot[n++] = j;\n"
               "%s}\n",
            in, from, to, in, in, window, in, in, d, cap, HD, scale, in, max, max, max, in, in);
}

/* weight[i] = exp(weight[i] - max) for i < n, their sum added to `sum` (`set`: "=" for the first
   addition, "+=" after); vectors where the target has them. */
static void attention_exp(const struct emitter *e, FILE *k, const char *in, const char *set, int cap)
{
    if (e->target->width > 1 && cap >= e->target->width) /* (a ring shorter than a vector: all scalar) */
        fprintf(k, "%svf vsum = vf_zero();\n"
                   "%sfor (; i + VF_WIDTH <= n; i += VF_WIDTH) {\n"
                   "%s    const vf w = vf_exp(vf_sub(vf_load(weight + i), vf_set1(max)));\n"
                   "%s    vf_store(weight + i, w);\n%s    vsum = vf_add(vsum, w);\n%s}\n"
                   "%ssum %s vf_sum(vsum);\n",
                in, in, in, in, in, in, in, set);
    fprintf(k, "%sfor (; i < n; i++) {\n%s    weight[i] = expf(weight[i] - max);\n%s    sum += weight[i];\n%s}\n", in,
            in, in, in);
}

const char *kernel_attention(struct emitter *e, const struct ir_graph *g, int q_stride)
{
    const int D = g->dim, H = g->heads, HD = g->head_dim, cap = g->kv_capacity, window = g->context;
    const bool chunked = cap > ATTENTION_CHUNK;
    const int buffer = chunked ? ATTENTION_CHUNK : cap;
    char d[32], ax[32], scale[32];
    dot(e, HD, d, sizeof d);
    axpy(e, HD, ax, sizeof ax);
    if (seen(e, "attention_%dx%d_ring%d_window%d%s", H, HD, cap, window, q_stride != D ? "_in_qkv" : ""))
        return kernel_name;
    float_literal(scale, sizeof scale, 1.0f / sqrtf((float)HD));
    FILE *k = e->kernels;
    fprintf(k, "/* out[t] = softmax(q[t] k^T / sqrt(%d)) v per head (%d heads), over the %d ring slots whose position\n"
               "   p' satisfies 0 <= (pos0 + t) - p' < %d (slot_pos -1: never written). Rings are head-major,\n",
            HD, H, cap, window);
    if (chunked)
        fprintf(k, "   [head][slot][%d]; q rows are %d floats apart. The slots are taken %d at a time (a thread's\n"
                   "   buffers stay small): each chunk's visible scores are gathered, exponentiated against the\n"
                   "   running max, and added in; a chunk that raises the max rescales the sums so far. */\n",
                HD, q_stride, ATTENTION_CHUNK);
    else
        fprintf(k, "   [head][slot][%d], so a head's keys and values are read as one stream; q rows are %d floats apart.\n"
                   "   The visible slots' scores are gathered first, so the exponentials run over a dense array. */\n",
                HD, q_stride);
    fprintf(k, "static void %s(const float *restrict q, const float *restrict k, const float *restrict v,\n"
               "    const int64_t *restrict slot_pos, int64_t pos0, float *restrict out, int T)\n{\n"
               "    float weight[%d];\n    int slot[%d];\n"
               "    #pragma omp for collapse(2) schedule(static)\n"
               "    for (int t = 0; t < T; t++)\n"
               "        for (int h = 0; h < %d; h++) {\n"
               "            const float *qh = q + t * %d + h * %d;\n",
            kernel_name, buffer, buffer, H, q_stride, HD);
    if (!chunked) {
        fprintf(k, "            float max = -INFINITY;\n            int n = 0;\n");
        char to[16];
        snprintf(to, sizeof to, "%d", cap);
        attention_scores(k, "            ", "0", to, "max", window, d, cap, HD, scale);
        fprintf(k, "            float sum = 0.0f;\n            int i = 0;\n");
        attention_exp(e, k, "            ", "=", cap);
        fprintf(k, "            float *oh = out + t * %d + h * %d;\n"
                   "            for (int c = 0; c < %d; c++)\n                oh[c] = 0.0f;\n"
                   "            for (i = 0; i < n; i++)\n"
                   "                %s(weight[i] / sum, v + ((size_t)h * %d + slot[i]) * %d, oh);\n"
                   "        }\n}\n\n",
                D, HD, HD, ax, cap, HD);
        return kernel_name;
    }
    fprintf(k, "            float *oh = out + t * %d + h * %d;\n"
               "            for (int c = 0; c < %d; c++)\n                oh[c] = 0.0f;\n"
               "            float max = -INFINITY, sum = 0.0f;\n"
               "            for (int j0 = 0; j0 < %d; j0 += %d) {\n"
               "                const int j1 = j0 + %d < %d ? j0 + %d : %d;\n"
               "                float chunk_max = -INFINITY;\n"
               "                int n = 0;\n",
            D, HD, HD, cap, ATTENTION_CHUNK, ATTENTION_CHUNK, cap, ATTENTION_CHUNK, cap);
    attention_scores(k, "                ", "j0", "j1", "chunk_max", window, d, cap, HD, scale);
    fprintf(k, "                if (n == 0)\n                    continue;\n"
               "                if (chunk_max > max) {\n"
               "                    const float r = expf(max - chunk_max); /* (0 for the first chunk) */\n"
               "                    sum *= r;\n"
               "                    for (int c = 0; c < %d; c++)\n                        oh[c] *= r;\n"
               "                    max = chunk_max;\n"
               "                }\n"
               "                int i = 0;\n",
            HD);
    attention_exp(e, k, "                ", "+=", cap);
    fprintf(k, "                for (i = 0; i < n; i++)\n"
               "                    %s(weight[i], v + ((size_t)h * %d + slot[i]) * %d, oh);\n"
               "            }\n"
               "            if (sum > 0.0f)\n"
               "                for (int c = 0; c < %d; c++)\n                    oh[c] /= sum;\n"
               "        }\n}\n\n",
            ax, cap, HD, HD);
    return kernel_name;
}

const char *kernel_rms(struct emitter *e, int n, bool materialize)
{
    char d[32];
    dot(e, n, d, sizeof d);
    if (seen(e, "%s_%d", materialize ? "rms_norm" : "rms_scale", n))
        return kernel_name;
    FILE *k = e->kernels;
    if (materialize)
        fprintf(k, "/* out[t] = x[t] * (alpha * rsqrt(eps + mean(x[t]^2))), in f32 (Moshi's RMSNorm) */\n"
                   "static void %s(const float *restrict x, const float *restrict alpha, float eps, float *restrict out, int T)\n{\n",
                kernel_name);
    else
        fprintf(k, "/* s[t] = rsqrt(eps + mean(x[t]^2)): RMSNorm whose alpha the next matmuls hold */\n"
                   "static void %s(const float *restrict x, float eps, float *restrict s, int T)\n{\n", kernel_name);
    fprintf(k, "    for (int t = 0; t < T; t++) {\n        const float *xt = x + t * %d;\n"
               "        float r = 1.0f / sqrtf(%s(xt, xt) / %d.0f + eps);\n", n, d, n);
    if (materialize)
        fprintf(k, "        for (int i = 0; i < %d; i++)\n            out[t * %d + i] = xt[i] * (alpha[i] * r);\n", n, n);
    else
        fprintf(k, "        s[t] = r;\n");
    fprintf(k, "    }\n}\n\n");
    return kernel_name;
}

const char *kernel_embed_add(struct emitter *e, int n)
{
    char ax[32];
    axpy(e, n, ax, sizeof ax);
    if (!seen(e, "embed_add_%d", n))
        fprintf(e->kernels, "/* out += table[token]; token -1 is Moshi's zero token (adds nothing) */\n"
                            "static void %s(float *restrict out, const float *restrict table, int32_t token)\n{\n"
                            "    if (token >= 0)\n        %s(1.0f, table + (size_t)token * %d, out);\n}\n\n",
                kernel_name, ax, n);
    return kernel_name;
}

const char *kernel_add(struct emitter *e, int n)
{
    if (!seen(e, "add_%d", n))
        fprintf(e->kernels, "static void %s(float *restrict x, const float *restrict y, int T)\n{\n"
                            "    for (int i = 0; i < T * %d; i++)\n        x[i] += y[i];\n}\n\n", kernel_name, n);
    return kernel_name;
}

const char *kernel_silu_gate(struct emitter *e, int n)
{
    if (!seen(e, "silu_gate_%d", n))
        fprintf(e->kernels, "/* out[t][i] = silu(h[t][i]) * h[t][%d + i] */\n"
                            "static void %s(const float *restrict h, float *restrict out, int T)\n{\n"
                            "    for (int t = 0; t < T; t++)\n        for (int i = 0; i < %d; i++) {\n"
                            "            float a = h[t * %d + i];\n"
                            "            out[t * %d + i] = a / (1.0f + expf(-a)) * h[t * %d + %d + i];\n        }\n}\n\n",
                n, kernel_name, n, 2 * n, n, 2 * n, n);
    return kernel_name;
}

const char *kernel_gelu_gate(struct emitter *e, int n)
{
    if (!seen(e, "gelu_gate_%d", n))
        fprintf(e->kernels, "/* x[t][i] *= gelu_tanh(g[t][i]): TTT's output gate */\n"
                            "static void %s(float *restrict x, const float *restrict g, int T)\n{\n"
                            "    for (int i = 0; i < T * %d; i++)\n"
                            "        x[i] *= 0.5f * g[i] * (1.0f + tanhf(0.7978845608f * (g[i] + 0.044715f * g[i] * g[i] * g[i])));\n}\n\n",
                kernel_name, n);
    return kernel_name;
}

/* The sampling's reductions (kiln_rt.h argmax, softmax_exp). argmax keeps the scalar rule exactly:
   the first index of the largest value, NaNs never chosen unless x[0] is one (then 0). In vectors:
   the largest value first (vf_max(x, m) keeps m where x is NaN), then the first index holding it. */
void kernel_sampling(struct emitter *e)
{
    FILE *k = e->kernels;
    fprintf(k, "/* Sampling (kiln_rt.h argmax): the first index of the largest of x[n]. */\n"
               "static int argmax(const float *x, int n)\n{\n");
    if (e->target->width > 1)
        fprintf(k, "    if (x[0] != x[0])\n        return 0;\n"
                   "    vf vm = vf_set1(x[0]);\n    int i = 0;\n"
                   "    for (; i + VF_WIDTH <= n; i += VF_WIDTH)\n        vm = vf_max(vf_load(x + i), vm);\n"
                   "    float lane[VF_WIDTH], m = x[0];\n    vf_store(lane, vm);\n"
                   "    for (int j = 0; j < VF_WIDTH; j++)\n        m = lane[j] > m ? lane[j] : m;\n"
                   "    for (; i < n; i++)\n        m = x[i] > m ? x[i] : m;\n"
                   "    for (i = 0; x[i] != m; i++)\n        ;\n    return i;\n}\n\n");
    else
        fprintf(k, "    int best = 0;\n    for (int i = 1; i < n; i++)\n        if (x[i] > x[best])\n            best = i;\n"
                   "    return best;\n}\n\n");
    fprintf(k, "/* Sampling (kiln_rt.h softmax_exp): p[i] = exp(logits[i] / temp - max), and their sum. */\n"
               "static float softmax_exp(const float *logits, int n, float temp, float max, float *p)\n{\n"
               "    float sum = 0.0f;\n    int i = 0;\n");
    if (e->target->width > 1)
        fprintf(k, "    const vf vtemp = vf_set1(temp), vmax = vf_set1(max);\n    vf vsum = vf_zero();\n"
                   "    for (; i + VF_WIDTH <= n; i += VF_WIDTH) {\n"
                   "        const vf x = vf_exp(vf_sub(vf_div(vf_load(logits + i), vtemp), vmax));\n"
                   "        vf_store(p + i, x);\n        vsum = vf_add(vsum, x);\n    }\n"
                   "    sum = vf_sum(vsum);\n");
    fprintf(k, "    for (; i < n; i++) {\n        p[i] = expf(logits[i] / temp - max);\n        sum += p[i];\n    }\n"
               "    return sum;\n}\n\n");
}

/* Interleaved RoPE on the q and k thirds of qkv: in vectors where a vector never straddles two
   heads (the head size a multiple of its width), else pair by pair; both round alike. */
const char *kernel_rope_qk(struct emitter *e, const struct ir_graph *g)
{
    const int D = g->dim, HD = g->head_dim, W = e->target->width;
    if (seen(e, "rope_qk_%d", D))
        return kernel_name;
    FILE *k = e->kernels;
    fprintf(k, "/* Interleaved RoPE on the q and k thirds of qkv[t][%d] (rope_cs: this call's table). */\n"
               "static void %s(float *qkv, const float *restrict rope_cs, int T)\n{\n"
               "    for (int t = 0; t < T; t++)\n", 3 * D, kernel_name);
    if (W > 1 && HD % W == 0)
        fprintf(k, "        for (int r = 0; r < %d; r += VF_WIDTH) {\n"
                   "            const float *c = rope_cs + (size_t)t * %d + r %% %d;\n"
                   "            vf_store(qkv + t * %d + r, vf_rope(vf_load(qkv + t * %d + r), c, c + %d));\n"
                   "        }\n}\n\n",
                2 * D, 2 * HD, HD, 3 * D, 3 * D, HD);
    else
        fprintf(k, "        for (int r = 0; r < %d; r += 2) {\n"
                   "            float *x = qkv + t * %d + r;\n"
                   "            rope_pair(x, x[0], x[1], rope_cs + (size_t)t * %d + r %% %d);\n        }\n}\n\n",
                2 * D, 3 * D, 2 * HD, HD);
    return kernel_name;
}

const char *kernel_kv_write(struct emitter *e, const struct ir_graph *g)
{
    const int D = g->dim;
    if (!seen(e, "kv_write_%d_ring%d", D, g->kv_capacity))
        fprintf(e->kernels,
                "/* The k and v thirds of qkv[t][%d] into ring slot (pos0 + t) %% %d, head by head ([head][slot][%d]). */\n"
                "static void %s(const float *qkv, float *k_ring, float *v_ring, int64_t pos0, int T)\n{\n"
                "    for (int t = 0; t < T; t++) {\n        int64_t slot = (pos0 + t) %% %d;\n"
                "        for (int h = 0; h < %d; h++) {\n"
                "            memcpy(k_ring + ((size_t)h * %d + slot) * %d, qkv + t * %d + %d + h * %d, %d * sizeof(float));\n"
                "            memcpy(v_ring + ((size_t)h * %d + slot) * %d, qkv + t * %d + %d + h * %d, %d * sizeof(float));\n"
                "        }\n    }\n}\n\n",
                3 * D, g->kv_capacity, g->head_dim, kernel_name, g->kv_capacity, g->heads, g->kv_capacity, g->head_dim,
                3 * D, D, g->head_dim, g->head_dim, g->kv_capacity, g->head_dim, 3 * D, 2 * D, g->head_dim, g->head_dim);
    return kernel_name;
}

/* Frequencies exactly as Moshi's rope.py computes them in float32: exp(i * (-ln(period) * 2 / hd)). */
void emit_rope_table(FILE *out, const struct ir_graph *g)
{
    const int half = g->head_dim / 2;
    const float step = (float)(-log(g->rope_max_period) * 2.0 / g->head_dim);
    fprintf(out, "/* RoPE frequencies for head_dim %d, max_period %g: expf(i * (-ln(period) * 2 / %d)) in f32. */\n",
            g->head_dim, g->rope_max_period, g->head_dim);
    fprintf(out, "static const float rope_freq[%d] = {", half);
    for (int i = 0; i < half; i++)
        fprintf(out, "%s%a", i == 0 ? "\n    " : i % 6 ? ", " : ",\n    ", (double)expf((float)i * step));
    fprintf(out, "\n};\n\n");
    fprintf(out, "/* One pair (re, im) rotated into o by the per-call table's entry at cs (its [cos, cos] row; the\n"
                 "   [-sin, sin] row is %d floats on): the scalar RoPE every kernel's non-vector path uses. */\n"
                 "static inline void rope_pair(float *o, float re, float im, const float *cs)\n{\n"
                 "    const float c = cs[0], sn = cs[%d + 1];\n"
                 "    o[0] = re * c - im * sn;\n    o[1] = re * sn + im * c;\n}\n\n",
            g->head_dim, g->head_dim);
}
