/* attack_run.c - one attack run (attack_run.h): loading, the library's
 * choice of attempts, the attack with a progress bar, and the adversarial
 * set. */
#include "attack_run.h"

#include <stddef.h>
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

static int load_model(const char *path, dg_model **out)
{
    dg_status st = dg_model_load_file(path, out);
    if (st != DG_OK) return cli_fail(st, "loading %s", path);
    return CLI_EXIT_OK;
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

static int load_inputs(attack_run *r)
{
    const attack_plan *p = &r->plan;
    uint32_t tc, th, tw, shape[3];
    int rc = load_model(p->teacher_path, &r->teacher);
    if (rc == CLI_EXIT_OK) rc = load_model(p->student_path, &r->student);
    if (rc != CLI_EXIT_OK) return rc;
    r->student_pre.struct_size = sizeof r->student_pre;
    dg_status st = dg_model_input_shape(r->teacher, &tc, &th, &tw);
    if (st == DG_OK)
        st = dg_model_input_shape(r->student, &r->channels, &r->height,
                                  &r->width);
    if (st == DG_OK) st = dg_model_output_size(r->student, &r->n_classes);
    if (st == DG_OK) st = dg_model_preprocess(r->student, &r->student_pre);
    if (st != DG_OK) return cli_fail(st, "reading the models");
    if (tc != r->channels || th != r->height || tw != r->width)
        return cli_error("the Teacher takes %ux%ux%u images, the Student "
                         "%ux%ux%u",
                         tc, th, tw, r->channels, r->height, r->width);
    r->pixels = (size_t)r->channels * r->height * r->width;
    shape[0] = r->channels;
    shape[1] = r->height;
    shape[2] = r->width;
    rc = data_open(p->data_spec, shape, p->classes, 0, 0, &r->data);
    if (rc == CLI_EXIT_OK && r->data.n_classes > r->n_classes)
        rc = cli_error("the data has %u classes, the Student %u outputs; "
                       "select the Student's classes with --classes",
                       r->data.n_classes, r->n_classes);
    return rc;
}


static int alloc_attempts(attack_run *r)
{
    size_t n = r->n, images = n * r->pixels;
    r->source_index = malloc(n * sizeof *r->source_index);
    r->target_index = malloc(n * sizeof *r->target_index);
    r->source_label = malloc(n * sizeof *r->source_label);
    r->target_label = malloc(n * sizeof *r->target_label);
    r->sources = malloc(images * sizeof *r->sources);
    r->targets = malloc(images * sizeof *r->targets);
    r->adversarial = malloc(images * sizeof *r->adversarial);
    r->dssim = malloc(n * sizeof *r->dssim);
    r->distance = malloc(n * sizeof *r->distance);
    r->within = malloc(n);
    r->adversarial_label = malloc(n * sizeof *r->adversarial_label);
    if (!r->source_index || !r->target_index || !r->source_label ||
        !r->target_label || !r->sources || !r->targets || !r->adversarial ||
        !r->dssim || !r->distance || !r->within || !r->adversarial_label)
        return cli_error("out of memory");
    return CLI_EXIT_OK;
}

/* Keeps the attempts of the plan's shard: whole batches of the run, a
 * contiguous share of them, so that every batch is attacked as in the
 * unsharded run and the parts join in shard order; the library keys each
 * attempt's random numbers by its place in the whole run. */
static int keep_shard(attack_run *r)
{
    const attack_plan *p = &r->plan;
    uint64_t batch = p->opts.batch_size;
    uint64_t batches = (r->n + batch - 1) / batch;
    if (p->shards > batches)
        return cli_usage_error("--shard %u/%u: %u attempts make %llu batches "
                               "of %llu; use at most %llu shards",
                               p->shard, p->shards, r->n,
                               (unsigned long long)batches,
                               (unsigned long long)batch,
                               (unsigned long long)batches);
    uint64_t first = p->shard * batches / p->shards * batch;
    uint64_t end = (p->shard + 1) * batches / p->shards * batch;
    if (end > r->n) end = r->n;
    uint32_t n = (uint32_t)(end - first);
    memmove(r->source_index, r->source_index + first,
            n * sizeof *r->source_index);
    memmove(r->target_index, r->target_index + first,
            n * sizeof *r->target_index);
    memmove(r->source_label, r->source_label + first,
            n * sizeof *r->source_label);
    memmove(r->target_label, r->target_label + first,
            n * sizeof *r->target_label);
    r->n = n;
    r->plan.opts.first_index = (uint32_t)first;
    return CLI_EXIT_OK;
}

/* Sources (and targets) among the images the Student gets right, chosen
 * by the library as any host would choose them. */
static int choose_attempts(attack_run *r)
{
    const attack_plan *p = &r->plan;
    if (p->target_class >= (int32_t)r->n_classes)
        return cli_usage_error("--target-class %d: the Student has %u "
                               "classes",
                               p->target_class, r->n_classes);
    r->n = p->count;
    int rc = alloc_attempts(r);
    if (rc != CLI_EXIT_OK) return rc;
    dg_attempt_opts o;
    dg_attempt_opts_init(&o, sizeof o);
    o.targeted = p->opts.targeted;
    o.target_class = p->target_class;
    o.target_images = is_mimicry(p->opts.method);
    o.seed = p->opts.seed;
    dg_status st = dg_eval_choose_attempts(r->student, r->data.samples, &o,
                                           r->n, r->source_index,
                                           r->source_label, r->target_index,
                                           r->target_label);
    if (st != DG_OK) return cli_fail(st, "choosing the attempts");
    return p->shards ? keep_shard(r) : CLI_EXIT_OK;
}

/* Pixels in [0,1] of the chosen sources and targets. */
static int gather_pixels(attack_run *r)
{
    dg_status st = dg_dataset_batch(r->data.samples, NULL, r->source_index,
                                    r->n, r->sources, r->n * r->pixels, NULL);
    for (uint32_t i = 0; st == DG_OK && i < r->n; i++)
        if (r->target_index[i] == UINT32_MAX)
            memset(r->targets + i * r->pixels, 0,
                   r->pixels * sizeof *r->targets);
        else
            st = dg_dataset_batch(r->data.samples, NULL, &r->target_index[i],
                                  1, r->targets + i * r->pixels, r->pixels,
                                  NULL);
    if (st != DG_OK) return cli_fail(st, "reading the chosen images");
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* The attack                                                               */
/* ------------------------------------------------------------------------ */

static int run_attacks(attack_run *r)
{
    dg_attack_opts o = r->plan.opts;
    bool started = false;
    bool mimicry = is_mimicry(o.method);
    o.progress = progress_callback;
    o.progress_user = &started;
    const int32_t *labels = NULL;
    if (!mimicry) labels = o.targeted ? r->target_label : r->source_label;
    adaptive_apply(&r->adaptive, &o);
    if (mimicry && r->adaptive.n) labels = r->target_label;
    if (mimicry && r->plan.stop_on_success) {
        /* Mimicry always has a target class: stop when it is reached. */
        o.check_model = r->student;
        o.targeted = 1;
        labels = r->target_label;
    } else if (r->plan.stop_on_success) {
        o.check_model = r->student;
    }
    double start = monotonic_seconds();
    dg_status st = dg_attack_run(mimicry ? r->teacher : r->student, &o,
                                 r->sources, mimicry ? r->targets : NULL,
                                 labels, r->n, r->adversarial, r->dssim,
                                 r->distance, r->within);
    r->seconds = monotonic_seconds() - start;
    if (started) progress_finish();
    if (st == DG_E_CANCELLED) return cli_error("interrupted");
    if (st != DG_OK) return cli_fail(st, "attacking");
    st = dg_eval_classify(r->student, r->adversarial, r->n * r->pixels, r->n,
                          r->adversarial_label);
    if (st != DG_OK) return cli_fail(st, "classifying the adversarial images");
    return CLI_EXIT_OK;
}

bool attack_succeeded(const attack_run *r, uint32_t i)
{
    if (!r->within[i]) return false;
    return r->target_label[i] >= 0
               ? r->adversarial_label[i] == r->target_label[i]
               : r->adversarial_label[i] != r->source_label[i];
}

/* ------------------------------------------------------------------------ */
/* Output: the adversarial set and example images                           */
/* ------------------------------------------------------------------------ */

static int save_set(const attack_run *r)
{
    const attack_plan *p = &r->plan;
    char description[4096], adaptive[1024], budget[64];
    adaptive_describe(p, adaptive, sizeof adaptive);
    if (p->opts.method == DG_ATTACK_MIMIC_DSSIM)
        snprintf(budget, sizeof budget, "DSSIM budget %g",
                 (double)p->opts.budget);
    else
        snprintf(budget, sizeof budget, "L-inf epsilon %g",
                 (double)p->opts.epsilon);
    snprintf(description, sizeof description,
             "%s%sdata %s; classes %s; teacher %s; student %s; %s %s, %s, "
             "preset %s, layer %d%s",
             p->label ? p->label : "", p->label ? "; " : "", p->data_spec,
             p->classes ? p->classes : "all", p->teacher_path,
             p->student_path, cli_name_of(attack_methods, p->opts.method),
             cli_name_of(attack_modes, p->opts.targeted), budget,
             cli_name_of(attack_presets, p->preset), p->opts.feature_layer,
             adaptive);
    description[1023] = '\0'; /* a set keeps at most 1023 bytes */
    if (p->shards) {
        size_t len = strlen(description);
        int mark = snprintf(description + len, sizeof description - len,
                            DG_ADVSET_SHARD_MARK, p->shard, p->shards,
                            p->count);
        if (mark < 0 || len + (size_t)mark > 1023)
            return cli_error("--shard: the set's description (%zu bytes) "
                             "leaves no room for the shard mark; shorten "
                             "the paths",
                             len);
    }
    dg_advset *set;
    dg_status st = dg_advset_create(&p->opts, r->channels, r->height,
                                    r->width, description, &set);
    for (uint32_t i = 0; st == DG_OK && i < r->n; i++) {
        dg_advset_item it = {
            .struct_size = sizeof it,
            .source_index = r->source_index[i],
            .source_label = r->source_label[i],
            .target_label = r->target_label[i],
            .student_label = r->adversarial_label[i],
            .dssim = r->dssim[i],
            .feature_distance = r->distance[i],
            .within_budget = r->within[i],
            .success = attack_succeeded(r, i),
        };
        st = dg_advset_add(set, &it, r->adversarial + i * r->pixels,
                           r->pixels);
    }
    if (st == DG_OK) st = dg_advset_save_file(set, p->out_path);
    dg_advset_free(set);
    if (st != DG_OK) return cli_fail(st, "writing %s", p->out_path);
    return CLI_EXIT_OK;
}


void attack_run_free(attack_run *r)
{
    dg_model_free(r->teacher);
    dg_model_free(r->student);
    data_free(&r->data);
    free(r->source_index);
    free(r->target_index);
    free(r->source_label);
    free(r->target_label);
    free(r->sources);
    free(r->targets);
    free(r->adversarial);
    free(r->dssim);
    free(r->distance);
    free(r->within);
    free(r->adversarial_label);
    adaptive_free(&r->adaptive);
}

/* Everything but the report, on r->plan. */
int attack_execute(attack_run *r)
{
    int rc = check_output_folder(r->plan.out_path);
    if (rc == CLI_EXIT_OK) rc = load_inputs(r);
    if (rc == CLI_EXIT_OK) rc = choose_attempts(r);
    if (rc == CLI_EXIT_OK) rc = gather_pixels(r);
    if (rc == CLI_EXIT_OK)
        rc = adaptive_load(&r->plan, r->target_label, r->n, &r->adaptive);
    if (rc == CLI_EXIT_OK) rc = run_attacks(r);
    if (rc == CLI_EXIT_OK) rc = save_set(r);
    if (rc == CLI_EXIT_OK && r->plan.examples_dir) rc = attack_write_examples(r);
    return rc;
}

int attack_write_set(const attack_plan *p)
{
    attack_run r = {.plan = *p};
    int rc = attack_execute(&r);
    attack_run_free(&r);
    return rc;
}

