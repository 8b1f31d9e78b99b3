/* llama_vs_kiln: llama.cpp and kiln at equal shape and format, measured the same way, in one process
 * (scripts/bench_llama.sh). Each round decodes one token with llama.cpp (a GGUF of Moshi 7B's temporal
 * shape: tests/bench/llama_gguf.py) and runs kiln's temporal step with its text head (Moshi 7B built
 * in the same format), each between two reads of kiln's bandwidth probe (runtime/read_probe.c, the
 * same threads), and judges each against the bytes it reads at the mean of the probes around it.
 * Prints the medians. Both sides' caches are reset every 400 tokens, so that their contexts stay
 * alike and short. Built against kiln's model library (kilnc --emit lib) and llama.cpp's libllama.
 *   llama_vs_kiln MODEL.gguf GGUF_BYTES_PER_TOKEN [ROUNDS] [--no-mmap] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h" /* (now, median) */
#include "kiln_rt.h"
#include "llama.h"
#include "read_probe.h"

extern const struct kiln_model_desc moshi_7b_desc;

enum { WARMUP = 3, MAX_ROUNDS = 1000, RESET_EVERY = 400 };

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: llama_vs_kiln MODEL.gguf GGUF_BYTES_PER_TOKEN [ROUNDS] [--no-mmap]\n");
        return 1;
    }
    const double llama_bytes = atof(argv[2]);
    const int rounds = argc > 3 ? atoi(argv[3]) : 30, use_mmap = !(argc > 4 && !strcmp(argv[4], "--no-mmap"));
    if (rounds < 1 || rounds > MAX_ROUNDS || llama_bytes <= 0) {
        fprintf(stderr, "llama_vs_kiln: ROUNDS is 1 to %d and GGUF_BYTES_PER_TOKEN positive\n", MAX_ROUNDS);
        return 1;
    }

    llama_backend_init();
    struct llama_model_params model_params = llama_model_default_params();
    model_params.use_mmap = use_mmap;
    struct llama_model *model = llama_model_load_from_file(argv[1], model_params);
    struct llama_context_params context_params = llama_context_default_params();
    context_params.n_ctx = context_params.n_batch = 512;
    context_params.n_threads = context_params.n_threads_batch = kiln_threads();
    struct llama_context *ctx = model ? llama_init_from_model(model, context_params) : NULL;
    if (!ctx) {
        fprintf(stderr, "llama_vs_kiln: llama.cpp could not load %s\n", argv[1]);
        return 1;
    }

    const struct kiln_model_desc *d = &moshi_7b_desc;
    char err[512];
    struct kiln_weights weights;
    if (kiln_weights_random(d, 1, &weights, err, sizeof err)) {
        fprintf(stderr, "llama_vs_kiln: %s\n", err);
        return 1;
    }
    double kiln_bytes = 0; /* the temporal transformer's and the text head's weights */
    for (int i = 0; i < d->num_weights; i++)
        if (d->weights[i].weight_class == KILN_CLASS_TEMPORAL || d->weights[i].weight_class == KILN_CLASS_TEXT_HEAD)
            kiln_bytes += (double)kiln_format_bytes_of(d->weights[i].format, (size_t)d->weights[i].read_per_frame);
    void *stream = kiln_stream_new(d);
    struct read_probe *probe = read_probe_new((size_t)256 << 20);
    int32_t *tokens = calloc((size_t)d->num_streams, sizeof *tokens);
    float *text_logits = malloc((size_t)d->text_card * sizeof(float)), *hidden = malloc((size_t)d->dim * sizeof(float));
    if (!stream || !probe || !tokens || !text_logits || !hidden) {
        fprintf(stderr, "llama_vs_kiln: out of memory\n");
        return 1;
    }

    static double ms[2][MAX_ROUNDS], ratio[2][MAX_ROUNDS], gb_s[MAX_ROUNDS];
    for (int r = -WARMUP, position = 0; r < rounds; r++, position++) {
        if (position == RESET_EVERY) {
            llama_kv_cache_clear(ctx);
            d->stream_reset(stream);
            position = 0;
        }
        llama_token token = 1000 + position;
        const double probe0 = read_probe_gb_s(probe), t0 = now() * 1e3;
        if (llama_decode(ctx, llama_batch_get_one(&token, 1))) {
            fprintf(stderr, "llama_vs_kiln: llama_decode failed\n");
            return 1;
        }
        const double t1 = now() * 1e3, probe1 = read_probe_gb_s(probe), t2 = now() * 1e3;
        for (int k = 0; k < d->num_streams; k++) /* (every stream its initial token) */
            tokens[k] = k == 0 ? d->text_card : d->card;
        d->temporal(weights.table, stream, tokens, 1, text_logits, hidden);
        const double t3 = now() * 1e3, probe2 = read_probe_gb_s(probe);
        if (r < 0)
            continue;
        ms[0][r] = t1 - t0, ms[1][r] = t3 - t2, gb_s[r] = (probe0 + probe2) / 2;
        ratio[0][r] = (t1 - t0) * 1e-3 * (probe0 + probe1) / 2 * 1e9 / llama_bytes;
        ratio[1][r] = (t3 - t2) * 1e-3 * (probe1 + probe2) / 2 * 1e9 / kiln_bytes;
    }
    const char *names[2] = {"llama.cpp, one token", "kiln, temporal + text head"};
    const double bytes[2] = {llama_bytes, kiln_bytes};
    printf("%d rounds, %d thread(s), read probe %.1f GB/s (median)\n", rounds, kiln_threads(), median(gb_s, rounds));
    for (int v = 0; v < 2; v++) {
        const double m = median(ms[v], rounds);
        printf("  %-28s %8.2f ms (median), %.3f GB read, %5.1f GB/s, %.3fx its floor (median)\n", names[v], m,
               bytes[v] / 1e9, bytes[v] / m / 1e6, median(ratio[v], rounds));
    }
    printf("  kiln / llama.cpp: %.2fx as fast\n", median(ms[0], rounds) / median(ms[1], rounds));
    llama_free(ctx);
    llama_model_free(model);
    kiln_weights_free(&weights);
    kiln_stream_free(stream);
    read_probe_free(probe);
    free(tokens), free(text_logits), free(hidden);
    return 0;
}
