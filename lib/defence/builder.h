/* builder.h - the state of one guard build, shared by the files that do
 * its jobs: build.c (options, distillation, assembly), harden.c
 * (defender-made attacks), work_dir.c (the resumable work directory) and
 * rank.c (scoring, ranking and calibration). */
#ifndef DG_DEFENCE_BUILDER_H
#define DG_DEFENCE_BUILDER_H

#include <stdatomic.h>

#include "defence/ensemble.h"
#include "defence/pruner.h"
#include "io/dataset.h"

/* What a work directory's parts are made from (work_dir.c): the Student,
 * the fit data and the settings, and the fingerprint of all three. */
typedef struct work_origin {
    uint64_t student, data, settings, whole;
} work_origin;

typedef struct builder {
    const dg_model *student;
    const dg_ensemble_opts *o; /* &opts */
    dg_ensemble_opts opts;     /* the caller's, with defaults.c's choices */
    const dg_dataset *fit, *held;
    dg_dataset *own_fit, *own_held; /* when split off the training data */
    /* Distillation data: the fit samples, then defender-made attacks on
     * them (labelled with the source class), and what the Student sees
     * for each: the fit samples twice, so an attacked input learns the
     * Student's answer on its clean source. */
    dg_dataset *hardened, *hardened_sources;
    /* What the members' trainings share (train.h: the pruned members'
     * frozen prefix, the Student's logits), run once before they train. */
    struct dg_train_cache *train_cache;
    atomic_int stop; /* the member pool's: a member failed, or stopped */
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
    /* Jobs: differentiator k is class k / V, variant k % V.  This process
     * makes job k when shards is 0 or k % shards == shard; a merge
     * (merging non-zero) makes none and needs them all in the work
     * directory. */
    uint32_t shard, shards;
    int merging;
    work_origin origin; /* set by dg_work_dir_claim */
} builder;

/* build.c: a shard's jobs, saved in o->work_dir (no guard); and the guard
 * a merge assembles from a work directory holding every job, refusing
 * (DG_E_STATE) one that lacks some. */
dg_status dg_ensemble_make_shard(const dg_model *student,
                                 const dg_dataset *train,
                                 const dg_dataset *holdout,
                                 const dg_ensemble_opts *o, uint32_t shard,
                                 uint32_t shards);
dg_status dg_ensemble_merge(const dg_model *student, const dg_dataset *train,
                            const dg_dataset *holdout,
                            const dg_ensemble_opts *o, dg_ensemble **out);

/* defaults.c: the clean held-out images (over all classes) that leave
 * the reached false rejection a standard error of 0.7 points at a 3%
 * target (the same share of other targets). */
double dg_calibration_images_needed(float target);
/* defaults.c: fills the options left 0 that the build chooses from its
 * data: holdout_fraction (when no held-out set is given) and
 * robust_epochs, for train_count training images. */
/* The build options' defaults, as dg_guard_opts_init documents them. */
void dg_guard_defaults(dg_ensemble_opts *o);

void dg_guard_choose_defaults(dg_ensemble_opts *o, uint32_t train_count,
                              int has_holdout);

/* build.c: whether this process makes job k. */
int dg_builder_owns(const builder *b, uint32_t k);

/* harden.c: attacks every fit sample as the threat model's attacker would
 * and fills b->hardened and b->hardened_sources. */
dg_status dg_builder_harden(builder *b);

/* work_dir.c: claims b->o->work_dir for this build's settings (a
 * directory made for others is refused with DG_E_MISMATCH; a missing
 * fingerprint is written if `create`, else refused with DG_E_STATE) and
 * sets b->origin. */
dg_status dg_work_dir_claim(builder *b, uint64_t student_hash, int create);
/* Removes the temporary files a killed build left in the work directory
 * for the parts this process makes. */
dg_status dg_work_dir_clean(const builder *b);
/* Loads differentiator v of class c into b->models from the work
 * directory, leaving it NULL if an earlier build did not finish it; a
 * part of another class, variant or origin is refused (DG_E_MISMATCH). */
dg_status dg_work_dir_load(builder *b, uint32_t c, uint32_t v);
/* Saves b->models' differentiator v of class c as a part. */
dg_status dg_work_dir_save(const builder *b, uint32_t c, uint32_t v);

/* rank.c: runs every variant of class c on its clean held-out samples. */
dg_status dg_builder_score_class(builder *b, uint32_t c);
/* Ranks class c's scored variants m by score (stable: ties keep variant
 * order); rank[r] is the variant at rank r. */
void dg_builder_rank_class(const builder *b, const dg_member *m,
                           uint32_t *rank);
/* Thresholds of every class for every M from the ranked variants. */
dg_status dg_builder_calibrate(builder *b, dg_ensemble *g, uint32_t **ranks);

#endif
