/* status.c - status texts and the thread-local failure detail. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { DETAIL_CAP = 1024 };
static _Thread_local char detail[DETAIL_CAP];

const char *dg_strerror(int status)
{
    switch (status) {
    case DG_OK: return "success";
    case DG_E_INVALID_ARG: return "invalid argument";
    case DG_E_NOMEM: return "out of memory";
    case DG_E_IO: return "file error";
    case DG_E_FORMAT: return "corrupt or unrecognised data";
    case DG_E_UNSUPPORTED: return "unsupported";
    case DG_E_STATE: return "invalid state for this call";
    case DG_E_SHAPE: return "shape mismatch";
    case DG_E_BACKEND: return "compute backend failure";
    case DG_E_ABI: return "struct size not understood";
    case DG_E_INTERNAL: return "internal error";
    case DG_E_MISMATCH: return "objects do not belong together";
    case DG_E_CANCELLED: return "cancelled";
    default: return "unknown status";
    }
}

const char *dg_detail(void) { return detail; }
const char *dg_last_error_detail(void) { return detail; }

dg_status dg_fail(dg_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return status;
}

dg_status dg_fail_context(dg_status status, const char *fmt, ...)
{
    char prefix[DETAIL_CAP], old[DETAIL_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, detail, sizeof old);
    snprintf(detail, sizeof detail, "%.400s: %.600s", prefix, old);
    return status;
}

uint32_t dg_version_number(void) { return DG_VERSION_NUMBER; }
const char *dg_version_string(void) { return DG_VERSION_STRING; }
uint32_t dg_abi_version(void) { return DG_ABI_VERSION; }
