/* backend.h - the compute primitives the layers are built from.  Every
 * oneDNN call in the library lives in backend_dnnl.c behind this header, so
 * no other file sees a oneDNN type.
 *
 * A dg_prim is one prepared oneDNN primitive for fixed shapes.  Its tensors
 * are bound per run through an array of pointers indexed by dg_slot;
 * activations are plain NCHW (or NC) float32, except where a convolution
 * or pooling window says its source or destination (and their gradients)
 * are channels-last (NHWC), the layout oneDNN's convolutions run in; an
 * element-wise function runs in whatever layout it is given.  A primitive
 * owns its stream and scratchpad, so different primitives may run on
 * different threads at once, but one primitive runs on one thread at a
 * time. */
#ifndef DG_NN_BACKEND_H
#define DG_NN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"

typedef struct dg_prim dg_prim;

typedef enum dg_slot {
    DG_SRC,
    DG_SRC1,
    DG_DST,
    DG_WEIGHTS,
    DG_BIAS,
    DG_DIFF_SRC,
    DG_DIFF_DST,
    DG_DIFF_WEIGHTS,
    DG_DIFF_BIAS,
    DG_WORKSPACE,
    DG_MEAN,
    DG_VARIANCE,
    DG_SCALE,
    DG_SHIFT,
    DG_DIFF_SCALE,
    DG_DIFF_SHIFT,
    DG_MASK, /* per-channel 0/1 multiplier applied after the op */
    DG_SLOTS
} dg_slot;

/* Element-wise functions of oneDNN.  The backward pass reads DG_SRC. */
typedef enum dg_eltwise {
    DG_ELT_RELU,      /* max(x, 0) */
    DG_ELT_CLIP,      /* min(max(x, alpha), beta) */
    DG_ELT_LOGISTIC,  /* 1 / (1 + exp(-x)) */
    DG_ELT_HARDSWISH, /* x * min(max(x + 3, 0), 6) / 6 */
} dg_eltwise;

/* Post-operations fused into a convolution or linear forward. */
typedef struct dg_post {
    int mask;          /* multiply output channels by a 0/1 mask (DG_MASK) */
    int eltwise;       /* then apply f with alpha and beta */
    dg_eltwise f;
    float alpha, beta;
} dg_post;

/* Layouts of a window's activations (dg_window.layout); 0: both NCHW. */
#define DG_LAYOUT_SRC_NHWC 1u
#define DG_LAYOUT_DST_NHWC 2u

/* Geometry shared by convolution and pooling: batch n, per-sample input and
 * output shapes, square kernel k, stride s, symmetric padding p,
 * convolution groups (1: dense), and the activations' DG_LAYOUT_* (the
 * gradients of a backward primitive share them).  The padding after the
 * last row and column is whatever makes the output size come out: p, or
 * more for a pooling that rounds its output size up. */
typedef struct dg_window {
    uint32_t n;
    dg_shape in, out;
    uint32_t k, s, p;
    uint32_t groups;
    unsigned layout;
} dg_window;

dg_status dg_prim_run(dg_prim *p, void *const args[DG_SLOTS]);
void dg_prim_free(dg_prim *p);
/* Bytes of workspace the primitive needs in DG_WORKSPACE (0 if none). */
size_t dg_prim_workspace_bytes(const dg_prim *p);

/* Convolution.  With packed_weights non-NULL (inference), weights (OIHW)
 * and bias are copied once into the layout the backend prefers and need
 * not be bound at run time; otherwise DG_WEIGHTS/DG_BIAS are bound per run,
 * OIHW. */
dg_status dg_conv_forward(dg_prim **out, const dg_window *g, int training,
                          const dg_post *post, const float *packed_weights,
                          const float *packed_bias);
dg_status dg_conv_backward_data(dg_prim **out, const dg_window *g);
dg_status dg_conv_backward_weights(dg_prim **out, const dg_window *g);

/* Fully connected over n samples of `in_features`, weights O x I. */
dg_status dg_linear_forward(dg_prim **out, uint32_t n, uint32_t in_features,
                            uint32_t out_features, int training,
                            const dg_post *post, const float *packed_weights,
                            const float *packed_bias);
dg_status dg_linear_backward_data(dg_prim **out, uint32_t n,
                                  uint32_t in_features, uint32_t out_features);
dg_status dg_linear_backward_weights(dg_prim **out, uint32_t n,
                                     uint32_t in_features,
                                     uint32_t out_features);

/* Max or average (padding excluded) pooling.  Max pooling in training
 * needs a DG_WORKSPACE of dg_prim_workspace_bytes, shared by the forward
 * and backward primitives. */
dg_status dg_pool_forward(dg_prim **out, const dg_window *g, int max,
                          int training);
dg_status dg_pool_backward(dg_prim **out, const dg_window *g, int max);

/* Copies n samples of shape s from NHWC (SRC) to NCHW (DST). */
dg_status dg_to_nchw(dg_prim **out, uint32_t n, dg_shape s);

/* ReLU over n samples of shape s. */
dg_status dg_relu_forward(dg_prim **out, uint32_t n, dg_shape s);
dg_status dg_relu_backward(dg_prim **out, uint32_t n, dg_shape s);

/* f over n samples of shape s (the element-wise functions above). */
dg_status dg_eltwise_forward(dg_prim **out, dg_eltwise f, float alpha,
                             float beta, uint32_t n, dg_shape s);
dg_status dg_eltwise_backward(dg_prim **out, dg_eltwise f, float alpha,
                              float beta, uint32_t n, dg_shape s);

/* Softmax over channels. */
dg_status dg_softmax_forward(dg_prim **out, uint32_t n, dg_shape s);
dg_status dg_softmax_backward(dg_prim **out, uint32_t n, dg_shape s);

/* Batch normalisation with scale and shift.  Training computes batch mean
 * and variance into DG_MEAN/DG_VARIANCE; inference reads them. */
dg_status dg_bnorm_forward(dg_prim **out, uint32_t n, dg_shape s, float eps,
                           int training);
dg_status dg_bnorm_backward(dg_prim **out, uint32_t n, dg_shape s, float eps);

/* DST = SRC + SRC1 (same shapes). */
dg_status dg_add(dg_prim **out, uint32_t n, dg_shape s);
/* DST = SRC * SRC1, SRC of shape a, SRC1 of shape b: a, or a.c x 1 x 1
 * broadcast over height and width. */
dg_status dg_mul(dg_prim **out, uint32_t n, dg_shape a, dg_shape b);
/* DST = SRC * MASK, a per-channel factor (C values, 0/1 for pruning masks)
 * broadcast over batch and space; may run in place. */
dg_status dg_scale_channels(dg_prim **out, uint32_t n, dg_shape s);
/* DST[n][c] = mean over height and width of SRC[n][c] (activation
 * statistics for pruning). */
dg_status dg_mean_spatial(dg_prim **out, uint32_t n, dg_shape s);

/* C = alpha * op(A) * op(B) + beta * C, row-major, as BLAS sgemm. */
dg_status dg_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k,
                   float alpha, const float *a, int64_t lda, const float *b,
                   int64_t ldb, float beta, float *c, int64_t ldc);

#endif
