/* run.c - a scenario's life: its folder and settings, the stages in
 * order, the evaluation stage, and what the stages share (notes, paths,
 * data). */
#include "scenario/scenario.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attack/advset.h"
#include "core/alloc.h"
#include "defence/ensemble.h"
#include "eval/eval.h"
#include "io/dataset.h"
#include "nn/model.h"

void scenario_note(const dg_scenario *s, const char *fmt, ...)
{
    if (!s->note) return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    s->note(s->note_user, text);
}

bool scenario_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

bool scenario_older(const char *path, const char *input)
{
    struct stat a, b;
    if (stat(path, &a) != 0 || stat(input, &b) != 0) return false;
    return a.st_mtim.tv_sec < b.st_mtim.tv_sec ||
           (a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
            a.st_mtim.tv_nsec < b.st_mtim.tv_nsec);
}

dg_status scenario_path(const dg_scenario *s, const char *file, char *buf)
{
    if ((size_t)snprintf(buf, SCENARIO_PATH_MAX, "%s/%s", s->dir, file) >=
        SCENARIO_PATH_MAX)
        return dg_fail(DG_E_INVALID_ARG, "the path %s/%s is too long",
                       s->dir, file);
    return DG_OK;
}

dg_status scenario_data(const char *split, int32_t first, uint32_t skip,
                        uint32_t per_class, dg_dataset **out)
{
    int32_t classes[SCENARIO_CLASSES];
    for (int32_t k = 0; k < SCENARIO_CLASSES; k++) classes[k] = first + k;
    char spec[32];
    snprintf(spec, sizeof spec, "fmnist:%s", split);
    dg_dataset_spec_opts o = {.struct_size = sizeof o,
                              .classes = classes,
                              .n_classes = SCENARIO_CLASSES,
                              .per_class = per_class,
                              .skip_per_class = skip};
    return dg_dataset_from_spec(spec, &o, out);
}

/* ------------------------------------------------------------------------ */
/* Stages                                                                   */
/* ------------------------------------------------------------------------ */

static dg_status run_eval(dg_scenario *s);

static dg_status stage_model(dg_scenario *s, uint32_t index)
{
    return scenario_obtain_model(s, index);
}

static dg_status stage_guard(dg_scenario *s, uint32_t index)
{
    return scenario_obtain_guard(s, index);
}

static dg_status stage_attack(dg_scenario *s, uint32_t index)
{
    (void)index;
    return scenario_attack_sets(s);
}

static dg_status stage_levels(dg_scenario *s, uint32_t index)
{
    (void)index;
    return scenario_level_sets(s);
}

static dg_status stage_eval(dg_scenario *s, uint32_t index)
{
    (void)index;
    return run_eval(s);
}

typedef struct stage {
    const char *name;
    int32_t kind;
    uint32_t index;
    dg_status (*run)(dg_scenario *s, uint32_t index);
} stage;

/* In order; later stages use what earlier ones made.  The patched Student
 * starts from the Student's file; the attacker's surrogate comes after the
 * defender's attack sets, as the levels need both. */
static const stage stages[] = {
    {"teacher", DG_STAGE_MODEL, MODEL_TEACHER, stage_model},
    {"student", DG_STAGE_MODEL, MODEL_STUDENT, stage_model},
    {"patched student", DG_STAGE_MODEL, MODEL_PATCHED, stage_model},
    {"guard", DG_STAGE_GUARD, 0, stage_guard},
    {"attack", DG_STAGE_ATTACK, 0, stage_attack},
    {"surrogate student", DG_STAGE_MODEL, MODEL_SURROGATE, stage_model},
    {"surrogate guard", DG_STAGE_GUARD, 1, stage_guard},
    {"levels", DG_STAGE_ATTACK, 0, stage_levels},
    {"eval", DG_STAGE_EVAL, 0, stage_eval},
};
enum { N_STAGES = sizeof stages / sizeof stages[0] };

void dg_scenario_next(const dg_scenario *s, const char **name, int32_t *kind,
                      uint32_t *index)
{
    const stage *next = s->next_stage < N_STAGES ? &stages[s->next_stage]
                                                 : NULL;
    *name = next ? next->name : NULL;
    *kind = next ? next->kind : 0;
    *index = next ? next->index : 0;
}

dg_status dg_scenario_step(dg_scenario *s)
{
    if (s->next_stage >= N_STAGES)
        return dg_fail(DG_E_STATE, "every stage of the scenario ran");
    const stage *next = &stages[s->next_stage];
    dg_status st = next->run(s, next->index);
    if (st != DG_OK)
        return dg_fail_context(st, "the %s stage", next->name);
    s->next_stage++;
    s->seconds = scenario_seconds() - s->started;
    return DG_OK;
}

/* What the guard, at its default M and rule, did on each level set. */
static void note_levels(const dg_scenario *s)
{
    const dg_eval *e = s->evals[1];
    uint32_t guard = dg_eval_guard_row(e, e->members, e->rule);
    for (uint32_t k = 0; k < s->n_level_sets; k++) {
        dg_eval_set set;
        dg_eval_outcome o;
        dg_eval_set_stats(e, k, &set);
        dg_eval_outcome_of(e, guard, k, &o);
        double asr = set.attempts ? (double)set.reached_target / set.attempts
                                  : NAN;
        scenario_note(s, "  %-16s ASR %5.1f%% with the defence off, guard "
                         "stops %5.1f%%",
                      s->sets[s->n_sets + k]->name, 100 * asr,
                      100 * o.defence_rate);
    }
}

/* The guard and the baselines on the clean test images of the Student's
 * classes: on the attack stage's sets, then on the level sets. */
static dg_status run_eval(dg_scenario *s)
{
    dg_dataset *clean;
    DG_TRY(scenario_data("test", s->models[MODEL_STUDENT].first_class, 0,
                         s->plan->clean_per_class, &clean));
    const dg_advset **sets = NULL;
    const char **names = NULL;
    uint32_t n = s->n_sets + s->n_level_sets;
    dg_status st = dg_alloc_array((void **)&sets, n + 1, sizeof *sets,
                                  "sets");
    if (st == DG_OK)
        st = dg_alloc_array((void **)&names, n + 1, sizeof *names, "names");
    for (uint32_t k = 0; st == DG_OK && k < n; k++) {
        sets[k] = s->sets[k]->set;
        names[k] = s->sets[k]->name;
    }
    dg_eval_opts o;
    dg_eval_defaults(&o);
    o.patched_student = s->models[MODEL_PATCHED].model;
    o.progress = s->progress;
    o.progress_user = s->progress_user;
    for (uint32_t which = 0; st == DG_OK && which < 2; which++) {
        dg_eval_destroy(s->evals[which]);
        s->evals[which] = NULL;
        uint32_t first = which ? s->n_sets : 0;
        uint32_t count = which ? s->n_level_sets : s->n_sets;
        if (which)
            scenario_note(s, "eval: the guard and the baselines on the %u "
                             "sets of the threat levels",
                          count);
        else
            scenario_note(s, "eval: the guard and the baselines on clean "
                             "test images and %u adversarial sets",
                          count);
        st = dg_eval_make(s->guards[0].guard, clean, sets + first,
                          names + first, count, &o, &s->evals[which]);
    }
    if (st == DG_OK) note_levels(s);
    free(sets);
    free(names);
    dg_dataset_destroy(clean);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Creating and freeing                                                     */
/* ------------------------------------------------------------------------ */

/* The models' and guards' names and files. */
static dg_status name_parts(dg_scenario *s)
{
    static const char *const names[SCENARIO_MODELS] = {
        "teacher", "student", "surrogate-student", "patched-student"};
    static const char *const architectures[SCENARIO_MODELS] = {
        DG_ARCH_FMNIST_TEACHER,
        "the teacher's layers through the last hidden one, frozen, and a "
        "new fc5 head",
        "as the student",
        "the student, every layer fine-tuned by Wang et al.'s patch"};
    for (uint32_t k = 0; k < SCENARIO_MODELS; k++) {
        scenario_model *m = &s->models[k];
        m->name = names[k];
        m->architecture = architectures[k];
        m->plan = &s->plan->models[k];
        bool teacher = k == MODEL_TEACHER;
        m->classes = teacher ? s->kind->teacher_classes
                             : s->kind->student_classes;
        m->first_class = teacher ? s->kind->teacher_first
                                 : s->kind->student_first;
        char file[64];
        snprintf(file, sizeof file, "%s.dgm", m->name);
        DG_TRY(scenario_path(s, file, m->path));
        snprintf(file, sizeof file, "%s.ckpt", m->name);
        DG_TRY(scenario_path(s, file, m->checkpoint));
    }
    static const char *const guard_names[SCENARIO_GUARDS] = {
        "guard", "surrogate-guard"};
    for (uint32_t k = 0; k < SCENARIO_GUARDS; k++) {
        scenario_guard *g = &s->guards[k];
        g->name = guard_names[k];
        g->plan = &s->plan->guards[k];
        g->student = k ? MODEL_SURROGATE : MODEL_STUDENT;
        g->seed = s->seed + k; /* the attacker's own */
        char file[64];
        snprintf(file, sizeof file, "%s.dg", g->name);
        DG_TRY(scenario_path(s, file, g->path));
        snprintf(file, sizeof file, "%s.work", g->name);
        DG_TRY(scenario_path(s, file, g->work_dir));
    }
    return DG_OK;
}

dg_status dg_scenario_make(const dg_scenario_opts *o, dg_scenario **out)
{
    *out = NULL;
    const scenario_kind *kind = scenario_kind_find(o->name);
    if (!kind)
        return dg_fail(DG_E_INVALID_ARG,
                       "scenario \"%s\": fmnist-split or fmnist-swap",
                       o->name);
    const scenario_plan *plan = scenario_plan_of(o->mode);
    if (!plan)
        return dg_fail(DG_E_INVALID_ARG, "scenario mode %d", o->mode);
    dg_scenario *s;
    DG_TRY(dg_alloc_array((void **)&s, 1, sizeof *s, "scenario"));
    memset(s, 0, sizeof *s);
    *s = (dg_scenario){.kind = kind, .plan = plan, .mode = o->mode,
                       .seed = o->seed, .progress = o->progress,
                       .progress_user = o->progress_user, .note = o->note,
                       .note_user = o->note_user, .cut = -1,
                       .started = scenario_seconds()};
    s->dir = strdup(o->dir);
    dg_status st = s->dir ? name_parts(s)
                          : dg_fail(DG_E_NOMEM, "the folder's name");
    if (st == DG_OK) st = scenario_list_attack_sets(s);
    if (st == DG_OK && mkdir(s->dir, 0777) != 0 && errno != EEXIST)
        st = dg_fail(DG_E_IO, "cannot create the folder %s: %s", s->dir,
                     strerror(errno));
    if (st == DG_OK) st = scenario_settings_check(s);
    if (st != DG_OK) {
        dg_scenario_destroy(s);
        return st;
    }
    *out = s;
    return DG_OK;
}

void dg_scenario_destroy(dg_scenario *s)
{
    if (!s) return;
    for (uint32_t k = 0; k < 2; k++) dg_eval_destroy(s->evals[k]);
    for (uint32_t k = 0; k < s->cap_sets; k++) {
        if (!s->sets[k]) continue;
        dg_advset_destroy(s->sets[k]->set);
        free(s->sets[k]->target_index);
        free(s->sets[k]);
    }
    free(s->sets);
    dg_dataset_destroy(s->test_data);
    for (uint32_t k = 0; k < SCENARIO_GUARDS; k++)
        dg_ensemble_unref(s->guards[k].guard);
    for (uint32_t k = 0; k < SCENARIO_MODELS; k++)
        dg_model_unref(s->models[k].model);
    free(s->dir);
    free(s);
}
