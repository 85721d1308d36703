/* fuzz_advset.c - adversarial sets (doc/attack.md) from memory, through the
 * parser behind dg_advset_load_file (the public API reads only files); a
 * set that loads is read back through every accessor. */
#include <stdlib.h>

#include "attack/advset.h"
#include "fuzz.h"

static void load(const uint8_t *data, size_t size)
{
    dg_advset *set;
    if (dg_advset_parse(data, size, &set) != DG_OK) return;
    uint32_t count, c, h, w;
    const char *text;
    dg_attack_opts o = {.struct_size = sizeof o};
    if (dg_advset_count(set, &count) != DG_OK ||
        dg_advset_shape(set, &c, &h, &w) != DG_OK ||
        dg_advset_settings(set, &o) != DG_OK ||
        dg_advset_description(set, &text) != DG_OK)
        abort();
    for (uint32_t i = 0; i < count; i++) {
        dg_advset_item item = {.struct_size = sizeof item};
        const uint8_t *pixels;
        if (dg_advset_item_get(set, i, &item) != DG_OK ||
            dg_advset_pixels(set, i, &pixels) != DG_OK)
            abort();
    }
    if (count > 0) {
        size_t len = (size_t)c * h * w;
        float *input = malloc(len * sizeof *input);
        uint32_t first = 0;
        if (!input || dg_advset_batch(set, NULL, &first, 1, input, len) !=
                          DG_OK)
            abort();
        free(input);
    }
    dg_advset_free(set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_twice(data, size, fuzz_repair_sized, load);
    return 0;
}
