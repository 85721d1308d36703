/* scenario.h - the demonstration scenario as a pipeline of stages
 * (dg_scenario_*): its plans (plan.c), the models and guards (models.c),
 * the adversarial sets of the attack stage and of every threat level
 * (sets.c), and the stages, the folder and the evaluation (run.c).
 * Everything goes to one folder; a stage whose file loads is reused. */
#ifndef DG_SCENARIO_SCENARIO_H
#define DG_SCENARIO_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "diffguard.h"

enum {
    SCENARIO_MODELS = 4, /* teacher, student, surrogate, patched */
    SCENARIO_GUARDS = 2, /* the defender's, the level-b attacker's */
    SCENARIO_MAX_ATTACKS = 3,
    LEVEL_MAX_BUDGETS = 3,
    SCENARIO_PATH_MAX = 4096,
    SCENARIO_CLASSES = 5, /* each model learns one half of Fashion-MNIST */
};

enum { MODEL_TEACHER, MODEL_STUDENT, MODEL_SURROGATE, MODEL_PATCHED };

/* How one model is trained. */
typedef struct model_plan {
    uint32_t per_class;      /* training samples per class; 0: all */
    uint32_t skip_per_class; /* ... after the first this many of each */
    uint32_t epochs, batch;
    int32_t optimizer;       /* DG_OPTIMIZER_* */
    double learning_rate;
    int32_t schedule;        /* DG_SCHEDULE_* */
    bool patch;              /* Wang et al.'s patch from the Teacher */
} model_plan;

/* A guard: the library's defaults but for these (0: the default). */
typedef struct guard_plan {
    uint32_t variants, epochs, harden_iterations;
    /* 0: the build splits its held-out images off the Student's training
     * images; else it calibrates on images of the training split from
     * this one on in each class, which no model of the scenario learnt. */
    uint32_t holdout_from;
    uint32_t robust_epochs; /* 0: chosen from the data, as the build does */
} guard_plan;

/* One adversarial set of the attack stage, from the test split. */
typedef struct attack_plan {
    const char *name;    /* DIR/attack-NAME.dgadv */
    int32_t method;      /* DG_ATTACK_MIMIC_* */
    bool targeted;
    uint32_t count, iterations;
    float epsilon, step; /* L-infinity only */
} attack_plan;

/* How the level sets are made (doc/EVALUATION.md, "Threat levels"). */
typedef struct levels_plan {
    uint32_t count;            /* attempts per set */
    uint32_t sweep_count;      /* ... per set of level a's layer sweep */
    uint32_t linf_iterations;  /* L-infinity sets; step epsilon / 10 */
    uint32_t dssim_iterations; /* DSSIM sets */
    float sweep_epsilon;       /* the layer sweep's L-infinity radius */
    float linf_budgets[LEVEL_MAX_BUDGETS];
    uint32_t n_linf;
    float dssim_budgets[LEVEL_MAX_BUDGETS];
    uint32_t n_dssim;
    float adaptive_weight; /* levels b and c: weight of the members' loss */
    uint32_t draw;         /* ... members drawn per image and step */
} levels_plan;

/* A size of the scenario: every plan. */
typedef struct scenario_plan {
    const char *mode;
    model_plan models[SCENARIO_MODELS];
    guard_plan guards[SCENARIO_GUARDS];
    attack_plan attacks[SCENARIO_MAX_ATTACKS];
    uint32_t n_attacks;
    uint32_t clean_per_class; /* clean test images per class; 0: all */
    levels_plan levels;
} scenario_plan;

/* Which Fashion-MNIST classes the Teacher and the Student learn. */
typedef struct scenario_kind {
    const char *name, *teacher_classes, *student_classes;
    int32_t teacher_first, student_first; /* five classes from these */
} scenario_kind;

/* Guard `index`'s build options: the library's defaults, what its plan
 * sets instead, and what the build chooses from the data the scenario
 * gives it (its Student's training images, with or without held-out
 * images apart): the options the build uses and settings.json records. */
void scenario_guard_options(const dg_scenario *s, uint32_t index,
                            dg_ensemble_opts *o);

/* Held-out images per class of a guard plan with holdout_from: enough,
 * over the scenario's classes, for the calibration the builder aims at. */
uint32_t scenario_holdout_per_class(float target_frr);

/* The plans of a name and mode; NULL for unknown ones. */
const scenario_kind *scenario_kind_find(const char *name);
const scenario_plan *scenario_plan_of(int32_t mode);
/* Names as settings.json spells them. */
const char *scenario_optimizer_name(int32_t optimizer);
const char *scenario_schedule_name(int32_t schedule);

typedef struct scenario_model {
    const char *name, *architecture;
    const model_plan *plan;
    const char *classes;
    int32_t first_class;
    char path[SCENARIO_PATH_MAX], checkpoint[SCENARIO_PATH_MAX];
    dg_model *model;
    bool reused;
    dg_train_report report; /* when trained by this run */
    uint32_t train_samples;
    double train_seconds;
    uint32_t test_correct, test_total;
    double test_seconds;
} scenario_model;

typedef struct scenario_guard {
    const char *name;
    const guard_plan *plan;
    uint32_t student; /* the model it guards */
    uint64_t seed;
    char path[SCENARIO_PATH_MAX], work_dir[SCENARIO_PATH_MAX];
    dg_guard *guard;
    bool reused;
    double seconds;
} scenario_guard;

/* One adversarial set: the attack stage's or a threat level's. */
typedef struct scenario_set {
    char name[32];
    char label[192];  /* levels: leads the set's description */
    int32_t level;    /* 0: the attack stage's; 1 to 3: level a to c */
    bool sweep;       /* one of level a's layers */
    dg_attack_opts opts;
    uint32_t count;
    bool examples;    /* the attack stage's sets keep target_index */
    dg_advset *set;
    bool reused;
    uint32_t *target_index;
} scenario_set;

struct dg_scenario {
    const scenario_kind *kind;
    const scenario_plan *plan;
    int32_t mode;
    uint64_t seed;
    char *dir;
    dg_progress_fn progress;
    void *progress_user;
    dg_note_fn note;
    void *note_user;
    scenario_model models[SCENARIO_MODELS];
    scenario_guard guards[SCENARIO_GUARDS];
    /* The attack stage's, then the level sets; cap_sets allocated, in
     * place while the list grows (their infos point into them). */
    scenario_set **sets;
    uint32_t n_sets, n_level_sets, cap_sets;
    int32_t cut;
    char surrogate_images[128];
    dg_dataset *test_data;
    dg_eval *evals[2];
    uint32_t next_stage;
    double started; /* scenario_seconds() when it was made */
    /* From then to the end of the last stage run: what the report says,
     * the same however often it is formatted. */
    double seconds;
};

/* Behind dg_scenario_create and dg_scenario_free (run.c): o is complete
 * and checked. */
dg_status dg_scenario_make(const dg_scenario_opts *o, dg_scenario **out);
void dg_scenario_destroy(dg_scenario *s);
/* The next stage, as dg_scenario_stage describes it (name NULL: none),
 * and running it. */
void dg_scenario_next(const dg_scenario *s, const char **name, int32_t *kind,
                      uint32_t *index);
dg_status dg_scenario_step(dg_scenario *s);

/* A monotonic clock, in seconds (models.c). */
double scenario_seconds(void);

/* A line for the note callback, if any. */
void scenario_note(const dg_scenario *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* DIR/FILE into buf (SCENARIO_PATH_MAX bytes); DG_E_INVALID_ARG if too
 * long. */
dg_status scenario_path(const dg_scenario *s, const char *file, char *buf);
/* Whether an earlier run left a file at path. */
bool scenario_exists(const char *path);
/* Whether the file at path was last written before the one at input (an
 * input rebuilt after it); false when either is missing. */
bool scenario_older(const char *path, const char *input);
/* fmnist:SPLIT with five classes from `first`, of each `skip` passed over
 * and then at most per_class (0: all). */
dg_status scenario_data(const char *split, int32_t first, uint32_t skip,
                        uint32_t per_class, dg_dataset **out);

/* settings.json: its text, written to the folder or checked against what
 * an earlier run wrote there (plan.c). */
dg_status scenario_settings_check(const dg_scenario *s);

/* The attack stage's sets as planned, before any is made (sets.c). */
dg_status scenario_list_attack_sets(dg_scenario *s);

/* The stages (models.c, sets.c). */
dg_status scenario_obtain_model(dg_scenario *s, uint32_t index);
dg_status scenario_obtain_guard(dg_scenario *s, uint32_t index);
dg_status scenario_attack_sets(dg_scenario *s);
dg_status scenario_level_sets(dg_scenario *s);

/* The public views, whole, with struct_size the library's (view.c);
 * indices checked by the caller. */
void scenario_info_of(const dg_scenario *s, dg_scenario_info *out);
void scenario_model_of(const dg_scenario *s, uint32_t index,
                       dg_scenario_model *out);
void scenario_guard_of(const dg_scenario *s, uint32_t index,
                       dg_scenario_guard *out);
void scenario_set_of(const dg_scenario *s, uint32_t index,
                     dg_scenario_set *out);

#endif
