/* png_write.c - PNG encoding through libpng's simplified API, which
 * reports errors in its png_image instead of longjmp-ing. */
#include "io/png_write.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

dg_status dg_png_write_file(const char *path, const uint8_t *pixels,
                            uint32_t width, uint32_t height, size_t stride,
                            uint32_t channels)
{
    if (width == 0 || height == 0 || width > 0x7fffffffu / 4 ||
        height > 0x7fffffffu || (channels != 1 && channels != 3) ||
        stride < (size_t)width * channels || stride > 0x7fffffffu)
        return dg_fail(DG_E_INVALID_ARG,
                       "PNG of %ux%u pixels, %u channels, stride %zu", width,
                       height, channels, stride);
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = width;
    png.height = height;
    png.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    png_alloc_size_t size = 0;
    /* The first call measures, the second encodes. */
    if (!png_image_write_to_memory(&png, NULL, &size, 0, pixels,
                                   (png_int_32)stride, NULL))
        return dg_fail(DG_E_INVALID_ARG, "PNG %s: %s", path, png.message);
    void *buf = malloc(size);
    if (!buf) {
        png_image_free(&png);
        return dg_fail(DG_E_NOMEM, "PNG %s of %zu bytes", path, (size_t)size);
    }
    dg_status s = DG_OK;
    if (!png_image_write_to_memory(&png, buf, &size, 0, pixels,
                                   (png_int_32)stride, NULL))
        s = dg_fail(DG_E_INTERNAL, "PNG %s: %s", path, png.message);
    if (s == DG_OK) s = dg_file_write_atomic(path, buf, size);
    free(buf);
    png_image_free(&png);
    return s;
}
