/* layers.c - the math of every layer kind, forward and backward side by
 * side, expressed as backend primitives (backend.h).  exec.c decides which
 * layers run and where their buffers are; this file decides how. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/exec_internal.h"

static int backward_on(const dg_exec *e)
{
    return (e->flags & DG_EXEC_BACKWARD) != 0;
}

static int training(const dg_exec *e)
{
    return (e->flags & DG_EXEC_TRAINING) != 0;
}

/* Whether a batch norm normalises by the batch's statistics (and updates
 * its running ones): in training, unless frozen.  A frozen batch norm, as
 * in a Teacher's copied layers, keeps the running statistics it came
 * with, as they were when the Teacher was trained. */
static int batch_statistics(const dg_exec *e, const dg_layer *l)
{
    return training(e) && !(l->flags & DG_LAYER_FLAG_FROZEN);
}

/* A one-channel tensor is the same in NCHW and NHWC. */
static int channels_last_in(const dg_exec *e, const dg_layer *l)
{
    return l->in.c == 1 || (l->input[0] >= 0 && e->run[l->input[0]].channels_last);
}

static dg_window window_of(const dg_exec *e, int32_t i)
{
    const dg_layer *l = &e->m->layers[i];
    dg_window g = {e->batch, l->in, l->out, l->kernel, l->stride, l->padding,
                   l->kind == DG_LAYER_CONV ? l->groups : 1, 0};
    if (channels_last_in(e, l)) g.layout |= DG_LAYOUT_SRC_NHWC;
    if (e->run[i].channels_last) g.layout |= DG_LAYOUT_DST_NHWC;
    return g;
}

/* Batch-norm folded into the preceding convolution (inference only):
 * w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps)
 * + beta. */
static dg_status fold_batchnorm(const dg_layer *conv, const dg_layer *bn,
                                float **w_out, float **b_out)
{
    float *w, *b;
    DG_TRY(dg_alloc_aligned(&w, conv->param_len[0], "folded weights"));
    dg_status s = dg_alloc_aligned(&b, conv->units, "folded bias");
    if (s != DG_OK) {
        dg_free_aligned(w);
        return s;
    }
    size_t per_unit = conv->param_len[0] / conv->units;
    for (uint32_t o = 0; o < conv->units; o++) {
        float f = bn->param[0][o] / sqrtf(bn->param[3][o] + bn->eps);
        for (size_t k = 0; k < per_unit; k++)
            w[o * per_unit + k] = conv->param[0][o * per_unit + k] * f;
        b[o] = (conv->param[1][o] - bn->param[2][o]) * f + bn->param[1][o];
    }
    *w_out = w;
    *b_out = b;
    return DG_OK;
}

static dg_status plan_weighted(dg_exec *e, int32_t i)
{
    dg_layer *l = &e->m->layers[i];
    dg_layer_run *r = &e->run[i];
    int conv = l->kind == DG_LAYER_CONV;
    dg_window g = window_of(e, i);
    uint32_t in_features = (uint32_t)dg_shape_size(l->in);
    if (!training(e) && !backward_on(e)) {
        const float *w = l->param[0], *b = l->param[1];
        float *fw = NULL, *fb = NULL;
        if (r->folded_bn) {
            DG_TRY(fold_batchnorm(l, &e->m->layers[i + 1], &fw, &fb));
            w = fw;
            b = fb;
        }
        dg_status s = conv ? dg_conv_forward(&r->p->fwd, &g, 0, &r->post, w, b)
                           : dg_linear_forward(&r->p->fwd, e->batch, in_features,
                                               l->units, 0, &r->post, w, b);
        dg_free_aligned(fw);
        dg_free_aligned(fb);
        if (s == DG_OK && r->channels_last)
            s = dg_to_nchw(&r->p->to_nchw, e->batch, l->out);
        return s;
    }
    const dg_post none = {0};
    if (conv) {
        DG_TRY(dg_conv_forward(&r->p->fwd, &g, 1, &none, NULL, NULL));
    } else {
        DG_TRY(dg_linear_forward(&r->p->fwd, e->batch, in_features, l->units, 1,
                                 &none, NULL, NULL));
    }
    if (l->mask)
        DG_TRY(dg_scale_channels(&r->p->scale, e->batch, l->out));
    if (r->channels_last)
        DG_TRY(dg_to_nchw(&r->p->to_nchw, e->batch, l->out));
    if (!backward_on(e)) return DG_OK;
    if (conv) {
        DG_TRY(dg_conv_backward_data(&r->p->bwd_data, &g));
        return dg_conv_backward_weights(&r->p->bwd_weights, &g);
    }
    DG_TRY(dg_linear_backward_data(&r->p->bwd_data, e->batch, in_features,
                                   l->units));
    return dg_linear_backward_weights(&r->p->bwd_weights, e->batch, in_features,
                                      l->units);
}

static dg_status plan_pool(dg_exec *e, int32_t i)
{
    dg_layer *l = &e->m->layers[i];
    dg_layer_run *r = &e->run[i];
    dg_window g = window_of(e, i);
    int max = l->kind == DG_LAYER_MAXPOOL;
    DG_TRY(dg_pool_forward(&r->p->fwd, &g, max, backward_on(e)));
    if (r->channels_last)
        DG_TRY(dg_to_nchw(&r->p->to_nchw, e->batch, l->out));
    if (!backward_on(e)) return DG_OK;
    DG_TRY(dg_pool_backward(&r->p->bwd_data, &g, max));
    /* One workspace serves every cached plan: keep the largest. */
    size_t bytes = dg_prim_workspace_bytes(r->p->fwd);
    if (bytes > r->workspace_bytes) {
        free(r->workspace);
        r->workspace = NULL;
        r->workspace_bytes = 0;
        DG_TRY(dg_alloc_array(&r->workspace, bytes, 1, "pooling workspace"));
        r->workspace_bytes = bytes;
    }
    return DG_OK;
}

static dg_status plan_eltwise(dg_exec *e, int32_t i)
{
    dg_layer *l = &e->m->layers[i];
    dg_layer_run *r = &e->run[i];
    if (r->computed_by >= 0) return DG_OK;
    dg_eltwise f = DG_ELT_RELU;
    dg_layer_eltwise(l->kind, &f);
    DG_TRY(dg_eltwise_forward(&r->p->fwd, f, l->alpha, l->beta, e->batch,
                              l->out));
    if (r->channels_last)
        DG_TRY(dg_to_nchw(&r->p->to_nchw, e->batch, l->out));
    return backward_on(e) ? dg_eltwise_backward(&r->p->bwd_data, f, l->alpha,
                                                l->beta, e->batch, l->out)
                          : DG_OK;
}

static dg_status plan_batchnorm(dg_exec *e, int32_t i)
{
    dg_layer *l = &e->m->layers[i];
    dg_layer_run *r = &e->run[i];
    if (r->computed_by >= 0) return DG_OK;
    DG_TRY(dg_bnorm_forward(&r->p->fwd, e->batch, l->out, l->eps,
                            batch_statistics(e, l)));
    if (!backward_on(e)) return DG_OK;
    if (batch_statistics(e, l))
        return dg_bnorm_backward(&r->p->bwd_data, e->batch, l->out, l->eps);
    /* Inference statistics: the backward pass is a per-channel scale. */
    for (uint32_t c = 0; c < l->out.c; c++)
        r->scale_f[c] = l->param[0][c] / sqrtf(l->param[3][c] + l->eps);
    return dg_scale_channels(&r->p->scale, e->batch, l->out);
}

dg_status dg_layer_plan(dg_exec *e, int32_t i)
{
    dg_layer *l = &e->m->layers[i];
    dg_layer_run *r = &e->run[i];
    switch (l->kind) {
    case DG_LAYER_CONV:
    case DG_LAYER_LINEAR:
        return plan_weighted(e, i);
    case DG_LAYER_MAXPOOL:
    case DG_LAYER_AVGPOOL:
        return plan_pool(e, i);
    case DG_LAYER_GLOBAL_AVGPOOL:
        return dg_mean_spatial(&r->p->fwd, e->batch, l->in);
    case DG_LAYER_RELU:
    case DG_LAYER_CLIP:
    case DG_LAYER_SIGMOID:
    case DG_LAYER_HARDSWISH:
        return plan_eltwise(e, i);
    case DG_LAYER_SOFTMAX:
        DG_TRY(dg_softmax_forward(&r->p->fwd, e->batch, l->out));
        return backward_on(e)
                   ? dg_softmax_backward(&r->p->bwd_data, e->batch, l->out)
                   : DG_OK;
    case DG_LAYER_BATCHNORM:
        return plan_batchnorm(e, i);
    case DG_LAYER_ADD:
        return dg_add(&r->p->fwd, e->batch, l->out);
    case DG_LAYER_MUL:
        return dg_mul(&r->p->fwd, e->batch, l->in,
                      dg_model_source_shape(e->m, l->input[1]));
    case DG_LAYER_FLATTEN:
    case DG_LAYER_DROPOUT:
    case DG_LAYER_HARDSIGMOID:
    case DG_LAYER_PAD:
    case DG_LAYER_CONCAT:
        return DG_OK;
    default:
        return dg_fail(DG_E_INTERNAL, "layer %d: no plan for kind %d", i,
                       l->kind);
    }
}

/* ---- forward ----------------------------------------------------------- */

static void update_running_stats(dg_exec *e, dg_layer *l, dg_layer_run *r)
{
    uint32_t c = l->out.c;
    size_t n = (size_t)e->batch * l->out.h * l->out.w;
    float mom = e->bn_momentum;
    float unbias = n > 1 ? (float)n / (float)(n - 1) : 1.0f;
    for (uint32_t k = 0; k < c; k++) {
        l->param[2][k] = (1 - mom) * l->param[2][k] + mom * r->stat_buf[k];
        l->param[3][k] =
            (1 - mom) * l->param[3][k] + mom * unbias * r->stat_buf[c + k];
    }
}

static void dropout_forward(dg_exec *e, dg_layer *l, dg_layer_run *r,
                            const float *src)
{
    size_t n = (size_t)e->batch * dg_shape_size(l->out);
    float keep = 1.0f - l->rate, inv = 1.0f / keep;
    for (size_t k = 0; k < n; k++) {
        r->tmp_buf[k] = dg_rng_uniform(&e->rng) < keep ? inv : 0.0f;
        r->out[k] = src[k] * r->tmp_buf[k];
    }
}

static void hardsigmoid_forward(const dg_exec *e, const dg_layer *l,
                                const float *x, float *y)
{
    size_t n = (size_t)e->batch * dg_shape_size(l->out);
    for (size_t k = 0; k < n; k++)
        y[k] = fminf(fmaxf(l->alpha * x[k] + l->beta, 0.0f), 1.0f);
}

/* Pad (oneDNN has no padding primitive): each input plane copied into the
 * middle of its output plane; backward, the middle of the gradient. */
static void pad_copy(const dg_exec *e, const dg_layer *l, const float *from,
                     float *to, int forward)
{
    size_t planes = (size_t)e->batch * l->in.c;
    uint32_t ih = l->in.h, iw = l->in.w, ow = l->out.w;
    size_t in_plane = (size_t)ih * iw, out_plane = (size_t)l->out.h * ow;
    if (forward)
        for (size_t k = 0; k < planes * out_plane; k++) to[k] = l->alpha;
    for (size_t p = 0; p < planes; p++)
        for (uint32_t y = 0; y < ih; y++) {
            const size_t inner = p * in_plane + (size_t)y * iw;
            const size_t outer = p * out_plane + (size_t)(y + l->pad[0]) * ow +
                                 l->pad[1];
            if (forward)
                memcpy(to + outer, from + inner, iw * sizeof *to);
            else
                memcpy(to + inner, from + outer, iw * sizeof *to);
        }
}

/* Concat (plain copies: oneDNN would only copy too): each sample's
 * output is its first input's channels, then its second's; backward, the
 * gradient is split the same way into dsrc[k] where wanted. */
static void concat_copy(const dg_exec *e, int32_t i, float *const part[2],
                        float *whole, int forward)
{
    const dg_layer *l = &e->m->layers[i];
    size_t plane = (size_t)l->out.h * l->out.w, at = 0;
    size_t len[2] = {l->in.c * plane, (l->out.c - l->in.c) * plane};
    for (uint32_t n = 0; n < e->batch; n++)
        for (int k = 0; k < 2; k++) {
            if (part[k] && forward)
                memcpy(whole + at, part[k] + n * len[k], len[k] * sizeof *whole);
            else if (part[k])
                memcpy(part[k] + n * len[k], whole + at, len[k] * sizeof *whole);
            at += len[k];
        }
}

dg_status dg_layer_forward(dg_exec *e, int32_t i)
{
    dg_layer *l = &e->m->layers[i];
    dg_layer_run *r = &e->run[i];
    void *a[DG_SLOTS] = {0};
    a[DG_SRC] = dg_exec_src(e, i, 0);
    a[DG_DST] = r->out;
    switch (l->kind) {
    case DG_LAYER_CONV:
    case DG_LAYER_LINEAR:
        a[DG_WEIGHTS] = l->param[0];
        a[DG_BIAS] = l->param[1];
        a[DG_MASK] = r->mask_f;
        DG_TRY(dg_prim_run(r->p->fwd, a));
        if (!r->p->scale) return DG_OK;
        a[DG_SRC] = r->out;
        return dg_prim_run(r->p->scale, a);
    case DG_LAYER_BATCHNORM:
        a[DG_SCALE] = l->param[0];
        a[DG_SHIFT] = l->param[1];
        a[DG_MEAN] = batch_statistics(e, l) ? r->stat_buf : l->param[2];
        a[DG_VARIANCE] =
            batch_statistics(e, l) ? r->stat_buf + l->out.c : l->param[3];
        DG_TRY(dg_prim_run(r->p->fwd, a));
        if (batch_statistics(e, l)) update_running_stats(e, l, r);
        return DG_OK;
    case DG_LAYER_ADD:
    case DG_LAYER_MUL:
        a[DG_SRC1] = dg_exec_src(e, i, 1);
        return dg_prim_run(r->p->fwd, a);
    case DG_LAYER_CONCAT: {
        float *parts[2] = {a[DG_SRC], dg_exec_src(e, i, 1)};
        concat_copy(e, i, parts, r->out, 1);
        return DG_OK;
    }
    case DG_LAYER_MAXPOOL:
    case DG_LAYER_AVGPOOL:
        a[DG_WORKSPACE] = r->workspace;
        return dg_prim_run(r->p->fwd, a);
    case DG_LAYER_DROPOUT:
        if (training(e)) dropout_forward(e, l, r, a[DG_SRC]);
        return DG_OK;
    case DG_LAYER_HARDSIGMOID:
        hardsigmoid_forward(e, l, a[DG_SRC], r->out);
        return DG_OK;
    case DG_LAYER_PAD:
        pad_copy(e, l, a[DG_SRC], r->out, 1);
        return DG_OK;
    case DG_LAYER_FLATTEN:
        return DG_OK;
    default:
        return dg_prim_run(r->p->fwd, a);
    }
}

/* ---- backward ---------------------------------------------------------- */

static dg_status weighted_backward(dg_exec *e, int32_t i, float *dsrc,
                                   int want_params)
{
    dg_layer *l = &e->m->layers[i];
    dg_layer_run *r = &e->run[i];
    void *a[DG_SLOTS] = {0};
    float *dy = r->diff;
    if (r->p->scale) { /* pruned units pass no gradient */
        a[DG_SRC] = dy;
        a[DG_MASK] = r->mask_f;
        a[DG_DST] = r->tmp_buf;
        DG_TRY(dg_prim_run(r->p->scale, a));
        dy = r->tmp_buf;
    }
    memset(a, 0, sizeof a);
    a[DG_SRC] = dg_exec_src(e, i, 0);
    a[DG_DIFF_DST] = dy;
    a[DG_WEIGHTS] = l->param[0];
    if (want_params) {
        a[DG_DIFF_WEIGHTS] = dg_exec_param_grad(e, i, 0);
        a[DG_DIFF_BIAS] = dg_exec_param_grad(e, i, 1);
        DG_TRY(dg_prim_run(r->p->bwd_weights, a));
    }
    if (!dsrc) return DG_OK;
    a[DG_DIFF_SRC] = dsrc;
    return dg_prim_run(r->p->bwd_data, a);
}

/* alpha where the line alpha * x + beta is inside (0, 1), else 0. */
static void hardsigmoid_backward(const dg_exec *e, const dg_layer *l,
                                 const float *x, const float *dy, float *dx)
{
    size_t n = (size_t)e->batch * dg_shape_size(l->out);
    for (size_t k = 0; k < n; k++) {
        float t = l->alpha * x[k] + l->beta;
        dx[k] = t > 0.0f && t < 1.0f ? l->alpha * dy[k] : 0.0f;
    }
}

/* Mul: d in0 = dy * in1 with the forward primitive; d in1 = dy * in0,
 * summed over height and width when in1 was broadcast. */
static dg_status mul_backward(dg_exec *e, int32_t i, float *dsrc[2])
{
    dg_layer *l = &e->m->layers[i];
    dg_layer_run *r = &e->run[i];
    float *x[2] = {dg_exec_src(e, i, 0), dg_exec_src(e, i, 1)};
    void *a[DG_SLOTS] = {0};
    a[DG_SRC] = r->diff;
    if (dsrc[0]) {
        a[DG_SRC1] = x[1];
        a[DG_DST] = dsrc[0];
        DG_TRY(dg_prim_run(r->p->fwd, a));
    }
    if (!dsrc[1]) return DG_OK;
    size_t plane = (size_t)l->in.h * l->in.w;
    if (dg_shape_size(dg_model_source_shape(e->m, l->input[1])) ==
        dg_shape_size(l->in)) {
        a[DG_SRC1] = x[0];
        a[DG_DST] = dsrc[1];
        return dg_prim_run(r->p->fwd, a);
    }
    for (size_t p = 0; p < (size_t)e->batch * l->in.c; p++) {
        double sum = 0;
        for (size_t k = 0; k < plane; k++)
            sum += (double)r->diff[p * plane + k] * x[0][p * plane + k];
        dsrc[1][p] = (float)sum;
    }
    return DG_OK;
}

static void global_avgpool_backward(const dg_exec *e, const dg_layer *l,
                                    const float *dy, float *dsrc)
{
    size_t plane = (size_t)l->in.h * l->in.w;
    size_t planes = (size_t)e->batch * l->in.c;
    float inv = 1.0f / (float)plane;
    for (size_t p = 0; p < planes; p++)
        for (size_t k = 0; k < plane; k++) dsrc[p * plane + k] = dy[p] * inv;
}

/* Gradients of gamma and beta with fixed (running) statistics:
 * dgamma = sum dy * xhat, dbeta = sum dy, per channel. */
static void batchnorm_param_grads(const dg_exec *e, const dg_layer *l,
                                  const float *x, const float *dy,
                                  float *dgamma, float *dbeta)
{
    size_t plane = (size_t)l->out.h * l->out.w;
    for (uint32_t c = 0; c < l->out.c; c++) {
        float inv_std = 1.0f / sqrtf(l->param[3][c] + l->eps);
        double g = 0, b = 0;
        for (uint32_t n = 0; n < e->batch; n++) {
            size_t base = ((size_t)n * l->out.c + c) * plane;
            for (size_t k = 0; k < plane; k++) {
                g += (double)dy[base + k] * (x[base + k] - l->param[2][c]) *
                     inv_std;
                b += dy[base + k];
            }
        }
        dgamma[c] = (float)g;
        dbeta[c] = (float)b;
    }
}

static dg_status batchnorm_backward(dg_exec *e, int32_t i, float *dsrc,
                                    int want_params)
{
    dg_layer *l = &e->m->layers[i];
    dg_layer_run *r = &e->run[i];
    void *a[DG_SLOTS] = {0};
    if (!batch_statistics(e, l)) { /* running statistics: a fixed
                                       per-channel affine */
        if (want_params)
            batchnorm_param_grads(e, l, dg_exec_src(e, i, 0), r->diff,
                                  dg_exec_param_grad(e, i, 0),
                                  dg_exec_param_grad(e, i, 1));
        if (!dsrc) return DG_OK;
        a[DG_SRC] = r->diff;
        a[DG_MASK] = r->scale_f;
        a[DG_DST] = dsrc;
        return dg_prim_run(r->p->scale, a);
    }
    /* oneDNN computes the data and parameter gradients in one pass; a data
     * gradient nobody needs lands in scratch, and parameter gradients of a
     * frozen layer are simply not applied by the optimiser. */
    a[DG_SRC] = dg_exec_src(e, i, 0);
    a[DG_DIFF_DST] = r->diff;
    a[DG_SCALE] = l->param[0];
    a[DG_SHIFT] = l->param[1];
    a[DG_MEAN] = r->stat_buf;
    a[DG_VARIANCE] = r->stat_buf + l->out.c;
    a[DG_DIFF_SRC] = dsrc ? dsrc : r->tmp_buf;
    a[DG_DIFF_SCALE] = dg_exec_param_grad(e, i, 0);
    a[DG_DIFF_SHIFT] = dg_exec_param_grad(e, i, 1);
    return dg_prim_run(r->p->bwd_data, a);
}

dg_status dg_layer_backward(dg_exec *e, int32_t i, float *dsrc[2],
                            int want_params)
{
    dg_layer *l = &e->m->layers[i];
    dg_layer_run *r = &e->run[i];
    size_t n_in = (size_t)e->batch * dg_shape_size(l->in);
    void *a[DG_SLOTS] = {0};
    switch (l->kind) {
    case DG_LAYER_CONV:
    case DG_LAYER_LINEAR:
        return weighted_backward(e, i, dsrc[0], want_params);
    case DG_LAYER_BATCHNORM:
        return batchnorm_backward(e, i, dsrc[0], want_params);
    case DG_LAYER_ADD:
        for (int k = 0; k < 2; k++)
            if (dsrc[k]) memcpy(dsrc[k], r->diff, n_in * sizeof(float));
        return DG_OK;
    case DG_LAYER_MUL:
        return mul_backward(e, i, dsrc);
    case DG_LAYER_CONCAT:
        concat_copy(e, i, dsrc, r->diff, 0);
        return DG_OK;
    case DG_LAYER_FLATTEN:
        if (dsrc[0]) memcpy(dsrc[0], r->diff, n_in * sizeof(float));
        return DG_OK;
    case DG_LAYER_DROPOUT:
        if (!dsrc[0]) return DG_OK;
        for (size_t k = 0; k < n_in; k++)
            dsrc[0][k] = training(e) ? r->diff[k] * r->tmp_buf[k] : r->diff[k];
        return DG_OK;
    case DG_LAYER_GLOBAL_AVGPOOL:
        if (dsrc[0]) global_avgpool_backward(e, l, r->diff, dsrc[0]);
        return DG_OK;
    case DG_LAYER_HARDSIGMOID:
        if (dsrc[0])
            hardsigmoid_backward(e, l, dg_exec_src(e, i, 0), r->diff, dsrc[0]);
        return DG_OK;
    case DG_LAYER_PAD:
        if (dsrc[0]) pad_copy(e, l, r->diff, dsrc[0], 0);
        return DG_OK;
    default:
        break;
    }
    if (!dsrc[0]) return DG_OK;
    a[DG_SRC] = dg_exec_src(e, i, 0);
    a[DG_DST] = r->out;
    a[DG_DIFF_DST] = r->diff;
    a[DG_DIFF_SRC] = dsrc[0];
    a[DG_WORKSPACE] = r->workspace;
    return dg_prim_run(r->p->bwd_data, a);
}
