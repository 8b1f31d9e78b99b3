/* gen_kernels: writes the packed matmul kernels kilnc emits for a target (compiler/kernels_packed.c),
 * for the shapes the kernel benchmark measures, plus a table of them, and the sampling's argmax and softmax_exp.
 * usage: gen_kernels TARGET[,simde] ROWSxCOLS... > kernels.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_internal.h"

int main(int argc, char **argv)
{
    char name[32] = "";
    bool simde = false;
    if (argc > 1) {
        snprintf(name, sizeof name, "%s", argv[1]);
        char *comma = strchr(name, ',');
        simde = comma && strcmp(comma + 1, "simde") == 0;
        if (comma)
            *comma = '\0';
    }
    const struct target *t = target_find(name);
    if (!t || t->width == 1 || argc < 3) {
        fprintf(stderr, "usage: gen_kernels avx2|avx512|neon[,simde] ROWSxCOLS...\n");
        return 2;
    }
    int n = argc - 2;
    struct ir_weight *weights = calloc((size_t)n, sizeof *weights);
    struct ir_module mod = {.weights = weights, .num_weights = n};
    struct ir_graph g = {.name = "bench", .rows = 512}; /* the cache-blocked form, for up to 512 frames */
    struct emitter e = {.mod = &mod, .target = t, .threaded = true, .name = "bench", .kernels = stdout};
    kir_module_init(&e.kir, t->width, "");
    printf("#include <math.h>\n#include <stdint.h>\n#include <string.h>\n");
    print_vocabulary(&e, stdout, simde);
    char (*names)[96] = calloc((size_t)n, sizeof *names);
    for (int i = 0; i < n; i++) {
        int rows, cols;
        if (sscanf(argv[2 + i], "%dx%d", &rows, &cols) != 2)
            return 2;
        weights[i] = (struct ir_weight){.rows = rows, .cols = cols, .pack_nr = 2 * t->width, .pack_rows = rows,
                                        .fold_alpha = -1};
        struct ir_op op = {.code = OP_MATMUL, .weight = i, .scale = -1, .epilogue = EPI_STORE};
        snprintf(names[i], sizeof names[i], "matmul_%dx%d_p%d", rows, cols, 2 * t->width);
        weights[i].pack_nr = 2 * t->width; /* (panels below need pack_rows set first) */
        packed_matmul_kernel(&e, &g, &op, names[i]);
    }
    kernel_sampling(&e); /* (the sampling's reductions: tested beside the matmuls) */
    printf("/* scratch: floats of the cache-blocked form's scratch per frame */\n"
           "struct bench_kernel { int rows, cols, scratch; void (*fn)(const float *, const float *, float *, float *, int); };\n");
    printf("static const struct bench_kernel bench_kernels[] = {\n");
    for (int i = 0; i < n; i++)
        printf("    {%d, %d, %d, %s},\n", weights[i].rows, weights[i].cols,
               ir_matmul_work_len(&weights[i], &(struct ir_op){.epilogue = EPI_STORE}), names[i]);
    printf("};\n#define BENCH_PACK_NR %d\n#define BENCH_TARGET \"%s\"\n", 2 * t->width, t->name);
    free(names), free(weights);
    kir_module_free(&e.kir);
    return 0;
}
