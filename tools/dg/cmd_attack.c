/* cmd_attack.c - `dg attack`: crafts adversarial examples against a Student
 * from its public Teacher (or, for FGSM and PGD, from the Student itself),
 * writes them as an adversarial set and reports the attack success rate.
 *
 * Sources and target images are drawn (seeded) from the samples that the
 * Student classifies correctly.  The Student is used for nothing else: the
 * attack itself never queries it unless --stop-on-success asks. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "pipeline.h"
#include "train_common.h"

enum { PREDICT_BATCH = 256, DEFAULT_COUNT = 100, DEFAULT_EXAMPLES = 8 };

/* Example sheets: tiles scaled up, a diff amplified around mid grey. */
enum { SHEET_SCALE = 4, SHEET_GAP = 4, SHEET_COLUMNS = 4 };
#define DIFF_GAIN 4.0f

typedef struct named_value {
    const char *name;
    int32_t value;
} named_value;

static const named_value methods[] = {
    {"dssim", DG_ATTACK_MIMIC_DSSIM},
    {"linf", DG_ATTACK_MIMIC_LINF},
    {"fgsm", DG_ATTACK_FGSM},
    {"pgd", DG_ATTACK_PGD},
    {NULL, 0},
};
static const named_value presets[] = {
    {"strong", DG_ATTACK_PRESET_STRONG},
    {"paper", DG_ATTACK_PRESET_PAPER},
    {NULL, 0},
};
static const named_value optimizers[] = {
    {"adam", DG_ATTACK_ADAM},
    {"adadelta", DG_ATTACK_ADADELTA},
    {NULL, 0},
};
static const named_value modes[] = {
    {"targeted", 1},
    {"untargeted", 0},
    {NULL, 0},
};

static const char *name_of(const named_value *table, int32_t value)
{
    for (; table->name; table++)
        if (table->value == value) return table->name;
    return "?";
}

static bool is_mimicry(int32_t method)
{
    return method == DG_ATTACK_MIMIC_DSSIM || method == DG_ATTACK_MIMIC_LINF;
}

/* Reads option `option` as one of the table's names, or leaves *out. */
static int read_name(const cli_args *args, const char *option,
                     const named_value *table, int32_t *out)
{
    const char *text = cli_value(args, option);
    if (!text) return CLI_EXIT_OK;
    for (const named_value *t = table; t->name; t++)
        if (strcmp(t->name, text) == 0) {
            *out = t->value;
            return CLI_EXIT_OK;
        }
    return cli_usage_error("--%s: unknown value \"%s\"", option, text);
}

/* ------------------------------------------------------------------------ */
/* The command line                                                         */
/* ------------------------------------------------------------------------ */

/* A numeric option that sets a field of dg_attack_opts. */
typedef struct number_option {
    const char *name;
    size_t offset;
    bool integer; /* a uint32_t field, else a float */
    double min, max;
} number_option;

static const number_option number_options[] = {
    {"budget", offsetof(dg_attack_opts, budget), false, 1e-6, 0.5},
    {"lambda", offsetof(dg_attack_opts, lambda), false, 0, 1e30},
    {"epsilon", offsetof(dg_attack_opts, epsilon), false, 1e-6, 1},
    {"step", offsetof(dg_attack_opts, step), false, 1e-6, 1},
    {"lr", offsetof(dg_attack_opts, learning_rate), false, 1e-9, 1e6},
    {"iterations", offsetof(dg_attack_opts, iterations), true, 1, 1e6},
    {"patience", offsetof(dg_attack_opts, patience), true, 0, 1e6},
    {"batch", offsetof(dg_attack_opts, batch_size), true, 1, 4096},
    {"threads", offsetof(dg_attack_opts, threads), true, 0, 1024},
    {"adaptive-weight", offsetof(dg_attack_opts, adaptive_weight), false, 0,
     1e6},
    {"draw", offsetof(dg_attack_opts, adaptive_draw), true, 0, 4096},
};

static int read_number(const cli_args *args, const number_option *n,
                       dg_attack_opts *o)
{
    char *field = (char *)o + n->offset;
    if (n->integer) {
        uint32_t value;
        long read;
        memcpy(&value, field, sizeof value);
        int rc = cli_long(args, n->name, value, (long)n->min, (long)n->max,
                          &read);
        value = (uint32_t)read;
        memcpy(field, &value, sizeof value);
        return rc;
    }
    float value;
    double read;
    memcpy(&value, field, sizeof value);
    int rc = cli_double(args, n->name, value, n->min, n->max, &read);
    value = (float)read;
    memcpy(field, &value, sizeof value);
    return rc;
}

/* The attack options: the preset, then whatever the command line sets. */
static int read_attack_opts(const cli_args *args, attack_plan *p)
{
    dg_attack_opts *o = &p->opts;
    int rc = read_name(args, "preset", presets, &p->preset);
    if (rc != CLI_EXIT_OK) return rc;
    dg_status st = dg_attack_opts_init(o, sizeof *o, p->preset);
    if (st != DG_OK) return cli_fail(st, "attack options");
    long layer = o->feature_layer, seed = (long)o->seed;
    rc = read_name(args, "method", methods, &o->method);
    if (rc == CLI_EXIT_OK) rc = read_name(args, "mode", modes, &o->targeted);
    if (rc == CLI_EXIT_OK)
        rc = read_name(args, "optimizer", optimizers, &o->optimizer);
    for (size_t k = 0; rc == CLI_EXIT_OK &&
                       k < sizeof number_options / sizeof *number_options;
         k++)
        rc = read_number(args, &number_options[k], o);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "feature-layer", layer, -1, 4095, &layer);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "seed", seed, 0, LONG_MAX, &seed);
    /* The strong preset's lambda follows the budget (doc/attack.md). */
    if (p->preset == DG_ATTACK_PRESET_STRONG && !cli_value(args, "lambda"))
        o->lambda = DG_ATTACK_STRONG_LAMBDA_BUDGET / o->budget;
    o->feature_layer = (int32_t)layer;
    o->seed = (uint64_t)seed;
    o->random_start = cli_flag(args, "random-start");
    if (cli_flag(args, "no-feature-term")) o->feature_weight = 0;
    p->stop_on_success = cli_flag(args, "stop-on-success");
    return rc;
}

/* --against-guard, --against-models and what only they use. */
static int read_adaptive(const cli_args *args, attack_plan *p)
{
    long members;
    int rc = cli_long(args, "guard-members", 0, 1, 4096, &members);
    if (rc != CLI_EXIT_OK) return rc;
    p->guard_members = (uint32_t)members;
    p->guard_path = cli_value(args, "against-guard");
    p->guard_student_path = cli_value(args, "guard-student");
    p->model_list = cli_value(args, "against-models");
    if (!p->guard_path) {
        static const char *const guard_only[] = {"guard-student",
                                                 "guard-members"};
        for (size_t k = 0; k < 2; k++)
            if (cli_value(args, guard_only[k]))
                return cli_usage_error("--%s needs --against-guard",
                                       guard_only[k]);
    }
    if (!p->guard_path && !p->model_list) {
        static const char *const adaptive_only[] = {"adaptive-weight",
                                                    "draw"};
        for (size_t k = 0; k < 2; k++)
            if (cli_value(args, adaptive_only[k]))
                return cli_usage_error("--%s needs --against-guard or "
                                       "--against-models",
                                       adaptive_only[k]);
        if (cli_flag(args, "no-feature-term"))
            return cli_usage_error("--no-feature-term needs --against-guard "
                                   "or --against-models");
    }
    /* A guard consults the members of the class it is asked about: an
     * attack without a target class cannot know which. */
    if (p->guard_path && !is_mimicry(p->opts.method) && !p->opts.targeted)
        return cli_usage_error("--against-guard needs a target class: use "
                               "--mode targeted or a mimicry method");
    return CLI_EXIT_OK;
}

static int read_plan(const cli_args *args, attack_plan *p)
{
    long count, target = -1, examples;
    p->preset = DG_ATTACK_PRESET_STRONG;
    int rc = required_value(args, "teacher", &p->teacher_path);
    if (rc == CLI_EXIT_OK)
        rc = required_value(args, "student", &p->student_path);
    if (rc == CLI_EXIT_OK) rc = required_value(args, "data", &p->data_spec);
    if (rc == CLI_EXIT_OK) rc = required_value(args, "output", &p->out_path);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "count", DEFAULT_COUNT, 1, 1000000, &count);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "target-class", -1, 0, 65535, &target);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "example-count", DEFAULT_EXAMPLES, 1, 1000,
                      &examples);
    if (rc == CLI_EXIT_OK) rc = read_attack_opts(args, p);
    if (rc == CLI_EXIT_OK) rc = read_adaptive(args, p);
    if (rc != CLI_EXIT_OK) return rc;
    p->classes = cli_value(args, "classes");
    p->examples_dir = cli_value(args, "examples");
    p->count = (uint32_t)count;
    p->target_class = (int32_t)target;
    p->n_examples = (uint32_t)examples;
    if (target >= 0 && !p->opts.targeted)
        return cli_usage_error("--target-class needs --mode targeted");
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* Models, data and the Student's view of it                                */
/* ------------------------------------------------------------------------ */

typedef struct attack_run {
    attack_plan plan;
    dg_model *teacher, *student;
    class_data data;
    uint32_t channels, height, width;
    size_t pixels;          /* per image */
    uint32_t n_classes;     /* the Student's */
    dg_preprocess student_pre;
    int32_t *prediction;    /* the Student's, per sample */

    /* The attempts. */
    uint32_t n;
    uint32_t *source_index, *target_index; /* target_index: UINT32_MAX none */
    int32_t *source_label, *target_label;  /* target_label: -1 none */
    float *sources, *targets, *adversarial, *dssim, *distance;
    uint8_t *within;
    int32_t *adversarial_label;            /* the Student's */
    adaptive_models adaptive;
    double seconds;
} attack_run;

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
    if (st == DG_OK) st = dg_model_get_preprocess(r->student, &r->student_pre);
    if (st != DG_OK) return cli_fail(st, "reading the models");
    if (tc != r->channels || th != r->height || tw != r->width)
        return cli_error("the Teacher takes %ux%ux%u images, the Student "
                         "%ux%ux%u",
                         tc, th, tw, r->channels, r->height, r->width);
    r->pixels = (size_t)r->channels * r->height * r->width;
    shape[0] = r->channels;
    shape[1] = r->height;
    shape[2] = r->width;
    rc = data_load(p->data_spec, shape, &r->data);
    if (rc == CLI_EXIT_OK) rc = data_select(&r->data, p->classes, 0);
    if (rc == CLI_EXIT_OK && r->data.n_classes > r->n_classes)
        rc = cli_error("the data has %u classes, the Student %u outputs; "
                       "select the Student's classes with --classes",
                       r->data.n_classes, r->n_classes);
    return rc;
}

static int32_t argmax(const float *row, uint32_t k)
{
    uint32_t arg = 0;
    for (uint32_t j = 1; j < k; j++)
        if (row[j] > row[arg]) arg = j;
    return (int32_t)arg;
}

/* Writes the Student's input for items first..first+n-1 into `input`. */
typedef int (*input_fill)(const attack_run *r, uint32_t first, uint32_t n,
                          float *input);

static int fill_samples(const attack_run *r, uint32_t first, uint32_t n,
                        float *input)
{
    uint32_t idx[PREDICT_BATCH];
    for (uint32_t i = 0; i < n; i++) idx[i] = first + i;
    dg_status st = dg_dataset_batch(r->data.samples, r->student, idx, n,
                                    input, n * r->pixels, NULL);
    if (st != DG_OK) return cli_fail(st, "reading the data");
    return CLI_EXIT_OK;
}

/* Adversarial pixels in [0,1] through the Student's preprocessing. */
static int fill_adversarial(const attack_run *r, uint32_t first, uint32_t n,
                            float *input)
{
    const dg_preprocess *pre = &r->student_pre;
    const float *adv = r->adversarial + (size_t)first * r->pixels;
    size_t plane = (size_t)r->height * r->width;
    for (size_t k = 0; k < n * r->pixels; k++) {
        uint32_t c = (uint32_t)((k / plane) % r->channels);
        input[k] = (adv[k] * 255.0f * pre->scale - pre->mean[c]) / pre->std[c];
    }
    return CLI_EXIT_OK;
}

/* The Student's class for each of n items, in batches. */
static int student_predict(const attack_run *r, uint32_t n, input_fill fill,
                           int32_t *out)
{
    float *input = malloc(PREDICT_BATCH * r->pixels * sizeof *input);
    dg_session *s = NULL;
    int rc = input ? CLI_EXIT_OK : cli_error("out of memory");
    dg_status st = rc == CLI_EXIT_OK
                       ? dg_session_create(r->student, PREDICT_BATCH, &s)
                       : DG_OK;
    if (st != DG_OK) rc = cli_fail(st, "preparing the Student");
    for (uint32_t first = 0; rc == CLI_EXIT_OK && first < n;
         first += PREDICT_BATCH) {
        uint32_t m = n - first < PREDICT_BATCH ? n - first : PREDICT_BATCH;
        const float *logits;
        rc = fill(r, first, m, input);
        if (rc != CLI_EXIT_OK) break;
        st = dg_session_run(s, input, m * r->pixels, m);
        if (st == DG_OK)
            st = dg_session_output(s, -1, &logits, NULL, NULL, NULL, NULL);
        if (st != DG_OK) rc = cli_fail(st, "running the Student");
        for (uint32_t i = 0; rc == CLI_EXIT_OK && i < m; i++)
            out[first + i] =
                argmax(logits + (size_t)i * r->n_classes, r->n_classes);
    }
    dg_session_free(s);
    free(input);
    return rc;
}

/* The Student's prediction for every sample of the data. */
static int predict_data(attack_run *r)
{
    uint32_t n;
    dg_dataset_count(r->data.samples, &n);
    r->prediction = malloc((size_t)(n ? n : 1) * sizeof *r->prediction);
    if (!r->prediction) return cli_error("out of memory");
    return student_predict(r, n, fill_samples, r->prediction);
}

/* ------------------------------------------------------------------------ */
/* Choosing the attempts                                                    */
/* ------------------------------------------------------------------------ */

/* splitmix64: the command's own seeded choices. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t random_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)(next_random(state) % n);
}

/* Correctly classified samples, listed per class. */
typedef struct correct_pool {
    uint32_t *index; /* grouped by class */
    uint32_t *start; /* n_classes + 1: where each class begins */
    uint32_t *count; /* n_classes */
} correct_pool;

static void free_pool(correct_pool *pool)
{
    free(pool->index);
    free(pool->start);
    free(pool->count);
}

static int build_pool(const attack_run *r, correct_pool *pool)
{
    uint32_t n;
    dg_dataset_count(r->data.samples, &n);
    pool->index = malloc((size_t)(n ? n : 1) * sizeof *pool->index);
    pool->start = calloc(r->n_classes + 1, sizeof *pool->start);
    pool->count = calloc(r->n_classes, sizeof *pool->count);
    if (!pool->index || !pool->start || !pool->count)
        return cli_error("out of memory");
    for (int pass = 0; pass < 2; pass++) {
        /* First count each class, then place the samples. */
        for (uint32_t i = 0; i < n; i++) {
            int32_t label;
            dg_dataset_label(r->data.samples, i, &label);
            if (label != r->prediction[i]) continue;
            if (pass == 0)
                pool->start[label + 1]++;
            else
                pool->index[pool->start[label] + pool->count[label]++] = i;
        }
        for (uint32_t k = 0; pass == 0 && k < r->n_classes; k++)
            pool->start[k + 1] += pool->start[k];
    }
    return CLI_EXIT_OK;
}

static uint32_t random_sample_of(const correct_pool *pool, uint32_t cls,
                                 uint64_t *state)
{
    return pool->index[pool->start[cls] +
                       random_below(state, pool->count[cls])];
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

/* The target class of attempt i: the given one, each class in turn, or a
 * random one other than the source's; -1 if there is none.  Only classes
 * with correctly classified samples qualify. */
static int32_t pick_target(const attack_run *r, const correct_pool *pool,
                           uint32_t i, int32_t source, uint64_t *state)
{
    if (r->plan.opts.targeted && r->plan.target_class >= 0)
        return r->plan.target_class;
    bool targeted = r->plan.opts.targeted;
    uint32_t usable = 0;
    for (uint32_t k = 0; k < r->n_classes; k++)
        usable += pool->count[k] > 0 && (targeted || (int32_t)k != source);
    if (usable == 0) return -1;
    uint32_t pick = targeted ? i % usable : random_below(state, usable);
    for (uint32_t k = 0; k < r->n_classes; k++)
        if (pool->count[k] > 0 && (targeted || (int32_t)k != source) &&
            pick-- == 0)
            return (int32_t)k;
    return -1;
}

/* Sources in a seeded random order of the correct samples, each paired
 * with a target class and, for mimicry, a target image. */
static int choose_attempts(attack_run *r)
{
    const attack_plan *p = &r->plan;
    if (p->target_class >= (int32_t)r->n_classes)
        return cli_usage_error("--target-class %d: the Student has %u "
                               "classes",
                               p->target_class, r->n_classes);
    correct_pool pool = {0};
    int rc = build_pool(r, &pool);
    if (rc == CLI_EXIT_OK && p->target_class >= 0 &&
        pool.count[p->target_class] == 0)
        rc = cli_error("--target-class %d: the Student classifies no "
                       "sample of it correctly",
                       p->target_class);
    if (rc != CLI_EXIT_OK) {
        free_pool(&pool);
        return rc;
    }
    uint32_t total = pool.start[r->n_classes];
    uint32_t *order = malloc((size_t)(total ? total : 1) * sizeof *order);
    if (!order) {
        free_pool(&pool);
        return cli_error("out of memory");
    }
    memcpy(order, pool.index, total * sizeof *order);
    uint64_t state = p->opts.seed;
    for (uint32_t i = total; i > 1; i--) { /* Fisher-Yates */
        uint32_t j = random_below(&state, i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    r->n = p->count;
    rc = alloc_attempts(r);
    bool mimicry = is_mimicry(p->opts.method);
    uint32_t made = 0;
    for (uint32_t o = 0; rc == CLI_EXIT_OK && o < total && made < r->n;
         o++) {
        int32_t source;
        dg_dataset_label(r->data.samples, order[o], &source);
        int32_t target = pick_target(r, &pool, made, source, &state);
        if (target < 0 || source == target) continue; /* next source */
        r->source_index[made] = order[o];
        r->source_label[made] = source;
        /* An untargeted FGSM or PGD has no target: it leaves the source. */
        bool has_target = mimicry || p->opts.targeted;
        r->target_label[made] = has_target ? target : -1;
        r->target_index[made] =
            mimicry ? random_sample_of(&pool, (uint32_t)target, &state)
                    : UINT32_MAX;
        made++;
    }
    free(order);
    free_pool(&pool);
    if (rc == CLI_EXIT_OK && made < r->n)
        return cli_error("only %u usable sources for --count %u", made, r->n);
    return rc;
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

static int on_progress(void *user, const char *stage, uint64_t done,
                       uint64_t total, double within)
{
    (void)stage;
    (void)within;
    bool *started = user;
    if (!*started) progress_start("attack", total);
    *started = true;
    progress_update(done);
    return 0;
}


static int run_attacks(attack_run *r)
{
    dg_attack_opts o = r->plan.opts;
    bool started = false;
    bool mimicry = is_mimicry(o.method);
    o.progress = on_progress;
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
    if (st != DG_OK) return cli_fail(st, "attacking");
    return student_predict(r, r->n, fill_adversarial, r->adversarial_label);
}

/* The attack success of the spec: the Student outputs the target class;
 * for an untargeted FGSM or PGD, which has none, any class but the
 * source's. */
static bool succeeded(const attack_run *r, uint32_t i)
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
    char description[4096], adaptive[1024];
    adaptive_describe(p, adaptive, sizeof adaptive);
    snprintf(description, sizeof description,
             "data %s; classes %s; teacher %s; student %s; %s %s, preset "
             "%s, layer %d%s",
             p->data_spec, p->classes ? p->classes : "all", p->teacher_path,
             p->student_path, name_of(methods, p->opts.method),
             name_of(modes, p->opts.targeted), name_of(presets, p->preset),
             p->opts.feature_layer, adaptive);
    description[1023] = '\0'; /* a set keeps at most 1023 bytes */
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
            .success = succeeded(r, i),
        };
        st = dg_advset_add(set, &it, r->adversarial + i * r->pixels,
                           r->pixels);
    }
    if (st == DG_OK) st = dg_advset_save_file(set, p->out_path);
    dg_advset_free(set);
    if (st != DG_OK) return cli_fail(st, "writing %s", p->out_path);
    return CLI_EXIT_OK;
}

static uint8_t to_byte(float v)
{
    v = v * 255.0f + 0.5f;
    return (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
}

/* An image for the examples: the source, the adversarial image, their
 * difference (mid grey: unchanged, amplified DIFF_GAIN times), the target. */
static float tile_value(const attack_run *r, uint32_t i, int column, size_t k)
{
    const float *src = r->sources + i * r->pixels;
    const float *adv = r->adversarial + i * r->pixels;
    switch (column) {
    case 0: return src[k];
    case 1: return adv[k];
    case 2: return 0.5f + DIFF_GAIN * (adv[k] - src[k]);
    default: return r->target_index[i] == UINT32_MAX
                        ? 0.5f
                        : r->targets[i * r->pixels + k];
    }
}

/* Planar pixels to the interleaved rows a PNG takes. */
static void tile_pixels(const attack_run *r, uint32_t i, int column,
                        uint8_t *out, size_t stride, int scale)
{
    size_t plane = (size_t)r->height * r->width;
    for (uint32_t y = 0; y < r->height * (uint32_t)scale; y++)
        for (uint32_t x = 0; x < r->width * (uint32_t)scale; x++)
            for (uint32_t c = 0; c < r->channels; c++) {
                size_t k = c * plane + (size_t)(y / scale) * r->width +
                           x / scale;
                out[y * stride + (size_t)x * r->channels + c] =
                    to_byte(tile_value(r, i, column, k));
            }
}

static int32_t pixel_format(const attack_run *r)
{
    return r->channels == 3 ? DG_PIXEL_RGB8 : DG_PIXEL_GRAY8;
}

static int write_tiles(const attack_run *r, uint32_t i, uint8_t *buf)
{
    static const char *const names[] = {"source", "adversarial", "diff"};
    size_t stride = (size_t)r->width * r->channels;
    for (int column = 0; column < 3; column++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%03u_%s.png", r->plan.examples_dir, i,
                 names[column]);
        tile_pixels(r, i, column, buf, stride, 1);
        dg_status st = dg_image_save_png(path, buf, r->width, r->height,
                                         stride, pixel_format(r));
        if (st != DG_OK) return cli_fail(st, "writing %s", path);
    }
    return CLI_EXIT_OK;
}

/* One sheet: a row per example, columns source, adversarial, diff and
 * target, scaled up with gaps of mid grey. */
static int write_sheet(const attack_run *r, const uint32_t *chosen,
                       uint32_t n)
{
    uint32_t tile_w = r->width * SHEET_SCALE, tile_h = r->height * SHEET_SCALE;
    uint32_t width = SHEET_COLUMNS * (tile_w + SHEET_GAP) + SHEET_GAP;
    uint32_t height = n * (tile_h + SHEET_GAP) + SHEET_GAP;
    size_t stride = (size_t)width * r->channels;
    uint8_t *sheet = malloc(stride * height);
    if (!sheet) return cli_error("out of memory");
    memset(sheet, 128, stride * height);
    for (uint32_t row = 0; row < n; row++)
        for (int column = 0; column < SHEET_COLUMNS; column++) {
            size_t at = (size_t)(SHEET_GAP + row * (tile_h + SHEET_GAP)) *
                            stride +
                        (size_t)(SHEET_GAP + column * (tile_w + SHEET_GAP)) *
                            r->channels;
            tile_pixels(r, chosen[row], column, sheet + at, stride,
                        SHEET_SCALE);
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/sheet.png", r->plan.examples_dir);
    dg_status st = dg_image_save_png(path, sheet, width, height, stride,
                                     pixel_format(r));
    free(sheet);
    if (st != DG_OK) return cli_fail(st, "writing %s", path);
    return CLI_EXIT_OK;
}

/* The first successful attempts (then other ones within budget). */
static int write_examples(const attack_run *r)
{
    const char *dir = r->plan.examples_dir;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cli_error("cannot create %s: %s", dir, strerror(errno));
    uint32_t *chosen = malloc(r->plan.n_examples * sizeof *chosen), n = 0;
    uint8_t *buf = malloc(r->pixels);
    int rc = chosen && buf ? CLI_EXIT_OK : cli_error("out of memory");
    for (int pass = 0; rc == CLI_EXIT_OK && pass < 2; pass++)
        for (uint32_t i = 0; i < r->n && n < r->plan.n_examples; i++)
            if (pass == 0 ? succeeded(r, i) : r->within[i] && !succeeded(r, i))
                chosen[n++] = i;
    for (uint32_t k = 0; rc == CLI_EXIT_OK && k < n; k++)
        rc = write_tiles(r, chosen[k], buf);
    if (rc == CLI_EXIT_OK && n > 0) rc = write_sheet(r, chosen, n);
    free(chosen);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The report                                                               */
/* ------------------------------------------------------------------------ */

typedef struct tally {
    uint32_t attempts, within, success, not_source;
    double dssim_sum, distance_sum; /* over attempts within budget */
} tally;

static void count_attempt(const attack_run *r, uint32_t i, tally *t)
{
    t->attempts++;
    if (!r->within[i]) return;
    t->within++;
    t->success += succeeded(r, i);
    t->not_source += r->adversarial_label[i] != r->source_label[i];
    t->dssim_sum += r->dssim[i];
    t->distance_sum += r->distance[i];
}

static double share(uint32_t part, uint32_t whole)
{
    return whole ? (double)part / whole : NAN;
}

/* Per target class (targeted) or per source class (untargeted). */
static int32_t group_of(const attack_run *r, uint32_t i)
{
    return r->plan.opts.targeted ? r->target_label[i] : r->source_label[i];
}

static void json_tally(json_writer *w, const tally *t)
{
    json_key(w, "attempts");
    json_int(w, t->attempts);
    json_key(w, "within_budget");
    json_int(w, t->within);
    json_key(w, "success");
    json_int(w, t->success);
    json_key(w, "asr");
    json_number(w, share(t->success, t->attempts));
    json_key(w, "not_source_rate");
    json_number(w, share(t->not_source, t->attempts));
    json_key(w, "mean_dssim");
    json_number(w, t->within ? t->dssim_sum / t->within : NAN);
    json_key(w, "mean_feature_distance");
    json_number(w, t->within ? t->distance_sum / t->within : NAN);
}

static void print_json(const attack_run *r, const tally *all,
                       const tally *groups)
{
    const attack_plan *p = &r->plan;
    const dg_attack_opts *o = &p->opts;
    json_writer w;
    json_init(&w, stdout);
    json_begin_object(&w);
    json_key(&w, "teacher");
    json_string(&w, p->teacher_path);
    json_key(&w, "student");
    json_string(&w, p->student_path);
    json_key(&w, "data");
    json_string(&w, p->data_spec);
    json_key(&w, "output");
    json_string(&w, p->out_path);
    json_key(&w, "method");
    json_string(&w, name_of(methods, o->method));
    json_key(&w, "mode");
    json_string(&w, name_of(modes, o->targeted));
    json_key(&w, "preset");
    json_string(&w, name_of(presets, p->preset));
    json_key(&w, "settings");
    json_begin_object(&w);
    json_key(&w, "budget");
    json_number(&w, o->budget);
    json_key(&w, "lambda");
    json_number(&w, o->lambda);
    json_key(&w, "epsilon");
    json_number(&w, o->epsilon);
    json_key(&w, "step");
    json_number(&w, o->step);
    json_key(&w, "iterations");
    json_int(&w, o->iterations);
    json_key(&w, "optimizer");
    json_string(&w, name_of(optimizers, o->optimizer));
    json_key(&w, "learning_rate");
    json_number(&w, o->learning_rate);
    json_key(&w, "patience");
    json_int(&w, o->patience);
    json_key(&w, "seed");
    json_int(&w, (int64_t)o->seed);
    json_key(&w, "feature_layer");
    json_int(&w, o->feature_layer);
    json_end_object(&w);
    adaptive_json(&w, p);
    json_tally(&w, all);
    json_key(&w, "seconds");
    json_number(&w, r->seconds);
    json_key(&w, o->targeted ? "per_target_class" : "per_source_class");
    json_begin_array(&w);
    for (uint32_t k = 0; k < r->n_classes; k++) {
        if (!groups[k].attempts) continue;
        json_begin_object(&w);
        json_key(&w, "class");
        json_int(&w, k);
        json_tally(&w, &groups[k]);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
}

static void tally_row(cli_table *t, const char *label, const tally *s)
{
    table_cell(t, "%s", label);
    table_cell(t, "%u", s->attempts);
    table_cell(t, "%u", s->within);
    table_cell(t, "%.1f%%", 100 * share(s->success, s->attempts));
    table_cell(t, "%.1f%%", 100 * share(s->not_source, s->attempts));
    table_cell(t, "%.4f", s->within ? s->dssim_sum / s->within : NAN);
    table_cell(t, "%.3f", s->within ? s->distance_sum / s->within : NAN);
}

static int print_text(const attack_run *r, const tally *all,
                      const tally *groups)
{
    const dg_attack_opts *o = &r->plan.opts;
    char adaptive[1024];
    adaptive_describe(&r->plan, adaptive, sizeof adaptive);
    printf("%s %s attack, preset %s: %u attempts in %.1f s, written to %s\n",
           name_of(modes, o->targeted), name_of(methods, o->method),
           name_of(presets, r->plan.preset), all->attempts, r->seconds,
           r->plan.out_path);
    if (*adaptive) printf("%s\n", adaptive + 2); /* without "; " */
    printf("\n");
    cli_table t;
    table_init(&t, "lrrrrrr",
               (const char *const[]){
                   o->targeted ? "target" : "source", "attempts",
                   "in budget", "ASR", "!= s", "mean DSSIM",
                   is_mimicry(o->method) ? "feature dist" : "cross-entropy"});
    for (uint32_t k = 0; k < r->n_classes; k++) {
        if (!groups[k].attempts) continue;
        char label[32];
        snprintf(label, sizeof label, "class %u", k);
        tally_row(&t, label, &groups[k]);
    }
    tally_row(&t, "all", all);
    return table_print(&t, stdout, 0);
}

static int report(const attack_run *r, bool json)
{
    tally all = {0};
    tally *groups = calloc(r->n_classes, sizeof *groups);
    if (!groups) return cli_error("out of memory");
    for (uint32_t i = 0; i < r->n; i++) {
        count_attempt(r, i, &all);
        int32_t g = group_of(r, i);
        if (g >= 0) count_attempt(r, i, &groups[g]);
    }
    int rc = CLI_EXIT_OK;
    if (json)
        print_json(r, &all, groups);
    else
        rc = print_text(r, &all, groups);
    free(groups);
    return rc;
}

static void free_run(attack_run *r)
{
    dg_model_free(r->teacher);
    dg_model_free(r->student);
    data_free(&r->data);
    free(r->prediction);
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
static int execute(attack_run *r)
{
    int rc = check_output_folder(r->plan.out_path);
    if (rc == CLI_EXIT_OK) rc = load_inputs(r);
    if (rc == CLI_EXIT_OK) rc = predict_data(r);
    if (rc == CLI_EXIT_OK) rc = choose_attempts(r);
    if (rc == CLI_EXIT_OK) rc = gather_pixels(r);
    if (rc == CLI_EXIT_OK)
        rc = adaptive_load(&r->plan, r->target_label, r->n, &r->adaptive);
    if (rc == CLI_EXIT_OK) rc = run_attacks(r);
    if (rc == CLI_EXIT_OK) rc = save_set(r);
    if (rc == CLI_EXIT_OK && r->plan.examples_dir) rc = write_examples(r);
    return rc;
}

int attack_write_set(const attack_plan *p)
{
    attack_run r = {.plan = *p};
    int rc = execute(&r);
    free_run(&r);
    return rc;
}

static int run_attack(const cli_args *args)
{
    attack_run r = {0};
    int rc = read_plan(args, &r.plan);
    if (rc == CLI_EXIT_OK) rc = execute(&r);
    if (rc == CLI_EXIT_OK) rc = report(&r, cli_flag(args, "json"));
    free_run(&r);
    return rc;
}

static const cli_option attack_options[] = {
    {"teacher", 't', "MODEL", "the public Teacher (mimicry attacks it)"},
    {"student", 's', "MODEL", "picks sources, measures success; FGSM/PGD "
                              "attack it"},
    {"data", 'd', "SPEC", "images: " DATA_SPEC_FORMS},
    CLASSES_OPTION,
    {"output", 'o', "FILE", "the adversarial set to write"},
    {"count", 'n', "N", "attempts (default 100)"},
    {"mode", 0, "MODE", "targeted or untargeted (default targeted)"},
    {"target-class", 0, "C", "aim every attempt at C (default: in turn)"},
    {"preset", 0, "NAME", "strong or paper (default strong)"},
    {"method", 'm', "NAME", "dssim, linf, fgsm or pgd (default dssim)"},
    {"budget", 0, "P", "DSSIM budget (strong 0.01, paper 0.003)"},
    {"lambda", 0, "X", "penalty weight (strong 1e5/P, paper 1e10)"},
    {"epsilon", 0, "E", "L-inf radius, pixels in [0,1] (default 0.1)"},
    {"step", 0, "S", "L-inf step per iteration (default 0.01)"},
    {"iterations", 'i', "N", "steps (strong 1000, paper 2000)"},
    {"optimizer", 0, "NAME", "adam or adadelta (strong adam, paper "
                             "adadelta)"},
    {"lr", 0, "X", "learning rate (strong 0.03, paper 1)"},
    {"patience", 0, "N", "stop after N steps without progress (strong "
                         "100, paper 0)"},
    {"random-start", 0, NULL, "start L-inf forms at a random point"},
    {"feature-layer", 0, "K", "Teacher layer to match (default -1: the "
                              "cut)"},
    {"against-guard", 0, "GUARD", "adaptive: the guard's members of each "
                                  "target class join the loss"},
    {"guard-student", 0, "MODEL", "the Student of --against-guard "
                                  "(default --student)"},
    {"guard-members", 0, "N", "members per class (default: the guard's "
                              "M)"},
    {"against-models", 0, "M1,M2", "adaptive: whole models whose loss joins "
                                   "every attempt's"},
    {"adaptive-weight", 0, "X", "weight of their mean loss (default 1)"},
    {"draw", 0, "K", "use K random models per image and step (default 0: "
                     "all)"},
    {"no-feature-term", 0, NULL, "drop mimicry (FGSM/PGD: the Student's "
                                 "loss); attack through the models alone"},
    {"stop-on-success", 0, NULL, "stop once the Student is fooled (queries "
                                 "it)"},
    {"batch", 'b', "B", "images optimised together (default 32)"},
    {"threads", 'j', "N", "worker threads; 0: all CPUs (default 0)"},
    {"seed", 0, "S", "choice of images, random starts (default 1)"},
    {"examples", 0, "DIR", "write PNG examples and DIR/sheet.png"},
    {"example-count", 0, "N", "examples to write (default 8)"},
    CLI_OPTION_JSON,
    CLI_OPTION_QUIET,
    CLI_OPTIONS_END,
};

const cli_command cmd_attack = {
    .name = "attack",
    .summary = "Craft adversarial examples from the Teacher; measure the "
               "attack success rate",
    .synopsis = "",
    .description =
        "Mimicry (dssim, linf) moves the Teacher's features of a source "
        "image toward\n"
        "those of a target image, within a budget; the Student, which "
        "reuses those\n"
        "features, then sees the target class.  FGSM and PGD attack the "
        "Student\n"
        "directly.  Sources and targets are images the Student classifies "
        "correctly.\n"
        "Targeted: each attempt aims at --target-class or at each class "
        "in turn;\n"
        "untargeted: at a random other class.  ASR: share of attempts "
        "where the\n"
        "Student outputs the target class (untargeted FGSM and PGD: any "
        "class but\n"
        "the source's); \"!= s\": any class but the source's.  An attempt "
        "that misses\n"
        "its budget fails.  doc/attack.md describes the methods and the "
        "file format.",
    .options = attack_options,
    .min_args = 0,
    .max_args = 0,
    .run = run_attack,
};
