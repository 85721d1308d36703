/* onnx.h - ONNX import and export (doc/onnx.md).  The generated protobuf-c
 * code stays behind this interface: only lib/io/onnx*.c include it. */
#ifndef DG_IO_ONNX_H
#define DG_IO_ONNX_H

#include <stddef.h>

#include "core/bytes.h"
#include "nn/model.h"

/* The largest ONNX model read or written, in bytes. */
#define DG_ONNX_MAX_SIZE ((size_t)1 << 30)

/* The metadata_props keys export writes and import reads (doc/onnx.md,
 * "Metadata"). */
#define DG_ONNX_META_SCALE "diffguard.scale"
#define DG_ONNX_META_MEAN "diffguard.mean"
#define DG_ONNX_META_STD "diffguard.std"
#define DG_ONNX_META_OUTPUT "diffguard.output"
#define DG_ONNX_META_CLASS_NAMES "diffguard.class_names"

/* Parses an ONNX ModelProto of `size` bytes into a new finalised model
 * (refs 1).  `data` is only read during the call.  An operator, attribute
 * or data type outside the supported subset fails with DG_E_UNSUPPORTED,
 * corrupt or oversized input with DG_E_FORMAT, each with a detail naming
 * the node; memory use stays within a small multiple of `size`. */
dg_status dg_onnx_read(const void *data, size_t size, dg_model **out);

/* Appends the finalised model m to w as an ONNX ModelProto (opset 13).
 * Returns w->status, or DG_E_UNSUPPORTED if the result would exceed
 * DG_ONNX_MAX_SIZE. */
dg_status dg_onnx_write(const dg_model *m, dg_writer *w);

#endif
