/* cmd_demo.c - `dg demo`: the whole pipeline on an embedded scenario: a
 * Teacher learns some Fashion-MNIST classes, a Student made from it by
 * transfer learning learns the others, both are measured on the test
 * split, and a guard for the Student is built, attacked and evaluated with
 * the baselines, then attacked at every threat level (demo_levels.c).
 *
 * The pipeline is a list of stages.  A stage whose output file already
 * exists and loads is not redone, and training stages keep checkpoints, so
 * an interrupted demo continues where it stopped.  settings.json in the
 * output folder makes sure those files came from the same settings. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "eval.h"
#include "attack_run.h"
#include "demo_levels.h"
#include "guard_build.h"
#include "train_common.h"

/* Which Fashion-MNIST classes the Teacher and the Student learn.  The
 * first is the default; the second exchanges them, so that tuning on one
 * can be checked on the other. */
typedef struct demo_scenario {
    const char *name, *teacher_classes, *student_classes;
} demo_scenario;

static const demo_scenario scenarios[] = {
    {"fmnist-split", "0-4", "5-9"},
    {"fmnist-swap", "5-9", "0-4"},
};

/* Fashion-MNIST images, as the default Teacher takes them. */
static const uint32_t fmnist_shape[3] = {1, 28, 28};

/* The Student: the Teacher's layers through the last hidden one, frozen,
 * and a new 5-way head. */
enum { STUDENT_CUT = -1 };
#define STUDENT_HEAD "fc5"

/* How one model of the pipeline is trained. */
typedef struct model_plan {
    uint32_t per_class;  /* training samples per class; 0: all */
    uint32_t skip_per_class; /* ... after the first this many of each */
    uint32_t epochs, batch;
    const char *optimizer; /* as --optimizer spells it */
    double learning_rate;
    const char *schedule;  /* as --schedule spells it */
    bool patch;            /* Wang et al.'s patch of the Student, from the
                              Teacher, with the library's CAP schedule */
} model_plan;

/* The guard: the library's defaults but for these (0: the default). */
typedef struct guard_plan {
    uint32_t variants, epochs, harden_iterations;
} guard_plan;

/* One adversarial set made from the test split. */
typedef struct attack_set_plan {
    const char *name;     /* DIR/attack-NAME.dgadv; a column of the report */
    int32_t method;       /* DG_ATTACK_MIMIC_* */
    bool targeted;
    uint32_t count, iterations;
    float epsilon, step;  /* L-infinity only */
} attack_set_plan;

enum { DEMO_MAX_SETS = 3 };


typedef struct demo_settings {
    const char *mode;
    /* surrogate: the level-b attacker's own Student, from other images */
    model_plan teacher, student, surrogate;
    model_plan patched; /* the baseline of Wang et al. (dg patch) */
    guard_plan guard, surrogate_guard; /* the defender's, level b's */
    attack_set_plan attacks[DEMO_MAX_SETS];
    uint32_t n_attacks;
    uint32_t clean_per_class; /* clean test images per class; 0: all */
    levels_plan levels;
} demo_settings;

/* The defaults of dg train and dg transfer; measured in doc/training.md. */
static const demo_settings full_settings = {
    .mode = "full",
    .teacher = {0, 0, SCRATCH_EPOCHS, 64, "adam", SCRATCH_LR,
                SCRATCH_SCHEDULE},
    .student = {500, 0, HEAD_EPOCHS, 64, "adam", HEAD_LR,
                HEAD_SCHEDULE},
    .surrogate = {500, 500, HEAD_EPOCHS, 64, "adam", HEAD_LR,
                  HEAD_SCHEDULE},
    .patched = {500, 0, PATCH_EPOCHS, 64, "adam", PATCH_LR,
                PATCH_SCHEDULE, true},
    .guard = {0, 0, 0},
    .surrogate_guard = {0, 0, 0},
    /* The strong attack (>= 80% targeted success on the undefended
     * Student, doc/attack.md) and its L-infinity form, whose larger but
     * uniform perturbation drags earlier features along. */
    .attacks = {{"targeted", DG_ATTACK_MIMIC_DSSIM, true, 200, 1000, 0, 0},
                {"untargeted", DG_ATTACK_MIMIC_DSSIM, false, 100, 1000, 0, 0},
                {"targeted_linf", DG_ATTACK_MIMIC_LINF, true, 200, 200, 0.2f,
                 0.02f}},
    .n_attacks = 3,
    .clean_per_class = 0,
    /* Levels b and c weigh the members' loss 3: on the full demo's
     * models (40 white-box attempts, 2 members drawn per step) it let the
     * guard stop 21% at L-infinity 0.1 and 0% at DSSIM 0.01, against 33%
     * and 3% with weight 1, at the same ASR.  The iterations are cut to
     * fit the demo's time (doc/EVALUATION.md, "Threat levels"). */
    .levels = {.count = 100, .linf_iterations = 100, .dssim_iterations = 150,
               .sweep_epsilon = 0.2f,
               .linf_budgets = {0.05f, 0.1f, 0.2f}, .n_linf = 3,
               .dssim_budgets = {0.003f, 0.01f, 0.03f}, .n_dssim = 3,
               .adaptive_weight = 3, .draw = 2},
};

/* A few minutes on two cores, for CI. */
static const demo_settings quick_settings = {
    .mode = "quick",
    .teacher = {1200, 0, 1, 64, "adam", SCRATCH_LR, SCRATCH_SCHEDULE},
    .student = {500, 0, 10, 64, "adam", HEAD_LR, HEAD_SCHEDULE},
    .surrogate = {500, 500, 10, 64, "adam", HEAD_LR, HEAD_SCHEDULE},
    /* Two epochs: CAP 200 and 400, enough to show the row's form. */
    .patched = {500, 0, 2, 64, "adam", PATCH_LR, PATCH_SCHEDULE, true},
    .guard = {3, 1, 30},
    /* Smaller than the defender's, to keep the CI test short. */
    .surrogate_guard = {2, 1, 10},
    .attacks = {{"targeted", DG_ATTACK_MIMIC_DSSIM, true, 20, 200, 0, 0},
                {"untargeted", DG_ATTACK_MIMIC_DSSIM, false, 20, 200, 0, 0}},
    .n_attacks = 2,
    .clean_per_class = 100,
    .levels = {.count = 20, .linf_iterations = 50, .dssim_iterations = 50,
               .sweep_epsilon = 0.2f,
               .linf_budgets = {0.1f, 0.2f}, .n_linf = 2,
               .dssim_budgets = {0.01f}, .n_dssim = 1,
               .adaptive_weight = 3, .draw = 2},
};

/* One model of the pipeline and how this run obtained it. */
typedef struct demo_model {
    const char *name;         /* files are DIR/NAME.dgm and DIR/NAME.ckpt */
    const char *architecture; /* for the report */
    const model_plan *plan;
    const char *classes;      /* the Fashion-MNIST classes it learns */
    dg_model *model;
    bool reused;              /* loaded from an earlier run's file */
    train_outcome training;   /* when trained by this run */
    evaluation test;
    double test_seconds;
} demo_model;

typedef struct demo {
    const demo_scenario *scenario;
    const demo_settings *settings;
    uint64_t seed;
    demo_out out;
    bool json;
    double start;
    demo_model teacher, student, surrogate, patched;
    dg_guard *guard, *surrogate_guard;
    bool guard_reused, surrogate_guard_reused;
    double guard_seconds, surrogate_guard_seconds;
    dg_advset *sets[DEMO_MAX_SETS];
    eval_view eval;
    demo_levels levels;
} demo;

typedef struct demo_stage {
    const char *name;
    int (*run)(demo *d);
} demo_stage;

/* Writes DIR/NAME with `write`, reporting any failure. */
static int write_out_file(const demo *d, const char *name,
                          void (*write)(const demo *, FILE *))
{
    char path[4096];
    int rc = demo_path(&d->out, name, path, sizeof path);
    if (rc != CLI_EXIT_OK) return rc;
    FILE *f = fopen(path, "w");
    if (!f) return cli_error("cannot write %s: %s", path, strerror(errno));
    write(d, f);
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0) failed = true;
    return failed ? cli_error("writing %s failed", path) : CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* Settings                                                                 */
/* ------------------------------------------------------------------------ */

/* A guard's build options: the library's defaults and the plan. */
static void guard_options(const demo *d, const guard_plan *g,
                          dg_guard_opts *o)
{
    dg_guard_opts_init(o, sizeof *o);
    if (g->variants) o->variants = g->variants;
    if (o->members > o->variants) o->members = o->variants;
    if (g->epochs) o->epochs = g->epochs;
    if (g->harden_iterations) o->harden_iterations = g->harden_iterations;
    o->seed = d->seed;
}

static void json_plan(json_writer *w, const demo_model *m)
{
    const model_plan *p = m->plan;
    json_begin_object(w);
    json_put_string(w, "architecture", m->architecture);
    json_put_string(w, "classes", m->classes);
    json_key(w, "per_class");
    if (p->per_class)
        json_int(w, p->per_class);
    else
        json_string(w, "all");
    if (p->skip_per_class)
        json_put_int(w, "skip_per_class", p->skip_per_class);
    json_put_int(w, "epochs", p->epochs);
    json_put_int(w, "batch", p->batch);
    json_put_string(w, "optimizer", p->optimizer);
    json_put_number(w, "learning_rate", p->learning_rate);
    json_put_string(w, "schedule", p->schedule);
    json_end_object(w);
}

static void json_guard_plan(json_writer *w, const demo *d,
                            const guard_plan *plan)
{
    dg_guard_opts g;
    guard_options(d, plan, &g);
    json_begin_object(w);
    json_put_int(w, "variants", g.variants);
    json_put_int(w, "members", g.members);
    json_put_int(w, "epochs", g.epochs);
    json_put_int(w, "prune_layer", g.prune_layers[0]);
    json_put_string(w, "rule", cli_rule_name(g.rule));
    json_put_number(w, "target_frr", g.target_frr);
    json_put_bool(w, "harden", g.harden != 0);
    json_put_int(w, "harden_iterations", g.harden_iterations);
    json_end_object(w);
}

static void json_settings(json_writer *w, const demo *d)
{
    json_begin_object(w);
    json_put_string(w, "scenario", d->scenario->name);
    json_put_string(w, "mode", d->settings->mode);
    json_put_int(w, "seed", (int64_t)d->seed);
    json_key(w, "teacher");
    json_plan(w, &d->teacher);
    json_key(w, "student");
    json_plan(w, &d->student);
    json_key(w, "surrogate_student");
    json_plan(w, &d->surrogate);
    json_key(w, "patched_student");
    json_plan(w, &d->patched);
    json_key(w, "guard");
    json_guard_plan(w, d, &d->settings->guard);
    json_key(w, "surrogate_guard");
    json_guard_plan(w, d, &d->settings->surrogate_guard);
    json_key(w, "attacks");
    json_begin_array(w);
    for (uint32_t k = 0; k < d->settings->n_attacks; k++) {
        const attack_set_plan *a = &d->settings->attacks[k];
        json_begin_object(w);
        json_put_string(w, "name", a->name);
        json_put_string(w, "method",
                        a->method == DG_ATTACK_MIMIC_LINF ? "linf" : "dssim");
        json_put_bool(w, "targeted", a->targeted);
        json_put_int(w, "count", a->count);
        json_put_int(w, "iterations", a->iterations);
        if (a->method == DG_ATTACK_MIMIC_LINF)
            json_put_number(w, "epsilon", a->epsilon);
        json_end_object(w);
    }
    json_end_array(w);
    json_put_int(w, "clean_per_class", d->settings->clean_per_class);
    json_key(w, "levels");
    levels_json_settings(w, &d->settings->levels);
    json_end_object(w);
}

static void write_settings(const demo *d, FILE *out)
{
    json_writer w;
    json_init(&w, out);
    json_settings(&w, d);
}

/* The settings as text, malloc'ed. */
static char *settings_text(const demo *d)
{
    char *text = NULL;
    size_t size;
    FILE *f = open_memstream(&text, &size);
    if (!f) return NULL;
    write_settings(d, f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Makes the output folder, or checks that the files in it were made with
 * the same settings: reusing them otherwise would mix two experiments. */
static int prepare_out_dir(demo *d)
{
    if (mkdir(d->out.dir, 0777) != 0 && errno != EEXIST)
        return cli_error("cannot create the folder %s: %s", d->out.dir,
                         strerror(errno));
    char path[4096];
    int rc = demo_path(&d->out, "settings.json", path, sizeof path);
    if (rc != CLI_EXIT_OK) return rc;
    FILE *f = fopen(path, "r");
    if (!f) return write_out_file(d, "settings.json", write_settings);
    char *want = settings_text(d);
    size_t want_len = want ? strlen(want) : 0;
    char *have = malloc(want_len + 2);
    size_t have_len = have ? fread(have, 1, want_len + 1, f) : 0;
    fclose(f);
    if (!want || !have) rc = cli_error("out of memory");
    else if (have_len != want_len || memcmp(have, want, want_len) != 0)
        rc = cli_error("%s holds a demo made with other settings (see %s); "
                       "remove it or choose another --out",
                       d->out.dir, path);
    free(want);
    free(have);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Model stages                                                             */
/* ------------------------------------------------------------------------ */

/* Loads DIR/NAME.dgm if an earlier run finished it. */
static void reuse_model(demo *d, demo_model *m, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return;
    if (dg_model_load_file(path, &m->model) != DG_OK) {
        demo_note(&d->out, "%s: %s does not load; training again", m->name,
                  path);
        return;
    }
    m->reused = true;
    demo_note(&d->out, "%s: reusing %s", m->name, path);
}

/* Trains a freshly built model on its plan's classes and saves it. */
static int train_model(demo *d, demo_model *m, const char *path)
{
    const model_plan *p = m->plan;
    char name[256], checkpoint[4096];
    class_data data = {0};
    dg_train_opts opts;
    dg_status st = dg_train_opts_init(&opts, sizeof opts);
    if (st != DG_OK) return cli_fail(st, "preparing the training options");
    opts.epochs = p->epochs;
    opts.batch_size = p->batch;
    opts.optimizer = optimizer_from_name(p->optimizer);
    opts.learning_rate = (float)p->learning_rate;
    opts.schedule = schedule_from_name(p->schedule);
    opts.seed = d->seed;
    opts.checkpoint_path = checkpoint;
    if (p->patch) opts.patch_teacher = d->teacher.model;

    snprintf(name, sizeof name, "%s.ckpt", m->name);
    int rc = demo_path(&d->out, name, checkpoint, sizeof checkpoint);
    if (rc == CLI_EXIT_OK) rc = data_open("fmnist:train", fmnist_shape, m->classes,
                   p->skip_per_class, p->per_class, &data);
    if (rc == CLI_EXIT_OK) rc = name_classes(m->model, &data, NULL);
    if (rc == CLI_EXIT_OK) {
        uint32_t n = 0;
        dg_dataset_count(data.samples, &n);
        demo_note(&d->out,
                  "%s: training on %u images of classes %s, %u epoch%s",
                  m->name, n, m->classes, p->epochs,
                  p->epochs == 1 ? "" : "s");
        rc = train_run(m->model, data.samples, &opts, path, &m->training);
    }
    data_free(&data);
    return rc;
}

static int test_model(demo *d, demo_model *m)
{
    class_data data = {0};
    int rc = data_open("fmnist:test", fmnist_shape, m->classes, 0, 0,
                       &data);
    double start = monotonic_seconds();
    if (rc == CLI_EXIT_OK)
        rc = evaluate_model(m->model, data.samples, "fmnist:test", &m->test);
    m->test_seconds = monotonic_seconds() - start;
    if (rc == CLI_EXIT_OK)
        demo_note(&d->out, "%s: test accuracy %.2f%% (%u of %u)", m->name,
                  100 * evaluation_accuracy(&m->test), m->test.correct,
                  m->test.total);
    data_free(&data);
    return rc;
}

/* Reuses the model's file or builds, trains and saves it; then tests it. */
static int obtain_model(demo *d, demo_model *m,
                        dg_status (*build)(const demo *, dg_model **))
{
    char path[4096], file[256];
    snprintf(file, sizeof file, "%s.dgm", m->name);
    int rc = demo_path(&d->out, file, path, sizeof path);
    if (rc != CLI_EXIT_OK) return rc;
    reuse_model(d, m, path);
    if (!m->reused) {
        dg_status st = build(d, &m->model);
        if (st != DG_OK) return cli_fail(st, "building the %s", m->name);
        rc = train_model(d, m, path);
    }
    return rc == CLI_EXIT_OK ? test_model(d, m) : rc;
}

static dg_status build_teacher(const demo *d, dg_model **out)
{
    return dg_model_create(DG_ARCH_FMNIST_TEACHER, fmnist_shape[0],
                           fmnist_shape[1], fmnist_shape[2], d->seed, out);
}

static dg_status build_student(const demo *d, dg_model **out)
{
    return dg_model_transfer(d->teacher.model, STUDENT_CUT, STUDENT_HEAD,
                             d->seed, out);
}

static int stage_teacher(demo *d)
{
    return obtain_model(d, &d->teacher, build_teacher);
}

static int stage_student(demo *d)
{
    return obtain_model(d, &d->student, build_student);
}

/* The patch starts from the Student as the student stage saved it. */
static dg_status build_patched(const demo *d, dg_model **out)
{
    char path[4096];
    if (demo_path(&d->out, "student.dgm", path, sizeof path) != CLI_EXIT_OK)
        return DG_E_INVALID_ARG;
    return dg_model_load_file(path, out);
}

static int stage_patched(demo *d)
{
    return obtain_model(d, &d->patched, build_patched);
}

/* The level-b attacker's Student: made like the defender's, from other
 * images and with other initial weights. */
static dg_status build_surrogate(const demo *d, dg_model **out)
{
    return dg_model_transfer(d->teacher.model, STUDENT_CUT, STUDENT_HEAD,
                             d->seed + 1, out);
}

static int stage_surrogate(demo *d)
{
    return obtain_model(d, &d->surrogate, build_surrogate);
}

/* ------------------------------------------------------------------------ */
/* Defence stages                                                           */
/* ------------------------------------------------------------------------ */

/* Loads DIR/NAME.dg if an earlier run finished it, else builds it with the
 * demo's guard settings from the student's own training images. */
static int obtain_guard(demo *d, const char *name, const guard_plan *plan,
                        const demo_model *student, uint64_t seed,
                        dg_guard **guard, bool *reused, double *seconds)
{
    char path[4096], work[4096], file[256];
    snprintf(file, sizeof file, "%s.dg", name);
    int rc = demo_path(&d->out, file, path, sizeof path);
    snprintf(file, sizeof file, "%s.work", name);
    if (rc == CLI_EXIT_OK) rc = demo_path(&d->out, file, work, sizeof work);
    if (rc != CLI_EXIT_OK) return rc;
    struct stat st;
    if (stat(path, &st) == 0) {
        if (dg_guard_load_file(path, student->model, guard) == DG_OK) {
            *reused = true;
            demo_note(&d->out, "%s: reusing %s", name, path);
            return CLI_EXIT_OK;
        }
        demo_note(&d->out, "%s: %s does not load; building again", name,
                  path);
    }
    const model_plan *p = student->plan;
    dg_guard_opts o;
    guard_options(d, plan, &o);
    o.seed = seed;
    o.work_dir = work;
    class_data data = {0};
    rc = data_open("fmnist:train", fmnist_shape, student->classes,
                   p->skip_per_class, p->per_class, &data);
    if (rc == CLI_EXIT_OK) {
        demo_note(&d->out, "%s: %u differentiators per class, %u epoch%s each",
                  name, o.variants, o.epochs, o.epochs == 1 ? "" : "s");
        rc = guard_build_file(&o, student->model, data.samples, NULL, path,
                              guard, seconds);
    }
    data_free(&data);
    return rc;
}

static int stage_guard(demo *d)
{
    return obtain_guard(d, "guard", &d->settings->guard, &d->student,
                        d->seed, &d->guard, &d->guard_reused,
                        &d->guard_seconds);
}

/* The level-b attacker's guard for their Student, with their own seed. */
static int stage_surrogate_guard(demo *d)
{
    return obtain_guard(d, "surrogate-guard", &d->settings->surrogate_guard,
                        &d->surrogate, d->seed + 1, &d->surrogate_guard,
                        &d->surrogate_guard_reused,
                        &d->surrogate_guard_seconds);
}

/* Every threat level's sets (demo_levels.c). */
static int stage_levels(demo *d)
{
    d->levels = (demo_levels){
        .plan = &d->settings->levels,
        .in = {.out = d->out, .seed = d->seed,
               .teacher = d->teacher.model,
               .classes = d->student.classes,
               .surrogate_skip = d->surrogate.plan->skip_per_class,
               .surrogate_per_class = d->surrogate.plan->per_class},
    };
    return levels_attack(&d->levels);
}

/* Attacks the test split as the plan says, writing DIR/attack-NAME.dgadv
 * and example images in DIR/examples-NAME. */
static int obtain_set(demo *d, const attack_set_plan *a, uint64_t seed,
                      dg_advset **out)
{
    char examples[4096], name[256], doing[256];
    snprintf(name, sizeof name, "examples-%s", a->name);
    int rc = demo_path(&d->out, name, examples, sizeof examples);
    if (rc != CLI_EXIT_OK) return rc;
    attack_plan p = {
        .classes = d->student.classes,
        .examples_dir = examples,
        .count = a->count,
        .n_examples = 8,
    };
    dg_status st = dg_attack_opts_init(&p.opts, sizeof p.opts,
                                       DG_ATTACK_PRESET_STRONG);
    if (st != DG_OK) return cli_fail(st, "attack options");
    p.opts.method = a->method;
    p.opts.targeted = a->targeted;
    p.opts.iterations = a->iterations;
    p.opts.seed = seed;
    if (a->method == DG_ATTACK_MIMIC_LINF) {
        p.opts.epsilon = a->epsilon;
        p.opts.step = a->step;
    }
    snprintf(doing, sizeof doing,
             "attack %s: %u attempts on test images, %u iterations", a->name,
             a->count, a->iterations);
    return demo_obtain_set(&d->out, a->name, &p, doing, out);
}

static int stage_attack(demo *d)
{
    int rc = CLI_EXIT_OK;
    for (uint32_t k = 0; rc == CLI_EXIT_OK && k < d->settings->n_attacks;
         k++) {
        rc = obtain_set(d, &d->settings->attacks[k], d->seed + k,
                        &d->sets[k]);
        if (rc == CLI_EXIT_OK && cli_interrupted())
            rc = cli_error("interrupted");
    }
    return rc;
}

/* The guard and the baselines on the clean test split and every set;
 * the charts go to DIR. */
static int stage_eval(demo *d)
{
    class_data clean = {0};
    const char *names[DEMO_MAX_SETS];
    const dg_advset *sets[DEMO_MAX_SETS];
    for (uint32_t k = 0; k < d->settings->n_attacks; k++) {
        names[k] = d->settings->attacks[k].name;
        sets[k] = d->sets[k];
    }
    int rc = data_open("fmnist:test", fmnist_shape, d->student.classes,
                       0, d->settings->clean_per_class, &clean);
    if (rc == CLI_EXIT_OK) {
        dg_eval_opts o;
        dg_eval_opts_init(&o, sizeof o);
        o.patched_student = d->patched.model;
        demo_note(&d->out, "eval: the guard and the baselines on clean test "
                           "images and %u adversarial sets",
                  d->settings->n_attacks);
        rc = eval_view_run(d->guard, clean.samples, sets, names,
                           d->settings->n_attacks, &o, &d->eval);
    }
    if (rc == CLI_EXIT_OK) rc = eval_write_charts(&d->eval, d->out.dir);
    if (rc == CLI_EXIT_OK)
        rc = levels_eval(&d->levels, d->guard, clean.samples,
                         d->patched.model);
    data_free(&clean);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Report                                                                   */
/* ------------------------------------------------------------------------ */

static void json_model(json_writer *w, const demo_model *m)
{
    const train_outcome *t = &m->training;
    json_begin_object(w);
    json_put_number(w, "test_accuracy", evaluation_accuracy(&m->test));
    json_put_int(w, "test_correct", m->test.correct);
    json_put_int(w, "test_samples", m->test.total);
    json_put_number(w, "test_seconds", m->test_seconds);
    json_put_bool(w, "reused", m->reused);
    if (!m->reused) {
        bool trained = t->report.epochs_run > 0;
        json_put_int(w, "train_samples", t->samples);
        json_put_int(w, "resumed_epoch", t->report.resumed_epoch);
        json_put_number(w, "final_loss", trained ? t->report.last_loss : NAN);
        json_put_number(w, "train_accuracy",
                        trained ? t->report.last_accuracy : NAN);
        json_put_number(w, "train_seconds", t->seconds);
        json_put_number(w, "images_per_second", train_images_per_second(t));
    }
    json_key(w, "settings");
    json_plan(w, m);
    json_end_object(w);
}

static void json_guard(json_writer *w, bool reused, double seconds)
{
    json_begin_object(w);
    json_put_bool(w, "reused", reused);
    json_put_number(w, "build_seconds", reused ? NAN : seconds);
    json_end_object(w);
}

static void write_report_json(const demo *d, FILE *out)
{
    json_writer w;
    json_init(&w, out);
    json_begin_object(&w);
    json_put_string(&w, "scenario", d->scenario->name);
    json_put_string(&w, "mode", d->settings->mode);
    json_put_int(&w, "seed", (int64_t)d->seed);
    json_key(&w, "teacher");
    json_model(&w, &d->teacher);
    json_key(&w, "student");
    json_model(&w, &d->student);
    json_key(&w, "surrogate_student");
    json_model(&w, &d->surrogate);
    json_key(&w, "patched_student");
    json_model(&w, &d->patched);
    json_key(&w, "guard");
    json_guard(&w, d->guard_reused, d->guard_seconds);
    json_key(&w, "surrogate_guard");
    json_guard(&w, d->surrogate_guard_reused, d->surrogate_guard_seconds);
    eval_write_json_with(&w, &d->eval, levels_json, &d->levels);
    json_put_number(&w, "seconds", monotonic_seconds() - d->start);
    json_end_object(&w);
}

/* "500", or "all" when the plan takes every image of its classes. */
static void format_per_class(const model_plan *p, char *buf, size_t size)
{
    if (p->per_class)
        snprintf(buf, size, "%u", p->per_class);
    else
        snprintf(buf, size, "all");
}

/* "123.4 s", or "reused" for a model an earlier run trained. */
static void format_training_time(const demo_model *m, char *buf, size_t size)
{
    if (m->reused)
        snprintf(buf, size, "reused");
    else
        snprintf(buf, size, "%.1f s", m->training.seconds);
}

static void md_model_row(FILE *out, const demo_model *m)
{
    const model_plan *p = m->plan;
    char time_text[32], per_class[16];
    format_training_time(m, time_text, sizeof time_text);
    format_per_class(p, per_class, sizeof per_class);
    fprintf(out, "| %s | %s | %s | %u | %u | %s %g | %s | %s | %.2f%% "
                 "(%u of %u) |\n",
            m->name, m->classes, per_class, p->epochs, p->batch,
            p->optimizer, p->learning_rate, p->schedule, time_text,
            100 * evaluation_accuracy(&m->test), m->test.correct,
            m->test.total);
}

static void write_report_md(const demo *d, FILE *out)
{
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(out, "# dg demo: %s (%s)\n\n", d->scenario->name,
            d->settings->mode);
    fprintf(out, "Fashion-MNIST: the Teacher learns classes %s, the Student "
                 "is made from it by\ntransfer learning and learns classes "
                 "%s.  Test accuracy is measured on the\nt10k split of "
                 "the same classes.\n\n",
            d->scenario->teacher_classes, d->scenario->student_classes);
    fprintf(out, "| model | classes | images per class | epochs | batch | "
                 "optimizer | schedule | training time | test accuracy |\n");
    fprintf(out, "|---|---|---|---|---|---|---|---|---|\n");
    md_model_row(out, &d->teacher);
    md_model_row(out, &d->student);
    md_model_row(out, &d->surrogate);
    md_model_row(out, &d->patched);
    fprintf(out, "\n- Teacher architecture: `%s`\n", d->teacher.architecture);
    fprintf(out, "- Student: %s\n", d->student.architecture);
    fprintf(out, "- surrogate-student: the level-b attacker's own Student, "
                 "made the same way from\n  images %u to %u of each class "
                 "(doc/EVALUATION.md, \"Threat levels\")\n",
            d->surrogate.plan->skip_per_class,
            d->surrogate.plan->skip_per_class +
                d->surrogate.plan->per_class - 1);
    fprintf(out, "- Seed %llu; %s; total time %.1f s\n",
            (unsigned long long)d->seed, date, monotonic_seconds() - d->start);
    fprintf(out, "\n## Defence\n\nThe guard (%s), attacks on test images "
                 "of the Student's classes\n(%s/attack-*.dgadv, examples in "
                 "examples-*), and the baselines on the\nsame inputs "
                 "(doc/EVALUATION.md defines each number).\n\n",
            d->guard_reused ? "reused" : "built by this run", d->out.dir);
    eval_write_markdown(out, &d->eval);
    fprintf(out, "\n![defence rate](defence-vs-members.png)\n"
                 "![cost](cost-vs-members.png)\n");
    for (uint32_t k = 0; k < d->settings->n_attacks; k++)
        fprintf(out, "![ROC %s](roc-%s.png)\n", d->settings->attacks[k].name,
                d->settings->attacks[k].name);
    levels_markdown(out, &d->levels);
}

static int print_summary(const demo *d)
{
    cli_table t;
    table_init(&t, "llrrll",
               (const char *const[]){"model", "classes", "epochs",
                                     "per class", "training",
                                     "test accuracy"});
    const demo_model *models[] = {&d->teacher, &d->student, &d->surrogate,
                                  &d->patched};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        const demo_model *m = models[i];
        char time_text[32], per_class[16];
        format_training_time(m, time_text, sizeof time_text);
        format_per_class(m->plan, per_class, sizeof per_class);
        table_cell(&t, "%s", m->name);
        table_cell(&t, "%s", m->classes);
        table_cell(&t, "%u", m->plan->epochs);
        table_cell(&t, "%s", per_class);
        table_cell(&t, "%s", time_text);
        table_cell(&t, "%.2f%%", 100 * evaluation_accuracy(&m->test));
    }
    int rc = table_print(&t, stdout, 0);
    if (rc == CLI_EXIT_OK) {
        printf("\n");
        rc = eval_print_table(stdout, &d->eval);
    }
    if (rc == CLI_EXIT_OK) rc = levels_print(stdout, &d->levels);
    if (rc == CLI_EXIT_OK)
        printf("\nreport: %s/report.md and %s/report.json\n", d->out.dir,
               d->out.dir);
    return rc;
}

static int stage_report(demo *d)
{
    int rc = write_out_file(d, "report.json", write_report_json);
    if (rc == CLI_EXIT_OK)
        rc = write_out_file(d, "report.md", write_report_md);
    if (rc != CLI_EXIT_OK) return rc;
    if (!d->json) return print_summary(d);
    write_report_json(d, stdout);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* The pipeline                                                             */
/* ------------------------------------------------------------------------ */

/* In order; later stages read what earlier ones left in `demo`.  New
 * stages go before "report", which writes what all of them measured. */
static const demo_stage stages[] = {
    {"teacher", stage_teacher},
    {"student", stage_student},
    {"patched student", stage_patched},
    {"guard", stage_guard},
    {"attack", stage_attack},
    {"surrogate student", stage_surrogate},
    {"surrogate guard", stage_surrogate_guard},
    {"levels", stage_levels},
    {"eval", stage_eval},
    {"report", stage_report},
};

/* --scenario: one of `scenarios`, the first by default. */
static int read_scenario(const cli_args *args, const demo_scenario **out)
{
    const char *name = cli_value(args, "scenario");
    enum { N = sizeof scenarios / sizeof scenarios[0] };
    for (size_t i = 0; i < N; i++)
        if (!name || strcmp(name, scenarios[i].name) == 0) {
            *out = &scenarios[i];
            return CLI_EXIT_OK;
        }
    return cli_usage_error("--scenario must be %s or %s, not %s",
                           scenarios[0].name, scenarios[1].name, name);
}

static int run_demo(const cli_args *args)
{
    long seed;
    const demo_scenario *scenario = NULL;
    int rc = cli_long(args, "seed", 1, 0, INT32_MAX, &seed);
    if (rc == CLI_EXIT_OK) rc = read_scenario(args, &scenario);
    if (rc != CLI_EXIT_OK) return rc;
    const char *out_dir = cli_value(args, "out");
    demo d = {
        .scenario = scenario,
        .settings = cli_flag(args, "quick") ? &quick_settings : &full_settings,
        .seed = (uint64_t)seed,
        .out = {out_dir ? out_dir : "dg-demo", cli_flag(args, "quiet")},
        .json = cli_flag(args, "json"),
        .start = monotonic_seconds(),
        .teacher = {.name = "teacher",
                    .architecture = DG_ARCH_FMNIST_TEACHER},
        .student = {.name = "student",
                    .architecture = "the teacher's layers through the last "
                                    "hidden one, frozen, and a new "
                                    STUDENT_HEAD " head"},
        .surrogate = {.name = "surrogate-student",
                      .architecture = "as the student"},
        .patched = {.name = "patched-student",
                    .architecture = "the student, every layer fine-tuned "
                                    "by Wang et al.'s patch"},
    };
    d.teacher.plan = &d.settings->teacher;
    d.student.plan = &d.settings->student;
    d.surrogate.plan = &d.settings->surrogate;
    d.patched.plan = &d.settings->patched;
    d.teacher.classes = scenario->teacher_classes;
    d.student.classes = d.surrogate.classes = d.patched.classes =
        scenario->student_classes;

    rc = prepare_out_dir(&d);
    for (size_t i = 0; rc == CLI_EXIT_OK && i < sizeof stages / sizeof *stages;
         i++) {
        if (cli_interrupted())
            rc = cli_error("interrupted before the %s stage; run the same "
                           "command again to continue",
                           stages[i].name);
        else
            rc = stages[i].run(&d);
    }
    eval_view_free(&d.eval);
    levels_free(&d.levels);
    for (uint32_t k = 0; k < DEMO_MAX_SETS; k++) dg_advset_free(d.sets[k]);
    dg_guard_free(d.guard);
    dg_guard_free(d.surrogate_guard);
    demo_model *models[] = {&d.teacher, &d.student, &d.surrogate,
                            &d.patched};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        dg_model_free(models[i]->model);
        evaluation_free(&models[i]->test);
    }
    return rc;
}

static const cli_option demo_options[] = {
    {"quick", 0, NULL, "small settings that finish in a few minutes, for "
                       "CI"},
    {"out", 'o', "DIR", "folder for the models and the report (default "
                        "dg-demo)"},
    {"seed", 0, "S", "initial weights and shuffling (default 1)"},
    {"scenario", 0, "NAME", "fmnist-split (default): Teacher on classes "
                            "0-4, Student on 5-9; fmnist-swap: the other "
                            "way round"},
    CLI_OPTION_JSON,
    CLI_OPTION_QUIET,
    CLI_OPTIONS_END,
};

const cli_command cmd_demo = {
    .name = "demo",
    .summary = "Run the pipeline on an embedded Fashion-MNIST scenario",
    .synopsis = "",
    .description =
        "Scenario fmnist-split: a Teacher learns Fashion-MNIST classes 0-4 "
        "(all 30000\ntraining images), a Student made by transfer learning "
        "learns classes 5-9 (500\nimages per class); both are tested on the "
        "t10k split.  fmnist-swap exchanges\nthe two halves.  Then a guard "
        "is built for the Student, the strong mimicry\nattack crafts "
        "targeted and untargeted adversarial images from test images,\nand "
        "dg eval's measurements judge the guard and the baselines on them.  "
        "Then\nevery threat level of doc/EVALUATION.md attacks it: (a) "
        "mimicry at each Teacher\nlayer, (b) an attacker's own surrogate "
        "Student and guard built from other\ntraining images, (c) the real "
        "guard's members, (b) and (c) over L-infinity\nand DSSIM budgets.  "
        "Writes DIR/teacher.dgm, DIR/student.dgm, DIR/guard.dg,\n"
        "DIR/surrogate-*, DIR/attack-*.dgadv, charts, DIR/report.json and "
        "DIR/report.md.\nFinished stages are reused and training resumes "
        "from checkpoints, so an\ninterrupted demo continues when run "
        "again.",
    .options = demo_options,
    .min_args = 0,
    .max_args = 0,
    .run = run_demo,
};
