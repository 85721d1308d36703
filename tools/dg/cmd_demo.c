/* cmd_demo.c - `dg demo`: the library's demonstration scenario
 * (dg_scenario_*, lib/scenario) on Fashion-MNIST: a Teacher learns some
 * classes, a Student made from it by transfer learning the others, both
 * are measured on the test split, and a guard for the Student is built,
 * attacked and evaluated with the baselines, then attacked at every
 * threat level.  The command runs the scenario's stages with progress
 * bars, Ctrl-C stopping the one in progress (the same command continues
 * it), and has the library write the examples, charts and reports
 * (dg_scenario_write_report). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
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
    const char *dir; /* its folder */
    bool json;
    demo_progress progress;
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

/* The bars of the stage about to run: those of a training for a model,
 * of a build for a guard, one bar for the others. */
static int prepare_bars(demo *d, const dg_scenario_stage *stage)
{
    demo_progress *p = &d->progress;
    *p = (demo_progress){.kind = stage->kind, .quiet = p->quiet};
    dg_status st = DG_OK;
    if (stage->kind == DG_STAGE_MODEL) {
        dg_scenario_model m = {.struct_size = sizeof m};
        st = dg_scenario_get_model(d->scenario, stage->index, &m);
        p->train = (train_progress){.epochs = m.epochs,
                                    .checkpoint = m.checkpoint};
    } else if (stage->kind == DG_STAGE_GUARD) {
        dg_scenario_guard g = {.struct_size = sizeof g};
        st = dg_scenario_get_guard(d->scenario, stage->index, &g);
        p->build = (build_progress){.work_dir = g.work_dir};
    }
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "reading the scenario");
}

/* Parts of the scenario's report (DG_REPORT_*): the examples of the sets
 * the attack stage made, the charts once it is evaluated, and at the end
 * report.json and report.md. */
static int write_report(const demo *d, uint32_t parts)
{
    dg_report_opts o;
    dg_report_opts_init(&o, sizeof o);
    o.parts = parts;
    o.examples = DEMO_EXAMPLES;
    dg_status st = dg_scenario_write_report(d->scenario, &o);
    return st == DG_OK ? CLI_EXIT_OK
                       : cli_fail(st, "writing the report to %s", d->dir);
}

/* Runs the next stage with its bars, then writes what the report shows
 * of it. */
static int run_stage(demo *d, const dg_scenario_stage *stage)
{
    demo_progress *p = &d->progress;
    int rc = prepare_bars(d, stage);
    if (rc != CLI_EXIT_OK) return rc;
    dg_status st = dg_scenario_run_stage(d->scenario);
    progress_finish();
    if (st == DG_E_CANCELLED && stage->kind == DG_STAGE_MODEL)
        return train_interrupted(p->train.checkpoint);
    if (st == DG_E_CANCELLED && stage->kind == DG_STAGE_GUARD)
        return build_interrupted(p->build.work_dir);
    if (st == DG_E_CANCELLED) return cli_error("interrupted");
    if (st != DG_OK) return cli_fail(st, "running the scenario");
    if (stage->kind == DG_STAGE_EVAL) return write_report(d, DG_REPORT_CHARTS);
    if (strcmp(stage->name, "attack") == 0)
        return write_report(d, DG_REPORT_EXAMPLES);
    return CLI_EXIT_OK;
}

/* report.json and report.md, then the tables or the JSON on stdout. */
static int report(const demo *d)
{
    int rc = write_report(d, DG_REPORT_JSON | DG_REPORT_MARKDOWN);
    if (rc == CLI_EXIT_OK)
        rc = cli_print_report(&(cli_report){.scenario = d->scenario},
                              d->json ? DG_FORMAT_JSON : DG_FORMAT_TEXT);
    if (rc == CLI_EXIT_OK && !d->json)
        printf("\nreport: %s/report.md and %s/report.json\n", d->dir, d->dir);
    return rc;
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
    dg_scenario_info info = {.struct_size = sizeof info};
    st = dg_scenario_get_info(d->scenario, &info);
    d->dir = info.dir; /* the scenario's copy */
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "reading the scenario");
}

static int run_demo(const cli_args *args)
{
    demo d = {.json = cli_flag(args, "json"),
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
