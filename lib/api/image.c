/* image.c - public entry points for images: 8-bit pixels, encoded buffers
 * and files, preprocessed into a model's input. */
#include "api/api.h"
#include "io/image.h"
#include "nn/model.h"

/* out must hold exactly one input of the model. */
static dg_status check_out_len(const dg_model *m, size_t out_len)
{
    size_t need = dg_shape_size(m->input);
    if (out_len != need)
        return dg_fail(DG_E_SHAPE,
                       "out_len is %zu floats; the model input %ux%ux%u "
                       "needs %zu",
                       out_len, m->input.c, m->input.h, m->input.w, need);
    return DG_OK;
}

/* Preprocesses a decoded image for m, then releases it. */
static dg_status decoded_to_input(const dg_model *m, dg_decoded_image *img,
                                  float *out)
{
    dg_status s = dg_pixels_to_input(
        &m->pre, img->pixels, img->width, img->height,
        (size_t)img->width * img->channels, dg_decoded_image_format(img),
        out);
    dg_decoded_image_release(img);
    return s;
}

dg_status dg_image_from_pixels(const dg_model *m, const uint8_t *pixels,
                               uint32_t width, uint32_t height, size_t stride,
                               int32_t pixel_format, float *out,
                               size_t out_len)
{
    DG_CHECK_ARG(m && pixels && out);
    DG_TRY(check_out_len(m, out_len));
    DG_TRY(dg_pixels_check(width, height, stride, pixel_format));
    return dg_pixels_to_input(&m->pre, pixels, width, height, stride,
                              pixel_format, out);
}

dg_status dg_image_decode(const dg_model *m, const void *data, size_t size,
                          float *out, size_t out_len)
{
    DG_CHECK_ARG(m && data && out);
    DG_TRY(check_out_len(m, out_len));
    dg_decoded_image img;
    DG_TRY(dg_image_decode_pixels(data, size, &img));
    return decoded_to_input(m, &img, out);
}

dg_status dg_image_load_file(const dg_model *m, const char *path, float *out,
                             size_t out_len)
{
    DG_CHECK_ARG(m && path && out);
    DG_TRY(check_out_len(m, out_len));
    dg_decoded_image img;
    DG_TRY(dg_image_decode_file(path, &img));
    return decoded_to_input(m, &img, out);
}

static dg_status image_info_out(const dg_decoded_image *header,
                                dg_image_info *info)
{
    dg_image_info v = {info->struct_size, header->width, header->height,
                       header->channels};
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_image_probe(const void *data, size_t size, dg_image_info *info)
{
    DG_CHECK_ARG(data);
    DG_CHECK_STRUCT(info, dg_image_info, sizeof(dg_image_info));
    dg_decoded_image header;
    DG_TRY(dg_image_read_header(data, size, &header));
    return image_info_out(&header, info);
}

dg_status dg_image_probe_file(const char *path, dg_image_info *info)
{
    DG_CHECK_ARG(path);
    DG_CHECK_STRUCT(info, dg_image_info, sizeof(dg_image_info));
    dg_decoded_image header;
    DG_TRY(dg_image_read_header_file(path, &header));
    return image_info_out(&header, info);
}
