/* bytes.c - little-endian serialisation helpers. */
#include "bytes.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "alloc.h"

void dg_writer_init(dg_writer *w) { memset(w, 0, sizeof *w); }

void dg_writer_release(dg_writer *w)
{
    free(w->data);
    dg_writer_init(w);
}

void dg_put_bytes(dg_writer *w, const void *p, size_t n)
{
    if (w->status != DG_OK) return;
    if (n > DG_MAX_ALLOC - w->len) {
        w->status = dg_fail(DG_E_NOMEM, "serialised data exceeds %zu bytes",
                            (size_t)DG_MAX_ALLOC);
        return;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n) cap *= 2;
        uint8_t *d = realloc(w->data, cap);
        if (!d) {
            w->status = dg_fail(DG_E_NOMEM, "cannot grow buffer to %zu", cap);
            return;
        }
        w->data = d;
        w->cap = cap;
    }
    if (n) memcpy(w->data + w->len, p, n);
    w->len += n;
}

size_t dg_put_space(dg_writer *w, size_t n)
{
    size_t at = w->len;
    static const uint8_t zeros[256];
    while (n > 0 && w->status == DG_OK) {
        size_t chunk = n < sizeof zeros ? n : sizeof zeros;
        dg_put_bytes(w, zeros, chunk);
        n -= chunk;
    }
    return at;
}

void dg_put_u8(dg_writer *w, uint8_t v) { dg_put_bytes(w, &v, 1); }

void dg_put_u32(dg_writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                    (uint8_t)(v >> 24)};
    dg_put_bytes(w, b, 4);
}

void dg_put_u64(dg_writer *w, uint64_t v)
{
    dg_put_u32(w, (uint32_t)v);
    dg_put_u32(w, (uint32_t)(v >> 32));
}

void dg_put_f32(dg_writer *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    dg_put_u32(w, u);
}

void dg_put_f32s(dg_writer *w, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) dg_put_f32(w, v[i]);
}

void dg_put_str(dg_writer *w, const char *s)
{
    size_t n = strlen(s);
    dg_put_u32(w, (uint32_t)n);
    dg_put_bytes(w, s, n);
}

void dg_patch_u32(dg_writer *w, size_t at, uint32_t v)
{
    if (w->status != DG_OK || at + 4 > w->len) return;
    for (int i = 0; i < 4; i++) w->data[at + i] = (uint8_t)(v >> (8 * i));
}

void dg_reader_init(dg_reader *r, const void *data, size_t len)
{
    r->data = data;
    r->len = len;
    r->pos = 0;
}

size_t dg_reader_left(const dg_reader *r) { return r->len - r->pos; }

dg_status dg_get_bytes(dg_reader *r, void *out, size_t n, const char *what)
{
    if (n > dg_reader_left(r))
        return dg_fail(DG_E_FORMAT,
                       "truncated: %s needs %zu bytes at offset %zu, %zu left",
                       what, n, r->pos, dg_reader_left(r));
    if (n) memcpy(out, r->data + r->pos, n);
    r->pos += n;
    return DG_OK;
}

dg_status dg_get_u8(dg_reader *r, uint8_t *v, const char *what)
{
    return dg_get_bytes(r, v, 1, what);
}

dg_status dg_get_u32(dg_reader *r, uint32_t *v, const char *what)
{
    uint8_t b[4] = {0};
    DG_TRY(dg_get_bytes(r, b, 4, what));
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
         (uint32_t)b[3] << 24;
    return DG_OK;
}

dg_status dg_get_u64(dg_reader *r, uint64_t *v, const char *what)
{
    uint32_t lo, hi;
    DG_TRY(dg_get_u32(r, &lo, what));
    DG_TRY(dg_get_u32(r, &hi, what));
    *v = (uint64_t)hi << 32 | lo;
    return DG_OK;
}

dg_status dg_get_f32(dg_reader *r, float *v, const char *what)
{
    uint32_t u;
    DG_TRY(dg_get_u32(r, &u, what));
    memcpy(v, &u, 4);
    return DG_OK;
}

dg_status dg_get_f32s(dg_reader *r, float *v, size_t n, const char *what)
{
    if (n > dg_reader_left(r) / 4)
        return dg_fail(DG_E_FORMAT,
                       "truncated: %s declares %zu floats at offset %zu, only "
                       "%zu bytes left",
                       what, n, r->pos, dg_reader_left(r));
    for (size_t i = 0; i < n; i++) DG_TRY(dg_get_f32(r, &v[i], what));
    return DG_OK;
}

dg_status dg_get_str(dg_reader *r, char *buf, size_t cap, const char *what)
{
    uint32_t n;
    DG_TRY(dg_get_u32(r, &n, what));
    if (n >= cap)
        return dg_fail(DG_E_FORMAT, "%s: string of %u bytes exceeds %zu",
                       what, n, cap - 1);
    DG_TRY(dg_get_bytes(r, buf, n, what));
    buf[n] = '\0';
    return DG_OK;
}

uint32_t dg_crc32(const void *data, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    const Bytef *p = data;
    while (len > 0) {
        uInt chunk = len > 0x40000000u ? 0x40000000u : (uInt)len;
        crc = crc32(crc, p, chunk);
        p += chunk;
        len -= chunk;
    }
    return (uint32_t)crc;
}

uint64_t dg_hash64(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
