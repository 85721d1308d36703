/* onnx_import.c - reads an ONNX ModelProto into a dg_model (doc/onnx.md).
 *
 * The bytes are first walked without allocating, to bound how deeply
 * messages nest: protobuf-c recurses once per level and would overflow the
 * stack on a hostile file.  protobuf-c then unpacks them under an
 * allocation budget proportional to their size.  Nodes are mapped in the
 * file's (topological) order, each through a row of the operator table;
 * every new layer is checked and shaped by dg_model_finalize at once, so
 * later nodes see the real shapes of their inputs. */
#include "io/onnx.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "io/file_kind.h"
#include "onnx.pb-c.h"

/* Real models nest about 8 deep (model, graph, value info, type, shape,
 * dimension); 64 leaves room for sub-graphs yet keeps the stack small. */
#define MAX_NESTING 64

/* Default-domain operator sets whose semantics this file implements. */
#define OPSET_MIN 7
#define OPSET_MAX 21

/* protobuf-c may allocate this much: weights make a real model's decoded
 * size close to its file size, while a hostile file of empty sub-messages
 * would need a hundred times it. */
#define BUDGET_FACTOR 16
#define BUDGET_BASE ((size_t)64 << 20)

/* Short names for the generated enumerators. */
#define TYPE_FLOAT ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define TYPE_INT64 ONNX__TENSOR_PROTO__DATA_TYPE__INT64
#define ATTR_FLOAT ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
#define ATTR_INT ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
#define ATTR_STRING ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING
#define ATTR_TENSOR ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR
#define ATTR_FLOATS ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
#define ATTR_INTS ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS

/* ------------------------------------------------------------------------ */
/* Bounded decoding                                                         */
/* ------------------------------------------------------------------------ */

static int read_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70 && *pos < len; shift += 7) {
        uint8_t b = p[(*pos)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return 1;
    }
    return 0;
}

/* Walks the fields of one message of type `desc` (bytes p[0..len), at
 * file offset `at`), descending into the fields that hold messages. */
static dg_status check_nesting(const ProtobufCMessageDescriptor *desc,
                               const uint8_t *p, size_t len, size_t at,
                               unsigned depth)
{
    if (depth > MAX_NESTING)
        return dg_fail(DG_E_FORMAT,
                       "ONNX messages nest more than %d deep at offset %zu",
                       MAX_NESTING, at);
    size_t pos = 0;
    while (pos < len) {
        size_t field_at = pos;
        uint64_t key, scalar, n = 0;
        int ok = read_varint(p, len, &pos, &key);
        unsigned wire = ok ? (unsigned)(key & 7) : 8;
        if (wire == 0)
            ok = read_varint(p, len, &pos, &scalar);
        else if (wire == 1)
            n = 8;
        else if (wire == 5)
            n = 4;
        else if (wire == 2)
            ok = read_varint(p, len, &pos, &n);
        else
            ok = 0; /* groups, which ONNX never uses, or garbage */
        if (!ok || n > len - pos)
            return dg_fail(DG_E_FORMAT,
                           "not a valid ONNX model: malformed protobuf field "
                           "at offset %zu",
                           at + field_at);
        const ProtobufCFieldDescriptor *f = NULL;
        if (wire == 2 && key >> 3 <= UINT32_MAX)
            f = protobuf_c_message_descriptor_get_field(desc,
                                                        (unsigned)(key >> 3));
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE)
            DG_TRY(check_nesting(f->descriptor, p + pos, (size_t)n, at + pos,
                                 depth + 1));
        pos += (size_t)n;
    }
    return DG_OK;
}

typedef struct budget {
    size_t limit, left;
    int exceeded, exhausted;
} budget;

static void *budget_alloc(void *data, size_t size)
{
    budget *b = data;
    if (size > b->left) {
        b->exceeded = 1;
        return NULL;
    }
    b->left -= size;
    void *p = malloc(size);
    b->exhausted |= !p;
    return p;
}

static void budget_free(void *data, void *p)
{
    (void)data;
    free(p);
}

static dg_status unpack(const uint8_t *data, size_t size, budget *b,
                        ProtobufCAllocator *alloc, Onnx__ModelProto **out)
{
    dg_file_kind kind = dg_file_kind_of(data, size);
    if (kind != DG_FILE_UNKNOWN && kind != DG_FILE_ONNX)
        return dg_fail(DG_E_FORMAT, "not an ONNX model: %s",
                       dg_file_kind_advice(kind));
    DG_TRY(check_nesting(&onnx__model_proto__descriptor, data, size, 0, 0));
    b->limit = size <= (SIZE_MAX - BUDGET_BASE) / BUDGET_FACTOR
                   ? size * BUDGET_FACTOR + BUDGET_BASE
                   : SIZE_MAX;
    b->left = b->limit;
    *out = onnx__model_proto__unpack(alloc, size, data);
    if (*out) return DG_OK;
    if (b->exhausted)
        return dg_fail(DG_E_NOMEM, "out of memory decoding the ONNX model");
    if (b->exceeded)
        return dg_fail(DG_E_FORMAT,
                       "the %zu-byte ONNX model would take more than %zu "
                       "bytes to decode",
                       size, b->limit);
    return dg_fail(DG_E_FORMAT, "not a valid ONNX model: protobuf decoding "
                                "failed");
}

/* ------------------------------------------------------------------------ */
/* Values, nodes and attributes                                             */
/* ------------------------------------------------------------------------ */

/* A named tensor of the graph: an activation or a constant. */
typedef struct value {
    const char *name;                /* NULL marks a free table slot */
    int rank;                        /* activation: 2 or 4; constant: 0 */
    int32_t layer;                   /* activation: producer, -1 = input */
    int alias;                       /* another name for a layer's result */
    const Onnx__TensorProto *tensor; /* constant: initializer or Constant */
} value;

typedef struct importer {
    const Onnx__GraphProto *graph;
    int64_t opset;
    dg_model *m;
    uint32_t layer_cap; /* layers allocated in m; m->n_layers are used */
    /* Every name the graph can define (initializers, inputs, node
     * outputs), sorted: a hostile file cannot make the lookups slower
     * than log n, as it could a hash table by colliding its names. */
    const char **names;
    size_t n_names;
    value *values; /* values[k] is names[k] once defined (name set) */
    size_t *uses;  /* node inputs and graph outputs reading names[k] */
    const Onnx__NodeProto *node; /* being mapped, for details */
    size_t node_index;
} importer;

/* A constant input, its dimensions checked against its data. */
typedef struct tensor {
    const Onnx__TensorProto *t;
    size_t n_dims;
    int64_t dims[4];
    size_t count;
} tensor;

static const char *text(const char *s) { return s ? s : ""; }

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
    return e ? e->name : "unknown";
}

static const char *type_name(int32_t data_type)
{
    return enum_name(&onnx__tensor_proto__data_type__descriptor, data_type);
}

/* Fails naming the node being mapped. */
DG_PRINTF(3, 4)
static dg_status node_fail(const importer *im, dg_status s, const char *fmt,
                           ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return dg_fail(s, "node %zu '%.120s' (%.60s): %s", im->node_index,
                   text(im->node->name), text(im->node->op_type), what);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The index of the first copy of name in im->names, or n_names. */
static size_t name_index(const importer *im, const char *name)
{
    size_t lo = 0, hi = im->n_names;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(im->names[mid], name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < im->n_names && strcmp(im->names[lo], name) == 0 ? lo
                                                                 : im->n_names;
}

static const value *lookup(const importer *im, const char *name)
{
    size_t k = name_index(im, name);
    return k < im->n_names && im->values[k].name ? &im->values[k] : NULL;
}

static dg_status define(importer *im, const value *v)
{
    if (!*v->name)
        return dg_fail(DG_E_FORMAT, "a graph value has an empty name");
    size_t k = name_index(im, v->name);
    if (k == im->n_names)
        return dg_fail(DG_E_INTERNAL, "value '%.200s' is not indexed",
                       v->name);
    if (im->values[k].name)
        return dg_fail(DG_E_FORMAT, "value '%.200s' is defined twice", v->name);
    im->values[k] = *v;
    return DG_OK;
}

/* Counts the readers of an indexed name; other names have none to count. */
static void count_use(importer *im, const char *name)
{
    size_t k = name_index(im, name);
    if (k < im->n_names) im->uses[k]++;
}

/* Sorts every name the graph can define and counts each one's readers, in
 * O(n log n) for n names and inputs. */
static dg_status index_names(importer *im)
{
    const Onnx__GraphProto *g = im->graph;
    size_t n = g->n_initializer + g->n_input;
    for (size_t i = 0; i < g->n_node; i++) n += g->node[i]->n_output;
    size_t cap = n ? n : 1;
    DG_TRY(dg_alloc_array((void **)&im->names, cap, sizeof *im->names,
                          "ONNX name index"));
    DG_TRY(dg_alloc_array((void **)&im->values, cap, sizeof *im->values,
                          "ONNX value table"));
    DG_TRY(dg_alloc_array((void **)&im->uses, cap, sizeof *im->uses,
                          "ONNX use counts"));
    for (size_t k = 0; k < g->n_initializer; k++)
        im->names[im->n_names++] = text(g->initializer[k]->name);
    for (size_t k = 0; k < g->n_input; k++)
        im->names[im->n_names++] = text(g->input[k]->name);
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_output; k++)
            im->names[im->n_names++] = text(g->node[i]->output[k]);
    qsort(im->names, im->n_names, sizeof *im->names, compare_names);
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            count_use(im, g->node[i]->input[k]);
    for (size_t k = 0; k < g->n_output; k++)
        count_use(im, text(g->output[k]->name));
    return DG_OK;
}

/* How many node inputs and graph outputs read `name`. */
static size_t count_uses(const importer *im, const char *name)
{
    size_t k = name_index(im, name);
    return k < im->n_names ? im->uses[k] : 0;
}

static int has_input(const importer *im, size_t k)
{
    return k < im->node->n_input && *im->node->input[k];
}

/* The value read by input k; find_rule checked that every input exists. */
static dg_status input_value(const importer *im, size_t k, const value **out)
{
    if (!has_input(im, k))
        return node_fail(im, DG_E_FORMAT, "input %zu is missing", k);
    *out = lookup(im, im->node->input[k]);
    return DG_OK;
}

static dg_shape shape_of(const importer *im, const value *v)
{
    return v->layer < 0 ? im->m->input : im->m->layers[v->layer].out;
}

/* The constant read by input k: of `data_type`, with min_dims to max_dims
 * dimensions, holding exactly the data its dimensions need. */
static dg_status constant(const importer *im, size_t k, int32_t data_type,
                          size_t min_dims, size_t max_dims, tensor *out)
{
    const value *v = NULL;
    DG_TRY(input_value(im, k, &v));
    const char *name = v->name;
    const Onnx__TensorProto *t = v->tensor;
    if (v->rank)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "input '%.200s' is computed; only an initializer "
                         "or a Constant is supported there",
                         name);
    if (t->data_type != data_type)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "input '%.200s' has data type %s; only %s is "
                         "supported",
                         name, type_name(t->data_type), type_name(data_type));
    if (t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL ||
        t->n_external_data || t->segment)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "input '%.200s' keeps its data outside the tensor "
                         "(external or segmented); that is not supported",
                         name);
    if (t->n_dims < min_dims || t->n_dims > max_dims)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "input '%.200s' has %zu dimensions; only %zu to %zu "
                         "are supported",
                         name, t->n_dims, min_dims, max_dims);
    out->t = t;
    out->n_dims = t->n_dims;
    out->count = 1;
    size_t width = data_type == TYPE_FLOAT ? 4 : 8;
    for (size_t d = 0; d < t->n_dims; d++) {
        out->dims[d] = t->dims[d];
        if (t->dims[d] < 0 || t->dims[d] > UINT32_MAX ||
            !dg_mul_ok(out->count, (size_t)t->dims[d], &out->count) ||
            out->count > DG_MAX_ALLOC / width)
            return node_fail(im, DG_E_FORMAT,
                             "input '%.200s' has invalid dimension %zu "
                             "(%lld)",
                             name, d, (long long)t->dims[d]);
    }
    size_t held = t->has_raw_data           ? t->raw_data.len / width
                  : data_type == TYPE_FLOAT ? t->n_float_data
                                            : t->n_int64_data;
    if (held != out->count || (t->has_raw_data && t->raw_data.len % width))
        return node_fail(im, DG_E_FORMAT,
                         "input '%.200s' holds %zu values; its dimensions "
                         "need %zu",
                         name, held, out->count);
    return DG_OK;
}

/* Raw data is little-endian whatever the host. */
static uint64_t load_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int k = bytes - 1; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

static float tensor_float(const tensor *t, size_t i)
{
    if (!t->t->has_raw_data) return t->t->float_data[i];
    uint32_t bits = (uint32_t)load_le(t->t->raw_data.data + 4 * i, 4);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static int64_t tensor_int64(const tensor *t, size_t i)
{
    if (!t->t->has_raw_data) return t->t->int64_data[i];
    return (int64_t)load_le(t->t->raw_data.data + 8 * i, 8);
}

/* Copies a float tensor into parameter p of l; with `transpose`, the
 * rows x columns matrix is stored as columns x rows. */
static dg_status set_param(dg_layer *l, uint32_t p, const tensor *t,
                           int transpose)
{
    DG_TRY(dg_alloc_aligned(&l->param[p], t->count, "ONNX weights"));
    l->param_len[p] = t->count;
    size_t rows = (size_t)t->dims[0], cols = rows ? t->count / rows : 0;
    for (size_t i = 0; i < t->count; i++) {
        size_t to = transpose ? (i % cols) * rows + i / cols : i;
        l->param[p][to] = tensor_float(t, i);
    }
    return DG_OK;
}

static dg_status find_attr(const importer *im, const char *name,
                           Onnx__AttributeProto__AttributeType type,
                           const Onnx__AttributeProto **out)
{
    *out = NULL;
    for (size_t k = 0; k < im->node->n_attribute; k++) {
        const Onnx__AttributeProto *a = im->node->attribute[k];
        if (strcmp(a->name, name) != 0) continue;
        if (a->type != type)
            return node_fail(
                im, DG_E_FORMAT, "attribute %s is of type %s, not %s", name,
                enum_name(&onnx__attribute_proto__attribute_type__descriptor,
                          a->type),
                enum_name(&onnx__attribute_proto__attribute_type__descriptor,
                          type));
        *out = a;
    }
    return DG_OK;
}

static dg_status attr_int(const importer *im, const char *name,
                          int64_t fallback, int64_t *v)
{
    const Onnx__AttributeProto *a;
    DG_TRY(find_attr(im, name, ATTR_INT, &a));
    *v = a ? a->i : fallback;
    return DG_OK;
}

static dg_status attr_float(const importer *im, const char *name,
                            float fallback, float *v)
{
    const Onnx__AttributeProto *a;
    DG_TRY(find_attr(im, name, ATTR_FLOAT, &a));
    *v = a ? a->f : fallback;
    return DG_OK;
}

/* A list attribute; absent gives n = 0. */
static dg_status attr_ints(const importer *im, const char *name,
                           const int64_t **v, size_t *n)
{
    const Onnx__AttributeProto *a;
    DG_TRY(find_attr(im, name, ATTR_INTS, &a));
    *v = a ? a->ints : NULL;
    *n = a ? a->n_ints : 0;
    return DG_OK;
}

/* Attributes whose only supported value is fixed (every element, for a
 * list), of one operator (NULL: of any).  Each node's attributes are
 * checked against this table before its operator is mapped. */
static const struct restriction {
    const char *op, *name;
    double only;
} restrictions[] = {
    {NULL, "dilations", 1},
    {NULL, "storage_order", 0}, {NULL, "training_mode", 0},
    {NULL, "spatial", 1},       {NULL, "transA", 0},
    {"Gemm", "alpha", 1},       {"Gemm", "beta", 1},
    {NULL, "allowzero", 0},
};

static dg_status check_restriction(const importer *im,
                                   const Onnx__AttributeProto *a)
{
    const struct restriction *r = NULL;
    for (size_t k = 0; k < sizeof restrictions / sizeof *restrictions; k++)
        if (strcmp(a->name, restrictions[k].name) == 0 &&
            (!restrictions[k].op ||
             strcmp(text(im->node->op_type), restrictions[k].op) == 0))
            r = &restrictions[k];
    if (!r) return DG_OK;
    size_t n = a->type == ATTR_INTS     ? a->n_ints
               : a->type == ATTR_FLOATS ? a->n_floats
                                        : 1;
    for (size_t k = 0; k < n; k++) {
        double v;
        switch (a->type) {
        case ATTR_INT: v = (double)a->i; break;
        case ATTR_INTS: v = (double)a->ints[k]; break;
        case ATTR_FLOAT: v = a->f; break;
        case ATTR_FLOATS: v = a->floats[k]; break;
        default:
            return node_fail(im, DG_E_FORMAT,
                             "attribute %s is not a number or a list of "
                             "numbers",
                             a->name);
        }
        if (v != r->only)
            return node_fail(im, DG_E_UNSUPPORTED,
                             "attribute %s = %g is not supported; only %g is",
                             a->name, v, r->only);
    }
    return DG_OK;
}

/* ------------------------------------------------------------------------ */
/* Layers                                                                   */
/* ------------------------------------------------------------------------ */

/* Gives the node's first output the value v (under the output's name). */
static dg_status emit(importer *im, value v)
{
    v.name = im->node->output[0];
    dg_status s = define(im, &v);
    return s == DG_OK ? DG_OK
                      : dg_fail_context(s, "node %zu '%.120s'", im->node_index,
                                        text(im->node->name));
}

static dg_status new_layer(importer *im, int32_t kind, const value *x,
                           dg_layer **out)
{
    dg_model *m = im->m;
    if (m->n_layers == im->layer_cap)
        return node_fail(im, DG_E_UNSUPPORTED, "more than %u layers",
                         im->layer_cap);
    dg_layer *l = &m->layers[m->n_layers++];
    l->kind = kind;
    l->input[0] = x->layer;
    l->input[1] = -1;
    *out = l;
    return DG_OK;
}

/* Checks and shapes the layer just added (allocating a bias that the node
 * left out, zeroed). */
static dg_status finalize_layer(const importer *im)
{
    dg_status s = dg_model_finalize(im->m);
    if (s != DG_OK)
        return dg_fail_context(s, "node %zu '%.120s' (%.60s)", im->node_index,
                               text(im->node->name), text(im->node->op_type));
    return DG_OK;
}

/* finalize_layer, then names the layer's result. */
static dg_status finish_layer(importer *im, int rank)
{
    DG_TRY(finalize_layer(im));
    return emit(im,
                (value){.rank = rank, .layer = (int32_t)im->m->n_layers - 1});
}

/* A Flatten or Reshape to [N, F] makes no layer at once: linear layers
 * flatten their input themselves and ReLU does not care, so the result may
 * stay a C x H x W map.  Other consumers call this to give such a value
 * the flatten layer it stands for. */
static dg_status settle(importer *im, value *x)
{
    dg_shape s = shape_of(im, x);
    dg_layer *l = NULL;
    if (x->rank != 2 || (s.h == 1 && s.w == 1)) return DG_OK;
    DG_TRY(new_layer(im, DG_LAYER_FLATTEN, x, &l));
    DG_TRY(finalize_layer(im));
    x->layer = (int32_t)im->m->n_layers - 1;
    return DG_OK;
}

/* Formats v as "[a, b, c, d, ...]" (4 values at most: 128 bytes hold them). */
static const char *ints_text(const int64_t *v, size_t n, char buf[128])
{
    size_t len = 0;
    buf[len++] = '[';
    for (size_t k = 0; k < n && k < 4; k++)
        len += (size_t)snprintf(buf + len, 128 - len, "%s%lld", k ? ", " : "",
                                (long long)v[k]);
    snprintf(buf + len, 128 - len, "%s]", n > 4 ? ", ..." : "");
    return buf;
}

/* The one value of a 2-D window attribute that repeats it `want` times. */
static dg_status uniform(const importer *im, const char *name, const int64_t *v,
                         size_t n, size_t want, const char *rule, uint32_t *out)
{
    char buf[128];
    int same = n == want;
    for (size_t k = 1; same && k < n; k++) same = v[k] == v[0];
    if (!same)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "attribute %s = %s is not supported; %s", name,
                         ints_text(v, n, buf), rule);
    if (v[0] < 0 || v[0] > DG_MAX_DIM)
        return node_fail(im, DG_E_FORMAT, "attribute %s = %s is out of range",
                         name, ints_text(v, n, buf));
    *out = (uint32_t)v[0];
    return DG_OK;
}

/* Kernel, stride and padding of a conv or pooling node into l.
 * weight_kernel is the conv weights' size (0 for pooling). */
static dg_status read_window(const importer *im, int64_t weight_kernel,
                             dg_layer *l)
{
    const int64_t *kernel, *strides, *pads;
    size_t n_kernel, n_strides, n_pads;
    const Onnx__AttributeProto *auto_pad;
    DG_TRY(attr_ints(im, "kernel_shape", &kernel, &n_kernel));
    DG_TRY(attr_ints(im, "strides", &strides, &n_strides));
    DG_TRY(attr_ints(im, "pads", &pads, &n_pads));
    DG_TRY(find_attr(im, "auto_pad", ATTR_STRING, &auto_pad));
    l->kernel = (uint32_t)weight_kernel;
    l->stride = 1;
    l->padding = 0;
    if (!n_kernel && !weight_kernel)
        return node_fail(im, DG_E_FORMAT, "attribute kernel_shape is missing");
    if (n_kernel)
        DG_TRY(uniform(im, "kernel_shape", kernel, n_kernel, 2,
                       "only square 2-D kernels are", &l->kernel));
    if (weight_kernel && l->kernel != weight_kernel)
        return node_fail(im, DG_E_FORMAT,
                         "kernel_shape %u differs from the weights' %lld",
                         l->kernel, (long long)weight_kernel);
    if (n_strides)
        DG_TRY(uniform(im, "strides", strides, n_strides, 2,
                       "only equal strides are", &l->stride));
    if (n_pads)
        DG_TRY(uniform(im, "pads", pads, n_pads, 4,
                       "only equal padding on every side is", &l->padding));
    if (!auto_pad) return DG_OK;
    ProtobufCBinaryData s = auto_pad->s;
    int notset = s.len == 6 && memcmp(s.data, "NOTSET", 6) == 0;
    int valid = s.len == 5 && memcmp(s.data, "VALID", 5) == 0;
    if (!notset && !valid)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "attribute auto_pad = %.*s is not supported; only "
                         "NOTSET and VALID are",
                         (int)(s.len < 32 ? s.len : 32), (const char *)s.data);
    if (valid && l->padding)
        return node_fail(im, DG_E_FORMAT, "auto_pad VALID contradicts pads %u",
                         l->padding);
    return DG_OK;
}

/* ------------------------------------------------------------------------ */
/* Operators                                                                */
/* ------------------------------------------------------------------------ */

typedef struct op_rule op_rule;
typedef dg_status (*map_fn)(importer *im, const op_rule *op);

struct op_rule {
    const char *type;
    map_fn map;
    int32_t kind;   /* the layer it makes, if one */
    int rank;       /* of its activation input; 0: either */
    int reads_maps; /* takes [N, F] still held as C x H x W */
    size_t min_inputs, max_inputs;
    const char *attrs[8]; /* the attributes it understands */
};

/* The activation read by input k, which must be op->rank-D (0: either),
 * settled unless the operator reads unflattened maps. */
static dg_status activation(importer *im, size_t k, const op_rule *op,
                            value *out)
{
    const value *v = NULL;
    DG_TRY(input_value(im, k, &v));
    if (!v->rank)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "input '%.200s' is a constant; only computed "
                         "tensors are supported there",
                         v->name);
    if (op->rank && v->rank != op->rank)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "input '%.200s' is %d-D; only %d-D is supported",
                         v->name, v->rank, op->rank);
    *out = *v;
    return op->reads_maps ? DG_OK : settle(im, out);
}

static dg_status map_conv(importer *im, const op_rule *op)
{
    value x;
    tensor w, b;
    dg_layer *l = NULL;
    DG_TRY(activation(im, 0, op, &x));
    DG_TRY(constant(im, 1, TYPE_FLOAT, 4, 4, &w));
    if (w.dims[2] != w.dims[3] || w.dims[2] == 0)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "the weights' %lldx%lld kernel is not square",
                         (long long)w.dims[2], (long long)w.dims[3]);
    int64_t groups;
    DG_TRY(attr_int(im, "group", 1, &groups));
    if (groups < 1 || groups > DG_MAX_DIM * 64)
        return node_fail(im, DG_E_FORMAT, "attribute group = %lld is out of "
                                          "range",
                         (long long)groups);
    DG_TRY(new_layer(im, op->kind, &x, &l));
    l->units = (uint32_t)w.dims[0];
    l->groups = (uint32_t)groups;
    DG_TRY(read_window(im, w.dims[2], l));
    DG_TRY(set_param(l, 0, &w, 0));
    if (has_input(im, 2)) {
        DG_TRY(constant(im, 2, TYPE_FLOAT, 1, 1, &b));
        DG_TRY(set_param(l, 1, &b, 0));
    }
    return finish_layer(im, 4);
}

/* MaxPool, AveragePool.  The average never counts padding: with
 * count_include_pad = 1 that is right only without pads (PyTorch's
 * AvgPool2d writes it there, where it changes nothing: windows that
 * ceil_mode adds past the end count only the input they cover). */
static dg_status map_pool(importer *im, const op_rule *op)
{
    value x;
    int64_t ceil_mode, count_pad;
    dg_layer *l = NULL;
    DG_TRY(activation(im, 0, op, &x));
    DG_TRY(attr_int(im, "ceil_mode", 0, &ceil_mode));
    DG_TRY(attr_int(im, "count_include_pad", 0, &count_pad));
    if (ceil_mode != 0 && ceil_mode != 1)
        return node_fail(im, DG_E_FORMAT, "attribute ceil_mode = %lld",
                         (long long)ceil_mode);
    DG_TRY(new_layer(im, op->kind, &x, &l));
    DG_TRY(read_window(im, 0, l));
    l->ceil_mode = (uint32_t)ceil_mode;
    if (count_pad && l->padding)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "attribute count_include_pad = %lld with pads %u is "
                         "not supported; padding never counts in the mean "
                         "(count_include_pad 0, or no pads)",
                         (long long)count_pad, l->padding);
    return finish_layer(im, 4);
}

/* Relu, Sigmoid, HardSwish, GlobalAveragePool: a layer with no
 * settings. */
static dg_status map_plain(importer *im, const op_rule *op)
{
    value x;
    dg_layer *l = NULL;
    DG_TRY(activation(im, 0, op, &x));
    DG_TRY(new_layer(im, op->kind, &x, &l));
    return finish_layer(im, x.rank);
}

/* Input k as a scalar constant (Clip's bounds, Pad's value), or
 * `fallback` when left out. */
static dg_status scalar_input(const importer *im, size_t k, float fallback,
                            float *v)
{
    tensor t;
    *v = fallback;
    if (!has_input(im, k)) return DG_OK;
    DG_TRY(constant(im, k, TYPE_FLOAT, 0, 1, &t));
    if (t.count != 1)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "input '%.200s' has %zu values; only a scalar is "
                         "supported",
                         im->node->input[k], t.count);
    *v = tensor_float(&t, 0);
    return DG_OK;
}

/* Clip: bounds as inputs (opset 11 on) or attributes (before); an absent
 * bound is the largest float of its sign. */
static dg_status map_clip(importer *im, const op_rule *op)
{
    value x;
    float lo, hi;
    dg_layer *l = NULL;
    DG_TRY(activation(im, 0, op, &x));
    DG_TRY(attr_float(im, "min", -FLT_MAX, &lo));
    DG_TRY(attr_float(im, "max", FLT_MAX, &hi));
    DG_TRY(scalar_input(im, 1, lo, &lo));
    DG_TRY(scalar_input(im, 2, hi, &hi));
    DG_TRY(new_layer(im, op->kind, &x, &l));
    l->alpha = lo;
    l->beta = hi;
    return finish_layer(im, x.rank);
}

static dg_status map_hardsigmoid(importer *im, const op_rule *op)
{
    value x;
    dg_layer *l = NULL;
    DG_TRY(activation(im, 0, op, &x));
    DG_TRY(new_layer(im, op->kind, &x, &l));
    DG_TRY(attr_float(im, "alpha", 0.2f, &l->alpha));
    DG_TRY(attr_float(im, "beta", 0.5f, &l->beta));
    return finish_layer(im, x.rank);
}

/* Pad of a constant over rows and columns: pads and value as inputs
 * (opset 11 on) or attributes (before). */
static dg_status map_pad(importer *im, const op_rule *op)
{
    value x;
    const Onnx__AttributeProto *mode;
    int64_t pads[8];
    size_t n_pads = 0;
    float fill;
    char buf[128];
    dg_layer *l = NULL;
    DG_TRY(activation(im, 0, op, &x));
    DG_TRY(find_attr(im, "mode", ATTR_STRING, &mode));
    if (mode && !(mode->s.len == 8 && memcmp(mode->s.data, "constant", 8) == 0))
        return node_fail(im, DG_E_UNSUPPORTED,
                         "attribute mode = %.*s is not supported; only "
                         "constant is",
                         (int)(mode->s.len < 32 ? mode->s.len : 32),
                         (const char *)mode->s.data);
    if (im->opset >= 11) {
        tensor t;
        DG_TRY(constant(im, 1, TYPE_INT64, 1, 1, &t));
        n_pads = t.count;
        for (size_t k = 0; k < n_pads && k < 8; k++) pads[k] = tensor_int64(&t, k);
        DG_TRY(scalar_input(im, 2, 0.0f, &fill));
    } else {
        const int64_t *v;
        DG_TRY(attr_ints(im, "pads", &v, &n_pads));
        for (size_t k = 0; k < n_pads && k < 8; k++) pads[k] = v[k];
        DG_TRY(attr_float(im, "value", 0.0f, &fill));
    }
    int ok = n_pads == 8 && !pads[0] && !pads[1] && !pads[4] && !pads[5];
    for (size_t k = 0; ok && k < 8; k++) ok = pads[k] >= 0 && pads[k] <= DG_MAX_DIM;
    if (!ok)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "pads %s are not supported; only rows and columns "
                         "added (none removed) to a 4-D input are",
                         n_pads <= 8 ? ints_text(pads, n_pads, buf)
                                     : "of more than 8 values");
    DG_TRY(new_layer(im, op->kind, &x, &l));
    l->pad[0] = (uint32_t)pads[2];
    l->pad[1] = (uint32_t)pads[3];
    l->pad[2] = (uint32_t)pads[6];
    l->pad[3] = (uint32_t)pads[7];
    l->alpha = fill;
    return finish_layer(im, 4);
}

static dg_status map_softmax(importer *im, const op_rule *op)
{
    value x;
    int64_t axis;
    dg_layer *l = NULL;
    DG_TRY(activation(im, 0, op, &x));
    DG_TRY(attr_int(im, "axis", im->opset >= 13 ? -1 : 1, &axis));
    dg_shape s = shape_of(im, &x);
    /* Before opset 13 the softmax ran over all axes from `axis` on, which
     * are the channels alone only when there is no spatial extent. */
    int channels = (axis < 0 ? axis + x.rank : axis) == 1 &&
                   (x.rank == 2 || im->opset >= 13 || (s.h == 1 && s.w == 1));
    if (!channels)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "attribute axis = %lld on a %d-D input is not "
                         "supported; only the channel axis (1) is",
                         (long long)axis, x.rank);
    DG_TRY(new_layer(im, op->kind, &x, &l));
    return finish_layer(im, x.rank);
}

static dg_status map_batchnorm(importer *im, const op_rule *op)
{
    value x;
    dg_layer *l = NULL;
    DG_TRY(activation(im, 0, op, &x));
    DG_TRY(new_layer(im, op->kind, &x, &l));
    DG_TRY(attr_float(im, "epsilon", 1e-5f, &l->eps));
    /* scale, bias, mean, variance: the layer's parameter order */
    for (uint32_t p = 0; p < 4; p++) {
        tensor t;
        DG_TRY(constant(im, p + 1, TYPE_FLOAT, 1, 1, &t));
        DG_TRY(set_param(l, p, &t, 0));
    }
    return finish_layer(im, x.rank);
}

/* Gemm (weights O x I with transB = 1, else I x O) and MatMul (I x O). */
static dg_status map_linear(importer *im, const op_rule *op)
{
    value x;
    tensor w, c;
    int64_t trans_b;
    dg_layer *l = NULL;
    DG_TRY(activation(im, 0, op, &x));
    DG_TRY(constant(im, 1, TYPE_FLOAT, 2, 2, &w));
    DG_TRY(attr_int(im, "transB", 0, &trans_b));
    DG_TRY(new_layer(im, op->kind, &x, &l));
    l->units = (uint32_t)w.dims[trans_b ? 0 : 1];
    DG_TRY(set_param(l, 0, &w, !trans_b));
    if (has_input(im, 2)) {
        DG_TRY(constant(im, 2, TYPE_FLOAT, 1, 2, &c));
        if (c.n_dims == 2 && c.dims[0] != 1)
            return node_fail(im, DG_E_UNSUPPORTED,
                             "bias '%.200s' has %lld rows; only one is "
                             "supported",
                             im->node->input[2], (long long)c.dims[0]);
        DG_TRY(set_param(l, 1, &c, 0));
    }
    return finish_layer(im, 2);
}

/* Add(linear result, per-unit constant), as MatMul + Add exports a
 * linear layer: folded into that layer's bias when nothing else reads the
 * product (not even under another name). */
static dg_status fold_bias(importer *im, const value *x, size_t k)
{
    dg_layer *l = x->layer >= 0 ? &im->m->layers[x->layer] : NULL;
    tensor b;
    if (!l || l->kind != DG_LAYER_LINEAR || x->alias ||
        count_uses(im, x->name) != 1)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "adding a constant is supported only as the bias "
                         "of a MatMul or Gemm whose result nothing else "
                         "reads");
    DG_TRY(constant(im, k, TYPE_FLOAT, 1, 2, &b));
    if (b.count != l->units || (b.n_dims == 2 && b.dims[0] != 1))
        return node_fail(im, DG_E_UNSUPPORTED,
                         "bias '%.200s' has %zu values in %zu dimensions; "
                         "[%u] or [1, %u] is supported",
                         b.t->name ? b.t->name : im->node->input[k], b.count,
                         b.n_dims, l->units, l->units);
    for (size_t u = 0; u < b.count; u++) l->param[1][u] += tensor_float(&b, u);
    return emit(im, *x);
}

/* The two computed operands of a binary node, settled, of equal rank. */
static dg_status operands(importer *im, const char *what, value *a, value *b)
{
    const value *in[2] = {NULL, NULL};
    DG_TRY(input_value(im, 0, &in[0]));
    DG_TRY(input_value(im, 1, &in[1]));
    if (!in[0]->rank || !in[1]->rank)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "%s a constant is not supported; only two computed "
                         "tensors",
                         what);
    *a = *in[0];
    *b = *in[1];
    if (a->rank != b->rank)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "%s a %d-D and a %d-D tensor is not supported",
                         what, a->rank, b->rank);
    DG_TRY(settle(im, a));
    return settle(im, b);
}

static dg_status map_add(importer *im, const op_rule *op)
{
    const value *in[2] = {NULL, NULL};
    value a, b;
    dg_layer *l = NULL;
    DG_TRY(input_value(im, 0, &in[0]));
    DG_TRY(input_value(im, 1, &in[1]));
    if (!in[0]->rank && !in[1]->rank)
        return node_fail(im, DG_E_UNSUPPORTED, "adding two constants");
    if (!in[0]->rank || !in[1]->rank)
        return fold_bias(im, in[0]->rank ? in[0] : in[1], in[0]->rank ? 1 : 0);
    DG_TRY(operands(im, "adding", &a, &b));
    DG_TRY(new_layer(im, op->kind, &a, &l));
    l->input[1] = b.layer;
    return finish_layer(im, a.rank);
}

/* x * HardSigmoid(x) with PyTorch's slope and offset, the gate read by
 * nothing else and made last: HardSwish as operator set 13 writes it,
 * which becomes one hardswish layer (the gate turned into it). */
static int is_hardswish(const importer *im, const value *x, const value *gate)
{
    const dg_layer *l = gate->layer >= 0 ? &im->m->layers[gate->layer] : NULL;
    return l && l->kind == DG_LAYER_HARDSIGMOID && !gate->alias &&
           gate->layer == (int32_t)im->m->n_layers - 1 &&
           count_uses(im, gate->name) == 1 && l->input[0] == x->layer &&
           fabsf(l->alpha - 1.0f / 6.0f) < 1e-7f && l->beta == 0.5f;
}

/* Mul of two computed tensors of equal shape, or one of them [N, C, 1, 1]
 * (squeeze-and-excitation); x * HardSigmoid(x) becomes a hardswish. */
static dg_status map_mul(importer *im, const op_rule *op)
{
    value a, b;
    dg_layer *l = NULL;
    DG_TRY(operands(im, "multiplying", &a, &b));
    for (int k = 0; k < 2; k++) {
        const value *x = k ? &b : &a, *gate = k ? &a : &b;
        if (!is_hardswish(im, x, gate)) continue;
        im->m->layers[gate->layer].kind = DG_LAYER_HARDSWISH;
        return finish_layer(im, x->rank);
    }
    DG_TRY(new_layer(im, op->kind, &a, &l));
    l->input[1] = b.layer;
    return finish_layer(im, a.rank);
}

/* Concat over the channels: a concat layer per input after the first. */
static dg_status map_concat(importer *im, const op_rule *op)
{
    value acc;
    int64_t axis;
    DG_TRY(activation(im, 0, op, &acc));
    DG_TRY(attr_int(im, "axis", 1, &axis));
    if ((axis < 0 ? axis + acc.rank : axis) != 1)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "attribute axis = %lld is not supported; only the "
                         "channel axis (1) is",
                         (long long)axis);
    for (size_t k = 1; k < im->node->n_input; k++) {
        value next;
        dg_layer *l = NULL;
        DG_TRY(activation(im, k, op, &next));
        if (next.rank != acc.rank)
            return node_fail(im, DG_E_UNSUPPORTED,
                             "joining a %d-D and a %d-D tensor is not "
                             "supported",
                             acc.rank, next.rank);
        DG_TRY(new_layer(im, op->kind, &acc, &l));
        l->input[1] = next.layer;
        DG_TRY(finalize_layer(im));
        acc.layer = (int32_t)im->m->n_layers - 1;
    }
    acc.alias = im->node->n_input == 1;
    return emit(im, acc);
}

/* x as [N, F] (rank 2), left unflattened (see settle), or [N, F, 1, 1]
 * (rank 4), which needs the flatten layer. */
static dg_status to_features(importer *im, value x, int rank)
{
    x.rank = 2;
    if (rank == 4) DG_TRY(settle(im, &x));
    x.rank = rank;
    x.alias = 1;
    return emit(im, x);
}

static dg_status map_flatten(importer *im, const op_rule *op)
{
    value x;
    int64_t axis;
    DG_TRY(activation(im, 0, op, &x));
    DG_TRY(attr_int(im, "axis", 1, &axis));
    if ((axis < 0 ? axis + x.rank : axis) != 1)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "attribute axis = %lld is not supported; only 1 "
                         "(keep the batch dimension) is",
                         (long long)axis);
    return to_features(im, x, 2);
}

static dg_status map_reshape(importer *im, const op_rule *op)
{
    value x;
    tensor t;
    int64_t to[4];
    char buf[128];
    DG_TRY(activation(im, 0, op, &x));
    DG_TRY(constant(im, 1, TYPE_INT64, 1, 1, &t));
    int64_t features = (int64_t)dg_shape_size(shape_of(im, &x));
    int ok = t.count == 2 || t.count == 4;
    for (size_t k = 0; k < t.count && k < 4; k++) to[k] = tensor_int64(&t, k);
    /* [batch, F] or [batch, F, 1, 1], where batch may be copied (0),
     * inferred (-1) or fixed, and F may be inferred. */
    ok = ok && to[0] >= -1 &&
         (to[1] == features || (to[1] == -1 && to[0] != -1));
    for (size_t k = 2; ok && k < t.count; k++) ok = to[k] == 1;
    if (!ok)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "target shape %s is not supported; only [N, -1], "
                         "[N, %lld] and [N, %lld, 1, 1] are",
                         t.count <= 4 ? ints_text(to, t.count, buf)
                                      : "of more than 4 dimensions",
                         (long long)features, (long long)features);
    return to_features(im, x, (int)t.count);
}

/* Identity and Dropout (inference): the output is the input. */
static dg_status map_identity(importer *im, const op_rule *op)
{
    (void)op;
    const value *v = NULL;
    DG_TRY(input_value(im, 0, &v));
    value out = *v;
    out.alias = 1;
    return emit(im, out);
}

static dg_status map_constant(importer *im, const op_rule *op)
{
    (void)op;
    const Onnx__AttributeProto *a;
    DG_TRY(find_attr(im, "value", ATTR_TENSOR, &a));
    if (!a || !a->t)
        return node_fail(im, DG_E_FORMAT, "attribute value is missing");
    return emit(im, (value){.tensor = a->t});
}

/* The supported subset (doc/onnx.md): op_type, mapping, layer kind, input
 * rank, reads maps, inputs (least, most), attributes understood.  Other
 * attributes are refused; those with a fixed supported value are also in
 * `restrictions`. */
static const op_rule ops[] = {
    {"Conv", map_conv, DG_LAYER_CONV, 4, 0, 2, 3,
     {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}},
    {"MaxPool", map_pool, DG_LAYER_MAXPOOL, 4, 0, 1, 1,
     {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
      "storage_order", "strides"}},
    {"AveragePool", map_pool, DG_LAYER_AVGPOOL, 4, 0, 1, 1,
     {"auto_pad", "ceil_mode", "count_include_pad", "dilations",
      "kernel_shape", "pads", "strides"}},
    {"GlobalAveragePool", map_plain, DG_LAYER_GLOBAL_AVGPOOL, 4, 0, 1, 1, {0}},
    {"Relu", map_plain, DG_LAYER_RELU, 0, 1, 1, 1, {0}},
    {"Clip", map_clip, DG_LAYER_CLIP, 0, 1, 1, 3, {"min", "max"}},
    {"Sigmoid", map_plain, DG_LAYER_SIGMOID, 0, 1, 1, 1, {0}},
    {"HardSigmoid", map_hardsigmoid, DG_LAYER_HARDSIGMOID, 0, 1, 1, 1,
     {"alpha", "beta"}},
    {"HardSwish", map_plain, DG_LAYER_HARDSWISH, 0, 1, 1, 1, {0}},
    {"Pad", map_pad, DG_LAYER_PAD, 4, 0, 1, 3, {"mode", "pads", "value"}},
    {"Softmax", map_softmax, DG_LAYER_SOFTMAX, 0, 0, 1, 1, {"axis"}},
    {"BatchNormalization", map_batchnorm, DG_LAYER_BATCHNORM, 0, 0, 5, 5,
     {"epsilon", "momentum", "spatial", "training_mode"}},
    {"Gemm", map_linear, DG_LAYER_LINEAR, 2, 1, 2, 3,
     {"alpha", "beta", "transA", "transB"}},
    {"MatMul", map_linear, DG_LAYER_LINEAR, 2, 1, 2, 2, {0}},
    {"Add", map_add, DG_LAYER_ADD, 0, 0, 2, 2, {0}},
    {"Mul", map_mul, DG_LAYER_MUL, 0, 0, 2, 2, {0}},
    {"Concat", map_concat, DG_LAYER_CONCAT, 0, 0, 1, 64, {"axis"}},
    {"Flatten", map_flatten, 0, 0, 1, 1, 1, {"axis"}},
    {"Reshape", map_reshape, 0, 0, 1, 2, 2, {"allowzero"}},
    {"Identity", map_identity, 0, 0, 0, 1, 1, {0}},
    /* the ratio (input 1 or an attribute) does not matter at inference;
     * a training_mode input (2) is refused by the input count */
    {"Dropout", map_identity, 0, 0, 0, 1, 2, {"ratio", "seed"}},
    {"Constant", map_constant, 0, 0, 0, 0, 0, {"value"}},
};

static int understands(const op_rule *op, const char *attr)
{
    for (size_t k = 0; k < sizeof op->attrs / sizeof *op->attrs; k++)
        if (op->attrs[k] && strcmp(op->attrs[k], attr) == 0) return 1;
    return 0;
}

/* The rule for the current node, after the checks every operator shares:
 * domain, inputs (count, each defined before), attributes, and no use of
 * outputs after the first. */
static dg_status find_rule(const importer *im, const op_rule **out)
{
    const Onnx__NodeProto *n = im->node;
    const char *domain = text(n->domain);
    if (*domain && strcmp(domain, "ai.onnx") != 0)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "operators of domain '%.100s' are not supported",
                         domain);
    *out = NULL;
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
        if (strcmp(text(n->op_type), ops[k].type) == 0) *out = &ops[k];
    if (!*out)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "operator %.60s is not supported (doc/onnx.md lists "
                         "those that are)",
                         text(n->op_type));
    size_t inputs = n->n_input;
    while (inputs && !*n->input[inputs - 1]) inputs--; /* omitted optionals */
    if (inputs < (*out)->min_inputs || inputs > (*out)->max_inputs)
        return node_fail(im, DG_E_UNSUPPORTED,
                         "%zu inputs are not supported; %zu to %zu are", inputs,
                         (*out)->min_inputs, (*out)->max_inputs);
    for (size_t k = 0; k < inputs; k++)
        if (*n->input[k] && !lookup(im, n->input[k]))
            return node_fail(im, DG_E_FORMAT,
                             "input '%.200s' is not produced by an earlier "
                             "node, an initializer or a graph input",
                             n->input[k]);
    if (n->n_output == 0 || !*n->output[0])
        return node_fail(im, DG_E_FORMAT, "the node has no output");
    for (size_t k = 1; k < n->n_output; k++)
        if (*n->output[k] && count_uses(im, n->output[k]))
            return node_fail(im, DG_E_UNSUPPORTED,
                             "output %zu '%.200s' is used; only the first "
                             "output is supported",
                             k, n->output[k]);
    for (size_t k = 0; k < n->n_attribute; k++) {
        const Onnx__AttributeProto *a = n->attribute[k];
        if (!a->name)
            return node_fail(im, DG_E_FORMAT, "attribute %zu has no name", k);
        if (!understands(*out, a->name))
            return node_fail(im, DG_E_UNSUPPORTED,
                             "attribute %.60s is not supported", a->name);
        DG_TRY(check_restriction(im, a));
    }
    return DG_OK;
}

/* ------------------------------------------------------------------------ */
/* The graph                                                                */
/* ------------------------------------------------------------------------ */

static dg_status read_opset(const Onnx__ModelProto *mp, int64_t *opset)
{
    if (!mp->has_ir_version || !mp->graph)
        return dg_fail(DG_E_FORMAT, "not an ONNX model: the ir_version or "
                                    "the graph is missing");
    *opset = 0;
    for (size_t k = 0; k < mp->n_opset_import; k++) {
        const char *domain = text(mp->opset_import[k]->domain);
        if (!*domain || strcmp(domain, "ai.onnx") == 0)
            *opset = mp->opset_import[k]->version;
    }
    if (*opset <= 0)
        return dg_fail(DG_E_FORMAT, "the ONNX model imports no version of "
                                    "the standard operator set");
    if (*opset < OPSET_MIN || *opset > OPSET_MAX)
        return dg_fail(DG_E_UNSUPPORTED,
                       "ONNX operator set %lld is not supported; %d to %d "
                       "are",
                       (long long)*opset, OPSET_MIN, OPSET_MAX);
    return DG_OK;
}

/* The shape of the one graph input that is not an initializer:
 * [N, C, H, W] or [N, F] floats, N free. */
static dg_status read_input(const Onnx__ValueInfoProto *in, dg_shape *shape,
                            int *rank)
{
    const char *name = text(in->name);
    const Onnx__TypeProto *type = in->type;
    if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !type->tensor_type->shape)
        return dg_fail(DG_E_UNSUPPORTED,
                       "graph input '%.200s' is not a tensor of known rank",
                       name);
    const Onnx__TypeProto__Tensor *t = type->tensor_type;
    if (t->elem_type != TYPE_FLOAT)
        return dg_fail(DG_E_UNSUPPORTED,
                       "graph input '%.200s' has data type %s; only FLOAT "
                       "is supported",
                       name, type_name(t->elem_type));
    size_t n = t->shape->n_dim;
    if (n != 2 && n != 4)
        return dg_fail(DG_E_UNSUPPORTED,
                       "graph input '%.200s' has %zu dimensions; only "
                       "[N, C, H, W] and [N, F] are supported",
                       name, n);
    uint32_t dims[4] = {0, 1, 1, 1};
    for (size_t d = 1; d < n; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = t->shape->dim[d];
        if (dim->value_case !=
                ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
            dim->dim_value < 1 || dim->dim_value > DG_MAX_DIM)
            return dg_fail(DG_E_UNSUPPORTED,
                           "dimension %zu of graph input '%.200s' must be a "
                           "number from 1 to %d",
                           d, name, DG_MAX_DIM);
        dims[d] = (uint32_t)dim->dim_value;
    }
    *shape = (dg_shape){dims[1], dims[2], dims[3]};
    *rank = (int)n;
    return DG_OK;
}

/* Defines the initializers and the model input; allocates the model. */
static dg_status define_sources(importer *im)
{
    const Onnx__GraphProto *g = im->graph;
    const Onnx__ValueInfoProto *input = NULL;
    if (g->n_sparse_initializer)
        return dg_fail(DG_E_UNSUPPORTED,
                       "sparse initializers are not supported");
    for (size_t k = 0; k < g->n_initializer; k++)
        DG_TRY(define(im, &(value){.name = text(g->initializer[k]->name),
                                   .tensor = g->initializer[k]}));
    /* Graphs before IR 4 list their initializers as inputs too. */
    for (size_t k = 0; k < g->n_input; k++) {
        if (lookup(im, text(g->input[k]->name))) continue;
        if (input)
            return dg_fail(DG_E_UNSUPPORTED,
                           "graph inputs '%.200s' and '%.200s': only one is "
                           "supported",
                           text(input->name), text(g->input[k]->name));
        input = g->input[k];
    }
    if (!input) return dg_fail(DG_E_FORMAT, "the ONNX graph has no input");
    if (g->n_node == 0)
        return dg_fail(DG_E_FORMAT, "the ONNX graph has no nodes");
    dg_shape shape;
    int rank = 0;
    DG_TRY(read_input(input, &shape, &rank));
    /* A node makes at most one layer, plus flatten layers for two settled
     * inputs (Add); the graph output may need one more. */
    uint32_t cap = g->n_node < DG_MAX_LAYERS / 3 ? 3 * (uint32_t)g->n_node + 1
                                                 : DG_MAX_LAYERS;
    DG_TRY(dg_model_alloc(cap, shape, &im->m));
    /* Layers are added as nodes make them; spare slots stay zeroed. */
    im->layer_cap = cap;
    im->m->n_layers = 0;
    return define(
        im, &(value){.name = text(input->name), .rank = rank, .layer = -1});
}

static dg_status check_output(importer *im)
{
    const Onnx__GraphProto *g = im->graph;
    if (g->n_output != 1)
        return dg_fail(DG_E_UNSUPPORTED,
                       "the graph has %zu outputs; only one is supported",
                       g->n_output);
    const char *name = text(g->output[0]->name);
    const value *v = lookup(im, name);
    if (!v)
        return dg_fail(DG_E_FORMAT,
                       "graph output '%.200s' is produced by no node", name);
    if (!v->rank || v->layer < 0 || v->layer != (int32_t)im->m->n_layers - 1)
        return dg_fail(DG_E_UNSUPPORTED,
                       "graph output '%.200s' is not the result of the last "
                       "layer-making node",
                       name);
    value out = *v;
    return settle(im, &out);
}

/* ------------------------------------------------------------------------ */
/* Metadata that export writes (doc/onnx.md, "Metadata")                    */
/* ------------------------------------------------------------------------ */

/* The value of `key`, the last one if it repeats (as protobuf maps do),
 * or NULL. */
static const char *meta_value(const Onnx__ModelProto *mp, const char *key)
{
    const char *value = NULL;
    for (size_t k = 0; k < mp->n_metadata_props; k++)
        if (strcmp(text(mp->metadata_props[k]->key), key) == 0)
            value = text(mp->metadata_props[k]->value);
    return value;
}

static const char *skip_space(const char *c)
{
    while (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r') c++;
    return c;
}

/* Reads the JSON array "[x, y, ...]" of exactly n numbers into v. */
static dg_status meta_numbers(const char *key, const char *json, float *v,
                              uint32_t n)
{
    const char *c = skip_space(json);
    uint32_t k = 0;
    int ok = *c++ == '[';
    while (ok) {
        char *end;
        float x = strtof(skip_space(c), &end);
        ok = end != skip_space(c) && k < n;
        if (ok) v[k++] = x;
        c = skip_space(end);
        if (*c != ',') break;
        c++;
    }
    if (!ok || *c != ']' || *skip_space(c + 1) || k != n)
        return dg_fail(DG_E_FORMAT,
                       "ONNX metadata %s is \"%.40s\"; expected a JSON "
                       "array of %u numbers",
                       key, json, n);
    return DG_OK;
}

/* Appends code point u to out as UTF-8; returns the bytes written. */
static size_t put_utf8(char *out, uint32_t u)
{
    if (u < 0x80) {
        out[0] = (char)u;
        return 1;
    }
    if (u < 0x800) {
        out[0] = (char)(0xC0 | u >> 6);
        out[1] = (char)(0x80 | (u & 0x3F));
        return 2;
    }
    if (u < 0x10000) {
        out[0] = (char)(0xE0 | u >> 12);
        out[1] = (char)(0x80 | (u >> 6 & 0x3F));
        out[2] = (char)(0x80 | (u & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | u >> 18);
    out[1] = (char)(0x80 | (u >> 12 & 0x3F));
    out[2] = (char)(0x80 | (u >> 6 & 0x3F));
    out[3] = (char)(0x80 | (u & 0x3F));
    return 4;
}

/* Four hex digits at c into *u; 0 if they are not. */
static int hex4(const char *c, uint32_t *u)
{
    *u = 0;
    for (int k = 0; k < 4; k++) {
        int d = c[k] >= '0' && c[k] <= '9'   ? c[k] - '0'
                : c[k] >= 'a' && c[k] <= 'f' ? c[k] - 'a' + 10
                : c[k] >= 'A' && c[k] <= 'F' ? c[k] - 'A' + 10
                                             : -1;
        if (d < 0) return 0;
        *u = *u << 4 | (uint32_t)d;
    }
    return 1;
}

/* Reads the JSON string at *c (after its opening quote) into out, which
 * holds DG_CLASS_NAME_CAP bytes; *c ends after the closing quote.  0 if
 * it is malformed or too long. */
static int json_string(const char **c, char out[DG_CLASS_NAME_CAP])
{
    static const char escapes[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    size_t at = 0;
    const char *p = *c;
    while (*p != '"') {
        char buf[4];
        size_t len = 1;
        uint32_t u, low;
        if ((unsigned char)*p < 0x20) return 0;
        if (*p != '\\') {
            buf[0] = *p++;
        } else if (p[1] == 'u' && hex4(p + 2, &u)) {
            p += 6;
            if (u >= 0xD800 && u < 0xDC00) { /* a surrogate pair */
                if (p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &low) ||
                    low < 0xDC00 || low >= 0xE000)
                    return 0;
                u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
                p += 6;
            }
            len = put_utf8(buf, u);
        } else {
            const char *e = p[1] ? strchr(escapes, p[1]) : NULL;
            if (!e || (e - escapes) % 2) return 0;
            buf[0] = e[1];
            p += 2;
        }
        if (at + len >= DG_CLASS_NAME_CAP) return 0;
        memcpy(out + at, buf, len);
        at += len;
    }
    out[at] = '\0';
    *c = p + 1;
    return 1;
}

/* Reads the JSON array of exactly n strings into the model's class names. */
static dg_status meta_class_names(dg_model *m, const char *json, uint32_t n)
{
    char(*names)[DG_CLASS_NAME_CAP] = NULL;
    const char **pointers = NULL;
    dg_status s = dg_alloc_array((void **)&names, n, sizeof *names,
                                 "class names");
    if (s == DG_OK)
        s = dg_alloc_array((void **)&pointers, n, sizeof *pointers,
                           "class names");
    const char *c = skip_space(json);
    uint32_t k = 0;
    int ok = s == DG_OK && *c++ == '[';
    while (ok) {
        c = skip_space(c);
        /* Past the quote only if there is one: a value ending in "," must
         * not move c beyond its terminator. */
        ok = *c == '"' && k < n;
        if (ok) c++, ok = json_string(&c, names[k]);
        if (!ok) break;
        pointers[k] = names[k];
        k++;
        c = skip_space(c);
        if (*c != ',') break;
        c++;
    }
    if (s == DG_OK && (!ok || *c != ']' || *skip_space(c + 1) || k != n))
        s = dg_fail(DG_E_FORMAT,
                    "ONNX metadata " DG_ONNX_META_CLASS_NAMES " is not a "
                    "JSON array of %u strings of at most %d bytes",
                    n, DG_CLASS_NAME_CAP - 1);
    if (s == DG_OK) s = dg_model_name_classes(m, pointers, n);
    free(pointers);
    free(names);
    return s;
}

/* Applies the preprocessing and class names export writes, when present;
 * without them the model keeps its defaults. */
static dg_status read_metadata(dg_model *m, const Onnx__ModelProto *mp)
{
    dg_preprocess pre = m->pre;
    const char *scale = meta_value(mp, DG_ONNX_META_SCALE);
    const char *mean = meta_value(mp, DG_ONNX_META_MEAN);
    const char *std = meta_value(mp, DG_ONNX_META_STD);
    const char *names = meta_value(mp, DG_ONNX_META_CLASS_NAMES);
    if (scale) {
        char *end;
        pre.scale = strtof(scale, &end);
        if (end == scale || *skip_space(end))
            return dg_fail(DG_E_FORMAT,
                           "ONNX metadata " DG_ONNX_META_SCALE " is "
                           "\"%.40s\"; expected a number",
                           scale);
    }
    if (mean)
        DG_TRY(meta_numbers(DG_ONNX_META_MEAN, mean, pre.mean, pre.channels));
    if (std)
        DG_TRY(meta_numbers(DG_ONNX_META_STD, std, pre.std, pre.channels));
    if (scale || mean || std) {
        if (dg_preprocess_validate(&pre, m->input) != DG_OK)
            return dg_fail_context(DG_E_FORMAT, "ONNX metadata");
        m->pre = pre;
    }
    if (names)
        DG_TRY(meta_class_names(
            m, names, (uint32_t)dg_shape_size(dg_model_output_shape(m))));
    return DG_OK;
}

static dg_status import_model(importer *im, const Onnx__ModelProto *mp)
{
    DG_TRY(read_opset(mp, &im->opset));
    im->graph = mp->graph;
    DG_TRY(index_names(im));
    DG_TRY(define_sources(im));
    for (size_t i = 0; i < im->graph->n_node; i++) {
        const op_rule *op = NULL;
        im->node = im->graph->node[i];
        im->node_index = i;
        DG_TRY(find_rule(im, &op));
        DG_TRY(op->map(im, op));
    }
    return check_output(im);
}

dg_status dg_onnx_read(const void *data, size_t size, dg_model **out)
{
    *out = NULL;
    if (size > DG_ONNX_MAX_SIZE)
        return dg_fail(DG_E_FORMAT,
                       "the ONNX model is %zu bytes, more than the %zu "
                       "allowed",
                       size, DG_ONNX_MAX_SIZE);
    budget b = {0};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &b};
    Onnx__ModelProto *mp;
    DG_TRY(unpack(data, size, &b, &alloc, &mp));
    importer im = {0};
    dg_status s = import_model(&im, mp);
    if (s == DG_OK) s = read_metadata(im.m, mp);
    free(im.names);
    free(im.values);
    free(im.uses);
    onnx__model_proto__free_unpacked(mp, &alloc);
    if (s != DG_OK) {
        dg_model_destroy(im.m);
        return s;
    }
    *out = im.m;
    return DG_OK;
}
