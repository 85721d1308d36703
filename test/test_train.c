/* test_train.c - losses against hand-computed values and finite
 * differences; the training loop on a small synthetic problem; paired
 * distillation; masks,
 * frozen layers, reproducibility, checkpoints and resume; transfer. */
#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "diffguard.h"
#include "io/dataset.h"
#include "nn/exec.h"
#include "nn/model.h"
#include "train/loss.h"
#include "train/train.h"
#include "suite.h"

START_TEST(cross_entropy_by_hand)
{
    /* logits (1, 2, 3), label 2: log(e + e^2 + e^3) - 3 = 0.4076059644. */
    float z[6] = {1, 2, 3, 0, 0, 0}, g[6];
    int32_t y[2] = {2, 1};
    uint32_t correct;
    double loss = dg_loss_cross_entropy(z, y, 2, 3, g, &correct);
    double second = log(3.0); /* uniform logits */
    ck_assert_double_eq_tol(loss, (0.4076059644 + second) / 2, 1e-6);
    ck_assert_uint_eq(correct, 1); /* row 2 ties: argmax is class 0 */
    double s = exp(1) + exp(2) + exp(3);
    ck_assert_double_eq_tol(g[0], exp(1) / s / 2, 1e-6);
    ck_assert_double_eq_tol(g[2], (exp(3) / s - 1) / 2, 1e-6);
    ck_assert_double_eq_tol(g[4], (1.0 / 3 - 1) / 2, 1e-6);
}
END_TEST

START_TEST(distillation_by_hand_and_finite_differences)
{
    float zs[4] = {0.5f, -1.0f, 2.0f, 0.0f}, zt[4] = {1.0f, 0.0f, 1.5f, -2.0f};
    float t = 2.0f, alpha = 0.7f, g[4] = {0};
    double loss = dg_loss_distill(zs, zt, 1, 4, alpha, t, g);
    /* Independent evaluation of alpha T^2 KL(p || q) in double. */
    double p[4], q[4], sp = 0, sq = 0, kl = 0;
    for (int j = 0; j < 4; j++) {
        p[j] = exp(zt[j] / t);
        q[j] = exp(zs[j] / t);
        sp += p[j];
        sq += q[j];
    }
    for (int j = 0; j < 4; j++) kl += p[j] / sp * log((p[j] / sp) / (q[j] / sq));
    ck_assert_double_eq_tol(loss, alpha * t * t * kl, 1e-6);
    for (int j = 0; j < 4; j++) {
        float keep = zs[j], h = 1e-2f, dummy[4] = {0};
        zs[j] = keep + h;
        double up = dg_loss_distill(zs, zt, 1, 4, alpha, t, dummy);
        zs[j] = keep - h;
        double down = dg_loss_distill(zs, zt, 1, 4, alpha, t, dummy);
        zs[j] = keep;
        ck_assert_double_eq_tol(g[j], (up - down) / (2 * h), 1e-4);
    }
}
END_TEST

START_TEST(feature_l2_by_hand)
{
    float f[4] = {1, 2, 3, 4}, target[4] = {0, 2, 5, 4}, g[4];
    double loss = dg_loss_feature_l2(f, target, 2, 2, g);
    ck_assert_double_eq_tol(loss, (1.0 + 0 + 4 + 0) / 2, 1e-9);
    ck_assert_float_eq(g[0], 1.0f);
    ck_assert_float_eq(g[2], -2.0f);
}
END_TEST

START_TEST(distance_floor_by_hand_and_finite_differences)
{
    /* Row 1 is 5 from its reference (3-4-5), row 2 exactly 1: with CAP 3
     * only row 2 counts, 0.5 * (3 - 1)^2 = 2, mean over 2 rows = 1. */
    float f[4] = {3, 4, 1, 0}, ref[4] = {0, 0, 0, 0}, g[4];
    double mean;
    double loss = dg_loss_distance_floor(f, ref, 2, 2, 3, 0.5f, g, &mean);
    ck_assert_double_eq_tol(loss, 1.0, 1e-9);
    ck_assert_double_eq_tol(mean, 3.0, 1e-9);
    ck_assert_float_eq(g[0], 0.0f);
    ck_assert_float_eq(g[1], 0.0f);
    /* -2 w (cap - d) (f - ref) / d / n = -2 * 0.5 * 2 * 1 / 2 = -1. */
    ck_assert_double_eq_tol(g[2], -1.0, 1e-6);
    ck_assert_float_eq(g[3], 0.0f);
    float a[6] = {0.3f, -1.2f, 0.8f, 2.0f, 0.1f, -0.4f};
    float b[6] = {0.1f, 0.5f, -0.2f, 1.0f, 0.4f, 0.6f}, ga[6];
    dg_loss_distance_floor(a, b, 2, 3, 4, 0.7f, ga, NULL);
    for (int j = 0; j < 6; j++) {
        float keep = a[j], h = 1e-3f;
        a[j] = keep + h;
        double up = dg_loss_distance_floor(a, b, 2, 3, 4, 0.7f, NULL, NULL);
        a[j] = keep - h;
        double down = dg_loss_distance_floor(a, b, 2, 3, 4, 0.7f, NULL, NULL);
        a[j] = keep;
        ck_assert_double_eq_tol(ga[j], (up - down) / (2 * h), 1e-3);
    }
    /* Identical features: no direction, no gradient. */
    dg_loss_distance_floor(b, b, 2, 3, 4, 0.7f, ga, &mean);
    for (int j = 0; j < 6; j++) ck_assert_float_eq(ga[j], 0.0f);
    ck_assert_double_eq_tol(mean, 0.0, 1e-12);
}
END_TEST

static dg_model *small_model(uint64_t seed)
{
    dg_model *m;
    ck_assert_int_eq(dg_model_create("c4k3,relu,mp2,fc16,relu,fc4", 1, 8, 8, seed, &m),
                     DG_OK);
    return m;
}

static dg_train_opts quick_opts(uint32_t epochs)
{
    dg_train_opts o;
    ck_assert_int_eq(dg_train_opts_init(&o, sizeof o), DG_OK);
    o.epochs = epochs;
    o.batch_size = 16;
    o.learning_rate = 1e-2f;
    o.seed = 5;
    return o;
}

static double accuracy(const dg_model *m, const dg_dataset *ds)
{
    uint32_t correct, total;
    ck_assert_int_eq(dg_model_evaluate(m, ds, NULL, 0, &correct, &total), DG_OK);
    return (double)correct / total;
}

START_TEST(synthetic_problem_reaches_full_accuracy)
{
    dg_dataset *train = make_bars(64, 1), *test = make_bars(32, 2);
    dg_model *m = small_model(3);
    double before = accuracy(m, test);
    dg_train_opts o = quick_opts(15);
    dg_train_report rep = {.struct_size = sizeof rep};
    dg_status s = dg_model_train(m, train, &o, &rep);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    ck_assert_uint_eq(rep.epochs_run, 15);
    ck_assert_double_eq_tol(rep.last_accuracy, 1.0, 1e-9);
    ck_assert_double_eq_tol(accuracy(m, test), 1.0, 1e-9);
    ck_assert(before < 0.6);
    /* The confusion matrix agrees with the counts. */
    uint32_t conf[16], correct, total;
    ck_assert_int_eq(dg_model_evaluate(m, test, conf, 16, &correct, &total), DG_OK);
    for (int c = 0; c < 4; c++) ck_assert_uint_eq(conf[c * 4 + c], 32);
    dg_model_free(m);
    dg_dataset_free(train);
    dg_dataset_free(test);
}
END_TEST

START_TEST(sgd_schedules_and_distillation_train)
{
    dg_dataset *train = make_bars(32, 4);
    dg_model *teacher = small_model(8);
    dg_train_opts o = quick_opts(12);
    ck_assert_int_eq(dg_model_train(teacher, train, &o, NULL), DG_OK);
    /* A student distilled from it with SGD and a cosine schedule agrees
     * with it on the training set. */
    dg_model *student = small_model(9);
    o.optimizer = DG_OPTIMIZER_SGD;
    o.learning_rate = 0.05f;
    o.schedule = DG_SCHEDULE_COSINE;
    o.distill_from = teacher;
    ck_assert_int_eq(dg_model_train(student, train, &o, NULL), DG_OK);
    ck_assert(accuracy(student, train) > 0.95);
    o.schedule = DG_SCHEDULE_STEP;
    o.step_epochs = 0;
    ck_assert_int_eq(dg_model_train(student, train, &o, NULL), DG_E_INVALID_ARG);
    dg_model_free(teacher);
    dg_model_free(student);
    dg_dataset_free(train);
}
END_TEST

/* Sample i of the result shows sample i+1 of ds; labelled as it shows
 * (own_labels) or with the label of ds's sample i. */
static dg_dataset *shifted_copy(const dg_dataset *ds, int own_labels)
{
    dg_dataset *out;
    ck_assert_int_eq(dg_dataset_alloc(ds->count, ds->channels, ds->height,
                                      ds->width, &out),
                     DG_OK);
    for (uint32_t i = 0; i < ds->count; i++) {
        uint32_t j = (i + 1) % ds->count;
        memcpy(dg_dataset_sample(out, i), dg_dataset_sample(ds, j),
               ds->sample_size);
        out->labels[i] = ds->labels[own_labels ? j : i];
    }
    dg_dataset_count_classes(out);
    return out;
}

START_TEST(paired_distillation_learns_the_answer_on_the_pair)
{
    dg_dataset *clean = make_bars(32, 4);
    dg_model *teacher = small_model(8);
    dg_train_opts o = quick_opts(12);
    ck_assert_int_eq(dg_model_train(teacher, clean, &o, NULL), DG_OK);
    ck_assert(accuracy(teacher, clean) > 0.95);
    /* Every shifted sample shows another class than its clean partner. */
    dg_dataset *shifted = shifted_copy(clean, 1);
    dg_dataset *partner_labels = shifted_copy(clean, 0);
    /* Distillation outweighs the cross-entropy here, so a model learns
     * whatever the teacher says of the input the teacher is shown. */
    o.epochs = 20;
    o.distill_from = teacher;
    o.distill_alpha = 20;
    o.distill_temperature = 1;
    dg_model *paired = small_model(9), *plain = small_model(9);
    dg_status s = dg_train_run_paired(paired, shifted, clean, &o, NULL);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    ck_assert_int_eq(dg_train_run(plain, shifted, &o, NULL), DG_OK);
    ck_assert(accuracy(paired, partner_labels) > 0.9);
    ck_assert(accuracy(plain, shifted) > 0.9);
    /* Pairs need a teacher and as many samples. */
    dg_dataset *fewer = make_bars(8, 4);
    ck_assert_int_eq(dg_train_run_paired(paired, shifted, fewer, &o, NULL),
                     DG_E_INVALID_ARG);
    o.distill_from = NULL;
    ck_assert_int_eq(dg_train_run_paired(paired, shifted, clean, &o, NULL),
                     DG_E_INVALID_ARG);
    dg_model_free(teacher);
    dg_model_free(paired);
    dg_model_free(plain);
    dg_dataset_free(clean);
    dg_dataset_free(shifted);
    dg_dataset_free(partner_labels);
    dg_dataset_free(fewer);
}
END_TEST

/* The same model and data, trained plainly and adversarially: the
 * adversarially trained one keeps its clean accuracy and resists PGD in
 * the box it was trained for far better. */
START_TEST(adversarial_training_resists_pgd)
{
    dg_dataset *train = make_bars(64, 1), *test = make_bars(32, 2);
    /* Plain, one FGSM move per batch, three PGD moves per batch, and free
     * training with 4 replays in a quarter of the epochs (as many weight
     * steps). */
    double robust[4];
    for (int k = 0; k < 4; k++) {
        dg_model *m = small_model(3);
        dg_train_opts o = quick_opts(k == 3 ? 5 : 20);
        o.adversarial_epsilon = k ? 0.2f : 0.0f;
        o.adversarial_steps = k == 2 ? 3 : 1;
        o.adversarial_replays = k == 3 ? 4 : 0;
        dg_status s = dg_model_train(m, train, &o, NULL);
        ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
        ck_assert(accuracy(m, test) > 0.9);
        robust[k] = pgd_accuracy(m, test, 0.2f);
        dg_model_free(m);
    }
    for (int k = 1; k < 4; k++)
        ck_assert_msg(robust[k] > robust[0] + 0.25,
                      "robust accuracy %.3f adversarially trained (%d), "
                      "%.3f plain", robust[k], k, robust[0]);
    /* The radius is in pixel units, [0, 1]. */
    dg_model *m = small_model(3);
    dg_train_opts o = quick_opts(1);
    o.adversarial_epsilon = 1.5f;
    ck_assert_int_eq(dg_model_train(m, train, &o, NULL), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "adversarial epsilon"));
    o = quick_opts(1);
    o.adversarial_steps = 0;
    ck_assert_int_eq(dg_model_train(m, train, &o, NULL), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "adversarial steps"));
    o = quick_opts(1);
    o.adversarial_replays = 4; /* replays move pixels: they need a box */
    ck_assert_int_eq(dg_model_train(m, train, &o, NULL), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "adversarial replays"));
    o.adversarial_epsilon = 0.2f;
    o.adversarial_replays = 101;
    ck_assert_int_eq(dg_model_train(m, train, &o, NULL), DG_E_INVALID_ARG);
    /* A caller built before the field existed trains without it. */
    o = quick_opts(1);
    o.adversarial_epsilon = 0.3f;
    o.struct_size = offsetof(dg_train_opts, adversarial_epsilon);
    ck_assert_int_eq(dg_model_train(m, train, &o, NULL), DG_OK);
    dg_model_free(m);
    dg_dataset_free(train);
    dg_dataset_free(test);
}
END_TEST

START_TEST(masks_and_frozen_layers_hold_through_training)
{
    dg_dataset *train = make_bars(32, 5);
    dg_model *m = small_model(6);
    m->layers[0].mask = calloc(4, 1);
    m->layers[0].mask[1] = m->layers[0].mask[3] = 1;
    m->layers[3].mask = calloc(16, 1);
    memset(m->layers[3].mask, 1, 16);
    m->layers[3].mask[5] = 0;
    ck_assert_int_eq(dg_model_set_frozen(m, 5, 1), DG_OK);
    float head[64];
    memcpy(head, m->layers[5].param[0], sizeof head);
    dg_train_opts o = quick_opts(3);
    ck_assert_int_eq(dg_model_train(m, train, &o, NULL), DG_OK);
    ck_assert_int_eq(memcmp(head, m->layers[5].param[0], sizeof head), 0);
    for (int u = 0; u < 4; u++)
        for (int k = 0; k < 9; k++) {
            float w = m->layers[0].param[0][u * 9 + k];
            if (u % 2 == 0) ck_assert_float_eq(w, 0.0f);
        }
    for (int k = 0; k < 36; k++) ck_assert_float_eq(m->layers[3].param[0][5 * 36 + k], 0.0f);
    /* Masked units stay silent in inference. */
    dg_session *s;
    float x[64];
    for (int k = 0; k < 64; k++) x[k] = (float)k / 64;
    ck_assert_int_eq(dg_session_create(m, 1, &s), DG_OK);
    ck_assert_int_eq(dg_session_run(s, x, 64, 1), DG_OK);
    const float *y;
    ck_assert_int_eq(dg_session_output(s, 4, &y, NULL, NULL, NULL, NULL), DG_OK);
    ck_assert_float_eq(y[5], 0.0f);
    dg_session_free(s);
    dg_model_free(m);
    dg_dataset_free(train);
}
END_TEST

static int same_weights(const dg_model *a, const dg_model *b, double tol)
{
    for (uint32_t i = 0; i < a->n_layers; i++)
        for (uint32_t p = 0; p < a->layers[i].n_params; p++)
            for (size_t k = 0; k < a->layers[i].param_len[p]; k++)
                if (fabs((double)a->layers[i].param[p][k] - b->layers[i].param[p][k]) > tol)
                    return 0;
    return 1;
}

START_TEST(same_seed_same_weights)
{
    dg_dataset *train = make_bars(16, 7);
    dg_model *a = small_model(1), *b = small_model(1), *c = small_model(1);
    dg_train_opts o = quick_opts(2);
    ck_assert_int_eq(dg_model_train(a, train, &o, NULL), DG_OK);
    ck_assert_int_eq(dg_model_train(b, train, &o, NULL), DG_OK);
    o.seed = 6;
    ck_assert_int_eq(dg_model_train(c, train, &o, NULL), DG_OK);
    ck_assert(same_weights(a, b, 0));
    ck_assert(!same_weights(a, c, 1e-6));
    dg_model_free(a);
    dg_model_free(b);
    dg_model_free(c);
    dg_dataset_free(train);
}
END_TEST

static int stop_after(void *user, const char *stage, uint64_t done,
                      uint64_t total, double metric)
{
    (void)stage;
    (void)total;
    (void)metric;
    return done >= *(uint64_t *)user;
}

START_TEST(interrupted_training_resumes)
{
    char path[] = "/tmp/dg_ckpt_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    dg_dataset *train = make_bars(16, 8); /* 64 samples: 4 steps per epoch */
    dg_model *whole = small_model(2), *resumed = small_model(2);
    dg_train_opts o = quick_opts(3);
    ck_assert_int_eq(dg_model_train(whole, train, &o, NULL), DG_OK);

    /* Stop in the middle of epoch 2: the checkpoint holds epoch 1. */
    uint64_t stop = 6;
    o.checkpoint_path = path;
    o.progress = stop_after;
    o.progress_user = &stop;
    ck_assert_int_eq(dg_model_train(resumed, train, &o, NULL), DG_E_CANCELLED);
    o.progress = NULL;
    dg_train_report rep = {.struct_size = sizeof rep};
    dg_model *fresh = small_model(2); /* a new process would start afresh */
    ck_assert_int_eq(dg_model_train(fresh, train, &o, &rep), DG_OK);
    ck_assert_uint_eq(rep.resumed_epoch, 1);
    ck_assert_uint_eq(rep.epochs_run, 2);
    ck_assert_msg(same_weights(whole, fresh, 1e-5), "resumed run diverged");

    /* A checkpoint made with other settings is refused, not mixed in. */
    o.learning_rate = 0.5f;
    ck_assert_int_eq(dg_model_train(fresh, train, &o, NULL), DG_E_MISMATCH);
    /* A corrupt one is reported. */
    FILE *f = fopen(path, "r+b");
    fseek(f, 40, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    o.learning_rate = 1e-2f;
    ck_assert_int_eq(dg_model_train(fresh, train, &o, NULL), DG_E_FORMAT);
    unlink(path);
    dg_model_free(whole);
    dg_model_free(resumed);
    dg_model_free(fresh);
    dg_dataset_free(train);
}
END_TEST

/* dg_model_train_file: the model file holds the trained weights and the
 * checkpoint is gone; a write that fails keeps it for the rerun. */
START_TEST(training_to_a_file_removes_the_checkpoint)
{
    char dir[] = "/tmp/dg_train_file_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char model_path[256], checkpoint[256], nowhere[256];
    snprintf(model_path, sizeof model_path, "%s/m.dgm", dir);
    snprintf(checkpoint, sizeof checkpoint, "%s/m.ckpt", dir);
    snprintf(nowhere, sizeof nowhere, "%s/missing/m.dgm", dir);
    dg_dataset *train = make_bars(16, 9);
    dg_model *direct = small_model(3), *filed = small_model(3), *loaded;
    dg_train_opts o = quick_opts(2);
    ck_assert_int_eq(dg_model_train(direct, train, &o, NULL), DG_OK);
    o.checkpoint_path = checkpoint;
    dg_train_report rep = {.struct_size = sizeof rep};
    ck_assert_int_eq(dg_model_train_file(filed, train, &o, model_path, &rep),
                     DG_OK);
    ck_assert_uint_eq(rep.epochs_run, 2);
    ck_assert_int_eq(access(checkpoint, F_OK), -1);
    ck_assert_int_eq(dg_model_load_file(model_path, &loaded), DG_OK);
    ck_assert(same_weights(direct, loaded, 0));
    dg_model_free(loaded);

    dg_model *again = small_model(3);
    ck_assert_int_eq(dg_model_train_file(again, train, &o, nowhere, NULL),
                     DG_E_IO);
    ck_assert_int_eq(access(checkpoint, F_OK), 0);
    ck_assert_int_eq(dg_model_train_file(again, train, &o, NULL, NULL),
                     DG_E_INVALID_ARG);
    unlink(checkpoint);
    unlink(model_path);
    rmdir(dir);
    dg_model_free(again);
    dg_model_free(direct);
    dg_model_free(filed);
    dg_dataset_free(train);
}
END_TEST

START_TEST(transfer_copies_and_freezes_the_teacher)
{
    dg_model *teacher = small_model(4), *student;
    ck_assert_int_eq(dg_model_transfer(teacher, -1, "fc3", 1, &student), DG_OK);
    ck_assert_uint_eq(student->n_layers, 6);   /* c,relu,mp,fc16,relu + fc3 */
    for (uint32_t i = 0; i < 5; i++) {
        ck_assert(student->layers[i].flags & DG_LAYER_FLAG_FROZEN);
        ck_assert_int_eq(student->layers[i].kind, teacher->layers[i].kind);
    }
    ck_assert(!(student->layers[5].flags & DG_LAYER_FLAG_FROZEN));
    ck_assert_int_eq(memcmp(student->layers[3].param[0], teacher->layers[3].param[0],
                            teacher->layers[3].param_len[0] * sizeof(float)), 0);
    ck_assert_uint_eq(dg_model_output_shape(student).c, 3);
    dg_dataset *train = make_bars(16, 9);
    int32_t classes[3] = {0, 2, 3};
    dg_dataset *three;
    ck_assert_int_eq(dg_dataset_select(train, classes, 3, 0, &three), DG_OK);
    dg_train_opts o = quick_opts(2);
    ck_assert_int_eq(dg_model_train(student, three, &o, NULL), DG_OK);
    ck_assert_int_eq(memcmp(student->layers[3].param[0], teacher->layers[3].param[0],
                            teacher->layers[3].param_len[0] * sizeof(float)), 0);
    dg_model *bad;
    ck_assert_int_eq(dg_model_transfer(teacher, 9, "fc3", 1, &bad), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_model_transfer(teacher, 2, "fc3,zz", 1, &bad), DG_E_INVALID_ARG);
    ck_assert_ptr_null(bad);
    dg_model_free(teacher);
    dg_model_free(student);
    dg_dataset_free(train);
    dg_dataset_free(three);
}
END_TEST

/* A model over a frozen prefix with a batch norm, trained with paired
 * distillation: once as it is (the prefix's output is computed once and
 * cached), once with an adversarial radius too small to move a pixel
 * (which rules the cache out, so the prefix runs at every step).  The
 * same math must give the same head; the frozen batch norm keeps its
 * running statistics and normalises by them. */
static dg_model *over_frozen_prefix(void)
{
    dg_model *m;
    ck_assert_int_eq(dg_model_create("c4k3,bn,relu,mp2,fc16,relu,fc4", 1, 8, 8,
                                     7, &m),
                     DG_OK);
    for (uint32_t c = 0; c < 4; c++) {
        m->layers[1].param[0][c] = 0.5f + 0.25f * (float)c; /* gamma */
        m->layers[1].param[1][c] = 0.1f * (float)c;         /* beta */
        m->layers[1].param[2][c] = 0.2f - 0.1f * (float)c;  /* mean */
        m->layers[1].param[3][c] = 0.3f + 0.5f * (float)c;  /* variance */
    }
    for (int32_t i = 0; i < 6; i++)
        ck_assert_int_eq(dg_model_set_frozen(m, i, 1), DG_OK);
    return m;
}

START_TEST(frozen_prefix_trains_as_without_its_cache)
{
    dg_dataset *clean = make_bars(32, 4);
    dg_dataset *shifted = shifted_copy(clean, 1);
    dg_model *teacher = small_model(8);
    dg_train_opts o = quick_opts(12);
    ck_assert_int_eq(dg_model_train(teacher, clean, &o, NULL), DG_OK);
    o.epochs = 4;
    o.distill_from = teacher;
    dg_model *cached = over_frozen_prefix(), *direct = over_frozen_prefix();
    dg_model *before = over_frozen_prefix();
    dg_status s = dg_train_run_paired(cached, shifted, clean, &o, NULL);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    o.adversarial_epsilon = 1e-30f;
    ck_assert_int_eq(dg_train_run_paired(direct, shifted, clean, &o, NULL),
                     DG_OK);
    ck_assert(!same_weights(cached, before, 1e-3));
    ck_assert_msg(same_weights(cached, direct, 1e-5),
                  "the head trained on cached features differs");
    for (uint32_t i = 0; i < 6; i++)
        for (uint32_t p = 0; p < cached->layers[i].n_params; p++)
            ck_assert_int_eq(memcmp(cached->layers[i].param[p],
                                    before->layers[i].param[p],
                                    before->layers[i].param_len[p] *
                                        sizeof(float)),
                             0);
    dg_model_free(teacher);
    dg_model_free(cached);
    dg_model_free(direct);
    dg_model_free(before);
    dg_dataset_free(clean);
    dg_dataset_free(shifted);
}
END_TEST

/* Mean L2 distance between layer `layer` of a and of b over ds, computed
 * naively from both models' unfused outputs. */
static double layer_distance(dg_model *a, dg_model *b, const dg_dataset *ds,
                             int32_t layer)
{
    size_t in = dg_shape_size(a->input), dim = dg_shape_size(a->layers[layer].out);
    dg_exec *ea, *eb;
    ck_assert_int_eq(dg_exec_create(a, ds->count, DG_EXEC_BACKWARD, &ea), DG_OK);
    ck_assert_int_eq(dg_exec_create(b, ds->count, DG_EXEC_BACKWARD, &eb), DG_OK);
    float *x = malloc(ds->count * in * sizeof *x);
    uint32_t *idx = malloc(ds->count * sizeof *idx);
    for (uint32_t i = 0; i < ds->count; i++) idx[i] = i;
    ck_assert_int_eq(dg_dataset_make_batch(ds, a, idx, ds->count, x,
                                           ds->count * in, NULL), DG_OK);
    ck_assert_int_eq(dg_exec_forward_to(ea, x, ds->count, layer), DG_OK);
    ck_assert_int_eq(dg_exec_forward_to(eb, x, ds->count, layer), DG_OK);
    const float *fa = dg_exec_output(ea, layer), *fb = dg_exec_output(eb, layer);
    double total = 0;
    for (uint32_t i = 0; i < ds->count; i++) {
        double sq = 0;
        for (size_t j = 0; j < dim; j++) {
            double d = (double)fa[i * dim + j] - fb[i * dim + j];
            sq += d * d;
        }
        total += sqrt(sq);
    }
    free(x);
    free(idx);
    dg_exec_free(ea);
    dg_exec_free(eb);
    return total / ds->count;
}

/* Wang et al.'s patch on a transferred Student: its layer-K features move
 * away from the Teacher's while it keeps its accuracy (within 5 points on
 * held-out bars); every layer trains, and resumed runs continue. */
START_TEST(patch_moves_the_features_and_keeps_accuracy)
{
    dg_dataset *train = make_bars(32, 21), *test = make_bars(32, 22);
    dg_model *teacher = small_model(6), *student;
    dg_train_opts o = quick_opts(12);
    ck_assert_int_eq(dg_model_train(teacher, train, &o, NULL), DG_OK);
    ck_assert_int_eq(dg_model_transfer(teacher, -1, "fc4", 2, &student), DG_OK);
    o.epochs = 8;
    ck_assert_int_eq(dg_model_train(student, train, &o, NULL), DG_OK);
    double before = accuracy(student, test);
    ck_assert(before > 0.9);
    int32_t k = 4; /* the cut: the ReLU after fc16 */
    ck_assert_double_eq_tol(layer_distance(student, teacher, test, k), 0, 1e-9);

    /* The control: the same fine-tuning of every layer without the
     * patch's term, which moves the features a little on its own. */
    dg_model *control;
    ck_assert_int_eq(dg_model_clone(student, &control), DG_OK);
    dg_train_opts p = quick_opts(4);
    p.learning_rate = 3e-3f;
    p.patch_teacher = teacher;
    p.patch_cap = 2;
    p.patch_cap_step = 2;
    p.patch_cap_max = 6;
    p.patch_weight = 0;
    ck_assert_int_eq(dg_model_train(control, train, &p, NULL), DG_OK);
    p.patch_weight = 0.05f;
    dg_train_report rep = {.struct_size = sizeof rep};
    dg_status s = dg_model_train(student, train, &p, &rep);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    for (uint32_t i = 0; i < student->n_layers; i++)
        ck_assert(!(student->layers[i].flags & DG_LAYER_FLAG_FROZEN));
    double moved = layer_distance(student, teacher, test, k);
    double drift = layer_distance(control, teacher, test, k);
    ck_assert_msg(moved > 4 && moved > 2 * drift,
                  "layer %d moved %g from the Teacher, %g without the patch",
                  k, moved, drift);
    ck_assert_double_eq_tol(rep.last_patch_distance,
                            layer_distance(student, teacher, train, k), 1.5);
    ck_assert_msg(accuracy(student, test) >= before - 0.05,
                  "accuracy %g after the patch, %g before",
                  accuracy(student, test), before);
    /* A model without frozen layers needs the layer named. */
    p.patch_layer = -1;
    ck_assert_int_eq(dg_model_train(student, train, &p, NULL), DG_E_INVALID_ARG);
    p.patch_layer = 5; /* the logits */
    ck_assert_int_eq(dg_model_train(student, train, &p, NULL), DG_E_INVALID_ARG);
    dg_train_opts plain = quick_opts(1);
    ck_assert_int_eq(dg_model_train(student, train, &plain, &rep), DG_OK);
    ck_assert(isnan(rep.last_patch_distance));
    dg_model_free(teacher);
    dg_model_free(student);
    dg_model_free(control);
    dg_dataset_free(train);
    dg_dataset_free(test);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, cross_entropy_by_hand);
    tcase_add_test(tc, distillation_by_hand_and_finite_differences);
    tcase_add_test(tc, feature_l2_by_hand);
    tcase_add_test(tc, distance_floor_by_hand_and_finite_differences);
    tcase_add_test(tc, patch_moves_the_features_and_keeps_accuracy);
    tcase_add_test(tc, synthetic_problem_reaches_full_accuracy);
    tcase_add_test(tc, sgd_schedules_and_distillation_train);
    tcase_add_test(tc, paired_distillation_learns_the_answer_on_the_pair);
    tcase_add_test(tc, masks_and_frozen_layers_hold_through_training);
    tcase_add_test(tc, same_seed_same_weights);
    tcase_add_test(tc, interrupted_training_resumes);
    tcase_add_test(tc, training_to_a_file_removes_the_checkpoint);
    tcase_add_test(tc, transfer_copies_and_freezes_the_teacher);
    tcase_add_test(tc, frozen_prefix_trains_as_without_its_cache);
    tcase_add_test(tc, adversarial_training_resists_pgd);
    suite_add_tcase(s, tc);
    return run_suite(s, CK_FORK);
}
