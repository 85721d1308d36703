/* attack_examples.c - example images of an attack run: per attempt the
 * source, the adversarial image and their amplified difference as PNG
 * tiles, and one sheet with the targets beside them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attack_run.h"

/* Example sheets: tiles scaled up, a diff amplified around mid grey. */
enum { SHEET_SCALE = 4, SHEET_GAP = 4, SHEET_COLUMNS = 4 };
#define DIFF_GAIN 4.0f

/* One attempt's images as pixels in [0,1]: source, adversarial, target
 * (mid grey without a target image). */
typedef struct example {
    uint32_t channels, height, width;
    size_t pixels;
    float *images; /* 3 x pixels */
} example;

static uint8_t to_byte(float v)
{
    v = v * 255.0f + 0.5f;
    return (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
}

/* Attempt i's images into e. */
static int read_example(const attack_examples *x, uint32_t i, example *e)
{
    dg_advset_item it = {.struct_size = sizeof it};
    float *src = e->images, *adv = src + e->pixels, *tgt = adv + e->pixels;
    dg_status st = dg_advset_item_get(x->set, i, &it);
    if (st == DG_OK)
        st = dg_dataset_batch(x->data, NULL, &it.source_index, 1,
                              src, e->pixels, NULL);
    if (st == DG_OK)
        st = dg_advset_batch(x->set, NULL, &i, 1, adv, e->pixels);
    for (size_t k = 0; x->target_index[i] == UINT32_MAX && k < e->pixels;
         k++)
        tgt[k] = 0.5f;
    if (st == DG_OK && x->target_index[i] != UINT32_MAX)
        st = dg_dataset_batch(x->data, NULL, &x->target_index[i], 1,
                              tgt, e->pixels, NULL);
    return st == DG_OK ? CLI_EXIT_OK
                       : cli_fail(st, "reading attempt %u", i);
}

/* A tile: the source, the adversarial image, their difference (mid grey:
 * unchanged, amplified DIFF_GAIN times), the target. */
static float tile_value(const example *e, int column, size_t k)
{
    const float *src = e->images, *adv = src + e->pixels;
    switch (column) {
    case 0: return src[k];
    case 1: return adv[k];
    case 2: return 0.5f + DIFF_GAIN * (adv[k] - src[k]);
    default: return src[2 * e->pixels + k];
    }
}

/* Planar pixels to the interleaved rows a PNG takes. */
static void tile_pixels(const example *e, int column, uint8_t *out,
                        size_t stride, int scale)
{
    size_t plane = (size_t)e->height * e->width;
    for (uint32_t y = 0; y < e->height * (uint32_t)scale; y++)
        for (uint32_t x = 0; x < e->width * (uint32_t)scale; x++)
            for (uint32_t c = 0; c < e->channels; c++) {
                size_t k = c * plane + (size_t)(y / scale) * e->width +
                           x / scale;
                out[y * stride + (size_t)x * e->channels + c] =
                    to_byte(tile_value(e, column, k));
            }
}

static int save_png(const example *e, const char *path, const uint8_t *buf,
                    uint32_t width, uint32_t height)
{
    dg_status st = dg_image_save_png(path, buf, width, height,
                                     (size_t)width * e->channels,
                                     e->channels == 3 ? DG_PIXEL_RGB8
                                                      : DG_PIXEL_GRAY8);
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "writing %s", path);
}

static int write_tiles(const attack_examples *x, uint32_t i, const example *e,
                       uint8_t *buf)
{
    static const char *const names[] = {"source", "adversarial", "diff"};
    int rc = CLI_EXIT_OK;
    for (int column = 0; rc == CLI_EXIT_OK && column < 3; column++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%03u_%s.png", x->dir, i,
                 names[column]);
        tile_pixels(e, column, buf, (size_t)e->width * e->channels, 1);
        rc = save_png(e, path, buf, e->width, e->height);
    }
    return rc;
}

/* Each chosen example's tiles, and one sheet: a row per example, columns
 * source, adversarial, diff and target, scaled up with gaps of mid grey. */
static int write_examples(const attack_examples *x, const uint32_t *chosen,
                          uint32_t n, example *e)
{
    uint32_t tile_w = e->width * SHEET_SCALE, tile_h = e->height * SHEET_SCALE;
    uint32_t width = SHEET_COLUMNS * (tile_w + SHEET_GAP) + SHEET_GAP;
    uint32_t height = n * (tile_h + SHEET_GAP) + SHEET_GAP;
    size_t stride = (size_t)width * e->channels;
    uint8_t *sheet = malloc(stride * height), *tile = malloc(e->pixels);
    int rc = sheet && tile ? CLI_EXIT_OK : cli_error("out of memory");
    if (sheet) memset(sheet, 128, stride * height);
    for (uint32_t row = 0; rc == CLI_EXIT_OK && row < n; row++) {
        rc = read_example(x, chosen[row], e);
        if (rc == CLI_EXIT_OK) rc = write_tiles(x, chosen[row], e, tile);
        for (int column = 0; rc == CLI_EXIT_OK && column < SHEET_COLUMNS;
             column++) {
            size_t at = (size_t)(SHEET_GAP + row * (tile_h + SHEET_GAP)) *
                            stride +
                        (size_t)(SHEET_GAP + column * (tile_w + SHEET_GAP)) *
                            e->channels;
            tile_pixels(e, column, sheet + at, stride, SHEET_SCALE);
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/sheet.png", x->dir);
    if (rc == CLI_EXIT_OK) rc = save_png(e, path, sheet, width, height);
    free(sheet);
    free(tile);
    return rc;
}

int attack_write_examples(const attack_examples *x)
{
    const char *dir = x->dir;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cli_error("cannot create %s: %s", dir, strerror(errno));
    example e = {0};
    uint32_t n_attempts = 0, n = 0;
    dg_status st = dg_advset_count(x->set, &n_attempts);
    if (st == DG_OK)
        st = dg_advset_shape(x->set, &e.channels, &e.height, &e.width);
    if (st != DG_OK) return cli_fail(st, "reading the set");
    e.pixels = (size_t)e.channels * e.height * e.width;
    uint32_t *chosen = malloc(x->n * sizeof *chosen);
    e.images = malloc(3 * e.pixels * sizeof *e.images);
    int rc = chosen && e.images ? CLI_EXIT_OK : cli_error("out of memory");
    /* The successful attempts first, then the others within budget. */
    for (int pass = 0; rc == CLI_EXIT_OK && pass < 2; pass++)
        for (uint32_t i = 0; i < n_attempts && n < x->n; i++) {
            dg_advset_item it = {.struct_size = sizeof it};
            dg_advset_item_get(x->set, i, &it);
            if (pass == 0 ? it.success : it.within_budget && !it.success)
                chosen[n++] = i;
        }
    if (rc == CLI_EXIT_OK && n > 0) rc = write_examples(x, chosen, n, &e);
    free(chosen);
    free(e.images);
    return rc;
}
