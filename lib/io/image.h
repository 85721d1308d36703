/* image.h - PNG and JPEG decoding, and the one pixel pipeline every image
 * takes into a model: channel conversion, bilinear resize, normalisation.
 *
 * Images and data sets share the pipeline in two steps: 8-bit pixels are
 * first converted and resized to planar 8-bit CHW (what a dg_dataset
 * stores), then scaled and normalised to floats.  A decoded file therefore
 * gives the model exactly the input that the same file gives through an
 * image-folder data set. */
#ifndef DG_IO_IMAGE_H
#define DG_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Largest width or height accepted from an encoded image, so that a few
 * bytes of header cannot ask for gigabytes of pixels. */
#define DG_IMAGE_MAX_SIDE 16384u

/* Largest file the I/O layer reads whole (images, IDX files). */
#define DG_IO_MAX_FILE_SIZE ((size_t)1 << 30)

/* A decoded image: interleaved 8-bit pixels, rows packed (stride is
 * width * channels).  Alpha has been dropped. */
typedef struct dg_decoded_image {
    uint8_t *pixels; /* malloc'd; release with dg_decoded_image_release */
    uint32_t width, height;
    uint32_t channels; /* 1 (gray) or 3 (RGB) */
} dg_decoded_image;

/* Decodes a PNG or JPEG held in memory, detected by its signature.  Gray
 * images stay gray, everything else becomes RGB.  Fails with DG_E_FORMAT
 * (and the codec's message) on anything else, corrupt or truncated data, or
 * an image larger than DG_IMAGE_MAX_SIDE on a side; DG_E_UNSUPPORTED for
 * CMYK JPEGs. */
dg_status dg_image_decode_pixels(const void *data, size_t size,
                                 dg_decoded_image *out);
/* Reads a file (at most DG_IO_MAX_FILE_SIZE bytes) and decodes it; a
 * failure's detail names the file. */
dg_status dg_image_decode_file(const char *path, dg_decoded_image *out);
/* The same checks and *out as decoding, from the header alone: pixels
 * stays NULL and nothing is allocated. */
dg_status dg_image_read_header(const void *data, size_t size,
                               dg_decoded_image *out);
dg_status dg_image_read_header_file(const char *path, dg_decoded_image *out);
void dg_decoded_image_release(dg_decoded_image *img);

/* DG_PIXEL_* of a decoded image. */
int32_t dg_decoded_image_format(const dg_decoded_image *img);

/* Bytes per pixel of a DG_PIXEL_* format, 0 if the format is unknown. */
uint32_t dg_pixel_format_bytes(int32_t pixel_format);

/* Checks a caller's description of a pixel buffer: known format, non-zero
 * sides, rows of at least width pixels.  DG_E_INVALID_ARG otherwise. */
dg_status dg_pixels_check(uint32_t width, uint32_t height, size_t stride,
                          int32_t pixel_format);

/* Converts checked pixels to `channels` (1 or 3) and resizes them to
 * out_height x out_width, writing planar CHW bytes to `out`.  RGB becomes
 * gray by ITU-R 601 luma, gray becomes RGB by replication, alpha is
 * dropped.  The resize is bilinear with pixel centres aligned (OpenCV's
 * INTER_LINEAR, no antialiasing) and the identity when sizes match. */
dg_status dg_pixels_to_u8_chw(const uint8_t *pixels, uint32_t width,
                              uint32_t height, size_t stride,
                              int32_t pixel_format, uint32_t channels,
                              uint32_t out_height, uint32_t out_width,
                              uint8_t *out);

/* out[c][i] = (chw[c][i] * scale - mean[c]) / std[c] for the
 * pre->channels x pre->height x pre->width bytes at `chw`. */
void dg_u8_chw_to_input(const dg_preprocess *pre, const uint8_t *chw,
                        float *out);

/* dg_pixels_to_u8_chw to the shape of `pre`, then dg_u8_chw_to_input:
 * out receives pre->channels * pre->height * pre->width floats. */
dg_status dg_pixels_to_input(const dg_preprocess *pre, const uint8_t *pixels,
                             uint32_t width, uint32_t height, size_t stride,
                             int32_t pixel_format, float *out);

#endif
