/* vec.h - small reductions over a row of class scores. */
#ifndef DG_CORE_VEC_H
#define DG_CORE_VEC_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* Index of the largest of row[0..k-1] (the first on ties). */
static inline uint32_t dg_argmax(const float *row, uint32_t k)
{
    uint32_t arg = 0;
    for (uint32_t j = 1; j < k; j++)
        if (row[j] > row[arg]) arg = j;
    return arg;
}

/* sum_j exp((z_j - max) / t), and the max in *max: the stable core of
 * every softmax and log-sum-exp of the library. */
static inline double dg_shifted_exp_sum(const float *z, uint32_t k, float t,
                                        float *max)
{
    float mx = z[dg_argmax(z, k)];
    double sum = 0;
    for (uint32_t j = 0; j < k; j++) sum += exp(((double)z[j] - mx) / t);
    *max = mx;
    return sum;
}

/* log sum_j exp(z_j / t), computed stably. */
static inline double dg_log_sum_exp(const float *z, uint32_t k, float t)
{
    float mx;
    double sum = dg_shifted_exp_sum(z, k, t, &mx);
    return log(sum) + mx / (double)t;
}

/* softmax(row)[c], computed stably without a k-float buffer. */
static inline float dg_softmax_at(const float *row, uint32_t k, uint32_t c)
{
    float mx;
    double sum = dg_shifted_exp_sum(row, k, 1.0f, &mx);
    return (float)(exp((double)row[c] - mx) / sum);
}

/* The `top` (1 to k) most probable classes of a row of k class scores
 * into classes[] and their probabilities into probability[], most
 * probable first, the lower class first on ties: softmax(row), or the row
 * itself when it holds probabilities already (a model ending in a softmax
 * layer) (vec.c). */
void dg_top_classes(const float *row, uint32_t k, bool probabilities,
                    uint32_t top, uint32_t *classes, double *probability);

#endif
