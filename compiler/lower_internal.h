/* lower_internal.h: what the LM's lowering (lower.c) and the codec's (lower_codec.c) share: adding
 * weights and streaming states to a module, and an attention sublayer over a KV ring. */
#ifndef KILN_LOWER_INTERNAL_H
#define KILN_LOWER_INTERNAL_H
#include "lower.h"

/* A weight of the checkpoint (its name from fmt), as a kernel sees it: rows x cols, one block per
   step of a per-step graph where step says so. Returns its id. */
int add_weight(struct ir_module *mod, enum step_select step, int steps, int rows, int cols, int rank,
               const long long *shape, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
/* A streaming state of graph g (NULL: shared); the comment from fmt. Returns its id. */
int add_state(struct ir_module *mod, const struct ir_graph *g, enum ir_dtype dtype, long long elements,
              enum ir_state_reset reset, enum kiln_state_role role, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
/* out_proj(attention(rope(qkv(n1)))) of layer l of g's transformer (its weights
   PREFIX.layers.L.self_attn.*, its KV rings states of g): returns the output's value, which the
   caller adds into the residual stream. */
int lower_attention(struct ir_module *mod, struct ir_graph *g, const char *prefix, int l, int n1);
/* A Mimi codec (lower_codec.c): its encode and decode graphs */
struct ir_module *lower_codec(const struct model *m);
#endif
