/* eval_view.c - an evaluation's rows, sets and outcomes read once for
 * the reports. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "eval/eval.h"
#include "report/report.h"

dg_status eval_view_read(const dg_eval *e, eval_view *out)
{
    *out = (eval_view){.eval = e, .descriptions = e->set_descriptions};
    eval_view *v = out;
    dg_eval_info_of(e, &v->info);
    uint32_t n_sets = v->info.sets, n_rows = v->info.rows;
    DG_TRY(dg_alloc_array((void **)&v->sets, n_sets + 1, sizeof *v->sets,
                          "report"));
    DG_TRY(dg_alloc_array((void **)&v->rows, n_rows + 1, sizeof *v->rows,
                          "report"));
    DG_TRY(dg_alloc_array((void **)&v->outcomes, (size_t)n_rows * n_sets + 1,
                          sizeof *v->outcomes, "report"));
    for (uint32_t s = 0; s < n_sets; s++) {
        v->sets[s] = (dg_eval_set){.struct_size = sizeof v->sets[s]};
        dg_eval_set_stats(e, s, &v->sets[s]);
    }
    for (uint32_t k = 0; k < n_rows; k++) {
        dg_eval_row_of(e, k, &v->rows[k]);
        for (uint32_t s = 0; s < n_sets; s++)
            dg_eval_outcome_of(e, k, s,
                               &v->outcomes[(size_t)k * n_sets + s]);
    }
    return DG_OK;
}

void eval_view_free(eval_view *v)
{
    free(v->sets);
    free(v->rows);
    free(v->outcomes);
    *v = (eval_view){0};
}

const dg_eval_outcome *eval_outcome(const eval_view *v, uint32_t k,
                                    uint32_t s)
{
    return &v->outcomes[(size_t)k * v->info.sets + s];
}

uint32_t eval_guard_row(const eval_view *v, uint32_t members, int32_t rule)
{
    return dg_eval_guard_row(v->eval, members, rule);
}

bool eval_patch_row(const eval_view *v, uint32_t *k)
{
    return dg_eval_patch_row(v->eval, k);
}

double eval_patch_rate(const eval_view *v, uint32_t s)
{
    uint32_t k;
    return eval_patch_row(v, &k) ? eval_outcome(v, k, s)->defence_rate : NAN;
}

uint32_t eval_baseline_row(const eval_view *v, int32_t kind, bool matched)
{
    return dg_eval_baseline_row(v->eval, kind, matched);
}
