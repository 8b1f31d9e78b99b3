/* argmax_reference.h: the scalar rule of the models' argmax (kiln_rt.h), which the tests hold the
 * generated one to: the first index of the largest of x[n]; NaNs never chosen unless x[0] is one. */
#ifndef KILN_ARGMAX_REFERENCE_H
#define KILN_ARGMAX_REFERENCE_H
static inline int argmax_reference(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}
#endif
