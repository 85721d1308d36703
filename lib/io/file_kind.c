/* file_kind.c - the kind of a file from its first bytes, for messages. */
#include "io/file_kind.h"

#include <string.h>

dg_file_kind dg_file_kind_of(const void *data, size_t size)
{
    static const struct {
        char magic[8];
        dg_file_kind kind;
    } magics[] = {
        {"DGMODEL", DG_FILE_MODEL},
        {"DGGUARD", DG_FILE_GUARD},
        {{'D', 'G', 'A', 'D', 'V', 'S', 'E', 'T'}, DG_FILE_ADVSET},
        {"DGCKPT", DG_FILE_CHECKPOINT},
    };
    for (size_t k = 0; k < sizeof magics / sizeof *magics; k++)
        if (size >= 8 && memcmp(data, magics[k].magic, 8) == 0)
            return magics[k].kind;
    /* ModelProto's field 1, ir_version, a varint: tag 0x08. */
    if (size >= 2 && ((const uint8_t *)data)[0] == 0x08)
        return DG_FILE_ONNX;
    return DG_FILE_UNKNOWN;
}

const char *dg_file_kind_advice(dg_file_kind kind)
{
    switch (kind) {
    case DG_FILE_MODEL:
        return "it is a libdiffguard model file (dg_model_load_file; "
               "`dg info`, `dg export` to make ONNX)";
    case DG_FILE_GUARD:
        return "it is a guard file (dg_guard_load_file; `dg guard info`)";
    case DG_FILE_ADVSET:
        return "it is an adversarial set (dg_advset_load_file; `dg eval`)";
    case DG_FILE_CHECKPOINT:
        return "it is a training checkpoint, which training resumes from "
               "(`dg train --checkpoint`)";
    case DG_FILE_ONNX:
        return "it looks like an ONNX model (dg_model_import_onnx_file; "
               "`dg import MODEL.onnx -o MODEL.dgm`)";
    case DG_FILE_UNKNOWN:
        break;
    }
    return NULL;
}
