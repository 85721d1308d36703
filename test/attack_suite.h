/* attack_suite.h - what the attack suites (test_attack.c, test_adaptive.c)
 * share: small classifiers trained on the blobs of suite.h, images of one
 * class as pixels, and runs of dg_attack_run with their outputs. */
#ifndef DG_TEST_ATTACK_SUITE_H
#define DG_TEST_ATTACK_SUITE_H

#include <check.h>
#include <stdlib.h>

#include "diffguard.h"
#include "io/dataset.h"
#include "suite.h"

/* The attacked Teacher's architecture; its last hidden layer is the ReLU
 * before fc4. */
#define BLOB_TEACHER_ARCH "c8k3,relu,mp2,fc32,relu,fc4"

/* Trains m on the blobs with the settings every attack suite uses. */
static inline dg_status train_on_blobs(dg_model *m, const dg_dataset *data)
{
    dg_train_opts o;
    dg_status s = dg_train_opts_init(&o, sizeof o);
    if (s != DG_OK) return s;
    o.epochs = 6;
    o.batch_size = 16;
    o.learning_rate = 3e-3f;
    return dg_model_train(m, data, &o, NULL);
}

/* The first n images of class cls of data, as pixels in [0,1]. */
static inline float *images_of(const dg_dataset *data, int32_t cls,
                               uint32_t n)
{
    size_t pixels = data->sample_size;
    uint32_t *idx = malloc(n * sizeof *idx), found = 0;
    for (uint32_t i = 0; found < n && i < data->count; i++)
        if (data->labels[i] == cls) idx[found++] = i;
    ck_assert_uint_eq(found, n);
    float *x = malloc((size_t)n * pixels * sizeof *x);
    ck_assert_int_eq(
        dg_dataset_batch(data, NULL, idx, n, x, (size_t)n * pixels, NULL),
        DG_OK);
    free(idx);
    return x;
}

/* What one dg_attack_run returned. */
typedef struct outcome {
    uint32_t n;
    float *adv, *dssim;
    float *value; /* feature distance or cross-entropy (feature_distance) */
    uint8_t *ok;  /* within budget */
} outcome;

/* Attacks n images with m; the run must succeed. */
static inline outcome attack(const dg_model *m, const dg_attack_opts *o,
                             const float *src, const float *tgt,
                             const int32_t *labels, uint32_t n)
{
    uint32_t c, h, w;
    ck_assert_int_eq(dg_model_input_shape(m, &c, &h, &w), DG_OK);
    outcome r = {.n = n};
    r.adv = malloc((size_t)n * c * h * w * sizeof *r.adv);
    r.dssim = malloc(n * sizeof *r.dssim);
    r.value = malloc(n * sizeof *r.value);
    r.ok = malloc(n);
    dg_status s = dg_attack_run(m, o, src, tgt, labels, n, r.adv, r.dssim,
                                r.value, r.ok);
    ck_assert_msg(s == DG_OK, "%s: %s", dg_strerror(s),
                  dg_last_error_detail());
    return r;
}

static inline void outcome_free(outcome *r)
{
    free(r->adv);
    free(r->dssim);
    free(r->value);
    free(r->ok);
}

/* A preset in small batches over two threads, as the suites run it. */
static inline dg_attack_opts preset(int32_t which)
{
    dg_attack_opts o;
    ck_assert_int_eq(dg_attack_opts_init(&o, sizeof o, which), DG_OK);
    o.batch_size = 4;
    o.threads = 2;
    return o;
}

#endif
