/* onnx_export.c - writes a dg_model as an ONNX ModelProto (doc/onnx.md).
 *
 * Each layer becomes one node, preceded by a Flatten or Reshape where ONNX
 * needs another rank than the producer's (a dg linear layer reads a
 * feature map directly; Gemm wants [N, F]).  Pruned units are written with
 * zero weights and bias, which is what the mask makes of them.  The
 * protobuf-c structures live in an arena freed once they are packed. */
#include "io/onnx.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "onnx.pb-c.h"

#define OPSET 13
#define IR_VERSION 7

/* Short names for the generated enumerators. */
#define TYPE_FLOAT ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define TYPE_INT64 ONNX__TENSOR_PROTO__DATA_TYPE__INT64
#define ATTR_FLOAT ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
#define ATTR_INT ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
#define ATTR_INTS ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS

/* Nodes and initializers one layer may add: an adapter, a helper (the gate
 * of HardSwish) and its own node; batch norm's four parameters. */
enum { NODES_PER_LAYER = 3, INITIALIZERS_PER_LAYER = 4 };

/* The most attributes a node gets (AveragePool). */
enum { ATTRIBUTES_PER_NODE = 5 };

typedef struct block {
    struct block *next;
    alignas(max_align_t) unsigned char data[];
} block;

typedef struct exporter {
    const dg_model *m;
    block *arena;
    dg_status status; /* the first failure; building stops there */
    Onnx__GraphProto graph;
    size_t node_cap, initializer_cap;
    const char **outputs; /* per layer: the name of its result */
    int *ranks;           /* per layer: 2 ([N, F]) or 4 ([N, C, H, W]) */
    int input_rank;
} exporter;

/* Zeroed memory that lives until the export ends; NULL once anything
 * failed, so builders just pass NULL along. */
static void *arena_alloc(exporter *ex, size_t size)
{
    if (ex->status != DG_OK) return NULL;
    block *b = size <= DG_MAX_ALLOC ? calloc(1, sizeof *b + size) : NULL;
    if (!b) {
        ex->status = dg_fail(DG_E_NOMEM,
                             "out of memory building the ONNX model "
                             "(%zu bytes)",
                             size);
        return NULL;
    }
    b->next = ex->arena;
    ex->arena = b;
    return b->data;
}

static void *arena_array(exporter *ex, size_t n, size_t size)
{
    size_t bytes;
    if (dg_mul_ok(n, size, &bytes)) return arena_alloc(ex, bytes);
    ex->status = dg_fail(DG_E_NOMEM, "ONNX model: %zu x %zu bytes", n, size);
    return NULL;
}

static void arena_free(exporter *ex)
{
    while (ex->arena) {
        block *next = ex->arena->next;
        free(ex->arena);
        ex->arena = next;
    }
}

DG_PRINTF(2, 3)
static char *format(exporter *ex, const char *fmt, ...)
{
    if (ex->status != DG_OK) return NULL; /* arguments may be NULL then */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? arena_alloc(ex, (size_t)n + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Appends item to a list allocated for `cap` entries. */
static void push(exporter *ex, void **list, size_t *n, size_t cap, void *item)
{
    if (!item || ex->status != DG_OK) return;
    if (*n == cap) {
        ex->status = dg_fail(DG_E_INTERNAL, "ONNX export: a list outgrew "
                                            "its %zu entries",
                             cap);
        return;
    }
    list[(*n)++] = item;
}

/* ------------------------------------------------------------------------ */
/* Tensors, nodes, attributes                                               */
/* ------------------------------------------------------------------------ */

static void store_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int k = 0; k < bytes; k++) p[k] = (uint8_t)(v >> (8 * k));
}

/* Adds an initializer whose raw data the caller fills (little-endian);
 * returns that data, or NULL. */
static uint8_t *add_initializer(exporter *ex, const char *name,
                                int32_t data_type, const int64_t *dims,
                                size_t n_dims, size_t bytes)
{
    Onnx__TensorProto *t = arena_alloc(ex, sizeof *t);
    int64_t *d = arena_array(ex, n_dims ? n_dims : 1, sizeof *d);
    uint8_t *raw = arena_alloc(ex, bytes);
    if (!t || !d || !raw) return NULL;
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = data_type;
    if (n_dims) memcpy(d, dims, n_dims * sizeof *d);
    t->n_dims = n_dims;
    t->dims = d;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = raw;
    push(ex, (void **)ex->graph.initializer, &ex->graph.n_initializer,
         ex->initializer_cap, t);
    return ex->status == DG_OK ? raw : NULL;
}

/* A float initializer; entries of units whose mask is 0 are written as 0
 * (unit u owns entries u * per_unit ... (u + 1) * per_unit - 1). */
static const char *add_floats(exporter *ex, const char *name,
                              const int64_t *dims, size_t n_dims,
                              const float *v, size_t count, const uint8_t *mask,
                              size_t per_unit)
{
    uint8_t *raw = add_initializer(ex, name, TYPE_FLOAT, dims, n_dims,
                                   count * sizeof(float));
    if (!raw) return NULL;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = 0;
        if (!mask || mask[i / per_unit]) memcpy(&bits, &v[i], sizeof bits);
        store_le(raw + 4 * i, bits, 4);
    }
    return name;
}

static const char *add_int64s(exporter *ex, const char *name, const int64_t *v,
                              size_t count)
{
    int64_t dims[1] = {(int64_t)count};
    uint8_t *raw = add_initializer(ex, name, TYPE_INT64, dims, 1, count * 8);
    if (!raw) return NULL;
    for (size_t i = 0; i < count; i++) store_le(raw + 8 * i, (uint64_t)v[i], 8);
    return name;
}

/* A node named `name` computing `output` from inputs[0..n) (NULL entries
 * only after a failure). */
static Onnx__NodeProto *add_node(exporter *ex, const char *op, const char *name,
                                 const char *output, const char *const *inputs,
                                 size_t n)
{
    Onnx__NodeProto *node = arena_alloc(ex, sizeof *node);
    char **in = arena_array(ex, n, sizeof *in);
    char **out = arena_array(ex, 1, sizeof *out);
    Onnx__AttributeProto **attrs =
        arena_array(ex, ATTRIBUTES_PER_NODE, sizeof *attrs);
    char *op_type = format(ex, "%s", op);
    if (!node || !in || !out || !attrs || !op_type) return NULL;
    onnx__node_proto__init(node);
    node->op_type = op_type;
    node->name = (char *)name;
    memcpy(in, inputs, n * sizeof *in);
    node->n_input = n;
    node->input = in;
    out[0] = (char *)output;
    node->n_output = 1;
    node->output = out;
    node->attribute = attrs;
    push(ex, (void **)ex->graph.node, &ex->graph.n_node, ex->node_cap, node);
    return ex->status == DG_OK ? node : NULL;
}

static Onnx__AttributeProto *add_attr(exporter *ex, Onnx__NodeProto *node,
                                      const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    if (!node) return NULL;
    Onnx__AttributeProto *a = arena_alloc(ex, sizeof *a);
    char *copy = format(ex, "%s", name);
    if (!a || !copy) return NULL;
    onnx__attribute_proto__init(a);
    a->name = copy;
    a->has_type = 1;
    a->type = type;
    push(ex, (void **)node->attribute, &node->n_attribute,
         ATTRIBUTES_PER_NODE, a);
    return ex->status == DG_OK ? a : NULL;
}

static void attr_int(exporter *ex, Onnx__NodeProto *node, const char *name,
                     int64_t v)
{
    Onnx__AttributeProto *a = add_attr(ex, node, name, ATTR_INT);
    if (!a) return;
    a->has_i = 1;
    a->i = v;
}

static void attr_float(exporter *ex, Onnx__NodeProto *node, const char *name,
                       float v)
{
    Onnx__AttributeProto *a = add_attr(ex, node, name, ATTR_FLOAT);
    if (!a) return;
    a->has_f = 1;
    a->f = v;
}

/* A list attribute of n copies of v. */
static void attr_repeat(exporter *ex, Onnx__NodeProto *node, const char *name,
                        int64_t v, size_t n)
{
    Onnx__AttributeProto *a = add_attr(ex, node, name, ATTR_INTS);
    int64_t *ints = arena_array(ex, n, sizeof *ints);
    if (!a || !ints) return;
    for (size_t k = 0; k < n; k++) ints[k] = v;
    a->n_ints = n;
    a->ints = ints;
}

/* ------------------------------------------------------------------------ */
/* Layers                                                                   */
/* ------------------------------------------------------------------------ */

/* How each layer kind is written: the operator, the rank it needs of its
 * input (0: any), the rank of its result (0: the input's), and the names of
 * its parameters in the layer's order. */
static const struct layer_rule {
    int32_t kind;
    const char *op;
    int rank_in, rank_out;
    const char *params[4];
} layer_rules[] = {
    {DG_LAYER_CONV, "Conv", 4, 4, {"weight", "bias"}},
    {DG_LAYER_RELU, "Relu", 0, 0, {0}},
    {DG_LAYER_MAXPOOL, "MaxPool", 4, 4, {0}},
    {DG_LAYER_AVGPOOL, "AveragePool", 4, 4, {0}},
    {DG_LAYER_GLOBAL_AVGPOOL, "GlobalAveragePool", 4, 4, {0}},
    {DG_LAYER_FLATTEN, "Flatten", 0, 2, {0}},
    {DG_LAYER_LINEAR, "Gemm", 2, 2, {"weight", "bias"}},
    {DG_LAYER_BATCHNORM, "BatchNormalization", 0, 0,
     {"scale", "bias", "mean", "var"}},
    {DG_LAYER_ADD, "Add", 0, 0, {0}},
    {DG_LAYER_SOFTMAX, "Softmax", 0, 0, {0}},
    {DG_LAYER_DROPOUT, "Dropout", 0, 0, {0}},
    {DG_LAYER_CLIP, "Clip", 0, 0, {0}},
    {DG_LAYER_SIGMOID, "Sigmoid", 0, 0, {0}},
    {DG_LAYER_HARDSIGMOID, "HardSigmoid", 0, 0, {0}},
    /* operator set 13 has no HardSwish: x * HardSigmoid(x), as PyTorch
     * writes it (export_hardswish) */
    {DG_LAYER_HARDSWISH, "Mul", 0, 0, {0}},
    {DG_LAYER_PAD, "Pad", 4, 4, {0}},
    {DG_LAYER_MUL, "Mul", 0, 0, {0}},
    {DG_LAYER_CONCAT, "Concat", 0, 0, {0}},
};

static const struct layer_rule *rule_for(int32_t kind)
{
    for (size_t k = 0; k < sizeof layer_rules / sizeof *layer_rules; k++)
        if (layer_rules[k].kind == kind) return &layer_rules[k];
    return NULL;
}

static int rank_of(const exporter *ex, int32_t src)
{
    return src < 0 ? ex->input_rank : ex->ranks[src];
}

/* The result of layer src (-1: the model input) as a `rank`-D tensor
 * (0: as it is), adapted for the node `user` by a Flatten ([N, C, H, W]
 * to [N, C*H*W]) or a Reshape ([N, F] to [N, F, 1, 1]). */
static const char *operand(exporter *ex, int32_t src, int rank,
                           const char *user)
{
    const char *name = src < 0 ? "input" : ex->outputs[src];
    if (!rank || rank == rank_of(ex, src)) return name;
    if (rank == 2) {
        char *flat = format(ex, "%s.flatten", user);
        attr_int(ex, add_node(ex, "Flatten", flat, flat, &name, 1), "axis", 1);
        return flat;
    }
    static const int64_t to_4d[] = {0, -1, 1, 1}; /* N copied, F inferred */
    const char *in[2] = {
        name, add_int64s(ex, format(ex, "%s.unflatten_shape", user), to_4d, 4)};
    char *unflat = format(ex, "%s.unflatten", user);
    add_node(ex, "Reshape", unflat, unflat, in, 2);
    return unflat;
}

/* Parameter p of layer l as an initializer, pruned units zeroed. */
static const char *add_param(exporter *ex, const dg_layer *l, uint32_t p,
                             const char *node, const char *what)
{
    int64_t dims[4] = {(int64_t)l->param_len[p]};
    size_t n_dims = 1;
    if (p == 0 && l->kind == DG_LAYER_CONV) {
        n_dims = 4;
        dims[0] = l->units;
        dims[1] = l->in.c / l->groups;
        dims[2] = dims[3] = l->kernel;
    } else if (p == 0 && l->kind == DG_LAYER_LINEAR) {
        n_dims = 2;
        dims[0] = l->units;
        dims[1] = (int64_t)dg_shape_size(l->in);
    }
    /* The mask multiplies a unit's output: zero weights and bias do too. */
    const uint8_t *mask = p < l->n_trainable ? l->mask : NULL;
    return add_floats(ex, format(ex, "%s.%s", node, what), dims, n_dims,
                      l->param[p], l->param_len[p], mask,
                      l->param_len[p] / dg_layer_units(l));
}

/* The attributes of a conv or pooling node. */
static void window_attrs(exporter *ex, Onnx__NodeProto *node,
                         const dg_layer *l)
{
    if (l->kind == DG_LAYER_AVGPOOL)
        attr_int(ex, node, "count_include_pad", 0);
    if (l->kind == DG_LAYER_CONV && l->groups > 1)
        attr_int(ex, node, "group", l->groups);
    attr_repeat(ex, node, "kernel_shape", l->kernel, 2);
    attr_repeat(ex, node, "strides", l->stride, 2);
    attr_repeat(ex, node, "pads", l->padding, 4);
    if (l->kind != DG_LAYER_CONV && l->ceil_mode)
        attr_int(ex, node, "ceil_mode", 1);
}

/* HardSigmoid(x) with alpha 1/6 and beta 1/2, the factor of HardSwish. */
static const char *export_hardswish_gate(exporter *ex, const char *x,
                                         const char *user)
{
    char *gate = format(ex, "%s.gate", user);
    Onnx__NodeProto *node = add_node(ex, "HardSigmoid", gate, gate, &x, 1);
    attr_float(ex, node, "alpha", 1.0f / 6.0f);
    attr_float(ex, node, "beta", 0.5f);
    return gate;
}

static void export_layer(exporter *ex, uint32_t i)
{
    const dg_layer *l = &ex->m->layers[i];
    const struct layer_rule *r = rule_for(l->kind);
    if (!r) {
        ex->status =
            dg_fail(DG_E_INTERNAL, "layer %u has unknown kind %d", i, l->kind);
        return;
    }
    if (l->mask && l->kind != DG_LAYER_CONV && l->kind != DG_LAYER_LINEAR) {
        ex->status = dg_fail(DG_E_UNSUPPORTED,
                             "layer %u (%s) has a pruning mask; only conv "
                             "and linear layers can be pruned",
                             i, dg_layer_kind_name(l->kind));
        return;
    }
    char *name = format(ex, "%s%u", dg_layer_kind_name(l->kind), i);
    const char *in[5];
    size_t n_in = 0;
    int rank_in = r->rank_in;
    /* Two operands of different ranks: [N, C] and [N, C, 1, 1] (add,
     * concat; either rank will do), or a product's broadcast [N, C], which
     * must be [N, C, 1, 1] to broadcast over [N, C, H, W]. */
    int binary = dg_layer_binary(l->kind);
    if (binary && rank_of(ex, l->input[0]) != rank_of(ex, l->input[1]))
        rank_in = l->kind == DG_LAYER_MUL ? 4 : 2;
    in[n_in++] = operand(ex, l->input[0], rank_in, name);
    if (binary) in[n_in++] = operand(ex, l->input[1], rank_in, name);
    for (uint32_t p = 0; p < l->n_params; p++)
        in[n_in++] = add_param(ex, l, p, name, r->params[p]);
    if (l->kind == DG_LAYER_DROPOUT)
        in[n_in++] = add_floats(ex, format(ex, "%s.ratio", name), NULL, 0,
                                &l->rate, 1, NULL, 1);
    if (l->kind == DG_LAYER_CLIP) {
        in[n_in++] = add_floats(ex, format(ex, "%s.min", name), NULL, 0,
                                &l->alpha, 1, NULL, 1);
        in[n_in++] = add_floats(ex, format(ex, "%s.max", name), NULL, 0,
                                &l->beta, 1, NULL, 1);
    }
    if (l->kind == DG_LAYER_HARDSWISH)
        in[n_in++] = export_hardswish_gate(ex, in[0], name);
    if (l->kind == DG_LAYER_PAD) {
        const int64_t pads[8] = {0, 0, l->pad[0], l->pad[1],
                                 0, 0, l->pad[2], l->pad[3]};
        in[n_in++] = add_int64s(ex, format(ex, "%s.pads", name), pads, 8);
        in[n_in++] = add_floats(ex, format(ex, "%s.value", name), NULL, 0,
                                &l->alpha, 1, NULL, 1);
    }
    ex->outputs[i] = i + 1 == ex->m->n_layers ? "output" : name;
    ex->ranks[i] = r->rank_out ? r->rank_out
                   : rank_in   ? rank_in
                               : rank_of(ex, l->input[0]);
    Onnx__NodeProto *node = add_node(ex, r->op, name, ex->outputs[i], in, n_in);
    switch (l->kind) {
    case DG_LAYER_CONV:
    case DG_LAYER_MAXPOOL:
    case DG_LAYER_AVGPOOL: window_attrs(ex, node, l); break;
    case DG_LAYER_FLATTEN:
    case DG_LAYER_CONCAT:
    case DG_LAYER_SOFTMAX: attr_int(ex, node, "axis", 1); break;
    case DG_LAYER_LINEAR: attr_int(ex, node, "transB", 1); break;
    case DG_LAYER_BATCHNORM: attr_float(ex, node, "epsilon", l->eps); break;
    case DG_LAYER_HARDSIGMOID:
        attr_float(ex, node, "alpha", l->alpha);
        attr_float(ex, node, "beta", l->beta);
        break;
    default: break;
    }
}

/* ------------------------------------------------------------------------ */
/* The model                                                                */
/* ------------------------------------------------------------------------ */

/* A float tensor [batch, C, H, W] (rank 4) or [batch, C] (rank 2). */
static Onnx__ValueInfoProto *value_info(exporter *ex, const char *name,
                                        dg_shape s, int rank)
{
    Onnx__ValueInfoProto *vi = arena_alloc(ex, sizeof *vi);
    Onnx__TypeProto *type = arena_alloc(ex, sizeof *type);
    Onnx__TypeProto__Tensor *tensor = arena_alloc(ex, sizeof *tensor);
    Onnx__TensorShapeProto *shape = arena_alloc(ex, sizeof *shape);
    Onnx__TensorShapeProto__Dimension *dims =
        arena_array(ex, (size_t)rank, sizeof *dims);
    Onnx__TensorShapeProto__Dimension **list =
        arena_array(ex, (size_t)rank, sizeof *list);
    char *copy = format(ex, "%s", name), *batch = format(ex, "batch");
    if (!vi || !type || !tensor || !shape || !dims || !list || !copy || !batch)
        return NULL;
    const uint32_t sizes[4] = {0, s.c, s.h, s.w};
    for (int d = 0; d < rank; d++) {
        onnx__tensor_shape_proto__dimension__init(&dims[d]);
        if (d == 0) {
            dims[d].value_case =
                ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dims[d].dim_param = batch;
        } else {
            dims[d].value_case =
                ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[d].dim_value = sizes[d];
        }
        list[d] = &dims[d];
    }
    onnx__tensor_shape_proto__init(shape);
    shape->n_dim = (size_t)rank;
    shape->dim = list;
    onnx__type_proto__tensor__init(tensor);
    tensor->has_elem_type = 1;
    tensor->elem_type = TYPE_FLOAT;
    tensor->shape = shape;
    onnx__type_proto__init(type);
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    onnx__value_info_proto__init(vi);
    vi->name = copy;
    vi->type = type;
    return vi;
}

/* [N, F] for a 1 x 1 input that no spatial layer reads, else [N, C, H, W]. */
static int input_rank(const dg_model *m)
{
    if (m->input.h != 1 || m->input.w != 1) return 4;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const dg_layer *l = &m->layers[i];
        int reads =
            l->input[0] < 0 || (dg_layer_binary(l->kind) && l->input[1] < 0);
        if (reads && rule_for(l->kind) && rule_for(l->kind)->rank_in == 4)
            return 4;
    }
    return 2;
}

static void build_graph(exporter *ex)
{
    const dg_model *m = ex->m;
    Onnx__GraphProto *g = &ex->graph;
    onnx__graph_proto__init(g);
    ex->node_cap = (size_t)m->n_layers * NODES_PER_LAYER;
    ex->initializer_cap = (size_t)m->n_layers * INITIALIZERS_PER_LAYER;
    g->node = arena_array(ex, ex->node_cap, sizeof *g->node);
    g->initializer =
        arena_array(ex, ex->initializer_cap, sizeof *g->initializer);
    ex->outputs = arena_array(ex, m->n_layers, sizeof *ex->outputs);
    ex->ranks = arena_array(ex, m->n_layers, sizeof *ex->ranks);
    Onnx__ValueInfoProto **in = arena_array(ex, 1, sizeof *in);
    Onnx__ValueInfoProto **out = arena_array(ex, 1, sizeof *out);
    g->name = format(ex, "diffguard");
    if (ex->status != DG_OK) return;
    ex->input_rank = input_rank(m);
    for (uint32_t i = 0; i < m->n_layers && ex->status == DG_OK; i++)
        export_layer(ex, i);
    if (ex->status != DG_OK) return;
    in[0] = value_info(ex, "input", m->input, ex->input_rank);
    out[0] = value_info(ex, "output", dg_model_output_shape(m),
                        ex->ranks[m->n_layers - 1]);
    g->n_input = g->n_output = 1;
    g->input = in;
    g->output = out;
}

/* ------------------------------------------------------------------------ */
/* Metadata: what a runtime needs around the graph                          */
/* ------------------------------------------------------------------------ */

/* v[0..n-1] as a JSON array of numbers. */
static char *json_numbers(exporter *ex, const float *v, uint32_t n)
{
    char *s = arena_alloc(ex, (size_t)n * 18 + 3);
    if (!s) return NULL;
    size_t at = 0;
    s[at++] = '[';
    for (uint32_t k = 0; k < n; k++)
        at += (size_t)sprintf(s + at, "%s%.9g", k ? "," : "", (double)v[k]);
    memcpy(s + at, "]", 2);
    return s;
}

/* The model's class names as a JSON array of strings: quote, backslash
 * and control characters escaped, other bytes (UTF-8) as they are. */
static char *json_class_names(exporter *ex, const dg_model *m)
{
    /* Each byte takes at most 6 ("\u001f"), each name 3 more. */
    char *s = arena_array(ex, m->n_class_names, DG_CLASS_NAME_CAP * 6 + 3);
    if (!s) return NULL;
    size_t at = 0;
    s[at++] = '[';
    for (uint32_t k = 0; k < m->n_class_names; k++) {
        if (k) s[at++] = ',';
        s[at++] = '"';
        for (const char *c = m->class_names[k]; *c; c++) {
            if (*c == '"' || *c == '\\') {
                s[at++] = '\\';
                s[at++] = *c;
            } else if ((unsigned char)*c < 0x20) {
                at += (size_t)sprintf(s + at, "\\u%04x", (unsigned)*c);
            } else {
                s[at++] = *c;
            }
        }
        s[at++] = '"';
    }
    memcpy(s + at, "]", 2);
    return s;
}

static Onnx__StringStringEntryProto *entry(exporter *ex, const char *key,
                                           char *value)
{
    Onnx__StringStringEntryProto *e = arena_alloc(ex, sizeof *e);
    if (!e || !value) return NULL;
    onnx__string_string_entry_proto__init(e);
    e->key = format(ex, "%s", key);
    e->value = value;
    return e;
}

/* metadata_props (doc/onnx.md, "Metadata"): the preprocessing that makes
 * an image model's input from 8-bit pixels, the class names, and what the
 * output is; the same in words in doc_string. */
static void build_metadata(exporter *ex, Onnx__ModelProto *model)
{
    const dg_model *m = ex->m;
    const dg_preprocess *p = &m->pre;
    /* Other inputs (features, 20 channels) are not made from pixels. */
    int image = p->channels == 1 || p->channels == 3;
    int probabilities = m->layers[m->n_layers - 1].kind == DG_LAYER_SOFTMAX;
    const char *output = probabilities ? "probabilities" : "logits";
    enum { MAX_ENTRIES = 5 };
    Onnx__StringStringEntryProto **props =
        arena_array(ex, MAX_ENTRIES, sizeof *props);
    size_t n = 0;
    if (image) {
        push(ex, (void **)props, &n, MAX_ENTRIES,
             entry(ex, DG_ONNX_META_SCALE,
                   format(ex, "%.9g", (double)p->scale)));
        push(ex, (void **)props, &n, MAX_ENTRIES,
             entry(ex, DG_ONNX_META_MEAN,
                   json_numbers(ex, p->mean, p->channels)));
        push(ex, (void **)props, &n, MAX_ENTRIES,
             entry(ex, DG_ONNX_META_STD,
                   json_numbers(ex, p->std, p->channels)));
    }
    push(ex, (void **)props, &n, MAX_ENTRIES,
         entry(ex, DG_ONNX_META_OUTPUT, format(ex, "%s", output)));
    if (m->n_class_names)
        push(ex, (void **)props, &n, MAX_ENTRIES,
             entry(ex, DG_ONNX_META_CLASS_NAMES, json_class_names(ex, m)));
    model->n_metadata_props = n;
    model->metadata_props = props;
    const char *input =
        !image ? ""
        : format(ex,
                 ", from 8-bit %s pixels p resized to %ux%u: (p * %s - "
                 "%s[c]) / %s[c] per channel c",
                 p->channels == 3 ? "RGB" : "gray", p->height, p->width,
                 DG_ONNX_META_SCALE, DG_ONNX_META_MEAN, DG_ONNX_META_STD);
    model->doc_string = format(
        ex, "input: float32 [N, %u, %u, %u]%s; output: %u %s%s",
        m->input.c, m->input.h, m->input.w, input,
        (unsigned)dg_shape_size(dg_model_output_shape(m)), output,
        m->n_class_names ? ", classes in " DG_ONNX_META_CLASS_NAMES : "");
}

static void build_model(exporter *ex, Onnx__ModelProto *model)
{
    Onnx__OperatorSetIdProto *opset = arena_alloc(ex, sizeof *opset);
    Onnx__OperatorSetIdProto **opsets = arena_array(ex, 1, sizeof *opsets);
    char *domain = format(ex, "%s", "");
    onnx__model_proto__init(model);
    model->producer_name = format(ex, "libdiffguard");
    model->producer_version = format(ex, "%s", DG_VERSION_STRING);
    build_graph(ex);
    if (ex->status != DG_OK) return;
    onnx__operator_set_id_proto__init(opset);
    opset->domain = domain;
    opset->has_version = 1;
    opset->version = OPSET;
    opsets[0] = opset;
    model->has_ir_version = 1;
    model->ir_version = IR_VERSION;
    model->n_opset_import = 1;
    model->opset_import = opsets;
    model->graph = &ex->graph;
    build_metadata(ex, model);
}

dg_status dg_onnx_write(const dg_model *m, dg_writer *w)
{
    exporter ex = {.m = m};
    Onnx__ModelProto model;
    build_model(&ex, &model);
    dg_status s = ex.status;
    size_t size = s == DG_OK ? onnx__model_proto__get_packed_size(&model) : 0;
    if (size > DG_ONNX_MAX_SIZE)
        s = dg_fail(DG_E_UNSUPPORTED,
                    "the ONNX model would be %zu bytes, more than the %zu "
                    "that import accepts",
                    size, DG_ONNX_MAX_SIZE);
    if (s == DG_OK) {
        size_t at = dg_put_space(w, size);
        if (w->status == DG_OK) onnx__model_proto__pack(&model, w->data + at);
        s = w->status;
    }
    arena_free(&ex);
    return s;
}
