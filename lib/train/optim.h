/* optim.h - optimisers over a model's trainable, non-frozen parameters. */
#ifndef DG_TRAIN_OPTIM_H
#define DG_TRAIN_OPTIM_H

#include "core/bytes.h"
#include "diffguard.h"
#include "nn/exec.h"
#include "nn/model.h"

typedef struct dg_optim_config {
    int32_t kind;        /* DG_OPTIMIZER_SGD or DG_OPTIMIZER_ADAM */
    float momentum;      /* SGD */
    float weight_decay;  /* on weights only: L2 for SGD, decoupled for Adam */
    float beta1, beta2, eps; /* Adam */
} dg_optim_config;

typedef struct dg_optim dg_optim;

dg_status dg_optim_create(dg_model *m, const dg_optim_config *c,
                          dg_optim **out);
void dg_optim_free(dg_optim *o);

/* Applies the gradients of the last backward of `e` at learning rate lr,
 * then re-zeroes pruned units so masks hold in the weights too. */
void dg_optim_step(dg_optim *o, const dg_exec *e, float lr);

/* Optimiser state for checkpoints. */
void dg_optim_save(const dg_optim *o, dg_writer *w);
dg_status dg_optim_load(dg_optim *o, dg_reader *r);

/* Zeroes the weights and biases of masked units in every layer. */
void dg_model_apply_masks(dg_model *m);

#endif
