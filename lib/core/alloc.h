/* alloc.h - allocation with overflow-checked sizes. */
#ifndef DG_CORE_ALLOC_H
#define DG_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Allocates n * size bytes, zeroed, failing with DG_E_NOMEM (and a detail
 * naming `what`) on overflow or exhaustion.  Every buffer whose size comes
 * from a file goes through here so that absurd sizes fail cleanly. */
dg_status dg_alloc_array(void **out, size_t n, size_t size, const char *what);

/* 64-byte aligned, zeroed; release with dg_free_aligned.  oneDNN and the
 * vector loops are fastest on aligned buffers. */
dg_status dg_alloc_aligned(float **out, size_t n_floats, const char *what);
void dg_free_aligned(void *p);

/* a * b with overflow detection: returns 0 on overflow. */
static inline int dg_mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Upper bound on any single allocation derived from untrusted input. */
#define DG_MAX_ALLOC ((size_t)1 << 34)

char *dg_strdup(const char *s);

#endif
