/* defaults.c - the build options a guard build chooses from its data when
 * the caller leaves them 0: the held-out share and the robust members'
 * epochs (doc/validator.md, "Defaults from the data"). */
#include <math.h>

#include "defence/builder.h"

/* The held-out share rises above this only when the data is small, and
 * never beyond the cap: the members need the rest to learn from. */
#define MIN_HOLDOUT_SHARE 0.2
#define MAX_HOLDOUT_SHARE 0.5

/* The standard error, relative to the target, that the held-out images
 * should leave on the guard's reached false rejection over all classes:
 * 0.7 points at a 3% target. */
#define RELATIVE_SPREAD (0.7 / 3.0)

/* Robust members learn from about as many image presentations as the
 * default scenario tuned them with: 20 epochs over its 2000 images. */
#define ROBUST_PRESENTATIONS 40000.0
#define MIN_ROBUST_EPOCHS 3
#define MAX_ROBUST_EPOCHS 60

double dg_calibration_images_needed(float target)
{
    /* The reached rate over N fresh-to-calibration images varies by
     * sqrt(t (1 - t) / N); solve sqrt(...) = RELATIVE_SPREAD * t. */
    double t = target, r = RELATIVE_SPREAD;
    return (1.0 - t) / (t * r * r);
}

void dg_guard_choose_defaults(dg_ensemble_opts *o, uint32_t train_count,
                              int has_holdout)
{
    if (train_count == 0) return; /* the build refuses empty data */
    if (!has_holdout && o->holdout_fraction == 0.0f) {
        double share = dg_calibration_images_needed(o->target_frr) /
                       train_count;
        if (share < MIN_HOLDOUT_SHARE) share = MIN_HOLDOUT_SHARE;
        if (share > MAX_HOLDOUT_SHARE) share = MAX_HOLDOUT_SHARE;
        /* Two decimals: the share is reported and fingerprinted as set. */
        o->holdout_fraction = (float)(ceil(share * 100.0) / 100.0);
    }
    if (o->robust_epochs == 0) {
        double fit = has_holdout ? train_count
                                 : train_count * (1.0 - o->holdout_fraction);
        long epochs = lround(ROBUST_PRESENTATIONS / (fit > 1 ? fit : 1));
        if (epochs < MIN_ROBUST_EPOCHS) epochs = MIN_ROBUST_EPOCHS;
        if (epochs > MAX_ROBUST_EPOCHS) epochs = MAX_ROBUST_EPOCHS;
        o->robust_epochs = (uint32_t)epochs;
    }
}
