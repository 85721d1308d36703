/* attack_run.h - one attack run as dg attack and dg demo make it: the
 * Teacher and Student loaded, attempts chosen by the library among the
 * images the Student gets right, attacked with a progress bar, written as
 * an adversarial set, and example images. */
#ifndef DG_ATTACK_RUN_H
#define DG_ATTACK_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "train_common.h"

/* A name an option or a report uses for a DG_ATTACK_* value. */
typedef struct named_value {
    const char *name;
    int32_t value;
} named_value;

/* Each ends with a NULL name. */
extern const named_value attack_methods[], attack_presets[],
    attack_optimizers[], attack_modes[];
/* The table's name for value, or "?". */
const char *name_of(const named_value *table, int32_t value);
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
    dg_attack_opts opts;
} attack_plan;

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
