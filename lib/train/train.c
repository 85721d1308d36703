/* train.c - mini-batch training with reproducible shuffling, distillation,
 * learning-rate schedules and per-epoch checkpoints. */
#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "core/vec.h"
#include "io/dataset.h"
#include "io/model_format.h"
#include "nn/exec.h"
#include "train/checkpoint.h"
#include "train/loss.h"
#include "train/optim.h"

void dg_train_defaults(dg_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->epochs = 4;
    o->batch_size = 64;
    o->optimizer = DG_OPTIMIZER_ADAM;
    o->learning_rate = 1e-3f;
    o->momentum = 0.9f;
    o->schedule = DG_SCHEDULE_CONSTANT;
    o->step_epochs = 1;
    o->step_gamma = 0.5f;
    o->seed = 1;
    o->distill_alpha = 0.5f;
    o->distill_temperature = 4.0f;
    /* Wang et al.'s schedule and weight. */
    o->patch_layer = -1;
    o->patch_cap = 200;
    o->patch_cap_step = 200;
    o->patch_cap_max = 5000;
    o->patch_weight = 1e-6f;
    o->adversarial_steps = 1;
}

/* What training recomputes at every step though it never changes, run
 * once: a frozen prefix's output, and the distillation teacher's logits
 * (they read the clean samples, also when the training moves pixels). */
struct dg_train_cache {
    dg_model *source;  /* the model whose layers 0..end it ran (a reference) */
    int32_t end;       /* -1: no prefix, only the teacher's logits */
    const dg_dataset *ds, *distill_ds;
    const dg_model *teacher; /* o->distill_from */
    uint32_t batch;
    float *features; /* NULL, or ds->count x layer end's output size */
    float *soft;     /* NULL, or ds->count x k distillation teacher logits */
};

typedef struct trainer {
    dg_model *m;
    const dg_dataset *ds;
    const dg_dataset *distill_ds; /* what the distillation teacher sees */
    const dg_train_opts *o;
    const dg_train_cache *cache;  /* NULL: nothing cached */
    float *soft;                  /* cache: the batch's teacher logits */
    dg_exec *exec, *teacher;
    dg_optim *optim;
    uint32_t n, k, steps_per_epoch;
    int32_t logits_layer;
    uint32_t *order;
    float *x, *xt, *grad; /* xt: the teacher's batch when paired */
    float *moved;         /* adversarial training: the moved batch */
    int32_t *labels;
    /* The patch: the Teacher's layer-K features, and the gradient of the
     * patch term there. */
    dg_exec *patch_teacher;
    int32_t patch_layer;
    size_t patch_dim;
    float *patch_grad;
    float patch_cap;        /* this epoch's CAP */
    double patch_distance;  /* this step's mean distance */
} trainer;

static float learning_rate(const dg_train_opts *o, uint32_t epoch,
                           uint64_t step, uint64_t total_steps)
{
    switch (o->schedule) {
    case DG_SCHEDULE_STEP:
        return o->learning_rate *
               powf(o->step_gamma, (float)(epoch / o->step_epochs));
    case DG_SCHEDULE_COSINE:
        return 0.5f * o->learning_rate *
               (1.0f + cosf(3.14159265f * (float)step / (float)total_steps));
    default:
        return o->learning_rate;
    }
}

/* Checks m, ds and o; a model trained on cached prefix features
 * (`features` non-zero) was checked with its prefix, and takes features,
 * not ds's samples. */
static dg_status check_options(const dg_model *m, const dg_dataset *ds,
                               const dg_train_opts *o, int features,
                               uint32_t *n)
{
    uint32_t c = ds->channels, h = ds->height, w = ds->width;
    uint32_t classes = ds->n_classes;
    *n = ds->count;
    if (features) return DG_OK;
    if (c != m->input.c || h != m->input.h || w != m->input.w)
        return dg_fail(DG_E_SHAPE, "samples are %ux%ux%u, the model takes "
                                   "%ux%ux%u",
                       c, h, w, m->input.c, m->input.h, m->input.w);
    uint32_t k = (uint32_t)dg_shape_size(m->layers[dg_model_logits_layer(m)].out);
    if (classes > k)
        return dg_fail(DG_E_SHAPE, "the data set has %u classes, the model "
                                   "outputs %u",
                       classes, k);
    if (*n == 0) return dg_fail(DG_E_INVALID_ARG, "the data set is empty");
    if (o->epochs == 0 || o->epochs > 100000 || o->batch_size == 0 ||
        o->batch_size > 65536)
        return dg_fail(DG_E_INVALID_ARG, "epochs %u / batch size %u out of "
                                         "range",
                       o->epochs, o->batch_size);
    if (!(o->learning_rate > 0) || !isfinite(o->learning_rate) ||
        !(o->weight_decay >= 0) || !(o->momentum >= 0 && o->momentum < 1))
        return dg_fail(DG_E_INVALID_ARG,
                       "learning rate %g, weight decay %g, momentum %g",
                       (double)o->learning_rate, (double)o->weight_decay,
                       (double)o->momentum);
    if (o->schedule == DG_SCHEDULE_STEP && o->step_epochs == 0)
        return dg_fail(DG_E_INVALID_ARG, "step schedule every 0 epochs");
    if (!(o->adversarial_epsilon >= 0 && o->adversarial_epsilon <= 1))
        return dg_fail(DG_E_INVALID_ARG,
                       "adversarial epsilon %g is not in [0, 1] (pixel units)",
                       (double)o->adversarial_epsilon);
    if (o->adversarial_steps < 1 || o->adversarial_steps > 100)
        return dg_fail(DG_E_INVALID_ARG,
                       "%u adversarial steps (1 to 100)", o->adversarial_steps);
    if (o->adversarial_replays > 100)
        return dg_fail(DG_E_INVALID_ARG, "%u adversarial replays (0 to 100)",
                       o->adversarial_replays);
    if (o->adversarial_replays > 1 && o->adversarial_epsilon == 0)
        return dg_fail(DG_E_INVALID_ARG, "%u adversarial replays without an "
                                         "adversarial epsilon",
                       o->adversarial_replays);
    if (o->distill_from) {
        const dg_model *t = o->distill_from;
        if (t->input.c != m->input.c || t->input.h != m->input.h ||
            t->input.w != m->input.w ||
            dg_shape_size(dg_model_output_shape(t)) != k)
            return dg_fail(DG_E_SHAPE, "the distillation teacher's input or "
                                       "output differs from the model's");
        if (!(o->distill_temperature > 0) || !(o->distill_alpha >= 0))
            return dg_fail(DG_E_INVALID_ARG, "distillation T %g, alpha %g",
                           (double)o->distill_temperature,
                           (double)o->distill_alpha);
    }
    return DG_OK;
}

static void trainer_free(trainer *t)
{
    dg_exec_free(t->exec);
    dg_exec_free(t->teacher);
    dg_exec_free(t->patch_teacher);
    dg_free_aligned(t->patch_grad);
    dg_optim_free(t->optim);
    free(t->order);
    dg_free_aligned(t->x);
    dg_free_aligned(t->xt);
    dg_free_aligned(t->grad);
    dg_free_aligned(t->moved);
    dg_free_aligned(t->soft);
    free(t->labels);
}

/* The patch's layer K, checked against the Teacher; then every layer of
 * the model becomes trainable, as the patch fine-tunes them all.  Runs
 * before the optimiser and the checkpoint see the model's flags. */
static dg_status prepare_patch(trainer *t)
{
    dg_model *m = t->m;
    const dg_model *teacher = t->o->patch_teacher;
    int32_t k = t->o->patch_layer;
    if (k == -1)
        for (uint32_t i = 0; i < m->n_layers; i++)
            if (m->layers[i].flags & DG_LAYER_FLAG_FROZEN) k = (int32_t)i;
    if (k == -1)
        return dg_fail(DG_E_INVALID_ARG, "the model has no frozen layer to "
                                         "patch; give the patch layer");
    if (k < 0 || k >= t->logits_layer || k >= (int32_t)teacher->n_layers)
        return dg_fail(DG_E_INVALID_ARG, "patch layer %d: the model's "
                                         "logits are layer %d and the "
                                         "Teacher has %u layers",
                       k, t->logits_layer, teacher->n_layers);
    dg_shape a = m->layers[k].out, b = teacher->layers[k].out;
    if (a.c != b.c || a.h != b.h || a.w != b.w ||
        teacher->input.c != m->input.c || teacher->input.h != m->input.h ||
        teacher->input.w != m->input.w)
        return dg_fail(DG_E_SHAPE, "layer %d (or the input) of the model and "
                                   "of the Teacher differ in shape", k);
    if (!(t->o->patch_cap >= 0) || !(t->o->patch_cap_step >= 0) ||
        !(t->o->patch_cap_max >= 0) || !(t->o->patch_weight >= 0) ||
        !isfinite(t->o->patch_cap_max) || !isfinite(t->o->patch_weight))
        return dg_fail(DG_E_INVALID_ARG, "patch CAP %g, step %g, maximum %g, "
                                         "weight %g",
                       (double)t->o->patch_cap, (double)t->o->patch_cap_step,
                       (double)t->o->patch_cap_max,
                       (double)t->o->patch_weight);
    for (uint32_t i = 0; i < m->n_layers; i++)
        m->layers[i].flags &= ~DG_LAYER_FLAG_FROZEN;
    t->patch_layer = k;
    t->patch_dim = dg_shape_size(a);
    return DG_OK;
}

static dg_status trainer_init(trainer *t, dg_model *m, const dg_dataset *ds,
                              const dg_dataset *distill_ds,
                              const dg_train_opts *o,
                              const dg_train_cache *cache)
{
    memset(t, 0, sizeof *t);
    t->m = m;
    t->ds = ds;
    t->distill_ds = distill_ds;
    t->o = o;
    t->cache = cache;
    DG_TRY(check_options(m, ds, o, cache && cache->features, &t->n));
    if (distill_ds &&
        (!o->distill_from || distill_ds->count != ds->count ||
         distill_ds->sample_size != ds->sample_size))
        return dg_fail(DG_E_INVALID_ARG, "paired distillation needs a "
                                         "teacher and %u samples of the "
                                         "same shape",
                       ds->count);
    t->logits_layer = dg_model_logits_layer(m);
    t->k = (uint32_t)dg_shape_size(m->layers[t->logits_layer].out);
    if (o->patch_teacher) DG_TRY(prepare_patch(t));
    uint32_t b = o->batch_size < t->n ? o->batch_size : t->n;
    t->steps_per_epoch = (t->n + b - 1) / b;
    dg_optim_config oc = {o->optimizer, o->momentum, o->weight_decay,
                          0.9f, 0.999f, 1e-8f};
    DG_TRY(dg_optim_create(m, &oc, &t->optim));
    DG_TRY(dg_exec_create(m, b, DG_EXEC_TRAINING | DG_EXEC_BACKWARD, &t->exec));
    if (cache && cache->soft)
        DG_TRY(dg_alloc_aligned(&t->soft, (size_t)b * t->k, "teacher logits"));
    else if (o->distill_from)
        DG_TRY(dg_exec_create((dg_model *)o->distill_from, b, 0, &t->teacher));
    DG_TRY(dg_alloc_array((void **)&t->order, t->n, sizeof *t->order, "order"));
    DG_TRY(dg_alloc_aligned(&t->x, (size_t)b * dg_shape_size(m->input), "batch"));
    if (distill_ds && !cache)
        DG_TRY(dg_alloc_aligned(&t->xt, (size_t)b * dg_shape_size(m->input),
                                "teacher batch"));
    DG_TRY(dg_alloc_aligned(&t->grad, (size_t)b * t->k, "loss gradient"));
    if (o->adversarial_epsilon > 0)
        DG_TRY(dg_alloc_aligned(&t->moved, (size_t)b * dg_shape_size(m->input),
                                "adversarial batch"));
    if (o->patch_teacher) {
        /* Backward mode only to keep layer K unfused and readable. */
        DG_TRY(dg_exec_create((dg_model *)o->patch_teacher, b,
                              DG_EXEC_BACKWARD, &t->patch_teacher));
        DG_TRY(dg_alloc_aligned(&t->patch_grad, (size_t)b * t->patch_dim,
                                "patch gradient"));
    }
    return dg_alloc_array((void **)&t->labels, b, sizeof *t->labels, "labels");
}

/* The start of every adversarial move: t->x plus uniform noise in the
 * L-infinity box, into t->moved.  Epsilon is in pixel units; the box is
 * mapped through the model's preprocessing, channel by channel. */
static void random_start(trainer *t, uint32_t n, dg_rng *rng)
{
    const dg_model *m = t->m;
    size_t plane = (size_t)m->input.h * m->input.w;
    size_t sample = m->input.c * plane;
    float eps = t->o->adversarial_epsilon;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t c = 0; c < m->input.c; c++) {
            float gain, lo;
            dg_pixel_map(&m->pre, c, &gain, &lo);
            float hi = lo + gain;
            for (size_t k = 0; k < plane; k++) {
                size_t at = i * sample + c * plane + k;
                float start = t->x[at] + (2 * dg_rng_uniform(rng) - 1) * eps * gain;
                t->moved[at] = fminf(fmaxf(start, lo), hi);
            }
        }
}

/* Moves t->moved by size x epsilon along the sign of the last backward
 * pass's input gradient, back into the box around t->x and the valid
 * pixel range. */
static void sign_step(trainer *t, uint32_t n, float size)
{
    const dg_model *m = t->m;
    size_t plane = (size_t)m->input.h * m->input.w;
    size_t sample = m->input.c * plane;
    float eps = t->o->adversarial_epsilon;
    const float *g = dg_exec_input_grad(t->exec);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t c = 0; c < m->input.c; c++) {
            float gain, lo;
            dg_pixel_map(&m->pre, c, &gain, &lo);
            float hi = lo + gain, r = eps * gain;
            for (size_t k = 0; k < plane; k++) {
                size_t at = i * sample + c * plane + k;
                float move = size * r * (float)((g[at] > 0) - (g[at] < 0));
                float x = fminf(fmaxf(t->moved[at] + move, t->x[at] - r),
                                t->x[at] + r);
                t->moved[at] = fminf(fmaxf(x, lo), hi);
            }
        }
}

/* Adversarial training: moves the batch t->x to t->moved, from a uniform
 * random start in the L-infinity box, adversarial_steps steps along the
 * sign of the model's own loss gradient (one step: 1.25 epsilon, fast
 * FGSM; k steps: 2.5 epsilon / k each, PGD), each followed by a return
 * into the box and the valid pixel range. */
static dg_status move_batch(trainer *t, uint32_t n, dg_rng *rng)
{
    uint32_t steps = t->o->adversarial_steps;
    float size = steps == 1 ? 1.25f : 2.5f / (float)steps;
    random_start(t, n, rng);
    for (uint32_t step = 0; step < steps; step++) {
        DG_TRY(dg_exec_forward_to(t->exec, t->moved, n, t->logits_layer));
        const float *logits = dg_exec_output(t->exec, t->logits_layer);
        uint32_t correct;
        dg_loss_cross_entropy(logits, t->labels, n, t->k, t->grad, &correct);
        DG_TRY(dg_exec_backward(t->exec, t->logits_layer, t->grad,
                                DG_GRAD_INPUT));
        sign_step(t, n, size);
    }
    return DG_OK;
}

/* The batch of samples order[first .. first+n-1]: its inputs (cached
 * prefix features or the samples' pixels) into t->x and labels into
 * t->labels, and the cached teacher logits into t->soft. */
static dg_status gather_batch(trainer *t, uint32_t first, uint32_t n)
{
    const dg_train_cache *c = t->cache;
    size_t dim = dg_shape_size(t->m->input);
    if (!c || !c->features)
        DG_TRY(dg_dataset_make_batch(t->ds, t->m, t->order + first, n, t->x,
                                     n * dim, t->labels));
    for (uint32_t i = 0; c && i < n; i++) {
        uint32_t at = t->order[first + i];
        if (c->features) {
            memcpy(t->x + i * dim, c->features + at * dim, dim * sizeof *t->x);
            t->labels[i] = t->ds->labels[at];
        }
        if (t->soft)
            memcpy(t->soft + (size_t)i * t->k, c->soft + (size_t)at * t->k,
                   t->k * sizeof *t->soft);
    }
    return DG_OK;
}

/* The distillation teacher's logits for the batch (its pixels in t->x, or
 * in t->xt when paired), or the cached ones. */
static dg_status teacher_logits(trainer *t, uint32_t first, uint32_t n,
                                const float **soft)
{
    if (t->soft) {
        *soft = t->soft;
        return DG_OK;
    }
    if (t->distill_ds)
        DG_TRY(dg_dataset_make_batch(t->distill_ds, t->m, t->order + first, n,
                                     t->xt,
                                     (size_t)n * dg_shape_size(t->m->input),
                                     NULL));
    DG_TRY(dg_exec_forward(t->teacher, t->xt ? t->xt : t->x, n));
    *soft = dg_exec_output(t->teacher, dg_model_logits_layer(t->o->distill_from));
    return *soft ? DG_OK : DG_E_STATE;
}

/* The forward pass on `seen` (the batch as the model sees it) and the
 * loss's gradients: at the logits into t->grad, at the patch layer into
 * t->patch_grad.  `soft`: the distillation teacher's logits for the
 * batch, NULL without distillation. */
static dg_status forward_loss(trainer *t, const float *seen, const float *soft,
                              uint32_t n, double *loss, uint32_t *correct)
{
    const dg_train_opts *o = t->o;
    DG_TRY(dg_exec_forward_to(t->exec, seen, n, t->logits_layer));
    const float *logits = dg_exec_output(t->exec, t->logits_layer);
    *loss = dg_loss_cross_entropy(logits, t->labels, n, t->k, t->grad, correct);
    if (soft)
        *loss += dg_loss_distill(logits, soft, n, t->k, o->distill_alpha,
                                 o->distill_temperature, t->grad);
    if (t->patch_teacher) {
        DG_TRY(dg_exec_forward_to(t->patch_teacher, seen, n, t->patch_layer));
        const float *ref = dg_exec_output(t->patch_teacher, t->patch_layer);
        const float *own = dg_exec_output(t->exec, t->patch_layer);
        if (!ref || !own) return DG_E_STATE;
        *loss += dg_loss_distance_floor(own, ref, n, t->patch_dim,
                                        t->patch_cap, o->patch_weight,
                                        t->patch_grad, &t->patch_distance);
    }
    return DG_OK;
}

/* Back-propagates forward_loss's gradients (`what`: DG_GRAD_*) and, with
 * the parameters' gradients, takes the optimiser's step. */
static dg_status learn(trainer *t, float lr, unsigned what)
{
    DG_TRY(dg_exec_backward_joined(t->exec, t->logits_layer, t->grad,
                                   t->patch_layer, t->patch_grad, what));
    dg_optim_step(t->optim, t->exec, lr);
    return DG_OK;
}

/* Free adversarial training (Shafahi et al. 2019): the batch is replayed
 * adversarial_replays times from a random start in the box; each replay's
 * one backward pass gives both the weights' step and the next move of one
 * radius, so the moves cost nothing beyond the replays themselves. */
static dg_status replay_batch(trainer *t, const float *soft, uint32_t n,
                              float lr, dg_rng *rng, double *loss,
                              uint32_t *correct)
{
    random_start(t, n, rng);
    for (uint32_t r = 0; r < t->o->adversarial_replays; r++) {
        DG_TRY(forward_loss(t, t->moved, soft, n, loss, correct));
        DG_TRY(learn(t, lr, DG_GRAD_PARAMS | DG_GRAD_INPUT));
        sign_step(t, n, 1.0f);
    }
    return DG_OK;
}

/* One step on samples order[first .. first+n-1] (with replays, several);
 * returns the (last) batch loss. */
static dg_status train_step(trainer *t, uint32_t first, uint32_t n, float lr,
                            dg_rng *rng, double *loss, uint32_t *correct)
{
    DG_TRY(gather_batch(t, first, n));
    /* The teacher sees the clean batch: its logits hold for every replay. */
    const float *soft = NULL;
    if (t->o->distill_from) DG_TRY(teacher_logits(t, first, n, &soft));
    if (t->moved && t->o->adversarial_replays > 1)
        return replay_batch(t, soft, n, lr, rng, loss, correct);
    const float *seen = t->x;
    if (t->moved) {
        DG_TRY(move_batch(t, n, rng));
        seen = t->moved;
    }
    DG_TRY(forward_loss(t, seen, soft, n, loss, correct));
    return learn(t, lr, DG_GRAD_PARAMS);
}

static dg_status run_epochs(trainer *t, uint32_t start, dg_train_report *rep)
{
    const dg_train_opts *o = t->o;
    uint64_t total = (uint64_t)o->epochs * t->steps_per_epoch;
    uint32_t b = dg_exec_batch(t->exec);
    for (uint32_t epoch = start; epoch < o->epochs; epoch++) {
        /* Each epoch's order depends only on (seed, epoch), so a resumed run
         * sees the same batches as an uninterrupted one. */
        dg_rng rng;
        dg_rng_seed(&rng, o->seed * 0x9e3779b97f4a7c15ull + epoch);
        for (uint32_t i = 0; i < t->n; i++) t->order[i] = i;
        dg_rng_shuffle(&rng, t->order, t->n);
        dg_exec_seed(t->exec, dg_rng_next(&rng));
        float cap = o->patch_cap + (float)epoch * o->patch_cap_step;
        t->patch_cap = cap < o->patch_cap_max ? cap : o->patch_cap_max;
        double loss_sum = 0, distance_sum = 0;
        uint64_t hits = 0;
        for (uint32_t s = 0; s < t->steps_per_epoch; s++) {
            uint32_t first = s * b, n = t->n - first < b ? t->n - first : b;
            uint64_t global = (uint64_t)epoch * t->steps_per_epoch + s;
            double loss;
            uint32_t correct;
            DG_TRY(train_step(t, first, n, learning_rate(o, epoch, global, total),
                              &rng, &loss, &correct));
            if (!isfinite(loss))
                return dg_fail(DG_E_STATE, "epoch %u step %u: the loss is %g; "
                                           "lower the learning rate",
                               epoch + 1, s + 1, loss);
            loss_sum += loss * n;
            distance_sum += t->patch_distance * n;
            hits += correct;
            if (o->progress &&
                o->progress(o->progress_user, "train", global + 1, total,
                            loss_sum / ((double)first + n)))
                return dg_fail(DG_E_CANCELLED, "training stopped at epoch %u",
                               epoch + 1);
        }
        if (rep) {
            rep->epochs_run++;
            rep->last_loss = (float)(loss_sum / t->n);
            rep->last_accuracy = (float)hits / (float)t->n;
            rep->last_patch_distance =
                t->patch_teacher ? (float)(distance_sum / t->n) : NAN;
        }
        if (o->checkpoint_path)
            DG_TRY(dg_checkpoint_save(o->checkpoint_path, t->m, t->optim,
                                      epoch + 1, o, t->n));
    }
    return DG_OK;
}

static dg_status train_model(dg_model *m, const dg_dataset *ds,
                             const dg_dataset *distill_ds,
                             const dg_train_opts *o,
                             const dg_train_cache *cache,
                             dg_train_report *report)
{
    trainer t;
    dg_status s = trainer_init(&t, m, ds, distill_ds, o, cache);
    uint32_t start = 0;
    if (s == DG_OK && o->checkpoint_path)
        s = dg_checkpoint_resume(o->checkpoint_path, m, t.optim, o, t.n,
                                 &start);
    if (report) {
        report->resumed_epoch = start;
        report->last_patch_distance = NAN;
    }
    if (s == DG_OK) s = run_epochs(&t, start, report);
    trainer_free(&t);
    return s;
}

/* The last layer of a prefix whose output can be computed once for the
 * whole run instead of at every step: no layer up to it learns or draws
 * random numbers (frozen batch norms use their running statistics), no
 * later layer reads anything before it, and the training moves no pixels
 * (adversarial training) and unfreezes nothing (the patch).  -1: none. */
static int32_t frozen_prefix_end(const dg_model *m, const dg_train_opts *o)
{
    if (o->adversarial_epsilon > 0 || o->patch_teacher) return -1;
    int32_t live = dg_model_logits_layer(m);
    for (int32_t i = 0; i < live; i++) {
        const dg_layer *l = &m->layers[i];
        if ((l->n_trainable > 0 && !(l->flags & DG_LAYER_FLAG_FROZEN)) ||
            l->kind == DG_LAYER_DROPOUT)
            live = i;
    }
    return live > 0 ? (int32_t)dg_model_slice_start(m, (uint32_t)live) - 1
                    : -1;
}

typedef struct rows_copy {
    float *out;
    int32_t layer;
    size_t dim;
} rows_copy;

static dg_status copy_rows(void *user, const dg_exec *e, uint32_t first,
                           uint32_t count, const int32_t *labels)
{
    (void)labels;
    rows_copy *r = user;
    const float *y = dg_exec_output(e, r->layer);
    if (!y) return DG_E_STATE;
    memcpy(r->out + first * r->dim, y, count * r->dim * sizeof *y);
    return DG_OK;
}

/* Layer `last`'s output for every sample of ds, in order, computed as the
 * trainer would compute it (a training executor of batch b). */
static dg_status prefix_features(dg_model *m, const dg_dataset *ds,
                                 int32_t last, uint32_t b, float *out)
{
    dg_exec *e = NULL;
    float *x = NULL;
    uint32_t *idx = NULL;
    size_t in = dg_shape_size(m->input);
    rows_copy rows = {out, last, dg_shape_size(m->layers[last].out)};
    dg_status s = dg_exec_create(m, b, DG_EXEC_TRAINING | DG_EXEC_BACKWARD, &e);
    if (s == DG_OK) s = dg_alloc_aligned(&x, (size_t)b * in, "batch");
    if (s == DG_OK) s = dg_alloc_array((void **)&idx, b, sizeof *idx, "batch");
    for (uint32_t first = 0; s == DG_OK && first < ds->count; first += b) {
        uint32_t n = ds->count - first < b ? ds->count - first : b;
        for (uint32_t i = 0; i < n; i++) idx[i] = first + i;
        s = dg_dataset_make_batch(ds, m, idx, n, x, (size_t)n * in, NULL);
        if (s == DG_OK) s = dg_exec_forward_to(e, x, n, last);
        if (s == DG_OK) s = copy_rows(&rows, e, first, n, NULL);
    }
    dg_exec_free(e);
    dg_free_aligned(x);
    free(idx);
    return s;
}

void dg_train_cache_free(dg_train_cache *c)
{
    if (!c) return;
    dg_model_unref(c->source);
    dg_free_aligned(c->features);
    dg_free_aligned(c->soft);
    free(c);
}

dg_status dg_train_cache_create(dg_model *m, const dg_dataset *ds,
                                const dg_dataset *distill_ds,
                                const dg_train_opts *o, dg_train_cache **out)
{
    *out = NULL;
    uint32_t n;
    DG_TRY(check_options(m, ds, o, 0, &n));
    int32_t end = frozen_prefix_end(m, o);
    if (end < 0 && !o->distill_from) return DG_OK;
    dg_train_cache *c = calloc(1, sizeof *c);
    if (!c) return dg_fail(DG_E_NOMEM, "a training cache");
    *c = (dg_train_cache){dg_model_ref(m), end, ds, distill_ds,
                          o->distill_from, o->batch_size < n ? o->batch_size : n,
                          NULL, NULL};
    uint32_t k = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    dg_status s = DG_OK;
    if (end >= 0) {
        s = dg_alloc_aligned(&c->features,
                             (size_t)n * dg_shape_size(m->layers[end].out),
                             "prefix features");
        if (s == DG_OK) s = prefix_features(m, ds, end, c->batch, c->features);
    }
    if (s == DG_OK && o->distill_from) {
        dg_model *teacher = (dg_model *)o->distill_from;
        const dg_dataset *seen = distill_ds ? distill_ds : ds;
        rows_copy rows = {NULL, dg_model_logits_layer(teacher), k};
        s = dg_alloc_aligned(&c->soft, (size_t)n * k, "teacher logits");
        rows.out = c->soft;
        if (s == DG_OK)
            s = dg_forward_batches(teacher, seen, NULL, n, c->batch,
                                   rows.layer, copy_rows, &rows);
    }
    if (s != DG_OK) {
        dg_train_cache_free(c);
        return s;
    }
    *out = c;
    return DG_OK;
}

/* Whether layers 0..c->end of m are those c ran: same kinds,
 * connections, weights and masks. */
static int same_prefix(const dg_train_cache *c, const dg_model *m)
{
    const dg_model *src = c->source;
    if (m->input.c != src->input.c || m->input.h != src->input.h ||
        m->input.w != src->input.w ||
        memcmp(&m->pre, &src->pre, sizeof m->pre) != 0)
        return 0;
    for (int32_t i = 0; i <= c->end; i++) {
        const dg_layer *a = &m->layers[i], *b = &src->layers[i];
        if (a->kind != b->kind || a->input[0] != b->input[0] ||
            a->input[1] != b->input[1] || a->n_params != b->n_params ||
            (a->mask == NULL) != (b->mask == NULL) ||
            dg_shape_size(a->out) != dg_shape_size(b->out))
            return 0;
        for (uint32_t p = 0; p < a->n_params; p++)
            if (a->param_len[p] != b->param_len[p] ||
                memcmp(a->param[p], b->param[p],
                       a->param_len[p] * sizeof *a->param[p]) != 0)
                return 0;
        if (a->mask && memcmp(a->mask, b->mask, dg_layer_units(a)) != 0)
            return 0;
    }
    return 1;
}

/* Whether training m on ds (and distill_ds) with o can use c. */
static int cache_fits(const dg_train_cache *c, const dg_model *m,
                      const dg_dataset *ds, const dg_dataset *distill_ds,
                      const dg_train_opts *o)
{
    uint32_t b = o->batch_size < ds->count ? o->batch_size : ds->count;
    return c && c->ds == ds && c->distill_ds == distill_ds &&
           c->teacher == o->distill_from && c->batch == b &&
           frozen_prefix_end(m, o) >= c->end && same_prefix(c, m);
}

/* Trains the layers after the cached prefix on its output, with the
 * distillation teacher's logits cached too: a Student over a large frozen
 * Teacher trains at the cost of its head.  The trained layers are copied
 * back into m. */
static dg_status train_on_cache(dg_model *m, const dg_train_cache *c,
                                const dg_dataset *ds,
                                const dg_dataset *distill_ds,
                                const dg_train_opts *o,
                                dg_train_report *report)
{
    if (c->end < 0) return train_model(m, ds, distill_ds, o, c, report);
    dg_model *tail;
    DG_TRY(dg_model_slice(m, (uint32_t)c->end + 1, &tail));
    dg_status s = train_model(tail, ds, distill_ds, o, c, report);
    for (uint32_t i = 0; s == DG_OK && i < tail->n_layers; i++) {
        dg_layer *to = &m->layers[(uint32_t)c->end + 1 + i];
        const dg_layer *from = &tail->layers[i];
        for (uint32_t p = 0; p < from->n_params; p++)
            memcpy(to->param[p], from->param[p],
                   from->param_len[p] * sizeof *from->param[p]);
    }
    dg_model_destroy(tail);
    return s;
}

dg_status dg_train_run_cached(dg_model *m, const dg_dataset *ds,
                              const dg_dataset *distill_ds,
                              const dg_train_opts *o,
                              const dg_train_cache *cache,
                              dg_train_report *report)
{
    uint32_t n;
    DG_TRY(check_options(m, ds, o, 0, &n));
    if (cache_fits(cache, m, ds, distill_ds, o))
        return train_on_cache(m, cache, ds, distill_ds, o, report);
    dg_train_cache *own;
    DG_TRY(dg_train_cache_create(m, ds, distill_ds, o, &own));
    dg_status s = own ? train_on_cache(m, own, ds, distill_ds, o, report)
                      : train_model(m, ds, distill_ds, o, NULL, report);
    dg_train_cache_free(own);
    return s;
}

dg_status dg_train_run_paired(dg_model *m, const dg_dataset *ds,
                              const dg_dataset *distill_ds,
                              const dg_train_opts *o, dg_train_report *report)
{
    return dg_train_run_cached(m, ds, distill_ds, o, NULL, report);
}

dg_status dg_train_run(dg_model *m, const dg_dataset *ds,
                       const dg_train_opts *o, dg_train_report *report)
{
    return dg_train_run_paired(m, ds, NULL, o, report);
}

dg_status dg_train_save(dg_model *m, const dg_dataset *ds,
                        const dg_train_opts *o, const char *path,
                        dg_train_report *report)
{
    DG_TRY(dg_train_run(m, ds, o, report));
    DG_TRY(dg_model_save_path(m, path));
    /* Until the model file is written the checkpoint holds the only copy
     * of the finished epochs; after, it would only make the next training
     * with it "resume" this one. */
    if (o->checkpoint_path && remove(o->checkpoint_path) != 0 &&
        errno != ENOENT)
        return dg_fail(DG_E_IO, "removing the checkpoint %s: %s",
                       o->checkpoint_path, strerror(errno));
    return DG_OK;
}

dg_status dg_forward_batches(const dg_model *m, const dg_dataset *ds,
                             const uint32_t *indices, uint32_t n,
                             uint32_t batch, int32_t last,
                             dg_batch_visit visit, void *user)
{
    if (n == 0) return DG_OK;
    uint32_t cap = n < batch ? n : batch;
    dg_exec *e = NULL;
    float *x = NULL;
    uint32_t *idx = NULL;
    int32_t *labels = NULL;
    size_t in = dg_shape_size(m->input);
    dg_status s = dg_exec_create((dg_model *)m, cap, 0, &e);
    if (s == DG_OK) s = dg_alloc_aligned(&x, (size_t)cap * in, "batch");
    if (s == DG_OK) s = dg_alloc_array((void **)&idx, cap, sizeof *idx, "batch");
    if (s == DG_OK)
        s = dg_alloc_array((void **)&labels, cap, sizeof *labels, "batch");
    for (uint32_t first = 0; s == DG_OK && first < n; first += cap) {
        uint32_t cnt = n - first < cap ? n - first : cap;
        for (uint32_t i = 0; i < cnt; i++)
            idx[i] = indices ? indices[first + i] : first + i;
        s = dg_dataset_make_batch(ds, m, idx, cnt, x, (size_t)cnt * in,
                                  labels);
        if (s == DG_OK)
            s = last < 0 ? dg_exec_forward(e, x, cnt)
                         : dg_exec_forward_to(e, x, cnt, last);
        if (s == DG_OK) s = visit(user, e, first, cnt, labels);
    }
    dg_exec_free(e);
    dg_free_aligned(x);
    free(idx);
    free(labels);
    return s;
}

typedef struct predictions {
    int32_t *out;
    int32_t last;
    uint32_t k, n;
    dg_progress_fn progress;
    void *user;
} predictions;

static dg_status predict_batch(void *user, const dg_exec *e, uint32_t first,
                               uint32_t count, const int32_t *labels)
{
    (void)labels;
    predictions *p = user;
    const float *y = dg_exec_output(e, p->last);
    if (!y) return DG_E_STATE;
    for (uint32_t i = 0; i < count; i++)
        p->out[first + i] = (int32_t)dg_argmax(y + (size_t)i * p->k, p->k);
    if (p->progress && p->progress(p->user, "evaluate", first + count, p->n, NAN))
        return dg_fail(DG_E_CANCELLED, "evaluation stopped");
    return DG_OK;
}

dg_status dg_predict_all(const dg_model *m, const dg_dataset *ds,
                         int32_t *predictions_out, dg_progress_fn progress,
                         void *user)
{
    int32_t last = (int32_t)m->n_layers - 1;
    predictions p = {predictions_out, last,
                     (uint32_t)dg_shape_size(m->layers[last].out), ds->count,
                     progress, user};
    return dg_forward_batches(m, ds, NULL, ds->count, 256, -1, predict_batch,
                              &p);
}

dg_status dg_evaluate(const dg_model *m, const dg_dataset *ds,
                      uint32_t *confusion, uint32_t *correct)
{
    uint32_t k = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    int32_t *pred;
    DG_TRY(dg_alloc_array((void **)&pred, ds->count ? ds->count : 1,
                          sizeof *pred, "predictions"));
    dg_status s = dg_predict_all(m, ds, pred, NULL, NULL);
    uint32_t hits = 0;
    if (confusion) memset(confusion, 0, (size_t)k * k * sizeof *confusion);
    for (uint32_t i = 0; s == DG_OK && i < ds->count; i++) {
        int32_t label = ds->labels[i];
        if ((uint32_t)label >= k) {
            s = dg_fail(DG_E_SHAPE, "sample %u has label %d; the model has "
                                    "%u outputs",
                        i, label, k);
            break;
        }
        hits += pred[i] == label;
        if (confusion) confusion[(size_t)label * k + (uint32_t)pred[i]]++;
    }
    free(pred);
    if (s == DG_OK) *correct = hits;
    return s;
}
