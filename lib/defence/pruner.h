/* pruner.h - activation statistics per class and pruning masks. */
#ifndef DG_DEFENCE_PRUNER_H
#define DG_DEFENCE_PRUNER_H

#include "diffguard.h"
#include "nn/model.h"

struct dg_pruner {
    dg_model *m;         /* a reference */
    int32_t layer;       /* whose output units are measured */
    int32_t unit_layer;  /* the conv or linear layer that owns the units */
    uint32_t units, classes;
    double *sum;         /* classes x units */
    uint64_t *count;     /* classes */
};

dg_status dg_pruner_new(const dg_model *m, int32_t layer, dg_pruner **out);
void dg_pruner_destroy(dg_pruner *p);
dg_status dg_pruner_run(dg_pruner *p, const dg_dataset *ds,
                        dg_progress_fn progress, void *user);
/* Mean activations of class cls into out (units floats). */
void dg_pruner_means(const dg_pruner *p, uint32_t cls, float *out);
dg_status dg_pruner_make(const dg_pruner *p, uint32_t cls, float fraction,
                         int32_t mode, dg_model **out);

/* The layer whose (post-activation) output measures a unit-owning layer's
 * units: the ReLU right after it if there is one, else the layer itself. */
int32_t dg_measured_layer(const dg_model *m, int32_t unit_layer);

#endif
