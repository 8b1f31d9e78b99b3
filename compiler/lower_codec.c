/* lower_codec.c: a checked Mimi codec (model.h's codec_spec) -> the graph IR, one op per step of
 * docs/moshi.md §7: the encode graph (SEANet encoder, encoder transformer, downsampling, split RVQ
 * encode) and the decode graph (RVQ decode, upsampling, decoder transformer, SEANet decoder), each
 * one 1920-sample frame a call. Values are time-major, [time][channels], so a causal conv is its
 * windows gathered into rows (conv_window, which keeps the left context in the stream) and a matmul
 * of the checkpoint's [out][in * kernel] matrix over them; a transposed conv is a matmul of each
 * row followed by an overlap-add into the partial the stream keeps. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "lower_internal.h"

/* bench's components (kiln_format.h's enum kiln_component), marked at the last op of each part */
static void mark_last(struct ir_graph *g, int component) { g->ops[g->num_ops - 1].mark = component; }

struct codec_lowering {
    struct ir_module *mod;
    struct ir_graph *g;
    const struct codec_spec *c;
    int frame;                       /* samples a frame: sample_rate / frame_rate */
    int convs;                       /* the graph's conv states so far, for their names */
};

/* A value of `len` channels and `time` rows per call */
static int value_at(struct ir_graph *g, int len, int time, const char *name)
{
    const int v = ir_value(g, VAL_ACT, len, "%s", name);
    g->values[v].time = time;
    return v;
}

static int time_of(const struct codec_lowering *L, int v) { return L->g->values[v].time; }

/* The weight of that checkpoint name, added once (the codebooks: both graphs read them) */
static int weight_of(struct ir_module *mod, int rows, int cols, int rank, const long long *shape, const char *name)
{
    for (int i = 0; i < mod->num_weights; i++)
        if (strcmp(mod->weights[i].name, name) == 0)
            return i;
    return add_weight(mod, STEP_NONE, 1, rows, cols, rank, shape, "%s", name);
}

static int vector_weight(struct ir_module *mod, int n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int vector_weight(struct ir_module *mod, int n, const char *fmt, ...)
{
    char name[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return weight_of(mod, 1, n, 1, (long long[]){n}, name);
}

/* A streaming conv state of the graph: `rows` rows of `channels` floats, zeros at reset */
static int conv_state(struct codec_lowering *L, int rows, int channels, const char *what, const char *weight)
{
    char name[48];
    snprintf(name, sizeof name, "%sconv%d_%s", L->g->state_prefix, L->convs++, what);
    return add_state(L->mod, L->g, IR_F32, (long long)rows * channels, RESET_ZERO, KILN_STATE_CONV, name,
                     "[%d][%d]: %s's %s", rows, channels, weight,
                     strcmp(what, "context") == 0 ? "last input rows (its left context)" : "overlap, bias not added");
}

/* y = causal Conv1d(x) (StreamingConv1d, docs/moshi.md §7.3), weights NAME.weight [out, in, k]
   and, with bias, NAME.bias; stride divides x's time. y: the value `into`, or (-1) a new one */
static int conv_into(struct codec_lowering *L, int x, int out_channels, int kernel, int stride, int dilation, bool replicate,
                     bool bias, const char *name, int into)
{
    struct ir_graph *g = L->g;
    const int in_channels = g->values[x].len, rows = time_of(L, x) / stride;
    const int left = (kernel - 1) * dilation + 1 - stride;
    char buf[128];
    snprintf(buf, sizeof buf, "%s.weight", name);
    const int w = weight_of(L->mod, out_channels, in_channels * kernel, 3, (long long[]){out_channels, in_channels, kernel}, buf);
    int windows = x;
    if (kernel > 1 || stride > 1) {
        snprintf(buf, sizeof buf, "%s.windows", name);
        windows = value_at(g, in_channels * kernel, rows, buf);
        struct ir_op *op = ir_op(g, OP_CONV_WINDOW, x, -1, windows);
        op->kernel = kernel, op->stride = stride, op->dilation = dilation, op->replicate = replicate;
        if (left > 0) {
            snprintf(buf, sizeof buf, "%s.weight", name);
            op = &g->ops[g->num_ops - 1];
            op->states[0] = conv_state(L, left, in_channels, "context", buf), op->num_states = 1;
        }
    }
    snprintf(buf, sizeof buf, "%s.out", name);
    const int y = into >= 0 ? into : value_at(g, out_channels, rows, buf);
    ir_op(g, OP_MATMUL, windows, -1, y)->weight = w;
    if (bias)
        ir_op(g, OP_BIAS_ADD, y, -1, y)->weight = vector_weight(L->mod, out_channels, "%s.bias", name);
    return y;
}

static int conv(struct codec_lowering *L, int x, int out_channels, int kernel, int stride, int dilation, bool replicate,
                bool bias, const char *name)
{
    return conv_into(L, x, out_channels, kernel, stride, dilation, replicate, bias, name, -1);
}

/* y = causal ConvTranspose1d(x) (StreamingConvTranspose1d): weights NAME.weight [in, out, k]
   (depthwise: [channels, 1, k]) and, with bias, NAME.bias. Each row's products (a matmul of the
   weight's transpose, [out * k][in]; depthwise: the op's own) are overlap-added into the output
   after the partial the stream keeps. */
static int conv_transpose(struct codec_lowering *L, int x, int out_channels, int kernel, int stride, bool depthwise,
                          bool bias, const char *name)
{
    struct ir_graph *g = L->g;
    const int in_channels = g->values[x].len, rows = time_of(L, x);
    char buf[128];
    snprintf(buf, sizeof buf, "%s.weight", name);
    const int per_in = depthwise ? 1 : out_channels;
    const long long shape[3] = {in_channels, per_in, kernel};
    const int w = depthwise ? weight_of(L->mod, in_channels, kernel, 3, shape, buf)
                            : weight_of(L->mod, out_channels * kernel, in_channels, 3, shape, buf);
    L->mod->weights[w].transposed = !depthwise;
    const int b = bias ? vector_weight(L->mod, out_channels, "%s.bias", name) : -1;
    snprintf(buf, sizeof buf, "%s.columns", name);
    const int cols = value_at(g, out_channels * kernel, rows, buf);
    if (depthwise)
        ir_op(g, OP_CONV_TRANSPOSE, x, -1, cols)->weight = w;
    else
        ir_op(g, OP_MATMUL, x, -1, cols)->weight = w;
    snprintf(buf, sizeof buf, "%s.out", name);
    const int y = value_at(g, out_channels, rows * stride, buf);
    struct ir_op *op = ir_op(g, OP_OVERLAP_ADD, cols, -1, y);
    op->weight = b, op->kernel = kernel, op->stride = stride;
    snprintf(buf, sizeof buf, "%s.weight", name);
    g->ops[g->num_ops - 1].states[0] = conv_state(L, kernel - stride, out_channels, "partial", buf);
    g->ops[g->num_ops - 1].num_states = 1;
    return y;
}

static int elu(struct codec_lowering *L, int x, bool in_place, const char *name)
{
    const int y = in_place ? x : value_at(L->g, L->g->values[x].len, time_of(L, x), name);
    ir_op(L->g, OP_ELU, x, -1, y);
    return y;
}

/* x += block.3(ELU(block.1(ELU(x)))): SEANet's residual block with an identity shortcut */
static void residual_block(struct codec_lowering *L, int x, int dilation, const char *prefix)
{
    const struct seanet_spec *s = &L->c->seanet;
    const int channels = L->g->values[x].len;
    char name[96];
    snprintf(name, sizeof name, "%s.elu", prefix);
    int y = elu(L, x, false, name);
    snprintf(name, sizeof name, "%s.block.1.conv.conv", prefix);
    y = conv(L, y, channels / s->compress, s->residual_kernel_size, 1, dilation, false, true, name);
    elu(L, y, true, NULL);
    snprintf(name, sizeof name, "%s.block.3.conv.conv", prefix);
    y = conv(L, y, channels, 1, 1, 1, false, true, name);
    ir_op(L->g, OP_ADD, x, y, x);
}

static void residual_blocks(struct codec_lowering *L, int x, const char *side, int index)
{
    const struct seanet_spec *s = &L->c->seanet;
    for (int j = 0, dilation = 1; j < s->n_residual_layers; j++, dilation *= s->dilation_base) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s.model.%d", side, index + j);
        residual_block(L, x, dilation, prefix);
    }
}

/* The SEANet encoder (encoder.model.N): conv, then per ratio (in reverse) residual blocks, ELU and
   a strided conv doubling the channels, then ELU and the last conv to `dimension` */
static int seanet_encoder(struct codec_lowering *L, int pcm)
{
    const struct seanet_spec *s = &L->c->seanet;
    int index = 0, channels = s->n_filters;
    char name[64];
    snprintf(name, sizeof name, "encoder.model.%d.conv.conv", index++);
    int h = conv(L, pcm, channels, s->kernel_size, 1, 1, false, true, name);
    for (int i = s->num_ratios - 1; i >= 0; i--) {
        const int ratio = s->ratios[i];
        residual_blocks(L, h, "encoder", index);
        index += s->n_residual_layers;
        elu(L, h, true, NULL), index++;
        snprintf(name, sizeof name, "encoder.model.%d.conv.conv", index++);
        h = conv(L, h, 2 * channels, 2 * ratio, ratio, 1, false, true, name);
        channels *= 2;
    }
    elu(L, h, true, NULL), index++;
    snprintf(name, sizeof name, "encoder.model.%d.conv.conv", index);
    return conv(L, h, s->dimension, s->last_kernel_size, 1, 1, false, true, name);
}

/* The SEANet decoder (decoder.model.N): conv to the widest channels, then per ratio ELU, a strided
   transposed conv halving the channels and residual blocks, then ELU and the last conv to audio */
static int seanet_decoder(struct codec_lowering *L, int x, int pcm)
{
    const struct seanet_spec *s = &L->c->seanet;
    int index = 0, channels = s->n_filters << s->num_ratios;
    char name[64];
    snprintf(name, sizeof name, "decoder.model.%d.conv.conv", index++);
    int h = conv(L, x, channels, s->kernel_size, 1, 1, false, true, name);
    for (int i = 0; i < s->num_ratios; i++) {
        const int ratio = s->ratios[i];
        elu(L, h, true, NULL), index++;
        snprintf(name, sizeof name, "decoder.model.%d.convtr.convtr", index++);
        h = conv_transpose(L, h, channels / 2, 2 * ratio, ratio, false, true, name);
        channels /= 2;
        residual_blocks(L, h, "decoder", index);
        index += s->n_residual_layers;
    }
    elu(L, h, true, NULL), index++;
    snprintf(name, sizeof name, "decoder.model.%d.conv.conv", index);
    return conv_into(L, h, L->c->channels, s->last_kernel_size, 1, 1, false, true, name, pcm);
}

static int layer_norm(struct codec_lowering *L, int x, const char *prefix, int l, const char *which)
{
    const int D = L->g->dim;
    char name[96];
    snprintf(name, sizeof name, "%s.layers.%d.%s", prefix, l, which);
    const int n = value_at(L->g, D, time_of(L, x), name);
    struct ir_op *op = ir_op(L->g, OP_LAYER_NORM, x, -1, n);
    op->eps = L->c->transformer.norm_eps;
    op->weight = vector_weight(L->mod, D, "%s.layers.%d.%s.weight", prefix, l, which);
    vector_weight(L->mod, D, "%s.layers.%d.%s.bias", prefix, l, which);
    op->weight_count = 2;
    return n;
}

/* x += branch, through the layer's scale when it has one */
static void residual(struct codec_lowering *L, int x, int branch, const char *prefix, int l, int which)
{
    if (!L->c->transformer.layer_scale) {
        ir_op(L->g, OP_ADD, x, branch, x);
        return;
    }
    ir_op(L->g, OP_SCALE_ADD, x, branch, x)->weight =
        vector_weight(L->mod, L->g->dim, "%s.layers.%d.layer_scale_%d.scale", prefix, l, which);
}

/* Mimi's transformer (ProjectedTransformer with identity projections): pre-LayerNorm layers,
   x += ls1 * attention(norm1(x)); x += ls2 * linear2(gelu(linear1(norm2(x)))) */
static void transformer(struct codec_lowering *L, int x, const char *prefix)
{
    struct ir_graph *g = L->g;
    const struct codec_transformer_spec *t = &L->c->transformer;
    const int D = t->dim, F = t->dim_feedforward, T = time_of(L, x);
    char name[96];
    for (int l = 0; l < t->num_layers; l++) {
        const int n1 = layer_norm(L, x, prefix, l, "norm1");
        residual(L, x, lower_attention(L->mod, g, prefix, l, n1), prefix, l, 1);
        const int n2 = layer_norm(L, x, prefix, l, "norm2");
        snprintf(name, sizeof name, "l%d.ffn_in", l);
        const int h = value_at(g, F, T, name);
        snprintf(name, sizeof name, "%s.layers.%d.linear1.weight", prefix, l);
        ir_op(g, OP_MATMUL, n2, -1, h)->weight = weight_of(L->mod, F, D, 2, (long long[]){F, D}, name);
        ir_op(g, OP_GELU, h, -1, h);
        snprintf(name, sizeof name, "l%d.ffn_out", l);
        const int out = value_at(g, D, T, name);
        snprintf(name, sizeof name, "%s.layers.%d.linear2.weight", prefix, l);
        ir_op(g, OP_MATMUL, h, -1, out)->weight = weight_of(L->mod, D, F, 2, (long long[]){D, F}, name);
        residual(L, x, out, prefix, l, 2);
    }
}

/* The codebooks of quantizer.rvq_NAME from `first` on, `count` of them, as consecutive weights: each
   its embedding (embedding_sum divided by cluster_usage at load) then its usage */
static int codebooks(struct codec_lowering *L, const char *rvq, int count)
{
    const struct quantizer_spec *q = &L->c->quantizer;
    int first = -1;
    for (int j = 0; j < count; j++) {
        char name[128];
        snprintf(name, sizeof name, "quantizer.rvq_%s.vq.layers.%d._codebook.embedding_sum", rvq, j);
        const int e = weight_of(L->mod, q->bins, q->dimension, 2, (long long[]){q->bins, q->dimension}, name);
        const int usage = vector_weight(L->mod, q->bins, "quantizer.rvq_%s.vq.layers.%d._codebook.cluster_usage", rvq, j);
        L->mod->weights[e].fold_alpha = usage, L->mod->weights[e].fold = KILN_FOLD_DIVIDE_ROWS;
        if (j == 0)
            first = e;
    }
    return first;
}

static int projection(struct codec_lowering *L, int x, int rows, int cols, const char *rvq, const char *which, int out)
{
    char name[96];
    snprintf(name, sizeof name, "quantizer.rvq_%s.%s.weight", rvq, which);
    ir_op(L->g, OP_MATMUL, x, -1, out)->weight = weight_of(L->mod, rows, cols, 3, (long long[]){rows, cols, 1}, name);
    return out;
}

static struct ir_graph *codec_graph(struct codec_lowering *L, const char *name, const char *prefix)
{
    const struct codec_transformer_spec *t = &L->c->transformer;
    struct ir_graph *g = L->g = ir_graph_new(L->mod, name);
    L->convs = 0;
    snprintf(g->state_prefix, sizeof g->state_prefix, "%s", prefix);
    g->multirate = true;
    int hop = 1;
    for (int i = 0; i < L->c->seanet.num_ratios; i++)
        hop *= L->c->seanet.ratios[i];
    g->rows = L->frame / hop;        /* the transformers' rows a frame (Mimi: 2, resampled by 2 to the frame) */
    g->dim = t->dim;
    g->heads = t->num_heads;
    g->head_dim = t->dim / t->num_heads;
    g->context = t->context;
    g->kv_capacity = t->context + g->rows - 1;
    g->kv_format = KILN_F32;
    g->num_layers = t->num_layers;
    g->rope = t->rope;
    g->rope_max_period = t->rope_max_period;
    g->weight_class = KILN_CLASS_TEMPORAL;
    char state[48];
    snprintf(state, sizeof state, "%skv_pos", prefix);
    g->positions = add_state(L->mod, g, IR_I64, g->kv_capacity, RESET_EMPTY, KILN_STATE_POSITIONS, state,
                             "the %s transformer's position held by each ring slot; -1: empty", name);
    snprintf(state, sizeof state, "%spos", prefix);
    g->position = add_state(L->mod, g, IR_I64, 1, RESET_ZERO, KILN_STATE_COUNTER, state,
                            "the %s transformer's next position (2 a frame)", name);
    g->rope_table = -1;
    return g;
}

static void lower_encode(struct codec_lowering *L)
{
    const struct codec_spec *c = L->c;
    struct ir_graph *g = codec_graph(L, "encode", "enc_");
    int pcm = ir_value(g, VAL_INPUT, c->channels, "pcm");
    g->values[pcm].time = L->frame;
    int x = seanet_encoder(L, pcm);
    mark_last(g, KILN_SEANET_ENCODER);
    transformer(L, x, "encoder_transformer.transformer");
    mark_last(g, KILN_ENCODER_TRANSFORMER);
    const int stride = g->rows; /* (the learnt downsampling to the frame rate: kernel 2 * stride) */
    const int z = conv(L, x, c->seanet.dimension, 2 * stride, stride, 1, true, false, "downsample.conv.conv.conv");
    int codes = ir_value(g, VAL_OUTPUT, c->num_codebooks, "codes");
    g->values[codes].dtype = IR_I32, g->values[codes].time = 1;
    const struct quantizer_spec *q = &c->quantizer;
    const char *const rvq[2] = {"first", "rest"};
    for (int part = 0; part < 2 && (part == 0 || c->num_codebooks > 1); part++) {
        char name[32];
        snprintf(name, sizeof name, "rvq_%s.latent", rvq[part]);
        const int r = projection(L, z, q->dimension, c->seanet.dimension, rvq[part], "input_proj", value_at(g, q->dimension, 1, name));
        struct ir_op *op = ir_op(g, OP_VQ_ENCODE, r, -1, codes);
        op->codebooks = part == 0 ? 1 : c->num_codebooks - 1, op->first_code = part;
        g->ops[g->num_ops - 1].weight = codebooks(L, rvq[part], g->ops[g->num_ops - 1].codebooks);
    }
    mark_last(g, KILN_QUANTIZER);
}

static void lower_decode(struct codec_lowering *L)
{
    const struct codec_spec *c = L->c;
    struct ir_graph *g = codec_graph(L, "decode", "dec_");
    int codes = ir_value(g, VAL_INPUT, c->num_codebooks, "codes");
    g->values[codes].dtype = IR_I32, g->values[codes].time = 1;
    const struct quantizer_spec *q = &c->quantizer;
    const int D = c->seanet.dimension;
    const int z = value_at(g, D, 1, "latent");
    const char *const rvq[2] = {"first", "rest"};
    for (int part = 0; part < 2 && (part == 0 || c->num_codebooks > 1); part++) {
        char name[32];
        snprintf(name, sizeof name, "rvq_%s.sum", rvq[part]);
        const int sum = value_at(g, q->dimension, 1, name);
        struct ir_op *op = ir_op(g, OP_VQ_DECODE, codes, -1, sum);
        op->codebooks = part == 0 ? 1 : c->num_codebooks - 1, op->first_code = part;
        g->ops[g->num_ops - 1].weight = codebooks(L, rvq[part], g->ops[g->num_ops - 1].codebooks);
        snprintf(name, sizeof name, "rvq_%s.out", rvq[part]);
        const int out = part == 0 ? z : value_at(g, D, 1, name);
        projection(L, sum, D, q->dimension, rvq[part], "output_proj", out);
        if (part)
            ir_op(g, OP_ADD, z, out, z);
    }
    const int x = conv_transpose(L, z, D, 2 * g->rows, g->rows, true, false, "upsample.convtr.convtr.convtr");
    mark_last(g, KILN_QUANTIZER);
    transformer(L, x, "decoder_transformer.transformer");
    mark_last(g, KILN_DECODER_TRANSFORMER);
    int pcm = ir_value(g, VAL_OUTPUT, c->channels, "pcm");
    g->values[pcm].time = L->frame;
    seanet_decoder(L, x, pcm);
    mark_last(g, KILN_SEANET_DECODER);
}

struct ir_module *lower_codec(const struct model *m)
{
    struct ir_module *mod = calloc(1, sizeof *mod);
    if (!mod)
        return NULL;
    snprintf(mod->name, sizeof mod->name, "%s", m->name);
    mod->formats.weights = (int)m->weights;
    for (int i = 0; i < KILN_NUM_CLASSES; i++)
        mod->formats.class_weights[i] = -1;
    struct codec_lowering L = {.mod = mod, .c = &m->codec, .frame = codec_frame_size(m)};
    lower_encode(&L);
    lower_decode(&L);
    return mod;
}
