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
    dg_attack_opts opts;
} attack_plan;

/* Chooses sources (and targets) among the images the Student classifies
 * correctly, attacks them with a progress bar, writes the adversarial set
 * to p->out_path and the examples.  Reports failures. */
int attack_write_set(const attack_plan *p);

#endif
