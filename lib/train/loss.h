/* loss.h - training losses and their gradients with respect to the model
 * output.  Every loss is averaged over the batch, so gradients carry 1/N. */
#ifndef DG_TRAIN_LOSS_H
#define DG_TRAIN_LOSS_H

#include <stddef.h>
#include <stdint.h>

/* Softmax cross-entropy of logits (n x k) against integer labels.  Writes
 * d loss / d logits into grad (may be NULL) and returns the mean loss.
 * Counts correct argmax predictions into *correct when not NULL. */
double dg_loss_cross_entropy(const float *logits, const int32_t *labels,
                             uint32_t n, uint32_t k, float *grad,
                             uint32_t *correct);

/* Knowledge distillation (Hinton et al.): alpha * T^2 *
 * KL(softmax(teacher / T) || softmax(student / T)), mean over the batch.
 * ADDS its gradient with respect to the student logits into grad. */
double dg_loss_distill(const float *student, const float *teacher,
                       uint32_t n, uint32_t k, float alpha, float t,
                       float *grad);

/* L2 feature matching: sum over features of (f - target)^2, mean over the
 * batch; writes its gradient into grad (may be NULL). */
double dg_loss_feature_l2(const float *f, const float *target, uint32_t n,
                          size_t dim, float *grad);

/* Wang et al.'s patch (USENIX Security 2018): weight * max(cap - d, 0)^2
 * with d = ||f - ref||_2 per sample, mean over the batch; pushes features
 * f at least `cap` away from the reference ones.  Writes its gradient with
 * respect to f into grad (may be NULL): zero where d >= cap, and where
 * d = 0, which has no direction.  The mean d goes to *mean_distance. */
double dg_loss_distance_floor(const float *f, const float *ref, uint32_t n,
                              size_t dim, float cap, float weight,
                              float *grad, double *mean_distance);

#endif
