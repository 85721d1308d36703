/* test_gradients.c - every backward pass against central finite differences.
 *
 * For a model f and fixed random weights r, the loss L(x, theta) =
 * sum_k r_k f(x)_k has dL/dy = r.  The executor's parameter and input
 * gradients must match (L(v + h) - L(v - h)) / 2h over sampled entries. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn/exec.h"
#include "nn/exec_internal.h"
#include "nn/model.h"
#include "nn/spec.h"
#include "suite.h"

static dg_rng rng;

typedef struct grad_case {
    const char *spec;
    dg_shape in;
    uint32_t batch;
    unsigned flags;
} grad_case;

static double loss(dg_exec *e, const float *x, uint32_t n, const float *r)
{
    dg_exec_seed(e, 7); /* the same dropout mask on every evaluation */
    dg_status s = dg_exec_forward(e, x, n);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    dg_model *m = dg_exec_model(e);
    int32_t last = (int32_t)m->n_layers - 1;
    const float *y = dg_exec_output(e, last);
    size_t len = (size_t)n * dg_shape_size(m->layers[last].out);
    double sum = 0;
    for (size_t k = 0; k < len; k++) sum += (double)r[k] * y[k];
    return sum;
}

/* Compares an analytic gradient with central differences of `loss` with
 * respect to v[0..len-1], on up to 24 sampled entries. */
static void check_entries(dg_exec *e, float *x, uint32_t n, const float *r,
                          float *v, const float *analytic, size_t len,
                          const char *what)
{
    double diff2 = 0, ref2 = 0;
    size_t samples = len < 24 ? len : 24;
    for (size_t s = 0; s < samples; s++) {
        size_t k = len < 24 ? s : dg_rng_below(&rng, (uint32_t)len);
        float keep = v[k], h = 2e-3f * (1 + fabsf(keep));
        v[k] = keep + h;
        double up = loss(e, x, n, r);
        v[k] = keep - h;
        double down = loss(e, x, n, r);
        v[k] = keep;
        double numeric = (up - down) / (2.0 * h);
        diff2 += (numeric - analytic[k]) * (numeric - analytic[k]);
        ref2 += numeric * numeric;
    }
    /* 2% of the gradient's size, plus the float rounding noise of a
     * central difference (~1e-6 * |L| / h), which dominates where the true
     * gradient is zero (a bias followed by batch normalisation). */
    double rms_err = sqrt(diff2 / samples), rms_ref = sqrt(ref2 / samples);
    ck_assert_msg(rms_err < 2e-2 * rms_ref + 1e-2,
                  "%s: gradient error %g (rms numeric gradient %g)", what,
                  rms_err, rms_ref);
}

static void check_case(const grad_case *c)
{
    dg_model *m;
    dg_status s = dg_spec_parse(c->spec, c->in, &m);
    ck_assert_msg(s == DG_OK, "%s: %s", c->spec, dg_last_error_detail());
    dg_model_init_weights(m, 0, 11);
    for (uint32_t i = 0; i < m->n_layers; i++) { /* non-zero biases */
        dg_layer *l = &m->layers[i];
        if (l->kind == DG_LAYER_CONV || l->kind == DG_LAYER_LINEAR)
            for (uint32_t u = 0; u < l->units; u++)
                l->param[1][u] = 0.1f * dg_rng_normal(&rng);
        if (l->kind == DG_LAYER_BATCHNORM)
            for (uint32_t u = 0; u < l->out.c; u++) {
                l->param[0][u] = 0.5f + dg_rng_uniform(&rng);
                l->param[1][u] = dg_rng_normal(&rng) * 0.1f;
                l->param[2][u] = dg_rng_normal(&rng) * 0.1f;
                l->param[3][u] = 0.5f + dg_rng_uniform(&rng);
            }
    }
    size_t nx = (size_t)c->batch * dg_shape_size(c->in);
    size_t ny = (size_t)c->batch * dg_shape_size(dg_model_output_shape(m));
    float *x = malloc(nx * sizeof *x), *r = malloc(ny * sizeof *r);
    for (size_t k = 0; k < nx; k++) x[k] = dg_rng_normal(&rng);
    for (size_t k = 0; k < ny; k++) r[k] = dg_rng_normal(&rng);

    dg_exec *e;
    ck_assert_int_eq(dg_exec_create(m, c->batch, c->flags | DG_EXEC_BACKWARD, &e),
                     DG_OK);
    loss(e, x, c->batch, r);
    s = dg_exec_backward(e, (int32_t)m->n_layers - 1, r,
                         DG_GRAD_PARAMS | DG_GRAD_INPUT);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    float *gx = malloc(nx * sizeof *gx);
    memcpy(gx, dg_exec_input_grad(e), nx * sizeof *gx);
    size_t n_grads = 0;
    float *grads[64];
    for (uint32_t i = 0; i < m->n_layers; i++)
        for (uint32_t p = 0; p < m->layers[i].n_trainable; p++) {
            size_t len = m->layers[i].param_len[p];
            grads[n_grads] = malloc(len * sizeof(float));
            memcpy(grads[n_grads++], dg_exec_param_grad(e, (int32_t)i, p),
                   len * sizeof(float));
        }
    char what[160];
    snprintf(what, sizeof what, "%s (flags %u): input", c->spec, c->flags);
    check_entries(e, x, c->batch, r, x, gx, nx, what);
    size_t g = 0;
    for (uint32_t i = 0; i < m->n_layers; i++)
        for (uint32_t p = 0; p < m->layers[i].n_trainable; p++, g++) {
            snprintf(what, sizeof what, "%s (flags %u): layer %u param %u",
                     c->spec, c->flags, i, p);
            check_entries(e, x, c->batch, r, m->layers[i].param[p], grads[g],
                          m->layers[i].param_len[p], what);
            free(grads[g]);
        }
    dg_exec_free(e);
    free(gx);
    free(x);
    free(r);
    dg_model_destroy(m);
}

static const grad_case cases[] = {
    {"c3k3", {2, 6, 7}, 2, 0},
    {"c4k3s2p1", {3, 9, 8}, 3, 0},
    {"c2k1", {3, 4, 4}, 2, 0},
    {"c3k2s1p1,relu", {2, 5, 5}, 2, 0},
    {"c6k3p1g3", {3, 5, 5}, 2, 0},
    {"c4k3s2p1g4,bn,relu", {4, 6, 6}, 3, DG_EXEC_TRAINING}, /* depthwise */
    {"mp2", {2, 6, 6}, 2, 0},
    {"mp3s2p1", {2, 7, 7}, 2, 0},
    {"ap2", {2, 6, 6}, 2, 0},
    {"ap3s2p1", {2, 7, 6}, 2, 0},
    {"mp3s2ceil", {2, 6, 8}, 2, 0},
    {"pad1:0:2:3,c2k3", {2, 4, 3}, 2, 0},
    {"ap3s2p1ceil", {2, 6, 7}, 2, 0},
    {"gap", {3, 5, 4}, 2, 0},
    {"gap,gap,fc5", {3, 5, 4}, 2, 0}, /* the second over a 1x1 map */
    {"gap,fc4", {3, 1, 1}, 3, DG_EXEC_TRAINING},
    {"flatten,fc4", {2, 3, 3}, 3, 0},
    {"fc5", {7, 1, 1}, 4, 0},
    {"fc6,softmax", {5, 1, 1}, 3, 0},
    {"bn", {3, 4, 4}, 2, 0},
    {"c3k3p1,relu6", {2, 5, 5}, 2, 0},
    {"c3k1,clip-0.3:0.4", {2, 4, 4}, 2, 0},
    {"c3k1,sigmoid", {2, 4, 4}, 2, 0},
    {"c3k1,hsigmoid", {2, 4, 4}, 2, 0},
    {"c3k1,hswish,fc3", {2, 4, 4}, 2, DG_EXEC_TRAINING},
    {"bn", {3, 4, 4}, 4, DG_EXEC_TRAINING},
    {"c3k3p1,bn,relu", {2, 5, 5}, 3, DG_EXEC_TRAINING},
    {"c3k3p1,relu,c3k3p1,add@1", {2, 5, 5}, 2, 0},
    {"c2k3p1,add@-1", {2, 4, 4}, 2, 0},
    {"c3k3p1,sigmoid,mul@0", {2, 5, 5}, 2, 0},          /* SiLU */
    {"c4k3p1,gap,c4k1,hsigmoid,mul@0,fc3", {2, 5, 5}, 2, 0}, /* SE */
    {"c2k3p1,mul@0", {2, 4, 4}, 2, 0},                   /* x * x */
    {"c3k3p1,relu,c2k1,cat@1", {2, 5, 5}, 2, 0},
    {"c2k1,cat@-1,c3k1", {2, 4, 4}, 2, 0},
    {"c2k1,cat@0,c3k1", {2, 4, 4}, 2, DG_EXEC_TRAINING}, /* twice the same */
    {"fc8,drop0.5,fc3", {6, 1, 1}, 3, DG_EXEC_TRAINING},
    {"c4k3,relu,mp2,c6k3,relu,fc10,relu,fc3", {1, 12, 12}, 2, DG_EXEC_TRAINING},
    /* NCHW into NHWC, then NHWC convolution, ReLU and pooling out to NCHW */
    {"c3k3p1,relu,c4k3,relu,mp2,fc3", {2, 6, 6}, 2, DG_EXEC_TRAINING},
};

START_TEST(backward_matches_finite_differences)
{
    check_case(&cases[_i]);
}
END_TEST

/* Frozen layers get no parameter update but still pass gradients down;
 * masked units get zero weight gradients. */
START_TEST(frozen_and_masked_layers)
{
    dg_model *m;
    ck_assert_int_eq(dg_spec_parse("c4k3,relu,fc3", (dg_shape){1, 5, 5}, &m), DG_OK);
    dg_model_init_weights(m, 0, 3);
    m->layers[2].flags |= DG_LAYER_FLAG_FROZEN;
    m->layers[0].mask = calloc(4, 1);
    m->layers[0].mask[0] = m->layers[0].mask[2] = 1;
    float x[2 * 25], r[2 * 3];
    for (int k = 0; k < 50; k++) x[k] = dg_rng_normal(&rng);
    for (int k = 0; k < 6; k++) r[k] = dg_rng_normal(&rng);
    dg_exec *e;
    ck_assert_int_eq(dg_exec_create(m, 2, DG_EXEC_BACKWARD, &e), DG_OK);
    ck_assert_int_eq(dg_exec_forward(e, x, 2), DG_OK);
    float *g = dg_exec_param_grad(e, 0, 0);
    memset(g, 0x7f, m->layers[0].param_len[0] * sizeof(float));
    ck_assert_int_eq(dg_exec_backward(e, 2, r, DG_GRAD_PARAMS), DG_OK);
    size_t per_unit = m->layers[0].param_len[0] / 4;
    double kept = 0;
    for (uint32_t u = 0; u < 4; u++)
        for (size_t k = 0; k < per_unit; k++) {
            float v = g[u * per_unit + k];
            if (m->layers[0].mask[u])
                kept += fabsf(v);
            else
                ck_assert_float_eq(v, 0.0f);
        }
    ck_assert(kept > 0);
    dg_exec_free(e);
    dg_model_destroy(m);
}
END_TEST

/* A loss of two dot products on a batch of 2: r . output(last) +
 * q . output(at); without r, the second term alone. */
typedef struct two_terms {
    const float *r;
    int32_t last;
    const float *q;
    int32_t at;
} two_terms;

static double two_term_loss(dg_exec *e, const float *x, const two_terms *t)
{
    ck_assert_int_eq(dg_exec_forward(e, x, 2), DG_OK);
    const dg_model *m = dg_exec_model(e);
    const float *y = dg_exec_output(e, t->last), *h = dg_exec_output(e, t->at);
    size_t ny = 2 * dg_shape_size(m->layers[t->last].out),
           nh = 2 * dg_shape_size(m->layers[t->at].out);
    double sum = 0;
    for (size_t k = 0; t->r && k < ny; k++) sum += (double)t->r[k] * y[k];
    for (size_t k = 0; k < nh; k++) sum += (double)t->q[k] * h[k];
    return sum;
}

/* Every stride-th entry of `analytic` against the central difference of
 * the loss in the matching entry of v (x or a parameter). */
static void check_differences(dg_exec *e, const float *x, const two_terms *t,
                              float *v, const float *analytic, size_t n,
                              size_t stride)
{
    for (size_t k = 0; k < n; k += stride) {
        float keep = v[k], h = 1e-3f;
        v[k] = keep + h;
        double up = two_term_loss(e, x, t);
        v[k] = keep - h;
        double down = two_term_loss(e, x, t);
        v[k] = keep;
        ck_assert_double_eq_tol(analytic[k], (up - down) / (2 * h), 2e-2);
    }
}

/* L = r . logits + q . (layer 3's output): the gradient that joins at
 * layer 3 must reach the input and the weights below it, and only them. */
START_TEST(a_joined_gradient_matches_finite_differences)
{
    dg_model *m;
    ck_assert_int_eq(dg_spec_parse("c2k3,relu,fc6,relu,fc3",
                                   (dg_shape){1, 5, 5}, &m), DG_OK);
    dg_model_init_weights(m, 0, 5);
    float x[2 * 25], r[2 * 3], q[2 * 6];
    for (int k = 0; k < 50; k++) x[k] = dg_rng_normal(&rng);
    for (int k = 0; k < 6; k++) r[k] = dg_rng_normal(&rng);
    for (int k = 0; k < 12; k++) q[k] = dg_rng_normal(&rng);
    dg_exec *e;
    ck_assert_int_eq(dg_exec_create(m, 2, DG_EXEC_BACKWARD, &e), DG_OK);
    const two_terms loss = {r, 4, q, 3};
    two_term_loss(e, x, &loss);
    ck_assert_int_eq(dg_exec_backward_joined(e, 4, r, 3, q,
                                             DG_GRAD_PARAMS | DG_GRAD_INPUT),
                     DG_OK);
    float dx[2 * 25], *w = m->layers[2].param[0];
    size_t wn = m->layers[2].param_len[0];
    float *dw = malloc(wn * sizeof *dw);
    memcpy(dx, dg_exec_input_grad(e), sizeof dx);
    memcpy(dw, dg_exec_param_grad(e, 2, 0), wn * sizeof *dw);
    struct { float *v, *analytic; size_t n; } checks[] = {{x, dx, 50},
                                                          {w, dw, wn}};
    for (int c = 0; c < 2; c++)
        check_differences(e, x, &loss, checks[c].v, checks[c].analytic,
                          checks[c].n, 3);
    /* The head's weights see only r: the joined term enters below them. */
    ck_assert_int_eq(dg_exec_forward(e, x, 2), DG_OK);
    ck_assert_int_eq(dg_exec_backward(e, 4, r, DG_GRAD_PARAMS), DG_OK);
    size_t hn = m->layers[4].param_len[0];
    float *plain = malloc(hn * sizeof *plain);
    memcpy(plain, dg_exec_param_grad(e, 4, 0), hn * sizeof *plain);
    ck_assert_int_eq(dg_exec_backward_joined(e, 4, r, 3, q, DG_GRAD_PARAMS),
                     DG_OK);
    for (size_t k = 0; k < hn; k++)
        ck_assert_float_eq(plain[k], dg_exec_param_grad(e, 4, 0)[k]);
    ck_assert_int_eq(dg_exec_backward_joined(e, 2, r, 3, q, DG_GRAD_PARAMS),
                     DG_E_INVALID_ARG);
    free(dw);
    free(plain);
    dg_exec_free(e);
    dg_model_destroy(m);
}
END_TEST

/* Layer 3, a ReLU between convolution and pooling, is kept NHWC inside
 * the executor but read and given gradients in NCHW, as the last layer's
 * gradient or joined to it. */
START_TEST(gradients_enter_channels_last_layers_in_nchw)
{
    dg_model *m;
    ck_assert_int_eq(dg_spec_parse("c3k3p1,relu,c4k3,relu,mp2,fc3",
                                   (dg_shape){1, 6, 6}, &m), DG_OK);
    dg_model_init_weights(m, 0, 7);
    float x[2 * 36], r[2 * 3], q[2 * 64], dx[2 * 36];
    for (int k = 0; k < 72; k++) x[k] = dg_rng_normal(&rng);
    for (int k = 0; k < 6; k++) r[k] = dg_rng_normal(&rng);
    for (int k = 0; k < 128; k++) q[k] = dg_rng_normal(&rng);
    dg_exec *e;
    ck_assert_int_eq(dg_exec_create(m, 2, DG_EXEC_BACKWARD, &e), DG_OK);
    ck_assert_msg(e->run[3].channels_last, "the test needs layer 3 in NHWC");
    for (int joined = 0; joined < 2; joined++) {
        const two_terms loss = {joined ? r : NULL, 5, q, 3};
        two_term_loss(e, x, &loss);
        dg_status s = joined ? dg_exec_backward_joined(e, 5, r, 3, q,
                                                       DG_GRAD_INPUT)
                             : dg_exec_backward(e, 3, q, DG_GRAD_INPUT);
        ck_assert_int_eq(s, DG_OK);
        memcpy(dx, dg_exec_input_grad(e), sizeof dx);
        check_differences(e, x, &loss, x, dx, 72, 5);
    }
    dg_exec_free(e);
    dg_model_destroy(m);
}
END_TEST

int main(void)
{
    dg_rng_seed(&rng, 99);
    Suite *s = suite_create("gradients");
    TCase *tc = tcase_create("backward");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, backward_matches_finite_differences, 0,
                        (int)(sizeof cases / sizeof *cases));
    tcase_add_test(tc, frozen_and_masked_layers);
    tcase_add_test(tc, a_joined_gradient_matches_finite_differences);
    tcase_add_test(tc, gradients_enter_channels_last_layers_in_nchw);
    suite_add_tcase(s, tc);
    return run_suite(s, CK_FORK);
}
