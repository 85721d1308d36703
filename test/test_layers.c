/* test_layers.c - every layer's forward pass against the naive references in
 * naive.h, over random shapes with odd sizes, padding and stride, in both
 * inference (fused, packed weights) and training executors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "naive.h"
#include "nn/exec_internal.h"
#include "nn/model.h"
#include "nn/spec.h"
#include "suite.h"

static dg_rng rng;

static float *random_floats(size_t n, float scale)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = scale * (2 * dg_rng_uniform(&rng) - 1);
    return p;
}

static void randomize_params(dg_model *m)
{
    for (uint32_t i = 0; i < m->n_layers; i++) {
        dg_layer *l = &m->layers[i];
        for (uint32_t p = 0; p < l->n_params; p++)
            for (size_t k = 0; k < l->param_len[p]; k++)
                l->param[p][k] = dg_rng_uniform(&rng) - 0.5f;
        if (l->kind == DG_LAYER_BATCHNORM)
            for (size_t k = 0; k < l->param_len[3]; k++)
                l->param[3][k] = 0.5f + dg_rng_uniform(&rng); /* variance > 0 */
    }
}

static dg_model *build(const char *spec, dg_shape in)
{
    dg_model *m = NULL;
    dg_status s = dg_spec_parse(spec, in, &m);
    ck_assert_msg(s == DG_OK, "%s: %s", spec, dg_last_error_detail());
    randomize_params(m);
    return m;
}

/* Runs m on x (batch n) with the given executor flags; returns a copy of
 * layer `layer`'s output. */
static float *run(dg_model *m, const float *x, uint32_t n, unsigned flags,
                  int32_t layer)
{
    dg_exec *e = NULL;
    dg_status s = dg_exec_create(m, n, flags, &e);
    ck_assert_msg(s == DG_OK, "exec: %s", dg_last_error_detail());
    s = dg_exec_forward(e, x, n);
    ck_assert_msg(s == DG_OK, "forward: %s", dg_last_error_detail());
    const float *out = dg_exec_output(e, layer);
    ck_assert_msg(out != NULL, "output: %s", dg_last_error_detail());
    size_t len = (size_t)n * dg_shape_size(m->layers[layer].out);
    float *copy = malloc(len * sizeof *copy);
    memcpy(copy, out, len * sizeof *copy);
    dg_exec_free(e);
    return copy;
}

static const unsigned modes[] = {0, DG_EXEC_BACKWARD};

static void expect_close(const float *got, const float *want, size_t n,
                         double tol, const char *what)
{
    double err = max_rel_err(got, want, n);
    ck_assert_msg(err <= tol, "%s: error %g > %g", what, err, tol);
}

/* Dense, grouped and depthwise (one input and one output per group). */
START_TEST(conv_matches_reference)
{
    for (int trial = 0; trial < 36; trial++) {
        int G = trial % 3 == 0 ? 1 : 2 + (int)dg_rng_below(&rng, 3);
        int depthwise = trial % 3 == 1;
        int N = 1 + (int)dg_rng_below(&rng, 3);
        int C = G * (depthwise ? 1 : 1 + (int)dg_rng_below(&rng, G > 1 ? 3 : 5));
        int H = 3 + (int)dg_rng_below(&rng, 12), W = 3 + (int)dg_rng_below(&rng, 12);
        int K = 1 + (int)dg_rng_below(&rng, H < W ? H : W < 5 ? (H < W ? H : W) : 5);
        if (K > H) K = H;
        if (K > W) K = W;
        int S = 1 + (int)dg_rng_below(&rng, 3), P = (int)dg_rng_below(&rng, (uint32_t)K);
        int O = G * (depthwise ? 1 : 1 + (int)dg_rng_below(&rng, G > 1 ? 4 : 9));
        char spec[64];
        snprintf(spec, sizeof spec, "c%dk%ds%dp%dg%d", O, K, S, P, G);
        dg_model *m = build(spec, (dg_shape){(uint32_t)C, (uint32_t)H, (uint32_t)W});
        int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
        ck_assert_int_eq(m->layers[0].out.h, OH);
        ck_assert_int_eq(m->layers[0].out.w, OW);
        float *x = random_floats((size_t)N * C * H * W, 1);
        float *want = malloc((size_t)N * O * OH * OW * sizeof *want);
        naive_conv_groups(x, N, C, H, W, m->layers[0].param[0],
                          m->layers[0].param[1], O, K, S, P, G, want, OH, OW);
        for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
            float *got = run(m, x, (uint32_t)N, modes[k], 0);
            expect_close(got, want, (size_t)N * O * OH * OW, 1e-4, spec);
            free(got);
        }
        free(x);
        free(want);
        dg_model_destroy(m);
    }
}
END_TEST

/* Output sizes rounded down, and up (ceil) where a last window overhangs
 * the input; the average counts only the input a window covers. */
START_TEST(pooling_matches_reference)
{
    for (int trial = 0; trial < 48; trial++) {
        int max = trial % 2 == 0, ceil = trial % 3 == 0;
        int N = 1 + (int)dg_rng_below(&rng, 3), C = 1 + (int)dg_rng_below(&rng, 4);
        int H = 2 + (int)dg_rng_below(&rng, 11), W = 2 + (int)dg_rng_below(&rng, 11);
        int lim = H < W ? H : W;
        int K = 1 + (int)dg_rng_below(&rng, (uint32_t)(lim < 4 ? lim : 4));
        int S = 1 + (int)dg_rng_below(&rng, 3), P = (int)dg_rng_below(&rng, (uint32_t)K);
        if (P > K / 2) P = K / 2; /* oneDNN requires the window to see data */
        char spec[64];
        snprintf(spec, sizeof spec, "%s%ds%dp%d%s", max ? "mp" : "ap", K, S, P,
                 ceil ? "ceil" : "");
        dg_model *m = build(spec, (dg_shape){(uint32_t)C, (uint32_t)H, (uint32_t)W});
        int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
        if (ceil) { /* PyTorch's rule: the last window starts in the input */
            OH = (H + 2 * P - K + S - 1) / S + 1;
            OW = (W + 2 * P - K + S - 1) / S + 1;
            if ((OH - 1) * S >= H + P) OH--;
            if ((OW - 1) * S >= W + P) OW--;
        }
        ck_assert_int_eq(m->layers[0].out.h, OH);
        ck_assert_int_eq(m->layers[0].out.w, OW);
        float *x = random_floats((size_t)N * C * H * W, 1);
        float *want = malloc((size_t)N * C * OH * OW * sizeof *want);
        naive_pool(x, N, C, H, W, K, S, P, max, want, OH, OW);
        for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
            float *got = run(m, x, (uint32_t)N, modes[k], 0);
            expect_close(got, want, (size_t)N * C * OH * OW, 1e-5, spec);
            free(got);
        }
        free(x);
        free(want);
        dg_model_destroy(m);
    }
}
END_TEST

START_TEST(linear_relu_softmax_gap_match_reference)
{
    for (int trial = 0; trial < 12; trial++) {
        int N = 1 + (int)dg_rng_below(&rng, 5), C = 1 + (int)dg_rng_below(&rng, 4);
        int H = 1 + (int)dg_rng_below(&rng, 7), W = 1 + (int)dg_rng_below(&rng, 7);
        int O = 1 + (int)dg_rng_below(&rng, 20);
        char spec[64];
        snprintf(spec, sizeof spec, "gap,fc%d,relu,softmax", O);
        /* Also the flattening linear on a 3-D input. */
        char spec2[64];
        snprintf(spec2, sizeof spec2, "flatten,fc%d,relu", O);
        dg_shape in = {(uint32_t)C, (uint32_t)H, (uint32_t)W};
        dg_model *m = build(spec, in), *m2 = build(spec2, in);
        float *x = random_floats((size_t)N * C * H * W, 2);
        float *pooled = malloc((size_t)N * C * sizeof *pooled);
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                double s = 0;
                for (int p = 0; p < H * W; p++) s += x[((size_t)n * C + c) * H * W + p];
                pooled[n * C + c] = (float)(s / (H * W));
            }
        float *lin = malloc((size_t)N * O * sizeof *lin);
        float *soft = malloc((size_t)N * O * sizeof *soft);
        naive_linear(pooled, N, C, m->layers[1].param[0], m->layers[1].param[1], O, lin);
        for (int k = 0; k < N * O; k++) lin[k] = lin[k] > 0 ? lin[k] : 0;
        naive_softmax(lin, N, O, 1, soft);
        float *lin2 = malloc((size_t)N * O * sizeof *lin2);
        naive_linear(x, N, C * H * W, m2->layers[1].param[0], m2->layers[1].param[1], O, lin2);
        for (int k = 0; k < N * O; k++) lin2[k] = lin2[k] > 0 ? lin2[k] : 0;
        for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
            float *g0 = run(m, x, (uint32_t)N, modes[k], 0);
            expect_close(g0, pooled, (size_t)N * C, 1e-5, "gap");
            float *g2 = run(m, x, (uint32_t)N, modes[k], 2);
            expect_close(g2, lin, (size_t)N * O, 1e-4, "linear+relu");
            float *g3 = run(m, x, (uint32_t)N, modes[k], 3);
            expect_close(g3, soft, (size_t)N * O, 1e-5, "softmax");
            float *h2 = run(m2, x, (uint32_t)N, modes[k], 2);
            expect_close(h2, lin2, (size_t)N * O, 1e-4, "flatten+linear+relu");
            free(g0);
            free(g2);
            free(g3);
            free(h2);
        }
        free(x);
        free(pooled);
        free(lin);
        free(soft);
        free(lin2);
        dg_model_destroy(m);
        dg_model_destroy(m2);
    }
}
END_TEST

/* Each activation on inputs in (-8, 8), which reaches every bound and
 * saturation. */
START_TEST(activations_match_reference)
{
    enum { CLIP, RELU6, SIGMOID, HSIGMOID, HSWISH, N_KINDS };
    static const char *const specs[N_KINDS] = {"clip-0.5:1.5", "relu6",
                                               "sigmoid", "hsigmoid", "hswish"};
    dg_shape in = {3, 5, 4};
    size_t n = 2 * dg_shape_size(in);
    float *x = random_floats(n, 8);
    float *want = malloc(n * sizeof *want);
    for (int kind = 0; kind < N_KINDS; kind++) {
        dg_model *m = build(specs[kind], in);
        for (size_t k = 0; k < n; k++) {
            switch (kind) {
            case CLIP: want[k] = naive_clip(x[k], -0.5f, 1.5f); break;
            case RELU6: want[k] = naive_clip(x[k], 0.0f, 6.0f); break;
            case SIGMOID: want[k] = naive_sigmoid(x[k]); break;
            case HSIGMOID: want[k] = naive_hardsigmoid(x[k], 1 / 6.0f, 0.5f); break;
            default: want[k] = naive_hardswish(x[k]); break;
            }
        }
        for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
            float *got = run(m, x, 2, modes[k], 0);
            expect_close(got, want, n, 1e-6, specs[kind]);
            free(got);
        }
        dg_model_destroy(m);
    }
    free(x);
    free(want);
}
END_TEST

START_TEST(pad_matches_reference)
{
    for (int trial = 0; trial < 8; trial++) {
        int N = 1 + (int)dg_rng_below(&rng, 3), C = 1 + (int)dg_rng_below(&rng, 3);
        int H = 1 + (int)dg_rng_below(&rng, 6), W = 1 + (int)dg_rng_below(&rng, 6);
        int p[4];
        for (int k = 0; k < 4; k++) p[k] = (int)dg_rng_below(&rng, 4);
        char spec[64];
        snprintf(spec, sizeof spec, "pad%d:%d:%d:%d", p[0], p[1], p[2], p[3]);
        dg_model *m = build(spec, (dg_shape){(uint32_t)C, (uint32_t)H, (uint32_t)W});
        m->layers[0].alpha = 0.25f * (float)trial; /* the value (0 in strings) */
        size_t n_out = (size_t)N * C * (H + p[0] + p[2]) * (W + p[1] + p[3]);
        float *x = random_floats((size_t)N * C * H * W, 1);
        float *want = malloc(n_out * sizeof *want);
        naive_pad(x, N, C, H, W, p[0], p[1], p[2], p[3], m->layers[0].alpha, want);
        for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
            float *got = run(m, x, (uint32_t)N, modes[k], 0);
            expect_close(got, want, n_out, 0, spec);
            free(got);
        }
        free(x);
        free(want);
        dg_model_destroy(m);
    }
}
END_TEST

/* conv + batch norm + activation, fused into one primitive at inference
 * (the activation as a post-op), separate otherwise. */
START_TEST(fused_activations_match_reference)
{
    static const char *const acts[] = {"relu6", "clip-0.5:1.5", "sigmoid",
                                       "hswish", "hsigmoid"};
    enum { N = 2, C = 2, H = 5, W = 4, O = 3 };
    float *x = random_floats((size_t)N * C * H * W, 4);
    float conv[N * O * H * W], want[N * O * H * W];
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
        char spec[64];
        snprintf(spec, sizeof spec, "c%dk3p1,bn,%s", O, acts[a]);
        dg_model *m = build(spec, (dg_shape){C, H, W});
        const dg_layer *bn = &m->layers[1], *act = &m->layers[2];
        naive_conv(x, N, C, H, W, m->layers[0].param[0], m->layers[0].param[1],
                   O, 3, 1, 1, conv, H, W);
        naive_bnorm(conv, N, O, H * W, bn->param[0], bn->param[1], bn->param[2],
                    bn->param[3], bn->eps, want);
        for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
            float v = want[k];
            switch (act->kind) {
            case DG_LAYER_CLIP: want[k] = naive_clip(v, act->alpha, act->beta); break;
            case DG_LAYER_SIGMOID: want[k] = naive_sigmoid(v); break;
            case DG_LAYER_HARDSWISH: want[k] = naive_hardswish(v); break;
            default: want[k] = naive_hardsigmoid(v, act->alpha, act->beta); break;
            }
        }
        for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
            float *got = run(m, x, N, modes[k], 2);
            expect_close(got, want, sizeof want / sizeof *want, 1e-4, spec);
            free(got);
        }
        /* Fused, the batch norm's output is never written; hardsigmoid
         * (no oneDNN function) stays a layer of its own. */
        dg_exec *e;
        ck_assert_int_eq(dg_exec_create(m, N, 0, &e), DG_OK);
        ck_assert_int_eq(dg_exec_forward(e, x, N), DG_OK);
        int fused = act->kind != DG_LAYER_HARDSIGMOID;
        ck_assert_msg((dg_exec_output(e, 1) == NULL) == fused, "%s", spec);
        dg_exec_free(e);
        dg_model_destroy(m);
    }
    free(x);
}
END_TEST

/* Mul of equal shapes and with a C x 1 x 1 operand (given either side),
 * and Concat, over the model input and a conv: "c<C>k1" keeps the shape. */
START_TEST(mul_and_concat_match_reference)
{
    enum { N = 2, C = 3, H = 4, W = 5, HW = H * W };
    dg_shape in = {C, H, W};
    float *x = random_floats((size_t)N * C * HW, 1);
    float *want = malloc((size_t)N * 2 * C * HW * sizeof *want);
    static const char *const specs[] = {"c3k1,mul@-1", "gap,mul@-1",
                                        "c3k1,gap,mul@0", "c3k1,cat@-1"};
    for (size_t t = 0; t < sizeof specs / sizeof *specs; t++) {
        dg_model *m = build(specs[t], in);
        float *conv = run(m, x, N, 0, 0); /* layer 0: conv or gap */
        int32_t last = (int32_t)m->n_layers - 1;
        if (t == 0) naive_mul(conv, x, N, C, HW, 0, want);
        if (t == 1) naive_mul(x, conv, N, C, HW, 1, want);
        if (t == 2) {
            float *pooled = run(m, x, N, 0, 1);
            naive_mul(conv, pooled, N, C, HW, 1, want);
            free(pooled);
        }
        if (t == 3) naive_concat(conv, C, x, C, N, HW, want);
        size_t n_out = (size_t)N * dg_shape_size(m->layers[last].out);
        for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
            float *got = run(m, x, N, modes[k], last);
            expect_close(got, want, n_out, 1e-6, specs[t]);
            free(got);
        }
        free(conv);
        dg_model_destroy(m);
    }
    free(x);
    free(want);
}
END_TEST

/* conv + batchnorm + relu: folded into one primitive at inference, three
 * separate ones otherwise; both must agree with the reference. */
START_TEST(batchnorm_inference_and_folding)
{
    for (int trial = 0; trial < 8; trial++) {
        int N = 1 + (int)dg_rng_below(&rng, 4), C = 1 + (int)dg_rng_below(&rng, 3);
        int H = 4 + (int)dg_rng_below(&rng, 6), W = 4 + (int)dg_rng_below(&rng, 6);
        int O = 2 + (int)dg_rng_below(&rng, 6);
        char spec[64];
        snprintf(spec, sizeof spec, "c%dk3p1,bn,relu", O);
        dg_model *m = build(spec, (dg_shape){(uint32_t)C, (uint32_t)H, (uint32_t)W});
        float *x = random_floats((size_t)N * C * H * W, 1);
        size_t ny = (size_t)N * O * H * W;
        float *conv = malloc(ny * sizeof *conv), *want = malloc(ny * sizeof *want);
        naive_conv(x, N, C, H, W, m->layers[0].param[0], m->layers[0].param[1], O,
                   3, 1, 1, conv, H, W);
        const dg_layer *bn = &m->layers[1];
        naive_bnorm(conv, N, O, H * W, bn->param[0], bn->param[1], bn->param[2],
                    bn->param[3], bn->eps, want);
        for (size_t k = 0; k < ny; k++) want[k] = want[k] > 0 ? want[k] : 0;
        for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
            float *got = run(m, x, (uint32_t)N, modes[k], 2);
            expect_close(got, want, ny, 1e-4, "conv+bn+relu");
            free(got);
        }
        /* The fused conv's own output is not observable at inference. */
        dg_exec *e;
        ck_assert_int_eq(dg_exec_create(m, (uint32_t)N, 0, &e), DG_OK);
        ck_assert_int_eq(dg_exec_forward(e, x, (uint32_t)N), DG_OK);
        ck_assert_ptr_null(dg_exec_output(e, 0));
        ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "fused"));
        dg_exec_free(e);
        free(x);
        free(conv);
        free(want);
        dg_model_destroy(m);
    }
}
END_TEST

START_TEST(batchnorm_training_uses_batch_statistics)
{
    int N = 4, C = 3, H = 5, W = 6;
    dg_model *m = build("bn", (dg_shape){(uint32_t)C, (uint32_t)H, (uint32_t)W});
    float *x = random_floats((size_t)N * C * H * W, 3);
    float mean[3], var[3], old_mean[3], old_var[3];
    memcpy(old_mean, m->layers[0].param[2], sizeof old_mean);
    memcpy(old_var, m->layers[0].param[3], sizeof old_var);
    naive_batch_stats(x, N, C, H * W, mean, var);
    float *want = malloc((size_t)N * C * H * W * sizeof *want);
    const dg_layer *bn = &m->layers[0];
    naive_bnorm(x, N, C, H * W, bn->param[0], bn->param[1], mean, var, bn->eps, want);
    float *got = run(m, x, (uint32_t)N, DG_EXEC_TRAINING | DG_EXEC_BACKWARD, 0);
    expect_close(got, want, (size_t)N * C * H * W, 1e-4, "bn training");
    /* Running statistics moved 10% towards the batch's (unbiased) ones. */
    double unbias = (double)(N * H * W) / (N * H * W - 1);
    for (int c = 0; c < C; c++) {
        ck_assert_double_eq_tol(bn->param[2][c], 0.9 * old_mean[c] + 0.1 * mean[c], 1e-5);
        ck_assert_double_eq_tol(bn->param[3][c], 0.9 * old_var[c] + 0.1 * unbias * var[c],
                                1e-4);
    }
    free(x);
    free(want);
    free(got);
    dg_model_destroy(m);
}
END_TEST

START_TEST(add_dropout_and_residual_graph)
{
    /* y = relu(conv2(relu(conv1(x))) + relu(conv1(x))) */
    int N = 2, C = 2, H = 7, W = 5;
    dg_model *m = build("c3k3p1,relu,c3k3p1,add@1,relu,drop0.5",
                        (dg_shape){(uint32_t)C, (uint32_t)H, (uint32_t)W});
    float *x = random_floats((size_t)N * C * H * W, 1);
    size_t ny = (size_t)N * 3 * H * W;
    float *a = malloc(ny * sizeof *a), *b = malloc(ny * sizeof *b);
    naive_conv(x, N, C, H, W, m->layers[0].param[0], m->layers[0].param[1], 3, 3, 1, 1,
               a, H, W);
    for (size_t k = 0; k < ny; k++) a[k] = a[k] > 0 ? a[k] : 0;
    naive_conv(a, N, 3, H, W, m->layers[2].param[0], m->layers[2].param[1], 3, 3, 1, 1,
               b, H, W);
    for (size_t k = 0; k < ny; k++) b[k] = b[k] + a[k] > 0 ? b[k] + a[k] : 0;
    for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
        float *got = run(m, x, (uint32_t)N, modes[k], 5); /* dropout = identity */
        expect_close(got, b, ny, 1e-4, "residual");
        free(got);
    }
    /* In training, dropout zeroes about half and doubles the rest. */
    float *t = run(m, x, (uint32_t)N, DG_EXEC_TRAINING, 5);
    size_t zeroed = 0, nonzero = 0;
    for (size_t k = 0; k < ny; k++) {
        if (b[k] == 0) continue;
        nonzero++;
        if (t[k] == 0)
            zeroed++;
        else
            ck_assert_float_eq_tol(t[k], 2 * b[k], 1e-4 * (1 + fabsf(b[k])));
    }
    ck_assert(zeroed > nonzero / 4 && zeroed < 3 * nonzero / 4);
    free(t);
    free(x);
    free(a);
    free(b);
    dg_model_destroy(m);
}
END_TEST

/* Flatten and dropout are aliases of their input, which may itself be a
 * ReLU fused into the layer before it at inference. */
START_TEST(aliases_of_fused_layers)
{
    const char *specs[] = {"c6k3,relu,flatten,fc5", "fc8,relu,drop0.5,fc3"};
    dg_shape ins[] = {{2, 5, 5}, {7, 1, 1}};
    for (int k = 0; k < 2; k++) {
        dg_model *m = build(specs[k], ins[k]);
        size_t nx = 3 * dg_shape_size(ins[k]);
        float *x = random_floats(nx, 1);
        int32_t last = (int32_t)m->n_layers - 1;
        float *fused = run(m, x, 3, 0, last);
        float *plain = run(m, x, 3, DG_EXEC_BACKWARD, last);
        expect_close(fused, plain, 3 * dg_shape_size(m->layers[last].out), 1e-5,
                     specs[k]);
        free(fused);
        free(plain);
        free(x);
        dg_model_destroy(m);
    }
}
END_TEST

/* Inference keeps activations NHWC from convolution to convolution or
 * pooling (exec.c, decide_layouts).  Every layer of such a chain, read
 * through dg_exec_output, must still equal the naive NCHW computation, with
 * a pruning mask inside the chain and with one and several input channels;
 * the layout must really be taken, or the test checks nothing new. */
static void relu_in_place(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
}

START_TEST(channels_last_chain_matches_reference)
{
    const int O1 = 6, O2 = 7, O3 = 4, F = 3;
    for (int trial = 0; trial < 6; trial++) {
        int N = 1 + trial % 3, C = trial % 2 ? 3 : 1, H = 10 + trial, W = 12 - trial % 3;
        dg_shape in = {(uint32_t)C, (uint32_t)H, (uint32_t)W};
        dg_model *m = build("c6k3p1,relu,mp2,c7k3,relu,ap2,c4k1,relu,flatten,fc3", in);
        m->layers[3].mask = calloc((size_t)O2, 1);
        for (int u = 0; u < O2; u++) m->layers[3].mask[u] = u != 2;
        float *x = random_floats((size_t)N * C * H * W, 1);
        /* The naive chain, layer by layer. */
        int H1 = H, W1 = W, H2 = H1 / 2, W2 = W1 / 2, H3 = H2 - 2, W3 = W2 - 2,
            H4 = H3 / 2, W4 = W3 / 2;
        size_t n1 = (size_t)N * O1 * H1 * W1, n2 = (size_t)N * O1 * H2 * W2,
               n3 = (size_t)N * O2 * H3 * W3, n4 = (size_t)N * O2 * H4 * W4,
               n5 = (size_t)N * O3 * H4 * W4;
        float *y1 = malloc(n1 * sizeof *y1), *y2 = malloc(n2 * sizeof *y2),
              *y3 = malloc(n3 * sizeof *y3), *y4 = malloc(n4 * sizeof *y4),
              *y5 = malloc(n5 * sizeof *y5), *y6 = malloc((size_t)N * F * sizeof *y6);
        naive_conv(x, N, C, H, W, m->layers[0].param[0], m->layers[0].param[1],
                   O1, 3, 1, 1, y1, H1, W1);
        relu_in_place(y1, n1);
        naive_pool(y1, N, O1, H1, W1, 2, 2, 0, 1, y2, H2, W2);
        naive_conv(y2, N, O1, H2, W2, m->layers[3].param[0], m->layers[3].param[1],
                   O2, 3, 1, 0, y3, H3, W3);
        for (int n = 0; n < N; n++)
            memset(y3 + ((size_t)n * O2 + 2) * H3 * W3, 0, sizeof *y3 * H3 * W3);
        relu_in_place(y3, n3);
        naive_pool(y3, N, O2, H3, W3, 2, 2, 0, 0, y4, H4, W4);
        naive_conv(y4, N, O2, H4, W4, m->layers[6].param[0], m->layers[6].param[1],
                   O3, 1, 1, 0, y5, H4, W4);
        relu_in_place(y5, n5);
        naive_linear(y5, N, O3 * H4 * W4, m->layers[9].param[0],
                     m->layers[9].param[1], F, y6);

        dg_exec *e = NULL;
        ck_assert_int_eq(dg_exec_create(m, (uint32_t)N, 0, &e), DG_OK);
        ck_assert_int_eq(dg_exec_forward(e, x, (uint32_t)N), DG_OK);
        for (int32_t i = 0; i <= 5; i++)
            ck_assert_msg(e->run[i].channels_last, "layer %d kept NCHW", i);
        ck_assert(!e->run[7].channels_last); /* read by the flatten */
        const struct { int32_t layer; const float *want; size_t n; } reads[] = {
            {1, y1, n1}, {2, y2, n2}, {4, y3, n3}, {5, y4, n4}, {7, y5, n5},
            {9, y6, (size_t)N * F}};
        for (size_t k = 0; k < sizeof reads / sizeof *reads; k++) {
            const float *got = dg_exec_output(e, reads[k].layer);
            ck_assert_msg(got != NULL, "layer %d: %s", reads[k].layer,
                          dg_last_error_detail());
            char what[32];
            snprintf(what, sizeof what, "layer %d", reads[k].layer);
            expect_close(got, reads[k].want, reads[k].n, 1e-4, what);
        }
        dg_exec_free(e);
        free(y1), free(y2), free(y3), free(y4), free(y5), free(y6);
        free(x);
        dg_model_destroy(m);
    }
}
END_TEST

/* A pruning mask zeroes its units in every executor kind, fused or not. */
START_TEST(masks_zero_their_units)
{
    int N = 3, C = 2, H = 6, W = 6;
    const char *specs[] = {"c6k3,relu", "c6k3", "c6k3,bn,relu"};
    for (size_t sp = 0; sp < 3; sp++) {
        dg_model *m = build(specs[sp], (dg_shape){(uint32_t)C, (uint32_t)H, (uint32_t)W});
        m->layers[0].mask = calloc(6, 1);
        for (int u = 0; u < 6; u++) m->layers[0].mask[u] = u % 3 != 1;
        /* Positive biases so an unmasked unit would be visibly non-zero. */
        for (int u = 0; u < 6; u++) m->layers[0].param[1][u] = 5;
        float *x = random_floats((size_t)N * C * H * W, 1);
        int32_t last = (int32_t)m->n_layers - 1;
        for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
            /* With batch norm after it, the conv itself carries the zeros. */
            float *y = run(m, x, (uint32_t)N, modes[k], sp == 2 ? 0 : last);
            for (int n = 0; n < N; n++)
                for (int u = 0; u < 6; u++)
                    for (int p = 0; p < 16; p++) {
                        float v = y[((size_t)n * 6 + u) * 16 + p];
                        if (u % 3 == 1)
                            ck_assert_float_eq(v, 0.0f);
                        else
                            ck_assert(v != 0.0f);
                    }
            free(y);
        }
        free(x);
        dg_model_destroy(m);
    }
}
END_TEST

/* An executor with capacity 8 must give the same per-sample results for any
 * batch up to 8, in any order (plans are cached per batch size, buffers
 * shared), and refuse a larger one. */
START_TEST(batch_size_changes_do_not_change_results)
{
    dg_model *m = build("c4k3p1,relu,mp2,c8k3,relu,gap,fc5",
                        (dg_shape){1, 12, 12});
    float *x = random_floats(8 * 144, 1);
    float *all = run(m, x, 8, 0, 6);
    dg_exec *e;
    ck_assert_int_eq(dg_exec_create(m, 8, 0, &e), DG_OK);
    /* Every size up to the capacity, revisiting cached plans. */
    static const uint32_t sizes[] = {1, 4, 7, 8, 1, 4, 2, 3, 5, 6, 7, 8, 1, 2};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        uint32_t n = sizes[k];
        ck_assert_int_eq(dg_exec_forward(e, x, n), DG_OK);
        expect_close(dg_exec_output(e, 6), all, (size_t)n * 5, 1e-5, "batch");
    }
    ck_assert_int_eq(dg_exec_forward(e, x, 9), DG_E_SHAPE);
    dg_exec_free(e);
    free(all);
    free(x);
    dg_model_destroy(m);
}
END_TEST

/* dg_model_slice_start(m, k) is the latest layer at or before k from
 * which dg_model_slice succeeds, found naively by trying each. */
START_TEST(slice_start_is_the_latest_cut)
{
    dg_model *m = build("c4k3p1,relu,c4k3p1,add@1,relu,c4k3p1,relu,c4k3p1,"
                        "add@4,relu,gap,fc5",
                        (dg_shape){2, 6, 6});
    for (uint32_t k = 0; k < m->n_layers; k++) {
        uint32_t want = 0;
        for (uint32_t j = k; j > 0; j--) {
            dg_model *tail;
            if (dg_model_slice(m, j, &tail) == DG_OK) {
                dg_model_free(tail);
                want = j;
                break;
            }
        }
        ck_assert_uint_eq(dg_model_slice_start(m, k), want);
    }
    /* Inside the second residual block the cut moves to its start. */
    ck_assert_uint_eq(dg_model_slice_start(m, 7), 5);
    dg_model_free(m);
}
END_TEST

/* dg_model_join undoes dg_model_slice: the first k layers followed by the
 * slice from k compute what the whole model computes, residual inputs and
 * pruning masks included; a tail of another shape is refused. */
START_TEST(join_undoes_slice)
{
    dg_model *m = build("c4k3p1,relu,c4k3p1,add@1,relu,mp2,c6k3,relu,gap,fc5",
                        (dg_shape){2, 10, 10});
    m->layers[0].mask = calloc(4, 1);
    m->layers[6].mask = calloc(6, 1);
    for (int u = 0; u < 6; u++) {
        if (u < 4) m->layers[0].mask[u] = u != 2;
        m->layers[6].mask[u] = u % 2;
    }
    int32_t last = (int32_t)m->n_layers - 1;
    float *x = random_floats(3 * 200, 1);
    float *want = run(m, x, 3, 0, last);
    uint32_t joined = 0;
    for (uint32_t k = 0; k < m->n_layers; k++) {
        dg_model *tail, *j;
        dg_status s = dg_model_slice(m, k, &tail);
        if (s == DG_E_UNSUPPORTED) continue; /* the add reads across k */
        ck_assert_msg(s == DG_OK, "slice %u: %s", k, dg_last_error_detail());
        s = dg_model_join(m, k, tail, &j);
        ck_assert_msg(s == DG_OK, "join %u: %s", k, dg_last_error_detail());
        ck_assert_uint_eq(j->n_layers, m->n_layers);
        for (uint32_t i = 0; i < m->n_layers; i++) {
            ck_assert_int_eq(j->layers[i].input[0], m->layers[i].input[0]);
            ck_assert_int_eq(j->layers[i].input[1], m->layers[i].input[1]);
            ck_assert_uint_eq(dg_layer_pruned(&j->layers[i]),
                              dg_layer_pruned(&m->layers[i]));
        }
        float *got = run(j, x, 3, 0, last);
        expect_close(got, want, 3 * 5, 1e-6, "joined");
        free(got);
        joined++;
        /* A tail of the wrong shape for this cut. */
        dg_model *bad = (dg_model *)1;
        dg_shape cut = k < 2 ? m->input : m->layers[k - 2].out;
        if (k > 0 && dg_shape_size(cut) != dg_shape_size(tail->input)) {
            ck_assert_int_eq(dg_model_join(m, k - 1, tail, &bad), DG_E_SHAPE);
            ck_assert_ptr_null(bad);
            ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "the tail takes"));
        }
        ck_assert_int_eq(dg_model_join(m, m->n_layers + 1, tail, &bad),
                         DG_E_INVALID_ARG);
        dg_model_destroy(tail);
        dg_model_destroy(j);
    }
    ck_assert_uint_eq(joined, 9); /* every cut but 3 */
    free(x);
    free(want);
    dg_model_destroy(m);
}
END_TEST

START_TEST(architecture_strings_are_validated)
{
    const char *bad[] = {"",          "c3",      "c0k3",     "fc",
                         "relu,,fc3", "mp0",     "c3k9",     "drop1.5",
                         "add@5",     "banana",  "c3k3p3",   "fc99999999",
                         "mp4001s1p4000", "c65536k1,c65536k1",
                         "c4k3g0",    "c4k3g3",  "clip1",    "clip2:1",
                         "pad1:2",    "mp2ceilx", "mul@5",   "cat@-2",
                         "c2k1,mul@-1", "mp2,cat@-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dg_model *m = (dg_model *)1;
        dg_status s = dg_spec_parse(bad[i], (dg_shape){1, 8, 8}, &m);
        ck_assert_msg(s != DG_OK, "accepted \"%s\"", bad[i]);
        ck_assert_ptr_null(m);
        ck_assert_msg(strlen(dg_last_error_detail()) > 0, "no detail for %s", bad[i]);
    }
}
END_TEST

/* The work limits of doc/limits.md hold for architecture strings too, and
 * the refusal names the layer and what is wrong before anything large is
 * allocated (the second conv would need 2^32 weights). */
START_TEST(architecture_strings_within_work_limits)
{
    static const struct {
        const char *spec;
        dg_shape in;
        dg_status want;
        const char *detail;
    } cases[] = {
        {"mp4001s1p4000", {1, 1, 1}, DG_E_SHAPE,
         "layer 0 (maxpool): padding 4000 exceeds the input size 1"},
        {"c65536k1,c65536k1", {1, 8, 8}, DG_E_UNSUPPORTED,
         "layer 1 (conv) brings the model to 5.5e+11 FLOPs per input"},
        {"mp2000s1", {1, 4000, 4000}, DG_E_UNSUPPORTED,
         "layer 0 (maxpool) brings the model to 1.6e+13 FLOPs"},
        /* A 2^30-byte input is within the limit, its ReLU is not. */
        {"relu", {1, 16384, 16384}, DG_E_UNSUPPORTED,
         "layer 0 (relu) brings the model to 2.15e+09 bytes of activations"},
        /* Padding a single value to 16401 x 16401. */
        {"pad8200", {1, 1, 1}, DG_E_UNSUPPORTED,
         "layer 0 (pad) brings the model to 1.08e+09 bytes of activations"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        dg_model *m = (dg_model *)1;
        dg_status s = dg_spec_parse(cases[k].spec, cases[k].in, &m);
        ck_assert_msg(s == cases[k].want, "%s: %s (%s)", cases[k].spec,
                      dg_strerror(s), dg_last_error_detail());
        ck_assert_ptr_null(m);
        ck_assert_msg(strstr(dg_last_error_detail(), cases[k].detail),
                      "%s: detail \"%s\"", cases[k].spec,
                      dg_last_error_detail());
    }
    /* A depthwise conv costs one input channel per output, not 65536:
     * 2 * 65536 * 64 FLOPs where the dense one above is refused. */
    dg_model *m = NULL;
    ck_assert_int_eq(dg_spec_parse("c65536k1,c65536k1g65536", (dg_shape){1, 8, 8},
                                   &m),
                     DG_OK);
    dg_model_destroy(m);
}
END_TEST

/* Appends a layer reading `from` (and `other` for an add); returns its
 * index. */
static int32_t append(dg_model *m, int32_t kind, int32_t from, int32_t other,
                      uint32_t units, uint32_t kernel, uint32_t stride,
                      uint32_t padding)
{
    int32_t i = (int32_t)m->n_layers++;
    dg_layer *l = &m->layers[i];
    *l = (dg_layer){.kind = kind, .input = {from, other}, .units = units,
                    .kernel = kernel, .stride = stride, .padding = padding,
                    .eps = 1e-5f};
    return i;
}

/* conv, batch norm and, unless `relu` is 0, ReLU, from `from`. */
static int32_t conv_bn(dg_model *m, int32_t from, uint32_t units,
                       uint32_t kernel, uint32_t stride, int relu)
{
    int32_t i = append(m, DG_LAYER_CONV, from, -1, units, kernel, stride,
                       kernel / 2);
    i = append(m, DG_LAYER_BATCHNORM, i, -1, 0, 0, 0, 0);
    return relu ? append(m, DG_LAYER_RELU, i, -1, 0, 0, 0, 0) : i;
}

/* A ResNet-50 for side x side RGB inputs, with its projection shortcuts
 * (which architecture strings cannot express), finalized; NULL and the
 * status in *s if dg_model_finalize refuses it. */
static dg_model *resnet50(uint32_t side, dg_status *s)
{
    dg_model *m;
    ck_assert_int_eq(dg_model_alloc(DG_MAX_LAYERS, (dg_shape){3, side, side},
                                    &m),
                     DG_OK);
    m->n_layers = 0;
    int32_t x = conv_bn(m, -1, 64, 7, 2, 1);
    x = append(m, DG_LAYER_MAXPOOL, x, -1, 0, 3, 2, 1);
    static const uint32_t widths[] = {64, 128, 256, 512}, blocks[] = {3, 4, 6, 3};
    for (int stage = 0; stage < 4; stage++)
        for (uint32_t b = 0; b < blocks[stage]; b++) {
            uint32_t w = widths[stage], stride = b == 0 && stage > 0 ? 2 : 1;
            int32_t y = conv_bn(m, x, w, 1, 1, 1);
            y = conv_bn(m, y, w, 3, stride, 1);
            y = conv_bn(m, y, 4 * w, 1, 1, 0);
            int32_t shortcut = b == 0 ? conv_bn(m, x, 4 * w, 1, stride, 0) : x;
            y = append(m, DG_LAYER_ADD, y, shortcut, 0, 0, 0, 0);
            x = append(m, DG_LAYER_RELU, y, -1, 0, 0, 0, 0);
        }
    x = append(m, DG_LAYER_GLOBAL_AVGPOOL, x, -1, 0, 0, 0, 0);
    append(m, DG_LAYER_LINEAR, x, -1, 1000, 0, 0, 0);
    *s = dg_model_finalize(m);
    if (*s == DG_OK) return m;
    dg_model_destroy(m);
    return NULL;
}

/* The default work limits admit a ResNet-50 at 224x224 RGB (8.2e9 FLOPs,
 * 1.5e8 activation bytes per input: doc/limits.md) and refuse it at 4x
 * the side (16x the work). */
START_TEST(default_limits_admit_resnet50)
{
    dg_status s;
    dg_model *m = resnet50(224, &s);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    ck_assert_uint_eq(dg_model_output_shape(m).c, 1000);
    ck_assert_uint_eq(m->layers[m->n_layers - 2].in.h, 7);
    dg_model_destroy(m);
    ck_assert_ptr_null(resnet50(896, &s));
    ck_assert_int_eq(s, DG_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "over the limit"));
}
END_TEST

/* Global average pooling over a 1x1 map is the identity, in inference and
 * training executors alike (it used to fail inside oneDNN). */
START_TEST(global_pooling_over_1x1_is_identity)
{
    dg_model *m = build("gap,gap", (dg_shape){3, 4, 5});
    dg_model *one = build("gap", (dg_shape){3, 1, 1});
    float *x = random_floats(2 * 3 * 20, 1);
    float *pooled = run(m, x, 2, 0, 0);
    for (size_t k = 0; k < sizeof modes / sizeof *modes; k++) {
        float *twice = run(m, x, 2, modes[k], 1);
        expect_close(twice, pooled, 6, 0, "gap over 1x1 after gap");
        float *same = run(one, pooled, 2, modes[k], 0);
        expect_close(same, pooled, 6, 0, "gap over a 1x1 input");
        free(twice);
        free(same);
    }
    free(pooled);
    free(x);
    dg_model_destroy(m);
    dg_model_destroy(one);
}
END_TEST

/* A mask on a layer that cannot honour it is refused by
 * dg_model_finalize, naming the layer, not later by every session. */
START_TEST(masks_are_refused_where_unsupported)
{
    dg_model *m = build("c2k3,relu,fc3", (dg_shape){1, 5, 5});
    m->layers[1].mask = calloc(2, 1);
    ck_assert_int_eq(dg_model_finalize(m), DG_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(),
                                 "layer 1 (relu) has a pruning mask"));
    dg_exec *e = NULL;
    ck_assert_int_eq(dg_exec_create(m, 1, 0, &e), DG_E_UNSUPPORTED);
    ck_assert_ptr_null(e);
    dg_model_destroy(m);
}
END_TEST

int main(void)
{
    dg_rng_seed(&rng, 20261129);
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, conv_matches_reference);
    tcase_add_test(tc, pooling_matches_reference);
    tcase_add_test(tc, linear_relu_softmax_gap_match_reference);
    tcase_add_test(tc, activations_match_reference);
    tcase_add_test(tc, pad_matches_reference);
    tcase_add_test(tc, mul_and_concat_match_reference);
    tcase_add_test(tc, fused_activations_match_reference);
    tcase_add_test(tc, batchnorm_inference_and_folding);
    tcase_add_test(tc, batchnorm_training_uses_batch_statistics);
    tcase_add_test(tc, add_dropout_and_residual_graph);
    tcase_add_test(tc, slice_start_is_the_latest_cut);
    tcase_add_test(tc, masks_zero_their_units);
    tcase_add_test(tc, aliases_of_fused_layers);
    tcase_add_test(tc, channels_last_chain_matches_reference);
    tcase_add_test(tc, batch_size_changes_do_not_change_results);
    tcase_add_test(tc, architecture_strings_are_validated);
    tcase_add_test(tc, join_undoes_slice);
    tcase_add_test(tc, architecture_strings_within_work_limits);
    tcase_add_test(tc, default_limits_admit_resnet50);
    tcase_add_test(tc, global_pooling_over_1x1_is_identity);
    tcase_add_test(tc, masks_are_refused_where_unsupported);
    suite_add_tcase(s, tc);
    return run_suite(s, CK_FORK);
}
