/* report.h - the reports of an evaluation and of the demonstration
 * scenario (lib/report): JSON, markdown, the text tables `dg` prints,
 * charts drawn with cairo (chart.c) and example images of attack sets,
 * as dg eval and dg demo write them (doc/EVALUATION.md defines each
 * number).  An evaluation is read once into plain arrays (eval_view.c),
 * then written by eval_report.c (JSON, tables, markdown), eval_charts.c,
 * levels.c (the scenario's threat levels), scenario_report.c and
 * examples.c, a model's (model_report.c, accuracy_report.c), a guard's
 * (guard_report.c) and a verdict's (verdict_report.c); write.c turns them into text and files, and reports.c
 * says which files a report is. */
#ifndef DG_REPORT_REPORT_H
#define DG_REPORT_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "diffguard.h"
#include "core/status.h"
#include "report/text.h"

/* ------------------------------------------------------------------------ */
/* An evaluation (eval_view.c, eval_report.c, eval_charts.c)                */
/* ------------------------------------------------------------------------ */

/* An evaluation with everything the reports print. */
typedef struct eval_view {
    const dg_eval *eval;
    dg_eval_info info;
    dg_eval_set *sets;         /* info.sets */
    dg_eval_row *rows;         /* info.rows */
    dg_eval_outcome *outcomes; /* info.rows x info.sets */
    /* Each set's own description: what made it, such as the attack's
     * level, budget and layer; the evaluation's. */
    char *const *descriptions; /* info.sets */
} eval_view;

dg_status eval_view_read(const dg_eval *e, eval_view *out);
void eval_view_free(eval_view *v);

/* Row k against set s. */
const dg_eval_outcome *eval_outcome(const eval_view *v, uint32_t k,
                                    uint32_t s);
/* The index of the guard's row at M members and `rule`, and of a
 * baseline's (kind DG_EVAL_*; matched: calibrated to the guard's FRR). */
uint32_t eval_guard_row(const eval_view *v, uint32_t members, int32_t rule);
uint32_t eval_baseline_row(const eval_view *v, int32_t kind, bool matched);
/* The patched Student's row into *k; false when it was not evaluated. */
bool eval_patch_row(const eval_view *v, uint32_t *k);
/* Its defence rate on set s; NaN without the row. */
double eval_patch_rate(const eval_view *v, uint32_t s);

/* "score" or "votes", as reports spell DG_RULE_*. */
const char *report_rule_name(int32_t rule);
/* A fraction as a percentage with one decimal, or "-" for NaN (a rate
 * with nothing to measure), as the tables print it. */
void eval_percent(char *buf, size_t size, double v);

/* JSON members of the caller's open object: "clean", "attack", "defence"
 * and "baselines", with defence_extra(w, ctx) (if not NULL) adding
 * members at the end of the "defence" object. */
void eval_write_json(json_writer *w, const eval_view *v,
                     void (*defence_extra)(json_writer *, const void *),
                     const void *ctx);
/* The report's tables in markdown. */
void eval_write_markdown(FILE *out, const eval_view *v);
/* The summary table for a terminal, split into tables of at most 6 sets
 * each, as wide as a terminal table goes.  False when out of memory. */
bool eval_print_table(FILE *out, const eval_view *v);
/* DIR/defence-vs-members.png (the first 6 sets, for a legible legend),
 * DIR/cost-vs-members.png and DIR/roc-SET.png for every set. */
dg_status eval_write_charts(const eval_view *v, const char *dir);

/* ------------------------------------------------------------------------ */
/* The scenario's threat levels (levels.c)                                  */
/* ------------------------------------------------------------------------ */

/* The attacks at every threat level of spec section 7 (doc/EVALUATION.md,
 * "Threat levels"), which the scenario makes and evaluates: (a) the
 * Teacher only, at every layer from the first pooling layer on, (b) a
 * surrogate Student and guard the attacker builds from their own images,
 * (c) the real guard's members; (a) at the cut, (b) and (c) at every
 * budget of a sweep. */
typedef struct report_levels {
    const dg_scenario_info *info; /* the plan, the cut, the folder */
    dg_scenario_set *sets;        /* the level sets, in order */
    uint32_t n_sets;
    eval_view eval;               /* the guard on them */
} report_levels;

/* Reads the level sets and their evaluation from a scenario whose eval
 * stage ran. */
dg_status levels_read(report_levels *l, const dg_scenario *s,
                      const dg_scenario_info *info);
void levels_free(report_levels *l);
/* "layer_sweep" and "adaptive" members of the report's "defence" object;
 * ctx is the report_levels. */
void levels_json(json_writer *w, const void *ctx);
/* The report's section on the levels. */
void levels_markdown(FILE *out, const report_levels *l);
/* The terminal table.  False when out of memory. */
bool levels_print(FILE *out, const report_levels *l);
/* DIR/defence-vs-layer.png, DIR/defence-vs-linf.png and
 * DIR/defence-vs-dssim.png (those with sets to draw). */
dg_status levels_write_charts(const report_levels *l);

/* ------------------------------------------------------------------------ */
/* Example images (examples.c)                                              */
/* ------------------------------------------------------------------------ */

/* The first n successful attempts of set (then other ones within budget)
 * as PNG tiles (source, adversarial, amplified difference) and one sheet
 * with the targets beside them, in folder dir, which is created: the
 * sources and targets are samples of data, target_index per attempt
 * (UINT32_MAX: none). */
dg_status report_write_examples(const dg_advset *set, const dg_dataset *data,
                                const uint32_t *target_index,
                                const char *dir, uint32_t n);

/* ------------------------------------------------------------------------ */
/* The scenario (scenario_report.c)                                         */
/* ------------------------------------------------------------------------ */

/* What the scenario's reports show, read once. */
typedef struct scenario_report {
    const dg_scenario *scenario;
    dg_scenario_info info;
    dg_scenario_model models[4]; /* teacher, student, surrogate, patched */
    dg_scenario_guard guards[2]; /* the guard, the surrogate guard */
    dg_scenario_set *sets;       /* the attack stage's: info.sets */
    eval_view eval;              /* the guard on them; eval.eval NULL
                                    before the eval stage */
    report_levels levels;
    double seconds;              /* since the scenario was made */
} scenario_report;

/* Reads what the stages so far made; the evaluations only when `evals`
 * (DG_E_STATE before the eval stage). */
dg_status scenario_report_read(const dg_scenario *s, bool evals,
                               scenario_report *out);
void scenario_report_free(scenario_report *r);
/* The example images of every attack stage set this run made, in
 * DIR/examples-NAME, n attempts each. */
dg_status scenario_report_examples(const scenario_report *r, uint32_t n);
/* report.json, report.md and the text tables of dg demo. */
bool scenario_report_json(const void *r, FILE *out);
bool scenario_report_markdown(const void *r, FILE *out);
bool scenario_report_table(const void *r, FILE *out);

/* ------------------------------------------------------------------------ */
/* A guard's classes (guard_report.c)                                       */
/* ------------------------------------------------------------------------ */

/* A guard as its public views show it, gathered by lib/api (which keeps
 * the guard's views beside its other functions). */
typedef struct guard_view {
    dg_guard_info info;
    dg_member_info *members;     /* [class * variants + rank] */
    dg_calibration *calibration; /* [class * variants + M - 1] */
    const char **class_names;    /* the Student's */
    uint32_t first_m, last_m;    /* calibration rows to show */
} guard_view;

/* Each class's differentiators and calibration, as DG_FORMAT_JSON (an
 * array of an object per class) or DG_FORMAT_TEXT. */
dg_status report_guard_text(const guard_view *g, int32_t format,
                            char **text, size_t *len);

/* ------------------------------------------------------------------------ */
/* The room's entries (reports.c), on checked arguments                     */
/* ------------------------------------------------------------------------ */

/* DIR/eval.json, DIR/eval.md and the charts, as `parts` (DG_REPORT_*)
 * says, in the folder dir, created if needed. */
dg_status report_eval_files(const dg_eval *e, const char *dir,
                            uint32_t parts);
/* DIR/report.json, DIR/report.md, the charts and the example images
 * (`examples` attempts per set) of a scenario, in its folder. */
dg_status report_scenario_files(const dg_scenario *s, uint32_t parts,
                                uint32_t examples);
/* A report as text (DG_FORMAT_*), malloc'd and terminated, of *len
 * bytes. */
dg_status report_eval_text(const dg_eval *e, int32_t format, char **text,
                           size_t *len);
dg_status report_scenario_text(const dg_scenario *s, int32_t format,
                               char **text, size_t *len);
/* What dg info prints of a model, headed by `name` (NULL: none), as
 * DG_FORMAT_JSON or DG_FORMAT_TEXT (model_report.c). */
dg_status report_model_text(const dg_model *m, const char *name,
                            int32_t format, char **text, size_t *len);
/* What dg validate prints of a verdict, with the class names of student
 * (NULL: none), headed by `name` (NULL: none) (verdict_report.c). */
dg_status report_verdict_text(const dg_verdict *d, const dg_model *student,
                              const char *name, int32_t format, char **text,
                              size_t *len);
/* What dg accuracy prints of m's confusion matrix (k x k for its k
 * classes), headed by the names of the model and the data (NULL: none)
 * (accuracy_report.c). */
dg_status report_accuracy_text(const dg_model *m, const uint32_t *confusion,
                               const char *model_name, const char *data_name,
                               int32_t format, char **text, size_t *len);

/* ------------------------------------------------------------------------ */
/* Text and files (write.c)                                                 */
/* ------------------------------------------------------------------------ */

/* Writes a report as text to out; false when out of memory. */
typedef bool (*report_text_fn)(const void *ctx, FILE *out);

/* write(ctx) into a malloc'd, terminated string of *len bytes. */
dg_status report_text(report_text_fn write, const void *ctx, char **text,
                      size_t *len);
/* write(ctx) into the file dir/name, atomically (dg_file_save). */
dg_status report_save(const char *dir, const char *name,
                      report_text_fn write, const void *ctx);
/* DIR/FILE into buf; DG_E_INVALID_ARG when too long. */
dg_status report_path(const char *dir, const char *file, char *buf,
                      size_t size);
/* Creates the folder dir unless it exists. */
dg_status report_folder(const char *dir);

#endif
