/* gen_ttt: writes one TTT kernel as kilnc emits it (compiler/kernels_ttt.c, emit_ttt.c), with its helpers and
 * state type, for the layer-level tests.
 * usage: gen_ttt linear|mlp HEADS HEAD_DIM MINI_BATCH CONV_KERNEL [TARGET [simde]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_internal.h"

int main(int argc, char **argv)
{
    const struct target *target = target_find(argc > 6 ? argv[6] : "scalar");
    if (argc < 6 || argc > 8 || !target) {
        fprintf(stderr, "usage: gen_ttt linear|mlp HEADS HEAD_DIM MINI_BATCH CONV_KERNEL [TARGET [simde]]\n");
        return 2;
    }
    struct ttt_shape s = {.mlp = strcmp(argv[1], "mlp") == 0, .heads = atoi(argv[2]), .head_dim = atoi(argv[3]),
                          .mini_batch = atoi(argv[4]), .conv_kernel = atoi(argv[5])};
    char name[64];
    ttt_kernel_name(name, sizeof name, &s);
    struct emitter e = {.target = target};
    kir_module_init(&e.kir, target->width, "");
    printf("#include <math.h>\n#include <stdint.h>\n#include <string.h>\n");
    print_vocabulary(&e, stdout, argc > 7);
    emit_ttt_weights_type(stdout);
    emit_ttt_state_type(stdout, &s);
    e.kernels = stdout;
    const int kernel = kernel_ttt(&e, &s);
    emit_ttt_wrapper(stdout, &s, e.kir.funcs[kernel]->symbol);
    printf("#define TTT_KERNEL %s\n#define TTT_STATE struct %s_state\n", name, name);
    kir_module_free(&e.kir);
    return 0;
}
