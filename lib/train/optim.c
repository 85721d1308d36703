/* optim.c - SGD with momentum and Adam (with decoupled weight decay). */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

struct dg_optim {
    dg_model *m;
    dg_optim_config c;
    uint64_t steps;
    float **m1, **m2; /* per (layer, param): momentum / first and second moments */
};

static int updated(const dg_layer *l)
{
    return l->n_trainable > 0 && !(l->flags & DG_LAYER_FLAG_FROZEN);
}

static size_t slot(uint32_t layer, uint32_t p)
{
    return (size_t)layer * DG_MAX_PARAMS + p;
}

void dg_optim_free(dg_optim *o)
{
    if (!o) return;
    for (size_t k = 0; k < (size_t)o->m->n_layers * DG_MAX_PARAMS; k++) {
        if (o->m1) dg_free_aligned(o->m1[k]);
        if (o->m2) dg_free_aligned(o->m2[k]);
    }
    free(o->m1);
    free(o->m2);
    free(o);
}

dg_status dg_optim_create(dg_model *m, const dg_optim_config *c,
                          dg_optim **out)
{
    *out = NULL;
    if (c->kind != DG_OPTIMIZER_SGD && c->kind != DG_OPTIMIZER_ADAM)
        return dg_fail(DG_E_INVALID_ARG, "unknown optimiser %d", c->kind);
    dg_optim *o;
    DG_TRY(dg_alloc_array((void **)&o, 1, sizeof *o, "optimiser"));
    o->m = m;
    o->c = *c;
    size_t n = (size_t)m->n_layers * DG_MAX_PARAMS;
    dg_status s = dg_alloc_array((void **)&o->m1, n, sizeof *o->m1, "moments");
    if (s == DG_OK)
        s = dg_alloc_array((void **)&o->m2, n, sizeof *o->m2, "moments");
    for (uint32_t i = 0; s == DG_OK && i < m->n_layers; i++) {
        const dg_layer *l = &m->layers[i];
        for (uint32_t p = 0; updated(l) && p < l->n_trainable && s == DG_OK; p++) {
            s = dg_alloc_aligned(&o->m1[slot(i, p)], l->param_len[p], "moments");
            if (s == DG_OK && c->kind == DG_OPTIMIZER_ADAM)
                s = dg_alloc_aligned(&o->m2[slot(i, p)], l->param_len[p],
                                     "moments");
        }
    }
    if (s != DG_OK) {
        dg_optim_free(o);
        return s;
    }
    *out = o;
    return DG_OK;
}

/* Weight decay applies to conv and linear weights, not to biases or
 * batch-norm parameters. */
static int decays(const dg_layer *l, uint32_t p)
{
    return p == 0 && (l->kind == DG_LAYER_CONV || l->kind == DG_LAYER_LINEAR);
}

static void sgd(const dg_optim_config *c, float *w, const float *g, float *v,
                size_t n, float lr, float wd)
{
    for (size_t k = 0; k < n; k++) {
        float grad = g[k] + wd * w[k];
        v[k] = c->momentum * v[k] + grad;
        w[k] -= lr * v[k];
    }
}

static void adam(const dg_optim_config *c, float *w, const float *g, float *m1,
                 float *m2, size_t n, float lr, float wd, uint64_t t)
{
    float b1 = c->beta1, b2 = c->beta2;
    float corr1 = 1.0f - powf(b1, (float)t), corr2 = 1.0f - powf(b2, (float)t);
    float step = lr * sqrtf(corr2) / corr1;
    for (size_t k = 0; k < n; k++) {
        m1[k] = b1 * m1[k] + (1 - b1) * g[k];
        m2[k] = b2 * m2[k] + (1 - b2) * g[k] * g[k];
        w[k] -= step * m1[k] / (sqrtf(m2[k]) + c->eps) + lr * wd * w[k];
    }
}

void dg_model_apply_masks(dg_model *m)
{
    for (uint32_t i = 0; i < m->n_layers; i++) {
        dg_layer *l = &m->layers[i];
        if (!l->mask) continue;
        size_t per_unit = l->param_len[0] / l->units;
        for (uint32_t u = 0; u < l->units; u++) {
            if (l->mask[u]) continue;
            memset(l->param[0] + u * per_unit, 0, per_unit * sizeof(float));
            l->param[1][u] = 0;
        }
    }
}

void dg_optim_step(dg_optim *o, const dg_exec *e, float lr)
{
    o->steps++;
    for (uint32_t i = 0; i < o->m->n_layers; i++) {
        dg_layer *l = &o->m->layers[i];
        if (!updated(l)) continue;
        for (uint32_t p = 0; p < l->n_trainable; p++) {
            const float *g = dg_exec_param_grad(e, (int32_t)i, p);
            float wd = decays(l, p) ? o->c.weight_decay : 0.0f;
            size_t s = slot(i, p);
            if (o->c.kind == DG_OPTIMIZER_SGD)
                sgd(&o->c, l->param[p], g, o->m1[s], l->param_len[p], lr, wd);
            else
                adam(&o->c, l->param[p], g, o->m1[s], o->m2[s],
                     l->param_len[p], lr, wd, o->steps);
        }
    }
    dg_model_apply_masks(o->m);
}

void dg_optim_save(const dg_optim *o, dg_writer *w)
{
    dg_put_u32(w, (uint32_t)o->c.kind);
    dg_put_u64(w, o->steps);
    for (size_t k = 0; k < (size_t)o->m->n_layers * DG_MAX_PARAMS; k++) {
        uint32_t layer = (uint32_t)(k / DG_MAX_PARAMS), p = k % DG_MAX_PARAMS;
        size_t n = o->m1[k] ? o->m->layers[layer].param_len[p] : 0;
        if (o->m1[k]) dg_put_f32s(w, o->m1[k], n);
        if (o->m2[k]) dg_put_f32s(w, o->m2[k], n);
    }
}

dg_status dg_optim_load(dg_optim *o, dg_reader *r)
{
    uint32_t kind;
    DG_TRY(dg_get_u32(r, &kind, "optimiser kind"));
    if ((int32_t)kind != o->c.kind)
        return dg_fail(DG_E_MISMATCH,
                       "checkpoint optimiser %u differs from the requested %d",
                       kind, o->c.kind);
    DG_TRY(dg_get_u64(r, &o->steps, "optimiser steps"));
    for (size_t k = 0; k < (size_t)o->m->n_layers * DG_MAX_PARAMS; k++) {
        uint32_t layer = (uint32_t)(k / DG_MAX_PARAMS), p = k % DG_MAX_PARAMS;
        size_t n = o->m1[k] ? o->m->layers[layer].param_len[p] : 0;
        if (o->m1[k]) DG_TRY(dg_get_f32s(r, o->m1[k], n, "optimiser state"));
        if (o->m2[k]) DG_TRY(dg_get_f32s(r, o->m2[k], n, "optimiser state"));
    }
    return DG_OK;
}
