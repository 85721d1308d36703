/* test_defence.c - the pruner against hand-computed activation means; masks;
 * distillation; guard building, calibration, file round trip, refusal of
 * another Student, corrupt files; the validator's two phases, host labels,
 * shared-prefix tails against whole differentiators, and threads. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "core/rng.h"
#include "defence/ensemble.h"
#include "diffguard.h"
#include "io/dataset.h"
#include "io/model_format.h"
#include "nn/model.h"
#include "suite.h"

/* The shared fixture is built outside any test, where ck_assert cannot
 * report: fail loudly instead. */
static void require(dg_status s, const char *what)
{
    if (s == DG_OK) return;
    fprintf(stderr, "fixture: %s: %s: %s\n", what, dg_strerror(s),
            dg_last_error_detail());
    exit(1);
}

/* Padding and global pooling keep most units alive, so pruning some
 * leaves something to distil into. */
static const char *student_arch = "c8k3p1,relu,mp2,c16k3p1,relu,gap,fc4";

static dg_model *trained_student(const dg_dataset *train)
{
    dg_model *m;
    require(dg_model_create(student_arch, 1, 8, 8, 3, &m), "student");
    dg_train_opts o;
    dg_train_opts_init(&o, sizeof o);
    o.epochs = 10;
    o.batch_size = 16;
    o.learning_rate = 5e-3f;
    require(dg_model_train(m, train, &o, NULL), "training the student");
    return m;
}

static dg_dataset *train_set, *held_set;
static dg_model *student;
static dg_guard *guard;

static void build_fixture(void)
{
    train_set = make_bars(48, 1);
    held_set = make_bars(40, 2);
    if (!train_set || !held_set) require(DG_E_NOMEM, "data sets");
    student = trained_student(train_set);
    dg_guard_opts o;
    dg_guard_opts_init(&o, sizeof o);
    o.member_kind = DG_MEMBERS_PRUNED;
    o.variants = 4;
    o.members = 3;
    o.epochs = 2;
    o.batch_size = 16;
    o.learning_rate = 5e-3f;
    o.prune_layers[0] = -1;
    o.prune_layers[1] = 0;
    o.n_prune_layers = 2;
    o.target_frr = 0.1f;
    require(dg_guard_build(student, train_set, held_set, &o, &guard),
            "building the guard");
}

static void free_fixture(void)
{
    dg_guard_free(guard);
    dg_model_free(student);
    dg_dataset_free(train_set);
    dg_dataset_free(held_set);
}

START_TEST(pruner_means_match_a_hand_computation)
{
    dg_pruner *p;
    ck_assert_int_eq(dg_pruner_create(student, 4, &p), DG_OK); /* relu after c16 */
    ck_assert_int_eq(dg_pruner_measure(p, held_set, NULL, NULL), DG_OK);
    uint32_t units;
    ck_assert_int_eq(dg_pruner_unit_count(p, &units), DG_OK);
    ck_assert_uint_eq(units, 16);
    /* Independently: run the Student per class and average layer 4. */
    dg_session *s;
    ck_assert_int_eq(dg_session_create(student, 1, &s), DG_OK);
    double want[4][16] = {{0}};
    uint32_t count[4] = {0};
    for (uint32_t i = 0; i < held_set->count; i++) {
        float x[64];
        uint32_t idx = i;
        int32_t label;
        ck_assert_int_eq(dg_dataset_batch(held_set, student, &idx, 1, x, 64, &label), DG_OK);
        ck_assert_int_eq(dg_session_run(s, x, 64, 1), DG_OK);
        const float *y;
        uint32_t c, h, w;
        ck_assert_int_eq(dg_session_output(s, 4, &y, NULL, &c, &h, &w), DG_OK);
        for (uint32_t u = 0; u < 16; u++) {
            double sum = 0;
            for (uint32_t k = 0; k < h * w; k++) sum += y[u * h * w + k];
            want[label][u] += sum / (h * w);
        }
        count[label]++;
    }
    for (uint32_t c = 0; c < 4; c++) {
        float got[16];
        ck_assert_int_eq(dg_pruner_activations(p, c, got, 16), DG_OK);
        for (uint32_t u = 0; u < 16; u++)
            ck_assert_double_eq_tol(got[u], want[c][u] / count[c], 1e-4);
    }
    /* Pruning the 6 most activated units of class 2 masks exactly those. */
    float act[16];
    dg_pruner_activations(p, 2, act, 16);
    dg_model *pruned;
    ck_assert_int_eq(dg_pruner_prune(p, 2, 0.375f, DG_PRUNE_MOST, &pruned), DG_OK);
    const dg_layer *conv = &pruned->layers[3];
    ck_assert_ptr_nonnull(conv->mask);
    ck_assert_uint_eq(dg_layer_pruned(conv), 6);
    for (uint32_t u = 0; u < 16; u++) {
        uint32_t rank = 0; /* ties go to the lower unit index */
        for (uint32_t k = 0; k < 16; k++)
            rank += act[k] > act[u] || (act[k] == act[u] && k < u);
        ck_assert_int_eq(conv->mask[u] == 0, rank < 6);
        if (!conv->mask[u]) ck_assert_float_eq(conv->param[1][u], 0.0f);
    }
    dg_model *none;
    ck_assert_int_eq(dg_pruner_prune(p, 2, 1.0f, DG_PRUNE_MOST, &none), DG_E_INVALID_ARG);
    dg_pruner_free(p);
    ck_assert_int_eq(dg_pruner_create(student, 5, &p), DG_OK); /* gap keeps units */
    dg_pruner_free(p);
    ck_assert_int_eq(dg_pruner_create(student, 2, &p), DG_OK); /* maxpool: conv 0's units */
    dg_pruner_free(p);
    dg_model_free(pruned);
    dg_session_free(s);
}
END_TEST

static double agreement(const dg_model *a, const dg_model *b, const dg_dataset *ds)
{
    uint32_t same = 0;
    for (uint32_t i = 0; i < ds->count; i++) {
        float x[64];
        dg_dataset_batch(ds, a, &i, 1, x, 64, NULL);
        int32_t la = -1, lb = -1;
        const dg_model *m[2] = {a, b};
        int32_t *l[2] = {&la, &lb};
        for (int k = 0; k < 2; k++) {
            dg_session *s;
            dg_session_create(m[k], 1, &s);
            dg_session_run(s, x, 64, 1);
            const float *y;
            dg_session_output(s, -1, &y, NULL, NULL, NULL, NULL);
            *l[k] = y[0] > y[1] && y[0] > y[2] && y[0] > y[3] ? 0
                    : y[1] > y[2] && y[1] > y[3]             ? 1
                    : y[2] > y[3]                            ? 2
                                                             : 3;
            dg_session_free(s);
        }
        same += la == lb;
    }
    return (double)same / ds->count;
}

START_TEST(distillation_restores_agreement)
{
    dg_pruner *p;
    ck_assert_int_eq(dg_pruner_create(student, 4, &p), DG_OK);
    ck_assert_int_eq(dg_pruner_measure(p, train_set, NULL, NULL), DG_OK);
    dg_model *pruned;
    ck_assert_int_eq(dg_pruner_prune(p, 0, 0.25f, DG_PRUNE_MOST, &pruned), DG_OK);
    double before = agreement(pruned, student, held_set);
    /* Fine-tune the pruned convolution and everything after it. */
    for (uint32_t i = 0; i < pruned->n_layers; i++)
        dg_model_set_frozen(pruned, i, i < 3);
    dg_train_opts o;
    dg_train_opts_init(&o, sizeof o);
    o.epochs = 4;
    o.batch_size = 16;
    o.learning_rate = 5e-3f;
    o.distill_from = student;
    ck_assert_int_eq(dg_model_train(pruned, train_set, &o, NULL), DG_OK);
    double after = agreement(pruned, student, held_set);
    ck_assert_msg(after > before && after > 0.9, "agreement %g -> %g", before, after);
    dg_model_free(pruned);
    dg_pruner_free(p);
}
END_TEST

static void validate_all(dg_validator *v, const dg_dataset *ds, dg_verdict *out,
                         int labeled)
{
    for (uint32_t i = 0; i < ds->count; i += 7) {
        uint32_t n = ds->count - i < 7 ? ds->count - i : 7, idx[7];
        float x[7 * 64];
        int32_t labels[7];
        for (uint32_t k = 0; k < n; k++) {
            idx[k] = i + k;
            out[i + k].struct_size = sizeof(dg_verdict);
        }
        ck_assert_int_eq(dg_dataset_batch(ds, student, idx, n, x, n * 64, labels), DG_OK);
        dg_status s = labeled ? dg_validate_labeled(v, x, n * 64, n, labels, out + i)
                              : dg_validate(v, x, n * 64, n, out + i);
        ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    }
}

/* Calibration on the held-out set: validating that set again must reject
 * exactly the recorded share of its clean, correctly classified samples. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A score on the logit scale, clamped as the calibration clamps it. */
static double logit_of(double p)
{
    p = fmin(fmax(p, 1e-9), 1 - 1e-9);
    return log(p / (1 - p));
}

START_TEST(calibration_reaches_the_requested_rate)
{
    dg_guard_info info = {.struct_size = sizeof info};
    ck_assert_int_eq(dg_guard_get_info(guard, &info), DG_OK);
    ck_assert_uint_eq(info.variants, 4);
    for (int32_t rule = DG_RULE_VOTES; rule <= DG_RULE_SCORE; rule++)
        for (uint32_t M = 1; M <= info.variants; M++) {
            dg_validator_opts vo;
            dg_validator_opts_init(&vo, sizeof vo);
            vo.members = M;
            vo.rule = rule;
            vo.max_batch = 8;
            dg_validator *v;
            ck_assert_int_eq(dg_validator_create(guard, &vo, &v), DG_OK);
            dg_verdict *out = calloc(held_set->count, sizeof *out);
            validate_all(v, held_set, out, 0);
            for (uint32_t c = 0; c < 4; c++) {
                dg_calibration cal = {.struct_size = sizeof cal};
                ck_assert_int_eq(dg_guard_calibration(guard, c, M, &cal), DG_OK);
                uint32_t clean = 0, rejected = 0;
                double *scores = calloc(held_set->count, sizeof *scores);
                float threshold = 0;
                for (uint32_t i = 0; i < held_set->count; i++) {
                    if (held_set->labels[i] != (int32_t)c || out[i].label != (int32_t)c)
                        continue;
                    scores[clean++] = out[i].score;
                    threshold = out[i].threshold;
                    rejected += !out[i].accepted;
                }
                ck_assert_uint_eq(clean, cal.samples);
                /* The spread of a rate set on that many inputs. */
                ck_assert_double_eq_tol(cal.frr_spread,
                                        sqrt(0.1 * 0.9 / clean), 1e-6);
                double frr = (double)rejected / clean;
                double recorded = rule == DG_RULE_VOTES ? cal.frr_votes : cal.frr_score;
                ck_assert_double_eq_tol(frr, recorded, 1e-6);
                /* Votes stop at a whole rank: the j-th smallest of n clean
                 * scores rejects a fresh input with probability
                 * j / (n + 1), and tau keeps that within the target. */
                if (rule == DG_RULE_VOTES) {
                    double expected = (rejected + 1.0) / (clean + 1.0);
                    ck_assert(recorded <= 0.1 + 1e-6 || cal.tau == 1);
                    ck_assert(expected <= info.target_frr + 1e-6 || rejected == 0 ||
                              cal.tau == 1);
                } else if (!cal.pooled) {
                    /* theta: at the fractional rank r = t (n + 1) of the
                     * sorted scores, between its neighbours; below rank 3
                     * on an exponential tail on the logit scale below the
                     * k-th smallest score, k = ceil(4 t (n + 1)) + 1,
                     * placed for an expected fresh rate of t
                     * (doc/validator.md). */
                    qsort(scores, clean, sizeof *scores, cmp_double);
                    double t = info.target_frr, r = t * (clean + 1.0), want;
                    if (r >= 3) {
                        uint32_t j = (uint32_t)r;
                        want = scores[j - 1] + (r - j) * (scores[j] - scores[j - 1]);
                    } else {
                        uint32_t k = (uint32_t)ceil(4 * t * (clean + 1.0)) + 1;
                        if (k > clean) k = clean;
                        double zk = logit_of(scores[k - 1]), gaps = 0;
                        for (uint32_t i = 0; i + 1 < k; i++) gaps += zk - logit_of(scores[i]);
                        double z = zk - (pow(k / (clean + 1.0) / t, 1.0 / (k - 1)) - 1) * gaps;
                        want = 1 / (1 + exp(-z));
                    }
                    ck_assert_double_eq_tol(threshold, want, 1e-5);
                }
                free(scores);
            }
            free(out);
            dg_validator_free(v);
        }
}
END_TEST

/* The validator computes each differentiator as Student prefix + tail; the
 * same tail run on the Student's prefix output by hand must agree, and host
 * labels equal to the Student's give the same verdicts. */
START_TEST(two_phases_and_host_labels)
{
    dg_validator *v;
    ck_assert_int_eq(dg_validator_create(guard, NULL, &v), DG_OK);
    dg_verdict *a = calloc(held_set->count, sizeof *a), *b = calloc(held_set->count, sizeof *b);
    validate_all(v, held_set, a, 0);
    uint32_t accepted = 0;
    for (uint32_t i = 0; i < held_set->count; i++) accepted += a[i].accepted;
    ck_assert(accepted > held_set->count / 2);
    /* Labeled mode with the true labels: where the Student was right, the
     * verdicts are identical. */
    validate_all(v, held_set, b, 1);
    for (uint32_t i = 0; i < held_set->count; i++) {
        if (a[i].label != held_set->labels[i]) continue;
        ck_assert_int_eq(memcmp(&a[i], &b[i], sizeof a[i]), 0);
    }
    /* Member 0 of the first sample's class, by hand. */
    const dg_member *m = &guard->per_class[a[0].label].members[0];
    float x[64];
    uint32_t idx = 0;
    dg_dataset_batch(held_set, student, &idx, 1, x, 64, NULL);
    dg_session *s, *t;
    ck_assert_int_eq(dg_session_create(student, 1, &s), DG_OK);
    ck_assert_int_eq(dg_session_run(s, x, 64, 1), DG_OK);
    const float *prefix = x;
    size_t plen = 64;
    if (m->first > 0) {
        uint32_t c, h, w;
        ck_assert_int_eq(dg_session_output(s, m->first - 1, &prefix, NULL, &c, &h, &w), DG_OK);
        plen = (size_t)c * h * w;
    }
    ck_assert_int_eq(dg_session_create(m->tail, 1, &t), DG_OK);
    ck_assert_int_eq(dg_session_run(t, prefix, plen, 1), DG_OK);
    const float *y;
    ck_assert_int_eq(dg_session_output(t, -1, &y, NULL, NULL, NULL, NULL), DG_OK);
    double mx = y[0], sum = 0;
    for (int k = 1; k < 4; k++) mx = y[k] > mx ? y[k] : mx;
    for (int k = 0; k < 4; k++) sum += exp(y[k] - mx);
    ck_assert_double_eq_tol(a[0].member_score[0], exp(y[a[0].label] - mx) / sum, 1e-5);
    ck_assert_int_eq(a[0].member_label[4], -1); /* only M = 3 consulted */
    dg_session_free(s);
    dg_session_free(t);
    /* Bad input. */
    int32_t bad_label = 9;
    b[0].struct_size = sizeof b[0];
    ck_assert_int_eq(dg_validate_labeled(v, x, 64, 1, &bad_label, b), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_validate(v, x, 63, 1, b), DG_E_SHAPE);
    ck_assert_int_eq(dg_validate(v, x, 64, 0, b), DG_E_SHAPE);
    b[0].struct_size = 8;
    ck_assert_int_eq(dg_validate(v, x, 64, 1, b), DG_E_ABI);
    free(a);
    free(b);
    dg_validator_free(v);
}
END_TEST

/* Every differentiator as a whole model (the Student's shared layers, then
 * its tail): its softmax on held-out inputs is what the validator reports
 * for that member when told the member's class. */
/* Validates samples x[0..n-1] with host labels and checks every member's
 * label and P(label) against that member as a whole model of its own, run
 * on the sample alone: the naive reference of phase 2. */
static void assert_member_scores(dg_guard *g, dg_validator *v, const float *x,
                                 uint32_t n, const int32_t *labels,
                                 uint32_t members)
{
    size_t in = dg_shape_size(student->input);
    dg_verdict *out = calloc(n, sizeof *out);
    for (uint32_t i = 0; i < n; i++) out[i].struct_size = sizeof out[i];
    ck_assert_int_eq(dg_validate_labeled(v, x, n * in, n, labels, out), DG_OK);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t r = 0; r < members; r++) {
            dg_model *m;
            dg_status st = dg_guard_member_model(g, (uint32_t)labels[i], r, &m);
            ck_assert_msg(st == DG_OK, "%s", dg_last_error_detail());
            dg_session *s;
            ck_assert_int_eq(dg_session_create(m, 1, &s), DG_OK);
            ck_assert_int_eq(dg_session_run(s, x + i * in, in, 1), DG_OK);
            const float *y;
            uint32_t k_out;
            ck_assert_int_eq(dg_session_output(s, -1, &y, NULL, &k_out, NULL, NULL), DG_OK);
            double mx = y[0], sum = 0;
            int32_t best = 0;
            for (uint32_t k = 1; k < k_out; k++)
                if (y[k] > mx) mx = y[k], best = (int32_t)k;
            for (uint32_t k = 0; k < k_out; k++) sum += exp(y[k] - mx);
            ck_assert_int_eq(out[i].label, labels[i]);
            ck_assert_int_eq(out[i].member_label[r], best);
            ck_assert_double_eq_tol(out[i].member_score[r], exp(y[labels[i]] - mx) / sum, 1e-5);
            dg_session_free(s);
            dg_model_free(m);
        }
    free(out);
}

/* Each class's members, in a batch that mixes the classes. */
START_TEST(member_models_compute_the_member_scores)
{
    dg_guard_info info = {.struct_size = sizeof info};
    ck_assert_int_eq(dg_guard_get_info(guard, &info), DG_OK);
    dg_validator_opts vo;
    dg_validator_opts_init(&vo, sizeof vo);
    vo.members = info.variants;
    vo.max_batch = 8;
    dg_validator *v;
    ck_assert_int_eq(dg_validator_create(guard, &vo, &v), DG_OK);
    enum { N = 8 };
    uint32_t idx[N];
    for (uint32_t i = 0; i < N; i++) idx[i] = i * 5;
    float x[N * 64];
    ck_assert_int_eq(dg_dataset_batch(held_set, student, idx, N, x, N * 64, NULL), DG_OK);
    for (uint32_t c = 0; c < info.classes; c++) {
        int32_t labels[N];
        for (uint32_t i = 0; i < N; i++) labels[i] = (int32_t)((c + i * i) % info.classes);
        assert_member_scores(guard, v, x, N, labels, info.variants);
        /* The member model is the Student pruned at the member's layer. */
        for (uint32_t r = 0; r < info.variants; r++) {
            dg_model *m;
            ck_assert_int_eq(dg_guard_member_model(guard, c, r, &m), DG_OK);
            const dg_member *mem = &guard->per_class[c].members[r];
            ck_assert_uint_eq(m->n_layers, (uint32_t)mem->first + mem->tail->n_layers);
            ck_assert_uint_eq(dg_layer_pruned(&m->layers[mem->prune_layer]),
                              dg_layer_pruned(&mem->tail->layers[mem->prune_layer - mem->first]));
            ck_assert_uint_gt(dg_layer_pruned(&m->layers[mem->prune_layer]), 0);
            dg_model_free(m);
        }
    }
    dg_validator_free(v);
    /* Argument checks. */
    dg_model *m = (dg_model *)1;
    ck_assert_int_eq(dg_guard_member_model(guard, info.classes, 0, &m), DG_E_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "class 4 rank 0 of 4 x 4"));
    ck_assert_int_eq(dg_guard_member_model(guard, 0, info.variants, &m), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_guard_member_model(NULL, 0, 0, &m), DG_E_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(dg_guard_member_model(guard, 0, 0, NULL), DG_E_INVALID_ARG);
}
END_TEST

/* A Student whose last convolution sits inside a residual block: its
 * pruned members share the Student's layers up to the block's start (the
 * add reads across the prune layer), and the validator's member scores
 * equal those of the member models. */
START_TEST(pruned_members_of_a_residual_student)
{
    dg_model *m;
    ck_assert_int_eq(dg_model_create("c8k3p1,relu,mp2,c8k3p1,relu,c8k3p1,add@2,"
                                     "relu,gap,fc4",
                                     1, 8, 8, 3, &m),
                     DG_OK);
    dg_train_opts t;
    dg_train_opts_init(&t, sizeof t);
    t.epochs = 6;
    t.batch_size = 16;
    t.learning_rate = 5e-3f;
    ck_assert_int_eq(dg_model_train(m, train_set, &t, NULL), DG_OK);
    dg_guard_opts o;
    dg_guard_opts_init(&o, sizeof o);
    o.member_kind = DG_MEMBERS_PRUNED;
    o.variants = 2;
    o.members = 2;
    o.epochs = 1;
    o.batch_size = 16;
    o.harden = 0;
    dg_guard *g;
    dg_status st = dg_guard_build(m, train_set, held_set, &o, &g);
    ck_assert_msg(st == DG_OK, "%s", dg_last_error_detail());
    const dg_member *mem = &g->per_class[0].members[0];
    ck_assert_int_eq(mem->prune_layer, 5);
    ck_assert_int_eq(mem->first, 3);
    dg_validator_opts vo;
    dg_validator_opts_init(&vo, sizeof vo);
    vo.members = 2;
    vo.max_batch = 4;
    dg_validator *v;
    ck_assert_int_eq(dg_validator_create(g, &vo, &v), DG_OK);
    uint32_t idx[4] = {0, 9, 50, 77};
    float x[4 * 64];
    int32_t labels[4] = {0, 1, 2, 3};
    ck_assert_int_eq(dg_dataset_batch(held_set, m, idx, 4, x, 4 * 64, NULL),
                     DG_OK);
    assert_member_scores(g, v, x, 4, labels, 2);
    dg_validator_free(v);
    dg_guard_free(g);
    dg_model_free(m);
}
END_TEST

/* The guard file of g in a malloc'd buffer. */
static dg_status guard_bytes(const dg_guard *g, uint8_t **data, size_t *len)
{
    dg_writer w;
    dg_writer_init(&w);
    dg_status s = dg_guard_write(g, &w);
    *data = w.data;
    *len = w.len;
    return s;
}

START_TEST(guard_files_round_trip_and_refuse_strangers)
{
    char path[] = "/tmp/dg_guard_XXXXXX";
    close(mkstemp(path));
    ck_assert_int_eq(dg_guard_save_file(guard, path), DG_OK);
    dg_guard *loaded;
    dg_status s = dg_guard_load_file(path, student, &loaded);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    uint8_t *a, *b;
    size_t la, lb;
    ck_assert_int_eq(guard_bytes(guard, &a, &la), DG_OK);
    ck_assert_int_eq(guard_bytes(loaded, &b, &lb), DG_OK);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(a, b, la), 0);
    /* Same verdicts from the loaded copy. */
    dg_validator *v1, *v2;
    dg_validator_create(guard, NULL, &v1);
    dg_validator_create(loaded, NULL, &v2);
    dg_verdict *x = calloc(held_set->count, sizeof *x), *y = calloc(held_set->count, sizeof *y);
    validate_all(v1, held_set, x, 0);
    validate_all(v2, held_set, y, 0);
    ck_assert_int_eq(memcmp(x, y, held_set->count * sizeof *x), 0);
    free(x);
    free(y);
    dg_validator_free(v1);
    dg_validator_free(v2);
    dg_guard_free(loaded);
    /* Another Student (one weight changed) is refused. */
    dg_model *other;
    ck_assert_int_eq(dg_model_clone(student, &other), DG_OK);
    other->layers[0].param[0][0] += 1e-3f;
    loaded = (dg_guard *)1;
    ck_assert_int_eq(dg_guard_load_file(path, other, &loaded), DG_E_MISMATCH);
    ck_assert_ptr_null(loaded);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "another Student"));
    dg_model_free(other);
    /* Corruption: every truncation, and bit flips, give a status. */
    for (size_t n = 0; n < la; n += (n < 256 ? 1 : 97)) {
        dg_guard *g = (dg_guard *)1;
        ck_assert_int_ne(dg_guard_load_memory(a, n, student, &g), DG_OK);
        ck_assert_ptr_null(g);
    }
    for (size_t k = 0; k < la * 8; k += 131) {
        a[k / 8] ^= (uint8_t)(1u << (k % 8));
        dg_guard *g;
        ck_assert_int_eq(dg_guard_load_memory(a, la, student, &g), DG_E_FORMAT);
        a[k / 8] ^= (uint8_t)(1u << (k % 8));
    }
    free(a);
    free(b);
    unlink(path);
}
END_TEST

/* A guard embeds member models, so a hostile tail is refused as a model
 * file is (doc/limits.md): class 0's first member replaced by a max pool
 * of kernel 4001 padded 4000 past its 1x1 input, with both checksums
 * valid, is refused at load in well under a second. */
START_TEST(guard_members_are_held_to_the_work_limits)
{
    dg_model *pool;
    ck_assert_int_eq(dg_model_alloc(1, (dg_shape){1, 1, 1}, &pool), DG_OK);
    pool->layers[0] = (dg_layer){.kind = DG_LAYER_MAXPOOL,
                                 .input = {-1, -1},
                                 .kernel = 4001,
                                 .stride = 1,
                                 .padding = 4000};
    dg_writer tail;
    dg_writer_init(&tail);
    ck_assert_int_eq(dg_model_write(pool, &tail), DG_OK);
    dg_model_destroy(pool);
    uint8_t *a;
    size_t la;
    ck_assert_int_eq(guard_bytes(guard, &a, &la), DG_OK);
    uint32_t settings;
    memcpy(&settings, a + 48, 4);
    size_t member = 52 + settings, old_len;
    uint64_t len;
    memcpy(&len, a + member + 32, 8);
    old_len = (size_t)len;
    size_t after = member + 40 + old_len, size = la - old_len + tail.len;
    uint8_t *b = malloc(size);
    memcpy(b, a, member + 32);
    len = tail.len;
    memcpy(b + member + 32, &len, 8);
    memcpy(b + member + 40, tail.data, tail.len);
    memcpy(b + member + 40 + tail.len, a + after, la - after);
    uint32_t crc = dg_crc32(b, size - 4);
    memcpy(b + size - 4, &crc, 4);
    dg_guard *g = (dg_guard *)1;
    ck_assert_int_eq(dg_guard_load_memory(b, size, student, &g), DG_E_SHAPE);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(dg_last_error_detail(),
                         "layer 0 (maxpool): padding 4000 exceeds the input "
                         "size 1"),
                  "detail \"%s\"", dg_last_error_detail());
    free(b);
    free(a);
    dg_writer_release(&tail);
}
END_TEST

/* Stops a build after `stop_after` differentiator reports (0: never) and
 * records the first report's count (the differentiators reused) and the
 * last one's. */
typedef struct build_watch {
    uint32_t reports, stop_after;
    int64_t first_done, last_done;
} build_watch;

static int watch_build(void *user, const char *stage, uint64_t done,
                       uint64_t total, double metric)
{
    (void)total;
    (void)metric;
    build_watch *w = user;
    if (strcmp(stage, "differentiators") != 0) return 0;
    if (w->reports++ == 0) w->first_done = (int64_t)done;
    w->last_done = (int64_t)done;
    return w->stop_after && w->reports >= w->stop_after;
}

/* The small pruned guard the work-directory and shard tests build. */
static dg_guard_opts small_opts(const char *work_dir, uint32_t epochs)
{
    dg_guard_opts o;
    dg_guard_opts_init(&o, sizeof o);
    o.member_kind = DG_MEMBERS_PRUNED;
    o.variants = 3;
    o.members = 2;
    o.epochs = epochs;
    o.batch_size = 16;
    o.harden = 0;
    o.work_dir = work_dir;
    return o;
}

static dg_status build_small(const char *work_dir, build_watch *watch,
                             dg_guard **out)
{
    dg_guard_opts o = small_opts(work_dir, 1);
    o.progress = watch ? watch_build : NULL;
    o.progress_user = watch;
    return dg_guard_build(student, train_set, held_set, &o, out);
}

START_TEST(work_dir_resumes_until_removed)
{
    char base[] = "/tmp/dg_work_XXXXXX", work[64], foreign[96];
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(work, sizeof work, "%s/w", base);
    snprintf(foreign, sizeof foreign, "%s/notes.txt", work);
    dg_guard *fresh, *resumed = NULL, *again;
    ck_assert_int_eq(build_small(NULL, NULL, &fresh), DG_OK);
    /* Stopped after its third report (the first report of a build with
     * a work directory counts the reused: none).  Members train at once,
     * so a report may count more than one, and one that finished as the
     * build stopped is kept too. */
    build_watch w = {.stop_after = 3};
    ck_assert_int_eq(build_small(work, &w, &resumed), DG_E_CANCELLED);
    ck_assert_int_eq(w.first_done, 0);
    int64_t kept = w.last_done;
    ck_assert_int_ge(kept, 2);
    FILE *f = fopen(foreign, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    w = (build_watch){0};
    dg_status s = build_small(work, &w, &resumed);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    ck_assert_int_ge(w.first_done, kept);
    ck_assert_int_lt(w.first_done, 12); /* 4 classes x 3 variants */
    /* Resuming gives the guard an uninterrupted build gives. */
    uint8_t *a, *b;
    size_t la, lb;
    ck_assert_int_eq(guard_bytes(fresh, &a, &la), DG_OK);
    ck_assert_int_eq(guard_bytes(resumed, &b, &lb), DG_OK);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(a, b, la), 0);
    free(a);
    free(b);
    /* The build keeps its work: until the caller has stored the guard
     * the folder holds the only copy, and the same build again reuses
     * every differentiator. */
    char fingerprint[96], member[96];
    snprintf(fingerprint, sizeof fingerprint, "%s/settings.fingerprint", work);
    snprintf(member, sizeof member, "%s/class0-variant0.dgm", work);
    ck_assert_int_eq(access(fingerprint, F_OK), 0);
    ck_assert_int_eq(access(member, F_OK), 0);
    w = (build_watch){0};
    ck_assert_int_eq(build_small(work, &w, &again), DG_OK);
    dg_guard_info info = {.struct_size = sizeof info};
    ck_assert_int_eq(dg_guard_get_info(again, &info), DG_OK);
    ck_assert_int_eq(w.first_done, 3 * info.classes); /* V = 3 */
    /* Removal takes the library's files; the foreign one keeps the
     * folder. */
    ck_assert_int_eq(dg_guard_work_dir_remove(work), DG_OK);
    ck_assert_int_ne(access(fingerprint, F_OK), 0);
    ck_assert_int_ne(access(member, F_OK), 0);
    ck_assert_int_eq(access(foreign, F_OK), 0);
    /* Without it the folder goes too; a missing folder is removed. */
    unlink(foreign);
    ck_assert_int_eq(dg_guard_work_dir_remove(work), DG_OK);
    ck_assert_int_ne(access(work, F_OK), 0);
    ck_assert_int_eq(dg_guard_work_dir_remove(work), DG_OK);
    ck_assert_int_eq(dg_guard_work_dir_remove(NULL), DG_E_INVALID_ARG);
    dg_guard_free(fresh);
    dg_guard_free(resumed);
    dg_guard_free(again);
    rmdir(base);
}
END_TEST

static dg_status build_shard(const char *work_dir, uint32_t epochs,
                             uint32_t index, uint32_t count)
{
    dg_guard_opts o = small_opts(work_dir, epochs);
    return dg_guard_build_shard(student, train_set, held_set, &o, index,
                                count);
}

static dg_status merge_small(const char *work_dir, dg_guard **out)
{
    dg_guard_opts o = small_opts(work_dir, 1);
    return dg_guard_merge(student, train_set, held_set, &o, out);
}

/* The merged guard's bytes against those of the unsharded build. */
static void assert_same_guard(const dg_guard *a, const dg_guard *b)
{
    uint8_t *x, *y;
    size_t lx, ly;
    ck_assert_int_eq(guard_bytes(a, &x, &lx), DG_OK);
    ck_assert_int_eq(guard_bytes(b, &y, &ly), DG_OK);
    ck_assert_uint_eq(lx, ly);
    ck_assert_int_eq(memcmp(x, y, lx), 0);
    free(x);
    free(y);
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

START_TEST(shards_merge_into_the_unsharded_guard)
{
    char base[] = "/tmp/dg_shard_XXXXXX", work[64], path[4][128];
    ck_assert_ptr_nonnull(mkdtemp(base));
    dg_guard *whole, *merged = (dg_guard *)1;
    ck_assert_int_eq(build_small(NULL, NULL, &whole), DG_OK);
    for (uint32_t n = 1; n <= 3; n++) {
        snprintf(work, sizeof work, "%s/n%u", base, n);
        for (uint32_t i = 0; i < n; i++) {
            dg_status s = build_shard(work, 1, i, n);
            ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
            /* Before the last shard the merge names what is missing. */
            if (i + 1 < n) {
                ck_assert_int_eq(merge_small(work, &merged), DG_E_STATE);
                ck_assert_ptr_null(merged);
                ck_assert_ptr_nonnull(
                    strstr(dg_last_error_detail(), "class 3 variant 2"));
            }
        }
        dg_status s = merge_small(work, &merged);
        ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
        assert_same_guard(whole, merged);
        dg_guard_free(merged);
        if (n < 3) ck_assert_int_eq(dg_guard_work_dir_remove(work), DG_OK);
    }
    /* A shard killed after some parts: its part deleted, the merge
     * refuses, the shard rerun makes just that part and the merge gives
     * the same guard. */
    snprintf(path[0], sizeof path[0], "%s/class2-variant1.dgm", work);
    ck_assert_int_eq(unlink(path[0]), 0);
    ck_assert_int_eq(merge_small(work, &merged), DG_E_STATE);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(),
                                 "lacks 1 of the 12 differentiators "
                                 "(class 2 variant 1)"));
    ck_assert_int_eq(build_shard(work, 1, 7 % 3, 3), DG_OK); /* job 7 */
    ck_assert_int_eq(merge_small(work, &merged), DG_OK);
    assert_same_guard(whole, merged);
    dg_guard_free(merged);
    dg_guard_free(whole);
    ck_assert_int_eq(dg_guard_work_dir_remove(work), DG_OK);
    rmdir(base);
}
END_TEST

/* Members train one to a thread, as many at once as OpenMP has threads:
 * the guard is the same file on one core or on several. */
START_TEST(guards_do_not_depend_on_the_cores)
{
    for (int robust = 0; robust < 2; robust++) {
        dg_guard_opts o = small_opts(NULL, 1);
        if (robust) {
            o.member_kind = DG_MEMBERS_ROBUST;
            o.robust_epochs = 2;
        }
        dg_guard *one, *three;
        omp_set_num_threads(1);
        dg_status s = dg_guard_build(student, train_set, held_set, &o, &one);
        ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
        omp_set_num_threads(3);
        s = dg_guard_build(student, train_set, held_set, &o, &three);
        ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
        assert_same_guard(one, three);
        dg_guard_free(one);
        dg_guard_free(three);
    }
}
END_TEST

/* Copies file `from` over `to`. */
static void copy_file(const char *from, const char *to)
{
    uint8_t buf[1 << 16];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

/* The share of the clean, correctly classified inputs of ds that g
 * rejects. */
static double fresh_false_rejection(dg_guard *g, const dg_dataset *ds)
{
    enum { BATCH = 64 };
    dg_validator *v;
    ck_assert_int_eq(dg_validator_create(g, NULL, &v), DG_OK);
    uint32_t clean = 0, rejected = 0;
    for (uint32_t first = 0; first < ds->count; first += BATCH) {
        uint32_t n = ds->count - first < BATCH ? ds->count - first : BATCH;
        uint32_t idx[BATCH];
        int32_t labels[BATCH];
        float x[BATCH * 64];
        dg_verdict out[BATCH];
        for (uint32_t k = 0; k < n; k++) {
            idx[k] = first + k;
            out[k].struct_size = sizeof out[k];
        }
        ck_assert_int_eq(dg_dataset_batch(ds, student, idx, n, x, n * 64, labels), DG_OK);
        ck_assert_int_eq(dg_validate(v, x, n * 64, n, out), DG_OK);
        for (uint32_t k = 0; k < n; k++) {
            if (out[k].label != labels[k]) continue;
            clean++;
            rejected += !out[k].accepted;
        }
    }
    dg_validator_free(v);
    return (double)rejected / clean;
}

/* Calibrated on n held-out images per class, a guard's false rejection on
 * fresh clean inputs must average the target over builds.  The members are
 * made once (the work directory keeps them); each build draws a new
 * held-out set and only ranks and calibrates.  The tolerance is three
 * standard errors of the measured mean: a threshold at the j-th of n
 * order statistics rejects a Beta(j, n + 1 - j) share of fresh inputs,
 * variance about t (1 - t) / (n + 2) per class, averaged over C classes
 * and R builds; the one fresh set of K per class adds t (1 - t) / (C K).
 * At t = 3%, C = 4, R = 40 and K = 2000: 0.92 points for n = 30, 0.71 for
 * n = 90.  The former rule (a line from 0 to the smallest score below
 * rank 1) reached 1.17% at n = 30 and fails; so does a rule aiming at 1.5
 * times the target (4.7%). */
START_TEST(calibration_reaches_the_target_on_fresh_inputs)
{
    enum { BUILDS = 40, FRESH = 2000, CLASSES = 4 };
    static const uint32_t per_class[] = {30, 90};
    char base[] = "/tmp/dg_cal_XXXXXX", work[64];
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(work, sizeof work, "%s/w", base);
    dg_guard_opts o = small_opts(work, 1);
    o.target_frr = 0.03f;
    dg_dataset *fresh = make_bars(FRESH, 77);
    ck_assert_ptr_nonnull(fresh);
    for (size_t k = 0; k < sizeof per_class / sizeof *per_class; k++) {
        uint32_t n = per_class[k];
        double sum = 0;
        for (uint32_t b = 0; b < BUILDS; b++) {
            dg_dataset *held = make_bars(n, 1000 + 100 * k + b);
            ck_assert_ptr_nonnull(held);
            dg_guard *g;
            dg_status s = dg_guard_build(student, train_set, held, &o, &g);
            ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
            sum += fresh_false_rejection(g, fresh);
            dg_guard_free(g);
            dg_dataset_free(held);
        }
        double t = o.target_frr, mean = sum / BUILDS;
        double var = t * (1 - t) / (CLASSES * (n + 2.0) * BUILDS) +
                     t * (1 - t) / ((double)CLASSES * FRESH);
        ck_assert_msg(fabs(mean - t) <= 3 * sqrt(var),
                      "%u held-out images per class: %.2f%% on fresh inputs "
                      "against a %.0f%% target (+-%.2f)",
                      n, 100 * mean, 100 * t, 300 * sqrt(var));
    }
    dg_dataset_free(fresh);
    ck_assert_int_eq(dg_guard_work_dir_remove(work), DG_OK);
    ck_assert_int_eq(rmdir(base), 0);
}
END_TEST

START_TEST(work_dir_parts_belong_to_their_job_and_build)
{
    char base[] = "/tmp/dg_parts_XXXXXX", work[64], other[64], a[128],
         b[128], keep[128];
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(work, sizeof work, "%s/w", base);
    snprintf(other, sizeof other, "%s/other", base);
    ck_assert_int_eq(build_shard(work, 1, 0, 1), DG_OK);
    snprintf(a, sizeof a, "%s/class1-variant0.dgm", work);
    snprintf(b, sizeof b, "%s/class1-variant2.dgm", work);
    snprintf(keep, sizeof keep, "%s/keep.dgm", base);
    copy_file(b, keep);
    /* A part copied over another's name is refused, by name. */
    copy_file(a, b);
    dg_guard *g = (dg_guard *)1;
    ck_assert_int_eq(merge_small(work, &g), DG_E_MISMATCH);
    ck_assert_ptr_null(g);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "class1-variant2"));
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(),
                                 "holds class 1 variant 0, not class 1 "
                                 "variant 2"));
    /* So is a resumed shard that finds it. */
    ck_assert_int_eq(build_shard(work, 1, 0, 1), DG_E_MISMATCH);
    /* A part of a build with other settings, under its own name. */
    ck_assert_int_eq(build_shard(other, 2, 5 % 4, 4), DG_OK); /* job 5 */
    snprintf(a, sizeof a, "%s/class1-variant2.dgm", other);
    copy_file(a, b);
    ck_assert_int_eq(merge_small(work, &g), DG_E_MISMATCH);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(),
                                 "class 1 variant 2 was made with other "
                                 "settings"));
    /* A plain model file is not a part. */
    ck_assert_int_eq(dg_model_save_file(student, b), DG_OK);
    ck_assert_int_eq(merge_small(work, &g), DG_E_MISMATCH);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "not a work-directory "
                                 "part"));
    copy_file(keep, b);
    ck_assert_int_eq(merge_small(work, &g), DG_OK);
    dg_guard_free(g);
    /* Temporaries a killed build left two minutes ago: a shard removes
     * those of its own parts only (another shard may be writing its own
     * now), a merge or whole build every one; files of others stay, and
     * so does a temporary of its own part that changed a moment ago or
     * that a live save holds locked: the same shard may run twice. */
    static const char *const names[] = {
        "class0-variant1.dgm.tmpAb12Cd", /* job 1: shard 1 of 2 */
        "class0-variant0.dgm.tmpXy34Zw", /* job 0: shard 0 */
        "settings.fingerprint.tmpQr56St",
        "notes.txt.tmpAAAAAA",
        "class0-variant1.dgm.tmpYoung1", /* job 1, written just now */
        "class0-variant1.dgm.tmpLocked", /* job 1, held by a live save */
    };
    enum { OLD = 4, N_TMP = 6 };
    char tmp[N_TMP][160];
    struct timeval past[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
    for (int k = 0; k < N_TMP; k++) {
        snprintf(tmp[k], sizeof tmp[k], "%s/%s", work, names[k]);
        touch(tmp[k]);
        if (k < OLD || k == 5) ck_assert_int_eq(utimes(tmp[k], past), 0);
    }
    int held = open(tmp[5], O_RDWR);
    ck_assert_int_eq(flock(held, LOCK_EX | LOCK_NB), 0);
    ck_assert_int_eq(build_shard(work, 1, 1, 2), DG_OK);
    ck_assert(!exists(tmp[0]) && exists(tmp[1]) && exists(tmp[2]));
    ck_assert(exists(tmp[4]) && exists(tmp[5]));
    close(held);
    ck_assert_int_eq(merge_small(work, &g), DG_OK);
    dg_guard_free(g);
    ck_assert(!exists(tmp[1]) && !exists(tmp[2]) && exists(tmp[3]));
    /* Unlocked and two minutes old now: the next clean takes it. */
    ck_assert(!exists(tmp[5]) && exists(tmp[4]));
    unlink(tmp[4]);
    /* A merge needs a work directory made by a build. */
    ck_assert_int_eq(merge_small(NULL, &g), DG_E_INVALID_ARG);
    snprintf(a, sizeof a, "%s/none", base);
    ck_assert_int_eq(merge_small(a, &g), DG_E_STATE);
    ck_assert_int_eq(build_shard(work, 1, 2, 2), DG_E_INVALID_ARG);
    unlink(tmp[3]);
    unlink(keep);
    ck_assert_int_eq(dg_guard_work_dir_remove(work), DG_OK);
    ck_assert_int_eq(dg_guard_work_dir_remove(other), DG_OK);
    ck_assert_int_eq(rmdir(base), 0);
}
END_TEST

/* Parses spec under the given environment (NULL-terminated name, value
 * pairs), restoring it afterwards. */
static dg_status parse_with_env(const char *spec, const char *const *env,
                                uint32_t *index, uint32_t *count)
{
    for (int k = 0; env[k]; k += 2) setenv(env[k], env[k + 1], 1);
    dg_status s = dg_shard_parse(spec, index, count);
    for (int k = 0; env[k]; k += 2) unsetenv(env[k]);
    return s;
}

START_TEST(shard_specs_and_cluster_environments)
{
    static const char *const none[] = {NULL};
    static const char *const slurm[] = {"SLURM_ARRAY_TASK_ID", "5",
                                        "SLURM_ARRAY_TASK_MIN", "4",
                                        "SLURM_ARRAY_TASK_COUNT", "3", NULL};
    static const char *const mpi[] = {"OMPI_COMM_WORLD_RANK", "1",
                                      "OMPI_COMM_WORLD_SIZE", "2", NULL};
    static const char *const pmi[] = {"PMI_RANK", "0", "PMI_SIZE", "4",
                                      NULL};
    static const char *const k8s[] = {"JOB_COMPLETION_INDEX", "2", NULL};
    static const char *const bad[] = {"OMPI_COMM_WORLD_RANK", "x",
                                      "OMPI_COMM_WORLD_SIZE", "2", NULL};
    uint32_t i = 99, n = 99;
    ck_assert_int_eq(parse_with_env("2/3", none, &i, &n), DG_OK);
    ck_assert(i == 2 && n == 3);
    ck_assert_int_eq(parse_with_env("auto", slurm, &i, &n), DG_OK);
    ck_assert(i == 1 && n == 3);
    ck_assert_int_eq(parse_with_env("auto", mpi, &i, &n), DG_OK);
    ck_assert(i == 1 && n == 2);
    ck_assert_int_eq(parse_with_env("auto/4", pmi, &i, &n), DG_OK);
    ck_assert(i == 0 && n == 4);
    ck_assert_int_eq(parse_with_env("auto/3", k8s, &i, &n), DG_OK);
    ck_assert(i == 2 && n == 3);
    /* Kubernetes gives no count; a count that disagrees; no engine. */
    ck_assert_int_eq(parse_with_env("auto", k8s, &i, &n), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "auto/N"));
    ck_assert_int_eq(parse_with_env("auto/3", mpi, &i, &n), DG_E_INVALID_ARG);
    ck_assert_int_eq(parse_with_env("auto/2", k8s + 2, &i, &n),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(parse_with_env("auto", bad, &i, &n), DG_E_INVALID_ARG);
    static const char *const wrong[] = {"3/3", "1/0", "1", "/2", "1/",
                                        "-1/2", "a/2", "1/2x", "1/99999999",
                                        "", "auto/", NULL};
    for (int k = 0; wrong[k]; k++)
        ck_assert_msg(parse_with_env(wrong[k], none, &i, &n) ==
                          DG_E_INVALID_ARG,
                      "%s", wrong[k]);
    ck_assert_int_eq(dg_shard_parse(NULL, &i, &n), DG_E_INVALID_ARG);
}
END_TEST

typedef struct worker {
    dg_verdict *out;
} worker;

static void *validate_in_thread(void *arg)
{
    worker *w = arg;
    dg_validator *v;
    if (dg_validator_create(guard, NULL, &v) != DG_OK) return NULL;
    for (int round = 0; round < 3; round++) validate_all(v, held_set, w->out, 0);
    dg_validator_free(v);
    return NULL;
}

/* One guard, T threads with their own validators: exactly the
 * single-thread verdicts. */
START_TEST(threads_share_one_guard)
{
    dg_validator *v;
    ck_assert_int_eq(dg_validator_create(guard, NULL, &v), DG_OK);
    dg_verdict *want = calloc(held_set->count, sizeof *want);
    validate_all(v, held_set, want, 0);
    dg_validator_free(v);
    enum { T = 4 };
    pthread_t th[T];
    worker w[T];
    for (int t = 0; t < T; t++) {
        w[t].out = calloc(held_set->count, sizeof(dg_verdict));
        pthread_create(&th[t], NULL, validate_in_thread, &w[t]);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(memcmp(w[t].out, want, held_set->count * sizeof *want), 0);
        free(w[t].out);
    }
    free(want);
}
END_TEST

/* The LIBDIFFGUARD_1.0 names answer as the dg_guard_* ones, and the
 * capacities are the header's arrays. */
/* Robust members: whole models of the Student's structure from fresh
 * weights, the same V shared by every class, stored and reloaded
 * exactly, scored by the validator as the whole model scores, and far
 * harder to move with PGD than the Student they guard. */
START_TEST(robust_members_are_whole_shared_and_robust)
{
    dg_guard_opts o;
    dg_guard_opts_init(&o, sizeof o);
    o.member_kind = DG_MEMBERS_ROBUST;
    o.member_width = 1.0f;
    o.robust_epsilon = 0.2f;
    o.robust_epochs = 15;
    o.variants = 3;
    o.members = 2;
    o.batch_size = 16;
    o.learning_rate = 5e-3f;
    o.target_frr = 0.1f;
    dg_guard *g;
    dg_status st = dg_guard_build(student, train_set, held_set, &o, &g);
    ck_assert_msg(st == DG_OK, "%s", dg_last_error_detail());
    dg_guard_info info = {.struct_size = sizeof info};
    ck_assert_int_eq(dg_guard_get_info(g, &info), DG_OK);
    for (uint32_t c = 0; c < info.classes; c++) {
        uint64_t seeds = 0;
        for (uint32_t r = 0; r < info.variants; r++) {
            const dg_member *m = &g->per_class[c].members[r];
            ck_assert_int_eq(m->first, 0);
            ck_assert_float_eq(m->ratio, 0.0f);
            ck_assert_uint_eq(m->tail->n_layers, student->n_layers);
            /* Fresh weights, not the Student's. */
            ck_assert(memcmp(m->tail->layers[0].param[0], student->layers[0].param[0],
                             student->layers[0].param_len[0] * sizeof(float)) != 0);
            seeds += m->seed;
            /* Every class holds the same models (in its own rank order). */
            const dg_member *twin = NULL;
            for (uint32_t q = 0; q < info.variants; q++)
                if (g->per_class[0].members[q].seed == m->seed)
                    twin = &g->per_class[0].members[q];
            ck_assert_ptr_nonnull(twin);
            ck_assert_int_eq(memcmp(twin->tail->layers[0].param[0],
                                    m->tail->layers[0].param[0],
                                    m->tail->layers[0].param_len[0] * sizeof(float)), 0);
        }
        ck_assert_uint_eq(seeds, 3 * o.seed * 1000003ull + 0 + 1 + 2);
    }
    /* Stored and reloaded to the byte, with the same verdicts. */
    uint8_t *a, *b;
    size_t la, lb;
    ck_assert_int_eq(guard_bytes(g, &a, &la), DG_OK);
    dg_guard *loaded;
    st = dg_guard_load_memory(a, la, student, &loaded);
    ck_assert_msg(st == DG_OK, "%s", dg_last_error_detail());
    ck_assert_int_eq(guard_bytes(loaded, &b, &lb), DG_OK);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(a, b, la), 0);
    dg_validator *v;
    ck_assert_int_eq(dg_validator_create(loaded, NULL, &v), DG_OK);
    /* The file holds each member once per class; loading makes them one
     * model again, as built. */
    for (uint32_t c = 1; c < info.classes; c++)
        for (uint32_t r = 0; r < info.variants; r++) {
            const dg_member *m = &loaded->per_class[c].members[r];
            uint32_t q = 0;
            while (loaded->per_class[0].members[q].seed != m->seed) q++;
            ck_assert_ptr_eq(m->tail, loaded->per_class[0].members[q].tail);
        }
    /* One batch of every class: each sample scored by its own class's
     * ranks of the shared members. */
    enum { N = 12 };
    uint32_t idx[N];
    int32_t labels[N];
    for (uint32_t i = 0; i < N; i++) {
        idx[i] = i * 7;
        labels[i] = (int32_t)(i % info.classes);
    }
    float x[N * 64];
    ck_assert_int_eq(dg_dataset_batch(held_set, student, idx, N, x, N * 64, NULL), DG_OK);
    assert_member_scores(loaded, v, x, N, labels, o.members);
    dg_model *whole;
    ck_assert_int_eq(dg_guard_member_model(loaded, 0, 0, &whole), DG_OK);
    ck_assert_uint_eq(whole->n_layers, student->n_layers);
    /* The mechanism: PGD that moves the Student barely moves a member. */
    double member = pgd_accuracy(whole, held_set, 0.2f);
    double plain = pgd_accuracy(student, held_set, 0.2f);
    ck_assert_msg(member > plain + 0.25, "PGD accuracy %.3f member, %.3f Student",
                  member, plain);
    dg_model_free(whole);
    free(a);
    free(b);
    dg_validator_free(v);
    dg_guard_free(loaded);
    dg_guard_free(g);
    /* Unknown kinds and widths are refused. */
    o.member_kind = 3;
    ck_assert_int_eq(dg_guard_build(student, train_set, held_set, &o, &g), DG_E_INVALID_ARG);
    o.member_kind = DG_MEMBERS_ROBUST;
    o.member_width = 0;
    ck_assert_int_eq(dg_guard_build(student, train_set, held_set, &o, &g), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "robust members"));
}
END_TEST

START_TEST(old_names_and_capacities)
{
    dg_guard_info a = {.struct_size = sizeof a};
    dg_ensemble_info b = {.struct_size = sizeof b};
    ck_assert_int_eq(dg_guard_get_info(guard, &a), DG_OK);
    ck_assert_int_eq(dg_ensemble_get_info(guard, &b), DG_OK);
    ck_assert_mem_eq(&a, &b, sizeof a);
    dg_ensemble_opts old;
    dg_guard_opts now;
    ck_assert_int_eq(dg_ensemble_opts_init(&old, sizeof old), DG_OK);
    ck_assert_int_eq(dg_guard_opts_init(&now, sizeof now), DG_OK);
    ck_assert_mem_eq(&old, &now, sizeof now);
    dg_guard *g = dg_ensemble_retain(guard);
    ck_assert_ptr_eq(g, guard);
    dg_guard_free(g);
    ck_assert_uint_eq(dg_capacity(DG_CAP_MEMBERS), 16);
    ck_assert_uint_eq(dg_capacity(DG_CAP_PRUNE_LAYERS),
                      sizeof now.prune_layers / sizeof now.prune_layers[0]);
    ck_assert_uint_eq(dg_capacity(DG_CAP_RATIOS),
                      sizeof now.ratios / sizeof now.ratios[0]);
    ck_assert_uint_eq(dg_capacity(0), 0);
    ck_assert_uint_eq(dg_capacity(99), 0);
    /* A dg_calibration from before frr_spread is served, and the field
     * behind it left alone. */
    dg_calibration cal;
    memset(&cal, 0xab, sizeof cal);
    cal.struct_size = offsetof(dg_calibration, frr_spread);
    ck_assert_int_eq(dg_guard_calibration(guard, 0, 1, &cal), DG_OK);
    ck_assert_uint_gt(cal.samples, 0);
    uint32_t untouched;
    memcpy(&untouched, &cal.frr_spread, sizeof untouched);
    ck_assert_uint_eq(untouched, 0xababababu);
    cal.struct_size = offsetof(dg_calibration, pooled);
    ck_assert_int_eq(dg_guard_calibration(guard, 0, 1, &cal), DG_E_ABI);
}
END_TEST

/* The options a build chooses from its data, against hand-worked
 * numbers: N = (1 - t) / (t (0.7 / 3)^2) = 716.3 held-out images at
 * the default t = 2.5%, and 160000 image presentations for robust
 * members, each of the 4 replays of a batch counting once. */
START_TEST(options_chosen_from_the_data)
{
    dg_dataset *scenario = make_bars(625, 5); /* 2500 images */
    ck_assert_ptr_nonnull(scenario);
    dg_guard_opts o;
    dg_guard_opts_init(&o, sizeof o);
    ck_assert_float_eq(o.holdout_fraction, 0);
    ck_assert_uint_eq(o.robust_epochs, 0);
    /* 716.3 / 2500 = 0.287, up to 0.29; 160000 / (1775 x 4) = 22.5. */
    ck_assert_int_eq(dg_guard_opts_from_data(&o, scenario, NULL), DG_OK);
    ck_assert_float_eq_tol(o.holdout_fraction, 0.29f, 1e-6f);
    ck_assert_uint_eq(o.robust_epochs, 23);
    /* 192 images: the share stops at 0.5, the epochs at 120. */
    dg_guard_opts_init(&o, sizeof o);
    ck_assert_int_eq(dg_guard_opts_from_data(&o, train_set, NULL), DG_OK);
    ck_assert_float_eq_tol(o.holdout_fraction, 0.5f, 1e-6f);
    ck_assert_uint_eq(o.robust_epochs, 120);
    /* A held-out set leaves the share alone and trains on all of train;
     * a 10% target needs 165 images: 0.2 of 2500 is enough. */
    dg_guard_opts_init(&o, sizeof o);
    o.target_frr = 0.1f;
    ck_assert_int_eq(dg_guard_opts_from_data(&o, scenario, held_set), DG_OK);
    ck_assert_float_eq(o.holdout_fraction, 0);
    ck_assert_uint_eq(o.robust_epochs, 16); /* 160000 / (2500 x 4) */
    o.holdout_fraction = 0;
    ck_assert_int_eq(dg_guard_opts_from_data(&o, scenario, NULL), DG_OK);
    ck_assert_float_eq_tol(o.holdout_fraction, 0.2f, 1e-6f);
    /* Options set stay. */
    dg_guard_opts_init(&o, sizeof o);
    o.holdout_fraction = 0.3f;
    o.robust_epochs = 7;
    ck_assert_int_eq(dg_guard_opts_from_data(&o, scenario, NULL), DG_OK);
    ck_assert_float_eq(o.holdout_fraction, 0.3f);
    ck_assert_uint_eq(o.robust_epochs, 7);
    /* A caller built before robust_steps: its struct is filled no
     * further than it reaches. */
    unsigned char old[sizeof o];
    memset(old, 0xab, sizeof old);
    size_t before = offsetof(dg_guard_opts, robust_steps);
    ck_assert_int_eq(dg_guard_opts_init((dg_guard_opts *)old, before), DG_OK);
    ck_assert_int_eq(dg_guard_opts_from_data((dg_guard_opts *)old, scenario, NULL), DG_OK);
    ck_assert_uint_eq(((dg_guard_opts *)old)->robust_epochs, 23);
    for (size_t i = before; i < sizeof old; i++) ck_assert_uint_eq(old[i], 0xab);
    ck_assert_int_eq(dg_guard_opts_from_data(NULL, scenario, NULL), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_guard_opts_from_data(&o, NULL, NULL), DG_E_INVALID_ARG);
    dg_dataset_free(scenario);
}
END_TEST

START_TEST(option_checks)
{
    dg_guard_opts o;
    dg_guard_opts_init(&o, sizeof o);
    dg_guard *g = (dg_guard *)1;
    o.members = 7; /* more than the 6 variants */
    ck_assert_int_eq(dg_guard_build(student, train_set, NULL, &o, &g), DG_E_INVALID_ARG);
    ck_assert_ptr_null(g);
    dg_guard_opts_init(&o, sizeof o);
    o.prune_layers[0] = 1; /* a relu, not a conv or linear */
    ck_assert_int_eq(dg_guard_build(student, train_set, NULL, &o, &g), DG_E_INVALID_ARG);
    dg_guard_opts_init(&o, sizeof o);
    o.harden_epsilon = 0;
    ck_assert_int_eq(dg_guard_build(student, train_set, NULL, &o, &g), DG_E_INVALID_ARG);
    o.harden_epsilon = 0.1f;
    o.harden_budget = 0.5f;
    ck_assert_int_eq(dg_guard_build(student, train_set, NULL, &o, &g), DG_E_INVALID_ARG);
    o.harden_budget = 0.01f;
    o.harden_iterations = 0;
    ck_assert_int_eq(dg_guard_build(student, train_set, NULL, &o, &g), DG_E_INVALID_ARG);
    o.struct_size = 4;
    ck_assert_int_eq(dg_guard_build(student, train_set, NULL, &o, &g), DG_E_ABI);
    /* A caller built before the hardening fields were appended: its init
     * fills only what it has, and a build reads the rest as defaults (so
     * a bad member count is reported, not the size). */
    size_t v1 = offsetof(dg_guard_opts, harden);
    memset(&o, 0xab, sizeof o);
    ck_assert_int_eq(dg_guard_opts_init(&o, v1), DG_OK);
    ck_assert_uint_eq(o.struct_size, v1);
    ck_assert_uint_eq(o.variants, 6);
    ck_assert_int_eq(o.harden, (int32_t)0xabababab);
    o.members = 7;
    ck_assert_int_eq(dg_guard_build(student, train_set, NULL, &o, &g), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_guard_opts_init(&o, v1 - 4), DG_E_ABI);
    /* Hardening aims every sample at another class: one class is an
     * error, not an endless search. */
    int32_t first_class = 0;
    dg_dataset *single;
    ck_assert_int_eq(dg_dataset_select(train_set, &first_class, 1, 0, &single), DG_OK);
    dg_guard_opts_init(&o, sizeof o);
    o.member_kind = DG_MEMBERS_PRUNED;
    o.variants = o.members = 1;
    ck_assert_int_eq(dg_guard_build(student, single, held_set, &o, &g), DG_E_INVALID_ARG);
    ck_assert_str_eq(dg_last_error_detail(),
                     "hardening needs training samples of two classes or more");
    dg_dataset_free(single);
    dg_validator_opts vo;
    dg_validator_opts_init(&vo, sizeof vo);
    vo.members = 5;
    dg_validator *v = (dg_validator *)1;
    ck_assert_int_eq(dg_validator_create(guard, &vo, &v), DG_E_INVALID_ARG);
    ck_assert_ptr_null(v);
    dg_guard_free(NULL);
    dg_validator_free(NULL);
    dg_pruner_free(NULL);
}
END_TEST

/* The batch bounds every array the caller passes: a wrong batch is a
 * shape error before any verdict is read (here the one verdict is
 * followed by zeros, which a read past it would take for a struct_size
 * too small); NaN and infinite inputs are refused, naming the sample;
 * a refused call leaves the verdicts as they were. */
START_TEST(validate_checks_arguments_before_reading_them)
{
    dg_validator_opts vo;
    dg_validator_opts_init(&vo, sizeof vo);
    vo.max_batch = 4;
    dg_validator *v;
    ck_assert_int_eq(dg_validator_create(guard, &vo, &v), DG_OK);
    float x[64];
    uint32_t idx = 0;
    int32_t labels[8] = {0};
    ck_assert_int_eq(dg_dataset_batch(held_set, student, &idx, 1, x, 64, labels), DG_OK);
    dg_verdict out[8];
    memset(out, 0, sizeof out);
    out[0].struct_size = sizeof out[0];
    ck_assert_int_eq(dg_validate(v, x, 64, 2, out), DG_E_SHAPE);
    ck_assert_int_eq(dg_validate(v, x, 64, 5, out), DG_E_SHAPE);
    ck_assert_int_eq(dg_validate_labeled(v, x, 64, 2, labels, out), DG_E_SHAPE);
    ck_assert_int_eq(dg_validate_labeled(v, x, 64, 5, labels, out), DG_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "batch of 1 to 4"));

    float bad[64];
    const float values[] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < 3; k++) {
        memcpy(bad, x, sizeof bad);
        bad[5] = values[k];
        ck_assert_int_eq(dg_validate(v, bad, 64, 1, out), DG_E_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "sample 0: value 5 is"));
        ck_assert_int_eq(dg_validate_labeled(v, bad, 64, 1, labels, out),
                         DG_E_INVALID_ARG);
    }
    int32_t pixels_label;
    float unit[64];
    for (int k = 0; k < 64; k++) unit[k] = 0.5f;
    unit[63] = NAN;
    ck_assert_int_eq(dg_eval_classify(student, unit, 64, 1, &pixels_label),
                     DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "image 0: value 63 is nan"));

    memset(out, 0x5a, sizeof out[0]);
    out[0].struct_size = sizeof out[0];
    dg_verdict before = out[0];
    int32_t bad_label = 9;
    ck_assert_int_eq(dg_validate_labeled(v, x, 64, 1, &bad_label, out), DG_E_INVALID_ARG);
    ck_assert_int_eq(memcmp(&before, &out[0], sizeof before), 0);
    dg_validator_free(v);
}
END_TEST

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int k = bytes - 1; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

/* Offset of record `rank` of class c in a guard file (doc/guard-format.md):
 * ranks 0 to V-1 are the members, rank V the threshold for M = 1. */
static size_t guard_record_at(const uint8_t *file, uint32_t c, uint32_t rank)
{
    uint32_t V = guard->variants;
    size_t at = 52 + get_le(file + 48, 4);
    for (uint32_t k = 0; k < c * (V + 1) + rank; k++) {
        if (k % (V + 1) == V)
            at += 24 * (size_t)V;
        else
            at += 40 + get_le(file + at + 32, 8);
    }
    return at;
}

/* Loads a guard file whose 4 bytes at `at` are `value`, its checksum made
 * right again so that the change reaches the range checks. */
static dg_status load_patched(const uint8_t *file, size_t len, size_t at,
                              uint32_t value, dg_guard **out)
{
    uint8_t *copy = malloc(len);
    memcpy(copy, file, len);
    put_le32(copy + at, value);
    put_le32(copy + len - 4, dg_crc32(copy, len - 4));
    dg_status s = dg_guard_load_memory(copy, len, student, out);
    free(copy);
    return s;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Every field of a guard file is range-checked at load: a theta of -inf
 * would accept every input, a NaN ratio or an unknown flag means a file
 * no build wrote.  Each refusal names its field. */
START_TEST(guard_fields_are_range_checked_at_load)
{
    uint8_t *file;
    size_t len;
    ck_assert_int_eq(guard_bytes(guard, &file, &len), DG_OK);
    size_t member = guard_record_at(file, 0, 0);
    size_t threshold = guard_record_at(file, 1, guard->variants);
    /* The patching itself keeps a file loadable. */
    dg_guard *g = NULL;
    ck_assert_int_eq(load_patched(file, len, threshold + 4, f32_bits(0.5f), &g), DG_OK);
    dg_calibration cal = {.struct_size = sizeof cal};
    ck_assert_int_eq(dg_guard_calibration(g, 1, 1, &cal), DG_OK);
    ck_assert_float_eq(cal.theta, 0.5f);
    dg_guard_free(g);
    static const struct {
        const char *field;
        size_t at; /* 0: header, 1: member, 2: threshold */
        size_t offset;
        uint32_t value;
        const char *detail;
    } cases[] = {
        {"rule", 0, 32, 9, "rule 9"},
        {"target rate", 0, 36, 0x7f800000u, "target false rejection inf"},
        {"target rate 0", 0, 36, 0, "target false rejection 0"},
        {"ratio", 1, 8, 0x7fc00000u, "class 0 rank 0: ratio nan"},
        {"ratio 1", 1, 8, 0x3f800000u, "class 0 rank 0: ratio 1 "},
        {"mode", 1, 12, 3, "class 0 rank 0: mode 3"},
        {"agreement", 1, 24, 0x3fc00000u, "class 0 rank 0: agreement 1.5"},
        {"score", 1, 28, 0xbf800000u, "class 0 rank 0: score -1"},
        {"theta -inf", 2, 4, 0xff800000u, "class 1 M=1: theta -inf"},
        {"theta nan", 2, 4, 0x7fc00000u, "class 1 M=1: theta nan"},
        {"theta 2", 2, 4, 0x40000000u, "class 1 M=1: theta 2"},
        {"votes rate", 2, 8, 0xbf000000u, "false rejection of tau -0.5"},
        {"score rate", 2, 12, 0x7f800000u, "false rejection of theta inf"},
        {"pooled", 2, 20, 7, "class 1 M=1: pooled flag 7"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        size_t base = cases[k].at == 0 ? 0 : cases[k].at == 1 ? member : threshold;
        g = (dg_guard *)1;
        dg_status s = load_patched(file, len, base + cases[k].offset, cases[k].value, &g);
        ck_assert_msg(s == DG_E_FORMAT, "%s: status %d", cases[k].field, s);
        ck_assert_ptr_null(g);
        ck_assert_msg(strstr(dg_last_error_detail(), cases[k].detail),
                      "%s: %s", cases[k].field, dg_last_error_detail());
    }
    /* A whole member shorter than the Student, its prune layer past its
     * own layers (dg_guard_member would read there). */
    dg_guard *copy_guard;
    ck_assert_int_eq(dg_guard_load_memory(file, len, student, &copy_guard), DG_OK);
    dg_member *m0 = &copy_guard->per_class[0].members[0];
    dg_model_unref(m0->tail);
    ck_assert_int_eq(dg_model_create("fc4", 1, 8, 8, 5, &m0->tail), DG_OK);
    m0->first = 0;
    m0->prune_layer = 3;
    uint8_t *short_file;
    size_t short_len;
    ck_assert_int_eq(guard_bytes(copy_guard, &short_file, &short_len), DG_OK);
    ck_assert_int_eq(dg_guard_load_memory(short_file, short_len, student, &g),
                     DG_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(),
                                 "class 0 rank 0: prune layer 3 is past its 1-layer"));
    free(short_file);
    dg_guard_free(copy_guard);
    /* Rates without calibration samples. */
    uint8_t *copy = malloc(len);
    memcpy(copy, file, len);
    put_le32(copy + threshold + 12, f32_bits(0.25f));
    ck_assert_int_eq(load_patched(copy, len, threshold + 16, 0, &g), DG_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "0 calibration samples"));
    free(copy);
    free(file);
}
END_TEST

int main(void)
{
    build_fixture();
    Suite *s = suite_create("defence");
    TCase *tc = tcase_create("defence");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, pruner_means_match_a_hand_computation);
    tcase_add_test(tc, distillation_restores_agreement);
    tcase_add_test(tc, calibration_reaches_the_requested_rate);
    tcase_add_test(tc, two_phases_and_host_labels);
    tcase_add_test(tc, member_models_compute_the_member_scores);
    tcase_add_test(tc, pruned_members_of_a_residual_student);
    tcase_add_test(tc, guard_files_round_trip_and_refuse_strangers);
    tcase_add_test(tc, guard_members_are_held_to_the_work_limits);
    tcase_add_test(tc, work_dir_resumes_until_removed);
    tcase_add_test(tc, shards_merge_into_the_unsharded_guard);
    tcase_add_test(tc, guards_do_not_depend_on_the_cores);
    tcase_add_test(tc, work_dir_parts_belong_to_their_job_and_build);
    tcase_add_test(tc, calibration_reaches_the_target_on_fresh_inputs);
    tcase_add_test(tc, shard_specs_and_cluster_environments);
    tcase_add_test(tc, threads_share_one_guard);
    tcase_add_test(tc, option_checks);
    tcase_add_test(tc, options_chosen_from_the_data);
    tcase_add_test(tc, robust_members_are_whole_shared_and_robust);
    tcase_add_test(tc, old_names_and_capacities);
    tcase_add_test(tc, validate_checks_arguments_before_reading_them);
    tcase_add_test(tc, guard_fields_are_range_checked_at_load);
    suite_add_tcase(s, tc);
    int status = run_suite(s, CK_NOFORK); /* the fixture started oneDNN */
    free_fixture();
    return status;
}
