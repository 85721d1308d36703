/* scenario.c - public entry points of the demonstration scenario
 * (lib/scenario): argument and struct-size checks, then the room. */
#include <stddef.h>
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

/* dg_scenario_info as first published, before sweep_count. */
#define SCENARIO_INFO_V1 offsetof(dg_scenario_info, sweep_count)

dg_status dg_scenario_get_info(const dg_scenario *s, dg_scenario_info *info)
{
    DG_CHECK_ARG(s);
    DG_CHECK_STRUCT(info, dg_scenario_info, SCENARIO_INFO_V1);
    dg_scenario_info v;
    scenario_info_of(s, &v);
    dg_return_struct(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_scenario_get_model(const dg_scenario *s, uint32_t index,
                                dg_scenario_model *info)
{
    DG_CHECK_ARG(s);
    DG_CHECK_STRUCT(info, dg_scenario_model, sizeof(dg_scenario_model));
    DG_TRY(dg_check_index(index, SCENARIO_MODELS, "model"));
    dg_scenario_model v;
    scenario_model_of(s, index, &v);
    v.struct_size = info->struct_size;
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_scenario_get_guard(const dg_scenario *s, uint32_t index,
                                dg_scenario_guard *info)
{
    DG_CHECK_ARG(s);
    DG_CHECK_STRUCT(info, dg_scenario_guard, sizeof(dg_scenario_guard));
    DG_TRY(dg_check_index(index, SCENARIO_GUARDS, "guard"));
    dg_scenario_guard v;
    scenario_guard_of(s, index, &v);
    v.struct_size = info->struct_size;
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_scenario_get_set(const dg_scenario *s, uint32_t index,
                              dg_scenario_set *info)
{
    DG_CHECK_ARG(s);
    DG_CHECK_STRUCT(info, dg_scenario_set, sizeof(dg_scenario_set));
    DG_TRY(dg_check_index(index, s->n_sets + s->n_level_sets, "set"));
    dg_scenario_set v;
    scenario_set_of(s, index, &v);
    v.struct_size = info->struct_size;
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
