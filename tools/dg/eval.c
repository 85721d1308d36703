/* eval.c - runs the library's evaluation for dg eval and dg demo and reads
 * its rows, sets and outcomes once for the reports. */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static int read_descriptions(eval_view *v, const dg_advset *const *sets)
{
    v->descriptions = calloc(v->info.sets + 1, sizeof *v->descriptions);
    if (!v->descriptions) return cli_error("out of memory");
    for (uint32_t s = 0; s < v->info.sets; s++) {
        const char *text;
        dg_status st = dg_advset_description(sets[s], &text);
        if (st != DG_OK) return cli_fail(st, "reading set %u", s);
        v->descriptions[s] = strdup(text);
        if (!v->descriptions[s]) return cli_error("out of memory");
    }
    return CLI_EXIT_OK;
}

static int read_view(eval_view *v)
{
    v->info.struct_size = sizeof v->info;
    dg_status st = dg_eval_get_info(v->eval, &v->info);
    if (st != DG_OK) return cli_fail(st, "reading the evaluation");
    uint32_t n_sets = v->info.sets, n_rows = v->info.rows;
    v->sets = calloc(n_sets + 1, sizeof *v->sets);
    v->rows = calloc(n_rows, sizeof *v->rows);
    v->outcomes = calloc((size_t)n_rows * n_sets + 1, sizeof *v->outcomes);
    if (!v->sets || !v->rows || !v->outcomes)
        return cli_error("out of memory");
    for (uint32_t s = 0; st == DG_OK && s < n_sets; s++) {
        v->sets[s].struct_size = sizeof v->sets[s];
        st = dg_eval_get_set(v->eval, s, &v->sets[s]);
    }
    for (uint32_t k = 0; st == DG_OK && k < n_rows; k++) {
        v->rows[k].struct_size = sizeof v->rows[k];
        st = dg_eval_get_row(v->eval, k, &v->rows[k]);
        for (uint32_t s = 0; st == DG_OK && s < n_sets; s++) {
            dg_eval_outcome *o = &v->outcomes[(size_t)k * n_sets + s];
            o->struct_size = sizeof *o;
            st = dg_eval_get_outcome(v->eval, k, s, o);
        }
    }
    if (st != DG_OK) return cli_fail(st, "reading the evaluation");
    return CLI_EXIT_OK;
}

int eval_view_run(const dg_guard *guard, const dg_dataset *clean,
                  const dg_advset *const *sets, const char *const *names,
                  uint32_t n_sets, const dg_eval_opts *o, eval_view *out)
{
    *out = (eval_view){0};
    dg_eval_opts opts = *o;
    bool started = false;
    opts.progress = progress_callback;
    opts.progress_user = &started;
    dg_status st = dg_eval_run(guard, clean, sets, names, n_sets, &opts,
                               &out->made);
    if (started) progress_finish();
    if (st == DG_E_CANCELLED) return cli_error("interrupted");
    if (st != DG_OK) return cli_fail(st, "evaluating the guard");
    dg_eval *made = out->made;
    int rc = eval_view_read(made, sets, out);
    out->made = made;
    return rc;
}

int eval_view_read(const dg_eval *e, const dg_advset *const *sets,
                   eval_view *out)
{
    *out = (eval_view){.eval = e};
    int rc = read_view(out);
    return rc == CLI_EXIT_OK ? read_descriptions(out, sets) : rc;
}

void eval_view_free(eval_view *v)
{
    dg_eval_free(v->made);
    free(v->sets);
    free(v->rows);
    free(v->outcomes);
    for (uint32_t s = 0; v->descriptions && s < v->info.sets; s++)
        free(v->descriptions[s]);
    free(v->descriptions);
    *v = (eval_view){0};
}

const dg_eval_outcome *eval_outcome(const eval_view *v, uint32_t k,
                                    uint32_t s)
{
    return &v->outcomes[(size_t)k * v->info.sets + s];
}

uint32_t eval_guard_row(const eval_view *v, uint32_t members, int32_t rule)
{
    for (uint32_t k = 0; k < v->info.rows; k++)
        if (v->rows[k].kind == DG_EVAL_GUARD && v->rows[k].members == members &&
            v->rows[k].rule == rule)
            return k;
    return 0;
}

bool eval_patch_row(const eval_view *v, uint32_t *k)
{
    for (*k = 0; *k < v->info.rows; (*k)++)
        if (v->rows[*k].kind == DG_EVAL_PATCH) return true;
    return false;
}

double eval_patch_rate(const eval_view *v, uint32_t s)
{
    uint32_t k;
    return eval_patch_row(v, &k) ? eval_outcome(v, k, s)->defence_rate : NAN;
}

uint32_t eval_baseline_row(const eval_view *v, int32_t kind, bool matched)
{
    for (uint32_t k = 0; k < v->info.rows; k++)
        if (v->rows[k].kind == kind &&
            (kind != DG_EVAL_SQUEEZE || !v->rows[k].matched == !matched))
            return k;
    return 0;
}
