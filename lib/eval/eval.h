/* eval.h - the defence evaluation: a guard and its baselines judged on the
 * same clean inputs and adversarial sets (metrics of spec section 5,
 * baselines of section 6; doc/EVALUATION.md defines each number), and the
 * choice of the attempts an attack run makes. */
#ifndef DG_EVAL_EVAL_H
#define DG_EVAL_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "diffguard.h"
#include "attack/advset.h"
#include "eval/metrics.h"

/* Inputs per validation call, as the latency is reported. */
enum { DG_EVAL_BATCH = 64 };

/* One input the evaluation ran through every defence: the clean ones
 * first, then each set's attempts. */
typedef struct dg_eval_sample {
    int32_t truth;        /* clean: the true class; attempts: the source */
    int32_t target;       /* attempts: the attacker's class, -1 for none */
    bool targeted;        /* the attack wanted `target`, else any but truth */
    bool within_budget;   /* attempts: a real adversarial image */
    int32_t label;        /* the Student's class (phase 1) */
    int32_t pool_label;   /* the pool's plurality class */
    float pool_share;     /* share of the pool voting for pool_label */
    float squeeze_score;  /* feature squeezing's L1 distance */
    int32_t patch_label;  /* the patched Student's class */
} dg_eval_sample;

/* One defence (a row of the report) and its numbers on the clean inputs
 * and on every set. */
typedef struct dg_eval_line {
    char name[48];
    int32_t kind;             /* DG_EVAL_* */
    uint32_t members;         /* guard: M */
    int32_t rule;             /* guard: DG_RULE_* */
    bool matched;             /* calibrated to the guard's FRR */
    uint32_t passes;          /* forward passes per input */
    float threshold;          /* pool and squeezing: flags above */
    dg_defence_counts clean;  /* clean fields only */
    dg_defence_counts *counts; /* per set, the clean fields included */
    /* Detection quality where a score exists (NaN otherwise), per set:
     * clean inputs the Student gets right against fooling attempts. */
    double *auc, *tpr5, *tpr1;
} dg_eval_line;

struct dg_eval {
    uint32_t n_sets, n_inputs, n_clean;
    uint32_t classes, variants, members; /* the guard's K, V, default M */
    int32_t rule;                        /* the guard's default rule */
    char **set_names;        /* n_sets copies */
    /* n_sets copies of each set's description (dg_advset_description):
     * what made it, for the reports. */
    char **set_descriptions;
    uint32_t *set_first;     /* n_sets + 1: each set's first input */
    dg_eval_sample *inputs;
    /* n_inputs x 2V, by guard row (votes for M = 1..V, then score):
     * dg_guard_decide's acceptance and the suspicion its tally implies. */
    bool *guard_accepted;
    float *guard_suspicion;
    /* 2V guard rows in that order, then no defence, the pool, feature
     * squeezing at baseline_fpr and at the guard's FRR, and the patched
     * Student when there is one. */
    dg_eval_line *rows;
    uint32_t n_rows;
    double student_accuracy; /* on the clean inputs */
    double latency_ms;       /* per input at default M and rule */
    double baseline_fpr;
    uint32_t squeeze_bits;
    bool patched;            /* the patched Student has its row */
};

/* The options' defaults, as dg_eval_opts documents them. */
void dg_eval_defaults(dg_eval_opts *o);

/* Runs the evaluation on complete, checked options. */
dg_status dg_eval_make(const dg_ensemble *guard, const dg_dataset *clean,
                       const dg_advset *const *sets,
                       const char *const *names, uint32_t n_sets,
                       const dg_eval_opts *o, dg_eval **out);
void dg_eval_destroy(dg_eval *e);

/* Builds the rows once every input is judged (rows.c). */
dg_status dg_eval_fill_rows(dg_eval *e);

/* Row k's decision on input i: whether it accepts, with which label, and
 * how suspicious the input looks to it (higher is worse). */
bool dg_eval_accepts(const dg_eval *e, uint32_t k, uint32_t i,
                     int32_t *label);
float dg_eval_suspicion(const dg_eval *e, uint32_t k, uint32_t i);
/* An attempt fools the undefended Student: within budget and classified
 * as the attacker wanted. */
bool dg_eval_fools(const dg_eval_sample *in);

/* Row k's suspicion scores on set s: clean inputs the Student gets right
 * (*neg, malloc'ed) and the set's fooling attempts (*pos). */
dg_status dg_eval_scores(const dg_eval *e, uint32_t k, uint32_t s,
                         float **neg, size_t *n_neg, float **pos,
                         size_t *n_pos);

/* What the attack did on set s, as the undefended Student sees it. */
void dg_eval_set_stats(const dg_eval *e, uint32_t s, dg_eval_set *out);

/* The public views of an evaluation (rows.c), whole: the caller's
 * struct_size is left to the caller.  Indices are checked by the caller. */
void dg_eval_info_of(const dg_eval *e, dg_eval_info *out);
void dg_eval_row_of(const dg_eval *e, uint32_t row, dg_eval_row *out);
void dg_eval_outcome_of(const dg_eval *e, uint32_t row, uint32_t set,
                        dg_eval_outcome *out);
/* Row `row`'s ROC curve on set `set` into fpr and tpr (capacity points;
 * both NULL: only *points, the size the curve needs). */
dg_status dg_eval_roc_points(const dg_eval *e, uint32_t row, uint32_t set,
                             double *fpr, double *tpr, size_t capacity,
                             size_t *points);
/* The row of the guard at M = members under `rule`, of a baseline (kind
 * DG_EVAL_*, matched: calibrated to the guard's FRR), and of the patched
 * Student (false without one). */
uint32_t dg_eval_guard_row(const dg_eval *e, uint32_t members, int32_t rule);
uint32_t dg_eval_baseline_row(const dg_eval *e, int32_t kind, bool matched);
bool dg_eval_patch_row(const dg_eval *e, uint32_t *row);

/* The attempts of an attack run (attempts.c), count entries each. */
typedef struct dg_attempts {
    uint32_t *source_index;
    int32_t *source_label;
    uint32_t *target_index;  /* UINT32_MAX: no target image */
    int32_t *target_label;   /* -1: no target class */
} dg_attempts;

dg_status dg_attempts_pick(const dg_model *student, const dg_dataset *ds,
                           const dg_attempt_opts *o, uint32_t count,
                           dg_attempts *out);

/* dg_advset_make on checked, complete options (advset_make.c): checks
 * what depends on the models and data, then makes the set. */
dg_status dg_eval_make_advset(const dg_model *teacher, const dg_model *student,
                              const dg_dataset *data,
                              const dg_attack_opts *attack,
                              const dg_advset_opts *o, dg_advset **out,
                              uint32_t *target_index);

/* dg_advset_describe on checked arguments (describe.c): at most
 * capacity - 1 bytes and the DG_ADVSET_DESCRIPTION_MAX a set keeps. */
void dg_describe_attack(const dg_advset_origin *o, const dg_attack_opts *a,
                        char *text, size_t capacity);

#endif
