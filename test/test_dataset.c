/* test_dataset.c - IDX and image-folder loaders, selection, batches.
 *
 * Files are built here in a temporary folder from known contents (IDX bytes
 * written by hand, gzip through zlib's gz functions, images through libpng
 * and TurboJPEG), and read back through the public API. */
#define _XOPEN_SOURCE 700 /* nftw, in tmpdir.h */
#include <check.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#include "diffguard.h"
#include "suite.h"
#include "tmpdir.h"

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_gzip(const char *path, const void *data, size_t len)
{
    gzFile f = gzopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(gzwrite(f, data, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(f), Z_OK);
}

static uint8_t *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *data = calloc(1, *len + 1); /* one spare byte, for appending */
    ck_assert_uint_eq(fread(data, 1, *len, f), *len);
    fclose(f);
    return data;
}

/* ---------------------------------------------------------------------- */
/* IDX                                                                    */
/* ---------------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

enum { N = 7, ROWS = 3, COLS = 4 };
static const uint8_t labels7[N] = {2, 0, 1, 2, 1, 2, 0};

static uint8_t pixel_of(uint32_t i, uint32_t y, uint32_t x)
{
    return (uint8_t)(i * 31u + y * 7u + x * 3u + 1u);
}

/* An IDX file: magic, dims, then `body_len` bytes of body. */
static uint8_t *idx_bytes(uint32_t magic, const uint32_t *dims, int n_dims,
                          const uint8_t *body, size_t body_len, size_t *len)
{
    *len = 4 + 4 * (size_t)n_dims + body_len;
    uint8_t *p = malloc(*len);
    put_be32(p, magic);
    for (int d = 0; d < n_dims; d++) put_be32(p + 4 + 4 * d, dims[d]);
    if (body_len) memcpy(p + 4 + 4 * n_dims, body, body_len);
    return p;
}

/* The images of the small set as an IDX file declaring `count` images
 * and holding `held` of them. */
static uint8_t *images_idx(uint32_t count, uint32_t held, size_t *len)
{
    uint8_t *body = malloc((size_t)held * ROWS * COLS);
    for (uint32_t i = 0; i < held; i++)
        for (uint32_t y = 0; y < ROWS; y++)
            for (uint32_t x = 0; x < COLS; x++)
                body[(i * ROWS + y) * COLS + x] = pixel_of(i % N, y, x);
    const uint32_t dims[3] = {count, ROWS, COLS};
    uint8_t *file =
        idx_bytes(0x803, dims, 3, body, (size_t)held * ROWS * COLS, len);
    free(body);
    return file;
}

/* `count` labels cycling through labels7. */
static uint8_t *labels_idx(uint32_t count, size_t *len)
{
    uint8_t *body = malloc(count);
    for (uint32_t i = 0; i < count; i++) body[i] = labels7[i % N];
    uint8_t *file = idx_bytes(0x801, &count, 1, body, count, len);
    free(body);
    return file;
}

/* Writes the small set as images.idx and labels.idx, each plain or gzip. */
static void write_small_set(int gzip_images, int gzip_labels)
{
    size_t len;
    uint8_t *img = images_idx(N, N, &len);
    (gzip_images ? write_gzip : write_file)(tmp_path(0, "images.idx"), img,
                                            len);
    free(img);
    uint8_t *lab = labels_idx(N, &len);
    (gzip_labels ? write_gzip : write_file)(tmp_path(1, "labels.idx"), lab,
                                            len);
    free(lab);
}

static void check_small_set(const dg_dataset *ds)
{
    uint32_t count, c, h, w, classes;
    ck_assert_int_eq(dg_dataset_count(ds, &count), DG_OK);
    ck_assert_uint_eq(count, N);
    ck_assert_int_eq(dg_dataset_sample_shape(ds, &c, &h, &w), DG_OK);
    ck_assert_uint_eq(c, 1);
    ck_assert_uint_eq(h, ROWS);
    ck_assert_uint_eq(w, COLS);
    ck_assert_int_eq(dg_dataset_class_count(ds, &classes), DG_OK);
    ck_assert_uint_eq(classes, 3);
    for (uint32_t i = 0; i < N; i++) {
        int32_t label;
        const uint8_t *px;
        ck_assert_int_eq(dg_dataset_label(ds, i, &label), DG_OK);
        ck_assert_int_eq(label, labels7[i]);
        ck_assert_int_eq(dg_dataset_pixels(ds, i, &px), DG_OK);
        for (uint32_t y = 0; y < ROWS; y++)
            for (uint32_t x = 0; x < COLS; x++)
                ck_assert_uint_eq(px[y * COLS + x], pixel_of(i, y, x));
    }
}

static dg_dataset *load_small_set(void)
{
    dg_dataset *ds = NULL;
    dg_status s = dg_dataset_load_idx(tmp_path(0, "images.idx"),
                                      tmp_path(1, "labels.idx"), &ds);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    return ds;
}

START_TEST(idx_plain_and_gzip)
{
    make_tmp_dir("dataset");
    for (int mode = 0; mode < 4; mode++) {
        write_small_set(mode & 1, mode >> 1);
        dg_dataset *ds = load_small_set();
        check_small_set(ds);
        dg_dataset_free(ds);
    }
    remove_tmp_dir();
}
END_TEST

/* Loads images.idx + labels.idx expecting `status` and a detail holding
 * `phrase`. */
static void expect_idx_failure(dg_status status, const char *phrase)
{
    dg_dataset *ds = (dg_dataset *)&ds; /* must be reset to NULL */
    dg_status s = dg_dataset_load_idx(tmp_path(0, "images.idx"),
                                      tmp_path(1, "labels.idx"), &ds);
    ck_assert_msg(s == status, "status %d, want %d: %s", s, status,
                  dg_last_error_detail());
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(dg_last_error_detail(), phrase),
                  "detail \"%s\" lacks \"%s\"", dg_last_error_detail(),
                  phrase);
}

START_TEST(idx_corrupt_files_fail)
{
    make_tmp_dir("dataset");
    const char *images = tmp_path(0, "images.idx");
    const char *labels = tmp_path(1, "labels.idx");
    size_t len;
    uint8_t *file;

    /* Swapped files: each magic is wrong for its role. */
    write_small_set(0, 0);
    ck_assert_int_eq(rename(images, tmp_path(2, "x")), 0);
    ck_assert_int_eq(rename(labels, images), 0);
    ck_assert_int_eq(rename(tmp_path(2, "x"), labels), 0);
    expect_idx_failure(DG_E_FORMAT, "magic number 0x00000801");

    /* Plain file one byte short, and one byte long. */
    write_small_set(0, 0);
    file = read_whole(images, &len);
    write_file(images, file, len - 1);
    expect_idx_failure(DG_E_FORMAT, "header declares");
    write_file(images, file, len + 1);
    expect_idx_failure(DG_E_FORMAT, "header declares");
    free(file);

    /* Seven images, six labels. */
    write_small_set(0, 0);
    file = labels_idx(N - 1, &len);
    write_file(labels, file, len);
    free(file);
    expect_idx_failure(DG_E_FORMAT, "holds 7 images but");
    write_small_set(0, 0); /* seven labels again */

    /* A zero dimension, and dimensions whose product overflows. */
    const uint32_t zero[3] = {N, 0, COLS};
    file = idx_bytes(0x803, zero, 3, NULL, 0, &len);
    write_file(images, file, len);
    free(file);
    expect_idx_failure(DG_E_FORMAT, "dimension 1 is 0");
    const uint32_t huge[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    file = idx_bytes(0x803, huge, 3, NULL, 0, &len);
    write_file(images, file, len);
    expect_idx_failure(DG_E_FORMAT, "takes the data past");
    write_gzip(images, file, len);
    expect_idx_failure(DG_E_FORMAT, "takes the data past");
    free(file);

    /* gzip declaring 1000 images and holding 7: truncated. */
    file = images_idx(1000, N, &len);
    write_gzip(images, file, len);
    free(file);
    file = labels_idx(1000, &len);
    write_file(labels, file, len);
    free(file);
    expect_idx_failure(DG_E_FORMAT, "truncated");
    write_small_set(0, 0);

    /* gzip declaring 10^10 bytes in a few dozen: refused up front. */
    const uint32_t vast[3] = {100000, 1000, 100};
    file = idx_bytes(0x803, vast, 3, NULL, 0, &len);
    write_gzip(images, file, len);
    free(file);
    expect_idx_failure(DG_E_FORMAT, "more than");

    /* gzip holding 8 MB more than the 7 images it declares (a bomb). */
    size_t big = 8u << 20;
    uint8_t *bomb = calloc(1, big);
    file = images_idx(N, N, &len);
    memcpy(bomb, file, len);
    free(file);
    write_gzip(images, bomb, big);
    free(bomb);
    expect_idx_failure(DG_E_FORMAT, "holds more than");

    /* The gzip stream cut in half, and a damaged byte inside it. */
    write_small_set(1, 0);
    file = read_whole(images, &len);
    write_file(images, file, len / 2);
    expect_idx_failure(DG_E_FORMAT, "truncated");
    file[len / 2] ^= 0xff;
    write_file(images, file, len);
    expect_idx_failure(DG_E_FORMAT, "gzip");
    free(file);

    /* gzip followed by bytes that start no member: refused, not ignored
     * (one byte, and a run of zeros as tape padding leaves). */
    write_small_set(1, 0);
    file = read_whole(images, &len);
    uint8_t *longer = calloc(1, len + 512);
    memcpy(longer, file, len);
    longer[len] = 'x';
    write_file(images, longer, len + 1);
    expect_idx_failure(DG_E_FORMAT, "1 bytes of trailing garbage");
    memset(longer + len, 0, 512);
    write_file(images, longer, len + 512);
    expect_idx_failure(DG_E_FORMAT, "512 bytes of trailing garbage");
    free(longer);
    free(file);

    /* Missing, empty. */
    ck_assert_int_eq(unlink(images), 0);
    expect_idx_failure(DG_E_IO, images);
    write_file(images, "", 0);
    expect_idx_failure(DG_E_FORMAT, "truncated");
    remove_tmp_dir();
}
END_TEST

/* Concatenated gzip members are one file (gzip -c a b > ab.gz), as gzip
 * itself reads them: the small set split across three members, the last
 * one empty, reads back whole. */
START_TEST(idx_multi_member_gzip)
{
    make_tmp_dir("dataset");
    write_small_set(0, 0);
    size_t len, part_len, whole = 0;
    uint8_t *file = images_idx(N, N, &len);
    uint8_t *joined = malloc(2 * len + 256);
    const size_t cuts[] = {0, 10, len, len};
    for (int k = 0; k < 3; k++) {
        write_gzip(tmp_path(2, "part.gz"), file + cuts[k], cuts[k + 1] - cuts[k]);
        uint8_t *part = read_whole(tmp_path(2, "part.gz"), &part_len);
        memcpy(joined + whole, part, part_len);
        whole += part_len;
        free(part);
    }
    write_file(tmp_path(0, "images.idx"), joined, whole);
    dg_dataset *ds = load_small_set();
    check_small_set(ds);
    dg_dataset_free(ds);
    free(joined);
    free(file);
    remove_tmp_dir();
}
END_TEST

START_TEST(fashion_mnist)
{
    static const char *dir = "/usr/share/datasets/fashion-mnist";
    static const struct {
        const char *images, *labels;
        uint32_t count;
    } sets[] = {
        {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000},
        {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000},
    };
    char images[512], labels[512];
    for (size_t k = 0; k < 2; k++) {
        snprintf(images, sizeof images, "%s/%s", dir, sets[k].images);
        snprintf(labels, sizeof labels, "%s/%s", dir, sets[k].labels);
        if (access(images, R_OK) != 0 || access(labels, R_OK) != 0) {
            fprintf(stderr, "skipping %s: not installed\n", sets[k].images);
            continue;
        }
        dg_dataset *ds = NULL;
        ck_assert_msg(dg_dataset_load_idx(images, labels, &ds) == DG_OK,
                      "%s", dg_last_error_detail());
        uint32_t count, c, h, w, classes;
        ck_assert_int_eq(dg_dataset_count(ds, &count), DG_OK);
        ck_assert_uint_eq(count, sets[k].count);
        ck_assert_int_eq(dg_dataset_sample_shape(ds, &c, &h, &w), DG_OK);
        ck_assert_uint_eq(c, 1);
        ck_assert_uint_eq(h, 28);
        ck_assert_uint_eq(w, 28);
        ck_assert_int_eq(dg_dataset_class_count(ds, &classes), DG_OK);
        ck_assert_uint_eq(classes, 10);
        uint32_t histogram[10] = {0};
        for (uint32_t i = 0; i < count; i++) {
            int32_t label;
            ck_assert_int_eq(dg_dataset_label(ds, i, &label), DG_OK);
            ck_assert(label >= 0 && label < 10);
            histogram[label]++;
        }
        for (int l = 0; l < 10; l++)
            ck_assert_uint_eq(histogram[l], count / 10);

        /* Two classes, 100 each, relabelled in the order asked for. */
        const int32_t pick[2] = {7, 3};
        dg_dataset *sub = NULL;
        ck_assert_int_eq(dg_dataset_select(ds, pick, 2, 100, &sub), DG_OK);
        ck_assert_int_eq(dg_dataset_count(sub, &count), DG_OK);
        ck_assert_uint_eq(count, 200);
        ck_assert_int_eq(dg_dataset_class_count(sub, &classes), DG_OK);
        ck_assert_uint_eq(classes, 2);
        uint32_t j = 0, taken[2] = {0, 0};
        for (uint32_t i = 0; i < sets[k].count && j < 200; i++) {
            int32_t label, sub_label;
            dg_dataset_label(ds, i, &label);
            int32_t want = label == 7 ? 0 : label == 3 ? 1 : -1;
            if (want < 0 || taken[want] == 100) continue;
            taken[want]++;
            const uint8_t *a, *b;
            dg_dataset_pixels(ds, i, &a);
            dg_dataset_pixels(sub, j, &b);
            ck_assert_mem_eq(a, b, 28 * 28);
            dg_dataset_label(sub, j++, &sub_label);
            ck_assert_int_eq(sub_label, want);
        }
        ck_assert_uint_eq(j, 200);
        dg_dataset_free(sub);
        ck_assert_int_eq(dg_dataset_select(ds, pick, 2, 0, &sub), DG_OK);
        dg_dataset_count(sub, &count);
        ck_assert_uint_eq(count, sets[k].count / 5);
        dg_dataset_free(sub);
        dg_dataset_free(ds);
    }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Selection, queries and batches                                         */
/* ---------------------------------------------------------------------- */

START_TEST(select_relabels_and_caps)
{
    make_tmp_dir("dataset");
    write_small_set(0, 0);
    dg_dataset *ds = load_small_set();
    remove_tmp_dir();
    /* Labels 2,0,1,2,1,2,0.  Classes {2, 0}, two each: samples 0 (2), 1
     * (0), 3 (2), 6 (0); sample 5 is a third 2. */
    const int32_t pick[2] = {2, 0};
    dg_dataset *sub = NULL;
    ck_assert_int_eq(dg_dataset_select(ds, pick, 2, 2, &sub), DG_OK);
    const uint32_t from[4] = {0, 1, 3, 6};
    const int32_t want[4] = {0, 1, 0, 1};
    uint32_t count, classes;
    dg_dataset_count(sub, &count);
    ck_assert_uint_eq(count, 4);
    dg_dataset_class_count(sub, &classes);
    ck_assert_uint_eq(classes, 2);
    for (uint32_t j = 0; j < 4; j++) {
        int32_t label;
        const uint8_t *px;
        dg_dataset_label(sub, j, &label);
        ck_assert_int_eq(label, want[j]);
        dg_dataset_pixels(sub, j, &px);
        ck_assert_uint_eq(px[5], pixel_of(from[j], 1, 1));
    }
    dg_dataset_free(sub);

    /* All of class 1 alone: samples 2 and 4, relabelled 0. */
    const int32_t one = 1;
    ck_assert_int_eq(dg_dataset_select(ds, &one, 1, 0, &sub), DG_OK);
    dg_dataset_count(sub, &count);
    ck_assert_uint_eq(count, 2);
    dg_dataset_class_count(sub, &classes);
    ck_assert_uint_eq(classes, 1);
    dg_dataset_free(sub);

    /* From an offset: classes {2, 0}, each class's first sample passed
     * over.  Class 2 is samples 0, 3, 5 and class 0 samples 1, 6. */
    const uint32_t after_first[3] = {3, 5, 6};
    const int32_t after_first_label[3] = {0, 0, 1};
    for (uint32_t per_class = 0; per_class <= 1; per_class++) {
        /* per_class 1 keeps samples 3 and 6; 0 (all) adds sample 5. */
        ck_assert_int_eq(dg_dataset_select_from(ds, pick, 2, 1, per_class,
                                                &sub),
                         DG_OK);
        dg_dataset_count(sub, &count);
        ck_assert_uint_eq(count, per_class ? 2 : 3);
        for (uint32_t j = 0; j < count; j++) {
            uint32_t at = per_class && j == 1 ? 2 : j;
            int32_t label;
            const uint8_t *px;
            dg_dataset_label(sub, j, &label);
            ck_assert_int_eq(label, after_first_label[at]);
            dg_dataset_pixels(sub, j, &px);
            ck_assert_uint_eq(px[5], pixel_of(after_first[at], 1, 1));
        }
        dg_dataset_free(sub);
    }
    /* Past every sample of both classes: nothing to keep. */
    ck_assert_int_eq(dg_dataset_select_from(ds, pick, 2, 3, 0, &sub),
                     DG_E_INVALID_ARG);
    ck_assert_ptr_null(sub);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "after the first 3"));
    ck_assert_int_eq(dg_dataset_select_from(ds, NULL, 2, 1, 0, &sub),
                     DG_E_INVALID_ARG);

    const int32_t out_of_range[2] = {0, 3}, twice[2] = {1, 1};
    sub = (dg_dataset *)&sub;
    ck_assert_int_eq(dg_dataset_select(ds, out_of_range, 2, 0, &sub),
                     DG_E_INVALID_ARG);
    ck_assert_ptr_null(sub);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "classes[1] is 3"));
    ck_assert_int_eq(dg_dataset_select(ds, twice, 2, 0, &sub),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_select(ds, pick, 0, 0, &sub),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_select(ds, NULL, 2, 0, &sub),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_select(NULL, pick, 2, 0, &sub),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_select(ds, pick, 2, 0, NULL),
                     DG_E_INVALID_ARG);
    dg_dataset_free(ds);
}
END_TEST

START_TEST(queries_and_batches)
{
    make_tmp_dir("dataset");
    write_small_set(1, 1);
    dg_dataset *ds = load_small_set();
    remove_tmp_dir();
    enum { S = ROWS * COLS };
    const uint32_t idx[3] = {6, 0, 3};
    float out[3 * S];
    int32_t labels[3];

    /* No model: pixels / 255. */
    ck_assert_int_eq(dg_dataset_batch(ds, NULL, idx, 3, out, 3 * S, labels),
                     DG_OK);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(labels[k], labels7[idx[k]]);
        for (uint32_t y = 0; y < ROWS; y++)
            for (uint32_t x = 0; x < COLS; x++)
                ck_assert_double_eq_tol(out[k * S + y * COLS + x],
                                        pixel_of(idx[k], y, x) / 255.0,
                                        1e-6);
    }

    /* A model's preprocessing: (p / 255 - 0.25) / 0.5. */
    dg_model *m = NULL;
    ck_assert_int_eq(dg_model_create("flatten,fc3", 1, ROWS, COLS, 1, &m),
                     DG_OK);
    dg_preprocess pre;
    dg_preprocess_init(&pre, sizeof pre, 1, ROWS, COLS);
    pre.mean[0] = 0.25f;
    pre.std[0] = 0.5f;
    ck_assert_int_eq(dg_model_set_preprocess(m, &pre), DG_OK);
    ck_assert_int_eq(dg_dataset_batch(ds, m, idx, 3, out, 3 * S, NULL),
                     DG_OK);
    ck_assert_double_eq_tol(out[S + 5],
                            (pixel_of(0, 1, 1) / 255.0 - 0.25) / 0.5, 1e-5);
    dg_model_free(m);

    /* A model of another shape: batches never resize. */
    ck_assert_int_eq(dg_model_create("flatten,fc3", 1, 4, 4, 1, &m), DG_OK);
    ck_assert_int_eq(dg_dataset_batch(ds, m, idx, 1, out, 16, NULL),
                     DG_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "1x3x4"));
    dg_model_free(m);

    ck_assert_int_eq(dg_dataset_batch(ds, NULL, idx, 3, out, 3 * S - 1, NULL),
                     DG_E_SHAPE);
    ck_assert_msg(strstr(dg_last_error_detail(), "out_len is 35") &&
                      strstr(dg_last_error_detail(), "need 36"),
                  "%s", dg_last_error_detail());
    const uint32_t bad_idx[2] = {1, N};
    ck_assert_int_eq(dg_dataset_batch(ds, NULL, bad_idx, 2, out, 2 * S, NULL),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_batch(ds, NULL, idx, 0, out, 0, NULL),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_batch(ds, NULL, NULL, 1, out, S, NULL),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_batch(NULL, NULL, idx, 1, out, S, NULL),
                     DG_E_INVALID_ARG);

    int32_t label;
    const uint8_t *px = (const uint8_t *)&px;
    uint32_t value;
    ck_assert_int_eq(dg_dataset_label(ds, N, &label), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_pixels(ds, N, &px), DG_E_INVALID_ARG);
    ck_assert_ptr_null(px);
    ck_assert_int_eq(dg_dataset_pixels(ds, 0, NULL), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_count(NULL, &value), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_count(ds, NULL), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_class_count(ds, NULL), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_sample_shape(NULL, &value, NULL, NULL),
                     DG_E_INVALID_ARG);
    dg_dataset *none = (dg_dataset *)&none;
    ck_assert_int_eq(dg_dataset_load_idx(NULL, "x", &none), DG_E_INVALID_ARG);
    ck_assert_ptr_null(none);
    dg_dataset_free(ds);
    dg_dataset_free(NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Image folders                                                          */
/* ---------------------------------------------------------------------- */

static void write_png(const char *path, uint32_t format, uint32_t w,
                      uint32_t h, const uint8_t *pixels)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = w;
    img.height = h;
    img.format = format;
    ck_assert_msg(png_image_write_to_file(&img, path, 0, pixels, 0, NULL),
                  "%s", img.message);
}

static void write_jpeg(const char *path, uint32_t w, uint32_t h,
                       const uint8_t *rgb)
{
    tjhandle tj = tjInitCompress();
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    ck_assert_int_eq(tjCompress2(tj, rgb, (int)w, 0, (int)h, TJPF_RGB, &jpeg,
                                 &size, TJSAMP_444, 100, TJFLAG_ACCURATEDCT),
                     0);
    write_file(path, jpeg, size);
    tjFree(jpeg);
    tjDestroy(tj);
}

static uint8_t *solid(uint32_t w, uint32_t h, uint32_t channels,
                      const uint8_t *color)
{
    uint8_t *p = malloc((size_t)w * h * channels);
    for (size_t i = 0; i < (size_t)w * h; i++)
        memcpy(p + i * channels, color, channels);
    return p;
}

static const uint8_t orange[3] = {250, 120, 10}, teal[3] = {20, 160, 150};

static void write_gray_png(const char *name, uint8_t level)
{
    uint8_t px[3 * 2];
    memset(px, level, sizeof px);
    write_png(tmp_path(0, name), PNG_FORMAT_GRAY, 3, 2, px);
}

/* Three classes, created out of order; strcmp puts "Bee" before "ant".
 * Within ant, strcmp order is 10.png, 9.png, C.png, a.JPG, b.png.  Files
 * the loader must skip: README.txt (not a folder), .cache/ (hidden),
 * ant/notes.txt, ant/.hidden.png. */
static void write_folder_tree(void)
{
    mkdir(tmp_path(0, "zebra"), 0755);
    mkdir(tmp_path(0, "ant"), 0755);
    mkdir(tmp_path(0, "Bee"), 0755);
    mkdir(tmp_path(0, ".cache"), 0755);
    write_file(tmp_path(0, "README.txt"), "x", 1);
    uint8_t *p = solid(6, 5, 3, teal);
    write_png(tmp_path(0, "zebra/y.png"), PNG_FORMAT_RGB, 6, 5, p);
    free(p);
    p = solid(7, 3, 3, orange);
    write_jpeg(tmp_path(0, "zebra/x.jpeg"), 7, 3, p);
    free(p);
    const uint8_t two_by_two[4] = {0, 100, 200, 40};
    write_png(tmp_path(0, "ant/b.png"), PNG_FORMAT_GRAY, 2, 2, two_by_two);
    p = solid(5, 5, 3, teal);
    write_jpeg(tmp_path(0, "ant/a.JPG"), 5, 5, p);
    free(p);
    write_gray_png("ant/C.png", 10);
    write_gray_png("ant/9.png", 30);
    write_gray_png("ant/10.png", 20);
    write_gray_png("Bee/q.PNG", 40);
    write_gray_png(".cache/c.png", 90);
    write_file(tmp_path(0, "ant/notes.txt"), "not an image", 12);
    write_file(tmp_path(0, "ant/.hidden.png"), "junk", 4);
}

static dg_dataset *load_folder(uint32_t channels)
{
    dg_dataset *ds = NULL;
    dg_status s = dg_dataset_load_folder(tmp_dir, channels, 4, 4, &ds);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    return ds;
}

static void expect_plane(const dg_dataset *ds, uint32_t i, uint32_t c,
                         uint8_t value, int tolerance)
{
    const uint8_t *px;
    ck_assert_int_eq(dg_dataset_pixels(ds, i, &px), DG_OK);
    for (int k = 0; k < 16; k++)
        ck_assert_msg(abs(px[c * 16 + k] - value) <= tolerance,
                      "sample %u channel %u pixel %d: %u, want %u", i, c, k,
                      px[c * 16 + k], value);
}

START_TEST(folder_loader)
{
    make_tmp_dir("dataset");
    write_folder_tree();

    /* Bee/q.PNG; ant/10.png, 9.png, C.png, a.JPG, b.png; zebra/x.jpeg,
     * y.png. */
    dg_dataset *ds = load_folder(3);
    uint32_t count, classes, c, h, w;
    dg_dataset_count(ds, &count);
    ck_assert_uint_eq(count, 8);
    dg_dataset_class_count(ds, &classes);
    ck_assert_uint_eq(classes, 3);
    dg_dataset_sample_shape(ds, &c, &h, &w);
    ck_assert(c == 3 && h == 4 && w == 4);
    const int32_t want_labels[8] = {0, 1, 1, 1, 1, 1, 2, 2};
    for (uint32_t i = 0; i < 8; i++) {
        int32_t label;
        dg_dataset_label(ds, i, &label);
        ck_assert_int_eq(label, want_labels[i]);
    }
    const uint8_t gray_levels[4] = {40, 20, 30, 10};
    for (uint32_t ch = 0; ch < 3; ch++) {
        for (uint32_t i = 0; i < 4; i++)
            expect_plane(ds, i, ch, gray_levels[i], 0);
        expect_plane(ds, 4, ch, teal[ch], 2);
        expect_plane(ds, 6, ch, orange[ch], 2);
        expect_plane(ds, 7, ch, teal[ch], 0);
    }
    /* Gray replicated into RGB, resized 2x2 -> 4x4 (worked in
     * test_image.c). */
    const uint8_t resized[16] = {0,   25,  75, 100, 50,  59,  76, 85,
                                 150, 126, 79, 55,  200, 160, 80, 40};
    const uint8_t *px;
    dg_dataset_pixels(ds, 5, &px);
    for (int ch = 0; ch < 3; ch++) ck_assert_mem_eq(px + ch * 16, resized, 16);
    dg_dataset_free(ds);

    /* Gray: teal's luma 0.299*20 + 0.587*160 + 0.114*150 = 117.0. */
    ds = load_folder(1);
    expect_plane(ds, 7, 0, 117, 0);
    dg_dataset_pixels(ds, 5, &px);
    ck_assert_mem_eq(px, resized, 16);
    dg_dataset_free(ds);
    remove_tmp_dir();
}
END_TEST

/* A spec names the same data as the loaders, with names and a selection. */
START_TEST(spec_opens_and_selects)
{
    make_tmp_dir("dataset");
    write_folder_tree();
    dg_dataset_spec_opts o;
    ck_assert_int_eq(dg_dataset_spec_opts_init(&o, sizeof o), DG_OK);
    o.channels = 1;
    o.height = o.width = 4;
    dg_dataset *ds = NULL;
    dg_status s = dg_dataset_open_spec(tmp_dir, &o, &ds);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    const char *name;
    const char *want_names[3] = {"Bee", "ant", "zebra"};
    for (uint32_t k = 0; k < 3; k++) {
        ck_assert_int_eq(dg_dataset_class_name(ds, k, &name), DG_OK);
        ck_assert_str_eq(name, want_names[k]);
    }
    ck_assert_int_eq(dg_dataset_class_name(ds, 3, &name), DG_E_INVALID_ARG);
    dg_dataset_free(ds);

    /* zebra then ant (five images), at most two each: zebra's x.jpeg and
     * y.png, ant's 10.png and 9.png; the names follow the selection. */
    const int32_t pick[2] = {2, 1};
    o.classes = pick;
    o.n_classes = 2;
    o.per_class = 2;
    ck_assert_int_eq(dg_dataset_open_spec(tmp_dir, &o, &ds), DG_OK);
    uint32_t count;
    dg_dataset_count(ds, &count);
    ck_assert_uint_eq(count, 4);
    const int32_t want_labels[4] = {1, 1, 0, 0};
    for (uint32_t i = 0; i < 4; i++) {
        int32_t label;
        dg_dataset_label(ds, i, &label);
        ck_assert_int_eq(label, want_labels[i]);
    }
    expect_plane(ds, 0, 0, 20, 0); /* ant/10.png */
    dg_dataset_class_name(ds, 0, &name);
    ck_assert_str_eq(name, "zebra");
    dg_dataset_class_name(ds, 1, &name);
    ck_assert_str_eq(name, "ant");
    dg_dataset_free(ds);

    /* Past the first two of each: zebra (x.jpeg, y.png) has none left,
     * ant (10, 9, C, a, b by strcmp) gives C.png, gray 10. */
    o.skip_per_class = 2;
    o.per_class = 1;
    ck_assert_int_eq(dg_dataset_open_spec(tmp_dir, &o, &ds), DG_OK);
    dg_dataset_count(ds, &count);
    ck_assert_uint_eq(count, 1);
    int32_t label;
    dg_dataset_label(ds, 0, &label);
    ck_assert_int_eq(label, 1);
    expect_plane(ds, 0, 0, 10, 0);
    dg_dataset_free(ds);
    /* Every class past its first sample: Bee's one image goes, ant keeps
     * four and zebra one. */
    o.classes = NULL;
    o.n_classes = 0;
    o.skip_per_class = 1;
    o.per_class = 0;
    ck_assert_int_eq(dg_dataset_open_spec(tmp_dir, &o, &ds), DG_OK);
    dg_dataset_count(ds, &count);
    ck_assert_uint_eq(count, 5);
    dg_dataset_free(ds);
    o.skip_per_class = 0;

    /* A class the data lacks, and malformed specs. */
    const int32_t absent = 3;
    o.classes = &absent;
    o.n_classes = 1;
    ck_assert_int_eq(dg_dataset_open_spec(tmp_dir, &o, &ds), DG_E_MISMATCH);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "classes 0 to 2"));
    o.n_classes = 0;
    ck_assert_int_eq(dg_dataset_open_spec(tmp_dir, &o, &ds),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_open_spec(tmp_dir, NULL, &ds),
                     DG_E_INVALID_ARG); /* a folder needs a shape */
    ck_assert_int_eq(dg_dataset_open_spec("nope:x", NULL, &ds),
                     DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "unknown data spec"));
    ck_assert_int_eq(dg_dataset_open_spec("fmnist:valid", NULL, &ds),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_open_spec("idx:only-images", NULL, &ds),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_open_spec(tmp_path(0, "missing"), NULL, &ds),
                     DG_E_IO);
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(dg_dataset_open_spec(NULL, NULL, &ds), DG_E_INVALID_ARG);
    remove_tmp_dir();

    /* IDX files name no classes. */
    make_tmp_dir("dataset");
    write_small_set(0, 0);
    char spec[4200];
    snprintf(spec, sizeof spec, "idx:%s,", tmp_path(0, "images.idx"));
    strcat(spec, tmp_path(1, "labels.idx"));
    ck_assert_int_eq(dg_dataset_open_spec(spec, NULL, &ds), DG_OK);
    ck_assert_int_eq(dg_dataset_class_name(ds, 0, &name), DG_OK);
    ck_assert_ptr_null(name);
    dg_dataset_free(ds);
    remove_tmp_dir();
}
END_TEST

static void expect_folder_failure(dg_status status, const char *phrase)
{
    dg_dataset *ds = (dg_dataset *)&ds;
    dg_status s = dg_dataset_load_folder(tmp_dir, 3, 4, 4, &ds);
    ck_assert_msg(s == status, "status %d, want %d: %s", s, status,
                  dg_last_error_detail());
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(dg_last_error_detail(), phrase),
                  "detail \"%s\" lacks \"%s\"", dg_last_error_detail(),
                  phrase);
}

START_TEST(folder_errors)
{
    make_tmp_dir("dataset");
    expect_folder_failure(DG_E_FORMAT, "no class sub-folders");
    write_folder_tree();

    write_file(tmp_path(0, "zebra/z.png"), "\x89PNG\r\n\x1a\n broken", 15);
    expect_folder_failure(DG_E_FORMAT, "zebra/z.png");
    unlink(tmp_path(0, "zebra/z.png"));

    /* A truncated JPEG among good ones. */
    size_t len;
    uint8_t *jpeg = read_whole(tmp_path(0, "zebra/x.jpeg"), &len);
    write_file(tmp_path(0, "zebra/x.jpeg"), jpeg, len - 40);
    free(jpeg);
    expect_folder_failure(DG_E_FORMAT, "zebra/x.jpeg");
    unlink(tmp_path(0, "zebra/x.jpeg"));

    mkdir(tmp_path(0, "empty"), 0755);
    expect_folder_failure(DG_E_FORMAT, "empty holds no");
    remove_tmp_dir();

    expect_folder_failure(DG_E_IO, tmp_dir);
    dg_dataset *ds = (dg_dataset *)&ds;
    ck_assert_int_eq(dg_dataset_load_folder("/tmp", 2, 4, 4, &ds),
                     DG_E_INVALID_ARG);
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(dg_dataset_load_folder("/tmp", 3, 0, 4, &ds),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_load_folder(NULL, 3, 4, 4, &ds),
                     DG_E_INVALID_ARG);
}
END_TEST

/* Samples in memory: copied (the caller's buffers may change after), read
 * back pixel by pixel, counted and named; every bad argument refused. */
START_TEST(from_pixels)
{
    /* Two RGB samples of 2x3, planar: sample i, channel c, pixel p holds
     * 100 * i + 10 * c + p. */
    uint8_t pixels[2 * 3 * 6];
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 6; p++)
                pixels[i * 18 + c * 6 + p] = (uint8_t)(100 * i + 10 * c + p);
    int32_t labels[2] = {2, 0};
    const char *names[3] = {"cat", "dog", "owl"};
    dg_dataset *ds = NULL;
    ck_assert_int_eq(dg_dataset_from_pixels(pixels, 2, 3, 2, 3, labels,
                                            names, 3, &ds),
                     DG_OK);
    memset(pixels, 0, sizeof pixels);
    labels[0] = 7;

    uint32_t n, c, h, w;
    ck_assert_int_eq(dg_dataset_count(ds, &n), DG_OK);
    ck_assert_int_eq(dg_dataset_sample_shape(ds, &c, &h, &w), DG_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(c * 100 + h * 10 + w, 323);
    ck_assert_int_eq(dg_dataset_class_count(ds, &n), DG_OK);
    ck_assert_uint_eq(n, 3);
    const uint8_t *sample;
    ck_assert_int_eq(dg_dataset_pixels(ds, 1, &sample), DG_OK);
    ck_assert_uint_eq(sample[0], 100);
    ck_assert_uint_eq(sample[2 * 6 + 5], 125);
    int32_t label;
    ck_assert_int_eq(dg_dataset_label(ds, 0, &label), DG_OK);
    ck_assert_int_eq(label, 2);
    const char *name;
    ck_assert_int_eq(dg_dataset_class_name(ds, 2, &name), DG_OK);
    ck_assert_str_eq(name, "owl");
    dg_dataset_free(ds);

    /* Without names. */
    labels[0] = 1;
    ck_assert_int_eq(dg_dataset_from_pixels(pixels, 2, 1, 6, 3, labels, NULL,
                                            0, &ds),
                     DG_OK);
    ck_assert_int_eq(dg_dataset_class_name(ds, 0, &name), DG_OK);
    ck_assert_ptr_null(name);
    dg_dataset_free(ds);

    struct {
        uint32_t count, channels;
        int32_t label;
        uint32_t n_names;
        dg_status status;
        const char *detail;
    } bad[] = {
        {0, 3, 0, 0, DG_E_INVALID_ARG, "0 samples"},
        {2, 2, 0, 0, DG_E_INVALID_ARG, "channels is 2"},
        {2, 3, -1, 0, DG_E_INVALID_ARG, "label -1 of sample 0"},
        {2, 3, 65536, 0, DG_E_INVALID_ARG, "labels are 0 to 65535"},
        {2, 3, 1, 3, DG_E_MISMATCH, "3 class names for labels 0 to 1"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        labels[0] = bad[k].label;
        ds = (dg_dataset *)1;
        ck_assert_int_eq(dg_dataset_from_pixels(
                             pixels, bad[k].count, bad[k].channels, 2, 3,
                             labels, bad[k].n_names ? names : NULL,
                             bad[k].n_names, &ds),
                         bad[k].status);
        ck_assert_ptr_null(ds);
        ck_assert_msg(strstr(dg_last_error_detail(), bad[k].detail),
                      "case %zu: %s", k, dg_last_error_detail());
    }
    labels[0] = 0;
    ck_assert_int_eq(dg_dataset_from_pixels(pixels, 2, 3, 0, 3, labels, NULL,
                                            0, &ds),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_from_pixels(pixels, 2, 3, 2, 3, labels, names,
                                            0, &ds),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_from_pixels(NULL, 2, 3, 2, 3, labels, NULL, 0,
                                            &ds),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_dataset_from_pixels(pixels, 2, 3, 2, 3, labels, NULL,
                                            0, NULL),
                     DG_E_INVALID_ARG);
    const char *with_null[2] = {"cat", NULL};
    labels[1] = 1;
    ck_assert_int_eq(dg_dataset_from_pixels(pixels, 2, 3, 2, 3, labels,
                                            with_null, 2, &ds),
                     DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "class name 1"));
}
END_TEST

static Suite *dataset_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *idx = tcase_create("idx");
    tcase_add_test(idx, idx_plain_and_gzip);
    tcase_add_test(idx, idx_multi_member_gzip);
    tcase_add_test(idx, idx_corrupt_files_fail);
    tcase_add_test(idx, fashion_mnist);
    suite_add_tcase(s, idx);
    TCase *use = tcase_create("use");
    tcase_add_test(use, select_relabels_and_caps);
    tcase_add_test(use, queries_and_batches);
    tcase_add_test(use, from_pixels);
    suite_add_tcase(s, use);
    TCase *folder = tcase_create("folder");
    tcase_add_test(folder, folder_loader);
    tcase_add_test(folder, folder_errors);
    tcase_add_test(folder, spec_opens_and_selects);
    suite_add_tcase(s, folder);
    return s;
}

int main(void)
{
    return run_suite(dataset_suite(), CK_FORK);
}
