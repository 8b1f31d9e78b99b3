/* lower.h: lowering (lower.c) of a checked Moshi-family LM description (model.h) into the graph
 * IR (ir.h): its temporal and depformer graphs, their weights and streaming state. The IR keeps
 * none of the description; what the emitter needs of the LM besides the IR it reads here. */
#ifndef KILN_LOWER_H
#define KILN_LOWER_H
#include "ir.h"
#include "model.h"

/* rows: the most frames one call of the temporal graph processes (teacher-forced chunks). */
struct ir_module *lower_model(const struct model *m, int rows);
/* The kernel shape of layer `layer` of stack t, a TTT layer (ttt_shape.c) */
void ttt_shape_of(const struct transformer_spec *t, int layer, struct ttt_shape *s);
#endif
