/* alloc.c - allocation with overflow-checked sizes. */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

dg_status dg_alloc_array(void **out, size_t n, size_t size, const char *what)
{
    size_t bytes;
    *out = NULL;
    if (!dg_mul_ok(n, size, &bytes) || bytes > DG_MAX_ALLOC)
        return dg_fail(DG_E_NOMEM, "%s: %zu x %zu bytes is too large", what,
                       n, size);
    *out = calloc(bytes ? bytes : 1, 1);
    if (!*out)
        return dg_fail(DG_E_NOMEM, "%s: cannot allocate %zu bytes", what,
                       bytes);
    return DG_OK;
}

dg_status dg_alloc_aligned(float **out, size_t n_floats, const char *what)
{
    size_t bytes;
    *out = NULL;
    if (!dg_mul_ok(n_floats, sizeof(float), &bytes) || bytes > DG_MAX_ALLOC)
        return dg_fail(DG_E_NOMEM, "%s: %zu floats is too large", what,
                       n_floats);
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p)
        return dg_fail(DG_E_NOMEM, "%s: cannot allocate %zu bytes", what,
                       bytes);
    memset(p, 0, bytes ? bytes : 64);
    *out = p;
    return DG_OK;
}

void dg_free_aligned(void *p) { free(p); }

char *dg_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
