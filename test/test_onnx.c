/* test_onnx.c - ONNX import and export (doc/onnx.md): PyTorch's own exports
 * (test/data/onnx, made by test/onnx/make_fixtures.py) against PyTorch's
 * outputs, round trips, pruned units, the memory and file contracts,
 * unsupported operators and attribute values (hand-made ModelProtos), and
 * corrupt, truncated and hostile bytes. */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "naive.h"
#include "nn/model.h"
#include "onnx.pb-c.h"
#include "suite.h"

static const char *const fixtures[] = {"teacher", "student", "blocks",
                                       "softmax", "channel_softmax"};
#define N_FIXTURES (sizeof fixtures / sizeof *fixtures)

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static char *fixture_path(const char *name, const char *ext)
{
    const char *dir = getenv("DG_TEST_DATA");
    ck_assert_msg(dir, "DG_TEST_DATA is not set (run through meson test)");
    size_t n = strlen(dir) + strlen(name) + strlen(ext) + 16;
    char *path = malloc(n);
    snprintf(path, n, "%s/onnx/%s%s", dir, name, ext);
    return path;
}

static void *read_fixture(const char *name, const char *ext, size_t *size)
{
    char *path = fixture_path(name, ext);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    void *data = malloc(*size ? *size : 1);
    ck_assert_uint_eq(fread(data, 1, *size, f), *size);
    fclose(f);
    free(path);
    return data;
}

static dg_model *import_fixture(const char *name)
{
    char *path = fixture_path(name, ".onnx");
    dg_model *m = NULL;
    dg_status s = dg_model_import_onnx_file(path, &m);
    ck_assert_msg(s == DG_OK, "%s: %s: %s", name, dg_strerror(s),
                  dg_last_error_detail());
    free(path);
    return m;
}

static dg_model *import_bytes(const void *data, size_t size)
{
    dg_model *m = NULL;
    dg_status s = dg_model_import_onnx_memory(data, size, &m);
    ck_assert_msg(s == DG_OK, "import: %s: %s", dg_strerror(s),
                  dg_last_error_detail());
    return m;
}

static uint8_t *export_bytes(const dg_model *m, size_t *size)
{
    ck_assert_int_eq(dg_model_export_onnx_memory(m, NULL, 0, size), DG_OK);
    uint8_t *buf = malloc(*size);
    dg_status s = dg_model_export_onnx_memory(m, buf, *size, size);
    ck_assert_msg(s == DG_OK, "export: %s", dg_last_error_detail());
    return buf;
}

static dg_model *round_trip(const dg_model *m)
{
    size_t size;
    uint8_t *bytes = export_bytes(m, &size);
    dg_model *back = import_bytes(bytes, size);
    free(bytes);
    return back;
}

/* The output of `layer` (-1: the last) for batch samples, copied. */
static float *run_layer(const dg_model *m, const float *x, uint32_t batch,
                        int32_t layer, size_t *len)
{
    uint32_t c, h, w, b;
    dg_session *s;
    const float *out;
    ck_assert_int_eq(dg_session_create(m, batch, &s), DG_OK);
    ck_assert_int_eq(dg_model_input_shape(m, &c, &h, &w), DG_OK);
    dg_status st = dg_session_run(s, x, (size_t)batch * c * h * w, batch);
    ck_assert_msg(st == DG_OK, "run: %s", dg_last_error_detail());
    ck_assert_int_eq(dg_session_output(s, layer, &out, &b, &c, &h, &w), DG_OK);
    *len = (size_t)b * c * h * w;
    float *copy = malloc(*len * sizeof *copy);
    memcpy(copy, out, *len * sizeof *copy);
    dg_session_free(s);
    return copy;
}

static float *run(const dg_model *m, const float *x, uint32_t batch,
                  size_t *len)
{
    return run_layer(m, x, batch, -1, len);
}

static double max_abs(const float *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static float *random_input(const dg_model *m, uint32_t batch, uint64_t seed)
{
    uint32_t c, h, w;
    dg_rng rng;
    dg_rng_seed(&rng, seed);
    ck_assert_int_eq(dg_model_input_shape(m, &c, &h, &w), DG_OK);
    size_t n = (size_t)batch * c * h * w;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = dg_rng_uniform(&rng);
    return x;
}

/* The same outputs for the same random inputs, within tol. */
static void expect_same_outputs(const dg_model *a, const dg_model *b,
                                double tol, const char *what)
{
    enum { BATCH = 3 };
    float *x = random_input(a, BATCH, 7);
    size_t na, nb;
    float *ya = run(a, x, BATCH, &na), *yb = run(b, x, BATCH, &nb);
    ck_assert_uint_eq(na, nb);
    double err = max_diff(ya, yb, na);
    ck_assert_msg(err <= tol, "%s: outputs differ by %g", what, err);
    free(x);
    free(ya);
    free(yb);
}

static int32_t layer_kind(const dg_model *m, uint32_t i)
{
    dg_layer_info info = {.struct_size = sizeof info};
    ck_assert_int_eq(dg_model_layer_info(m, i, &info), DG_OK);
    return info.kind;
}

/* The layer kinds of m must be want[0..n-1]. */
static void expect_kinds(const dg_model *m, const int32_t *want, uint32_t n,
                         const char *what)
{
    uint32_t count;
    ck_assert_int_eq(dg_model_layer_count(m, &count), DG_OK);
    ck_assert_msg(count == n, "%s: %u layers, expected %u", what, count, n);
    for (uint32_t i = 0; i < n; i++)
        ck_assert_msg(layer_kind(m, i) == want[i],
                      "%s: layer %u is kind %d, expected %d", what, i,
                      layer_kind(m, i), want[i]);
}

static uint32_t count_kind(const dg_model *m, int32_t kind)
{
    uint32_t count, n = 0;
    ck_assert_int_eq(dg_model_layer_count(m, &count), DG_OK);
    for (uint32_t i = 0; i < count; i++) n += layer_kind(m, i) == kind;
    return n;
}

/* Imports `size` bytes, which must fail with `want` and a detail holding
 * every non-NULL needle; the out-pointer must come back NULL. */
static void expect_rejected(const void *data, size_t size, dg_status want,
                            const char *const *needles, size_t n_needles)
{
    dg_model *m = (dg_model *)data; /* must be reset to NULL */
    dg_status s = dg_model_import_onnx_memory(data, size, &m);
    ck_assert_msg(s == want, "status %s, expected %s (%s)", dg_strerror(s),
                  dg_strerror(want), dg_last_error_detail());
    ck_assert_ptr_null(m);
    ck_assert_str_ne(dg_last_error_detail(), "");
    for (size_t k = 0; k < n_needles; k++)
        ck_assert_msg(!needles[k] || strstr(dg_last_error_detail(), needles[k]),
                      "detail \"%s\" lacks \"%s\"", dg_last_error_detail(),
                      needles[k]);
}

/* ------------------------------------------------------------------------ */
/* Hand-made ModelProtos, built from the generated structs                  */
/* ------------------------------------------------------------------------ */

/* Everything a hand-made model allocates; release_all() frees it. */
static void *owned[1024];
static size_t n_owned;

static void *hold(size_t size)
{
    ck_assert_uint_lt(n_owned, sizeof owned / sizeof *owned);
    void *p = calloc(1, size ? size : 1);
    ck_assert_ptr_nonnull(p);
    return owned[n_owned++] = p;
}

static void release_all(void)
{
    while (n_owned) free(owned[--n_owned]);
}

enum { LIST_CAP = 16 };

/* A float tensor value [dims...]; a dimension of -1 is symbolic ("N"). */
static Onnx__ValueInfoProto *value_info(const char *name, const int64_t *dims,
                                        size_t rank)
{
    Onnx__ValueInfoProto *vi = hold(sizeof *vi);
    Onnx__TypeProto *type = hold(sizeof *type);
    Onnx__TypeProto__Tensor *tensor = hold(sizeof *tensor);
    Onnx__TensorShapeProto *shape = hold(sizeof *shape);
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(type);
    onnx__type_proto__tensor__init(tensor);
    onnx__tensor_shape_proto__init(shape);
    vi->name = (char *)name;
    vi->type = type;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    tensor->has_elem_type = 1;
    tensor->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tensor->shape = shape;
    shape->n_dim = rank;
    shape->dim = hold(rank * sizeof *shape->dim);
    for (size_t d = 0; d < rank; d++) {
        Onnx__TensorShapeProto__Dimension *dim = hold(sizeof *dim);
        onnx__tensor_shape_proto__dimension__init(dim);
        if (dims[d] < 0) {
            dim->value_case =
                ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = "N";
        } else {
            dim->value_case =
                ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = dims[d];
        }
        shape->dim[d] = dim;
    }
    return vi;
}

/* Opset `opset`, input "x" of [N, c, h, w] ([N, c] when h is 0), output
 * "y", room for LIST_CAP nodes and initializers. */
static Onnx__ModelProto *new_model(int64_t opset, int64_t c, int64_t h,
                                   int64_t w)
{
    Onnx__ModelProto *mp = hold(sizeof *mp);
    Onnx__OperatorSetIdProto *os = hold(sizeof *os);
    Onnx__GraphProto *g = hold(sizeof *g);
    onnx__model_proto__init(mp);
    onnx__operator_set_id_proto__init(os);
    onnx__graph_proto__init(g);
    mp->has_ir_version = 1;
    mp->ir_version = 7;
    os->has_version = 1;
    os->version = opset;
    mp->n_opset_import = 1;
    mp->opset_import = hold(sizeof *mp->opset_import);
    mp->opset_import[0] = os;
    mp->graph = g;
    g->node = hold(LIST_CAP * sizeof *g->node);
    g->initializer = hold(LIST_CAP * sizeof *g->initializer);
    g->n_input = g->n_output = 1;
    g->input = hold(sizeof *g->input);
    g->input[0] = value_info("x", (const int64_t[]){-1, c, h, w}, h ? 4 : 2);
    g->output = hold(sizeof *g->output);
    g->output[0] = value_info("y", NULL, 0);
    return mp;
}

/* A node; `inputs` ends with NULL, "" marks an omitted optional input. */
static Onnx__NodeProto *add_node(Onnx__ModelProto *mp, const char *op,
                                 const char *name, const char *const *inputs,
                                 const char *output)
{
    Onnx__GraphProto *g = mp->graph;
    Onnx__NodeProto *n = hold(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    while (inputs[n->n_input]) n->n_input++;
    n->input = hold(n->n_input * sizeof *n->input);
    memcpy(n->input, inputs, n->n_input * sizeof *n->input);
    n->n_output = 1;
    n->output = hold(sizeof *n->output);
    n->output[0] = (char *)output;
    n->attribute = hold(LIST_CAP * sizeof *n->attribute);
    ck_assert_uint_lt(g->n_node, LIST_CAP);
    g->node[g->n_node++] = n;
    return n;
}

#define INPUTS(...) ((const char *const[]){__VA_ARGS__, NULL})

static Onnx__AttributeProto *add_attr(Onnx__NodeProto *n, const char *name,
                                      Onnx__AttributeProto__AttributeType t)
{
    Onnx__AttributeProto *a = hold(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = t;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void set_int(Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a =
        add_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

static void set_float(Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a =
        add_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

static void set_ints(Onnx__NodeProto *n, const char *name, const int64_t *v,
                     size_t count)
{
    Onnx__AttributeProto *a =
        add_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = count;
    a->ints = (int64_t *)v;
}

/* A tensor of `data_type` holding `bytes` raw bytes (zeros if data is
 * NULL); little-endian host assumed, as on every CI machine. */
static Onnx__TensorProto *tensor(const char *name, int32_t data_type,
                                 const int64_t *dims, size_t n_dims,
                                 const void *data, size_t bytes)
{
    Onnx__TensorProto *t = hold(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = data_type;
    t->n_dims = n_dims;
    t->dims = (int64_t *)dims;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = hold(bytes);
    if (data) memcpy(t->raw_data.data, data, bytes);
    return t;
}

/* A float initializer whose values are data (zeros if NULL). */
static void add_weights(Onnx__ModelProto *mp, const char *name,
                        const int64_t *dims, size_t n_dims, const float *data)
{
    size_t count = 1;
    for (size_t d = 0; d < n_dims; d++) count *= (size_t)dims[d];
    Onnx__GraphProto *g = mp->graph;
    ck_assert_uint_lt(g->n_initializer, LIST_CAP);
    g->initializer[g->n_initializer++] =
        tensor(name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, n_dims, data,
               count * sizeof(float));
}

static uint8_t *pack(const Onnx__ModelProto *mp, size_t *size)
{
    *size = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = hold(*size);
    onnx__model_proto__pack(mp, buf);
    return buf;
}

/* Conv "conv" from x (c channels) to y (o channels, k x k kernel). */
static Onnx__NodeProto *conv(Onnx__ModelProto *mp, int64_t c, int64_t o,
                             int64_t k)
{
    int64_t *dims = hold(4 * sizeof *dims);
    memcpy(dims, (int64_t[]){o, c, k, k}, 4 * sizeof *dims);
    add_weights(mp, "w", dims, 4, NULL);
    return add_node(mp, "Conv", "conv", INPUTS("x", "w"), "y");
}

/* ------------------------------------------------------------------------ */
/* PyTorch's exports                                                        */
/* ------------------------------------------------------------------------ */

START_TEST(pytorch_exports_match_pytorch_outputs)
{
    for (size_t f = 0; f < N_FIXTURES; f++) {
        size_t in_bytes, out_bytes, len;
        float *x = read_fixture(fixtures[f], ".input.f32", &in_bytes);
        float *want = read_fixture(fixtures[f], ".output.f32", &out_bytes);
        dg_model *m = import_fixture(fixtures[f]);
        uint32_t c, h, w;
        ck_assert_int_eq(dg_model_input_shape(m, &c, &h, &w), DG_OK);
        uint32_t batch = (uint32_t)(in_bytes / sizeof(float) / (c * h * w));
        ck_assert_uint_eq((size_t)batch * c * h * w * sizeof(float), in_bytes);
        float *got = run(m, x, batch, &len);
        ck_assert_uint_eq(len * sizeof(float), out_bytes);
        double err = max_diff(got, want, len);
        double scale = fmax(1.0, max_abs(want, len));
        ck_assert_msg(err < 1e-4 * scale, "%s: error %g at scale %g",
                      fixtures[f], err, scale);
        free(x);
        free(want);
        free(got);
        dg_model_free(m);
    }
}
END_TEST

START_TEST(pytorch_graphs_map_to_the_expected_layers)
{
    /* MatMul + Add fold into one linear layer. */
    static const int32_t softmax[] = {DG_LAYER_LINEAR, DG_LAYER_RELU,
                                      DG_LAYER_LINEAR, DG_LAYER_SOFTMAX};
    /* The Teacher's Flatten needs no layer: linear layers flatten their
     * input, as in the architecture string. */
    dg_model *m = import_fixture("teacher"), *spec;
    ck_assert_int_eq(
        dg_model_create(DG_ARCH_FMNIST_TEACHER, 1, 28, 28, 1, &spec), DG_OK);
    uint32_t n;
    ck_assert_int_eq(dg_model_layer_count(m, &n), DG_OK);
    ck_assert_uint_eq(n, 15);
    for (uint32_t i = 0; i < n; i++) {
        dg_layer_info a = {.struct_size = sizeof a};
        dg_layer_info b = {.struct_size = sizeof b};
        ck_assert_int_eq(dg_model_layer_info(m, i, &a), DG_OK);
        ck_assert_int_eq(dg_model_layer_info(spec, i, &b), DG_OK);
        ck_assert_int_eq(a.kind, b.kind);
        ck_assert_uint_eq(a.param_count, b.param_count);
        ck_assert(a.channels == b.channels && a.height == b.height &&
                  a.width == b.width);
    }
    dg_model_free(spec);
    dg_model_free(m);

    m = import_fixture("student"); /* Reshape fed by a Constant */
    ck_assert_uint_eq(count_kind(m, DG_LAYER_FLATTEN), 0);
    ck_assert_uint_eq(count_kind(m, DG_LAYER_LINEAR), 3);
    dg_model_free(m);

    m = import_fixture("softmax");
    expect_kinds(m, softmax, 4, "softmax");
    uint32_t c, h, w;
    ck_assert_int_eq(dg_model_input_shape(m, &c, &h, &w), DG_OK);
    ck_assert(c == 20 && h == 1 && w == 1);
    dg_model_free(m);

    m = import_fixture("blocks");
    ck_assert_uint_eq(count_kind(m, DG_LAYER_BATCHNORM), 3);
    ck_assert_uint_eq(count_kind(m, DG_LAYER_ADD), 1);
    ck_assert_uint_eq(count_kind(m, DG_LAYER_AVGPOOL), 1);
    ck_assert_uint_eq(count_kind(m, DG_LAYER_GLOBAL_AVGPOOL), 1);
    dg_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Export                                                                   */
/* ------------------------------------------------------------------------ */

START_TEST(imported_models_round_trip)
{
    for (size_t f = 0; f < N_FIXTURES; f++) {
        dg_model *m = import_fixture(fixtures[f]);
        dg_model *back = round_trip(m);
        expect_same_outputs(m, back, 1e-5, fixtures[f]);
        dg_model_free(back);
        dg_model_free(m);
    }
}
END_TEST

/* Batch norm parameters in [0.5, 1.5), so that a wrong mapping shows. */
static void randomise_batchnorm(dg_model *m, uint64_t seed)
{
    dg_rng rng;
    dg_rng_seed(&rng, seed);
    for (uint32_t i = 0; i < m->n_layers; i++) {
        dg_layer *l = &m->layers[i];
        if (l->kind != DG_LAYER_BATCHNORM) continue;
        for (uint32_t p = 0; p < l->n_params; p++)
            for (size_t j = 0; j < l->param_len[p]; j++)
                l->param[p][j] = 0.5f + dg_rng_uniform(&rng);
    }
}

/* Made by dg_model_create: every layer kind, a linear layer reading a
 * feature map, a conv reading features, Add over mixed ranks, [N, F]. */
START_TEST(created_models_round_trip)
{
    static const struct {
        const char *spec;
        uint32_t c, h, w;
    } cases[] = {
        {DG_ARCH_FMNIST_TEACHER, 1, 28, 28},
        {"c8k3p1,relu,bn,c8k3p1,add@2,relu,ap3s2p1,mp2s1p1,c6k1,softmax,gap,"
         "flatten,fc6,drop0.5,relu,bn,fc3",
         3, 9, 9},
        {"fc8,c4k1,relu,fc3", 1, 4, 4},
        {"gap,fc4,add@0,relu,fc2", 4, 5, 5},
        {"fc8,relu,add@0,bn,softmax", 8, 1, 1},
        {"c8k3p1,bn,relu,c8k3p1g8,relu,c4k1g2,gap,fc3", 4, 8, 8}, /* groups */
        {"c4k3p1,relu6,c4k1,sigmoid,c4k1,hsigmoid,clip-1:2,mp3s2ceil,ap2ceil,"
         "pad2:1:0:1,c3k2,fc3",
         2, 7, 7},
        /* hardswish, squeeze-and-excitation, concat */
        {"c4k3p1,hswish,gap,c4k1,sigmoid,mul@1,c4k1,cat@1,fc3", 3, 6, 6},
        {"gap,fc3,mul@-1,c2k1,cat@-1,gap,flatten,fc2,cat@1", 3, 5, 5},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        dg_model *m;
        ck_assert_int_eq(dg_model_create(cases[k].spec, cases[k].c, cases[k].h,
                                         cases[k].w, 3 + k, &m),
                         DG_OK);
        randomise_batchnorm(m, k);
        dg_model *back = round_trip(m);
        expect_same_outputs(m, back, 1e-5, cases[k].spec);
        /* A second trip gives the same bytes: export is deterministic. */
        size_t n1, n2;
        uint8_t *b1 = export_bytes(back, &n1);
        dg_model *again = import_bytes(b1, n1);
        uint8_t *b2 = export_bytes(again, &n2);
        ck_assert_msg(n1 == n2 && memcmp(b1, b2, n1) == 0,
                      "%s: the second round trip changed the file",
                      cases[k].spec);
        free(b1);
        free(b2);
        dg_model_free(again);
        dg_model_free(back);
        dg_model_free(m);
    }
}
END_TEST

START_TEST(pruned_units_export_as_zero)
{
    enum { BATCH = 2 };
    dg_model *m;
    ck_assert_int_eq(dg_model_create("c6k3,relu,fc5", 1, 8, 8, 11, &m), DG_OK);
    static const uint8_t conv_mask[6] = {1, 0, 1, 1, 0, 1};
    static const uint8_t fc_mask[5] = {1, 1, 0, 1, 1};
    m->layers[0].mask = malloc(6);
    memcpy(m->layers[0].mask, conv_mask, 6);
    m->layers[2].mask = malloc(5);
    memcpy(m->layers[2].mask, fc_mask, 5);
    /* Biases that a forgotten mask would let through. */
    for (uint32_t u = 0; u < 6; u++) m->layers[0].param[1][u] = 0.5f;
    for (uint32_t u = 0; u < 5; u++) m->layers[2].param[1][u] = 0.25f;

    dg_model *back = round_trip(m);
    dg_layer_info info = {.struct_size = sizeof info};
    ck_assert_int_eq(dg_model_layer_info(back, 0, &info), DG_OK);
    ck_assert_uint_eq(info.pruned_units, 0); /* zero weights, no mask */
    expect_same_outputs(m, back, 1e-5, "pruned");

    float *x = random_input(back, BATCH, 5);
    size_t len;
    /* The conv runs fused with its ReLU, whose output is readable. */
    float *maps = run_layer(back, x, BATCH, 1, &len);
    size_t plane = 6 * 6;
    for (size_t i = 0; i < len; i++)
        if (!conv_mask[i / plane % 6])
            ck_assert_msg(maps[i] == 0.0f, "pruned channel %zu is %g",
                          i / plane % 6, maps[i]);
    float *y = run(back, x, BATCH, &len);
    for (size_t n = 0; n < BATCH; n++) ck_assert(y[n * 5 + 2] == 0.0f);
    free(maps);
    free(y);
    free(x);
    dg_model_free(back);
    dg_model_free(m);
}
END_TEST

START_TEST(memory_and_file_contracts)
{
    dg_model *m = import_fixture("blocks");
    size_t size = 0, again = 0;
    ck_assert_int_eq(dg_model_export_onnx_memory(m, NULL, 0, &size), DG_OK);
    ck_assert_uint_gt(size, 0);
    uint8_t *buf = malloc(size + 8);
    memset(buf, 0xAB, size + 8);
    ck_assert_int_eq(dg_model_export_onnx_memory(m, buf, size - 1, &again),
                     DG_E_INVALID_ARG);
    ck_assert_uint_eq(again, size);
    ck_assert_uint_eq(buf[0], 0xAB); /* nothing written */
    ck_assert_int_eq(dg_model_export_onnx_memory(m, buf, size + 8, &again),
                     DG_OK);
    ck_assert_uint_eq(buf[size], 0xAB); /* nothing past size */
    ck_assert_int_eq(dg_model_export_onnx_memory(NULL, buf, size, &again),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_model_export_onnx_memory(m, buf, size, NULL),
                     DG_E_INVALID_ARG);

    dg_model *out = m;
    ck_assert_int_eq(dg_model_import_onnx_memory(NULL, 4, &out),
                     DG_E_INVALID_ARG);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(dg_model_import_onnx_memory(buf, size, NULL),
                     DG_E_INVALID_ARG);

    char dir[] = "/tmp/dg_onnx_XXXXXX", path[64], missing[64], big[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    snprintf(missing, sizeof missing, "%s/missing.onnx", dir);
    snprintf(big, sizeof big, "%s/big.onnx", dir);
    ck_assert_int_eq(dg_model_export_onnx_file(m, path), DG_OK);
    dg_model *back = NULL;
    ck_assert_int_eq(dg_model_import_onnx_file(path, &back), DG_OK);
    expect_same_outputs(m, back, 1e-5, "file");
    FILE *f = fopen(path, "rb");
    uint8_t *file = malloc(size);
    ck_assert_uint_eq(fread(file, 1, size, f), size);
    ck_assert_int_eq(fgetc(f), EOF);
    fclose(f);
    ck_assert_mem_eq(file, buf, size);

    out = m;
    ck_assert_int_eq(dg_model_import_onnx_file(missing, &out), DG_E_IO);
    ck_assert_ptr_null(out);
    /* Over 1 GiB: refused from its size alone (a sparse file). */
    int fd = open(big, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, ((off_t)1 << 30) + 1), 0);
    close(fd);
    ck_assert_int_eq(dg_model_import_onnx_file(big, &out), DG_E_FORMAT);
    ck_assert_ptr_null(out);
    unlink(big);
    unlink(path);
    rmdir(dir);
    free(file);
    free(buf);
    dg_model_free(back);
    dg_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hand-made graphs                                                         */
/* ------------------------------------------------------------------------ */

/* Constant + Reshape, MatMul + Add (folded), Dropout with a ratio input and
 * an unused mask output, Identity, Relu: checked against the arithmetic. */
START_TEST(pass_through_and_folded_nodes)
{
    enum { BATCH = 2, IN = 18, OUT = 4 };
    static const int64_t shape_dims[] = {2}, shape[] = {0, -1};
    static const int64_t w_dims[] = {IN, OUT}, b_dims[] = {OUT};
    static float wt[IN * OUT], bias[OUT], ratio = 0.5f;
    for (int i = 0; i < IN * OUT; i++) wt[i] = 0.01f * (float)i - 0.3f;
    for (int o = 0; o < OUT; o++) bias[o] = 0.1f * (float)o - 0.15f;

    Onnx__ModelProto *mp = new_model(13, 2, 3, 3);
    Onnx__NodeProto *c = add_node(mp, "Constant", "shape", INPUTS(NULL), "s");
    add_attr(c, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t =
        tensor("", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, shape_dims, 1, shape,
               sizeof shape);
    add_node(mp, "Reshape", "flat", INPUTS("x", "s"), "f");
    add_weights(mp, "w", w_dims, 2, wt);
    add_weights(mp, "b", b_dims, 1, bias);
    add_weights(mp, "r", NULL, 0, &ratio);
    add_node(mp, "MatMul", "mm", INPUTS("f", "w"), "p");
    add_node(mp, "Add", "bias", INPUTS("b", "p"), "q");
    Onnx__NodeProto *d = add_node(mp, "Dropout", "drop", INPUTS("q", "r"), "d");
    d->n_output = 2;
    d->output = hold(2 * sizeof *d->output);
    d->output[0] = "d";
    d->output[1] = "unused_mask";
    add_node(mp, "Identity", "same", INPUTS("d"), "e");
    add_node(mp, "Relu", "relu", INPUTS("e"), "y");
    size_t size;
    uint8_t *bytes = pack(mp, &size);
    dg_model *m = import_bytes(bytes, size);
    static const int32_t kinds[] = {DG_LAYER_LINEAR, DG_LAYER_RELU};
    expect_kinds(m, kinds, 2, "hand-made");

    float x[BATCH * IN];
    for (int i = 0; i < BATCH * IN; i++) x[i] = 0.05f * (float)(i % 23) - 0.4f;
    size_t len;
    float *y = run(m, x, BATCH, &len);
    ck_assert_uint_eq(len, BATCH * OUT);
    for (int n = 0; n < BATCH; n++)
        for (int o = 0; o < OUT; o++) {
            double acc = bias[o];
            for (int i = 0; i < IN; i++) acc += x[n * IN + i] * wt[i * OUT + o];
            ck_assert_msg(fabs(y[n * OUT + o] - fmax(acc, 0.0)) < 1e-5,
                          "output %d,%d: %g, expected %g", n, o, y[n * OUT + o],
                          fmax(acc, 0.0));
        }
    free(y);
    dg_model_free(m);
    release_all();
}
END_TEST

/* Adds metadata_props entry key = value to a hand-made model. */
/* Clip with its lower bound left out (opset 13) and with attributes
 * (opset 6 style, in opset 7), Sigmoid, HardSigmoid with ONNX's default
 * alpha, HardSwish (opset 14): checked against their definitions. */
START_TEST(activations_import)
{
    enum { N = 24 };
    static const float upper = 0.75f;
    Onnx__ModelProto *mp = new_model(14, N, 0, 0);
    add_weights(mp, "hi", NULL, 0, &upper);
    add_node(mp, "Clip", "clip", INPUTS("x", "", "hi"), "a");
    add_node(mp, "Sigmoid", "sigmoid", INPUTS("x"), "b");
    add_node(mp, "HardSigmoid", "hsigmoid", INPUTS("x"), "c");
    add_node(mp, "HardSwish", "hswish", INPUTS("x"), "d");
    add_node(mp, "Add", "ab", INPUTS("a", "b"), "ab_sum");
    add_node(mp, "Add", "cd", INPUTS("c", "d"), "cd_sum");
    add_node(mp, "Add", "sum", INPUTS("ab_sum", "cd_sum"), "y");
    size_t size;
    uint8_t *bytes = pack(mp, &size);
    dg_model *m = import_bytes(bytes, size);
    float x[N];
    for (int i = 0; i < N; i++) x[i] = 0.5f * (float)i - 6.0f;
    size_t len;
    float *y = run(m, x, 1, &len);
    for (int i = 0; i < N; i++) {
        double want = fmin(x[i], upper) + 1.0 / (1.0 + exp(-x[i])) +
                      fmin(fmax(0.2 * x[i] + 0.5, 0.0), 1.0) +
                      x[i] * fmin(fmax(x[i] + 3.0, 0.0), 6.0) / 6.0;
        ck_assert_msg(fabs(y[i] - want) < 1e-5, "x = %g: %g, expected %g",
                      x[i], y[i], want);
    }
    free(y);
    dg_model_free(m);
    release_all();

    /* Before opset 11 the bounds are attributes. */
    mp = new_model(7, N, 0, 0);
    Onnx__NodeProto *n = add_node(mp, "Clip", "relu6", INPUTS("x"), "y");
    set_float(n, "min", 0.0f);
    set_float(n, "max", 6.0f);
    bytes = pack(mp, &size);
    m = import_bytes(bytes, size);
    y = run(m, x, 1, &len);
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(y[i], fminf(fmaxf(x[i], 0.0f), 6.0f));
    free(y);
    dg_model_free(m);
    release_all();
}
END_TEST

/* x * HardSigmoid(x) (PyTorch's HardSwish at opset 13) is one hardswish
 * layer; a gate with other slopes, or read again, stays a product.
 * Concat of three inputs is two concat layers. */
START_TEST(hardswish_pattern_and_concat_chains)
{
    static const int32_t fused[] = {DG_LAYER_HARDSWISH, DG_LAYER_CONCAT,
                                    DG_LAYER_CONCAT};
    static const int32_t kept[] = {DG_LAYER_HARDSIGMOID, DG_LAYER_MUL};
    for (int variant = 0; variant < 2; variant++) {
        Onnx__ModelProto *mp = new_model(13, 2, 3, 3);
        Onnx__NodeProto *g = add_node(mp, "HardSigmoid", "gate", INPUTS("x"), "g");
        set_float(g, "alpha", variant ? 0.2f : 1.0f / 6.0f);
        set_float(g, "beta", 0.5f);
        add_node(mp, "Mul", "swish", INPUTS("x", "g"), variant ? "y" : "s");
        if (!variant)
            set_int(add_node(mp, "Concat", "cat", INPUTS("s", "x", "s"), "y"),
                    "axis", 1);
        size_t size, len;
        uint8_t *bytes = pack(mp, &size);
        dg_model *m = import_bytes(bytes, size);
        if (variant) expect_kinds(m, kept, 2, "other slope");
        else expect_kinds(m, fused, 3, "hardswish, concat of 3");
        float x[2 * 9];
        for (int i = 0; i < 18; i++) x[i] = 0.7f * (float)i - 6.0f;
        float *y = run(m, x, 1, &len);
        ck_assert_uint_eq(len, variant ? 18 : 54);
        for (int i = 0; i < 18; i++) {
            float a = variant ? 0.2f : 1.0f / 6.0f;
            double want = x[i] * fmin(fmax(a * x[i] + 0.5, 0.0), 1.0);
            ck_assert_msg(fabs(y[i] - want) < 1e-5, "%d: %g, expected %g", i,
                          y[i], want);
            if (!variant) {
                ck_assert_float_eq(y[18 + i], x[i]);
                ck_assert_float_eq(y[36 + i], y[i]);
            }
        }
        free(y);
        dg_model_free(m);
        release_all();
    }
}
END_TEST

/* Pad with its value as an input (opset 13) and as an attribute (opset
 * 2 style, in opset 7). */
START_TEST(pad_import)
{
    static const int64_t pads_dims[] = {8};
    static const int64_t pads[] = {0, 0, 1, 2, 0, 0, 0, 1};
    static const float fill = -1.5f;
    float x[2 * 2 * 3];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    for (int opset = 7; opset <= 13; opset += 6) {
        Onnx__ModelProto *mp = new_model(opset, 2, 2, 3);
        Onnx__NodeProto *n;
        if (opset >= 11) {
            mp->graph->initializer[mp->graph->n_initializer++] =
                tensor("p", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, pads_dims, 1,
                       pads, sizeof pads);
            add_weights(mp, "v", NULL, 0, &fill);
            n = add_node(mp, "Pad", "pad", INPUTS("x", "p", "v"), "y");
        } else {
            n = add_node(mp, "Pad", "pad", INPUTS("x"), "y");
            set_ints(n, "pads", pads, 8);
            set_float(n, "value", fill);
        }
        size_t size, len;
        uint8_t *bytes = pack(mp, &size);
        dg_model *m = import_bytes(bytes, size);
        float *y = run(m, x, 1, &len);
        float want[2 * 3 * 6];
        naive_pad(x, 1, 2, 2, 3, 1, 2, 0, 1, fill, want);
        ck_assert_uint_eq(len, 36);
        ck_assert_mem_eq(y, want, sizeof want);
        free(y);
        dg_model_free(m);
        release_all();
    }
}
END_TEST

static void add_meta(Onnx__ModelProto *mp, const char *key, const char *value)
{
    if (!mp->metadata_props)
        mp->metadata_props = hold(LIST_CAP * sizeof *mp->metadata_props);
    ck_assert_uint_lt(mp->n_metadata_props, LIST_CAP);
    Onnx__StringStringEntryProto *e = hold(sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = (char *)key;
    e->value = (char *)value;
    mp->metadata_props[mp->n_metadata_props++] = e;
}

static const char *meta_of(const Onnx__ModelProto *mp, const char *key)
{
    for (size_t k = 0; k < mp->n_metadata_props; k++)
        if (strcmp(mp->metadata_props[k]->key, key) == 0)
            return mp->metadata_props[k]->value;
    ck_abort_msg("no metadata %s", key);
    return NULL;
}

/* Export writes the preprocessing, the class names (JSON, escaped) and the
 * kind of output into metadata_props; import restores them. */
START_TEST(metadata_carries_preprocessing_and_names)
{
    dg_model *m = NULL;
    ck_assert_int_eq(dg_model_create("c4k3,relu,gap,fc3", 3, 6, 6, 1, &m),
                     DG_OK);
    dg_preprocess pre;
    dg_preprocess_init(&pre, sizeof pre, 3, 6, 6);
    const float mean[3] = {0.485f, 0.456f, 0.406f};
    const float std[3] = {0.229f, 0.224f, 0.225f};
    memcpy(pre.mean, mean, sizeof mean);
    memcpy(pre.std, std, sizeof std);
    pre.scale = 0.5f;
    ck_assert_int_eq(dg_model_set_preprocess(m, &pre), DG_OK);
    const char *names[3] = {"cat \"tabby\"", "dog\\wolf", "\xc3\xa9\nnew"};
    ck_assert_int_eq(dg_model_set_class_names(m, names, 3), DG_OK);

    size_t size;
    uint8_t *bytes = export_bytes(m, &size);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, bytes);
    ck_assert_ptr_nonnull(mp);
    ck_assert_str_eq(meta_of(mp, "diffguard.scale"), "0.5");
    ck_assert_str_eq(meta_of(mp, "diffguard.mean"),
                     "[0.485000014,0.456,0.405999988]");
    ck_assert_str_eq(meta_of(mp, "diffguard.output"), "logits");
    ck_assert_str_eq(meta_of(mp, "diffguard.class_names"),
                     "[\"cat \\\"tabby\\\"\",\"dog\\\\wolf\","
                     "\"\xc3\xa9\\u000anew\"]");
    ck_assert_ptr_nonnull(strstr(mp->doc_string, "output: 3 logits"));
    onnx__model_proto__free_unpacked(mp, NULL);

    dg_model *back = import_bytes(bytes, size);
    free(bytes);
    dg_preprocess got;
    got.struct_size = sizeof got;
    ck_assert_int_eq(dg_model_preprocess(back, &got), DG_OK);
    ck_assert(got.scale == 0.5f);
    for (int c = 0; c < 3; c++)
        ck_assert(got.mean[c] == mean[c] && got.std[c] == std[c]);
    for (uint32_t k = 0; k < 3; k++) {
        const char *name;
        ck_assert_int_eq(dg_model_class_name(back, k, &name), DG_OK);
        ck_assert_str_eq(name, names[k]);
    }
    dg_model_free(back);
    dg_model_free(m);
}
END_TEST

/* Metadata written by hand: JSON's escapes, and malformed values refused
 * with the key named. */
START_TEST(metadata_by_hand)
{
    /* A gray 2x1 image in, its two pixels out (rectified). */
    Onnx__ModelProto *mp = new_model(13, 1, 2, 1);
    add_node(mp, "Relu", "relu", INPUTS("x"), "y");
    add_meta(mp, "diffguard.scale", " 0.25 ");
    add_meta(mp, "diffguard.mean", " [ 3 ] ");
    add_meta(mp, "diffguard.std", "[2]");
    add_meta(mp, "diffguard.class_names",
             "[ \"a\\u00e9\\/\" , \"\\ud83d\\ude00\\t\" ]");
    size_t size;
    uint8_t *bytes = pack(mp, &size);
    dg_model *m = import_bytes(bytes, size);
    dg_preprocess got;
    got.struct_size = sizeof got;
    ck_assert_int_eq(dg_model_preprocess(m, &got), DG_OK);
    ck_assert(got.scale == 0.25f && got.mean[0] == 3.0f &&
              got.std[0] == 2.0f);
    const char *name;
    ck_assert_int_eq(dg_model_class_name(m, 0, &name), DG_OK);
    ck_assert_str_eq(name, "a\xc3\xa9/");
    ck_assert_int_eq(dg_model_class_name(m, 1, &name), DG_OK);
    ck_assert_str_eq(name, "\xf0\x9f\x98\x80\t");
    dg_model_free(m);

    /* Each bad value, added last, replaces the good one above. */
    static const char long_name[] =
        "[\"0123456789012345678901234567890123456789012345678901234567890123"
        "\",\"b\"]";
    static const struct {
        const char *key, *value, *needle;
    } bad[] = {
        {"diffguard.scale", "x", "diffguard.scale is \"x\"; expected a number"},
        {"diffguard.scale", "0", "preprocessing scale 0"},
        {"diffguard.mean", "[1,2]", "expected a JSON array of 1 numbers"},
        {"diffguard.mean", "1", "expected a JSON array of 1 numbers"},
        {"diffguard.std", "[0]", "ONNX metadata: preprocessing channel 0"},
        {"diffguard.class_names", "[\"a\"]", "JSON array of 2 strings"},
        {"diffguard.class_names", "[\"a\",\"b\\q\"]", "JSON array of 2"},
        {"diffguard.class_names", "[\"a\",\"\\ud83d\"]", "JSON array of 2"},
        {"diffguard.class_names", "[\"a\",\"b\"", "JSON array of 2"},
        {"diffguard.class_names", "[\"a\",\"b\"] x", "JSON array of 2"},
        {"diffguard.class_names", long_name, "at most 63 bytes"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        add_meta(mp, bad[k].key, bad[k].value);
        bytes = pack(mp, &size);
        expect_rejected(bytes, size, DG_E_FORMAT,
                        (const char *const[]){bad[k].needle}, 1);
        mp->n_metadata_props--;
    }
    release_all();
}
END_TEST

/* A flattened map stays C x H x W through ReLU and gets its flatten layer
 * where the layout matters: before Softmax, or as the graph output. */
START_TEST(flatten_layers_appear_where_needed)
{
    enum { BATCH = 2, F = 18 };
    static const int32_t to_softmax[] = {DG_LAYER_RELU, DG_LAYER_FLATTEN,
                                         DG_LAYER_SOFTMAX};
    static const int32_t to_output[] = {DG_LAYER_RELU, DG_LAYER_FLATTEN};
    float x[BATCH * F];
    for (int i = 0; i < BATCH * F; i++) x[i] = 0.1f * (float)(i % 7) - 0.2f;
    for (int softmax = 1; softmax >= 0; softmax--) {
        Onnx__ModelProto *mp = new_model(13, 2, 3, 3);
        add_node(mp, "Flatten", "flat", INPUTS("x"), "f");
        add_node(mp, "Relu", "relu", INPUTS("f"), softmax ? "r" : "y");
        if (softmax) add_node(mp, "Softmax", "probs", INPUTS("r"), "y");
        size_t size, len;
        uint8_t *bytes = pack(mp, &size);
        dg_model *m = import_bytes(bytes, size);
        expect_kinds(m, softmax ? to_softmax : to_output, 3u - !softmax,
                     "flatten");
        float *y = run(m, x, BATCH, &len);
        ck_assert_uint_eq(len, BATCH * F);
        for (int n = 0; n < BATCH; n++) {
            double sum = 0;
            for (int i = 0; i < F; i++) sum += exp(fmax(x[n * F + i], 0.0));
            for (int i = 0; i < F; i++) {
                double r = fmax(x[n * F + i], 0.0);
                double want = softmax ? exp(r) / sum : r;
                ck_assert_msg(fabs(y[n * F + i] - want) < 1e-6,
                              "output %d,%d: %g, expected %g", n, i,
                              y[n * F + i], want);
            }
        }
        free(y);
        dg_model_free(m);
        release_all();
    }
}
END_TEST

static Onnx__ModelProto *leaky_relu(void)
{
    Onnx__ModelProto *mp = new_model(13, 1, 6, 6);
    add_node(mp, "LeakyRelu", "leaky", INPUTS("x"), "y");
    return mp;
}

static Onnx__ModelProto *dilated_conv(void)
{
    static const int64_t two[] = {2, 2};
    Onnx__ModelProto *mp = new_model(13, 1, 8, 8);
    set_ints(conv(mp, 1, 2, 3), "dilations", two, 2);
    return mp;
}

static Onnx__ModelProto *asymmetric_pads(void)
{
    static const int64_t pads[] = {0, 0, 1, 1};
    Onnx__ModelProto *mp = new_model(13, 1, 6, 6);
    set_ints(conv(mp, 1, 2, 3), "pads", pads, 4);
    return mp;
}

static Onnx__ModelProto *same_upper_conv(void)
{
    Onnx__ModelProto *mp = new_model(13, 1, 6, 6);
    Onnx__AttributeProto *a =
        add_attr(conv(mp, 1, 2, 3), "auto_pad",
                 ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = (uint8_t *)"SAME_UPPER";
    a->s.len = 10;
    return mp;
}

static Onnx__ModelProto *pool_with(const char *op, const char *attr)
{
    static const int64_t kernel[] = {2, 2};
    Onnx__ModelProto *mp = new_model(13, 1, 6, 6);
    Onnx__NodeProto *n = add_node(mp, op, "pool", INPUTS("x"), "y");
    set_ints(n, "kernel_shape", kernel, 2);
    set_int(n, attr, 1);
    return mp;
}

static Onnx__ModelProto *avgpool_counting_pads(void)
{
    static const int64_t pads[] = {1, 1, 1, 1};
    Onnx__ModelProto *mp = pool_with("AveragePool", "count_include_pad");
    set_ints(mp->graph->node[0], "pads", pads, 4);
    return mp;
}

static Onnx__ModelProto *gemm_alpha(void)
{
    static const int64_t dims[] = {3, 5};
    Onnx__ModelProto *mp = new_model(13, 5, 0, 0);
    add_weights(mp, "w", dims, 2, NULL);
    Onnx__NodeProto *n = add_node(mp, "Gemm", "fc", INPUTS("x", "w"), "y");
    set_int(n, "transB", 1);
    set_float(n, "alpha", 0.5f);
    return mp;
}

static Onnx__ModelProto *softmax_over_rows(void)
{
    Onnx__ModelProto *mp = new_model(13, 3, 4, 4);
    set_int(add_node(mp, "Softmax", "probs", INPUTS("x"), "y"), "axis", 2);
    return mp;
}

static Onnx__ModelProto *double_weights(void)
{
    static const int64_t dims[] = {2, 1, 3, 3};
    Onnx__ModelProto *mp = new_model(13, 1, 6, 6);
    mp->graph->initializer[mp->graph->n_initializer++] =
        tensor("w", ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, dims, 4, NULL,
               18 * sizeof(double));
    add_node(mp, "Conv", "conv", INPUTS("x", "w"), "y");
    return mp;
}

static Onnx__ModelProto *foreign_domain(void)
{
    Onnx__ModelProto *mp = new_model(13, 1, 6, 6);
    add_node(mp, "Relu", "fused", INPUTS("x"), "y")->domain = "com.microsoft";
    return mp;
}

static Onnx__ModelProto *old_opset(void) { return new_model(6, 1, 6, 6); }

/* MatMul + Add cannot fold when something else reads the product. */
static Onnx__ModelProto *shared_product(void)
{
    static const int64_t w_dims[] = {5, 5}, b_dims[] = {5};
    Onnx__ModelProto *mp = new_model(13, 5, 0, 0);
    add_weights(mp, "w", w_dims, 2, NULL);
    add_weights(mp, "b", b_dims, 1, NULL);
    add_node(mp, "MatMul", "mm", INPUTS("x", "w"), "p");
    add_node(mp, "Add", "bias", INPUTS("p", "b"), "q");
    add_node(mp, "Add", "residual", INPUTS("q", "p"), "y");
    return mp;
}

static Onnx__ModelProto *used_indices(void)
{
    static const int64_t kernel[] = {2, 2};
    Onnx__ModelProto *mp = new_model(13, 1, 6, 6);
    Onnx__NodeProto *n = add_node(mp, "MaxPool", "pool", INPUTS("x"), "p");
    set_ints(n, "kernel_shape", kernel, 2);
    n->n_output = 2;
    n->output = hold(2 * sizeof *n->output);
    n->output[0] = "p";
    n->output[1] = "indices";
    add_node(mp, "Add", "sum", INPUTS("p", "indices"), "y");
    return mp;
}

START_TEST(unsupported_parts_are_named)
{
    static const struct {
        Onnx__ModelProto *(*build)(void);
        const char *needles[3];
    } cases[] = {
        {leaky_relu, {"'leaky'", "LeakyRelu"}},
        {dilated_conv, {"'conv'", "(Conv)", "dilations = 2"}},
        {asymmetric_pads, {"'conv'", "pads = [0, 0, 1, 1]"}},
        {same_upper_conv, {"'conv'", "auto_pad = SAME_UPPER"}},
        {avgpool_counting_pads,
         {"'pool'", "(AveragePool)", "count_include_pad"}},
        {gemm_alpha, {"'fc'", "(Gemm)", "alpha = 0.5"}},
        {softmax_over_rows, {"'probs'", "(Softmax)", "axis = 2"}},
        {double_weights, {"'conv'", "'w'", "DOUBLE"}},
        {foreign_domain, {"'fused'", "com.microsoft"}},
        {old_opset, {"operator set 6"}},
        {shared_product, {"'bias'", "(Add)", "nothing else reads"}},
        {used_indices, {"'pool'", "'indices'"}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        size_t size;
        uint8_t *bytes = pack(cases[k].build(), &size);
        expect_rejected(bytes, size, DG_E_UNSUPPORTED, cases[k].needles, 3);
        release_all();
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Corrupt and hostile input                                                */
/* ------------------------------------------------------------------------ */

START_TEST(truncated_and_corrupt_bytes_are_format_errors)
{
    size_t size;
    uint8_t *bytes = read_fixture("teacher", ".onnx", &size);
    const size_t cuts[] = {0, 1, 2, 3, 10, 100, 1000, size / 2, size - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++)
        expect_rejected(bytes, cuts[k], DG_E_FORMAT, NULL, 0);
    for (size_t cut = 7; cut < size; cut += size / 97)
        expect_rejected(bytes, cut, DG_E_FORMAT, NULL, 0);
    free(bytes);

    uint8_t garbage[4096];
    dg_rng rng;
    dg_rng_seed(&rng, 99);
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)dg_rng_below(&rng, 256);
    expect_rejected(garbage, sizeof garbage, DG_E_FORMAT, NULL, 0);

    /* A weight tensor whose data is shorter than its dimensions say. */
    static const int64_t dims[] = {2, 1, 3, 3};
    Onnx__ModelProto *mp = new_model(13, 1, 6, 6);
    mp->graph->initializer[mp->graph->n_initializer++] =
        tensor("w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, 4, NULL, 8);
    add_node(mp, "Conv", "conv", INPUTS("x", "w"), "y");
    bytes = pack(mp, &size);
    expect_rejected(bytes, size, DG_E_FORMAT,
                    (const char *[]){"'conv'", "holds 2 values"}, 2);
    release_all();
}
END_TEST

/* No import may crash on a damaged file: every byte of a small model,
 * flipped in turn, imports or fails cleanly. */
START_TEST(every_flipped_byte_fails_cleanly)
{
    size_t size;
    uint8_t *bytes = read_fixture("softmax", ".onnx", &size);
    for (size_t i = 0; i < size; i++) {
        bytes[i] ^= 0xFF;
        dg_model *m = NULL;
        dg_status s = dg_model_import_onnx_memory(bytes, size, &m);
        if (s == DG_OK)
            ck_assert_ptr_nonnull(m);
        else
            ck_assert(m == NULL && *dg_last_error_detail());
        dg_model_free(m);
        bytes[i] ^= 0xFF;
    }
    free(bytes);
}
END_TEST

/* Writes field `field` (length-delimited) around the len bytes that end at
 * `end`, in front of them; returns the new start. */
static uint8_t *wrap(uint8_t *start, const uint8_t *end, uint32_t field)
{
    uint8_t varint[10];
    size_t n = 0;
    for (uint64_t v = (uint64_t)(end - start); n == 0 || v; v >>= 7)
        varint[n++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
    start -= n;
    memcpy(start, varint, n);
    *--start = (uint8_t)(field << 3 | 2);
    return start;
}

START_TEST(hostile_nesting_and_bloat_are_refused)
{
    /* 100000 levels of TypeProto.sequence_type.elem_type in the input's
     * type: protobuf-c alone would overflow the stack. */
    enum { LEVELS = 100000 };
    size_t cap = LEVELS * 10 + 64;
    uint8_t *buf = malloc(cap), *end = buf + cap, *p = end;
    for (int i = 0; i < LEVELS; i++) p = wrap(wrap(p, end, 1), end, 4);
    p = wrap(wrap(wrap(p, end, 2), end, 11), end, 7);
    expect_rejected(p, (size_t)(end - p), DG_E_FORMAT, (const char *[]){"nest"},
                    1);
    free(buf);

    /* A node of 500000 empty attributes: 1 MB that would decode to over
     * 120 MB. */
    enum { ATTRIBUTES = 500000 };
    cap = 2 * ATTRIBUTES + 32;
    buf = malloc(cap);
    end = buf + cap;
    p = end - 2 * ATTRIBUTES;
    for (int i = 0; i < ATTRIBUTES; i++) memcpy(p + 2 * i, "\x2a\x00", 2);
    p = wrap(wrap(p, end, 1), end, 7); /* GraphProto.node, ModelProto.graph */
    expect_rejected(p, (size_t)(end - p), DG_E_FORMAT,
                    (const char *[]){"bytes to decode"}, 1);
    free(buf);

    /* Over 1 GiB is refused from the size alone. */
    static const uint8_t one = 0;
    expect_rejected(&one, ((size_t)1 << 30) + 1, DG_E_FORMAT,
                    (const char *[]){"allowed"}, 1);
}
END_TEST

/* The reproducers of doc/limits.md in ONNX: a max pool padded far past
 * its 1x1 input is refused at import in a file of a hundred bytes, and a
 * global average pool over a 1x1 map runs as the identity it is. */
START_TEST(work_limits_and_1x1_maps)
{
    static const int64_t kernel[] = {4001, 4001},
                         pads[] = {4000, 4000, 4000, 4000};
    Onnx__ModelProto *mp = new_model(13, 1, 1, 1);
    Onnx__NodeProto *n = add_node(mp, "MaxPool", "pool", INPUTS("x"), "y");
    set_ints(n, "kernel_shape", kernel, 2);
    set_ints(n, "pads", pads, 4);
    size_t size;
    uint8_t *bytes = pack(mp, &size);
    ck_assert_uint_lt(size, 160);
    expect_rejected(bytes, size, DG_E_SHAPE,
                    (const char *[]){"node 0 'pool'", "padding 4000 exceeds "
                                                      "the input size 1"},
                    2);

    mp = new_model(13, 3, 1, 1);
    add_node(mp, "GlobalAveragePool", "gap", INPUTS("x"), "y");
    bytes = pack(mp, &size);
    dg_model *m = import_bytes(bytes, size);
    static const float x[] = {0.5f, -2.0f, 7.0f, 1.0f, 0.0f, -3.5f};
    size_t len;
    float *y = run(m, x, 2, &len);
    ck_assert_uint_eq(len, 6);
    for (size_t k = 0; k < len; k++) ck_assert_float_eq(y[k], x[k]);
    free(y);
    dg_model_free(m);
    release_all();
}
END_TEST

/* Graph indexing is O(n log n): a chain of CHAIN Dropouts, each with an
 * unused mask output (which the importer checks nobody reads), imports
 * in well under a second, where reading every node's inputs for every
 * mask took about CHAIN^2 string comparisons (minutes: over this test
 * case's timeout). */
enum { CHAIN = 200000 };

START_TEST(large_graphs_import_in_linear_time)
{
    Onnx__ModelProto *mp = new_model(13, 1, 1, 1);
    Onnx__GraphProto *g = mp->graph;
    Onnx__NodeProto *nodes = calloc(CHAIN + 1, sizeof *nodes);
    Onnx__NodeProto **list = calloc(CHAIN + 1, sizeof *list);
    char(*names)[16] = calloc(2 * CHAIN, sizeof *names);
    char **outputs = calloc(2 * CHAIN, sizeof *outputs);
    char **inputs = calloc(CHAIN + 1, sizeof *inputs);
    ck_assert(nodes && list && names && outputs && inputs);
    static char *last_output[] = {"y"};
    for (size_t i = 0; i <= CHAIN; i++) {
        Onnx__NodeProto *n = &nodes[i];
        onnx__node_proto__init(n);
        inputs[i] = i == 0 ? "x" : names[2 * (i - 1)];
        n->n_input = 1;
        n->input = &inputs[i];
        if (i == CHAIN) {
            n->op_type = "Relu";
            n->n_output = 1;
            n->output = last_output;
        } else {
            n->op_type = "Dropout";
            snprintf(names[2 * i], sizeof *names, "d%zu", i);
            snprintf(names[2 * i + 1], sizeof *names, "m%zu", i);
            outputs[2 * i] = names[2 * i];
            outputs[2 * i + 1] = names[2 * i + 1];
            n->n_output = 2;
            n->output = &outputs[2 * i];
        }
        list[i] = n;
    }
    g->node = list;
    g->n_node = CHAIN + 1;
    size_t size;
    uint8_t *bytes = malloc(onnx__model_proto__get_packed_size(mp));
    size = onnx__model_proto__pack(mp, bytes);
    dg_model *m = import_bytes(bytes, size);
    ck_assert_uint_eq(m->n_layers, 1);
    ck_assert_int_eq(m->layers[0].kind, DG_LAYER_RELU);
    dg_model_free(m);
    free(bytes);
    free(inputs);
    free(outputs);
    free(names);
    free(list);
    free(nodes);
    release_all();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("onnx");
    TCase *tc = tcase_create("onnx");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, pytorch_exports_match_pytorch_outputs);
    tcase_add_test(tc, pytorch_graphs_map_to_the_expected_layers);
    tcase_add_test(tc, imported_models_round_trip);
    tcase_add_test(tc, created_models_round_trip);
    tcase_add_test(tc, pruned_units_export_as_zero);
    tcase_add_test(tc, memory_and_file_contracts);
    tcase_add_test(tc, pass_through_and_folded_nodes);
    tcase_add_test(tc, activations_import);
    tcase_add_test(tc, pad_import);
    tcase_add_test(tc, hardswish_pattern_and_concat_chains);
    tcase_add_test(tc, flatten_layers_appear_where_needed);
    tcase_add_test(tc, metadata_carries_preprocessing_and_names);
    tcase_add_test(tc, metadata_by_hand);
    tcase_add_test(tc, unsupported_parts_are_named);
    tcase_add_test(tc, truncated_and_corrupt_bytes_are_format_errors);
    tcase_add_test(tc, every_flipped_byte_fails_cleanly);
    tcase_add_test(tc, hostile_nesting_and_bloat_are_refused);
    tcase_add_test(tc, work_limits_and_1x1_maps);
    suite_add_tcase(s, tc);
    /* Generous for the linear import (a second under sanitizers), far
     * short of the quadratic one's minutes. */
    TCase *scale = tcase_create("scale");
    tcase_set_timeout(scale, 30);
    tcase_add_test(scale, large_graphs_import_in_linear_time);
    suite_add_tcase(s, scale);
    return run_suite(s, CK_FORK);
}
