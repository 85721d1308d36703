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

static uint8_t to_byte(float v)
{
    v = v * 255.0f + 0.5f;
    return (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
}

/* An image for the examples: the source, the adversarial image, their
 * difference (mid grey: unchanged, amplified DIFF_GAIN times), the target. */
static float tile_value(const attack_run *r, uint32_t i, int column, size_t k)
{
    const float *src = r->sources + i * r->pixels;
    const float *adv = r->adversarial + i * r->pixels;
    switch (column) {
    case 0: return src[k];
    case 1: return adv[k];
    case 2: return 0.5f + DIFF_GAIN * (adv[k] - src[k]);
    default: return r->target_index[i] == UINT32_MAX
                        ? 0.5f
                        : r->targets[i * r->pixels + k];
    }
}

/* Planar pixels to the interleaved rows a PNG takes. */
static void tile_pixels(const attack_run *r, uint32_t i, int column,
                        uint8_t *out, size_t stride, int scale)
{
    size_t plane = (size_t)r->height * r->width;
    for (uint32_t y = 0; y < r->height * (uint32_t)scale; y++)
        for (uint32_t x = 0; x < r->width * (uint32_t)scale; x++)
            for (uint32_t c = 0; c < r->channels; c++) {
                size_t k = c * plane + (size_t)(y / scale) * r->width +
                           x / scale;
                out[y * stride + (size_t)x * r->channels + c] =
                    to_byte(tile_value(r, i, column, k));
            }
}

static int32_t pixel_format(const attack_run *r)
{
    return r->channels == 3 ? DG_PIXEL_RGB8 : DG_PIXEL_GRAY8;
}

static int write_tiles(const attack_run *r, uint32_t i, uint8_t *buf)
{
    static const char *const names[] = {"source", "adversarial", "diff"};
    size_t stride = (size_t)r->width * r->channels;
    for (int column = 0; column < 3; column++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%03u_%s.png", r->plan.examples_dir, i,
                 names[column]);
        tile_pixels(r, i, column, buf, stride, 1);
        dg_status st = dg_image_save_png(path, buf, r->width, r->height,
                                         stride, pixel_format(r));
        if (st != DG_OK) return cli_fail(st, "writing %s", path);
    }
    return CLI_EXIT_OK;
}

/* One sheet: a row per example, columns source, adversarial, diff and
 * target, scaled up with gaps of mid grey. */
static int write_sheet(const attack_run *r, const uint32_t *chosen,
                       uint32_t n)
{
    uint32_t tile_w = r->width * SHEET_SCALE, tile_h = r->height * SHEET_SCALE;
    uint32_t width = SHEET_COLUMNS * (tile_w + SHEET_GAP) + SHEET_GAP;
    uint32_t height = n * (tile_h + SHEET_GAP) + SHEET_GAP;
    size_t stride = (size_t)width * r->channels;
    uint8_t *sheet = malloc(stride * height);
    if (!sheet) return cli_error("out of memory");
    memset(sheet, 128, stride * height);
    for (uint32_t row = 0; row < n; row++)
        for (int column = 0; column < SHEET_COLUMNS; column++) {
            size_t at = (size_t)(SHEET_GAP + row * (tile_h + SHEET_GAP)) *
                            stride +
                        (size_t)(SHEET_GAP + column * (tile_w + SHEET_GAP)) *
                            r->channels;
            tile_pixels(r, chosen[row], column, sheet + at, stride,
                        SHEET_SCALE);
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/sheet.png", r->plan.examples_dir);
    dg_status st = dg_image_save_png(path, sheet, width, height, stride,
                                     pixel_format(r));
    free(sheet);
    if (st != DG_OK) return cli_fail(st, "writing %s", path);
    return CLI_EXIT_OK;
}

int attack_write_examples(const attack_run *r)
{
    const char *dir = r->plan.examples_dir;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cli_error("cannot create %s: %s", dir, strerror(errno));
    uint32_t *chosen = malloc(r->plan.n_examples * sizeof *chosen), n = 0;
    uint8_t *buf = malloc(r->pixels);
    int rc = chosen && buf ? CLI_EXIT_OK : cli_error("out of memory");
    for (int pass = 0; rc == CLI_EXIT_OK && pass < 2; pass++)
        for (uint32_t i = 0; i < r->n && n < r->plan.n_examples; i++)
            if (pass == 0 ? attack_succeeded(r, i) : r->within[i] && !attack_succeeded(r, i))
                chosen[n++] = i;
    for (uint32_t k = 0; rc == CLI_EXIT_OK && k < n; k++)
        rc = write_tiles(r, chosen[k], buf);
    if (rc == CLI_EXIT_OK && n > 0) rc = write_sheet(r, chosen, n);
    free(chosen);
    free(buf);
    return rc;
}

