/* pipeline.h - the long jobs that dg demo chains and that dg guard and
 * dg attack run on their own: one implementation behind both. */
#ifndef DG_PIPELINE_H
#define DG_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

/* cmd_guard.c: builds a guard with a progress bar and writes it to path.
 * Ctrl-C stops after the differentiator in progress; o->work_dir (if set)
 * keeps the finished ones so the same call resumes, and is removed once
 * the guard is written.  *seconds gets the build time.  Reports
 * failures. */
int guard_build_file(const dg_ensemble_opts *o, const dg_model *student,
                     const dg_dataset *train, const dg_dataset *holdout,
                     const char *path, dg_ensemble **out, double *seconds);

/* cmd_attack.c: what one attack run does. */
typedef struct attack_plan {
    const char *teacher_path, *student_path, *data_spec, *classes;
    const char *out_path, *examples_dir; /* examples_dir NULL: none */
    int32_t preset;       /* DG_ATTACK_PRESET_* that opts started from */
    uint32_t count;       /* attempts */
    int32_t target_class; /* -1: each class in turn */
    uint32_t n_examples;
    bool stop_on_success;
    /* Adaptive attacks (doc/attack.md); NULL: none.  opts carries their
     * weights and draw. */
    const char *guard_path;         /* its members of each target class
                                       join the loss */
    const char *guard_student_path; /* makes them whole; NULL: the
                                       student */
    uint32_t guard_members;         /* per class; 0: the guard's M */
    const char *model_list;         /* "a.dgm,b.dgm": whole models that
                                       join every attempt's loss */
    dg_attack_opts opts;
} attack_plan;

/* attack_adaptive.c: the extra models of an adaptive attack, loaded. */
typedef struct adaptive_models {
    dg_model **models;
    int32_t *classes; /* per model: the target class it joins; -1: all */
    uint32_t n;
} adaptive_models;

/* Loads the plan's --against-models and, of --against-guard, the members
 * of the classes among targets[0..n-1] (-1 entries: none).  Reports
 * failures. */
int adaptive_load(const attack_plan *p, const int32_t *targets, uint32_t n,
                  adaptive_models *out);
/* Points o at them. */
void adaptive_apply(const adaptive_models *a, dg_attack_opts *o);
void adaptive_free(adaptive_models *a);
/* "; adaptive: ..." for an adversarial set's description, or "". */
void adaptive_describe(const attack_plan *p, char *buf, size_t cap);
/* The "adaptive" key and object of a JSON report, if adaptive. */
void adaptive_json(json_writer *w, const attack_plan *p);

/* Chooses sources (and targets) among the images the Student classifies
 * correctly, attacks them with a progress bar, writes the adversarial set
 * to p->out_path and the examples.  Reports failures. */
int attack_write_set(const attack_plan *p);

#endif
