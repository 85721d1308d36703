/* loss.c - training losses and their gradients. */
#include "train/loss.h"

#include <math.h>
#include <string.h>

#include "core/vec.h"

double dg_loss_cross_entropy(const float *logits, const int32_t *labels,
                             uint32_t n, uint32_t k, float *grad,
                             uint32_t *correct)
{
    double total = 0;
    uint32_t hits = 0;
    for (uint32_t i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        hits += dg_argmax(z, k) == (uint32_t)labels[i];
        double log_sum = dg_log_sum_exp(z, k, 1.0f);
        total += log_sum - z[labels[i]];
        if (!grad) continue;
        float *g = grad + (size_t)i * k;
        for (uint32_t j = 0; j < k; j++) {
            double pj = exp((double)z[j] - log_sum);
            g[j] = (float)((pj - (j == (uint32_t)labels[i])) / n);
        }
    }
    if (correct) *correct = hits;
    return total / n;
}

double dg_loss_distill(const float *student, const float *teacher,
                       uint32_t n, uint32_t k, float alpha, float t,
                       float *grad)
{
    double total = 0;
    for (uint32_t i = 0; i < n; i++) {
        const float *zs = student + (size_t)i * k, *zt = teacher + (size_t)i * k;
        double ls = dg_log_sum_exp(zs, k, t), lt = dg_log_sum_exp(zt, k, t);
        float *g = grad + (size_t)i * k;
        for (uint32_t j = 0; j < k; j++) {
            double log_p = zt[j] / (double)t - lt, log_q = zs[j] / (double)t - ls;
            double p = exp(log_p), q = exp(log_q);
            total += p * (log_p - log_q);
            /* d/dz_student of T^2 KL(p || softmax(z / T)) = T (q - p). */
            g[j] += (float)(alpha * t * (q - p) / n);
        }
    }
    return alpha * t * t * total / n;
}

double dg_loss_feature_l2(const float *f, const float *target, uint32_t n,
                          size_t dim, float *grad)
{
    double total = 0;
    for (size_t i = 0; i < (size_t)n * dim; i++) {
        double d = (double)f[i] - target[i];
        total += d * d;
        if (grad) grad[i] = (float)(2 * d / n);
    }
    return total / n;
}

double dg_loss_distance_floor(const float *f, const float *ref, uint32_t n,
                              size_t dim, float cap, float weight,
                              float *grad, double *mean_distance)
{
    double total = 0, distances = 0;
    for (uint32_t i = 0; i < n; i++) {
        const float *a = f + (size_t)i * dim, *b = ref + (size_t)i * dim;
        double sq = 0;
        for (size_t j = 0; j < dim; j++) {
            double d = (double)a[j] - b[j];
            sq += d * d;
        }
        double d = sqrt(sq), short_by = cap - d > 0 ? cap - d : 0;
        distances += d;
        total += weight * short_by * short_by;
        if (!grad) continue;
        /* d/df of w (cap - d)^2 = -2 w (cap - d) (f - ref) / d. */
        double scale = d > 0 ? -2 * weight * short_by / (d * n) : 0;
        float *g = grad + (size_t)i * dim;
        for (size_t j = 0; j < dim; j++)
            g[j] = (float)(scale * ((double)a[j] - b[j]));
    }
    if (mean_distance) *mean_distance = distances / n;
    return total / n;
}
