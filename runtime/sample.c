/* sample.c: xoshiro256** seeded by splitmix64, and Moshi's sample_token (utils/sampling.py):
 * temperature softmax, top-k, then the exponential race argmax(p_i / E_i). */
#include <math.h>
#include "kiln_rt.h"
#include "sample.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(struct kiln_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(struct kiln_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(struct kiln_rng *rng) { return (double)(rng_next(rng) >> 11) * 0x1.0p-53; }

/* Moves the k indices with the largest p to index[0..k) (quickselect; order within is unspecified). */
static void select_top_k(const float *p, int *index, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = p[index[(lo + hi) / 2]];
        int i = lo, j = hi;
        while (i <= j) {
            while (p[index[i]] > pivot)
                i++;
            while (p[index[j]] < pivot)
                j--;
            if (i <= j) {
                int t = index[i];
                index[i++] = index[j];
                index[j--] = t;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break;
    }
}

int sample_token(const float *logits, int n, float temp, int top_k, struct kiln_rng *rng, float *p, int *index,
                 const struct kiln_model_desc *model)
{
    const int top = model->argmax(logits, n);
    if (temp <= 0.0f)
        return top;
    const float sum = model->softmax_exp(logits, n, temp, logits[top] / temp, p);
    for (int i = 0; i < n; i++)
        index[i] = i;
    int k = top_k <= 0 || top_k > n ? n : top_k;
    if (k < n)
        select_top_k(p, index, n, k);
    int best = index[0];
    double best_score = -1.0;
    for (int i = 0; i < k; i++) {
        double e = -log1p(-rng_uniform(rng)); /* Exp(1) */
        double score = (double)(p[index[i]] / sum) / e;
        if (score > best_score)
            best_score = score, best = index[i];
    }
    return best;
}
