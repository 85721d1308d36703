/* model.c - graph validation, shape inference, initialisation, copies. */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"

/* The work limits of doc/limits.md, indexed by DG_LIMIT_*; 0 marks an
 * index that names no limit.  A ResNet-50 at 224x224 needs about 8.2
 * GFLOP (4.1 G multiply-adds) and 0.15 GB of activations per input. */
static const uint64_t default_limits[] = {
    [DG_LIMIT_FLOPS_PER_INPUT] = UINT64_C(64000000000),
    [DG_LIMIT_ACTIVATION_BYTES_PER_INPUT] = UINT64_C(1) << 30,
};
enum { N_LIMITS = sizeof default_limits / sizeof *default_limits };
static _Atomic uint64_t limits[N_LIMITS];

uint64_t dg_work_limit(int32_t which)
{
    if (which < 0 || which >= N_LIMITS || !default_limits[which]) return 0;
    uint64_t v = atomic_load_explicit(&limits[which], memory_order_relaxed);
    return v ? v : default_limits[which];
}

dg_status dg_work_limit_set(int32_t which, uint64_t value)
{
    if (!dg_work_limit(which))
        return dg_fail(DG_E_INVALID_ARG, "%d names no limit (DG_LIMIT_*)",
                       which);
    atomic_store_explicit(&limits[which], value, memory_order_relaxed);
    return DG_OK;
}

dg_status dg_model_alloc(uint32_t n_layers, dg_shape input, dg_model **out)
{
    *out = NULL;
    if (n_layers == 0 || n_layers > DG_MAX_LAYERS)
        return dg_fail(DG_E_FORMAT, "a model needs 1 to %d layers, not %u",
                       DG_MAX_LAYERS, n_layers);
    if (input.c == 0 || input.h == 0 || input.w == 0 || input.c > DG_MAX_DIM ||
        input.h > DG_MAX_DIM || input.w > DG_MAX_DIM)
        return dg_fail(DG_E_SHAPE, "input shape %ux%ux%u is out of range",
                       input.c, input.h, input.w);
    dg_model *m;
    DG_TRY(dg_alloc_array((void **)&m, 1, sizeof *m, "model"));
    dg_status s = dg_alloc_array((void **)&m->layers, n_layers,
                                 sizeof *m->layers, "model layers");
    if (s != DG_OK) {
        free(m);
        return s;
    }
    atomic_init(&m->refs, 1);
    m->n_layers = n_layers;
    m->input = input;
    dg_preprocess_default(&m->pre, input);
    for (uint32_t i = 0; i < n_layers; i++) {
        m->layers[i].input[0] = (int32_t)i - 1;
        m->layers[i].input[1] = -1;
    }
    *out = m;
    return DG_OK;
}

void dg_preprocess_default(dg_preprocess *p, dg_shape input)
{
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->channels = input.c;
    p->height = input.h;
    p->width = input.w;
    p->scale = 1.0f / 255.0f;
    for (int c = 0; c < 3; c++) p->std[c] = 1.0f;
}

dg_model *dg_model_ref(dg_model *m)
{
    if (m) atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void dg_model_unref(dg_model *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        dg_model_destroy(m);
}

dg_status dg_preprocess_validate(const dg_preprocess *p, dg_shape input)
{
    if (p->channels != input.c || p->height != input.h ||
        p->width != input.w)
        return dg_fail(DG_E_SHAPE,
                       "preprocessing makes %ux%ux%u, the model takes "
                       "%ux%ux%u",
                       p->channels, p->height, p->width, input.c, input.h,
                       input.w);
    if (p->channels != 1 && p->channels != 3)
        return dg_fail(DG_E_UNSUPPORTED, "preprocessing for %u channels",
                       p->channels);
    for (uint32_t c = 0; c < p->channels; c++)
        if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || p->std[c] == 0.0f)
            return dg_fail(DG_E_INVALID_ARG,
                           "preprocessing channel %u: mean %g, std %g", c,
                           (double)p->mean[c], (double)p->std[c]);
    if (!isfinite(p->scale) || p->scale == 0.0f)
        return dg_fail(DG_E_INVALID_ARG, "preprocessing scale %g",
                       (double)p->scale);
    return DG_OK;
}

const char *dg_layer_kind_name(int32_t kind)
{
    switch (kind) {
    case DG_LAYER_CONV: return "conv";
    case DG_LAYER_RELU: return "relu";
    case DG_LAYER_MAXPOOL: return "maxpool";
    case DG_LAYER_AVGPOOL: return "avgpool";
    case DG_LAYER_GLOBAL_AVGPOOL: return "global_avgpool";
    case DG_LAYER_FLATTEN: return "flatten";
    case DG_LAYER_LINEAR: return "linear";
    case DG_LAYER_BATCHNORM: return "batchnorm";
    case DG_LAYER_ADD: return "add";
    case DG_LAYER_SOFTMAX: return "softmax";
    case DG_LAYER_DROPOUT: return "dropout";
    case DG_LAYER_CLIP: return "clip";
    case DG_LAYER_SIGMOID: return "sigmoid";
    case DG_LAYER_HARDSIGMOID: return "hardsigmoid";
    case DG_LAYER_HARDSWISH: return "hardswish";
    case DG_LAYER_PAD: return "pad";
    case DG_LAYER_MUL: return "mul";
    case DG_LAYER_CONCAT: return "concat";
    default: return "?";
    }
}

void dg_layer_info_of(const dg_model *m, uint32_t index, dg_layer_info *out)
{
    const dg_layer *l = &m->layers[index];
    *out = (dg_layer_info){
        .struct_size = sizeof *out,
        .kind = l->kind,
        .input0 = l->input[0],
        .input1 = l->input[1],
        .flags = l->flags,
        .channels = l->out.c,
        .height = l->out.h,
        .width = l->out.w,
        .kernel = l->kernel,
        .stride = l->stride,
        .padding = l->padding,
        .pruned_units = dg_layer_pruned(l),
    };
    for (uint32_t p = 0; p < l->n_params; p++)
        out->param_count += l->param_len[p];
}

const char *dg_model_class_label(const dg_model *m, uint32_t k)
{
    return m->n_class_names ? m->class_names[k] : "";
}

uint32_t dg_layer_units(const dg_layer *l) { return l->out.c; }

uint32_t dg_layer_pruned(const dg_layer *l)
{
    uint32_t n = 0;
    if (l->mask)
        for (uint32_t u = 0; u < l->out.c; u++) n += l->mask[u] == 0;
    return n;
}

static dg_status window_out(const dg_layer *l, uint32_t idx, uint32_t in,
                            uint32_t *out)
{
    if (l->kernel == 0 || l->stride == 0 || l->kernel > DG_MAX_DIM ||
        l->stride > DG_MAX_DIM || l->padding >= l->kernel)
        return dg_fail(DG_E_FORMAT,
                       "layer %u (%s): kernel %u, stride %u, padding %u are "
                       "invalid (need kernel, stride >= 1, padding < kernel)",
                       idx, dg_layer_kind_name(l->kind), l->kernel, l->stride,
                       l->padding);
    /* Padding beyond the input only adds windows of zeros: a hostile file
     * uses it to turn a 1x1 input into millions of windows. */
    if (l->padding > in)
        return dg_fail(DG_E_SHAPE,
                       "layer %u (%s): padding %u exceeds the input size %u",
                       idx, dg_layer_kind_name(l->kind), l->padding, in);
    uint64_t span = (uint64_t)in + 2u * l->padding;
    if (span < l->kernel)
        return dg_fail(DG_E_SHAPE,
                       "layer %u (%s): kernel %u exceeds padded input %llu",
                       idx, dg_layer_kind_name(l->kind), l->kernel,
                       (unsigned long long)span);
    uint64_t steps = span - l->kernel;
    /* Rounding up adds a last window that overhangs the end, unless that
     * window would start in the padding after the input (PyTorch, ONNX). */
    uint64_t n = l->ceil_mode ? (steps + l->stride - 1) / l->stride + 1
                              : steps / l->stride + 1;
    if (l->ceil_mode && (n - 1) * l->stride >= (uint64_t)in + l->padding) n--;
    *out = (uint32_t)n;
    return DG_OK;
}

/* Declares parameter p of length len, allocating it if absent, or checks
 * the length of one that was loaded. */
static dg_status declare_param(dg_layer *l, uint32_t idx, uint32_t p,
                               size_t len, float fill)
{
    if (l->param[p]) {
        if (l->param_len[p] != len)
            return dg_fail(DG_E_SHAPE,
                           "layer %u (%s): parameter %u has %zu values, the "
                           "shape needs %zu",
                           idx, dg_layer_kind_name(l->kind), p,
                           l->param_len[p], len);
        return DG_OK;
    }
    DG_TRY(dg_alloc_aligned(&l->param[p], len, "layer parameters"));
    for (size_t i = 0; fill != 0.0f && i < len; i++) l->param[p][i] = fill;
    l->param_len[p] = len;
    return DG_OK;
}

dg_status dg_layer_check_mask(const dg_layer *l, uint32_t idx)
{
    if (l->mask && l->kind != DG_LAYER_CONV && l->kind != DG_LAYER_LINEAR)
        return dg_fail(DG_E_UNSUPPORTED,
                       "layer %u (%s) has a pruning mask; only conv and "
                       "linear layers can be pruned",
                       idx, dg_layer_kind_name(l->kind));
    return DG_OK;
}

/* Forward floating-point operations per input of a shaped layer, a
 * multiply-add counting two (doc/limits.md). */
static double layer_flops(const dg_layer *l)
{
    double out = (double)dg_shape_size(l->out);
    double window = (double)l->kernel * l->kernel;
    switch (l->kind) {
    case DG_LAYER_CONV: return 2.0 * out * (l->in.c / l->groups) * window;
    case DG_LAYER_LINEAR: return 2.0 * out * (double)dg_shape_size(l->in);
    case DG_LAYER_MAXPOOL:
    case DG_LAYER_AVGPOOL: return out * window;
    case DG_LAYER_GLOBAL_AVGPOOL: return (double)dg_shape_size(l->in);
    case DG_LAYER_FLATTEN: return 0.0;
    default: return out; /* element-wise */
    }
}

/* What a model costs per input so far, against the work limits. */
typedef struct work {
    double flops, bytes, max_flops, max_bytes;
} work;

/* Adds shaped layer i to w; fails once the model is over a limit. */
static dg_status charge(const dg_model *m, uint32_t i, work *w)
{
    const dg_layer *l = &m->layers[i];
    w->flops += layer_flops(l);
    w->bytes += sizeof(float) * (double)dg_shape_size(l->out);
    if (w->flops > w->max_flops)
        return dg_fail(DG_E_UNSUPPORTED,
                       "layer %u (%s) brings the model to %.3g FLOPs per "
                       "input, over the limit of %.3g "
                       "(DG_LIMIT_FLOPS_PER_INPUT, doc/limits.md)",
                       i, dg_layer_kind_name(l->kind), w->flops,
                       w->max_flops);
    if (w->bytes > w->max_bytes)
        return dg_fail(DG_E_UNSUPPORTED,
                       "layer %u (%s) brings the model to %.3g bytes of "
                       "activations per input, over the limit of %.3g "
                       "(DG_LIMIT_ACTIVATION_BYTES_PER_INPUT, "
                       "doc/limits.md)",
                       i, dg_layer_kind_name(l->kind), w->bytes,
                       w->max_bytes);
    return DG_OK;
}

static dg_status finalize_layer(dg_model *m, uint32_t i, work *w)
{
    dg_layer *l = &m->layers[i];
    for (int k = 0; k < 2; k++) {
        int32_t src = l->input[k];
        int needed = k == 0 || dg_layer_binary(l->kind);
        if (!needed) {
            l->input[k] = -1;
            continue;
        }
        if (src < -1 || src >= (int32_t)i)
            return dg_fail(DG_E_FORMAT,
                           "layer %u reads layer %d, which does not come "
                           "before it",
                           i, src);
    }
    if (l->groups == 0) l->groups = 1; /* a layer made before groups */
    /* A product is kept with its broadcast (C x 1 x 1) operand second. */
    if (l->kind == DG_LAYER_MUL) {
        dg_shape a = dg_model_source_shape(m, l->input[0]),
                 b = dg_model_source_shape(m, l->input[1]);
        if (a.h * a.w == 1 && b.h * b.w > 1) {
            int32_t t = l->input[0];
            l->input[0] = l->input[1];
            l->input[1] = t;
        }
    }
    l->in = dg_model_source_shape(m, l->input[0]);
    dg_shape in = l->in, out = in;
    uint32_t n_params = 0, n_trainable = 0;
    size_t plen[DG_MAX_PARAMS] = {0};
    float pfill[DG_MAX_PARAMS] = {0};
    switch (l->kind) {
    case DG_LAYER_CONV:
        if (l->units == 0 || l->units > DG_MAX_DIM)
            return dg_fail(DG_E_FORMAT, "layer %u (conv): %u output channels",
                           i, l->units);
        if (in.c % l->groups || l->units % l->groups)
            return dg_fail(DG_E_FORMAT,
                           "layer %u (conv): %u groups do not divide %u "
                           "input and %u output channels",
                           i, l->groups, in.c, l->units);
        DG_TRY(window_out(l, i, in.h, &out.h));
        DG_TRY(window_out(l, i, in.w, &out.w));
        out.c = l->units;
        n_params = n_trainable = 2;
        plen[0] = (size_t)l->units * (in.c / l->groups) * l->kernel *
                  l->kernel;
        plen[1] = l->units;
        break;
    case DG_LAYER_MAXPOOL:
    case DG_LAYER_AVGPOOL:
        if (l->ceil_mode > 1)
            return dg_fail(DG_E_FORMAT, "layer %u (%s): ceil mode %u", i,
                           dg_layer_kind_name(l->kind), l->ceil_mode);
        DG_TRY(window_out(l, i, in.h, &out.h));
        DG_TRY(window_out(l, i, in.w, &out.w));
        break;
    case DG_LAYER_GLOBAL_AVGPOOL:
        out.h = out.w = 1;
        break;
    case DG_LAYER_FLATTEN:
        out = (dg_shape){(uint32_t)dg_shape_size(in), 1, 1};
        break;
    case DG_LAYER_LINEAR:
        if (l->units == 0 || l->units > DG_MAX_DIM)
            return dg_fail(DG_E_FORMAT, "layer %u (linear): %u outputs", i,
                           l->units);
        out = (dg_shape){l->units, 1, 1};
        n_params = n_trainable = 2;
        plen[0] = (size_t)l->units * dg_shape_size(in);
        plen[1] = l->units;
        break;
    case DG_LAYER_BATCHNORM:
        if (!(l->eps > 0.0f && l->eps < 1.0f))
            return dg_fail(DG_E_FORMAT, "layer %u (batchnorm): epsilon %g",
                           i, (double)l->eps);
        n_params = 4;
        n_trainable = 2;
        plen[0] = plen[1] = plen[2] = plen[3] = in.c;
        pfill[0] = pfill[3] = 1.0f;
        break;
    case DG_LAYER_ADD:
    case DG_LAYER_MUL:
    case DG_LAYER_CONCAT: {
        dg_shape b = dg_model_source_shape(m, l->input[1]);
        int same = b.c == in.c && b.h == in.h && b.w == in.w;
        int fits = l->kind == DG_LAYER_ADD ? same
                   : l->kind == DG_LAYER_MUL
                       ? same || (b.c == in.c && b.h == 1 && b.w == 1)
                       : b.h == in.h && b.w == in.w;
        if (!fits)
            return dg_fail(DG_E_SHAPE,
                           "layer %u (%s): inputs %ux%ux%u and %ux%ux%u do "
                           "not fit (%s)",
                           i, dg_layer_kind_name(l->kind), in.c, in.h, in.w,
                           b.c, b.h, b.w,
                           l->kind == DG_LAYER_ADD ? "equal shapes"
                           : l->kind == DG_LAYER_MUL
                               ? "equal shapes, or C x 1 x 1 second"
                               : "equal height and width");
        if (l->kind == DG_LAYER_CONCAT) out.c = in.c + b.c;
        break;
    }
    case DG_LAYER_DROPOUT:
        if (!(l->rate >= 0.0f && l->rate < 1.0f))
            return dg_fail(DG_E_FORMAT, "layer %u (dropout): rate %g", i,
                           (double)l->rate);
        break;
    case DG_LAYER_CLIP:
        if (!(l->alpha <= l->beta))
            return dg_fail(DG_E_FORMAT, "layer %u (clip): bounds %g, %g",
                           i, (double)l->alpha, (double)l->beta);
        break;
    case DG_LAYER_HARDSIGMOID:
        if (!isfinite(l->alpha) || !isfinite(l->beta))
            return dg_fail(DG_E_FORMAT,
                           "layer %u (hardsigmoid): alpha %g, beta %g", i,
                           (double)l->alpha, (double)l->beta);
        break;
    case DG_LAYER_PAD:
        for (int k = 0; k < 4; k++)
            if (l->pad[k] > DG_MAX_DIM)
                return dg_fail(DG_E_FORMAT, "layer %u (pad): %u rows or "
                                            "columns",
                               i, l->pad[k]);
        if (!isfinite(l->alpha))
            return dg_fail(DG_E_FORMAT, "layer %u (pad): value %g", i,
                           (double)l->alpha);
        out.h = in.h + l->pad[0] + l->pad[2];
        out.w = in.w + l->pad[1] + l->pad[3];
        break;
    case DG_LAYER_RELU:
    case DG_LAYER_SOFTMAX:
    case DG_LAYER_SIGMOID:
    case DG_LAYER_HARDSWISH:
        break;
    default:
        return dg_fail(DG_E_FORMAT, "layer %u has unknown kind %d", i,
                       l->kind);
    }
    if (out.c > DG_MAX_DIM * 64u || dg_shape_size(out) > ((size_t)1 << 31))
        return dg_fail(DG_E_SHAPE, "layer %u (%s): output %ux%ux%u too large",
                       i, dg_layer_kind_name(l->kind), out.c, out.h, out.w);
    DG_TRY(dg_layer_check_mask(l, i));
    /* Charged before any parameter is allocated. */
    l->out = out;
    DG_TRY(charge(m, i, w));
    if (l->n_params && l->n_params != n_params)
        return dg_fail(DG_E_FORMAT, "layer %u (%s) has %u parameters, not %u",
                       i, dg_layer_kind_name(l->kind), l->n_params, n_params);
    for (uint32_t p = 0; p < n_params; p++) {
        if (plen[p] > DG_MAX_ALLOC / sizeof(float))
            return dg_fail(DG_E_SHAPE, "layer %u: parameter %u too large", i,
                           p);
        DG_TRY(declare_param(l, i, p, plen[p], pfill[p]));
    }
    l->n_params = n_params;
    l->n_trainable = n_trainable;
    return DG_OK;
}

dg_status dg_model_finalize(dg_model *m)
{
    work w = {.bytes = sizeof(float) * (double)dg_shape_size(m->input),
              .max_flops = (double)dg_work_limit(DG_LIMIT_FLOPS_PER_INPUT),
              .max_bytes = (double)dg_work_limit(
                  DG_LIMIT_ACTIVATION_BYTES_PER_INPUT)};
    for (uint32_t i = 0; i < m->n_layers; i++)
        DG_TRY(finalize_layer(m, i, &w));
    if (m->n_class_names && m->n_class_names != dg_model_output_shape(m).c)
        return dg_fail(DG_E_SHAPE, "%u class names for %u outputs",
                       m->n_class_names, dg_model_output_shape(m).c);
    return DG_OK;
}

void dg_model_init_weights(dg_model *m, uint32_t first, uint64_t seed)
{
    dg_rng rng;
    dg_rng_seed(&rng, seed);
    for (uint32_t i = first; i < m->n_layers; i++) {
        dg_layer *l = &m->layers[i];
        if (l->kind != DG_LAYER_CONV && l->kind != DG_LAYER_LINEAR) continue;
        size_t fan_in = l->param_len[0] / l->units;
        float sd = sqrtf(2.0f / (float)fan_in);
        for (size_t k = 0; k < l->param_len[0]; k++)
            l->param[0][k] = sd * dg_rng_normal(&rng);
        memset(l->param[1], 0, l->param_len[1] * sizeof(float));
    }
}

dg_shape dg_model_output_shape(const dg_model *m)
{
    return m->layers[m->n_layers - 1].out;
}

int32_t dg_model_logits_layer(const dg_model *m)
{
    int32_t i = (int32_t)m->n_layers - 1;
    while (i > 0 && m->layers[i].kind == DG_LAYER_SOFTMAX)
        i = m->layers[i].input[0];
    return i;
}

static void free_layers(dg_model *m)
{
    for (uint32_t i = 0; i < m->n_layers; i++) {
        for (uint32_t p = 0; p < DG_MAX_PARAMS; p++)
            dg_free_aligned(m->layers[i].param[p]);
        free(m->layers[i].mask);
    }
    free(m->layers);
}

dg_status dg_model_name_classes(dg_model *m, const char *const *names,
                                uint32_t count)
{
    uint32_t n = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    if (count != 0 && count != n)
        return dg_fail(DG_E_SHAPE, "%u class names for %u outputs", count, n);
    for (uint32_t k = 0; k < count; k++) {
        if (!names[k])
            return dg_fail(DG_E_INVALID_ARG, "class name %u is NULL", k);
        if (strlen(names[k]) >= DG_CLASS_NAME_CAP)
            return dg_fail(DG_E_INVALID_ARG,
                           "class name %u is longer than %d bytes", k,
                           DG_CLASS_NAME_CAP - 1);
    }
    char(*copy)[DG_CLASS_NAME_CAP] = NULL;
    if (count)
        DG_TRY(dg_alloc_array((void **)&copy, count, DG_CLASS_NAME_CAP,
                              "class names"));
    for (uint32_t k = 0; k < count; k++)
        memcpy(copy[k], names[k], strlen(names[k]) + 1);
    free(m->class_names);
    m->class_names = copy;
    m->n_class_names = count;
    return DG_OK;
}

void dg_model_destroy(dg_model *m)
{
    if (!m) return;
    free_layers(m);
    free(m->class_names);
    free(m);
}

dg_status dg_layer_copy(dg_layer *dst, const dg_layer *src)
{
    *dst = *src;
    dst->mask = NULL;
    for (uint32_t p = 0; p < DG_MAX_PARAMS; p++) dst->param[p] = NULL;
    for (uint32_t p = 0; p < src->n_params; p++) {
        DG_TRY(dg_alloc_aligned(&dst->param[p], src->param_len[p], "copy"));
        memcpy(dst->param[p], src->param[p], src->param_len[p] * sizeof(float));
    }
    if (src->mask) {
        DG_TRY(dg_alloc_array((void **)&dst->mask, src->out.c, 1, "copy mask"));
        memcpy(dst->mask, src->mask, src->out.c);
    }
    return DG_OK;
}

static dg_status copy_class_names(dg_model *dst, const dg_model *src)
{
    if (!src->n_class_names) return DG_OK;
    DG_TRY(dg_alloc_array((void **)&dst->class_names, src->n_class_names,
                          DG_CLASS_NAME_CAP, "class names"));
    memcpy(dst->class_names, src->class_names,
           (size_t)src->n_class_names * DG_CLASS_NAME_CAP);
    dst->n_class_names = src->n_class_names;
    return DG_OK;
}

dg_status dg_model_clone(const dg_model *src, dg_model **out)
{
    dg_model *m;
    DG_TRY(dg_model_alloc(src->n_layers, src->input, &m));
    m->pre = src->pre;
    dg_status s = DG_OK;
    for (uint32_t i = 0; i < src->n_layers && s == DG_OK; i++)
        s = dg_layer_copy(&m->layers[i], &src->layers[i]);
    if (s == DG_OK) s = copy_class_names(m, src);
    if (s != DG_OK) {
        dg_model_destroy(m);
        return s;
    }
    *out = m;
    return DG_OK;
}

dg_status dg_model_rescaled(const dg_model *m, float width, uint64_t seed,
                            dg_model **out)
{
    *out = NULL;
    if (!(width > 0.0f && width <= 16.0f))
        return dg_fail(DG_E_INVALID_ARG, "width %g is not in (0, 16]",
                       (double)width);
    int32_t logits = dg_model_logits_layer(m);
    dg_model *r;
    DG_TRY(dg_model_alloc(m->n_layers, m->input, &r));
    r->pre = m->pre;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const dg_layer *src = &m->layers[i];
        dg_layer *l = &r->layers[i];
        l->kind = src->kind;
        l->input[0] = src->input[0];
        l->input[1] = src->input[1];
        l->kernel = src->kernel;
        l->stride = src->stride;
        l->padding = src->padding;
        l->ceil_mode = src->ceil_mode;
        memcpy(l->pad, src->pad, sizeof l->pad);
        l->eps = src->eps;
        l->rate = src->rate;
        l->alpha = src->alpha;
        l->beta = src->beta;
        l->units = src->units;
        l->groups = src->groups;
        if ((l->kind == DG_LAYER_CONV || l->kind == DG_LAYER_LINEAR) &&
            (int32_t)i != logits) {
            float units = roundf((float)src->units * width);
            l->units = units < 1.0f ? 1u : (uint32_t)units;
        }
        /* A depthwise conv stays depthwise: its input was scaled alike. */
        if (src->groups > 1 && src->groups == src->units &&
            src->groups == src->in.c)
            l->groups = l->units;
    }
    dg_status s = copy_class_names(r, m);
    if (s == DG_OK) s = dg_model_finalize(r);
    if (s != DG_OK) {
        dg_model_destroy(r);
        return s;
    }
    dg_model_init_weights(r, 0, seed);
    *out = r;
    return DG_OK;
}

uint32_t dg_model_slice_start(const dg_model *m, uint32_t at)
{
    int32_t earliest_read = INT32_MAX; /* by layers i and after */
    for (int32_t i = (int32_t)m->n_layers - 1; i > 0; i--) {
        const dg_layer *l = &m->layers[i];
        for (int k = 0; k < (dg_layer_binary(l->kind) ? 2 : 1); k++)
            if (l->input[k] < earliest_read) earliest_read = l->input[k];
        if (i <= (int32_t)at && earliest_read >= i - 1) return (uint32_t)i;
    }
    return 0;
}

dg_status dg_model_slice(const dg_model *m, uint32_t first, dg_model **out)
{
    *out = NULL;
    if (first >= m->n_layers)
        return dg_fail(DG_E_INVALID_ARG, "slice from layer %u of %u", first,
                       m->n_layers);
    dg_shape in = first == 0 ? m->input : m->layers[first - 1].out;
    dg_model *t;
    DG_TRY(dg_model_alloc(m->n_layers - first, in, &t));
    dg_status s = DG_OK;
    for (uint32_t i = first; i < m->n_layers && s == DG_OK; i++) {
        dg_layer *l = &t->layers[i - first];
        s = dg_layer_copy(l, &m->layers[i]);
        for (int k = 0; k < 2 && s == DG_OK; k++) {
            if (k == 1 && !dg_layer_binary(l->kind)) break;
            if (l->input[k] < (int32_t)first - 1)
                s = dg_fail(DG_E_UNSUPPORTED,
                            "layer %u reads layer %d, before the slice at %u",
                            i, l->input[k], first);
            l->input[k] -= (int32_t)first;
        }
    }
    if (s == DG_OK) s = copy_class_names(t, m);
    if (s == DG_OK) s = dg_model_finalize(t);
    if (s != DG_OK) {
        dg_model_destroy(t);
        return s;
    }
    *out = t;
    return DG_OK;
}

dg_status dg_model_join(const dg_model *head, uint32_t n_head_layers,
                        const dg_model *tail, dg_model **out)
{
    *out = NULL;
    if (n_head_layers > head->n_layers)
        return dg_fail(DG_E_INVALID_ARG, "join after layer %u of %u",
                       n_head_layers, head->n_layers);
    dg_shape cut = n_head_layers == 0 ? head->input
                                      : head->layers[n_head_layers - 1].out;
    if (cut.c != tail->input.c || cut.h != tail->input.h ||
        cut.w != tail->input.w)
        return dg_fail(DG_E_SHAPE,
                       "the tail takes %ux%ux%u, layer %d of the head "
                       "gives %ux%ux%u",
                       tail->input.c, tail->input.h, tail->input.w,
                       (int)n_head_layers - 1, cut.c, cut.h, cut.w);
    if (tail->n_layers > DG_MAX_LAYERS - n_head_layers)
        return dg_fail(DG_E_SHAPE, "%u + %u layers is over %d",
                       n_head_layers, tail->n_layers, DG_MAX_LAYERS);
    dg_model *m;
    DG_TRY(dg_model_alloc(n_head_layers + tail->n_layers, head->input, &m));
    m->pre = head->pre;
    dg_status s = DG_OK;
    for (uint32_t i = 0; i < n_head_layers && s == DG_OK; i++)
        s = dg_layer_copy(&m->layers[i], &head->layers[i]);
    for (uint32_t i = 0; i < tail->n_layers && s == DG_OK; i++) {
        dg_layer *l = &m->layers[n_head_layers + i];
        s = dg_layer_copy(l, &tail->layers[i]);
        /* Index -1 (the tail's input) becomes n_head_layers - 1. */
        for (int k = 0; k < 2 && s == DG_OK; k++) {
            if (k == 1 && !dg_layer_binary(l->kind)) break;
            l->input[k] += (int32_t)n_head_layers;
        }
    }
    uint32_t outputs = dg_model_output_shape(tail).c;
    if (s == DG_OK)
        s = copy_class_names(m, head->n_class_names == outputs ? head : tail);
    if (s == DG_OK && m->n_class_names != outputs) {
        free(m->class_names);
        m->class_names = NULL;
        m->n_class_names = 0;
    }
    if (s == DG_OK) s = dg_model_finalize(m);
    if (s != DG_OK) {
        dg_model_destroy(m);
        return s;
    }
    *out = m;
    return DG_OK;
}
