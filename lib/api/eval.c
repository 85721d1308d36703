/* eval.c - public entry points of the evaluation (lib/eval): argument and
 * struct-size checks, then the room's own functions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "attack/advset.h"
#include "core/alloc.h"
#include "defence/ensemble.h"
#include "eval/classify.h"
#include "eval/eval.h"
#include "io/dataset.h"

/* The first published layout ended with progress_user. */
#define EVAL_OPTS_V1 offsetof(dg_eval_opts, patched_student)

dg_status dg_eval_opts_init(dg_eval_opts *o, size_t struct_size)
{
    dg_eval_opts full;
    dg_eval_defaults(&full);
    return dg_init_prefix(o, struct_size, &full, sizeof full, EVAL_OPTS_V1,
                          "dg_eval_opts");
}

/* A set's name is how its results are found and shown. */
static dg_status check_set_name(const char *name, uint32_t s)
{
    if (!name || !*name)
        return dg_fail(DG_E_INVALID_ARG, "set %u has no name", s);
    return DG_OK;
}

dg_status dg_eval_run(const dg_ensemble *guard, const dg_dataset *clean,
                      const dg_advset *const *sets, const char *const *names,
                      uint32_t n_sets, const dg_eval_opts *o, dg_eval **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(guard && clean);
    DG_CHECK_ARG(n_sets == 0 || (sets && names));
    dg_eval_opts full;
    DG_TRY(dg_eval_opts_init(&full, sizeof full));
    if (o) {
        DG_CHECK_STRUCT(o, dg_eval_opts, EVAL_OPTS_V1);
        dg_complete_struct(&full, sizeof full, o);
    }
    if (full.squeeze_bits < 1 || full.squeeze_bits > 7)
        return dg_fail(DG_E_INVALID_ARG, "squeeze_bits %u (1 to 7)",
                       full.squeeze_bits);
    if (!(full.baseline_fpr >= 0 && full.baseline_fpr <= 0.5))
        return dg_fail(DG_E_INVALID_ARG, "baseline_fpr %g (0 to 0.5)",
                       full.baseline_fpr);
    for (uint32_t s = 0; s < n_sets; s++) {
        if (!sets[s])
            return dg_fail(DG_E_INVALID_ARG, "set %u is NULL", s);
        DG_TRY(check_set_name(names[s], s));
    }
    return dg_eval_make(guard, clean, sets, names, n_sets, &full, out);
}

void dg_eval_free(dg_eval *e) { dg_eval_destroy(e); }

dg_status dg_eval_get_info(const dg_eval *e, dg_eval_info *info)
{
    DG_CHECK_ARG(e);
    DG_CHECK_STRUCT(info, dg_eval_info, sizeof(dg_eval_info));
    dg_eval_info v;
    dg_eval_info_of(e, &v);
    v.struct_size = info->struct_size;
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_eval_get_set(const dg_eval *e, uint32_t set, dg_eval_set *info)
{
    DG_CHECK_ARG(e);
    DG_CHECK_STRUCT(info, dg_eval_set, sizeof(dg_eval_set));
    DG_TRY(dg_check_index(set, e->n_sets, "set"));
    dg_eval_set v = {.struct_size = info->struct_size};
    dg_eval_set_stats(e, set, &v);
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_eval_get_row(const dg_eval *e, uint32_t row, dg_eval_row *info)
{
    DG_CHECK_ARG(e);
    DG_CHECK_STRUCT(info, dg_eval_row, sizeof(dg_eval_row));
    DG_TRY(dg_check_index(row, e->n_rows, "row"));
    dg_eval_row v;
    dg_eval_row_of(e, row, &v);
    v.struct_size = info->struct_size;
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_eval_get_outcome(const dg_eval *e, uint32_t row, uint32_t set,
                              dg_eval_outcome *out)
{
    DG_CHECK_ARG(e);
    DG_CHECK_STRUCT(out, dg_eval_outcome, sizeof(dg_eval_outcome));
    DG_TRY(dg_check_index(row, e->n_rows, "row"));
    DG_TRY(dg_check_index(set, e->n_sets, "set"));
    dg_eval_outcome v;
    dg_eval_outcome_of(e, row, set, &v);
    v.struct_size = out->struct_size;
    memcpy(out, &v, sizeof v);
    return DG_OK;
}

dg_status dg_eval_roc(const dg_eval *e, uint32_t row, uint32_t set,
                      double *fpr, double *tpr, size_t capacity,
                      size_t *points)
{
    DG_CHECK_ARG(e && points);
    DG_TRY(dg_check_index(row, e->n_rows, "row"));
    DG_TRY(dg_check_index(set, e->n_sets, "set"));
    return dg_eval_roc_points(e, row, set, fpr, tpr, capacity, points);
}

static uint32_t input_set(const dg_eval *e, uint32_t input)
{
    uint32_t s = 0;
    while (input >= e->set_first[s + 1]) s++;
    return s;
}

dg_status dg_eval_get_decision(const dg_eval *e, uint32_t row, uint32_t input,
                               dg_eval_decision *out)
{
    DG_CHECK_ARG(e);
    DG_CHECK_STRUCT(out, dg_eval_decision, sizeof(dg_eval_decision));
    DG_TRY(dg_check_index(row, e->n_rows, "row"));
    DG_TRY(dg_check_index(input, e->n_inputs, "input"));
    const dg_eval_sample *in = &e->inputs[input];
    dg_eval_decision v = {
        .struct_size = out->struct_size,
        .set = input < e->n_clean ? -1 : (int32_t)input_set(e, input),
        .truth = in->truth,
        .target = in->target,
        .fooling = input >= e->n_clean && dg_eval_fools(in),
        .suspicion = dg_eval_suspicion(e, row, input),
    };
    v.accepted = dg_eval_accepts(e, row, input, &v.label);
    memcpy(out, &v, sizeof v);
    return DG_OK;
}

dg_status dg_eval_classify(const dg_model *student, const float *pixels,
                           size_t pixels_len, uint32_t n, int32_t *labels)
{
    DG_CHECK_ARG(student && pixels && labels && n > 0);
    size_t need = 0;
    if (!dg_mul_ok(n, dg_shape_size(student->input), &need) ||
        pixels_len != need)
        return dg_fail(DG_E_SHAPE,
                       "pixels_len is %zu; %u images of %ux%ux%u need %zu",
                       pixels_len, n, student->input.c, student->input.h,
                       student->input.w, need);
    DG_TRY(dg_check_finite(pixels, pixels_len, pixels_len / n, "image"));
    return dg_classify(student, n, dg_fill_from_unit_pixels, pixels, labels);
}

dg_status dg_attempt_opts_init(dg_attempt_opts *o, size_t struct_size)
{
    DG_INIT_STRUCT(o, struct_size, dg_attempt_opts);
    o->targeted = 1;
    o->target_class = -1;
    o->target_images = 1;
    o->seed = 1;
    return DG_OK;
}

dg_status dg_eval_choose_attempts(const dg_model *student,
                                  const dg_dataset *data,
                                  const dg_attempt_opts *o, uint32_t count,
                                  uint32_t *source_index,
                                  int32_t *source_label,
                                  uint32_t *target_index,
                                  int32_t *target_label)
{
    DG_CHECK_ARG(student && data && count > 0);
    DG_CHECK_ARG(source_index && source_label && target_index &&
                 target_label);
    dg_attempt_opts full;
    DG_TRY(dg_attempt_opts_init(&full, sizeof full));
    if (o) {
        DG_CHECK_STRUCT(o, dg_attempt_opts, sizeof(dg_attempt_opts));
        dg_complete_struct(&full, sizeof full, o);
    }
    if (full.target_class >= 0 && !full.targeted)
        return dg_fail(DG_E_INVALID_ARG,
                       "target_class %d needs targeted attempts",
                       full.target_class);
    const dg_shape *in = &student->input;
    if (data->channels != in->c || data->height != in->h ||
        data->width != in->w)
        return dg_fail(DG_E_SHAPE, "samples are %ux%ux%u; the Student takes "
                       "%ux%ux%u", data->channels, data->height, data->width,
                       in->c, in->h, in->w);
    dg_attempts out = {source_index, source_label, target_index,
                       target_label};
    return dg_attempts_pick(student, data, &full, count, &out);
}
