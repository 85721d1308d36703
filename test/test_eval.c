/* test_eval.c - the evaluation (lib/eval): its arithmetic against numbers
 * worked out by hand (defence rate, false rejection and accuracy loss from
 * a made-up confusion, ROC AUC, thresholds at a false positive rate and ROC
 * points on tiny score lists, the feature-squeezing filters on small
 * images), then a small guard evaluated on clean bars and a set of swapped
 * images, its decisions checked against dg_validate's verdicts, its counts
 * against a recount of those verdicts, the choice of attack attempts
 * against the Student's own predictions, and a whole attack run
 * (dg_advset_make) against the same run made step by step.  Then the
 * reports of that evaluation, model and guard (lib/report): the JSON read
 * back against the getters, the files against the text, the size
 * contract, the refusals, and a session's top classes against a softmax
 * of its outputs. */
#define _XOPEN_SOURCE 700 /* nftw, in tmpdir.h */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffguard.h"
#include "eval/metrics.h"
#include "eval/squeeze.h"
#include "suite.h"
#include "tmpdir.h"

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

START_TEST(test_counts)
{
    /* 10 clean inputs, 8 classified right, 2 of those rejected; 20 attempts
     * fool the Student and 17 are stopped. */
    dg_defence_counts c = {.clean = 10, .clean_correct = 8,
                        .clean_correct_rejected = 2, .fooling = 20,
                        .fooling_stopped = 17};
    ck_assert_msg(near(dg_defence_rate(&c), 0.85), "defence rate 17/20");
    ck_assert_msg(near(dg_false_rejection_rate(&c), 0.25), "false rejection 2/8");
    /* Student 8/10, defended 6/10. */
    ck_assert_msg(near(dg_accuracy_loss(&c), 0.2), "accuracy loss 0.8 - 0.6");
    dg_defence_counts none = {0};
    ck_assert_msg(isnan(dg_defence_rate(&none)) && isnan(dg_false_rejection_rate(&none)) &&
              isnan(dg_accuracy_loss(&none)),
          "no inputs: NaN, not a division by zero");
}
END_TEST

START_TEST(test_auc)
{
    /* Positive 2 beats negative 1 and ties 2: 1.5 of 3; positive 4 beats
     * all three: 4.5 of 6 pairs. */
    float neg[] = {3, 1, 2}, pos[] = {4, 2};
    ck_assert_msg(near(dg_roc_auc(neg, 3, pos, 2), 0.75), "AUC with a tie is 0.75");
    float same_neg[] = {1, 1}, same_pos[] = {1};
    ck_assert_msg(near(dg_roc_auc(same_neg, 2, same_pos, 1), 0.5), "all tied: 0.5");
    float lo[] = {0, 0.1f}, hi[] = {0.5f, 0.9f};
    ck_assert_msg(near(dg_roc_auc(lo, 2, hi, 2), 1), "separated: 1");
    ck_assert_msg(near(dg_roc_auc(hi, 2, lo, 2), 0), "reversed: 0");
    ck_assert_msg(isnan(dg_roc_auc(lo, 2, hi, 0)), "no positives: NaN");
}
END_TEST

START_TEST(test_thresholds)
{
    float neg[10];
    for (int i = 0; i < 10; i++) neg[9 - i] = 0.1f * (float)(i + 1);
    float t = dg_threshold_at_fpr(neg, 10, 0.2);
    ck_assert_msg(t == neg[7] && near(dg_share_above(neg, 10, t), 0.2),
          "20%% of ten: flags exactly the top two");
    t = dg_threshold_at_fpr(neg, 10, 0.1);
    ck_assert_msg(near(dg_share_above(neg, 10, t), 0.1), "10%% of ten: the top one");
    t = dg_threshold_at_fpr(neg, 10, 0.05);
    ck_assert_msg(dg_share_above(neg, 10, t) == 0, "5%% of ten: none");
    float ties[] = {1, 2, 1, 1};
    t = dg_threshold_at_fpr(ties, 4, 0.5);
    ck_assert_msg(t == 1 && near(dg_share_above(ties, 4, t), 0.25),
          "ties: never more than allowed");
    ck_assert_msg(isinf(dg_threshold_at_fpr(ties, 4, 1.0)), "100%%: flags everything");
    float pos[] = {0.5f, 1.5f, 2.5f};
    ck_assert_msg(near(dg_share_above(pos, 3, 1), 2.0 / 3), "share above");
}
END_TEST

START_TEST(test_roc_curve)
{
    float neg[] = {3, 1, 2}, pos[] = {4, 2};
    double fpr[7], tpr[7];
    size_t n = dg_roc_curve(neg, 3, pos, 2, fpr, tpr);
    const double want_fpr[] = {0, 0, 1.0 / 3, 2.0 / 3, 1, 1};
    const double want_tpr[] = {0, 0.5, 0.5, 1, 1, 1};
    bool ok = n == 6;
    for (size_t i = 0; ok && i < n; i++)
        ok = near(fpr[i], want_fpr[i]) && near(tpr[i], want_tpr[i]);
    ck_assert_msg(ok, "ROC points at each distinct score, from (0,0) to (1,1)");
}
END_TEST

START_TEST(test_squeezers)
{
    const uint8_t px[] = {0, 127, 128, 255, 85, 200};
    float out[6];
    dg_squeeze_bit_depth(px, 6, 1, out);
    ck_assert_msg(out[0] == 0 && out[1] == 0 && out[2] == 1 && out[3] == 1,
          "1 bit: 127 rounds down, 128 up");
    dg_squeeze_bit_depth(px, 6, 2, out);
    ck_assert_msg(fabsf(out[4] - 1.0f / 3) < 1e-6f && fabsf(out[5] - 2.0f / 3) < 1e-6f,
          "2 bits: 85 -> 1/3, 200 -> 2/3");
    const uint8_t img[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, /* channel 2: */
                           9, 9, 9, 9, 9, 9, 9, 9, 0};
    float med[18];
    dg_squeeze_median2x2(img, 2, 3, 3, med);
    /* {1,2,4,5} -> 4; {5,6,8,9} -> 8; right edge {3,3,6,6} -> 6; corner
     * {9,9,9,9} -> 9; channel 2's corner {0,0,0,0} -> 0, its neighbour
     * {9,9,9,0} -> 9. */
    ck_assert_msg(med[0] * 255 == 4 && med[4] * 255 == 8 && med[2] * 255 == 6 &&
              med[8] * 255 == 9,
          "median 2x2: upper median, edges repeated");
    ck_assert_msg(med[17] == 0 && med[13] * 255 == 9, "median 2x2: per channel");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A small guard, evaluated                                                 */
/* ------------------------------------------------------------------------ */

/* The shared fixture is built outside any test, where ck_assert cannot
 * report: fail loudly instead. */
static void require(dg_status s, const char *what)
{
    if (s == DG_OK) return;
    fprintf(stderr, "fixture: %s: %s: %s\n", what, dg_strerror(s),
            dg_last_error_detail());
    exit(1);
}

enum { SWAPS = 24 };

static dg_dataset *train_set, *clean_set;
static dg_model *student;
static dg_guard *guard;
static dg_advset *swaps;
static dg_eval *result;

/* Attempts whose "adversarial" image is a clean image of another class:
 * the Student mostly sees the target, so most of them fool it. */
static dg_advset *make_swaps(const dg_dataset *ds)
{
    dg_attack_opts o;
    require(dg_attack_opts_init(&o, sizeof o, DG_ATTACK_PRESET_STRONG),
            "attack settings");
    dg_advset *set;
    require(dg_advset_create(&o, 1, 8, 8, "swapped bars", &set), "set");
    float px[64];
    for (uint32_t i = 0; i < SWAPS; i++) {
        int32_t target = (int32_t)(i % 4), source = (target + 1) % 4;
        const uint8_t *img;
        require(dg_dataset_pixels(ds, 4 * (i / 4) + (uint32_t)target, &img),
                "pixels");
        for (int k = 0; k < 64; k++) px[k] = img[k] / 255.0f;
        dg_advset_item it = {
            .struct_size = sizeof it,
            .source_index = i,
            .source_label = source,
            .target_label = target,
            .student_label = -1,
            .within_budget = i % 6 != 5, /* a few attacks missed */
        };
        require(dg_advset_add(set, &it, px, 64), "adding an attempt");
    }
    return set;
}

static void build_fixture(void)
{
    train_set = make_bars(40, 1);
    clean_set = make_bars(12, 2);
    if (!train_set || !clean_set) require(DG_E_NOMEM, "data sets");
    require(dg_model_create("c8k3p1,relu,mp2,c16k3p1,relu,gap,fc4", 1, 8, 8,
                            3, &student),
            "student");
    dg_train_opts t;
    dg_train_opts_init(&t, sizeof t);
    t.epochs = 6;
    t.batch_size = 16;
    t.learning_rate = 5e-3f;
    require(dg_model_train(student, train_set, &t, NULL), "training");
    dg_guard_opts o;
    dg_guard_opts_init(&o, sizeof o);
    o.variants = 3;
    o.members = 2;
    o.epochs = 1;
    o.batch_size = 16;
    o.harden = 0;
    o.target_frr = 0.1f;
    require(dg_guard_build(student, train_set, NULL, &o, &guard), "guard");
    swaps = make_swaps(clean_set);
    const dg_advset *sets[] = {swaps};
    const char *names[] = {"swaps"};
    require(dg_eval_run(guard, clean_set, sets, names, 1, NULL, &result),
            "evaluating");
}

static void free_fixture(void)
{
    dg_eval_free(result);
    dg_advset_free(swaps);
    dg_guard_free(guard);
    dg_model_free(student);
    dg_dataset_free(train_set);
    dg_dataset_free(clean_set);
}

static dg_eval_info info_of(const dg_eval *e)
{
    dg_eval_info info = {.struct_size = sizeof info};
    ck_assert_int_eq(dg_eval_get_info(e, &info), DG_OK);
    return info;
}

/* dg_validate's verdicts on every input of the evaluation, in its order:
 * the clean samples, then the set's attempts. */
static void validate_all(dg_validator *v, dg_verdict *out, uint32_t n_clean)
{
    float input[64];
    for (uint32_t i = 0; i < n_clean + SWAPS; i++) {
        out[i].struct_size = sizeof out[i];
        uint32_t k = i < n_clean ? i : i - n_clean;
        if (i < n_clean)
            ck_assert_int_eq(dg_dataset_batch(clean_set, student, &k, 1,
                                              input, 64, NULL), DG_OK);
        else
            ck_assert_int_eq(dg_advset_batch(swaps, student, &k, 1, input,
                                             64), DG_OK);
        ck_assert_int_eq(dg_validate(v, input, 64, 1, &out[i]), DG_OK);
    }
}

START_TEST(guard_rows_decide_as_dg_validate)
{
    dg_eval_info info = info_of(result);
    ck_assert_uint_eq(info.clean, clean_set->count);
    ck_assert_uint_eq(info.inputs, info.clean + SWAPS);
    ck_assert_uint_eq(info.rows, 2 * info.variants + 4);
    dg_verdict *verdicts = calloc(info.inputs, sizeof *verdicts);
    ck_assert_ptr_nonnull(verdicts);
    uint32_t guard_rows = 0;
    for (uint32_t k = 0; k < info.rows; k++) {
        dg_eval_row row = {.struct_size = sizeof row};
        ck_assert_int_eq(dg_eval_get_row(result, k, &row), DG_OK);
        if (row.kind != DG_EVAL_GUARD) continue;
        guard_rows++;
        dg_validator_opts o;
        dg_validator_opts_init(&o, sizeof o);
        o.members = row.members;
        o.rule = row.rule;
        dg_validator *v;
        ck_assert_int_eq(dg_validator_create(guard, &o, &v), DG_OK);
        validate_all(v, verdicts, info.clean);
        dg_validator_free(v);
        /* Recount the clean costs and the set's outcome from the
         * verdicts. */
        uint32_t correct = 0, rejected = 0, fooling = 0, stopped = 0;
        for (uint32_t i = 0; i < info.inputs; i++) {
            dg_eval_decision d = {.struct_size = sizeof d};
            ck_assert_int_eq(dg_eval_get_decision(result, k, i, &d), DG_OK);
            ck_assert_int_eq(d.accepted, verdicts[i].accepted);
            ck_assert_int_eq(d.label, verdicts[i].label);
            float suspicion = row.rule == DG_RULE_VOTES
                                  ? (float)(row.members - verdicts[i].votes)
                                  : 1.0f - verdicts[i].score;
            ck_assert_float_eq_tol(d.suspicion, suspicion, 1e-6f);
            if (i < info.clean) {
                ck_assert_int_eq(d.set, -1);
                bool right = verdicts[i].label == clean_set->labels[i];
                correct += right;
                rejected += right && !verdicts[i].accepted;
                continue;
            }
            ck_assert_int_eq(d.set, 0);
            uint32_t a = i - info.clean;
            bool fools = a % 6 != 5 && verdicts[i].label == (int32_t)(a % 4);
            ck_assert_int_eq(d.fooling, fools);
            fooling += fools;
            stopped += fools && !verdicts[i].accepted;
        }
        ck_assert_uint_eq(row.clean, info.clean);
        ck_assert_uint_eq(row.clean_correct, correct);
        ck_assert_uint_eq(row.clean_correct_rejected, rejected);
        ck_assert(near(row.false_rejection_rate, (double)rejected / correct));
        ck_assert(near(row.accuracy_loss, (double)rejected / info.clean));
        dg_eval_outcome out = {.struct_size = sizeof out};
        ck_assert_int_eq(dg_eval_get_outcome(result, k, 0, &out), DG_OK);
        ck_assert_uint_eq(out.fooling, fooling);
        ck_assert_uint_eq(out.stopped, stopped);
        ck_assert(fooling > 0);
        ck_assert(near(out.defence_rate, (double)stopped / fooling));
    }
    ck_assert_uint_eq(guard_rows, 2 * info.variants);
    free(verdicts);
}
END_TEST

START_TEST(baselines_and_attack_statistics)
{
    dg_eval_info info = info_of(result);
    dg_eval_set set = {.struct_size = sizeof set};
    ck_assert_int_eq(dg_eval_get_set(result, 0, &set), DG_OK);
    ck_assert_str_eq(set.name, "swaps");
    ck_assert_uint_eq(set.first_input, info.clean);
    ck_assert_uint_eq(set.attempts, SWAPS);
    ck_assert_uint_eq(set.within_budget, SWAPS - SWAPS / 6);
    ck_assert_int_eq(set.targeted, 1);
    ck_assert(set.fooling <= set.reached_target &&
              set.reached_target <= set.left_source);
    for (uint32_t k = 0; k < info.rows; k++) {
        dg_eval_row row = {.struct_size = sizeof row};
        ck_assert_int_eq(dg_eval_get_row(result, k, &row), DG_OK);
        dg_eval_outcome out = {.struct_size = sizeof out};
        ck_assert_int_eq(dg_eval_get_outcome(result, k, 0, &out), DG_OK);
        ck_assert_uint_eq(out.fooling, set.fooling);
        if (row.kind == DG_EVAL_NO_DEFENCE) {
            /* Accepts everything with the Student's label. */
            ck_assert_uint_eq(row.clean_correct_rejected, 0);
            ck_assert_uint_eq(out.stopped, 0);
            ck_assert(isnan(out.roc_auc));
            ck_assert(near(info.student_accuracy,
                           (double)row.clean_correct / row.clean));
        }
        if (row.kind != DG_EVAL_SQUEEZE && row.kind != DG_EVAL_POOL)
            continue;
        /* A calibrated baseline flags at most its share of the clean
         * inputs the Student gets right. */
        double fpr = info.baseline_fpr;
        if (row.matched) {
            dg_eval_row g = {.struct_size = sizeof g};
            uint32_t at = (info.rule == DG_RULE_SCORE ? info.variants : 0) +
                          info.members - 1;
            ck_assert_int_eq(dg_eval_get_row(result, at, &g), DG_OK);
            fpr = g.false_rejection_rate;
        }
        ck_assert(row.false_rejection_rate <= fpr + 1e-9);
        size_t n;
        ck_assert_int_eq(dg_eval_roc(result, k, 0, NULL, NULL, 0, &n), DG_OK);
        double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        ck_assert_int_eq(dg_eval_roc(result, k, 0, x, y, n - 1, &n),
                         DG_E_INVALID_ARG);
        ck_assert_int_eq(dg_eval_roc(result, k, 0, x, y, n, &n), DG_OK);
        ck_assert(x[0] == 0 && y[0] == 0 && x[n - 1] == 1 && y[n - 1] == 1);
        /* The trapezoids under the curve are the AUC, ties included. */
        double area = 0;
        for (size_t p = 1; p < n; p++)
            area += (x[p] - x[p - 1]) * (y[p] + y[p - 1]) / 2;
        ck_assert_double_eq_tol(area, out.roc_auc, 1e-9);
        free(x);
        free(y);
    }
}
END_TEST

START_TEST(attempts_come_from_correct_samples)
{
    enum { N = 12 };
    uint32_t src[N], tgt[N], src2[N], tgt2[N];
    int32_t src_label[N], tgt_label[N], s2[N], t2[N];
    dg_attempt_opts o;
    ck_assert_int_eq(dg_attempt_opts_init(&o, sizeof o), DG_OK);
    o.seed = 7;
    ck_assert_int_eq(dg_eval_choose_attempts(student, clean_set, &o, N, src,
                                             src_label, tgt, tgt_label),
                     DG_OK);
    /* The Student's own classes of every clean sample, through the
     * pixel entry point. */
    uint32_t n = clean_set->count;
    float *px = malloc((size_t)n * 64 * sizeof *px);
    int32_t *predicted = malloc(n * sizeof *predicted);
    for (size_t k = 0; k < (size_t)n * 64; k++)
        px[k] = clean_set->pixels[k] / 255.0f;
    ck_assert_int_eq(dg_eval_classify(student, px, (size_t)n * 64, n,
                                      predicted), DG_OK);
    for (uint32_t i = 0; i < N; i++) {
        ck_assert_int_eq(src_label[i], clean_set->labels[src[i]]);
        ck_assert_int_eq(predicted[src[i]], src_label[i]);
        ck_assert_int_ne(tgt_label[i], src_label[i]);
        ck_assert_int_eq(clean_set->labels[tgt[i]], tgt_label[i]);
        ck_assert_int_eq(predicted[tgt[i]], tgt_label[i]);
        for (uint32_t j = 0; j < i; j++) ck_assert_uint_ne(src[i], src[j]);
    }
    /* The same seed chooses the same; untargeted FGSM-like attempts get
     * no target. */
    ck_assert_int_eq(dg_eval_choose_attempts(student, clean_set, &o, N, src2,
                                             s2, tgt2, t2), DG_OK);
    ck_assert_mem_eq(src, src2, sizeof src);
    o.targeted = 0;
    o.target_images = 0;
    ck_assert_int_eq(dg_eval_choose_attempts(student, clean_set, &o, N, src2,
                                             s2, tgt2, t2), DG_OK);
    for (uint32_t i = 0; i < N; i++)
        ck_assert(t2[i] == -1 && tgt2[i] == UINT32_MAX);
    /* More attempts than correct samples fail and say why. */
    uint32_t *many = malloc((size_t)(n + 1) * 4 * sizeof *many);
    ck_assert_int_eq(dg_eval_choose_attempts(student, clean_set, &o, n + 1,
                                             many, (int32_t *)many + n + 1,
                                             many + 2 * (n + 1),
                                             (int32_t *)many + 3 * (n + 1)),
                     DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "usable sources"));
    free(many);
    free(px);
    free(predicted);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
    dg_eval *e = (dg_eval *)1;
    const dg_advset *sets[] = {swaps};
    const char *names[] = {""};
    ck_assert_int_eq(dg_eval_run(NULL, clean_set, NULL, NULL, 0, NULL, &e),
                     DG_E_INVALID_ARG);
    ck_assert_ptr_null(e);
    ck_assert_int_eq(dg_eval_run(guard, clean_set, sets, names, 1, NULL, &e),
                     DG_E_INVALID_ARG);
    dg_eval_opts o;
    dg_eval_opts_init(&o, sizeof o);
    o.squeeze_bits = 0;
    ck_assert_int_eq(dg_eval_run(guard, clean_set, NULL, NULL, 0, &o, &e),
                     DG_E_INVALID_ARG);
    o.squeeze_bits = 2;
    o.struct_size = 4;
    ck_assert_int_eq(dg_eval_run(guard, clean_set, NULL, NULL, 0, &o, &e),
                     DG_E_ABI);
    /* Bars of the wrong size. */
    dg_dataset *big;
    ck_assert_int_eq(dg_dataset_alloc(2, 1, 9, 9, &big), DG_OK);
    ck_assert_int_eq(dg_eval_run(guard, big, NULL, NULL, 0, NULL, &e),
                     DG_E_SHAPE);
    dg_dataset_free(big);
    dg_eval_row row = {.struct_size = sizeof row};
    ck_assert_int_eq(dg_eval_get_row(result, 999, &row), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_eval_get_row(NULL, 0, &row), DG_E_INVALID_ARG);
    row.struct_size = 3;
    ck_assert_int_eq(dg_eval_get_row(result, 0, &row), DG_E_ABI);
    dg_eval_decision d = {.struct_size = sizeof d};
    ck_assert_int_eq(dg_eval_get_decision(result, 0, 1u << 30, &d),
                     DG_E_INVALID_ARG);
    int32_t label;
    float px[64] = {0};
    ck_assert_int_eq(dg_eval_classify(student, px, 63, 1, &label),
                     DG_E_SHAPE);
    dg_eval_free(NULL);
}
END_TEST

/* Without sets the evaluation still measures the clean costs. */
START_TEST(clean_data_alone)
{
    dg_eval *e;
    ck_assert_int_eq(dg_eval_run(guard, clean_set, NULL, NULL, 0, NULL, &e),
                     DG_OK);
    dg_eval_info info = info_of(e);
    ck_assert_uint_eq(info.sets, 0);
    dg_eval_row a = {.struct_size = sizeof a}, b = {.struct_size = sizeof b};
    for (uint32_t k = 0; k < info.rows; k++) {
        ck_assert_int_eq(dg_eval_get_row(e, k, &a), DG_OK);
        ck_assert_int_eq(dg_eval_get_row(result, k, &b), DG_OK);
        ck_assert_uint_eq(a.clean_correct_rejected, b.clean_correct_rejected);
    }
    dg_eval_free(e);
}
END_TEST

/* The patched Student's row against a naive count: each input's label is
 * the other model's argmax; it rejects nothing; it stops a fooling attempt
 * unless it answers the target; it loses the Student's right answers it
 * gets wrong and nets out those it corrects. */
START_TEST(patched_student_row_counts_its_own_answers)
{
    dg_model *other;
    ck_assert_int_eq(dg_model_create("c8k3p1,relu,mp2,c16k3p1,relu,gap,fc4",
                                     1, 8, 8, 11, &other), DG_OK);
    dg_train_opts t;
    dg_train_opts_init(&t, sizeof t);
    t.epochs = 1;
    t.batch_size = 16;
    ck_assert_int_eq(dg_model_train(other, train_set, &t, NULL), DG_OK);
    dg_eval_opts o;
    dg_eval_opts_init(&o, sizeof o);
    o.patched_student = other;
    const dg_advset *sets[] = {swaps};
    const char *names[] = {"swaps"};
    dg_eval *e;
    ck_assert_int_eq(dg_eval_run(guard, clean_set, sets, names, 1, &o, &e),
                     DG_OK);
    dg_eval_info info = info_of(e);
    ck_assert_uint_eq(info.rows, info_of(result).rows + 1);
    uint32_t k = info.rows - 1, lost = 0, corrected = 0, stopped = 0;
    dg_eval_row row = {.struct_size = sizeof row};
    ck_assert_int_eq(dg_eval_get_row(e, k, &row), DG_OK);
    ck_assert_int_eq(row.kind, DG_EVAL_PATCH);
    dg_session *session;
    ck_assert_int_eq(dg_session_create(other, 1, &session), DG_OK);
    float input[64];
    for (uint32_t i = 0; i < info.inputs; i++) {
        uint32_t at = i < info.clean ? i : i - info.clean;
        if (i < info.clean)
            ck_assert_int_eq(dg_dataset_batch(clean_set, other, &at, 1,
                                              input, 64, NULL), DG_OK);
        else
            ck_assert_int_eq(dg_advset_batch(swaps, other, &at, 1, input,
                                             64), DG_OK);
        ck_assert_int_eq(dg_session_run(session, input, 64, 1), DG_OK);
        const float *y;
        ck_assert_int_eq(dg_session_output(session, -1, &y, NULL, NULL,
                                           NULL, NULL), DG_OK);
        int32_t best = 0;
        for (int32_t c = 1; c < 4; c++)
            if (y[c] > y[best]) best = c;
        dg_eval_decision d = {.struct_size = sizeof d}, s = d;
        ck_assert_int_eq(dg_eval_get_decision(e, k, i, &d), DG_OK);
        ck_assert_int_eq(dg_eval_get_decision(e, 2 * info.variants, i, &s),
                         DG_OK); /* no defence: the Student's label */
        ck_assert_int_eq(d.label, best);
        ck_assert_int_eq(d.accepted, 1);
        if (i < info.clean) {
            lost += s.label == s.truth && best != s.truth;
            corrected += s.label != s.truth && best == s.truth;
        } else if (d.fooling) {
            stopped += best != d.target;
        }
    }
    dg_eval_outcome out = {.struct_size = sizeof out};
    ck_assert_int_eq(dg_eval_get_outcome(e, k, 0, &out), DG_OK);
    ck_assert_uint_eq(out.stopped, stopped);
    ck_assert_uint_eq(row.clean_correct_rejected, lost);
    ck_assert(near(row.accuracy_loss,
                   ((double)lost - corrected) / info.clean));
    ck_assert(isnan(out.roc_auc));
    dg_model *wrong;
    ck_assert_int_eq(dg_model_create("fc3", 1, 8, 8, 1, &wrong), DG_OK);
    o.patched_student = wrong;
    dg_eval *bad;
    ck_assert_int_eq(dg_eval_run(guard, clean_set, sets, names, 1, &o, &bad),
                     DG_E_SHAPE);
    dg_model_free(wrong);
    dg_session_free(session);
    dg_eval_free(e);
    dg_model_free(other);
}
END_TEST

/* An untargeted FGSM run made by dg_advset_make against the same run made
 * call by call: the attempts, the attack, the Student's classes. */
START_TEST(advset_make_is_the_run_step_by_step)
{
    enum { N = 8 };
    dg_attack_opts a;
    ck_assert_int_eq(dg_attack_opts_init(&a, sizeof a,
                                         DG_ATTACK_PRESET_STRONG), DG_OK);
    a.method = DG_ATTACK_FGSM;
    a.targeted = 0;
    a.epsilon = 0.2f;
    a.batch_size = 4;
    a.seed = 5;
    dg_advset_opts o;
    ck_assert_int_eq(dg_advset_opts_init(&o, sizeof o), DG_OK);
    ck_assert_uint_eq(o.count, 100);
    o.count = N;
    o.description = "fgsm";
    dg_advset *set;
    uint32_t made_target[N];
    ck_assert_int_eq(dg_advset_make(student, student, clean_set, &a, &o,
                                    &set, made_target), DG_OK);

    dg_attempt_opts pick;
    dg_attempt_opts_init(&pick, sizeof pick);
    pick.targeted = 0;
    pick.target_images = 0;
    pick.seed = 5;
    uint32_t src[N], tgt[N];
    int32_t src_label[N], tgt_label[N], got[N];
    ck_assert_int_eq(dg_eval_choose_attempts(student, clean_set, &pick, N,
                                             src, src_label, tgt, tgt_label),
                     DG_OK);
    float sources[N * 64], adv[N * 64], dssim[N], dist[N];
    uint8_t within[N];
    ck_assert_int_eq(dg_dataset_batch(clean_set, NULL, src, N, sources,
                                      N * 64, NULL), DG_OK);
    ck_assert_int_eq(dg_attack_run(student, &a, sources, NULL, src_label, N,
                                   adv, dssim, dist, within), DG_OK);
    ck_assert_int_eq(dg_eval_classify(student, adv, N * 64, N, got), DG_OK);

    uint32_t count;
    const char *text;
    ck_assert_int_eq(dg_advset_count(set, &count), DG_OK);
    ck_assert_uint_eq(count, N);
    ck_assert_int_eq(dg_advset_description(set, &text), DG_OK);
    ck_assert_str_eq(text, "fgsm");
    for (uint32_t i = 0; i < N; i++) {
        dg_advset_item it = {.struct_size = sizeof it};
        const uint8_t *px;
        ck_assert_int_eq(dg_advset_item_get(set, i, &it), DG_OK);
        ck_assert_uint_eq(it.source_index, src[i]);
        ck_assert_int_eq(it.source_label, src_label[i]);
        ck_assert_int_eq(it.target_label, -1);
        ck_assert_uint_eq(made_target[i], UINT32_MAX);
        ck_assert_int_eq(it.student_label, got[i]);
        ck_assert_int_eq(it.within_budget, within[i]);
        ck_assert_int_eq(it.success, within[i] && got[i] != src_label[i]);
        ck_assert_int_eq(dg_advset_pixels(set, i, &px), DG_OK);
        for (int k = 0; k < 64; k++)
            ck_assert_int_eq(px[k], (int)lrintf(adv[i * 64 + k] * 255));
    }

    /* Two shards of two batches each merge into the whole set. */
    dg_advset *parts[2], *merged;
    o.shards = 2;
    for (uint32_t k = 0; k < 2; k++) {
        o.shard = k;
        ck_assert_int_eq(dg_advset_make(student, student, clean_set, &a, &o,
                                        &parts[k], NULL), DG_OK);
    }
    ck_assert_int_eq(dg_advset_merge((const dg_advset *const *)parts, 2,
                                     &merged), DG_OK);
    for (uint32_t i = 0; i < N; i++) {
        const uint8_t *want, *have;
        dg_advset_pixels(set, i, &want);
        dg_advset_pixels(merged, i, &have);
        ck_assert_mem_eq(want, have, 64);
    }
    dg_advset_free(merged);
    dg_advset_free(parts[0]);
    dg_advset_free(parts[1]);
    dg_advset_free(set);
}
END_TEST

/* An adaptive run with the guard's members of each target class, then
 * the arguments dg_advset_make refuses. */
START_TEST(advset_make_checks_its_arguments)
{
    dg_attack_opts a;
    dg_attack_opts_init(&a, sizeof a, DG_ATTACK_PRESET_STRONG);
    a.method = DG_ATTACK_PGD;
    a.targeted = 1;
    a.iterations = 2;
    a.epsilon = 0.1f;
    a.step = 0.05f;
    dg_advset_opts o;
    dg_advset_opts_init(&o, sizeof o);
    o.count = 4;
    o.guard = guard;
    dg_advset *set = (dg_advset *)1;
    ck_assert_int_eq(dg_advset_make(student, student, clean_set, &a, &o, &set,
                                    NULL), DG_OK);
    dg_advset_free(set);
    o.guard_members = 4; /* the guard has 3 per class */
    ck_assert_int_eq(dg_advset_make(student, student, clean_set, &a, &o, &set,
                                    NULL), DG_E_INVALID_ARG);
    ck_assert_ptr_null(set);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "3 per class"));
    o.guard_members = 0;
    a.targeted = 0; /* no target class to take members of */
    ck_assert_int_eq(dg_advset_make(student, student, clean_set, &a, &o, &set,
                                    NULL), DG_E_INVALID_ARG);
    o.guard = NULL;
    o.target_class = 1; /* needs a targeted attack */
    ck_assert_int_eq(dg_advset_make(student, student, clean_set, &a, &o, &set,
                                    NULL), DG_E_INVALID_ARG);
    a.targeted = 1;
    o.target_class = 9;
    ck_assert_int_eq(dg_advset_make(student, student, clean_set, &a, &o, &set,
                                    NULL), DG_E_INVALID_ARG);
    o.target_class = -1;
    o.shards = 2;
    o.shard = 2;
    ck_assert_int_eq(dg_advset_make(student, student, clean_set, &a, &o, &set,
                                    NULL), DG_E_INVALID_ARG);
    o.shard = 0;
    o.shards = 9; /* 4 attempts make one batch */
    ck_assert_int_eq(dg_advset_make(student, student, clean_set, &a, &o, &set,
                                    NULL), DG_E_INVALID_ARG);
    o.shards = 0;
    ck_assert_int_eq(dg_advset_make(NULL, student, clean_set, &a, &o, &set,
                                    NULL), DG_E_INVALID_ARG);
    o.struct_size = 2;
    ck_assert_int_eq(dg_advset_make(student, student, clean_set, &a, &o, &set,
                                    NULL), DG_E_ABI);
}
END_TEST


/* ------------------------------------------------------------------------ */
/* Reports (lib/report)                                                     */
/* ------------------------------------------------------------------------ */

/* A report as a malloc'd string through the size query. */
static char *format_eval(const dg_eval *e, int32_t format)
{
    size_t n;
    ck_assert_int_eq(dg_eval_format_report(e, format, NULL, 0, &n), DG_OK);
    char *text = malloc(n);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(dg_eval_format_report(e, format, text, n, &n), DG_OK);
    ck_assert_uint_eq(strlen(text) + 1, n);
    return text;
}

/* The number after the next "key": from *at on, moving *at past it; null
 * (a rate with nothing to measure) is NaN. */
static double next_number(const char **at, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\": ", key);
    const char *p = strstr(*at, quoted);
    ck_assert_msg(p != NULL, "no %s after %.40s", key, *at);
    p += strlen(quoted);
    *at = p;
    if (strncmp(p, "null", 4) == 0) return NAN;
    char *end;
    double v = strtod(p, &end);
    ck_assert_ptr_ne(end, p);
    return v;
}

static bool same_number(double reported, double value)
{
    if (isnan(value)) return isnan(reported);
    return fabs(reported - value) <= 1e-7 * fmax(1, fabs(value));
}

/* A whole file into a malloc'd string. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *text = calloc(1, 1 << 20);
    ck_assert_ptr_nonnull(text);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = 0;
    fclose(f);
    return text;
}

START_TEST(eval_report_json_is_the_evaluation)
{
    dg_eval_info info = info_of(result);
    char *text = format_eval(result, DG_FORMAT_JSON);
    const char *at = strstr(text, "\"clean\"");
    ck_assert_ptr_nonnull(at);
    ck_assert(next_number(&at, "samples") == info.clean);
    ck_assert(same_number(next_number(&at, "student_accuracy"),
                          info.student_accuracy));
    ck_assert_ptr_nonnull(strstr(text, "\"description\": \"swapped bars\""));
    at = strstr(text, "\"by_members\"");
    ck_assert_ptr_nonnull(at);
    /* Each guard row in the evaluation's order, with its numbers. */
    for (uint32_t k = 0; k < info.rows; k++) {
        dg_eval_row row = {.struct_size = sizeof row};
        dg_eval_outcome out = {.struct_size = sizeof out};
        ck_assert_int_eq(dg_eval_get_row(result, k, &row), DG_OK);
        ck_assert_int_eq(dg_eval_get_outcome(result, k, 0, &out), DG_OK);
        if (row.kind != DG_EVAL_GUARD) continue;
        ck_assert(next_number(&at, "m") == row.members);
        ck_assert(same_number(next_number(&at, "false_rejection_rate"),
                              row.false_rejection_rate));
        ck_assert(same_number(next_number(&at, "accuracy_loss"),
                              row.accuracy_loss));
        ck_assert(next_number(&at, "forward_passes") == row.passes);
        ck_assert(same_number(next_number(&at, "defence_rate"),
                              out.defence_rate));
        ck_assert(next_number(&at, "fooling") == out.fooling);
        ck_assert(next_number(&at, "stopped") == out.stopped);
        ck_assert(same_number(next_number(&at, "roc_auc"), out.roc_auc));
    }
    ck_assert_ptr_nonnull(strstr(at, "\"baselines\""));
    free(text);
}
END_TEST

START_TEST(eval_report_files_are_its_text)
{
    make_tmp_dir("report");
    const char *dir = tmp_path(0, "eval"); /* made by the call */
    ck_assert_int_eq(dg_eval_write_report(result, dir, NULL), DG_OK);
    static const int32_t formats[] = {DG_FORMAT_JSON, DG_FORMAT_MARKDOWN};
    static const char *const files[] = {"eval/eval.json", "eval/eval.md"};
    for (int k = 0; k < 2; k++) {
        char *written = read_text(tmp_path(1, files[k]));
        char *text = format_eval(result, formats[k]);
        ck_assert_str_eq(written, text);
        free(written);
        free(text);
    }
    static const char *const charts[] = {"eval/defence-vs-members.png",
                                         "eval/cost-vs-members.png",
                                         "eval/roc-swaps.png"};
    for (int k = 0; k < 3; k++) {
        dg_image_info png = {.struct_size = sizeof png};
        ck_assert_int_eq(dg_image_probe_file(tmp_path(1, charts[k]), &png),
                         DG_OK);
        ck_assert_uint_gt(png.width, 100);
    }
    /* Only the parts asked for. */
    dg_report_opts o;
    ck_assert_int_eq(dg_report_opts_init(&o, sizeof o), DG_OK);
    ck_assert_uint_eq(o.parts, DG_REPORT_ALL);
    o.parts = DG_REPORT_MARKDOWN;
    ck_assert_int_eq(dg_eval_write_report(result, tmp_path(0, "md"), &o),
                     DG_OK);
    FILE *f = fopen(tmp_path(1, "md/eval.json"), "r");
    ck_assert_ptr_null(f);
    free(read_text(tmp_path(1, "md/eval.md")));
    remove_tmp_dir();
}
END_TEST

START_TEST(report_calls_check_their_arguments)
{
    size_t n = 7;
    char small[8];
    ck_assert_int_eq(dg_eval_format_report(NULL, DG_FORMAT_TEXT, NULL, 0, &n),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_eval_format_report(result, 0, NULL, 0, &n),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_eval_format_report(result, DG_FORMAT_TEXT, NULL, 0,
                                           NULL), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_eval_format_report(result, DG_FORMAT_TEXT, small,
                                           sizeof small, &n),
                     DG_E_INVALID_ARG);
    ck_assert_uint_gt(n, sizeof small); /* the size it needs */
    ck_assert_int_eq(dg_eval_write_report(result, NULL, NULL),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_eval_write_report(NULL, "x", NULL), DG_E_INVALID_ARG);
    dg_report_opts o;
    ck_assert_int_eq(dg_report_opts_init(&o, 2), DG_E_ABI);
    ck_assert_int_eq(dg_report_opts_init(&o, sizeof o), DG_OK);
    o.parts = 0x100;
    ck_assert_int_eq(dg_eval_write_report(result, "unused", &o),
                     DG_E_INVALID_ARG);
    o.parts = DG_REPORT_JSON;
    o.struct_size = 2;
    ck_assert_int_eq(dg_eval_write_report(result, "unused", &o), DG_E_ABI);
    ck_assert_int_eq(dg_scenario_write_report(NULL, NULL), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_model_format_report(student, NULL, DG_FORMAT_MARKDOWN,
                                            NULL, 0, &n), DG_E_UNSUPPORTED);
    ck_assert_int_eq(dg_guard_format_report(guard, DG_FORMAT_MARKDOWN, NULL,
                                            NULL, 0, &n), DG_E_UNSUPPORTED);
    uint32_t confusion[16] = {0};
    ck_assert_int_eq(dg_model_format_accuracy(student, confusion, 15, NULL,
                                              NULL, DG_FORMAT_TEXT, NULL, 0,
                                              &n), DG_E_SHAPE);
    dg_verdict v = {.struct_size = sizeof v, .members = DG_MAX_MEMBERS + 1};
    ck_assert_int_eq(dg_verdict_format_report(&v, student, NULL,
                                              DG_FORMAT_TEXT, NULL, 0, &n),
                     DG_E_INVALID_ARG);
    uint32_t targets[SWAPS];
    for (uint32_t i = 0; i < SWAPS; i++) targets[i] = UINT32_MAX;
    targets[3] = 100000;
    ck_assert_int_eq(dg_advset_write_examples(swaps, clean_set, targets,
                                              "unused", NULL),
                     DG_E_INVALID_ARG);
}
END_TEST

START_TEST(object_reports_tell_the_objects)
{
    size_t n;
    /* The model: its parameters add up as its layers say. */
    ck_assert_int_eq(dg_model_format_report(student, "s.dgm", DG_FORMAT_JSON,
                                            NULL, 0, &n), DG_OK);
    char *text = malloc(n);
    ck_assert_int_eq(dg_model_format_report(student, "s.dgm", DG_FORMAT_JSON,
                                            text, n, &n), DG_OK);
    uint32_t layers;
    uint64_t params = 0;
    ck_assert_int_eq(dg_model_layer_count(student, &layers), DG_OK);
    for (uint32_t i = 0; i < layers; i++) {
        dg_layer_info l = {.struct_size = sizeof l};
        ck_assert_int_eq(dg_model_layer_info(student, i, &l), DG_OK);
        params += l.param_count;
    }
    const char *at = text;
    ck_assert(next_number(&at, "total_parameters") == (double)params);
    ck_assert_ptr_nonnull(strstr(text, "\"file\": \"s.dgm\""));
    free(text);
    /* The guard: one object per class, each member's score as the getter
     * tells it. */
    dg_guard_info gi = {.struct_size = sizeof gi};
    ck_assert_int_eq(dg_guard_get_info(guard, &gi), DG_OK);
    ck_assert_int_eq(dg_guard_format_report(guard, DG_FORMAT_JSON, NULL,
                                            NULL, 0, &n), DG_OK);
    text = malloc(n);
    ck_assert_int_eq(dg_guard_format_report(guard, DG_FORMAT_JSON, NULL, text,
                                            n, &n), DG_OK);
    at = text;
    for (uint32_t c = 0; c < gi.classes; c++) {
        ck_assert(next_number(&at, "class") == c);
        for (uint32_t r = 0; r < gi.variants; r++) {
            dg_member_info m = {.struct_size = sizeof m};
            ck_assert_int_eq(dg_guard_member(guard, c, r, &m), DG_OK);
            ck_assert(next_number(&at, "rank") == r);
            ck_assert(same_number(next_number(&at, "score"), m.score));
        }
    }
    free(text);
    /* The accuracy of the Student: its counts from the confusion. */
    uint32_t confusion[16], correct, total;
    ck_assert_int_eq(dg_model_evaluate(student, clean_set, confusion, 16,
                                       &correct, &total), DG_OK);
    char buf[4096];
    ck_assert_int_eq(dg_model_format_accuracy(student, confusion, 16, "s",
                                              "bars", DG_FORMAT_JSON, buf,
                                              sizeof buf, &n), DG_OK);
    at = buf;
    ck_assert(next_number(&at, "samples") == total);
    ck_assert(next_number(&at, "correct") == correct);
    /* A verdict, named after its input. */
    dg_validator *v;
    ck_assert_int_eq(dg_validator_create(guard, NULL, &v), DG_OK);
    float input[64];
    uint32_t first = 0;
    ck_assert_int_eq(dg_dataset_batch(clean_set, student, &first, 1, input,
                                      64, NULL), DG_OK);
    dg_verdict d = {.struct_size = sizeof d};
    ck_assert_int_eq(dg_validate(v, input, 64, 1, &d), DG_OK);
    ck_assert_int_eq(dg_verdict_format_report(&d, student, "first.png",
                                              DG_FORMAT_TEXT, buf,
                                              sizeof buf, &n), DG_OK);
    ck_assert(strncmp(buf, d.accepted ? "first.png: ACCEPT"
                                      : "first.png: REJECT", 17) == 0);
    dg_validator_free(v);
}
END_TEST

START_TEST(top_classes_are_a_softmax_of_the_outputs)
{
    dg_session *s;
    uint32_t classes[4], idx[2] = {0, 5};
    double p[4];
    float input[128];
    ck_assert_int_eq(dg_session_create(student, 2, &s), DG_OK);
    ck_assert_int_eq(dg_session_top_classes(s, 0, 4, classes, p), DG_E_STATE);
    ck_assert_int_eq(dg_dataset_batch(clean_set, student, idx, 2, input, 128,
                                      NULL), DG_OK);
    ck_assert_int_eq(dg_session_run(s, input, 128, 2), DG_OK);
    ck_assert_int_eq(dg_session_top_classes(s, 2, 4, classes, p),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_session_top_classes(s, 1, 5, classes, p),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_session_top_classes(s, 1, 4, classes, p), DG_OK);
    const float *out;
    ck_assert_int_eq(dg_session_output(s, -1, &out, NULL, NULL, NULL, NULL),
                     DG_OK);
    double sum = 0, e[4];
    for (int j = 0; j < 4; j++) sum += e[j] = exp(out[4 + j]);
    for (int r = 0; r < 4; r++) {
        ck_assert_double_eq_tol(p[r], e[classes[r]] / sum, 1e-9);
        if (r > 0) ck_assert(p[r] <= p[r - 1]);
    }
    dg_session_free(s);
}
END_TEST

START_TEST(examples_are_pngs_of_the_attempts)
{
    make_tmp_dir("examples");
    uint32_t targets[SWAPS];
    for (uint32_t i = 0; i < SWAPS; i++) targets[i] = i % 2 ? i : UINT32_MAX;
    dg_report_opts o;
    dg_report_opts_init(&o, sizeof o);
    o.examples = 3;
    const char *dir = tmp_path(0, "x");
    ck_assert_int_eq(dg_advset_write_examples(swaps, clean_set, targets, dir,
                                              &o), DG_OK);
    /* No attempt succeeded: the first three within budget. */
    static const char *const tiles[] = {"x/000_source.png",
                                        "x/001_adversarial.png",
                                        "x/002_diff.png"};
    for (int k = 0; k < 3; k++) {
        dg_image_info png = {.struct_size = sizeof png};
        ck_assert_int_eq(dg_image_probe_file(tmp_path(1, tiles[k]), &png),
                         DG_OK);
        ck_assert_uint_eq(png.width, 8);
    }
    dg_image_info sheet = {.struct_size = sizeof sheet};
    ck_assert_int_eq(dg_image_probe_file(tmp_path(1, "x/sheet.png"), &sheet),
                     DG_OK);
    ck_assert_uint_eq(sheet.height, 3 * (8 * 4 + 4) + 4);
    remove_tmp_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eval");
    TCase *arithmetic = tcase_create("arithmetic");
    tcase_add_test(arithmetic, test_counts);
    tcase_add_test(arithmetic, test_auc);
    tcase_add_test(arithmetic, test_thresholds);
    tcase_add_test(arithmetic, test_roc_curve);
    tcase_add_test(arithmetic, test_squeezers);
    suite_add_tcase(s, arithmetic);
    build_fixture();
    TCase *tc = tcase_create("guard");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, guard_rows_decide_as_dg_validate);
    tcase_add_test(tc, baselines_and_attack_statistics);
    tcase_add_test(tc, attempts_come_from_correct_samples);
    tcase_add_test(tc, bad_arguments_are_refused);
    tcase_add_test(tc, clean_data_alone);
    tcase_add_test(tc, patched_student_row_counts_its_own_answers);
    tcase_add_test(tc, advset_make_is_the_run_step_by_step);
    tcase_add_test(tc, advset_make_checks_its_arguments);
    tcase_add_test(tc, eval_report_json_is_the_evaluation);
    tcase_add_test(tc, eval_report_files_are_its_text);
    tcase_add_test(tc, report_calls_check_their_arguments);
    tcase_add_test(tc, object_reports_tell_the_objects);
    tcase_add_test(tc, top_classes_are_a_softmax_of_the_outputs);
    tcase_add_test(tc, examples_are_pngs_of_the_attempts);
    suite_add_tcase(s, tc);
    int status = run_suite(s, CK_NOFORK); /* the fixture started oneDNN */
    free_fixture();
    return status;
}
