/* ttt_shape.c: what a TTT op's kernel is specialized for, and the scratch it needs (ir.h); shared
 * by lowering (which plans the scratch) and the TTT kernels' emitter. */
#include "ir.h"

void ttt_shape_of(const struct model *m, int layer, struct ttt_shape *s)
{
    const struct layer_spec *l = &m->temporal.layers[layer];
    *s = (struct ttt_shape){.mlp = l->mixer == MIXER_TTT_MLP, .heads = m->temporal.num_heads,
                            .head_dim = m->temporal.dim / m->temporal.num_heads, .mini_batch = l->ttt.mini_batch,
                            .conv_kernel = l->ttt.share_qk ? l->ttt.conv_kernel : 0};
}

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
