/* rng.h - seeded, reproducible random numbers (xoshiro256**). */
#ifndef DG_CORE_RNG_H
#define DG_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct dg_rng {
    uint64_t s[4];
} dg_rng;

void dg_rng_seed(dg_rng *r, uint64_t seed);
uint64_t dg_rng_next(dg_rng *r);
/* Uniform in [0, 1). */
float dg_rng_uniform(dg_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint32_t dg_rng_below(dg_rng *r, uint32_t n);
/* Standard normal. */
float dg_rng_normal(dg_rng *r);
/* Fisher-Yates shuffle of idx[0..n-1]. */
void dg_rng_shuffle(dg_rng *r, uint32_t *idx, size_t n);

#endif
