/* probe.h - a robust member's probe head (probe.c). */
#ifndef DG_DEFENCE_PROBE_H
#define DG_DEFENCE_PROBE_H

#include "diffguard.h"
#include "nn/model.h"

/* How a probe's linear layer is trained (Adam, cosine schedule, the
 * member's other layers frozen). */
typedef struct dg_probe_opts {
    uint32_t epochs, batch_size;
    float learning_rate, weight_decay;
    uint64_t seed;
} dg_probe_opts;

/* A copy of member with a probe head (dg_model_probe_layer finds it)
 * fitted on `fit`'s labels: the output of the member's first max pooling
 * layer, averaged to at most 4x4 per channel and batch-normalised, read
 * by a linear layer with one output per class.  The member's own outputs do not change.  Fails
 * with DG_E_UNSUPPORTED for a member without max pooling. */
dg_status dg_member_with_probe(const dg_model *member, const dg_dataset *fit,
                               const dg_probe_opts *o, dg_model **out);

#endif
