/* report.c - public entry points of the reports (lib/report): argument
 * and struct-size checks, then the room. */
#include <stdlib.h>

#include "api/api.h"
#include "attack/advset.h"
#include "core/alloc.h"
#include "defence/ensemble.h"
#include "io/dataset.h"
#include "nn/model.h"
#include "report/report.h"

dg_status dg_report_opts_init(dg_report_opts *o, size_t struct_size)
{
    DG_INIT_STRUCT(o, struct_size, dg_report_opts);
    o->parts = DG_REPORT_ALL;
    o->examples = 8;
    o->every_m = 1;
    return DG_OK;
}

/* The caller's options over the defaults; o NULL: the defaults. */
static dg_status complete_opts(const dg_report_opts *o, dg_report_opts *full)
{
    DG_TRY(dg_report_opts_init(full, sizeof *full));
    if (!o) return DG_OK;
    DG_CHECK_STRUCT(o, dg_report_opts, sizeof(dg_report_opts));
    dg_complete_struct(full, sizeof *full, o);
    if (full->parts & ~DG_REPORT_ALL)
        return dg_fail(DG_E_INVALID_ARG, "parts 0x%x: DG_REPORT_* bits only",
                       full->parts);
    return DG_OK;
}

static dg_status check_format(int32_t format, size_t *length)
{
    DG_CHECK_ARG(length);
    *length = 0;
    if (format != DG_FORMAT_JSON && format != DG_FORMAT_MARKDOWN &&
        format != DG_FORMAT_TEXT)
        return dg_fail(DG_E_INVALID_ARG, "format %d: DG_FORMAT_JSON, "
                       "DG_FORMAT_MARKDOWN or DG_FORMAT_TEXT", format);
    return DG_OK;
}

/* The text and its terminator under dg_copy_out's size contract. */
static dg_status copy_text(char *made, size_t len, char *text,
                           size_t capacity, size_t *length)
{
    const dg_writer w = {.data = (uint8_t *)made, .len = len + 1,
                         .cap = len + 1};
    dg_status st = dg_copy_out(&w, text, capacity, length, "report");
    free(made);
    return st;
}

dg_status dg_eval_write_report(const dg_eval *e, const char *folder,
                               const dg_report_opts *o)
{
    DG_CHECK_ARG(e && folder && *folder);
    dg_report_opts full;
    DG_TRY(complete_opts(o, &full));
    return report_eval_files(e, folder, full.parts);
}

dg_status dg_eval_format_report(const dg_eval *e, int32_t format, char *text,
                                size_t capacity, size_t *length)
{
    DG_TRY(check_format(format, length));
    DG_CHECK_ARG(e);
    char *made;
    size_t len;
    DG_TRY(report_eval_text(e, format, &made, &len));
    return copy_text(made, len, text, capacity, length);
}

dg_status dg_scenario_write_report(const dg_scenario *s,
                                   const dg_report_opts *o)
{
    DG_CHECK_ARG(s);
    dg_report_opts full;
    DG_TRY(complete_opts(o, &full));
    return report_scenario_files(s, full.parts, full.examples);
}

dg_status dg_scenario_format_report(const dg_scenario *s, int32_t format,
                                    char *text, size_t capacity,
                                    size_t *length)
{
    DG_TRY(check_format(format, length));
    DG_CHECK_ARG(s);
    char *made;
    size_t len;
    DG_TRY(report_scenario_text(s, format, &made, &len));
    return copy_text(made, len, text, capacity, length);
}

dg_status dg_model_format_report(const dg_model *m, const char *name,
                                 int32_t format, char *text, size_t capacity,
                                 size_t *length)
{
    DG_TRY(check_format(format, length));
    DG_CHECK_ARG(m);
    if (format == DG_FORMAT_MARKDOWN)
        return dg_fail(DG_E_UNSUPPORTED, "a model's report is JSON or text");
    char *made;
    size_t len;
    DG_TRY(report_model_text(m, name, format, &made, &len));
    return copy_text(made, len, text, capacity, length);
}

dg_status dg_model_format_accuracy(const dg_model *m,
                                   const uint32_t *confusion,
                                   size_t confusion_len,
                                   const char *model_name,
                                   const char *data_name, int32_t format,
                                   char *text, size_t capacity,
                                   size_t *length)
{
    DG_TRY(check_format(format, length));
    DG_CHECK_ARG(m && confusion);
    if (format == DG_FORMAT_MARKDOWN)
        return dg_fail(DG_E_UNSUPPORTED, "an accuracy report is JSON or text");
    uint32_t k = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    if (confusion_len != (size_t)k * k)
        return dg_fail(DG_E_SHAPE, "confusion holds %zu entries; the model's "
                       "%u classes need %u x %u", confusion_len, k, k, k);
    char *made;
    size_t len;
    DG_TRY(report_accuracy_text(m, confusion, model_name, data_name, format,
                                &made, &len));
    return copy_text(made, len, text, capacity, length);
}

dg_status dg_verdict_format_report(const dg_verdict *v,
                                   const dg_model *student, const char *name,
                                   int32_t format, char *text,
                                   size_t capacity, size_t *length)
{
    DG_TRY(check_format(format, length));
    DG_CHECK_ARG(v);
    DG_CHECK_STRUCT(v, dg_verdict, sizeof(dg_verdict));
    if (format == DG_FORMAT_MARKDOWN)
        return dg_fail(DG_E_UNSUPPORTED, "a verdict's report is JSON or text");
    if (v->members > DG_MAX_MEMBERS)
        return dg_fail(DG_E_INVALID_ARG, "a verdict of %u members (at most "
                       "%u)", v->members, DG_MAX_MEMBERS);
    char *made;
    size_t len;
    DG_TRY(report_verdict_text(v, student, name, format, &made, &len));
    return copy_text(made, len, text, capacity, length);
}

/* The guard's public views, each class's members and calibration rows. */
static dg_status gather_guard(const dg_guard *g, bool every_m, guard_view *v)
{
    v->info.struct_size = sizeof v->info;
    DG_TRY(dg_guard_get_info(g, &v->info));
    const dg_guard_info *i = &v->info;
    v->first_m = every_m ? 1 : i->members;
    v->last_m = every_m ? i->variants : i->members;
    size_t cells = (size_t)i->classes * i->variants;
    DG_TRY(dg_alloc_array((void **)&v->members, cells, sizeof *v->members,
                          "report"));
    DG_TRY(dg_alloc_array((void **)&v->calibration, cells,
                          sizeof *v->calibration, "report"));
    DG_TRY(dg_alloc_array((void **)&v->class_names, i->classes,
                          sizeof *v->class_names, "report"));
    for (uint32_t c = 0; c < i->classes; c++) {
        v->class_names[c] = dg_model_class_label(g->student, c);
        for (uint32_t r = 0; r < i->variants; r++) {
            dg_member_info *m = &v->members[c * i->variants + r];
            m->struct_size = sizeof *m;
            DG_TRY(dg_guard_member(g, c, r, m));
        }
        for (uint32_t M = 1; M <= i->variants; M++) {
            dg_calibration *k = &v->calibration[c * i->variants + M - 1];
            k->struct_size = sizeof *k;
            DG_TRY(dg_guard_calibration(g, c, M, k));
        }
    }
    return DG_OK;
}

dg_status dg_guard_format_report(const dg_guard *g, int32_t format,
                                 const dg_report_opts *o, char *text,
                                 size_t capacity, size_t *length)
{
    DG_TRY(check_format(format, length));
    DG_CHECK_ARG(g);
    if (format == DG_FORMAT_MARKDOWN)
        return dg_fail(DG_E_UNSUPPORTED, "a guard's report is JSON or text");
    dg_report_opts full;
    DG_TRY(complete_opts(o, &full));
    guard_view v = {0};
    char *made = NULL;
    size_t len;
    dg_status st = gather_guard(g, full.every_m != 0, &v);
    if (st == DG_OK) st = report_guard_text(&v, format, &made, &len);
    free(v.members);
    free(v.calibration);
    free(v.class_names);
    return st == DG_OK ? copy_text(made, len, text, capacity, length) : st;
}

dg_status dg_advset_write_examples(const dg_advset *set,
                                   const dg_dataset *data,
                                   const uint32_t *target_index,
                                   const char *folder,
                                   const dg_report_opts *o)
{
    DG_CHECK_ARG(set && data && target_index && folder && *folder);
    dg_report_opts full;
    DG_TRY(complete_opts(o, &full));
    if (data->channels != set->shape.c || data->height != set->shape.h ||
        data->width != set->shape.w)
        return dg_fail(DG_E_SHAPE, "the set's images are %ux%ux%u; the "
                       "data's samples %ux%ux%u", set->shape.c, set->shape.h,
                       set->shape.w, data->channels, data->height,
                       data->width);
    for (uint32_t i = 0; i < set->count; i++)
        if (target_index[i] != UINT32_MAX && target_index[i] >= data->count)
            return dg_fail(DG_E_INVALID_ARG, "target_index[%u] is %u; the "
                           "data set has %u samples", i, target_index[i],
                           data->count);
    return report_write_examples(set, data, target_index, folder,
                                 full.examples);
}
