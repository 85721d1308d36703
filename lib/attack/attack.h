/* attack.h - the attacks behind dg_attack_run: Teacher-feature mimicry
 * (DSSIM budget in tanh space, or an L-infinity box) and FGSM/PGD on a
 * classifier's cross-entropy, each optionally with an adaptive term, the
 * mean loss of extra whole classifiers (doc/attack.md).
 *
 * Images are split into fixed chunks of opts.batch_size; a worker thread
 * optimises one chunk at a time as one batch through its own executor,
 * with per-image losses, optimiser state and early stopping.  Because the
 * chunks do not depend on the thread count and every image has its own
 * random stream, results do not either. */
#ifndef DG_ATTACK_ATTACK_H
#define DG_ATTACK_ATTACK_H

#include <stdatomic.h>
#include <stdint.h>

#include "diffguard.h"
#include "nn/model.h"

/* The tanh parameterisation x' = tanh(m + s0) / c + 0.5 keeps pixels in
 * (0,1); c slightly above 2 keeps atanh finite at pixels 0 and 1. */
#define DG_ATTACK_TANH_C (2.0 - 1e-6)
/* m starts here, as in Wang et al.'s code. */
#define DG_ATTACK_TANH_START 1e-6f

/* Defaults of the adaptive fields of dg_attack_opts. */
#define DG_ATTACK_DEFAULT_ADAPTIVE_WEIGHT 1.0f
#define DG_ATTACK_DEFAULT_FEATURE_WEIGHT 1.0f

/* One call of dg_attack_run with its arguments checked. */
typedef struct dg_attack_job {
    const dg_model *model;       /* attacked (Teacher, or the classifier) */
    const dg_model *check_model; /* NULL or the early-stop classifier */
    dg_attack_opts opts;         /* validated; FGSM already turned into its
                                    single step */
    int32_t layer;               /* whose output the objective reads */
    uint32_t n;
    const float *sources, *targets; /* n images of the model's input shape */
    const int32_t *labels;
    float *adversarial, *dssim, *objective; /* outputs */
    uint8_t *within_budget;

    /* Shared by the workers. */
    atomic_uint_least64_t steps_done; /* image-iterations, for progress */
    atomic_uint finished, finished_within;
    atomic_int stop; /* a worker failed or the caller cancelled */
} dg_attack_job;

/* The images of one attack: n each (sources, targets, adversarial of the
 * model's input shape), as dg_attack_run documents them. */
typedef struct dg_attack_io {
    const float *sources, *targets;
    const int32_t *labels;
    float *adversarial, *dssim, *objective;
    uint8_t *within_budget;
} dg_attack_io;

/* Fills the fields of o (of this library's size) for a preset. */
dg_status dg_attack_preset(dg_attack_opts *o, int32_t preset);

/* The attack's checked entry, behind dg_attack_run: checks the options'
 * values (the adaptive ones too) and the images, builds the job and
 * executes it.  model, o, io->sources and io->adversarial are not NULL;
 * o has this library's layout (lib/api completes an older caller's). */
dg_status dg_attack_launch(const dg_model *model, const dg_attack_opts *o,
                           uint32_t n, const dg_attack_io *io);

/* The layer a mimicry attack matches by default: every layer before the
 * model's final linear layer (the Student's cut). */
dg_status dg_attack_default_layer(const dg_model *m, int32_t *layer);

/* Whether the method matches features (else it reads the logits). */
static inline int dg_attack_is_mimicry(int32_t method)
{
    return method == DG_ATTACK_MIMIC_DSSIM || method == DG_ATTACK_MIMIC_LINF;
}

/* The class of images adaptive model k joins; -1: every image. */
static inline int32_t dg_attack_model_class(const dg_attack_opts *o,
                                            uint32_t k)
{
    return o->adaptive_model_classes ? o->adaptive_model_classes[k] : -1;
}

/* Runs the job over opts.threads workers (0: online CPUs), calling the
 * progress callback on the calling thread. */
dg_status dg_attack_execute(dg_attack_job *job);

/* A worker: executors, MS-SSIM plan and per-image state for one chunk. */
typedef struct dg_attack_worker dg_attack_worker;

dg_status dg_attack_worker_create(const dg_attack_job *job,
                                  dg_attack_worker **out);
/* Attacks images first..first+count-1 (count <= batch_size) and writes
 * their results into the job's outputs. */
dg_status dg_attack_worker_run(dg_attack_worker *w, dg_attack_job *job,
                               uint32_t first, uint32_t count);
void dg_attack_worker_free(dg_attack_worker *w);

/* The objective of image `index` of the job at pixels x, with every
 * adaptive model that joins it (no draw) and without the DSSIM penalty,
 * and its gradient with respect to x (pixels values) into grad: what each
 * step follows, exposed for gradient checks. */
dg_status dg_attack_worker_objective(dg_attack_worker *w, uint32_t index,
                                     const float *x, double *value,
                                     float *grad);

#endif
