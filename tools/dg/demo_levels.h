/* demo_levels.h - dg demo's attacks at every threat level of spec section
 * 7 (doc/EVALUATION.md, "Threat levels"): (a) the Teacher only, matched at
 * every layer from the first pooling layer on, (b) a surrogate Student and
 * guard the attacker builds from their own images, (c) the real guard's
 * members; (a) at the cut, (b) and (c) at every budget of a sweep.  Each
 * set is crafted by attack_run.c, reused when its file loads, evaluated by
 * lib/eval beside the demo's own sets, and reported as JSON members of
 * "defence", a markdown section, a terminal table and charts. */
#ifndef DG_DEMO_LEVELS_H
#define DG_DEMO_LEVELS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "attack_run.h"
#include "eval.h"

enum { LEVELS_MAX_BUDGETS = 3 };

/* Where the demo keeps its files, and whether it says what it does: what
 * every stage shares. */
typedef struct demo_out {
    const char *dir;
    bool quiet;
} demo_out;

/* DIR/FILE into buf.  Reports a path too long. */
int demo_path(const demo_out *o, const char *file, char *buf, size_t size);
/* A line on stderr saying what the demo is doing, unless quiet. */
void demo_note(const demo_out *o, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Loads DIR/attack-NAME.dgadv if an earlier run made it; else says
 * `doing` and crafts it with plan (attacking the test split of
 * DIR/teacher.dgm and DIR/student.dgm; the rest as the caller set it),
 * then loads it.  Reports failures. */
int demo_obtain_set(const demo_out *o, const char *name, attack_plan *plan,
                    const char *doing, dg_advset **out);

/* How the level sets are made. */
typedef struct levels_plan {
    uint32_t count;            /* attempts per set */
    uint32_t linf_iterations;  /* L-infinity sets; step epsilon / 10 */
    uint32_t dssim_iterations; /* DSSIM sets (strong preset otherwise) */
    float sweep_epsilon;       /* the layer sweep's L-infinity radius */
    float linf_budgets[LEVELS_MAX_BUDGETS];
    uint32_t n_linf;
    float dssim_budgets[LEVELS_MAX_BUDGETS];
    uint32_t n_dssim;
    float adaptive_weight; /* levels b and c: weight of the members' loss */
    uint32_t draw;         /* ... members drawn per image and step */
} levels_plan;

/* Where the demo keeps what the level attacks read: DIR/teacher.dgm,
 * DIR/student.dgm, DIR/guard.dg and the attacker's DIR/surrogate-student.dgm
 * and DIR/surrogate-guard.dg. */
typedef struct levels_inputs {
    demo_out out;
    uint64_t seed;
    const dg_model *teacher; /* its layers make the sweep */
    const char *classes;     /* the Student's classes of Fashion-MNIST */
    /* The surrogate's training images, for the report: of each class,
     * images skip to skip + per_class - 1 of fmnist:train. */
    uint32_t surrogate_skip, surrogate_per_class;
} levels_inputs;

/* One adversarial set of a level. */
typedef struct level_set {
    char name[32];   /* DIR/attack-NAME.dgadv, its name in the evaluation */
    char label[192]; /* leads the set's description */
    char level;      /* 'a', 'b' or 'c' */
    bool sweep;      /* one of level a's layers */
    int32_t layer;   /* the Teacher layer matched */
    int32_t method;  /* DG_ATTACK_MIMIC_LINF or DG_ATTACK_MIMIC_DSSIM */
    float budget;    /* epsilon or DSSIM budget */
} level_set;

typedef struct demo_levels {
    const levels_plan *plan;
    levels_inputs in;
    int32_t cut;        /* the Student's cut among the Teacher's layers */
    level_set *sets;
    dg_advset **advsets;
    uint32_t n_sets;
    char surrogate_images[128]; /* what the surrogate learnt from */
    eval_view eval;
} demo_levels;

/* The plan as the "levels" member of settings.json. */
void levels_json_settings(json_writer *w, const levels_plan *p);

/* Lists the sets from the Teacher's layers, then reuses or crafts each.
 * Reports failures. */
int levels_attack(demo_levels *l);
/* Evaluates every set (lib/eval) with the guard on the demo's clean
 * inputs and writes the charts to the output folder.  Reports failures. */
int levels_eval(demo_levels *l, const dg_guard *guard,
                const dg_dataset *clean, const dg_model *patched);

/* "layer_sweep" and "adaptive" members of the report's "defence" object;
 * ctx is the demo_levels. */
void levels_json(json_writer *w, const void *ctx);
/* The report's section on the levels. */
void levels_markdown(FILE *out, const demo_levels *l);
/* The terminal table.  Reports failures. */
int levels_print(FILE *out, const demo_levels *l);

void levels_free(demo_levels *l);

#endif
