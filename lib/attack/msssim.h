/* msssim.h - multi-scale structural similarity (Wang, Simoncelli and Bovik
 * 2003) and DSSIM = (1 - MS-SSIM) / 2, with the analytic gradient that the
 * mimicry attack needs (doc/attack.md gives the exact definition).
 *
 * Images are planar C x H x W floats with pixel range 1 (pixels in [0,1]).
 * A plan holds the windows and scratch buffers for one image shape; it is
 * used by one thread at a time. */
#ifndef DG_ATTACK_MSSSIM_H
#define DG_ATTACK_MSSSIM_H

#include <stdint.h>

#include "core/status.h"

/* The scale weights of Wang et al., finest scale first. */
#define DG_MSSSIM_MAX_SCALES 5

/* A scale fits when both of its sides are at least this many pixels: the
 * window there (min(11, side), sigma 1.5 * size / 11 >= 0.95) still
 * averages over a neighbourhood.  Scale j is the image 2x2-average-pooled j
 * times (odd rows and columns dropped).  The first scale is always used. */
#define DG_MSSSIM_MIN_SIDE 7u

typedef struct dg_msssim dg_msssim;

dg_status dg_msssim_create(uint32_t channels, uint32_t height, uint32_t width,
                           dg_msssim **out);
void dg_msssim_free(dg_msssim *p);

/* Number of scales used for the plan's shape (28x28: 3). */
uint32_t dg_msssim_scales(const dg_msssim *p);

/* MS-SSIM of x against the reference y.  If grad is not NULL it receives
 * d MS-SSIM / d x (y held fixed). */
double dg_msssim_eval(dg_msssim *p, const float *x, const float *y,
                      float *grad);

/* DSSIM of x against y; grad (may be NULL) receives d DSSIM / d x. */
double dg_dssim_eval(dg_msssim *p, const float *x, const float *y,
                     float *grad);

#endif
