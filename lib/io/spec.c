/* spec.c - data sets named by a short text, as the dg commands and the
 * Python binding take them: "fmnist:train", "fmnist:test",
 * "idx:IMAGES,LABELS" or an image folder, then a selection of classes,
 * a per-class offset and a per-class cap. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "io/dataset.h"

#define SPEC_FORMS                                                          \
    "fmnist:train, fmnist:test, idx:IMAGES,LABELS or an image folder"

/* Where Debian's dataset-fashion-mnist installs the IDX files. */
#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

static const char *const fmnist_class_names[] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress",   "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",     "Ankle boot",
};
enum {
    FMNIST_CLASSES = sizeof fmnist_class_names / sizeof fmnist_class_names[0]
};

static dg_status load_fmnist(const char *split, dg_dataset **out)
{
    const char *prefix = strcmp(split, "train") == 0  ? "train"
                         : strcmp(split, "test") == 0 ? "t10k"
                                                      : NULL;
    if (!prefix)
        return dg_fail(DG_E_INVALID_ARG,
                       "unknown Fashion-MNIST split \"fmnist:%s\"; expected "
                       "fmnist:train or fmnist:test",
                       split);
    char images[256], labels[256];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", FMNIST_DIR,
             prefix);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", FMNIST_DIR,
             prefix);
    dg_status s = dg_idx_load(images, labels, out);
    if (s != DG_OK)
        return dg_fail_context(s, "Fashion-MNIST (Debian package "
                                  "dataset-fashion-mnist)");
    if ((*out)->n_classes == FMNIST_CLASSES)
        s = dg_dataset_name_classes(*out, fmnist_class_names, FMNIST_CLASSES);
    return s;
}

static dg_status load_idx(const char *paths, dg_dataset **out)
{
    const char *comma = strchr(paths, ',');
    if (!comma || comma == paths || !comma[1])
        return dg_fail(DG_E_INVALID_ARG,
                       "\"idx:%s\" must name two files: idx:IMAGES,LABELS",
                       paths);
    char *images = strndup(paths, (size_t)(comma - paths));
    if (!images) return dg_fail(DG_E_NOMEM, "copying %s", paths);
    dg_status s = dg_idx_load(images, comma + 1, out);
    free(images);
    return s;
}

static dg_status load_named(const char *spec, uint32_t channels,
                            uint32_t height, uint32_t width, dg_dataset **out)
{
    if (strncmp(spec, "fmnist:", 7) == 0) return load_fmnist(spec + 7, out);
    if (strncmp(spec, "idx:", 4) == 0) return load_idx(spec + 4, out);
    struct stat st;
    int exists = stat(spec, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        if (!channels || !height || !width)
            return dg_fail(DG_E_INVALID_ARG,
                           "the image folder %s needs a sample shape "
                           "(channels, height, width)",
                           spec);
        return dg_folder_load(spec, channels, height, width, out);
    }
    if (strchr(spec, ':'))
        return dg_fail(DG_E_INVALID_ARG,
                       "unknown data spec \"%s\"; expected " SPEC_FORMS,
                       spec);
    return dg_fail(DG_E_IO, "data %s: %s; expected " SPEC_FORMS, spec,
                   exists ? "not a folder" : strerror(errno));
}

/* Classes the data lacks are a mismatch between the selection and the
 * data, not a malformed request. */
static dg_status check_classes(const dg_dataset *ds, const int32_t *classes,
                               uint32_t n_classes)
{
    for (uint32_t k = 0; k < n_classes; k++)
        if (classes[k] < 0 || (uint32_t)classes[k] >= ds->n_classes)
            return dg_fail(DG_E_MISMATCH,
                           "class %d is not in the data: the data set has "
                           "classes 0 to %u",
                           classes[k], ds->n_classes - 1);
    return DG_OK;
}

dg_status dg_dataset_from_spec(const char *spec,
                               const dg_dataset_spec_opts *o,
                               dg_dataset **out)
{
    *out = NULL;
    dg_dataset *all;
    DG_TRY(load_named(spec, o->channels, o->height, o->width, &all));
    if (!o->classes && o->per_class == 0 && o->skip_per_class == 0) {
        *out = all;
        return DG_OK;
    }
    const int32_t *classes = o->classes;
    uint32_t n_classes = o->n_classes;
    int32_t *every = NULL;
    dg_status s = DG_OK;
    if (!classes) {
        n_classes = all->n_classes;
        s = dg_alloc_array((void **)&every, n_classes, sizeof *every,
                           "class list");
        for (uint32_t k = 0; s == DG_OK && k < n_classes; k++)
            every[k] = (int32_t)k;
        classes = every;
    }
    if (s == DG_OK) s = check_classes(all, classes, n_classes);
    if (s == DG_OK)
        s = dg_dataset_subset(all, classes, n_classes, o->skip_per_class,
                              o->per_class, out);
    free(every);
    dg_dataset_destroy(all);
    return s;
}
