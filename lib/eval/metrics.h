/* metrics.h - the metrics of a defence evaluation (doc/EVALUATION.md,
 * spec section 5), as pure functions of counts and scores so that tests
 * can check them against numbers worked out by hand. */
#ifndef DG_EVAL_METRICS_H
#define DG_EVAL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a defence did to clean inputs and to one adversarial set. */
typedef struct dg_defence_counts {
    uint32_t clean;          /* clean inputs */
    uint32_t clean_correct;  /* ... the undefended Student classifies right */
    uint32_t clean_correct_rejected; /* ... of those, rejected (the patched
                                        Student: answered wrongly) */
    uint32_t clean_wrong_corrected;  /* the Student's errors the defence
                                        answers right (the patch only) */
    uint32_t fooling;        /* adversarial inputs that fool the Student */
    uint32_t fooling_stopped; /* ... of those, rejected, or accepted with a
                                 label that is not what the attacker wanted */
} dg_defence_counts;

/* Share of fooling inputs stopped; NaN without any. */
double dg_defence_rate(const dg_defence_counts *c);
/* Share of correctly classified clean inputs rejected; NaN without any. */
double dg_false_rejection_rate(const dg_defence_counts *c);
/* Student accuracy minus defended accuracy, a rejected clean input
 * counting as an error and a corrected one as a gain; NaN without clean
 * inputs. */
double dg_accuracy_loss(const dg_defence_counts *c);

/* Scores are suspicion: higher means "more likely adversarial".  The
 * negatives are clean inputs, the positives adversarial ones. */

/* The area under the ROC curve: the probability that a random positive
 * scores above a random negative, ties counting one half.  NaN if either
 * side is empty.  neg and pos are sorted in place. */
double dg_roc_auc(float *neg, size_t n_neg, float *pos, size_t n_pos);

/* The smallest threshold t such that at most `fpr` of the negatives score
 * strictly above t (flagging is score > t).  neg is sorted in place;
 * n_neg must be at least 1. */
float dg_threshold_at_fpr(float *neg, size_t n_neg, double fpr);

/* Share of `scores` strictly above t; NaN if n is 0. */
double dg_share_above(const float *scores, size_t n, float t);

/* The ROC curve: for every distinct threshold from the highest score down,
 * the false and true positive rates, starting at (0,0) and ending at
 * (1,1).  neg and pos are sorted in place; fpr and tpr need
 * n_neg + n_pos + 2 entries.  Returns the point count. */
size_t dg_roc_curve(float *neg, size_t n_neg, float *pos, size_t n_pos,
                    double *fpr, double *tpr);

#endif
