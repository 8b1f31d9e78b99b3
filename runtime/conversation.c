/* conversation.c: speech in, speech out (kiln_rt.h, "a conversation"): one 80 ms frame of the user's
 * audio to one of the model's, as Moshi's server does it (docs/moshi.md §5.2): the codec encodes the
 * user's frame, LMGen steps on its codes, and the codec decodes the model's codes once LMGen returns
 * them (silence before). As the server, the codec's stream is reset after the first frame is
 * encoded, so that the second is encoded as a first again: LMGen reads none of the first frame's
 * codes (every stream's input is its initial token at step 0). Everything is allocated by
 * kiln_conversation_new; a step never allocates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kiln_rt.h"

struct kiln_conversation {
    const struct kiln_model *lm, *codec_model;
    struct kiln_gen *gen;
    struct kiln_codec *codec;
    int64_t frames;                  /* frames stepped */
    int32_t *user_codes;             /* [num_codebooks] the last frame's, as LMGen read them */
    int32_t *tokens;                 /* [1 + dep_q] what LMGen returned last (-2: nothing yet) */
};

int kiln_conversation_fits(const struct kiln_model_desc *lm, const struct kiln_model_desc *codec, char *err,
                           size_t errlen)
{
    if (lm->kind != KILN_MODEL_LM || codec->kind != KILN_MODEL_CODEC)
        snprintf(err, errlen, "%s and %s are not a language model and a codec", lm->name, codec->name);
    else if (lm->dep_q != codec->num_codebooks || lm->n_q - lm->dep_q != codec->num_codebooks)
        snprintf(err, errlen, "%s generates %d codebooks and reads %d of the user's, and codec %s gives %d codes a "
                 "frame", lm->name, lm->dep_q, lm->n_q - lm->dep_q, codec->name, codec->num_codebooks);
    else if (lm->card != codec->bins)
        snprintf(err, errlen, "%s's audio vocabulary is %d, and codec %s's codebooks have %d entries", lm->name,
                 lm->card, codec->name, codec->bins);
    else if (lm->frame_rate != (double)codec->sample_rate / codec->frame_size)
        snprintf(err, errlen, "%s runs at %g frames a second, and codec %s at %g", lm->name, lm->frame_rate,
                 codec->name, (double)codec->sample_rate / codec->frame_size);
    else
        return 0;
    return 1;
}

struct kiln_conversation *kiln_conversation_new(const struct kiln_model *lm, const struct kiln_model *codec,
                                                const struct kiln_sampling *sampling)
{
    char err[256];
    if (kiln_conversation_fits(lm->desc, codec->desc, err, sizeof err))
        return NULL;
    struct kiln_conversation *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->lm = lm;
    c->codec_model = codec;
    c->gen = kiln_gen_new(lm, sampling);
    c->codec = kiln_codec_new(codec);
    c->user_codes = malloc((size_t)codec->desc->num_codebooks * sizeof *c->user_codes);
    c->tokens = malloc((size_t)(1 + lm->desc->dep_q) * sizeof *c->tokens);
    if (!c->gen || !c->codec || !c->user_codes || !c->tokens) {
        kiln_conversation_free(c);
        return NULL;
    }
    kiln_conversation_reset(c);
    return c;
}

void kiln_conversation_reset(struct kiln_conversation *c)
{
    kiln_gen_reset(c->gen);
    kiln_codec_reset(c->codec);
    c->frames = 0;
    for (int k = 0; k <= c->lm->desc->dep_q; k++)
        c->tokens[k] = -2;
    memset(c->user_codes, 0, (size_t)c->codec_model->desc->num_codebooks * sizeof *c->user_codes);
}

void kiln_conversation_free(struct kiln_conversation *c)
{
    if (!c)
        return;
    kiln_gen_free(c->gen);
    kiln_codec_free(c->codec);
    free(c->user_codes), free(c->tokens), free(c);
}

int32_t kiln_conversation_step(struct kiln_conversation *c, const float *user_pcm, float *model_pcm)
{
    kiln_codec_encode_step(c->codec, user_pcm, c->user_codes);
    if (c->frames++ == 0)
        kiln_codec_reset(c->codec);
    if (!kiln_gen_step(c->gen, c->user_codes, c->tokens)) {
        memset(model_pcm, 0, (size_t)c->codec_model->desc->frame_size * sizeof *model_pcm);
        return -1;
    }
    /* (the depformer samples below card, the codec's bins: the decode cannot refuse them) */
    kiln_codec_decode_step(c->codec, c->tokens + 1, model_pcm);
    return c->tokens[0];
}

const int32_t *kiln_conversation_user_codes(const struct kiln_conversation *c) { return c->user_codes; }
const int32_t *kiln_conversation_tokens(const struct kiln_conversation *c) { return c->tokens; }
const struct kiln_gen *kiln_conversation_gen(const struct kiln_conversation *c) { return c->gen; }
