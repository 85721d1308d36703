/* dataset.c - public entry points for data sets: loading, selection,
 * queries, and batches of model input. */
#include "api/api.h"
#include "core/alloc.h"
#include "io/dataset.h"
#include "io/image.h"
#include "nn/model.h"

dg_status dg_dataset_load_idx(const char *images_path,
                              const char *labels_path, dg_dataset **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(images_path && labels_path);
    return dg_idx_load(images_path, labels_path, out);
}

dg_status dg_dataset_load_folder(const char *dir, uint32_t channels,
                                 uint32_t height, uint32_t width,
                                 dg_dataset **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(dir);
    if (channels != 1 && channels != 3)
        return dg_fail(DG_E_INVALID_ARG, "channels is %u; expected 1 or 3",
                       channels);
    if (height == 0 || width == 0 || height > DG_IMAGE_MAX_SIDE ||
        width > DG_IMAGE_MAX_SIDE)
        return dg_fail(DG_E_INVALID_ARG,
                       "samples of %ux%u pixels: each side must be 1 to %u",
                       height, width, DG_IMAGE_MAX_SIDE);
    return dg_folder_load(dir, channels, height, width, out);
}

dg_status dg_dataset_select(const dg_dataset *ds, const int32_t *classes,
                            uint32_t n_classes, uint32_t per_class,
                            dg_dataset **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(ds && classes && n_classes > 0);
    return dg_dataset_subset(ds, classes, n_classes, per_class, out);
}

dg_status dg_dataset_count(const dg_dataset *ds, uint32_t *count)
{
    DG_CHECK_ARG(ds && count);
    *count = ds->count;
    return DG_OK;
}

dg_status dg_dataset_sample_shape(const dg_dataset *ds, uint32_t *channels,
                                  uint32_t *height, uint32_t *width)
{
    DG_CHECK_ARG(ds);
    if (channels) *channels = ds->channels;
    if (height) *height = ds->height;
    if (width) *width = ds->width;
    return DG_OK;
}

dg_status dg_dataset_class_count(const dg_dataset *ds, uint32_t *count)
{
    DG_CHECK_ARG(ds && count);
    *count = ds->n_classes;
    return DG_OK;
}

static dg_status check_index(const dg_dataset *ds, uint32_t index)
{
    if (index >= ds->count)
        return dg_fail(DG_E_INVALID_ARG, "sample %u of %u", index,
                       ds->count);
    return DG_OK;
}

dg_status dg_dataset_label(const dg_dataset *ds, uint32_t index,
                           int32_t *label)
{
    DG_CHECK_ARG(ds && label);
    DG_TRY(check_index(ds, index));
    *label = ds->labels[index];
    return DG_OK;
}

dg_status dg_dataset_pixels(const dg_dataset *ds, uint32_t index,
                            const uint8_t **pixels)
{
    DG_CHECK_ARG(pixels);
    *pixels = NULL;
    DG_CHECK_ARG(ds);
    DG_TRY(check_index(ds, index));
    *pixels = dg_dataset_sample(ds, index);
    return DG_OK;
}

/* The preprocessing a batch uses: the model's, which must take samples of
 * the data set's shape as they are (batches never resize), or plain
 * scaling to [0,1]. */
static dg_status batch_preprocess(const dg_dataset *ds, const dg_model *m,
                                  dg_preprocess *pre)
{
    if (!m)
        return dg_preprocess_init(pre, sizeof *pre, ds->channels, ds->height,
                                  ds->width);
    if (m->input.c != ds->channels || m->input.h != ds->height ||
        m->input.w != ds->width)
        return dg_fail(DG_E_SHAPE,
                       "samples are %ux%ux%u; the model takes %ux%ux%u",
                       ds->channels, ds->height, ds->width, m->input.c,
                       m->input.h, m->input.w);
    *pre = m->pre;
    return DG_OK;
}

dg_status dg_dataset_batch(const dg_dataset *ds, const dg_model *m,
                           const uint32_t *indices, uint32_t n, float *out,
                           size_t out_len, int32_t *labels)
{
    DG_CHECK_ARG(ds && indices && out);
    DG_CHECK_ARG(n > 0);
    dg_preprocess pre;
    DG_TRY(batch_preprocess(ds, m, &pre));
    size_t need;
    if (!dg_mul_ok(n, ds->sample_size, &need))
        return dg_fail(DG_E_SHAPE, "%u samples of %zu values overflow", n,
                       ds->sample_size);
    if (out_len != need)
        return dg_fail(DG_E_SHAPE,
                       "out_len is %zu floats; %u samples of %ux%ux%u need "
                       "%zu",
                       out_len, n, ds->channels, ds->height, ds->width, need);
    for (uint32_t k = 0; k < n; k++)
        if (indices[k] >= ds->count)
            return dg_fail(DG_E_INVALID_ARG,
                           "indices[%u] is %u; the data set has %u samples",
                           k, indices[k], ds->count);
    for (uint32_t k = 0; k < n; k++) {
        dg_u8_chw_to_input(&pre, dg_dataset_sample(ds, indices[k]),
                           out + (size_t)k * ds->sample_size);
        if (labels) labels[k] = ds->labels[indices[k]];
    }
    return DG_OK;
}

void dg_dataset_free(dg_dataset *ds) { dg_dataset_destroy(ds); }
