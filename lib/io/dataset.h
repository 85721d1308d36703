/* dataset.h - labelled 8-bit image sets in memory, and their loaders.
 *
 * A data set is immutable once a loader returns it, so any number of
 * threads may read it. */
#ifndef DG_IO_DATASET_H
#define DG_IO_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

struct dg_dataset {
    uint32_t count;
    uint32_t channels, height, width; /* of every sample */
    uint32_t n_classes;               /* largest label + 1 */
    size_t sample_size;               /* channels * height * width bytes */
    uint8_t *pixels; /* count samples of sample_size bytes, each planar CHW */
    int32_t *labels; /* count labels, each >= 0 */
    char **class_names; /* n_classes names, or NULL if the source has none */
};

/* Gives ds copies of names[0..n-1] as its class names (n must equal
 * ds->n_classes). */
dg_status dg_dataset_name_classes(dg_dataset *ds, const char *const *names,
                                  uint32_t n);

/* Allocates a data set of `count` zeroed samples of the given shape. */
dg_status dg_dataset_alloc(uint32_t count, uint32_t channels, uint32_t height,
                           uint32_t width, dg_dataset **out);

/* A data set holding copies of count samples of channels x height x width
 * pixels (planar, one after another) and their labels (each >= 0), named
 * by names[0..n_names-1] when names is not NULL (n_names must then be the
 * largest label + 1).  Behind dg_dataset_from_pixels. */
dg_status dg_dataset_copy(const uint8_t *pixels, uint32_t count,
                          uint32_t channels, uint32_t height, uint32_t width,
                          const int32_t *labels, const char *const *names,
                          uint32_t n_names, dg_dataset **out);

/* Sets n_classes from the labels; loaders call it once labels are in. */
void dg_dataset_count_classes(dg_dataset *ds);

static inline uint8_t *dg_dataset_sample(const dg_dataset *ds, uint32_t i)
{
    return ds->pixels + (size_t)i * ds->sample_size;
}

void dg_dataset_destroy(dg_dataset *ds);

/* The samples whose label is classes[k], relabelled k, with the classes'
 * names: of each class, the first `skip` passed over, then at most
 * per_class (0: all), in their original order.  The classes are distinct
 * labels below ds->n_classes. */
dg_status dg_dataset_subset(const dg_dataset *ds, const int32_t *classes,
                            uint32_t n_classes, uint32_t skip,
                            uint32_t per_class, dg_dataset **out);

/* Model input for samples indices[0..n-1] of ds (n > 0), preprocessed as
 * m says (m must take samples of ds's shape as they are) or, m NULL,
 * scaled to [0,1]; out_len must be n x the sample size.  labels, if not
 * NULL, receives the samples' labels.  Behind dg_dataset_batch. */
dg_status dg_dataset_make_batch(const dg_dataset *ds, const dg_model *m,
                                const uint32_t *indices, uint32_t n,
                                float *out, size_t out_len, int32_t *labels);

/* IDX files (the MNIST family): an idx3 unsigned-byte image file and an
 * idx1 label file, each plain or gzip-compressed.  Samples are 1 x rows x
 * columns. */
dg_status dg_idx_load(const char *images_path, const char *labels_path,
                      dg_dataset **out);

/* An image folder: one sub-folder per class (class k is the k-th name in
 * strcmp order), each holding .png, .jpg or .jpeg files (any case), read in
 * name order and converted to channels x height x width.  Names starting
 * with '.' are skipped. */
dg_status dg_folder_load(const char *dir, uint32_t channels, uint32_t height,
                         uint32_t width, dg_dataset **out);

/* spec.c: a data set named by a spec ("fmnist:train", "fmnist:test",
 * "idx:IMAGES,LABELS" or an image folder converted to o's channels x
 * height x width), then the selection dg_dataset_subset makes of o's
 * classes (NULL: all, when per_class or skip_per_class asks for one).
 * `o` is complete and checked: behind dg_dataset_open_spec. */
dg_status dg_dataset_from_spec(const char *spec,
                               const dg_dataset_spec_opts *o,
                               dg_dataset **out);

#endif
