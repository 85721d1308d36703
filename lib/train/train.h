/* train.h - the training loop, evaluation and transfer learning. */
#ifndef DG_TRAIN_TRAIN_H
#define DG_TRAIN_TRAIN_H

#include "diffguard.h"
#include "nn/exec.h"
#include "nn/model.h"

/* dg_train_opts_init's defaults, for this library's layout. */
void dg_train_defaults(dg_train_opts *o);

dg_status dg_train_run(dg_model *m, const dg_dataset *ds,
                       const dg_train_opts *o, dg_train_report *report);
/* dg_train_run, then m written to path and the checkpoint removed
 * (dg_model_train_file). */
dg_status dg_train_save(dg_model *m, const dg_dataset *ds,
                        const dg_train_opts *o, const char *path,
                        dg_train_report *report);
/* dg_train_run where the distillation teacher sees sample i of distill_ds
 * while the model sees sample i of ds (same count and shape): a perturbed
 * input learns the teacher's answer on its clean original. */
dg_status dg_train_run_paired(dg_model *m, const dg_dataset *ds,
                              const dg_dataset *distill_ds,
                              const dg_train_opts *o, dg_train_report *report);

/* What a training computes once instead of at every step: the output of
 * the model's frozen prefix for every sample, if it has one, and the
 * distillation teacher's logits.  Several trainings of models that share
 * the prefix (a guard's pruned members), or only the data and teacher (its
 * robust members), can share one; it is only read, so at once too. */
typedef struct dg_train_cache dg_train_cache;

/* The cache training m on ds (distill_ds as for dg_train_run_paired) with
 * o would make; *out is NULL when there is nothing to skip (no frozen
 * prefix and no distillation).  The cache keeps a reference to m. */
dg_status dg_train_cache_create(dg_model *m, const dg_dataset *ds,
                                const dg_dataset *distill_ds,
                                const dg_train_opts *o, dg_train_cache **out);
void dg_train_cache_free(dg_train_cache *c);

/* dg_train_run_paired using `cache` (may be NULL) when it fits: the same
 * data sets, teacher and batch size, and layers up to its prefix that
 * equal m's, all frozen in m too.  Otherwise m's own frozen prefix, if
 * any, is run once for this run. */
dg_status dg_train_run_cached(dg_model *m, const dg_dataset *ds,
                              const dg_dataset *distill_ds,
                              const dg_train_opts *o,
                              const dg_train_cache *cache,
                              dg_train_report *report);

/* Called by dg_forward_batches after each batch has run through e:
 * samples first..first+count-1 of the run, with their labels. */
typedef dg_status (*dg_batch_visit)(void *user, const dg_exec *e,
                                    uint32_t first, uint32_t count,
                                    const int32_t *labels);

/* Runs m over samples indices[0..n-1] of ds (indices NULL: 0..n-1) in
 * batches of at most `batch`, through layer `last` (-1: the whole model),
 * and calls visit after each.  Stops at the first failure. */
dg_status dg_forward_batches(const dg_model *m, const dg_dataset *ds,
                             const uint32_t *indices, uint32_t n,
                             uint32_t batch, int32_t last,
                             dg_batch_visit visit, void *user);

/* Argmax predictions of m for every sample of ds, in order. */
dg_status dg_predict_all(const dg_model *m, const dg_dataset *ds,
                         int32_t *predictions, dg_progress_fn progress,
                         void *user);

/* Classifies every sample of ds: *correct gets the hits and confusion
 * (NULL, or k x k for k outputs) [true * k + predicted].  Labels must be
 * below k. */
dg_status dg_evaluate(const dg_model *m, const dg_dataset *ds,
                      uint32_t *confusion, uint32_t *correct);

dg_status dg_transfer_build(const dg_model *teacher, int32_t cut_layer,
                            const char *head_spec, uint64_t seed,
                            dg_model **student);

#endif
