/* exec_internal.h - executor state shared by the driver (exec.c) and the
 * per-kind layer math (layers.c).  Nothing outside lib/nn includes it. */
#ifndef DG_NN_EXEC_INTERNAL_H
#define DG_NN_EXEC_INTERNAL_H

#include "core/rng.h"
#include "nn/backend.h"
#include "nn/exec.h"

/* Primitives are shape-specific: an executor keeps this many plans (one per
 * batch size seen, least recently used replaced) so that alternating batch
 * sizes re-plan nothing after warm-up.  Buffers are shared by all plans. */
#define DG_EXEC_PLANS 8

/* One layer's primitives for one batch size. */
typedef struct dg_layer_prims {
    dg_prim *fwd, *bwd_data, *bwd_weights, *scale; /* scale: mask or BN */
    dg_prim *to_nchw; /* a channels-last output, copied out for readers */
} dg_layer_prims;

/* Per-layer run state.  Pointers named *_buf are owned; out/diff may alias
 * another layer's buffer (flatten, fused layers). */
typedef struct dg_layer_run {
    dg_layer_prims plan[DG_EXEC_PLANS];
    dg_layer_prims *p; /* the plan of the current batch size */
    float *out;       /* output of the last forward (alias or out_buf) */
    float *out_buf;
    float *diff;      /* d loss / d output */
    float *diff_buf;
    float *tmp_buf;   /* masked gradient, dropout mask, ... (out size) */
    float *nchw_buf;  /* a channels-last output as dg_exec_output gives it */
    void *workspace;  /* max-pool indices, sized for the largest plan */
    size_t workspace_bytes;
    float *stat_buf;  /* batch-norm: batch mean then batch variance (2C) */
    float *mask_f;    /* the layer's mask as floats (units), or NULL */
    float *scale_f;   /* batch-norm inverse std times gamma (C) */
    int32_t computed_by;    /* >= 0: fused into that earlier layer's primitive */
    int32_t overwritten_by; /* >= 0: output replaced in place by that later
                               fused layer, so it cannot be read */
    dg_post post;       /* fused into fwd */
    int folded_bn;      /* conv whose fwd includes the next batch norm */
    int channels_last;  /* output kept NHWC: read only by conv, pooling and
                           element-wise layers (decide_layouts) */
    uint32_t consumers;
    int needs_diff_src; /* some gradient must flow into this layer's input */
} dg_layer_run;

struct dg_exec {
    dg_model *m;
    uint32_t cap, batch; /* batch: the size of the current plan */
    uint32_t plan_batch[DG_EXEC_PLANS]; /* 0: slot unused */
    uint64_t plan_used[DG_EXEC_PLANS], clock;
    unsigned flags;
    dg_layer_run *run;
    const float *input;
    float *input_diff;   /* cap x input size, with DG_EXEC_BACKWARD */
    float *scratch;      /* a gradient to be summed into a shared one */
    float **grad;        /* per layer: DG_MAX_PARAMS gradient buffers */
    dg_rng rng;
    float bn_momentum;
    unsigned last_grad;
};

/* Whether a layer of `kind` is one of oneDNN's element-wise functions, and
 * which (*f); hardsigmoid has none in oneDNN 2.6 and is computed in
 * layers.c. */
static inline int dg_layer_eltwise(int32_t kind, dg_eltwise *f)
{
    switch (kind) {
    case DG_LAYER_RELU: *f = DG_ELT_RELU; return 1;
    case DG_LAYER_CLIP: *f = DG_ELT_CLIP; return 1;
    case DG_LAYER_SIGMOID: *f = DG_ELT_LOGISTIC; return 1;
    case DG_LAYER_HARDSWISH: *f = DG_ELT_HARDSWISH; return 1;
    default: return 0;
    }
}

/* Input pointer of layer i's k-th operand. */
static inline float *dg_exec_src(const dg_exec *e, int32_t i, int k)
{
    int32_t j = e->m->layers[i].input[k];
    return j < 0 ? (float *)e->input : e->run[j].out;
}

/* The per-kind math (layers.c). */
dg_status dg_layer_plan(dg_exec *e, int32_t i);
dg_status dg_layer_forward(dg_exec *e, int32_t i);
/* Computes d loss / d input of layer i into dsrc[k] (NULL: not wanted) and
 * its parameter gradients when want_params. */
dg_status dg_layer_backward(dg_exec *e, int32_t i, float *dsrc[2],
                            int want_params);

#endif
