/* status.h - failure reporting inside the library. */
#ifndef DG_CORE_STATUS_H
#define DG_CORE_STATUS_H

#include "diffguard.h"

#if defined(__GNUC__)
#define DG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DG_PRINTF(a, b)
#endif

/* Records a formatted detail for the calling thread and returns `status`, so
 * failures read: return dg_fail(DG_E_FORMAT, "layer %u: ...", i); */
dg_status dg_fail(dg_status status, const char *fmt, ...) DG_PRINTF(2, 3);

/* Prefixes the current detail with context ("loading x.dgm: "), returning
 * `status` unchanged; used when a lower layer already explained itself. */
dg_status dg_fail_context(dg_status status, const char *fmt, ...)
    DG_PRINTF(2, 3);

/* The calling thread's detail (what dg_last_error_detail returns). */
const char *dg_detail(void);

#define DG_TRY(expr)                                                          \
    do {                                                                      \
        dg_status dg_try_status_ = (expr);                                    \
        if (dg_try_status_ != DG_OK) return dg_try_status_;                   \
    } while (0)

#define DG_CHECK_ARG(cond)                                                    \
    do {                                                                      \
        if (!(cond))                                                          \
            return dg_fail(DG_E_INVALID_ARG, "%s: invalid argument: %s",      \
                           __func__, #cond);                                  \
    } while (0)

#endif
