/* file.h - whole-file reads with a size cap, and atomic writes. */
#ifndef DG_CORE_FILE_H
#define DG_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "bytes.h"
#include "status.h"

/* Reads a whole file (at most max_size bytes) into a malloc'd buffer. */
dg_status dg_file_read_all(const char *path, size_t max_size, uint8_t **data,
                           size_t *len);

/* Writes path atomically: a temporary file in the same folder, fsync,
 * rename over path, fsync of the folder.  A crash leaves either the old
 * file or the complete new one, never a mix; a failing fsync of the
 * folder is DG_E_IO although path then holds the new contents.  Before
 * writing it removes what saves to path that died left behind
 * (dg_file_remove_stale_temporaries). */
dg_status dg_file_write_atomic(const char *path, const void *data, size_t len);

/* Removes from dir the temporary files of saves to dir/base whose writer
 * is gone (base.tmpXXXXXX, owned by this user, no process holding its
 * lock, untouched for a minute); never one a live save is writing.
 * Best effort: errors are ignored. */
void dg_file_remove_stale_temporaries(const char *dir, const char *base);

/* The same rule for one file `name` in the open folder dir_fd that the
 * caller knows to be such a temporary (a work directory's own naming):
 * removed if this user's, unlocked and untouched since a minute before
 * `now`. */
void dg_file_remove_if_stale(int dir_fd, const char *name, time_t now);

/* Parses a file's bytes into whatever ctx points to. */
typedef dg_status (*dg_parse_fn)(void *ctx, const uint8_t *data, size_t len);

/* Reads path (at most max_size bytes) and hands its bytes to parse.  A
 * parse failure's detail is prefixed with the path, after `verb` and a
 * space if verb is not NULL ("resuming from x.ckpt: ..."). */
dg_status dg_file_parse(const char *path, size_t max_size, const char *verb,
                        dg_parse_fn parse, void *ctx);

/* Serialises obj into w. */
typedef dg_status (*dg_serialize_fn)(const void *obj, dg_writer *w);

/* Serialises obj in memory, then writes it to path with
 * dg_file_write_atomic. */
dg_status dg_file_save(const char *path, dg_serialize_fn serialize,
                       const void *obj);

#endif
