/* sample.h: the seeded generator and Moshi's token sampling (sample.c). */
#ifndef KILN_SAMPLE_H
#define KILN_SAMPLE_H
#include <stdint.h>

struct kiln_model_desc; /* kiln_rt.h */

struct kiln_rng { uint64_t s[4]; };   /* xoshiro256** */

void rng_seed(struct kiln_rng *rng, uint64_t seed);
double rng_uniform(struct kiln_rng *rng);   /* [0, 1), 53 bits */

/* Moshi's sample_token on logits[n]: temp <= 0 -> argmax (first maximum); else
   p = softmax(logits / temp), keep the top_k largest (top_k <= 0 or >= n: all), and draw
   argmax_i p_i / E_i with E_i ~ Exp(1) (the exponential race, a categorical draw).
   scratch_p[n] and scratch_index[n] are the caller's, so that sampling never allocates. The
   reductions over logits are the model's (kiln_rt.h: argmax, softmax_exp, in its target's vectors). */
int sample_token(const float *logits, int n, float temp, int top_k, struct kiln_rng *rng, float *scratch_p,
                 int *scratch_index, const struct kiln_model_desc *model);
#endif
