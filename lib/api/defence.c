/* defence.c - public entry points of the pruner, the ensemble (guard) and
 * the validator. */
#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "api/api.h"
#include "core/alloc.h"
#include "defence/builder.h"
#include "defence/ensemble.h"
#include "defence/pruner.h"

dg_status dg_pruner_create(const dg_model *m, int32_t layer, dg_pruner **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(m);
    return dg_pruner_new(m, layer, out);
}

dg_status dg_pruner_measure(dg_pruner *p, const dg_dataset *ds,
                            dg_progress_fn progress, void *user)
{
    DG_CHECK_ARG(p && ds);
    return dg_pruner_run(p, ds, progress, user);
}

dg_status dg_pruner_unit_count(const dg_pruner *p, uint32_t *units)
{
    DG_CHECK_ARG(p && units);
    *units = p->units;
    return DG_OK;
}

dg_status dg_pruner_activations(const dg_pruner *p, uint32_t cls, float *out,
                                size_t out_len)
{
    DG_CHECK_ARG(p && out);
    if (cls >= p->classes)
        return dg_fail(DG_E_INVALID_ARG, "class %u of %u", cls, p->classes);
    if (out_len != p->units)
        return dg_fail(DG_E_SHAPE, "%zu floats for %u units", out_len,
                       p->units);
    dg_pruner_means(p, cls, out);
    return DG_OK;
}

dg_status dg_pruner_prune(const dg_pruner *p, uint32_t cls, float fraction,
                          int32_t mode, dg_model **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(p);
    return dg_pruner_make(p, cls, fraction, mode, out);
}

void dg_pruner_free(dg_pruner *p) { dg_pruner_destroy(p); }

/* dg_ensemble_opts as first published, before the hardening fields. */
#define ENSEMBLE_OPTS_V1 offsetof(dg_ensemble_opts, harden)

dg_status dg_guard_opts_init(dg_guard_opts *o, size_t struct_size)
{
    dg_ensemble_opts d;
    dg_guard_defaults(&d);
    return dg_init_prefix(o, struct_size, &d, sizeof d, ENSEMBLE_OPTS_V1,
                          "dg_ensemble_opts");
}

/* o completed with the defaults of the fields its caller's struct lacks. */
static dg_status complete_opts(const dg_guard_opts *o, dg_guard_opts *full)
{
    DG_CHECK_STRUCT(o, dg_ensemble_opts, ENSEMBLE_OPTS_V1);
    DG_TRY(dg_guard_opts_init(full, sizeof *full));
    dg_complete_struct(full, sizeof *full, o);
    return DG_OK;
}

dg_status dg_guard_build(const dg_model *student, const dg_dataset *train,
                            const dg_dataset *holdout,
                            const dg_guard_opts *o, dg_guard **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(student && train);
    dg_guard_opts full;
    DG_TRY(complete_opts(o, &full));
    return dg_ensemble_make(student, train, holdout, &full, out);
}

dg_status dg_guard_opts_from_data(dg_guard_opts *o, const dg_dataset *train,
                                  const dg_dataset *holdout)
{
    DG_CHECK_ARG(o && train);
    dg_guard_opts full;
    DG_TRY(complete_opts(o, &full));
    dg_guard_choose_defaults(&full, train->count, holdout != NULL);
    dg_return_struct(o, &full, sizeof full);
    return DG_OK;
}

dg_status dg_guard_build_shard(const dg_model *student,
                               const dg_dataset *train,
                               const dg_dataset *holdout,
                               const dg_guard_opts *o, uint32_t index,
                               uint32_t count)
{
    DG_CHECK_ARG(student && train);
    dg_guard_opts full;
    DG_TRY(complete_opts(o, &full));
    return dg_ensemble_make_shard(student, train, holdout, &full, index,
                                  count);
}

dg_status dg_guard_merge(const dg_model *student, const dg_dataset *train,
                         const dg_dataset *holdout, const dg_guard_opts *o,
                         dg_guard **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(student && train);
    dg_guard_opts full;
    DG_TRY(complete_opts(o, &full));
    return dg_ensemble_merge(student, train, holdout, &full, out);
}

/* Shard counts beyond this are surely a mistake (a job per process). */
#define MAX_SHARDS 1000000u

/* A whole decimal number in [0, MAX_SHARDS] filling all of text. */
static int read_count(const char *text, size_t len, uint32_t *out)
{
    uint32_t v = 0;
    if (len == 0 || len > 7) return 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') return 0;
        v = v * 10 + (uint32_t)(text[i] - '0');
    }
    *out = v;
    return v <= MAX_SHARDS;
}

static int read_env(const char *name, uint32_t *out)
{
    const char *v = getenv(name);
    return v && read_count(v, strlen(v), out);
}

/* The index and count a cluster engine gives this process; *count stays
 * 0 if it gives only an index. */
static dg_status shard_from_env(uint32_t *index, uint32_t *count)
{
    static const char *const engines[][2] = {
        {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"},
        {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
        {"PMI_RANK", "PMI_SIZE"},
        {"JOB_COMPLETION_INDEX", NULL},
    };
    *count = 0;
    for (size_t e = 0; e < sizeof engines / sizeof *engines; e++) {
        if (!getenv(engines[e][0])) continue;
        if (!read_env(engines[e][0], index))
            return dg_fail(DG_E_INVALID_ARG, "%s=\"%s\" is not a shard "
                                             "index",
                           engines[e][0], getenv(engines[e][0]));
        if (engines[e][1] && !read_env(engines[e][1], count))
            return dg_fail(DG_E_INVALID_ARG, "%s is set but %s is not a "
                                             "shard count",
                           engines[e][0], engines[e][1]);
        /* Slurm numbers array tasks as the --array range does. */
        uint32_t first;
        if (e == 0 && read_env("SLURM_ARRAY_TASK_MIN", &first)) {
            if (first > *index)
                return dg_fail(DG_E_INVALID_ARG, "SLURM_ARRAY_TASK_ID %u "
                                                 "below its minimum %u",
                               *index, first);
            *index -= first;
        }
        return DG_OK;
    }
    return dg_fail(DG_E_INVALID_ARG,
                   "--shard auto found no cluster engine's variables "
                   "(SLURM_ARRAY_TASK_ID, OMPI_COMM_WORLD_RANK, PMI_RANK, "
                   "JOB_COMPLETION_INDEX); give I/N");
}

dg_status dg_shard_parse(const char *spec, uint32_t *index, uint32_t *count)
{
    DG_CHECK_ARG(spec && index && count);
    const char *slash = strchr(spec, '/');
    size_t head = slash ? (size_t)(slash - spec) : strlen(spec);
    uint32_t i = 0, n = 0, env_n = 0;
    int automatic = head == 4 && strncmp(spec, "auto", 4) == 0;
    if (slash && !read_count(slash + 1, strlen(slash + 1), &n))
        return dg_fail(DG_E_INVALID_ARG, "shard \"%s\": the count after / "
                                         "is not a number up to %u",
                       spec, MAX_SHARDS);
    if (!automatic && (!slash || !read_count(spec, head, &i)))
        return dg_fail(DG_E_INVALID_ARG, "shard \"%s\": expected I/N, "
                                         "auto/N or auto",
                       spec);
    if (automatic) DG_TRY(shard_from_env(&i, &env_n));
    if (slash && env_n && env_n != n)
        return dg_fail(DG_E_INVALID_ARG, "shard \"%s\": the environment "
                                         "says %u shards",
                       spec, env_n);
    if (!slash) n = env_n;
    if (n == 0)
        return dg_fail(DG_E_INVALID_ARG, "shard \"%s\": the count is "
                                         "unknown (JOB_COMPLETION_INDEX "
                                         "gives the index only): give "
                                         "auto/N",
                       spec);
    if (i >= n)
        return dg_fail(DG_E_INVALID_ARG, "shard index %u of %u (need 0 to "
                                         "%u)",
                       i, n, n - 1);
    *index = i;
    *count = n;
    return DG_OK;
}

dg_status dg_guard_work_dir_remove(const char *dir)
{
    DG_CHECK_ARG(dir);
    return dg_work_dir_remove(dir);
}

dg_status dg_guard_save_file(const dg_guard *g, const char *path)
{
    DG_CHECK_ARG(g && path);
    return dg_guard_save_path(g, path);
}

dg_status dg_guard_load_memory(const void *data, size_t size,
                                  const dg_model *student, dg_guard **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(data && student);
    return dg_guard_parse(data, size, student, out);
}

dg_status dg_guard_load_file(const char *path, const dg_model *student,
                                dg_guard **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(path && student);
    return dg_guard_load_path(path, student, out);
}

dg_status dg_guard_get_info(const dg_guard *g, dg_guard_info *info)
{
    DG_CHECK_ARG(g);
    DG_CHECK_STRUCT(info, dg_ensemble_info, sizeof(dg_ensemble_info));
    dg_ensemble_info v = {info->struct_size, g->classes, g->variants,
                          g->members,        g->rule,    g->target_frr,
                          g->student_hash};
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_guard_member(const dg_guard *g, uint32_t cls, uint32_t rank,
                             dg_member_info *info)
{
    DG_CHECK_ARG(g);
    DG_CHECK_STRUCT(info, dg_member_info, sizeof(dg_member_info));
    if (cls >= g->classes || rank >= g->variants)
        return dg_fail(DG_E_INVALID_ARG, "class %u rank %u of %u x %u", cls,
                       rank, g->classes, g->variants);
    const dg_member *m = &g->per_class[cls].members[rank];
    const dg_layer *pruned = &m->tail->layers[m->prune_layer - m->first];
    dg_member_info v = {info->struct_size, m->prune_layer, m->ratio, m->mode,
                        m->seed, dg_layer_pruned(pruned), m->tail->n_layers,
                        m->agreement, m->score};
    memcpy(info, &v, sizeof v);
    return DG_OK;
}

dg_status dg_guard_member_model(const dg_guard *g, uint32_t cls,
                                   uint32_t rank, dg_model **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(g);
    if (cls >= g->classes || rank >= g->variants)
        return dg_fail(DG_E_INVALID_ARG, "class %u rank %u of %u x %u", cls,
                       rank, g->classes, g->variants);
    const dg_member *m = &g->per_class[cls].members[rank];
    return dg_model_join(g->student, (uint32_t)m->first, m->tail, out);
}

/* dg_calibration as first published, before frr_spread. */
#define CALIBRATION_V1 offsetof(dg_calibration, frr_spread)

dg_status dg_guard_calibration(const dg_guard *g, uint32_t cls,
                                  uint32_t members, dg_calibration *c)
{
    DG_CHECK_ARG(g);
    DG_CHECK_STRUCT(c, dg_calibration, CALIBRATION_V1);
    if (cls >= g->classes || members == 0 || members > g->variants)
        return dg_fail(DG_E_INVALID_ARG, "class %u with %u members (1 to %u)",
                       cls, members, g->variants);
    const dg_threshold *t = &g->per_class[cls].thresholds[members - 1];
    double target = g->target_frr;
    dg_calibration v = {c->struct_size, t->tau,     t->theta,  t->frr_votes,
                        t->frr_score,   t->samples, t->pooled,
                        t->samples ? (float)sqrt(target * (1 - target) /
                                                 t->samples)
                                   : 1.0f};
    dg_return_struct(c, &v, sizeof v);
    return DG_OK;
}

dg_guard *dg_guard_retain(dg_guard *g) { return dg_ensemble_ref(g); }

void dg_guard_free(dg_guard *g) { dg_ensemble_unref(g); }

dg_status dg_validator_opts_init(dg_validator_opts *o, size_t struct_size)
{
    DG_INIT_STRUCT(o, struct_size, dg_validator_opts);
    o->max_batch = 64;
    return DG_OK;
}

dg_status dg_validator_create(const dg_ensemble *g, const dg_validator_opts *o,
                              dg_validator **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(g);
    dg_validator_opts defaults;
    if (!o) {
        dg_validator_opts_init(&defaults, sizeof defaults);
        o = &defaults;
    }
    DG_CHECK_STRUCT(o, dg_validator_opts, sizeof(dg_validator_opts));
    uint32_t members = o->members ? o->members : g->members;
    int32_t rule = o->rule ? o->rule : g->rule;
    if (members > g->variants || members > DG_MAX_MEMBERS)
        return dg_fail(DG_E_INVALID_ARG, "%u members; the guard has %u per "
                                         "class",
                       members, g->variants);
    if (rule != DG_RULE_VOTES && rule != DG_RULE_SCORE)
        return dg_fail(DG_E_INVALID_ARG, "rule %d", rule);
    if (o->max_batch == 0 || o->max_batch > 4096)
        return dg_fail(DG_E_INVALID_ARG, "max_batch %u (1 to 4096)",
                       o->max_batch);
    return dg_validator_make(g, members, rule, o->max_batch, out);
}

void dg_validator_free(dg_validator *v) { dg_validator_destroy(v); }

/* The shapes first: batch bounds how far the caller's arrays may be
 * read. */
static dg_status check_batch(const dg_validator *v, const float *input,
                             size_t input_len, uint32_t batch,
                             const dg_verdict *verdicts)
{
    DG_CHECK_ARG(v && input && verdicts);
    DG_TRY(dg_validator_check_input(v, input_len, batch));
    for (uint32_t i = 0; i < batch; i++)
        if (verdicts[i].struct_size < sizeof(dg_verdict))
            return dg_fail(DG_E_ABI, "verdict %u: struct_size %u < %zu", i,
                           verdicts[i].struct_size, sizeof(dg_verdict));
    return dg_check_finite(input, input_len, input_len / batch, "sample");
}

dg_status dg_validate(dg_validator *v, const float *input, size_t input_len,
                      uint32_t batch, dg_verdict *verdicts)
{
    DG_TRY(check_batch(v, input, input_len, batch, verdicts));
    return dg_validator_run(v, input, batch, NULL, verdicts);
}

dg_status dg_validate_labeled(dg_validator *v, const float *input,
                              size_t input_len, uint32_t batch,
                              const int32_t *labels, dg_verdict *verdicts)
{
    DG_CHECK_ARG(labels);
    DG_TRY(check_batch(v, input, input_len, batch, verdicts));
    return dg_validator_run(v, input, batch, labels, verdicts);
}

uint32_t dg_capacity(int32_t which)
{
    switch (which) {
    case DG_CAP_MEMBERS: return DG_MAX_MEMBERS;
    case DG_CAP_PRUNE_LAYERS:
        return sizeof((dg_guard_opts *)0)->prune_layers /
               sizeof(int32_t);
    case DG_CAP_RATIOS:
        return sizeof((dg_guard_opts *)0)->ratios / sizeof(float);
    default: return 0;
    }
}

DG_API_ALIAS(dg_ensemble_opts_init, dg_guard_opts_init);
DG_API_ALIAS(dg_ensemble_build, dg_guard_build);
DG_API_ALIAS(dg_ensemble_save_file, dg_guard_save_file);
DG_API_ALIAS(dg_ensemble_load_file, dg_guard_load_file);
DG_API_ALIAS(dg_ensemble_load_memory, dg_guard_load_memory);
DG_API_ALIAS(dg_ensemble_get_info, dg_guard_get_info);
DG_API_ALIAS(dg_ensemble_member, dg_guard_member);
DG_API_ALIAS(dg_ensemble_member_model, dg_guard_member_model);
DG_API_ALIAS(dg_ensemble_calibration, dg_guard_calibration);
DG_API_ALIAS(dg_ensemble_retain, dg_guard_retain);
DG_API_ALIAS(dg_ensemble_free, dg_guard_free);
