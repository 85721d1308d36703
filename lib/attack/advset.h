/* advset.h - adversarial sets: the attempts of one attack run with their
 * outcomes and 8-bit pixels, and their file format (doc/attack.md). */
#ifndef DG_ATTACK_ADVSET_H
#define DG_ATTACK_ADVSET_H

#include <stddef.h>
#include <stdint.h>

#include "diffguard.h"
#include "nn/model.h"

/* Longest description, without its terminator. */
#define DG_ADVSET_DESCRIPTION_MAX 1023u
/* Largest file accepted. */
#define DG_ADVSET_MAX_FILE ((size_t)1 << 34)

struct dg_advset {
    dg_attack_opts settings; /* recorded fields only; pointers NULL */
    dg_shape shape;
    size_t pixels;           /* per attempt: C * H * W */
    char description[DG_ADVSET_DESCRIPTION_MAX + 1];
    uint32_t count, capacity;
    dg_advset_item *items;   /* count, struct_size set */
    uint8_t *data;           /* count * pixels */
};

/* An empty set; settings is a checked dg_attack_opts. */
dg_status dg_advset_new(const dg_attack_opts *settings, dg_shape shape,
                        const char *description, dg_advset **out);
/* Appends a copy of item (fields of the current layout) and the pixels in
 * [0,1] rounded to 8 bits. */
dg_status dg_advset_append(dg_advset *s, const dg_advset_item *item,
                           const float *pixels);
dg_status dg_advset_save(const dg_advset *s, const char *path);
/* Parses a whole file held in memory. */
dg_status dg_advset_parse(const void *data, size_t size, dg_advset **out);
dg_status dg_advset_load(const char *path, dg_advset **out);
void dg_advset_destroy(dg_advset *s);
/* The set an unsharded run writes, from the parts of its shards in any
 * order (dg_advset_merge). */
dg_status dg_advset_join(const dg_advset *const *parts, uint32_t n,
                         dg_advset **out);

#endif
