/* image.c - PNG and JPEG decoding and the pixel pipeline into a model.
 *
 * libpng is used through its simplified png_image API and libjpeg-turbo
 * through the TurboJPEG API: neither needs setjmp in our code, so no
 * longjmp can cross it. */
#include "io/image.h"

#include <math.h>
#include <stdbool.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "core/alloc.h"
#include "core/file.h"

/* The side limit alone keeps every decoded image (at most 4 bytes per pixel
 * while decoding) within the allocation cap. */
_Static_assert((uint64_t)DG_IMAGE_MAX_SIDE * DG_IMAGE_MAX_SIDE * 4 <=
                   DG_MAX_ALLOC,
               "DG_IMAGE_MAX_SIDE allows images beyond DG_MAX_ALLOC");

/* Checks the size an image's header declares. */
static dg_status check_sides(const char *codec, uint32_t width,
                             uint32_t height)
{
    if (width == 0 || height == 0 || width > DG_IMAGE_MAX_SIDE ||
        height > DG_IMAGE_MAX_SIDE)
        return dg_fail(DG_E_FORMAT,
                       "%s image of %ux%u pixels: each side must be 1 to %u",
                       codec, width, height, DG_IMAGE_MAX_SIDE);
    return DG_OK;
}

/* Allocates the pixels of a w x h image of `channels` bytes per pixel, after
 * checking the size its header declares. */
static dg_status alloc_decoded(const char *codec, uint32_t width,
                               uint32_t height, uint32_t channels,
                               uint8_t **pixels)
{
    *pixels = NULL;
    DG_TRY(check_sides(codec, width, height));
    return dg_alloc_array((void **)pixels, (size_t)width * height, channels,
                          codec);
}

/* Removes the last byte of every pixel in place (the alpha channel). */
static void drop_alpha(uint8_t *pixels, size_t n_pixels,
                       uint32_t color_channels)
{
    const uint8_t *src = pixels;
    uint8_t *dst = pixels;
    for (size_t i = 0; i < n_pixels; i++) {
        for (uint32_t c = 0; c < color_channels; c++) dst[c] = src[c];
        src += color_channels + 1;
        dst += color_channels;
    }
}

/* The decoders fill *out with the header's size and colour, and with the
 * pixels unless header_only. */
static dg_status decode_png(const void *data, size_t size, bool header_only,
                            dg_decoded_image *out)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&png, data, size))
        return dg_fail(DG_E_FORMAT, "PNG: %s", png.message);
    /* Most 16-bit files without gamma chunks hold sRGB values; libpng would
     * otherwise take them as linear light and brighten them. */
    png.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    uint32_t color_channels = (png.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    if (header_only) {
        png_image_free(&png);
        DG_TRY(check_sides("PNG", png.width, png.height));
        *out = (dg_decoded_image){NULL, png.width, png.height, color_channels};
        return DG_OK;
    }
    int has_alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    /* Alpha is read and then dropped here: without it in the output format
     * libpng would composite the colours onto black instead. */
    png.format = (color_channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY) |
                 (has_alpha ? PNG_FORMAT_FLAG_ALPHA : 0);
    uint32_t stored_channels = color_channels + (has_alpha ? 1 : 0);
    uint8_t *pixels;
    dg_status s = alloc_decoded("PNG", png.width, png.height,
                                stored_channels, &pixels);
    if (s != DG_OK) {
        png_image_free(&png);
        return s;
    }
    if (!png_image_finish_read(&png, NULL, pixels,
                               (png_int_32)(png.width * stored_channels),
                               NULL)) {
        free(pixels);
        return dg_fail(DG_E_FORMAT, "PNG: %s", png.message);
    }
    if (has_alpha)
        drop_alpha(pixels, (size_t)png.width * png.height, color_channels);
    *out = (dg_decoded_image){pixels, png.width, png.height, color_channels};
    return DG_OK;
}

static dg_status jpeg_fail(tjhandle tj)
{
    return dg_fail(DG_E_FORMAT, "JPEG: %s%s", tjGetErrorStr2(tj),
                   tjGetErrorCode(tj) == TJERR_WARNING ? " (corrupt data)"
                                                       : "");
}

static dg_status decode_jpeg(const void *data, size_t size, bool header_only,
                             dg_decoded_image *out)
{
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return dg_fail(DG_E_NOMEM, "JPEG: %s", tjGetErrorStr2(NULL));
    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    uint8_t *pixels = NULL;
    dg_status s = DG_OK;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &width, &height,
                            &subsampling, &colorspace) != 0) {
        s = jpeg_fail(tj);
        goto out;
    }
    /* TurboJPEG 2.1 reports success without touching its outputs when the
     * data ends before the frame header (it reads it as tables only). */
    if (width <= 0 || height <= 0) {
        s = dg_fail(DG_E_FORMAT, "JPEG: no frame header in %zu bytes", size);
        goto out;
    }
    if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
        s = dg_fail(DG_E_UNSUPPORTED, "JPEG: CMYK images are not supported");
        goto out;
    }
    uint32_t channels = colorspace == TJCS_GRAY ? 1 : 3;
    if (header_only) {
        s = check_sides("JPEG", (uint32_t)width, (uint32_t)height);
        if (s == DG_OK)
            *out = (dg_decoded_image){NULL, (uint32_t)width, (uint32_t)height,
                                      channels};
        goto out;
    }
    s = alloc_decoded("JPEG", (uint32_t)width, (uint32_t)height, channels,
                      &pixels);
    if (s != DG_OK) goto out;
    /* Warnings mean the pixels may be partly made up (a truncated file is
     * padded with gray), so they fail the decode like errors do; the scan
     * limit guards against progressive files built to take forever. */
    int flags = TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
    if (tjDecompress2(tj, data, (unsigned long)size, pixels, width, 0, height,
                      channels == 1 ? TJPF_GRAY : TJPF_RGB, flags) != 0) {
        s = jpeg_fail(tj);
        free(pixels);
        goto out;
    }
    *out = (dg_decoded_image){pixels, (uint32_t)width, (uint32_t)height,
                              channels};
out:
    tjDestroy(tj);
    return s;
}

static dg_status decode_encoded(const void *data, size_t size,
                                bool header_only, dg_decoded_image *out)
{
    static const uint8_t png_signature[8] = {0x89, 'P',  'N',  'G',
                                             '\r', '\n', 0x1a, '\n'};
    static const uint8_t jpeg_signature[3] = {0xff, 0xd8, 0xff};
    memset(out, 0, sizeof *out);
    if (size >= sizeof png_signature &&
        memcmp(data, png_signature, sizeof png_signature) == 0)
        return decode_png(data, size, header_only, out);
    if (size >= sizeof jpeg_signature &&
        memcmp(data, jpeg_signature, sizeof jpeg_signature) == 0)
        return decode_jpeg(data, size, header_only, out);
    return dg_fail(DG_E_FORMAT, "not a PNG or JPEG (%zu bytes)", size);
}

dg_status dg_image_decode_pixels(const void *data, size_t size,
                                 dg_decoded_image *out)
{
    return decode_encoded(data, size, false, out);
}

dg_status dg_image_read_header(const void *data, size_t size,
                               dg_decoded_image *out)
{
    return decode_encoded(data, size, true, out);
}

static dg_status decode(void *out, const uint8_t *data, size_t len)
{
    return dg_image_decode_pixels(data, len, out);
}

static dg_status read_header(void *out, const uint8_t *data, size_t len)
{
    return dg_image_read_header(data, len, out);
}

dg_status dg_image_decode_file(const char *path, dg_decoded_image *out)
{
    memset(out, 0, sizeof *out);
    return dg_file_parse(path, DG_IO_MAX_FILE_SIZE, NULL, decode, out);
}

dg_status dg_image_read_header_file(const char *path, dg_decoded_image *out)
{
    memset(out, 0, sizeof *out);
    return dg_file_parse(path, DG_IO_MAX_FILE_SIZE, NULL, read_header, out);
}

void dg_decoded_image_release(dg_decoded_image *img)
{
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

int32_t dg_decoded_image_format(const dg_decoded_image *img)
{
    return img->channels == 1 ? DG_PIXEL_GRAY8 : DG_PIXEL_RGB8;
}

uint32_t dg_pixel_format_bytes(int32_t pixel_format)
{
    switch (pixel_format) {
    case DG_PIXEL_GRAY8: return 1;
    case DG_PIXEL_RGB8: return 3;
    case DG_PIXEL_RGBA8: return 4;
    default: return 0;
    }
}

dg_status dg_pixels_check(uint32_t width, uint32_t height, size_t stride,
                          int32_t pixel_format)
{
    uint32_t bpp = dg_pixel_format_bytes(pixel_format);
    if (bpp == 0)
        return dg_fail(DG_E_INVALID_ARG, "unknown pixel format %d",
                       pixel_format);
    if (width == 0 || height == 0)
        return dg_fail(DG_E_INVALID_ARG, "image of %ux%u pixels", width,
                       height);
    size_t row = (size_t)width * bpp;
    if (stride < row)
        return dg_fail(DG_E_INVALID_ARG,
                       "stride %zu is less than a row of %u pixels of %u "
                       "bytes",
                       stride, width, bpp);
    if (stride > (SIZE_MAX - row) / height)
        return dg_fail(DG_E_INVALID_ARG, "stride %zu x %u rows overflows",
                       stride, height);
    return DG_OK;
}

/* Writes plane `c` of the image converted to `channels`, at source size.
 * For gray to RGB only plane 0 is asked for; the caller replicates it. */
static void extract_plane(const uint8_t *pixels, uint32_t width,
                          uint32_t height, size_t stride, uint32_t bpp,
                          uint32_t channels, uint32_t c, uint8_t *plane)
{
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *row = pixels + (size_t)y * stride;
        uint8_t *dst = plane + (size_t)y * width;
        if (channels == 1 && bpp >= 3) {
            /* ITU-R BT.601 luma, in integers so every platform rounds the
             * same way. */
            for (uint32_t x = 0; x < width; x++, row += bpp)
                dst[x] = (uint8_t)((299u * row[0] + 587u * row[1] +
                                    114u * row[2] + 500u) / 1000u);
        } else {
            uint32_t src_c = bpp == 1 ? 0 : c;
            for (uint32_t x = 0; x < width; x++)
                dst[x] = row[(size_t)x * bpp + src_c];
        }
    }
}

/* Bilinear weights in fixed point, as OpenCV does for 8-bit images: exact
 * for the common ratios and the same result on every platform. */
enum { WEIGHT_BITS = 11, WEIGHT_ONE = 1 << WEIGHT_BITS };

/* The two source samples an output coordinate reads, and the weight of the
 * second one. */
typedef struct bilinear_tap {
    uint32_t i0, i1, w1;
} bilinear_tap;

/* Pixel centres aligned: output d sits at source (d + 0.5) * ratio - 0.5,
 * clamped to the edge samples. */
static bilinear_tap tap_for(uint32_t d, double ratio, uint32_t src_n)
{
    double s = ((double)d + 0.5) * ratio - 0.5;
    if (s <= 0.0) return (bilinear_tap){0, 0, 0};
    uint32_t i0 = (uint32_t)s;
    if (i0 >= src_n - 1) return (bilinear_tap){src_n - 1, src_n - 1, 0};
    uint32_t w1 = (uint32_t)lround((s - i0) * WEIGHT_ONE);
    return (bilinear_tap){i0, i0 + 1, w1};
}

static void resize_plane(const uint8_t *src, uint32_t src_w, uint32_t src_h,
                         const bilinear_tap *x_taps, uint8_t *dst,
                         uint32_t dst_w, uint32_t dst_h)
{
    const uint32_t half = 1u << (2 * WEIGHT_BITS - 1);
    double y_ratio = (double)src_h / dst_h;
    for (uint32_t dy = 0; dy < dst_h; dy++) {
        bilinear_tap ty = tap_for(dy, y_ratio, src_h);
        const uint8_t *r0 = src + (size_t)ty.i0 * src_w;
        const uint8_t *r1 = src + (size_t)ty.i1 * src_w;
        uint8_t *out = dst + (size_t)dy * dst_w;
        for (uint32_t dx = 0; dx < dst_w; dx++) {
            bilinear_tap tx = x_taps[dx];
            uint32_t top = r0[tx.i0] * (WEIGHT_ONE - tx.w1) + r0[tx.i1] * tx.w1;
            uint32_t bottom =
                r1[tx.i0] * (WEIGHT_ONE - tx.w1) + r1[tx.i1] * tx.w1;
            out[dx] = (uint8_t)((top * (WEIGHT_ONE - ty.w1) + bottom * ty.w1 +
                                 half) >>
                                (2 * WEIGHT_BITS));
        }
    }
}

dg_status dg_pixels_to_u8_chw(const uint8_t *pixels, uint32_t width,
                              uint32_t height, size_t stride,
                              int32_t pixel_format, uint32_t channels,
                              uint32_t out_height, uint32_t out_width,
                              uint8_t *out)
{
    uint32_t bpp = dg_pixel_format_bytes(pixel_format);
    size_t out_plane = (size_t)out_width * out_height;
    /* Gray to RGB replicates one plane rather than resizing it thrice. */
    uint32_t computed = channels == 3 && bpp == 1 ? 1 : channels;
    int same_size = width == out_width && height == out_height;
    uint8_t *plane = NULL;
    bilinear_tap *x_taps = NULL;
    if (!same_size) {
        DG_TRY(dg_alloc_array((void **)&plane, width, height,
                              "image resize buffer"));
        dg_status s = dg_alloc_array((void **)&x_taps, out_width,
                                     sizeof *x_taps, "image resize taps");
        if (s != DG_OK) {
            free(plane);
            return s;
        }
        double x_ratio = (double)width / out_width;
        for (uint32_t dx = 0; dx < out_width; dx++)
            x_taps[dx] = tap_for(dx, x_ratio, width);
    }
    for (uint32_t c = 0; c < computed; c++) {
        uint8_t *dst = out + c * out_plane;
        if (same_size) {
            extract_plane(pixels, width, height, stride, bpp, channels, c,
                          dst);
        } else {
            extract_plane(pixels, width, height, stride, bpp, channels, c,
                          plane);
            resize_plane(plane, width, height, x_taps, dst, out_width,
                         out_height);
        }
    }
    for (uint32_t c = computed; c < channels; c++)
        memcpy(out + c * out_plane, out, out_plane);
    free(plane);
    free(x_taps);
    return DG_OK;
}

void dg_u8_chw_to_input(const dg_preprocess *pre, const uint8_t *chw,
                        float *out)
{
    size_t plane = (size_t)pre->height * pre->width;
    for (uint32_t c = 0; c < pre->channels; c++) {
        /* 256 possible inputs: compute each once. */
        float table[256];
        for (int v = 0; v < 256; v++)
            table[v] = ((float)v * pre->scale - pre->mean[c]) / pre->std[c];
        const uint8_t *src = chw + c * plane;
        float *dst = out + c * plane;
        for (size_t i = 0; i < plane; i++) dst[i] = table[src[i]];
    }
}

dg_status dg_pixels_to_input(const dg_preprocess *pre, const uint8_t *pixels,
                             uint32_t width, uint32_t height, size_t stride,
                             int32_t pixel_format, float *out)
{
    uint8_t *chw;
    DG_TRY(dg_alloc_array((void **)&chw,
                          (size_t)pre->channels * pre->height, pre->width,
                          "preprocessed pixels"));
    dg_status s = dg_pixels_to_u8_chw(pixels, width, height, stride,
                                      pixel_format, pre->channels,
                                      pre->height, pre->width, chw);
    if (s == DG_OK) dg_u8_chw_to_input(pre, chw, out);
    free(chw);
    return s;
}
