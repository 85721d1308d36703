/* make_corpus.c - writes the seed corpus of the fuzz targets with the
 * library itself:
 *
 *   make_corpus FUZZ_DIR
 *
 * fills FUZZ_DIR/corpus/{model,onnx,image,guard,advset,idx}/ and writes
 * FUZZ_DIR/guard_student.dgm, the Student the guard seeds belong to.
 * Every seed is small (a few KB) and valid, so mutations start inside
 * each format; run it again after a format change and commit the files. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "diffguard.h"

static const char *fuzz_dir;

static void require(dg_status s, const char *what)
{
    if (s == DG_OK) return;
    fprintf(stderr, "make_corpus: %s: %s: %s\n", what, dg_strerror(s),
            dg_last_error_detail());
    exit(1);
}

/* FUZZ_DIR/corpus/TARGET/NAME, the folder made if needed. */
static const char *seed_path(const char *target, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/corpus", fuzz_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/corpus/%s", fuzz_dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/corpus/%s/%s", fuzz_dir, target, name);
    return path;
}

static void write_bytes(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "make_corpus: cannot write %s\n", path);
        exit(1);
    }
}

static uint64_t random_state = 1;

static uint8_t random_byte(void)
{
    random_state = random_state * 6364136223846793005u + 1442695040888963407u;
    return (uint8_t)(random_state >> 56);
}

/* ------------------------------------------------------------ models */

static void save_model_seed(const dg_model *m, const char *name)
{
    char file[256];
    snprintf(file, sizeof file, "%s.dgm", name);
    require(dg_model_save_file(m, seed_path("model", file)), file);
    snprintf(file, sizeof file, "%s.onnx", name);
    require(dg_model_export_onnx_file(m, seed_path("onnx", file)), file);
}

static dg_model *make_model(const char *arch, uint32_t c, uint32_t h,
                            uint32_t w, const char *name)
{
    dg_model *m;
    require(dg_model_create(arch, c, h, w, 7, &m), arch);
    save_model_seed(m, name);
    return m;
}

static void write_models(void)
{
    dg_model *m = make_model("c3k3s2p1,bn,relu,ap2,flatten,fc4,softmax", 3,
                             8, 8, "bn-softmax-rgb");
    dg_preprocess p = {.struct_size = sizeof p};
    require(dg_model_preprocess(m, &p), "preprocess");
    p.mean[0] = 0.5f;
    p.std[2] = 0.25f;
    require(dg_model_set_preprocess(m, &p), "set preprocess");
    const char *names[4] = {"a", "b\"c", "caf\xC3\xA9", ""};
    require(dg_model_set_class_names(m, names, 4), "class names");
    save_model_seed(m, "named-preprocessed");
    dg_model_free(m);
    dg_model_free(make_model("c4k3p1,relu,c4k3p1,add@1,relu,drop0.5,gap,fc2",
                             1, 6, 6, "residual"));
    dg_model_free(make_model("fc3", 1, 4, 4, "linear"));
    dg_model_free(make_model("mp2s1p1,c2k2,relu,mp3", 1, 7, 5, "pooling"));
}

/* ------------------------------------------------------------ guards */

enum { SIDE = 8, CLASSES = 3, SAMPLES = 60 };

static dg_dataset *random_data(void)
{
    static uint8_t pixels[SAMPLES * SIDE * SIDE];
    int32_t labels[SAMPLES];
    for (int i = 0; i < SAMPLES; i++) {
        labels[i] = i % CLASSES;
        for (int k = 0; k < SIDE * SIDE; k++)
            pixels[i * SIDE * SIDE + k] =
                (uint8_t)(random_byte() / 2 + (k % CLASSES == labels[i]) * 120);
    }
    dg_dataset *ds;
    require(dg_dataset_from_pixels(pixels, SAMPLES, 1, SIDE, SIDE, labels,
                                   NULL, 0, &ds),
            "data set");
    return ds;
}

static void write_guard(const dg_model *student, const dg_dataset *data,
                        int32_t kind, const char *name)
{
    dg_guard_opts o;
    require(dg_guard_opts_init(&o, sizeof o), "guard options");
    o.member_kind = kind;
    o.variants = 2;
    o.members = 2;
    o.epochs = 1;
    o.robust_epochs = 1;
    o.member_width = 0.5f;
    o.batch_size = 16;
    o.harden = 0;
    o.target_frr = 0.2f;
    dg_guard *g;
    require(dg_guard_build(student, data, NULL, &o, &g), name);
    require(dg_guard_save_file(g, seed_path("guard", name)), name);
    if (kind == DG_MEMBERS_PRUNED) {
        /* A model with pruning masks, which only guards make. */
        dg_model *member;
        require(dg_guard_member_model(g, 0, 0, &member), "member model");
        save_model_seed(member, "pruned-member");
        dg_model_free(member);
    }
    dg_guard_free(g);
}

static void write_guards(void)
{
    dg_model *student;
    require(dg_model_create("c4k3p1,relu,mp2,c6k3p1,relu,gap,fc3", 1, SIDE,
                            SIDE, 3, &student),
            "student");
    char path[4096];
    snprintf(path, sizeof path, "%s/guard_student.dgm", fuzz_dir);
    require(dg_model_save_file(student, path), path);
    save_model_seed(student, "student");
    dg_dataset *data = random_data();
    write_guard(student, data, DG_MEMBERS_PRUNED, "pruned.dg");
    write_guard(student, data, DG_MEMBERS_ROBUST, "robust.dg");
    dg_dataset_free(data);
    dg_model_free(student);
}

/* ------------------------------------------------------------ images */

static void write_jpeg(const uint8_t *pixels, int w, int h, int format,
                       int subsampling, const char *name)
{
    tjhandle tj = tjInitCompress();
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    if (!tj || tjCompress2(tj, pixels, w, 0, h, format, &jpeg, &size,
                           subsampling, 75, 0) != 0) {
        fprintf(stderr, "make_corpus: %s: %s\n", name, tjGetErrorStr());
        exit(1);
    }
    write_bytes(seed_path("image", name), jpeg, size);
    tjFree(jpeg);
    tjDestroy(tj);
}

static void write_images(void)
{
    uint8_t pixels[3 * 9 * 7];
    for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = random_byte();
    require(dg_image_save_png(seed_path("image", "gray.png"), pixels, 9, 7, 9,
                              DG_PIXEL_GRAY8),
            "gray.png");
    require(dg_image_save_png(seed_path("image", "rgb.png"), pixels, 7, 9,
                              3 * 7, DG_PIXEL_RGB8),
            "rgb.png");
    write_jpeg(pixels, 9, 7, TJPF_GRAY, TJSAMP_GRAY, "gray.jpg");
    write_jpeg(pixels, 7, 9, TJPF_RGB, TJSAMP_420, "rgb.jpg");
}

/* ------------------------------------------------------ adversarial sets */

static void write_advset(uint32_t c, uint32_t h, uint32_t w, uint32_t count,
                         const char *name)
{
    dg_attack_opts o;
    require(dg_attack_opts_init(&o, sizeof o, DG_ATTACK_PRESET_STRONG),
            "attack options");
    dg_advset *set;
    require(dg_advset_create(&o, c, h, w, "seed: random pixels", &set), name);
    float pixels[3 * 4 * 4];
    for (uint32_t i = 0; i < count; i++) {
        for (uint32_t k = 0; k < c * h * w; k++)
            pixels[k] = random_byte() / 255.0f;
        dg_advset_item item = {.struct_size = sizeof item,
                               .source_index = i,
                               .source_label = (int32_t)i,
                               .target_label = i ? 0 : -1,
                               .student_label = 1,
                               .dssim = 0.01f * (float)i,
                               .feature_distance = 2.5f,
                               .within_budget = 1,
                               .success = (int32_t)(i % 2)};
        require(dg_advset_add(set, &item, pixels, (size_t)c * h * w), name);
    }
    require(dg_advset_save_file(set, seed_path("advset", name)), name);
    dg_advset_free(set);
}

/* ------------------------------------------------------------ IDX files */

static size_t put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

/* gzip of src into dst; returns the compressed size. */
static size_t gzip(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    z_stream z = {.next_in = (Bytef *)src, .avail_in = (uInt)len,
                  .next_out = dst, .avail_out = (uInt)cap};
    if (deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
        deflate(&z, Z_FINISH) != Z_STREAM_END) {
        fprintf(stderr, "make_corpus: gzip failed\n");
        exit(1);
    }
    deflateEnd(&z);
    return z.total_out;
}

/* The fuzz_idx input: the images file's length (4 bytes, little-endian),
 * the images file, the labels file. */
static void write_idx(uint32_t count, uint32_t rows, uint32_t cols,
                      int compressed, const char *name)
{
    uint8_t images[1024], labels[256], input[2048];
    size_t n = put_be32(images, 0x803);
    n += put_be32(images + n, count);
    n += put_be32(images + n, rows);
    n += put_be32(images + n, cols);
    for (uint32_t i = 0; i < count * rows * cols; i++)
        images[n++] = random_byte();
    size_t m = put_be32(labels, 0x801);
    m += put_be32(labels + m, count);
    for (uint32_t i = 0; i < count; i++) labels[m++] = (uint8_t)(i % 10);
    uint8_t *at = input + 4;
    size_t images_len = compressed ? gzip(images, n, at, 1000)
                                   : (memcpy(at, images, n), n);
    at += images_len;
    at += compressed ? gzip(labels, m, at, 500) : (memcpy(at, labels, m), m);
    for (int b = 0; b < 4; b++) input[b] = (uint8_t)(images_len >> 8 * b);
    write_bytes(seed_path("idx", name), input, (size_t)(at - input));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus FUZZ_DIR\n");
        return 2;
    }
    fuzz_dir = argv[1];
    write_models();
    write_guards();
    write_images();
    write_advset(1, 4, 4, 3, "gray.dga");
    write_advset(3, 2, 3, 2, "rgb.dga");
    write_advset(1, 2, 2, 0, "empty.dga");
    write_idx(5, 4, 3, 0, "plain.idx");
    write_idx(4, 5, 5, 1, "gzip.idx");
    write_idx(0, 2, 2, 0, "empty.idx");
    return 0;
}
