/* api.h - helpers shared by the public entry points. */
#ifndef DG_API_API_H
#define DG_API_API_H

#include <string.h>

#include "core/bytes.h"
#include "core/status.h"

/* An option or result struct from the caller: struct_size must cover at
 * least the first published layout (v1) and at most what this library
 * knows, unless the unknown tail is all zero (a newer caller's defaults). */
dg_status dg_check_struct(const void *p, size_t struct_size, size_t v1_size,
                          size_t known_size, const char *type);

/* An index into something of `count` items: "row 7 of 5" names `what`
 * when it is out of range. */
dg_status dg_check_index(uint32_t index, uint32_t count, const char *what);

/* Inputs of len floats, per_item to an item (a sample, an image), must be
 * finite: a NaN would pass every comparison the callee makes unnoticed
 * (an argmax, a vote, a clamp).  The detail names the item as `what`
 * and its number ("sample 3: value 17 is nan, ..."). */
dg_status dg_check_finite(const float *values, size_t len, size_t per_item,
                          const char *what);

/* Starts an *_init function: the caller's struct must hold at least this
 * library's layout; it is zeroed (a newer caller's tail too, which then
 * means "default") and its struct_size set to what this library fills. */
dg_status dg_init_struct(void *p, size_t struct_size, size_t known_size,
                         const char *type);

#define DG_INIT_STRUCT(p, struct_size, type)                                  \
    DG_TRY(dg_init_struct((p), (struct_size), sizeof(type), #type))

/* For *_init of a struct that has grown: copies this library's defaults
 * (`full`, known_size bytes) into the caller's struct, which may be an
 * older, smaller layout of at least v1_size bytes; struct_size becomes
 * what was filled. */
dg_status dg_init_prefix(void *p, size_t struct_size, const void *full,
                         size_t known_size, size_t v1_size, const char *type);

/* The caller's struct p (checked by dg_check_struct) over `full`, which
 * holds the defaults: fields an older caller does not have keep them. */
static inline void dg_complete_struct(void *full, size_t known_size,
                                      const void *p)
{
    uint32_t given, size = (uint32_t)known_size;
    memcpy(&given, p, sizeof given);
    memcpy(full, p, given < known_size ? given : known_size);
    memcpy(full, &size, sizeof size);
}

/* The reverse: this library's `full` back into the caller's struct p,
 * only as far as its struct_size reaches, which is kept. */
static inline void dg_return_struct(void *p, const void *full,
                                    size_t known_size)
{
    uint32_t given;
    memcpy(&given, p, sizeof given);
    size_t n = given < known_size ? given : known_size;
    if (n > sizeof given)
        memcpy((char *)p + sizeof given, (const char *)full + sizeof given,
               n - sizeof given);
}

/* The size-query contract of the *_memory writers: *size_out receives the
 * size needed; bytes are copied only into a buffer that holds them, and a
 * smaller non-NULL buffer is DG_E_INVALID_ARG naming `what`. */
dg_status dg_copy_out(const dg_writer *w, void *buf, size_t capacity,
                      size_t *size_out, const char *what);

#define DG_CHECK_STRUCT(p, type, v1_size)                                     \
    DG_TRY(dg_check_struct((p), (p) ? (p)->struct_size : 0, (v1_size),        \
                           sizeof(type), #type))

/* A public function's former name, exported as an alias of the same
 * code so that programs linked against the old name keep working. */
#define DG_API_ALIAS(old_name, new_name)                                      \
    extern __typeof__(new_name) old_name                                      \
        __attribute__((alias(#new_name)))

#endif
