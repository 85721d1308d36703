/* attack.c - public entry points of the attack evaluation API: options and
 * presets, dg_attack_run, dg_dssim, adversarial sets and PNG examples. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "attack/advset.h"
#include "attack/attack.h"
#include "attack/msssim.h"
#include "core/alloc.h"
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

dg_status dg_attack_run(const dg_model *model, const dg_attack_opts *o,
                        const float *sources, const float *targets,
                        const int32_t *labels, uint32_t n,
                        float *adversarial, float *dssim,
                        float *feature_distance, uint8_t *within_budget)
{
    DG_CHECK_ARG(model && sources && adversarial);
    DG_CHECK_STRUCT(o, dg_attack_opts, ATTACK_OPTS_V1);
    dg_attack_opts full;
    DG_TRY(dg_attack_opts_init(&full, sizeof full, DG_ATTACK_PRESET_STRONG));
    dg_complete_struct(&full, sizeof full, o);
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
