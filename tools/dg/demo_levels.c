/* demo_levels.c - dg demo's attacks at every threat level (demo_levels.h):
 * which sets, crafting them with attack_run.c, their evaluation and their
 * reports. */
#include "demo_levels.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chart.h"

void demo_note(const demo_out *o, const char *fmt, ...)
{
    if (o->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int demo_path(const demo_out *o, const char *file, char *buf, size_t size)
{
    if ((size_t)snprintf(buf, size, "%s/%s", o->dir, file) >= size)
        return cli_error("the path %s/%s is too long", o->dir, file);
    return CLI_EXIT_OK;
}

int demo_obtain_set(const demo_out *o, const char *name, attack_plan *plan,
                    const char *doing, dg_advset **out)
{
    char path[4096], file[256], teacher[4096], student[4096];
    snprintf(file, sizeof file, "attack-%s.dgadv", name);
    int rc = demo_path(o, file, path, sizeof path);
    if (rc != CLI_EXIT_OK) return rc;
    struct stat st;
    if (stat(path, &st) == 0 && dg_advset_load_file(path, out) == DG_OK) {
        demo_note(o, "attack %s: reusing %s", name, path);
        return CLI_EXIT_OK;
    }
    rc = demo_path(o, "teacher.dgm", teacher, sizeof teacher);
    if (rc == CLI_EXIT_OK)
        rc = demo_path(o, "student.dgm", student, sizeof student);
    if (rc != CLI_EXIT_OK) return rc;
    plan->teacher_path = teacher;
    plan->student_path = student;
    plan->data_spec = "fmnist:test";
    plan->out_path = path;
    plan->preset = DG_ATTACK_PRESET_STRONG;
    plan->target_class = -1;
    demo_note(o, "%s", doing);
    rc = attack_write_set(plan);
    if (rc == CLI_EXIT_OK) {
        dg_status ls = dg_advset_load_file(path, out);
        if (ls != DG_OK) rc = cli_fail(ls, "loading %s", path);
    }
    return rc;
}

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

static const char *level_name(char level)
{
    return level == 'a' ? "teacher_only"
           : level == 'b' ? "surrogate"
                          : "whitebox";
}

/* ------------------------------------------------------------------------ */
/* Settings                                                                 */
/* ------------------------------------------------------------------------ */

static void json_budgets(json_writer *w, const char *key, const float *b,
                         uint32_t n)
{
    json_key(w, key);
    json_begin_array(w);
    for (uint32_t k = 0; k < n; k++) json_number(w, budget_value(b[k]));
    json_end_array(w);
}

void levels_json_settings(json_writer *w, const levels_plan *p)
{
    json_begin_object(w);
    json_put_int(w, "count", p->count);
    json_put_int(w, "linf_iterations", p->linf_iterations);
    json_put_int(w, "dssim_iterations", p->dssim_iterations);
    json_put_number(w, "sweep_epsilon", budget_value(p->sweep_epsilon));
    json_budgets(w, "linf_budgets", p->linf_budgets, p->n_linf);
    json_budgets(w, "dssim_budgets", p->dssim_budgets, p->n_dssim);
    json_put_number(w, "adaptive_weight", p->adaptive_weight);
    json_put_int(w, "draw", p->draw);
    json_end_object(w);
}

/* ------------------------------------------------------------------------ */
/* The sets                                                                 */
/* ------------------------------------------------------------------------ */

/* The first pooling layer and the cut (the layer before the last linear
 * one, as DG_ATTACK feature_layer -1 resolves it). */
static int sweep_range(const dg_model *teacher, int32_t *first, int32_t *cut)
{
    uint32_t n;
    dg_status st = dg_model_layer_count(teacher, &n);
    *first = -1;
    *cut = -1;
    for (uint32_t k = 0; st == DG_OK && k < n; k++) {
        dg_layer_info info = {.struct_size = sizeof info};
        st = dg_model_layer_info(teacher, k, &info);
        bool pooling = info.kind == DG_LAYER_MAXPOOL ||
                       info.kind == DG_LAYER_AVGPOOL ||
                       info.kind == DG_LAYER_GLOBAL_AVGPOOL;
        if (st == DG_OK && pooling && *first < 0) *first = (int32_t)k;
        if (st == DG_OK && info.kind == DG_LAYER_LINEAR) *cut = (int32_t)k - 1;
    }
    if (st != DG_OK) return cli_fail(st, "reading the Teacher's layers");
    if (*first < 0 || *cut < *first)
        return cli_error("the Teacher has no pooling layer before its last "
                         "hidden layer to sweep from");
    return CLI_EXIT_OK;
}

/* The set of `level` at `layer` with this method and budget, or -1. */
static int32_t find_set(const demo_levels *l, char level, int32_t layer,
                        int32_t method, float budget)
{
    for (uint32_t k = 0; k < l->n_sets; k++) {
        const level_set *s = &l->sets[k];
        if (s->level == level && s->layer == layer && s->method == method &&
            s->budget == budget)
            return (int32_t)k;
    }
    return -1;
}

static void add_set(demo_levels *l, char level, bool sweep, int32_t layer,
                    int32_t method, float budget)
{
    if (find_set(l, level, layer, method, budget) >= 0) return;
    level_set *s = &l->sets[l->n_sets++];
    *s = (level_set){.level = level, .sweep = sweep, .layer = layer,
                     .method = method, .budget = budget};
    if (sweep)
        snprintf(s->name, sizeof s->name, "a_layer%d", layer);
    else
        snprintf(s->name, sizeof s->name, "%c_%s_%g", level,
                 method_name(method), (double)budget);
    const char *who =
        level == 'a'   ? "level a: the Teacher only"
        : level == 'b' ? "level b: the Teacher, the library and the "
                         "attacker's own surrogate Student and guard"
                       : "level c: white box, the real guard's members";
    snprintf(s->label, sizeof s->label, "%s; %s; Teacher layer %d%s", who,
             sweep ? "layer sweep" : "budget sweep", layer,
             layer == l->cut ? " (the cut)" : "");
}

/* Budget b of the plan's sweep (its L-infinity budgets, then its DSSIM
 * ones): the method and the budget. */
static void plan_budget(const levels_plan *p, uint32_t b, int32_t *method,
                        float *budget)
{
    bool linf = b < p->n_linf;
    *method = linf ? DG_ATTACK_MIMIC_LINF : DG_ATTACK_MIMIC_DSSIM;
    *budget = linf ? p->linf_budgets[b] : p->dssim_budgets[b - p->n_linf];
}

/* Level a at every layer of the sweep, then at the cut and each budget
 * of levels b and c. */
static int list_sets(demo_levels *l)
{
    const levels_plan *p = l->plan;
    int32_t first;
    int rc = sweep_range(l->in.teacher, &first, &l->cut);
    if (rc != CLI_EXIT_OK) return rc;
    uint32_t budgets = p->n_linf + p->n_dssim;
    uint32_t cap = (uint32_t)(l->cut - first + 1) + 3 * budgets;
    l->sets = calloc(cap, sizeof *l->sets);
    l->advsets = calloc(cap, sizeof *l->advsets);
    if (!l->sets || !l->advsets) return cli_error("out of memory");
    for (int32_t k = first; k <= l->cut; k++)
        add_set(l, 'a', true, k, DG_ATTACK_MIMIC_LINF, p->sweep_epsilon);
    for (const char *level = "abc"; *level; level++)
        for (uint32_t b = 0; b < budgets; b++) {
            int32_t method;
            float budget;
            plan_budget(p, b, &method, &budget);
            add_set(l, *level, false, l->cut, method, budget);
        }
    snprintf(l->surrogate_images, sizeof l->surrogate_images,
             "fmnist:train, classes %s, images %u to %u of each class",
             l->in.classes, l->in.surrogate_skip,
             l->in.surrogate_skip + l->in.surrogate_per_class - 1);
    return CLI_EXIT_OK;
}

/* The attack of set s as attack_run.c takes it; the guards' paths live
 * in `files`. */
static int plan_set(const demo_levels *l, const level_set *s,
                    char files[3][4096], attack_plan *a)
{
    static const char *const names[3] = {"guard.dg", "surrogate-guard.dg",
                                         "surrogate-student.dgm"};
    for (int k = 0; k < 3; k++) {
        int rc = demo_path(&l->in.out, names[k], files[k], sizeof files[k]);
        if (rc != CLI_EXIT_OK) return rc;
    }
    const levels_plan *p = l->plan;
    *a = (attack_plan){
        .classes = l->in.classes,
        .count = p->count,
        .label = s->label,
    };
    dg_status st = dg_attack_opts_init(&a->opts, sizeof a->opts,
                                       DG_ATTACK_PRESET_STRONG);
    if (st != DG_OK) return cli_fail(st, "attack options");
    a->opts.method = s->method;
    a->opts.feature_layer = s->layer;
    a->opts.seed = l->in.seed; /* the same attempts in every set */
    if (s->method == DG_ATTACK_MIMIC_LINF) {
        a->opts.epsilon = s->budget;
        a->opts.step = s->budget / 10;
        a->opts.iterations = p->linf_iterations;
    } else {
        a->opts.budget = s->budget;
        a->opts.lambda = DG_ATTACK_STRONG_LAMBDA_BUDGET / s->budget;
        a->opts.iterations = p->dssim_iterations;
    }
    if (s->level != 'a') {
        a->guard_path = s->level == 'b' ? files[1] : files[0];
        a->guard_student_path = s->level == 'b' ? files[2] : NULL;
        a->opts.adaptive_weight = p->adaptive_weight;
        a->opts.adaptive_draw = p->draw;
    }
    return CLI_EXIT_OK;
}

/* Loads set k if an earlier run made it, else crafts it. */
static int obtain_set(demo_levels *l, uint32_t k)
{
    const level_set *s = &l->sets[k];
    char files[3][4096], doing[512];
    attack_plan a;
    int rc = plan_set(l, s, files, &a);
    if (rc != CLI_EXIT_OK) return rc;
    snprintf(doing, sizeof doing, "attack %s (%s): %u attempts, %u iterations",
             s->name, s->label, a.count, a.opts.iterations);
    return demo_obtain_set(&l->in.out, s->name, &a, doing, &l->advsets[k]);
}

int levels_attack(demo_levels *l)
{
    int rc = list_sets(l);
    for (uint32_t k = 0; rc == CLI_EXIT_OK && k < l->n_sets; k++) {
        rc = obtain_set(l, k);
        if (rc == CLI_EXIT_OK && cli_interrupted())
            rc = cli_error("interrupted");
    }
    return rc;
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

static level_result result_of(const demo_levels *l, uint32_t s)
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
static double worst_layer(const demo_levels *l, int32_t *set)
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
static int chart_budgets(const demo_levels *l, int32_t method,
                         const float *budgets, uint32_t n, const char *file)
{
    if (n == 0) return CLI_EXIT_OK;
    double x[3][LEVELS_MAX_BUDGETS], y[3][LEVELS_MAX_BUDGETS];
    static const char *const names[3] = {
        "(a) Teacher only, at the cut", "(b) surrogate guard",
        "(c) white box"};
    chart_series series[3];
    double top = 0;
    for (int level = 0; level < 3; level++) {
        for (uint32_t b = 0; b < n; b++) {
            int32_t s = find_set(l, (char)('a' + level), l->cut, method,
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
    int rc = demo_path(&l->in.out, file, path, sizeof path);
    return rc == CLI_EXIT_OK ? chart_write_png(path, &c, series, 3) : rc;
}

/* Level a: the guard's defence rate and the attack's ASR per layer. */
static int chart_layers(const demo_levels *l)
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
    if (n == 0) return CLI_EXIT_OK;
    chart_series series[2] = {
        {"fooling attempts the guard stops", x, rate, n, true, false},
        {"ASR on the Student, no defence", x, asr, n, true, true},
    };
    char title[128], path[4096];
    snprintf(title, sizeof title, "Level a: mimicry at each Teacher layer "
                                  "(L-infinity %g)",
             (double)l->plan->sweep_epsilon);
    chart_spec c = {
        .title = title,
        .x_label = "Teacher layer matched (the last one is the cut)",
        .y_label = "share",
        .x_min = first - 0.5, .x_max = l->cut + 0.5, .x_tick = 1,
        .y_min = 0, .y_max = 1.001, .percent_y = true,
    };
    int rc = demo_path(&l->in.out, "defence-vs-layer.png", path, sizeof path);
    return rc == CLI_EXIT_OK ? chart_write_png(path, &c, series, 2) : rc;
}

int levels_eval(demo_levels *l, const dg_guard *guard,
                const dg_dataset *clean, const dg_model *patched)
{
    const char **names = calloc(l->n_sets + 1, sizeof *names);
    if (!names) return cli_error("out of memory");
    for (uint32_t k = 0; k < l->n_sets; k++) names[k] = l->sets[k].name;
    dg_eval_opts o;
    dg_eval_opts_init(&o, sizeof o);
    o.patched_student = patched;
    demo_note(&l->in.out, "eval: the guard and the baselines on the %u sets "
                          "of the threat levels",
              l->n_sets);
    int rc = eval_view_run(guard, clean, (const dg_advset *const *)l->advsets,
                           names, l->n_sets, &o, &l->eval);
    free(names);
    const levels_plan *p = l->plan;
    for (uint32_t k = 0; rc == CLI_EXIT_OK && k < l->n_sets; k++) {
        level_result r = result_of(l, k);
        demo_note(&l->in.out, "  %-16s ASR %5.1f%% with the defence off, "
                              "guard stops %5.1f%%",
                  l->sets[k].name, 100 * r.asr, 100 * r.guard);
    }
    if (rc == CLI_EXIT_OK) rc = chart_layers(l);
    if (rc == CLI_EXIT_OK)
        rc = chart_budgets(l, DG_ATTACK_MIMIC_LINF, p->linf_budgets,
                           p->n_linf, "defence-vs-linf.png");
    if (rc == CLI_EXIT_OK)
        rc = chart_budgets(l, DG_ATTACK_MIMIC_DSSIM, p->dssim_budgets,
                           p->n_dssim, "defence-vs-dssim.png");
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Reports                                                                  */
/* ------------------------------------------------------------------------ */

static void json_result(json_writer *w, const demo_levels *l, uint32_t s)
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

static void json_layer_sweep(json_writer *w, const demo_levels *l)
{
    int32_t worst;
    double min_rate = worst_layer(l, &worst);
    json_key(w, "layer_sweep");
    json_begin_object(w);
    json_put_string(w, "method", "linf");
    json_put_number(w, "epsilon", budget_value(l->plan->sweep_epsilon));
    json_put_number(w, "min_defence_rate", min_rate);
    json_key(w, "worst_layer"); /* -1: no layer's attempts fooled */
    json_int(w, worst >= 0 ? l->sets[worst].layer : -1);
    json_put_int(w, "cut", l->cut);
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
static void json_level(json_writer *w, const demo_levels *l, char level)
{
    json_key(w, level_name(level));
    json_begin_object(w);
    int32_t headline = find_set(l, level, l->cut, DG_ATTACK_MIMIC_LINF, 0.1f);
    json_key(w, "defence_rate");
    json_number(w, headline >= 0 ? result_of(l, (uint32_t)headline).guard
                                 : NAN);
    json_key(w, "asr");
    json_number(w, headline >= 0 ? result_of(l, (uint32_t)headline).asr
                                 : NAN);
    if (level == 'b')
        json_put_string(w, "surrogate_images", l->surrogate_images);
    if (level != 'a') {
        json_put_number(w, "adaptive_weight", l->plan->adaptive_weight);
        json_put_int(w, "draw", l->plan->draw);
    }
    json_key(w, "by_budget");
    json_begin_array(w);
    const levels_plan *p = l->plan;
    for (uint32_t b = 0; b < p->n_linf + p->n_dssim; b++) {
        int32_t method;
        float budget;
        plan_budget(p, b, &method, &budget);
        int32_t k = find_set(l, level, l->cut, method, budget);
        if (k < 0) continue;
        const level_set *s = &l->sets[k];
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
    const demo_levels *l = ctx;
    if (!l->eval.eval) return;
    json_layer_sweep(w, l);
    json_key(w, "adaptive");
    json_begin_object(w);
    for (const char *level = "abc"; *level; level++) json_level(w, l, *level);
    json_end_object(w);
}

static void format_budget(const level_set *s, char *buf, size_t size)
{
    snprintf(buf, size, "%s %g",
             s->method == DG_ATTACK_MIMIC_LINF ? "L-inf" : "DSSIM",
             (double)s->budget);
}

void levels_markdown(FILE *out, const demo_levels *l)
{
    if (!l->eval.eval) return;
    const levels_plan *p = l->plan;
    int32_t worst;
    double min_rate = worst_layer(l, &worst);
    char a[16], b[16], c[16], d[16], e[16], f[16];
    eval_percent(a, sizeof a, min_rate);
    fprintf(out, "\n## Threat levels\n\n"
                 "Targeted mimicry on the same %u test images per set, "
                 "judged by the real Student\nand guard (doc/EVALUATION.md, "
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
            p->count, (double)p->sweep_epsilon, a, l->surrogate_images,
            (double)p->adaptive_weight, p->draw, p->linf_iterations,
            p->dssim_iterations);
    fprintf(out, "| level | set | layer | budget | ASR | fooling | guard "
                 "M=%u %s | AUC | whole pool | squeezing at the guard's "
                 "FRR | patched Student |\n"
                 "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
            l->eval.info.members, cli_rule_name(l->eval.info.rule));
    for (uint32_t k = 0; k < l->n_sets; k++) {
        const level_set *s = &l->sets[k];
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
                s->level, s->sweep ? " (layers)" : "", s->name, s->layer,
                s->layer == l->cut ? " (cut)" : "", budget, a, r.fooling, b,
                e, c, d, f);
    }
    fprintf(out, "\n![defence rate per layer](defence-vs-layer.png)\n");
    if (p->n_linf)
        fprintf(out, "![defence rate against L-infinity]"
                     "(defence-vs-linf.png)\n");
    if (p->n_dssim)
        fprintf(out, "![defence rate against DSSIM](defence-vs-dssim.png)\n");
}

int levels_print(FILE *out, const demo_levels *l)
{
    if (!l->eval.eval) return CLI_EXIT_OK;
    cli_table t;
    table_init(&t, "llrlrrrr",
               (const char *const[]){"level", "set", "layer", "budget",
                                     "ASR", "guard", "pool", "squeezing"});
    for (uint32_t k = 0; k < l->n_sets; k++) {
        const level_set *s = &l->sets[k];
        level_result r = result_of(l, k);
        char budget[32], a[16], b[16], c[16], d[16];
        format_budget(s, budget, sizeof budget);
        eval_percent(a, sizeof a, r.asr);
        eval_percent(b, sizeof b, r.guard);
        eval_percent(c, sizeof c, r.pool);
        eval_percent(d, sizeof d, r.squeezing);
        table_cell(&t, "%c", s->level);
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
    return table_print(&t, out, 2);
}

void levels_free(demo_levels *l)
{
    eval_view_free(&l->eval);
    for (uint32_t k = 0; l->advsets && k < l->n_sets; k++)
        dg_advset_free(l->advsets[k]);
    free(l->advsets);
    free(l->sets);
    l->sets = NULL;
    l->advsets = NULL;
    l->n_sets = 0;
}
