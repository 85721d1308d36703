/* eval_charts.c - an evaluation drawn with cairo (chart.c): defence and
 * cost against the number of differentiators, and ROC curves per set. */
#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "eval/eval.h"
#include "report/chart.h"
#include "report/report.h"

/* Charts draw at most MAX_CHART_SETS sets. */
enum { MAX_CHART_SETS = 6 };

/* What a chart draws of the guard's row k on set s. */
typedef double (*row_metric)(const eval_view *v, uint32_t k, uint32_t s);

static double defence_rate(const eval_view *v, uint32_t k, uint32_t s)
{
    return eval_outcome(v, k, s)->defence_rate;
}

static double false_rejection(const eval_view *v, uint32_t k, uint32_t s)
{
    (void)s;
    return v->rows[k].false_rejection_rate;
}

static double accuracy_loss(const eval_view *v, uint32_t k, uint32_t s)
{
    (void)s;
    return v->rows[k].accuracy_loss;
}

/* ys[m - 1]: `metric` of the guard at M = m under `rule` on set s. */
static void over_members(const eval_view *v, int32_t rule, uint32_t s,
                         row_metric metric, double *ys)
{
    for (uint32_t m = 1; m <= v->info.variants; m++)
        ys[m - 1] = metric(v, eval_guard_row(v, m, rule), s);
}

/* Defence rates per set (votes solid, score dashed) against M. */
static dg_status chart_defence(const eval_view *r, const char *dir, double *x,
                         double *y)
{
    uint32_t v = r->info.variants, n = 0;
    double lowest = 1;
    chart_series series[2 * MAX_CHART_SETS];
    char names[2 * MAX_CHART_SETS][96];
    for (uint32_t s = 0; s < r->info.sets && s < MAX_CHART_SETS; s++)
        for (int rule = DG_RULE_VOTES; rule <= DG_RULE_SCORE; rule++, n++) {
            double *ys = y + (size_t)n * v;
            over_members(r, rule, s, defence_rate, ys);
            for (uint32_t m = 0; m < v; m++)
                if (ys[m] < lowest) lowest = ys[m];
            snprintf(names[n], sizeof names[n], "%s, %s", r->sets[s].name,
                     report_rule_name(rule));
            series[n] = (chart_series){names[n], x, ys, v, true,
                                       rule == DG_RULE_SCORE};
        }
    chart_spec c = {
        .title = "Defence rate against the number of differentiators",
        .x_label = "differentiators consulted (M)",
        .y_label = "fooling attempts stopped",
        .x_min = 0.5, .x_max = v + 0.5, .x_tick = 1,
        /* From the 10% step below the lowest rate, so that differences
         * between high rates show. */
        .y_min = fmax(0, floor((lowest - 0.02) * 10) / 10), .y_max = 1.001,
        .percent_y = true,
    };
    char path[4096];
    DG_TRY(report_path(dir, "defence-vs-members.png", path, sizeof path));
    return chart_write_png(path, &c, series, n);
}

/* Clean false rejection and accuracy loss per rule against M. */
static dg_status chart_cost(const eval_view *r, const char *dir, double *x,
                      double *y)
{
    uint32_t v = r->info.variants, n = 0;
    chart_series series[4];
    static const char *const names[4] = {
        "false rejection, votes", "accuracy loss, votes",
        "false rejection, score", "accuracy loss, score"};
    double top = 0.05;
    for (int rule = DG_RULE_VOTES; rule <= DG_RULE_SCORE; rule++)
        for (int loss = 0; loss < 2; loss++, n++) {
            double *ys = y + (size_t)n * v;
            over_members(r, rule, 0,
                         loss ? accuracy_loss : false_rejection, ys);
            for (uint32_t m = 0; m < v; m++)
                if (ys[m] > top) top = ys[m];
            series[n] = (chart_series){names[n], x, ys, v, true,
                                       rule == DG_RULE_SCORE};
        }
    chart_spec c = {
        .title = "Cost on clean inputs against the number of differentiators",
        .x_label = "differentiators consulted (M)",
        .y_label = "share of clean inputs",
        .x_min = 0.5, .x_max = v + 0.5, .x_tick = 1,
        .y_min = 0, .y_max = ceil(top * 1.15 * 50) / 50, .percent_y = true,
    };
    char path[4096];
    DG_TRY(report_path(dir, "cost-vs-members.png", path, sizeof path));
    return chart_write_png(path, &c, series, n);
}

/* ROC curves on set s of the guard (default M, both rules), the pool and
 * feature squeezing. */
static dg_status chart_roc(const eval_view *r, uint32_t s, const char *dir)
{
    const uint32_t rows[4] = {
        eval_guard_row(r, r->info.members, DG_RULE_SCORE),
        eval_guard_row(r, r->info.members, DG_RULE_VOTES),
        eval_baseline_row(r, DG_EVAL_POOL, false),
        eval_baseline_row(r, DG_EVAL_SQUEEZE, false),
    };
    char names[4][96];
    chart_series series[4];
    double *points[8] = {0};
    dg_status st = DG_OK;
    for (int k = 0; k < 4 && st == DG_OK; k++) {
        size_t n = 0;
        st = dg_eval_roc_points(r->eval, rows[k], s, NULL, NULL, 0, &n);
        if (st == DG_OK)
            st = dg_alloc_array((void **)&points[2 * k], n, sizeof(double),
                                "the ROC curve");
        if (st == DG_OK)
            st = dg_alloc_array((void **)&points[2 * k + 1], n,
                                sizeof(double), "the ROC curve");
        if (st == DG_OK)
            st = dg_eval_roc_points(r->eval, rows[k], s, points[2 * k],
                                    points[2 * k + 1], n, &n);
        snprintf(names[k], sizeof names[k], "%s (AUC %.3f)",
                 r->rows[rows[k]].name, eval_outcome(r, rows[k], s)->roc_auc);
        series[k] = (chart_series){names[k], points[2 * k], points[2 * k + 1],
                                   n, false, k == 1};
    }
    char title[160], file[96], path[4096];
    snprintf(title, sizeof title, "ROC on %s: clean inputs against fooling "
                                  "attempts", r->sets[s].name);
    chart_spec c = {
        .title = title,
        .x_label = "clean inputs flagged (false positive rate)",
        .y_label = "fooling attempts flagged (true positive rate)",
        .x_min = 0, .x_max = 1, .y_min = 0, .y_max = 1.001,
        .percent_x = true, .percent_y = true, .diagonal = true,
        .width = 640, .height = 560,
    };
    snprintf(file, sizeof file, "roc-%s.png", r->sets[s].name);
    if (st == DG_OK) st = report_path(dir, file, path, sizeof path);
    if (st == DG_OK) st = chart_write_png(path, &c, series, 4);
    for (int k = 0; k < 8; k++) free(points[k]);
    return st;
}

dg_status eval_write_charts(const eval_view *r, const char *dir)
{
    uint32_t v = r->info.variants;
    double *x = NULL, *y = NULL;
    dg_status st = dg_alloc_array((void **)&x, v, sizeof *x, "a chart");
    if (st == DG_OK)
        st = dg_alloc_array((void **)&y, (size_t)2 * MAX_CHART_SETS * v,
                            sizeof *y, "a chart");
    for (uint32_t m = 1; st == DG_OK && m <= v; m++) x[m - 1] = m;
    if (st == DG_OK) st = chart_defence(r, dir, x, y);
    if (st == DG_OK) st = chart_cost(r, dir, x, y);
    for (uint32_t s = 0; st == DG_OK && s < r->info.sets; s++)
        st = chart_roc(r, s, dir);
    free(x);
    free(y);
    return st;
}
