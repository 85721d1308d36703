/* exec.c - the executor: buffers, fusion decisions, planning, and the order
 * in which layers run forward and backward.  The math is in layers.c. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/exec_internal.h"

static int is_inference(const dg_exec *e)
{
    return !(e->flags & (DG_EXEC_TRAINING | DG_EXEC_BACKWARD));
}

/* Layers whose output is the input itself (no computation, no buffer). */
static int is_alias(const dg_exec *e, const dg_layer *l)
{
    return l->kind == DG_LAYER_FLATTEN ||
           (l->kind == DG_LAYER_DROPOUT && !(e->flags & DG_EXEC_TRAINING));
}

/* The only consumer of layer i, or -1 if it has none or several. */
static int32_t sole_consumer(const dg_exec *e, int32_t i)
{
    if (e->run[i].consumers != 1) return -1;
    for (uint32_t j = (uint32_t)i + 1; j < e->m->n_layers; j++) {
        const dg_layer *l = &e->m->layers[j];
        if (l->input[0] == i || l->input[1] == i) return (int32_t)j;
    }
    return -1;
}

/* Inference fusion: conv [+ batchnorm] [+ activation] and linear [+
 * activation] become one primitive, with the pruning mask applied before
 * the activation (any of oneDNN's element-wise functions: ReLU, clip,
 * sigmoid, hardswish).  A conv
 * that has a mask keeps its batch norm separate: the mask must zero the
 * conv output, which the folded bias would not. */
static void decide_fusion(dg_exec *e)
{
    for (uint32_t i = 0; i < e->m->n_layers; i++) {
        dg_layer *l = &e->m->layers[i];
        dg_layer_run *r = &e->run[i];
        if (l->kind != DG_LAYER_CONV && l->kind != DG_LAYER_LINEAR) continue;
        r->post.mask = l->mask != NULL;
        int32_t tail = (int32_t)i, next = sole_consumer(e, (int32_t)i);
        if (next >= 0 && l->kind == DG_LAYER_CONV && !l->mask &&
            e->m->layers[next].kind == DG_LAYER_BATCHNORM &&
            next == (int32_t)i + 1) {
            r->folded_bn = 1;
            e->run[next].computed_by = (int32_t)i;
            tail = next;
            next = sole_consumer(e, next);
        }
        if (next >= 0 &&
            dg_layer_eltwise(e->m->layers[next].kind, &r->post.f)) {
            r->post.eltwise = 1;
            r->post.alpha = e->m->layers[next].alpha;
            r->post.beta = e->m->layers[next].beta;
            e->run[next].computed_by = (int32_t)i;
            tail = next;
        }
        for (int32_t k = (int32_t)i; k < tail; k++)
            if (k == (int32_t)i || e->run[k].computed_by == (int32_t)i)
                e->run[k].overwritten_by = tail;
    }
}

static int takes_channels_last(const dg_layer *l)
{
    return l->kind == DG_LAYER_CONV || l->kind == DG_LAYER_MAXPOOL ||
           l->kind == DG_LAYER_AVGPOOL;
}

/* Whether every reader of layer `tail` takes an NHWC input.  An unfused
 * element-wise reader keeps its input's layout, so it takes one when its
 * own readers do. */
static int readers_take_channels_last(const dg_exec *e, int32_t tail)
{
    dg_eltwise f;
    for (uint32_t j = (uint32_t)tail + 1; j < e->m->n_layers; j++) {
        const dg_layer *c = &e->m->layers[j];
        if (c->input[0] != tail && c->input[1] != tail) continue;
        if (takes_channels_last(c)) continue;
        if (!dg_layer_eltwise(c->kind, &f) || e->run[j].computed_by >= 0 ||
            e->run[j].consumers == 0 ||
            !readers_take_channels_last(e, (int32_t)j))
            return 0;
    }
    return 1;
}

/* Layouts: a convolution (with what is fused into it), a pooling or an
 * element-wise layer of a channels-last input keeps its output NHWC, the
 * layout oneDNN's convolutions run in, when only such layers read it; that
 * saves the reorder out of and back into NCHW at every edge, forward and
 * backward.  Callers still see NCHW: dg_exec_output gives a copy, and a
 * gradient handed to the backward pass is laid out on entry.  A pruning
 * mask outside inference is applied by an NCHW primitive, so a masked
 * layer stays NCHW there. */
static void decide_layouts(dg_exec *e)
{
    dg_eltwise f;
    uint32_t n = e->m->n_layers;
    for (uint32_t i = 0; i + 1 < n; i++) {
        const dg_layer *l = &e->m->layers[i];
        dg_layer_run *r = &e->run[i];
        if (r->computed_by >= 0) continue;
        if (!takes_channels_last(l) && !dg_layer_eltwise(l->kind, &f)) continue;
        if (l->mask && !is_inference(e)) continue;
        if (l->kind != DG_LAYER_CONV &&
            !(l->input[0] >= 0 && e->run[l->input[0]].channels_last))
            continue;
        int32_t tail = r->overwritten_by >= 0 ? r->overwritten_by : (int32_t)i;
        if (e->run[tail].consumers == 0) continue; /* the model's output */
        if (!readers_take_channels_last(e, tail)) continue;
        for (int32_t k = (int32_t)i; k <= tail; k++) e->run[k].channels_last = 1;
    }
}

static void free_plan(dg_exec *e, int slot)
{
    for (uint32_t i = 0; i < e->m->n_layers; i++) {
        dg_layer_prims *p = &e->run[i].plan[slot];
        dg_prim_free(p->fwd);
        dg_prim_free(p->bwd_data);
        dg_prim_free(p->bwd_weights);
        dg_prim_free(p->scale);
        dg_prim_free(p->to_nchw);
        memset(p, 0, sizeof *p);
    }
    e->plan_batch[slot] = 0;
}

static void use_plan(dg_exec *e, int slot)
{
    for (uint32_t i = 0; i < e->m->n_layers; i++)
        e->run[i].p = &e->run[i].plan[slot];
    e->batch = e->plan_batch[slot];
    e->plan_used[slot] = ++e->clock;
}

/* Switches to the plan for `batch`, building it in the least recently used
 * slot if none exists. */
static dg_status plan(dg_exec *e, uint32_t batch)
{
    int slot = 0;
    for (int k = 0; k < DG_EXEC_PLANS; k++) {
        if (e->plan_batch[k] == batch) {
            use_plan(e, k);
            return DG_OK;
        }
        if (e->plan_used[k] < e->plan_used[slot]) slot = k;
    }
    free_plan(e, slot);
    e->plan_batch[slot] = batch;
    use_plan(e, slot);
    for (uint32_t i = 0; i < e->m->n_layers; i++) {
        dg_status s = dg_layer_plan(e, (int32_t)i);
        if (s != DG_OK) {
            free_plan(e, slot);
            e->batch = 0;
            return dg_fail_context(s, "planning layer %u (%s) for batch %u",
                                   i, dg_layer_kind_name(e->m->layers[i].kind),
                                   batch);
        }
    }
    return DG_OK;
}

void dg_exec_free(dg_exec *e)
{
    if (!e) return;
    if (e->run) {
        for (int k = 0; k < DG_EXEC_PLANS; k++) free_plan(e, k);
        for (uint32_t i = 0; i < e->m->n_layers; i++) {
            dg_layer_run *r = &e->run[i];
            dg_free_aligned(r->out_buf);
            dg_free_aligned(r->diff_buf);
            dg_free_aligned(r->tmp_buf);
            dg_free_aligned(r->nchw_buf);
            dg_free_aligned(r->stat_buf);
            dg_free_aligned(r->mask_f);
            dg_free_aligned(r->scale_f);
            free(r->workspace);
        }
    }
    if (e->grad) {
        for (size_t k = 0; k < (size_t)e->m->n_layers * DG_MAX_PARAMS; k++)
            dg_free_aligned(e->grad[k]);
        free(e->grad);
    }
    dg_free_aligned(e->input_diff);
    dg_free_aligned(e->scratch);
    free(e->run);
    free(e);
}

static dg_status alloc_buffers(dg_exec *e)
{
    size_t cap = e->cap, largest = dg_shape_size(e->m->input);
    int backward = (e->flags & DG_EXEC_BACKWARD) != 0;
    int train = (e->flags & DG_EXEC_TRAINING) != 0;
    for (uint32_t i = 0; i < e->m->n_layers; i++) {
        dg_layer *l = &e->m->layers[i];
        dg_layer_run *r = &e->run[i];
        size_t n = cap * dg_shape_size(l->out);
        if (dg_shape_size(l->out) > largest) largest = dg_shape_size(l->out);
        if (!is_alias(e, l) && r->computed_by < 0)
            DG_TRY(dg_alloc_aligned(&r->out_buf, n, "layer output"));
        if (backward)
            DG_TRY(dg_alloc_aligned(&r->diff_buf, n, "layer gradient"));
        int needs_tmp = (l->mask && backward) ||
                        (l->kind == DG_LAYER_DROPOUT && train) ||
                        (l->kind == DG_LAYER_BATCHNORM && train && backward);
        if (needs_tmp) DG_TRY(dg_alloc_aligned(&r->tmp_buf, n, "layer scratch"));
        if (r->channels_last && r->computed_by < 0)
            DG_TRY(dg_alloc_aligned(&r->nchw_buf, n, "layer output copy"));
        if (l->kind == DG_LAYER_BATCHNORM && train)
            DG_TRY(dg_alloc_aligned(&r->stat_buf, 2 * (size_t)l->out.c,
                                    "batch statistics"));
        if (l->kind == DG_LAYER_BATCHNORM)
            DG_TRY(dg_alloc_aligned(&r->scale_f, l->out.c, "batchnorm scale"));
        if (l->mask) {
            DG_TRY(dg_alloc_aligned(&r->mask_f, l->out.c, "mask"));
            for (uint32_t u = 0; u < l->out.c; u++)
                r->mask_f[u] = l->mask[u] ? 1.0f : 0.0f;
        }
        for (uint32_t p = 0; backward && p < l->n_trainable; p++)
            DG_TRY(dg_alloc_aligned(&e->grad[i * DG_MAX_PARAMS + p],
                                    l->param_len[p], "parameter gradient"));
    }
    if (backward) {
        DG_TRY(dg_alloc_aligned(&e->input_diff,
                                cap * dg_shape_size(e->m->input),
                                "input gradient"));
        DG_TRY(dg_alloc_aligned(&e->scratch, cap * largest, "gradient sum"));
    }
    return DG_OK;
}

dg_status dg_exec_create(dg_model *m, uint32_t capacity, unsigned flags,
                         dg_exec **out)
{
    *out = NULL;
    if (capacity == 0 || capacity > (1u << 20))
        return dg_fail(DG_E_INVALID_ARG, "batch capacity %u out of range",
                       capacity);
    /* Masks set after dg_model_finalize (pruning) are checked here. */
    for (uint32_t i = 0; i < m->n_layers; i++)
        DG_TRY(dg_layer_check_mask(&m->layers[i], i));
    dg_exec *e;
    DG_TRY(dg_alloc_array((void **)&e, 1, sizeof *e, "executor"));
    e->m = m;
    e->cap = capacity;
    e->flags = flags;
    e->bn_momentum = 0.1f;
    dg_rng_seed(&e->rng, 0);
    dg_status s = dg_alloc_array((void **)&e->run, m->n_layers,
                                 sizeof *e->run, "executor layers");
    if (s == DG_OK && (flags & DG_EXEC_BACKWARD))
        s = dg_alloc_array((void **)&e->grad,
                           (size_t)m->n_layers * DG_MAX_PARAMS,
                           sizeof *e->grad, "gradient table");
    if (s != DG_OK) {
        free(e->run);
        free(e);
        return s;
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        e->run[i].computed_by = e->run[i].overwritten_by = -1;
        for (int k = 0; k < 2; k++)
            if (m->layers[i].input[k] >= 0)
                e->run[m->layers[i].input[k]].consumers++;
    }
    if (is_inference(e)) decide_fusion(e);
    decide_layouts(e);
    s = alloc_buffers(e);
    if (s == DG_OK) s = plan(e, capacity);
    if (s != DG_OK) {
        dg_exec_free(e);
        return s;
    }
    *out = e;
    return DG_OK;
}

/* Points alias and fused layers at the buffers they share.  One pass in
 * layer order: an alias reads an earlier layer, which may be fused. */
static void bind_outputs(dg_exec *e, int32_t last)
{
    for (int32_t i = 0; i <= last; i++) {
        dg_layer_run *r = &e->run[i];
        if (r->computed_by >= 0)
            r->out = e->run[r->computed_by].out_buf;
        else if (is_alias(e, &e->m->layers[i]))
            r->out = dg_exec_src(e, i, 0);
        else
            r->out = r->out_buf;
        if (r->diff_buf) r->diff = r->diff_buf;
    }
}

dg_status dg_exec_forward_to(dg_exec *e, const float *input, uint32_t batch,
                             int32_t last)
{
    if (batch == 0 || batch > e->cap)
        return dg_fail(DG_E_SHAPE, "batch %u exceeds the capacity %u", batch,
                       e->cap);
    if (last < 0 || last >= (int32_t)e->m->n_layers)
        return dg_fail(DG_E_INVALID_ARG, "layer %d out of range", last);
    if (batch != e->batch) DG_TRY(plan(e, batch));
    e->input = input;
    e->last_grad = 0;
    bind_outputs(e, last);
    for (int32_t i = 0; i <= last; i++) {
        if (e->run[i].computed_by >= 0) continue;
        dg_status s = dg_layer_forward(e, i);
        if (s != DG_OK)
            return dg_fail_context(s, "layer %d (%s) forward", i,
                                   dg_layer_kind_name(e->m->layers[i].kind));
    }
    return DG_OK;
}

dg_status dg_exec_forward(dg_exec *e, const float *input, uint32_t batch)
{
    return dg_exec_forward_to(e, input, batch, (int32_t)e->m->n_layers - 1);
}

const float *dg_exec_output(const dg_exec *e, int32_t layer)
{
    if (layer < 0 || layer >= (int32_t)e->m->n_layers) {
        dg_fail(DG_E_INVALID_ARG, "layer %d out of range", layer);
        return NULL;
    }
    if (e->run[layer].overwritten_by >= 0) {
        dg_fail(DG_E_STATE,
                "layer %d is fused with layer %d at inference; read layer %d",
                layer, e->run[layer].overwritten_by,
                e->run[layer].overwritten_by);
        return NULL;
    }
    const dg_layer_run *r = &e->run[layer];
    if (!r->channels_last) return r->out;
    /* The layer whose primitive wrote it (itself, or what it is fused into). */
    const dg_layer_run *w = r->computed_by >= 0 ? &e->run[r->computed_by] : r;
    void *a[DG_SLOTS] = {0};
    a[DG_SRC] = r->out;
    a[DG_DST] = w->nchw_buf;
    return dg_prim_run(w->p->to_nchw, a) == DG_OK ? w->nchw_buf : NULL;
}

static int trainable(const dg_layer *l)
{
    return l->n_trainable > 0 && !(l->flags & DG_LAYER_FLAG_FROZEN);
}

/* Adds src into dst (n floats). */
static void accumulate(float *dst, const float *src, size_t n)
{
    for (size_t k = 0; k < n; k++) dst[k] += src[k];
}

/* Sets (add = 0) or adds to layer i's output gradient a caller's NCHW
 * gradient, in the layout the layer keeps. */
static void enter_gradient(dg_exec *e, int32_t i, const float *nchw, int add)
{
    dg_shape s = e->m->layers[i].out;
    size_t per = dg_shape_size(s), n = e->batch * per;
    float *diff = e->run[i].diff;
    if (!e->run[i].channels_last) {
        if (add)
            accumulate(diff, nchw, n);
        else
            memcpy(diff, nchw, n * sizeof(float));
        return;
    }
    size_t hw = (size_t)s.h * s.w;
    for (size_t b = 0; b < e->batch; b++)
        for (size_t c = 0; c < s.c; c++)
            for (size_t p = 0; p < hw; p++) {
                float g = nchw[b * per + c * hw + p];
                float *d = &diff[b * per + p * s.c + c];
                *d = add ? *d + g : g;
            }
}

/* Whether a backward pass from layer `from` adds into layer i's output
 * gradient rather than writing all of it, so that it must start at zero:
 * several consumers add theirs, and a consumer that does not run (after
 * `from`, or not needed) leaves its share zero.  A sole consumer that
 * runs writes the whole gradient; a gradient nobody needs is not read. */
static int sums_into_diff(const dg_exec *e, int32_t i, int32_t from,
                          const uint8_t *needs)
{
    if (!needs[i]) return 0;
    int32_t c = sole_consumer(e, i);
    return c < 0 || c > from || !needs[c];
}

dg_status dg_exec_backward(dg_exec *e, int32_t from, const float *diff,
                           unsigned what)
{
    return dg_exec_backward_joined(e, from, diff, -1, NULL, what);
}

dg_status dg_exec_backward_joined(dg_exec *e, int32_t from, const float *diff,
                                  int32_t at, const float *extra,
                                  unsigned what)
{
    if (!(e->flags & DG_EXEC_BACKWARD))
        return dg_fail(DG_E_STATE, "executor was created without backward");
    if (from < 0 || from >= (int32_t)e->m->n_layers || e->batch == 0)
        return dg_fail(DG_E_INVALID_ARG, "backward from layer %d", from);
    if (extra && (at < 0 || at > from))
        return dg_fail(DG_E_INVALID_ARG, "a gradient joins at layer %d, "
                                         "outside 0..%d", at, from);
    uint32_t n_layers = e->m->n_layers;
    /* needs[i]: some wanted gradient depends on layer i's output gradient. */
    uint8_t needs_stack[256], *needs = needs_stack;
    if (n_layers > sizeof needs_stack) {
        DG_TRY(dg_alloc_array((void **)&needs, n_layers, 1, "backward"));
    }
    int input_needed = (what & DG_GRAD_INPUT) != 0;
    for (uint32_t i = 0; i < n_layers; i++) {
        const dg_layer *l = &e->m->layers[i];
        int up = input_needed;
        for (int k = 0; k < 2; k++)
            if (l->input[k] >= 0 && needs[l->input[k]]) up = 1;
        needs[i] = (uint8_t)(up || ((what & DG_GRAD_PARAMS) && trainable(l)));
    }
    size_t in_size = dg_shape_size(e->m->input);
    uint32_t input_consumers = 0;
    for (int32_t i = 0; i <= from; i++) {
        dg_layer_run *r = &e->run[i];
        if (i != from && sums_into_diff(e, i, from, needs))
            memset(r->diff, 0,
                   e->batch * dg_shape_size(e->m->layers[i].out) *
                       sizeof(float));
        for (int k = 0; k < 2; k++)
            input_consumers +=
                e->m->layers[i].input[k] == -1 &&
                (k == 0 || dg_layer_binary(e->m->layers[i].kind));
    }
    if (input_needed) memset(e->input_diff, 0, e->batch * in_size * sizeof(float));
    enter_gradient(e, from, diff, 0);

    dg_status s = DG_OK;
    for (int32_t i = from; i >= 0 && s == DG_OK; i--) {
        dg_layer *l = &e->m->layers[i];
        if (!needs[i]) continue;
        /* Every consumer of layer `at` has written its part by now. */
        if (extra && i == at) enter_gradient(e, i, extra, 1);
        float *dsrc[2] = {NULL, NULL}, *sum_into[2] = {NULL, NULL};
        for (int k = 0; k < 2; k++) {
            int32_t j = l->input[k];
            if (k == 1 && !dg_layer_binary(l->kind)) break;
            int wanted = j < 0 ? input_needed : needs[j];
            if (!wanted) continue;
            float *target = j < 0 ? e->input_diff : e->run[j].diff;
            uint32_t consumers = j < 0 ? input_consumers : e->run[j].consumers;
            /* A single consumer writes the gradient; several add theirs. */
            if (consumers == 1) {
                dsrc[k] = target;
            } else {
                dsrc[k] = e->scratch;
                sum_into[k] = target;
            }
        }
        /* Both operands need the scratch: one operand per pass. */
        int second_pass = dsrc[0] && dsrc[0] == dsrc[1];
        if (second_pass) dsrc[1] = NULL;
        s = dg_layer_backward(e, i, dsrc, (what & DG_GRAD_PARAMS) && trainable(l));
        size_t n_in[2];
        for (int k = 0; k < 2; k++)
            n_in[k] = e->batch *
                      dg_shape_size(dg_model_source_shape(e->m, l->input[k]));
        for (int k = 0; k < 2 && s == DG_OK; k++)
            if (sum_into[k] && dsrc[k]) accumulate(sum_into[k], dsrc[k], n_in[k]);
        if (s == DG_OK && second_pass) {
            float *second[2] = {NULL, e->scratch};
            s = dg_layer_backward(e, i, second, 0);
            if (s == DG_OK) accumulate(sum_into[1], e->scratch, n_in[1]);
        }
        if (s != DG_OK)
            s = dg_fail_context(s, "layer %d (%s) backward", i,
                                dg_layer_kind_name(l->kind));
    }
    if (needs != needs_stack) free(needs);
    e->last_grad = s == DG_OK ? what : 0;
    return s;
}

float *dg_exec_param_grad(const dg_exec *e, int32_t layer, uint32_t p)
{
    if (!e->grad || layer < 0 || layer >= (int32_t)e->m->n_layers ||
        p >= DG_MAX_PARAMS)
        return NULL;
    return e->grad[(size_t)layer * DG_MAX_PARAMS + p];
}

const float *dg_exec_input_grad(const dg_exec *e)
{
    return (e->last_grad & DG_GRAD_INPUT) ? e->input_diff : NULL;
}

void dg_exec_seed(dg_exec *e, uint64_t seed) { dg_rng_seed(&e->rng, seed); }

void dg_exec_set_bn_momentum(dg_exec *e, float momentum)
{
    e->bn_momentum = momentum;
}

uint32_t dg_exec_batch(const dg_exec *e) { return e->batch; }
dg_model *dg_exec_model(const dg_exec *e) { return e->m; }
