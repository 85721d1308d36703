/* squeeze.h - the feature-squeezing baseline (Xu et al., NDSS 2018) that
 * the evaluation compares the guard with: an input whose Student
 * prediction moves far when its bit depth is reduced or a 2x2 median
 * filter is applied is flagged as adversarial. */
#ifndef DG_EVAL_SQUEEZE_H
#define DG_EVAL_SQUEEZE_H

#include <stddef.h>
#include <stdint.h>

#include "nn/exec.h"

/* The squeezers, on planar 8-bit pixels; both write pixels in [0,1]. */

/* Rounds every pixel to `bits` bits: round(p * (2^bits - 1)) / (2^bits - 1)
 * for p in [0,1]. */
void dg_squeeze_bit_depth(const uint8_t *in, size_t n, uint32_t bits,
                          float *out);
/* The upper median of each 2x2 window whose top-left pixel is the output
 * pixel, edges repeated, as scipy's median_filter(size=2) picks it up to
 * its window offset; every value stays on the pixel grid. */
void dg_squeeze_median2x2(const uint8_t *in, uint32_t channels,
                          uint32_t height, uint32_t width, float *out);

/* Runs a Student on inputs and their squeezed versions. */
typedef struct dg_squeezer {
    const dg_model *student;
    dg_exec *exec;
    int32_t logits;       /* the Student's layer whose softmax is P */
    uint32_t bits, capacity, n_classes;
    size_t sample;        /* C x H x W */
    float *pixels;        /* capacity squeezed images, pixels in [0,1] */
    float *input;         /* capacity preprocessed images */
    float *probability;   /* 3 (original and two squeezes) x capacity x
                             n_classes */
} dg_squeezer;

/* Prepares batches of up to `capacity` images. */
dg_status dg_squeezer_init(dg_squeezer *s, const dg_model *student,
                           uint32_t bits, uint32_t capacity);
/* The feature-squeezing score of n images (planar 8-bit, n x C x H x W):
 * the largest L1 distance between the Student's probabilities on the image
 * and on each squeezed version. */
dg_status dg_squeezer_score(dg_squeezer *s, const uint8_t *const *images,
                            uint32_t n, float *scores);
void dg_squeezer_free(dg_squeezer *s);

#endif
