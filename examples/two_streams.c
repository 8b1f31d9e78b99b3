/* two_streams.c: embeds a kiln-generated model through its header and runs two independent
 * conversations side by side over one loaded copy of the weights, one frame at a time.
 *
 *   build/kilnc graphs/lm_attn_a.kiln --emit lib -o DIR      (or: make examples)
 *   cc -IDIR two_streams.c DIR/liblm_attn_a.a -fopenmp -lm
 *   ./a.out WEIGHTS.safetensors [FRAMES]
 *
 * Stream A hears a steady user code pattern and samples with Moshi's defaults; stream B hears
 * silence (-1, Moshi's zero token) and decodes greedily. */
#include <stdio.h>
#include <stdlib.h>
#include "lm_attn_a.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s WEIGHTS.safetensors [FRAMES]\n", argv[0]);
        return 1;
    }
    int frames = argc > 2 ? atoi(argv[2]) : 25;
    struct kiln_model model;
    char err[1024];
    if (lm_attn_a_load(argv[1], &model, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct kiln_sampling sampled = KILN_SAMPLING_DEFAULT, greedy = {0};
    sampled.seed = 42;
    struct kiln_gen *a = kiln_gen_new(&model, &sampled), *b = kiln_gen_new(&model, &greedy);
    if (!a || !b) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    int32_t user_a[LM_ATTN_A_USER_STREAMS], user_b[LM_ATTN_A_USER_STREAMS];
    int32_t out_a[1 + LM_ATTN_A_DEP_Q], out_b[1 + LM_ATTN_A_DEP_Q];
    for (int t = 0; t < frames; t++) {
        for (int j = 0; j < LM_ATTN_A_USER_STREAMS; j++) {
            user_a[j] = (t * 7 + j * 3) % LM_ATTN_A_CARD;
            user_b[j] = -1;
        }
        int has_a = kiln_gen_step(a, user_a, out_a), has_b = kiln_gen_step(b, user_b, out_b);
        printf("frame %3d  A:", t);
        for (int k = 0; k <= LM_ATTN_A_DEP_Q; k++)
            printf(has_a ? " %3d" : "   -", (int)out_a[k]);
        printf("   B:");
        for (int k = 0; k <= LM_ATTN_A_DEP_Q; k++)
            printf(has_b ? " %3d" : "   -", (int)out_b[k]);
        printf("\n");
    }
    kiln_gen_free(a), kiln_gen_free(b);
    kiln_model_free(&model);
    return 0;
}
