/* rows.c - each defence's decisions and numbers, derived from what run.c
 * recorded of every input. */
#include "eval/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"

static bool is_guard_row(const dg_eval *e, uint32_t k)
{
    return k < 2 * e->variants;
}

float dg_eval_suspicion(const dg_eval *e, uint32_t k, uint32_t i)
{
    const dg_eval_sample *in = &e->inputs[i];
    if (is_guard_row(e, k))
        return e->guard_suspicion[(size_t)i * 2 * e->variants + k];
    switch (e->rows[k].kind) {
    case DG_EVAL_POOL:
        return 1.0f - in->pool_share;
    case DG_EVAL_SQUEEZE:
        return in->squeeze_score;
    default:
        return 0;
    }
}

bool dg_eval_accepts(const dg_eval *e, uint32_t k, uint32_t i,
                     int32_t *label)
{
    const dg_eval_sample *in = &e->inputs[i];
    const dg_eval_line *row = &e->rows[k];
    *label = row->kind == DG_EVAL_POOL    ? in->pool_label
             : row->kind == DG_EVAL_PATCH ? in->patch_label
                                          : in->label;
    if (is_guard_row(e, k))
        return e->guard_accepted[(size_t)i * 2 * e->variants + k];
    if (row->kind == DG_EVAL_NO_DEFENCE || row->kind == DG_EVAL_PATCH)
        return true;
    return !(dg_eval_suspicion(e, k, i) > row->threshold);
}

bool dg_eval_fools(const dg_eval_sample *in)
{
    if (!in->within_budget) return false;
    return in->targeted ? in->label == in->target : in->label != in->truth;
}

static void count_row(const dg_eval *e, uint32_t k)
{
    dg_eval_line *row = &e->rows[k];
    dg_defence_counts clean = {0};
    for (uint32_t i = 0; i < e->n_clean; i++) {
        int32_t label;
        bool ok = dg_eval_accepts(e, k, i, &label);
        int32_t truth = e->inputs[i].truth;
        clean.clean++;
        /* The patched Student rejects nothing but answers on its own. */
        if (row->kind == DG_EVAL_PATCH && e->inputs[i].label != truth)
            clean.clean_wrong_corrected += label == truth;
        if (e->inputs[i].label != truth) continue;
        clean.clean_correct++;
        clean.clean_correct_rejected +=
            row->kind == DG_EVAL_PATCH ? label != truth : !ok;
    }
    row->clean = clean;
    for (uint32_t s = 0; s < e->n_sets; s++) {
        dg_defence_counts c = clean;
        for (uint32_t i = e->set_first[s]; i < e->set_first[s + 1]; i++) {
            const dg_eval_sample *in = &e->inputs[i];
            if (!dg_eval_fools(in)) continue;
            int32_t label;
            bool ok = dg_eval_accepts(e, k, i, &label);
            bool wanted = in->targeted ? label == in->target
                                       : label != in->truth;
            c.fooling++;
            c.fooling_stopped += !ok || !wanted;
        }
        row->counts[s] = c;
    }
}

dg_status dg_eval_scores(const dg_eval *e, uint32_t k, uint32_t s,
                         float **neg, size_t *n_neg, float **pos,
                         size_t *n_pos)
{
    *neg = *pos = NULL;
    *n_neg = *n_pos = 0;
    dg_status st = dg_alloc_array((void **)neg, (size_t)e->n_clean + 1,
                                  sizeof **neg, "scores");
    if (st == DG_OK)
        st = dg_alloc_array((void **)pos, (size_t)e->n_inputs + 1,
                            sizeof **pos, "scores");
    if (st != DG_OK) {
        free(*neg);
        *neg = NULL;
        return st;
    }
    for (uint32_t i = 0; i < e->n_clean; i++)
        if (e->inputs[i].label == e->inputs[i].truth)
            (*neg)[(*n_neg)++] = dg_eval_suspicion(e, k, i);
    for (uint32_t i = s < e->n_sets ? e->set_first[s] : 0;
         s < e->n_sets && i < e->set_first[s + 1]; i++)
        if (dg_eval_fools(&e->inputs[i]))
            (*pos)[(*n_pos)++] = dg_eval_suspicion(e, k, i);
    return DG_OK;
}

static dg_status detection(const dg_eval *e, uint32_t k)
{
    dg_eval_line *row = &e->rows[k];
    for (uint32_t s = 0; s < e->n_sets; s++) {
        row->auc[s] = row->tpr5[s] = row->tpr1[s] = NAN;
        if (row->kind == DG_EVAL_NO_DEFENCE || row->kind == DG_EVAL_PATCH)
            continue;
        float *neg, *pos;
        size_t n_neg, n_pos;
        DG_TRY(dg_eval_scores(e, k, s, &neg, &n_neg, &pos, &n_pos));
        if (n_neg && n_pos) {
            row->auc[s] = dg_roc_auc(neg, n_neg, pos, n_pos);
            row->tpr5[s] = dg_share_above(
                pos, n_pos, dg_threshold_at_fpr(neg, n_neg, 0.05));
            row->tpr1[s] = dg_share_above(
                pos, n_pos, dg_threshold_at_fpr(neg, n_neg, 0.01));
        }
        free(neg);
        free(pos);
    }
    return DG_OK;
}

/* A baseline's threshold: flags at most `fpr` of the clean inputs the
 * Student gets right. */
static dg_status calibrate(const dg_eval *e, uint32_t k, double fpr)
{
    float *neg, *pos;
    size_t n_neg, n_pos;
    DG_TRY(dg_eval_scores(e, k, 0, &neg, &n_neg, &pos, &n_pos));
    dg_status st = DG_OK;
    if (n_neg == 0)
        st = dg_fail(DG_E_INVALID_ARG, "no clean input is classified "
                                       "correctly, so the baselines cannot "
                                       "be calibrated");
    else
        e->rows[k].threshold = dg_threshold_at_fpr(neg, n_neg, fpr);
    free(neg);
    free(pos);
    return st;
}

static void name_row(dg_eval_line *row, int32_t kind, uint32_t members,
                     int32_t rule, uint32_t passes, const char *name)
{
    row->kind = kind;
    row->members = members;
    row->rule = rule;
    row->passes = passes;
    snprintf(row->name, sizeof row->name, "%s", name);
}

dg_status dg_eval_fill_rows(dg_eval *e)
{
    uint32_t v = e->variants;
    for (uint32_t m = 1; m <= v; m++) {
        char name[48];
        snprintf(name, sizeof name, "guard M=%u votes", m);
        name_row(&e->rows[m - 1], DG_EVAL_GUARD, m, DG_RULE_VOTES, 1 + m,
                 name);
        snprintf(name, sizeof name, "guard M=%u score", m);
        name_row(&e->rows[v + m - 1], DG_EVAL_GUARD, m, DG_RULE_SCORE, 1 + m,
                 name);
    }
    uint32_t none = 2 * v, pool = none + 1, squeeze = none + 2,
             matched = none + 3;
    name_row(&e->rows[none], DG_EVAL_NO_DEFENCE, 0, 0, 1, "no defence");
    name_row(&e->rows[pool], DG_EVAL_POOL, 0, 0, e->classes * v,
             "whole pool, no phase 1");
    char name[48];
    snprintf(name, sizeof name, "feature squeezing (%.0f%% FPR)",
             100 * e->baseline_fpr);
    name_row(&e->rows[squeeze], DG_EVAL_SQUEEZE, 0, 0, 3, name);
    name_row(&e->rows[matched], DG_EVAL_SQUEEZE, 0, 0, 3,
             "feature squeezing (guard's FRR)");
    if (e->patched)
        name_row(&e->rows[matched + 1], DG_EVAL_PATCH, 0, 0, 1,
                 "patched Student (Wang et al.)");
    e->rows[pool].matched = e->rows[matched].matched = true;
    for (uint32_t k = 0; k <= none; k++) count_row(e, k);
    /* The pool and the matched squeezing reject as many clean inputs as
     * the guard at its defaults, so their defence rates compare. */
    uint32_t guard = (e->rule == DG_RULE_SCORE ? v : 0) + e->members - 1;
    double guard_frr = dg_false_rejection_rate(&e->rows[guard].clean);
    if (isnan(guard_frr)) guard_frr = e->baseline_fpr;
    DG_TRY(calibrate(e, pool, guard_frr));
    DG_TRY(calibrate(e, squeeze, e->baseline_fpr));
    DG_TRY(calibrate(e, matched, guard_frr));
    for (uint32_t k = none + 1; k < e->n_rows; k++) count_row(e, k);
    for (uint32_t k = 0; k < e->n_rows; k++) DG_TRY(detection(e, k));
    return DG_OK;
}

void dg_eval_set_stats(const dg_eval *e, uint32_t s, dg_eval_set *out)
{
    out->name = e->set_names[s];
    out->first_input = e->set_first[s];
    out->targeted = 0;
    out->attempts = out->within_budget = out->reached_target = 0;
    out->left_source = out->fooling = 0;
    for (uint32_t i = e->set_first[s]; i < e->set_first[s + 1]; i++) {
        const dg_eval_sample *in = &e->inputs[i];
        out->attempts++;
        out->targeted = in->targeted;
        if (!in->within_budget) continue;
        out->within_budget++;
        out->reached_target += in->target >= 0 ? in->label == in->target
                                               : in->label != in->truth;
        out->left_source += in->label != in->truth;
        out->fooling += dg_eval_fools(in);
    }
}

/* ------------------------------------------------------------------------ */
/* The public views (behind dg_eval_get_*, and the reports)                 */
/* ------------------------------------------------------------------------ */

void dg_eval_info_of(const dg_eval *e, dg_eval_info *out)
{
    *out = (dg_eval_info){
        .struct_size = sizeof *out,
        .clean = e->n_clean,
        .inputs = e->n_inputs,
        .sets = e->n_sets,
        .rows = e->n_rows,
        .classes = e->classes,
        .variants = e->variants,
        .members = e->members,
        .rule = e->rule,
        .squeeze_bits = e->squeeze_bits,
        .baseline_fpr = e->baseline_fpr,
        .student_accuracy = e->student_accuracy,
        .latency_ms = e->latency_ms,
    };
}

void dg_eval_row_of(const dg_eval *e, uint32_t row, dg_eval_row *out)
{
    const dg_eval_line *r = &e->rows[row];
    *out = (dg_eval_row){
        .struct_size = sizeof *out,
        .name = r->name,
        .kind = r->kind,
        .members = r->members,
        .rule = r->rule,
        .matched = r->matched,
        .passes = r->passes,
        .threshold = r->threshold,
        .clean = r->clean.clean,
        .clean_correct = r->clean.clean_correct,
        .clean_correct_rejected = r->clean.clean_correct_rejected,
        .false_rejection_rate = dg_false_rejection_rate(&r->clean),
        .accuracy_loss = dg_accuracy_loss(&r->clean),
    };
}

void dg_eval_outcome_of(const dg_eval *e, uint32_t row, uint32_t set,
                        dg_eval_outcome *out)
{
    const dg_eval_line *r = &e->rows[row];
    *out = (dg_eval_outcome){
        .struct_size = sizeof *out,
        .fooling = r->counts[set].fooling,
        .stopped = r->counts[set].fooling_stopped,
        .defence_rate = dg_defence_rate(&r->counts[set]),
        .roc_auc = r->auc[set],
        .tpr_at_5pct_fpr = r->tpr5[set],
        .tpr_at_1pct_fpr = r->tpr1[set],
    };
}

dg_status dg_eval_roc_points(const dg_eval *e, uint32_t row, uint32_t set,
                             double *fpr, double *tpr, size_t capacity,
                             size_t *points)
{
    float *neg, *pos;
    size_t n_neg, n_pos;
    DG_TRY(dg_eval_scores(e, row, set, &neg, &n_neg, &pos, &n_pos));
    /* At most one point per distinct score, plus both ends. */
    size_t need = n_neg + n_pos + 2;
    dg_status st = DG_OK;
    if ((fpr || tpr) && (!fpr || !tpr || capacity < need))
        st = dg_fail(DG_E_INVALID_ARG,
                     "fpr and tpr hold %zu points; the curve needs up to %zu",
                     capacity, need);
    else if (fpr)
        need = dg_roc_curve(neg, n_neg, pos, n_pos, fpr, tpr);
    *points = need;
    free(neg);
    free(pos);
    return st;
}

uint32_t dg_eval_guard_row(const dg_eval *e, uint32_t members, int32_t rule)
{
    for (uint32_t k = 0; k < e->n_rows; k++)
        if (e->rows[k].kind == DG_EVAL_GUARD && e->rows[k].members == members &&
            e->rows[k].rule == rule)
            return k;
    return 0;
}

uint32_t dg_eval_baseline_row(const dg_eval *e, int32_t kind, bool matched)
{
    for (uint32_t k = 0; k < e->n_rows; k++)
        if (e->rows[k].kind == kind &&
            (kind != DG_EVAL_SQUEEZE || e->rows[k].matched == matched))
            return k;
    return 0;
}

bool dg_eval_patch_row(const dg_eval *e, uint32_t *row)
{
    for (*row = 0; *row < e->n_rows; (*row)++)
        if (e->rows[*row].kind == DG_EVAL_PATCH) return true;
    return false;
}
