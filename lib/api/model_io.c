/* model_io.c - public entry points that load and save model files
 * (doc/model-format.md). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/bytes.h"
#include "core/file.h"
#include "io/model_format.h"

/* The largest model file read from disk.  Saving refuses anything larger,
 * so that every file written can be loaded again. */
#define MODEL_FILE_MAX ((size_t)2 << 30)

dg_status dg_model_load_file(const char *path, dg_model **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(path && *path);
    uint8_t *data;
    size_t size;
    DG_TRY(dg_file_read_all(path, MODEL_FILE_MAX, &data, &size));
    dg_status s = dg_model_read(data, size, out);
    free(data);
    return s == DG_OK ? DG_OK : dg_fail_context(s, "%s", path);
}

dg_status dg_model_load_memory(const void *data, size_t size, dg_model **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(data);
    return dg_model_read(data, size, out);
}

dg_status dg_model_save_file(const dg_model *m, const char *path)
{
    DG_CHECK_ARG(m && path && *path);
    dg_writer w;
    dg_writer_init(&w);
    dg_status s = dg_model_write(m, &w);
    if (s == DG_OK && w.len > MODEL_FILE_MAX)
        s = dg_fail(DG_E_UNSUPPORTED,
                    "the model file would be %zu bytes, more than the %zu "
                    "that dg_model_load_file accepts",
                    w.len, MODEL_FILE_MAX);
    if (s == DG_OK) s = dg_file_write_atomic(path, w.data, w.len);
    dg_writer_release(&w);
    return s;
}

dg_status dg_model_save_memory(const dg_model *m, void *buf, size_t capacity,
                               size_t *size_out)
{
    DG_CHECK_ARG(size_out);
    *size_out = 0;
    DG_CHECK_ARG(m);
    dg_writer w;
    dg_writer_init(&w);
    dg_status s = dg_model_write(m, &w);
    if (s == DG_OK) s = dg_copy_out(&w, buf, capacity, size_out, "model");
    dg_writer_release(&w);
    return s;
}
