/* fuzz_guard.c - guard files (doc/guard-format.md) from memory against a
 * fixed Student (fuzz/guard_student.dgm, the one fuzz/corpus/guard was
 * built for): a guard that loads is described member by member and
 * validates an input, unlabelled and labelled. */
#include <stdlib.h>

#include "fuzz.h"

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
    validate(g, student);
    dg_guard_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_limit_work();
    if (!student && dg_model_load_file(FUZZ_GUARD_STUDENT, &student) != DG_OK)
        abort();
    fuzz_twice(data, size, fuzz_repair_guard, load);
    return 0;
}
