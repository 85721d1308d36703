/* model_format.c - the model file format (doc/model-format.md).
 *
 * A file is a preamble, tagged and length-prefixed sections, and a CRC-32.
 * Every count read from a file is checked against the bytes that remain
 * before anything is allocated for it; the graph itself is checked by
 * dg_model_alloc and dg_model_finalize.  A corrupt or hostile file thus
 * fails with a detail, never with a crash or a giant allocation. */
#include "io/model_format.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/file.h"
#include "io/file_kind.h"

static const char MAGIC[8] = "DGMODEL"; /* with its NUL: 8 bytes */

enum {
    SIZE_FIELD_AT = 16, /* after magic and the two version words */
    PREAMBLE_SIZE = 28, /* magic, major, minor, file size, feature flags */
    SECTION_HEADER_SIZE = 12, /* tag, payload length */
    CRC_SIZE = 4
};

/* Bits of the preamble's flags word that this reader implements.  A file
 * that needs any other feature is refused rather than misread.  Layers of
 * format 1.1 (kinds after dropout, or settings of section LAYX other than
 * the defaults) need FEATURE_LAYERS_1_1: a 1.0 reader would misread them. */
#define FEATURE_LAYERS_1_1 1u
#define KNOWN_FILE_FLAGS FEATURE_LAYERS_1_1
#define KNOWN_LAYER_FLAGS DG_LAYER_FLAG_FROZEN

/* One 4-byte field of a struct, stored as a little-endian word: integers
 * as two's complement, floats as their IEEE-754 bits. */
typedef struct word_field {
    const char *name;
    size_t offset;
} word_field;

/* A table entry; fails to compile unless the member is one 4-byte word. */
#define WORD(type, member)                                                    \
    {#member, offsetof(type, member) +                                        \
                  0 * sizeof(char[sizeof(((type *)0)->member) == 4 ? 1 : -1])}
#define COUNT(a) (sizeof(a) / sizeof *(a))

/* The fixed part of section HEAD. */
typedef struct head {
    dg_shape input;
    dg_preprocess pre;
    uint32_t n_layers;
} head;

static const word_field head_fields[] = {
    WORD(head, input.c),      WORD(head, input.h),     WORD(head, input.w),
    WORD(head, pre.channels), WORD(head, pre.height),  WORD(head, pre.width),
    WORD(head, pre.scale),    WORD(head, pre.mean[0]), WORD(head, pre.mean[1]),
    WORD(head, pre.mean[2]),  WORD(head, pre.std[0]),  WORD(head, pre.std[1]),
    WORD(head, pre.std[2]),   WORD(head, n_layers),
};

/* The fixed part of a layer record in section LAYR. */
static const word_field layer_fields[] = {
    WORD(dg_layer, kind),   WORD(dg_layer, input[0]), WORD(dg_layer, input[1]),
    WORD(dg_layer, flags),  WORD(dg_layer, units),    WORD(dg_layer, kernel),
    WORD(dg_layer, stride), WORD(dg_layer, padding),  WORD(dg_layer, eps),
    WORD(dg_layer, rate),
};

/* A layer's settings added in format 1.1, one record per layer in section
 * LAYX; a file without the section leaves them 0, which dg_model_finalize
 * reads as the 1.0 behaviour (one group). */
static const word_field layer_ext_fields[] = {
    WORD(dg_layer, groups),
    WORD(dg_layer, alpha),
    WORD(dg_layer, beta),
    WORD(dg_layer, ceil_mode),
    WORD(dg_layer, pad[0]),
    WORD(dg_layer, pad[1]),
    WORD(dg_layer, pad[2]),
    WORD(dg_layer, pad[3]),
};
#define LAYER_EXT_SIZE (4 * COUNT(layer_ext_fields))

/* Fixed fields, parameter count and mask length: the least a layer takes. */
#define LAYER_MIN_SIZE (4 * COUNT(layer_fields) + 8)

static void put_words(dg_writer *w, const void *base, const word_field *f,
                      size_t n)
{
    for (size_t k = 0; k < n; k++) {
        uint32_t v;
        memcpy(&v, (const char *)base + f[k].offset, 4);
        dg_put_u32(w, v);
    }
}

static dg_status get_words(dg_reader *r, void *base, const word_field *f,
                           size_t n)
{
    for (size_t k = 0; k < n; k++) {
        uint32_t v;
        DG_TRY(dg_get_u32(r, &v, f[k].name));
        memcpy((char *)base + f[k].offset, &v, 4);
    }
    return DG_OK;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */
/* ------------------------------------------------------------------------ */

static void patch_u64(dg_writer *w, size_t at, uint64_t v)
{
    dg_patch_u32(w, at, (uint32_t)v);
    dg_patch_u32(w, at + 4, (uint32_t)(v >> 32));
}

/* Writes a section header; returns where its length goes. */
static size_t begin_section(dg_writer *w, const char tag[4])
{
    dg_put_bytes(w, tag, 4);
    size_t length_at = w->len;
    dg_put_u64(w, 0);
    return length_at;
}

static void end_section(dg_writer *w, size_t length_at)
{
    if (w->status == DG_OK) patch_u64(w, length_at, w->len - length_at - 8);
}

static void write_head(dg_writer *w, const dg_model *m)
{
    head h = {m->input, m->pre, m->n_layers};
    put_words(w, &h, head_fields, COUNT(head_fields));
    dg_put_u32(w, m->n_class_names);
    for (uint32_t k = 0; k < m->n_class_names; k++)
        dg_put_str(w, m->class_names[k]);
}

static void write_layer(dg_writer *w, const dg_layer *l)
{
    put_words(w, l, layer_fields, COUNT(layer_fields));
    dg_put_u32(w, l->n_params);
    for (uint32_t p = 0; p < l->n_params; p++) {
        dg_put_u64(w, l->param_len[p]);
        dg_put_f32s(w, l->param[p], l->param_len[p]);
    }
    uint32_t mask_len = l->mask ? dg_layer_units(l) : 0;
    dg_put_u32(w, mask_len);
    dg_put_bytes(w, l->mask, mask_len);
}

/* Whether a 1.0 reader would misread layer l. */
static int needs_layers_1_1(const dg_layer *l)
{
    return l->kind > DG_LAYER_DROPOUT ||
           (l->kind == DG_LAYER_CONV && l->groups != 1) ||
           ((l->kind == DG_LAYER_MAXPOOL || l->kind == DG_LAYER_AVGPOOL) &&
            l->ceil_mode);
}

static uint32_t feature_flags(const dg_model *m)
{
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (needs_layers_1_1(&m->layers[i])) return FEATURE_LAYERS_1_1;
    return 0;
}

/* A model of 1.0 layers is written as 1.0 wrote it, byte for byte: the
 * Student hash a guard keeps is that of these bytes, so a guard built
 * before 1.1 still matches its Student.  Other models are 1.1 files with
 * section LAYX and the feature flag. */
dg_status dg_model_write(const dg_model *m, dg_writer *w)
{
    size_t start = w->len;
    uint32_t features = feature_flags(m);
    dg_put_bytes(w, MAGIC, sizeof MAGIC);
    dg_put_u32(w, DG_MODEL_FORMAT_MAJOR);
    dg_put_u32(w, features ? DG_MODEL_FORMAT_MINOR : 0);
    dg_put_u64(w, 0); /* file size, known at the end */
    dg_put_u32(w, features);

    size_t at = begin_section(w, "HEAD");
    write_head(w, m);
    end_section(w, at);

    at = begin_section(w, "LAYR");
    for (uint32_t i = 0; i < m->n_layers; i++) write_layer(w, &m->layers[i]);
    end_section(w, at);

    /* Records of a stated size, so that a later minor version can append
     * fields to each. */
    if (features) {
        at = begin_section(w, "LAYX");
        dg_put_u32(w, (uint32_t)LAYER_EXT_SIZE);
        for (uint32_t i = 0; i < m->n_layers; i++)
            put_words(w, &m->layers[i], layer_ext_fields,
                      COUNT(layer_ext_fields));
        end_section(w, at);
    }

    /* Key/value metadata: dg_model holds none yet, so the list is empty. */
    at = begin_section(w, "META");
    dg_put_u32(w, 0);
    end_section(w, at);

    if (w->status != DG_OK) return w->status;
    patch_u64(w, start + SIZE_FIELD_AT, w->len - start + CRC_SIZE);
    dg_put_u32(w, dg_crc32(w->data + start, w->len - start));
    return w->status;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

/* What a parse owns until it succeeds. */
typedef struct loader {
    dg_model *m;
    /* Mask length each layer declared, checked against its unit count
     * once dg_model_finalize has derived the shapes. */
    uint32_t *mask_len;
} loader;

/* Checks magic, version, size, checksum and feature flags, and leaves r
 * on the first section, limited to the bytes the checksum covers. */
static dg_status open_file(const uint8_t *data, size_t size, dg_reader *r)
{
    char magic[sizeof MAGIC];
    uint32_t major, minor, flags, stored;
    uint64_t declared;
    dg_reader_init(r, data, size);
    DG_TRY(dg_get_bytes(r, magic, sizeof magic, "magic"));
    if (memcmp(magic, MAGIC, sizeof MAGIC) != 0) {
        const char *advice = dg_file_kind_advice(dg_file_kind_of(data, size));
        if (advice)
            return dg_fail(DG_E_FORMAT, "not a libdiffguard model: %s",
                           advice);
        return dg_fail(DG_E_FORMAT, "not a libdiffguard model: the data "
                                    "does not begin with \"DGMODEL\\0\"");
    }
    DG_TRY(dg_get_u32(r, &major, "format major version"));
    DG_TRY(dg_get_u32(r, &minor, "format minor version"));
    /* Checked before the checksum: a later major version may place or
     * compute its checksum differently. */
    if (major > DG_MODEL_FORMAT_MAJOR)
        return dg_fail(DG_E_UNSUPPORTED,
                       "model format %u.%u is newer than %u.%u, the newest "
                       "this library reads",
                       major, minor, DG_MODEL_FORMAT_MAJOR,
                       DG_MODEL_FORMAT_MINOR);
    if (major == 0)
        return dg_fail(DG_E_FORMAT, "model format version 0.%u does not exist",
                       minor);
    DG_TRY(dg_get_u64(r, &declared, "file size"));
    if (declared != size)
        return dg_fail(DG_E_FORMAT,
                       "the model file says it is %llu bytes long but %zu "
                       "bytes were given (truncated or padded)",
                       (unsigned long long)declared, size);
    if (size < PREAMBLE_SIZE + CRC_SIZE)
        return dg_fail(DG_E_FORMAT, "%zu bytes are too few for a model file",
                       size);
    dg_reader tail;
    dg_reader_init(&tail, data + size - CRC_SIZE, CRC_SIZE);
    DG_TRY(dg_get_u32(&tail, &stored, "checksum"));
    uint32_t computed = dg_crc32(data, size - CRC_SIZE);
    if (stored != computed)
        return dg_fail(DG_E_FORMAT,
                       "checksum mismatch: stored 0x%08x, computed 0x%08x",
                       stored, computed);
    r->len = size - CRC_SIZE;
    DG_TRY(dg_get_u32(r, &flags, "feature flags"));
    if (flags & ~KNOWN_FILE_FLAGS)
        return dg_fail(DG_E_UNSUPPORTED,
                       "the model file needs features 0x%x that this "
                       "library does not implement",
                       flags & ~KNOWN_FILE_FLAGS);
    return DG_OK;
}

/* Reads a section header, points sec at its payload (keeping file
 * offsets, so that details name real positions) and moves file past it.
 * Whatever a parser leaves unread in sec is thereby skipped: a later minor
 * version may append fields to a section. */
static dg_status next_section(dg_reader *file, char tag[5], dg_reader *sec)
{
    uint64_t len;
    DG_TRY(dg_get_bytes(file, tag, 4, "section tag"));
    tag[4] = '\0';
    for (int k = 0; k < 4; k++)
        if (!isprint((unsigned char)tag[k])) tag[k] = '?';
    DG_TRY(dg_get_u64(file, &len, "section length"));
    if (len > dg_reader_left(file))
        return dg_fail(DG_E_FORMAT,
                       "section %s at offset %zu declares %llu bytes, only "
                       "%zu remain",
                       tag, file->pos - SECTION_HEADER_SIZE,
                       (unsigned long long)len, dg_reader_left(file));
    *sec = *file;
    sec->len = file->pos + (size_t)len;
    file->pos = sec->len;
    return DG_OK;
}

static dg_status expect_section(dg_reader *file, const char *want,
                                dg_reader *sec)
{
    char tag[5];
    size_t at = file->pos;
    DG_TRY(next_section(file, tag, sec));
    if (strcmp(tag, want) != 0)
        return dg_fail(DG_E_FORMAT, "expected section %s at offset %zu, "
                                    "found %s",
                       want, at, tag);
    return DG_OK;
}

/* Pixels map to 1 or 3 channels only.  A model whose input is a feature
 * map (a differentiator's tail) keeps a block that merely records its
 * shape, which dg_preprocess_validate calls unsupported. */
static dg_status check_preprocess(const dg_model *m)
{
    dg_status s = dg_preprocess_validate(&m->pre, m->input);
    if (s == DG_E_UNSUPPORTED && m->input.c != 1 && m->input.c != 3)
        return DG_OK;
    /* A bad value in a file is corrupt data, not a bad argument. */
    return s == DG_E_INVALID_ARG ? DG_E_FORMAT : s;
}

static dg_status read_class_names(dg_reader *r, dg_model *m)
{
    uint32_t n;
    DG_TRY(dg_get_u32(r, &n, "class name count"));
    if (n == 0) return DG_OK;
    if (n > dg_reader_left(r) / 4)
        return dg_fail(DG_E_FORMAT,
                       "%u class names cannot fit in the %zu bytes left at "
                       "offset %zu",
                       n, dg_reader_left(r), r->pos);
    DG_TRY(dg_alloc_array((void **)&m->class_names, n, DG_CLASS_NAME_CAP,
                          "class names"));
    m->n_class_names = n;
    for (uint32_t k = 0; k < n; k++) {
        char what[32];
        size_t at = r->pos;
        snprintf(what, sizeof what, "class name %u", k);
        DG_TRY(dg_get_str(r, m->class_names[k], DG_CLASS_NAME_CAP, what));
        if (strlen(m->class_names[k]) != r->pos - at - 4)
            return dg_fail(DG_E_FORMAT,
                           "class name %u at offset %zu contains a NUL byte",
                           k, at);
    }
    return DG_OK;
}

/* layers_size: the bytes after HEAD, which must hold every layer. */
static dg_status read_head(dg_reader *r, size_t layers_size, loader *ld)
{
    head h;
    DG_TRY(get_words(r, &h, head_fields, COUNT(head_fields)));
    if (h.n_layers > layers_size / LAYER_MIN_SIZE)
        return dg_fail(DG_E_FORMAT,
                       "%u layers cannot fit in the %zu bytes that follow",
                       h.n_layers, layers_size);
    DG_TRY(dg_model_alloc(h.n_layers, h.input, &ld->m));
    ld->m->pre = h.pre;
    ld->m->pre.struct_size = sizeof ld->m->pre;
    DG_TRY(check_preprocess(ld->m));
    return read_class_names(r, ld->m);
}

static dg_status read_param(dg_reader *r, dg_layer *l, uint32_t p)
{
    uint64_t len;
    DG_TRY(dg_get_u64(r, &len, "parameter length"));
    if (len > dg_reader_left(r) / sizeof(float))
        return dg_fail(DG_E_FORMAT,
                       "parameter %u declares %llu values at offset %zu, "
                       "only %zu bytes remain in the section",
                       p, (unsigned long long)len, r->pos - 8,
                       dg_reader_left(r));
    DG_TRY(dg_alloc_aligned(&l->param[p], (size_t)len, "layer parameter"));
    l->param_len[p] = (size_t)len;
    return dg_get_f32s(r, l->param[p], (size_t)len, "parameter values");
}

static dg_status read_mask(dg_reader *r, dg_layer *l, uint32_t *mask_len)
{
    DG_TRY(dg_get_u32(r, mask_len, "mask length"));
    if (*mask_len == 0) return DG_OK;
    if (*mask_len > dg_reader_left(r))
        return dg_fail(DG_E_FORMAT,
                       "pruning mask declares %u bytes at offset %zu, only "
                       "%zu remain in the section",
                       *mask_len, r->pos - 4, dg_reader_left(r));
    DG_TRY(dg_alloc_array((void **)&l->mask, *mask_len, 1, "pruning mask"));
    size_t at = r->pos;
    DG_TRY(dg_get_bytes(r, l->mask, *mask_len, "pruning mask"));
    for (uint32_t u = 0; u < *mask_len; u++)
        if (l->mask[u] > 1)
            return dg_fail(DG_E_FORMAT,
                           "pruning mask entry %u at offset %zu is %u, not "
                           "0 or 1",
                           u, at + u, l->mask[u]);
    return DG_OK;
}

static dg_status read_layer(dg_reader *r, dg_layer *l, uint32_t *mask_len)
{
    DG_TRY(get_words(r, l, layer_fields, COUNT(layer_fields)));
    if (l->flags & ~KNOWN_LAYER_FLAGS)
        return dg_fail(DG_E_UNSUPPORTED,
                       "flags 0x%x include bits this library does not know",
                       l->flags);
    DG_TRY(dg_get_u32(r, &l->n_params, "parameter count"));
    if (l->n_params > DG_MAX_PARAMS)
        return dg_fail(DG_E_FORMAT, "%u parameters at offset %zu, at most %d",
                       l->n_params, r->pos - 4, DG_MAX_PARAMS);
    for (uint32_t p = 0; p < l->n_params; p++) DG_TRY(read_param(r, l, p));
    /* Each slot the file leaves empty gets a zero-length stand-in, so that
     * dg_model_finalize reports a missing parameter as a length mismatch
     * instead of allocating it at a size the file dictates. */
    for (uint32_t p = l->n_params; p < DG_MAX_PARAMS; p++)
        DG_TRY(dg_alloc_aligned(&l->param[p], 0, "parameter stand-in"));
    return read_mask(r, l, mask_len);
}

static dg_status read_layers(dg_reader *r, loader *ld)
{
    dg_model *m = ld->m;
    DG_TRY(dg_alloc_array((void **)&ld->mask_len, m->n_layers,
                          sizeof *ld->mask_len, "mask lengths"));
    for (uint32_t i = 0; i < m->n_layers; i++) {
        dg_status s = read_layer(r, &m->layers[i], &ld->mask_len[i]);
        if (s != DG_OK) return dg_fail_context(s, "layer %u", i);
    }
    return DG_OK;
}

/* After dg_model_finalize: frees the stand-ins of parameters the layer
 * does not have and checks each mask against the layer's unit count. */
static dg_status settle_layers(loader *ld)
{
    for (uint32_t i = 0; i < ld->m->n_layers; i++) {
        dg_layer *l = &ld->m->layers[i];
        for (uint32_t p = l->n_params; p < DG_MAX_PARAMS; p++) {
            dg_free_aligned(l->param[p]);
            l->param[p] = NULL;
        }
        if (l->mask && ld->mask_len[i] != dg_layer_units(l))
            return dg_fail(DG_E_SHAPE,
                           "layer %u (%s): the pruning mask has %u entries "
                           "for %u units",
                           i, dg_layer_kind_name(l->kind), ld->mask_len[i],
                           dg_layer_units(l));
    }
    return DG_OK;
}

/* Section LAYX: a record size, then one record per layer, each read for
 * the fields this version knows and skipped to its end. */
static dg_status read_layer_ext(dg_reader *r, dg_model *m)
{
    uint32_t size;
    DG_TRY(dg_get_u32(r, &size, "LAYX record size"));
    if (size < LAYER_EXT_SIZE || size > dg_reader_left(r) ||
        m->n_layers > dg_reader_left(r) / size)
        return dg_fail(DG_E_FORMAT,
                       "section LAYX: %u layer records of %u bytes do not "
                       "fit in the %zu bytes left (at least %zu each)",
                       m->n_layers, size, dg_reader_left(r),
                       (size_t)LAYER_EXT_SIZE);
    for (uint32_t i = 0; i < m->n_layers; i++) {
        size_t end = r->pos + size;
        DG_TRY(get_words(r, &m->layers[i], layer_ext_fields,
                         COUNT(layer_ext_fields)));
        r->pos = end;
    }
    return DG_OK;
}

static dg_status parse(const uint8_t *data, size_t size, loader *ld)
{
    dg_reader file, sec;
    char tag[5];
    DG_TRY(open_file(data, size, &file));
    DG_TRY(expect_section(&file, "HEAD", &sec));
    dg_status s = read_head(&sec, dg_reader_left(&file), ld);
    if (s != DG_OK) return dg_fail_context(s, "section HEAD");
    DG_TRY(expect_section(&file, "LAYR", &sec));
    DG_TRY(read_layers(&sec, ld));
    /* Of what follows, this version reads LAYX (1.1); META and sections of
     * later minor versions hold nothing it needs. */
    while (dg_reader_left(&file) > 0) {
        DG_TRY(next_section(&file, tag, &sec));
        if (strcmp(tag, "LAYX") == 0) DG_TRY(read_layer_ext(&sec, ld->m));
    }
    DG_TRY(dg_model_finalize(ld->m));
    return settle_layers(ld);
}

dg_status dg_model_read(const void *data, size_t size, dg_model **out)
{
    loader ld = {NULL, NULL};
    *out = NULL;
    dg_status s = parse(data, size, &ld);
    free(ld.mask_len);
    if (s != DG_OK) {
        dg_model_destroy(ld.m);
        return s;
    }
    *out = ld.m;
    return DG_OK;
}

dg_status dg_model_put_embedded(const dg_model *m, dg_writer *w)
{
    size_t at = w->len;
    dg_put_u64(w, 0); /* the length, known once the model is written */
    size_t start = w->len;
    dg_model_write(m, w);
    uint64_t len = w->len - start;
    dg_patch_u32(w, at, (uint32_t)len);
    dg_patch_u32(w, at + 4, (uint32_t)(len >> 32));
    return w->status;
}

dg_status dg_model_get_embedded(dg_reader *r, dg_model **out, const char *what)
{
    *out = NULL;
    uint64_t len;
    DG_TRY(dg_get_u64(r, &len, what));
    if (len > dg_reader_left(r))
        return dg_fail(DG_E_FORMAT, "%s: a model of %llu bytes exceeds the "
                                    "%zu left",
                       what, (unsigned long long)len, dg_reader_left(r));
    DG_TRY(dg_model_read(r->data + r->pos, (size_t)len, out));
    r->pos += (size_t)len;
    return DG_OK;
}

static dg_status parse_model(void *out, const uint8_t *data, size_t len)
{
    return dg_model_read(data, len, out);
}

dg_status dg_model_load_path(const char *path, dg_model **out)
{
    *out = NULL;
    return dg_file_parse(path, DG_MODEL_FILE_MAX, NULL, parse_model, out);
}

static dg_status write_model_file(const void *m, dg_writer *w)
{
    DG_TRY(dg_model_write(m, w));
    if (w->len > DG_MODEL_FILE_MAX)
        return dg_fail(DG_E_UNSUPPORTED,
                       "the model file would be %zu bytes, more than the %zu "
                       "that dg_model_load_file accepts",
                       w->len, DG_MODEL_FILE_MAX);
    return DG_OK;
}

dg_status dg_model_save_path(const dg_model *m, const char *path)
{
    return dg_file_save(path, write_model_file, m);
}
