/* attack_run.h - one attack run as dg attack makes it: the Teacher, the
 * Student, the data and any adaptive models loaded from the plan's files,
 * the set made by the library (dg_advset_make) with a progress bar and
 * written, and its example images (dg_advset_write_examples). */
#ifndef DG_ATTACK_RUN_H
#define DG_ATTACK_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

/* The names options and reports use for DG_ATTACK_* values; each ends
 * with a NULL name. */
extern const cli_named attack_methods[], attack_presets[],
    attack_optimizers[], attack_modes[];
bool is_mimicry(int32_t method);

/* What one attack run does. */
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
    /* --shard I/N: only the attempts of shard `shard`, whole batches of
     * the run's, marked in the set's description for dg advset merge;
     * shards 0: every attempt. */
    uint32_t shard, shards;
    dg_attack_opts opts;
} attack_plan;

typedef struct attack_run {
    attack_plan plan;
    dg_model *teacher, *student;
    class_data data;
    uint32_t n_classes;     /* the Student's */
    dg_advset *set;         /* the attempts and their outcomes */
    uint32_t *target_index; /* per attempt: the target image; UINT32_MAX
                               none */
    double seconds;
} attack_run;

/* Everything but the report, on r->plan.  Reports failures. */
int attack_execute(attack_run *r);
void attack_run_free(attack_run *r);

/* The set's description (dg_advset_describe).  Reports failures. */
int attack_describe(const attack_plan *p, char *text, size_t capacity);
/* The "adaptive" key and object of a JSON report, if adaptive. */
void adaptive_json(json_writer *w, const attack_plan *p);

#endif
