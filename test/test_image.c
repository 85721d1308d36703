/* test_image.c - PNG and JPEG decoding, channel conversion, bilinear resize
 * and preprocessing.
 *
 * Images are encoded here with libpng and TurboJPEG from known patterns, so
 * every expectation comes from the pattern (or from a value worked out by
 * hand in a comment), never from the library's own output. */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#include "core/rng.h"
#include "io/image.h"
#include "suite.h"

/* ---------------------------------------------------------------------- */
/* Fixtures                                                               */
/* ---------------------------------------------------------------------- */

/* A busy pattern: neighbouring values differ, so a swapped channel, row or
 * column shows. */
static uint8_t pattern(uint32_t x, uint32_t y, uint32_t c)
{
    return (uint8_t)(x * 37u + y * 91u + c * 53u + 7u);
}

/* A smooth pattern that JPEG at quality 100 keeps within a few levels. */
static uint8_t gradient(uint32_t x, uint32_t y, uint32_t c)
{
    return (uint8_t)(20u + 8u * x + 5u * y + 30u * c);
}

static uint8_t *make_pixels(uint32_t w, uint32_t h, uint32_t channels,
                            uint8_t (*value)(uint32_t, uint32_t, uint32_t))
{
    uint8_t *p = malloc((size_t)w * h * channels);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (uint32_t c = 0; c < channels; c++)
                p[((size_t)y * w + x) * channels + c] = value(x, y, c);
    return p;
}

/* Encodes with libpng's simplified writer.  `buffer` holds bytes, or
 * uint16 values for PNG_FORMAT_FLAG_LINEAR formats. */
static uint8_t *encode_png(uint32_t format, uint32_t w, uint32_t h,
                           const void *buffer, const void *colormap,
                           uint32_t colormap_entries, size_t *len)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = w;
    img.height = h;
    img.format = format;
    img.colormap_entries = colormap_entries;
    png_alloc_size_t size = 0;
    ck_assert_msg(png_image_write_to_memory(&img, NULL, &size, 0, buffer, 0,
                                            colormap),
                  "png size: %s", img.message);
    uint8_t *out = malloc(size);
    ck_assert_msg(png_image_write_to_memory(&img, out, &size, 0, buffer, 0,
                                            colormap),
                  "png write: %s", img.message);
    *len = size;
    return out;
}

typedef struct membuf {
    uint8_t *data;
    size_t len;
} membuf;

static void membuf_write(png_structp png, png_bytep p, size_t n)
{
    membuf *b = png_get_io_ptr(png);
    b->data = realloc(b->data, b->len + n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void membuf_flush(png_structp png) { (void)png; }

/* The low-level writer, for what the simplified one cannot produce:
 * interlacing, and 16-bit samples without a gAMA chunk.  `rows` are in PNG
 * byte order (16-bit samples big-endian). */
static uint8_t *encode_png_raw(int color_type, int bit_depth, int interlace,
                               uint32_t w, uint32_t h, const uint8_t *rows,
                               size_t row_bytes, size_t *len)
{
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    membuf buf = {0};
    png_bytep *row_ptrs = malloc(h * sizeof *row_ptrs);
    for (uint32_t y = 0; y < h; y++)
        row_ptrs[y] = (png_bytep)rows + y * row_bytes;
    if (setjmp(png_jmpbuf(png))) ck_abort_msg("libpng could not write");
    png_set_write_fn(png, &buf, membuf_write, membuf_flush);
    png_set_IHDR(png, info, w, h, bit_depth, color_type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, row_ptrs);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row_ptrs);
    *len = buf.len;
    return buf.data;
}

static uint8_t *encode_jpeg(const uint8_t *pixels, uint32_t w, uint32_t h,
                            int pixel_format, int subsampling, size_t *len)
{
    tjhandle tj = tjInitCompress();
    ck_assert(tj != NULL);
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    ck_assert_msg(tjCompress2(tj, pixels, (int)w, 0, (int)h, pixel_format,
                              &jpeg, &size, subsampling, 100,
                              TJFLAG_ACCURATEDCT) == 0,
                  "tjCompress2: %s", tjGetErrorStr2(tj));
    uint8_t *out = malloc(size);
    memcpy(out, jpeg, size);
    tjFree(jpeg);
    tjDestroy(tj);
    *len = size;
    return out;
}

static dg_decoded_image decode_ok(const uint8_t *data, size_t len)
{
    dg_decoded_image img;
    dg_status s = dg_image_decode_pixels(data, len, &img);
    ck_assert_msg(s == DG_OK, "decode: %s", dg_last_error_detail());
    return img;
}

/* Compares a decoded image with value() on `channels` channels; returns the
 * largest difference. */
static int max_difference(const dg_decoded_image *img, uint32_t w,
                          uint32_t h, uint32_t channels,
                          uint8_t (*value)(uint32_t, uint32_t, uint32_t))
{
    ck_assert_uint_eq(img->width, w);
    ck_assert_uint_eq(img->height, h);
    ck_assert_uint_eq(img->channels, channels);
    int worst = 0;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (uint32_t c = 0; c < channels; c++) {
                int got = img->pixels[((size_t)y * w + x) * channels + c];
                int d = abs(got - value(x, y, c));
                if (d > worst) worst = d;
            }
    return worst;
}

static dg_model *model_with(uint32_t c, uint32_t h, uint32_t w,
                            const float mean[3], const float std[3])
{
    dg_model *m = NULL;
    ck_assert_msg(dg_model_create("flatten,fc2", c, h, w, 1, &m) == DG_OK,
                  "%s", dg_last_error_detail());
    dg_preprocess pre;
    ck_assert(dg_preprocess_init(&pre, sizeof pre, c, h, w) == DG_OK);
    for (int k = 0; k < 3; k++) {
        pre.mean[k] = mean[k];
        pre.std[k] = std[k];
    }
    ck_assert_msg(dg_model_set_preprocess(m, &pre) == DG_OK, "%s",
                  dg_last_error_detail());
    return m;
}

static const float zero3[3] = {0, 0, 0}, one3[3] = {1, 1, 1};

enum { W = 13, H = 7 };

/* ---------------------------------------------------------------------- */
/* PNG                                                                    */
/* ---------------------------------------------------------------------- */

START_TEST(png_gray_and_rgb_exact)
{
    static const struct {
        uint32_t format, channels;
    } cases[] = {{PNG_FORMAT_GRAY, 1}, {PNG_FORMAT_RGB, 3}};
    for (size_t k = 0; k < 2; k++) {
        uint8_t *px = make_pixels(W, H, cases[k].channels, pattern);
        size_t len;
        uint8_t *png = encode_png(cases[k].format, W, H, px, NULL, 0, &len);
        dg_decoded_image img = decode_ok(png, len);
        ck_assert_int_eq(max_difference(&img, W, H, cases[k].channels,
                                         pattern),
                         0);
        dg_decoded_image_release(&img);
        free(png);
        free(px);
    }
}
END_TEST

/* Alpha is dropped, not composited: fully transparent pixels keep their
 * colour. */
static uint8_t alpha_of(uint32_t x, uint32_t y) { return (x + y) % 3 * 127; }

START_TEST(png_alpha_dropped)
{
    uint8_t rgba[W * H * 4], ga[W * H * 2];
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++) {
            for (uint32_t c = 0; c < 3; c++)
                rgba[(y * W + x) * 4 + c] = pattern(x, y, c);
            rgba[(y * W + x) * 4 + 3] = alpha_of(x, y);
            ga[(y * W + x) * 2] = pattern(x, y, 0);
            ga[(y * W + x) * 2 + 1] = alpha_of(x, y);
        }
    size_t len;
    uint8_t *png = encode_png(PNG_FORMAT_RGBA, W, H, rgba, NULL, 0, &len);
    dg_decoded_image img = decode_ok(png, len);
    ck_assert_int_eq(max_difference(&img, W, H, 3, pattern), 0);
    dg_decoded_image_release(&img);
    free(png);

    png = encode_png(PNG_FORMAT_GA, W, H, ga, NULL, 0, &len);
    img = decode_ok(png, len);
    ck_assert_int_eq(max_difference(&img, W, H, 1, pattern), 0);
    dg_decoded_image_release(&img);
    free(png);
}
END_TEST

static const uint8_t palette[4][3] = {
    {255, 0, 0}, {0, 200, 10}, {12, 34, 56}, {250, 250, 250}};

static uint8_t palette_value(uint32_t x, uint32_t y, uint32_t c)
{
    return palette[(x * 3 + y) % 4][c];
}

START_TEST(png_palette)
{
    uint8_t index[W * H];
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++) index[y * W + x] = (x * 3 + y) % 4;
    size_t len;
    uint8_t *png =
        encode_png(PNG_FORMAT_RGB_COLORMAP, W, H, index, palette, 4, &len);
    ck_assert_int_eq(png[25], 3); /* IHDR colour type: a palette file */
    dg_decoded_image img = decode_ok(png, len);
    ck_assert_int_eq(max_difference(&img, W, H, 3, palette_value), 0);
    dg_decoded_image_release(&img);
    free(png);
}
END_TEST

/* The simplified writer stores linear 16-bit data with a linear gAMA
 * chunk; reading it as 8-bit must encode it for display, which libpng's
 * gamma tables do with the power law 1/2.2 (sRGB's nominal gamma). */
static uint16_t linear_value(uint32_t x, uint32_t y, uint32_t c)
{
    return (uint16_t)((x * 5041u + y * 9001u + c * 20011u) % 65536u);
}

static uint8_t display_of_linear(uint32_t x, uint32_t y, uint32_t c)
{
    return (uint8_t)lround(255.0 * pow(linear_value(x, y, c) / 65535.0,
                                       1 / 2.2));
}

START_TEST(png_16bit_linear)
{
    static const struct {
        uint32_t format, channels;
    } cases[] = {{PNG_FORMAT_LINEAR_Y, 1}, {PNG_FORMAT_LINEAR_RGB, 3}};
    for (size_t k = 0; k < 2; k++) {
        uint32_t ch = cases[k].channels;
        uint16_t *px = malloc(sizeof *px * W * H * ch);
        for (uint32_t y = 0; y < H; y++)
            for (uint32_t x = 0; x < W; x++)
                for (uint32_t c = 0; c < ch; c++)
                    px[(y * W + x) * ch + c] = linear_value(x, y, c);
        size_t len;
        uint8_t *png = encode_png(cases[k].format, W, H, px, NULL, 0, &len);
        ck_assert_int_eq(png[24], 16); /* IHDR bit depth */
        dg_decoded_image img = decode_ok(png, len);
        ck_assert_int_le(max_difference(&img, W, H, ch, display_of_linear), 1);
        dg_decoded_image_release(&img);
        free(png);
        free(px);
    }
}
END_TEST

/* A 16-bit file without gamma information holds sRGB values: v / 257. */
START_TEST(png_16bit_without_gamma)
{
    uint8_t rows[H][W * 2];
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++) {
            uint16_t v = (uint16_t)(pattern(x, y, 0) * 257u);
            rows[y][2 * x] = (uint8_t)(v >> 8);
            rows[y][2 * x + 1] = (uint8_t)v;
        }
    size_t len;
    uint8_t *png = encode_png_raw(PNG_COLOR_TYPE_GRAY, 16,
                                  PNG_INTERLACE_NONE, W, H, &rows[0][0],
                                  sizeof rows[0], &len);
    dg_decoded_image img = decode_ok(png, len);
    ck_assert_int_eq(max_difference(&img, W, H, 1, pattern), 0);
    dg_decoded_image_release(&img);
    free(png);
}
END_TEST

START_TEST(png_interlaced)
{
    enum { IW = 17, IH = 11 };
    uint8_t *px = make_pixels(IW, IH, 3, pattern);
    size_t len;
    uint8_t *png = encode_png_raw(PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7,
                                  IW, IH, px, IW * 3, &len);
    ck_assert_int_eq(png[28], 1); /* IHDR interlace method: Adam7 */
    dg_decoded_image img = decode_ok(png, len);
    ck_assert_int_eq(max_difference(&img, IW, IH, 3, pattern), 0);
    dg_decoded_image_release(&img);
    free(png);
    free(px);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* JPEG                                                                   */
/* ---------------------------------------------------------------------- */

START_TEST(jpeg_gray_and_rgb)
{
    static const struct {
        int pixel_format, subsampling;
        uint32_t channels;
        int tolerance;
    } cases[] = {{TJPF_GRAY, TJSAMP_GRAY, 1, 2},
                 {TJPF_RGB, TJSAMP_444, 3, 3},
                 {TJPF_RGB, TJSAMP_420, 3, 8}};
    for (size_t k = 0; k < 3; k++) {
        uint8_t *px = make_pixels(W, H, cases[k].channels, gradient);
        size_t len;
        uint8_t *jpeg = encode_jpeg(px, W, H, cases[k].pixel_format,
                                    cases[k].subsampling, &len);
        dg_decoded_image img = decode_ok(jpeg, len);
        int worst = max_difference(&img, W, H, cases[k].channels, gradient);
        ck_assert_msg(worst <= cases[k].tolerance, "case %zu: off by %d", k,
                      worst);
        dg_decoded_image_release(&img);
        free(jpeg);
        free(px);
    }
}
END_TEST

START_TEST(jpeg_cmyk_unsupported)
{
    uint8_t *px = make_pixels(W, H, 4, gradient);
    size_t len;
    uint8_t *jpeg = encode_jpeg(px, W, H, TJPF_CMYK, TJSAMP_444, &len);
    dg_decoded_image img;
    ck_assert_int_eq(dg_image_decode_pixels(jpeg, len, &img),
                     DG_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "CMYK"));
    free(jpeg);
    free(px);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Corrupt input                                                          */
/* ---------------------------------------------------------------------- */

/* Decoding must fail with DG_E_FORMAT and a detail, or succeed with a sane
 * image; never crash (Check runs each test in its own process, and the
 * valgrind run catches bad reads). */
static int decode_outcome(const uint8_t *data, size_t len)
{
    dg_decoded_image img;
    dg_status s = dg_image_decode_pixels(data, len, &img);
    if (s == DG_OK) {
        ck_assert(img.pixels && img.width && img.height);
        dg_decoded_image_release(&img);
        return 1;
    }
    ck_assert_msg(s == DG_E_FORMAT, "status %d: %s", s,
                  dg_last_error_detail());
    ck_assert(img.pixels == NULL);
    ck_assert_msg(strlen(dg_last_error_detail()) > 0, "no detail");
    return 0;
}

static uint8_t *sample_png(size_t *len)
{
    uint8_t *px = make_pixels(W, H, 3, pattern);
    uint8_t *png = encode_png(PNG_FORMAT_RGB, W, H, px, NULL, 0, len);
    free(px);
    return png;
}

static uint8_t *sample_jpeg(size_t *len)
{
    uint8_t *px = make_pixels(W, H, 3, gradient);
    uint8_t *jpeg = encode_jpeg(px, W, H, TJPF_RGB, TJSAMP_420, len);
    free(px);
    return jpeg;
}

/* Any cut that loses pixel data fails.  libpng stops reading after the
 * image data, so a PNG missing only its 12-byte IEND chunk may decode. */
START_TEST(truncated_images_fail)
{
    uint8_t *(*samples[2])(size_t *) = {sample_png, sample_jpeg};
    const size_t unread_tail[2] = {12, 0};
    for (int k = 0; k < 2; k++) {
        size_t len;
        uint8_t *data = samples[k](&len);
        for (size_t cut = 0; cut < len - unread_tail[k]; cut++) {
            /* A copy of exactly `cut` bytes, so reading past it is caught. */
            uint8_t *part = malloc(cut ? cut : 1);
            memcpy(part, data, cut);
            ck_assert_msg(decode_outcome(part, cut) == 0,
                          "%s truncated to %zu of %zu bytes decoded",
                          k ? "JPEG" : "PNG", cut, len);
            free(part);
        }
        free(data);
    }
}
END_TEST

START_TEST(flipped_bytes_never_crash)
{
    uint8_t *(*samples[2])(size_t *) = {sample_png, sample_jpeg};
    for (int k = 0; k < 2; k++) {
        size_t len;
        uint8_t *data = samples[k](&len);
        for (size_t i = 0; i < len; i++) {
            data[i] ^= 0x5a;
            decode_outcome(data, len);
            data[i] ^= 0x5a;
        }
        free(data);
    }
}
END_TEST

START_TEST(random_bytes_fail)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n',
                                       0x1a, '\n'};
    static const uint8_t jpeg_sig[3] = {0xff, 0xd8, 0xff};
    dg_rng rng;
    dg_rng_seed(&rng, 42);
    uint8_t buf[600];
    for (int trial = 0; trial < 600; trial++) {
        size_t len = dg_rng_below(&rng, sizeof buf);
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)dg_rng_next(&rng);
        if (trial % 3 == 1 && len >= 8) memcpy(buf, png_sig, 8);
        if (trial % 3 == 2 && len >= 3) memcpy(buf, jpeg_sig, 3);
        ck_assert_int_eq(decode_outcome(buf, len), 0);
    }
    dg_decoded_image img;
    ck_assert_int_eq(dg_image_decode_pixels(buf, 0, &img), DG_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "not a PNG or JPEG"));
    ck_assert_int_eq(dg_image_decode_pixels("GIF89a..", 8, &img),
                     DG_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "not a PNG or JPEG"));
}
END_TEST

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends a chunk with a correct CRC; returns the new length. */
static size_t put_chunk(uint8_t *out, size_t at, const char *type,
                        const uint8_t *data, uint32_t n)
{
    put_be32(out + at, n);
    memcpy(out + at + 4, type, 4);
    if (n) memcpy(out + at + 8, data, n);
    put_be32(out + at + 8 + n, (uint32_t)crc32(0, out + at + 4, n + 4));
    return at + 12 + n;
}

START_TEST(huge_declared_sizes_fail)
{
    /* A valid PNG header declaring 100000 x 100000 RGB pixels (30 GB). */
    uint8_t png[128] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13] = {0};
    put_be32(ihdr, 100000);
    put_be32(ihdr + 4, 100000);
    ihdr[8] = 8; /* bit depth */
    ihdr[9] = 2; /* RGB */
    size_t len = put_chunk(png, 8, "IHDR", ihdr, 13);
    const uint8_t idat[4] = {0x78, 0x9c, 0x03, 0x00};
    len = put_chunk(png, len, "IDAT", idat, 4);
    len = put_chunk(png, len, "IEND", NULL, 0);
    dg_decoded_image img;
    ck_assert_int_eq(dg_image_decode_pixels(png, len, &img), DG_E_FORMAT);
    ck_assert_msg(strstr(dg_last_error_detail(), "100000x100000"), "%s",
                  dg_last_error_detail());

    /* A JPEG whose frame header is patched to 60000 x 60000. */
    uint8_t *jpeg = sample_jpeg(&len);
    size_t sof = 2;
    while (sof + 9 < len && !(jpeg[sof] == 0xff && jpeg[sof + 1] == 0xc0))
        sof++;
    ck_assert_msg(sof + 9 < len, "no SOF0 marker");
    jpeg[sof + 5] = 60000 >> 8;
    jpeg[sof + 6] = 60000 & 0xff;
    jpeg[sof + 7] = 60000 >> 8;
    jpeg[sof + 8] = 60000 & 0xff;
    ck_assert_int_eq(dg_image_decode_pixels(jpeg, len, &img), DG_E_FORMAT);
    ck_assert_msg(strstr(dg_last_error_detail(), "60000x60000"), "%s",
                  dg_last_error_detail());
    free(jpeg);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Conversion and resize                                                  */
/* ---------------------------------------------------------------------- */

static void to_chw(const uint8_t *px, uint32_t w, uint32_t h, size_t stride,
                   int32_t format, uint32_t channels, uint32_t oh,
                   uint32_t ow, uint8_t *out)
{
    ck_assert(dg_pixels_check(w, h, stride, format) == DG_OK);
    dg_status s =
        dg_pixels_to_u8_chw(px, w, h, stride, format, channels, oh, ow, out);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
}

START_TEST(resize_up_by_hand)
{
    /* 2x2 -> 4x4.  Output column d samples source x = (d + 0.5) / 2 - 0.5:
     * -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1); rows alike.
     * Row 0: 0, 25, 75, 100.  Row 3: 200, 160, 80, 40.
     * Row 1 = 0.75 row 0 + 0.25 row 3: 50, 58.75, 76.25, 85.
     * Row 2 = 0.25 row 0 + 0.75 row 3: 150, 126.25, 78.75, 55. */
    const uint8_t src[4] = {0, 100, 200, 40};
    const uint8_t want[16] = {0,   25,  75, 100, 50,  59,  76, 85,
                              150, 126, 79, 55,  200, 160, 80, 40};
    uint8_t out[16];
    to_chw(src, 2, 2, 2, DG_PIXEL_GRAY8, 1, 4, 4, out);
    for (int i = 0; i < 16; i++)
        ck_assert_msg(out[i] == want[i], "pixel %d: %u, want %u", i, out[i],
                      want[i]);
}
END_TEST

START_TEST(resize_down_by_hand)
{
    /* 4x4 -> 2x2 samples source 0.5 and 2.5: the mean of each 2x2 block.
     * (110 + 120 + 150 + 161) / 4 = 135.25. */
    const uint8_t src[16] = {10, 20,  30,  40,  50,  60,  70,  80,
                             90, 100, 110, 120, 130, 140, 150, 161};
    const uint8_t want[4] = {35, 55, 115, 135};
    uint8_t out[4];
    to_chw(src, 4, 4, 4, DG_PIXEL_GRAY8, 1, 2, 2, out);
    ck_assert_mem_eq(out, want, 4);

    /* 3 -> 2 wide: source x 0.25 and 1.75: 0.75*0 + 0.25*100 = 25 and
     * 0.25*100 + 0.75*200 = 175. */
    const uint8_t row[3] = {0, 100, 200};
    const uint8_t want_row[2] = {25, 175};
    to_chw(row, 3, 1, 3, DG_PIXEL_GRAY8, 1, 1, 2, out);
    ck_assert_mem_eq(out, want_row, 2);

    /* 1x1 -> 3x3 repeats the pixel. */
    const uint8_t one = 77;
    uint8_t out9[9];
    to_chw(&one, 1, 1, 1, DG_PIXEL_GRAY8, 1, 3, 3, out9);
    for (int i = 0; i < 9; i++) ck_assert_uint_eq(out9[i], 77);
}
END_TEST

START_TEST(same_size_is_exact)
{
    enum { SW = 31, SH = 17 };
    uint8_t *px = make_pixels(SW, SH, 3, pattern);
    uint8_t *out = malloc(3 * SW * SH);
    to_chw(px, SW, SH, SW * 3, DG_PIXEL_RGB8, 3, SH, SW, out);
    for (uint32_t c = 0; c < 3; c++)
        for (uint32_t y = 0; y < SH; y++)
            for (uint32_t x = 0; x < SW; x++)
                ck_assert_uint_eq(out[(c * SH + y) * SW + x],
                                  pattern(x, y, c));
    free(out);
    free(px);
}
END_TEST

START_TEST(channel_conversion)
{
    /* Luma 0.299 R + 0.587 G + 0.114 B, by hand:
     * red 76.245, green 149.685, blue 29.07, white 255,
     * (10,20,30) 18.15, (100,150,200) 140.75. */
    const uint8_t rgb[6][3] = {{255, 0, 0},     {0, 255, 0},
                               {0, 0, 255},     {255, 255, 255},
                               {10, 20, 30},    {100, 150, 200}};
    const uint8_t luma[6] = {76, 150, 29, 255, 18, 141};
    uint8_t gray[6];
    to_chw(&rgb[0][0], 6, 1, 18, DG_PIXEL_RGB8, 1, 1, 6, gray);
    ck_assert_mem_eq(gray, luma, 6);

    /* RGBA: alpha is ignored, whatever it is; rows padded with junk. */
    uint8_t rgba[2][6 * 4 + 5];
    memset(rgba, 0xee, sizeof rgba);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 6; i++) {
            memcpy(&rgba[r][i * 4], rgb[i], 3);
            rgba[r][i * 4 + 3] = (uint8_t)(i * 40 + r);
        }
    uint8_t gray2[12];
    to_chw(&rgba[0][0], 6, 2, sizeof rgba[0], DG_PIXEL_RGBA8, 1, 2, 6, gray2);
    ck_assert_mem_eq(gray2, luma, 6);
    ck_assert_mem_eq(gray2 + 6, luma, 6);
    uint8_t planes[3 * 12];
    to_chw(&rgba[0][0], 6, 2, sizeof rgba[0], DG_PIXEL_RGBA8, 3, 2, 6,
           planes);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 12; i++)
            ck_assert_uint_eq(planes[c * 12 + i], rgb[i % 6][c]);

    /* Gray to RGB replicates, also through a resize (2x2 -> 4x4 above). */
    const uint8_t src[4] = {0, 100, 200, 40};
    const uint8_t row1[4] = {50, 59, 76, 85};
    uint8_t rgb_out[3 * 16];
    to_chw(src, 2, 2, 2, DG_PIXEL_GRAY8, 3, 4, 4, rgb_out);
    for (int c = 0; c < 3; c++)
        ck_assert_mem_eq(rgb_out + c * 16 + 4, row1, 4);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Public entry points                                                    */
/* ---------------------------------------------------------------------- */

START_TEST(preprocessing_with_mean_and_std)
{
    const float mean[3] = {0.5f, 0.4f, 0.3f}, std[3] = {0.2f, 0.25f, 0.5f};
    dg_model *m = model_with(3, 2, 2, mean, std);
    const uint8_t rgb[2][2][3] = {{{0, 51, 102}, {153, 204, 255}},
                                  {{1, 2, 3}, {250, 128, 64}}};
    float out[12];
    ck_assert_int_eq(dg_image_from_pixels(m, &rgb[0][0][0], 2, 2, 6,
                                          DG_PIXEL_RGB8, out, 12),
                     DG_OK);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 2; x++) {
                double want = (rgb[y][x][c] / 255.0 - mean[c]) / std[c];
                ck_assert_double_eq_tol(out[(c * 2 + y) * 2 + x], want,
                                        1e-5);
            }

    /* Gray 4x4 into the RGB 2x2 model: block means (resize_down_by_hand)
     * replicated, then normalised per channel. */
    const uint8_t gray[16] = {10, 20,  30,  40,  50,  60,  70,  80,
                              90, 100, 110, 120, 130, 140, 150, 161};
    const uint8_t blocks[4] = {35, 55, 115, 135};
    ck_assert_int_eq(dg_image_from_pixels(m, gray, 4, 4, 4, DG_PIXEL_GRAY8,
                                          out, 12),
                     DG_OK);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 4; i++)
            ck_assert_double_eq_tol(out[c * 4 + i],
                                    (blocks[i] / 255.0 - mean[c]) / std[c],
                                    1e-5);
    dg_model_free(m);
}
END_TEST

START_TEST(decode_and_load_file)
{
    dg_model *m = model_with(3, H, W, zero3, one3);
    uint8_t *px = make_pixels(W, H, 3, pattern);
    size_t len;
    uint8_t *png = encode_png(PNG_FORMAT_RGB, W, H, px, NULL, 0, &len);
    float *out = malloc(sizeof *out * 3 * W * H);
    ck_assert_int_eq(dg_image_decode(m, png, len, out, 3 * W * H), DG_OK);
    for (uint32_t c = 0; c < 3; c++)
        for (uint32_t y = 0; y < H; y++)
            for (uint32_t x = 0; x < W; x++)
                ck_assert_double_eq_tol(out[(c * H + y) * W + x],
                                        pattern(x, y, c) / 255.0, 1e-6);

    char path[] = "/tmp/dg_test_imageXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, png, len), (ssize_t)len);
    close(fd);
    memset(out, 0, sizeof *out * 3 * W * H);
    ck_assert_int_eq(dg_image_load_file(m, path, out, 3 * W * H), DG_OK);
    ck_assert_double_eq_tol(out[(2 * H + 3) * W + 5], pattern(5, 3, 2) / 255.0,
                            1e-6);

    /* A corrupt file: the detail names it. */
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, png, len / 2), (ssize_t)(len / 2));
    close(fd);
    ck_assert_int_eq(dg_image_load_file(m, path, out, 3 * W * H),
                     DG_E_FORMAT);
    ck_assert_msg(strstr(dg_last_error_detail(), path), "%s",
                  dg_last_error_detail());
    unlink(path);
    ck_assert_int_eq(dg_image_load_file(m, path, out, 3 * W * H), DG_E_IO);
    ck_assert_int_eq(dg_image_decode(m, png, len / 2, out, 3 * W * H),
                     DG_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "PNG"));
    free(out);
    free(png);
    free(px);
    dg_model_free(m);
}
END_TEST

/* The header alone gives each encoding's size and colour, counting no
 * alpha; what is not an image, or declares an absurd size, fails. */
START_TEST(probe_reads_headers)
{
    static const struct {
        uint32_t png_format, channels;
    } pngs[] = {{PNG_FORMAT_GRAY, 1},
                {PNG_FORMAT_GA, 1},
                {PNG_FORMAT_RGB, 3},
                {PNG_FORMAT_RGBA, 3}};
    for (size_t k = 0; k < 4; k++) {
        uint32_t stored = PNG_IMAGE_PIXEL_CHANNELS(pngs[k].png_format);
        uint8_t *px = make_pixels(W, H, stored, pattern);
        size_t len;
        uint8_t *png =
            encode_png(pngs[k].png_format, W, H, px, NULL, 0, &len);
        dg_image_info info = {.struct_size = sizeof info};
        ck_assert_int_eq(dg_image_probe(png, len, &info), DG_OK);
        ck_assert_uint_eq(info.width, W);
        ck_assert_uint_eq(info.height, H);
        ck_assert_uint_eq(info.channels, pngs[k].channels);
        free(png);
        free(px);
    }
    uint8_t *px = make_pixels(H, W, 1, gradient);
    size_t len;
    uint8_t *jpeg = encode_jpeg(px, H, W, TJPF_GRAY, TJSAMP_GRAY, &len);
    dg_image_info info = {.struct_size = sizeof info};
    ck_assert_int_eq(dg_image_probe(jpeg, len, &info), DG_OK);
    ck_assert_uint_eq(info.width, H);
    ck_assert_uint_eq(info.height, W);
    ck_assert_uint_eq(info.channels, 1);

    ck_assert_int_eq(dg_image_probe("GIF89a", 6, &info), DG_E_FORMAT);
    info.struct_size = 0;
    ck_assert_int_eq(dg_image_probe(jpeg, len, &info), DG_E_ABI);
    info.struct_size = sizeof info;
    ck_assert_int_eq(dg_image_probe(NULL, len, &info), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_image_probe_file("/nonexistent/x.png", &info),
                     DG_E_IO);
    free(jpeg);
    free(px);

    /* 100000 x 100000 in the IHDR: refused without decoding. */
    uint8_t png[64] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13] = {0};
    put_be32(ihdr, 100000);
    put_be32(ihdr + 4, 100000);
    ihdr[8] = 8;
    ihdr[9] = 2;
    len = put_chunk(png, 8, "IHDR", ihdr, 13);
    const uint8_t idat[4] = {0x78, 0x9c, 0x03, 0x00};
    len = put_chunk(png, len, "IDAT", idat, 4);
    len = put_chunk(png, len, "IEND", NULL, 0);
    ck_assert_int_eq(dg_image_probe(png, len, &info), DG_E_FORMAT);
    ck_assert_msg(strstr(dg_last_error_detail(), "100000x100000"), "%s",
                  dg_last_error_detail());
}
END_TEST

START_TEST(arguments_checked)
{
    dg_model *m = model_with(1, 2, 2, zero3, one3);
    const uint8_t px[16] = {0};
    float out[4];
    ck_assert_int_eq(dg_image_from_pixels(NULL, px, 2, 2, 2, DG_PIXEL_GRAY8,
                                          out, 4),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_image_from_pixels(m, NULL, 2, 2, 2, DG_PIXEL_GRAY8,
                                          out, 4),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_image_from_pixels(m, px, 2, 2, 2, DG_PIXEL_GRAY8,
                                          NULL, 4),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_image_from_pixels(m, px, 2, 2, 2, DG_PIXEL_GRAY8,
                                          out, 3),
                     DG_E_SHAPE);
    ck_assert_msg(strstr(dg_last_error_detail(), "out_len is 3") &&
                      strstr(dg_last_error_detail(), "needs 4"),
                  "%s", dg_last_error_detail());
    ck_assert_int_eq(dg_image_from_pixels(m, px, 2, 2, 2, 0, out, 4),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_image_from_pixels(m, px, 2, 2, 5, DG_PIXEL_RGB8, out,
                                          4),
                     DG_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "stride"));
    ck_assert_int_eq(dg_image_from_pixels(m, px, 0, 2, 2, DG_PIXEL_GRAY8,
                                          out, 4),
                     DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_image_decode(m, NULL, 4, out, 4), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_image_decode(m, px, 16, out, 5), DG_E_SHAPE);
    ck_assert_int_eq(dg_image_decode(m, px, 16, out, 4), DG_E_FORMAT);
    ck_assert_int_eq(dg_image_load_file(m, NULL, out, 4), DG_E_INVALID_ARG);
    dg_model_free(m);
}
END_TEST

static Suite *image_suite(void)
{
    Suite *s = suite_create("image");
    TCase *png = tcase_create("png");
    tcase_add_test(png, png_gray_and_rgb_exact);
    tcase_add_test(png, png_alpha_dropped);
    tcase_add_test(png, png_palette);
    tcase_add_test(png, png_16bit_linear);
    tcase_add_test(png, png_16bit_without_gamma);
    tcase_add_test(png, png_interlaced);
    suite_add_tcase(s, png);
    TCase *jpeg = tcase_create("jpeg");
    tcase_add_test(jpeg, jpeg_gray_and_rgb);
    tcase_add_test(jpeg, jpeg_cmyk_unsupported);
    suite_add_tcase(s, jpeg);
    TCase *corrupt = tcase_create("corrupt");
    tcase_add_test(corrupt, truncated_images_fail);
    tcase_add_test(corrupt, flipped_bytes_never_crash);
    tcase_add_test(corrupt, random_bytes_fail);
    tcase_add_test(corrupt, huge_declared_sizes_fail);
    suite_add_tcase(s, corrupt);
    TCase *pipeline = tcase_create("pipeline");
    tcase_add_test(pipeline, resize_up_by_hand);
    tcase_add_test(pipeline, resize_down_by_hand);
    tcase_add_test(pipeline, same_size_is_exact);
    tcase_add_test(pipeline, channel_conversion);
    suite_add_tcase(s, pipeline);
    TCase *api = tcase_create("api");
    tcase_add_test(api, preprocessing_with_mean_and_std);
    tcase_add_test(api, decode_and_load_file);
    tcase_add_test(api, probe_reads_headers);
    tcase_add_test(api, arguments_checked);
    suite_add_tcase(s, api);
    return s;
}

int main(void)
{
    return run_suite(image_suite(), CK_FORK);
}
