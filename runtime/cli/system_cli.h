/* system_cli.h: what a system binary's commands share (system_cli.c): a language model and its codec
 * compiled into one program (kilnc LM.kiln --codec MIMI.kiln; docs/converse.md). Their weights, the
 * sampling options of `generate`, and the text of a conversation (token ids, or SentencePiece pieces
 * through tokenizer.h). */
#ifndef KILN_SYSTEM_CLI_H
#define KILN_SYSTEM_CLI_H
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include "cli_common.h"
#include "kiln_rt.h"

/* The two models of a system */
struct system_desc {
    const struct kiln_model_desc *lm, *codec;
};

/* --lm-weights W, --codec-weights M (safetensors or .kw each), --random-weights SEED (whichever has
   none given), --strict */
struct system_weights {
    const char *lm, *codec;
    uint64_t seed;
    bool random, strict;
};
#define SYSTEM_WEIGHT_OPTIONS(w)                                                                       \
    {"--lm-weights", OPT_TEXT, &(w)->lm, 0, 0, NULL}, {"--codec-weights", OPT_TEXT, &(w)->codec, 0, 0, NULL}, \
        {"--random-weights", OPT_U64, &(w)->seed, 0, 0, &(w)->random},                             \
        {"--strict", OPT_SWITCH, &(w)->strict, 0, 0, NULL}, CLI_COPY_WEIGHTS_OPTION
#define SYSTEM_WEIGHTS_USAGE "(--lm-weights W | --random-weights SEED) (--codec-weights M | --random-weights SEED)"

/* generate's sampling options into a struct kiln_sampling */
#define SYSTEM_SAMPLING_OPTIONS(s)                                                                     \
    {"--seed", OPT_U64, &(s)->seed, 0, 0, NULL}, {"--temp-text", OPT_FLOAT, &(s)->temp_text, 0, 0, NULL}, \
        {"--top-k-text", OPT_INT, &(s)->top_k_text, 0, INT_MAX, NULL},                             \
        {"--temp", OPT_FLOAT, &(s)->temp, 0, 0, NULL}, {"--top-k", OPT_INT, &(s)->top_k, 0, INT_MAX, NULL}
#define SYSTEM_SAMPLING_USAGE "[--seed S] [--temp-text 0.7] [--top-k-text 25] [--temp 0.8] [--top-k 250]"

/* Loads both models (each from its weights, or random); 0, or 1 with the error printed (nothing
   loaded). A usage error when a model has neither weights nor --random-weights. */
int system_load(const struct system_desc *s, const char *cmd, const struct system_weights *w, struct kiln_model *lm,
                struct kiln_model *codec);

/* The text of a conversation: each text token the model says (0 and 3, Moshi's padding and
   end-of-padding, dropped), as its SentencePiece piece, or as its id and a space without a
   tokenizer */
struct system_text {
    struct kiln_tokenizer *tokenizer; /* or NULL: ids */
};
/* Loads --tokenizer PATH (NULL: none) for the LM; 0, or 1 with the error printed (a tokenizer whose
   vocabulary is not the model's text_card, a binary without SentencePiece). */
int system_text_open(const struct system_desc *s, const char *cmd, const char *path, struct system_text *t);
void system_text_close(struct system_text *t);
/* The text of token (nothing for -1, 0 and 3) into buf[size]; its length */
size_t system_text_of(const struct system_text *t, int32_t token, char *buf, size_t size);

/* The commands of system_cli.c's table */
int converse_main(const struct system_desc *s, int argc, char **argv);
int serve_main(const struct system_desc *s, int argc, char **argv);
#define CONVERSE_USAGE                                                                                 \
    "converse " SYSTEM_WEIGHTS_USAGE "\n"                                                              \
    "                          --in USER.wav|- --out MODEL.wav|- [--text-out T.txt] [--tokenizer SPM.model]\n" \
    "                          [--format s16le|f32le] [--wav f32|s16] [--codes-out DIR] " SYSTEM_SAMPLING_USAGE "\n" \
    "                          [--threads T] [--trace FILE] [--quiet] [--strict] [--copy-weights]\n"  \
    "                          a conversation, 80 ms at a time: the user's audio in, the model's audio and\n" \
    "                          text out (Moshi's server loop). '-': raw PCM on stdin/stdout (--format,\n" \
    "                          24 kHz mono), flushed per frame. Text to --text-out, else to stdout (ids\n" \
    "                          without --tokenizer). --codes-out DIR: user_codes.npy, tokens.npy and\n" \
    "                          model_codes.npy; --trace FILE: each frame's ms"
#define SERVE_USAGE                                                                                    \
    "serve " SYSTEM_WEIGHTS_USAGE "\n"                                                                 \
    "                          [--host 127.0.0.1] [--port 8998] [--max-conversations 2] [--tokenizer SPM.model]\n" \
    "                          " SYSTEM_SAMPLING_USAGE " [--threads T] [--strict] [--copy-weights]\n"  \
    "                          the protocol of Moshi's moshi.server: a WebSocket at /api/chat, Ogg Opus\n" \
    "                          audio both ways; up to N conversations at once over one loaded model"
#endif
