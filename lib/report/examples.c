/* examples.c - example images of an attack run: per attempt the
 * source, the adversarial image and their amplified difference as PNG
 * tiles, and one sheet with the targets beside them. */
#include <stdlib.h>
#include <string.h>

#include "attack/advset.h"
#include "core/alloc.h"
#include "io/dataset.h"
#include "io/image.h"
#include "io/png_write.h"
#include "report/report.h"

/* What the examples are drawn from. */
typedef struct attack_examples {
    const dg_advset *set;
    const dg_dataset *data;
    const uint32_t *target_index;
    const char *dir;
    uint32_t n;
} attack_examples;

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

/* Attempt i's images into e, each scaled to [0,1]. */
static dg_status read_example(const attack_examples *x, uint32_t i,
                              example *e)
{
    const dg_advset_item *it = &x->set->items[i];
    float *src = e->images, *adv = src + e->pixels, *tgt = adv + e->pixels;
    dg_preprocess unit;
    dg_preprocess_default(&unit, x->set->shape);
    dg_u8_chw_to_input(&unit, x->set->data + (size_t)i * x->set->pixels, adv);
    dg_status st = dg_dataset_make_batch(x->data, NULL, &it->source_index, 1,
                                         src, e->pixels, NULL);
    for (size_t k = 0; x->target_index[i] == UINT32_MAX && k < e->pixels;
         k++)
        tgt[k] = 0.5f;
    if (st == DG_OK && x->target_index[i] != UINT32_MAX)
        st = dg_dataset_make_batch(x->data, NULL, &x->target_index[i], 1,
                                   tgt, e->pixels, NULL);
    return st == DG_OK ? DG_OK
                       : dg_fail_context(st, "reading attempt %u", i);
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

static dg_status save_png(const example *e, const char *dir,
                          const char *file, const uint8_t *buf,
                          uint32_t width, uint32_t height)
{
    char path[4096];
    DG_TRY(report_path(dir, file, path, sizeof path));
    return dg_png_write_file(path, buf, width, height,
                             (size_t)width * e->channels, e->channels);
}

static dg_status write_tiles(const attack_examples *x, uint32_t i,
                             const example *e, uint8_t *buf)
{
    static const char *const names[] = {"source", "adversarial", "diff"};
    dg_status st = DG_OK;
    for (int column = 0; st == DG_OK && column < 3; column++) {
        char file[64];
        snprintf(file, sizeof file, "%03u_%s.png", i, names[column]);
        tile_pixels(e, column, buf, (size_t)e->width * e->channels, 1);
        st = save_png(e, x->dir, file, buf, e->width, e->height);
    }
    return st;
}

/* Each chosen example's tiles, and one sheet: a row per example, columns
 * source, adversarial, diff and target, scaled up with gaps of mid grey. */
static dg_status write_examples(const attack_examples *x,
                                const uint32_t *chosen, uint32_t n,
                                example *e)
{
    uint32_t tile_w = e->width * SHEET_SCALE, tile_h = e->height * SHEET_SCALE;
    uint32_t width = SHEET_COLUMNS * (tile_w + SHEET_GAP) + SHEET_GAP;
    uint32_t height = n * (tile_h + SHEET_GAP) + SHEET_GAP;
    size_t stride = (size_t)width * e->channels;
    uint8_t *sheet = NULL, *tile = NULL;
    dg_status rc = dg_alloc_array((void **)&sheet, stride, height, "a sheet");
    if (rc == DG_OK)
        rc = dg_alloc_array((void **)&tile, e->pixels, 1, "a tile");
    if (sheet) memset(sheet, 128, stride * height);
    for (uint32_t row = 0; rc == DG_OK && row < n; row++) {
        rc = read_example(x, chosen[row], e);
        if (rc == DG_OK) rc = write_tiles(x, chosen[row], e, tile);
        for (int column = 0; rc == DG_OK && column < SHEET_COLUMNS;
             column++) {
            size_t at = (size_t)(SHEET_GAP + row * (tile_h + SHEET_GAP)) *
                            stride +
                        (size_t)(SHEET_GAP + column * (tile_w + SHEET_GAP)) *
                            e->channels;
            tile_pixels(e, column, sheet + at, stride, SHEET_SCALE);
        }
    }
    if (rc == DG_OK)
        rc = save_png(e, x->dir, "sheet.png", sheet, width, height);
    free(sheet);
    free(tile);
    return rc;
}

dg_status report_write_examples(const dg_advset *set, const dg_dataset *data,
                                const uint32_t *target_index,
                                const char *dir, uint32_t n)
{
    DG_TRY(report_folder(dir));
    const attack_examples x = {set, data, target_index, dir, n};
    example e = {.channels = set->shape.c, .height = set->shape.h,
                 .width = set->shape.w, .pixels = set->pixels};
    uint32_t *chosen = NULL, n_chosen = 0;
    dg_status st = dg_alloc_array((void **)&chosen, (size_t)n + 1,
                                  sizeof *chosen, "examples");
    if (st == DG_OK)
        st = dg_alloc_array((void **)&e.images, 3 * e.pixels,
                            sizeof *e.images, "examples");
    /* The successful attempts first, then the others within budget. */
    for (int pass = 0; st == DG_OK && pass < 2; pass++)
        for (uint32_t i = 0; i < set->count && n_chosen < n; i++) {
            const dg_advset_item *it = &set->items[i];
            if (pass == 0 ? it->success : it->within_budget && !it->success)
                chosen[n_chosen++] = i;
        }
    if (st == DG_OK && n_chosen > 0)
        st = write_examples(&x, chosen, n_chosen, &e);
    free(chosen);
    free(e.images);
    return st;
}
