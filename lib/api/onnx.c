/* onnx.c - public entry points for ONNX import and export (doc/onnx.md). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/bytes.h"
#include "core/file.h"
#include "io/onnx.h"

static dg_status parse_onnx(void *out, const uint8_t *data, size_t len)
{
    return dg_onnx_read(data, len, out);
}

static dg_status write_onnx(const void *m, dg_writer *w)
{
    return dg_onnx_write(m, w);
}

dg_status dg_model_import_onnx_file(const char *path, dg_model **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(path && *path);
    return dg_file_parse(path, DG_ONNX_MAX_SIZE, NULL, parse_onnx, out);
}

dg_status dg_model_import_onnx_memory(const void *data, size_t size,
                                      dg_model **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(data);
    return dg_onnx_read(data, size, out);
}

dg_status dg_model_export_onnx_file(const dg_model *m, const char *path)
{
    DG_CHECK_ARG(m && path && *path);
    return dg_file_save(path, write_onnx, m);
}

dg_status dg_model_export_onnx_memory(const dg_model *m, void *buf,
                                      size_t capacity, size_t *size_out)
{
    DG_CHECK_ARG(size_out);
    *size_out = 0;
    DG_CHECK_ARG(m);
    dg_writer w;
    dg_writer_init(&w);
    dg_status s = dg_onnx_write(m, &w);
    if (s == DG_OK) s = dg_copy_out(&w, buf, capacity, size_out, "ONNX model");
    dg_writer_release(&w);
    return s;
}
