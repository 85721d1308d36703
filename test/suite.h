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

#ifdef DG_EXPERIMENTAL_API
#include <stdlib.h>

/* Share of ds that m still classifies correctly after untargeted PGD on m
 * itself (30 steps of eps / 8) within an L-infinity box of radius eps, in
 * pixel units.  m's preprocessing must map a pixel in [0,1] to itself, as
 * the default one does for 8-bit data. */
static inline double pgd_accuracy(const dg_model *m, const dg_dataset *ds,
                                  float eps)
{
    uint32_t n = ds->count;
    size_t px = ds->sample_size;
    float *src = malloc(n * px * sizeof *src), *adv = malloc(n * px * sizeof *adv);
    ck_assert(src && adv);
    for (uint32_t i = 0; i < n; i++)
        for (size_t k = 0; k < px; k++)
            src[i * px + k] = dg_dataset_sample(ds, i)[k] / 255.0f;
    dg_attack_opts o;
    ck_assert_int_eq(dg_attack_opts_init(&o, sizeof o, DG_ATTACK_PRESET_STRONG), DG_OK);
    o.method = DG_ATTACK_PGD;
    o.targeted = 0;
    o.epsilon = eps;
    o.step = eps / 8;
    o.iterations = 30;
    o.patience = 0;
    o.threads = 1;
    ck_assert_int_eq(dg_attack_run(m, &o, src, NULL, ds->labels, n, adv, NULL,
                                   NULL, NULL), DG_OK);
    dg_session *s;
    ck_assert_int_eq(dg_session_create(m, n, &s), DG_OK);
    ck_assert_int_eq(dg_session_run(s, adv, n * px, n), DG_OK);
    const float *y;
    uint32_t k_out;
    ck_assert_int_eq(dg_session_output(s, -1, &y, NULL, &k_out, NULL, NULL), DG_OK);
    uint32_t hits = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t best = 0;
        for (uint32_t k = 1; k < k_out; k++)
            if (y[i * k_out + k] > y[i * k_out + best]) best = k;
        hits += (int32_t)best == ds->labels[i];
    }
    dg_session_free(s);
    free(src);
    free(adv);
    return (double)hits / n;
}
#endif

#endif
