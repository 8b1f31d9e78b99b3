/* emit_c.c: the C back end. From the planned IR it writes
 *   NAME.h: the descriptor declaration (the runtime's entry) and a usage note;
 *   NAME.c: one specialized kernel per distinct (op, shape, fusion), every bound a literal
 *           constant; the weight struct and stream struct with each field's shape; the temporal
 *           and depformer step functions, one commented call per IR op; the descriptor.
 * Kernels are deduplicated by name, so 32 identical layers share one kernel. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "emit.h"

struct emitter {
    const struct ir_module *mod;
    const char *name;                /* model name, prefixes every public symbol */
    FILE *kernels;                   /* kernel definitions, in order of first use */
    char **kernel_names; int num_kernels;
};

static bool kernel_seen(struct emitter *e, const char *name)
{
    for (int i = 0; i < e->num_kernels; i++)
        if (strcmp(e->kernel_names[i], name) == 0)
            return true;
    e->kernel_names = realloc(e->kernel_names, (size_t)(e->num_kernels + 1) * sizeof *e->kernel_names);
    e->kernel_names[e->num_kernels++] = strdup(name);
    return false;
}

/* A float literal that reads back as exactly the same float. */
static void float_literal(char *buf, size_t size, float value) { snprintf(buf, size, "%.9gf", (double)value); }

/* ---- kernels ----------------------------------------------------------------------------- */

static const char *dot_kernel(struct emitter *e, int n)
{
    static char name[32];
    snprintf(name, sizeof name, "dot_%d", n);
    if (!kernel_seen(e, name))
        fprintf(e->kernels,
                "static inline float %s(const float *restrict a, const float *restrict b)\n"
                "{\n    float acc = 0.0f;\n    for (int i = 0; i < %d; i++)\n        acc += a[i] * b[i];\n"
                "    return acc;\n}\n\n", name, n);
    return name;
}

static void matvec_kernel(struct emitter *e, char *name, size_t size, const struct ir_graph *g, const struct ir_op *op)
{
    const struct ir_weight *w = &e->mod->weights[op->weight];
    const int R = w->rows, C = w->cols;
    static const char *const suffix[] = {"store", "acc", "silu_gate", "rope_kv"};
    bool rope = op->epilogue == EPI_ROPE_KV && g->rope;
    snprintf(name, size, "matvec_%dx%d_%s%s", R, C, suffix[op->epilogue],
             op->epilogue == EPI_ROPE_KV ? (rope ? "_rope" : "_norope") : "");
    if (kernel_seen(e, name))
        return;
    char dot[32];
    snprintf(dot, sizeof dot, "%s", dot_kernel(e, C));
    FILE *k = e->kernels;
    switch (op->epilogue) {
    case EPI_STORE:
    case EPI_ACCUMULATE:
        fprintf(k, "/* out[%d] %s W[%d, %d] . x[%d] * s */\n", R, op->epilogue == EPI_STORE ? "=" : "+=", R, C, C);
        fprintf(k, "static void %s(const float *restrict W, const float *restrict x, float s, float *restrict out)\n{\n"
                   "    for (int r = 0; r < %d; r++)\n        out[r] %s %s(W + (size_t)r * %d, x) * s;\n}\n\n",
                name, R, op->epilogue == EPI_STORE ? "=" : "+=", dot, C);
        break;
    case EPI_SILU_GATE:
        fprintf(k, "/* out[%d] = silu(W[0:%d] . x * s) * (W[%d:%d] . x * s), W [%d, %d]: Moshi's gated FFN input */\n",
                R / 2, R / 2, R / 2, R, R, C);
        fprintf(k, "static void %s(const float *restrict W, const float *restrict x, float s, float *restrict out)\n{\n"
                   "    for (int i = 0; i < %d; i++) {\n"
                   "        float a = %s(W + (size_t)i * %d, x) * s;\n"
                   "        float b = %s(W + (size_t)(%d + i) * %d, x) * s;\n"
                   "        out[i] = a / (1.0f + expf(-a)) * b;\n    }\n}\n\n",
                name, R / 2, dot, C, dot, R / 2, C);
        break;
    case EPI_ROPE_KV: {
        const int D = R / 3;
        fprintf(k, "/* [q; k; v] = W[%d, %d] . x * s;%s q -> q[%d]; k, v -> this step's KV ring slot */\n", R, C,
                rope ? " interleaved RoPE at `pos` on q and k;" : "", D);
        fprintf(k, "static void %s(const float *restrict W, const float *restrict x, float s, %sfloat *restrict q,\n"
                   "    float *restrict k_slot, float *restrict v_slot)\n{\n",
                name, rope ? "float pos, " : "");
        if (rope) {
            fprintf(k, "    float *const dst[2] = {q, k_slot};\n"
                       "    for (int part = 0; part < 2; part++) {\n"
                       "        const float *Wp = W + (size_t)part * %d * %d;\n"
                       "        for (int r = 0; r < %d; r += 2) {\n"
                       "            float angle = pos * rope_freq[(r %% %d) / 2];\n"
                       "            float c = cosf(angle), sn = sinf(angle);\n"
                       "            float re = %s(Wp + (size_t)r * %d, x) * s;\n"
                       "            float im = %s(Wp + (size_t)(r + 1) * %d, x) * s;\n"
                       "            dst[part][r] = re * c - im * sn;\n"
                       "            dst[part][r + 1] = re * sn + im * c;\n"
                       "        }\n    }\n",
                    D, C, D, g->head_dim, dot, C, dot, C);
        } else {
            fprintf(k, "    for (int r = 0; r < %d; r++) {\n"
                       "        q[r] = %s(W + (size_t)r * %d, x) * s;\n"
                       "        k_slot[r] = %s(W + (size_t)(%d + r) * %d, x) * s;\n    }\n",
                    D, dot, C, dot, D, C);
        }
        fprintf(k, "    for (int r = 0; r < %d; r++)\n        v_slot[r] = %s(W + (size_t)(%d + r) * %d, x) * s;\n}\n\n",
                D, dot, 2 * D, C);
        break;
    }
    }
}

static const char *attention_kernel(struct emitter *e, const struct ir_graph *g, int capacity, int window)
{
    static char name[64];
    const int D = g->dim, H = g->heads, HD = g->head_dim;
    snprintf(name, sizeof name, "attention_%dx%d_ring%d_window%d", H, HD, capacity, window);
    if (kernel_seen(e, name))
        return name;
    char dot[32], scale[32];
    snprintf(dot, sizeof dot, "%s", dot_kernel(e, HD));
    float_literal(scale, sizeof scale, 1.0f / sqrtf((float)HD));
    fprintf(e->kernels,
            "/* out[%d] = softmax(q k^T / sqrt(%d)) v per head (%d heads), over the %d ring slots whose position\n"
            "   p' satisfies 0 <= pos - p' < %d (slot_pos -1: never written). Rows of k/v: [slot][%d]. */\n"
            "static void %s(const float *restrict q, const float *restrict k, const float *restrict v,\n"
            "    const int64_t *restrict slot_pos, int64_t pos, float *restrict out)\n{\n"
            "    float weight[%d];\n"
            "    for (int h = 0; h < %d; h++) {\n"
            "        const float *qh = q + h * %d;\n"
            "        float max = -INFINITY;\n"
            "        for (int j = 0; j < %d; j++) {\n"
            "            int64_t age = pos - slot_pos[j];\n"
            "            weight[j] = -INFINITY;\n"
            "            if (slot_pos[j] < 0 || age < 0 || age >= %d)\n                continue;\n"
            "            weight[j] = %s(qh, k + (size_t)j * %d + h * %d) * %s;\n"
            "            max = weight[j] > max ? weight[j] : max;\n"
            "        }\n"
            "        float sum = 0.0f;\n"
            "        for (int j = 0; j < %d; j++) {\n"
            "            weight[j] = weight[j] == -INFINITY ? 0.0f : expf(weight[j] - max);\n"
            "            sum += weight[j];\n"
            "        }\n"
            "        float *oh = out + h * %d;\n"
            "        for (int d = 0; d < %d; d++)\n            oh[d] = 0.0f;\n"
            "        for (int j = 0; j < %d; j++) {\n"
            "            if (weight[j] == 0.0f)\n                continue;\n"
            "            const float *vj = v + (size_t)j * %d + h * %d;\n"
            "            float p = weight[j] / sum;\n"
            "            for (int d = 0; d < %d; d++)\n                oh[d] += p * vj[d];\n"
            "        }\n    }\n}\n\n",
            D, HD, H, capacity, window, D, name, capacity, H, HD, capacity, window, dot, D, HD, scale, capacity, HD,
            HD, capacity, D, HD, HD);
    return name;
}

static const char *rms_kernel(struct emitter *e, int n, bool materialize)
{
    static char name[48];
    snprintf(name, sizeof name, "%s_%d", materialize ? "rms_norm" : "rms_scale", n);
    if (kernel_seen(e, name))
        return name;
    fprintf(e->kernels, "/* %s */\n", materialize ? "out = x * (alpha * rsqrt(eps + mean(x^2))), in f32 (Moshi's RMSNorm)"
                                                  : "rsqrt(eps + mean(x^2)): RMSNorm whose alpha is folded into the next matmul");
    if (materialize)
        fprintf(e->kernels, "static void %s(const float *restrict x, const float *restrict alpha, float eps, float *restrict out)\n{\n", name);
    else
        fprintf(e->kernels, "static float %s(const float *restrict x, float eps)\n{\n", name);
    fprintf(e->kernels, "    float sum = 0.0f;\n    for (int i = 0; i < %d; i++)\n        sum += x[i] * x[i];\n"
                        "    float r = 1.0f / sqrtf(sum / %d.0f + eps);\n", n, n);
    if (materialize)
        fprintf(e->kernels, "    for (int i = 0; i < %d; i++)\n        out[i] = x[i] * (alpha[i] * r);\n}\n\n", n);
    else
        fprintf(e->kernels, "    return r;\n}\n\n");
    return name;
}

static const char *simple_kernel(struct emitter *e, enum ir_opcode code, int n)
{
    static char name[48];
    snprintf(name, sizeof name, "%s_%d", ir_opcode_name(code), n);
    if (kernel_seen(e, name))
        return name;
    FILE *k = e->kernels;
    switch (code) {
    case OP_ADD:
        fprintf(k, "static void %s(float *restrict x, const float *restrict y)\n{\n"
                   "    for (int i = 0; i < %d; i++)\n        x[i] += y[i];\n}\n\n", name, n);
        break;
    case OP_SILU_GATE:
        fprintf(k, "static void %s(const float *restrict h, float *restrict out)\n{\n"
                   "    for (int i = 0; i < %d; i++)\n        out[i] = h[i] / (1.0f + expf(-h[i])) * h[%d + i];\n}\n\n",
                name, n, n);
        break;
    default: /* embedding rows: token -1 is Moshi's zero token */
        fprintf(k, "static void embed_add_%d(float *restrict out, const float *restrict table, int32_t token)\n{\n"
                   "    if (token < 0)\n        return;\n    const float *row = table + (size_t)token * %d;\n"
                   "    for (int i = 0; i < %d; i++)\n        out[i] += row[i];\n}\n\n", n, n, n);
        snprintf(name, sizeof name, "embed_add_%d", n);
        break;
    }
    return name;
}

/* ---- step functions ---------------------------------------------------------------------- */

/* C expression for a value: scratch activations, the stream's hidden vector, or the output. */
static void value_expr(char *buf, size_t size, const struct ir_graph *g, int v)
{
    const struct ir_value *val = &g->values[v];
    if (val->kind == VAL_STATE)
        snprintf(buf, size, "s->%s", val->name);
    else if (val->kind == VAL_OUTPUT)
        snprintf(buf, size, "%s", val->name);
    else if (val->len == 1)
        snprintf(buf, size, "a[%d]", val->offset);
    else
        snprintf(buf, size, "a + %d", val->offset);
}

static void weight_expr(char *buf, size_t size, const struct ir_weight *w)
{
    if (w->step == STEP_TABLE)
        snprintf(buf, size, "w->%s[k]", w->field);
    else if (w->step == STEP_ROW_BLOCK)
        snprintf(buf, size, "w->%s + (size_t)k * %d * %d", w->field, w->rows, w->cols);
    else
        snprintf(buf, size, "w->%s", w->field);
}

static void emit_op_comment(FILE *out, const struct emitter *e, const struct ir_graph *g, const struct ir_op *op)
{
    fprintf(out, "    /* ");
    if (op->out >= 0)
        fprintf(out, "%s[%d] %s ", g->values[op->out].name, g->values[op->out].len,
                op->epilogue == EPI_ACCUMULATE ? "+=" : "=");
    fprintf(out, "%s", ir_opcode_name(op->code));
    if (op->weight >= 0)
        fprintf(out, " %s", e->mod->weights[op->weight].name);
    if (op->scale >= 0)
        fprintf(out, ", scaled by %s", g->values[op->scale].name);
    static const char *const epi[] = {"", "", ", silu gate fused", ", rope + kv write fused"};
    fprintf(out, "%s */\n", epi[op->epilogue]);
}

static void emit_op(struct emitter *e, FILE *out, const struct ir_graph *g, const struct ir_op *op, bool temporal)
{
    char in[64] = "", dst[64] = "", wexpr[160] = "", scale[32] = "1.0f", kernel[96];
    if (op->in[0] >= 0)
        value_expr(in, sizeof in, g, op->in[0]);
    if (op->out >= 0)
        value_expr(dst, sizeof dst, g, op->out);
    if (op->weight >= 0)
        weight_expr(wexpr, sizeof wexpr, &e->mod->weights[op->weight]);
    if (op->scale >= 0)
        value_expr(scale, sizeof scale, g, op->scale);
    const int D = g->dim;
    const char *kv = temporal ? "s->kv" : "s->dep_kv";
    const char *slot = temporal ? "slot" : "k";
    char eps[32];
    float_literal(eps, sizeof eps, (float)op->eps);
    emit_op_comment(out, e, g, op);
    switch (op->code) {
    case OP_EMBED_SUM: {
        /* Moshi's order: the audio streams' embeddings, then text (reference/moshi.md §3.1). */
        const struct model *m = e->mod->model;
        fprintf(out, "    memset(%s, 0, %d * sizeof(float));\n", dst, D);
        const char *add = simple_kernel(e, OP_EMBED_SUM, D);
        for (int i = 0; i < m->n_q; i++)
            fprintf(out, "    %s(%s, w->%s, tokens[%d]);\n", add, dst, e->mod->weights[op->weight + 1 + i].field, 1 + i);
        fprintf(out, "    %s(%s, w->%s, tokens[0]);\n", add, dst, e->mod->weights[op->weight].field);
        break;
    }
    case OP_STEP_EMBED_ADD:
        fprintf(out, "    %s(%s, k == 0 ? w->%s : w->%s[k - 1], prev_token);\n", simple_kernel(e, OP_EMBED_SUM, D), dst,
                e->mod->weights[op->weight].field, e->mod->weights[op->weight + 1].field);
        break;
    case OP_RMS_NORM:
        fprintf(out, "    %s(%s, w->%s, %s, %s);\n", rms_kernel(e, D, true), in, e->mod->weights[op->weight].field, eps, dst);
        break;
    case OP_RMS_SCALE:
        fprintf(out, "    %s = %s(%s, %s);\n", dst, rms_kernel(e, D, false), in, eps);
        break;
    case OP_MATMUL:
        matvec_kernel(e, kernel, sizeof kernel, g, op);
        if (op->epilogue == EPI_ROPE_KV)
            fprintf(out, "    %s(%s, %s, %s, %s%s, %s[%d][0][%s], %s[%d][1][%s]);\n", kernel, wexpr, in, scale,
                    g->rope ? "(float)pos, " : "", dst, kv, op->layer, slot, kv, op->layer, slot);
        else
            fprintf(out, "    %s(%s, %s, %s, %s);\n", kernel, wexpr, in, scale, dst);
        break;
    case OP_ROPE_QK:
        fprintf(out, "    rope_qk(%s, (float)pos);\n", in);
        break;
    case OP_KV_WRITE:
        fprintf(out, "    memcpy(%s[%d][0][%s], %s + %d, %d * sizeof(float));\n", kv, op->layer, slot, in, D, D);
        fprintf(out, "    memcpy(%s[%d][1][%s], %s + %d, %d * sizeof(float));\n", kv, op->layer, slot, in, 2 * D, D);
        break;
    case OP_ATTENTION: {
        int capacity = temporal ? g->context : e->mod->model->dep_q;
        fprintf(out, "    %s(%s, &%s[%d][0][0][0], &%s[%d][1][0][0], %s, %s, %s);\n",
                attention_kernel(e, g, capacity, capacity), in, kv, op->layer, kv, op->layer,
                temporal ? "s->kv_pos" : "s->dep_kv_pos", temporal ? "pos" : "k", dst);
        break;
    }
    case OP_SILU_GATE:
        fprintf(out, "    %s(%s, %s);\n", simple_kernel(e, OP_SILU_GATE, g->values[op->out].len), in, dst);
        break;
    case OP_ADD: {
        char other[64];
        value_expr(other, sizeof other, g, op->in[1]);
        fprintf(out, "    %s(%s, %s);\n", simple_kernel(e, OP_ADD, D), dst, other);
        break;
    }
    case OP_COUNT:
        break;
    }
}

/* The ops of a graph, with bench's component marks: embed | layers | out_norm + text head. */
static void emit_graph_ops(struct emitter *e, FILE *out, const struct ir_graph *g, bool temporal)
{
    for (int i = 0; i < g->num_ops; i++) {
        const struct ir_op *op = &g->ops[i];
        if (op->dead)
            continue;
        if (temporal && op->out >= 0 && g->values[op->out].kind == VAL_STATE)
            fprintf(out, "    kiln_profile_mark(KILN_TEMPORAL);\n");
        emit_op(e, out, g, op, temporal);
        if (op->code == OP_EMBED_SUM)
            fprintf(out, "    kiln_profile_mark(KILN_EMBED);\n");
    }
    fprintf(out, "    kiln_profile_mark(%s);\n", temporal ? "KILN_TEXT_HEAD" : "KILN_DEPFORMER");
}

/* The unfused rope op (used only when fusion is off). */
static void emit_rope_qk(struct emitter *e, const struct ir_graph *g)
{
    if (kernel_seen(e, "rope_qk"))
        return;
    fprintf(e->kernels,
            "/* Interleaved RoPE on the q and k thirds of qkv at position pos. */\n"
            "static void rope_qk(float *qkv, float pos)\n{\n"
            "    for (int r = 0; r < %d; r += 2) {\n"
            "        float angle = pos * rope_freq[(r %% %d) / 2];\n"
            "        float c = cosf(angle), sn = sinf(angle), re = qkv[r], im = qkv[r + 1];\n"
            "        qkv[r] = re * c - im * sn;\n        qkv[r + 1] = re * sn + im * c;\n    }\n}\n\n",
            2 * g->dim, g->head_dim);
}

/* Frequencies exactly as Moshi's rope.py computes them in float32: exp(i * (-ln(period) * 2 / hd)). */
static void emit_rope_table(FILE *out, const struct ir_graph *g)
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

/* ---- structs, descriptor, header --------------------------------------------------------- */

static void shape_text(char *buf, size_t size, const struct ir_weight *w)
{
    int n = snprintf(buf, size, "[");
    for (int i = 0; i < w->rank; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s%lld", i ? ", " : "", w->shape[i]);
    snprintf(buf + n, size - (size_t)n, "]");
}

static void emit_weight_struct(const struct emitter *e, FILE *out)
{
    fprintf(out, "/* Weights: pointers into the loaded f32 arena, named after the checkpoint tensors.\n"
                 "   Shapes are the checkpoint's ([out, in] for matrices); (*alpha) marks a matrix whose\n"
                 "   columns the loader scaled by the RMSNorm alpha that precedes it. */\n");
    fprintf(out, "struct %s_weights {\n", e->name);
    for (int i = 0; i < e->mod->num_weights; i++) {
        const struct ir_weight *w = &e->mod->weights[i];
        char shape[64], decl[96];
        shape_text(shape, sizeof shape, w);
        if (w->step == STEP_TABLE)
            snprintf(decl, sizeof decl, "const float *%s[%d];", w->field, w->steps);
        else
            snprintf(decl, sizeof decl, "const float *%s;", w->field);
        fprintf(out, "    %-56s /* %s %s%s */\n", decl, w->name, shape, w->fold_alpha >= 0 ? " (*alpha)" : "");
    }
    fprintf(out, "};\n\n");
}

static int scratch_floats(const struct ir_module *mod)
{
    int n = mod->temporal.scratch_floats > mod->depformer.scratch_floats ? mod->temporal.scratch_floats
                                                                         : mod->depformer.scratch_floats;
    return n > 0 ? n : 1;
}

static void emit_stream_struct(const struct emitter *e, FILE *out)
{
    const struct model *m = e->mod->model;
    const struct ir_graph *t = &e->mod->temporal, *d = &e->mod->depformer;
    fprintf(out, "/* One stream's whole state; the runtime allocates it KILN_ALIGN-aligned. */\n");
    fprintf(out, "struct %s_stream {\n", e->name);
    fprintf(out, "    int64_t pos;                            /* frames stepped: the next frame's absolute position */\n");
    fprintf(out, "    int64_t kv_pos[%d];%*s/* absolute position held by each KV ring slot; -1: empty */\n",
            t->context, 21 - snprintf(NULL, 0, "%d", t->context), "");
    fprintf(out, "    int64_t dep_kv_pos[%d];%*s/* depformer slot k holds step k of this frame; -1: empty */\n",
            m->dep_q, 17 - snprintf(NULL, 0, "%d", m->dep_q), "");
    fprintf(out, "    _Alignas(64) float hidden[%d];      /* out_norm output of the last frame: the depformer's input */\n", t->dim);
    fprintf(out, "    _Alignas(64) float kv[%d][2][%d][%d];   /* temporal KV ring: [layer][k, v][slot][channel] */\n",
            t->num_layers, t->context, t->dim);
    fprintf(out, "    _Alignas(64) float dep_kv[%d][2][%d][%d]; /* depformer KV, refilled every frame */\n",
            d->num_layers, m->dep_q, d->dim);
    fprintf(out, "    _Alignas(64) float scratch[%d];      /* activations, placed by the planner (--dump=plan) */\n",
            scratch_floats(e->mod));
    fprintf(out, "};\n\n");
}

static void emit_steps(struct emitter *e, FILE *out)
{
    const char *n = e->name;
    const struct ir_graph *t = &e->mod->temporal;
    fprintf(out, "static void stream_reset(void *stream)\n{\n    struct %s_stream *s = stream;\n    s->pos = 0;\n"
                 "    for (int j = 0; j < %d; j++)\n        s->kv_pos[j] = -1;\n"
                 "    for (int j = 0; j < %d; j++)\n        s->dep_kv_pos[j] = -1;\n"
                 "    memset(s->hidden, 0, sizeof s->hidden);\n}\n\n",
            n, t->context, e->mod->model->dep_q);
    fprintf(out, "/* As if `frames` frames had been stepped: the ring holds the last %d positions (zeros). */\n"
                 "static void stream_advance(void *stream, int64_t frames)\n{\n"
                 "    struct %s_stream *s = stream;\n    stream_reset(s);\n    s->pos = frames;\n"
                 "    memset(s->kv, 0, sizeof s->kv);\n"
                 "    for (int64_t p = frames > %d ? frames - %d : 0; p < frames; p++)\n"
                 "        s->kv_pos[p %% %d] = p;\n}\n\n",
            t->context, n, t->context, t->context, t->context);
    fprintf(out, "static const float *stream_hidden(const void *stream)\n{\n"
                 "    return ((const struct %s_stream *)stream)->hidden;\n}\n\n", n);

    fprintf(out, "/* One frame: tokens[%d] (this step's delayed input) -> text_logits[%d]; s->hidden for the depformer. */\n",
            1 + e->mod->model->n_q, e->mod->model->text_card);
    fprintf(out, "static void temporal_step(const void *weights, void *stream, const int32_t *tokens, float *text_logits)\n{\n"
                 "    const struct %s_weights *w = weights;\n    struct %s_stream *s = stream;\n"
                 "    float *const a = s->scratch;\n    const int64_t pos = s->pos;\n"
                 "    const int slot = (int)(pos %% %d);\n    s->kv_pos[slot] = pos;\n",
            n, n, t->context);
    emit_graph_ops(e, out, t, true);
    fprintf(out, "    s->pos = pos + 1;\n}\n\n");

    fprintf(out, "/* Depformer step k of the current frame: prev_token is the text token (k == 0) or audio codebook\n"
                 "   k - 1's token -> logits[%d]. Step 0 starts the frame's depformer state afresh. */\n",
            e->mod->model->card);
    fprintf(out, "static void depformer_step(const void *weights, void *stream, int k, int32_t prev_token, float *logits)\n{\n"
                 "    const struct %s_weights *w = weights;\n    struct %s_stream *s = stream;\n"
                 "    float *const a = s->scratch;\n"
                 "    if (k == 0)\n        for (int j = 0; j < %d; j++)\n            s->dep_kv_pos[j] = -1;\n"
                 "    s->dep_kv_pos[k] = k;\n",
            n, n, e->mod->model->dep_q);
    emit_graph_ops(e, out, &e->mod->depformer, false);
    fprintf(out, "}\n\n");
}

static void emit_descriptor(const struct emitter *e, FILE *out, const struct emit_options *opt)
{
    const struct ir_module *mod = e->mod;
    const struct model *m = mod->model;
    int *first_entry = malloc((size_t)mod->num_weights * sizeof *first_entry);
    long long params = 0;
    fprintf(out, "static const int delays[%d] = {", 1 + m->n_q);
    for (int i = 0; i <= m->n_q; i++)
        fprintf(out, "%s%d", i ? ", " : "", m->delays[i]);
    fprintf(out, "};\n\n");
    int entries = 0;
    for (int i = 0; i < mod->num_weights; i++) {
        first_entry[i] = entries;
        entries += mod->weights[i].step == STEP_TABLE ? mod->weights[i].steps : 1;
        params += ir_weight_numel(&mod->weights[i]);
    }
    fprintf(out, "/* name, rank, shape, index of the alpha folded into it (-1: none), field, values read per frame */\n");
    fprintf(out, "static const struct kiln_weight_desc weights[%d] = {\n", entries);
    for (int i = 0; i < mod->num_weights; i++) {
        const struct ir_weight *w = &mod->weights[i];
        int copies = w->step == STEP_TABLE ? w->steps : 1;
        for (int k = 0; k < copies; k++) {
            char name[112];
            const char *hole = strstr(w->name, "{k}");
            if (hole)
                snprintf(name, sizeof name, "%.*s%d%s", (int)(hole - w->name), w->name, k, hole + 3);
            else
                snprintf(name, sizeof name, "%s", w->name);
            fprintf(out, "    {\"%s\", %d, {", name, w->rank);
            for (int d = 0; d < w->rank; d++)
                fprintf(out, "%s%lld", d ? ", " : "", w->shape[d]);
            long long numel = ir_weight_numel(w) / copies;
            fprintf(out, "}, %d, offsetof(struct %s_weights, %s) + %d * sizeof(const float *), %lld},\n",
                    w->fold_alpha >= 0 ? first_entry[w->fold_alpha] : -1, e->name, w->field, k,
                    w->is_embedding ? (long long)w->cols : numel);
        }
    }
    fprintf(out, "};\n\n");
    const struct transformer_spec *t = &m->temporal, *d = &m->depformer;
    fprintf(out, "const struct kiln_model_desc %s_desc = {\n", e->name);
    fprintf(out, "    .name = \"%s\",\n    .target = \"%s\",\n    .weight_format = \"f32\",\n", e->name, opt->target->name);
    fprintf(out, "    .text_card = %d, .card = %d, .n_q = %d, .dep_q = %d, .num_streams = %d, .delays = delays,\n",
            m->text_card, m->card, m->n_q, m->dep_q, 1 + m->n_q);
    fprintf(out, "    .dim = %d, .num_heads = %d, .num_layers = %d, .context = %d, .ffn_hidden = %d,\n", t->dim,
            t->num_heads, t->num_layers, t->context, t->ffn_hidden);
    fprintf(out, "    .depformer_dim = %d, .depformer_num_heads = %d, .depformer_num_layers = %d, .depformer_ffn_hidden = %d,\n",
            d->dim, d->num_heads, d->num_layers, d->ffn_hidden);
    fprintf(out, "    .frame_rate = %.17g,\n", m->frame_rate);
    fprintf(out, "    .num_params = %lldLL,\n    .num_weights = %d,\n    .weights = weights,\n", params, entries);
    fprintf(out, "    .weights_struct_size = sizeof(struct %s_weights),\n    .stream_bytes = sizeof(struct %s_stream),\n",
            e->name, e->name);
    fprintf(out, "    .kv_bytes = sizeof(((struct %s_stream *)0)->kv) + sizeof(((struct %s_stream *)0)->dep_kv),\n", e->name, e->name);
    fprintf(out, "    .stream_reset = stream_reset,\n    .temporal_step = temporal_step,\n"
                 "    .depformer_step = depformer_step,\n    .stream_hidden = stream_hidden,\n"
                 "    .stream_advance = stream_advance,\n};\n");
    free(first_entry);
}

static void emit_header(const struct emitter *e, FILE *out, const struct emit_options *opt)
{
    const struct model *m = e->mod->model;
    const char *n = e->name;
    char upper[64];
    size_t len = strlen(n);
    for (size_t i = 0; i <= len && i < sizeof upper; i++)
        upper[i] = (char)(n[i] >= 'a' && n[i] <= 'z' ? n[i] - 'a' + 'A' : n[i]);
    fprintf(out,
            "/* %s.h: generated by kilnc from %s (target %s, weights f32). Do not edit.\n"
            " *\n"
            " * Embedding the model (link libkiln_rt.a and %s.o, or the libNAME.a of `kilnc --emit lib`):\n"
            " *\n"
            " *     #include \"%s.h\"\n"
            " *     struct kiln_model model;\n"
            " *     char err[512];\n"
            " *     if (%s_load(\"weights.safetensors\", &model, err, sizeof err)) { fprintf(stderr, \"%%s\\n\", err); return 1; }\n"
            " *     struct kiln_gen *stream = kiln_gen_new(&model, NULL);   // NULL: Moshi's sampling defaults\n"
            " *     int32_t user[%s_USER_STREAMS], out[1 + %s_DEP_Q];\n"
            " *     while (...) {                                          // one call per 80 ms frame\n"
            " *         // user: this frame's Mimi codes of the user's audio\n"
            " *         if (kiln_gen_step(stream, user, out))              // out: text token, then audio codes\n"
            " *             ...;\n"
            " *     }\n"
            " *     kiln_gen_free(stream);\n"
            " *     kiln_model_free(&model);\n"
            " *\n"
            " * Any number of streams can share one loaded model; kiln_gen_save/kiln_gen_restore snapshot a\n"
            " * stream; kiln_gen_step never allocates. kiln_rt.h documents every call.\n"
            " */\n"
            "#ifndef KILN_MODEL_%s_H\n#define KILN_MODEL_%s_H\n#include \"kiln_rt.h\"\n\n",
            n, opt->source, opt->target->name, n, n, n, upper, upper, upper, upper);
    fprintf(out, "#define %s_TEXT_CARD %d     /* text vocabulary (logits) */\n", upper, m->text_card);
    fprintf(out, "#define %s_CARD %d          /* audio vocabulary per codebook */\n", upper, m->card);
    fprintf(out, "#define %s_N_Q %d           /* audio streams in */\n", upper, m->n_q);
    fprintf(out, "#define %s_DEP_Q %d         /* audio codebooks generated per frame */\n", upper, m->dep_q);
    fprintf(out, "#define %s_USER_STREAMS %d  /* user codebooks given per frame: n_q - dep_q */\n\n", upper,
            m->n_q - m->dep_q);
    fprintf(out, "extern const struct kiln_model_desc %s_desc;\n\n", n);
    fprintf(out, "/* Loads a checkpoint (.safetensors: F32, BF16 or F16) for this model. Returns 0, or 1 with a\n"
                 "   message naming the file and tensor in err. */\n"
                 "static inline int %s_load(const char *path, struct kiln_model *model, char *err, size_t errlen)\n{\n"
                 "    return kiln_model_load(&%s_desc, path, model, err, errlen);\n}\n\n#endif\n", n, n);
}

void emit_c(const struct ir_module *mod, const struct emit_options *opt, FILE *header, FILE *source)
{
    struct emitter e = {.mod = mod, .name = mod->model->name};
    char *kernels_text = NULL, *steps_text = NULL;
    size_t kernels_size = 0, steps_size = 0;
    e.kernels = open_memstream(&kernels_text, &kernels_size);
    FILE *steps = open_memstream(&steps_text, &steps_size);
    if (!e.kernels || !steps) {
        fprintf(stderr, "kilnc: out of memory\n");
        exit(2);
    }
    for (int i = 0; i < mod->temporal.num_ops; i++)
        if (!mod->temporal.ops[i].dead && mod->temporal.ops[i].code == OP_ROPE_QK)
            emit_rope_qk(&e, &mod->temporal);
    emit_steps(&e, steps);
    fclose(e.kernels);
    fclose(steps);

    emit_header(&e, header, opt);
    fprintf(source, "/* %s.c: generated by kilnc from %s for target %s. Do not edit.\n"
                    " * Shape-fixed kernels and the two step functions of model %s; see %s.h. */\n",
            e.name, opt->source, opt->target->name, e.name, e.name);
    fprintf(source, "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n"
                    "#include \"%s.h\"\n\n", e.name);
    emit_weight_struct(&e, source);
    emit_stream_struct(&e, source);
    if (mod->temporal.rope)
        emit_rope_table(source, &mod->temporal);
    fputs(kernels_text, source);
    fputs(steps_text, source);
    emit_descriptor(&e, source, opt);
    free(kernels_text);
    free(steps_text);
    for (int i = 0; i < e.num_kernels; i++)
        free(e.kernel_names[i]);
    free(e.kernel_names);
}
