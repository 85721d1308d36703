/* model.c - public entry points for models: creation, reference counting,
 * and read-only queries. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/alloc.h"
#include "nn/model.h"
#include "nn/spec.h"

dg_status dg_check_struct(const void *p, size_t struct_size, size_t v1_size,
                          size_t known_size, const char *type)
{
    if (!p) return dg_fail(DG_E_INVALID_ARG, "%s pointer is NULL", type);
    if (struct_size < v1_size)
        return dg_fail(DG_E_ABI, "%s.struct_size is %zu, less than %zu", type,
                       struct_size, v1_size);
    const unsigned char *tail = (const unsigned char *)p + known_size;
    for (size_t k = known_size; k < struct_size; k++, tail++)
        if (*tail)
            return dg_fail(DG_E_ABI,
                           "%s has fields beyond the %zu bytes this library "
                           "knows",
                           type, known_size);
    return DG_OK;
}

dg_status dg_check_index(uint32_t index, uint32_t count, const char *what)
{
    if (index >= count)
        return dg_fail(DG_E_INVALID_ARG, "%s %u of %u", what, index, count);
    return DG_OK;
}

dg_status dg_check_finite(const float *values, size_t len, size_t per_item,
                          const char *what)
{
    for (size_t k = 0; k < len; k++)
        if (!isfinite(values[k]))
            return dg_fail(DG_E_INVALID_ARG,
                           "%s %zu: value %zu is %g, not a finite number",
                           what, k / per_item, k % per_item,
                           (double)values[k]);
    return DG_OK;
}

dg_status dg_init_struct(void *p, size_t struct_size, size_t known_size,
                         const char *type)
{
    if (!p) return dg_fail(DG_E_INVALID_ARG, "%s pointer is NULL", type);
    if (struct_size < known_size)
        return dg_fail(DG_E_ABI, "%s struct_size %zu < %zu", type,
                       struct_size, known_size);
    memset(p, 0, struct_size);
    *(uint32_t *)p = (uint32_t)known_size;
    return DG_OK;
}

dg_status dg_init_prefix(void *p, size_t struct_size, const void *full,
                         size_t known_size, size_t v1_size, const char *type)
{
    if (!p) return dg_fail(DG_E_INVALID_ARG, "%s pointer is NULL", type);
    if (struct_size < v1_size)
        return dg_fail(DG_E_ABI, "%s struct_size %zu < %zu", type,
                       struct_size, v1_size);
    size_t filled = struct_size < known_size ? struct_size : known_size;
    memset(p, 0, struct_size);
    memcpy(p, full, filled);
    *(uint32_t *)p = (uint32_t)filled;
    return DG_OK;
}

dg_status dg_copy_out(const dg_writer *w, void *buf, size_t capacity,
                      size_t *size_out, const char *what)
{
    *size_out = w->len;
    if (buf && capacity < w->len)
        return dg_fail(DG_E_INVALID_ARG,
                       "a buffer of %zu bytes cannot hold the %zu-byte %s",
                       capacity, w->len, what);
    if (buf) memcpy(buf, w->data, w->len);
    return DG_OK;
}

dg_status dg_preprocess_init(dg_preprocess *p, size_t struct_size,
                             uint32_t channels, uint32_t height,
                             uint32_t width)
{
    DG_INIT_STRUCT(p, struct_size, dg_preprocess);
    dg_preprocess_default(p, (dg_shape){channels, height, width});
    return DG_OK;
}

uint64_t dg_limit(int32_t which) { return dg_work_limit(which); }

dg_status dg_set_limit(int32_t which, uint64_t value)
{
    return dg_work_limit_set(which, value);
}

dg_status dg_model_create(const char *spec, uint32_t channels,
                          uint32_t height, uint32_t width, uint64_t seed,
                          dg_model **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(spec);
    dg_model *m;
    DG_TRY(dg_spec_parse(spec, (dg_shape){channels, height, width}, &m));
    dg_model_init_weights(m, 0, seed);
    *out = m;
    return DG_OK;
}

dg_model *dg_model_retain(dg_model *m) { return dg_model_ref(m); }

void dg_model_free(dg_model *m) { dg_model_unref(m); }

dg_status dg_model_input_shape(const dg_model *m, uint32_t *channels,
                               uint32_t *height, uint32_t *width)
{
    DG_CHECK_ARG(m);
    if (channels) *channels = m->input.c;
    if (height) *height = m->input.h;
    if (width) *width = m->input.w;
    return DG_OK;
}

dg_status dg_model_layer_count(const dg_model *m, uint32_t *count)
{
    DG_CHECK_ARG(m && count);
    *count = m->n_layers;
    return DG_OK;
}

dg_status dg_model_output_size(const dg_model *m, uint32_t *size)
{
    DG_CHECK_ARG(m && size);
    *size = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    return DG_OK;
}

dg_status dg_model_layer_info(const dg_model *m, uint32_t index,
                              dg_layer_info *info)
{
    DG_CHECK_ARG(m);
    DG_CHECK_STRUCT(info, dg_layer_info, sizeof(dg_layer_info));
    if (index >= m->n_layers)
        return dg_fail(DG_E_INVALID_ARG, "layer %u of %u", index,
                       m->n_layers);
    dg_layer_info v;
    dg_layer_info_of(m, index, &v);
    v.struct_size = info->struct_size;
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_model_preprocess(const dg_model *m, dg_preprocess *p)
{
    DG_CHECK_ARG(m);
    DG_CHECK_STRUCT(p, dg_preprocess, sizeof(dg_preprocess));
    uint32_t size = p->struct_size;
    *p = m->pre;
    p->struct_size = size;
    return DG_OK;
}

dg_status dg_model_set_preprocess(dg_model *m, const dg_preprocess *p)
{
    DG_CHECK_ARG(m);
    DG_CHECK_STRUCT(p, dg_preprocess, sizeof(dg_preprocess));
    DG_TRY(dg_preprocess_validate(p, m->input));
    m->pre = *p;
    m->pre.struct_size = sizeof m->pre;
    return DG_OK;
}

dg_status dg_model_class_name(const dg_model *m, uint32_t index,
                              const char **name)
{
    DG_CHECK_ARG(m && name);
    uint32_t n = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    if (index >= n)
        return dg_fail(DG_E_INVALID_ARG, "class %u of %u", index, n);
    *name = dg_model_class_label(m, index);
    return DG_OK;
}

dg_status dg_model_set_class_names(dg_model *m, const char *const *names,
                                   uint32_t count)
{
    DG_CHECK_ARG(m && (names || count == 0));
    return dg_model_name_classes(m, names, count);
}

DG_API_ALIAS(dg_model_get_preprocess, dg_model_preprocess);
