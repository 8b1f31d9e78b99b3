/* ttt_shape.c: what a TTT op's kernel is specialized for, and the scratch it needs (ir.h); shared
 * by lowering (which plans the scratch) and the TTT kernels' emitter. */
#include "lower.h"

void ttt_shape_of(const struct transformer_spec *t, int layer, struct ttt_shape *s)
{
    const struct layer_spec *l = &t->layers[layer];
    *s = (struct ttt_shape){.mlp = l->mixer == MIXER_TTT_MLP, .heads = t->num_heads,
                            .head_dim = t->dim / t->num_heads, .mini_batch = l->ttt.mini_batch,
                            .conv_kernel = l->ttt.share_qk ? l->ttt.conv_kernel : 0};
}

const char *const ttt_inner_names[2][TTT_SLOTS] = {{"W", "c", NULL, NULL, "GW", "gc", NULL, NULL},
                                                  {"W1", "c1", "W2", "c2", "GW1", "gc1", "GW2", "gc2"}};

int ttt_slot_floats(const struct ttt_shape *s, int slot)
{
    const int HD = s->head_dim, F = s->mlp ? 4 * HD : HD;
    const int floats[TTT_SLOTS] = {HD * F, F, F * HD, HD, HD * F, F, F * HD, HD};
    return floats[slot];
}

int ttt_history_floats(const struct ttt_shape *s) { return (s->conv_kernel > 1 ? s->conv_kernel - 1 : 1) * s->heads * s->head_dim; }

/* One head's vectors for one mini-batch: gradients [b][hd] (MLP: Z1, X2, G1 [b][4hd], G2 [b][hd]). */
int ttt_piece_floats(const struct ttt_shape *s)
{
    int F = s->mlp ? 4 * s->head_dim : s->head_dim;
    return (s->mlp ? 4 : 1) * s->mini_batch * F;
}

/* Q and K rows of the call, then every head's piece scratch. */
int ttt_work_floats(const struct ttt_shape *s, int rows)
{
    return 2 * rows * s->heads * s->head_dim + s->heads * ttt_piece_floats(s);
}
