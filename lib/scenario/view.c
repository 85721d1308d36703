/* view.c - the scenario's public views, whole (behind
 * dg_scenario_get_*, and the reports); the caller's struct_size is left
 * to the caller and indices are checked by the caller. */
#include "scenario/scenario.h"

void scenario_info_of(const dg_scenario *s, dg_scenario_info *out)
{
    const levels_plan *l = &s->plan->levels;
    dg_scenario_info v = {
        .struct_size = sizeof *out,
        .name = s->kind->name,
        .mode = s->mode,
        .mode_name = s->plan->mode,
        .seed = s->seed,
        .dir = s->dir,
        .teacher_classes = s->kind->teacher_classes,
        .student_classes = s->kind->student_classes,
        .models = SCENARIO_MODELS,
        .guards = SCENARIO_GUARDS,
        .sets = s->n_sets,
        .level_sets = s->n_level_sets,
        .clean_per_class = s->plan->clean_per_class,
        .cut = s->cut,
        .level_count = l->count,
        .sweep_count = l->sweep_count,
        .linf_iterations = l->linf_iterations,
        .dssim_iterations = l->dssim_iterations,
        .sweep_epsilon = l->sweep_epsilon,
        .adaptive_weight = l->adaptive_weight,
        .draw = l->draw,
        .surrogate_images = s->surrogate_images,
        .test_data = s->test_data,
    };
    *out = v;
}

void scenario_model_of(const dg_scenario *s, uint32_t index,
                       dg_scenario_model *out)
{
    const scenario_model *m = &s->models[index];
    const model_plan *p = m->plan;
    dg_scenario_model v = {
        .struct_size = sizeof *out,
        .name = m->name,
        .architecture = m->architecture,
        .classes = m->classes,
        .path = m->path,
        .checkpoint = m->checkpoint,
        .per_class = p->per_class,
        .skip_per_class = p->skip_per_class,
        .epochs = p->epochs,
        .batch = p->batch,
        .optimizer = scenario_optimizer_name(p->optimizer),
        .learning_rate = p->learning_rate,
        .schedule = scenario_schedule_name(p->schedule),
        .model = m->model,
        .reused = m->reused,
        .train_samples = m->train_samples,
        .resumed_epoch = m->report.resumed_epoch,
        .epochs_run = m->report.epochs_run,
        .last_loss = m->report.last_loss,
        .last_accuracy = m->report.last_accuracy,
        .train_seconds = m->train_seconds,
        .test_correct = m->test_correct,
        .test_total = m->test_total,
        .test_seconds = m->test_seconds,
    };
    *out = v;
}

void scenario_guard_of(const dg_scenario *s, uint32_t index,
                       dg_scenario_guard *out)
{
    const scenario_guard *g = &s->guards[index];
    dg_scenario_guard v = {
        .struct_size = sizeof *out,
        .name = g->name,
        .path = g->path,
        .work_dir = g->work_dir,
        .guard = g->guard,
        .reused = g->reused,
        .build_seconds = g->seconds,
    };
    *out = v;
}

void scenario_set_of(const dg_scenario *s, uint32_t index,
                     dg_scenario_set *out)
{
    const scenario_set *x = s->sets[index];
    bool linf = x->opts.method == DG_ATTACK_MIMIC_LINF;
    dg_scenario_set v = {
        .struct_size = sizeof *out,
        .name = x->name,
        .label = x->label,
        .level = x->level,
        .sweep = x->sweep,
        .layer = x->opts.feature_layer,
        .method = x->opts.method,
        .targeted = x->opts.targeted,
        .budget = linf ? x->opts.epsilon : x->opts.budget,
        .count = x->count,
        .iterations = x->opts.iterations,
        .set = x->set,
        .reused = x->reused,
        .target_index = x->target_index,
    };
    *out = v;
}
