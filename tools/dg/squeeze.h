/* squeeze.h - the feature-squeezing baseline (Xu et al., NDSS 2018) that
 * dg eval compares the guard with: an input whose Student prediction moves
 * far when its bit depth is reduced or a 2x2 median filter is applied is
 * flagged as adversarial. */
#ifndef DG_SQUEEZE_H
#define DG_SQUEEZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diffguard.h"

/* The bit depth dg eval and the demo use: on the validation split of the
 * default scenario, 2 bits stopped the most attacks of 1 to 5
 * (doc/EVALUATION.md). */
#define SQUEEZE_DEFAULT_BITS 2

/* The squeezers, on planar 8-bit pixels; both write pixels in [0,1]. */

/* Rounds every pixel to `bits` bits: round(p * (2^bits - 1)) / (2^bits - 1)
 * for p in [0,1]. */
void squeeze_bit_depth(const uint8_t *in, size_t n, uint32_t bits,
                       float *out);
/* The upper median of each 2x2 window whose top-left pixel is the output
 * pixel, edges repeated, as scipy's median_filter(size=2) picks it up to
 * its window offset; every value stays on the pixel grid. */
void squeeze_median2x2(const uint8_t *in, uint32_t channels, uint32_t height,
                       uint32_t width, float *out);

/* Runs a Student on inputs and their squeezed versions. */
typedef struct squeezer {
    dg_session *session;
    dg_preprocess preprocess; /* the Student's */
    uint32_t bits, capacity, n_classes;
    uint32_t channels, height, width;
    bool ends_in_softmax;
    float *pixels;   /* capacity squeezed images, pixels in [0,1] */
    float *input;    /* capacity preprocessed images */
    double *probability; /* 3 (original and two squeezes) x capacity x
                            n_classes */
} squeezer;

/* Prepares batches of up to `capacity` images.  Reports failures. */
int squeezer_init(squeezer *s, const dg_model *student, uint32_t bits,
                  uint32_t capacity);
/* The feature-squeezing score of n images (planar 8-bit, n x C x H x W):
 * the largest L1 distance between the Student's probabilities on the image
 * and on each squeezed version.  Reports failures. */
int squeezer_score(squeezer *s, const uint8_t *const *images, uint32_t n,
                   float *scores);
void squeezer_free(squeezer *s);

#endif
