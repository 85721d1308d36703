/* fuzz.h - what the fuzz targets share: the libFuzzer entry point they
 * define, checksum repair so that mutations reach the parsers, and a work
 * bound that keeps models which would run for minutes out of the targets'
 * runs.  Each target is also linked with replay.c into a plain program
 * that `meson test` runs over fuzz/corpus and fuzz/regressions. */
#ifndef DG_FUZZ_H
#define DG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "diffguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ----------------------------------------------------------------------
 * Checksums.  A mutated file almost always fails its CRC first, so the
 * targets feed each input twice: as it is (the checks themselves), then
 * with its size field and CRCs recomputed so that mutations reach the
 * parsers (fuzz_twice). */

static inline void fuzz_put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> 8 * i);
}

/* A file of the library's own formats (model, adversarial set) laid out
 * as doc/model-format.md says: the size as a u64 at offset 16, a CRC-32
 * of everything before it in the last 4 bytes. */
static inline void fuzz_repair_sized(uint8_t *data, size_t size)
{
    if (size < 28) return;
    fuzz_put_le(data + 16, size, 8);
    fuzz_put_le(data + size - 4, dg_crc32(data, size - 4), 4);
}

/* Every model file embedded in a guard (its tails): each one's declared
 * size is kept, its CRC recomputed; then the guard's own CRC. */
static inline void fuzz_repair_guard(uint8_t *data, size_t size)
{
    static const char magic[8] = "DGMODEL";
    for (size_t at = 0; size >= 28 && at <= size - 28; at++) {
        if (memcmp(data + at, magic, sizeof magic) != 0) continue;
        uint64_t declared = 0;
        for (int i = 7; i >= 0; i--)
            declared = declared << 8 | data[at + 16 + i];
        if (declared >= 28 && declared <= size - at)
            fuzz_put_le(data + at + declared - 4,
                        dg_crc32(data + at, (size_t)declared - 4), 4);
    }
    if (size >= 4) fuzz_put_le(data + size - 4, dg_crc32(data, size - 4), 4);
}

/* The CRC of every PNG chunk (length, type, data, CRC of type and data,
 * big-endian), up to the first chunk that runs past the end. */
static inline void fuzz_repair_png(uint8_t *data, size_t size)
{
    if (size < 8 || memcmp(data, "\x89PNG\r\n\x1a\n", 8) != 0) return;
    for (size_t at = 8; at + 12 <= size;) {
        size_t len = (size_t)data[at] << 24 | (size_t)data[at + 1] << 16 |
                     (size_t)data[at + 2] << 8 | data[at + 3];
        if (len > size - at - 12) return;
        uint32_t crc = dg_crc32(data + at + 4, len + 4);
        for (int i = 0; i < 4; i++)
            data[at + 8 + len + i] = (uint8_t)(crc >> (24 - 8 * i));
        at += len + 12;
    }
}

/* parse(data) as given, then parse(a copy repaired by repair) if that
 * differs. */
static inline void fuzz_twice(const uint8_t *data, size_t size,
                              void (*repair)(uint8_t *, size_t),
                              void (*parse)(const uint8_t *, size_t))
{
    parse(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    memcpy(copy, data, size);
    repair(copy, size);
    if (memcmp(copy, data, size) != 0) parse(copy, size);
    free(copy);
}

/* FLOPs per sample a fuzzed model may cost: the library's own work limit
 * (doc/limits.md), set far below its default so that an input spends its
 * time in the parsers and one run, not in a huge layer.  Every model that
 * loads is then cheap enough to run. */
#define FUZZ_MAX_FLOPS 40000000u

static inline void fuzz_limit_work(void)
{
    dg_set_limit(DG_LIMIT_FLOPS_PER_INPUT, FUZZ_MAX_FLOPS);
}

/* Runs m once on an input of zeros; the status is not an error for a
 * fuzzed model, only a crash or a hang is. */
static inline void fuzz_run_model(const dg_model *m)
{
    uint32_t c, h, w;
    if (dg_model_input_shape(m, &c, &h, &w) != DG_OK) return;
    size_t len = (size_t)c * h * w;
    float *input = calloc(len ? len : 1, sizeof *input);
    dg_session *s = NULL;
    if (input && dg_session_create(m, 1, &s) == DG_OK)
        dg_session_run(s, input, len, 1);
    dg_session_free(s);
    free(input);
}

#endif
