/* folder.c - image-folder data sets: one sub-folder per class.
 *
 * Everything is listed and sorted before any image is decoded, so the
 * class numbering and the sample order depend only on the names, never on
 * the order the file system returns them in. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "io/dataset.h"
#include "io/image.h"

typedef struct name_list {
    char **names;
    size_t count, cap;
} name_list;

static dg_status name_list_add(name_list *l, const char *name)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **names = realloc(l->names, cap * sizeof *names);
        if (!names) return dg_fail(DG_E_NOMEM, "listing %zu names", cap);
        l->names = names;
        l->cap = cap;
    }
    char *copy = dg_strdup(name);
    if (!copy) return dg_fail(DG_E_NOMEM, "copying the name %s", name);
    l->names[l->count++] = copy;
    return DG_OK;
}

static void name_list_free(name_list *l)
{
    for (size_t i = 0; i < l->count; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s/%s", dir, name);
    return path;
}

static int has_image_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".png") == 0 ||
                   strcasecmp(dot, ".jpg") == 0 ||
                   strcasecmp(dot, ".jpeg") == 0);
}

enum entry_kind { ENTRY_FOLDERS, ENTRY_IMAGES };

/* Is dir/name of the kind wanted?  Symbolic links count as what they point
 * to. */
static dg_status entry_is(const char *dir, const char *name,
                          enum entry_kind kind, int *yes)
{
    *yes = 0;
    if (name[0] == '.') return DG_OK; /* ., .. and hidden entries */
    if (kind == ENTRY_IMAGES && !has_image_extension(name)) return DG_OK;
    char *path = join_path(dir, name);
    if (!path) return dg_fail(DG_E_NOMEM, "path of %s in %s", name, dir);
    struct stat st;
    dg_status s = DG_OK;
    if (stat(path, &st) != 0)
        s = dg_fail(DG_E_IO, "cannot stat %s: %s", path, strerror(errno));
    else
        *yes = kind == ENTRY_FOLDERS ? S_ISDIR(st.st_mode)
                                     : S_ISREG(st.st_mode);
    free(path);
    return s;
}

/* The entries of `dir` of the given kind, sorted by strcmp. */
static dg_status list_entries(const char *dir, enum entry_kind kind,
                              name_list *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return dg_fail(DG_E_IO, "cannot open the folder %s: %s", dir,
                       strerror(errno));
    dg_status s = DG_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno != 0)
                s = dg_fail(DG_E_IO, "reading the folder %s: %s", dir,
                            strerror(errno));
            break;
        }
        int wanted;
        s = entry_is(dir, e->d_name, kind, &wanted);
        if (s == DG_OK && wanted) s = name_list_add(out, e->d_name);
        if (s != DG_OK) break;
    }
    closedir(d);
    if (s == DG_OK && out->count > 1)
        qsort(out->names, out->count, sizeof *out->names, compare_names);
    return s;
}

/* Decodes one image file into sample i of ds, converted to its shape. */
static dg_status load_sample(const char *path, dg_dataset *ds, uint32_t i)
{
    dg_decoded_image img;
    DG_TRY(dg_image_decode_file(path, &img));
    dg_status s = dg_pixels_to_u8_chw(
        img.pixels, img.width, img.height, (size_t)img.width * img.channels,
        dg_decoded_image_format(&img), ds->channels, ds->height, ds->width,
        dg_dataset_sample(ds, i));
    dg_decoded_image_release(&img);
    return s == DG_OK ? s : dg_fail_context(s, "%s", path);
}

/* Lists every class folder and its images; counts them in *total. */
static dg_status list_folder(const char *dir, name_list *classes,
                             name_list **files, size_t *total)
{
    *files = NULL;
    *total = 0;
    DG_TRY(list_entries(dir, ENTRY_FOLDERS, classes));
    if (classes->count == 0)
        return dg_fail(DG_E_FORMAT,
                       "%s has no class sub-folders (one per class, "
                       "holding PNG or JPEG files)",
                       dir);
    DG_TRY(dg_alloc_array((void **)files, classes->count, sizeof **files,
                          "class file lists"));
    for (size_t k = 0; k < classes->count; k++) {
        char *class_dir = join_path(dir, classes->names[k]);
        if (!class_dir)
            return dg_fail(DG_E_NOMEM, "path of %s", classes->names[k]);
        dg_status s = list_entries(class_dir, ENTRY_IMAGES, &(*files)[k]);
        if (s == DG_OK && (*files)[k].count == 0)
            s = dg_fail(DG_E_FORMAT,
                        "the class folder %s holds no .png, .jpg or .jpeg "
                        "files",
                        class_dir);
        free(class_dir);
        DG_TRY(s);
        *total += (*files)[k].count;
    }
    /* Labels are int32, so this also bounds the class count. */
    if (*total > INT32_MAX)
        return dg_fail(DG_E_UNSUPPORTED, "%s holds %zu images, more than %d",
                       dir, *total, INT32_MAX);
    return DG_OK;
}

dg_status dg_folder_load(const char *dir, uint32_t channels, uint32_t height,
                         uint32_t width, dg_dataset **out)
{
    *out = NULL;
    name_list classes = {0};
    name_list *files = NULL;
    dg_dataset *ds = NULL;
    size_t total;
    dg_status s = list_folder(dir, &classes, &files, &total);
    if (s == DG_OK)
        s = dg_dataset_alloc((uint32_t)total, channels, height, width, &ds);
    uint32_t i = 0;
    for (size_t k = 0; s == DG_OK && k < classes.count; k++) {
        char *class_dir = join_path(dir, classes.names[k]);
        if (!class_dir) s = dg_fail(DG_E_NOMEM, "path of %s", dir);
        for (size_t f = 0; s == DG_OK && f < files[k].count; f++, i++) {
            ds->labels[i] = (int32_t)k;
            char *path = join_path(class_dir, files[k].names[f]);
            s = path ? load_sample(path, ds, i)
                     : dg_fail(DG_E_NOMEM, "path of %s", files[k].names[f]);
            free(path);
        }
        free(class_dir);
    }
    /* Every class folder holds an image, so the names number the classes. */
    if (s == DG_OK) dg_dataset_count_classes(ds);
    if (s == DG_OK)
        s = dg_dataset_name_classes(ds, (const char *const *)classes.names,
                                    ds->n_classes);
    if (s == DG_OK) {
        *out = ds;
        ds = NULL;
    }
    if (files)
        for (size_t k = 0; k < classes.count; k++) name_list_free(&files[k]);
    free(files);
    name_list_free(&classes);
    dg_dataset_destroy(ds);
    return s;
}
