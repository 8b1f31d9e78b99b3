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
    char scale[32];
    const int dot = kernel_dot(e, HD), axpy = kernel_axpy(e, HD);
    const char *d = e->kir.funcs[dot]->name, *ax = e->kir.funcs[axpy]->name;
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
}
