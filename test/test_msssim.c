/* test_msssim.c - MS-SSIM and DSSIM against hand-computed values and an
 * independent double-precision reference, the analytic gradient against
 * central finite differences, symmetry and range. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attack/msssim.h"
#include "core/rng.h"
#include "diffguard.h"
#include "suite.h"

#define C1 1e-4
#define C2 9e-4

static dg_msssim *plan(uint32_t c, uint32_t h, uint32_t w)
{
    dg_msssim *p;
    ck_assert_int_eq(dg_msssim_create(c, h, w, &p), DG_OK);
    return p;
}

/* A smooth random image: a few random blobs, so that windows see structure
 * as in natural images, plus pixel noise. */
static float *random_image(uint32_t c, uint32_t h, uint32_t w, uint64_t seed)
{
    dg_rng rng;
    dg_rng_seed(&rng, seed);
    float *x = malloc(sizeof(float) * c * h * w);
    for (uint32_t ch = 0; ch < c; ch++) {
        double cy[3], cx[3], amp[3];
        for (int b = 0; b < 3; b++) {
            cy[b] = dg_rng_uniform(&rng) * h;
            cx[b] = dg_rng_uniform(&rng) * w;
            amp[b] = dg_rng_uniform(&rng) * 0.6;
        }
        for (uint32_t r = 0; r < h; r++)
            for (uint32_t q = 0; q < w; q++) {
                double v = 0.2 + 0.1 * dg_rng_uniform(&rng);
                for (int b = 0; b < 3; b++) {
                    double d2 = (r - cy[b]) * (r - cy[b]) +
                                (q - cx[b]) * (q - cx[b]);
                    v += amp[b] * exp(-d2 / (0.05 * h * w));
                }
                x[((size_t)ch * h + r) * w + q] = (float)(v > 1 ? 1 : v);
            }
    }
    return x;
}

/* y = x plus bounded noise, clipped to [0,1]. */
static float *perturbed(const float *x, size_t n, float amount, uint64_t seed)
{
    dg_rng rng;
    dg_rng_seed(&rng, seed);
    float *y = malloc(sizeof(float) * n);
    for (size_t k = 0; k < n; k++) {
        float v = x[k] + amount * (2 * dg_rng_uniform(&rng) - 1);
        y[k] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    return y;
}

/* ------------------------------------------------------------------------ */
/* The reference: the definition written out directly, in double, with a   */
/* 2-D window, no separable filtering and no shared scratch.                */
/* ------------------------------------------------------------------------ */

static double ref_ssim_terms(const double *x, const double *y, int h, int w,
                             int coarsest)
{
    int win = 11 < h ? 11 : h;
    if (w < win) win = w;
    double sigma = 1.5 * win / 11, centre = (win - 1) / 2.0, total = 0;
    double *g = malloc(sizeof(double) * win * win);
    for (int a = 0; a < win; a++)
        for (int b = 0; b < win; b++) {
            double d2 =
                (a - centre) * (a - centre) + (b - centre) * (b - centre);
            g[a * win + b] = exp(-d2 / (2 * sigma * sigma));
            total += g[a * win + b];
        }
    for (int k = 0; k < win * win; k++) g[k] /= total;
    double sum = 0;
    int count = 0;
    for (int r = 0; r + win <= h; r++)
        for (int q = 0; q + win <= w; q++) {
            double mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
            for (int a = 0; a < win; a++)
                for (int b = 0; b < win; b++) {
                    double wt = g[a * win + b];
                    int at = (r + a) * w + q + b;
                    double xv = x[at], yv = y[at];
                    mx += wt * xv;
                    my += wt * yv;
                    xx += wt * xv * xv;
                    yy += wt * yv * yv;
                    xy += wt * xv * yv;
                }
            double vx = xx - mx * mx, vy = yy - my * my, cxy = xy - mx * my;
            double cs = (2 * cxy + C2) / (vx + vy + C2);
            double l = (2 * mx * my + C1) / (mx * mx + my * my + C1);
            sum += coarsest ? l * cs : cs;
            count++;
        }
    free(g);
    return sum / count;
}

static double ref_msssim(const float *xf, const float *yf, int c, int h, int w)
{
    static const double weights[5] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
    int scales = 1;
    for (int sh = h / 2, sw = w / 2; scales < 5 && sh >= 7 && sw >= 7;
         sh /= 2, sw /= 2)
        scales++;
    double wsum = 0;
    for (int j = 0; j < scales; j++) wsum += weights[j];
    double result = 0;
    for (int ch = 0; ch < c; ch++) {
        double *x = malloc(sizeof(double) * h * w);
        double *y = malloc(sizeof(double) * h * w);
        for (int k = 0; k < h * w; k++) {
            x[k] = xf[ch * h * w + k];
            y[k] = yf[ch * h * w + k];
        }
        int sh = h, sw = w;
        double ms = 1;
        for (int j = 0; j < scales; j++) {
            if (j > 0) { /* 2x2 average, odd row and column dropped */
                int nh = sh / 2, nw = sw / 2;
                for (int r = 0; r < nh; r++)
                    for (int q = 0; q < nw; q++) {
                        x[r * nw + q] = (x[2 * r * sw + 2 * q] +
                                         x[2 * r * sw + 2 * q + 1] +
                                         x[(2 * r + 1) * sw + 2 * q] +
                                         x[(2 * r + 1) * sw + 2 * q + 1]) / 4;
                        y[r * nw + q] = (y[2 * r * sw + 2 * q] +
                                         y[2 * r * sw + 2 * q + 1] +
                                         y[(2 * r + 1) * sw + 2 * q] +
                                         y[(2 * r + 1) * sw + 2 * q + 1]) / 4;
                    }
                sh = nh;
                sw = nw;
            }
            double v = ref_ssim_terms(x, y, sh, sw, j == scales - 1);
            ms *= pow(v > 0 ? v : 0, weights[j] / wsum);
        }
        result += ms;
        free(x);
        free(y);
    }
    return result / c;
}

/* ------------------------------------------------------------------------ */

START_TEST(scale_counts)
{
    static const uint32_t cases[][3] = {
        {28, 28, 3}, {32, 32, 3}, {16, 20, 2}, {8, 8, 1},
        {4, 4, 1},   {224, 224, 5}, {14, 14, 2}, {14, 13, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        dg_msssim *p = plan(1, cases[k][0], cases[k][1]);
        ck_assert_uint_eq(dg_msssim_scales(p), cases[k][2]);
        dg_msssim_free(p);
    }
    dg_msssim *p;
    ck_assert_int_eq(dg_msssim_create(0, 28, 28, &p), DG_E_INVALID_ARG);
    ck_assert_ptr_null(p);
}
END_TEST

START_TEST(identical_images)
{
    static const uint32_t shapes[][3] = {{1, 28, 28}, {3, 32, 32}, {1, 5, 9}};
    for (size_t k = 0; k < 3; k++) {
        uint32_t c = shapes[k][0], h = shapes[k][1], w = shapes[k][2];
        float *x = random_image(c, h, w, 10 + k);
        dg_msssim *p = plan(c, h, w);
        ck_assert_double_eq_tol(dg_msssim_eval(p, x, x, NULL), 1.0, 1e-12);
        ck_assert_double_eq_tol(dg_dssim_eval(p, x, x, NULL), 0.0, 1e-12);
        float out = -1;
        ck_assert_int_eq(dg_dssim(x, x, c, h, w, &out), DG_OK);
        ck_assert_float_eq_tol(out, 0.0f, 1e-7f);
        dg_msssim_free(p);
        free(x);
    }
}
END_TEST

START_TEST(constant_images_reduce_to_luminance)
{
    /* Constant images have no variance: cs = C2 / C2 = 1 at every scale,
     * and MS-SSIM is the luminance term of the coarsest scale raised to its
     * renormalised weight (1 for a single scale). */
    float a[28 * 28], b[28 * 28];
    const double va = 0.25, vb = 0.75;
    for (int k = 0; k < 28 * 28; k++) {
        a[k] = (float)va;
        b[k] = (float)vb;
    }
    double lum = (2 * va * vb + C1) / (va * va + vb * vb + C1);
    dg_msssim *single = plan(1, 8, 8);
    ck_assert_double_eq_tol(dg_msssim_eval(single, a, b, NULL), lum, 1e-12);
    ck_assert_double_eq_tol(dg_dssim_eval(single, a, b, NULL), (1 - lum) / 2,
                            1e-12);
    dg_msssim_free(single);
    dg_msssim *three = plan(1, 28, 28);
    double w3 = 0.3001 / (0.0448 + 0.2856 + 0.3001);
    ck_assert_double_eq_tol(dg_msssim_eval(three, a, b, NULL), pow(lum, w3),
                            1e-12);
    dg_msssim_free(three);
}
END_TEST

START_TEST(black_against_white_is_near_zero)
{
    /* l = C1 / (1 + C1) at one scale: MS-SSIM ~ 1e-4, DSSIM ~ 0.5. */
    float a[64] = {0}, b[64];
    for (int k = 0; k < 64; k++) b[k] = 1;
    dg_msssim *p = plan(1, 8, 8);
    ck_assert_double_eq_tol(dg_msssim_eval(p, a, b, NULL), C1 / (1 + C1),
                            1e-12);
    dg_msssim_free(p);
}
END_TEST

START_TEST(matches_the_reference)
{
    static const uint32_t shapes[][3] = {
        {1, 28, 28}, {1, 16, 20}, {3, 32, 32}, {1, 8, 8}, {2, 15, 29}};
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        uint32_t c = shapes[k][0], h = shapes[k][1], w = shapes[k][2];
        size_t n = (size_t)c * h * w;
        float *x = random_image(c, h, w, 100 + k);
        float *y = perturbed(x, n, 0.2f, 200 + k);
        dg_msssim *p = plan(c, h, w);
        double got = dg_msssim_eval(p, x, y, NULL);
        double want = ref_msssim(x, y, (int)c, (int)h, (int)w);
        ck_assert_double_eq_tol(got, want, 1e-10);
        ck_assert(want > 0.2 && want < 0.999);
        dg_msssim_free(p);
        free(x);
        free(y);
    }
}
END_TEST

/* Central differences of DSSIM at every sampled pixel, using the
 * perturbation actually representable in float. */
static void check_gradient(uint32_t c, uint32_t h, uint32_t w, float noise,
                           uint64_t seed)
{
    size_t n = (size_t)c * h * w;
    float *y = random_image(c, h, w, seed);
    float *x = perturbed(y, n, noise, seed + 1);
    float *grad = malloc(sizeof(float) * n);
    dg_msssim *p = plan(c, h, w);
    dg_dssim_eval(p, x, y, grad);
    double worst = 0, largest = 0;
    for (size_t k = 0; k < n; k++)
        if (fabs(grad[k]) > largest) largest = fabs(grad[k]);
    dg_rng rng;
    dg_rng_seed(&rng, seed + 2);
    for (int t = 0; t < 80; t++) {
        size_t k = dg_rng_below(&rng, (uint32_t)n);
        float keep = x[k];
        float up = keep + 1e-3f, down = keep - 1e-3f;
        x[k] = up;
        double f_up = dg_dssim_eval(p, x, y, NULL);
        x[k] = down;
        double f_down = dg_dssim_eval(p, x, y, NULL);
        x[k] = keep;
        double numeric = (f_up - f_down) / ((double)up - down);
        double err = fabs(numeric - grad[k]);
        if (err > worst) worst = err;
        ck_assert_msg(err <= 1e-3 * largest + 1e-7,
                      "%ux%ux%u pixel %zu: analytic %.9g numeric %.9g", c, h,
                      w, k, (double)grad[k], numeric);
    }
    ck_assert(largest > 0);
    dg_msssim_free(p);
    free(x);
    free(y);
    free(grad);
}

START_TEST(gradient_matches_finite_differences)
{
    check_gradient(1, 28, 28, 0.05f, 1);
    check_gradient(1, 16, 20, 0.1f, 2);
    check_gradient(3, 32, 32, 0.05f, 3);
    check_gradient(1, 8, 8, 0.3f, 4);
    check_gradient(1, 28, 28, 0.01f, 5); /* near the small budgets */
}
END_TEST

START_TEST(gradient_is_zero_at_identity)
{
    size_t n = 28 * 28;
    float *x = random_image(1, 28, 28, 7), *grad = malloc(sizeof(float) * n);
    dg_msssim *p = plan(1, 28, 28);
    dg_dssim_eval(p, x, x, grad);
    for (size_t k = 0; k < n; k++) ck_assert_float_eq_tol(grad[k], 0, 1e-9f);
    dg_msssim_free(p);
    free(x);
    free(grad);
}
END_TEST

START_TEST(symmetric_and_in_range)
{
    size_t n = 3 * 32 * 32;
    dg_msssim *p = plan(3, 32, 32);
    for (int t = 0; t < 6; t++) {
        float *x = random_image(3, 32, 32, 300 + t);
        float *y = perturbed(x, n, 0.1f * (float)t, 400 + t);
        if (t == 5) /* anticorrelated: cs < 0 is clamped to 0 */
            for (size_t k = 0; k < n; k++) y[k] = 1 - x[k];
        double xy = dg_msssim_eval(p, x, y, NULL);
        double yx = dg_msssim_eval(p, y, x, NULL);
        ck_assert_double_eq_tol(xy, yx, 1e-12);
        ck_assert(xy >= 0 && xy <= 1);
        double d = dg_dssim_eval(p, x, y, NULL);
        ck_assert(d >= 0 && d <= 0.5);
        free(x);
        free(y);
    }
    dg_msssim_free(p);
}
END_TEST

START_TEST(public_dssim_checks_arguments)
{
    float a[4] = {0}, out = 1;
    ck_assert_int_eq(dg_dssim(NULL, a, 1, 2, 2, &out), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dssim(a, a, 1, 2, 2, NULL), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dssim(a, a, 0, 2, 2, &out), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dssim(a, a, 1, 2, 2, &out), DG_OK);
    ck_assert_float_eq(out, 0.0f);
}
END_TEST

/* A NaN pixel makes DSSIM NaN, never a number that passes for a
 * measurement; the public function refuses non-finite pixels outright. */
START_TEST(nan_pixels_are_not_measured)
{
    size_t n = 28 * 28;
    float *x = random_image(1, 28, 28, 11), *y = perturbed(x, n, 0.1f, 12);
    dg_msssim *p = plan(1, 28, 28);
    ck_assert(isfinite(dg_dssim_eval(p, x, y, NULL)));
    x[100] = NAN;
    ck_assert(isnan(dg_dssim_eval(p, x, y, NULL)));
    ck_assert(isnan(dg_dssim_eval(p, y, x, NULL)));
    float out = 0;
    ck_assert_int_eq(dg_dssim(x, y, 1, 28, 28, &out), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "image a 0: value 100 is nan"));
    x[100] = 0.5f;
    y[7] = INFINITY;
    ck_assert_int_eq(dg_dssim(x, y, 1, 28, 28, &out), DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "image b 0: value 7 is inf"));
    dg_msssim_free(p);
    free(x);
    free(y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("msssim");
    TCase *tc = tcase_create("msssim");
    tcase_add_test(tc, scale_counts);
    tcase_add_test(tc, identical_images);
    tcase_add_test(tc, constant_images_reduce_to_luminance);
    tcase_add_test(tc, black_against_white_is_near_zero);
    tcase_add_test(tc, matches_the_reference);
    tcase_add_test(tc, gradient_matches_finite_differences);
    tcase_add_test(tc, gradient_is_zero_at_identity);
    tcase_add_test(tc, symmetric_and_in_range);
    tcase_add_test(tc, public_dssim_checks_arguments);
    tcase_add_test(tc, nan_pixels_are_not_measured);
    suite_add_tcase(s, tc);
    return run_suite(s, CK_FORK);
}
