/* train.c - public entry points for training, evaluation and transfer. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/alloc.h"
#include "io/dataset.h"
#include "train/train.h"

/* The first published layout ended with progress_user. */
#define TRAIN_OPTS_V1 offsetof(dg_train_opts, adversarial_epsilon)
/* ... and the report with last_accuracy. */
#define TRAIN_REPORT_V1 offsetof(dg_train_report, last_patch_distance)

dg_status dg_train_opts_init(dg_train_opts *o, size_t struct_size)
{
    dg_train_opts full;
    dg_train_defaults(&full);
    return dg_init_prefix(o, struct_size, &full, sizeof full, TRAIN_OPTS_V1,
                          "dg_train_opts");
}

/* dg_model_train and dg_model_train_file: path NULL trains only. */
static dg_status train(dg_model *m, const dg_dataset *ds,
                       const dg_train_opts *o, const char *path,
                       dg_train_report *report)
{
    DG_CHECK_ARG(m && ds);
    DG_CHECK_STRUCT(o, dg_train_opts, TRAIN_OPTS_V1);
    dg_train_opts full;
    dg_train_defaults(&full);
    dg_complete_struct(&full, sizeof full, o);
    dg_train_report local = {0};
    if (report) DG_CHECK_STRUCT(report, dg_train_report, TRAIN_REPORT_V1);
    dg_status s = path ? dg_train_save(m, ds, &full, path, &local)
                       : dg_train_run(m, ds, &full, &local);
    if (report) dg_return_struct(report, &local, sizeof local);
    return s;
}

dg_status dg_model_train(dg_model *m, const dg_dataset *ds,
                         const dg_train_opts *o, dg_train_report *report)
{
    return train(m, ds, o, NULL, report);
}

dg_status dg_model_train_file(dg_model *m, const dg_dataset *ds,
                              const dg_train_opts *o, const char *path,
                              dg_train_report *report)
{
    DG_CHECK_ARG(path && *path);
    return train(m, ds, o, path, report);
}

dg_status dg_model_evaluate(const dg_model *m, const dg_dataset *ds,
                            uint32_t *confusion, size_t confusion_len,
                            uint32_t *correct, uint32_t *total)
{
    DG_CHECK_ARG(m && ds && correct && total);
    uint32_t k = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    if (confusion && confusion_len != (size_t)k * k)
        return dg_fail(DG_E_SHAPE, "confusion needs %u x %u entries, not %zu",
                       k, k, confusion_len);
    DG_TRY(dg_evaluate(m, ds, confusion, correct));
    *total = ds->count;
    return DG_OK;
}

dg_status dg_model_transfer(const dg_model *teacher, int32_t cut_layer,
                            const char *head_spec, uint64_t seed,
                            dg_model **student)
{
    DG_CHECK_ARG(student);
    *student = NULL;
    DG_CHECK_ARG(teacher && head_spec);
    return dg_transfer_build(teacher, cut_layer, head_spec, seed, student);
}

dg_status dg_model_set_frozen(dg_model *m, uint32_t layer, int32_t frozen)
{
    DG_CHECK_ARG(m);
    if (layer >= m->n_layers)
        return dg_fail(DG_E_INVALID_ARG, "layer %u of %u", layer,
                       m->n_layers);
    if (frozen)
        m->layers[layer].flags |= DG_LAYER_FLAG_FROZEN;
    else
        m->layers[layer].flags &= ~DG_LAYER_FLAG_FROZEN;
    return DG_OK;
}
