/* scenario.c - public entry points of the demonstration scenario
 * (lib/scenario): argument and struct-size checks, then the room. */
#include <string.h>

#include "api/api.h"
#include "scenario/scenario.h"

dg_status dg_scenario_opts_init(dg_scenario_opts *o, size_t struct_size)
{
    DG_INIT_STRUCT(o, struct_size, dg_scenario_opts);
    o->name = "fmnist-split";
    o->mode = DG_SCENARIO_FULL;
    o->seed = 1;
    o->dir = "dg-demo";
    return DG_OK;
}

dg_status dg_scenario_create(const dg_scenario_opts *o, dg_scenario **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_STRUCT(o, dg_scenario_opts, sizeof(dg_scenario_opts));
    dg_scenario_opts full;
    DG_TRY(dg_scenario_opts_init(&full, sizeof full));
    dg_complete_struct(&full, sizeof full, o);
    DG_CHECK_ARG(full.name && full.dir && *full.dir);
    return dg_scenario_make(&full, out);
}

void dg_scenario_free(dg_scenario *s) { dg_scenario_destroy(s); }

dg_status dg_scenario_next_stage(const dg_scenario *s,
                                 dg_scenario_stage *stage)
{
    DG_CHECK_ARG(s);
    DG_CHECK_STRUCT(stage, dg_scenario_stage, sizeof(dg_scenario_stage));
    dg_scenario_stage v = {.struct_size = stage->struct_size};
    dg_scenario_next(s, &v.name, &v.kind, &v.index);
    memcpy(stage, &v, sizeof v);
    return DG_OK;
}

dg_status dg_scenario_run_stage(dg_scenario *s)
{
    DG_CHECK_ARG(s);
    return dg_scenario_step(s);
}

dg_status dg_scenario_run(dg_scenario *s)
{
    DG_CHECK_ARG(s);
    const char *name;
    int32_t kind;
    uint32_t index;
    for (dg_scenario_next(s, &name, &kind, &index); name;
         dg_scenario_next(s, &name, &kind, &index))
        DG_TRY(dg_scenario_step(s));
    return DG_OK;
}

dg_status dg_scenario_get_info(const dg_scenario *s, dg_scenario_info *info)
{
    DG_CHECK_ARG(s);
    DG_CHECK_STRUCT(info, dg_scenario_info, sizeof(dg_scenario_info));
    const levels_plan *l = &s->plan->levels;
    dg_scenario_info v = {
        .struct_size = info->struct_size,
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
        .linf_iterations = l->linf_iterations,
        .dssim_iterations = l->dssim_iterations,
        .sweep_epsilon = l->sweep_epsilon,
        .adaptive_weight = l->adaptive_weight,
        .draw = l->draw,
        .surrogate_images = s->surrogate_images,
        .test_data = s->test_data,
    };
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_scenario_get_model(const dg_scenario *s, uint32_t index,
                                dg_scenario_model *info)
{
    DG_CHECK_ARG(s);
    DG_CHECK_STRUCT(info, dg_scenario_model, sizeof(dg_scenario_model));
    DG_TRY(dg_check_index(index, SCENARIO_MODELS, "model"));
    const scenario_model *m = &s->models[index];
    const model_plan *p = m->plan;
    dg_scenario_model v = {
        .struct_size = info->struct_size,
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
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_scenario_get_guard(const dg_scenario *s, uint32_t index,
                                dg_scenario_guard *info)
{
    DG_CHECK_ARG(s);
    DG_CHECK_STRUCT(info, dg_scenario_guard, sizeof(dg_scenario_guard));
    DG_TRY(dg_check_index(index, SCENARIO_GUARDS, "guard"));
    const scenario_guard *g = &s->guards[index];
    dg_scenario_guard v = {
        .struct_size = info->struct_size,
        .name = g->name,
        .path = g->path,
        .work_dir = g->work_dir,
        .guard = g->guard,
        .reused = g->reused,
        .build_seconds = g->seconds,
    };
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_scenario_get_set(const dg_scenario *s, uint32_t index,
                              dg_scenario_set *info)
{
    DG_CHECK_ARG(s);
    DG_CHECK_STRUCT(info, dg_scenario_set, sizeof(dg_scenario_set));
    DG_TRY(dg_check_index(index, s->n_sets + s->n_level_sets, "set"));
    const scenario_set *x = s->sets[index];
    bool linf = x->opts.method == DG_ATTACK_MIMIC_LINF;
    dg_scenario_set v = {
        .struct_size = info->struct_size,
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
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_scenario_get_eval(const dg_scenario *s, uint32_t which,
                               const dg_eval **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(s);
    DG_TRY(dg_check_index(which, 2, "evaluation"));
    if (!s->evals[which])
        return dg_fail(DG_E_STATE, "the eval stage has not run");
    *out = s->evals[which];
    return DG_OK;
}
