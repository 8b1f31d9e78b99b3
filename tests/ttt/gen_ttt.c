/* gen_ttt: writes one TTT kernel as kilnc emits it (compiler/kernels_ttt.c), with its helpers, for the
 * layer-level tests: and for the test's convenience a `struct ttt_weights`, a state struct of the
 * layer's arrays (as kilnc places them in a stream, compiler/glue.c) and TTT_KERNEL(p, st, ...),
 * which passes both to the kernel.
 * usage: gen_ttt linear|mlp HEADS HEAD_DIM MINI_BATCH CONV_KERNEL [TARGET [simde]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_internal.h"

static const char weights_type[] =
    "struct ttt_weights {\n"
    "    const float *W1, *b1, *W2, *b2, *norm_w, *norm_b, *lr_bias, *token_idx, *post_w, *post_b;\n"
    "    const float *conv_q_w, *conv_q_b, *conv_k_w, *conv_k_b, *rope_cs;\n"
    "    float base_lr, eps;\n"
    "};\n";

int main(int argc, char **argv)
{
    const struct target *target = target_find(argc > 6 ? argv[6] : "scalar");
    if (argc < 6 || argc > 8 || !target) {
        fprintf(stderr, "usage: gen_ttt linear|mlp HEADS HEAD_DIM MINI_BATCH CONV_KERNEL [TARGET [simde]]\n");
        return 2;
    }
    struct ttt_shape s = {.mlp = strcmp(argv[1], "mlp") == 0, .heads = atoi(argv[2]), .head_dim = atoi(argv[3]),
                          .mini_batch = atoi(argv[4]), .conv_kernel = atoi(argv[5])};
    struct emitter e = {.target = target};
    kir_module_init(&e.kir, target->width, "");
    printf("#include <math.h>\n#include <stdint.h>\n#include <string.h>\n");
    print_vocabulary(&e, stdout, argc > 7);
    fputs(weights_type, stdout);
    printf("struct ttt_state {\n    int ready;\n");
    for (int slot = 0; slot < TTT_SLOTS; slot++)
        if (ttt_inner_names[s.mlp][slot])
            printf("    float %s[%d];\n", ttt_inner_names[s.mlp][slot], s.heads * ttt_slot_floats(&s, slot));
    printf("    float history[%d];\n};\n", ttt_history_floats(&s));
    e.kernels = stdout;
    const int kernel = kernel_ttt(&e, &s);
    printf("static void ttt_layer(const struct ttt_weights *p, struct ttt_state *st, const float *xq, const float *xk,\n"
           "    const float *xv, const float *lr_logit, int64_t pos0, int T, float *work, float *out)\n{\n"
           "    %s(p->W1, p->b1, %sp->norm_w, p->norm_b, p->lr_bias, p->token_idx, p->post_w, p->post_b,\n        %s"
           "p->rope_cs, p->base_lr, p->eps, &st->ready,\n        ",
           e.kir.funcs[kernel]->symbol, s.mlp ? "p->W2, p->b2, " : "",
           s.conv_kernel ? "p->conv_q_w, p->conv_q_b, p->conv_k_w, p->conv_k_b, " : "");
    for (int slot = 0; slot < TTT_SLOTS; slot++)
        if (ttt_inner_names[s.mlp][slot])
            printf("st->%s, ", ttt_inner_names[s.mlp][slot]);
    printf("st->history, xq, xk, xv, lr_logit, pos0, T, work, out);\n}\n");
    printf("#define TTT_KERNEL ttt_layer\n#define TTT_STATE struct ttt_state\n");
    kir_module_free(&e.kir);
    return 0;
}
