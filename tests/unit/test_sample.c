/* test_sample.c: Moshi's sample_token (runtime/sample.c): temperature 0 is the first maximum; a
 * seed gives the same draws again; and the draws follow softmax(logits / temp) cut to the top k,
 * within 5 standard deviations of each count over 200,000 draws. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "argmax_reference.h"
#include "check.h"
#include "kiln_rt.h"
#include "sample.h"

/* The scalar definitions of the model's sampling reductions (kiln_rt.h argmax, softmax_exp). */
static float softmax_exp(const float *logits, int n, float temp, float max, float *p)
{
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += p[i] = expf(logits[i] / temp - max);
    return sum;
}

static const struct kiln_model_desc model = {.argmax = argmax_reference, .softmax_exp = softmax_exp};

enum { N = 6, DRAWS = 200000 };
static const float logits[N] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, -3.0f};

/* Counts of DRAWS draws at (temp, top_k) from a generator seeded with seed. */
static void draw(float temp, int top_k, uint64_t seed, int counts[N])
{
    struct kiln_rng rng;
    float p[N];
    int index[N];
    rng_seed(&rng, seed);
    memset(counts, 0, N * sizeof *counts);
    for (int i = 0; i < DRAWS; i++)
        counts[sample_token(logits, N, temp, top_k, &rng, p, index, &model)]++;
}

static void check_distribution(float temp, int top_k)
{
    int counts[N];
    draw(temp, top_k, 5, counts);
    /* the top_k largest logits keep their softmax weights; the rest get none */
    double w[N], total = 0;
    for (int i = 0; i < N; i++) {
        int rank = 0;
        for (int j = 0; j < N; j++)
            rank += logits[j] > logits[i];
        w[i] = top_k > 0 && rank >= top_k ? 0.0 : exp(logits[i] / temp);
        total += w[i];
    }
    for (int i = 0; i < N; i++) {
        double pi = w[i] / total, mean = DRAWS * pi, sd = sqrt(DRAWS * pi * (1 - pi));
        CHECK(fabs(counts[i] - mean) <= 5 * sd + (pi == 0 ? 0 : 1), "temp %g, top_k %d: token %d drawn %d times, expected %.0f",
              temp, top_k, i, counts[i], mean);
    }
}

int main(void)
{
    struct kiln_rng rng;
    rng_seed(&rng, 1);
    CHECK(sample_token(logits, N, 0.0f, 0, &rng, NULL, NULL, &model) == 1, "temperature 0: the first of two maxima");
    int a[N], b[N];
    draw(0.8f, 0, 42, a);
    draw(0.8f, 0, 42, b);
    CHECK(memcmp(a, b, sizeof a) == 0, "the same seed gives the same draws");
    check_distribution(1.0f, 0);
    check_distribution(0.5f, 0);
    check_distribution(0.8f, 3); /* tokens 1 and 3 tie for the top: both kept */
    return check_finish();
}
