/* test_adaptive.c - adaptive attacks (doc/attack.md): the objective with
 * extra whole models against a naive computation and its gradient against
 * finite differences; the loss falls with iterations; with no defence the
 * attack fools the models it goes through; through a guard's members it
 * raises their agreement with the target over plain mimicry; and its
 * options are checked. */
#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack/attack.h"
#include "core/rng.h"
#include "diffguard.h"
#include "io/dataset.h"
#include "attack_suite.h"

enum { SIDE = BLOB_SIDE, PIXELS = SIDE * SIDE, CLASSES = 4, MEMBERS = 3 };

/* The shared fixture is built outside any test, where ck_assert cannot
 * report: fail loudly instead. */
static void require(dg_status s, const char *what)
{
    if (s == DG_OK) return;
    fprintf(stderr, "fixture: %s: %s: %s\n", what, dg_strerror(s),
            dg_last_error_detail());
    exit(1);
}

static dg_dataset *data, *held;
static dg_model *teacher;   /* also the Student the guard protects */
static dg_model *surrogate; /* another classifier, its own preprocessing */
static dg_guard *guard;
static dg_model *members[CLASSES * MEMBERS]; /* whole, class-major */
static int32_t member_class[CLASSES * MEMBERS];

static void build_fixture(void)
{
    data = make_blobs(60, 1);
    held = make_blobs(20, 2);
    if (!data || !held) require(DG_E_NOMEM, "data sets");
    require(dg_model_create(BLOB_TEACHER_ARCH, 1, SIDE, SIDE, 2, &teacher),
            "teacher");
    require(train_on_blobs(teacher, data), "training the teacher");
    /* The surrogate reads pixels through a different map than the
     * Teacher's default (input = pixel): gradients must follow it. */
    require(dg_model_create("c6k5,relu,mp2,fc24,relu,fc4", 1, SIDE, SIDE, 5,
                            &surrogate),
            "surrogate");
    dg_preprocess pre = {.struct_size = sizeof pre};
    require(dg_model_preprocess(surrogate, &pre), "preprocessing");
    pre.mean[0] = 0.4f;
    pre.std[0] = 0.25f;
    require(dg_model_set_preprocess(surrogate, &pre), "preprocessing");
    require(train_on_blobs(surrogate, data), "training the surrogate");

    dg_guard_opts g;
    dg_guard_opts_init(&g, sizeof g);
    /* Members the attack can move, to check that it moves them: pruned
     * differentiators share the Teacher's early layers (robust members,
     * trained against such moves, barely follow: test_defence.c). */
    g.member_kind = DG_MEMBERS_PRUNED;
    g.variants = MEMBERS;
    g.members = MEMBERS;
    g.epochs = 2;
    g.batch_size = 16;
    g.learning_rate = 3e-3f;
    g.target_frr = 0.1f;
    g.harden = 0;
    require(dg_guard_build(teacher, data, held, &g, &guard), "guard");
    for (uint32_t c = 0; c < CLASSES; c++)
        for (uint32_t r = 0; r < MEMBERS; r++) {
            require(dg_guard_member_model(guard, c, r,
                                             &members[c * MEMBERS + r]),
                    "member");
            member_class[c * MEMBERS + r] = (int32_t)c;
        }
}

static void free_fixture(void)
{
    for (uint32_t k = 0; k < CLASSES * MEMBERS; k++) dg_model_free(members[k]);
    dg_guard_free(guard);
    dg_model_free(surrogate);
    dg_model_free(teacher);
    dg_dataset_free(data);
    dg_dataset_free(held);
}

/* Naive references, through public sessions and the models' own
 * preprocessing read back from the model. */

/* Output of `layer` (-1: the last) of m for one image of pixels. */
static void run_model(const dg_model *m, const float *pixels, int32_t layer,
                      float *out, uint32_t *n_out)
{
    dg_preprocess pre = {.struct_size = sizeof pre};
    ck_assert_int_eq(dg_model_preprocess(m, &pre), DG_OK);
    float input[PIXELS];
    for (int k = 0; k < PIXELS; k++)
        input[k] = (pixels[k] * 255.0f * pre.scale - pre.mean[0]) / pre.std[0];
    dg_session *s;
    ck_assert_int_eq(dg_session_create(m, 1, &s), DG_OK);
    ck_assert_int_eq(dg_session_run(s, input, PIXELS, 1), DG_OK);
    const float *y;
    uint32_t c, h, w;
    ck_assert_int_eq(dg_session_output(s, layer, &y, NULL, &c, &h, &w),
                     DG_OK);
    *n_out = c * h * w;
    memcpy(out, y, *n_out * sizeof *out);
    dg_session_free(s);
}

/* log softmax(m(x))[label], in double. */
static double log_prob(const dg_model *m, const float *x, int32_t label)
{
    float z[CLASSES];
    uint32_t n;
    run_model(m, x, -1, z, &n);
    ck_assert_uint_eq(n, CLASSES);
    double top = z[0], sum = 0;
    for (uint32_t k = 1; k < n; k++) top = z[k] > top ? z[k] : top;
    for (uint32_t k = 0; k < n; k++) sum += exp(z[k] - top);
    return z[label] - top - log(sum);
}

static int32_t predict(const dg_model *m, const float *x)
{
    float z[CLASSES];
    uint32_t n, arg = 0;
    run_model(m, x, -1, z, &n);
    for (uint32_t k = 1; k < n; k++)
        if (z[k] > z[arg]) arg = k;
    return (int32_t)arg;
}

/* ||T_K(a) - T_K(b)||_2 at the Teacher's last hidden layer. */
static double feature_distance(const float *a, const float *b)
{
    uint32_t n_layers, n;
    dg_model_layer_count(teacher, &n_layers);
    float fa[64], fb[64];
    run_model(teacher, a, (int32_t)n_layers - 2, fa, &n);
    run_model(teacher, b, (int32_t)n_layers - 2, fb, &n);
    double sum = 0;
    for (uint32_t k = 0; k < n; k++) sum += (fa[k] - fb[k]) * (fa[k] - fb[k]);
    return sqrt(sum);
}

/* ------------------------------------------------------------------------ */

/* A job as dg_attack_run makes it, for the worker's objective. */
static dg_attack_job job_of(const dg_attack_opts *o, const float *src,
                            const float *tgt, const int32_t *labels,
                            uint32_t n)
{
    dg_attack_job job = {.model = teacher, .opts = *o, .n = n,
                         .sources = src, .targets = tgt, .labels = labels};
    if (dg_attack_is_mimicry(o->method))
        ck_assert_int_eq(dg_attack_default_layer(teacher, &job.layer), DG_OK);
    else
        job.layer = dg_model_logits_layer(teacher);
    return job;
}

/* The worker's objective of image 0 at x equals `naive`, and its gradient
 * matches central differences of that objective along random directions. */
static void check_objective(const dg_attack_opts *o, const float *src,
                            const float *tgt, const int32_t *labels,
                            double naive)
{
    dg_attack_job job = job_of(o, src, tgt, labels, 1);
    dg_attack_worker *w;
    ck_assert_int_eq(dg_attack_worker_create(&job, &w), DG_OK);
    float grad[PIXELS], probe[PIXELS], other[PIXELS];
    double value;
    ck_assert_int_eq(dg_attack_worker_objective(w, 0, src, &value, grad),
                     DG_OK);
    ck_assert_msg(fabs(value - naive) <= 1e-4 * (1 + fabs(naive)),
                  "objective %g, naive %g", value, naive);
    dg_rng rng;
    dg_rng_seed(&rng, 7);
    /* Small enough that the probes rarely cross a ReLU or max-pool kink,
     * large enough for float32 forward passes. */
    const double h = 1e-4;
    for (int d = 0; d < 4; d++) {
        float dir[PIXELS];
        double along = 0;
        for (int k = 0; k < PIXELS; k++) {
            dir[k] = dg_rng_normal(&rng);
            along += (double)grad[k] * dir[k];
        }
        double plus, minus;
        for (int k = 0; k < PIXELS; k++) {
            probe[k] = (float)(src[k] + h * dir[k]);
            other[k] = (float)(src[k] - h * dir[k]);
        }
        ck_assert_int_eq(dg_attack_worker_objective(w, 0, probe, &plus, grad),
                         DG_OK);
        ck_assert_int_eq(
            dg_attack_worker_objective(w, 0, other, &minus, grad), DG_OK);
        double numeric = (plus - minus) / (2 * h);
        ck_assert_msg(fabs(numeric - along) <= 0.02 * fabs(numeric) + 1e-2,
                      "direction %d: gradient %g, differences %g", d, along,
                      numeric);
        /* The next direction starts from the gradient at src again. */
        ck_assert_int_eq(dg_attack_worker_objective(w, 0, src, &value, grad),
                         DG_OK);
    }
    dg_attack_worker_free(w);
}

START_TEST(objective_and_gradient_match_references)
{
    float *src = images_of(data, 0, 1), *tgt = images_of(data, 2, 1);
    /* Keep the probe inside [0,1]: pull pixels off the bounds. */
    for (int k = 0; k < PIXELS; k++) src[k] = 0.1f + 0.8f * src[k];
    int32_t target = 2;
    /* Mimicry with the surrogate (every image), a member of class 2 (this
     * image's label) and one of class 1 (not this image: left out). */
    const dg_model *models[] = {surrogate, members[2 * MEMBERS],
                                members[1 * MEMBERS]};
    const int32_t classes[] = {-1, 2, 1};
    dg_attack_opts o = preset(DG_ATTACK_PRESET_STRONG);
    o.method = DG_ATTACK_MIMIC_LINF;
    o.adaptive_models = models;
    o.adaptive_model_classes = classes;
    o.n_adaptive_models = 3;
    o.adaptive_weight = 0.7f;
    o.feature_weight = 0.5f;
    double naive = 0.5 * feature_distance(src, tgt) -
                   0.7 * (log_prob(surrogate, src, target) +
                          log_prob(members[2 * MEMBERS], src, target)) /
                       2;
    check_objective(&o, src, tgt, &target, naive);

    /* Untargeted PGD: minus the Teacher's cross-entropy of the source
     * class, plus -log(1 - p_source) of the surrogate. */
    int32_t source = 0;
    o.method = DG_ATTACK_PGD;
    o.targeted = 0;
    o.n_adaptive_models = 1;
    o.adaptive_model_classes = NULL;
    naive = 0.5 * log_prob(teacher, src, source) -
            0.7 * log1p(-exp(log_prob(surrogate, src, source)));
    check_objective(&o, src, NULL, &source, naive);

    /* No feature term: mimicry needs no target image. */
    o.method = DG_ATTACK_MIMIC_DSSIM;
    o.feature_weight = 0;
    o.adaptive_weight = 1;
    check_objective(&o, src, NULL, &target,
                    -log_prob(surrogate, src, target));
    free(src);
    free(tgt);
}
END_TEST

/* A linear classifier whose logit 0 is `weight` times the pixel sum and
 * whose other three logits are 0. */
static dg_model *one_hot_linear(float weight)
{
    dg_model *m;
    ck_assert_int_eq(dg_model_create("fc4", 1, SIDE, SIDE, 1, &m), DG_OK);
    dg_layer *fc = &m->layers[m->n_layers - 1];
    ck_assert_int_eq(fc->kind, DG_LAYER_LINEAR);
    memset(fc->param[0], 0, fc->param_len[0] * sizeof *fc->param[0]);
    memset(fc->param[1], 0, fc->param_len[1] * sizeof *fc->param[1]);
    for (int k = 0; k < PIXELS; k++) fc->param[0][k] = weight;
    return m;
}

/* Leaving a class the model is sure of: 1 - p must come from the other
 * classes' shares, not from 1 - p, which rounds to 0.  Hand-worked, with
 * gap G = logit 0: loss = G - log 3 + log(1 + 3 e^-G), its gradient
 * weight * p ~ weight at every pixel (the other logits do not move).  At
 * a gap past what double exp can hold the loss saturates, finite, with
 * the same gradient. */
START_TEST(complement_loss_holds_at_full_confidence)
{
    float src[PIXELS], grad[PIXELS];
    for (int k = 0; k < PIXELS; k++) src[k] = 0.5f; /* pixel sum 128 */
    const float weights[2] = {60.0f / 128, 2000.0f / 128};
    int32_t label = 0;
    for (int run = 0; run < 2; run++) {
        dg_model *m = one_hot_linear(weights[run]);
        const dg_model *models[] = {m};
        dg_attack_opts o = preset(DG_ATTACK_PRESET_STRONG);
        o.method = DG_ATTACK_PGD;
        o.targeted = 0;
        o.feature_weight = 0;
        o.adaptive_models = models;
        o.n_adaptive_models = 1;
        dg_attack_job job = job_of(&o, src, NULL, &label, 1);
        dg_attack_worker *w;
        ck_assert_int_eq(dg_attack_worker_create(&job, &w), DG_OK);
        double value;
        ck_assert_int_eq(dg_attack_worker_objective(w, 0, src, &value, grad),
                         DG_OK);
        double gap = weights[run] * 128.0;
        if (run == 0)
            ck_assert_double_eq_tol(value, gap - log(3.0), 1e-3);
        else
            ck_assert_msg(isfinite(value) && value > 700, "loss %g", value);
        for (int k = 0; k < PIXELS; k++)
            ck_assert_double_eq_tol(grad[k], weights[run], 1e-3);
        dg_attack_worker_free(w);
        dg_model_free(m);
    }
}
END_TEST

START_TEST(loss_falls_with_iterations)
{
    enum { N = 4 };
    float *src = images_of(data, 1, N);
    int32_t target[N] = {3, 3, 0, 2};
    const dg_model *models[] = {surrogate};
    dg_attack_opts o = preset(DG_ATTACK_PRESET_STRONG);
    o.adaptive_models = models;
    o.n_adaptive_models = 1;
    o.feature_weight = 0;
    o.budget = 0.05f;
    o.lambda = DG_ATTACK_STRONG_LAMBDA_BUDGET / o.budget;
    o.learning_rate = 0.02f;
    o.patience = 0;
    const uint32_t iterations[] = {2, 10, 60};
    double previous[N];
    for (int i = 0; i < N; i++)
        previous[i] = -log_prob(surrogate, src + i * PIXELS, target[i]);
    for (int run = 0; run < 3; run++) {
        o.iterations = iterations[run];
        outcome r = attack(teacher, &o, src, NULL, target, N);
        for (int i = 0; i < N; i++) {
            ck_assert(r.ok[i]);
            double loss = -log_prob(surrogate, r.adv + i * PIXELS, target[i]);
            /* What is reported without a feature term: the model loss. */
            ck_assert_double_eq_tol(r.value[i], loss, 1e-3 * (1 + loss));
            ck_assert_msg(loss < previous[i], "image %d, %u iterations: "
                          "%g after %g", i, iterations[run], loss,
                          previous[i]);
            previous[i] = loss;
        }
        outcome_free(&r);
    }
    free(src);
}
END_TEST

/* With no defence, an attack through a model fools that model: PGD, the
 * DSSIM form and L-infinity mimicry with the adaptive term, and a draw of
 * one model of two per step, which must fool both. */
START_TEST(attack_fools_the_models_it_goes_through)
{
    enum { N = 8 };
    float *src = images_of(data, 0, N), *tgt = images_of(data, 3, N);
    int32_t target[N];
    for (int i = 0; i < N; i++) target[i] = 3;
    const dg_model *models[] = {surrogate, members[3 * MEMBERS]};
    dg_attack_opts runs[3];
    for (int k = 0; k < 3; k++) runs[k] = preset(DG_ATTACK_PRESET_STRONG);
    runs[0].method = DG_ATTACK_PGD;
    runs[0].feature_weight = 0;
    runs[1].feature_weight = 0;
    runs[1].budget = 0.1f;
    runs[1].lambda = DG_ATTACK_STRONG_LAMBDA_BUDGET / runs[1].budget;
    runs[1].learning_rate = 0.03f;
    runs[2].method = DG_ATTACK_MIMIC_LINF;
    runs[2].adaptive_draw = 1;
    for (int k = 0; k < 3; k++) {
        dg_attack_opts *o = &runs[k];
        o->adaptive_models = models;
        o->n_adaptive_models = 2;
        o->epsilon = 0.25f;
        o->step = 0.01f;
        o->iterations = k == 1 ? 200 : 80;
        outcome r = attack(teacher, o, src, tgt, target, N);
        uint32_t fooled[2] = {0, 0};
        for (int i = 0; i < N; i++) {
            if (!r.ok[i]) continue;
            for (int m = 0; m < 2; m++)
                fooled[m] += predict(models[m], r.adv + i * PIXELS) == 3;
        }
        for (int m = 0; m < 2; m++)
            ck_assert_msg(fooled[m] >= N - 1, "run %d, model %d: %u of %d",
                          k, m, fooled[m], N);
        outcome_free(&r);
    }
    free(src);
    free(tgt);
}
END_TEST

/* The guard's members of the target class agree with it more often after
 * an attack through them than after plain mimicry at the same budget,
 * and the Student (here the Teacher itself) is still fooled.  At this
 * budget plain mimicry fools the Student but only about a third of the
 * member votes (measured: 0.36 against 0.97 with the adaptive term). */
START_TEST(adaptive_term_raises_member_agreement)
{
    enum { N = 12 };
    float *src = malloc((size_t)N * PIXELS * sizeof *src);
    float *tgt = malloc((size_t)N * PIXELS * sizeof *tgt);
    int32_t target[N];
    for (int i = 0; i < N; i++) { /* class 0 <-> 1: the blob moves across */
        int32_t s = i % 2;
        float *a = images_of(data, s, 1 + i / 2);
        float *b = images_of(data, 1 - s, 1 + i / 2);
        memcpy(src + i * PIXELS, a + (i / 2) * PIXELS, PIXELS * sizeof *src);
        memcpy(tgt + i * PIXELS, b + (i / 2) * PIXELS, PIXELS * sizeof *tgt);
        target[i] = 1 - s;
        free(a);
        free(b);
    }
    dg_attack_opts o = preset(DG_ATTACK_PRESET_STRONG);
    o.method = DG_ATTACK_MIMIC_LINF;
    o.epsilon = 0.16f;
    o.step = 0.01f;
    o.iterations = 100;
    o.adaptive_weight = 3;
    double agreement[2];
    uint32_t fooled[2] = {0, 0};
    for (int adaptive = 0; adaptive < 2; adaptive++) {
        if (adaptive) {
            o.adaptive_models = (const dg_model *const *)members;
            o.adaptive_model_classes = member_class;
            o.n_adaptive_models = CLASSES * MEMBERS;
        }
        outcome r = attack(teacher, &o, src, tgt, target, N);
        uint32_t votes = 0;
        for (int i = 0; i < N; i++) {
            if (!r.ok[i]) continue;
            const float *x = r.adv + i * PIXELS;
            fooled[adaptive] += predict(teacher, x) == target[i];
            for (int m = 0; m < MEMBERS; m++)
                votes += predict(members[target[i] * MEMBERS + m], x) ==
                         target[i];
        }
        agreement[adaptive] = (double)votes / (N * MEMBERS);
        outcome_free(&r);
    }
    ck_assert_msg(agreement[1] >= 0.7 && agreement[1] >= agreement[0] + 0.25,
                  "member agreement: plain mimicry %.2f, adaptive %.2f",
                  agreement[0], agreement[1]);
    ck_assert_msg(fooled[1] >= N - 2, "Student fooled %u of %d", fooled[1], N);
    free(src);
    free(tgt);
}
END_TEST

/* Draws come from each image's own stream: threads change nothing. */
START_TEST(draws_do_not_depend_on_threads)
{
    enum { N = 6 };
    float *src = images_of(data, 2, N), *tgt = images_of(data, 1, N);
    int32_t target[N] = {1, 1, 1, 0, 3, 0};
    dg_attack_opts o = preset(DG_ATTACK_PRESET_STRONG);
    o.method = DG_ATTACK_MIMIC_LINF;
    o.adaptive_models = (const dg_model *const *)members;
    o.adaptive_model_classes = member_class;
    o.n_adaptive_models = CLASSES * MEMBERS;
    o.adaptive_draw = 2;
    o.iterations = 20;
    o.threads = 1;
    outcome a = attack(teacher, &o, src, tgt, target, N);
    o.threads = 3;
    outcome b = attack(teacher, &o, src, tgt, target, N);
    ck_assert_mem_eq(a.adv, b.adv, (size_t)N * PIXELS * sizeof *a.adv);
    ck_assert_mem_eq(a.value, b.value, N * sizeof *a.value);
    outcome_free(&a);
    outcome_free(&b);
    free(src);
    free(tgt);
}
END_TEST

START_TEST(options_are_checked)
{
    float src[PIXELS] = {0}, adv[PIXELS];
    int32_t label = 1, far_label = 9;
    const dg_model *models[] = {surrogate, NULL};
    dg_attack_opts o = preset(DG_ATTACK_PRESET_STRONG);
    ck_assert_float_eq(o.adaptive_weight, 1.0f);
    ck_assert_float_eq(o.feature_weight, 1.0f);
    ck_assert_uint_eq(o.n_adaptive_models, 0);
#define RUN(labels) \
    dg_attack_run(teacher, &o, src, src, labels, 1, adv, NULL, NULL, NULL)
    o.feature_weight = 0; /* nothing left to optimise */
    ck_assert_int_eq(RUN(&label), DG_E_INVALID_ARG);
    o.feature_weight = 1;
    o.n_adaptive_models = 1; /* and a NULL array */
    ck_assert_int_eq(RUN(&label), DG_E_INVALID_ARG);
    o.adaptive_models = models;
    o.adaptive_weight = -1;
    ck_assert_int_eq(RUN(&label), DG_E_INVALID_ARG);
    o.adaptive_weight = NAN;
    ck_assert_int_eq(RUN(&label), DG_E_INVALID_ARG);
    o.adaptive_weight = 1;
    ck_assert_int_eq(RUN(NULL), DG_E_INVALID_ARG); /* labels needed */
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "labels"));
    ck_assert_int_eq(RUN(&far_label), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "adaptive model 0"));
    o.n_adaptive_models = 2; /* models[1] is NULL */
    ck_assert_int_eq(RUN(&label), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "adaptive_models[1]"));
    o.n_adaptive_models = 1;
    int32_t bad_class = -2;
    o.adaptive_model_classes = &bad_class;
    ck_assert_int_eq(RUN(&label), DG_E_INVALID_ARG);
    o.adaptive_model_classes = NULL;
    dg_model *small;
    ck_assert_int_eq(dg_model_create("fc4", 1, 8, 8, 1, &small), DG_OK);
    models[0] = small;
    ck_assert_int_eq(RUN(&label), DG_E_SHAPE);
    dg_model_free(small);
    models[0] = surrogate;
    o.iterations = 1;
    ck_assert_int_eq(RUN(&label), DG_OK);

    /* A caller of the first layout: its struct ends at progress_user. */
    size_t v1 = offsetof(dg_attack_opts, adaptive_models);
    dg_attack_opts old;
    memset(&old, 0xab, sizeof old);
    ck_assert_int_eq(dg_attack_opts_init(&old, v1, DG_ATTACK_PRESET_STRONG),
                     DG_OK);
    ck_assert_uint_eq(old.struct_size, v1);
    ck_assert_uint_eq(old.n_adaptive_models, 0xababababu); /* untouched */
    old.iterations = 1;
    ck_assert_int_eq(dg_attack_run(teacher, &old, src, src, NULL, 1, adv,
                                   NULL, NULL, NULL),
                     DG_OK);
#undef RUN
}
END_TEST

int main(void)
{
    Suite *s = suite_create("adaptive");
    TCase *tc = tcase_create("adaptive");
    tcase_add_unchecked_fixture(tc, build_fixture, free_fixture);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, objective_and_gradient_match_references);
    tcase_add_test(tc, complement_loss_holds_at_full_confidence);
    tcase_add_test(tc, loss_falls_with_iterations);
    tcase_add_test(tc, attack_fools_the_models_it_goes_through);
    tcase_add_test(tc, adaptive_term_raises_member_agreement);
    tcase_add_test(tc, draws_do_not_depend_on_threads);
    tcase_add_test(tc, options_are_checked);
    suite_add_tcase(s, tc);
    /* The fixture runs oneDNN's OpenMP threads, which a fork would lose. */
    return run_suite(s, CK_NOFORK);
}
