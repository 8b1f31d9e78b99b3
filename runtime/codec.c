/* codec.c: a codec's drivers over its generated step functions (kiln_rt.h, "a codec"): a stream of
 * audio as an object whose steps never allocate, its state as bytes, and the whole-file encode and
 * decode, every frame of one signal through one fresh stream with the reference's whole-file
 * semantics (whole = 1). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kiln_rt.h"

struct kiln_codec {
    const struct kiln_model *model;
    /* The state (what save/restore copy): this header, the same for every stream of the model, then
       the stream itself */
    struct codec_state {
        char magic[8];
        char model_name[64];
        uint64_t stream_bytes;
    } state;
    void *stream;                    /* the generated stream struct */
};

static const char state_magic[8] = "kilncd1";

static bool is_codec(const struct kiln_model_desc *d)
{
    return d->kind == KILN_MODEL_CODEC && d->encode && d->decode && d->frame_size > 0 && d->num_codebooks > 0 &&
           d->bins > 0;
}

struct kiln_codec *kiln_codec_new(const struct kiln_model *model)
{
    if (!is_codec(model->desc))
        return NULL;
    struct kiln_codec *c = calloc(1, sizeof *c); /* (the header's padding zero: it is compared whole) */
    if (!c)
        return NULL;
    c->model = model;
    memcpy(c->state.magic, state_magic, sizeof state_magic);
    snprintf(c->state.model_name, sizeof c->state.model_name, "%s", model->desc->name);
    c->state.stream_bytes = model->desc->stream_bytes;
    c->stream = kiln_stream_new(model->desc); /* (reset) */
    if (!c->stream) {
        free(c);
        return NULL;
    }
    return c;
}

void kiln_codec_reset(struct kiln_codec *c) { c->model->desc->stream_reset(c->stream); }

void kiln_codec_free(struct kiln_codec *c)
{
    if (!c)
        return;
    kiln_stream_free(c->stream);
    free(c);
}

void kiln_codec_encode_step(struct kiln_codec *c, const float *pcm, int32_t *codes)
{
    c->model->desc->encode(c->model->weights.table, c->stream, pcm, codes, 0);
}

/* The first code of codes[count] outside [0, bins), or -1 */
static int64_t first_bad_code(const struct kiln_model_desc *d, const int32_t *codes, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        if (codes[i] < 0 || codes[i] >= d->bins)
            return i;
    return -1;
}

int kiln_codec_decode_step(struct kiln_codec *c, const int32_t *codes, float *pcm)
{
    const struct kiln_model_desc *d = c->model->desc;
    if (first_bad_code(d, codes, d->num_codebooks) >= 0)
        return 1;
    d->decode(c->model->weights.table, c->stream, codes, pcm, 0);
    return 0;
}

size_t kiln_codec_state_size(const struct kiln_codec *c) { return sizeof c->state + c->model->desc->stream_bytes; }

void kiln_codec_save(const struct kiln_codec *c, void *buf)
{
    memcpy(buf, &c->state, sizeof c->state);
    memcpy((char *)buf + sizeof c->state, c->stream, c->model->desc->stream_bytes);
}

int kiln_codec_restore(struct kiln_codec *c, const void *buf, size_t size)
{
    if (size != kiln_codec_state_size(c) || memcmp(buf, &c->state, sizeof c->state) != 0)
        return 1;
    memcpy(c->stream, (const char *)buf + sizeof c->state, c->model->desc->stream_bytes);
    return 0;
}

/* A fresh stream and a frame's buffers for a whole-file run; 0, or 1 with err set */
struct whole_run {
    void *stream;
    float *pcm;                      /* [frame_size] */
    int32_t *codes;                  /* [num_codebooks] */
};

static int whole_run_start(const struct kiln_model *model, struct whole_run *r, char *err, size_t errlen)
{
    const struct kiln_model_desc *d = model->desc;
    memset(r, 0, sizeof *r);
    if (!is_codec(d)) {
        snprintf(err, errlen, "%s: not a codec", d->name);
        return 1;
    }
    r->stream = kiln_stream_new(d);
    r->pcm = malloc((size_t)d->frame_size * sizeof *r->pcm);
    r->codes = malloc((size_t)d->num_codebooks * sizeof *r->codes);
    if (r->stream && r->pcm && r->codes)
        return 0;
    kiln_stream_free(r->stream), free(r->pcm), free(r->codes);
    snprintf(err, errlen, "%s: out of memory (a stream needs %zu bytes)", d->name, d->stream_bytes);
    return 1;
}

static void whole_run_end(struct whole_run *r) { kiln_stream_free(r->stream), free(r->pcm), free(r->codes); }

int kiln_codec_encode(const struct kiln_model *model, const float *pcm, int64_t n, int32_t *codes, char *err,
                      size_t errlen)
{
    const struct kiln_model_desc *d = model->desc;
    struct whole_run r;
    if (n < 0) {
        snprintf(err, errlen, "%lld samples: a signal holds 0 or more", (long long)n);
        return 1;
    }
    if (whole_run_start(model, &r, err, errlen))
        return 1;
    const int64_t F = d->frame_size, T = (n + F - 1) / F;
    for (int64_t t = 0; t < T; t++) {
        const int64_t have = n - t * F < F ? n - t * F : F; /* (the last frame zero-padded) */
        memcpy(r.pcm, pcm + t * F, (size_t)have * sizeof *r.pcm);
        memset(r.pcm + have, 0, (size_t)(F - have) * sizeof *r.pcm);
        d->encode(model->weights.table, r.stream, r.pcm, r.codes, 1);
        for (int k = 0; k < d->num_codebooks; k++)
            codes[k * T + t] = r.codes[k];
    }
    whole_run_end(&r);
    return 0;
}

int kiln_codec_decode(const struct kiln_model *model, const int32_t *codes, int64_t T, float *pcm, char *err,
                      size_t errlen)
{
    const struct kiln_model_desc *d = model->desc;
    const int64_t bad = is_codec(d) ? first_bad_code(d, codes, d->num_codebooks * T) : -1;
    if (bad >= 0) {
        snprintf(err, errlen, "codes[%lld, %lld] = %d is outside [0, %d)", (long long)(bad / T), (long long)(bad % T),
                 (int)codes[bad], d->bins);
        return 1;
    }
    struct whole_run r;
    if (whole_run_start(model, &r, err, errlen))
        return 1;
    for (int64_t t = 0; t < T; t++) {
        for (int k = 0; k < d->num_codebooks; k++)
            r.codes[k] = codes[k * T + t];
        d->decode(model->weights.table, r.stream, r.codes, pcm + t * d->frame_size, 1);
    }
    whole_run_end(&r);
    return 0;
}
