/* checkpoint.h - training checkpoints: the model, the optimiser state and
 * the epochs done, with a fingerprint of the settings they belong to. */
#ifndef DG_TRAIN_CHECKPOINT_H
#define DG_TRAIN_CHECKPOINT_H

#include "diffguard.h"
#include "train/optim.h"

/* Writes the checkpoint atomically. */
dg_status dg_checkpoint_save(const char *path, const dg_model *m,
                             const dg_optim *optim, uint32_t epochs_done,
                             const dg_train_opts *o, uint32_t n_samples);

/* If path exists, restores m's weights and the optimiser from it and sets
 * *epochs_done; otherwise sets it to 0.  A checkpoint of other settings or
 * another architecture is refused (DG_E_MISMATCH). */
dg_status dg_checkpoint_resume(const char *path, dg_model *m, dg_optim *optim,
                               const dg_train_opts *o, uint32_t n_samples,
                               uint32_t *epochs_done);

#endif
