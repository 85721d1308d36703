/* levels.c - the scenario's report of the attacks at every threat level
 * (report.h): per set, then per layer and per budget, as JSON, markdown,
 * a table and charts. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "report/chart.h"
#include "report/report.h"
#include "scenario/scenario.h"

/* A budget as the plan spells it (0.1, not 0.100000001). */
static double budget_value(float budget)
{
    char text[32];
    snprintf(text, sizeof text, "%g", (double)budget);
    return strtod(text, NULL);
}

static const char *method_name(int32_t method)
{
    return method == DG_ATTACK_MIMIC_LINF ? "linf" : "dssim";
}

static const char *level_name(int32_t level)
{
    return level == 1 ? "teacher_only" : level == 2 ? "surrogate" : "whitebox";
}

static char level_letter(int32_t level) { return (char)('a' + level - 1); }

/* ------------------------------------------------------------------------ */
/* The sets                                                                 */
/* ------------------------------------------------------------------------ */

/* The set of `level` at `layer` with this method and budget, or -1. */
static int32_t find_set(const report_levels *l, int32_t level, int32_t layer,
                        int32_t method, float budget)
{
    for (uint32_t k = 0; k < l->n_sets; k++) {
        const dg_scenario_set *s = &l->sets[k];
        if (s->level == level && s->layer == layer && s->method == method &&
            s->budget == budget)
            return (int32_t)k;
    }
    return -1;
}

/* The sweep's budgets, its L-infinity ones then its DSSIM ones, are those
 * of level b's sets, which has one set for each. */
static uint32_t budget_count(const report_levels *l, int32_t method)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < l->n_sets; k++)
        n += l->sets[k].level == 2 && (!method || l->sets[k].method == method);
    return n;
}

/* Budget b of the sweep: the method and the budget. */
static void plan_budget(const report_levels *l, uint32_t b, int32_t *method,
                        float *budget)
{
    *method = 0;
    *budget = 0;
    for (uint32_t k = 0; k < l->n_sets; k++) {
        if (l->sets[k].level != 2 || b-- > 0) continue;
        *method = l->sets[k].method;
        *budget = l->sets[k].budget;
        return;
    }
}

/* ------------------------------------------------------------------------ */
/* Results                                                                  */
/* ------------------------------------------------------------------------ */

/* What the report says of one set. */
typedef struct level_result {
    uint32_t attempts, fooling;
    double asr;          /* on the Student, the defence off */
    double guard;        /* defence rate, the guard at its default M and rule */
    double pool;         /* ... the whole pool, calibrated to its FRR */
    double squeezing;    /* ... feature squeezing at the guard's FRR */
    double patched;      /* ... the patched Student; NaN without it */
    double auc;          /* the guard's ROC AUC */
} level_result;

static level_result result_of(const report_levels *l, uint32_t s)
{
    const eval_view *v = &l->eval;
    const dg_eval_set *set = &v->sets[s];
    uint32_t guard = eval_guard_row(v, v->info.members, v->info.rule);
    const dg_eval_outcome *g = eval_outcome(v, guard, s);
    return (level_result){
        .attempts = set->attempts,
        .fooling = set->fooling,
        .asr = set->attempts ? (double)set->reached_target / set->attempts
                             : NAN,
        .guard = g->defence_rate,
        .pool = eval_outcome(v, eval_baseline_row(v, DG_EVAL_POOL, false), s)
                    ->defence_rate,
        .squeezing =
            eval_outcome(v, eval_baseline_row(v, DG_EVAL_SQUEEZE, true), s)
                ->defence_rate,
        .auc = g->roc_auc,
        .patched = eval_patch_rate(v, s),
    };
}

/* The lowest defence rate of the layer sweep (NaN if none fooled), and the
 * set it was measured on. */
static double worst_layer(const report_levels *l, int32_t *set)
{
    double worst = NAN;
    *set = -1;
    for (uint32_t k = 0; k < l->n_sets; k++) {
        double rate = l->sets[k].sweep ? result_of(l, k).guard : NAN;
        if (!isnan(rate) && (isnan(worst) || rate < worst)) {
            worst = rate;
            *set = (int32_t)k;
        }
    }
    return worst;
}

/* ------------------------------------------------------------------------ */
/* Charts                                                                   */
/* ------------------------------------------------------------------------ */

enum { CHART_POINTS = 64 };

/* The guard's defence rate against the budget of one form, a line per
 * level. */
static dg_status chart_budgets(const report_levels *l, int32_t method,
                               const char *file)
{
    float budgets[CHART_POINTS];
    uint32_t n = 0;
    for (uint32_t b = 0; b < budget_count(l, 0) && n < CHART_POINTS; b++) {
        int32_t m;
        plan_budget(l, b, &m, &budgets[n]);
        n += m == method;
    }
    if (n == 0) return DG_OK;
    double x[3][CHART_POINTS], y[3][CHART_POINTS];
    static const char *const names[3] = {
        "(a) Teacher only, at the cut", "(b) surrogate guard",
        "(c) white box"};
    chart_series series[3];
    double top = 0;
    for (int level = 0; level < 3; level++) {
        for (uint32_t b = 0; b < n; b++) {
            int32_t s = find_set(l, level + 1, l->info->cut, method,
                                 budgets[b]);
            x[level][b] = budgets[b];
            y[level][b] = s < 0 ? NAN : result_of(l, (uint32_t)s).guard;
            if (budgets[b] > top) top = budgets[b];
        }
        series[level] = (chart_series){names[level], x[level], y[level], n,
                                       true, false};
    }
    char title[128], path[4096];
    snprintf(title, sizeof title, "Defence rate against the %s budget",
             method == DG_ATTACK_MIMIC_LINF ? "L-infinity" : "DSSIM");
    chart_spec c = {
        .title = title,
        .x_label = method == DG_ATTACK_MIMIC_LINF
                       ? "L-infinity radius (pixels in [0, 1])"
                       : "DSSIM budget",
        .y_label = "fooling attempts the guard stops",
        .x_min = 0, .x_max = top * 1.1, .y_min = 0, .y_max = 1.001,
        .percent_y = true,
    };
    DG_TRY(report_path(l->info->dir, file, path, sizeof path));
    return chart_write_png(path, &c, series, 3);
}

/* Level a: the guard's defence rate and the attack's ASR per layer. */
static dg_status chart_layers(const report_levels *l)
{
    double x[CHART_POINTS], rate[CHART_POINTS], asr[CHART_POINTS];
    size_t n = 0;
    int32_t first = INT32_MAX;
    for (uint32_t k = 0; k < l->n_sets && n < CHART_POINTS; k++) {
        if (!l->sets[k].sweep) continue;
        level_result r = result_of(l, k);
        x[n] = l->sets[k].layer;
        rate[n] = r.guard;
        asr[n++] = r.asr;
        if (l->sets[k].layer < first) first = l->sets[k].layer;
    }
    if (n == 0) return DG_OK;
    chart_series series[2] = {
        {"fooling attempts the guard stops", x, rate, n, true, false},
        {"ASR on the Student, no defence", x, asr, n, true, true},
    };
    char title[128], path[4096];
    snprintf(title, sizeof title, "Level a: mimicry at each Teacher layer "
                                  "(L-infinity %g)",
             (double)l->info->sweep_epsilon);
    chart_spec c = {
        .title = title,
        .x_label = "Teacher layer matched (the last one is the cut)",
        .y_label = "share",
        .x_min = first - 0.5, .x_max = l->info->cut + 0.5, .x_tick = 1,
        .y_min = 0, .y_max = 1.001, .percent_y = true,
    };
    DG_TRY(report_path(l->info->dir, "defence-vs-layer.png", path,
                       sizeof path));
    return chart_write_png(path, &c, series, 2);
}

dg_status levels_read(report_levels *l, const dg_scenario *s,
                      const dg_scenario_info *info)
{
    *l = (report_levels){.info = info, .n_sets = info->level_sets};
    DG_TRY(dg_alloc_array((void **)&l->sets, l->n_sets + 1, sizeof *l->sets,
                          "report"));
    for (uint32_t k = 0; k < l->n_sets; k++)
        scenario_set_of(s, info->sets + k, &l->sets[k]);
    return eval_view_read(s->evals[1], &l->eval);
}

dg_status levels_write_charts(const report_levels *l)
{
    DG_TRY(chart_layers(l));
    DG_TRY(chart_budgets(l, DG_ATTACK_MIMIC_LINF, "defence-vs-linf.png"));
    return chart_budgets(l, DG_ATTACK_MIMIC_DSSIM, "defence-vs-dssim.png");
}

/* ------------------------------------------------------------------------ */
/* Reports                                                                  */
/* ------------------------------------------------------------------------ */

static void json_result(json_writer *w, const report_levels *l, uint32_t s)
{
    level_result r = result_of(l, s);
    json_put_string(w, "set", l->sets[s].name);
    json_put_int(w, "attempts", r.attempts);
    json_put_number(w, "asr", r.asr);
    json_put_int(w, "fooling", r.fooling);
    json_put_number(w, "defence_rate", r.guard);
    json_put_number(w, "roc_auc", r.auc);
    json_put_number(w, "pool_defence_rate", r.pool);
    json_put_number(w, "feature_squeezing_defence_rate", r.squeezing);
    json_put_number(w, "patched_student_defence_rate", r.patched);
}

static void json_layer_sweep(json_writer *w, const report_levels *l)
{
    int32_t worst;
    double min_rate = worst_layer(l, &worst);
    json_key(w, "layer_sweep");
    json_begin_object(w);
    json_put_string(w, "method", "linf");
    json_put_number(w, "epsilon", budget_value(l->info->sweep_epsilon));
    json_put_number(w, "min_defence_rate", min_rate);
    json_key(w, "worst_layer"); /* -1: no layer's attempts fooled */
    json_int(w, worst >= 0 ? l->sets[worst].layer : -1);
    json_put_int(w, "cut", l->info->cut);
    json_key(w, "by_layer");
    json_begin_array(w);
    for (uint32_t k = 0; k < l->n_sets; k++) {
        if (!l->sets[k].sweep) continue;
        json_begin_object(w);
        json_put_int(w, "layer", l->sets[k].layer);
        json_result(w, l, k);
        json_end_object(w);
    }
    json_end_array(w);
    json_end_object(w);
}

/* One level's sets at the cut, per budget; with defence_rate at
 * L-infinity 0.1, the headline budget. */
static void json_level(json_writer *w, const report_levels *l, int32_t level)
{
    int32_t cut = l->info->cut;
    json_key(w, level_name(level));
    json_begin_object(w);
    int32_t headline = find_set(l, level, cut, DG_ATTACK_MIMIC_LINF, 0.1f);
    json_key(w, "defence_rate");
    json_number(w, headline >= 0 ? result_of(l, (uint32_t)headline).guard
                                 : NAN);
    json_key(w, "asr");
    json_number(w, headline >= 0 ? result_of(l, (uint32_t)headline).asr
                                 : NAN);
    if (level == 2)
        json_put_string(w, "surrogate_images", l->info->surrogate_images);
    if (level != 1) {
        json_put_number(w, "adaptive_weight", l->info->adaptive_weight);
        json_put_int(w, "draw", l->info->draw);
    }
    json_key(w, "by_budget");
    json_begin_array(w);
    for (uint32_t b = 0; b < budget_count(l, 0); b++) {
        int32_t method;
        float budget;
        plan_budget(l, b, &method, &budget);
        int32_t k = find_set(l, level, cut, method, budget);
        if (k < 0) continue;
        const dg_scenario_set *s = &l->sets[k];
        json_begin_object(w);
        json_put_string(w, "method", method_name(s->method));
        json_put_number(w, "budget", budget_value(s->budget));
        json_result(w, l, (uint32_t)k);
        json_end_object(w);
    }
    json_end_array(w);
    json_end_object(w);
}

void levels_json(json_writer *w, const void *ctx)
{
    const report_levels *l = ctx;
    if (!l->eval.eval) return;
    json_layer_sweep(w, l);
    json_key(w, "adaptive");
    json_begin_object(w);
    for (int32_t level = 1; level <= 3; level++) json_level(w, l, level);
    json_end_object(w);
}

static void format_budget(const dg_scenario_set *s, char *buf, size_t size)
{
    snprintf(buf, size, "%s %g",
             s->method == DG_ATTACK_MIMIC_LINF ? "L-inf" : "DSSIM",
             (double)s->budget);
}

void levels_markdown(FILE *out, const report_levels *l)
{
    if (!l->eval.eval) return;
    const dg_scenario_info *p = l->info;
    int32_t worst;
    double min_rate = worst_layer(l, &worst);
    char a[16], b[16], c[16], d[16], e[16], f[16];
    eval_percent(a, sizeof a, min_rate);
    fprintf(out, "\n## Threat levels\n\n"
                 "Targeted mimicry on the same %u test images per set (%u "
                 "per layer of (a)),\njudged by the real Student and guard (doc/EVALUATION.md, "
                 "\"Threat levels\").  (a) knows the Teacher only and\n"
                 "matches each of its layers from the first pooling layer "
                 "on, with L-infinity\n%g as the demo's targeted_linf set; "
                 "worst layer: %s stopped.  (b) also knows the\nlibrary: "
                 "their own Student (`surrogate-student.dgm`) and guard "
                 "(`surrogate-guard.dg`,\nthe library's defaults in the "
                 "full demo) built from %s,\nattacked with mimicry at the cut plus their "
                 "guard's members of the target class\n(weight %g, %u "
                 "drawn per step).  (c) the same through the real guard's "
                 "members.\nL-infinity sets take %u steps of epsilon / 10, "
                 "DSSIM sets %u Adam steps.\nASR: the Student fooled with "
                 "the defence off.\n\n",
            p->level_count, p->sweep_count, (double)p->sweep_epsilon, a,
            p->surrogate_images,
            (double)p->adaptive_weight, p->draw, p->linf_iterations,
            p->dssim_iterations);
    fprintf(out, "| level | set | layer | budget | ASR | fooling | guard "
                 "M=%u %s | AUC | whole pool | squeezing at the guard's "
                 "FRR | patched Student |\n"
                 "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
            l->eval.info.members, report_rule_name(l->eval.info.rule));
    for (uint32_t k = 0; k < l->n_sets; k++) {
        const dg_scenario_set *s = &l->sets[k];
        level_result r = result_of(l, k);
        char budget[32];
        format_budget(s, budget, sizeof budget);
        eval_percent(a, sizeof a, r.asr);
        eval_percent(b, sizeof b, r.guard);
        eval_percent(c, sizeof c, r.pool);
        eval_percent(d, sizeof d, r.squeezing);
        eval_percent(f, sizeof f, r.patched);
        if (isnan(r.auc))
            snprintf(e, sizeof e, "-");
        else
            snprintf(e, sizeof e, "%.3f", r.auc);
        fprintf(out, "| %c%s | %s | %d%s | %s | %s | %u | %s | %s | %s | %s "
                     "| %s |\n",
                level_letter(s->level), s->sweep ? " (layers)" : "", s->name,
                s->layer, s->layer == p->cut ? " (cut)" : "", budget, a,
                r.fooling, b,
                e, c, d, f);
    }
    fprintf(out, "\n![defence rate per layer](defence-vs-layer.png)\n");
    if (budget_count(l, DG_ATTACK_MIMIC_LINF))
        fprintf(out, "![defence rate against L-infinity]"
                     "(defence-vs-linf.png)\n");
    if (budget_count(l, DG_ATTACK_MIMIC_DSSIM))
        fprintf(out, "![defence rate against DSSIM](defence-vs-dssim.png)\n");
}

bool levels_print(FILE *out, const report_levels *l)
{
    if (!l->eval.eval) return true;
    text_table t;
    table_init(&t, "llrlrrrr",
               (const char *const[]){"level", "set", "layer", "budget",
                                     "ASR", "guard", "pool", "squeezing"});
    for (uint32_t k = 0; k < l->n_sets; k++) {
        const dg_scenario_set *s = &l->sets[k];
        level_result r = result_of(l, k);
        char budget[32], a[16], b[16], c[16], d[16];
        format_budget(s, budget, sizeof budget);
        eval_percent(a, sizeof a, r.asr);
        eval_percent(b, sizeof b, r.guard);
        eval_percent(c, sizeof c, r.pool);
        eval_percent(d, sizeof d, r.squeezing);
        table_cell(&t, "%c", level_letter(s->level));
        table_cell(&t, "%s", s->name);
        table_cell(&t, "%d", s->layer);
        table_cell(&t, "%s", budget);
        table_cell(&t, "%s", a);
        table_cell(&t, "%s", b);
        table_cell(&t, "%s", c);
        table_cell(&t, "%s", d);
    }
    fprintf(out, "\nthreat levels (ASR: the defence off; defence rates of "
                 "the guard, the pool and squeezing):\n");
    return table_write(&t, out, 2);
}

void levels_free(report_levels *l)
{
    eval_view_free(&l->eval);
    free(l->sets);
    l->sets = NULL;
    l->n_sets = 0;
}
