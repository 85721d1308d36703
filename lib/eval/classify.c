/* classify.c - batched Student predictions. */
#include "eval/classify.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/vec.h"
#include "io/dataset.h"
#include "io/image.h"
#include "nn/exec.h"

/* Images per forward pass. */
enum { CLASSIFY_BATCH = 256 };

void dg_unit_pixels_to_input(const dg_preprocess *pre, const float *pixels,
                             float *input)
{
    size_t plane = (size_t)pre->height * pre->width;
    for (uint32_t c = 0; c < pre->channels; c++) {
        float gain, offset;
        dg_pixel_map(pre, c, &gain, &offset);
        for (size_t i = 0; i < plane; i++)
            input[c * plane + i] = pixels[c * plane + i] * gain + offset;
    }
}

void dg_fill_from_dataset(const void *dataset, const dg_model *m,
                          uint32_t first, uint32_t n, float *input)
{
    const dg_dataset *ds = dataset;
    for (uint32_t i = 0; i < n; i++)
        dg_u8_chw_to_input(&m->pre, dg_dataset_sample(ds, first + i),
                           input + i * ds->sample_size);
}

void dg_fill_from_unit_pixels(const void *pixels, const dg_model *m,
                              uint32_t first, uint32_t n, float *input)
{
    size_t sample = dg_shape_size(m->input);
    const float *px = (const float *)pixels + (size_t)first * sample;
    for (uint32_t i = 0; i < n; i++)
        dg_unit_pixels_to_input(&m->pre, px + i * sample, input + i * sample);
}

dg_status dg_classify(const dg_model *m, uint32_t n, dg_classify_fill fill,
                      const void *source, int32_t *labels)
{
    size_t sample = dg_shape_size(m->input);
    int32_t last = (int32_t)m->n_layers - 1;
    uint32_t k = (uint32_t)dg_shape_size(m->layers[last].out);
    float *input;
    dg_exec *e = NULL;
    DG_TRY(dg_alloc_array((void **)&input, CLASSIFY_BATCH * sample,
                          sizeof *input, "classifying"));
    dg_status st = dg_exec_create((dg_model *)m, CLASSIFY_BATCH, 0, &e);
    for (uint32_t first = 0; st == DG_OK && first < n;
         first += CLASSIFY_BATCH) {
        uint32_t b = n - first < CLASSIFY_BATCH ? n - first : CLASSIFY_BATCH;
        fill(source, m, first, b, input);
        st = dg_exec_forward(e, input, b);
        const float *y = st == DG_OK ? dg_exec_output(e, last) : NULL;
        if (st == DG_OK && !y) st = DG_E_STATE;
        for (uint32_t i = 0; st == DG_OK && i < b; i++)
            labels[first + i] = (int32_t)dg_argmax(y + (size_t)i * k, k);
    }
    dg_exec_free(e);
    free(input);
    return st;
}
