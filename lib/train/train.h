/* train.h - the training loop, evaluation and transfer learning. */
#ifndef DG_TRAIN_TRAIN_H
#define DG_TRAIN_TRAIN_H

#include "diffguard.h"
#include "nn/model.h"

dg_status dg_train_run(dg_model *m, const dg_dataset *ds,
                       const dg_train_opts *o, dg_train_report *report);
/* dg_train_run where the distillation teacher sees sample i of distill_ds
 * while the model sees sample i of ds (same count and shape): a perturbed
 * input learns the teacher's answer on its clean original. */
dg_status dg_train_run_paired(dg_model *m, const dg_dataset *ds,
                              const dg_dataset *distill_ds,
                              const dg_train_opts *o, dg_train_report *report);

/* Argmax predictions of m for every sample of ds, in order. */
dg_status dg_predict_all(const dg_model *m, const dg_dataset *ds,
                         int32_t *predictions, dg_progress_fn progress,
                         void *user);

dg_status dg_transfer_build(const dg_model *teacher, int32_t cut_layer,
                            const char *head_spec, uint64_t seed,
                            dg_model **student);

#endif
