/* cmd_demo.c - `dg demo`: the library's demonstration scenario
 * (dg_scenario_*, lib/scenario) on Fashion-MNIST: a Teacher learns some
 * classes, a Student made from it by transfer learning the others, both
 * are measured on the test split, and a guard for the Student is built,
 * attacked and evaluated with the baselines, then attacked at every
 * threat level (demo_levels.c).  The command runs the scenario's stages
 * with progress bars, Ctrl-C stopping the one in progress (the same
 * command continues it), then writes the examples, charts and reports. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attack_run.h"
#include "cli.h"
#include "commands.h"
#include "demo_levels.h"
#include "eval.h"
#include "guard_build.h"
#include "train_common.h"

/* --scenario's choices; the first is the default. */
static const char *const scenario_names[] = {"fmnist-split", "fmnist-swap"};

/* Images of each attack set shown in DIR/examples-NAME. */
enum { DEMO_EXAMPLES = 8 };

/* The bars and notes of the stage that runs. */
typedef struct demo_progress {
    int32_t kind;         /* DG_STAGE_* */
    bool quiet;
    train_progress train; /* DG_STAGE_MODEL */
    build_progress build; /* DG_STAGE_GUARD */
    bool started;         /* other stages: a bar is on */
} demo_progress;

typedef struct demo {
    dg_scenario *scenario;
    dg_scenario_info info;
    dg_scenario_model models[4];  /* teacher, student, surrogate, patched */
    dg_scenario_guard guards[2];  /* the guard, the surrogate guard */
    dg_scenario_set *sets;        /* the attack stage's: info.sets */
    bool json;
    double start;
    demo_progress progress;
    eval_view eval;
    demo_levels levels;
} demo;

/* ------------------------------------------------------------------------ */
/* Running the stages                                                       */
/* ------------------------------------------------------------------------ */

static int on_progress(void *user, const char *stage, uint64_t done,
                       uint64_t total, double metric)
{
    demo_progress *p = user;
    if (p->kind == DG_STAGE_MODEL)
        return train_progress_report(&p->train, stage, done, total, metric);
    if (p->kind == DG_STAGE_GUARD)
        return build_progress_report(&p->build, stage, done, total, metric);
    return progress_callback(&p->started, stage, done, total, metric);
}

/* A note ends the bar before it: the work it announces gets its own. */
static void on_note(void *user, const char *text)
{
    demo_progress *p = user;
    progress_finish();
    p->started = false;
    if (!p->quiet) fprintf(stderr, "%s\n", text);
}

/* What the stages so far found: the cut, the sets, the test images. */
static int read_info(demo *d)
{
    d->info.struct_size = sizeof d->info;
    dg_status st = dg_scenario_get_info(d->scenario, &d->info);
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "reading the scenario");
}

static int read_model(demo *d, uint32_t k)
{
    d->models[k].struct_size = sizeof d->models[k];
    dg_status st = dg_scenario_get_model(d->scenario, k, &d->models[k]);
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "reading model %u", k);
}

static int read_guard(demo *d, uint32_t k)
{
    d->guards[k].struct_size = sizeof d->guards[k];
    dg_status st = dg_scenario_get_guard(d->scenario, k, &d->guards[k]);
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "reading guard %u", k);
}

/* Example images of each set the attack stage made (not of reused ones). */
static int write_examples(demo *d)
{
    d->sets = calloc(d->info.sets + 1, sizeof *d->sets);
    if (!d->sets) return cli_error("out of memory");
    int rc = CLI_EXIT_OK;
    for (uint32_t k = 0; rc == CLI_EXIT_OK && k < d->info.sets; k++) {
        dg_scenario_set *s = &d->sets[k];
        s->struct_size = sizeof *s;
        dg_status st = dg_scenario_get_set(d->scenario, k, s);
        if (st != DG_OK) return cli_fail(st, "reading set %u", k);
        char file[64], dir[4096];
        snprintf(file, sizeof file, "examples-%s", s->name);
        rc = demo_path(d->info.dir, file, dir, sizeof dir);
        attack_examples x = {s->set, d->info.test_data, s->target_index, dir,
                             DEMO_EXAMPLES};
        if (rc == CLI_EXIT_OK && s->target_index)
            rc = attack_write_examples(&x);
    }
    return rc;
}

/* The guard and the baselines on the attack stage's sets: read, with its
 * charts in the folder; then the level sets'. */
static int read_eval(demo *d)
{
    const dg_advset **sets = calloc(d->info.sets + 1, sizeof *sets);
    if (!sets) return cli_error("out of memory");
    for (uint32_t k = 0; k < d->info.sets; k++) sets[k] = d->sets[k].set;
    const dg_eval *e;
    dg_status st = dg_scenario_get_eval(d->scenario, 0, &e);
    int rc = st == DG_OK ? eval_view_read(e, sets, &d->eval)
                         : cli_fail(st, "reading the evaluation");
    free(sets);
    if (rc == CLI_EXIT_OK) rc = eval_write_charts(&d->eval, d->info.dir);
    if (rc == CLI_EXIT_OK)
        rc = levels_read(&d->levels, d->scenario, &d->info,
                         d->progress.quiet);
    return rc;
}

/* Runs the next stage with its bars, then reads or writes what it made. */
static int run_stage(demo *d, const dg_scenario_stage *stage)
{
    demo_progress *p = &d->progress;
    p->kind = stage->kind;
    p->train = (train_progress){
        .epochs = d->models[stage->index].epochs,
        .checkpoint = d->models[stage->index].checkpoint};
    p->build = (build_progress){.work_dir = d->guards[stage->index].work_dir};
    p->started = false;
    dg_status st = dg_scenario_run_stage(d->scenario);
    progress_finish();
    if (st == DG_E_CANCELLED && stage->kind == DG_STAGE_MODEL)
        return train_interrupted(p->train.checkpoint);
    if (st == DG_E_CANCELLED && stage->kind == DG_STAGE_GUARD)
        return build_interrupted(p->build.work_dir);
    if (st == DG_E_CANCELLED) return cli_error("interrupted");
    if (st != DG_OK) return cli_fail(st, "running the scenario");
    int rc = read_info(d);
    if (rc != CLI_EXIT_OK) return rc;
    switch (stage->kind) {
    case DG_STAGE_MODEL: return read_model(d, stage->index);
    case DG_STAGE_GUARD: return read_guard(d, stage->index);
    case DG_STAGE_EVAL: return read_eval(d);
    default:
        return strcmp(stage->name, "attack") == 0 ? write_examples(d)
                                                  : CLI_EXIT_OK;
    }
}

/* ------------------------------------------------------------------------ */
/* Report                                                                   */
/* ------------------------------------------------------------------------ */

static double test_accuracy(const dg_scenario_model *m)
{
    return m->test_total ? (double)m->test_correct / m->test_total : NAN;
}

static void json_plan(json_writer *w, const dg_scenario_model *m)
{
    json_begin_object(w);
    json_put_string(w, "architecture", m->architecture);
    json_put_string(w, "classes", m->classes);
    json_key(w, "per_class");
    if (m->per_class)
        json_int(w, m->per_class);
    else
        json_string(w, "all");
    if (m->skip_per_class)
        json_put_int(w, "skip_per_class", m->skip_per_class);
    json_put_int(w, "epochs", m->epochs);
    json_put_int(w, "batch", m->batch);
    json_put_string(w, "optimizer", m->optimizer);
    json_put_number(w, "learning_rate", m->learning_rate);
    json_put_string(w, "schedule", m->schedule);
    json_end_object(w);
}

static void json_model(json_writer *w, const dg_scenario_model *m)
{
    json_begin_object(w);
    json_put_number(w, "test_accuracy", test_accuracy(m));
    json_put_int(w, "test_correct", m->test_correct);
    json_put_int(w, "test_samples", m->test_total);
    json_put_number(w, "test_seconds", m->test_seconds);
    json_put_bool(w, "reused", m->reused);
    if (!m->reused) {
        bool trained = m->epochs_run > 0;
        train_outcome t = {.report = {.epochs_run = m->epochs_run},
                           .samples = m->train_samples,
                           .seconds = m->train_seconds};
        json_put_int(w, "train_samples", m->train_samples);
        json_put_int(w, "resumed_epoch", m->resumed_epoch);
        json_put_number(w, "final_loss", trained ? m->last_loss : NAN);
        json_put_number(w, "train_accuracy",
                        trained ? m->last_accuracy : NAN);
        json_put_number(w, "train_seconds", m->train_seconds);
        json_put_number(w, "images_per_second", train_images_per_second(&t));
    }
    json_key(w, "settings");
    json_plan(w, m);
    json_end_object(w);
}

static void json_guard(json_writer *w, const dg_scenario_guard *g)
{
    json_begin_object(w);
    json_put_bool(w, "reused", g->reused);
    json_put_number(w, "build_seconds", g->reused ? NAN : g->build_seconds);
    json_end_object(w);
}

static void write_report_json(const demo *d, FILE *out)
{
    static const char *const model_keys[4] = {
        "teacher", "student", "surrogate_student", "patched_student"};
    json_writer w;
    json_init(&w, out);
    json_begin_object(&w);
    json_put_string(&w, "scenario", d->info.name);
    json_put_string(&w, "mode", d->info.mode_name);
    json_put_int(&w, "seed", (int64_t)d->info.seed);
    for (uint32_t k = 0; k < 4; k++) {
        json_key(&w, model_keys[k]);
        json_model(&w, &d->models[k]);
    }
    json_key(&w, "guard");
    json_guard(&w, &d->guards[0]);
    json_key(&w, "surrogate_guard");
    json_guard(&w, &d->guards[1]);
    eval_write_json_with(&w, &d->eval, levels_json, &d->levels);
    json_put_number(&w, "seconds", monotonic_seconds() - d->start);
    json_end_object(&w);
}

/* "500", or "all" when the plan takes every image of its classes. */
static void format_per_class(const dg_scenario_model *m, char *buf,
                             size_t size)
{
    if (m->per_class)
        snprintf(buf, size, "%u", m->per_class);
    else
        snprintf(buf, size, "all");
}

/* "123.4 s", or "reused" for a model an earlier run trained. */
static void format_training_time(const dg_scenario_model *m, char *buf,
                                 size_t size)
{
    if (m->reused)
        snprintf(buf, size, "reused");
    else
        snprintf(buf, size, "%.1f s", m->train_seconds);
}

static void md_model_row(FILE *out, const dg_scenario_model *m)
{
    char time_text[32], per_class[16];
    format_training_time(m, time_text, sizeof time_text);
    format_per_class(m, per_class, sizeof per_class);
    fprintf(out, "| %s | %s | %s | %u | %u | %s %g | %s | %s | %.2f%% "
                 "(%u of %u) |\n",
            m->name, m->classes, per_class, m->epochs, m->batch,
            m->optimizer, m->learning_rate, m->schedule, time_text,
            100 * test_accuracy(m), m->test_correct, m->test_total);
}

static void write_report_md(const demo *d, FILE *out)
{
    const dg_scenario_info *i = &d->info;
    const dg_scenario_model *surrogate = &d->models[2];
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(out, "# dg demo: %s (%s)\n\n", i->name, i->mode_name);
    fprintf(out, "Fashion-MNIST: the Teacher learns classes %s, the Student "
                 "is made from it by\ntransfer learning and learns classes "
                 "%s.  Test accuracy is measured on the\nt10k split of "
                 "the same classes.\n\n",
            i->teacher_classes, i->student_classes);
    fprintf(out, "| model | classes | images per class | epochs | batch | "
                 "optimizer | schedule | training time | test accuracy |\n");
    fprintf(out, "|---|---|---|---|---|---|---|---|---|\n");
    for (uint32_t k = 0; k < 4; k++) md_model_row(out, &d->models[k]);
    fprintf(out, "\n- Teacher architecture: `%s`\n",
            d->models[0].architecture);
    fprintf(out, "- Student: %s\n", d->models[1].architecture);
    fprintf(out, "- surrogate-student: the level-b attacker's own Student, "
                 "made the same way from\n  images %u to %u of each class "
                 "(doc/EVALUATION.md, \"Threat levels\")\n",
            surrogate->skip_per_class,
            surrogate->skip_per_class + surrogate->per_class - 1);
    fprintf(out, "- Seed %llu; %s; total time %.1f s\n",
            (unsigned long long)i->seed, date, monotonic_seconds() - d->start);
    fprintf(out, "\n## Defence\n\nThe guard (%s), attacks on test images "
                 "of the Student's classes\n(%s/attack-*.dgadv, examples in "
                 "examples-*), and the baselines on the\nsame inputs "
                 "(doc/EVALUATION.md defines each number).\n\n",
            d->guards[0].reused ? "reused" : "built by this run", i->dir);
    eval_write_markdown(out, &d->eval);
    fprintf(out, "\n![defence rate](defence-vs-members.png)\n"
                 "![cost](cost-vs-members.png)\n");
    for (uint32_t k = 0; k < i->sets; k++)
        fprintf(out, "![ROC %s](roc-%s.png)\n", d->sets[k].name,
                d->sets[k].name);
    levels_markdown(out, &d->levels);
}

static int print_summary(const demo *d)
{
    cli_table t;
    table_init(&t, "llrrll",
               (const char *const[]){"model", "classes", "epochs",
                                     "per class", "training",
                                     "test accuracy"});
    for (uint32_t k = 0; k < 4; k++) {
        const dg_scenario_model *m = &d->models[k];
        char time_text[32], per_class[16];
        format_training_time(m, time_text, sizeof time_text);
        format_per_class(m, per_class, sizeof per_class);
        table_cell(&t, "%s", m->name);
        table_cell(&t, "%s", m->classes);
        table_cell(&t, "%u", m->epochs);
        table_cell(&t, "%s", per_class);
        table_cell(&t, "%s", time_text);
        table_cell(&t, "%.2f%%", 100 * test_accuracy(m));
    }
    int rc = table_print(&t, stdout, 0);
    if (rc == CLI_EXIT_OK) {
        printf("\n");
        rc = eval_print_table(stdout, &d->eval);
    }
    if (rc == CLI_EXIT_OK) rc = levels_print(stdout, &d->levels);
    if (rc == CLI_EXIT_OK)
        printf("\nreport: %s/report.md and %s/report.json\n", d->info.dir,
               d->info.dir);
    return rc;
}

/* Writes DIR/NAME with `write`, reporting any failure. */
static int write_out_file(const demo *d, const char *name,
                          void (*write)(const demo *, FILE *))
{
    char path[4096];
    int rc = demo_path(d->info.dir, name, path, sizeof path);
    if (rc != CLI_EXIT_OK) return rc;
    FILE *f = fopen(path, "w");
    if (!f) return cli_error("cannot write %s: %s", path, strerror(errno));
    write(d, f);
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0) failed = true;
    return failed ? cli_error("writing %s failed", path) : CLI_EXIT_OK;
}

static int report(const demo *d)
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
/* The command                                                              */
/* ------------------------------------------------------------------------ */

/* --scenario: one of scenario_names, the first by default. */
static int read_scenario(const cli_args *args, const char **out)
{
    const char *name = cli_value(args, "scenario");
    enum { N = sizeof scenario_names / sizeof scenario_names[0] };
    for (size_t i = 0; i < N; i++)
        if (!name || strcmp(name, scenario_names[i]) == 0) {
            *out = scenario_names[i];
            return CLI_EXIT_OK;
        }
    return cli_usage_error("--scenario must be %s or %s, not %s",
                           scenario_names[0], scenario_names[1], name);
}

/* The scenario in its folder, which must hold no other demo. */
static int create(const cli_args *args, demo *d)
{
    long seed;
    dg_scenario_opts o;
    dg_scenario_opts_init(&o, sizeof o);
    int rc = cli_long(args, "seed", 1, 0, INT32_MAX, &seed);
    if (rc == CLI_EXIT_OK) rc = read_scenario(args, &o.name);
    if (rc != CLI_EXIT_OK) return rc;
    const char *out_dir = cli_value(args, "out");
    if (out_dir) o.dir = out_dir;
    o.mode = cli_flag(args, "quick") ? DG_SCENARIO_QUICK : DG_SCENARIO_FULL;
    o.seed = (uint64_t)seed;
    o.progress = on_progress;
    o.progress_user = &d->progress;
    o.note = on_note;
    o.note_user = &d->progress;
    dg_status st = dg_scenario_create(&o, &d->scenario);
    if (st == DG_E_MISMATCH)
        return cli_error("%s holds a demo made with other settings (see "
                         "%s/settings.json); remove it or choose another "
                         "--out",
                         o.dir, o.dir);
    if (st != DG_OK) return cli_fail(st, "preparing %s", o.dir);
    rc = read_info(d);
    for (uint32_t k = 0; rc == CLI_EXIT_OK && k < 4; k++)
        rc = read_model(d, k);
    for (uint32_t k = 0; rc == CLI_EXIT_OK && k < 2; k++)
        rc = read_guard(d, k);
    return rc;
}

static int run_demo(const cli_args *args)
{
    demo d = {.json = cli_flag(args, "json"),
              .start = monotonic_seconds(),
              .progress = {.quiet = cli_flag(args, "quiet")}};
    catch_interrupts();
    int rc = create(args, &d);
    dg_scenario_stage stage = {.struct_size = sizeof stage};
    while (rc == CLI_EXIT_OK) {
        dg_status st = dg_scenario_next_stage(d.scenario, &stage);
        if (st != DG_OK) rc = cli_fail(st, "reading the scenario");
        else if (!stage.name) break;
        else if (cli_interrupted())
            rc = cli_error("interrupted before the %s stage; run the same "
                           "command again to continue",
                           stage.name);
        else
            rc = run_stage(&d, &stage);
    }
    if (rc == CLI_EXIT_OK && cli_interrupted())
        rc = cli_error("interrupted before the report stage; run the same "
                       "command again to continue");
    if (rc == CLI_EXIT_OK) rc = report(&d);
    eval_view_free(&d.eval);
    levels_free(&d.levels);
    free(d.sets);
    dg_scenario_free(d.scenario);
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
