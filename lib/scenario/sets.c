/* sets.c - the scenario's adversarial sets, each attacking the test
 * images of the Student's classes and reused when an earlier run's file
 * loads: the attack stage's, and every threat level's of spec section 7
 * (doc/EVALUATION.md, "Threat levels"): (a) the Teacher only, matched at
 * every layer from the first pooling layer on, (b) with the attacker's
 * surrogate Student and guard, (c) with the real guard's members; (a) at
 * the cut, (b) and (c) at every budget of a sweep. */
#include "scenario/scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack/advset.h"
#include "attack/attack.h"
#include "core/alloc.h"
#include "eval/eval.h"
#include "io/dataset.h"
#include "nn/model.h"

/* Room for n more sets, each allocated: what a set's info points to
 * stays where it is while the list grows. */
static dg_status reserve_sets(dg_scenario *s, uint32_t n)
{
    uint32_t have = s->cap_sets, need = s->n_sets + s->n_level_sets + n;
    if (need <= have) return DG_OK;
    scenario_set **grown = realloc(s->sets, need * sizeof *grown);
    if (!grown) return dg_fail(DG_E_NOMEM, "%u adversarial sets", need);
    s->sets = grown;
    s->cap_sets = need;
    for (uint32_t k = have; k < need; k++)
        s->sets[k] = calloc(1, sizeof *s->sets[k]);
    for (uint32_t k = have; k < need; k++)
        if (!s->sets[k])
            return dg_fail(DG_E_NOMEM, "%u adversarial sets", need);
    return DG_OK;
}

/* A new set with the strong preset's options, its seed and count. */
static scenario_set *new_set(dg_scenario *s, uint64_t seed, uint32_t count)
{
    scenario_set *set = s->sets[s->n_sets + s->n_level_sets];
    *set = (scenario_set){.count = count};
    set->opts.struct_size = sizeof set->opts;
    dg_attack_preset(&set->opts, DG_ATTACK_PRESET_STRONG);
    set->opts.seed = seed;
    set->opts.progress = s->progress;
    set->opts.progress_user = s->progress_user;
    return set;
}

/* The set's file, its description, and the run (dg_advset_make). */
static dg_status make_set(dg_scenario *s, scenario_set *set,
                          const char *path, const scenario_guard *guard)
{
    const char *guard_file = guard ? guard->path : NULL;
    const char *guard_student =
        guard && guard->student != MODEL_STUDENT
            ? s->models[guard->student].path
            : NULL;
    dg_advset_origin origin = {
        .struct_size = sizeof origin,
        .label = set->level ? set->label : NULL,
        .data = "fmnist:test",
        .classes = s->kind->student_classes,
        .teacher = s->models[MODEL_TEACHER].path,
        .student = s->models[MODEL_STUDENT].path,
        .preset = DG_ATTACK_PRESET_STRONG,
        .guard = guard_file,
        .guard_student = guard_student,
    };
    char description[DG_ADVSET_DESCRIPTION_MAX + 1];
    dg_describe_attack(&origin, &set->opts, description, sizeof description);
    dg_advset_opts o = {
        .struct_size = sizeof o,
        .count = set->count,
        .target_class = -1,
        .guard = guard ? guard->guard : NULL,
        .description = description,
    };
    if (set->examples)
        DG_TRY(dg_alloc_array((void **)&set->target_index, set->count,
                              sizeof *set->target_index, "target indices"));
    DG_TRY(dg_eval_make_advset(s->models[MODEL_TEACHER].model,
                               s->models[MODEL_STUDENT].model, s->test_data,
                               &set->opts, &o, &set->set, set->target_index));
    return dg_advset_save(set->set, path);
}

/* Whether the set at path was made before one of the files it is made
 * from was written again: a Teacher, Student or guard rebuilt since (with
 * other settings, or by another version) would leave it attacking what
 * no longer exists. */
static bool set_outdated(const dg_scenario *s, const char *path,
                         const scenario_guard *guard)
{
    return scenario_older(path, s->models[MODEL_TEACHER].path) ||
           scenario_older(path, s->models[MODEL_STUDENT].path) ||
           (guard && (scenario_older(path, guard->path) ||
                      scenario_older(path, s->models[guard->student].path)));
}

/* Loads DIR/attack-NAME.dgadv if an earlier run made it from the models
 * and guard there now; else says `doing` and makes it, adaptive through
 * `guard` if not NULL. */
static dg_status obtain_set(dg_scenario *s, scenario_set *set,
                            const char *doing, const scenario_guard *guard)
{
    char file[64], path[SCENARIO_PATH_MAX];
    snprintf(file, sizeof file, "attack-%s.dgadv", set->name);
    DG_TRY(scenario_path(s, file, path));
    if (scenario_exists(path) && !set_outdated(s, path, guard) &&
        dg_advset_load(path, &set->set) == DG_OK) {
        set->reused = true;
        scenario_note(s, "attack %s: reusing %s", set->name, path);
        return DG_OK;
    }
    scenario_note(s, "%s", doing);
    dg_status st = make_set(s, set, path, guard);
    if (st != DG_OK) { /* the stage, run again, makes it again */
        dg_advset_destroy(set->set);
        free(set->target_index);
        set->set = NULL;
        set->target_index = NULL;
    }
    return st;
}

/* The test images of the Student's classes, which every set attacks. */
static dg_status load_test_data(dg_scenario *s)
{
    if (s->test_data) return DG_OK;
    return scenario_data("test", s->models[MODEL_STUDENT].first_class, 0, 0,
                         &s->test_data);
}

dg_status scenario_list_attack_sets(dg_scenario *s)
{
    const scenario_plan *p = s->plan;
    DG_TRY(reserve_sets(s, p->n_attacks));
    for (uint32_t k = 0; k < p->n_attacks; k++) {
        const attack_plan *a = &p->attacks[k];
        scenario_set *set = new_set(s, s->seed + k, a->count);
        snprintf(set->name, sizeof set->name, "%s", a->name);
        set->examples = true;
        set->opts.method = a->method;
        set->opts.targeted = a->targeted;
        set->opts.iterations = a->iterations;
        if (a->method == DG_ATTACK_MIMIC_LINF) {
            set->opts.epsilon = a->epsilon;
            set->opts.step = a->step;
        }
        s->n_sets++;
    }
    return DG_OK;
}

dg_status scenario_attack_sets(dg_scenario *s)
{
    DG_TRY(load_test_data(s));
    for (uint32_t k = 0; k < s->n_sets; k++) {
        scenario_set *set = s->sets[k];
        if (set->set) continue; /* obtained before a failure */
        char doing[256];
        snprintf(doing, sizeof doing,
                 "attack %s: %u attempts on test images, %u iterations",
                 set->name, set->count, set->opts.iterations);
        DG_TRY(obtain_set(s, set, doing, NULL));
    }
    return DG_OK;
}

/* ------------------------------------------------------------------------ */
/* The threat levels                                                        */
/* ------------------------------------------------------------------------ */

/* The first pooling layer of the Teacher and the cut (the layer before the
 * last linear one, as feature_layer -1 resolves it). */
static dg_status sweep_range(const dg_model *teacher, int32_t *first,
                             int32_t *cut)
{
    *first = -1;
    *cut = -1;
    for (uint32_t k = 0; k < teacher->n_layers; k++) {
        int32_t kind = teacher->layers[k].kind;
        bool pooling = kind == DG_LAYER_MAXPOOL || kind == DG_LAYER_AVGPOOL ||
                       kind == DG_LAYER_GLOBAL_AVGPOOL;
        if (pooling && *first < 0) *first = (int32_t)k;
        if (kind == DG_LAYER_LINEAR) *cut = (int32_t)k - 1;
    }
    if (*first < 0 || *cut < *first)
        return dg_fail(DG_E_UNSUPPORTED,
                       "the Teacher has no pooling layer before its last "
                       "hidden layer to sweep from");
    return DG_OK;
}

static bool level_set_exists(const dg_scenario *s, int32_t level,
                             int32_t layer, int32_t method, float budget)
{
    for (uint32_t k = s->n_sets; k < s->n_sets + s->n_level_sets; k++) {
        const scenario_set *x = s->sets[k];
        float b = x->opts.method == DG_ATTACK_MIMIC_LINF ? x->opts.epsilon
                                                         : x->opts.budget;
        if (x->level == level && x->opts.feature_layer == layer &&
            x->opts.method == method && b == budget)
            return true;
    }
    return false;
}

/* Appends the set of `level` (1 to 3) at `layer`, unless it is there. */
static void add_level_set(dg_scenario *s, int32_t level, bool sweep,
                          int32_t layer, int32_t method, float budget)
{
    if (level_set_exists(s, level, layer, method, budget)) return;
    const levels_plan *p = &s->plan->levels;
    char letter = (char)('a' + level - 1);
    /* The same seed, so the same attempts, in every set. */
    scenario_set *set = new_set(s, s->seed, sweep ? p->sweep_count : p->count);
    set->level = level;
    set->sweep = sweep;
    dg_attack_opts *o = &set->opts;
    o->method = method;
    o->feature_layer = layer;
    if (method == DG_ATTACK_MIMIC_LINF) {
        o->epsilon = budget;
        o->step = budget / 10;
        o->iterations = p->linf_iterations;
    } else {
        o->budget = budget;
        o->lambda = DG_ATTACK_STRONG_LAMBDA_BUDGET / budget;
        o->iterations = p->dssim_iterations;
    }
    if (level > 1) {
        o->adaptive_weight = p->adaptive_weight;
        o->adaptive_draw = p->draw;
    }
    if (sweep)
        snprintf(set->name, sizeof set->name, "a_layer%d", layer);
    else
        snprintf(set->name, sizeof set->name, "%c_%s_%g", letter,
                 method == DG_ATTACK_MIMIC_LINF ? "linf" : "dssim",
                 (double)budget);
    const char *who =
        level == 1   ? "level a: the Teacher only"
        : level == 2 ? "level b: the Teacher, the library and the "
                       "attacker's own surrogate Student and guard"
                     : "level c: white box, the real guard's members";
    snprintf(set->label, sizeof set->label, "%s; %s; Teacher layer %d%s",
             who, sweep ? "layer sweep" : "budget sweep", layer,
             layer == s->cut ? " (the cut)" : "");
    s->n_level_sets++;
}

/* Level a at every layer of the sweep, then each level at the cut and each
 * budget of the plan: its L-infinity budgets, then its DSSIM ones. */
static dg_status list_level_sets(dg_scenario *s)
{
    const levels_plan *p = &s->plan->levels;
    int32_t first;
    DG_TRY(sweep_range(s->models[MODEL_TEACHER].model, &first, &s->cut));
    uint32_t budgets = p->n_linf + p->n_dssim;
    DG_TRY(reserve_sets(s, (uint32_t)(s->cut - first + 1) + 3 * budgets));
    for (int32_t k = first; k <= s->cut; k++)
        add_level_set(s, 1, true, k, DG_ATTACK_MIMIC_LINF, p->sweep_epsilon);
    for (int32_t level = 1; level <= 3; level++)
        for (uint32_t b = 0; b < budgets; b++) {
            bool linf = b < p->n_linf;
            add_level_set(s, level, false, s->cut,
                          linf ? DG_ATTACK_MIMIC_LINF : DG_ATTACK_MIMIC_DSSIM,
                          linf ? p->linf_budgets[b]
                               : p->dssim_budgets[b - p->n_linf]);
        }
    const model_plan *surrogate = s->models[MODEL_SURROGATE].plan;
    snprintf(s->surrogate_images, sizeof s->surrogate_images,
             "fmnist:train, classes %s, images %u to %u of each class",
             s->kind->student_classes, surrogate->skip_per_class,
             surrogate->skip_per_class + surrogate->per_class - 1);
    return DG_OK;
}

dg_status scenario_level_sets(dg_scenario *s)
{
    DG_TRY(load_test_data(s));
    if (s->n_level_sets == 0) DG_TRY(list_level_sets(s));
    for (uint32_t k = s->n_sets; k < s->n_sets + s->n_level_sets; k++) {
        scenario_set *set = s->sets[k];
        if (set->set) continue; /* obtained before a failure */
        char doing[512];
        snprintf(doing, sizeof doing,
                 "attack %s (%s): %u attempts, %u iterations", set->name,
                 set->label, set->count, set->opts.iterations);
        /* b through the attacker's guard, c through the real one. */
        const scenario_guard *guard = set->level == 1   ? NULL
                                      : set->level == 2 ? &s->guards[1]
                                                        : &s->guards[0];
        DG_TRY(obtain_set(s, set, doing, guard));
    }
    return DG_OK;
}
