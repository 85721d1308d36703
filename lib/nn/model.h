/* model.h - the model graph shared by inference, training, the defence and
 * the attack.  A model is a list of layers in execution order; each layer
 * reads the output of earlier layers (or the model input, index -1). */
#ifndef DG_NN_MODEL_H
#define DG_NN_MODEL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define DG_MAX_PARAMS 4
#define DG_MAX_LAYERS 4096
#define DG_MAX_DIM 65536
#define DG_CLASS_NAME_CAP 64

/* Shape of one sample: channels x height x width (features are c x 1 x 1). */
typedef struct dg_shape {
    uint32_t c, h, w;
} dg_shape;

static inline size_t dg_shape_size(dg_shape s)
{
    return (size_t)s.c * s.h * s.w;
}

typedef struct dg_layer {
    int32_t kind;       /* DG_LAYER_* */
    int32_t input[2];   /* producers; -1 = model input; input[1] for the
                           kinds of dg_layer_binary */
    uint32_t flags;     /* DG_LAYER_FLAG_* */
    uint32_t units;     /* conv output channels, linear output features */
    uint32_t kernel, stride, padding; /* conv and pooling, square */
    uint32_t groups;    /* conv: channels split into groups (1: dense) */
    uint32_t ceil_mode; /* pooling: 1 rounds the output size up */
    uint32_t pad[4];    /* pad: rows before, columns before, rows after,
                           columns after, filled with alpha */
    float eps;          /* batchnorm */
    float alpha, beta;  /* clip: lower and upper bound; hardsigmoid:
                           max(0, min(1, alpha * x + beta)); pad: the
                           value */
    float rate;         /* dropout probability */

    /* Parameters, owned, in the order the layer's math defines (conv:
     * weight OIHW, bias; linear: weight OI, bias; batchnorm: gamma, beta,
     * running mean, running variance).  The first n_trainable are learnt;
     * the rest are statistics. */
    uint32_t n_params, n_trainable;
    float *param[DG_MAX_PARAMS];
    size_t param_len[DG_MAX_PARAMS];

    /* Pruning mask over output units (channels or features): 1 keeps, 0
     * removes.  NULL means nothing is pruned.  Honoured by forward and
     * backward passes. */
    uint8_t *mask;

    dg_shape in, out; /* derived by dg_model_finalize */
} dg_layer;

struct dg_model {
    atomic_uint refs;
    dg_shape input;
    dg_preprocess pre;
    uint32_t n_layers;
    dg_layer *layers;
    uint32_t n_class_names; /* 0 or the output size */
    char (*class_names)[DG_CLASS_NAME_CAP];
};

/* Whether a layer of `kind` reads a second input (input[1]): add, mul,
 * concat. */
static inline int dg_layer_binary(int32_t kind)
{
    return kind == DG_LAYER_ADD || kind == DG_LAYER_MUL ||
           kind == DG_LAYER_CONCAT;
}

/* Allocates a model with n zeroed layers (refs = 1) for inputs of `input`. */
dg_status dg_model_alloc(uint32_t n_layers, dg_shape input, dg_model **out);

/* Checks the graph (inputs refer to earlier layers, kinds,
 * hyper-parameters and masks valid, the work per input within the limits
 * of doc/limits.md), derives every layer's shapes and parameter sizes, and allocates any parameter still NULL (zeroed; batchnorm
 * gamma and variance start at 1).  Idempotent. */
dg_status dg_model_finalize(dg_model *m);

/* The work limit `which` (DG_LIMIT_*) in force, 0 for an unknown one;
 * behind dg_limit and dg_set_limit.  Setting 0 restores the default. */
uint64_t dg_work_limit(int32_t which);
dg_status dg_work_limit_set(int32_t which, uint64_t value);

/* Fails with DG_E_UNSUPPORTED, naming layer idx, if l has a pruning mask
 * its kind cannot honour (only conv and linear layers can). */
dg_status dg_layer_check_mask(const dg_layer *l, uint32_t idx);

/* He-normal weights and zero biases for layers first.., from a generator
 * seeded by `seed`. */
void dg_model_init_weights(dg_model *m, uint32_t first, uint64_t seed);

/* A deep copy of one layer's fields, parameters and mask into dst (whose
 * own buffers must be empty); on failure dst holds what was copied so far,
 * to be freed with its model. */
dg_status dg_layer_copy(dg_layer *dst, const dg_layer *src);

/* A deep copy with refs = 1. */
dg_status dg_model_clone(const dg_model *src, dg_model **out);

/* A fresh model of m's structure (layer kinds, connections, kernels,
 * preprocessing, class names) whose convolution and linear layers have
 * `width` times m's units (at least 1), except the logits layer, which
 * keeps the output size; no masks, nothing frozen, He-normal weights from
 * `seed`.  A residual ADD of two scaled layers stays consistent because
 * every layer is scaled alike. */
dg_status dg_model_rescaled(const dg_model *m, float width, uint64_t seed,
                            dg_model **out);

/* The affine map from a pixel in [0,1] of channel c to model input under
 * p: input = pixel * gain + offset, which is (pixel * 255 * scale -
 * mean) / std.  Attacks and adversarial training move pixels through it. */
static inline void dg_pixel_map(const dg_preprocess *p, uint32_t c,
                                float *gain, float *offset)
{
    *gain = 255.0f * p->scale / p->std[c];
    *offset = -p->mean[c] / p->std[c];
}

/* The preprocessing a model starts with: scaling to [0,1], no mean,
 * unit std, for inputs of `input`. */
void dg_preprocess_default(dg_preprocess *p, dg_shape input);

/* Reference counting behind dg_model_retain and dg_model_free: unref
 * destroys the model with its last reference.  Both accept NULL. */
dg_model *dg_model_ref(dg_model *m);
void dg_model_unref(dg_model *m);

/* Checks preprocessing against an input shape (channels 1 or 3, finite
 * values, non-zero std and scale). */
dg_status dg_preprocess_validate(const dg_preprocess *p, dg_shape input);

/* Gives m copies of names[0..count-1] as its class names: count is 0 (no
 * names) or the output size, each name shorter than DG_CLASS_NAME_CAP.
 * Behind dg_model_set_class_names and ONNX import. */
dg_status dg_model_name_classes(dg_model *m, const char *const *names,
                                uint32_t count);

/* Frees a model regardless of its reference count. */
void dg_model_destroy(dg_model *m);

/* The layers first..end of m as a model of their own, whose input is the
 * output of layer first-1 (the model input when first is 0).  Fails with
 * DG_E_UNSUPPORTED if a layer reads anything before first-1. */
dg_status dg_model_slice(const dg_model *m, uint32_t first, dg_model **out);

/* The latest layer f <= at from which dg_model_slice can cut m: no layer
 * from f on reads anything before layer f - 1 (a residual connection that
 * jumps over f - 1 moves the cut back to where it starts).  0 at worst. */
uint32_t dg_model_slice_start(const dg_model *m, uint32_t at);

/* The first n_head_layers layers of head followed by every layer of tail,
 * whose input (index -1) becomes head's layer n_head_layers-1 (the model
 * input when n_head_layers is 0): the inverse of dg_model_slice.  The
 * result has head's input, preprocessing and, when they fit its outputs,
 * head's class names (else tail's, else none); it is finalized.  Fails
 * with DG_E_SHAPE if tail's input is not the output of head's layer
 * n_head_layers-1, DG_E_INVALID_ARG if head has fewer layers. */
dg_status dg_model_join(const dg_model *head, uint32_t n_head_layers,
                        const dg_model *tail, dg_model **out);

/* The output shape of layer src, or the input's for -1. */
static inline dg_shape dg_model_source_shape(const dg_model *m, int32_t src)
{
    return src < 0 ? m->input : m->layers[src].out;
}

/* Output shape per sample of the last layer. */
dg_shape dg_model_output_shape(const dg_model *m);

/* Number of output units of a layer (the length its mask would have). */
uint32_t dg_layer_units(const dg_layer *l);

/* Human name of a layer kind ("conv", "relu", ...), "?" if unknown. */
const char *dg_layer_kind_name(int32_t kind);
/* Layer `index` (< n_layers) as dg_model_layer_info tells it, whole. */
void dg_layer_info_of(const dg_model *m, uint32_t index, dg_layer_info *out);
/* The name of class k (< the output size), "" without names. */
const char *dg_model_class_label(const dg_model *m, uint32_t k);

/* Number of pruned units (mask zeros). */
uint32_t dg_layer_pruned(const dg_layer *l);

/* Index of the last layer whose output is not produced by a softmax: the
 * logits that losses and attacks work on. */
int32_t dg_model_logits_layer(const dg_model *m);

#endif
