/* squeeze.c - feature squeezing, scored with the Student. */
#include "eval/squeeze.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/vec.h"
#include "eval/classify.h"

void dg_squeeze_bit_depth(const uint8_t *in, size_t n, uint32_t bits,
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

void dg_squeeze_median2x2(const uint8_t *in, uint32_t channels,
                          uint32_t height, uint32_t width, float *out)
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

dg_status dg_squeezer_init(dg_squeezer *s, const dg_model *student,
                           uint32_t bits, uint32_t capacity)
{
    memset(s, 0, sizeof *s);
    s->student = student;
    s->bits = bits;
    s->capacity = capacity;
    s->n_classes = dg_shape_size(student->layers[student->n_layers - 1].out);
    s->logits = dg_model_logits_layer(student);
    s->sample = dg_shape_size(student->input);
    DG_TRY(dg_exec_create((dg_model *)student, capacity, 0, &s->exec));
    DG_TRY(dg_alloc_array((void **)&s->pixels, capacity * s->sample,
                          sizeof *s->pixels, "feature squeezing"));
    DG_TRY(dg_alloc_array((void **)&s->input, capacity * s->sample,
                          sizeof *s->input, "feature squeezing"));
    return dg_alloc_array((void **)&s->probability,
                          3 * (size_t)capacity * s->n_classes,
                          sizeof *s->probability, "feature squeezing");
}

/* Runs the Student on s->pixels and keeps its probabilities: the softmax
 * of its logits, as the validator scores. */
static dg_status predict(dg_squeezer *s, uint32_t n, float *probability)
{
    for (uint32_t i = 0; i < n; i++)
        dg_unit_pixels_to_input(&s->student->pre, s->pixels + i * s->sample,
                                s->input + i * s->sample);
    DG_TRY(dg_exec_forward(s->exec, s->input, n));
    const float *out = dg_exec_output(s->exec, s->logits);
    if (!out) return DG_E_STATE;
    uint32_t k = s->n_classes;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t c = 0; c < k; c++)
            probability[(size_t)i * k + c] =
                dg_softmax_at(out + (size_t)i * k, k, c);
    return DG_OK;
}

static dg_status score_batch(dg_squeezer *s, const uint8_t *const *images,
                             uint32_t n, float *scores)
{
    size_t block = (size_t)s->capacity * s->n_classes;
    const dg_shape *in = &s->student->input;
    for (int version = 0; version < 3; version++) {
        for (uint32_t i = 0; i < n; i++) {
            float *px = s->pixels + i * s->sample;
            if (version == 0)
                for (size_t k = 0; k < s->sample; k++)
                    px[k] = images[i][k] / 255.0f;
            else if (version == 1)
                dg_squeeze_bit_depth(images[i], s->sample, s->bits, px);
            else
                dg_squeeze_median2x2(images[i], in->c, in->h, in->w, px);
        }
        DG_TRY(predict(s, n, s->probability + version * block));
    }
    for (uint32_t i = 0; i < n; i++) {
        const float *p0 = s->probability + (size_t)i * s->n_classes;
        double worst = 0;
        for (int version = 1; version < 3; version++) {
            const float *p = p0 + version * block;
            double l1 = 0;
            for (uint32_t k = 0; k < s->n_classes; k++)
                l1 += fabs((double)p0[k] - p[k]);
            if (l1 > worst) worst = l1;
        }
        scores[i] = (float)worst;
    }
    return DG_OK;
}

dg_status dg_squeezer_score(dg_squeezer *s, const uint8_t *const *images,
                            uint32_t n, float *scores)
{
    for (uint32_t at = 0; at < n; at += s->capacity) {
        uint32_t count = n - at < s->capacity ? n - at : s->capacity;
        DG_TRY(score_batch(s, images + at, count, scores + at));
    }
    return DG_OK;
}

void dg_squeezer_free(dg_squeezer *s)
{
    dg_exec_free(s->exec);
    free(s->pixels);
    free(s->input);
    free(s->probability);
    memset(s, 0, sizeof *s);
}
