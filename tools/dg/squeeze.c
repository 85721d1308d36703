/* squeeze.c - feature squeezing, scored with the Student. */
#include "squeeze.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void squeeze_bit_depth(const uint8_t *in, size_t n, uint32_t bits,
                       float *out)
{
    double levels = (double)((1u << bits) - 1);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(nearbyint(in[i] / 255.0 * levels) / levels);
}

static uint8_t upper_median4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    uint8_t v[4] = {a, b, c, d};
    /* Four values: a tiny insertion sort. */
    for (int i = 1; i < 4; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint8_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[2];
}

void squeeze_median2x2(const uint8_t *in, uint32_t channels, uint32_t height,
                       uint32_t width, float *out)
{
    for (uint32_t c = 0; c < channels; c++) {
        const uint8_t *p = in + (size_t)c * height * width;
        float *q = out + (size_t)c * height * width;
        for (uint32_t y = 0; y < height; y++) {
            uint32_t y1 = y + 1 < height ? y + 1 : y;
            for (uint32_t x = 0; x < width; x++) {
                uint32_t x1 = x + 1 < width ? x + 1 : x;
                q[(size_t)y * width + x] =
                    upper_median4(p[(size_t)y * width + x],
                                  p[(size_t)y * width + x1],
                                  p[(size_t)y1 * width + x],
                                  p[(size_t)y1 * width + x1]) / 255.0f;
            }
        }
    }
}

int squeezer_init(squeezer *s, const dg_model *student, uint32_t bits,
                  uint32_t capacity)
{
    memset(s, 0, sizeof *s);
    s->bits = bits;
    s->capacity = capacity;
    s->preprocess.struct_size = sizeof s->preprocess;
    uint32_t n_layers = 0;
    dg_layer_info last = {.struct_size = sizeof last};
    dg_status st = dg_model_get_preprocess(student, &s->preprocess);
    if (st == DG_OK)
        st = dg_model_input_shape(student, &s->channels, &s->height,
                                  &s->width);
    if (st == DG_OK) st = dg_model_output_size(student, &s->n_classes);
    if (st == DG_OK) st = dg_model_layer_count(student, &n_layers);
    if (st == DG_OK) st = dg_model_layer_info(student, n_layers - 1, &last);
    if (st == DG_OK) st = dg_session_create(student, capacity, &s->session);
    if (st != DG_OK) return cli_fail(st, "preparing feature squeezing");
    s->ends_in_softmax = last.kind == DG_LAYER_SOFTMAX;
    size_t sample = (size_t)s->channels * s->height * s->width;
    s->pixels = malloc(capacity * sample * sizeof *s->pixels);
    s->input = malloc(capacity * sample * sizeof *s->input);
    s->probability =
        malloc(3 * (size_t)capacity * s->n_classes * sizeof *s->probability);
    if (!s->pixels || !s->input || !s->probability)
        return cli_error("out of memory");
    return CLI_EXIT_OK;
}

/* Pixels in [0,1] to model input, as the Student's preprocessing maps
 * 8-bit pixels. */
static void preprocess(const squeezer *s, const float *pixels, float *input)
{
    size_t plane = (size_t)s->height * s->width;
    const dg_preprocess *p = &s->preprocess;
    for (uint32_t c = 0; c < s->channels; c++)
        for (size_t i = 0; i < plane; i++)
            input[c * plane + i] =
                (pixels[c * plane + i] * 255.0f * p->scale - p->mean[c]) /
                p->std[c];
}

/* Runs the Student on s->pixels and keeps its probabilities. */
static int predict(squeezer *s, uint32_t n, double *probability)
{
    size_t sample = (size_t)s->channels * s->height * s->width;
    for (uint32_t i = 0; i < n; i++)
        preprocess(s, s->pixels + i * sample, s->input + i * sample);
    const float *out;
    dg_status st = dg_session_run(s->session, s->input, n * sample, n);
    if (st == DG_OK)
        st = dg_session_output(s->session, -1, &out, NULL, NULL, NULL, NULL);
    if (st != DG_OK) return cli_fail(st, "running the Student");
    for (uint32_t i = 0; i < n; i++)
        cli_probabilities(out + (size_t)i * s->n_classes, s->n_classes,
                          s->ends_in_softmax,
                          probability + (size_t)i * s->n_classes);
    return CLI_EXIT_OK;
}

static int score_batch(squeezer *s, const uint8_t *const *images,
                       uint32_t n, float *scores)
{
    size_t sample = (size_t)s->channels * s->height * s->width;
    size_t block = (size_t)s->capacity * s->n_classes;
    int rc = CLI_EXIT_OK;
    for (int version = 0; version < 3 && rc == CLI_EXIT_OK; version++) {
        for (uint32_t i = 0; i < n; i++) {
            float *px = s->pixels + i * sample;
            if (version == 0)
                for (size_t k = 0; k < sample; k++)
                    px[k] = images[i][k] / 255.0f;
            else if (version == 1)
                squeeze_bit_depth(images[i], sample, s->bits, px);
            else
                squeeze_median2x2(images[i], s->channels, s->height,
                                  s->width, px);
        }
        rc = predict(s, n, s->probability + version * block);
    }
    for (uint32_t i = 0; rc == CLI_EXIT_OK && i < n; i++) {
        const double *p0 = s->probability + (size_t)i * s->n_classes;
        double worst = 0;
        for (int version = 1; version < 3; version++) {
            const double *p = p0 + version * block;
            double l1 = 0;
            for (uint32_t k = 0; k < s->n_classes; k++)
                l1 += fabs(p0[k] - p[k]);
            if (l1 > worst) worst = l1;
        }
        scores[i] = (float)worst;
    }
    return rc;
}

int squeezer_score(squeezer *s, const uint8_t *const *images, uint32_t n,
                   float *scores)
{
    int rc = CLI_EXIT_OK;
    for (uint32_t at = 0; at < n && rc == CLI_EXIT_OK; at += s->capacity) {
        uint32_t count = n - at < s->capacity ? n - at : s->capacity;
        rc = score_batch(s, images + at, count, scores + at);
    }
    return rc;
}

void squeezer_free(squeezer *s)
{
    dg_session_free(s->session);
    free(s->pixels);
    free(s->input);
    free(s->probability);
    memset(s, 0, sizeof *s);
}
