/* test_attack.c - the attacks on a tiny Teacher trained on synthetic
 * images: mimicry pulls Teacher features toward the target within its
 * budget, FGSM and PGD reach the target class, results are rounded to the
 * pixel grid and re-checked, thread counts do not change results; and
 * adversarial set files round-trip and refuse corruption. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/rng.h"
#include "diffguard.h"
#include "attack_suite.h"
#include "io/dataset.h"

enum { SIDE = BLOB_SIDE, PIXELS = SIDE * SIDE, CLASSES = 4 };

static dg_model *teacher; /* trained once per process, read by every test */
static dg_dataset *data;

static void build_fixture(void)
{
    data = make_blobs(60, 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(
        dg_model_create(BLOB_TEACHER_ARCH, 1, SIDE, SIDE, 2, &teacher), DG_OK);
    ck_assert_int_eq(train_on_blobs(teacher, data), DG_OK);
    uint32_t correct, total;
    ck_assert_int_eq(
        dg_model_evaluate(teacher, data, NULL, 0, &correct, &total), DG_OK);
    ck_assert_msg(correct > 0.95 * total, "teacher accuracy %u/%u", correct,
                  total);
}

static void free_fixture(void)
{
    dg_model_free(teacher);
    dg_dataset_free(data);
}

/* Argmax of the model for each image. */
static void classify(const dg_model *m, const float *x, uint32_t n,
                     int32_t *pred)
{
    dg_session *s;
    float *input = malloc((size_t)n * PIXELS * sizeof *input);
    /* The fixture's preprocessing is the default: input = pixel. */
    memcpy(input, x, (size_t)n * PIXELS * sizeof *input);
    ck_assert_int_eq(dg_session_create(m, n, &s), DG_OK);
    ck_assert_int_eq(dg_session_run(s, input, (size_t)n * PIXELS, n), DG_OK);
    const float *out;
    ck_assert_int_eq(dg_session_output(s, -1, &out, NULL, NULL, NULL, NULL),
                     DG_OK);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t arg = 0;
        for (uint32_t k = 1; k < CLASSES; k++)
            if (out[i * CLASSES + k] > out[i * CLASSES + arg]) arg = k;
        pred[i] = (int32_t)arg;
    }
    dg_session_free(s);
    free(input);
}

/* L2 distance between the Teacher's last hidden features of a and b. */
static double feature_distance(const float *a, const float *b)
{
    uint32_t n_layers;
    dg_model_layer_count(teacher, &n_layers);
    int32_t layer = (int32_t)n_layers - 2; /* the ReLU before fc4 */
    float both[2 * PIXELS];
    memcpy(both, a, sizeof(float) * PIXELS);
    memcpy(both + PIXELS, b, sizeof(float) * PIXELS);
    dg_session *s;
    ck_assert_int_eq(dg_session_create(teacher, 2, &s), DG_OK);
    ck_assert_int_eq(dg_session_run(s, both, 2 * PIXELS, 2), DG_OK);
    const float *f;
    uint32_t c;
    ck_assert_int_eq(dg_session_output(s, layer, &f, NULL, &c, NULL, NULL),
                     DG_OK);
    double sum = 0;
    for (uint32_t k = 0; k < c; k++)
        sum += (f[k] - f[c + k]) * (f[k] - f[c + k]);
    dg_session_free(s);
    return sqrt(sum);
}

static int on_grid(const float *x, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        float v = x[k] * 255.0f;
        if (fabsf(v - roundf(v)) > 1e-3f) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */

START_TEST(mimicry_pulls_features_within_budget)
{
    enum { N = 6 };
    float *src = images_of(data, 0, N), *tgt = images_of(data, 3, N);
    int32_t pred[N];
    /* Moving a blob across a 16x16 image takes a large DSSIM budget.  The
     * paper's Adadelta at rate 1 moves slowly: it only has to make
     * progress here. */
    dg_attack_opts presets[2] = {preset(DG_ATTACK_PRESET_STRONG),
                                 preset(DG_ATTACK_PRESET_PAPER)};
    const double wanted_ratio[2] = {0.5, 0.95};
    for (int p = 0; p < 2; p++) {
        presets[p].iterations = 150;
        presets[p].budget = 0.2f;
        presets[p].learning_rate = p == 0 ? 0.05f : 1.0f;
        outcome r = attack(teacher, &presets[p], src, tgt, NULL, N);
        double before = 0, after = 0;
        for (uint32_t i = 0; i < N; i++) {
            const float *adv = r.adv + i * PIXELS, *s = src + i * PIXELS;
            ck_assert_msg(r.ok[i], "preset %d image %u failed", p, i);
            float d;
            ck_assert_int_eq(dg_dssim(adv, s, 1, SIDE, SIDE, &d), DG_OK);
            ck_assert_float_eq_tol(d, r.dssim[i], 1e-6f);
            ck_assert(d < presets[p].budget);
            ck_assert(on_grid(adv, PIXELS));
            double dist = feature_distance(adv, tgt + i * PIXELS);
            ck_assert_double_eq_tol(dist, r.value[i], 1e-3 * (1 + dist));
            before += feature_distance(s, tgt + i * PIXELS);
            after += dist;
        }
        ck_assert_msg(after < wanted_ratio[p] * before,
                      "preset %d: distance %g -> %g", p, before, after);
        if (p == 0) { /* the strong attack fools the Teacher's own head */
            classify(teacher, r.adv, N, pred);
            for (int i = 0; i < N; i++) ck_assert_int_eq(pred[i], 3);
        }
        outcome_free(&r);
    }
    free(src);
    free(tgt);
}
END_TEST

START_TEST(linf_mimicry_stays_in_the_box)
{
    enum { N = 5 };
    float *src = images_of(data, 1, N), *tgt = images_of(data, 2, N);
    dg_attack_opts o = preset(DG_ATTACK_PRESET_STRONG);
    o.method = DG_ATTACK_MIMIC_LINF;
    o.epsilon = 0.3f; /* 76.5 / 255: rounding may leave the box */
    o.step = 0.02f;
    o.iterations = 60;
    o.random_start = 1;
    outcome r = attack(teacher, &o, src, tgt, NULL, N);
    double before = 0, after = 0;
    for (uint32_t i = 0; i < N; i++) {
        ck_assert(r.ok[i]);
        ck_assert(on_grid(r.adv + i * PIXELS, PIXELS));
        for (size_t k = 0; k < PIXELS; k++)
            ck_assert(fabsf(r.adv[i * PIXELS + k] - src[i * PIXELS + k]) <=
                      o.epsilon + 1e-6f);
        before += feature_distance(src + i * PIXELS, tgt + i * PIXELS);
        after += r.value[i];
    }
    ck_assert_msg(after < 0.5 * before, "%g -> %g", before, after);
    outcome_free(&r);
    free(src);
    free(tgt);
}
END_TEST

START_TEST(fgsm_and_pgd_reach_the_target)
{
    enum { N = 8 };
    float *src = images_of(data, 0, N);
    int32_t target[N], pred[N];
    for (int i = 0; i < N; i++) target[i] = 1 + i % 3;
    dg_attack_opts pgd = preset(DG_ATTACK_PRESET_STRONG);
    pgd.method = DG_ATTACK_PGD;
    pgd.epsilon = 0.3f;
    pgd.step = 0.02f;
    pgd.iterations = 60;
    outcome r = attack(teacher, &pgd, src, NULL, target, N);
    classify(teacher, r.adv, N, pred);
    for (int i = 0; i < N; i++) {
        ck_assert(r.ok[i]);
        ck_assert_int_eq(pred[i], target[i]);
    }
    outcome_free(&r);

    /* Untargeted FGSM: leave class 0 with one large step. */
    dg_attack_opts fgsm = pgd;
    fgsm.method = DG_ATTACK_FGSM;
    fgsm.targeted = 0;
    fgsm.epsilon = 0.4f;
    int32_t truth[N] = {0};
    r = attack(teacher, &fgsm, src, NULL, truth, N);
    classify(teacher, r.adv, N, pred);
    int left = 0;
    for (int i = 0; i < N; i++) {
        left += pred[i] != 0;
        for (size_t k = 0; k < PIXELS; k++) { /* one step: the box edge */
            float d = fabsf(r.adv[i * PIXELS + k] - src[i * PIXELS + k]);
            ck_assert(d <= 0.4f + 1e-6f);
        }
        ck_assert(r.value[i] > 0);
    }
    ck_assert_int_ge(left, N / 2);
    outcome_free(&r);
    free(src);
}
END_TEST

START_TEST(rounding_rechecks_the_budget)
{
    enum { N = 4 };
    float *src = images_of(data, 2, N), *tgt = images_of(data, 0, N);
    /* Half a grey level: nearest rounding of x_s +- eps leaves the box,
     * rounding toward the source gives the source back, within budget. */
    dg_attack_opts o = preset(DG_ATTACK_PRESET_STRONG);
    o.method = DG_ATTACK_MIMIC_LINF;
    o.epsilon = 0.5f / 255;
    o.step = o.epsilon;
    o.iterations = 3;
    outcome r = attack(teacher, &o, src, tgt, NULL, N);
    for (uint32_t i = 0; i < N * PIXELS; i++)
        ck_assert_int_eq(lrintf(r.adv[i] * 255), lrintf(src[i] * 255));
    for (uint32_t i = 0; i < N; i++) {
        ck_assert(r.ok[i]);
        ck_assert_float_eq_tol(r.dssim[i], 0.0f, 1e-9f);
    }
    outcome_free(&r);

    /* A DSSIM budget too small for any step to stay inside: every attack
     * fails, delivering the source and NaN. */
    o = preset(DG_ATTACK_PRESET_STRONG);
    o.budget = 1e-9f;
    o.iterations = 5;
    r = attack(teacher, &o, src, tgt, NULL, N);
    for (uint32_t i = 0; i < N; i++) {
        ck_assert(!r.ok[i]);
        ck_assert(isnan(r.dssim[i]) && isnan(r.value[i]));
        ck_assert_mem_eq(r.adv + i * PIXELS, src + i * PIXELS,
                         PIXELS * sizeof(float));
    }
    outcome_free(&r);

    /* Tight but feasible: whatever is delivered meets the budget on the
     * grid, as measured independently. */
    o.budget = 2e-4f;
    o.iterations = 40;
    r = attack(teacher, &o, src, tgt, NULL, N);
    for (uint32_t i = 0; i < N; i++) {
        if (!r.ok[i]) continue;
        float d;
        dg_dssim(r.adv + i * PIXELS, src + i * PIXELS, 1, SIDE, SIDE, &d);
        ck_assert(d < o.budget);
        ck_assert(on_grid(r.adv + i * PIXELS, PIXELS));
    }
    outcome_free(&r);
    free(src);
    free(tgt);
}
END_TEST

static void assert_same(const outcome *a, const outcome *b)
{
    ck_assert_mem_eq(a->adv, b->adv, (size_t)a->n * PIXELS * sizeof(float));
    ck_assert_mem_eq(a->ok, b->ok, a->n);
    for (uint32_t i = 0; i < a->n; i++) {
        ck_assert(a->value[i] == b->value[i] ||
                  (isnan(a->value[i]) && isnan(b->value[i])));
        ck_assert(a->dssim[i] == b->dssim[i] ||
                  (isnan(a->dssim[i]) && isnan(b->dssim[i])));
    }
}

START_TEST(thread_count_does_not_change_results)
{
    enum { N = 10 }; /* three chunks of 4, 4 and 2 */
    float *src = images_of(data, 1, N), *tgt = images_of(data, 2, N);
    int32_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = i % CLASSES;
    dg_attack_opts mimic = preset(DG_ATTACK_PRESET_STRONG);
    mimic.iterations = 40;
    mimic.patience = 5; /* images leave their batch at different times */
    mimic.min_improvement = 0.05f;
    dg_attack_opts pgd = preset(DG_ATTACK_PRESET_STRONG);
    pgd.method = DG_ATTACK_PGD;
    pgd.iterations = 20;
    pgd.random_start = 1;
    pgd.targeted = 0;
    const dg_attack_opts *cases[] = {&mimic, &pgd};
    for (int c = 0; c < 2; c++) {
        dg_attack_opts one = *cases[c], two = *cases[c];
        one.threads = 1;
        two.threads = 2;
        const float *targets = c == 0 ? tgt : NULL;
        outcome a = attack(teacher, &one, src, targets, labels, N);
        outcome b = attack(teacher, &two, src, targets, labels, N);
        assert_same(&a, &b);
        outcome_free(&a);
        outcome_free(&b);
    }
    free(src);
    free(tgt);
}
END_TEST

typedef struct progress_log {
    int calls;
    uint64_t last_done, total;
    int stop_after; /* 0: never */
} progress_log;

static int on_progress(void *user, const char *stage, uint64_t done,
                       uint64_t total, double metric)
{
    progress_log *log = user;
    (void)metric;
    ck_assert_str_eq(stage, "attack");
    ck_assert(done <= total);
    log->calls++;
    log->last_done = done;
    log->total = total;
    return log->stop_after && log->calls >= log->stop_after;
}

START_TEST(progress_and_cancellation)
{
    enum { N = 4 };
    float *src = images_of(data, 0, N), *tgt = images_of(data, 1, N);
    float adv[N * PIXELS];
    progress_log log = {0};
    dg_attack_opts o = preset(DG_ATTACK_PRESET_STRONG);
    o.iterations = 30;
    o.progress = on_progress;
    o.progress_user = &log;
    ck_assert_int_eq(dg_attack_run(teacher, &o, src, tgt, NULL, N, adv, NULL,
                                   NULL, NULL),
                     DG_OK);
    ck_assert_int_ge(log.calls, 1);
    ck_assert_uint_eq(log.total, (uint64_t)N * 30);
    ck_assert_uint_eq(log.last_done, log.total);

    log = (progress_log){.stop_after = 1};
    o.iterations = 100000; /* far longer than the first report */
    o.patience = 0;
    ck_assert_int_eq(dg_attack_run(teacher, &o, src, tgt, NULL, N, adv, NULL,
                                   NULL, NULL),
                     DG_E_CANCELLED);
    free(src);
    free(tgt);
}
END_TEST

START_TEST(check_model_stops_at_success)
{
    enum { N = 4 };
    float *src = images_of(data, 0, N), *tgt = images_of(data, 3, N);
    int32_t labels[N] = {3, 3, 3, 3}, pred[N];
    progress_log log = {0};
    dg_attack_opts o = preset(DG_ATTACK_PRESET_STRONG);
    o.iterations = 2000;
    o.learning_rate = 0.05f;
    o.budget = 0.2f;
    o.check_model = teacher;
    o.progress = on_progress;
    o.progress_user = &log;
    outcome r = attack(teacher, &o, src, tgt, labels, N);
    classify(teacher, r.adv, N, pred);
    int hits = 0;
    for (int i = 0; i < N; i++) hits += r.ok[i] && pred[i] == 3;
    ck_assert_int_ge(hits, N - 1);
    outcome_free(&r);
    free(src);
    free(tgt);
}
END_TEST

START_TEST(arguments_are_checked)
{
    float src[PIXELS] = {0}, adv[PIXELS];
    int32_t label = 9;
    dg_attack_opts o;
    ck_assert_int_eq(dg_attack_opts_init(&o, sizeof o, 7), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_attack_opts_init(&o, 8, DG_ATTACK_PRESET_PAPER),
                     DG_E_ABI);
    ck_assert_int_eq(dg_attack_opts_init(&o, sizeof o, DG_ATTACK_PRESET_PAPER),
                     DG_OK);
    ck_assert_int_eq(o.optimizer, DG_ATTACK_ADADELTA);
    ck_assert_int_eq(o.iterations, 2000);
    ck_assert_float_eq(o.budget, 0.003f);
    ck_assert_int_eq(dg_attack_run(NULL, &o, src, src, NULL, 1, adv, NULL,
                                   NULL, NULL),
                     DG_E_INVALID_ARG);
    /* mimicry without targets */
    ck_assert_int_eq(dg_attack_run(teacher, &o, src, NULL, NULL, 1, adv,
                                   NULL, NULL, NULL),
                     DG_E_INVALID_ARG);
    o.method = DG_ATTACK_PGD; /* without labels, then out of range */
    ck_assert_int_eq(dg_attack_run(teacher, &o, src, NULL, NULL, 1, adv,
                                   NULL, NULL, NULL),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_attack_run(teacher, &o, src, NULL, &label, 1, adv,
                                   NULL, NULL, NULL),
                     DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "labels[0]"));
    o.method = 99;
    ck_assert_int_eq(dg_attack_run(teacher, &o, src, src, NULL, 1, adv, NULL,
                                   NULL, NULL),
                     DG_E_INVALID_ARG);
    o.method = DG_ATTACK_MIMIC_DSSIM;
    src[7] = 1.5f; /* outside [0,1] */
    ck_assert_int_eq(dg_attack_run(teacher, &o, src, src, NULL, 1, adv, NULL,
                                   NULL, NULL),
                     DG_E_INVALID_ARG);
    src[7] = 0;
    o.feature_layer = 99;
    ck_assert_int_eq(dg_attack_run(teacher, &o, src, src, NULL, 1, adv, NULL,
                                   NULL, NULL),
                     DG_E_INVALID_ARG);
    o.feature_layer = -1;
    o.budget = 0;
    ck_assert_int_eq(dg_attack_run(teacher, &o, src, src, NULL, 1, adv, NULL,
                                   NULL, NULL),
                     DG_E_INVALID_ARG);
    o.budget = 0.01f;
    o.struct_size = 4;
    ck_assert_int_eq(dg_attack_run(teacher, &o, src, src, NULL, 1, adv, NULL,
                                   NULL, NULL),
                     DG_E_ABI);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Adversarial sets                                                         */
/* ------------------------------------------------------------------------ */

static char *temp_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/dg_test_attack_%ld_%s",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(),
             name);
    return path;
}

static dg_advset *sample_set(void)
{
    dg_attack_opts o;
    ck_assert_int_eq(dg_attack_opts_init(&o, sizeof o, DG_ATTACK_PRESET_PAPER),
                     DG_OK);
    o.seed = 0x123456789abcull;
    o.feature_layer = 7;
    dg_advset *set;
    ck_assert_int_eq(dg_advset_create(&o, 1, 3, 5, "fmnist:test 5,6,7", &set),
                     DG_OK);
    for (uint32_t i = 0; i < 3; i++) {
        float px[15];
        for (int k = 0; k < 15; k++) px[k] = (float)(i * 15 + k) / 60.0f;
        dg_advset_item it = {.struct_size = sizeof it,
                             .source_index = 100 + i,
                             .source_label = (int32_t)i,
                             .target_label = 2,
                             .student_label = i == 1 ? 2 : -1,
                             .dssim = i == 2 ? NAN : 0.001f * (float)i,
                             .feature_distance = 1.5f * (float)i,
                             .within_budget = i != 2,
                             .success = i == 1};
        ck_assert_int_eq(dg_advset_add(set, &it, px, 15), DG_OK);
    }
    float px[15] = {0};
    dg_advset_item bad = {.struct_size = sizeof bad};
    ck_assert_int_eq(dg_advset_add(set, &bad, px, 14), DG_E_SHAPE);
    return set;
}

START_TEST(advset_round_trip)
{
    dg_advset *set = sample_set();
    const char *path = temp_path("set.dgadv");
    ck_assert_int_eq(dg_advset_save_file(set, path), DG_OK);
    dg_advset *back;
    ck_assert_int_eq(dg_advset_load_file(path, &back), DG_OK);
    uint32_t count, c, h, w;
    ck_assert_int_eq(dg_advset_count(back, &count), DG_OK);
    ck_assert_uint_eq(count, 3);
    ck_assert_int_eq(dg_advset_shape(back, &c, &h, &w), DG_OK);
    ck_assert(c == 1 && h == 3 && w == 5);
    const char *text;
    ck_assert_int_eq(dg_advset_description(back, &text), DG_OK);
    ck_assert_str_eq(text, "fmnist:test 5,6,7");
    dg_attack_opts o = {.struct_size = sizeof o};
    ck_assert_int_eq(dg_advset_settings(back, &o), DG_OK);
    ck_assert_int_eq(o.optimizer, DG_ATTACK_ADADELTA);
    ck_assert_int_eq(o.feature_layer, 7);
    ck_assert_float_eq(o.lambda, 1e10f);
    ck_assert_uint_eq(o.seed, 0x123456789abcull);
    ck_assert_ptr_null(o.progress);
    for (uint32_t i = 0; i < 3; i++) {
        dg_advset_item a = {.struct_size = sizeof a};
        dg_advset_item b = {.struct_size = sizeof b};
        ck_assert_int_eq(dg_advset_item_get(set, i, &a), DG_OK);
        ck_assert_int_eq(dg_advset_item_get(back, i, &b), DG_OK);
        ck_assert_uint_eq(b.source_index, 100 + i);
        ck_assert_int_eq(b.student_label, a.student_label);
        ck_assert_int_eq(b.within_budget, i != 2);
        ck_assert_int_eq(b.success, i == 1);
        ck_assert(b.dssim == a.dssim || (isnan(a.dssim) && isnan(b.dssim)));
        ck_assert_float_eq(b.feature_distance, a.feature_distance);
        const uint8_t *pa, *pb;
        ck_assert_int_eq(dg_advset_pixels(set, i, &pa), DG_OK);
        ck_assert_int_eq(dg_advset_pixels(back, i, &pb), DG_OK);
        ck_assert_mem_eq(pa, pb, 15);
        ck_assert_uint_eq(pb[14], (uint8_t)lrintf((i * 15 + 14) / 60.0f * 255));
    }
    /* Model input from the stored pixels, and the bounds. */
    uint32_t idx[2] = {2, 0};
    float in[30];
    ck_assert_int_eq(dg_advset_batch(back, NULL, idx, 2, in, 30), DG_OK);
    ck_assert_float_eq_tol(in[0], 30 / 60.0f, 1.0f / 255);
    ck_assert_int_eq(dg_advset_batch(back, NULL, idx, 2, in, 29), DG_E_SHAPE);
    ck_assert_int_eq(dg_advset_batch(back, teacher, idx, 2, in, 30),
                     DG_E_SHAPE);
    dg_advset_item it = {.struct_size = sizeof it};
    ck_assert_int_eq(dg_advset_item_get(back, 3, &it), DG_E_INVALID_ARG);
    dg_advset_free(back);
    dg_advset_free(set);
    unlink(path);
}
END_TEST

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(*size);
    ck_assert_uint_eq(fread(buf, 1, *size, f), *size);
    fclose(f);
    return buf;
}

static dg_status load_bytes(const uint8_t *bytes, size_t size)
{
    const char *path = temp_path("corrupt.dgadv");
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    fclose(f);
    dg_advset *set = (dg_advset *)1;
    dg_status s = dg_advset_load_file(path, &set);
    if (s != DG_OK) ck_assert_ptr_null(set);
    dg_advset_free(set);
    unlink(path);
    return s;
}

START_TEST(advset_refuses_corrupt_files)
{
    dg_advset *set = sample_set();
    const char *path = temp_path("good.dgadv");
    ck_assert_int_eq(dg_advset_save_file(set, path), DG_OK);
    dg_advset_free(set);
    size_t size;
    uint8_t *good = read_file(path, &size), *bytes = malloc(size);
    unlink(path);
    ck_assert_int_eq(load_bytes(good, size), DG_OK);
    /* Truncated anywhere, including inside the preamble. */
    for (size_t cut = 0; cut < size; cut += 7)
        ck_assert_int_eq(load_bytes(good, cut), DG_E_FORMAT);
    /* Any flipped bit: a bad size, version, magic or checksum. */
    for (size_t at = 0; at < size; at += 3) {
        memcpy(bytes, good, size);
        bytes[at] ^= (uint8_t)(1u << (at % 8));
        dg_status s = load_bytes(bytes, size);
        ck_assert_msg(s == DG_E_FORMAT || s == DG_E_UNSUPPORTED,
                      "byte %zu: %s", at, dg_strerror(s));
    }
    memcpy(bytes, good, size);
    memcpy(bytes, "DGMODEL", 8);
    ck_assert_int_eq(load_bytes(bytes, size), DG_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "magic"));
    memcpy(bytes, good, size);
    bytes[8] = 2; /* a newer major version */
    ck_assert_int_eq(load_bytes(bytes, size), DG_E_UNSUPPORTED);
    dg_advset *none = (dg_advset *)1;
    ck_assert_int_eq(dg_advset_load_file("/nonexistent/x.dgadv", &none),
                     DG_E_IO);
    ck_assert_ptr_null(none);
    free(good);
    free(bytes);
}
END_TEST

/* An attempt's source is a class, its target and the Student's answer a
 * class or -1: anything below is refused when the attempt is added and
 * when a file holding it is read (its checksum made right, so that the
 * label itself is what is refused).  So are NaN pixels. */
START_TEST(advset_refuses_impossible_labels)
{
    dg_advset *set = sample_set();
    float px[15] = {0};
    dg_advset_item it = {.struct_size = sizeof it, .source_label = 1,
                         .target_label = -2, .student_label = -1};
    ck_assert_int_eq(dg_advset_add(set, &it, px, 15), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "target label -2"));
    it.target_label = -1;
    it.source_label = -1;
    ck_assert_int_eq(dg_advset_add(set, &it, px, 15), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "source label -1"));
    it.source_label = 1;
    it.student_label = -7;
    ck_assert_int_eq(dg_advset_add(set, &it, px, 15), DG_E_INVALID_ARG);
    it.student_label = -1;
    px[3] = NAN;
    ck_assert_int_eq(dg_advset_add(set, &it, px, 15), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "value 3 is nan"));
    uint32_t count;
    ck_assert_int_eq(dg_advset_count(set, &count), DG_OK);
    ck_assert_uint_eq(count, 3);

    const char *path = temp_path("labels.dgadv");
    ck_assert_int_eq(dg_advset_save_file(set, path), DG_OK);
    dg_advset_free(set);
    size_t size;
    uint8_t *bytes = read_file(path, &size);
    unlink(path);
    /* The last item's record: 26 bytes of fields, then 15 pixels. */
    uint8_t *target = bytes + size - 4 - (26 + 15) + 8;
    const int32_t label = -2;
    memcpy(target, &label, 4); /* little-endian, as the file */
    uint32_t crc = dg_crc32(bytes, size - 4);
    for (int k = 0; k < 4; k++) bytes[size - 4 + k] = (uint8_t)(crc >> (8 * k));
    ck_assert_int_eq(load_bytes(bytes, size), DG_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "item 2: target label -2"));
    free(bytes);
}
END_TEST

START_TEST(png_examples_are_written)
{
    uint8_t px[6 * 4];
    for (int k = 0; k < 24; k++) px[k] = (uint8_t)(k * 10);
    const char *path = temp_path("example.png");
    ck_assert_int_eq(dg_image_save_png(path, px, 6, 4, 6, DG_PIXEL_GRAY8),
                     DG_OK);
    /* Read back through the model input path: a 1x4x6 model. */
    dg_model *m;
    ck_assert_int_eq(dg_model_create("fc2", 1, 4, 6, 1, &m), DG_OK);
    float in[24];
    ck_assert_int_eq(dg_image_load_file(m, path, in, 24), DG_OK);
    for (int k = 0; k < 24; k++)
        ck_assert_float_eq_tol(in[k], k * 10 / 255.0f, 1e-6f);
    ck_assert_int_eq(dg_image_save_png(path, px, 6, 4, 5, DG_PIXEL_GRAY8),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_image_save_png(path, px, 2, 4, 6, DG_PIXEL_RGBA8),
                     DG_E_INVALID_ARG);
    dg_model_free(m);
    unlink(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("attack");
    TCase *tc = tcase_create("attack");
    tcase_add_unchecked_fixture(tc, build_fixture, free_fixture);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, mimicry_pulls_features_within_budget);
    tcase_add_test(tc, linf_mimicry_stays_in_the_box);
    tcase_add_test(tc, fgsm_and_pgd_reach_the_target);
    tcase_add_test(tc, rounding_rechecks_the_budget);
    tcase_add_test(tc, thread_count_does_not_change_results);
    tcase_add_test(tc, progress_and_cancellation);
    tcase_add_test(tc, check_model_stops_at_success);
    tcase_add_test(tc, arguments_are_checked);
    tcase_add_test(tc, advset_round_trip);
    tcase_add_test(tc, advset_refuses_corrupt_files);
    tcase_add_test(tc, advset_refuses_impossible_labels);
    tcase_add_test(tc, png_examples_are_written);
    suite_add_tcase(s, tc);
    /* The fixture runs oneDNN's OpenMP threads, which a fork would lose. */
    return run_suite(s, CK_NOFORK);
}
