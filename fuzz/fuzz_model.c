/* fuzz_model.c - model files (doc/model-format.md) from memory: a model
 * that loads must save, load again to the same bytes, export to ONNX and
 * run. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* The model's file bytes, malloc'd; NULL if saving fails. */
static uint8_t *saved(const dg_model *m, size_t *size)
{
    uint8_t *buf;
    if (dg_model_save_memory(m, NULL, 0, size) != DG_OK ||
        !(buf = malloc(*size)))
        return NULL;
    if (dg_model_save_memory(m, buf, *size, size) == DG_OK) return buf;
    free(buf);
    return NULL;
}

static void load(const uint8_t *data, size_t size)
{
    dg_model *m;
    if (dg_model_load_memory(data, size, &m) != DG_OK) return;
    size_t len, again_len;
    uint8_t *bytes = saved(m, &len);
    if (!bytes) abort();
    dg_model *again;
    if (dg_model_load_memory(bytes, len, &again) != DG_OK) abort();
    uint8_t *again_bytes = saved(again, &again_len);
    if (!again_bytes || again_len != len || memcmp(bytes, again_bytes, len))
        abort();
    size_t onnx_len;
    dg_model_export_onnx_memory(m, NULL, 0, &onnx_len);
    fuzz_run_model(m);
    free(again_bytes);
    free(bytes);
    dg_model_free(again);
    dg_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_limit_work();
    fuzz_twice(data, size, fuzz_repair_sized, load);
    return 0;
}
