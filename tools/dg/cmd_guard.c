/* cmd_guard.c - `dg guard build` makes a guard for a Student: per class,
 * differentiators pruned and distilled from it, ranked and calibrated
 * (doc/validator.md); `dg guard info` describes a guard file.
 *
 * The command framework has no sub-commands, so both actions share one
 * option table, and `info` refuses the options only `build` takes. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "guard_build.h"
#include "train_common.h"

/* Entries of an array member of a struct. */
#define FIELD_CAPACITY(type, field)                                         \
    (sizeof((type *)0)->field / sizeof((type *)0)->field[0])

enum {
    MAX_PRUNE_LAYERS = FIELD_CAPACITY(dg_guard_opts, prune_layers),
    MAX_RATIOS = FIELD_CAPACITY(dg_guard_opts, ratios),
};

/* ------------------------------------------------------------------------ */
/* Reading the options                                                      */
/* ------------------------------------------------------------------------ */

/* Two choices each, the first being the library's default. */
static const cli_named rules[] = {
    {"score", DG_RULE_SCORE}, {"votes", DG_RULE_VOTES}, {NULL, 0}};
static const cli_named modes[] = {
    {"most", DG_PRUNE_MOST}, {"least", DG_PRUNE_LEAST}, {NULL, 0}};
static const cli_named yes_no[] = {{"yes", 1}, {"no", 0}, {NULL, 0}};
static const cli_named kinds[] = {
    {"pruned", DG_MEMBERS_PRUNED}, {"robust", DG_MEMBERS_ROBUST}, {NULL, 0}};

static bool is_layer_number(double v)
{
    return v >= 0 && v <= INT32_MAX && v == floor(v);
}

static bool is_fraction(double v) { return v > 0 && v < 1; }

static int read_prune_layers(const cli_args *args, dg_guard_opts *o)
{
    double layers[MAX_PRUNE_LAYERS];
    uint32_t n;
    int rc = cli_numbers(args, "prune-layers",
                         "layer numbers (dg info lists them), such as 3,0",
                         is_layer_number, layers, MAX_PRUNE_LAYERS, &n);
    if (rc != CLI_EXIT_OK || n == 0) return rc;
    for (uint32_t k = 0; k < n; k++) o->prune_layers[k] = (int32_t)layers[k];
    o->n_prune_layers = n;
    return CLI_EXIT_OK;
}

static int read_ratios(const cli_args *args, dg_guard_opts *o)
{
    double ratios[MAX_RATIOS];
    uint32_t n;
    int rc = cli_numbers(args, "ratios",
                         "fractions between 0 and 1, such as 0.1,0.3",
                         is_fraction, ratios, MAX_RATIOS, &n);
    if (rc != CLI_EXIT_OK || n == 0) return rc;
    for (uint32_t k = 0; k < n; k++) o->ratios[k] = (float)ratios[k];
    o->n_ratios = n;
    return CLI_EXIT_OK;
}

/* A whole build, one shard's jobs (--shard), or the merge of the shards'
 * work into the guard (dg guard merge). */
typedef enum build_step { STEP_WHOLE, STEP_SHARD, STEP_MERGE } build_step;

/* What dg guard build or merge was asked to do, read before any long
 * work. */
typedef struct build_settings {
    dg_guard_opts opts;  /* work_dir points into `work_dir` */
    const char *student;    /* --student */
    const char *output;     /* --output */
    char work_dir[4096];    /* --work-dir or OUTPUT.work; "" for none */
    build_step step;
    uint32_t shard, shards; /* --shard I/N */
} build_settings;

/* The numeric options but --members, each a field of dg_guard_opts. */
#define GUARD_FIELD(field, name, kind, min, max)                            \
    CLI_FIELD(dg_guard_opts, field, name, kind, min, max)
static const cli_field number_options[] = {
    GUARD_FIELD(variants, "variants", CLI_U32, 1, DG_MAX_MEMBERS),
    GUARD_FIELD(epochs, "epochs", CLI_U32, 1, 100000),
    GUARD_FIELD(batch_size, "batch", CLI_U32, 1, 65536),
    GUARD_FIELD(seed, "seed", CLI_U64, 0, INT32_MAX),
    GUARD_FIELD(learning_rate, "lr", CLI_F32, 1e-9, 10),
    GUARD_FIELD(distill_alpha, "alpha", CLI_F32, 0, 1000),
    GUARD_FIELD(distill_temperature, "temperature", CLI_F32, 0.01, 1000),
    GUARD_FIELD(target_frr, "target-frr", CLI_F32, 0.0001, 0.4999),
    GUARD_FIELD(holdout_fraction, "holdout-fraction", CLI_F32, 0.01, 0.99),
    GUARD_FIELD(harden_epsilon, "harden-epsilon", CLI_F32, 0.001, 1),
    GUARD_FIELD(harden_budget, "harden-budget", CLI_F32, 1e-5, 0.4999),
    GUARD_FIELD(harden_iterations, "harden-iterations", CLI_U32, 1, 100000),
    GUARD_FIELD(member_width, "width", CLI_F32, 0.01, 4),
    GUARD_FIELD(robust_epsilon, "robust-epsilon", CLI_F32, 0, 1),
    GUARD_FIELD(robust_epochs, "robust-epochs", CLI_U32, 1, 100000),
    GUARD_FIELD(robust_steps, "robust-steps", CLI_U32, 1, 100),
    GUARD_FIELD(robust_replays, "robust-replays", CLI_U32, 1, 100),
};

static int read_numbers(const cli_args *args, dg_guard_opts *o)
{
    if (cli_value(args, "holdout") && cli_value(args, "holdout-fraction"))
        return cli_usage_error("--holdout-fraction splits --data; it does "
                               "not go with --holdout");
    /* The default M shrinks with a small --variants. */
    uint32_t default_members = o->members;
    long members;
    int rc = cli_read_fields(args, number_options,
                             sizeof number_options / sizeof *number_options,
                             o);
    if (default_members > o->variants) default_members = o->variants;
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "members", default_members, 1, o->variants,
                      &members);
    if (rc == CLI_EXIT_OK) o->members = (uint32_t)members;
    return rc;
}

/* --shard, which only build takes. */
static int read_shard(const cli_args *args, build_settings *b)
{
    const char *spec = cli_value(args, "shard");
    if (!spec) return CLI_EXIT_OK;
    if (b->step == STEP_MERGE)
        return cli_usage_error("'dg guard merge' joins every shard's work; "
                               "--shard is an option of 'dg guard build'");
    if (dg_shard_parse(spec, &b->shard, &b->shards) != DG_OK)
        return cli_usage_error("--shard: %s", dg_last_error_detail());
    b->step = STEP_SHARD;
    return CLI_EXIT_OK;
}

static int read_build_settings(const cli_args *args, build_settings *b)
{
    dg_guard_opts *o = &b->opts;
    dg_status st = dg_guard_opts_init(o, sizeof *o);
    if (st != DG_OK) return cli_fail(st, "preparing the guard options");
    int rc = required_value(args, "student", &b->student);
    if (rc == CLI_EXIT_OK) rc = required_value(args, "output", &b->output);
    if (rc == CLI_EXIT_OK) rc = read_numbers(args, o);
    if (rc == CLI_EXIT_OK) rc = cli_choice(args, "rule", rules, NULL, &o->rule);
    if (rc == CLI_EXIT_OK)
        rc = cli_choice(args, "mode", modes, NULL, &o->prune_mode);
    if (rc == CLI_EXIT_OK)
        rc = cli_choice(args, "retrain-pruned", yes_no, NULL,
                        &o->retrain_pruned);
    if (rc == CLI_EXIT_OK) rc = cli_choice(args, "harden", yes_no, NULL, &o->harden);
    if (rc == CLI_EXIT_OK)
        rc = cli_choice(args, "kind", kinds, NULL, &o->member_kind);
    if (rc == CLI_EXIT_OK) rc = read_prune_layers(args, o);
    if (rc == CLI_EXIT_OK) rc = read_ratios(args, o);
    if (rc == CLI_EXIT_OK) rc = read_shard(args, b);
    if (rc != CLI_EXIT_OK) return rc;
    const char *dir = cli_value(args, "work-dir");
    int len = dir ? snprintf(b->work_dir, sizeof b->work_dir, "%s", dir)
                  : snprintf(b->work_dir, sizeof b->work_dir, "%s.work",
                             b->output);
    if (len < 0 || (size_t)len >= sizeof b->work_dir)
        return cli_usage_error("the work directory path is too long");
    o->work_dir = b->work_dir[0] ? b->work_dir : NULL;
    if (!o->work_dir && b->step != STEP_WHOLE)
        return cli_usage_error("shards and their merge share the work "
                               "directory: --work-dir cannot be empty");
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* Building                                                                 */
/* ------------------------------------------------------------------------ */

/* Hardening gets its own bar.  The differentiators' bar starts with the
 * library's first report: before it the library measures activations and
 * claims the work directory, and with a work directory that report counts
 * the differentiators reused from it.  The bar counts this run's
 * differentiators, so that its rate and ETA hold. */
int build_progress_report(void *user, const char *stage, uint64_t done,
                          uint64_t total, double metric)
{
    (void)metric;
    build_progress *p = user;
    bool building = strcmp(stage, "differentiators") == 0;
    if (!p->stage || strcmp(p->stage, stage) != 0) {
        if (p->stage) progress_finish();
        p->stage = stage;
        /* Only the first report counts what was reused, and says so
         * once, whatever stages come between; a merge builds nothing. */
        if (building && !p->building && p->work_dir) {
            p->reused = (uint32_t)done;
            if (p->reused && !p->merging)
                fprintf(stderr, "resuming: %s holds %u differentiators of "
                                "an earlier run\n",
                        p->work_dir, p->reused);
        }
        p->building |= building;
        progress_start(building ? "differentiators" : "hardening",
                       building ? total - p->reused : total);
    }
    uint64_t skipped = building ? p->reused : 0;
    progress_update(done > skipped ? done - skipped : 0);
    return cli_interrupted();
}

int build_interrupted(const char *work_dir)
{
    if (!work_dir) return cli_error("interrupted");
    return cli_error("interrupted; %s keeps the finished differentiators: "
                     "run the same command again to resume",
                     work_dir);
}

/* What a build did, for the summary. */
typedef struct build_outcome {
    uint32_t training_samples, holdout_samples; /* holdout 0: split off */
    float holdout_fraction;                     /* ... this share */
    uint32_t reused;                            /* from the work dir */
    double seconds;
    /* Chosen from the data (dg_guard_opts_from_data): */
    bool chose_share, chose_epochs; /* holdout_fraction, robust_epochs */
    uint32_t robust_epochs;
} build_outcome;

/* --data, and --holdout selected with the same --classes and --per-class;
 * holdout->samples stays NULL without --holdout. */
static int load_build_data(const cli_args *args, const dg_model *student,
                           class_data *train, class_data *holdout)
{
    uint32_t shape[3];
    dg_status st = dg_model_input_shape(student, &shape[0], &shape[1],
                                        &shape[2]);
    if (st != DG_OK) return cli_fail(st, "reading the Student");
    int rc = train_command_data(args, shape, train);
    const char *spec = cli_value(args, "holdout");
    long per_class = 0;
    if (rc == CLI_EXIT_OK && spec)
        rc = cli_long(args, "per-class", 0, 0, INT32_MAX, &per_class);
    if (rc == CLI_EXIT_OK && spec)
        rc = data_open(spec, shape, cli_value(args, "classes"), 0,
                       (uint32_t)per_class, holdout);
    return rc;
}

static int count_samples(const class_data *d, uint32_t *n)
{
    *n = 0;
    if (!d->samples) return CLI_EXIT_OK;
    dg_status st = dg_dataset_count(d->samples, n);
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "reading the data");
}

/* The facts of the summary that are known before building, with the
 * options left to the data filled as the library will fill them. */
static int prepare_outcome(build_settings *b, const class_data *train,
                           const class_data *holdout, build_outcome *outcome)
{
    dg_guard_opts given = b->opts;
    dg_status st = dg_guard_opts_from_data(&b->opts, train->samples,
                                           holdout->samples);
    if (st != DG_OK) return cli_fail(st, "choosing options from the data");
    outcome->holdout_fraction = b->opts.holdout_fraction;
    outcome->robust_epochs = b->opts.robust_epochs;
    outcome->chose_share = given.holdout_fraction != b->opts.holdout_fraction;
    outcome->chose_epochs = given.robust_epochs != b->opts.robust_epochs &&
                            b->opts.member_kind == DG_MEMBERS_ROBUST;
    int rc = count_samples(train, &outcome->training_samples);
    if (rc == CLI_EXIT_OK)
        rc = count_samples(holdout, &outcome->holdout_samples);
    return rc;
}

/* The library's step: a whole build, a shard's jobs (no guard) or the
 * merge. */
static dg_status run_step(const build_settings *b, const dg_guard_opts *o,
                          const dg_model *student, const dg_dataset *train,
                          const dg_dataset *holdout, dg_guard **out)
{
    if (cli_interrupted()) return DG_E_CANCELLED;
    switch (b->step) {
    case STEP_SHARD:
        return dg_guard_build_shard(student, train, holdout, o, b->shard,
                                    b->shards);
    case STEP_MERGE: return dg_guard_merge(student, train, holdout, o, out);
    default: return dg_guard_build(student, train, holdout, o, out);
    }
}

/* Builds a guard with a progress bar that Ctrl-C stops, for any step, and
 * writes it, also telling how many differentiators the work directory
 * held from an earlier run; the work directory (if any) keeps the
 * finished ones so the same call resumes, and is removed once the guard
 * is written (kept if writing fails).  A shard writes no guard
 * and keeps the work directory for the merge. */
static int build_guard(const build_settings *b, const dg_model *student,
                       const dg_dataset *train, const dg_dataset *holdout,
                       dg_guard **out, double *seconds, uint32_t *reused)
{
    const char *dir = b->opts.work_dir, *path = b->output;
    build_progress progress = {.work_dir = dir,
                               .merging = b->step == STEP_MERGE};
    dg_guard_opts opts = b->opts;
    opts.progress = build_progress_report;
    opts.progress_user = &progress;
    catch_interrupts();
    double start = monotonic_seconds();
    dg_status st = run_step(b, &opts, student, train, holdout, out);
    *seconds = monotonic_seconds() - start;
    if (st == DG_E_CANCELLED) return build_interrupted(dir);
    if (st != DG_OK) return cli_fail(st, "building the guard");
    if (progress.stage) progress_finish();
    *reused = progress.reused;
    if (b->step == STEP_SHARD) return CLI_EXIT_OK;
    /* Until the guard file is written the work directory holds the only
     * copy of the differentiators: a failed write keeps it for a rerun. */
    st = dg_guard_save_file(*out, path);
    if (st != DG_OK) {
        cli_fail(st, "writing %s", path);
        return dir ? cli_error("%s keeps the finished differentiators: run "
                               "the same command again to resume",
                               dir)
                   : CLI_EXIT_FAILURE;
    }
    if (!dir) return CLI_EXIT_OK;
    /* What removal leaves holds files of someone else.  A note, not a
     * failure: the guard is written. */
    st = dg_guard_work_dir_remove(dir);
    if (st != DG_OK) cli_fail(st, "removing the work directory");
    else if (access(dir, F_OK) == 0)
        cli_error("kept %s: it holds files dg did not make", dir);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* The summary, shared by build and info                                    */
/* ------------------------------------------------------------------------ */

/* What the summary shows: the guard's settings and files, and each
 * class as the library reports it (dg_guard_format_report), read before
 * printing so that a failing call never leaves half a report on stdout. */
typedef struct guard_summary {
    const char *guard_path, *student_path;
    dg_guard_info info;
    char *classes; /* the library's report of the classes */
} guard_summary;

/* The guard's settings, the build's facts when `built` is not NULL, then
 * each class. */
static int print_text(const guard_summary *s, const build_outcome *built)
{
    const dg_guard_info *i = &s->info;
    text_table t;
    table_init(&t, "ll", NULL);
    table_cell(&t, "guard");
    table_cell(&t, "%s", s->guard_path);
    table_cell(&t, "student");
    table_cell(&t, "%s (hash %016llx)", s->student_path,
               (unsigned long long)i->student_hash);
    if (built) {
        table_cell(&t, "data");
        if (built->holdout_samples)
            table_cell(&t, "%u training samples, %u held out",
                       built->training_samples, built->holdout_samples);
        else
            table_cell(&t, "%u samples, %.0f%% of them held out",
                       built->training_samples,
                       100.0 * built->holdout_fraction);
        table_cell(&t, "time");
        table_cell(&t, "%.1f s (%u differentiators reused)", built->seconds,
                   built->reused);
        char share[32] = "", epochs[32] = "";
        if (built->chose_share)
            snprintf(share, sizeof share, "held-out share %.0f%%",
                     100.0 * built->holdout_fraction);
        if (built->chose_epochs)
            snprintf(epochs, sizeof epochs, "robust epochs %u",
                     built->robust_epochs);
        if (share[0] || epochs[0]) {
            table_cell(&t, "chosen from the data");
            table_cell(&t, "%s%s%s", share, share[0] && epochs[0] ? ", " : "",
                       epochs);
        }
    }
    table_cell(&t, "classes");
    table_cell(&t, "%u", i->classes);
    table_cell(&t, "differentiators");
    table_cell(&t, "%u per class, the best %u consulted by default",
               i->variants, i->members);
    table_cell(&t, "rule");
    table_cell(&t, "%s", cli_name_of(rules, i->rule));
    table_cell(&t, "target FRR");
    table_cell(&t, "%.2f%%", 100.0 * i->target_frr);
    int rc = table_print(&t, stdout, 0);
    if (rc == CLI_EXIT_OK) fputs(s->classes, stdout);
    return rc;
}

static void print_json(const guard_summary *s, const build_outcome *built)
{
    const dg_guard_info *i = &s->info;
    char hash[17];
    snprintf(hash, sizeof hash, "%016llx",
             (unsigned long long)i->student_hash);
    json_writer w;
    json_init(&w, stdout);
    json_begin_object(&w);
    json_put_string(&w, "guard", s->guard_path);
    json_put_string(&w, "student", s->student_path);
    json_put_string(&w, "student_hash", hash);
    if (built) {
        json_put_int(&w, "training_samples", built->training_samples);
        json_key(&w, "holdout_samples"); /* 0: split off the training data */
        json_int(&w, built->holdout_samples);
        json_put_int(&w, "reused", built->reused);
        json_put_number(&w, "seconds", built->seconds);
        json_key(&w, "chosen_from_data"); /* the options the data set */
        json_begin_object(&w);
        if (built->chose_share)
            json_put_number(&w, "holdout_fraction", built->holdout_fraction);
        if (built->chose_epochs)
            json_put_int(&w, "robust_epochs", built->robust_epochs);
        json_end_object(&w);
    }
    json_put_int(&w, "variants", i->variants);
    json_put_int(&w, "members", i->members);
    json_put_string(&w, "rule", cli_name_of(rules, i->rule));
    json_put_number(&w, "target_frr", i->target_frr);
    json_key(&w, "classes");
    json_raw(&w, s->classes);
    json_end_object(&w);
}

/* Prints the summary of g, with the calibration of every M or of the
 * default M, and the build's facts when `built` is not NULL. */
static int report(const cli_args *args, const char *guard_path,
                  const char *student_path, const dg_guard *g, bool every_m,
                  const build_outcome *built)
{
    guard_summary s = {.guard_path = guard_path,
                       .student_path = student_path,
                       .info = {.struct_size = sizeof s.info}};
    bool json = cli_flag(args, "json");
    dg_report_opts o;
    dg_report_opts_init(&o, sizeof o);
    o.every_m = every_m;
    dg_status st = dg_guard_get_info(g, &s.info);
    if (st != DG_OK) return cli_fail(st, "reading the guard");
    const cli_report classes = {.guard = g, .opts = &o};
    int rc = cli_format_report(&classes, json ? DG_FORMAT_JSON : DG_FORMAT_TEXT,
                               &s.classes);
    if (rc == CLI_EXIT_OK && json)
        print_json(&s, built);
    else if (rc == CLI_EXIT_OK)
        rc = print_text(&s, built);
    free(s.classes);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The actions                                                              */
/* ------------------------------------------------------------------------ */

/* A shard's report: what it made, and what comes next. */
static void report_shard(const cli_args *args, const build_settings *b,
                         const build_outcome *built)
{
    if (!cli_flag(args, "json")) {
        printf("shard %u of %u done in %.1f s (%u differentiators reused); "
               "%s holds its work.\nOnce every shard is done: dg guard "
               "merge with the same options.\n",
               b->shard, b->shards, built->seconds, built->reused,
               b->work_dir);
        return;
    }
    json_writer w;
    json_init(&w, stdout);
    json_begin_object(&w);
    json_put_int(&w, "shard", b->shard);
    json_put_int(&w, "shards", b->shards);
    json_put_string(&w, "work_dir", b->work_dir);
    json_put_int(&w, "reused", built->reused);
    json_put_number(&w, "seconds", built->seconds);
    json_end_object(&w);
}

static int run_build(const cli_args *args, build_step step)
{
    build_settings b = {.step = step};
    build_outcome outcome = {0};
    dg_model *student = NULL;
    dg_guard *guard = NULL;
    class_data train = {0}, holdout = {0};
    int rc = read_build_settings(args, &b);
    if (rc == CLI_EXIT_OK) rc = cli_load_model(b.student, &student);
    if (rc == CLI_EXIT_OK)
        rc = load_build_data(args, student, &train, &holdout);
    if (rc == CLI_EXIT_OK)
        rc = prepare_outcome(&b, &train, &holdout, &outcome);
    if (rc == CLI_EXIT_OK)
        rc = build_guard(&b, student, train.samples, holdout.samples,
                         &guard, &outcome.seconds, &outcome.reused);
    if (rc == CLI_EXIT_OK && b.step == STEP_SHARD)
        report_shard(args, &b, &outcome);
    else if (rc == CLI_EXIT_OK)
        rc = report(args, b.output, b.student, guard, false, &outcome);
    dg_guard_free(guard);
    dg_model_free(student);
    data_free(&train);
    data_free(&holdout);
    return rc;
}

static int run_info(const cli_args *args, const char *guard_path)
{
    const char *student_path;
    dg_model *student = NULL;
    dg_guard *guard = NULL;
    int rc = required_value(args, "student", &student_path);
    if (rc == CLI_EXIT_OK) rc = cli_load_model(student_path, &student);
    if (rc == CLI_EXIT_OK) {
        dg_status st = dg_guard_load_file(guard_path, student, &guard);
        if (st != DG_OK)
            rc = cli_fail(st, "loading the guard for %s", student_path);
    }
    if (rc == CLI_EXIT_OK)
        rc = report(args, guard_path, student_path, guard, true, NULL);
    dg_guard_free(guard);
    dg_model_free(student);
    return rc;
}

/* info takes --student and --json; every other option is build's. */
static int refuse_build_options(const cli_args *args)
{
    const cli_option *options = args->command->options;
    for (size_t i = 0; options[i].name; i++) {
        const char *name = options[i].name;
        if (args->present[i] && strcmp(name, "student") != 0 &&
            strcmp(name, "json") != 0)
            return cli_usage_error("--%s is an option of 'dg guard build', "
                                   "not of 'dg guard info'",
                                   name);
    }
    return CLI_EXIT_OK;
}

static int run_guard(const cli_args *args)
{
    const char *action = args->positional[0];
    int extra = args->n_positional - 1;
    bool merge = strcmp(action, "merge") == 0;
    if (merge || strcmp(action, "build") == 0) {
        if (extra != 0)
            return cli_usage_error("'dg guard %s' takes no arguments "
                                   "besides options, not \"%s\"",
                                   action, args->positional[1]);
        return run_build(args, merge ? STEP_MERGE : STEP_WHOLE);
    }
    if (strcmp(action, "info") == 0) {
        if (extra != 1)
            return cli_usage_error("'dg guard info' takes one GUARD file, "
                                   "got %d arguments",
                                   extra);
        int rc = refuse_build_options(args);
        return rc == CLI_EXIT_OK ? run_info(args, args->positional[1]) : rc;
    }
    return cli_usage_error("unknown action \"%s\"; expected build, merge "
                           "or info",
                           action);
}

static const cli_option guard_options[] = {
    {"student", 's', "MODEL", "the Student the guard defends"},
    {"output", 'o', "GUARD", "build: the guard file to write"},
    {"data", 'd', "SPEC", "build: the Student's training data: "
                          DATA_SPEC_FORMS},
    CLASSES_OPTION,
    {"per-class", 0, "N", "at most N samples per class of --data and "
                          "--holdout (default all)"},
    SKIP_PER_CLASS_OPTION,
    {"holdout", 0, "SPEC", "clean data to rank and calibrate on, selected "
                           "like --data (default: split off --data)"},
    {"holdout-fraction", 0, "F", "share of --data held out without "
                                 "--holdout (default: from the data, 0.2 to 0.5)"},
    {"variants", 0, "V", "differentiators per class (default 6, at most "
                         "16)"},
    {"members", 'm', "M", "differentiators consulted by default (default "
                          "5, at most V)"},
    {"rule", 0, "NAME", "default rule: score or votes (default score)"},
    {"kind", 0, "NAME", "pruned: the Student pruned and distilled per "
                        "class; robust: members of their own from the "
                        "input, adversarially trained, shared by the "
                        "classes (default robust; doc/validator.md)"},
    {"width", 0, "W", "robust: units per layer relative to the Student's "
                      "(default 0.75)"},
    {"robust-epsilon", 0, "E", "robust: L-infinity radius of the "
                               "adversarial training (default 0.15)"},
    {"robust-epochs", 0, "N", "robust: training epochs (default: from the data)"},
    {"robust-steps", 0, "K", "robust, with --robust-replays 1: moves per "
                             "batch of the adversarial training: 1 is FGSM, "
                             "K > 1 PGD at K times its cost (default 3)"},
    {"robust-replays", 0, "R", "robust: replays of each batch in free "
                               "adversarial training, each one move and one "
                               "weight step; 1: --robust-steps moves instead "
                               "(default 4)"},
    {"prune-layers", 0, "L1,L2", "convolution or linear layers to prune, "
                                 "taken in turn (default: the Student's "
                                 "last convolution)"},
    {"ratios", 0, "R1,R2", "fractions of units to prune, taken in turn "
                           "(default 0.1,0.2,0.3,0.4,0.5,0.6)"},
    {"mode", 0, "NAME", "prune the units most or least activated by the "
                        "class (default most)"},
    {"retrain-pruned", 0, "yes|no", "fine-tune the pruned layer too, not "
                                    "only the later ones (default yes)"},
    {"epochs", 'e', "E", "fine-tuning epochs per differentiator (default "
                         "4)"},
    {"batch", 'b', "B", "samples per fine-tuning step (default 64)"},
    {"lr", 0, "X", "Adam learning rate (default 0.001)"},
    {"alpha", 0, "A", "weight of distillation from the Student (default "
                      "0.5)"},
    {"temperature", 0, "T", "distillation temperature (default 4)"},
    {"target-frr", 0, "F", "clean false rejection the thresholds aim at "
                           "(default 0.025)"},
    {"harden", 0, "yes|no", "also distil on defender-made attacks of the "
                            "training data (default yes)"},
    {"harden-epsilon", 0, "E", "their L-infinity radius (default 0.2)"},
    {"harden-budget", 0, "P", "their DSSIM budget (default 0.01)"},
    {"harden-iterations", 0, "N", "steps per attack (default 100)"},
    {"seed", 0, "S", "fine-tuning and the held-out split (default 1)"},
    {"work-dir", 0, "DIR", "keeps finished differentiators so that an "
                           "interrupted build resumes; removed after "
                           "success (default GUARD.work; empty: none)"},
    {"shard", 0, "I/N", "build: only shard I of N of the differentiators, "
                        "into the work directory (auto/N, auto: I and N "
                        "from Slurm, MPI or a Kubernetes indexed Job; "
                        "doc/scale-out.md)"},
    CLI_OPTION_JSON,
    CLI_OPTION_QUIET,
    CLI_OPTIONS_END,
};

const cli_command cmd_guard = {
    .name = "guard",
    .summary = "Build a differentiator guard for a Student, or describe one",
    .synopsis = "build|merge|info [GUARD]",
    .description =
        "  dg guard build --student MODEL --data SPEC -o GUARD [OPTIONS]\n"
        "  dg guard build ... --shard I/N   (then: dg guard merge ...)\n"
        "  dg guard info GUARD --student MODEL [--json]\n\n"
        "build makes V differentiators (default: robust members of their "
        "own, shared by\nthe classes; --kind pruned: the Student pruned and "
        "distilled per class), ranks\nthem per class by agreement with the "
        "Student on held-out clean data and\ncalibrates the thresholds for "
        "every M from 1 to V (doc/validator.md).  --data\nand --classes "
        "must give the Student's own classes, as it was trained.  A build\n"
        "stopped with Ctrl-C keeps its finished differentiators in the work "
        "directory;\nthe same command resumes it.  info prints the members "
        "and the calibration of\nevery M; it takes only --student and "
        "--json.  A guard only loads with the Student\nit was built for.\n\n"
        "On several machines (doc/scale-out.md), each runs build with "
        "--shard I/N and\nthe same options and work directory; then merge, "
        "with those options, checks\nthat every differentiator is there and "
        "made with them, and writes the guard\nan unsharded build would "
        "write, byte for byte.",
    .options = guard_options,
    .min_args = 1,
    .max_args = 2,
    .run = run_guard,
};
