/* suite.h - what the Check suites share: running a suite, and a small
 * synthetic classification problem. */
#ifndef DG_TEST_SUITE_H
#define DG_TEST_SUITE_H

#include <check.h>
#include <math.h>

#include "core/rng.h"
#include "io/dataset.h"

/* Runs every test of s and returns the process exit status.  CK_NOFORK is
 * for suites whose shared fixture already started oneDNN's OpenMP threads,
 * which a forked child would wait for forever (libgomp is not fork-safe). */
static inline int run_suite(Suite *s, enum fork_status fork)
{
    SRunner *sr = srunner_create(s);
    if (fork == CK_NOFORK) srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}

/* Four classes of 8x8 images: a bright bar at a class-specific place (row
 * 1, row 6, column 1, column 6) on uniform noise; NULL if allocation
 * fails. */
static inline dg_dataset *make_bars(uint32_t per_class, uint64_t seed)
{
    dg_dataset *ds;
    if (dg_dataset_alloc(4 * per_class, 1, 8, 8, &ds) != DG_OK) return NULL;
    dg_rng rng;
    dg_rng_seed(&rng, seed);
    for (uint32_t i = 0; i < ds->count; i++) {
        uint8_t *px = dg_dataset_sample(ds, i);
        int32_t c = (int32_t)(i % 4);
        ds->labels[i] = c;
        for (int k = 0; k < 64; k++) px[k] = (uint8_t)dg_rng_below(&rng, 120);
        for (int k = 0; k < 8; k++) {
            int r = c == 0 ? 1 : c == 1 ? 6 : k;
            int col = c == 2 ? 1 : c == 3 ? 6 : k;
            px[r * 8 + col] = (uint8_t)(200 + dg_rng_below(&rng, 56));
        }
    }
    dg_dataset_count_classes(ds);
    return ds;
}

enum { BLOB_SIDE = 16 };

/* Four classes of 16x16 images: a bright blob at a class-specific corner
 * on a smooth noisy background; NULL if allocation fails. */
static inline dg_dataset *make_blobs(uint32_t per_class, uint64_t seed)
{
    dg_dataset *ds;
    if (dg_dataset_alloc(4 * per_class, 1, BLOB_SIDE, BLOB_SIDE, &ds) !=
        DG_OK)
        return NULL;
    dg_rng rng;
    dg_rng_seed(&rng, seed);
    for (uint32_t i = 0; i < ds->count; i++) {
        int32_t c = (int32_t)(i % 4);
        double cy = (c < 2 ? 4.5 : 11.5) + dg_rng_uniform(&rng) - 0.5;
        double cx = (c % 2 ? 11.5 : 4.5) + dg_rng_uniform(&rng) - 0.5;
        uint8_t *px = dg_dataset_sample(ds, i);
        ds->labels[i] = c;
        for (int r = 0; r < BLOB_SIDE; r++)
            for (int q = 0; q < BLOB_SIDE; q++) {
                double d2 = (r - cy) * (r - cy) + (q - cx) * (q - cx);
                double v = 40 + 30 * dg_rng_uniform(&rng) +
                           170 * exp(-d2 / 8.0);
                px[r * BLOB_SIDE + q] = (uint8_t)(v > 255 ? 255 : v);
            }
    }
    dg_dataset_count_classes(ds);
    return ds;
}

#endif
