/* build.c - building a guard: prune and distil V differentiators per
 * Student class, score them on held-out clean data, rank them, calibrate
 * the acceptance thresholds for every M, and keep only their tails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/bytes.h"
#include "core/file.h"
#include "core/rng.h"
#include "core/vec.h"
#include "attack/attack.h"
#include "defence/ensemble.h"
#include "defence/pruner.h"
#include "io/dataset.h"
#include "io/model_format.h"
#include "nn/exec.h"
#include "train/loss.h"
#include "train/train.h"

/* Per class, fewer clean held-out samples than this are calibrated with
 * all classes pooled. */
enum { MIN_CALIBRATION_SAMPLES = 30 };

typedef struct builder {
    const dg_model *student;
    const dg_ensemble_opts *o;
    const dg_dataset *fit, *held;
    dg_dataset *own_fit, *own_held; /* when split off the training data */
    /* Distillation data: the fit samples, then defender-made attacks on
     * them (labelled with the source class), and what the Student sees
     * for each: the fit samples twice, so an attacked input learns the
     * Student's answer on its clean source. */
    dg_dataset *hardened, *hardened_sources;
    int32_t layers[4];
    dg_pruner *pruners[4];
    uint32_t classes;
    int32_t *held_pred;             /* Student's prediction per held sample */
    dg_model **models;              /* classes x variants, full models */
    /* Per class: the clean held-out samples (label c, Student correct) and
     * every variant's argmax and P(c) on them, in variant order. */
    uint32_t **clean, *n_clean;
    int32_t **vote;
    float **prob;
} builder;

static dg_status check_opts(const dg_ensemble_opts *o, int has_holdout)
{
    if (o->variants == 0 || o->variants > DG_MAX_MEMBERS ||
        o->members == 0 || o->members > o->variants)
        return dg_fail(DG_E_INVALID_ARG,
                       "%u variants and %u members (need 1 <= members <= "
                       "variants <= %d)",
                       o->variants, o->members, DG_MAX_MEMBERS);
    if (o->rule != DG_RULE_VOTES && o->rule != DG_RULE_SCORE)
        return dg_fail(DG_E_INVALID_ARG, "rule %d", o->rule);
    if (o->n_prune_layers == 0 || o->n_prune_layers > 4 || o->n_ratios == 0 ||
        o->n_ratios > 8)
        return dg_fail(DG_E_INVALID_ARG, "%u prune layers, %u ratios",
                       o->n_prune_layers, o->n_ratios);
    for (uint32_t k = 0; k < o->n_ratios; k++)
        if (!(o->ratios[k] > 0.0f && o->ratios[k] < 1.0f))
            return dg_fail(DG_E_INVALID_ARG, "ratio %g is not in (0, 1)",
                           (double)o->ratios[k]);
    if (!(o->target_frr > 0.0f && o->target_frr < 0.5f))
        return dg_fail(DG_E_INVALID_ARG, "target false rejection %g",
                       (double)o->target_frr);
    if (!has_holdout &&
        !(o->holdout_fraction > 0.0f && o->holdout_fraction < 1.0f))
        return dg_fail(DG_E_INVALID_ARG, "holdout fraction %g",
                       (double)o->holdout_fraction);
    if (o->prune_mode != DG_PRUNE_MOST && o->prune_mode != DG_PRUNE_LEAST)
        return dg_fail(DG_E_INVALID_ARG, "prune mode %d", o->prune_mode);
    if (o->harden &&
        (!(o->harden_epsilon > 0.0f && o->harden_epsilon <= 1.0f) ||
         !(o->harden_budget > 0.0f && o->harden_budget < 0.5f) ||
         o->harden_iterations == 0 || o->harden_iterations > 100000))
        return dg_fail(DG_E_INVALID_ARG,
                       "hardening epsilon %g, budget %g, %u iterations",
                       (double)o->harden_epsilon, (double)o->harden_budget,
                       o->harden_iterations);
    return DG_OK;
}

static int32_t last_conv(const dg_model *m)
{
    for (int32_t i = (int32_t)m->n_layers - 1; i >= 0; i--)
        if (m->layers[i].kind == DG_LAYER_CONV) return i;
    return -1;
}

static dg_status resolve_layers(builder *b)
{
    const dg_model *m = b->student;
    int32_t logits = dg_model_logits_layer(m);
    for (uint32_t k = 0; k < b->o->n_prune_layers; k++) {
        int32_t l = b->o->prune_layers[k];
        if (l == -1 && k == 0) l = last_conv(m);
        if (l < 0 || l >= logits ||
            (m->layers[l].kind != DG_LAYER_CONV &&
             m->layers[l].kind != DG_LAYER_LINEAR))
            return dg_fail(DG_E_INVALID_ARG,
                           "prune layer %d: need a convolution or linear "
                           "layer before the Student's output layer %d",
                           b->o->prune_layers[k], logits);
        b->layers[k] = l;
    }
    return DG_OK;
}

/* A data set of the samples idx[0..n-1] of ds. */
static dg_status take(const dg_dataset *ds, const uint32_t *idx, uint32_t n,
                      dg_dataset **out)
{
    DG_TRY(dg_dataset_alloc(n, ds->channels, ds->height, ds->width, out));
    for (uint32_t i = 0; i < n; i++) {
        memcpy(dg_dataset_sample(*out, i), dg_dataset_sample(ds, idx[i]),
               ds->sample_size);
        (*out)->labels[i] = ds->labels[idx[i]];
    }
    dg_dataset_count_classes(*out);
    return DG_OK;
}

/* Splits off a seeded, per-class share of the training data as held-out
 * data, so that every class keeps samples on both sides. */
static dg_status split(builder *b, const dg_dataset *train)
{
    uint32_t n = train->count, n_held = 0, n_fit = 0;
    uint32_t *held, *fit, *order;
    DG_TRY(dg_alloc_array((void **)&held, n, sizeof *held, "split"));
    dg_status s = dg_alloc_array((void **)&fit, n, sizeof *fit, "split");
    if (s == DG_OK) s = dg_alloc_array((void **)&order, n, sizeof *order, "split");
    if (s != DG_OK) {
        free(held);
        free(fit);
        return s;
    }
    dg_rng rng;
    dg_rng_seed(&rng, b->o->seed ^ 0x686f6c646f7574ull);
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    dg_rng_shuffle(&rng, order, n);
    for (int32_t c = 0; c < (int32_t)train->n_classes; c++) {
        uint32_t in_class = 0, taken = 0;
        for (uint32_t i = 0; i < n; i++) in_class += train->labels[i] == c;
        uint32_t want = (uint32_t)lroundf(b->o->holdout_fraction * in_class);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = order[k];
            if (train->labels[i] != c) continue;
            if (taken++ < want)
                held[n_held++] = i;
            else
                fit[n_fit++] = i;
        }
    }
    if (n_held == 0 || n_fit == 0)
        s = dg_fail(DG_E_INVALID_ARG,
                    "%u training samples are too few to hold some out", n);
    if (s == DG_OK) s = take(train, fit, n_fit, &b->own_fit);
    if (s == DG_OK) s = take(train, held, n_held, &b->own_held);
    free(held);
    free(fit);
    free(order);
    b->fit = b->own_fit;
    b->held = b->own_held;
    return s;
}

/* ---- defender-made attacks --------------------------------------------- */

/* The fit samples followed by `extra` zeroed ones. */
static dg_status fit_plus(const builder *b, uint32_t extra, dg_dataset **out)
{
    const dg_dataset *f = b->fit;
    DG_TRY(dg_dataset_alloc(f->count + extra, f->channels, f->height,
                            f->width, out));
    memcpy((*out)->pixels, f->pixels, (size_t)f->count * f->sample_size);
    memcpy((*out)->labels, f->labels, f->count * sizeof *f->labels);
    return DG_OK;
}

/* Progress of the two attack calls of harden() as one "harden" stage. */
typedef struct harden_progress {
    const dg_ensemble_opts *o;
    uint64_t before, total; /* steps of the earlier call, of both */
} harden_progress;

static int on_harden_progress(void *user, const char *stage, uint64_t done,
                              uint64_t total, double metric)
{
    (void)stage;
    (void)total;
    const harden_progress *p = user;
    return p->o->progress(p->o->progress_user, "harden", p->before + done,
                          p->total, metric);
}

/* Attacks every fit sample as the threat model's attacker would: the
 * Student's layers up to its cut are the public Teacher's, so mimicking a
 * sample of another class there is the attack.  Half the samples get the
 * L-infinity form, half the DSSIM form. */
static dg_status harden(builder *b)
{
    const dg_ensemble_opts *o = b->o;
    const dg_dataset *f = b->fit;
    uint32_t n = f->count;
    size_t px = f->sample_size;
    /* Every sample needs a target of another class. */
    uint32_t other = 0;
    while (other < n && f->labels[other] == f->labels[0]) other++;
    if (other == n)
        return dg_fail(DG_E_INVALID_ARG, "hardening needs training samples "
                                         "of two classes or more");
    float *src = NULL, *dst = NULL, *adv = NULL;
    DG_TRY(dg_alloc_array((void **)&src, (size_t)n * px, sizeof *src, "sources"));
    dg_status s = dg_alloc_array((void **)&dst, (size_t)n * px, sizeof *dst,
                                 "targets");
    if (s == DG_OK)
        s = dg_alloc_array((void **)&adv, (size_t)n * px, sizeof *adv,
                           "adversarial");
    dg_rng rng;
    dg_rng_seed(&rng, o->seed ^ 0x68617264656eull);
    for (uint32_t i = 0; s == DG_OK && i < n; i++) {
        uint32_t j;
        do j = dg_rng_below(&rng, n);
        while (f->labels[j] == f->labels[i]);
        for (size_t k = 0; k < px; k++) {
            src[(size_t)i * px + k] = dg_dataset_sample(f, i)[k] / 255.0f;
            dst[(size_t)i * px + k] = dg_dataset_sample(f, j)[k] / 255.0f;
        }
    }
    uint32_t half = n / 2;
    harden_progress hp = {o, 0, (uint64_t)n * o->harden_iterations};
    dg_attack_opts linf = {.struct_size = sizeof linf};
    dg_attack_opts dssim = {.struct_size = sizeof dssim};
    dg_attack_preset(&linf, DG_ATTACK_PRESET_STRONG);
    linf.method = DG_ATTACK_MIMIC_LINF;
    linf.epsilon = o->harden_epsilon;
    linf.step = o->harden_epsilon / 10;
    dg_attack_preset(&dssim, DG_ATTACK_PRESET_STRONG);
    dssim.budget = o->harden_budget;
    dssim.lambda = DG_ATTACK_STRONG_LAMBDA_BUDGET / o->harden_budget;
    dg_attack_opts *both[2] = {&linf, &dssim};
    for (int k = 0; k < 2; k++) {
        both[k]->iterations = o->harden_iterations;
        both[k]->seed = o->seed;
        both[k]->progress = o->progress ? on_harden_progress : NULL;
        both[k]->progress_user = &hp;
    }
    dg_attack_io first = {.sources = src, .targets = dst, .adversarial = adv};
    dg_attack_io second = {.sources = src + half * px,
                           .targets = dst + half * px,
                           .adversarial = adv + half * px};
    if (s == DG_OK) s = dg_attack_launch(b->student, &linf, half, &first);
    hp.before = (uint64_t)half * o->harden_iterations;
    if (s == DG_OK)
        s = dg_attack_launch(b->student, &dssim, n - half, &second);
    if (s == DG_OK) s = fit_plus(b, n, &b->hardened);
    if (s == DG_OK) s = fit_plus(b, n, &b->hardened_sources);
    for (uint32_t i = 0; s == DG_OK && i < n; i++) {
        uint8_t *a = dg_dataset_sample(b->hardened, n + i);
        for (size_t k = 0; k < px; k++)
            a[k] = (uint8_t)lroundf(adv[(size_t)i * px + k] * 255.0f);
        b->hardened->labels[n + i] = f->labels[i];
        memcpy(dg_dataset_sample(b->hardened_sources, n + i),
               dg_dataset_sample(f, i), px);
        b->hardened_sources->labels[n + i] = f->labels[i];
    }
    if (s == DG_OK) {
        dg_dataset_count_classes(b->hardened);
        dg_dataset_count_classes(b->hardened_sources);
    }
    free(src);
    free(dst);
    free(adv);
    return s;
}

/* ---- differentiators --------------------------------------------------- */

static void variant_plan(const builder *b, uint32_t c, uint32_t v,
                         int32_t *layer_index, float *ratio, uint64_t *seed)
{
    const dg_ensemble_opts *o = b->o;
    *layer_index = (int32_t)(v % o->n_prune_layers);
    *ratio = o->ratios[(v / o->n_prune_layers) % o->n_ratios];
    *seed = o->seed * 1000003ull + c * 1009ull + v;
}

/* Prune for class c, then fine-tune the layers after the pruned one (and it
 * too if asked) with cross-entropy plus distillation from the Student. */
static dg_status distil(builder *b, uint32_t c, uint32_t v, dg_model **out)
{
    const dg_ensemble_opts *o = b->o;
    int32_t which;
    float ratio;
    uint64_t seed;
    variant_plan(b, c, v, &which, &ratio, &seed);
    int32_t l = b->layers[which];
    dg_model *m;
    DG_TRY(dg_pruner_make(b->pruners[which], c, ratio, o->prune_mode, &m));
    for (int32_t i = 0; i < (int32_t)m->n_layers; i++) {
        int trainable = i > l || (i == l && o->retrain_pruned);
        if (trainable)
            m->layers[i].flags &= ~DG_LAYER_FLAG_FROZEN;
        else
            m->layers[i].flags |= DG_LAYER_FLAG_FROZEN;
    }
    dg_train_opts t;
    dg_train_defaults(&t);
    t.epochs = o->epochs;
    t.batch_size = o->batch_size;
    t.learning_rate = o->learning_rate;
    t.seed = seed;
    t.distill_from = b->student;
    t.distill_alpha = o->distill_alpha;
    t.distill_temperature = o->distill_temperature;
    dg_status s = b->hardened ? dg_train_run_paired(m, b->hardened,
                                                    b->hardened_sources, &t,
                                                    NULL)
                              : dg_train_run(m, b->fit, &t, NULL);
    if (s != DG_OK) {
        dg_model_destroy(m);
        return dg_fail_context(s, "differentiator %u of class %u", v, c);
    }
    *out = m;
    return DG_OK;
}

/* The settings and inputs a work directory's differentiators depend on. */
static uint64_t work_fingerprint(const builder *b, uint64_t student_hash)
{
    const dg_ensemble_opts *o = b->o;
    dg_writer w;
    dg_writer_init(&w);
    dg_put_u64(&w, student_hash);
    dg_put_u64(&w, dg_dataset_hash(b->fit));
    dg_put_u32(&w, o->n_prune_layers);
    for (uint32_t k = 0; k < o->n_prune_layers; k++)
        dg_put_u32(&w, (uint32_t)b->layers[k]);
    dg_put_u32(&w, o->n_ratios);
    dg_put_f32s(&w, o->ratios, o->n_ratios);
    dg_put_u32(&w, (uint32_t)o->prune_mode);
    dg_put_u32(&w, (uint32_t)o->retrain_pruned);
    dg_put_u32(&w, o->epochs);
    dg_put_u32(&w, o->batch_size);
    dg_put_f32(&w, o->learning_rate);
    dg_put_f32(&w, o->distill_alpha);
    dg_put_f32(&w, o->distill_temperature);
    dg_put_u64(&w, o->seed);
    dg_put_u32(&w, (uint32_t)(o->harden != 0));
    if (o->harden) {
        dg_put_f32(&w, o->harden_epsilon);
        dg_put_f32(&w, o->harden_budget);
        dg_put_u32(&w, o->harden_iterations);
    }
    uint64_t h = w.status == DG_OK ? dg_hash64(w.data, w.len) : 0;
    dg_writer_release(&w);
    return h;
}

/* A work directory belongs to one set of settings: a marker file holds
 * their fingerprint, and a directory made for others is refused rather
 * than silently mixed. */
static dg_status claim_work_dir(const builder *b, uint64_t student_hash)
{
    const char *dir = b->o->work_dir;
    if (mkdir(dir, 0755) != 0 && access(dir, W_OK) != 0)
        return dg_fail(DG_E_IO, "cannot use %s as the work directory", dir);
    char path[4096], want[32];
    snprintf(path, sizeof path, "%s/settings.fingerprint", dir);
    snprintf(want, sizeof want, "%016llx\n",
             (unsigned long long)work_fingerprint(b, student_hash));
    uint8_t *have;
    size_t len;
    if (dg_file_read_all(path, 64, &have, &len) == DG_OK) {
        int same = len == strlen(want) && memcmp(have, want, len) == 0;
        free(have);
        if (!same)
            return dg_fail(DG_E_MISMATCH,
                           "%s holds differentiators built with other "
                           "settings, data or Student; remove it or choose "
                           "another work directory",
                           dir);
        return DG_OK;
    }
    return dg_file_write_atomic(path, want, strlen(want));
}

static dg_status obtain_member(builder *b, uint32_t c, uint32_t v,
                               dg_model **out)
{
    char path[4096];
    if (b->o->work_dir) {
        snprintf(path, sizeof path, "%s/class%u-variant%u.dgm", b->o->work_dir,
                 c, v);
        struct stat st;
        if (stat(path, &st) == 0) return dg_model_load_path(path, out);
    }
    /* Hardened data is made when the first differentiator needs it, so a
     * resumed build whose members are all in the work directory skips
     * the attacks. */
    if (b->o->harden && !b->hardened) DG_TRY(harden(b));
    DG_TRY(distil(b, c, v, out));
    if (b->o->work_dir) return dg_model_save_path(*out, path);
    return DG_OK;
}

/* ---- scoring and calibration ------------------------------------------- */

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

/* Runs every variant of class c on its clean held-out samples. */
static dg_status score_class(builder *b, uint32_t c)
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

/* Ranks class c's variants by score (stable: ties keep variant order);
 * rank[r] is the variant at rank r. */
static void rank_class(const builder *b, const dg_member *m, uint32_t *rank)
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

/* Sets tau (the most votes whose expected false rejection stays within
 * the target) and theta (the highest score that does) for M members from
 * the samples of the given classes. */
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
    /* theta = scores[k] rejects the k scores below it (fewer on ties):
     * the largest k whose expected rate is within the target, or none. */
    qsort(scores, n, sizeof *scores, cmp_float);
    uint32_t k = 0;
    while (k + 1 < n && expected_frr(k + 1, n) <= target) k++;
    t->theta = scores[k];
    uint32_t below = 0;
    for (uint32_t j = 0; j < n; j++) below += scores[j] < t->theta;
    t->frr_score = (float)below / (float)n;
    free(votes);
    free(scores);
    return DG_OK;
}

static dg_status calibrate_all(builder *b, dg_ensemble *g, uint32_t **ranks)
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

/* ---- assembly ----------------------------------------------------------- */

static void builder_free(builder *b)
{
    uint32_t n = b->classes * (b->o ? b->o->variants : 0);
    for (uint32_t k = 0; b->models && k < n; k++) dg_model_unref(b->models[k]);
    for (uint32_t c = 0; c < b->classes; c++) {
        if (b->clean) free(b->clean[c]);
        if (b->vote) free(b->vote[c]);
        if (b->prob) free(b->prob[c]);
    }
    for (int k = 0; k < 4; k++) dg_pruner_destroy(b->pruners[k]);
    free(b->models);
    free(b->clean);
    free(b->n_clean);
    free(b->vote);
    free(b->prob);
    free(b->held_pred);
    dg_dataset_destroy(b->own_fit);
    dg_dataset_destroy(b->own_held);
    dg_dataset_destroy(b->hardened);
    dg_dataset_destroy(b->hardened_sources);
}

static dg_status builder_init(builder *b, const dg_model *student,
                              const dg_dataset *train,
                              const dg_dataset *holdout,
                              const dg_ensemble_opts *o)
{
    b->student = student;
    b->o = o;
    b->classes = (uint32_t)dg_shape_size(dg_model_output_shape(student));
    DG_TRY(check_opts(o, holdout != NULL));
    DG_TRY(resolve_layers(b));
    if (holdout) {
        b->fit = train;
        b->held = holdout;
    } else {
        DG_TRY(split(b, train));
    }
    if (b->fit->n_classes > b->classes || b->held->n_classes > b->classes)
        return dg_fail(DG_E_SHAPE, "labels exceed the Student's %u classes",
                       b->classes);
    size_t cv = (size_t)b->classes * o->variants;
    DG_TRY(dg_alloc_array((void **)&b->models, cv, sizeof *b->models, "models"));
    DG_TRY(dg_alloc_array((void **)&b->clean, b->classes, sizeof *b->clean, "clean"));
    DG_TRY(dg_alloc_array((void **)&b->n_clean, b->classes, sizeof *b->n_clean,
                          "clean"));
    DG_TRY(dg_alloc_array((void **)&b->vote, b->classes, sizeof *b->vote, "votes"));
    DG_TRY(dg_alloc_array((void **)&b->prob, b->classes, sizeof *b->prob, "scores"));
    return dg_alloc_array((void **)&b->held_pred, b->held->count,
                          sizeof *b->held_pred, "predictions");
}

static dg_status build_members(builder *b, uint64_t student_hash)
{
    const dg_ensemble_opts *o = b->o;
    for (uint32_t k = 0; k < o->n_prune_layers; k++) {
        int32_t measured = dg_measured_layer(b->student, b->layers[k]);
        DG_TRY(dg_pruner_new(b->student, measured, &b->pruners[k]));
        DG_TRY(dg_pruner_run(b->pruners[k], b->fit, NULL, NULL));
    }
    if (o->work_dir) DG_TRY(claim_work_dir(b, student_hash));
    uint32_t V = o->variants, total = b->classes * V;
    for (uint32_t c = 0; c < b->classes; c++)
        for (uint32_t v = 0; v < V; v++) {
            DG_TRY(obtain_member(b, c, v, &b->models[c * V + v]));
            if (o->progress &&
                o->progress(o->progress_user, "differentiators",
                            c * V + v + 1, total, NAN))
                return dg_fail(DG_E_CANCELLED,
                               "guard build stopped; built differentiators "
                               "are kept in the work directory");
        }
    return DG_OK;
}

/* Fills class c of g: members in rank order, as tails over the Student. */
static dg_status assemble_class(builder *b, dg_ensemble *g, uint32_t c,
                                const uint32_t *rank, const dg_member *scored)
{
    for (uint32_t r = 0; r < b->o->variants; r++) {
        uint32_t v = rank[r];
        dg_member *m = &g->per_class[c].members[r];
        *m = scored[v];
        DG_TRY(dg_model_slice(b->models[c * b->o->variants + v],
                              (uint32_t)m->first, &m->tail));
    }
    return DG_OK;
}

static dg_status assemble(builder *b, dg_ensemble *g)
{
    uint32_t V = b->o->variants;
    uint32_t **ranks;
    dg_member *scored;
    DG_TRY(dg_alloc_array((void **)&ranks, b->classes, sizeof *ranks, "ranks"));
    dg_status s = dg_alloc_array((void **)&scored, V, sizeof *scored, "members");
    for (uint32_t c = 0; c < b->classes && s == DG_OK; c++) {
        s = dg_alloc_array((void **)&ranks[c], V, sizeof **ranks, "ranks");
        if (s == DG_OK) s = score_class(b, c);
        for (uint32_t v = 0; v < V && s == DG_OK; v++) {
            int32_t which;
            dg_member *m = &scored[v];
            memset(m, 0, sizeof *m);
            variant_plan(b, c, v, &which, &m->ratio, &m->seed);
            m->prune_layer = m->first = b->layers[which];
            m->mode = b->o->prune_mode;
            uint32_t agree = 0;
            for (uint32_t i = 0; i < b->n_clean[c]; i++)
                agree += b->vote[c][(size_t)i * V + v] == (int32_t)c;
            m->agreement = b->n_clean[c] ? (float)agree / b->n_clean[c] : 0;
            m->score = m->agreement;
        }
        if (s == DG_OK) {
            rank_class(b, scored, ranks[c]);
            s = assemble_class(b, g, c, ranks[c], scored);
        }
    }
    if (s == DG_OK) s = calibrate_all(b, g, ranks);
    for (uint32_t c = 0; c < b->classes; c++) free(ranks[c]);
    free(ranks);
    free(scored);
    return s;
}

static void describe(const builder *b, dg_ensemble *g)
{
    const dg_ensemble_opts *o = b->o;
    int n = snprintf(g->settings, sizeof g->settings,
                     "variants=%u members=%u rule=%s mode=%s "
                     "retrain_pruned=%d epochs=%u batch=%u lr=%g alpha=%g "
                     "T=%g target_frr=%g seed=%llu prune_layers=",
                     o->variants, o->members,
                     o->rule == DG_RULE_VOTES ? "votes" : "score",
                     o->prune_mode == DG_PRUNE_MOST ? "most" : "least",
                     o->retrain_pruned, o->epochs, o->batch_size,
                     (double)o->learning_rate, (double)o->distill_alpha,
                     (double)o->distill_temperature, (double)o->target_frr,
                     (unsigned long long)o->seed);
    for (uint32_t k = 0; k < o->n_prune_layers && n > 0 &&
                         (size_t)n < sizeof g->settings;
         k++)
        n += snprintf(g->settings + n, sizeof g->settings - (size_t)n, "%s%d",
                      k ? "," : "", b->layers[k]);
    for (uint32_t k = 0; k < o->n_ratios && n > 0 &&
                         (size_t)n < sizeof g->settings;
         k++)
        n += snprintf(g->settings + n, sizeof g->settings - (size_t)n,
                      "%s%g", k ? "," : " ratios=", (double)o->ratios[k]);
    if (n > 0 && (size_t)n < sizeof g->settings && o->harden)
        snprintf(g->settings + n, sizeof g->settings - (size_t)n,
                 " harden=linf:%g,dssim:%g,iterations:%u",
                 (double)o->harden_epsilon, (double)o->harden_budget,
                 o->harden_iterations);
}

dg_status dg_ensemble_make(const dg_model *student, const dg_dataset *train,
                           const dg_dataset *holdout,
                           const dg_ensemble_opts *o, dg_ensemble **out)
{
    *out = NULL;
    builder b;
    memset(&b, 0, sizeof b);
    dg_ensemble *g = NULL;
    uint64_t hash = 0;
    dg_status s = builder_init(&b, student, train, holdout, o);
    if (s == DG_OK) s = dg_model_hash(student, &hash);
    if (s == DG_OK) s = build_members(&b, hash);
    if (s == DG_OK)
        s = dg_predict_all(student, b.held, b.held_pred, NULL, NULL);
    if (s == DG_OK) s = dg_ensemble_alloc(student, b.classes, o->variants, &g);
    if (s == DG_OK) s = assemble(&b, g);
    if (s == DG_OK) {
        g->student_hash = hash;
        g->members = o->members;
        g->rule = o->rule;
        g->target_frr = o->target_frr;
        g->data_hash = dg_dataset_hash(b.fit);
        describe(&b, g);
        *out = g;
    } else {
        dg_ensemble_destroy(g);
    }
    builder_free(&b);
    return s;
}
