/* classify.h - the Student's class for many images, in batches: of the
 * attack's sources and of its adversarial images. */
#ifndef DG_EVAL_CLASSIFY_H
#define DG_EVAL_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"

/* Pixels in [0,1] (planar, pre's shape) to model input, as `pre` maps
 * 8-bit pixels: (p * 255 * scale - mean[c]) / std[c]. */
void dg_unit_pixels_to_input(const dg_preprocess *pre, const float *pixels,
                             float *input);

/* Writes the model input of images first..first+n-1 into `input`. */
typedef void (*dg_classify_fill)(const void *source, const dg_model *m,
                                 uint32_t first, uint32_t n, float *input);

/* The argmax of m's output for each of n images that `fill` provides. */
dg_status dg_classify(const dg_model *m, uint32_t n, dg_classify_fill fill,
                      const void *source, int32_t *labels);

/* Fill functions: a dg_dataset's samples, and pixels in [0,1]. */
void dg_fill_from_dataset(const void *dataset, const dg_model *m,
                          uint32_t first, uint32_t n, float *input);
void dg_fill_from_unit_pixels(const void *pixels, const dg_model *m,
                              uint32_t first, uint32_t n, float *input);

#endif
