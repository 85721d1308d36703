/* fuzz_guard.c - guard files (doc/guard-format.md) from memory against a
 * fixed Student (fuzz/guard_student.dgm, the one fuzz/corpus/guard was
 * built for): a guard that loads is described member by member and
 * validates an input, unlabelled and labelled. */
#include <stdlib.h>

#include "fuzz.h"

/* Every member cheap enough to run (fuzz.h). */
static int members_are_cheap(const dg_guard *g, const dg_guard_info *info)
{
    for (uint32_t c = 0; c < info->classes; c++)
        for (uint32_t r = 0; r < info->variants; r++) {
            dg_member_info mi = {.struct_size = sizeof mi};
            dg_model *m;
            if (dg_guard_member(g, c, r, &mi) != DG_OK ||
                dg_guard_member_model(g, c, r, &m) != DG_OK)
                abort();
            int cheap = fuzz_model_is_cheap(m);
            dg_model_free(m);
            if (!cheap) return 0;
        }
    return 1;
}

static void validate(const dg_guard *g, const dg_model *student)
{
    uint32_t c, h, w;
    dg_validator *v;
    if (dg_model_input_shape(student, &c, &h, &w) != DG_OK ||
        dg_validator_create(g, NULL, &v) != DG_OK)
        return;
    size_t len = (size_t)c * h * w;
    float *input = calloc(len, sizeof *input);
    dg_verdict verdict = {.struct_size = sizeof verdict};
    int32_t label = 0;
    if (input) {
        dg_validate(v, input, len, 1, &verdict);
        dg_validate_labeled(v, input, len, 1, &label, &verdict);
    }
    free(input);
    dg_validator_free(v);
}

static dg_model *student;

static void load(const uint8_t *data, size_t size)
{
    dg_guard *g;
    if (dg_guard_load_memory(data, size, student, &g) != DG_OK) return;
    dg_guard_info info = {.struct_size = sizeof info};
    if (dg_guard_get_info(g, &info) != DG_OK) abort();
    if (fuzz_model_is_cheap(student) && members_are_cheap(g, &info))
        validate(g, student);
    dg_guard_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!student && dg_model_load_file(FUZZ_GUARD_STUDENT, &student) != DG_OK)
        abort();
    fuzz_twice(data, size, fuzz_repair_guard, load);
    return 0;
}
