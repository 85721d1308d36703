/* png_write.h - writing 8-bit images as PNG files (example images of
 * attacks and reports). */
#ifndef DG_IO_PNG_WRITE_H
#define DG_IO_PNG_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Encodes interleaved 8-bit pixels (1 channel: gray, 3: RGB; rows `stride`
 * bytes apart) with libpng's simplified API and writes the file
 * atomically. */
dg_status dg_png_write_file(const char *path, const uint8_t *pixels,
                            uint32_t width, uint32_t height, size_t stride,
                            uint32_t channels);

#endif
