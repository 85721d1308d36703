/* eval.h - what dg eval and dg demo show of an evaluation (dg_eval_run in
 * the library): the evaluation read once into plain arrays, then printed as
 * JSON, tables, markdown and charts (doc/EVALUATION.md defines each
 * number). */
#ifndef DG_EVAL_H
#define DG_EVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

/* An evaluation with everything the reports print. */
typedef struct eval_view {
    const dg_eval *eval;
    dg_eval *made; /* eval_view_run's evaluation, freed with the view */
    dg_eval_info info;
    dg_eval_set *sets;         /* info.sets */
    dg_eval_row *rows;         /* info.rows */
    dg_eval_outcome *outcomes; /* info.rows x info.sets */
    /* Each set's own description (dg_advset_description): what made it,
     * such as the attack's level, budget and layer. */
    char **descriptions;       /* info.sets */
} eval_view;

/* Runs dg_eval_run with a progress bar that Ctrl-C stops, and reads the
 * result.  Reports failures. */
int eval_view_run(const dg_guard *guard, const dg_dataset *clean,
                  const dg_advset *const *sets, const char *const *names,
                  uint32_t n_sets, const dg_eval_opts *o, eval_view *out);
/* Reads an evaluation made elsewhere (dg demo's), of these sets, which
 * stays its owner's.  Reports failures. */
int eval_view_read(const dg_eval *e, const dg_advset *const *sets,
                   eval_view *out);
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

/* JSON members of the caller's open object: "clean", "attack", "defence"
 * and "baselines" (eval_report.c). */
void eval_write_json(json_writer *w, const eval_view *v);
/* The same, with defence_extra(w, ctx) adding members at the end of the
 * "defence" object. */
void eval_write_json_with(json_writer *w, const eval_view *v,
                          void (*defence_extra)(json_writer *, const void *),
                          const void *ctx);
/* A fraction as a percentage with one decimal, or "-" for NaN (a rate
 * with nothing to measure), as the tables print it. */
void eval_percent(char *buf, size_t size, double v);
/* The report's tables in markdown. */
void eval_write_markdown(FILE *out, const eval_view *v);
/* The summary table for a terminal, split into tables of at most 6 sets
 * each, as wide as a terminal table goes.  Reports failures. */
int eval_print_table(FILE *out, const eval_view *v);
/* DIR/defence-vs-members.png (the first 6 sets, for a legible legend),
 * DIR/cost-vs-members.png and DIR/roc-SET.png for every set
 * (eval_charts.c).  Reports failures. */
int eval_write_charts(const eval_view *v, const char *dir);

#endif
