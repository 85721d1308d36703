/* models.c - the scenario's model and guard stages: each reuses its file
 * when an earlier run left one that loads, else builds, trains (resuming
 * from a checkpoint) and saves it; a model is then tested on the test
 * split of its classes. */
#include "scenario/scenario.h"

#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "defence/builder.h"
#include "defence/ensemble.h"
#include "io/dataset.h"
#include "io/model_format.h"
#include "nn/model.h"
#include "nn/spec.h"
#include "train/train.h"

/* Fashion-MNIST images, as the default Teacher takes them. */
static const dg_shape fmnist_shape = {1, 28, 28};

/* The Student: the Teacher's layers through the last hidden one, frozen,
 * and a new 5-way head. */
#define STUDENT_CUT (-1)
#define STUDENT_HEAD "fc5"

double scenario_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A freshly built model of the plan: the Teacher from its architecture,
 * the Students by transfer (the surrogate with other initial weights),
 * the patched Student from the Student's file. */
static dg_status build_model(const dg_scenario *s, uint32_t index,
                             dg_model **out)
{
    const dg_model *teacher = s->models[MODEL_TEACHER].model;
    switch (index) {
    case MODEL_TEACHER:
        DG_TRY(dg_spec_parse(DG_ARCH_FMNIST_TEACHER, fmnist_shape, out));
        dg_model_init_weights(*out, 0, s->seed);
        return DG_OK;
    case MODEL_STUDENT:
    case MODEL_SURROGATE:
        return dg_transfer_build(teacher, STUDENT_CUT, STUDENT_HEAD,
                                 s->seed + (index == MODEL_SURROGATE), out);
    default:
        return dg_model_load_path(s->models[MODEL_STUDENT].path, out);
    }
}

/* The data set's class names on the model, when they fit it. */
static dg_status name_classes(dg_model *m, const dg_dataset *ds)
{
    uint32_t outputs = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    if (!ds->class_names || ds->n_classes != outputs) return DG_OK;
    return dg_model_name_classes(m, (const char *const *)ds->class_names,
                                 outputs);
}

/* Trains model m of the plan on its classes and saves it. */
static dg_status train_model(dg_scenario *s, scenario_model *m)
{
    const model_plan *p = m->plan;
    dg_train_opts o;
    dg_train_defaults(&o);
    o.epochs = p->epochs;
    o.batch_size = p->batch;
    o.optimizer = p->optimizer;
    o.learning_rate = (float)p->learning_rate;
    o.schedule = p->schedule;
    o.seed = s->seed;
    o.checkpoint_path = m->checkpoint;
    o.progress = s->progress;
    o.progress_user = s->progress_user;
    if (p->patch) o.patch_teacher = s->models[MODEL_TEACHER].model;
    dg_dataset *data;
    DG_TRY(scenario_data("train", m->first_class, p->skip_per_class,
                         p->per_class, &data));
    dg_status st = name_classes(m->model, data);
    if (st == DG_OK) {
        m->train_samples = data->count;
        scenario_note(s, "%s: training on %u images of classes %s, %u "
                         "epoch%s",
                      m->name, data->count, m->classes, p->epochs,
                      p->epochs == 1 ? "" : "s");
        m->report = (dg_train_report){.struct_size = sizeof m->report};
        double start = scenario_seconds();
        st = dg_train_save(m->model, data, &o, m->path, &m->report);
        m->train_seconds = scenario_seconds() - start;
    }
    dg_dataset_destroy(data);
    return st;
}

static dg_status test_model(const dg_scenario *s, scenario_model *m)
{
    dg_dataset *data;
    DG_TRY(scenario_data("test", m->first_class, 0, 0, &data));
    double start = scenario_seconds();
    dg_status st = dg_evaluate(m->model, data, NULL, &m->test_correct);
    m->test_seconds = scenario_seconds() - start;
    m->test_total = data->count;
    dg_dataset_destroy(data);
    if (st == DG_OK)
        scenario_note(s, "%s: test accuracy %.2f%% (%u of %u)", m->name,
                      m->test_total ? 100.0 * m->test_correct / m->test_total
                                    : NAN,
                      m->test_correct, m->test_total);
    return st;
}

dg_status scenario_obtain_model(dg_scenario *s, uint32_t index)
{
    scenario_model *m = &s->models[index];
    dg_model_unref(m->model); /* a stage run again after a failure */
    m->model = NULL;
    m->reused = false;
    if (scenario_exists(m->path)) {
        if (dg_model_load_path(m->path, &m->model) == DG_OK) {
            m->reused = true;
            scenario_note(s, "%s: reusing %s", m->name, m->path);
        } else {
            scenario_note(s, "%s: %s does not load; training again",
                          m->name, m->path);
        }
    }
    if (!m->reused) {
        dg_status st = build_model(s, index, &m->model);
        if (st != DG_OK)
            return dg_fail_context(st, "building the %s", m->name);
        DG_TRY(train_model(s, m));
    }
    return test_model(s, m);
}

/* The guard's build options, as settings.json records them, and where
 * its build reports. */
static void guard_options(const dg_scenario *s, const scenario_guard *g,
                          dg_ensemble_opts *o)
{
    scenario_guard_options(s, (uint32_t)(g - s->guards), o);
    o->work_dir = g->work_dir;
    o->progress = s->progress;
    o->progress_user = s->progress_user;
}

/* Builds the guard from its Student's own training images (and held-out
 * images the plan may name) and writes it;
 * the work directory, the only copy of the finished differentiators until
 * then, goes once the file is written. */
static dg_status build_guard(dg_scenario *s, scenario_guard *g)
{
    const scenario_model *student = &s->models[g->student];
    dg_ensemble_opts o;
    guard_options(s, g, &o);
    dg_dataset *data, *held = NULL;
    DG_TRY(scenario_data("train", student->first_class,
                         student->plan->skip_per_class,
                         student->plan->per_class, &data));
    uint32_t from = g->plan->holdout_from;
    uint32_t n_held = scenario_holdout_per_class(o.target_frr);
    dg_status st = from ? scenario_data("train", student->first_class, from,
                                        n_held, &held)
                        : DG_OK;
    if (st != DG_OK) {
        dg_dataset_destroy(data);
        return st;
    }
    char calibration[96];
    if (held)
        snprintf(calibration, sizeof calibration,
                 "calibrated on %u images per class the Student never saw",
                 n_held);
    else
        snprintf(calibration, sizeof calibration,
                 "%.0f%% of the images held out", 100.0 * o.holdout_fraction);
    if (o.member_kind == DG_MEMBERS_ROBUST)
        scenario_note(s, "%s: %u robust members shared by the classes, "
                         "%u epochs each, %s",
                      g->name, o.variants, o.robust_epochs, calibration);
    else
        scenario_note(s, "%s: %u differentiators per class, %u epoch%s each, "
                         "%s",
                      g->name, o.variants, o.epochs, o.epochs == 1 ? "" : "s",
                      calibration);
    double start = scenario_seconds();
    st = dg_ensemble_make(student->model, data, held, &o, &g->guard);
    g->seconds = scenario_seconds() - start;
    dg_dataset_destroy(data);
    dg_dataset_destroy(held);
    if (st == DG_OK) st = dg_guard_save_path(g->guard, g->path);
    if (st != DG_OK) return st;
    /* What removal leaves holds files of someone else: a note, not a
     * failure, since the guard is written. */
    if (dg_work_dir_remove(g->work_dir) != DG_OK)
        scenario_note(s, "removing the work directory: %s",
                      dg_detail());
    else if (access(g->work_dir, F_OK) == 0)
        scenario_note(s, "kept %s: it holds files dg did not make",
                      g->work_dir);
    return DG_OK;
}

dg_status scenario_obtain_guard(dg_scenario *s, uint32_t index)
{
    scenario_guard *g = &s->guards[index];
    const dg_model *student = s->models[g->student].model;
    dg_ensemble_unref(g->guard);
    g->guard = NULL;
    g->reused = false;
    if (scenario_exists(g->path)) {
        if (dg_guard_load_path(g->path, student, &g->guard) == DG_OK) {
            g->reused = true;
            scenario_note(s, "%s: reusing %s", g->name, g->path);
            return DG_OK;
        }
        scenario_note(s, "%s: %s does not load; building again", g->name,
                      g->path);
    }
    return build_guard(s, g);
}
