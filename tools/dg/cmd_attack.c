/* cmd_attack.c - `dg attack`: crafts adversarial examples against a Student
 * from its public Teacher (or, for FGSM and PGD, from the Student itself),
 * writes them as an adversarial set and reports the attack success rate.
 *
 * Sources and target images are drawn (seeded) from the samples that the
 * Student classifies correctly.  The Student is used for nothing else: the
 * attack itself never queries it unless --stop-on-success asks. */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "attack_run.h"

enum { DEFAULT_COUNT = 100, DEFAULT_EXAMPLES = 8 };

/* ------------------------------------------------------------------------ */
/* The command line                                                         */
/* ------------------------------------------------------------------------ */

/* The numeric options, each a field of dg_attack_opts. */
#define ATTACK_FIELD(field, name, kind, min, max)                           \
    CLI_FIELD(dg_attack_opts, field, name, kind, min, max)
static const cli_field number_options[] = {
    ATTACK_FIELD(budget, "budget", CLI_F32, 1e-6, 0.5),
    ATTACK_FIELD(lambda, "lambda", CLI_F32, 0, 1e30),
    ATTACK_FIELD(epsilon, "epsilon", CLI_F32, 1e-6, 1),
    ATTACK_FIELD(step, "step", CLI_F32, 1e-6, 1),
    ATTACK_FIELD(learning_rate, "lr", CLI_F32, 1e-9, 1e6),
    ATTACK_FIELD(iterations, "iterations", CLI_U32, 1, 1e6),
    ATTACK_FIELD(patience, "patience", CLI_U32, 0, 1e6),
    ATTACK_FIELD(batch_size, "batch", CLI_U32, 1, 4096),
    ATTACK_FIELD(threads, "threads", CLI_U32, 0, 1024),
    ATTACK_FIELD(adaptive_weight, "adaptive-weight", CLI_F32, 0, 1e6),
    ATTACK_FIELD(adaptive_draw, "draw", CLI_U32, 0, 4096),
};

/* The attack options: the preset, then whatever the command line sets. */
static int read_attack_opts(const cli_args *args, attack_plan *p)
{
    dg_attack_opts *o = &p->opts;
    int rc = cli_choice(args, "preset", attack_presets, NULL, &p->preset);
    if (rc != CLI_EXIT_OK) return rc;
    dg_status st = dg_attack_opts_init(o, sizeof *o, p->preset);
    if (st != DG_OK) return cli_fail(st, "attack options");
    long layer = o->feature_layer, seed = (long)o->seed;
    rc = cli_choice(args, "method", attack_methods, NULL, &o->method);
    if (rc == CLI_EXIT_OK)
        rc = cli_choice(args, "mode", attack_modes, NULL, &o->targeted);
    if (rc == CLI_EXIT_OK)
        rc = cli_choice(args, "optimizer", attack_optimizers, NULL,
                        &o->optimizer);
    if (rc == CLI_EXIT_OK)
        rc = cli_read_fields(args, number_options,
                             sizeof number_options / sizeof *number_options,
                             o);
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

/* --shard I/N.  A shard attacks whole batches of the run's attempts, so
 * that its part equals theirs in the unsharded set (dg_advset_make); the
 * examples would be a shard's only. */
static int read_shard(const cli_args *args, attack_plan *p)
{
    const char *spec = cli_value(args, "shard");
    if (!spec) return CLI_EXIT_OK;
    if (dg_shard_parse(spec, &p->shard, &p->shards) != DG_OK)
        return cli_usage_error("--shard: %s", dg_last_error_detail());
    if (p->examples_dir)
        return cli_usage_error("--shard does not go with --examples: run "
                               "dg advset merge, then make the examples "
                               "from the whole set");
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
    return read_shard(args, p);
}


/* ------------------------------------------------------------------------ */
/* The report                                                               */
/* ------------------------------------------------------------------------ */

typedef struct tally {
    uint32_t attempts, within, success, not_source;
    double dssim_sum, distance_sum; /* over attempts within budget */
} tally;

static void count_attempt(const dg_advset_item *it, tally *t)
{
    t->attempts++;
    if (!it->within_budget) return;
    t->within++;
    t->success += it->success != 0;
    t->not_source += it->student_label != it->source_label;
    t->dssim_sum += it->dssim;
    t->distance_sum += it->feature_distance;
}

static double share(uint32_t part, uint32_t whole)
{
    return whole ? (double)part / whole : NAN;
}

static void json_tally(json_writer *w, const tally *t)
{
    json_put_int(w, "attempts", t->attempts);
    json_put_int(w, "within_budget", t->within);
    json_put_int(w, "success", t->success);
    json_put_number(w, "asr", share(t->success, t->attempts));
    json_put_number(w, "not_source_rate", share(t->not_source, t->attempts));
    json_put_number(w, "mean_dssim",
                    t->within ? t->dssim_sum / t->within : NAN);
    json_put_number(w, "mean_feature_distance",
                    t->within ? t->distance_sum / t->within : NAN);
}

static void print_json(const attack_run *r, const tally *all,
                       const tally *groups)
{
    const attack_plan *p = &r->plan;
    const dg_attack_opts *o = &p->opts;
    json_writer w;
    json_init(&w, stdout);
    json_begin_object(&w);
    json_put_string(&w, "teacher", p->teacher_path);
    json_put_string(&w, "student", p->student_path);
    json_put_string(&w, "data", p->data_spec);
    json_put_string(&w, "output", p->out_path);
    json_put_string(&w, "method", cli_name_of(attack_methods, o->method));
    json_put_string(&w, "mode", cli_name_of(attack_modes, o->targeted));
    json_put_string(&w, "preset", cli_name_of(attack_presets, p->preset));
    json_key(&w, "settings");
    json_begin_object(&w);
    json_put_number(&w, "budget", o->budget);
    json_put_number(&w, "lambda", o->lambda);
    json_put_number(&w, "epsilon", o->epsilon);
    json_put_number(&w, "step", o->step);
    json_put_int(&w, "iterations", o->iterations);
    json_put_string(&w, "optimizer",
                    cli_name_of(attack_optimizers, o->optimizer));
    json_put_number(&w, "learning_rate", o->learning_rate);
    json_put_int(&w, "patience", o->patience);
    json_put_int(&w, "seed", (int64_t)o->seed);
    json_put_int(&w, "feature_layer", o->feature_layer);
    json_end_object(&w);
    adaptive_json(&w, p);
    json_tally(&w, all);
    json_put_number(&w, "seconds", r->seconds);
    json_key(&w, o->targeted ? "per_target_class" : "per_source_class");
    json_begin_array(&w);
    for (uint32_t k = 0; k < r->n_classes; k++) {
        if (!groups[k].attempts) continue;
        json_begin_object(&w);
        json_put_int(&w, "class", k);
        json_tally(&w, &groups[k]);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
}

static void tally_row(text_table *t, const char *label, const tally *s)
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
    char description[4096];
    int rc = attack_describe(&r->plan, description, sizeof description);
    if (rc != CLI_EXIT_OK) return rc;
    const char *adaptive = strstr(description, "; adaptive: ");
    printf("%s %s attack, preset %s: %u attempts in %.1f s, written to %s\n",
           cli_name_of(attack_modes, o->targeted),
           cli_name_of(attack_methods, o->method),
           cli_name_of(attack_presets, r->plan.preset), all->attempts,
           r->seconds,
           r->plan.out_path);
    if (adaptive) printf("%s\n", adaptive + 2); /* without "; " */
    printf("\n");
    text_table t;
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
    uint32_t n = 0;
    dg_status st = dg_advset_count(r->set, &n);
    for (uint32_t i = 0; st == DG_OK && i < n; i++) {
        dg_advset_item it = {.struct_size = sizeof it};
        st = dg_advset_item_get(r->set, i, &it);
        if (st != DG_OK) break;
        count_attempt(&it, &all);
        /* Per target class (targeted) or per source class. */
        int32_t g = r->plan.opts.targeted ? it.target_label : it.source_label;
        if (g >= 0) count_attempt(&it, &groups[g]);
    }
    int rc = st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "reading the set");
    if (rc == CLI_EXIT_OK && json)
        print_json(r, &all, groups);
    else if (rc == CLI_EXIT_OK)
        rc = print_text(r, &all, groups);
    free(groups);
    return rc;
}


static int run_attack(const cli_args *args)
{
    attack_run r = {0};
    int rc = read_plan(args, &r.plan);
    if (rc == CLI_EXIT_OK) rc = attack_execute(&r);
    if (rc == CLI_EXIT_OK) rc = report(&r, cli_flag(args, "json"));
    attack_run_free(&r);
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
    {"shard", 0, "I/N", "only shard I of N of the attempts, whole batches "
                        "(auto/N, auto: from Slurm, MPI or a Kubernetes "
                        "indexed Job); dg advset merge joins the parts"},
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


/* ------------------------------------------------------------------------ */
/* dg advset merge                                                          */
/* ------------------------------------------------------------------------ */

static int run_advset_merge(const cli_args *args, char **paths, uint32_t n)
{
    const char *out_path;
    int rc = required_value(args, "output", &out_path);
    if (rc != CLI_EXIT_OK) return rc;
    dg_advset **parts = calloc(n, sizeof *parts), *merged = NULL;
    if (!parts) return cli_error("out of memory");
    dg_status st = DG_OK;
    for (uint32_t k = 0; k < n && rc == CLI_EXIT_OK; k++) {
        st = dg_advset_load_file(paths[k], &parts[k]);
        if (st != DG_OK) rc = cli_fail(st, "loading %s", paths[k]);
    }
    if (rc == CLI_EXIT_OK) {
        st = dg_advset_merge((const dg_advset *const *)parts, n, &merged);
        if (st != DG_OK) rc = cli_fail(st, "merging the parts");
    }
    if (rc == CLI_EXIT_OK) {
        st = dg_advset_save_file(merged, out_path);
        if (st != DG_OK) rc = cli_fail(st, "writing %s", out_path);
    }
    uint32_t count = 0;
    if (rc == CLI_EXIT_OK) dg_advset_count(merged, &count);
    if (rc == CLI_EXIT_OK && !cli_flag(args, "quiet"))
        printf("%u attempts from %u parts written to %s\n", count, n,
               out_path);
    for (uint32_t k = 0; k < n; k++) dg_advset_free(parts[k]);
    free(parts);
    dg_advset_free(merged);
    return rc;
}

static int run_advset(const cli_args *args)
{
    const char *action = args->positional[0];
    if (strcmp(action, "merge") != 0)
        return cli_usage_error("unknown action \"%s\"; expected merge",
                               action);
    if (args->n_positional < 2)
        return cli_usage_error("'dg advset merge' takes the PART files of "
                               "every shard");
    return run_advset_merge(args, args->positional + 1,
                            (uint32_t)(args->n_positional - 1));
}

static const cli_option advset_options[] = {
    {"output", 'o', "FILE", "the adversarial set to write"},
    CLI_OPTION_QUIET,
    CLI_OPTIONS_END,
};

const cli_command cmd_advset = {
    .name = "advset",
    .summary = "Merge the adversarial sets of dg attack --shard into one",
    .synopsis = "merge PART... -o FILE",
    .description =
        "merge joins the parts that dg attack --shard I/N wrote, given in "
        "any order,\ninto the set the same dg attack without --shard "
        "writes, byte for byte.  It\nrefuses parts of other runs "
        "(settings, seed, data, models), a shard missing\nor given twice "
        "(doc/scale-out.md).",
    .options = advset_options,
    .min_args = 1,
    .max_args = -1,
    .run = run_advset,
};
