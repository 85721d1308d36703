/* vec.h - small reductions over a row of class scores. */
#ifndef DG_CORE_VEC_H
#define DG_CORE_VEC_H

#include <math.h>
#include <stdint.h>

/* Index of the largest of row[0..k-1] (the first on ties). */
static inline uint32_t dg_argmax(const float *row, uint32_t k)
{
    uint32_t arg = 0;
    for (uint32_t j = 1; j < k; j++)
        if (row[j] > row[arg]) arg = j;
    return arg;
}

/* softmax(row)[c], computed stably without a k-float buffer. */
static inline float dg_softmax_at(const float *row, uint32_t k, uint32_t c)
{
    float mx = row[dg_argmax(row, k)];
    double sum = 0;
    for (uint32_t j = 0; j < k; j++) sum += exp((double)row[j] - mx);
    return (float)(exp((double)row[c] - mx) / sum);
}

#endif
