/* dataset.c - public entry points for data sets: loading, selection,
 * queries, and batches of model input. */
#include "api/api.h"
#include "core/alloc.h"
#include "io/dataset.h"
#include "io/image.h"

dg_status dg_dataset_load_idx(const char *images_path,
                              const char *labels_path, dg_dataset **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(images_path && labels_path);
    return dg_idx_load(images_path, labels_path, out);
}

/* The sample shape of a data set made here: an image folder's images are
 * converted to it, samples in memory have it. */
static dg_status check_sample_shape(uint32_t channels, uint32_t height,
                                    uint32_t width)
{
    if (channels != 1 && channels != 3)
        return dg_fail(DG_E_INVALID_ARG, "channels is %u; expected 1 or 3",
                       channels);
    if (height == 0 || width == 0 || height > DG_IMAGE_MAX_SIDE ||
        width > DG_IMAGE_MAX_SIDE)
        return dg_fail(DG_E_INVALID_ARG,
                       "samples of %ux%u pixels: each side must be 1 to %u",
                       height, width, DG_IMAGE_MAX_SIDE);
    return DG_OK;
}

dg_status dg_dataset_load_folder(const char *dir, uint32_t channels,
                                 uint32_t height, uint32_t width,
                                 dg_dataset **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(dir);
    DG_TRY(check_sample_shape(channels, height, width));
    return dg_folder_load(dir, channels, height, width, out);
}

/* The largest label a data set made from memory may hold: classes are
 * counted up to it, and per-class tables are made that large. */
#define MAX_LABEL 65535

dg_status dg_dataset_from_pixels(const uint8_t *pixels, uint32_t count,
                                 uint32_t channels, uint32_t height,
                                 uint32_t width, const int32_t *labels,
                                 const char *const *class_names,
                                 uint32_t n_class_names, dg_dataset **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(pixels && labels);
    if (count == 0)
        return dg_fail(DG_E_INVALID_ARG, "a data set of 0 samples");
    DG_TRY(check_sample_shape(channels, height, width));
    for (uint32_t i = 0; i < count; i++)
        if (labels[i] < 0 || labels[i] > MAX_LABEL)
            return dg_fail(DG_E_INVALID_ARG,
                           "label %d of sample %u; labels are 0 to %d",
                           labels[i], i, MAX_LABEL);
    if (class_names ? n_class_names == 0 : n_class_names != 0)
        return dg_fail(DG_E_INVALID_ARG,
                       "class_names and n_class_names (%u) must be given "
                       "together", n_class_names);
    for (uint32_t k = 0; class_names && k < n_class_names; k++)
        if (!class_names[k])
            return dg_fail(DG_E_INVALID_ARG, "class name %u is NULL", k);
    return dg_dataset_copy(pixels, count, channels, height, width, labels,
                           class_names, n_class_names, out);
}

dg_status dg_dataset_spec_opts_init(dg_dataset_spec_opts *o,
                                    size_t struct_size)
{
    DG_INIT_STRUCT(o, struct_size, dg_dataset_spec_opts);
    return DG_OK;
}

dg_status dg_dataset_open_spec(const char *spec,
                               const dg_dataset_spec_opts *o,
                               dg_dataset **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(spec);
    dg_dataset_spec_opts full;
    DG_TRY(dg_dataset_spec_opts_init(&full, sizeof full));
    if (o) {
        DG_CHECK_STRUCT(o, dg_dataset_spec_opts, sizeof(dg_dataset_spec_opts));
        dg_complete_struct(&full, sizeof full, o);
    }
    if (full.channels || full.height || full.width)
        DG_TRY(check_sample_shape(full.channels, full.height, full.width));
    if (full.classes ? full.n_classes == 0 : full.n_classes != 0)
        return dg_fail(DG_E_INVALID_ARG,
                       "classes and n_classes (%u) must be given together",
                       full.n_classes);
    return dg_dataset_from_spec(spec, &full, out);
}

dg_status dg_dataset_class_name(const dg_dataset *ds, uint32_t cls,
                                const char **name)
{
    DG_CHECK_ARG(name);
    *name = NULL;
    DG_CHECK_ARG(ds);
    if (cls >= ds->n_classes)
        return dg_fail(DG_E_INVALID_ARG,
                       "class %u; the data set has classes 0 to %u", cls,
                       ds->n_classes - 1);
    if (ds->class_names) *name = ds->class_names[cls];
    return DG_OK;
}

dg_status dg_dataset_select(const dg_dataset *ds, const int32_t *classes,
                            uint32_t n_classes, uint32_t per_class,
                            dg_dataset **out)
{
    return dg_dataset_select_from(ds, classes, n_classes, 0, per_class, out);
}

dg_status dg_dataset_select_from(const dg_dataset *ds, const int32_t *classes,
                                 uint32_t n_classes, uint32_t skip,
                                 uint32_t per_class, dg_dataset **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(ds && classes && n_classes > 0);
    return dg_dataset_subset(ds, classes, n_classes, skip, per_class, out);
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

dg_status dg_dataset_batch(const dg_dataset *ds, const dg_model *m,
                           const uint32_t *indices, uint32_t n, float *out,
                           size_t out_len, int32_t *labels)
{
    DG_CHECK_ARG(ds && indices && out);
    DG_CHECK_ARG(n > 0);
    return dg_dataset_make_batch(ds, m, indices, n, out, out_len, labels);
}

void dg_dataset_free(dg_dataset *ds) { dg_dataset_destroy(ds); }
