/* attack.c - public entry points of the attack evaluation API: options and
 * presets, dg_attack_run, dg_dssim, adversarial sets, attack runs that make
 * them (lib/eval) and PNG examples. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "attack/advset.h"
#include "attack/attack.h"
#include "attack/msssim.h"
#include "core/alloc.h"
#include "eval/eval.h"
#include "io/image.h"
#include "io/png_write.h"

/* The first published layout ended with progress_user. */
#define ATTACK_OPTS_V1 offsetof(dg_attack_opts, adaptive_models)

dg_status dg_attack_opts_init(dg_attack_opts *o, size_t struct_size,
                              int32_t preset)
{
    dg_attack_opts full = {.struct_size = sizeof full};
    DG_TRY(dg_attack_preset(&full, preset));
    return dg_init_prefix(o, struct_size, &full, sizeof full, ATTACK_OPTS_V1,
                          "dg_attack_opts");
}

/* The caller's options over the defaults, for an older caller's layout. */
static dg_status complete_attack_opts(const dg_attack_opts *o,
                                      dg_attack_opts *full)
{
    DG_CHECK_STRUCT(o, dg_attack_opts, ATTACK_OPTS_V1);
    DG_TRY(dg_attack_opts_init(full, sizeof *full, DG_ATTACK_PRESET_STRONG));
    dg_complete_struct(full, sizeof *full, o);
    return DG_OK;
}

dg_status dg_attack_run(const dg_model *model, const dg_attack_opts *o,
                        const float *sources, const float *targets,
                        const int32_t *labels, uint32_t n,
                        float *adversarial, float *dssim,
                        float *feature_distance, uint8_t *within_budget)
{
    DG_CHECK_ARG(model && sources && adversarial);
    dg_attack_opts full;
    DG_TRY(complete_attack_opts(o, &full));
    dg_attack_io io = {sources,     targets, labels,
                       adversarial, dssim,   feature_distance,
                       within_budget};
    return dg_attack_launch(model, &full, n, &io);
}

dg_status dg_dssim(const float *a, const float *b, uint32_t c, uint32_t h,
                   uint32_t w, float *out)
{
    DG_CHECK_ARG(a && b && out);
    dg_msssim *p;
    DG_TRY(dg_msssim_create(c, h, w, &p));
    size_t len = (size_t)c * h * w;
    dg_status s = dg_check_finite(a, len, len, "image a");
    if (s == DG_OK) s = dg_check_finite(b, len, len, "image b");
    if (s == DG_OK) *out = (float)dg_dssim_eval(p, a, b, NULL);
    dg_msssim_free(p);
    return s;
}

/* ------------------------------------------------------------------------ */
/* Adversarial sets                                                         */
/* ------------------------------------------------------------------------ */

dg_status dg_advset_create(const dg_attack_opts *settings, uint32_t channels,
                           uint32_t height, uint32_t width,
                           const char *description, dg_advset **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_STRUCT(settings, dg_attack_opts, ATTACK_OPTS_V1);
    dg_shape shape = {channels, height, width};
    return dg_advset_new(settings, shape, description ? description : "",
                         out);
}

dg_status dg_advset_add(dg_advset *set, const dg_advset_item *item,
                        const float *pixels, size_t pixels_len)
{
    DG_CHECK_ARG(set && pixels);
    DG_CHECK_STRUCT(item, dg_advset_item, sizeof(dg_advset_item));
    if (pixels_len != set->pixels)
        return dg_fail(DG_E_SHAPE, "pixels_len is %zu; images of %ux%ux%u "
                                   "need %zu",
                       pixels_len, set->shape.c, set->shape.h, set->shape.w,
                       set->pixels);
    DG_TRY(dg_check_finite(pixels, pixels_len, pixels_len, "image"));
    return dg_advset_append(set, item, pixels);
}

dg_status dg_advset_save_file(const dg_advset *set, const char *path)
{
    DG_CHECK_ARG(set && path);
    return dg_advset_save(set, path);
}

dg_status dg_advset_load_file(const char *path, dg_advset **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(path);
    return dg_advset_load(path, out);
}

dg_status dg_advset_merge(const dg_advset *const *parts, uint32_t n,
                          dg_advset **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(parts);
    for (uint32_t k = 0; k < n; k++)
        if (!parts[k])
            return dg_fail(DG_E_INVALID_ARG, "part %u is NULL", k);
    return dg_advset_join(parts, n, out);
}

dg_status dg_advset_count(const dg_advset *set, uint32_t *count)
{
    DG_CHECK_ARG(set && count);
    *count = set->count;
    return DG_OK;
}

dg_status dg_advset_shape(const dg_advset *set, uint32_t *channels,
                          uint32_t *height, uint32_t *width)
{
    DG_CHECK_ARG(set && channels && height && width);
    *channels = set->shape.c;
    *height = set->shape.h;
    *width = set->shape.w;
    return DG_OK;
}

dg_status dg_advset_settings(const dg_advset *set, dg_attack_opts *o)
{
    DG_CHECK_ARG(set);
    DG_CHECK_STRUCT(o, dg_attack_opts, ATTACK_OPTS_V1);
    uint32_t size = o->struct_size;
    memcpy(o, &set->settings, size < sizeof *o ? size : sizeof *o);
    o->struct_size = size;
    return DG_OK;
}

dg_status dg_advset_description(const dg_advset *set, const char **text)
{
    DG_CHECK_ARG(set && text);
    *text = set->description;
    return DG_OK;
}

static dg_status check_item_index(const dg_advset *set, uint32_t index)
{
    if (index >= set->count)
        return dg_fail(DG_E_INVALID_ARG, "item %u of %u", index, set->count);
    return DG_OK;
}

dg_status dg_advset_item_get(const dg_advset *set, uint32_t index,
                             dg_advset_item *item)
{
    DG_CHECK_ARG(set);
    DG_CHECK_STRUCT(item, dg_advset_item, sizeof(dg_advset_item));
    DG_TRY(check_item_index(set, index));
    uint32_t size = item->struct_size;
    memcpy(item, &set->items[index], sizeof *item);
    item->struct_size = size;
    return DG_OK;
}

dg_status dg_advset_pixels(const dg_advset *set, uint32_t index,
                           const uint8_t **pixels)
{
    DG_CHECK_ARG(pixels);
    *pixels = NULL;
    DG_CHECK_ARG(set);
    DG_TRY(check_item_index(set, index));
    *pixels = set->data + (size_t)index * set->pixels;
    return DG_OK;
}

dg_status dg_advset_batch(const dg_advset *set, const dg_model *m,
                          const uint32_t *indices, uint32_t n, float *out,
                          size_t out_len)
{
    DG_CHECK_ARG(set && indices && out && n > 0);
    dg_preprocess pre;
    if (m) {
        if (m->input.c != set->shape.c || m->input.h != set->shape.h ||
            m->input.w != set->shape.w)
            return dg_fail(DG_E_SHAPE,
                           "images are %ux%ux%u; the model takes %ux%ux%u",
                           set->shape.c, set->shape.h, set->shape.w,
                           m->input.c, m->input.h, m->input.w);
        pre = m->pre;
    } else {
        DG_TRY(dg_preprocess_init(&pre, sizeof pre, set->shape.c,
                                  set->shape.h, set->shape.w));
    }
    size_t need;
    if (!dg_mul_ok(n, set->pixels, &need))
        return dg_fail(DG_E_SHAPE, "%u images of %zu pixels overflow", n,
                       set->pixels);
    if (out_len != need)
        return dg_fail(DG_E_SHAPE,
                       "out_len is %zu floats; %u images of %zu pixels need "
                       "%zu",
                       out_len, n, set->pixels, need);
    for (uint32_t k = 0; k < n; k++) DG_TRY(check_item_index(set, indices[k]));
    for (uint32_t k = 0; k < n; k++)
        dg_u8_chw_to_input(&pre, set->data + (size_t)indices[k] * set->pixels,
                           out + (size_t)k * set->pixels);
    return DG_OK;
}

void dg_advset_free(dg_advset *set) { dg_advset_destroy(set); }

dg_status dg_image_save_png(const char *path, const uint8_t *pixels,
                            uint32_t width, uint32_t height, size_t stride,
                            int32_t pixel_format)
{
    DG_CHECK_ARG(path && pixels);
    if (pixel_format != DG_PIXEL_GRAY8 && pixel_format != DG_PIXEL_RGB8)
        return dg_fail(DG_E_INVALID_ARG,
                       "PNG pixel format %d (gray or RGB only)",
                       pixel_format);
    return dg_png_write_file(path, pixels, width, height, stride,
                             pixel_format == DG_PIXEL_RGB8 ? 3 : 1);
}

dg_status dg_advset_opts_init(dg_advset_opts *o, size_t struct_size)
{
    DG_INIT_STRUCT(o, struct_size, dg_advset_opts);
    o->count = 100;
    o->target_class = -1;
    return DG_OK;
}

dg_status dg_advset_make(const dg_model *teacher, const dg_model *student,
                         const dg_dataset *data, const dg_attack_opts *attack,
                         const dg_advset_opts *o, dg_advset **out,
                         uint32_t *target_index)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(teacher && student && data);
    dg_attack_opts full_attack;
    DG_TRY(complete_attack_opts(attack, &full_attack));
    DG_CHECK_STRUCT(o, dg_advset_opts, sizeof(dg_advset_opts));
    dg_advset_opts full;
    DG_TRY(dg_advset_opts_init(&full, sizeof full));
    dg_complete_struct(&full, sizeof full, o);
    if (full.count == 0)
        return dg_fail(DG_E_INVALID_ARG, "count is 0; a set needs attempts");
    if (full.target_class >= 0 && !full_attack.targeted)
        return dg_fail(DG_E_INVALID_ARG,
                       "target_class %d needs a targeted attack",
                       full.target_class);
    if (full.n_models && !full.models)
        return dg_fail(DG_E_INVALID_ARG, "n_models is %u but models is NULL",
                       full.n_models);
    for (uint32_t k = 0; k < full.n_models; k++)
        if (!full.models[k])
            return dg_fail(DG_E_INVALID_ARG, "models[%u] is NULL", k);
    if (full.shards && full.shard >= full.shards)
        return dg_fail(DG_E_INVALID_ARG, "shard %u of %u", full.shard,
                       full.shards);
    /* A guard consults the members of the class it is asked about: an
     * attack without a target class cannot know which. */
    if (full.guard && !full_attack.targeted &&
        !dg_attack_is_mimicry(full_attack.method))
        return dg_fail(DG_E_INVALID_ARG, "an untargeted attack has no target "
                                         "class to take guard members of");
    return dg_eval_make_advset(teacher, student, data, &full_attack, &full,
                               out, target_index);
}

dg_status dg_advset_origin_init(dg_advset_origin *o, size_t struct_size)
{
    DG_INIT_STRUCT(o, struct_size, dg_advset_origin);
    o->preset = DG_ATTACK_PRESET_STRONG;
    return DG_OK;
}

dg_status dg_advset_describe(const dg_advset_origin *o,
                             const dg_attack_opts *attack, char *text,
                             size_t capacity)
{
    DG_CHECK_ARG(text && capacity > 0);
    text[0] = '\0';
    DG_CHECK_STRUCT(o, dg_advset_origin, sizeof(dg_advset_origin));
    dg_advset_origin full;
    DG_TRY(dg_advset_origin_init(&full, sizeof full));
    dg_complete_struct(&full, sizeof full, o);
    DG_CHECK_ARG(full.data && full.teacher && full.student);
    dg_attack_opts full_attack;
    DG_TRY(complete_attack_opts(attack, &full_attack));
    dg_describe_attack(&full, &full_attack, text, capacity);
    return DG_OK;
}
