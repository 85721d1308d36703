/* bytes.h - little-endian serialisation: a growable writer and a bounded
 * reader.  The reader never reads past its end: every get checks the
 * remaining length and turns an overrun into DG_E_FORMAT naming `what`. */
#ifndef DG_CORE_BYTES_H
#define DG_CORE_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct dg_writer {
    uint8_t *data;
    size_t len, cap;
    dg_status status; /* first failure; later puts are no-ops */
} dg_writer;

void dg_writer_init(dg_writer *w);
void dg_writer_release(dg_writer *w);
void dg_put_bytes(dg_writer *w, const void *p, size_t n);
void dg_put_u8(dg_writer *w, uint8_t v);
void dg_put_u32(dg_writer *w, uint32_t v);
void dg_put_u64(dg_writer *w, uint64_t v);
void dg_put_f32(dg_writer *w, float v);
void dg_put_f32s(dg_writer *w, const float *v, size_t n);
/* A string as u32 length + bytes (no terminator). */
void dg_put_str(dg_writer *w, const char *s);
/* Appends n zero bytes for a caller to fill in place; returns their offset
 * (pointers into data move as the writer grows). */
size_t dg_put_space(dg_writer *w, size_t n);
/* Overwrites 4 bytes at `at` (for sizes and checksums known afterwards). */
void dg_patch_u32(dg_writer *w, size_t at, uint32_t v);

typedef struct dg_reader {
    const uint8_t *data;
    size_t len, pos;
} dg_reader;

void dg_reader_init(dg_reader *r, const void *data, size_t len);
size_t dg_reader_left(const dg_reader *r);
dg_status dg_get_bytes(dg_reader *r, void *out, size_t n, const char *what);
dg_status dg_get_u8(dg_reader *r, uint8_t *v, const char *what);
dg_status dg_get_u32(dg_reader *r, uint32_t *v, const char *what);
dg_status dg_get_u64(dg_reader *r, uint64_t *v, const char *what);
dg_status dg_get_f32(dg_reader *r, float *v, const char *what);
/* Reads n floats; n was validated against the remaining bytes first, so a
 * corrupt count fails before any allocation by the caller is wasted. */
dg_status dg_get_f32s(dg_reader *r, float *v, size_t n, const char *what);
/* Reads a u32-length string into buf (cap includes the terminator). */
dg_status dg_get_str(dg_reader *r, char *buf, size_t cap, const char *what);

/* CRC-32 (zlib's polynomial) of a buffer. */
uint32_t dg_crc32(const void *data, size_t len);
/* 64-bit FNV-1a hash, for content identity (model hashes in guard files). */
uint64_t dg_hash64(const void *data, size_t len);

#endif
