/* model.h: the checked model, the front end's output and the lowering's input.
 * Every field is a resolved constant; the checker guarantees the invariants noted here. */
#ifndef KILN_MODEL_H
#define KILN_MODEL_H
#include <stdbool.h>
#include <stdio.h>
#include "diag.h"

enum mixer_kind { MIXER_ATTENTION, MIXER_TTT_LINEAR, MIXER_TTT_MLP };
enum weight_format { WEIGHTS_F32, WEIGHTS_BF16, WEIGHTS_F16, WEIGHTS_Q8, WEIGHTS_Q4, NUM_WEIGHT_FORMATS };
/* (in the order of runtime/kiln_format.h's enum kiln_format, whose values they are) */
extern const char *const weight_format_names[NUM_WEIGHT_FORMATS]; /* "f32", ... (model.c) */
/* What weights are for, each with a format key of its own (embedding_weights, ...), in the order of
   kiln_format.h's enum kiln_weight_class */
enum { NUM_WEIGHT_CLASSES = 4 };
extern const char *const weight_class_keys[NUM_WEIGHT_CLASSES]; /* "embedding_weights", ... (model.c) */

/* Hyper-parameters of a TTT sequence mixer (docs/ttt.md §1.3). */
#define TTT_MAX_HEAD_DIM 512          /* each thread keeps a head's rows (up to 4 x hd floats) on its stack */
struct ttt_params {
    int mini_batch;                  /* b, > 0 (default 16) */
    double base_lr;                  /* default 1.0 (linear) / 0.1 (mlp) */
    bool use_gate;                   /* default false */
    bool share_qk;                   /* default false; then conv_kernel causal depthwise convs */
    int conv_kernel;                 /* default 4 */
    double eps;                      /* ttt_norm and post_norm LayerNorm eps, default 1e-6 */
    double rope_base;                /* default: the transformer's rope_max_period */
};

struct layer_spec {
    enum mixer_kind mixer;
    struct ttt_params ttt;           /* meaningful when mixer != MIXER_ATTENTION */
};

/* One stack of pre-norm layers: x += mixer(norm1(x)); x += gated_silu_ffn(norm2(x)). */
struct transformer_spec {
    int dim;                         /* > 0 */
    int num_heads;                   /* > 0, divides dim; head_dim even when rope */
    int num_layers;                  /* > 0 */
    int ffn_hidden;                  /* H of the gated FFN (linear_in is [2H, dim]) */
    double norm_eps;                 /* RMSNorm eps (Moshi: 1e-8) */
    bool rope;                       /* interleaved RoPE on q and k */
    double rope_max_period;
    int context;                     /* attention window (KV ring capacity); 0 = unbounded */
    struct layer_spec *layers;       /* [num_layers] */
};

/* A Mimi codec (docs/moshi.md §7; docs/language.md, "Codecs"): SEANet encoder and decoder, a
   transformer after the encoder and one before the decoder (alike), learnt down/upsampling by 2,
   and a split residual vector quantizer. */
#define CODEC_MAX_RATIOS 8
struct seanet_spec {
    int dimension;                   /* latent channels (Mimi: 512) */
    int n_filters;                   /* channels after the first conv (64); doubled at each ratio */
    int num_ratios;
    int ratios[CODEC_MAX_RATIOS];    /* the decoder's order ([8, 6, 5, 4]); the encoder runs them reversed */
    int kernel_size, last_kernel_size, residual_kernel_size; /* 7, 3, 3 */
    int n_residual_layers;           /* residual blocks per ratio (1) */
    int dilation_base;               /* block j's dilation: dilation_base^j (2) */
    int compress;                    /* a residual block's hidden channels: channels / compress (2) */
};

struct codec_transformer_spec {
    int dim, num_heads, num_layers;
    int dim_feedforward;             /* linear1 [dim_feedforward, dim] -> exact GELU -> linear2 */
    double norm_eps;                 /* LayerNorm (weight and bias) eps (1e-5) */
    bool rope;
    double rope_max_period;
    int context;                     /* attention window in the transformer's frames (250) */
    bool layer_scale;                /* per-channel learned scales on both branches */
};

struct quantizer_spec {
    int dimension;                   /* codebook vectors' size (256) */
    int bins;                        /* entries per codebook (2048) */
    int n_q;                         /* codebooks in the checkpoint (32): 1 semantic + n_q - 1 acoustic */
};

struct codec_spec {
    int sample_rate;                 /* Hz (24000) */
    int channels;                    /* audio channels (1) */
    int num_codebooks;               /* codebooks used (8): the semantic one and num_codebooks - 1 acoustic */
    struct seanet_spec seanet;
    struct codec_transformer_spec transformer;
    struct quantizer_spec quantizer;
};

enum model_kind { MODEL_LM, MODEL_CODEC };

struct model {
    char name[64];                   /* C identifier */
    enum model_kind kind;            /* MODEL_CODEC: only name, frame_rate, weights and codec are set */
    struct codec_spec codec;
    int text_card, card;             /* output vocabularies */
    int n_q, dep_q;                  /* audio input streams, generated codebooks (dep_q <= n_q) */
    int *delays;                     /* [1 + n_q], each >= 0 */
    double frame_rate;               /* Hz (Moshi: 12.5) */
    int text_padding_id;             /* existing_text_padding_id (Moshi: 3) */
    enum weight_format weights;
    int class_weights[NUM_WEIGHT_CLASSES]; /* the *_weights keys (enum weight_format), -1: as `weights` */
    enum weight_format kv;           /* the attention caches' format: f32, bf16 or f16 (kilnc --kv) */
    struct transformer_spec temporal;
    struct transformer_spec depformer; /* rope false, context = dep_q, weights per step */
};

/* A codec's frame: sample_rate / frame_rate samples (the checker makes it whole) */
int codec_frame_size(const struct model *m);
/* The format of a class's weights: its key's, else the model's */
int model_class_weights(const struct model *m, int weight_class);
/* "q4", or "q4 with embeddings bf16, text head q8": the classes whose keys differ */
void model_weights_text(const struct model *m, char *buf, size_t size);
void model_free(struct model *m);
/* Prints every field, one per line, the name alone on the first line (so that two models can be
   compared after dropping it): `kilnc --dump=model`. */
void model_dump(FILE *out, const struct model *m);
#endif
