/* model_format.h - the model file format (doc/model-format.md): a
 * versioned, checksummed, little-endian serialisation of a dg_model. */
#ifndef DG_IO_MODEL_FORMAT_H
#define DG_IO_MODEL_FORMAT_H

#include <stddef.h>

#include "core/bytes.h"
#include "nn/model.h"

/* The newest version this library writes (1.0 for a model whose layers
 * 1.0 knows).  Readers accept every minor version of their major version
 * and refuse a newer major one. */
#define DG_MODEL_FORMAT_MAJOR 1u
#define DG_MODEL_FORMAT_MINOR 1u

/* Appends the model file of the finalised model m to w, checksummed on its
 * own so that a container (a guard file) can embed it.  Returns w->status. */
dg_status dg_model_write(const dg_model *m, dg_writer *w);

/* Appends m as a u64 byte length followed by its model file: how guard
 * files and checkpoints embed models, serialised once in place.  Returns
 * w->status. */
dg_status dg_model_put_embedded(const dg_model *m, dg_writer *w);

/* Reads what dg_model_put_embedded wrote: a length checked against the
 * bytes left, then the model.  `what` names it in a failure's detail. */
dg_status dg_model_get_embedded(dg_reader *r, dg_model **out,
                                const char *what);

/* Parses a model file of exactly `size` bytes into a new finalised model
 * (refs 1).  The model owns copies of everything it keeps; `data` is only
 * read during the call.  Corrupt or hostile input fails with DG_E_FORMAT,
 * DG_E_SHAPE or DG_E_UNSUPPORTED and a detail, having allocated no more
 * than a small multiple of `size`. */
dg_status dg_model_read(const void *data, size_t size, dg_model **out);

/* The largest model file read from disk.  Saving refuses anything larger,
 * so that every file written can be loaded again. */
#define DG_MODEL_FILE_MAX ((size_t)2 << 30)

/* A model file on disk, read (failures name the path) or written
 * atomically: behind dg_model_load_file and dg_model_save_file. */
dg_status dg_model_load_path(const char *path, dg_model **out);
dg_status dg_model_save_path(const dg_model *m, const char *path);

#endif
