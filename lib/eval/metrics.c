/* metrics.c - defence metrics from counts and scores. */
#include "eval/metrics.h"

#include <math.h>
#include <stdlib.h>

static double ratio(uint32_t part, uint32_t whole)
{
    return whole ? (double)part / whole : NAN;
}

double dg_defence_rate(const dg_defence_counts *c)
{
    return ratio(c->fooling_stopped, c->fooling);
}

double dg_false_rejection_rate(const dg_defence_counts *c)
{
    return ratio(c->clean_correct_rejected, c->clean_correct);
}

double dg_accuracy_loss(const dg_defence_counts *c)
{
    /* Only correct inputs can be lost: a rejected wrong answer stays an
     * error. */
    return c->clean ? ((double)c->clean_correct_rejected -
                       c->clean_wrong_corrected) / c->clean
                    : NAN;
}

static int compare_floats(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void sort_floats(float *v, size_t n)
{
    qsort(v, n, sizeof *v, compare_floats);
}

double dg_roc_auc(float *neg, size_t n_neg, float *pos, size_t n_pos)
{
    if (!n_neg || !n_pos) return NAN;
    sort_floats(neg, n_neg);
    sort_floats(pos, n_pos);
    /* For each positive: negatives below it, and those equal to it. */
    double wins = 0;
    size_t below = 0, up_to = 0;
    for (size_t i = 0; i < n_pos; i++) {
        while (below < n_neg && neg[below] < pos[i]) below++;
        if (up_to < below) up_to = below;
        while (up_to < n_neg && neg[up_to] <= pos[i]) up_to++;
        wins += below + 0.5 * (double)(up_to - below);
    }
    return wins / ((double)n_neg * n_pos);
}

float dg_threshold_at_fpr(float *neg, size_t n_neg, double fpr)
{
    sort_floats(neg, n_neg);
    /* The tolerance keeps 0.05 * 100 from rounding down to 4. */
    size_t allowed = (size_t)floor(fpr * (double)n_neg + 1e-9);
    if (allowed >= n_neg) return -INFINITY;
    return neg[n_neg - allowed - 1];
}

double dg_share_above(const float *scores, size_t n, float t)
{
    size_t above = 0;
    for (size_t i = 0; i < n; i++) above += scores[i] > t;
    return n ? (double)above / n : NAN;
}

size_t dg_roc_curve(float *neg, size_t n_neg, float *pos, size_t n_pos,
                    double *fpr, double *tpr)
{
    sort_floats(neg, n_neg);
    sort_floats(pos, n_pos);
    size_t points = 0;
    fpr[points] = 0;
    tpr[points++] = 0;
    /* Walk both sorted arrays from the top; each distinct score is a
     * threshold flagging everything at or above it. */
    size_t i = n_neg, j = n_pos;
    while (i > 0 || j > 0) {
        float v = i == 0                ? pos[j - 1]
                  : j == 0              ? neg[i - 1]
                  : neg[i - 1] > pos[j - 1] ? neg[i - 1]
                                            : pos[j - 1];
        while (i > 0 && neg[i - 1] >= v) i--;
        while (j > 0 && pos[j - 1] >= v) j--;
        fpr[points] = n_neg ? (double)(n_neg - i) / n_neg : 0;
        tpr[points++] = n_pos ? (double)(n_pos - j) / n_pos : 0;
    }
    fpr[points] = 1;
    tpr[points++] = 1;
    return points;
}
