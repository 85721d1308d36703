/* fuzz_image.c - PNG and JPEG decoding from memory, into a gray 8x8 model's
 * input and an RGB 12x10 one's (channel conversion and resizing). */
#include <stdlib.h>

#include "fuzz.h"

static dg_model *gray, *rgb;

static void decode(const uint8_t *data, size_t size)
{
    float gray_input[8 * 8], rgb_input[3 * 12 * 10];
    if (dg_image_decode(gray, data, size, gray_input, 8 * 8) == DG_OK)
        dg_image_decode(rgb, data, size, rgb_input, 3 * 12 * 10);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!gray && (dg_model_create("fc2", 1, 8, 8, 1, &gray) != DG_OK ||
                  dg_model_create("fc2", 3, 12, 10, 1, &rgb) != DG_OK))
        abort();
    /* JPEG has no checksum; fuzz_repair_png leaves it alone. */
    fuzz_twice(data, size, fuzz_repair_png, decode);
    return 0;
}
