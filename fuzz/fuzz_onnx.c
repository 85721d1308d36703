/* fuzz_onnx.c - ONNX import from memory: a model that imports must export
 * to ONNX, import back and run. */
#include <stdlib.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dg_model *m;
    fuzz_limit_work();
    if (dg_model_import_onnx_memory(data, size, &m) != DG_OK) return 0;
    /* Export may refuse only a model too big for import to take back. */
    size_t len;
    uint8_t *bytes = NULL;
    dg_status st = dg_model_export_onnx_memory(m, NULL, 0, &len);
    if (st == DG_OK) {
        if (!(bytes = malloc(len)) ||
            dg_model_export_onnx_memory(m, bytes, len, &len) != DG_OK)
            abort();
        dg_model *again;
        if (dg_model_import_onnx_memory(bytes, len, &again) != DG_OK) abort();
        dg_model_free(again);
    } else if (st != DG_E_UNSUPPORTED) {
        abort();
    }
    fuzz_run_model(m);
    free(bytes);
    dg_model_free(m);
    return 0;
}
