/* make_fixtures.c - writes what test_cli.sh runs dg against, into the
 * directory named on the command line:
 *
 *   model.dgm          a 3-class "c4k3p1,relu,mp2,fc3" model on 1x8x8 input
 *   softmax-model.dgm  the same with a softmax layer at the end
 *   corrupt-model.dgm  model.dgm with one byte flipped
 *   img0.png ...       8-bit gray 8x8 images
 *   corrupt.png        a PNG signature followed by garbage
 *   expected.txt       per image: file, most probable class, and the three
 *                      class probabilities (of either model)
 *
 * The expectations do not go through dg or the library's image decoding:
 * the pixels are preprocessed here by the formula of the public header and
 * each image is run alone through a session, then a softmax is taken here. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffguard.h"

enum { SIDE = 8, PIXELS = SIDE * SIDE, N_CLASSES = 3, N_IMAGES = 5 };

/* An image is kept only if its top class wins by this much, so rounding
 * differences cannot change the answer. */
static const double min_margin = 0.05;

/* Names that exercise escaping: a quote, a backslash and UTF-8. */
static const char *const class_names[N_CLASSES] = {"circle",
                                                   "say \"hi\"\\",
                                                   "caf\xC3\xA9"};

/* Names a hostile file may carry: an escape sequence, a newline that
 * would forge a line, a C1 control (CSI) and a byte that is not UTF-8. */
static const char *const hostile_names[N_CLASSES] = {
    "\x1b[31mred", "two\nlines", "csi\xC2\x9b" "2J \xff"};

static void die(const char *what, dg_status status)
{
    fprintf(stderr, "make_fixtures: %s: %s: %s\n", what, dg_strerror(status),
            dg_last_error_detail());
    exit(1);
}

static void die_errno(const char *what, const char *path)
{
    fprintf(stderr, "make_fixtures: %s %s: ", what, path);
    perror(NULL);
    exit(1);
}

/* A small deterministic generator, so the fixtures are the same each run. */
static uint32_t next_random(uint64_t *state)
{
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(*state >> 33);
}

/* Model input from pixels as diffguard.h defines it:
 * (pixel * scale - mean) / std; the image already has the model's size. */
static void preprocess(const dg_preprocess *p, const uint8_t *pixels,
                       float *input)
{
    for (int i = 0; i < PIXELS; i++)
        input[i] = ((float)pixels[i] * p->scale - p->mean[0]) / p->std[0];
}

/* The last layer's output for one image. */
static const float *run_one(dg_session *session, const dg_preprocess *p,
                            const uint8_t *pixels)
{
    float input[PIXELS];
    const float *output;
    preprocess(p, pixels, input);
    dg_status st = dg_session_run(session, input, PIXELS, 1);
    if (st != DG_OK) die("running the model", st);
    st = dg_session_output(session, -1, &output, NULL, NULL, NULL, NULL);
    if (st != DG_OK) die("reading the output", st);
    return output;
}

/* Class probabilities of one image, and how far the winner leads. */
static double classify(dg_session *session, const dg_preprocess *p,
                       const uint8_t *pixels, double *probability,
                       int *best)
{
    const float *logits = run_one(session, p, pixels);
    double largest = logits[0], sum = 0, runner_up = 0;
    for (int k = 1; k < N_CLASSES; k++)
        if (logits[k] > largest) largest = logits[k];
    for (int k = 0; k < N_CLASSES; k++) {
        probability[k] = exp(logits[k] - largest);
        sum += probability[k];
    }
    *best = 0;
    for (int k = 0; k < N_CLASSES; k++) {
        probability[k] /= sum;
        if (probability[k] > probability[*best]) *best = k;
    }
    for (int k = 0; k < N_CLASSES; k++)
        if (k != *best && probability[k] > runner_up)
            runner_up = probability[k];
    return probability[*best] - runner_up;
}

/* Fills pixels with a random image that the model gives a clear winner,
 * preferring `wanted` as the winner.  Returns the winner. */
static int choose_image(dg_session *session, const dg_preprocess *p,
                        int wanted, uint64_t *state, uint8_t *pixels,
                        double *probability)
{
    for (int attempt = 0; attempt < 10000; attempt++) {
        int best;
        for (int i = 0; i < PIXELS; i++)
            pixels[i] = (uint8_t)next_random(state);
        double margin = classify(session, p, pixels, probability, &best);
        if (margin >= min_margin && (best == wanted || attempt >= 1000))
            return best;
    }
    fprintf(stderr, "make_fixtures: no image with a clear winner\n");
    exit(1);
}

/* The softmax model must give the probabilities computed here, so that
 * expected.txt holds for both models. */
static void check_softmax_model(dg_session *session, const dg_preprocess *p,
                                const uint8_t *pixels,
                                const double *probability)
{
    const float *output = run_one(session, p, pixels);
    for (int k = 0; k < N_CLASSES; k++)
        if (fabs(output[k] - probability[k]) > 1e-5) {
            fprintf(stderr, "make_fixtures: the softmax model gives %g for "
                    "class %d, not %g\n", (double)output[k], k,
                    probability[k]);
            exit(1);
        }
}

static void write_png(const char *path, const uint8_t *pixels)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = SIDE;
    image.height = SIDE;
    image.format = PNG_FORMAT_GRAY;
    if (!png_image_write_to_file(&image, path, 0, pixels, 0, NULL)) {
        fprintf(stderr, "make_fixtures: writing %s: %s\n", path,
                image.message);
        exit(1);
    }
}

static void write_bytes(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        die_errno("writing", path);
}

/* The model file with one byte in the middle flipped: its checksum must
 * catch it. */
static void write_corrupt_copy(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    if (!f) die_errno("reading", from);
    static unsigned char bytes[1 << 20];
    size_t size = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    if (size == 0 || size == sizeof bytes) die_errno("reading", from);
    bytes[size / 2] ^= 0x5A;
    write_bytes(to, bytes, size);
}

/* A model with the fixture's weights (the seed) and class names, saved as
 * dir/name. */
static dg_model *make_model(const char *spec, const char *dir,
                            const char *name)
{
    dg_model *model;
    dg_status st = dg_model_create(spec, 1, SIDE, SIDE, 2024, &model);
    if (st != DG_OK) die("creating the model", st);
    st = dg_model_set_class_names(model, class_names, N_CLASSES);
    if (st != DG_OK) die("naming the classes", st);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    st = dg_model_save_file(model, path);
    if (st != DG_OK) die("saving the model", st);
    return model;
}

static dg_session *make_session(const dg_model *model)
{
    dg_session *session;
    dg_status st = dg_session_create(model, 1, &session);
    if (st != DG_OK) die("creating a session", st);
    return session;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_fixtures DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char path[4096], other[4096];

    dg_model *model = make_model("c4k3p1,relu,mp2,fc3", dir, "model.dgm");
    dg_model *softmax_model = make_model("c4k3p1,relu,mp2,fc3,softmax", dir,
                                         "softmax-model.dgm");
    snprintf(path, sizeof path, "%s/model.dgm", dir);
    snprintf(other, sizeof other, "%s/corrupt-model.dgm", dir);
    write_corrupt_copy(path, other);

    static const unsigned char not_png[] = "\x89PNG\r\n\x1a\nthis is no image";
    snprintf(path, sizeof path, "%s/corrupt.png", dir);
    write_bytes(path, not_png, sizeof not_png - 1);

    dg_preprocess pre = {.struct_size = sizeof pre};
    dg_status st = dg_model_preprocess(model, &pre);
    if (st != DG_OK) die("reading the preprocessing", st);
    dg_session *session = make_session(model);
    dg_session *softmax_session = make_session(softmax_model);

    snprintf(path, sizeof path, "%s/expected.txt", dir);
    FILE *expected = fopen(path, "w");
    if (!expected) die_errno("writing", path);

    /* A different winning class for each image where possible, so images
     * swapped by dg would show. */
    uint64_t state = 1;
    for (int i = 0; i < N_IMAGES; i++) {
        uint8_t pixels[PIXELS];
        double probability[N_CLASSES];
        int best = choose_image(session, &pre, i % N_CLASSES, &state, pixels,
                                probability);
        check_softmax_model(softmax_session, &pre, pixels, probability);
        snprintf(path, sizeof path, "%s/img%d.png", dir, i);
        write_png(path, pixels);
        fprintf(expected, "img%d.png %d", i, best);
        for (int k = 0; k < N_CLASSES; k++)
            fprintf(expected, " %.9g", probability[k]);
        fputc('\n', expected);
    }
    if (fclose(expected) != 0) die_errno("writing", "expected.txt");

    st = dg_model_set_class_names(model, hostile_names, N_CLASSES);
    if (st != DG_OK) die("naming the classes", st);
    snprintf(path, sizeof path, "%s/hostile-names.dgm", dir);
    st = dg_model_save_file(model, path);
    if (st != DG_OK) die("saving the model", st);
    dg_session_free(softmax_session);
    dg_session_free(session);
    dg_model_free(softmax_model);
    dg_model_free(model);
    return 0;
}
