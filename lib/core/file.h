/* file.h - whole-file reads with a size cap, and atomic writes. */
#ifndef DG_CORE_FILE_H
#define DG_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Reads a whole file (at most max_size bytes) into a malloc'd buffer. */
dg_status dg_file_read_all(const char *path, size_t max_size, uint8_t **data,
                           size_t *len);

/* Writes path atomically: a temporary file in the same folder, fsync,
 * rename over path, fsync of the folder.  A crash leaves either the old
 * file or the complete new one, never a mix. */
dg_status dg_file_write_atomic(const char *path, const void *data, size_t len);

#endif
