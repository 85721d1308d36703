/* msssim.c - MS-SSIM and its gradient.
 *
 * Per channel and scale j, with 'valid' Gaussian filtering G (no padding,
 * as the reference implementations do):
 *   mx = G*x, my = G*y, sxx = G*(x x) - mx^2, syy likewise, sxy = G*(x y) -
 *   mx my; l = (2 mx my + C1) / (mx^2 + my^2 + C1), cs = (2 sxy + C2) /
 *   (sxx + syy + C2); v_j = mean(cs) for j < S-1 and mean(l cs) for the
 *   coarsest scale; MS-SSIM = prod v_j^w_j (each v_j clamped at 0, as the
 *   TensorFlow and pytorch_msssim versions do); the result is the mean over
 *   channels.  Everything is computed in double. */
#include "attack/msssim.h"

#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"

#define MAX_WINDOW 11u
#define MAX_SIDE 65536u
#define WINDOW_SIGMA 1.5
#define C1 (0.01 * 0.01) /* (k1 L)^2 with L = 1 */
#define C2 (0.03 * 0.03)

static const double scale_weights[DG_MSSSIM_MAX_SCALES] = {
    0.0448, 0.2856, 0.3001, 0.2363, 0.1333};

typedef struct scale {
    uint32_t h, w;          /* image side at this scale */
    uint32_t win;           /* window side: min(11, h, w) */
    uint32_t oh, ow;        /* the valid statistics map */
    double g[MAX_WINDOW];   /* normalised 1-D Gaussian; the window is g g^T */
    double weight;          /* exponent, renormalised over the scales used */
    double *x, *y;          /* the current channel pooled to this scale */
    double *dx;             /* d v / d x, then d MS-SSIM / d x */
} scale;

struct dg_msssim {
    uint32_t c, h, w, n_scales;
    scale s[DG_MSSSIM_MAX_SCALES];
    /* Scratch sized for the first (largest) scale. */
    double *mx, *my, *exx, *eyy, *exy; /* statistics maps */
    double *dmx, *dexx, *dexy;         /* d v / d statistic, per position */
    double *prod;                      /* an element-wise product image */
    double *tmp;                       /* one pass of a separable filter */
    double *back;                      /* a transposed filtering */
    double *block;                     /* owns every buffer above */
};

static void gaussian(uint32_t win, double *g)
{
    double sigma = WINDOW_SIGMA * win / MAX_WINDOW, centre = (win - 1) / 2.0;
    double sum = 0;
    for (uint32_t k = 0; k < win; k++) {
        double d = k - centre;
        g[k] = exp(-d * d / (2 * sigma * sigma));
        sum += g[k];
    }
    for (uint32_t k = 0; k < win; k++) g[k] /= sum;
}

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* Lays out the scales: sides, windows, renormalised weights. */
static void plan_scales(dg_msssim *p)
{
    uint32_t h = p->h, w = p->w;
    double total = 0;
    p->n_scales = 0;
    while (p->n_scales < DG_MSSSIM_MAX_SCALES &&
           (p->n_scales == 0 ||
            (h >= DG_MSSSIM_MIN_SIDE && w >= DG_MSSSIM_MIN_SIDE))) {
        scale *s = &p->s[p->n_scales];
        s->h = h;
        s->w = w;
        s->win = min_u32(MAX_WINDOW, min_u32(h, w));
        s->oh = h - s->win + 1;
        s->ow = w - s->win + 1;
        gaussian(s->win, s->g);
        s->weight = scale_weights[p->n_scales];
        total += s->weight;
        p->n_scales++;
        h /= 2;
        w /= 2;
    }
    for (uint32_t j = 0; j < p->n_scales; j++) p->s[j].weight /= total;
}

dg_status dg_msssim_create(uint32_t channels, uint32_t height, uint32_t width,
                           dg_msssim **out)
{
    *out = NULL;
    if (channels == 0 || height == 0 || width == 0 || height > MAX_SIDE ||
        width > MAX_SIDE || channels > MAX_SIDE)
        return dg_fail(DG_E_INVALID_ARG, "MS-SSIM of %ux%ux%u images",
                       channels, height, width);
    dg_msssim *p;
    DG_TRY(dg_alloc_array((void **)&p, 1, sizeof *p, "MS-SSIM plan"));
    p->c = channels;
    p->h = height;
    p->w = width;
    plan_scales(p);
    size_t image = (size_t)height * width, pyramid = 0;
    for (uint32_t j = 0; j < p->n_scales; j++)
        pyramid += (size_t)p->s[j].h * p->s[j].w;
    /* 8 maps, prod, tmp, back (each at most one image) and 3 pyramids. */
    size_t total = 11 * image + 3 * pyramid;
    dg_status st = dg_alloc_array((void **)&p->block, total, sizeof(double),
                                  "MS-SSIM scratch");
    if (st != DG_OK) {
        free(p);
        return st;
    }
    double *at = p->block;
    double **maps[] = {&p->mx,   &p->my,   &p->exx,  &p->eyy,
                       &p->exy,  &p->dmx,  &p->dexx, &p->dexy,
                       &p->prod, &p->tmp,  &p->back};
    for (size_t k = 0; k < sizeof maps / sizeof *maps; k++, at += image)
        *maps[k] = at;
    for (uint32_t j = 0; j < p->n_scales; j++) {
        size_t n = (size_t)p->s[j].h * p->s[j].w;
        p->s[j].x = at;
        p->s[j].y = at + n;
        p->s[j].dx = at + 2 * n;
        at += 3 * n;
    }
    *out = p;
    return DG_OK;
}

void dg_msssim_free(dg_msssim *p)
{
    if (!p) return;
    free(p->block);
    free(p);
}

uint32_t dg_msssim_scales(const dg_msssim *p) { return p->n_scales; }

/* out (oh x ow) = valid correlation of in (h x w) with g g^T. */
static void filter_valid(const scale *s, const double *in, double *tmp,
                         double *out)
{
    for (uint32_t r = 0; r < s->h; r++)
        for (uint32_t q = 0; q < s->ow; q++) {
            const double *row = in + (size_t)r * s->w + q;
            double acc = 0;
            for (uint32_t k = 0; k < s->win; k++) acc += s->g[k] * row[k];
            tmp[(size_t)r * s->ow + q] = acc;
        }
    for (uint32_t r = 0; r < s->oh; r++)
        for (uint32_t q = 0; q < s->ow; q++) {
            double acc = 0;
            for (uint32_t k = 0; k < s->win; k++)
                acc += s->g[k] * tmp[(size_t)(r + k) * s->ow + q];
            out[(size_t)r * s->ow + q] = acc;
        }
}

/* The adjoint of filter_valid: out (h x w) = sum over map positions of
 * d[pos] times the window placed there. */
static void filter_adjoint(const scale *s, const double *d, double *tmp,
                           double *out)
{
    size_t tmp_len = (size_t)s->h * s->ow, out_len = (size_t)s->h * s->w;
    for (size_t k = 0; k < tmp_len; k++) tmp[k] = 0;
    for (size_t k = 0; k < out_len; k++) out[k] = 0;
    for (uint32_t r = 0; r < s->oh; r++)
        for (uint32_t k = 0; k < s->win; k++)
            for (uint32_t q = 0; q < s->ow; q++)
                tmp[(size_t)(r + k) * s->ow + q] +=
                    s->g[k] * d[(size_t)r * s->ow + q];
    for (uint32_t r = 0; r < s->h; r++)
        for (uint32_t q = 0; q < s->ow; q++) {
            double v = tmp[(size_t)r * s->ow + q];
            double *row = out + (size_t)r * s->w + q;
            for (uint32_t k = 0; k < s->win; k++) row[k] += s->g[k] * v;
        }
}

static void filter_product(dg_msssim *p, const scale *s, const double *a,
                           const double *b, double *out)
{
    size_t n = (size_t)s->h * s->w;
    for (size_t k = 0; k < n; k++) p->prod[k] = a[k] * b[k];
    filter_valid(s, p->prod, p->tmp, out);
}

/* v_j of the current channel at scale s: mean(cs), or mean(l cs) for the
 * coarsest scale.  With want_grad, s->dx receives d v_j / d x. */
static double scale_value(dg_msssim *p, scale *s, int coarsest,
                          int want_grad)
{
    filter_valid(s, s->x, p->tmp, p->mx);
    filter_valid(s, s->y, p->tmp, p->my);
    filter_product(p, s, s->x, s->x, p->exx);
    filter_product(p, s, s->y, s->y, p->eyy);
    filter_product(p, s, s->x, s->y, p->exy);
    size_t n = (size_t)s->oh * s->ow;
    double sum = 0;
    for (size_t k = 0; k < n; k++) {
        double mx = p->mx[k], my = p->my[k];
        double sxx = p->exx[k] - mx * mx, syy = p->eyy[k] - my * my;
        double sxy = p->exy[k] - mx * my;
        double a2 = 2 * sxy + C2, b2 = sxx + syy + C2, cs = a2 / b2;
        /* d cs / d (mean x, E[x x], E[x y]) */
        double cs_mx = -2 * my / b2 + 2 * mx * a2 / (b2 * b2);
        double cs_exx = -a2 / (b2 * b2), cs_exy = 2 / b2;
        if (!coarsest) {
            sum += cs;
            p->dmx[k] = cs_mx / n;
            p->dexx[k] = cs_exx / n;
            p->dexy[k] = cs_exy / n;
            continue;
        }
        double a1 = 2 * mx * my + C1, b1 = mx * mx + my * my + C1;
        double l = a1 / b1, l_mx = 2 * my / b1 - 2 * mx * a1 / (b1 * b1);
        sum += l * cs;
        p->dmx[k] = (l_mx * cs + l * cs_mx) / n;
        p->dexx[k] = l * cs_exx / n;
        p->dexy[k] = l * cs_exy / n;
    }
    if (want_grad) {
        /* x enters through mean x, E[x x] (2x) and E[x y] (y). */
        size_t len = (size_t)s->h * s->w;
        filter_adjoint(s, p->dmx, p->tmp, s->dx);
        filter_adjoint(s, p->dexx, p->tmp, p->back);
        for (size_t k = 0; k < len; k++) s->dx[k] += 2 * s->x[k] * p->back[k];
        filter_adjoint(s, p->dexy, p->tmp, p->back);
        for (size_t k = 0; k < len; k++) s->dx[k] += s->y[k] * p->back[k];
    }
    return sum / n;
}

/* 2x2 average pooling from scale `from` into the next one. */
static void pool(const scale *from, const double *in, const scale *to,
                 double *out)
{
    for (uint32_t r = 0; r < to->h; r++)
        for (uint32_t q = 0; q < to->w; q++) {
            const double *a = in + (size_t)2 * r * from->w + 2 * q;
            out[(size_t)r * to->w + q] =
                0.25 * (a[0] + a[1] + a[from->w] + a[from->w + 1]);
        }
}

/* Adds the adjoint of pool: each coarse gradient spreads over its 2x2. */
static void unpool_add(const scale *to, const double *d, const scale *from,
                       double *out)
{
    for (uint32_t r = 0; r < to->h; r++)
        for (uint32_t q = 0; q < to->w; q++) {
            double v = 0.25 * d[(size_t)r * to->w + q];
            double *a = out + (size_t)2 * r * from->w + 2 * q;
            a[0] += v;
            a[1] += v;
            a[from->w] += v;
            a[from->w + 1] += v;
        }
}

/* MS-SSIM of one channel; with grad, writes d/dx scaled by grad_scale. */
static double channel_msssim(dg_msssim *p, const float *x, const float *y,
                             float *grad, double grad_scale)
{
    size_t len = (size_t)p->h * p->w;
    for (size_t k = 0; k < len; k++) {
        p->s[0].x[k] = x[k];
        p->s[0].y[k] = y[k];
    }
    double v[DG_MSSSIM_MAX_SCALES], ms = 1;
    uint32_t last = p->n_scales - 1;
    for (uint32_t j = 0; j <= last; j++) {
        scale *s = &p->s[j];
        if (j > 0) {
            pool(&p->s[j - 1], p->s[j - 1].x, s, s->x);
            pool(&p->s[j - 1], p->s[j - 1].y, s, s->y);
        }
        v[j] = scale_value(p, s, j == last, grad != NULL);
        /* A term at or below 0 is clamped to 0; a NaN (from a NaN pixel)
         * stays NaN rather than reading as "no similarity". */
        ms *= v[j] > 0 ? pow(v[j], s->weight) : isnan(v[j]) ? v[j] : 0;
    }
    if (!grad) return ms;
    /* d ms / d v_j = ms w_j / v_j; a clamped term makes ms 0, and the
     * gradient 0 with it. */
    for (uint32_t j = 0; j <= last; j++) {
        scale *s = &p->s[j];
        double coef = ms > 0 ? ms * s->weight / v[j] : 0;
        for (size_t k = 0; k < (size_t)s->h * s->w; k++) s->dx[k] *= coef;
    }
    for (uint32_t j = last; j > 0; j--)
        unpool_add(&p->s[j], p->s[j].dx, &p->s[j - 1], p->s[j - 1].dx);
    for (size_t k = 0; k < len; k++)
        grad[k] = (float)(p->s[0].dx[k] * grad_scale);
    return ms;
}

double dg_msssim_eval(dg_msssim *p, const float *x, const float *y,
                      float *grad)
{
    size_t len = (size_t)p->h * p->w;
    double sum = 0;
    for (uint32_t c = 0; c < p->c; c++)
        sum += channel_msssim(p, x + c * len, y + c * len,
                              grad ? grad + c * len : NULL, 1.0 / p->c);
    return sum / p->c;
}

double dg_dssim_eval(dg_msssim *p, const float *x, const float *y,
                     float *grad)
{
    double ms = dg_msssim_eval(p, x, y, grad);
    if (grad)
        for (size_t k = 0; k < (size_t)p->c * p->h * p->w; k++)
            grad[k] *= -0.5f;
    return (1 - ms) / 2;
}
