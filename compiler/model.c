/* model.c: the checked model's lifetime and its dump (`kilnc --dump=model`), a language model's or a codec's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kiln_format.h"
#include "model.h"

void model_free(struct model *m)
{
    free(m->delays);
    free(m->temporal.layers);
    free(m->depformer.layers);
    m->delays = NULL;
    m->temporal.layers = m->depformer.layers = NULL;
}

static const char *mixer_name(enum mixer_kind kind)
{
    switch (kind) {
    case MIXER_ATTENTION: return "attention";
    case MIXER_TTT_LINEAR: return "ttt_linear";
    case MIXER_TTT_MLP: return "ttt_mlp";
    }
    return "?";
}

const char *const weight_format_names[NUM_WEIGHT_FORMATS] = {"f32", "bf16", "f16", "q8", "q4"};
const char *const weight_class_keys[NUM_WEIGHT_CLASSES] = {"embedding_weights", "temporal_weights", "text_head_weights",
                                                           "depformer_weights"};

int codec_frame_size(const struct model *m) { return (int)(m->codec.sample_rate / m->frame_rate + 0.5); }

int model_class_weights(const struct model *m, int weight_class)
{
    return m->class_weights[weight_class] >= 0 ? m->class_weights[weight_class] : (int)m->weights;
}

void model_weights_text(const struct model *m, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "%s", weight_format_names[m->weights]);
    for (int i = 0, listed = 0; i < NUM_WEIGHT_CLASSES && n < size; i++)
        if (model_class_weights(m, i) != (int)m->weights)
            n += (size_t)snprintf(buf + n, size - n, "%s%s %s", listed++ ? ", " : " with ", kiln_weight_class_name(i),
                                  weight_format_names[model_class_weights(m, i)]);
}


/* Doubles in %.17g: two dumps are equal exactly when the values are. */
static void dump_stack(FILE *out, const char *name, const struct transformer_spec *t)
{
    fprintf(out, "%s.dim %d\n", name, t->dim);
    fprintf(out, "%s.num_heads %d\n", name, t->num_heads);
    fprintf(out, "%s.num_layers %d\n", name, t->num_layers);
    fprintf(out, "%s.ffn_hidden %d\n", name, t->ffn_hidden);
    fprintf(out, "%s.norm_eps %.17g\n", name, t->norm_eps);
    fprintf(out, "%s.rope %s\n", name, t->rope ? "true" : "false");
    fprintf(out, "%s.rope_max_period %.17g\n", name, t->rope_max_period);
    fprintf(out, "%s.context %d\n", name, t->context);
    for (int i = 0; t->layers && i < t->num_layers; i++) {
        const struct layer_spec *l = &t->layers[i];
        fprintf(out, "%s.layers[%d] %s", name, i, mixer_name(l->mixer));
        if (l->mixer != MIXER_ATTENTION) {
            const struct ttt_params *p = &l->ttt;
            fprintf(out, " mini_batch=%d base_lr=%.17g gate=%s share_qk=%s conv_kernel=%d eps=%.17g rope_base=%.17g",
                    p->mini_batch, p->base_lr, p->use_gate ? "true" : "false", p->share_qk ? "true" : "false",
                    p->conv_kernel, p->eps, p->rope_base);
        }
        fputc('\n', out);
    }
}

static void dump_codec(FILE *out, const struct model *m)
{
    const struct codec_spec *c = &m->codec;
    fprintf(out, "kind codec\n");
    fprintf(out, "sample_rate %d\n", c->sample_rate);
    fprintf(out, "frame_rate %.17g\n", m->frame_rate);
    fprintf(out, "channels %d\n", c->channels);
    fprintf(out, "num_codebooks %d\n", c->num_codebooks);
    fprintf(out, "weights %s\n", weight_format_names[m->weights]);
    const struct seanet_spec *s = &c->seanet;
    fprintf(out, "seanet.dimension %d\n", s->dimension);
    fprintf(out, "seanet.n_filters %d\n", s->n_filters);
    fputs("seanet.ratios", out);
    for (int i = 0; i < s->num_ratios; i++)
        fprintf(out, " %d", s->ratios[i]);
    fputc('\n', out);
    fprintf(out, "seanet.kernel_size %d\n", s->kernel_size);
    fprintf(out, "seanet.last_kernel_size %d\n", s->last_kernel_size);
    fprintf(out, "seanet.residual_kernel_size %d\n", s->residual_kernel_size);
    fprintf(out, "seanet.n_residual_layers %d\n", s->n_residual_layers);
    fprintf(out, "seanet.dilation_base %d\n", s->dilation_base);
    fprintf(out, "seanet.compress %d\n", s->compress);
    const struct codec_transformer_spec *t = &c->transformer;
    fprintf(out, "transformer.dim %d\n", t->dim);
    fprintf(out, "transformer.num_heads %d\n", t->num_heads);
    fprintf(out, "transformer.num_layers %d\n", t->num_layers);
    fprintf(out, "transformer.dim_feedforward %d\n", t->dim_feedforward);
    fprintf(out, "transformer.norm_eps %.17g\n", t->norm_eps);
    fprintf(out, "transformer.rope %s\n", t->rope ? "true" : "false");
    fprintf(out, "transformer.rope_max_period %.17g\n", t->rope_max_period);
    fprintf(out, "transformer.context %d\n", t->context);
    fprintf(out, "transformer.layer_scale %s\n", t->layer_scale ? "true" : "false");
    fprintf(out, "quantizer.dimension %d\n", c->quantizer.dimension);
    fprintf(out, "quantizer.bins %d\n", c->quantizer.bins);
    fprintf(out, "quantizer.n_q %d\n", c->quantizer.n_q);
}

void model_dump(FILE *out, const struct model *m)
{
    fprintf(out, "name %s\n", m->name);
    if (m->kind == MODEL_CODEC) {
        dump_codec(out, m);
        return;
    }
    fprintf(out, "text_card %d\n", m->text_card);
    fprintf(out, "card %d\n", m->card);
    fprintf(out, "n_q %d\n", m->n_q);
    fprintf(out, "dep_q %d\n", m->dep_q);
    fputs("delays", out);
    for (int i = 0; m->delays && i < 1 + m->n_q; i++)
        fprintf(out, " %d", m->delays[i]);
    fputc('\n', out);
    fprintf(out, "frame_rate %.17g\n", m->frame_rate);
    fprintf(out, "text_padding_id %d\n", m->text_padding_id);
    fprintf(out, "weights %s\n", weight_format_names[m->weights]);
    for (int i = 0; i < NUM_WEIGHT_CLASSES; i++)
        if (m->class_weights[i] >= 0)
            fprintf(out, "%s %s\n", weight_class_keys[i], weight_format_names[m->class_weights[i]]);
    dump_stack(out, "temporal", &m->temporal);
    dump_stack(out, "depformer", &m->depformer);
}
