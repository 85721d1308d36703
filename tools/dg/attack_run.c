/* attack_run.c - one attack run (attack_run.h): loading what the plan
 * names, the library's run with a progress bar, the adversarial set, and
 * how a run describes its adaptive models. */
#include "attack_run.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const cli_named attack_methods[] = {
    {"dssim", DG_ATTACK_MIMIC_DSSIM},
    {"linf", DG_ATTACK_MIMIC_LINF},
    {"fgsm", DG_ATTACK_FGSM},
    {"pgd", DG_ATTACK_PGD},
    {NULL, 0},
};
const cli_named attack_presets[] = {
    {"strong", DG_ATTACK_PRESET_STRONG},
    {"paper", DG_ATTACK_PRESET_PAPER},
    {NULL, 0},
};
const cli_named attack_optimizers[] = {
    {"adam", DG_ATTACK_ADAM},
    {"adadelta", DG_ATTACK_ADADELTA},
    {NULL, 0},
};
const cli_named attack_modes[] = {
    {"targeted", 1},
    {"untargeted", 0},
    {NULL, 0},
};

bool is_mimicry(int32_t method)
{
    return method == DG_ATTACK_MIMIC_DSSIM || method == DG_ATTACK_MIMIC_LINF;
}

static bool is_adaptive(const attack_plan *p)
{
    return p->guard_path || p->model_list;
}

/* The folder of the output must exist before minutes of attacking. */
static int check_output_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return CLI_EXIT_OK;
    char dir[4096];
    int len = slash == path ? 1 : (int)(slash - path);
    if (len >= (int)sizeof dir) return cli_error("%s: path too long", path);
    memcpy(dir, path, (size_t)len);
    dir[len] = '\0';
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_error("cannot write %s: %s is not a folder", path, dir);
    return CLI_EXIT_OK;
}

/* The models and the data, and what the options ask of them. */
static int load_inputs(attack_run *r)
{
    const attack_plan *p = &r->plan;
    uint32_t shape[3];
    int rc = cli_load_model(p->teacher_path, &r->teacher);
    if (rc == CLI_EXIT_OK) rc = cli_load_model(p->student_path, &r->student);
    if (rc != CLI_EXIT_OK) return rc;
    dg_status st = dg_model_input_shape(r->student, &shape[0], &shape[1],
                                        &shape[2]);
    if (st == DG_OK) st = dg_model_output_size(r->student, &r->n_classes);
    if (st != DG_OK) return cli_fail(st, "reading the models");
    rc = data_open(p->data_spec, shape, p->classes, 0, 0, &r->data);
    if (rc == CLI_EXIT_OK && r->data.n_classes > r->n_classes)
        rc = cli_error("the data has %u classes, the Student %u outputs; "
                       "select the Student's classes with --classes",
                       r->data.n_classes, r->n_classes);
    if (rc == CLI_EXIT_OK && p->target_class >= (int32_t)r->n_classes)
        rc = cli_usage_error("--target-class %d: the Student has %u "
                             "classes",
                             p->target_class, r->n_classes);
    uint64_t batch = p->opts.batch_size;
    uint64_t batches = (p->count + batch - 1) / batch;
    if (rc == CLI_EXIT_OK && p->shards > batches)
        rc = cli_usage_error("--shard %u/%u: %u attempts make %llu batches "
                             "of %llu; use at most %llu shards",
                             p->shard, p->shards, p->count,
                             (unsigned long long)batches,
                             (unsigned long long)batch,
                             (unsigned long long)batches);
    return rc;
}

/* --against-models: every model of the comma-separated list. */
static int load_list(const char *list, dg_model ***models, uint32_t *n)
{
    for (const char *at = list; *at;) {
        size_t len = strcspn(at, ",");
        char path[4096];
        if (len == 0 || len >= sizeof path)
            return cli_usage_error("--against-models: bad entry in \"%s\"",
                                   list);
        memcpy(path, at, len);
        path[len] = '\0';
        dg_model **grown = realloc(*models, (*n + 1) * sizeof *grown);
        if (!grown) return cli_error("out of memory");
        *models = grown;
        int rc = cli_load_model(path, &grown[*n]);
        if (rc != CLI_EXIT_OK) return rc;
        ++*n;
        at += len + (at[len] == ',');
    }
    return CLI_EXIT_OK;
}

/* --against-guard, loaded with its own Student. */
static int load_guard(const attack_plan *p, dg_guard **guard)
{
    const char *student_path =
        p->guard_student_path ? p->guard_student_path : p->student_path;
    dg_model *student;
    int rc = cli_load_model(student_path, &student);
    if (rc != CLI_EXIT_OK) return rc;
    dg_status st = dg_guard_load_file(p->guard_path, student, guard);
    dg_model_free(student); /* the guard holds its own reference */
    if (st != DG_OK)
        return cli_fail(st, "loading the guard %s for %s", p->guard_path,
                        student_path);
    dg_guard_info info = {.struct_size = sizeof info};
    st = dg_guard_get_info(*guard, &info);
    if (st != DG_OK) return cli_fail(st, "reading the guard");
    if (p->guard_members > info.variants)
        return cli_usage_error("--guard-members %u: the guard has %u per "
                               "class",
                               p->guard_members, info.variants);
    return CLI_EXIT_OK;
}

/* The plan as the library's origin of its set. */
static void plan_origin(const attack_plan *p, dg_advset_origin *o)
{
    dg_advset_origin_init(o, sizeof *o);
    o->data = p->data_spec;
    o->classes = p->classes;
    o->teacher = p->teacher_path;
    o->student = p->student_path;
    o->preset = p->preset;
    o->guard = p->guard_path;
    o->guard_student = p->guard_student_path;
    o->guard_members = p->guard_members;
    o->models = p->model_list;
}

int attack_describe(const attack_plan *p, char *text, size_t capacity)
{
    dg_advset_origin origin;
    plan_origin(p, &origin);
    dg_status st = dg_advset_describe(&origin, &p->opts, text, capacity);
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "describing the attack");
}

/* The library's run with a progress bar, Ctrl-C stopping it. */
static int make_set(attack_run *r, const dg_advset_opts *o)
{
    bool started = false;
    dg_attack_opts attack = r->plan.opts;
    attack.progress = progress_callback;
    attack.progress_user = &started;
    r->target_index = malloc(r->plan.count * sizeof *r->target_index);
    if (!r->target_index) return cli_error("out of memory");
    double start = monotonic_seconds();
    dg_status st = dg_advset_make(r->teacher, r->student, r->data.samples,
                                  &attack, o, &r->set, r->target_index);
    r->seconds = monotonic_seconds() - start;
    if (started) progress_finish();
    if (st == DG_E_CANCELLED) return cli_error("interrupted");
    if (st != DG_OK) return cli_fail(st, "attacking");
    st = dg_advset_save_file(r->set, r->plan.out_path);
    if (st != DG_OK) return cli_fail(st, "writing %s", r->plan.out_path);
    return CLI_EXIT_OK;
}

void attack_run_free(attack_run *r)
{
    dg_model_free(r->teacher);
    dg_model_free(r->student);
    data_free(&r->data);
    dg_advset_free(r->set);
    free(r->target_index);
}

/* The plan's example images of the set (dg_advset_write_examples). */
static int write_examples(const attack_run *r)
{
    dg_report_opts o;
    dg_report_opts_init(&o, sizeof o);
    o.examples = r->plan.n_examples;
    dg_status st = dg_advset_write_examples(r->set, r->data.samples,
                                            r->target_index,
                                            r->plan.examples_dir, &o);
    return st == DG_OK ? CLI_EXIT_OK
                       : cli_fail(st, "writing examples to %s",
                                  r->plan.examples_dir);
}

int attack_execute(attack_run *r)
{
    const attack_plan *p = &r->plan;
    char description[4096];
    dg_model **models = NULL;
    dg_guard *guard = NULL;
    dg_advset_opts o;
    dg_advset_opts_init(&o, sizeof o);
    o.count = p->count;
    o.target_class = p->target_class;
    o.stop_on_success = p->stop_on_success;
    o.guard_members = p->guard_members;
    o.shard = p->shard;
    o.shards = p->shards;
    o.description = description;
    int rc = attack_describe(p, description, sizeof description);
    if (rc == CLI_EXIT_OK) rc = check_output_folder(p->out_path);
    if (rc == CLI_EXIT_OK) rc = load_inputs(r);
    if (rc == CLI_EXIT_OK && p->model_list)
        rc = load_list(p->model_list, &models, &o.n_models);
    o.models = (const dg_model *const *)models;
    if (rc == CLI_EXIT_OK && p->guard_path) rc = load_guard(p, &guard);
    o.guard = guard;
    if (rc == CLI_EXIT_OK) rc = make_set(r, &o);
    if (rc == CLI_EXIT_OK && p->examples_dir)
        rc = write_examples(r);
    for (uint32_t k = 0; k < o.n_models; k++) dg_model_free(models[k]);
    free(models);
    dg_guard_free(guard);
    return rc;
}

void adaptive_json(json_writer *w, const attack_plan *p)
{
    if (!is_adaptive(p)) return;
    const dg_attack_opts *o = &p->opts;
    json_key(w, "adaptive");
    json_begin_object(w);
    if (p->guard_path) {
        json_put_string(w, "guard", p->guard_path);
        json_put_string(w, "guard_student", p->guard_student_path
                                                ? p->guard_student_path
                                                : p->student_path);
        json_put_int(w, "guard_members", p->guard_members); /* 0: M */
    }
    if (p->model_list) json_put_string(w, "models", p->model_list);
    json_put_number(w, "weight", o->adaptive_weight);
    json_put_int(w, "draw", o->adaptive_draw);
    json_put_bool(w, "feature_term", o->feature_weight > 0);
    json_end_object(w);
}
