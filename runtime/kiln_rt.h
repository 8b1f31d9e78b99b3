/* kiln_rt.h: the contract between generated model code and the runtime.
 *
 * kilnc emits, for a model NAME, a `const struct kiln_model_desc NAME_desc` that describes every
 * weight the model reads (checkpoint name, shape, folds to apply at load) and the entry points of
 * its shape-fixed kernels. The runtime is model-agnostic: it loads weights into the generated
 * weight struct, owns stream memory, and drives `forward`, `generate` and `bench` through the
 * descriptor. Nothing here depends on a target ISA. */
#ifndef KILN_RT_H
#define KILN_RT_H
#include <stddef.h>
#include <stdint.h>
#include "kiln_format.h"

#define KILN_MAX_RANK 4
#define KILN_ALIGN 64 /* every weight and buffer starts on a cache line */

/* One tensor the compiled model reads from a checkpoint. */
struct kiln_weight_desc {
    const char *name;                /* checkpoint tensor name, e.g. "transformer.layers.0.norm1.alpha" */
    int rank;
    int64_t shape[KILN_MAX_RANK];    /* expected shape, exactly as the checkpoint stores it */
    int fold_alpha;                  /* index of a norm weight whose values scale this matrix's
                                        columns at load (W[r][c] *= alpha[c], in f32), or -1 */
    size_t field_offset;             /* offsetof(struct NAME_weights, pointer field) */
    int64_t read_per_frame;          /* values one streaming frame reads (an embedding table: one row) */
    /* Layout for the target's kernels (compiler/ir.h): pack_nr 0 keeps [rows][cols]; otherwise each
       block of pack_rows rows (pack_gated: of 2 * pack_rows rows, the halves paired) becomes panels of
       pack_nr rows stored [panel][col][pack_nr], zero-padded. Done once, at load, after the folds. */
    int pack_nr, pack_rows, pack_gated;
    /* enum kiln_format (kiln_format.h): how the values are stored (`format`: f32, or bf16/f16 in
       2 bytes, converted at load rounding to nearest even), and for an f32-stored weight of a
       low-precision model what they are rounded through at load (`rounding`; f32: not at all). */
    int format, rounding;
    int weight_class;                /* enum kiln_weight_class: embeddings, temporal (its layers and
                                        norms), text head (out_norm, text_linear), depformer */
    int fold;                        /* enum kiln_fold: what fold_alpha (when >= 0) does to this weight */
    int transposed;                  /* the checkpoint holds the transpose of the matrix the kernels read
                                        (a transposed conv's [in][out * kernel]): transposed at load */
    int64_t macs_per_frame;          /* multiply-adds a streaming frame does with it (a matrix: once per
                                        value and row it multiplies; a codebook: its search's two dot
                                        products per entry): bench's compute floor */
};


/* One part of a stream's state: a field of the generated stream struct */
struct kiln_state_desc {
    const char *name;                /* the field: "kv_l0_k", "ttt_l3_W1", "pos", ... */
    int64_t offset, bytes;           /* where in the stream, and its size */
    int role;                        /* enum kiln_state_role */
    const char *graph;               /* the graph whose ops own it ("temporal", "depformer"), or "" */
};

/* One step function of the model (its graph): the LM's are temporal and depformer */
struct kiln_graph_desc {
    const char *name;
    int max_rows;                    /* the most frames (time steps) one call takes */
};

struct kiln_model_desc {
    const char *name;                /* the model's C identifier */
    const char *target;              /* scalar | avx2 | avx512 | avx512vnni | neon */
    const char *cpu_features;        /* what its code was compiled for, comma-separated ("avx2,fma,f16c"; "" for none) */
    const char *weight_format;       /* f32 | bf16 | f16 | q8 | q4 (and the classes' own: "q4 with text head q8"):
                                        how matrices and embeddings are stored */
    const char *kv_format;           /* f32 | bf16 | f16: the attention caches' format (kilnc --kv) */
    int text_card, card;             /* output vocabularies; inputs have one extra (initial) row */
    int n_q, dep_q;                  /* audio streams in, audio codebooks generated */
    int num_streams;                 /* 1 + n_q */
    const int *delays;               /* [num_streams] */
    int dim, num_heads, num_layers, context, ffn_hidden;
    int depformer_dim, depformer_num_heads, depformer_num_layers, depformer_ffn_hidden;
    const char *layer_mixers;        /* the temporal layers' mixers: "0..1 attention, 2..3 TTT-Linear (mini-batch 16)" */
    int64_t num_params;              /* parameters the model reads (what info reports) */
    double frame_rate;               /* frames per second (Moshi: 12.5, i.e. 80 ms frames) */

    int num_weights;
    const struct kiln_weight_desc *weights;
    size_t weights_struct_size;      /* sizeof(struct NAME_weights) */
    /* What the weights would take built with each weight format (kilnc --weights; enum kiln_format),
       this build's included: what the memory guard names when they do not fit */
    int64_t weight_bytes_as[KILN_NUM_FORMATS];

    size_t stream_bytes;             /* one stream's whole state: caches, positions, scratch */
    int num_states;                  /* its parts but the scratch, in the struct's order */
    const struct kiln_state_desc *states;
    int num_graphs;
    const struct kiln_graph_desc *graphs;
    /* Puts a stream (stream_bytes, KILN_ALIGN-aligned) into its initial state. */
    void (*stream_reset)(void *stream);
    int max_rows;                    /* the most frames one temporal call takes */
    /* T (1..max_rows) frames of the temporal transformer from the stream's position on:
       tokens[T][num_streams] (each step's delayed input; -1 = zero embedding) -> text_logits[T][text_card]
       and hidden[T][dim] (the output after out_norm, the depformer's input). */
    void (*temporal)(const void *weights, void *stream, const int32_t *tokens, int T, float *text_logits,
                     float *hidden);
    /* Depformer step k (0..dep_q-1) of a frame whose temporal output is hidden[dim]; k == 0 starts
       a fresh depformer state. prev_token: the text token (k == 0) or audio codebook k-1's token;
       -> logits[card]. */
    void (*depformer_step)(const void *weights, void *stream, int k, int32_t prev_token, const float *hidden,
                           float *logits);
    /* Positions the stream as if `frames` frames had been stepped (the KV ring marked full with
       whatever it holds): for benchmarks at a given context. */
    void (*stream_advance)(void *stream, int64_t frames);
    /* Sampling's reductions, in the target's vectors. argmax: the index of the first largest of x[n]
       (torch.argmax's choice on ties; unlike torch, which takes NaN for the largest, NaNs are never
       chosen unless x[0] is one: then 0).
       softmax_exp: p[i] = exp(logits[i] / temp - max) for i < n; returns their sum. */
    int (*argmax)(const float *x, int n);
    float (*softmax_exp)(const float *logits, int n, float temp, float max, float *p);
    /* ---- what a model is; a codec's facts and step functions (the LM's above are 0 and NULL) ---- */
    int kind;                        /* enum kiln_model_kind */
    int sample_rate;                 /* a codec's audio: samples per second (Mimi: 24000) */
    int frame_size;                  /* samples per frame: sample_rate / frame_rate (1920) */
    int num_codebooks;               /* codes per frame (8) */
    int bins;                        /* each code is in [0, bins) (2048) */
    /* One frame from the stream's state on: pcm[frame_size] -> codes[num_codebooks], and back.
       whole 1: every row of the codec's transformers sees its whole context, as the reference's
       whole-file encode and decode do; 0: the reference's streaming semantics, whose KV ring holds
       exactly `context` positions (the first of the two rows a frame gives sees one fewer). */
    void (*encode)(const void *weights, void *stream, const float *pcm, int32_t *codes, int whole);
    void (*decode)(const void *weights, void *stream, const int32_t *codes, float *pcm, int whole);
};

/* Loaded weights: the generated weight struct filled with pointers into one aligned arena. */
struct kiln_weights {
    void *table;                     /* struct NAME_weights */
    void *arena;                     /* loaded from a checkpoint (or random), or NULL when mapped */
    size_t arena_bytes;
    void *map;                       /* a mapped .kw file (packed weights), or NULL */
    size_t map_bytes;
};

/* Loads a checkpoint (.safetensors, F32/BF16/F16) for `desc`, checking every tensor's presence,
   dtype and shape; applies the load-time folds and packing. A packed weight file (.kw, written by
   `NAME pack`) is mapped instead, with nothing to convert (or copied: kiln_set_copy_weights).
   Returns 0, or 1 with a message naming the file and the tensor written to err. Unused extra tensors, and tensors holding NaN or Inf, are
   reported on stderr as warnings (see kiln_set_strict_weights). */
int kiln_weights_load(const struct kiln_model_desc *desc, const char *path, struct kiln_weights *out,
                      char *err, size_t errlen);
/* Strict loading (process-wide, like the thread count): a tensor holding NaN or Inf is an error
   instead of a warning, and a mapped .kw file is read through to check it too. */
void kiln_set_strict_weights(int strict);
/* Copied packed weights (process-wide, off by default): a .kw is copied into memory of its own, in
   transparent huge pages like weights converted from a checkpoint, instead of read through its
   mapping, whose page-cache pages are 4 KiB. Seconds more at start (1.4-4.9 s for Moshi 7B's 4.8 GB
   at q4) and the file's size in anonymous memory (the memory guard checks it); frames then stream their weights
   faster on a machine whose bandwidth one core's misses in flight limit (docs/performance.md). */
void kiln_set_copy_weights(int copy);
/* Fills every weight with deterministic pseudo-random values (for bench), folds applied. */
int kiln_weights_random(const struct kiln_model_desc *desc, uint64_t seed, struct kiln_weights *out,
                        char *err, size_t errlen);
void kiln_weights_free(struct kiln_weights *w);
/* Bytes the weights of desc occupy once loaded, each in its format and layout (padding included);
   and one weight's. */
size_t kiln_weights_bytes(const struct kiln_model_desc *desc);
size_t kiln_weight_bytes(const struct kiln_weight_desc *w);
/* The memory guard (memory.c): 0 when the weights, one stream and staging_bytes more fit in what this
   process can still allocate (MemAvailable, the cgroup's memory.max, or KILN_MEM_AVAILABLE=BYTES);
   else 1 with "not enough memory: ..." in err, naming both figures and the formats that would fit
   (those of desc->weight_bytes_as).
   Loading and generating weights call it first. */
int kiln_memory_guard(const struct kiln_model_desc *desc, int64_t staging_bytes, char *err, size_t errlen);

/* Per-component time of streaming steps, for bench: the generated step functions call
   kiln_profile_mark(c) at the end of each component; it costs one branch unless enabled. */
void kiln_profile_mark(enum kiln_component c);

/* Bytes of a stream's parts of a role (enum kiln_state_role), those of one graph's ops or (graph
   NULL) of all */
size_t kiln_state_bytes(const struct kiln_model_desc *desc, int role, const char *graph);
/* A stream's memory: desc->stream_bytes, KILN_ALIGN-aligned, reset, every page of it touched (a step
   never faults one in: the resident memory of a stream is the same at its first frame and its last).
   NULL when out of memory. */
void *kiln_stream_new(const struct kiln_model_desc *desc);
void kiln_stream_free(void *stream);

/* Teacher-forced forward with the semantics of Moshi's LMModel.forward (docs/moshi.md §3):
   codes [B, num_streams, T] undelayed (int32), -> text_logits [B, 1, T, text_card] and
   audio_logits [B, dep_q, T, card], NaN where Moshi's masks are 0; hidden (NULL: not wanted) gets
   the temporal transformer's output after out_norm per model step, [B, T, dim]. Returns 0, or 1 with err set
   (a code out of range is named by its position). */
int kiln_forward(const struct kiln_model_desc *desc, const struct kiln_weights *w, const int32_t *codes, int B,
                 int T, float *text_logits, float *audio_logits, float *hidden, char *err, size_t errlen);
/* Checks every code of [B, num_streams, T]: [0, card) (text: [0, text_card)), -1 and the initial
   token are valid. Returns 0, or 1 with "codes[b, k, t] = v ..." in err. */
int kiln_check_codes(const struct kiln_model_desc *desc, const int32_t *codes, int B, int T, char *err, size_t errlen);

/* ---- streaming generation (lmgen.c): Moshi's LMGen.step, one call per frame ---------------- */

/* A loaded model: several streams share it (read-only). */
struct kiln_model {
    const struct kiln_model_desc *desc;
    struct kiln_weights weights;
};
int kiln_model_load(const struct kiln_model_desc *desc, const char *path, struct kiln_model *out, char *err,
                    size_t errlen);
int kiln_model_random(const struct kiln_model_desc *desc, uint64_t seed, struct kiln_model *out, char *err,
                      size_t errlen);
void kiln_model_free(struct kiln_model *model);

/* Sampling as Moshi's sample_token: softmax(logits / temp), keep the top_k most probable (0: all),
   draw one (temperature 0: argmax). Draws come from xoshiro256** seeded with splitmix64(seed). */
struct kiln_sampling {
    float temp_text;                 /* default 0.7 */
    int top_k_text;                  /* default 25 */
    float temp;                      /* audio, default 0.8 */
    int top_k;                       /* audio, default 250 */
    uint64_t seed;
};
#define KILN_SAMPLING_DEFAULT ((struct kiln_sampling){0.7f, 25, 0.8f, 250, 0})

struct kiln_gen; /* one conversation: stream state, delay cache, sampler, buffers */

/* All allocation happens here; kiln_gen_step never allocates. NULL when out of memory. */
struct kiln_gen *kiln_gen_new(const struct kiln_model *model, const struct kiln_sampling *sampling);
void kiln_gen_reset(struct kiln_gen *gen);   /* a new conversation (the seed restarts too) */
void kiln_gen_free(struct kiln_gen *gen);
/* One 80 ms frame: user_codes[n_q - dep_q] (the user's Mimi codes of this frame) in; returns 1 and
   fills out[1 + dep_q] (text token, then the model's audio codes, time-aligned), or returns 0 during
   the first max(delays) calls, which return nothing yet. */
int kiln_gen_step(struct kiln_gen *gen, const int32_t *user_codes, int32_t *out);
/* Logits of the last step: text [text_card], audio [dep_q][card]. */
const float *kiln_gen_text_logits(const struct kiln_gen *gen);
const float *kiln_gen_audio_logits(const struct kiln_gen *gen);
/* The temporal transformer's output after out_norm for the last step [dim]. */
const float *kiln_gen_hidden(const struct kiln_gen *gen);
/* The tokens the last step fed the temporal transformer [num_streams] (delays applied). */
const int32_t *kiln_gen_last_input(const struct kiln_gen *gen);
/* The whole state of a conversation, as bytes: restore continues it bit-identically, in this
   process or another running the same binary. restore returns 0, or 1 when buf is not a state of
   this model. */
size_t kiln_gen_state_size(const struct kiln_gen *gen);
void kiln_gen_save(const struct kiln_gen *gen, void *buf);
int kiln_gen_restore(struct kiln_gen *gen, const void *buf, size_t size);

/* Threads of the team each graph call uses (threads.c), from 1 to kiln_max_threads() (this
   machine's processors); 0 keeps OMP_NUM_THREADS or all cores. Returns 0, or 1 (and changes
   nothing) for a count outside that range. */
int kiln_set_threads(int threads);
/* Runs body(context) on every thread of a new OpenMP team of that size: the parallel region of a
   graph call whose code came from the LLVM back end (the C back end's is `#pragma omp parallel`). */
void kiln_parallel(void (*body)(void *context), void *context);
int kiln_threads(void);
int kiln_max_threads(void);

/* The first of desc->cpu_features this CPU lacks, or NULL when it has them all (cpu.c). Loading
   a model and the CLI check it before any generated kernel runs. */
const char *kiln_missing_cpu_feature(const struct kiln_model_desc *desc);

/* Whole-program entry: the generated binary's main() calls this (subcommands info, forward, bench;
   a codec's: kiln_codec_cli_main). Part of the executable (runtime/cli/), not of a libNAME.a. */
int kiln_cli_main(const struct kiln_model_desc *desc, int argc, char **argv);

/* ---- a codec (codec.c): Mimi's encode and decode over the generated step functions ------------ */

/* A model whose desc->kind is KILN_MODEL_CODEC, loaded with kiln_model_load or kiln_model_random,
   turns audio (mono, desc->sample_rate) into codes and back, a frame of desc->frame_size samples
   (80 ms) to desc->num_codebooks codes, each in [0, desc->bins). */
struct kiln_codec; /* one stream of audio: the encoder's and decoder's state */

/* All allocation happens here; a step never allocates. NULL when out of memory or the model is
   not a codec. Several codecs share one model (read-only). */
struct kiln_codec *kiln_codec_new(const struct kiln_model *model);
void kiln_codec_reset(struct kiln_codec *codec);   /* a new stream of audio, both ways */
void kiln_codec_free(struct kiln_codec *codec);
/* One frame with the reference's streaming semantics: pcm[frame_size] -> codes[num_codebooks]. */
void kiln_codec_encode_step(struct kiln_codec *codec, const float *pcm, int32_t *codes);
/* codes[num_codebooks] -> pcm[frame_size]; returns 1, having done nothing, when a code is outside
   [0, bins), else 0. */
int kiln_codec_decode_step(struct kiln_codec *codec, const int32_t *codes, float *pcm);
/* The whole state of a stream, as bytes: restore continues it bit-identically, in this process or
   another running the same binary. restore returns 0, or 1 when buf is not a state of this model. */
size_t kiln_codec_state_size(const struct kiln_codec *codec);
void kiln_codec_save(const struct kiln_codec *codec, void *buf);
int kiln_codec_restore(struct kiln_codec *codec, const void *buf, size_t size);

/* Whole-file semantics (the reference's encode and decode of a whole signal): pcm[n] zero-padded
   to whole frames -> codes[num_codebooks][T], T = ceil(n / frame_size); and codes[num_codebooks][T]
   -> pcm[T * frame_size] (untrimmed), every code checked first. Each runs on a fresh stream of its
   own. Return 0, or 1 with a message in err (decode: "codes[k, t] = v is outside [0, bins)"). */
int kiln_codec_encode(const struct kiln_model *model, const float *pcm, int64_t n, int32_t *codes, char *err,
                      size_t errlen);
int kiln_codec_decode(const struct kiln_model *model, const int32_t *codes, int64_t T, float *pcm, char *err,
                      size_t errlen);

/* A codec binary's command line (encode, decode, info, bench, pack; docs/contracts.md): what
   kiln_cli_main runs for a codec. */
int kiln_codec_cli_main(const struct kiln_model_desc *desc, int argc, char **argv);

/* ---- a conversation (conversation.c): speech in, speech out, as Moshi's server -------------- */

/* A language model and its codec (a system binary: kilnc LM.kiln --codec MIMI.kiln) hold a
   conversation when the LM reads and generates as many codebooks as the codec gives, its audio
   vocabulary is the codec's bins and both run at the same frame rate. */
struct kiln_conversation; /* one conversation: a codec stream both ways and an LMGen */

/* 0 when lm and codec make a conversation, else 1 with what differs in err */
int kiln_conversation_fits(const struct kiln_model_desc *lm, const struct kiln_model_desc *codec, char *err,
                           size_t errlen);
/* All allocation happens here; a step never allocates. NULL when out of memory or the two do not
   fit. Several conversations share the two models (read-only). */
struct kiln_conversation *kiln_conversation_new(const struct kiln_model *lm, const struct kiln_model *codec,
                                                const struct kiln_sampling *sampling);
void kiln_conversation_reset(struct kiln_conversation *c);   /* a new conversation (the seed restarts) */
void kiln_conversation_free(struct kiln_conversation *c);
/* One frame: the user's user_pcm[frame_size] in (mono, the codec's rate), the model's
   model_pcm[frame_size] out. Returns the model's text token of the frame, or -1 (the audio silence)
   while LMGen returns nothing yet: its first max(delays) steps. The codec's stream is reset after the
   first frame is encoded, as Moshi's server does (docs/converse.md). */
int32_t kiln_conversation_step(struct kiln_conversation *c, const float *user_pcm, float *model_pcm);
/* The last step's codes: the user's [num_codebooks] LMGen read, and what LMGen returned [1 + dep_q]
   (text token, then the model's audio codes; -2 before it first returns) */
const int32_t *kiln_conversation_user_codes(const struct kiln_conversation *c);
const int32_t *kiln_conversation_tokens(const struct kiln_conversation *c);
const struct kiln_gen *kiln_conversation_gen(const struct kiln_conversation *c);

/* A system binary's command line (docs/converse.md): the LM's commands, the codec's, converse and
   serve. Like kiln_cli_main, part of the executable only: a libNAME.a does not hold it. */
int kiln_system_cli_main(const struct kiln_model_desc *lm, const struct kiln_model_desc *codec, int argc,
                         char **argv);

#endif
