/* dataset.c - the in-memory data set and class selection. */
#include "io/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "io/image.h"
#include "nn/model.h"

dg_status dg_dataset_alloc(uint32_t count, uint32_t channels, uint32_t height,
                           uint32_t width, dg_dataset **out)
{
    *out = NULL;
    size_t sample_size;
    if (!dg_mul_ok((size_t)channels * height, width, &sample_size))
        return dg_fail(DG_E_NOMEM, "samples of %ux%ux%u are too large",
                       channels, height, width);
    dg_dataset *ds;
    DG_TRY(dg_alloc_array((void **)&ds, 1, sizeof *ds, "data set"));
    *ds = (dg_dataset){.count = count,
                       .channels = channels,
                       .height = height,
                       .width = width,
                       .sample_size = sample_size};
    dg_status s = dg_alloc_array((void **)&ds->pixels, count, sample_size,
                                 "data set pixels");
    if (s == DG_OK)
        s = dg_alloc_array((void **)&ds->labels, count, sizeof *ds->labels,
                           "data set labels");
    if (s != DG_OK) {
        dg_dataset_destroy(ds);
        return s;
    }
    *out = ds;
    return DG_OK;
}

void dg_dataset_count_classes(dg_dataset *ds)
{
    int32_t largest = -1;
    for (uint32_t i = 0; i < ds->count; i++)
        if (ds->labels[i] > largest) largest = ds->labels[i];
    ds->n_classes = (uint32_t)(largest + 1);
}

static void free_names(char **names, uint32_t n)
{
    for (uint32_t k = 0; names && k < n; k++) free(names[k]);
    free(names);
}

dg_status dg_dataset_name_classes(dg_dataset *ds, const char *const *names,
                                  uint32_t n)
{
    char **copy;
    DG_TRY(dg_alloc_array((void **)&copy, n, sizeof *copy, "class names"));
    for (uint32_t k = 0; k < n; k++) {
        copy[k] = dg_strdup(names[k]);
        if (!copy[k]) {
            free_names(copy, k);
            return dg_fail(DG_E_NOMEM, "copying the class name %s",
                           names[k]);
        }
    }
    free_names(ds->class_names, ds->n_classes);
    ds->class_names = copy;
    return DG_OK;
}

void dg_dataset_destroy(dg_dataset *ds)
{
    if (!ds) return;
    free_names(ds->class_names, ds->n_classes);
    free(ds->pixels);
    free(ds->labels);
    free(ds);
}

dg_status dg_dataset_copy(const uint8_t *pixels, uint32_t count,
                          uint32_t channels, uint32_t height, uint32_t width,
                          const int32_t *labels, const char *const *names,
                          uint32_t n_names, dg_dataset **out)
{
    dg_dataset *ds;
    DG_TRY(dg_dataset_alloc(count, channels, height, width, &ds));
    memcpy(ds->pixels, pixels, (size_t)count * ds->sample_size);
    memcpy(ds->labels, labels, (size_t)count * sizeof *labels);
    dg_dataset_count_classes(ds);
    dg_status s = DG_OK;
    if (names && n_names != ds->n_classes)
        s = dg_fail(DG_E_MISMATCH,
                    "%u class names for labels 0 to %u: give one name per "
                    "class", n_names, ds->n_classes - 1);
    if (s == DG_OK && names) s = dg_dataset_name_classes(ds, names, n_names);
    if (s != DG_OK) {
        dg_dataset_destroy(ds);
        return s;
    }
    *out = ds;
    return DG_OK;
}

/* new_label[old] = position of `old` in classes, or -1 when not selected. */
static dg_status map_classes(const dg_dataset *ds, const int32_t *classes,
                             uint32_t n_classes, int32_t **new_label)
{
    DG_TRY(dg_alloc_array((void **)new_label, ds->n_classes,
                          sizeof **new_label, "class map"));
    int32_t *map = *new_label;
    for (uint32_t c = 0; c < ds->n_classes; c++) map[c] = -1;
    for (uint32_t k = 0; k < n_classes; k++) {
        int32_t label = classes[k];
        dg_status s = DG_OK;
        if (label < 0 || (uint32_t)label >= ds->n_classes)
            s = dg_fail(DG_E_INVALID_ARG,
                        "classes[%u] is %d; the data set has classes 0 to %u",
                        k, label, ds->n_classes - 1);
        else if (map[label] >= 0)
            s = dg_fail(DG_E_INVALID_ARG,
                        "classes[%u] repeats class %d (classes[%d])", k,
                        label, map[label]);
        if (s != DG_OK) {
            free(map);
            *new_label = NULL;
            return s;
        }
        map[label] = (int32_t)k;
    }
    return DG_OK;
}

/* Walks the samples in order and reports, per sample, the new label it
 * gets (-1: dropped), passing over the first `skip` of each class and
 * honouring the per-class cap.  `seen` has one counter per selected class
 * and starts zeroed. */
static int32_t keep_label(const int32_t *new_label, uint32_t skip,
                          uint32_t per_class, uint32_t *seen,
                          int32_t old_label)
{
    int32_t k = new_label[old_label];
    if (k < 0) return -1;
    uint32_t position = seen[k]++;
    if (position < skip || (per_class != 0 && position - skip >= per_class))
        return -1;
    return k;
}

dg_status dg_dataset_subset(const dg_dataset *ds, const int32_t *classes,
                            uint32_t n_classes, uint32_t skip,
                            uint32_t per_class, dg_dataset **out)
{
    *out = NULL;
    int32_t *new_label;
    uint32_t *seen = NULL;
    dg_dataset *sub = NULL;
    DG_TRY(map_classes(ds, classes, n_classes, &new_label));
    dg_status s = dg_alloc_array((void **)&seen, n_classes, sizeof *seen,
                                 "class counters");
    if (s != DG_OK) goto out;

    uint32_t count = 0;
    for (uint32_t i = 0; i < ds->count; i++)
        if (keep_label(new_label, skip, per_class, seen, ds->labels[i]) >= 0)
            count++;
    if (count == 0) {
        s = dg_fail(DG_E_INVALID_ARG,
                    "the %u selected classes hold no samples after the "
                    "first %u of each", n_classes, skip);
        goto out;
    }
    s = dg_dataset_alloc(count, ds->channels, ds->height, ds->width, &sub);
    if (s != DG_OK) goto out;

    memset(seen, 0, (size_t)n_classes * sizeof *seen);
    uint32_t j = 0;
    for (uint32_t i = 0; i < ds->count; i++) {
        int32_t k = keep_label(new_label, skip, per_class, seen,
                               ds->labels[i]);
        if (k < 0) continue;
        memcpy(dg_dataset_sample(sub, j), dg_dataset_sample(ds, i),
               ds->sample_size);
        sub->labels[j++] = k;
    }
    dg_dataset_count_classes(sub);
    if (ds->class_names) {
        const char **names = NULL;
        s = dg_alloc_array((void **)&names, sub->n_classes, sizeof *names,
                           "class names");
        for (uint32_t k = 0; s == DG_OK && k < sub->n_classes; k++)
            names[k] = ds->class_names[classes[k]];
        if (s == DG_OK)
            s = dg_dataset_name_classes(sub, names, sub->n_classes);
        free(names);
    }
    if (s == DG_OK) *out = sub;
    else dg_dataset_destroy(sub);
out:
    free(new_label);
    free(seen);
    return s;
}

/* The preprocessing a batch uses: the model's, which must take samples of
 * the data set's shape as they are (batches never resize), or plain
 * scaling to [0,1]. */
static dg_status batch_preprocess(const dg_dataset *ds, const dg_model *m,
                                  dg_preprocess *pre)
{
    if (!m) {
        dg_preprocess_default(pre, (dg_shape){ds->channels, ds->height,
                                              ds->width});
        return DG_OK;
    }
    if (m->input.c != ds->channels || m->input.h != ds->height ||
        m->input.w != ds->width)
        return dg_fail(DG_E_SHAPE,
                       "samples are %ux%ux%u; the model takes %ux%ux%u",
                       ds->channels, ds->height, ds->width, m->input.c,
                       m->input.h, m->input.w);
    *pre = m->pre;
    return DG_OK;
}

dg_status dg_dataset_make_batch(const dg_dataset *ds, const dg_model *m,
                                const uint32_t *indices, uint32_t n,
                                float *out, size_t out_len, int32_t *labels)
{
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
