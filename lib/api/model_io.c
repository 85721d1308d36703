/* model_io.c - public entry points that load and save model files
 * (doc/model-format.md). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/bytes.h"
#include "core/file.h"
#include "io/model_format.h"

dg_status dg_model_load_file(const char *path, dg_model **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(path && *path);
    return dg_model_load_path(path, out);
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
    return dg_model_save_path(m, path);
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
