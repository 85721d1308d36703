/* test_eval.c - the evaluation's arithmetic against numbers worked out by
 * hand: defence rate, false rejection and accuracy loss from a made-up
 * confusion, ROC AUC, thresholds at a false positive rate and ROC points
 * on tiny score lists, and the feature-squeezing filters on small images.
 * Prints TAP. */
#include <math.h>
#include <stdio.h>

#include "eval_metrics.h"
#include "squeeze.h"

static int checks, failures;

static void check(bool ok, const char *what)
{
    checks++;
    failures += !ok;
    printf("%sok %d - %s\n", ok ? "" : "not ", checks, what);
}

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

static void test_counts(void)
{
    /* 10 clean inputs, 8 classified right, 2 of those rejected; 20 attempts
     * fool the Student and 17 are stopped. */
    defence_counts c = {.clean = 10, .clean_correct = 8,
                        .clean_correct_rejected = 2, .fooling = 20,
                        .fooling_stopped = 17};
    check(near(defence_rate(&c), 0.85), "defence rate 17/20");
    check(near(false_rejection_rate(&c), 0.25), "false rejection 2/8");
    /* Student 8/10, defended 6/10. */
    check(near(accuracy_loss(&c), 0.2), "accuracy loss 0.8 - 0.6");
    defence_counts none = {0};
    check(isnan(defence_rate(&none)) && isnan(false_rejection_rate(&none)) &&
              isnan(accuracy_loss(&none)),
          "no inputs: NaN, not a division by zero");
}

static void test_auc(void)
{
    /* Positive 2 beats negative 1 and ties 2: 1.5 of 3; positive 4 beats
     * all three: 4.5 of 6 pairs. */
    float neg[] = {3, 1, 2}, pos[] = {4, 2};
    check(near(roc_auc(neg, 3, pos, 2), 0.75), "AUC with a tie is 0.75");
    float same_neg[] = {1, 1}, same_pos[] = {1};
    check(near(roc_auc(same_neg, 2, same_pos, 1), 0.5), "all tied: 0.5");
    float lo[] = {0, 0.1f}, hi[] = {0.5f, 0.9f};
    check(near(roc_auc(lo, 2, hi, 2), 1), "separated: 1");
    check(near(roc_auc(hi, 2, lo, 2), 0), "reversed: 0");
    check(isnan(roc_auc(lo, 2, hi, 0)), "no positives: NaN");
}

static void test_thresholds(void)
{
    float neg[10];
    for (int i = 0; i < 10; i++) neg[9 - i] = 0.1f * (float)(i + 1);
    float t = threshold_at_fpr(neg, 10, 0.2);
    check(t == neg[7] && near(share_above(neg, 10, t), 0.2),
          "20% of ten: flags exactly the top two");
    t = threshold_at_fpr(neg, 10, 0.1);
    check(near(share_above(neg, 10, t), 0.1), "10% of ten: the top one");
    t = threshold_at_fpr(neg, 10, 0.05);
    check(share_above(neg, 10, t) == 0, "5% of ten: none");
    float ties[] = {1, 2, 1, 1};
    t = threshold_at_fpr(ties, 4, 0.5);
    check(t == 1 && near(share_above(ties, 4, t), 0.25),
          "ties: never more than allowed");
    check(isinf(threshold_at_fpr(ties, 4, 1.0)), "100%: flags everything");
    float pos[] = {0.5f, 1.5f, 2.5f};
    check(near(share_above(pos, 3, 1), 2.0 / 3), "share above");
}

static void test_roc_curve(void)
{
    float neg[] = {1, 2, 3}, pos[] = {2, 4}; /* sorted */
    double fpr[7], tpr[7];
    size_t n = roc_curve(neg, 3, pos, 2, fpr, tpr);
    const double want_fpr[] = {0, 0, 1.0 / 3, 2.0 / 3, 1, 1};
    const double want_tpr[] = {0, 0.5, 0.5, 1, 1, 1};
    bool ok = n == 6;
    for (size_t i = 0; ok && i < n; i++)
        ok = near(fpr[i], want_fpr[i]) && near(tpr[i], want_tpr[i]);
    check(ok, "ROC points at each distinct score, from (0,0) to (1,1)");
}

static void test_squeezers(void)
{
    const uint8_t px[] = {0, 127, 128, 255, 85, 200};
    float out[6];
    squeeze_bit_depth(px, 6, 1, out);
    check(out[0] == 0 && out[1] == 0 && out[2] == 1 && out[3] == 1,
          "1 bit: 127 rounds down, 128 up");
    squeeze_bit_depth(px, 6, 2, out);
    check(fabsf(out[4] - 1.0f / 3) < 1e-6f && fabsf(out[5] - 2.0f / 3) < 1e-6f,
          "2 bits: 85 -> 1/3, 200 -> 2/3");
    const uint8_t img[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, /* channel 2: */
                           9, 9, 9, 9, 9, 9, 9, 9, 0};
    float med[18];
    squeeze_median2x2(img, 2, 3, 3, med);
    /* {1,2,4,5} -> 4; {5,6,8,9} -> 8; right edge {3,3,6,6} -> 6; corner
     * {9,9,9,9} -> 9; channel 2's corner {0,0,0,0} -> 0, its neighbour
     * {9,9,9,0} -> 9. */
    check(med[0] * 255 == 4 && med[4] * 255 == 8 && med[2] * 255 == 6 &&
              med[8] * 255 == 9,
          "median 2x2: upper median, edges repeated");
    check(med[17] == 0 && med[13] * 255 == 9, "median 2x2: per channel");
}

int main(void)
{
    test_counts();
    test_auc();
    test_thresholds();
    test_roc_curve();
    test_squeezers();
    printf("1..%d\n", checks);
    return failures != 0;
}
