/* attack_run.h - one attack run as dg attack and dg demo make it: the
 * Teacher and Student loaded, attempts chosen by the library among the
 * images the Student gets right, attacked (adaptive: with extra models in
 * the loss) with a progress bar, written as an adversarial set, and
 * example images. */
#ifndef DG_ATTACK_RUN_H
#define DG_ATTACK_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "train_common.h"

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
    const char *label; /* leads the set's description, such as the threat
                          level (dg demo); NULL: none */
    /* --shard I/N: only the attempts of shard `shard`, whole batches of
     * the run's, marked in the set's description for dg advset merge;
     * shards 0: every attempt. */
    uint32_t shard, shards;
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

typedef struct attack_run {
    attack_plan plan;
    dg_model *teacher, *student;
    class_data data;
    uint32_t channels, height, width;
    size_t pixels;          /* per image */
    uint32_t n_classes;     /* the Student's */
    dg_preprocess student_pre;

    /* The attempts. */
    uint32_t n;
    uint32_t *source_index, *target_index; /* target_index: UINT32_MAX none */
    int32_t *source_label, *target_label;  /* target_label: -1 none */
    float *sources, *targets, *adversarial, *dssim, *distance;
    uint8_t *within;
    int32_t *adversarial_label;            /* the Student's */
    adaptive_models adaptive;
    double seconds;
} attack_run;


/* Everything but the report, on r->plan.  Reports failures. */
int attack_execute(attack_run *r);
void attack_run_free(attack_run *r);
/* The attack success of the spec: the Student outputs the target class;
 * for an untargeted FGSM or PGD, which has none, any class but the
 * source's. */
bool attack_succeeded(const attack_run *r, uint32_t i);
/* attack_execute and attack_run_free, for dg demo. */
int attack_write_set(const attack_plan *p);

/* The first successful attempts (then other ones within budget) as PNG
 * tiles and a sheet in r->plan.examples_dir (attack_examples.c).  Reports
 * failures. */
int attack_write_examples(const attack_run *r);

#endif
