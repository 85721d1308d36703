/* pruner.c - activation-based pruning: per-class mean activation of each
 * unit (channels averaged over space by a backend reduction), and masks
 * over the most or least activated units. */
#include "defence/pruner.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/backend.h"
#include "nn/exec.h"
#include "io/dataset.h"
#include "train/optim.h"
#include "train/train.h"

/* Layers that keep channel identity, so their output units are the units of
 * the conv or linear layer before them. */
static int preserves_units(int32_t kind)
{
    return kind == DG_LAYER_RELU || kind == DG_LAYER_BATCHNORM ||
           kind == DG_LAYER_MAXPOOL || kind == DG_LAYER_AVGPOOL ||
           kind == DG_LAYER_GLOBAL_AVGPOOL || kind == DG_LAYER_DROPOUT;
}

int32_t dg_measured_layer(const dg_model *m, int32_t unit_layer)
{
    int32_t next = unit_layer + 1;
    if (next < (int32_t)m->n_layers && m->layers[next].kind == DG_LAYER_RELU &&
        m->layers[next].input[0] == unit_layer)
        return next;
    return unit_layer;
}

dg_status dg_pruner_new(const dg_model *m, int32_t layer, dg_pruner **out)
{
    *out = NULL;
    if (layer < 0 || layer >= (int32_t)m->n_layers)
        return dg_fail(DG_E_INVALID_ARG, "pruner layer %d of %u", layer,
                       m->n_layers);
    int32_t u = layer;
    while (u >= 0 && preserves_units(m->layers[u].kind)) u = m->layers[u].input[0];
    if (u < 0 || (m->layers[u].kind != DG_LAYER_CONV &&
                  m->layers[u].kind != DG_LAYER_LINEAR))
        return dg_fail(DG_E_INVALID_ARG,
                       "layer %d (%s) is not fed by a convolution or linear "
                       "layer through unit-preserving layers",
                       layer, dg_layer_kind_name(m->layers[layer].kind));
    dg_pruner *p;
    DG_TRY(dg_alloc_array((void **)&p, 1, sizeof *p, "pruner"));
    p->m = dg_model_ref((dg_model *)m);
    p->layer = layer;
    p->unit_layer = u;
    p->units = m->layers[u].out.c;
    p->classes = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    dg_status s = dg_alloc_array((void **)&p->sum, (size_t)p->classes * p->units,
                                 sizeof *p->sum, "activation sums");
    if (s == DG_OK)
        s = dg_alloc_array((void **)&p->count, p->classes, sizeof *p->count,
                           "activation counts");
    if (s != DG_OK) {
        dg_pruner_destroy(p);
        return s;
    }
    *out = p;
    return DG_OK;
}

void dg_pruner_destroy(dg_pruner *p)
{
    if (!p) return;
    dg_model_unref(p->m);
    free(p->sum);
    free(p->count);
    free(p);
}

/* Per-sample channel means over space, by a backend reduction (re-planned
 * only when the batch size changes). */
static dg_status spatial_means(dg_prim **mean, uint32_t *mean_batch,
                               const dg_layer *l, const float *act,
                               float *means, uint32_t n)
{
    if (*mean_batch != n) {
        dg_prim_free(*mean);
        *mean = NULL;
        *mean_batch = 0;
        DG_TRY(dg_mean_spatial(mean, n, l->out));
        *mean_batch = n;
    }
    void *a[DG_SLOTS] = {0};
    a[DG_SRC] = (void *)act;
    a[DG_DST] = means;
    return dg_prim_run(*mean, a);
}

/* What dg_pruner_run carries from batch to batch. */
typedef struct measuring {
    dg_pruner *p;
    dg_prim *mean;       /* the spatial reduction, planned for mean_batch */
    uint32_t mean_batch;
    float *means;        /* batch x units */
    uint32_t n;
    dg_progress_fn progress;
    void *user;
} measuring;

/* Adds one batch's per-sample unit means into the class sums. */
static dg_status accumulate_batch(void *user, const dg_exec *e,
                                  uint32_t first, uint32_t n,
                                  const int32_t *labels)
{
    measuring *ms = user;
    dg_pruner *p = ms->p;
    const dg_layer *l = &p->m->layers[p->layer];
    const float *act = dg_exec_output(e, p->layer);
    if (!act) return DG_E_STATE;
    /* Features, or 1x1 maps, are their own means (and oneDNN refuses a
     * reduction that reduces nothing). */
    const float *unit_means = act;
    if (l->out.h * l->out.w > 1) {
        DG_TRY(spatial_means(&ms->mean, &ms->mean_batch, l, act, ms->means,
                             n));
        unit_means = ms->means;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (labels[i] < 0 || (uint32_t)labels[i] >= p->classes)
            return dg_fail(DG_E_SHAPE, "label %d outside the model's %u "
                                       "classes",
                           labels[i], p->classes);
        double *sum = p->sum + (size_t)labels[i] * p->units;
        for (uint32_t u = 0; u < p->units; u++)
            sum[u] += unit_means[(size_t)i * p->units + u];
        p->count[labels[i]]++;
    }
    if (ms->progress && ms->progress(ms->user, "measure", first + n, ms->n, NAN))
        return dg_fail(DG_E_CANCELLED, "measuring stopped");
    return DG_OK;
}

dg_status dg_pruner_run(dg_pruner *p, const dg_dataset *ds,
                        dg_progress_fn progress, void *user)
{
    uint32_t n = ds->count;
    if (n == 0) return dg_fail(DG_E_INVALID_ARG, "empty data set");
    enum { BATCH = 128 };
    measuring ms = {.p = p, .n = n, .progress = progress, .user = user};
    dg_status s = dg_alloc_aligned(&ms.means,
                                   (size_t)(n < BATCH ? n : BATCH) * p->units,
                                   "means");
    if (s == DG_OK)
        s = dg_forward_batches(p->m, ds, NULL, n, BATCH, p->layer,
                               accumulate_batch, &ms);
    dg_prim_free(ms.mean);
    dg_free_aligned(ms.means);
    return s;
}

void dg_pruner_means(const dg_pruner *p, uint32_t cls, float *out)
{
    double n = p->count[cls] ? (double)p->count[cls] : 1.0;
    for (uint32_t u = 0; u < p->units; u++)
        out[u] = (float)(p->sum[(size_t)cls * p->units + u] / n);
}

dg_status dg_pruner_make(const dg_pruner *p, uint32_t cls, float fraction,
                         int32_t mode, dg_model **out)
{
    *out = NULL;
    if (cls >= p->classes)
        return dg_fail(DG_E_INVALID_ARG, "class %u of %u", cls, p->classes);
    if (p->count[cls] == 0)
        return dg_fail(DG_E_STATE, "no activations measured for class %u",
                       cls);
    if (mode != DG_PRUNE_MOST && mode != DG_PRUNE_LEAST)
        return dg_fail(DG_E_INVALID_ARG, "prune mode %d", mode);
    uint32_t k = (uint32_t)lroundf(fraction * (float)p->units);
    if (!(fraction >= 0.0f) || k >= p->units)
        return dg_fail(DG_E_INVALID_ARG,
                       "pruning %g of %u units would leave none",
                       (double)fraction, p->units);
    float *act;
    uint8_t *taken;
    DG_TRY(dg_alloc_array((void **)&act, p->units, sizeof *act, "ranking"));
    dg_status s = dg_alloc_array((void **)&taken, p->units, 1,
                                 "ranking");
    dg_model *m = NULL;
    if (s == DG_OK) s = dg_model_clone(p->m, &m);
    dg_layer *l = s == DG_OK ? &m->layers[p->unit_layer] : NULL;
    if (s == DG_OK && !l->mask) {
        s = dg_alloc_array((void **)&l->mask, p->units, 1, "mask");
        if (s == DG_OK) memset(l->mask, 1, p->units);
    }
    if (s == DG_OK) {
        dg_pruner_means(p, cls, act);
        /* Selection by repeated extremum keeps ties in unit order and costs
         * O(k * units), nothing for layers of a few hundred units. */
        for (uint32_t j = 0; j < k; j++) {
            int32_t best = -1;
            for (uint32_t u = 0; u < p->units; u++) {
                if (taken[u]) continue;
                if (best < 0 || (mode == DG_PRUNE_MOST ? act[u] > act[best]
                                                       : act[u] < act[best]))
                    best = (int32_t)u;
            }
            taken[best] = 1;
            l->mask[best] = 0;
        }
        dg_model_apply_masks(m);
    }
    free(act);
    free(taken);
    if (s != DG_OK) {
        dg_model_destroy(m);
        return s;
    }
    *out = m;
    return DG_OK;
}
