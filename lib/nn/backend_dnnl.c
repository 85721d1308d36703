/* backend_dnnl.c - the only file that calls oneDNN.
 *
 * Each public constructor describes one operation, lets oneDNN choose an
 * implementation, and wraps it as a dg_prim whose tensors are bound per run.
 * Activations are plain NCHW/NC so the rest of the library can read them,
 * except between inference convolutions and poolings, which may pass NHWC
 * (dg_window.layout) to skip two reorders per layer; inference weights may
 * be repacked once into oneDNN's preferred layout. */
#include "nn/backend.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "core/alloc.h"

/* A run-time tensor kept in a layout of the primitive's choosing: the
 * caller's plain buffer is reordered into `inner` before the primitive runs
 * (inputs) or out of it afterwards (outputs). */
typedef struct adapter {
    int slot, output;
    dnnl_memory_t user, inner;
    dnnl_primitive_t reorder;
    void *buf;
} adapter;

struct dg_prim {
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    int n_args;
    int dnnl_arg[DG_SLOTS + 2];
    int slot[DG_SLOTS + 2]; /* -1: bound at creation (packed, scratchpad) */
    dnnl_memory_t mem[DG_SLOTS + 2];
    void *owned[3];         /* scratchpad and packed weights/bias buffers */
    size_t workspace_bytes;
    adapter adapt[4];
    int n_adapt;
};

static dnnl_engine_t engine;
static dnnl_status_t engine_status = dnnl_success;
static once_flag engine_once = ONCE_FLAG_INIT;

static void engine_create(void)
{
    engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
}

static dg_status dnnl_fail(dnnl_status_t st, const char *what)
{
    static const char *names[] = {
        "success", "out of memory", "invalid arguments", "unimplemented",
        "iterator ends", "runtime error", "not required", "invalid graph",
        "invalid graph op", "invalid shape", "invalid data type"};
    const char *n =
        (unsigned)st < sizeof names / sizeof *names ? names[st] : "unknown";
    return dg_fail(st == dnnl_out_of_memory ? DG_E_NOMEM : DG_E_BACKEND,
                   "oneDNN %s: %s", what, n);
}

#define DNNL_TRY(call, what)                                                  \
    do {                                                                      \
        dnnl_status_t st_ = (call);                                           \
        if (st_ != dnnl_success) return dnnl_fail(st_, what);                 \
    } while (0)

static dg_status get_engine(dnnl_engine_t *out)
{
    call_once(&engine_once, engine_create);
    if (engine_status != dnnl_success)
        return dnnl_fail(engine_status, "creating the CPU engine");
    *out = engine;
    return DG_OK;
}

/* ---- memory descriptors ------------------------------------------------ */

/* n samples of shape s, NHWC if nhwc, else NCHW. */
static dg_status md_act(dnnl_memory_desc_t *md, uint32_t n, dg_shape s,
                        int nhwc)
{
    dnnl_dims_t d = {n, s.c, s.h, s.w};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32,
                                          nhwc ? dnnl_nhwc : dnnl_nchw),
             "activation descriptor");
    return DG_OK;
}

static dg_status md_nchw(dnnl_memory_desc_t *md, uint32_t n, dg_shape s)
{
    return md_act(md, n, s, 0);
}

static dg_status md_2d(dnnl_memory_desc_t *md, uint32_t rows, uint32_t cols,
                       int any)
{
    dnnl_dims_t d = {rows, cols};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(md, 2, d, dnnl_f32,
                                          any ? dnnl_format_tag_any : dnnl_ab),
             "matrix descriptor");
    return DG_OK;
}

static dg_status md_1d(dnnl_memory_desc_t *md, uint32_t n)
{
    dnnl_dims_t d = {n};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(md, 1, d, dnnl_f32, dnnl_a),
             "vector descriptor");
    return DG_OK;
}

/* OIHW weights; grouped, the same bytes seen as G x O/G x I/G x K x K. */
static dg_status md_weights(dnnl_memory_desc_t *md, const dg_window *g)
{
    uint32_t groups = g->groups;
    dnnl_dims_t dense = {g->out.c, g->in.c, g->k, g->k},
                grouped = {groups, g->out.c / groups, g->in.c / groups, g->k,
                           g->k};
    if (groups > 1) {
        DNNL_TRY(dnnl_memory_desc_init_by_tag(md, 5, grouped, dnnl_f32,
                                              dnnl_goihw),
                 "grouped weights descriptor");
        return DG_OK;
    }
    DNNL_TRY(dnnl_memory_desc_init_by_tag(md, 4, dense, dnnl_f32, dnnl_oihw),
             "weights descriptor");
    return DG_OK;
}

/* The same dimensions as `plain` with the layout left to the primitive. */
static dg_status md_any(dnnl_memory_desc_t *md, const dnnl_memory_desc_t *plain)
{
    DNNL_TRY(dnnl_memory_desc_init_by_tag(md, plain->ndims, plain->dims,
                                          dnnl_f32, dnnl_format_tag_any),
             "layout-free descriptor");
    return DG_OK;
}

/* Channel-broadcast mask: 1 x C x 1 x 1, or 1 x C for rank 2. */
static dg_status md_mask(dnnl_memory_desc_t *md, uint32_t c, int rank)
{
    dnnl_dims_t d = {1, c, 1, 1};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(md, rank, d, dnnl_f32,
                                          rank == 4 ? dnnl_nchw : dnnl_ab),
             "mask descriptor");
    return DG_OK;
}

/* ---- primitive construction ------------------------------------------- */

/* A run-time argument.  With `plain` set, the primitive was free to choose
 * the tensor's layout, and the caller's plain buffer is adapted to it. */
typedef struct binding {
    dg_slot slot;
    int arg;
    const dnnl_memory_desc_t *plain;
} binding;

static int is_output_slot(dg_slot s)
{
    return s == DG_DST || s == DG_DIFF_SRC || s == DG_DIFF_WEIGHTS ||
           s == DG_DIFF_BIAS;
}

void dg_prim_free(dg_prim *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_args; i++)
        if (p->mem[i]) dnnl_memory_destroy(p->mem[i]);
    for (int i = 0; i < 3; i++) free(p->owned[i]);
    for (int i = 0; i < p->n_adapt; i++) {
        adapter *a = &p->adapt[i];
        if (a->user) dnnl_memory_destroy(a->user);
        if (a->inner) dnnl_memory_destroy(a->inner);
        if (a->reorder) dnnl_primitive_destroy(a->reorder);
        free(a->buf);
    }
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->stream) dnnl_stream_destroy(p->stream);
    free(p);
}

static dg_status add_arg(dg_prim *p, const dnnl_memory_desc_t *md, int arg,
                         int slot, void *handle)
{
    DNNL_TRY(dnnl_memory_create(&p->mem[p->n_args], md, engine,
                                handle ? handle : DNNL_MEMORY_NONE),
             "binding memory");
    p->dnnl_arg[p->n_args] = arg;
    p->slot[p->n_args] = slot;
    p->n_args++;
    return DG_OK;
}

static dg_status alloc_owned(dg_prim *p, int which, size_t bytes,
                             const char *what)
{
    void *buf = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded > DG_MAX_ALLOC || !(buf = aligned_alloc(64, rounded ? rounded : 64)))
        return dg_fail(DG_E_NOMEM, "%s: %zu bytes", what, bytes);
    p->owned[which] = buf;
    return DG_OK;
}

/* Binds `arg` to a buffer in the layout `want`, reordered from or to the
 * caller's plain layout at every run. */
static dg_status add_adapter(dg_prim *p, const binding *b,
                             const dnnl_memory_desc_t *want)
{
    if (p->n_adapt == (int)(sizeof p->adapt / sizeof *p->adapt))
        return dg_fail(DG_E_INTERNAL, "too many layout adapters");
    adapter *a = &p->adapt[p->n_adapt++];
    a->slot = (int)b->slot;
    a->output = is_output_slot(b->slot);
    size_t bytes = (dnnl_memory_desc_get_size(want) + 63) & ~(size_t)63;
    if (!(a->buf = aligned_alloc(64, bytes ? bytes : 64)))
        return dg_fail(DG_E_NOMEM, "layout buffer of %zu bytes", bytes);
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_status_t st = dnnl_memory_create(&a->inner, want, engine, a->buf);
    if (st == dnnl_success)
        st = dnnl_memory_create(&a->user, b->plain, engine, DNNL_MEMORY_NONE);
    if (st == dnnl_success)
        st = a->output ? dnnl_reorder_primitive_desc_create(
                             &rpd, want, engine, b->plain, engine, NULL)
                       : dnnl_reorder_primitive_desc_create(
                             &rpd, b->plain, engine, want, engine, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(&a->reorder, rpd);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (st != dnnl_success) return dnnl_fail(st, "layout reorder");
    DNNL_TRY(dnnl_memory_create(&p->mem[p->n_args], want, engine, a->buf),
             "binding memory");
    p->dnnl_arg[p->n_args] = b->arg;
    p->slot[p->n_args] = -1;
    p->n_args++;
    return DG_OK;
}

static dg_status run_adapter(dg_prim *p, adapter *a, void *user_buf)
{
    if (!user_buf)
        return dg_fail(DG_E_INTERNAL, "primitive argument %d unbound",
                       a->slot);
    DNNL_TRY(dnnl_memory_set_data_handle(a->user, user_buf),
             "binding a tensor");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a->output ? a->inner : a->user},
                               {DNNL_ARG_TO, a->output ? a->user : a->inner}};
    DNNL_TRY(dnnl_primitive_execute(a->reorder, p->stream, 2, args),
             "layout reorder");
    return DG_OK;
}

/* Creates the primitive for `desc` (attr may be NULL, hint may be NULL),
 * binds the listed arguments as run-time slots, and attaches an owned
 * scratchpad. */
static dg_status build(dg_prim **out, const void *desc,
                       dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                       const binding *binds, int n_binds, const char *what,
                       dnnl_primitive_desc_t *keep_pd)
{
    *out = NULL;
    dnnl_engine_t eng = NULL;
    DG_TRY(get_engine(&eng));
    dnnl_primitive_attr_t own_attr = NULL;
    if (!attr) {
        DNNL_TRY(dnnl_primitive_attr_create(&own_attr), what);
        attr = own_attr;
    }
    dnnl_status_t st = dnnl_primitive_attr_set_scratchpad_mode(
        attr, dnnl_scratchpad_mode_user);
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, desc, attr, eng, hint);
    if (own_attr) dnnl_primitive_attr_destroy(own_attr);
    if (st != dnnl_success) return dnnl_fail(st, what);

    dg_prim *p = calloc(1, sizeof *p);
    dg_status s = p ? DG_OK : dg_fail(DG_E_NOMEM, "%s", what);
    if (s == DG_OK) {
        st = dnnl_primitive_create(&p->prim, pd);
        if (st == dnnl_success) st = dnnl_stream_create(&p->stream, eng,
                                                        dnnl_stream_default_flags);
        if (st != dnnl_success) s = dnnl_fail(st, what);
    }
    for (int i = 0; s == DG_OK && i < n_binds; i++) {
        const dnnl_memory_desc_t *md =
            dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md,
                                         binds[i].arg);
        if (binds[i].plain && !dnnl_memory_desc_equal(md, binds[i].plain))
            s = add_adapter(p, &binds[i], md);
        else
            s = add_arg(p, md, binds[i].arg, (int)binds[i].slot, NULL);
        if (s == DG_OK && binds[i].slot == DG_WORKSPACE)
            p->workspace_bytes = dnnl_memory_desc_get_size(md);
    }
    if (s == DG_OK) {
        const dnnl_memory_desc_t *smd =
            dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        size_t bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
        if (bytes > 0) {
            s = alloc_owned(p, 0, bytes, "scratchpad");
            if (s == DG_OK)
                s = add_arg(p, smd, DNNL_ARG_SCRATCHPAD, -1, p->owned[0]);
        }
    }
    if (s == DG_OK && keep_pd) {
        *keep_pd = pd;
    } else {
        dnnl_primitive_desc_destroy(pd);
    }
    if (s != DG_OK) {
        dg_prim_free(p);
        return s;
    }
    *out = p;
    return DG_OK;
}

/* Creates a primitive descriptor only, as the hint a backward pass needs. */
static dg_status hint_pd(dnnl_primitive_desc_t *pd, const void *desc,
                         const char *what)
{
    dnnl_engine_t eng = NULL;
    DG_TRY(get_engine(&eng));
    DNNL_TRY(dnnl_primitive_desc_create(pd, desc, NULL, eng, NULL), what);
    return DG_OK;
}

/* Copies a plain tensor into the layout the primitive asked for, into an
 * owned buffer bound permanently to `arg`. */
static dg_status pack(dg_prim *p, const_dnnl_primitive_desc_t pd, int arg,
                      const dnnl_memory_desc_t *plain, const float *data,
                      int owned_slot)
{
    const dnnl_memory_desc_t *want =
        dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    size_t bytes = dnnl_memory_desc_get_size(want);
    DG_TRY(alloc_owned(p, owned_slot, bytes, "packed weights"));
    if (dnnl_memory_desc_equal(want, plain)) {
        memcpy(p->owned[owned_slot], data, bytes);
        return add_arg(p, want, arg, -1, p->owned[owned_slot]);
    }
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_status_t st = dnnl_memory_create(&src, plain, engine, (void *)data);
    if (st == dnnl_success)
        st = dnnl_memory_create(&dst, want, engine, p->owned[owned_slot]);
    if (st == dnnl_success)
        st = dnnl_reorder_primitive_desc_create(&rpd, plain, engine, want,
                                                engine, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(&r, rpd);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
        st = dnnl_primitive_execute(r, p->stream, 2, args);
        if (st == dnnl_success) st = dnnl_stream_wait(p->stream);
    }
    if (r) dnnl_primitive_destroy(r);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (src) dnnl_memory_destroy(src);
    if (dst) dnnl_memory_destroy(dst);
    if (st != dnnl_success) return dnnl_fail(st, "repacking weights");
    return add_arg(p, want, arg, -1, p->owned[owned_slot]);
}

dg_status dg_prim_run(dg_prim *p, void *const args[DG_SLOTS])
{
    dnnl_exec_arg_t ea[DG_SLOTS + 2];
    for (int i = 0; i < p->n_adapt; i++)
        if (!p->adapt[i].output)
            DG_TRY(run_adapter(p, &p->adapt[i], args[p->adapt[i].slot]));
    for (int i = 0; i < p->n_args; i++) {
        if (p->slot[i] >= 0) {
            void *h = args[p->slot[i]];
            if (!h)
                return dg_fail(DG_E_INTERNAL, "primitive argument %d unbound",
                               p->slot[i]);
            DNNL_TRY(dnnl_memory_set_data_handle(p->mem[i], h),
                     "binding a tensor");
        }
        ea[i].arg = p->dnnl_arg[i];
        ea[i].memory = p->mem[i];
    }
    DNNL_TRY(dnnl_primitive_execute(p->prim, p->stream, p->n_args, ea),
             "execute");
    for (int i = 0; i < p->n_adapt; i++)
        if (p->adapt[i].output)
            DG_TRY(run_adapter(p, &p->adapt[i], args[p->adapt[i].slot]));
    DNNL_TRY(dnnl_stream_wait(p->stream), "stream wait");
    return DG_OK;
}

size_t dg_prim_workspace_bytes(const dg_prim *p) { return p->workspace_bytes; }

static dnnl_alg_kind_t eltwise_alg(dg_eltwise f)
{
    switch (f) {
    case DG_ELT_CLIP: return dnnl_eltwise_clip_v2;
    case DG_ELT_LOGISTIC: return dnnl_eltwise_logistic;
    case DG_ELT_HARDSWISH: return dnnl_eltwise_hardswish;
    default: return dnnl_eltwise_relu;
    }
}

/* Post-ops: optional channel mask (binary multiply), then an optional
 * element-wise function (ReLU, clip, ...). */
static dg_status post_attr(dnnl_primitive_attr_t *attr, const dg_post *post,
                           uint32_t channels, int rank, int *mask_index)
{
    *attr = NULL;
    *mask_index = -1;
    if (!post->mask && !post->eltwise) return DG_OK;
    dnnl_post_ops_t ops;
    DNNL_TRY(dnnl_post_ops_create(&ops), "post-ops");
    dnnl_status_t st = dnnl_success;
    int idx = 0;
    if (post->mask) {
        dnnl_memory_desc_t mmd;
        dg_status s = md_mask(&mmd, channels, rank);
        if (s != DG_OK) {
            dnnl_post_ops_destroy(ops);
            return s;
        }
        st = dnnl_post_ops_append_binary(ops, dnnl_binary_mul, &mmd);
        *mask_index = idx++;
    }
    if (st == dnnl_success && post->eltwise)
        st = dnnl_post_ops_append_eltwise(ops, 1.0f, eltwise_alg(post->f),
                                          post->alpha, post->beta);
    if (st == dnnl_success) st = dnnl_primitive_attr_create(attr);
    if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(*attr, ops);
    dnnl_post_ops_destroy(ops);
    if (st != dnnl_success) {
        if (*attr) dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
        return dnnl_fail(st, "post-ops");
    }
    return DG_OK;
}

/* Shared tail of conv and linear forward: bind activations, then either
 * pack the weights once or bind them per run. */
/* Plain (caller-side) layouts of a weighted layer's tensors. */
typedef struct plain_mds {
    dnnl_memory_desc_t src, dst, w, b;
} plain_mds;

static dg_status weighted_forward(dg_prim **out, const void *desc,
                                  const dg_post *post, uint32_t channels,
                                  int rank,
                                  const plain_mds *plain,
                                  const float *packed_w, const float *packed_b,
                                  const char *what)
{
    dnnl_primitive_attr_t attr;
    int mask_index;
    DG_TRY(post_attr(&attr, post, channels, rank, &mask_index));
    binding b[4] = {{DG_SRC, DNNL_ARG_SRC, &plain->src},
                    {DG_DST, DNNL_ARG_DST, &plain->dst}};
    int nb = 2;
    if (!packed_w) {
        b[nb++] = (binding){DG_WEIGHTS, DNNL_ARG_WEIGHTS, &plain->w};
        b[nb++] = (binding){DG_BIAS, DNNL_ARG_BIAS, NULL};
    }
    dnnl_primitive_desc_t pd = NULL;
    dg_status s = build(out, desc, attr, NULL, b, nb, what, &pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (s != DG_OK) return s;
    if (packed_w) s = pack(*out, pd, DNNL_ARG_WEIGHTS, &plain->w, packed_w, 1);
    if (s == DG_OK && packed_w)
        s = pack(*out, pd, DNNL_ARG_BIAS, &plain->b, packed_b, 2);
    if (s == DG_OK && mask_index >= 0) {
        const dnnl_memory_desc_t *mmd = dnnl_primitive_desc_query_md(
            pd, dnnl_query_exec_arg_md,
            DNNL_ARG_ATTR_MULTIPLE_POST_OP(mask_index) | DNNL_ARG_SRC_1);
        s = add_arg(*out, mmd,
                    DNNL_ARG_ATTR_MULTIPLE_POST_OP(mask_index) | DNNL_ARG_SRC_1,
                    DG_MASK, NULL);
    }
    dnnl_primitive_desc_destroy(pd);
    if (s != DG_OK) {
        dg_prim_free(*out);
        *out = NULL;
    }
    return s;
}

/* ---- convolution ------------------------------------------------------- */

/* A convolution between channels-last (NHWC) activations runs in that
 * layout, which oneDNN's kernels take directly in training and inference,
 * so no reorder happens between such layers.  Otherwise it lets oneDNN
 * choose the layouts of activations (blocked layouts run direct JIT kernels
 * several times faster than the im2col path plain NCHW gets), with layout
 * adapters at the edges; weights are always oneDNN's choice. */
typedef struct conv_mds {
    dnnl_memory_desc_t src, w, b, dst;
    plain_mds plain;
    dnnl_dims_t strides, pad;
} conv_mds;

static dg_status conv_describe(conv_mds *c, const dg_window *g)
{
    DG_TRY(md_act(&c->plain.src, g->n, g->in, g->layout & DG_LAYOUT_SRC_NHWC));
    DG_TRY(md_act(&c->plain.dst, g->n, g->out, g->layout & DG_LAYOUT_DST_NHWC));
    DG_TRY(md_weights(&c->plain.w, g));
    DG_TRY(md_1d(&c->b, g->out.c));
    c->plain.b = c->b;
    if ((g->layout & DG_LAYOUT_SRC_NHWC) && (g->layout & DG_LAYOUT_DST_NHWC)) {
        c->src = c->plain.src;
        c->dst = c->plain.dst;
    } else {
        DG_TRY(md_any(&c->src, &c->plain.src));
        DG_TRY(md_any(&c->dst, &c->plain.dst));
    }
    DG_TRY(md_any(&c->w, &c->plain.w));
    c->strides[0] = c->strides[1] = g->s;
    c->pad[0] = c->pad[1] = g->p;
    return DG_OK;
}

static dg_status conv_forward_desc(dnnl_convolution_desc_t *d, conv_mds *c,
                                   const dg_window *g, int training)
{
    DG_TRY(conv_describe(c, g));
    DNNL_TRY(dnnl_convolution_forward_desc_init(
                 d, training ? dnnl_forward_training : dnnl_forward_inference,
                 dnnl_convolution_direct, &c->src, &c->w, &c->b, &c->dst,
                 c->strides, c->pad, c->pad),
             "convolution forward");
    return DG_OK;
}

dg_status dg_conv_forward(dg_prim **out, const dg_window *g, int training,
                          const dg_post *post, const float *packed_weights,
                          const float *packed_bias)
{
    dnnl_convolution_desc_t d;
    conv_mds c;
    DG_TRY(conv_forward_desc(&d, &c, g, training));
    return weighted_forward(out, &d, post, g->out.c, 4, &c.plain,
                            packed_weights, packed_bias, "convolution forward");
}

dg_status dg_conv_backward_data(dg_prim **out, const dg_window *g)
{
    dnnl_convolution_desc_t fd, d;
    conv_mds c;
    DG_TRY(conv_forward_desc(&fd, &c, g, 1));
    DNNL_TRY(dnnl_convolution_backward_data_desc_init(
                 &d, dnnl_convolution_direct, &c.src, &c.w, &c.dst, c.strides,
                 c.pad, c.pad),
             "convolution backward data");
    dnnl_primitive_desc_t hint;
    DG_TRY(hint_pd(&hint, &fd, "convolution forward hint"));
    binding b[] = {{DG_DIFF_DST, DNNL_ARG_DIFF_DST, &c.plain.dst},
                   {DG_WEIGHTS, DNNL_ARG_WEIGHTS, &c.plain.w},
                   {DG_DIFF_SRC, DNNL_ARG_DIFF_SRC, &c.plain.src}};
    dg_status s = build(out, &d, NULL, hint, b, 3, "convolution backward data",
                        NULL);
    dnnl_primitive_desc_destroy(hint);
    return s;
}

dg_status dg_conv_backward_weights(dg_prim **out, const dg_window *g)
{
    dnnl_convolution_desc_t fd, d;
    conv_mds c;
    DG_TRY(conv_forward_desc(&fd, &c, g, 1));
    DNNL_TRY(dnnl_convolution_backward_weights_desc_init(
                 &d, dnnl_convolution_direct, &c.src, &c.w, &c.b, &c.dst,
                 c.strides, c.pad, c.pad),
             "convolution backward weights");
    dnnl_primitive_desc_t hint;
    DG_TRY(hint_pd(&hint, &fd, "convolution forward hint"));
    binding b[] = {{DG_SRC, DNNL_ARG_SRC, &c.plain.src},
                   {DG_DIFF_DST, DNNL_ARG_DIFF_DST, &c.plain.dst},
                   {DG_DIFF_WEIGHTS, DNNL_ARG_DIFF_WEIGHTS, &c.plain.w},
                   {DG_DIFF_BIAS, DNNL_ARG_DIFF_BIAS, NULL}};
    dg_status s = build(out, &d, NULL, hint, b, 4,
                        "convolution backward weights", NULL);
    dnnl_primitive_desc_destroy(hint);
    return s;
}

/* ---- linear ------------------------------------------------------------ */

/* Activations stay plain (N x features suits the GEMM kernels); the
 * weights' layout is left to oneDNN. */
typedef struct ip_mds {
    dnnl_memory_desc_t src, w, b, dst;
    plain_mds plain;
} ip_mds;

static dg_status ip_forward_desc(dnnl_inner_product_desc_t *d, ip_mds *m,
                                 uint32_t n, uint32_t in, uint32_t out,
                                 int training)
{
    DG_TRY(md_2d(&m->plain.src, n, in, 0));
    DG_TRY(md_2d(&m->plain.dst, n, out, 0));
    DG_TRY(md_2d(&m->plain.w, out, in, 0));
    DG_TRY(md_1d(&m->plain.b, out));
    m->src = m->plain.src;
    m->dst = m->plain.dst;
    m->b = m->plain.b;
    DG_TRY(md_2d(&m->w, out, in, 1));
    DNNL_TRY(dnnl_inner_product_forward_desc_init(
                 d, training ? dnnl_forward_training : dnnl_forward_inference,
                 &m->src, &m->w, &m->b, &m->dst),
             "linear forward");
    return DG_OK;
}

dg_status dg_linear_forward(dg_prim **out, uint32_t n, uint32_t in_features,
                            uint32_t out_features, int training,
                            const dg_post *post, const float *packed_weights,
                            const float *packed_bias)
{
    dnnl_inner_product_desc_t d;
    ip_mds m;
    DG_TRY(ip_forward_desc(&d, &m, n, in_features, out_features, training));
    return weighted_forward(out, &d, post, out_features, 2, &m.plain,
                            packed_weights, packed_bias, "linear forward");
}

dg_status dg_linear_backward_data(dg_prim **out, uint32_t n,
                                  uint32_t in_features, uint32_t out_features)
{
    dnnl_inner_product_desc_t fd, d;
    ip_mds m;
    DG_TRY(ip_forward_desc(&fd, &m, n, in_features, out_features, 1));
    DNNL_TRY(dnnl_inner_product_backward_data_desc_init(&d, &m.src, &m.w,
                                                        &m.dst),
             "linear backward data");
    dnnl_primitive_desc_t hint;
    DG_TRY(hint_pd(&hint, &fd, "linear forward hint"));
    binding b[] = {{DG_DIFF_DST, DNNL_ARG_DIFF_DST, NULL},
                   {DG_WEIGHTS, DNNL_ARG_WEIGHTS, &m.plain.w},
                   {DG_DIFF_SRC, DNNL_ARG_DIFF_SRC, NULL}};
    dg_status s = build(out, &d, NULL, hint, b, 3, "linear backward data",
                        NULL);
    dnnl_primitive_desc_destroy(hint);
    return s;
}

dg_status dg_linear_backward_weights(dg_prim **out, uint32_t n,
                                     uint32_t in_features,
                                     uint32_t out_features)
{
    dnnl_inner_product_desc_t fd, d;
    ip_mds m;
    DG_TRY(ip_forward_desc(&fd, &m, n, in_features, out_features, 1));
    DNNL_TRY(dnnl_inner_product_backward_weights_desc_init(&d, &m.src, &m.w,
                                                           &m.b, &m.dst),
             "linear backward weights");
    dnnl_primitive_desc_t hint;
    DG_TRY(hint_pd(&hint, &fd, "linear forward hint"));
    binding b[] = {{DG_SRC, DNNL_ARG_SRC, NULL},
                   {DG_DIFF_DST, DNNL_ARG_DIFF_DST, NULL},
                   {DG_DIFF_WEIGHTS, DNNL_ARG_DIFF_WEIGHTS, &m.plain.w},
                   {DG_DIFF_BIAS, DNNL_ARG_DIFF_BIAS, NULL}};
    dg_status s = build(out, &d, NULL, hint, b, 4, "linear backward weights",
                        NULL);
    dnnl_primitive_desc_destroy(hint);
    return s;
}

/* ---- pooling ----------------------------------------------------------- */

/* The padding after the input that gives g->out: p, or more when the
 * output size was rounded up (the last window overhangs the end). */
static int64_t pad_end(uint32_t in, uint32_t out, const dg_window *g)
{
    int64_t need = ((int64_t)out - 1) * g->s + g->k - in - g->p;
    return need > g->p ? need : g->p;
}

/* The pooling runs in its source's layout; a destination wanted in the
 * other layout is adapted (`dst` gives the wanted one). */
static dg_status pool_forward_desc(dnnl_pooling_desc_t *d, const dg_window *g,
                                   int max, int training,
                                   dnnl_memory_desc_t *dst)
{
    int nhwc = (g->layout & DG_LAYOUT_SRC_NHWC) != 0;
    dnnl_memory_desc_t src, run_dst;
    DG_TRY(md_act(&src, g->n, g->in, nhwc));
    DG_TRY(md_act(&run_dst, g->n, g->out, nhwc));
    DG_TRY(md_act(dst, g->n, g->out, g->layout & DG_LAYOUT_DST_NHWC));
    dnnl_dims_t strides = {g->s, g->s}, kernel = {g->k, g->k},
                pad = {g->p, g->p},
                pad_r = {pad_end(g->in.h, g->out.h, g),
                         pad_end(g->in.w, g->out.w, g)};
    DNNL_TRY(dnnl_pooling_forward_desc_init(
                 d, training ? dnnl_forward_training : dnnl_forward_inference,
                 max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding,
                 &src, &run_dst, strides, kernel, pad, pad_r),
             "pooling forward");
    return DG_OK;
}

dg_status dg_pool_forward(dg_prim **out, const dg_window *g, int max,
                          int training)
{
    dnnl_pooling_desc_t d;
    dnnl_memory_desc_t dst;
    DG_TRY(pool_forward_desc(&d, g, max, training, &dst));
    binding b[] = {{DG_SRC, DNNL_ARG_SRC},
                   {DG_DST, DNNL_ARG_DST, &dst},
                   {DG_WORKSPACE, DNNL_ARG_WORKSPACE}};
    return build(out, &d, NULL, NULL, b, max && training ? 3 : 2,
                 "pooling forward", NULL);
}

dg_status dg_pool_backward(dg_prim **out, const dg_window *g, int max)
{
    dnnl_pooling_desc_t fd, d;
    dnnl_memory_desc_t src, dst, wanted_dst;
    DG_TRY(pool_forward_desc(&fd, g, max, 1, &wanted_dst));
    /* Like the forward, in the source's layout; the output gradient is
     * adapted from the layout the destination has. */
    int nhwc = (g->layout & DG_LAYOUT_SRC_NHWC) != 0;
    DG_TRY(md_act(&src, g->n, g->in, nhwc));
    DG_TRY(md_act(&dst, g->n, g->out, nhwc));
    dnnl_dims_t strides = {g->s, g->s}, kernel = {g->k, g->k},
                pad = {g->p, g->p},
                pad_r = {pad_end(g->in.h, g->out.h, g),
                         pad_end(g->in.w, g->out.w, g)};
    DNNL_TRY(dnnl_pooling_backward_desc_init(
                 &d, max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding,
                 &src, &dst, strides, kernel, pad, pad_r),
             "pooling backward");
    dnnl_primitive_desc_t hint;
    DG_TRY(hint_pd(&hint, &fd, "pooling forward hint"));
    binding b[] = {{DG_DIFF_DST, DNNL_ARG_DIFF_DST, &wanted_dst},
                   {DG_DIFF_SRC, DNNL_ARG_DIFF_SRC},
                   {DG_WORKSPACE, DNNL_ARG_WORKSPACE}};
    dg_status s = build(out, &d, NULL, hint, b, max ? 3 : 2,
                        "pooling backward", NULL);
    dnnl_primitive_desc_destroy(hint);
    return s;
}

/* ---- layout ------------------------------------------------------------ */

dg_status dg_to_nchw(dg_prim **out, uint32_t n, dg_shape s)
{
    *out = NULL;
    dnnl_engine_t eng = NULL;
    DG_TRY(get_engine(&eng));
    dnnl_memory_desc_t src, dst;
    DG_TRY(md_act(&src, n, s, 1));
    DG_TRY(md_nchw(&dst, n, s));
    dg_prim *p = calloc(1, sizeof *p);
    if (!p) return dg_fail(DG_E_NOMEM, "layout reorder");
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st =
        dnnl_reorder_primitive_desc_create(&pd, &src, eng, &dst, eng, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(&p->prim, pd);
    if (st == dnnl_success)
        st = dnnl_stream_create(&p->stream, eng, dnnl_stream_default_flags);
    if (pd) dnnl_primitive_desc_destroy(pd);
    dg_status r = st == dnnl_success ? DG_OK : dnnl_fail(st, "layout reorder");
    if (r == DG_OK) r = add_arg(p, &src, DNNL_ARG_FROM, DG_SRC, NULL);
    if (r == DG_OK) r = add_arg(p, &dst, DNNL_ARG_TO, DG_DST, NULL);
    if (r != DG_OK) {
        dg_prim_free(p);
        return r;
    }
    *out = p;
    return DG_OK;
}

/* ---- element-wise, softmax, batch norm, binary, reduction --------------- */

dg_status dg_eltwise_forward(dg_prim **out, dg_eltwise f, float alpha,
                             float beta, uint32_t n, dg_shape s)
{
    dnnl_memory_desc_t md;
    dnnl_eltwise_desc_t d;
    DG_TRY(md_nchw(&md, n, s));
    DNNL_TRY(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training,
                                            eltwise_alg(f), &md, alpha, beta),
             "element-wise forward");
    binding b[] = {{DG_SRC, DNNL_ARG_SRC}, {DG_DST, DNNL_ARG_DST}};
    return build(out, &d, NULL, NULL, b, 2, "element-wise forward", NULL);
}

dg_status dg_eltwise_backward(dg_prim **out, dg_eltwise f, float alpha,
                              float beta, uint32_t n, dg_shape s)
{
    dnnl_memory_desc_t md;
    dnnl_eltwise_desc_t fd, d;
    DG_TRY(md_nchw(&md, n, s));
    DNNL_TRY(dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training,
                                            eltwise_alg(f), &md, alpha, beta),
             "element-wise forward");
    DNNL_TRY(dnnl_eltwise_backward_desc_init(&d, eltwise_alg(f), &md, &md,
                                             alpha, beta),
             "element-wise backward");
    dnnl_primitive_desc_t hint;
    DG_TRY(hint_pd(&hint, &fd, "element-wise forward hint"));
    binding b[] = {{DG_SRC, DNNL_ARG_SRC},
                   {DG_DIFF_DST, DNNL_ARG_DIFF_DST},
                   {DG_DIFF_SRC, DNNL_ARG_DIFF_SRC}};
    dg_status st = build(out, &d, NULL, hint, b, 3, "element-wise backward",
                         NULL);
    dnnl_primitive_desc_destroy(hint);
    return st;
}

dg_status dg_softmax_forward(dg_prim **out, uint32_t n, dg_shape s)
{
    dnnl_memory_desc_t md;
    dnnl_softmax_desc_t d;
    DG_TRY(md_nchw(&md, n, s));
    DNNL_TRY(dnnl_softmax_forward_desc_init(&d, dnnl_forward_training, &md, 1),
             "softmax forward");
    binding b[] = {{DG_SRC, DNNL_ARG_SRC}, {DG_DST, DNNL_ARG_DST}};
    return build(out, &d, NULL, NULL, b, 2, "softmax forward", NULL);
}

dg_status dg_softmax_backward(dg_prim **out, uint32_t n, dg_shape s)
{
    dnnl_memory_desc_t md;
    dnnl_softmax_desc_t fd, d;
    DG_TRY(md_nchw(&md, n, s));
    DNNL_TRY(dnnl_softmax_forward_desc_init(&fd, dnnl_forward_training, &md,
                                            1),
             "softmax forward");
    DNNL_TRY(dnnl_softmax_backward_desc_init(&d, &md, &md, 1),
             "softmax backward");
    dnnl_primitive_desc_t hint;
    DG_TRY(hint_pd(&hint, &fd, "softmax forward hint"));
    binding b[] = {{DG_DST, DNNL_ARG_DST},
                   {DG_DIFF_DST, DNNL_ARG_DIFF_DST},
                   {DG_DIFF_SRC, DNNL_ARG_DIFF_SRC}};
    dg_status st = build(out, &d, NULL, hint, b, 3, "softmax backward", NULL);
    dnnl_primitive_desc_destroy(hint);
    return st;
}

static const unsigned bnorm_flags = dnnl_use_scale | dnnl_use_shift;

dg_status dg_bnorm_forward(dg_prim **out, uint32_t n, dg_shape s, float eps,
                           int training)
{
    dnnl_memory_desc_t md;
    dnnl_batch_normalization_desc_t d;
    DG_TRY(md_nchw(&md, n, s));
    DNNL_TRY(dnnl_batch_normalization_forward_desc_init(
                 &d, training ? dnnl_forward_training : dnnl_forward_inference,
                 &md, eps,
                 bnorm_flags | (training ? 0u : (unsigned)dnnl_use_global_stats)),
             "batchnorm forward");
    binding b[] = {{DG_SRC, DNNL_ARG_SRC},       {DG_DST, DNNL_ARG_DST},
                   {DG_SCALE, DNNL_ARG_SCALE},   {DG_SHIFT, DNNL_ARG_SHIFT},
                   {DG_MEAN, DNNL_ARG_MEAN},     {DG_VARIANCE, DNNL_ARG_VARIANCE}};
    return build(out, &d, NULL, NULL, b, 6, "batchnorm forward", NULL);
}

dg_status dg_bnorm_backward(dg_prim **out, uint32_t n, dg_shape s, float eps)
{
    dnnl_memory_desc_t md;
    dnnl_batch_normalization_desc_t fd, d;
    DG_TRY(md_nchw(&md, n, s));
    DNNL_TRY(dnnl_batch_normalization_forward_desc_init(
                 &fd, dnnl_forward_training, &md, eps, bnorm_flags),
             "batchnorm forward");
    DNNL_TRY(dnnl_batch_normalization_backward_desc_init(
                 &d, dnnl_backward, &md, &md, eps, bnorm_flags),
             "batchnorm backward");
    dnnl_primitive_desc_t hint;
    DG_TRY(hint_pd(&hint, &fd, "batchnorm forward hint"));
    binding b[] = {{DG_SRC, DNNL_ARG_SRC},
                   {DG_DIFF_DST, DNNL_ARG_DIFF_DST},
                   {DG_SCALE, DNNL_ARG_SCALE},
                   {DG_SHIFT, DNNL_ARG_SHIFT},
                   {DG_MEAN, DNNL_ARG_MEAN},
                   {DG_VARIANCE, DNNL_ARG_VARIANCE},
                   {DG_DIFF_SRC, DNNL_ARG_DIFF_SRC},
                   {DG_DIFF_SCALE, DNNL_ARG_DIFF_SCALE},
                   {DG_DIFF_SHIFT, DNNL_ARG_DIFF_SHIFT}};
    dg_status st = build(out, &d, NULL, hint, b, 9, "batchnorm backward", NULL);
    dnnl_primitive_desc_destroy(hint);
    return st;
}

static dg_status binary(dg_prim **out, dnnl_alg_kind_t alg,
                        const dnnl_memory_desc_t *a,
                        const dnnl_memory_desc_t *b, const char *what)
{
    dnnl_binary_desc_t d;
    DNNL_TRY(dnnl_binary_desc_init(&d, alg, a, b, a), what);
    binding bi[] = {{DG_SRC, DNNL_ARG_SRC_0},
                    {DG_SRC1, DNNL_ARG_SRC_1},
                    {DG_DST, DNNL_ARG_DST}};
    return build(out, &d, NULL, NULL, bi, 3, what, NULL);
}

dg_status dg_add(dg_prim **out, uint32_t n, dg_shape s)
{
    dnnl_memory_desc_t md;
    DG_TRY(md_nchw(&md, n, s));
    return binary(out, dnnl_binary_add, &md, &md, "add");
}

dg_status dg_mul(dg_prim **out, uint32_t n, dg_shape a, dg_shape b)
{
    dnnl_memory_desc_t amd, bmd;
    DG_TRY(md_nchw(&amd, n, a));
    DG_TRY(md_nchw(&bmd, n, b));
    return binary(out, dnnl_binary_mul, &amd, &bmd, "mul");
}

dg_status dg_scale_channels(dg_prim **out, uint32_t n, dg_shape s)
{
    dnnl_memory_desc_t md, mmd;
    DG_TRY(md_nchw(&md, n, s));
    DG_TRY(md_mask(&mmd, s.c, 4));
    dnnl_binary_desc_t d;
    DNNL_TRY(dnnl_binary_desc_init(&d, dnnl_binary_mul, &md, &mmd, &md),
             "channel mask");
    binding bi[] = {{DG_SRC, DNNL_ARG_SRC_0},
                    {DG_MASK, DNNL_ARG_SRC_1},
                    {DG_DST, DNNL_ARG_DST}};
    return build(out, &d, NULL, NULL, bi, 3, "channel mask", NULL);
}

dg_status dg_mean_spatial(dg_prim **out, uint32_t n, dg_shape s)
{
    dnnl_memory_desc_t src, dst;
    DG_TRY(md_nchw(&src, n, s));
    DG_TRY(md_nchw(&dst, n, (dg_shape){s.c, 1, 1}));
    binding b[] = {{DG_SRC, DNNL_ARG_SRC}, {DG_DST, DNNL_ARG_DST}};
    if (s.h == 1 && s.w == 1) {
        /* oneDNN refuses a reduction that reduces nothing; the mean of one
         * value is that value, copied by an identity (1 * x + 0). */
        dnnl_eltwise_desc_t copy;
        DNNL_TRY(dnnl_eltwise_forward_desc_init(&copy, dnnl_forward_inference,
                                                dnnl_eltwise_linear, &src,
                                                1.f, 0.f),
                 "spatial mean of 1x1");
        return build(out, &copy, NULL, NULL, b, 2, "spatial mean", NULL);
    }
    dnnl_reduction_desc_t d;
    DNNL_TRY(dnnl_reduction_desc_init(&d, dnnl_reduction_mean, &src, &dst,
                                      0.f, 0.f),
             "spatial mean");
    return build(out, &d, NULL, NULL, b, 2, "spatial mean", NULL);
}

dg_status dg_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k,
                   float alpha, const float *a, int64_t lda, const float *b,
                   int64_t ldb, float beta, float *c, int64_t ldc)
{
    DNNL_TRY(dnnl_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta,
                        c, ldc),
             "sgemm");
    return DG_OK;
}
