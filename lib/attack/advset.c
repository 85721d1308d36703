/* advset.c - adversarial sets in memory and on disk.
 *
 * The file (doc/attack.md) is little-endian: a preamble with magic,
 * version and total size; the shape and count; the attack settings; the
 * description; fixed-size item records with their pixels; a CRC-32 of
 * everything before it.  A reader checks the size field and the checksum,
 * then every count against the bytes present, before allocating. */
#include "attack/advset.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack/attack.h"
#include "core/alloc.h"
#include "core/bytes.h"
#include "core/file.h"

static const char MAGIC[8] = {'D', 'G', 'A', 'D', 'V', 'S', 'E', 'T'};
#define FORMAT_MAJOR 1u
#define FORMAT_MINOR 0u

enum {
    SIZE_FIELD_AT = 16, /* after magic, major, minor */
    CRC_SIZE = 4,
    /* source index, 3 labels, dssim, distance (4 bytes each), 2 flags */
    ITEM_FIXED_SIZE = 6 * 4 + 2,
    MAX_SIDE = 65536
};

/* The recorded settings: 4-byte fields of dg_attack_opts (integers as two's
 * complement, floats as IEEE-754 bits), then the 64-bit seed. */
#define SETTING(member)                                                       \
    offsetof(dg_attack_opts, member) +                                        \
        0 * sizeof(char[sizeof(((dg_attack_opts *)0)->member) == 4 ? 1 : -1])
static const size_t setting_words[] = {
    SETTING(method),        SETTING(feature_layer), SETTING(targeted),
    SETTING(budget),        SETTING(lambda),        SETTING(epsilon),
    SETTING(step),          SETTING(iterations),    SETTING(optimizer),
    SETTING(learning_rate), SETTING(patience),      SETTING(min_improvement),
    SETTING(random_start),  SETTING(batch_size),
};
enum { N_SETTING_WORDS = sizeof setting_words / sizeof *setting_words };

void dg_advset_destroy(dg_advset *s)
{
    if (!s) return;
    free(s->items);
    free(s->data);
    free(s);
}

/* The file does not record the adaptive fields (its format predates them;
 * `dg attack` writes them into the description): they read as defaults. */
static void adaptive_defaults(dg_attack_opts *o)
{
    o->adaptive_weight = DG_ATTACK_DEFAULT_ADAPTIVE_WEIGHT;
    o->feature_weight = DG_ATTACK_DEFAULT_FEATURE_WEIGHT;
}

static void keep_settings(dg_advset *s, const dg_attack_opts *o)
{
    memset(&s->settings, 0, sizeof s->settings);
    s->settings.struct_size = sizeof s->settings;
    for (size_t k = 0; k < N_SETTING_WORDS; k++)
        memcpy((char *)&s->settings + setting_words[k],
               (const char *)o + setting_words[k], 4);
    s->settings.seed = o->seed;
    adaptive_defaults(&s->settings);
}

/* Attempts are model inputs: 1 or 3 channels, as preprocessing allows
 * (dg_advset_batch preprocesses them by channel). */
static dg_status check_shape(dg_shape shape)
{
    if ((shape.c != 1 && shape.c != 3) || shape.h == 0 || shape.w == 0 ||
        shape.h > MAX_SIDE || shape.w > MAX_SIDE)
        return dg_fail(DG_E_SHAPE, "adversarial images of %ux%ux%u",
                       shape.c, shape.h, shape.w);
    return DG_OK;
}

dg_status dg_advset_new(const dg_attack_opts *settings, dg_shape shape,
                        const char *description, dg_advset **out)
{
    *out = NULL;
    DG_TRY(check_shape(shape));
    size_t len = strlen(description);
    if (len > DG_ADVSET_DESCRIPTION_MAX)
        return dg_fail(DG_E_INVALID_ARG,
                       "description of %zu bytes; at most %u", len,
                       DG_ADVSET_DESCRIPTION_MAX);
    dg_advset *s;
    DG_TRY(dg_alloc_array((void **)&s, 1, sizeof *s, "adversarial set"));
    keep_settings(s, settings);
    s->shape = shape;
    s->pixels = dg_shape_size(shape);
    memcpy(s->description, description, len + 1);
    *out = s;
    return DG_OK;
}

static dg_status reserve(dg_advset *s, uint32_t need)
{
    if (need <= s->capacity) return DG_OK;
    uint32_t cap = s->capacity ? s->capacity : 64;
    while (cap < need) cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
    size_t data_len;
    if (!dg_mul_ok(cap, s->pixels, &data_len))
        return dg_fail(DG_E_NOMEM, "%u adversarial images", cap);
    dg_advset_item *items = realloc(s->items, (size_t)cap * sizeof *items);
    if (!items) return dg_fail(DG_E_NOMEM, "%u adversarial items", cap);
    s->items = items;
    uint8_t *data = realloc(s->data, data_len);
    if (!data) return dg_fail(DG_E_NOMEM, "%u adversarial images", cap);
    s->data = data;
    s->capacity = cap;
    return DG_OK;
}

/* An attempt's source is a class; its target and the Student's answer
 * are a class or -1 (none, not measured).  A label below -1 would read as
 * "untargeted" or "not measured" downstream without anyone saying so. */
static dg_status check_labels(const dg_advset_item *it, uint32_t i,
                              dg_status status)
{
    if (it->source_label < 0)
        return dg_fail(status, "item %u: source label %d is not a class", i,
                       it->source_label);
    if (it->target_label < -1)
        return dg_fail(status, "item %u: target label %d (a class, or -1 "
                               "for none)",
                       i, it->target_label);
    if (it->student_label < -1)
        return dg_fail(status, "item %u: Student label %d (a class, or -1 "
                               "for not measured)",
                       i, it->student_label);
    return DG_OK;
}

dg_status dg_advset_append(dg_advset *s, const dg_advset_item *item,
                           const float *pixels)
{
    DG_TRY(check_labels(item, s->count, DG_E_INVALID_ARG));
    if (s->count == UINT32_MAX)
        return dg_fail(DG_E_INVALID_ARG, "the adversarial set is full");
    DG_TRY(reserve(s, s->count + 1));
    dg_advset_item *dst = &s->items[s->count];
    *dst = *item;
    dst->struct_size = sizeof *dst;
    dst->within_budget = item->within_budget != 0;
    dst->success = item->success != 0;
    uint8_t *px = s->data + (size_t)s->count * s->pixels;
    for (size_t k = 0; k < s->pixels; k++) {
        float v = pixels[k] * 255.0f;
        px[k] = (uint8_t)(v > 0 ? (v < 255 ? lrintf(v) : 255) : 0);
    }
    s->count++;
    return DG_OK;
}

static void put_item(dg_writer *w, const dg_advset_item *it)
{
    dg_put_u32(w, it->source_index);
    dg_put_u32(w, (uint32_t)it->source_label);
    dg_put_u32(w, (uint32_t)it->target_label);
    dg_put_u32(w, (uint32_t)it->student_label);
    dg_put_f32(w, it->dssim);
    dg_put_f32(w, it->feature_distance);
    dg_put_u8(w, (uint8_t)it->within_budget);
    dg_put_u8(w, (uint8_t)it->success);
}

static dg_status write_advset(const void *obj, dg_writer *w)
{
    const dg_advset *s = obj;
    dg_put_bytes(w, MAGIC, sizeof MAGIC);
    dg_put_u32(w, FORMAT_MAJOR);
    dg_put_u32(w, FORMAT_MINOR);
    dg_put_u64(w, 0); /* the total size, patched below */
    dg_put_u32(w, s->shape.c);
    dg_put_u32(w, s->shape.h);
    dg_put_u32(w, s->shape.w);
    dg_put_u32(w, s->count);
    for (size_t k = 0; k < N_SETTING_WORDS; k++) {
        uint32_t v;
        memcpy(&v, (const char *)&s->settings + setting_words[k], 4);
        dg_put_u32(w, v);
    }
    dg_put_u64(w, s->settings.seed);
    dg_put_str(w, s->description);
    for (uint32_t i = 0; i < s->count; i++) {
        put_item(w, &s->items[i]);
        dg_put_bytes(w, s->data + (size_t)i * s->pixels, s->pixels);
    }
    uint64_t total = (uint64_t)w->len + CRC_SIZE;
    dg_patch_u32(w, SIZE_FIELD_AT, (uint32_t)total);
    dg_patch_u32(w, SIZE_FIELD_AT + 4, (uint32_t)(total >> 32));
    if (w->status == DG_OK) dg_put_u32(w, dg_crc32(w->data, w->len));
    return w->status;
}

dg_status dg_advset_save(const dg_advset *s, const char *path)
{
    return dg_file_save(path, write_advset, s);
}

/* Magic, version, size and checksum; leaves r after the preamble. */
static dg_status check_preamble(dg_reader *r, size_t size)
{
    char magic[sizeof MAGIC];
    uint32_t major, minor;
    uint64_t declared;
    DG_TRY(dg_get_bytes(r, magic, sizeof magic, "magic"));
    if (memcmp(magic, MAGIC, sizeof MAGIC) != 0)
        return dg_fail(DG_E_FORMAT, "not an adversarial set (bad magic)");
    DG_TRY(dg_get_u32(r, &major, "version"));
    DG_TRY(dg_get_u32(r, &minor, "version"));
    if (major != FORMAT_MAJOR)
        return dg_fail(DG_E_UNSUPPORTED,
                       "adversarial set version %u.%u; this library reads "
                       "%u.x",
                       major, minor, FORMAT_MAJOR);
    DG_TRY(dg_get_u64(r, &declared, "file size"));
    if (declared != size)
        return dg_fail(DG_E_FORMAT,
                       "adversarial set is %zu bytes but says %llu "
                       "(truncated or extended)",
                       size, (unsigned long long)declared);
    if (size < CRC_SIZE + r->pos)
        return dg_fail(DG_E_FORMAT, "adversarial set truncated");
    const uint8_t *end = (const uint8_t *)r->data + size - CRC_SIZE;
    uint32_t stored = (uint32_t)end[0] | (uint32_t)end[1] << 8 |
                      (uint32_t)end[2] << 16 | (uint32_t)end[3] << 24;
    if (dg_crc32(r->data, size - CRC_SIZE) != stored)
        return dg_fail(DG_E_FORMAT, "adversarial set checksum mismatch");
    r->len = size - CRC_SIZE; /* the body only, from here on */
    return DG_OK;
}

static dg_status get_settings(dg_reader *r, dg_attack_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    for (size_t k = 0; k < N_SETTING_WORDS; k++) {
        uint32_t v;
        DG_TRY(dg_get_u32(r, &v, "settings"));
        memcpy((char *)o + setting_words[k], &v, 4);
    }
    adaptive_defaults(o);
    return dg_get_u64(r, &o->seed, "settings");
}

static dg_status get_item(dg_reader *r, dg_advset_item *it, uint32_t i)
{
    uint32_t words[4];
    uint8_t flags[2];
    for (int k = 0; k < 4; k++) DG_TRY(dg_get_u32(r, &words[k], "item"));
    it->struct_size = sizeof *it;
    it->source_index = words[0];
    it->source_label = (int32_t)words[1];
    it->target_label = (int32_t)words[2];
    it->student_label = (int32_t)words[3];
    DG_TRY(dg_get_f32(r, &it->dssim, "item"));
    DG_TRY(dg_get_f32(r, &it->feature_distance, "item"));
    DG_TRY(dg_get_bytes(r, flags, 2, "item"));
    if (flags[0] > 1 || flags[1] > 1)
        return dg_fail(DG_E_FORMAT, "item %u: flags %u, %u are not 0 or 1",
                       i, flags[0], flags[1]);
    it->within_budget = flags[0];
    it->success = flags[1];
    return check_labels(it, i, DG_E_FORMAT);
}

static dg_status parse_body(dg_reader *r, dg_advset *s)
{
    uint32_t count;
    DG_TRY(dg_get_u32(r, &s->shape.c, "shape"));
    DG_TRY(dg_get_u32(r, &s->shape.h, "shape"));
    DG_TRY(dg_get_u32(r, &s->shape.w, "shape"));
    DG_TRY(dg_get_u32(r, &count, "count"));
    if (check_shape(s->shape) != DG_OK) return DG_E_FORMAT;
    s->pixels = dg_shape_size(s->shape);
    DG_TRY(get_settings(r, &s->settings));
    DG_TRY(dg_get_str(r, s->description, sizeof s->description,
                      "description"));
    size_t record = ITEM_FIXED_SIZE + s->pixels, need;
    if (!dg_mul_ok(count, record, &need) || need != dg_reader_left(r))
        return dg_fail(DG_E_FORMAT,
                       "%u items of %zu bytes do not fill the %zu bytes "
                       "left",
                       count, record, dg_reader_left(r));
    DG_TRY(reserve(s, count));
    for (uint32_t i = 0; i < count; i++) {
        DG_TRY(get_item(r, &s->items[i], i));
        DG_TRY(dg_get_bytes(r, s->data + (size_t)i * s->pixels, s->pixels,
                            "pixels"));
    }
    s->count = count;
    return DG_OK;
}

dg_status dg_advset_parse(const void *data, size_t size, dg_advset **out)
{
    *out = NULL;
    dg_reader r;
    dg_reader_init(&r, data, size);
    DG_TRY(check_preamble(&r, size));
    dg_advset *s;
    DG_TRY(dg_alloc_array((void **)&s, 1, sizeof *s, "adversarial set"));
    dg_status st = parse_body(&r, s);
    if (st != DG_OK) {
        dg_advset_destroy(s);
        return st;
    }
    *out = s;
    return DG_OK;
}

static dg_status parse_advset(void *out, const uint8_t *data, size_t len)
{
    return dg_advset_parse(data, len, out);
}

dg_status dg_advset_load(const char *path, dg_advset **out)
{
    *out = NULL;
    return dg_file_parse(path, DG_ADVSET_MAX_FILE, "reading", parse_advset,
                         out);
}

/* ---- merging the parts of a sharded attack run ----------------------------
 * Kept apart from loading: a part is an ordinary set whose description ends
 * with the shard mark (DG_ADVSET_SHARD_MARK); the merge orders the parts by
 * it and joins them into the set the unsharded run writes. */

/* Splits a part's description into its base length and its mark. */
static dg_status read_shard_mark(const dg_advset *part, uint32_t k,
                                 size_t *base, uint32_t *index,
                                 uint32_t *shards, uint32_t *total)
{
    const char *mark = strrchr(part->description, '[');
    unsigned i = 0, n = 0, t = 0;
    int end = -1;
    if (mark && mark > part->description && mark[-1] == ' ')
        sscanf(mark - 1, DG_ADVSET_SHARD_MARK "%n", &i, &n, &t, &end);
    if (end < 0 || mark[end - 1] != '\0' || n == 0 || i >= n)
        return dg_fail(DG_E_MISMATCH,
                       "part %u is not a shard of an attack run (its "
                       "description does not end with \"[shard I/N of T "
                       "attempts]\")",
                       k);
    *base = (size_t)(mark - 1 - part->description);
    *index = i;
    *shards = n;
    *total = t;
    return DG_OK;
}

/* Whether part b was made by the run of part a: shape, recorded settings
 * and description (without the mark); NULL if so, else what differs. */
static const char *run_difference(const dg_advset *a, size_t a_base,
                                  const dg_advset *b, size_t b_base)
{
    if (a->shape.c != b->shape.c || a->shape.h != b->shape.h ||
        a->shape.w != b->shape.w)
        return "image shape";
    for (size_t k = 0; k < N_SETTING_WORDS; k++)
        if (memcmp((const char *)&a->settings + setting_words[k],
                   (const char *)&b->settings + setting_words[k], 4) != 0)
            return "attack settings";
    if (a->settings.seed != b->settings.seed) return "seed";
    if (a_base != b_base || memcmp(a->description, b->description, a_base))
        return "description (data, classes, models or method)";
    return NULL;
}

/* Puts the parts in shard order into order[], checking that they are one
 * run's and that every shard is there once. */
static dg_status order_parts(const dg_advset *const *parts, uint32_t n,
                             const dg_advset **order, size_t *base)
{
    uint32_t shards = 0, total = 0;
    uint64_t attempts = 0;
    for (uint32_t k = 0; k < n; k++) {
        size_t b = 0;
        uint32_t i = 0, s = 0, t = 0;
        DG_TRY(read_shard_mark(parts[k], k, &b, &i, &s, &t));
        if (k == 0) {
            shards = s;
            total = t;
            *base = b;
            if (n != shards)
                return dg_fail(DG_E_MISMATCH,
                               "%u parts of a run in %u shards", n, shards);
        }
        const char *differs = run_difference(parts[0], *base, parts[k], b);
        if (s != shards || t != total) differs = "shard count or attempts";
        if (differs)
            return dg_fail(DG_E_MISMATCH,
                           "part %u (shard %u) is of another run than part "
                           "0: its %s differs",
                           k, i, differs);
        if (order[i])
            return dg_fail(DG_E_MISMATCH, "shard %u of %u given twice", i,
                           shards);
        order[i] = parts[k];
        attempts += parts[k]->count;
    }
    if (attempts != total)
        return dg_fail(DG_E_MISMATCH,
                       "the parts hold %llu attempts; the run made %u",
                       (unsigned long long)attempts, total);
    return DG_OK;
}

static dg_status join_parts(const dg_advset **order, uint32_t n, size_t base,
                            dg_advset **out)
{
    char description[DG_ADVSET_DESCRIPTION_MAX + 1];
    memcpy(description, order[0]->description, base);
    description[base] = '\0';
    DG_TRY(dg_advset_new(&order[0]->settings, order[0]->shape, description,
                         out));
    dg_advset *s = *out;
    uint32_t count = 0;
    for (uint32_t k = 0; k < n; k++) count += order[k]->count;
    dg_status st = reserve(s, count);
    for (uint32_t k = 0; k < n && st == DG_OK; k++) {
        memcpy(s->items + s->count, order[k]->items,
               order[k]->count * sizeof *s->items);
        memcpy(s->data + (size_t)s->count * s->pixels, order[k]->data,
               (size_t)order[k]->count * s->pixels);
        s->count += order[k]->count;
    }
    if (st != DG_OK) {
        dg_advset_destroy(s);
        *out = NULL;
    }
    return st;
}

dg_status dg_advset_join(const dg_advset *const *parts, uint32_t n,
                         dg_advset **out)
{
    *out = NULL;
    if (n == 0) return dg_fail(DG_E_INVALID_ARG, "no parts to merge");
    const dg_advset **order;
    DG_TRY(dg_alloc_array((void **)&order, n, sizeof *order, "parts"));
    size_t base = 0;
    dg_status st = order_parts(parts, n, order, &base);
    if (st == DG_OK) st = join_parts(order, n, base, out);
    free(order);
    return st;
}
