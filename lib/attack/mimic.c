/* mimic.c - one worker's optimisation of a chunk of images: Teacher-feature
 * mimicry under a DSSIM budget (tanh space, Adam or Adadelta) or in an
 * L-infinity box, and FGSM/PGD on a classifier's cross-entropy; each with
 * an optional adaptive term, the mean loss of extra whole classifiers.
 *
 * Every method runs the same loop: evaluate the batch of still active
 * images (forward and backward through every model of the objective,
 * budget, best iterate, early stop), then step the ones that go on
 * (optimiser or sign step).  Images never interact: losses, model draws,
 * optimiser state and stopping are per image; the batch only shares
 * executor calls. */
#include "attack/attack.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attack/msssim.h"
#include "core/alloc.h"
#include "core/bytes.h"
#include "core/rng.h"
#include "core/vec.h"
#include "nn/exec.h"

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8
#define ADADELTA_RHO 0.95
#define ADADELTA_EPS 1e-8
/* |x' - x_s| <= epsilon is checked with this slack for float rounding. */
#define BOX_SLACK 1e-6f
/* Executor memory a worker may spend on adaptive models; more models run
 * in smaller pieces of the batch rather than growing it. */
#define ADAPTIVE_MEMORY ((size_t)256 << 20)
/* Bytes per image an executor with input gradients is assumed to hold per
 * float of activations: the outputs, their gradients and backend scratch. */
#define EXEC_BYTES_PER_ACTIVATION (3 * sizeof(float))

/* Pixels in [0,1] to model input, per channel: input = pixel * gain +
 * offset, which is the model's (pixel * 255 * scale - mean) / std. */
typedef struct pixel_map {
    uint32_t channels;
    size_t plane;
    float gain[3], offset[3];
} pixel_map;

/* An extra classifier of the adaptive term. */
typedef struct adaptive_model {
    const dg_model *model;
    dg_exec *exec;   /* NULL: it joins no image of the job */
    pixel_map map;
    int32_t logits;  /* the layer its loss reads */
    size_t classes;
    int32_t cls;     /* the class of the images it joins; -1: all */
} adaptive_model;

typedef struct image_state {
    uint32_t index;        /* in the job */
    float *param;          /* tanh space: m; box methods: unused */
    float *origin;         /* tanh space: s0 = atanh((x_s - 0.5) c) */
    float *x;              /* the current iterate x' */
    float *best;           /* the best iterate within budget */
    float *moment1, *moment2; /* optimiser state */
    double objective;      /* at the current iterate */
    double dssim;          /* at the current iterate (DSSIM form) */
    double best_objective;
    double reference;      /* objective at the last improvement */
    uint32_t stale;        /* evaluations since the last improvement */
    uint32_t steps;        /* optimiser steps taken (Adam's t) */
    int has_best, done;
    dg_rng rng;
} image_state;

struct dg_attack_worker {
    const dg_attack_job *job;
    dg_exec *exec;         /* the attacked model, with input gradients;
                              NULL without a feature term */
    dg_exec *check;        /* the check model, or NULL */
    dg_msssim *ssim;
    pixel_map map, check_map;
    uint32_t cap;          /* images per batch */
    size_t pixels;         /* per image */
    size_t n_out;          /* objective layer outputs per image */
    size_t n_check;        /* check model outputs per image */
    float *input;          /* cap x pixels: model input */
    float *check_input;    /* cap x pixels, with a check model */
    float *diff;           /* cap x n_out: d objective / d layer output */
    float *goal;           /* cap x n_out: target features (mimicry) */
    float *grad;           /* cap x pixels: d objective / d pixel */
    float *ssim_grad;      /* pixels: d DSSIM / d pixel of one image */
    float *rounded;        /* pixels: one image on the 1/255 grid */
    float *state_block;    /* owns every image_state array */
    image_state *img;      /* cap */
    uint32_t *active;      /* slots of the images in the batch, in order */
    const float **row_pixels; /* cap: the pixels each batch row is judged at */
    double *feature;       /* cap: the feature term of each row */
    double *adaptive;      /* cap: the mean adaptive loss of each row */

    adaptive_model *models; /* opts.n_adaptive_models */
    uint32_t n_models;     /* 0 without an adaptive term */
    uint32_t piece;        /* images per adaptive executor call */
    float *piece_input;    /* piece x pixels */
    float *piece_diff;     /* piece x the most classes of a model */
    uint32_t *piece_rows;  /* piece: the batch rows in a piece */
    uint8_t *drawn;        /* cap x n_models: model k joins row r now */
    uint32_t *n_drawn;     /* cap: models joining row r now */
    uint32_t *candidates;  /* n_models: scratch for the draw */
};

dg_status dg_attack_default_layer(const dg_model *m, int32_t *layer)
{
    for (int32_t i = (int32_t)m->n_layers - 1; i > 0; i--)
        if (m->layers[i].kind == DG_LAYER_LINEAR) {
            *layer = i - 1;
            return DG_OK;
        }
    return dg_fail(DG_E_INVALID_ARG,
                   "the model has no final linear layer after its first "
                   "layer; give feature_layer explicitly");
}

static void pixel_map_init(pixel_map *p, const dg_model *m)
{
    p->channels = m->input.c;
    p->plane = (size_t)m->input.h * m->input.w;
    for (uint32_t c = 0; c < p->channels; c++) {
        dg_pixel_map(&m->pre, c, &p->gain[c], &p->offset[c]);
    }
}

static void to_input(const pixel_map *p, const float *pixels, float *out)
{
    for (uint32_t c = 0; c < p->channels; c++)
        for (size_t k = 0; k < p->plane; k++) {
            size_t at = c * p->plane + k;
            out[at] = pixels[at] * p->gain[c] + p->offset[c];
        }
}

/* Adds scale * d loss / d pixel, from d loss / d input, to out. */
static void add_pixel_grad(const pixel_map *p, const float *input_grad,
                           float scale, float *out)
{
    for (uint32_t c = 0; c < p->channels; c++)
        for (size_t k = 0; k < p->plane; k++) {
            size_t at = c * p->plane + k;
            out[at] += input_grad[at] * p->gain[c] * scale;
        }
}

static const float *source_of(const dg_attack_job *job, uint32_t index,
                              size_t pixels)
{
    return job->sources + (size_t)index * pixels;
}

void dg_attack_worker_free(dg_attack_worker *w)
{
    if (!w) return;
    dg_exec_free(w->exec);
    dg_exec_free(w->check);
    for (uint32_t k = 0; w->models && k < w->n_models; k++)
        dg_exec_free(w->models[k].exec);
    free(w->models);
    dg_free_aligned(w->piece_input);
    dg_free_aligned(w->piece_diff);
    free(w->piece_rows);
    free(w->drawn);
    free(w->n_drawn);
    free(w->candidates);
    free(w->row_pixels);
    free(w->feature);
    free(w->adaptive);
    dg_msssim_free(w->ssim);
    dg_free_aligned(w->input);
    dg_free_aligned(w->check_input);
    dg_free_aligned(w->diff);
    dg_free_aligned(w->goal);
    dg_free_aligned(w->grad);
    dg_free_aligned(w->ssim_grad);
    dg_free_aligned(w->rounded);
    dg_free_aligned(w->state_block);
    free(w->img);
    free(w->active);
    free(w);
}

static int has_feature_term(const dg_attack_job *job)
{
    return job->opts.feature_weight > 0;
}

/* Per image: param, origin, x, best, moment1, moment2. */
enum { STATE_ARRAYS = 6 };

static dg_status alloc_worker(dg_attack_worker *w)
{
    const dg_attack_job *job = w->job;
    size_t batch_pixels = (size_t)w->cap * w->pixels;
    size_t batch_out = (size_t)w->cap * w->n_out;
    DG_TRY(dg_alloc_aligned(&w->input, batch_pixels, "attack input"));
    if (job->check_model)
        DG_TRY(dg_alloc_aligned(&w->check_input, batch_pixels,
                                "check model input"));
    DG_TRY(dg_alloc_aligned(&w->diff, batch_out, "attack output gradient"));
    if (dg_attack_is_mimicry(job->opts.method) && has_feature_term(job))
        DG_TRY(dg_alloc_aligned(&w->goal, batch_out, "target features"));
    DG_TRY(dg_alloc_aligned(&w->grad, batch_pixels, "pixel gradient"));
    DG_TRY(dg_alloc_aligned(&w->ssim_grad, w->pixels, "DSSIM gradient"));
    DG_TRY(dg_alloc_aligned(&w->rounded, w->pixels, "rounded image"));
    DG_TRY(dg_alloc_aligned(&w->state_block, STATE_ARRAYS * batch_pixels,
                            "attack state"));
    DG_TRY(dg_alloc_array((void **)&w->img, w->cap, sizeof *w->img,
                          "attack images"));
    DG_TRY(dg_alloc_array((void **)&w->active, w->cap, sizeof *w->active,
                          "attack batch"));
    DG_TRY(dg_alloc_array((void **)&w->row_pixels, w->cap,
                          sizeof *w->row_pixels, "attack batch"));
    DG_TRY(dg_alloc_array((void **)&w->feature, w->cap, sizeof *w->feature,
                          "feature terms"));
    DG_TRY(dg_alloc_array((void **)&w->adaptive, w->cap, sizeof *w->adaptive,
                          "adaptive terms"));
    for (uint32_t s = 0; s < w->cap; s++) {
        float *base = w->state_block + (size_t)s * STATE_ARRAYS * w->pixels;
        float **arrays[STATE_ARRAYS] = {
            &w->img[s].param, &w->img[s].origin,  &w->img[s].x,
            &w->img[s].best,  &w->img[s].moment1, &w->img[s].moment2};
        for (int a = 0; a < STATE_ARRAYS; a++)
            *arrays[a] = base + (size_t)a * w->pixels;
    }
    return DG_OK;
}

/* Whether adaptive model k joins any image of the job. */
static int joins_any(const dg_attack_job *job, uint32_t k)
{
    int32_t cls = dg_attack_model_class(&job->opts, k);
    for (uint32_t i = 0; cls >= 0 && i < job->n; i++)
        if (job->labels[i] == cls) return 1;
    return cls < 0;
}

/* What an executor with input gradients holds per image, roughly. */
static size_t exec_bytes_per_image(const dg_model *m)
{
    size_t floats = dg_shape_size(m->input);
    for (uint32_t i = 0; i < m->n_layers; i++)
        floats += dg_shape_size(m->layers[i].out);
    return floats * EXEC_BYTES_PER_ACTIVATION;
}

/* The adaptive models' executors, for pieces of the batch small enough
 * that all of them fit in ADAPTIVE_MEMORY. */
static dg_status create_adaptive(dg_attack_worker *w)
{
    const dg_attack_job *job = w->job;
    const dg_attack_opts *o = &job->opts;
    if (o->n_adaptive_models == 0 || o->adaptive_weight == 0) return DG_OK;
    DG_TRY(dg_alloc_array((void **)&w->models, o->n_adaptive_models,
                          sizeof *w->models, "adaptive models"));
    w->n_models = o->n_adaptive_models;
    size_t live_bytes = 0, most_classes = 1;
    for (uint32_t k = 0; k < w->n_models; k++) {
        adaptive_model *am = &w->models[k];
        am->model = o->adaptive_models[k];
        am->cls = dg_attack_model_class(o, k);
        am->logits = dg_model_logits_layer(am->model);
        am->classes = dg_shape_size(am->model->layers[am->logits].out);
        pixel_map_init(&am->map, am->model);
        if (!joins_any(job, k)) continue;
        live_bytes += exec_bytes_per_image(am->model);
        if (am->classes > most_classes) most_classes = am->classes;
    }
    size_t piece = live_bytes ? ADAPTIVE_MEMORY / live_bytes : 1;
    w->piece = piece < 1 ? 1 : piece > w->cap ? w->cap : (uint32_t)piece;
    for (uint32_t k = 0; k < w->n_models; k++)
        if (joins_any(job, k))
            DG_TRY(dg_exec_create((dg_model *)w->models[k].model, w->piece,
                                  DG_EXEC_BACKWARD, &w->models[k].exec));
    DG_TRY(dg_alloc_aligned(&w->piece_input, (size_t)w->piece * w->pixels,
                            "adaptive model input"));
    DG_TRY(dg_alloc_aligned(&w->piece_diff, (size_t)w->piece * most_classes,
                            "adaptive model output gradient"));
    DG_TRY(dg_alloc_array((void **)&w->piece_rows, w->piece,
                          sizeof *w->piece_rows, "adaptive batch"));
    DG_TRY(dg_alloc_array((void **)&w->drawn, (size_t)w->cap * w->n_models,
                          1, "adaptive draws"));
    DG_TRY(dg_alloc_array((void **)&w->n_drawn, w->cap, sizeof *w->n_drawn,
                          "adaptive draws"));
    return dg_alloc_array((void **)&w->candidates, w->n_models,
                          sizeof *w->candidates, "adaptive draws");
}

dg_status dg_attack_worker_create(const dg_attack_job *job,
                                  dg_attack_worker **out)
{
    *out = NULL;
    dg_attack_worker *w;
    DG_TRY(dg_alloc_array((void **)&w, 1, sizeof *w, "attack worker"));
    const dg_model *m = job->model;
    w->job = job;
    w->cap = job->opts.batch_size;
    w->pixels = dg_shape_size(m->input);
    w->n_out = dg_shape_size(m->layers[job->layer].out);
    pixel_map_init(&w->map, m);
    /* Executors only read the model; the executor API is shared with
     * training, hence the casts. */
    dg_status s = has_feature_term(job)
                      ? dg_exec_create((dg_model *)m, w->cap,
                                       DG_EXEC_BACKWARD, &w->exec)
                      : DG_OK;
    if (s == DG_OK) s = create_adaptive(w);
    if (s == DG_OK && job->check_model) {
        pixel_map_init(&w->check_map, job->check_model);
        w->n_check = dg_shape_size(dg_model_output_shape(job->check_model));
        s = dg_exec_create((dg_model *)job->check_model, w->cap, 0,
                           &w->check);
    }
    if (s == DG_OK)
        s = dg_msssim_create(m->input.c, m->input.h, m->input.w, &w->ssim);
    if (s == DG_OK) s = alloc_worker(w);
    if (s != DG_OK) {
        dg_attack_worker_free(w);
        return s;
    }
    *out = w;
    return DG_OK;
}

/* ------------------------------------------------------------------------ */
/* Objectives                                                               */
/* ------------------------------------------------------------------------ */

/* -log softmax(z)[label], and (diff not NULL) its gradient: the
 * cross-entropy of a class to reach. */
static double cross_entropy(const float *z, size_t n, int32_t label,
                            float *diff)
{
    double log_sum = dg_log_sum_exp(z, (uint32_t)n, 1.0f);
    for (size_t k = 0; diff && k < n; k++)
        diff[k] = (float)(exp(z[k] - log_sum) - ((int32_t)k == label));
    return log_sum - z[label];
}

/* -log(1 - softmax(z)[label]), and its gradient: the loss of a class to
 * leave.  Unlike minus the cross-entropy it is bounded below (by 0) and
 * fades once the class is left, so one model already fooled cannot
 * dominate a mean over several.  1 - p is summed from the other classes'
 * shares, not subtracted from 1, so it stays exact where p rounds to 1;
 * only where even those shares underflow (logit gaps over ~700) is it
 * floored, and the loss saturates. */
static double complement_cross_entropy(const float *z, size_t n,
                                       int32_t label, float *diff)
{
    if (n < 2) {
        if (diff) diff[0] = 0;
        return 0;
    }
    double log_sum = dg_log_sum_exp(z, (uint32_t)n, 1.0f);
    double p = exp(z[label] - log_sum), others = 0;
    for (size_t k = 0; k < n; k++)
        if ((int32_t)k != label) others += exp(z[k] - log_sum);
    if (others < DBL_MIN) others = DBL_MIN;
    /* d/dz_k of -log(1 - p): p for the label, -p_k p / (1 - p) else. */
    for (size_t k = 0; diff && k < n; k++)
        diff[k] = (int32_t)k == label
                      ? (float)p
                      : (float)(-exp(z[k] - log_sum) * p / others);
    return -log(others);
}

/* The feature term at one image's layer output `out`, and (diff not NULL)
 * its gradient with respect to `out`:
 *   mimicry: ||out - goal||_2;
 *   targeted FGSM/PGD: cross-entropy of `label`; untargeted: minus it. */
static double feature_term(const dg_attack_job *job, const float *out,
                           const float *goal, int32_t label, size_t n_out,
                           float *diff)
{
    if (dg_attack_is_mimicry(job->opts.method)) {
        double sum = 0;
        for (size_t k = 0; k < n_out; k++) {
            double d = (double)out[k] - goal[k];
            sum += d * d;
        }
        double dist = sqrt(sum);
        for (size_t k = 0; diff && k < n_out; k++)
            diff[k] = dist > 0 ? (float)((out[k] - goal[k]) / dist) : 0.0f;
        return dist;
    }
    double value = cross_entropy(out, n_out, label, diff);
    if (job->opts.targeted) return value;
    for (size_t k = 0; diff && k < n_out; k++) diff[k] = -diff[k];
    return -value;
}

/* The loss of an adaptive model's logits z: towards the label, except for
 * untargeted FGSM and PGD, whose label is the class to leave. */
static double adaptive_loss(const dg_attack_opts *o, const float *z,
                            size_t n, int32_t label, float *diff)
{
    if (dg_attack_is_mimicry(o->method) || o->targeted)
        return cross_entropy(z, n, label, diff);
    return complement_cross_entropy(z, n, label, diff);
}

/* What dg_attack_run reports: the feature distance or the cross-entropy;
 * without a feature term, the mean adaptive loss. */
static double reported(const dg_attack_job *job, double feature,
                       double adaptive)
{
    if (!has_feature_term(job)) return adaptive;
    return dg_attack_is_mimicry(job->opts.method) || job->opts.targeted
               ? feature
               : -feature;
}

static int32_t label_of(const dg_attack_job *job, uint32_t index)
{
    return job->labels ? job->labels[index] : -1;
}

/* ------------------------------------------------------------------------ */
/* Starting points                                                          */
/* ------------------------------------------------------------------------ */

static void box_bounds(const dg_attack_opts *o, float source, float *lo,
                       float *hi)
{
    *lo = source - o->epsilon > 0 ? source - o->epsilon : 0;
    *hi = source + o->epsilon < 1 ? source + o->epsilon : 1;
}

/* Puts x on the 1/255 grid: the nearest level, or of the two levels
 * around x the one nearer the source. */
static void round_to_grid(const float *x, const float *src, int toward_source,
                          float *out, size_t pixels)
{
    for (size_t k = 0; k < pixels; k++) {
        float v = x[k] * 255.0f, s = src[k] * 255.0f;
        if (!toward_source)
            v = roundf(v);
        else
            v = fabsf(floorf(v) - s) <= fabsf(ceilf(v) - s) ? floorf(v)
                                                          : ceilf(v);
        out[k] = (v < 0 ? 0 : v > 255 ? 255 : v) / 255.0f;
    }
}

static void start_image(dg_attack_worker *w, image_state *st, uint32_t index)
{
    const dg_attack_opts *o = &w->job->opts;
    const float *src = source_of(w->job, index, w->pixels);
    uint64_t key[2] = {o->seed, (uint64_t)o->first_index + index};
    dg_rng_seed(&st->rng, dg_hash64(key, sizeof key));
    st->index = index;
    st->has_best = st->done = 0;
    st->stale = st->steps = 0;
    st->reference = HUGE_VAL;
    memset(st->moment1, 0, w->pixels * sizeof(float));
    memset(st->moment2, 0, w->pixels * sizeof(float));
    for (size_t k = 0; k < w->pixels; k++) {
        if (o->method == DG_ATTACK_MIMIC_DSSIM) {
            st->origin[k] =
                (float)atanh(((double)src[k] - 0.5) * DG_ATTACK_TANH_C);
            st->param[k] = DG_ATTACK_TANH_START;
            st->x[k] = (float)(tanh((double)st->param[k] + st->origin[k]) /
                                   DG_ATTACK_TANH_C +
                               0.5);
        } else if (o->random_start) {
            float lo, hi;
            box_bounds(o, src[k], &lo, &hi);
            float v = src[k] + o->epsilon * (2 * dg_rng_uniform(&st->rng) - 1);
            st->x[k] = v < lo ? lo : v > hi ? hi : v;
        } else {
            st->x[k] = src[k];
        }
    }
}

/* Target features of the chunk's images, into goal[slot]. */
static dg_status compute_goals(dg_attack_worker *w, uint32_t first,
                               uint32_t count)
{
    const dg_attack_job *job = w->job;
    for (uint32_t s = 0; s < count; s++)
        to_input(&w->map, job->targets + (size_t)(first + s) * w->pixels,
                 w->input + (size_t)s * w->pixels);
    DG_TRY(dg_exec_forward_to(w->exec, w->input, count, job->layer));
    const float *out = dg_exec_output(w->exec, job->layer);
    if (!out) return DG_E_STATE; /* the executor explained why */
    memcpy(w->goal, out, (size_t)count * w->n_out * sizeof(float));
    return DG_OK;
}

/* ------------------------------------------------------------------------ */
/* The objective of a batch and its gradient                                */
/* ------------------------------------------------------------------------ */

/* Rows 0..n-1 of the batch are images w->img[w->active[r]] judged at
 * pixels w->row_pixels[r].  With `gradient`, every term adds its weighted
 * d objective / d pixel to row r of w->grad. */

/* The feature term of each row into w->feature. */
static dg_status run_feature_term(dg_attack_worker *w, uint32_t n,
                                  int gradient)
{
    const dg_attack_job *job = w->job;
    for (uint32_t r = 0; r < n; r++)
        to_input(&w->map, w->row_pixels[r], w->input + (size_t)r * w->pixels);
    DG_TRY(dg_exec_forward_to(w->exec, w->input, n, job->layer));
    const float *out = dg_exec_output(w->exec, job->layer);
    if (!out) return DG_E_STATE; /* the executor explained why */
    for (uint32_t r = 0; r < n; r++) {
        uint32_t slot = w->active[r];
        w->feature[r] = feature_term(
            job, out + (size_t)r * w->n_out,
            w->goal ? w->goal + (size_t)slot * w->n_out : NULL,
            label_of(job, w->img[slot].index), w->n_out,
            gradient ? w->diff + (size_t)r * w->n_out : NULL);
    }
    if (!gradient) return DG_OK;
    DG_TRY(dg_exec_backward(w->exec, job->layer, w->diff, DG_GRAD_INPUT));
    const float *input_grad = dg_exec_input_grad(w->exec);
    for (uint32_t r = 0; r < n; r++)
        add_pixel_grad(&w->map, input_grad + (size_t)r * w->pixels,
                       job->opts.feature_weight,
                       w->grad + (size_t)r * w->pixels);
    return DG_OK;
}

/* Which adaptive models join each row now: every one that joins its
 * image, or with `draw` a random opts.adaptive_draw of them from the
 * image's own random stream. */
static void draw_models(dg_attack_worker *w, uint32_t n, int draw)
{
    const dg_attack_job *job = w->job;
    uint32_t want = draw ? job->opts.adaptive_draw : 0;
    for (uint32_t r = 0; r < n; r++) {
        image_state *st = &w->img[w->active[r]];
        int32_t label = label_of(job, st->index);
        uint8_t *joins = w->drawn + (size_t)r * w->n_models;
        uint32_t n_candidates = 0;
        for (uint32_t k = 0; k < w->n_models; k++) {
            const adaptive_model *am = &w->models[k];
            joins[k] = 0;
            if (am->exec && (am->cls < 0 || am->cls == label))
                w->candidates[n_candidates++] = k;
        }
        uint32_t take = want && want < n_candidates ? want : n_candidates;
        for (uint32_t j = 0; j < take; j++) { /* partial Fisher-Yates */
            uint32_t pick = j + dg_rng_below(&st->rng, n_candidates - j);
            uint32_t k = w->candidates[pick];
            w->candidates[pick] = w->candidates[j];
            w->candidates[j] = k;
            joins[k] = 1;
        }
        w->n_drawn[r] = take;
    }
}

/* One executor call of an adaptive model on the rows w->piece_rows[0..
 * count-1].  The call is padded to a power of two rows (repeating the
 * first, without gradient) so that the executor keeps a few plans
 * however the rows fall. */
static dg_status run_piece(dg_attack_worker *w, const adaptive_model *am,
                           uint32_t count, int gradient)
{
    const dg_attack_opts *o = &w->job->opts;
    uint32_t batch = 1;
    while (batch < count) batch *= 2;
    if (batch > w->piece) batch = w->piece;
    for (uint32_t j = 0; j < batch; j++)
        to_input(&am->map, w->row_pixels[w->piece_rows[j < count ? j : 0]],
                 w->piece_input + (size_t)j * w->pixels);
    DG_TRY(dg_exec_forward_to(am->exec, w->piece_input, batch, am->logits));
    const float *out = dg_exec_output(am->exec, am->logits);
    if (!out) return DG_E_STATE;
    for (uint32_t j = 0; j < count; j++) {
        uint32_t r = w->piece_rows[j];
        float *diff = gradient ? w->piece_diff + (size_t)j * am->classes
                               : NULL;
        double share = 1.0 / w->n_drawn[r];
        w->adaptive[r] +=
            share * adaptive_loss(o, out + (size_t)j * am->classes,
                                  am->classes,
                                  label_of(w->job, w->img[w->active[r]].index),
                                  diff);
        for (size_t c = 0; diff && c < am->classes; c++)
            diff[c] = (float)(diff[c] * o->adaptive_weight * share);
    }
    if (!gradient) return DG_OK;
    memset(w->piece_diff + (size_t)count * am->classes, 0,
           (size_t)(batch - count) * am->classes * sizeof(float));
    DG_TRY(dg_exec_backward(am->exec, am->logits, w->piece_diff,
                            DG_GRAD_INPUT));
    const float *input_grad = dg_exec_input_grad(am->exec);
    for (uint32_t j = 0; j < count; j++)
        add_pixel_grad(&am->map, input_grad + (size_t)j * w->pixels, 1.0f,
                       w->grad + (size_t)w->piece_rows[j] * w->pixels);
    return DG_OK;
}

/* The mean loss of the adaptive models joining each row into
 * w->adaptive. */
static dg_status run_adaptive_term(dg_attack_worker *w, uint32_t n,
                                   int draw, int gradient)
{
    draw_models(w, n, draw);
    for (uint32_t r = 0; r < n; r++) w->adaptive[r] = 0;
    for (uint32_t k = 0; k < w->n_models; k++) {
        uint32_t count = 0;
        for (uint32_t r = 0; r < n; r++) {
            if (!w->drawn[(size_t)r * w->n_models + k]) continue;
            w->piece_rows[count++] = r;
            if (count < w->piece) continue;
            DG_TRY(run_piece(w, &w->models[k], count, gradient));
            count = 0;
        }
        if (count) DG_TRY(run_piece(w, &w->models[k], count, gradient));
    }
    return DG_OK;
}

/* Both terms of every row, and with `gradient` d objective / d pixel. */
static dg_status batch_objective(dg_attack_worker *w, uint32_t n, int draw,
                                 int gradient)
{
    if (gradient) memset(w->grad, 0, (size_t)n * w->pixels * sizeof(float));
    memset(w->feature, 0, n * sizeof *w->feature);
    memset(w->adaptive, 0, n * sizeof *w->adaptive);
    if (w->exec) DG_TRY(run_feature_term(w, n, gradient));
    if (w->n_models) DG_TRY(run_adaptive_term(w, n, draw, gradient));
    return DG_OK;
}

static double weighted_objective(const dg_attack_worker *w, uint32_t r)
{
    const dg_attack_opts *o = &w->job->opts;
    return o->feature_weight * w->feature[r] +
           o->adaptive_weight * w->adaptive[r];
}

dg_status dg_attack_worker_objective(dg_attack_worker *w, uint32_t index,
                                     const float *x, double *value,
                                     float *grad)
{
    if (index >= w->job->n)
        return dg_fail(DG_E_INVALID_ARG, "image %u of %u", index, w->job->n);
    start_image(w, &w->img[0], index);
    if (w->goal) DG_TRY(compute_goals(w, index, 1));
    w->active[0] = 0;
    w->row_pixels[0] = x;
    DG_TRY(batch_objective(w, 1, 0, 1));
    *value = weighted_objective(w, 0);
    memcpy(grad, w->grad, w->pixels * sizeof(float));
    return DG_OK;
}

/* ------------------------------------------------------------------------ */
/* Evaluation: objective, budget, best iterate, early stop                  */
/* ------------------------------------------------------------------------ */

static int improves(const dg_attack_opts *o, double value, double reference)
{
    return reference == HUGE_VAL ||
           value < reference - o->min_improvement * fabs(reference);
}

static int within_dssim_budget(const dg_attack_opts *o, double dssim)
{
    return o->method != DG_ATTACK_MIMIC_DSSIM || dssim < o->budget;
}

static void keep_as_best(dg_attack_worker *w, image_state *st)
{
    st->best_objective = st->objective;
    st->has_best = 1;
    memcpy(st->best, st->x, w->pixels * sizeof(float));
}

/* After the evaluation of iterate `iteration` of an image. */
static void track(dg_attack_worker *w, image_state *st, uint32_t iteration)
{
    const dg_attack_opts *o = &w->job->opts;
    int feasible = within_dssim_budget(o, st->dssim);
    /* The starting point is no attack: only stepped iterates count. */
    if (feasible && iteration > 0 &&
        (!st->has_best || st->objective < st->best_objective))
        keep_as_best(w, st);
    if (feasible && improves(o, st->objective, st->reference)) {
        st->reference = st->objective;
        st->stale = 0;
    } else {
        st->stale++;
    }
    if (iteration == o->iterations ||
        (o->patience && st->stale >= o->patience))
        st->done = 1;
}

/* Stops the images that the check model already classifies as wanted. */
static dg_status check_success(dg_attack_worker *w, uint32_t n_active)
{
    const dg_attack_job *job = w->job;
    for (uint32_t r = 0; r < n_active; r++) {
        /* Judge the image that rounding would deliver. */
        const image_state *st = &w->img[w->active[r]];
        round_to_grid(st->x, source_of(job, st->index, w->pixels), 0,
                      w->rounded, w->pixels);
        to_input(&w->check_map, w->rounded,
                 w->check_input + (size_t)r * w->pixels);
    }
    DG_TRY(dg_exec_forward(w->check, w->check_input, n_active));
    const float *out = dg_exec_output(
        w->check, (int32_t)job->check_model->n_layers - 1);
    if (!out) return DG_E_STATE;
    for (uint32_t r = 0; r < n_active; r++) {
        image_state *st = &w->img[w->active[r]];
        const float *row = out + (size_t)r * w->n_check;
        size_t arg = 0;
        for (size_t k = 1; k < w->n_check; k++)
            if (row[k] > row[arg]) arg = k;
        int hit = (int32_t)arg == label_of(job, st->index);
        if ((job->opts.targeted ? hit : !hit) &&
            within_dssim_budget(&job->opts, st->dssim)) {
            keep_as_best(w, st);
            st->done = 1;
        }
    }
    return DG_OK;
}

static dg_status evaluate(dg_attack_worker *w, uint32_t n_active,
                          uint32_t iteration)
{
    const dg_attack_job *job = w->job;
    for (uint32_t r = 0; r < n_active; r++)
        w->row_pixels[r] = w->img[w->active[r]].x;
    DG_TRY(batch_objective(w, n_active, 1, 1));
    for (uint32_t r = 0; r < n_active; r++) {
        image_state *st = &w->img[w->active[r]];
        st->objective = weighted_objective(w, r);
        st->dssim = job->opts.method == DG_ATTACK_MIMIC_DSSIM
                        ? dg_dssim_eval(w->ssim, st->x,
                                        source_of(job, st->index, w->pixels),
                                        NULL)
                        : 0;
        track(w, st, iteration);
    }
    if (w->check && iteration > 0) DG_TRY(check_success(w, n_active));
    return DG_OK;
}

/* ------------------------------------------------------------------------ */
/* Steps                                                                    */
/* ------------------------------------------------------------------------ */

/* One optimiser step on m, then x' = tanh(m + s0) / c + 0.5.  grad is
 * d loss / d x'. */
static void tanh_step(const dg_attack_opts *o, image_state *st,
                      const float *grad, size_t pixels)
{
    st->steps++;
    double bias1 = 1 - pow(ADAM_BETA1, st->steps);
    double bias2 = 1 - pow(ADAM_BETA2, st->steps);
    for (size_t k = 0; k < pixels; k++) {
        double t = tanh((double)st->param[k] + st->origin[k]);
        double g = grad[k] * (1 - t * t) / DG_ATTACK_TANH_C;
        double delta;
        if (o->optimizer == DG_ATTACK_ADAM) {
            st->moment1[k] = (float)(ADAM_BETA1 * st->moment1[k] +
                                     (1 - ADAM_BETA1) * g);
            st->moment2[k] = (float)(ADAM_BETA2 * st->moment2[k] +
                                     (1 - ADAM_BETA2) * g * g);
            delta = -o->learning_rate * (st->moment1[k] / bias1) /
                    (sqrt(st->moment2[k] / bias2) + ADAM_EPS);
        } else { /* Adadelta: moment1 E[g^2], moment2 E[update^2] */
            st->moment1[k] = (float)(ADADELTA_RHO * st->moment1[k] +
                                     (1 - ADADELTA_RHO) * g * g);
            double update = -sqrt(st->moment2[k] + ADADELTA_EPS) /
                            sqrt(st->moment1[k] + ADADELTA_EPS) * g;
            st->moment2[k] = (float)(ADADELTA_RHO * st->moment2[k] +
                                     (1 - ADADELTA_RHO) * update * update);
            delta = o->learning_rate * update;
        }
        st->param[k] = (float)(st->param[k] + delta);
        st->x[k] = (float)(tanh((double)st->param[k] + st->origin[k]) /
                               DG_ATTACK_TANH_C +
                           0.5);
    }
}

/* x' -= step * sign(grad), projected on the box around the source. */
static void sign_step(const dg_attack_opts *o, image_state *st,
                      const float *grad, const float *src, size_t pixels)
{
    for (size_t k = 0; k < pixels; k++) {
        float lo, hi, v = st->x[k];
        box_bounds(o, src[k], &lo, &hi);
        if (grad[k] > 0) v -= o->step;
        if (grad[k] < 0) v += o->step;
        st->x[k] = v < lo ? lo : v > hi ? hi : v;
    }
}

/* Steps every image that goes on along the gradient evaluate() left. */
static void step(dg_attack_worker *w, uint32_t n_active)
{
    const dg_attack_job *job = w->job;
    const dg_attack_opts *o = &job->opts;
    for (uint32_t r = 0; r < n_active; r++) {
        image_state *st = &w->img[w->active[r]];
        if (st->done) continue;
        const float *src = source_of(job, st->index, w->pixels);
        float *grad = w->grad + (size_t)r * w->pixels;
        if (o->method != DG_ATTACK_MIMIC_DSSIM) {
            sign_step(o, st, grad, src, w->pixels);
            continue;
        }
        if (st->dssim > o->budget) {
            /* d/dx of lambda * (DSSIM - P)^2 */
            dg_dssim_eval(w->ssim, st->x, src, w->ssim_grad);
            float coef = (float)(2 * o->lambda * (st->dssim - o->budget));
            for (size_t k = 0; k < w->pixels; k++)
                grad[k] += coef * w->ssim_grad[k];
        }
        tanh_step(o, st, grad, w->pixels);
    }
}

/* Drops finished images from the batch, counting progress: each image
 * accounts for `iterations` steps however early it stops. */
static uint32_t compact(dg_attack_worker *w, dg_attack_job *job,
                        uint32_t n_active, uint32_t iteration)
{
    uint32_t kept = 0;
    uint64_t steps = 0;
    for (uint32_t r = 0; r < n_active; r++) {
        uint32_t slot = w->active[r];
        if (w->img[slot].done) {
            steps += job->opts.iterations - iteration;
        } else {
            w->active[kept++] = slot;
            steps++;
        }
    }
    atomic_fetch_add(&job->steps_done, steps);
    return kept;
}

/* ------------------------------------------------------------------------ */
/* Results                                                                  */
/* ------------------------------------------------------------------------ */

static int within_budget(dg_attack_worker *w, const float *x, const float *src,
                         double *dssim)
{
    const dg_attack_opts *o = &w->job->opts;
    *dssim = dg_dssim_eval(w->ssim, x, src, NULL);
    if (o->method == DG_ATTACK_MIMIC_DSSIM) return *dssim < o->budget;
    for (size_t k = 0; k < w->pixels; k++)
        if (fabsf(x[k] - src[k]) > o->epsilon + BOX_SLACK) return 0;
    return 1;
}

/* Rounds the best iterate into `out`; if nearest rounding leaves the
 * budget, rounding toward the source (a smaller perturbation) is tried. */
static int finish_image(dg_attack_worker *w, const image_state *st,
                        float *out, double *dssim)
{
    const float *src = source_of(w->job, st->index, w->pixels);
    if (!st->has_best) return 0;
    for (int toward = 0; toward < 2; toward++) {
        round_to_grid(st->best, src, toward, out, w->pixels);
        if (within_budget(w, out, src, dssim)) return 1;
    }
    return 0;
}

static dg_status finish(dg_attack_worker *w, dg_attack_job *job,
                        uint32_t first, uint32_t count)
{
    uint32_t n_ok = 0;
    for (uint32_t s = 0; s < count; s++) {
        uint32_t index = first + s;
        float *adv = job->adversarial + (size_t)index * w->pixels;
        double dssim;
        int ok = finish_image(w, &w->img[s], adv, &dssim);
        if (ok)
            w->active[n_ok++] = s;
        else
            memcpy(adv, source_of(job, index, w->pixels),
                   w->pixels * sizeof(float));
        if (job->dssim) job->dssim[index] = ok ? (float)dssim : NAN;
        if (job->objective) job->objective[index] = NAN;
        if (job->within_budget) job->within_budget[index] = (uint8_t)ok;
    }
    if (n_ok && job->objective) {
        /* The term reported, at the rounded image actually delivered. */
        for (uint32_t r = 0; r < n_ok; r++)
            w->row_pixels[r] = job->adversarial +
                               (size_t)(first + w->active[r]) * w->pixels;
        memset(w->adaptive, 0, n_ok * sizeof *w->adaptive);
        if (has_feature_term(job))
            DG_TRY(run_feature_term(w, n_ok, 0));
        else
            DG_TRY(run_adaptive_term(w, n_ok, 0, 0));
        for (uint32_t r = 0; r < n_ok; r++)
            job->objective[first + w->active[r]] =
                (float)reported(job, w->feature[r], w->adaptive[r]);
    }
    atomic_fetch_add(&job->finished, count);
    atomic_fetch_add(&job->finished_within, n_ok);
    return DG_OK;
}

dg_status dg_attack_worker_run(dg_attack_worker *w, dg_attack_job *job,
                               uint32_t first, uint32_t count)
{
    for (uint32_t s = 0; s < count; s++) start_image(w, &w->img[s], first + s);
    if (w->goal) DG_TRY(compute_goals(w, first, count));
    uint32_t n_active = count;
    for (uint32_t s = 0; s < count; s++) w->active[s] = s;
    for (uint32_t it = 0; n_active > 0; it++) {
        if (atomic_load(&job->stop))
            return dg_fail(DG_E_CANCELLED, "the attack was stopped");
        DG_TRY(evaluate(w, n_active, it));
        step(w, n_active);
        n_active = compact(w, job, n_active, it);
    }
    return finish(w, job, first, count);
}
