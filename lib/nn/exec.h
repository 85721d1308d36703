/* exec.h - running a model: forward, and backward for training and attacks.
 *
 * An executor belongs to one thread.  It owns every activation buffer and
 * backend primitive for batches up to its capacity, so running allocates
 * nothing unless the batch size changes (primitives are then re-planned;
 * buffers are never reallocated). */
#ifndef DG_NN_EXEC_H
#define DG_NN_EXEC_H

#include "nn/model.h"

typedef struct dg_exec dg_exec;

/* Training semantics: dropout active, batch normalisation on batch
 * statistics (updating the running ones).  Without it: inference
 * semantics, weights packed once at planning (a later change to the
 * model's weights is not seen), ReLU and batch-norm fused where possible. */
#define DG_EXEC_TRAINING 1u
/* Build backward passes (parameter and/or input gradients). */
#define DG_EXEC_BACKWARD 2u

/* What dg_exec_backward computes. */
#define DG_GRAD_PARAMS 1u /* gradients of every non-frozen layer's params */
#define DG_GRAD_INPUT 2u  /* gradient with respect to the model input */

/* Creates an executor for `m` (which must outlive it unless retained by the
 * caller) for batches up to `capacity`. */
dg_status dg_exec_create(dg_model *m, uint32_t capacity, unsigned flags,
                         dg_exec **out);
void dg_exec_free(dg_exec *e);

/* Runs the forward pass on `batch` samples (NCHW).  `input` must stay valid
 * until the backward pass that follows, if any. */
dg_status dg_exec_forward(dg_exec *e, const float *input, uint32_t batch);

/* Runs only layers 0..last (inclusive). */
dg_status dg_exec_forward_to(dg_exec *e, const float *input, uint32_t batch,
                             int32_t last);

/* Output of layer i from the last forward (batch x shape), or NULL with a
 * detail if the layer was fused into a later one at inference. */
const float *dg_exec_output(const dg_exec *e, int32_t layer);

/* Back-propagates diff (batch x output shape of `from`, the gradient of the
 * loss with respect to that layer's output) through layers from..0. */
dg_status dg_exec_backward(dg_exec *e, int32_t from, const float *diff,
                           unsigned what);

/* dg_exec_backward with a second loss term that depends on layer `at`
 * (at <= from): its gradient `extra` (batch x output shape of `at`) joins
 * that layer's output gradient before the pass continues below it. */
dg_status dg_exec_backward_joined(dg_exec *e, int32_t from, const float *diff,
                                  int32_t at, const float *extra,
                                  unsigned what);

/* After a backward with DG_GRAD_PARAMS: gradient of parameter p of layer i
 * (NULL for frozen layers and statistics). */
float *dg_exec_param_grad(const dg_exec *e, int32_t layer, uint32_t p);
/* After a backward with DG_GRAD_INPUT: d loss / d input (batch x input). */
const float *dg_exec_input_grad(const dg_exec *e);

/* Seeds the dropout generator (training). */
void dg_exec_seed(dg_exec *e, uint64_t seed);
/* Momentum of running batch-norm statistics (default 0.1). */
void dg_exec_set_bn_momentum(dg_exec *e, float momentum);

uint32_t dg_exec_batch(const dg_exec *e);
dg_model *dg_exec_model(const dg_exec *e);

#endif
