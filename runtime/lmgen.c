/* lmgen.c: Moshi's LMGen.step (docs/moshi.md §4-§5) over the generated step functions.
 * A kiln_gen is one conversation: the model's stream state (KV rings, depformer state), the delay
 * cache of tokens [num_streams][max_delay + 2] (-2: not generated yet), the offset, the sampler and
 * every buffer a step needs, all allocated by kiln_gen_new so that a step never allocates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kiln_rt.h"
#include "sample.h"

#define UNGENERATED (-2)

struct kiln_gen {
    const struct kiln_model *model;
    struct kiln_sampling sampling;
    int cache_len;                   /* CT = max(delays) + 2 */
    int max_delay;
    /* The state (what save/restore copy): */
    struct gen_state {
        char magic[8];
        char model_name[64];
        uint64_t stream_bytes;
        int64_t offset;              /* frames stepped */
        struct kiln_rng rng;
    } *state;
    int32_t *cache;                  /* [num_streams][cache_len], follows state in the same block */
    void *stream;                    /* the generated stream struct */
    /* Buffers: */
    int32_t *tokens;                 /* [num_streams] this step's input */
    float *text_logits, *audio_logits, *hidden;
    float *sample_p;
    int *sample_index;
};

static const char state_magic[8] = "kilnst1";

static size_t cache_bytes(const struct kiln_gen *g)
{
    return (size_t)g->model->desc->num_streams * (size_t)g->cache_len * sizeof(int32_t);
}

struct kiln_gen *kiln_gen_new(const struct kiln_model *model, const struct kiln_sampling *sampling)
{
    const struct kiln_model_desc *d = model->desc;
    struct kiln_gen *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->model = model;
    g->sampling = sampling ? *sampling : KILN_SAMPLING_DEFAULT;
    for (int k = 0; k < d->num_streams; k++)
        g->max_delay = d->delays[k] > g->max_delay ? d->delays[k] : g->max_delay;
    g->cache_len = g->max_delay + 2;
    int vocab = d->text_card > d->card ? d->text_card : d->card;
    g->state = malloc(sizeof *g->state + cache_bytes(g));
    g->stream = kiln_stream_new(d);
    g->tokens = malloc((size_t)d->num_streams * sizeof *g->tokens);
    g->text_logits = malloc((size_t)d->text_card * sizeof(float));
    g->audio_logits = malloc((size_t)d->dep_q * d->card * sizeof(float));
    g->hidden = malloc((size_t)d->dim * sizeof(float));
    g->sample_p = malloc((size_t)vocab * sizeof(float));
    g->sample_index = malloc((size_t)vocab * sizeof(int));
    if (!g->state || !g->stream || !g->tokens || !g->text_logits || !g->audio_logits || !g->hidden || !g->sample_p ||
        !g->sample_index) {
        kiln_gen_free(g);
        return NULL;
    }
    g->cache = (int32_t *)(g->state + 1);
    kiln_gen_reset(g);
    return g;
}

void kiln_gen_reset(struct kiln_gen *g)
{
    const struct kiln_model_desc *d = g->model->desc;
    memset(g->state, 0, sizeof *g->state);
    memcpy(g->state->magic, state_magic, sizeof state_magic);
    snprintf(g->state->model_name, sizeof g->state->model_name, "%s", d->name);
    g->state->stream_bytes = d->stream_bytes;
    rng_seed(&g->state->rng, g->sampling.seed);
    for (int i = 0; i < d->num_streams * g->cache_len; i++)
        g->cache[i] = UNGENERATED;
    d->stream_reset(g->stream);
}

void kiln_gen_free(struct kiln_gen *g)
{
    if (!g)
        return;
    kiln_stream_free(g->stream);
    free(g->state), free(g->tokens), free(g->text_logits), free(g->audio_logits), free(g->hidden), free(g->sample_p),
        free(g->sample_index), free(g);
}

int kiln_gen_step(struct kiln_gen *g, const int32_t *user_codes, int32_t *out)
{
    const struct kiln_model_desc *d = g->model->desc;
    const void *w = g->model->weights.table;
    const int K = d->num_streams, CT = g->cache_len;
    int64_t o = g->state->offset;
    int32_t *cache = g->cache;
    /* 1. The user's codes go where their delay says they will be read. */
    for (int j = 0; j < d->n_q - d->dep_q; j++) {
        int k = 1 + d->dep_q + j;
        cache[k * CT + (int)((o + d->delays[k]) % CT)] = user_codes[j];
    }
    /* 2. This step's input: column o, or the initial token while o <= the stream's delay. */
    for (int k = 0; k < K; k++) {
        int32_t initial = k == 0 ? d->text_card : d->card;
        int32_t token = cache[k * CT + (int)(o % CT)];
        g->tokens[k] = o <= d->delays[k] ? initial : token == UNGENERATED ? 0 : token;
    }
    /* 3-4. Temporal step, text token, then the depformer's codebooks, each fed the previous token. */
    d->temporal(w, g->stream, g->tokens, 1, g->text_logits, g->hidden);
    const struct kiln_sampling *s = &g->sampling;
    int32_t prev = sample_token(g->text_logits, d->text_card, s->temp_text, s->top_k_text, &g->state->rng,
                                g->sample_p, g->sample_index, d);
    kiln_profile_mark(KILN_SAMPLE);
    /* 5. Everything sampled now is written at column o + 1. */
    int col = (int)((o + 1) % CT);
    cache[col] = prev;
    for (int q = 0; q < d->dep_q; q++) {
        float *logits = g->audio_logits + (size_t)q * d->card;
        d->depformer_step(w, g->stream, q, prev, g->hidden, logits);
        prev = sample_token(logits, d->card, s->temp, s->top_k, &g->state->rng, g->sample_p, g->sample_index, d);
        kiln_profile_mark(KILN_SAMPLE);
        cache[(1 + q) * CT + col] = prev;
    }
    o = ++g->state->offset;
    /* 6. Nothing yet during the first max_delay calls; then the time-aligned frame. */
    if (o <= g->max_delay)
        return 0;
    for (int k = 0; k <= d->dep_q; k++)
        out[k] = cache[k * CT + (int)((o - g->max_delay + d->delays[k]) % CT)];
    return 1;
}

const float *kiln_gen_text_logits(const struct kiln_gen *g) { return g->text_logits; }
const float *kiln_gen_audio_logits(const struct kiln_gen *g) { return g->audio_logits; }
const float *kiln_gen_hidden(const struct kiln_gen *g) { return g->hidden; }
const int32_t *kiln_gen_last_input(const struct kiln_gen *g) { return g->tokens; }

size_t kiln_gen_state_size(const struct kiln_gen *g)
{
    return sizeof *g->state + cache_bytes(g) + g->model->desc->stream_bytes;
}

void kiln_gen_save(const struct kiln_gen *g, void *buf)
{
    size_t head = sizeof *g->state + cache_bytes(g);
    memcpy(buf, g->state, head);
    memcpy((char *)buf + head, g->stream, g->model->desc->stream_bytes);
}

int kiln_gen_restore(struct kiln_gen *g, const void *buf, size_t size)
{
    const struct gen_state *saved = buf;
    const struct kiln_model_desc *d = g->model->desc;
    if (size != kiln_gen_state_size(g) || memcmp(saved->magic, state_magic, sizeof state_magic) != 0 ||
        strncmp(saved->model_name, d->name, sizeof saved->model_name) != 0 || saved->stream_bytes != d->stream_bytes)
        return 1;
    size_t head = sizeof *g->state + cache_bytes(g);
    memcpy(g->state, buf, head);
    memcpy(g->stream, (const char *)buf + head, d->stream_bytes);
    return 0;
}

static int check_cpu(const struct kiln_model_desc *desc, char *err, size_t errlen)
{
    const char *missing = kiln_missing_cpu_feature(desc);
    if (missing)
        snprintf(err, errlen, "%s: built for target %s, compiled for the CPU features %s, and this CPU lacks '%s'",
                 desc->name, desc->target, desc->cpu_features, missing);
    return missing != NULL;
}

/* Both loaders: the CPU check first, so no generated kernel ever runs on a CPU without its ISA. */
static int model_init(const struct kiln_model_desc *desc, struct kiln_model *out, char *err, size_t errlen)
{
    out->desc = desc;
    memset(&out->weights, 0, sizeof out->weights);
    return check_cpu(desc, err, errlen);
}

int kiln_model_load(const struct kiln_model_desc *desc, const char *path, struct kiln_model *out, char *err,
                    size_t errlen)
{
    return model_init(desc, out, err, errlen) || kiln_weights_load(desc, path, &out->weights, err, errlen);
}

int kiln_model_random(const struct kiln_model_desc *desc, uint64_t seed, struct kiln_model *out, char *err,
                      size_t errlen)
{
    return model_init(desc, out, err, errlen) || kiln_weights_random(desc, seed, &out->weights, err, errlen);
}

void kiln_model_free(struct kiln_model *model) { kiln_weights_free(&model->weights); }
