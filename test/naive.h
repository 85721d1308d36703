/* naive.h - straightforward reference implementations of every layer, written
 * independently of the library so that tests compare against something that
 * is obviously right rather than against the code under test. */
#ifndef DG_TEST_NAIVE_H
#define DG_TEST_NAIVE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* x[n][c][h][w] with NCHW strides. */
#define AT4(p, C, H, W, n, c, h, w)                                           \
    (p)[(((size_t)(n) * (C) + (c)) * (H) + (h)) * (W) + (w)]

/* Convolution in G groups: output channel o sees the C/G input channels
 * of its group, weights O x C/G x K x K. */
static inline void naive_conv_groups(const float *x, int N, int C, int H,
                                     int W, const float *wt,
                                     const float *bias, int O, int K, int S,
                                     int P, int G, float *y, int OH, int OW)
{
    int CG = C / G, OG = O / G;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double acc = bias ? bias[o] : 0.0;
                    for (int c = 0; c < CG; c++)
                        for (int kh = 0; kh < K; kh++)
                            for (int kw = 0; kw < K; kw++) {
                                int ih = oh * S - P + kh, iw = ow * S - P + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                acc += (double)AT4(x, C, H, W, n,
                                                   o / OG * CG + c, ih, iw) *
                                       AT4(wt, CG, K, K, o, c, kh, kw);
                            }
                    AT4(y, O, OH, OW, n, o, oh, ow) = (float)acc;
                }
}

static inline void naive_conv(const float *x, int N, int C, int H, int W,
                              const float *wt, const float *bias, int O,
                              int K, int S, int P, float *y, int OH, int OW)
{
    naive_conv_groups(x, N, C, H, W, wt, bias, O, K, S, P, 1, y, OH, OW);
}

/* Max or average pooling; the average counts only positions inside the
 * input (padding excluded). */
static inline void naive_pool(const float *x, int N, int C, int H, int W,
                              int K, int S, int P, int max, float *y, int OH,
                              int OW)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double acc = max ? -INFINITY : 0.0;
                    int count = 0;
                    for (int kh = 0; kh < K; kh++)
                        for (int kw = 0; kw < K; kw++) {
                            int ih = oh * S - P + kh, iw = ow * S - P + kw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                continue;
                            double v = AT4(x, C, H, W, n, c, ih, iw);
                            acc = max ? (v > acc ? v : acc) : acc + v;
                            count++;
                        }
                    AT4(y, C, OH, OW, n, c, oh, ow) =
                        (float)(max ? acc : acc / count);
                }
}

static inline void naive_linear(const float *x, int N, int I,
                                const float *wt, const float *bias, int O,
                                float *y)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double acc = bias[o];
            for (int i = 0; i < I; i++)
                acc += (double)x[(size_t)n * I + i] * wt[(size_t)o * I + i];
            y[(size_t)n * O + o] = (float)acc;
        }
}

/* Softmax over channels at every spatial position. */
static inline void naive_softmax(const float *x, int N, int C, int HW,
                                 float *y)
{
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++) {
            double mx = -INFINITY, sum = 0;
            for (int c = 0; c < C; c++) {
                double v = x[((size_t)n * C + c) * HW + p];
                if (v > mx) mx = v;
            }
            for (int c = 0; c < C; c++)
                sum += exp(x[((size_t)n * C + c) * HW + p] - mx);
            for (int c = 0; c < C; c++)
                y[((size_t)n * C + c) * HW + p] =
                    (float)(exp(x[((size_t)n * C + c) * HW + p] - mx) / sum);
        }
}

/* Batch normalisation with given statistics. */
static inline void naive_bnorm(const float *x, int N, int C, int HW,
                               const float *gamma, const float *beta,
                               const float *mean, const float *var, float eps,
                               float *y)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < HW; p++) {
                size_t k = ((size_t)n * C + c) * HW + p;
                y[k] = (float)((x[k] - mean[c]) / sqrt((double)var[c] + eps) *
                                   gamma[c] +
                               beta[c]);
            }
}

/* Per-channel batch mean and (biased) variance. */
static inline void naive_batch_stats(const float *x, int N, int C, int HW,
                                     float *mean, float *var)
{
    for (int c = 0; c < C; c++) {
        double s = 0, s2 = 0;
        for (int n = 0; n < N; n++)
            for (int p = 0; p < HW; p++) {
                double v = x[((size_t)n * C + c) * HW + p];
                s += v;
                s2 += v * v;
            }
        double m = s / ((double)N * HW);
        mean[c] = (float)m;
        var[c] = (float)(s2 / ((double)N * HW) - m * m);
    }
}

/* Element-wise activations: f(x) of each kind, as their definitions say. */
static inline float naive_clip(float x, float lo, float hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static inline float naive_sigmoid(float x)
{
    return (float)(1.0 / (1.0 + exp(-(double)x)));
}

static inline float naive_hardsigmoid(float x, float alpha, float beta)
{
    return naive_clip(alpha * x + beta, 0.0f, 1.0f);
}

static inline float naive_hardswish(float x)
{
    return x * naive_clip(x + 3.0f, 0.0f, 6.0f) / 6.0f;
}

/* x (N x C x H x W) with t rows above, l columns left, b rows below and r
 * columns right of value v: y is N x C x (H+t+b) x (W+l+r). */
static inline void naive_pad(const float *x, int N, int C, int H, int W,
                             int t, int l, int b, int r, float v, float *y)
{
    int OH = H + t + b, OW = W + l + r;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    int ih = oh - t, iw = ow - l;
                    int inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
                    AT4(y, C, OH, OW, n, c, oh, ow) =
                        inside ? AT4(x, C, H, W, n, c, ih, iw) : v;
                }
}

/* y = a * b, a N x C x HW, b N x C x HW or N x C x 1 (broadcast). */
static inline void naive_mul(const float *a, const float *b, int N, int C,
                             int HW, int broadcast, float *y)
{
    for (size_t p = 0; p < (size_t)N * C; p++)
        for (int k = 0; k < HW; k++)
            y[p * HW + k] = a[p * HW + k] * b[broadcast ? p : p * HW + k];
}

/* y = the channels of a (Ca) then of b (Cb), per sample. */
static inline void naive_concat(const float *a, int Ca, const float *b,
                                int Cb, int N, int HW, float *y)
{
    for (int n = 0; n < N; n++) {
        for (size_t k = 0; k < (size_t)Ca * HW; k++)
            *y++ = a[(size_t)n * Ca * HW + k];
        for (size_t k = 0; k < (size_t)Cb * HW; k++)
            *y++ = b[(size_t)n * Cb * HW + k];
    }
}

/* Largest |a-b| relative to max(1, |b|). */
static inline double max_rel_err(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        double scale = fabs((double)b[i]) > 1 ? fabs((double)b[i]) : 1;
        if (!(d / scale <= worst)) worst = d / scale; /* catches NaN */
    }
    return worst;
}

#endif
