/* file_kind.h - what a file holds, judged by its first bytes, so that a
 * loader handed the wrong kind of file can say which one fits. */
#ifndef DG_IO_FILE_KIND_H
#define DG_IO_FILE_KIND_H

#include <stddef.h>
#include <stdint.h>

typedef enum dg_file_kind {
    DG_FILE_UNKNOWN,
    DG_FILE_MODEL,      /* "DGMODEL\0": dg_model_load_file */
    DG_FILE_GUARD,      /* "DGGUARD\0": dg_guard_load_file */
    DG_FILE_ADVSET,     /* "DGADVSET": dg_advset_load_file */
    DG_FILE_CHECKPOINT, /* "DGCKPT\0\0": a training checkpoint */
    DG_FILE_ONNX,       /* a protobuf beginning with ir_version, as ONNX
                           exporters write it */
} dg_file_kind;

dg_file_kind dg_file_kind_of(const void *data, size_t size);

/* "it is a guard file (dg_guard_load_file; `dg guard info`)" and the
 * like: which loader and command fit a file of that kind. */
const char *dg_file_kind_advice(dg_file_kind kind);

#endif
