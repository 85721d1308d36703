/* eval.h - the defence evaluation behind `dg eval` and `dg demo`: a guard
 * and its baselines judged on the same clean inputs and adversarial sets
 * (metrics of spec section 5, baselines of section 6; doc/EVALUATION.md
 * defines each number). */
#ifndef DG_EVAL_H
#define DG_EVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "eval_metrics.h"

/* One adversarial set to judge the defences on. */
typedef struct eval_set {
    const char *name;      /* a JSON key and a table column: "targeted" */
    const dg_advset *set;  /* borrowed */
} eval_set;

typedef struct eval_request {
    const dg_model *student;
    const dg_ensemble *guard;
    const dg_dataset *clean;  /* labelled in the Student's classes */
    const eval_set *sets;
    uint32_t n_sets;
    uint32_t squeeze_bits;    /* feature squeezing's bit depth */
    double baseline_fpr;      /* feature squeezing's calibration, 0.05 */
} eval_request;

/* One input the evaluation ran through every defence: the clean ones
 * first, then each set's attempts. */
typedef struct eval_input {
    int32_t truth;        /* clean: the true class; attempts: the source */
    int32_t target;       /* attempts: the attacker's class, -1 for none */
    bool targeted;        /* the attack wanted `target`, else any but truth */
    bool within_budget;   /* attempts: a real adversarial image */
    int32_t label;        /* the Student's class (phase 1) */
    int32_t pool_label;   /* the pool's plurality class */
    float pool_share;     /* share of the pool voting for pool_label */
    float squeeze_score;  /* feature squeezing's L1 distance */
} eval_input;

/* Which detector a row is, for its suspicion scores. */
typedef enum eval_kind {
    EVAL_NONE,     /* no defence */
    EVAL_GUARD,    /* two-phase validation, M members, a rule */
    EVAL_POOL,     /* every differentiator, no phase 1 */
    EVAL_SQUEEZE,  /* feature squeezing */
} eval_kind;

/* One defence's numbers on the clean inputs and on every set. */
typedef struct eval_row {
    char name[48];
    eval_kind kind;
    uint32_t members;       /* guard: M */
    int32_t rule;           /* guard: DG_RULE_* */
    uint32_t passes;        /* forward passes per input */
    float threshold;        /* pool and squeezing: flags suspicion above */
    defence_counts *counts; /* per set; the clean counts are the same */
    /* Detection quality where a score exists (NaN otherwise), per set:
     * clean inputs the Student gets right against fooling attempts. */
    double *auc, *tpr5, *tpr1;
} eval_row;

typedef struct eval_result {
    uint32_t n_sets, n_inputs, n_clean;
    uint32_t classes, variants, members;  /* the guard's K, V, default M */
    int32_t rule;                         /* the guard's default rule */
    const eval_set *sets;
    uint32_t *set_first;     /* n_sets + 1: each set's first input */
    eval_input *inputs;
    int32_t *member_label;   /* n_inputs x V, ranked members of `label` */
    float *member_score;     /* n_inputs x V: each one's P(label) */
    uint32_t *tau;           /* classes x V: calibrated votes for M */
    float *theta;            /* classes x V: calibrated mean score */
    /* 2 V guard rows (votes for M = 1..V, then score), then no defence,
     * the pool, and feature squeezing at baseline_fpr and at the
     * guard's false rejection rate. */
    eval_row *rows;
    uint32_t n_rows;
    double student_accuracy; /* on the clean inputs */
    double latency_ms;       /* per input at default M and rule, batch 64 */
    double baseline_fpr;
    uint32_t squeeze_bits;
} eval_result;

/* Runs the evaluation, with a progress bar.  Reports failures. */
int eval_run(const eval_request *req, eval_result *out);
void eval_result_free(eval_result *r);

/* The row of the guard at M members and `rule`, or of a baseline. */
const eval_row *eval_guard_row(const eval_result *r, uint32_t members,
                               int32_t rule);
const eval_row *eval_baseline_row(const eval_result *r, eval_kind kind,
                                  bool matched);

/* JSON members of the caller's open object: "clean", "attack", "defence"
 * and "baselines". */
void eval_write_json(json_writer *w, const eval_result *r);
/* The report's tables in markdown. */
void eval_write_markdown(FILE *out, const eval_result *r);
/* DIR/defence-vs-members.png, DIR/cost-vs-members.png and
 * DIR/roc-SET.png for every set.  Reports failures. */
int eval_write_charts(const eval_result *r, const char *dir);
/* The summary table for a terminal.  Reports failures. */
int eval_print_table(FILE *out, const eval_result *r);

#endif
