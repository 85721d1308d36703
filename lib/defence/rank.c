/* rank.c - scoring, ranking and calibration for a guard build: every
 * variant run on the clean held-out samples of its class, ranked by
 * agreement with the Student, and the acceptance thresholds (tau for
 * votes, theta for scores) set for every M so that the expected false
 * rejection on fresh inputs stays within the target. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/vec.h"
#include "defence/builder.h"
#include "nn/exec.h"
#include "train/train.h"

/* Per class, fewer clean held-out samples than this are calibrated with
 * all classes pooled. */
enum { MIN_CALIBRATION_SAMPLES = 30 };

/* Variant v of class c on a batch of class c's clean held-out samples. */
typedef struct scoring {
    builder *b;
    uint32_t c, v;
    int32_t logits;
} scoring;

static dg_status score_batch(void *user, const dg_exec *e, uint32_t first,
                             uint32_t count, const int32_t *labels)
{
    (void)labels;
    const scoring *sc = user;
    builder *b = sc->b;
    uint32_t V = b->o->variants, c = sc->c;
    const dg_model *m = b->models[c * V + sc->v];
    uint32_t k = (uint32_t)dg_shape_size(m->layers[sc->logits].out);
    const float *y = dg_exec_output(e, sc->logits);
    if (!y) return DG_E_STATE;
    for (uint32_t i = 0; i < count; i++) {
        const float *row = y + (size_t)i * k;
        size_t at = (size_t)(first + i) * V + sc->v;
        b->vote[c][at] = (int32_t)dg_argmax(row, k);
        b->prob[c][at] = dg_softmax_at(row, k, c);
    }
    return DG_OK;
}

dg_status dg_builder_score_class(builder *b, uint32_t c)
{
    const dg_dataset *h = b->held;
    uint32_t V = b->o->variants, n = 0;
    for (uint32_t i = 0; i < h->count; i++)
        n += h->labels[i] == (int32_t)c && b->held_pred[i] == (int32_t)c;
    b->n_clean[c] = n;
    if (n == 0) return DG_OK;
    DG_TRY(dg_alloc_array((void **)&b->clean[c], n, sizeof(uint32_t), "clean"));
    DG_TRY(dg_alloc_array((void **)&b->vote[c], (size_t)n * V, sizeof(int32_t),
                          "votes"));
    DG_TRY(dg_alloc_array((void **)&b->prob[c], (size_t)n * V, sizeof(float),
                          "scores"));
    for (uint32_t i = 0, k = 0; i < h->count; i++)
        if (h->labels[i] == (int32_t)c && b->held_pred[i] == (int32_t)c)
            b->clean[c][k++] = i;
    for (uint32_t v = 0; v < V; v++) {
        scoring sc = {b, c, v, dg_model_logits_layer(b->models[c * V + v])};
        DG_TRY(dg_forward_batches(b->models[c * V + v], h, b->clean[c], n,
                                  256, -1, score_batch, &sc));
    }
    return DG_OK;
}

void dg_builder_rank_class(const builder *b, const dg_member *m,
                           uint32_t *rank)
{
    uint32_t V = b->o->variants;
    for (uint32_t v = 0; v < V; v++) rank[v] = v;
    for (uint32_t i = 1; i < V; i++)
        for (uint32_t j = i; j > 0 && m[rank[j]].score > m[rank[j - 1]].score; j--) {
            uint32_t t = rank[j];
            rank[j] = rank[j - 1];
            rank[j - 1] = t;
        }
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Votes and mean score of the first M ranked members on one sample. */
static void top_m(const builder *b, uint32_t c, uint32_t i, const uint32_t *rank,
                  uint32_t M, uint32_t *votes, float *score)
{
    uint32_t V = b->o->variants, agree = 0;
    double sum = 0;
    for (uint32_t r = 0; r < M; r++) {
        size_t at = (size_t)i * V + rank[r];
        agree += b->vote[c][at] == (int32_t)c;
        sum += b->prob[c][at];
    }
    *votes = agree;
    *score = (float)(sum / M);
}

/* The false rejection a threshold that rejects `rejected` of n clean
 * held-out samples can be expected to show on fresh inputs.  A threshold
 * set from the samples themselves flatters them: placed at the (k+1)-th
 * smallest of n scores, it rejects a fresh input with probability
 * (k+1)/(n+1), not k/n (the order statistics of a uniform). */
static float expected_frr(uint32_t rejected, uint32_t n)
{
    return (float)(rejected + 1) / (float)(n + 1);
}

/* Scores on the logit scale, where a member's confident answers (near 1)
 * and its doubtful ones (near 0) are spread apart instead of piled up. */
static double logit(double p)
{
    const double eps = 1e-9; /* a float score may be exactly 0 or 1 */
    p = p < eps ? eps : p > 1 - eps ? 1 - eps : p;
    return log(p / (1 - p));
}

/* The score whose false rejection on fresh inputs is the target, in
 * expectation, from the n clean scores sorted upwards, when the target
 * rank target * (n + 1) is below 3.
 *
 * The target then lies among the lowest one or two of 30 to 90 scores, where
 * one order statistic is a noisy guess and, below the smallest, any line
 * to 0 is a guess about the shape of the tail (with 30 scores and a 3%
 * target that guess rejected 1% of fresh inputs).  So the tail is
 * modelled instead: below the k-th smallest score z_k (on the logit
 * scale), whose share of the class is F_k = k / (n + 1), the share of
 * fresh scores below z is taken to fall exponentially,
 * F(z) = F_k exp((z - z_k) / s), with s estimated from the k - 1 scores
 * beneath z_k: their gaps G = sum(z_k - z_i) follow Gamma(k - 1, s).  The
 * threshold
 *     theta = z_k - ((F_k / target)^(1 / (k - 1)) - 1) G
 * then rejects fresh inputs with expected rate exactly `target` (the
 * moment generating function of the Gamma), not the larger rate the
 * plain estimate of s would give.  k = ceil(4 target (n + 1)) + 1 takes
 * the lowest 4 targets' worth of scores: measured on the stored scores of
 * three guards and the test fixture (doc/EVALUATION.md), fewer made the
 * rate noisier and more biased the fit. */
static float tail_theta(const float *sorted, uint32_t n, float target)
{
    uint32_t k = (uint32_t)ceil(4.0 * target * (n + 1.0)) + 1;
    if (k > n) k = n;
    double share = (double)k / (n + 1.0), zk = logit(sorted[k - 1]), gaps = 0;
    for (uint32_t i = 0; i + 1 < k; i++) gaps += zk - logit(sorted[i]);
    double z = zk - (pow(share / target, 1.0 / (k - 1)) - 1) * gaps;
    return (float)(1 / (1 + exp(-z)));
}

/* From this rank on, the target lies between order statistics with
 * enough below them that a line between the two neighbours is as good as
 * the tail model (measured at a 10% target: 10.0-10.2% against 10.0-10.8%
 * reached). */
#define MIN_INTERPOLATED_RANK 3.0

/* The score whose false rejection on fresh inputs is the target: the
 * j-th smallest of n scores rejects a fresh input with probability
 * j / (n + 1), so theta lies at the fractional rank target * (n + 1),
 * between its neighbours, or, below rank 3, on the modelled tail. */
static float score_theta(const float *sorted, uint32_t n, float target)
{
    double rank = (double)target * (n + 1.0);
    if (n < 2) return (float)(sorted[0] * rank);
    if (rank < MIN_INTERPOLATED_RANK) return tail_theta(sorted, n, target);
    uint32_t j = (uint32_t)rank; /* the lower neighbour, 1-based, < n */
    return (float)(sorted[j - 1] + (rank - j) * (sorted[j] - sorted[j - 1]));
}

/* Sets tau (the most votes whose expected false rejection stays within
 * the target) and theta (the score whose expected rejection is the
 * target) for M members from the samples of the given classes. */
static dg_status calibrate(const builder *b, uint32_t **ranks,
                           const uint32_t *classes, uint32_t n_classes,
                           uint32_t M, dg_threshold *t)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < n_classes; k++) n += b->n_clean[classes[k]];
    memset(t, 0, sizeof *t);
    t->tau = 1;
    t->samples = n;
    if (n == 0) return DG_OK;
    uint32_t *votes;
    float *scores;
    DG_TRY(dg_alloc_array((void **)&votes, n, sizeof *votes, "calibration"));
    dg_status s = dg_alloc_array((void **)&scores, n, sizeof *scores,
                                 "calibration");
    if (s != DG_OK) {
        free(votes);
        return s;
    }
    for (uint32_t k = 0, j = 0; k < n_classes; k++)
        for (uint32_t i = 0; i < b->n_clean[classes[k]]; i++, j++)
            top_m(b, classes[k], i, ranks[classes[k]], M, &votes[j], &scores[j]);
    float target = b->o->target_frr;
    for (uint32_t tau = M; tau >= 1; tau--) {
        uint32_t rejected = 0;
        for (uint32_t j = 0; j < n; j++) rejected += votes[j] < tau;
        if (expected_frr(rejected, n) <= target || tau == 1) {
            t->tau = tau;
            t->frr_votes = (float)rejected / (float)n;
            break;
        }
    }
    qsort(scores, n, sizeof *scores, cmp_float);
    t->theta = score_theta(scores, n, target);
    uint32_t below = 0;
    for (uint32_t j = 0; j < n; j++) below += scores[j] < t->theta;
    t->frr_score = (float)below / (float)n;
    free(votes);
    free(scores);
    return DG_OK;
}

dg_status dg_builder_calibrate(builder *b, dg_ensemble *g, uint32_t **ranks)
{
    uint32_t *all;
    DG_TRY(dg_alloc_array((void **)&all, b->classes, sizeof *all, "classes"));
    for (uint32_t c = 0; c < b->classes; c++) all[c] = c;
    dg_status s = DG_OK;
    for (uint32_t M = 1; M <= b->o->variants && s == DG_OK; M++) {
        dg_threshold pooled;
        s = calibrate(b, ranks, all, b->classes, M, &pooled);
        pooled.pooled = 1;
        for (uint32_t c = 0; c < b->classes && s == DG_OK; c++) {
            dg_threshold *t = &g->per_class[c].thresholds[M - 1];
            if (b->n_clean[c] >= MIN_CALIBRATION_SAMPLES) {
                s = calibrate(b, ranks, &c, 1, M, t);
            } else {
                *t = pooled;
            }
        }
    }
    free(all);
    return s;
}
